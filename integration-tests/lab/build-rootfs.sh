#!/bin/bash
# Builds the lab robot's root filesystem at DEST, atomically: into DEST.partial, renamed to DEST
# only when every step succeeded, so a crashed build is never used. No-op if DEST exists.
# Run it under a lock (rootfs.ts holds flock on the cache's build.lock).
# Usage: build-rootfs.sh DEST PACKAGE...
# The mirror is debootstrap's default; apt inside uses the host's sources, copied at run time and
# removed again.
set -euo pipefail
final=$1
shift
[ -d "$final" ] && exit 0
dest=$final.partial

mounted=()
cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
bind() { mkdir -p "$dest$1"; mount --bind "$1" "$dest$1"; mounted+=("$dest$1"); }

# A build killed earlier may have left its partial tree, even with mounts in it.
if [ -e "$dest" ]; then
  awk -v d="$dest/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" || true
  done
  rm -rf --one-file-system "$dest"
fi

echo "build-rootfs: debootstrap minbase into $dest" >&2
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus bookworm "$dest" >&2

echo "build-rootfs: apt sources from the host" >&2
rm -f "$dest/etc/apt/sources.list"
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && cp "$f" "$dest$f"
done
cp /etc/resolv.conf "$dest/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' >"$dest/usr/sbin/policy-rc.d"
chmod +x "$dest/usr/sbin/policy-rc.d"

bind /proc
bind /sys
bind /dev
echo "build-rootfs: apt-get install $*" >&2
chroot "$dest" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
chroot "$dest" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2
chroot "$dest" apt-get clean
cleanup
mounted=()

# No package mirror, resolver or policy stays in the image.
rm -f "$dest/usr/sbin/policy-rc.d" "$dest/etc/resolv.conf"
rm -f "$dest"/etc/apt/sources.list.d/* "$dest/etc/apt/sources.list"
rm -rf "$dest"/var/lib/apt/lists/*

echo "build-rootfs: configure" >&2
rm -f "$dest/etc/hostname" # written per robot
: >"$dest/etc/machine-id"
# Units that fail or wait forever inside a container without a console or real network.
for u in console-getty.service getty@.service serial-getty@.service systemd-networkd-wait-online.service \
  apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer \
  systemd-timesyncd.service systemd-remount-fs.service; do
  ln -sf /dev/null "$dest/etc/systemd/system/$u"
done

# sshd: no host keys in the image (each robot gets its own) and not started unless `up --ssh` enables it.
rm -f "$dest"/etc/ssh/ssh_host_*
rm -f "$dest"/etc/systemd/system/*.wants/ssh.service "$dest"/etc/systemd/system/*.wants/ssh.socket

mkdir -p "$dest/etc/nix" "$dest/nix/var/nix/profiles" "$dest/var/lib/ros" "$dest/var/lib/ros-rollback" \
  "$dest/etc/ros-rollback/tls" "$dest/opt/ros-rollback"
cat >"$dest/etc/nix/nix.conf" <<'CONF'
build-users-group =
sandbox = false
CONF

mv -T "$dest" "$final"
echo "build-rootfs: done: $final" >&2
