# Sourced by switch-to-configuration.sh on a VM robot: systemd-boot's entries, as NixOS's installer
# writes them (with boot counting). Uses $out; defines install_loader (non-zero: not installed).
#   $out with kernel + initrd: /boot/EFI/nixos/<hash>-linux.efi, -initrd.efi and the entry
#     nixos-generation-N+T.conf (N: $out's profile generation, T: /etc/lab-boot-tries) with
#     `options <kernel-params> lab.system=$out` (lab-boot activates that system), kept as it is when
#     the generation has an entry for $out already (blessed or counting); loader.conf's default
#     names it without the counter (systemd-boot 252 matches the id so).
#   $out without a kernel: the default is the base entry (nixos-generation-0.conf, "lab base"),
#     whose boot activates the profile's newest generation.
#   Then entries of generations no longer in the profile go, and the files no entry names
#   (copy before prune, nixpkgs#23926).
esp=/boot
entries=$esp/loader/entries
profile=/nix/var/nix/profiles/system

# The generation number of the profile link that points at $out (the current one first).
generation_of_out() {
  cur=$(readlink "$profile" 2>/dev/null)
  case "$cur" in system-*-link)
    [ "$(readlink -f "$profile")" = "$out" ] && { echo "$cur" | sed 's/^system-\(.*\)-link$/\1/'; return; } ;;
  esac
  for g in "$profile"-*-link; do
    [ -e "$g" ] && [ "$(readlink -f "$g")" = "$out" ] && basename "$g" | sed 's/^system-\(.*\)-link$/\1/'
  done | sort -n | tail -n 1
}

# Atomic on FAT: write a temporary file, then rename it.
put() { cat >"$1.tmp" && mv "$1.tmp" "$1" || { rm -f "$1.tmp"; return 1; }; }

copy_efi() { # SRC NAME
  [ -e "$esp/EFI/nixos/$2" ] && return 0
  cp -L "$1" "$esp/EFI/nixos/.$2.tmp" && mv "$esp/EFI/nixos/.$2.tmp" "$esp/EFI/nixos/$2" ||
    { rm -f "$esp/EFI/nixos/.$2.tmp"; return 1; }
}

install_loader() {
  default=nixos-generation-0.conf
  n=$(generation_of_out)
  if [ -e "$out/kernel" ] && [ -e "$out/initrd" ] && [ -n "$n" ]; then
    k=$(basename "$(readlink -f "$out/kernel")" | cut -c1-32)-linux.efi
    i=$(basename "$(readlink -f "$out/initrd")" | cut -c1-32)-initrd.efi
    mkdir -p "$esp/EFI/nixos" || return 1
    copy_efi "$out/kernel" "$k" && copy_efi "$out/initrd" "$i" || return 1
    mine=""
    for e in "$entries/nixos-generation-$n.conf" "$entries/nixos-generation-$n+"*.conf; do
      [ -e "$e" ] || continue
      if [ -z "$mine" ] && grep -q " lab.system=$out\$" "$e"; then mine=$e; else rm -f "$e"; fi
    done
    if [ -z "$mine" ]; then
      tries=$(cat /etc/lab-boot-tries 2>/dev/null || echo 2)
      params=$(cat "$out/kernel-params" 2>/dev/null)
      printf 'title NixOS\nversion Generation %s (%s)\nlinux /EFI/nixos/%s\ninitrd /EFI/nixos/%s\noptions %s lab.system=%s\n' \
        "$n" "$(cat "$out/lab-system" 2>/dev/null)" "$k" "$i" "$params" "$out" |
        put "$entries/nixos-generation-$n+$tries.conf" || return 1
    fi
    default=nixos-generation-$n.conf
  fi
  printf 'timeout 0\ndefault %s\n' "$default" | put "$esp/loader/loader.conf" || return 1
  # Prune: entries of generations gone from the profile, then EFI files no entry names.
  for e in "$entries"/nixos-generation-*.conf; do
    [ -e "$e" ] || continue
    g=$(basename "$e" | sed 's/^nixos-generation-\([0-9]*\).*/\1/')
    [ "$g" = 0 ] || [ -e "$profile-$g-link" ] || rm -f "$e"
  done
  used=$(cat "$entries"/*.conf 2>/dev/null | sed -n 's#^\(linux\|initrd\) /EFI/nixos/##p')
  for f in "$esp/EFI/nixos"/*; do
    [ -e "$f" ] || continue
    case " $(echo $used) " in *" $(basename "$f") "*) ;; *) rm -f "$f" ;; esac
  done
  return 0
}
