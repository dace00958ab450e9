#!/bin/sh
# switch-to-configuration of a lab fixture system (NixOS's interface, POSIX sh).
#   switch: record the boot default and activate now;  boot: record the boot default only;
#   test: activate now;  dry-activate: print what would change, change nothing.
# A system with `kernel` and `initrd` (systems/sized.nix) has a boot entry: switch and boot copy
# them to /boot/lab/ first, then delete the entries of systems that are no generation of the
# profile any more (copy before prune, as NixOS's bootloader installers do: nixpkgs#23926).
# On a VM robot (/boot/loader/entries exists) the entry is systemd-boot's instead (loader.sh).
# Exit codes as NixOS: 0 ok, 1 usage, lock held or the boot entry not installed ("Failed to
# install bootloader"), 4 a unit failed to start or is not active after settling
# (LAB_SETTLE_SECONDS, default 3).
set -u
PATH=/usr/bin:/bin:/usr/sbin:/sbin
export PATH
out=@out@
units=@units@
state=/var/lib/lab-system
etc=/etc/systemd/system
settle=${LAB_SETTLE_SECONDS:-3}

action=${1:-}
case "$action" in
switch | boot | test | dry-activate) ;;
*)
  echo "usage: $0 switch|boot|test|dry-activate" >&2
  exit 1
  ;;
esac

mkdir -p /run/nixos
exec 9>/run/nixos/switch-to-configuration.lock
if ! flock -n 9; then
  echo "Could not acquire lock /run/nixos/switch-to-configuration.lock" >&2
  exit 1
fi

# The entry of a system: the first 32 characters of its store path's name (its hash).
entry() { basename "$1" | cut -c1-32; }
install_entry() {
  dir=/boot/lab
  mkdir -p $dir || return 1
  e=$(entry "$out")
  for f in kernel initrd; do
    [ -e "$dir/$e-$f" ] && continue
    if ! cp -L "$out/$f" "$dir/.$e-$f.tmp" || ! mv "$dir/.$e-$f.tmp" "$dir/$e-$f"; then
      rm -f "$dir/.$e-$f.tmp"
      return 1
    fi
  done
  keep=" $e "
  for g in /nix/var/nix/profiles/system-*-link; do
    [ -e "$g" ] && keep="$keep $(entry "$(readlink -f "$g")") "
  done
  for f in "$dir"/*-kernel "$dir"/*-initrd; do
    [ -e "$f" ] || continue
    case "$keep" in *" $(basename "$f" | cut -c1-32) "*) ;; *) rm -f "$f" ;; esac
  done
}

if { [ "$action" = boot ] || [ "$action" = switch ]; } && [ -d /boot/loader/entries ]; then
  . @loader@
  if ! install_loader; then
    echo "Failed to install bootloader" >&2
    exit 1
  fi
elif { [ "$action" = boot ] || [ "$action" = switch ]; } && [ -e "$out/kernel" ]; then
  if ! install_entry; then
    echo "Failed to install bootloader" >&2
    exit 1
  fi
fi

if [ "$action" = boot ] || [ "$action" = switch ]; then
  mkdir -p "$state"
  ln -sfn "$out" "$state/boot-default"
  echo "lab bootloader: boot default is $out" >&2
fi
[ "$action" = boot ] && exit 0

# NixOS prints unit lists comma-separated: "stopping the following units: a.service, b.service".
list() { echo $1 | sed 's/ /, /g'; }

# Plan: units of the running system (state file) against this system's units.
old=$(cat "$state/units" 2>/dev/null || true)
new=$(ls "$units")
stop=""
for u in $old; do
  case " $(echo $new) " in *" $u "*) ;; *) stop="$stop $u" ;; esac
done
restart=""
start=""
for u in $new; do
  active=$(systemctl is-active "$u" 2>/dev/null)
  if [ -e "$etc/$u" ] && cmp -s "$etc/$u" "$units/$u"; then
    [ "$active" = active ] || start="$start $u"
  elif [ "$active" = active ]; then
    restart="$restart $u"
  else
    start="$start $u"
  fi
done

if [ "$action" = dry-activate ]; then
  [ -n "$stop" ] && echo "would stop the following units: $(list "$stop")"
  [ -n "$restart" ] && echo "would restart the following units: $(list "$restart")"
  [ -n "$start" ] && echo "would start the following units: $(list "$start")"
  exit 0
fi

rc=0
if [ -n "$stop" ]; then
  echo "stopping the following units: $(list "$stop")" >&2
  # shellcheck disable=SC2086
  timeout 60 systemctl stop $stop || rc=4
  for u in $stop; do
    case "$(readlink "$etc/$u")" in /nix/store/*) rm -f "$etc/$u" ;; esac
  done
fi
for u in $new; do
  ln -sfn "$units/$u" "$etc/$u"
done
mkdir -p "$state"
echo "$new" >"$state/units.tmp" && mv "$state/units.tmp" "$state/units"
ln -sfn "$out" /run/current-system
systemctl daemon-reload || rc=4
if [ -n "$restart" ]; then
  echo "restarting the following units: $(list "$restart")" >&2
  # shellcheck disable=SC2086
  timeout 60 systemctl restart $restart || rc=4
fi
if [ -n "$start" ]; then
  echo "starting the following units: $(list "$start")" >&2
  # shellcheck disable=SC2086
  timeout 60 systemctl start $start || rc=4
fi

# Settle: a unit that fails within the window, or is not active at its end, fails the switch.
deadline=$(($(date +%s) + settle))
while :; do
  failed=""
  for u in $new; do
    systemctl is-failed --quiet "$u" && failed="$failed $u"
  done
  [ -n "$failed" ] && break
  [ "$(date +%s)" -ge "$deadline" ] && break
  sleep 0.5
done
for u in $new; do
  [ "$(systemctl is-active "$u" 2>/dev/null)" = active ] || case " $failed " in *" $u "*) ;; *) failed="$failed $u" ;; esac
done
if [ -n "$failed" ]; then
  echo "warning: the following units failed:$failed" >&2
  rc=4
fi
exit $rc
