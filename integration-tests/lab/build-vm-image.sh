#!/bin/bash
# Builds the VM robot's base disks at DEST, atomically (DEST.partial renamed when complete):
#   root.img  ext4 (whole disk, no partition table): the lab rootfs + the host kernel's modules + node
#   esp.img   GPT, one EFI system partition (systemd-bless-boot finds $BOOT by its type): systemd-boot, the base
#             kernel and initrd, loader entry nixos-generation-0.conf ("lab base", blessed; 0 so that no
#             profile generation's entry takes its name: systems/switch-to-configuration.sh writes those)
#   vmlinuz, initrd.img  copies, for the kernel fixture systems
# Per-VM files come on a third disk (label labseed) that the initrd copies into / at first boot.
# Run under a lock (vm-image.ts holds flock on the cache's build.lock).
# Usage: build-vm-image.sh DEST ROOTFS KERNEL_VERSION NODE_BIN
set -euo pipefail
final=$1 rootfs=$2 kver=$3 node=$4
[ -d "$final" ] && exit 0
dest=$final.partial
work=$dest/work
merged=$work/merged
mounted=()
cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
if [ -e "$dest" ]; then
  awk -v d="$dest/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" || true
  done
  rm -rf --one-file-system "$dest"
fi
mkdir -p "$work/upper" "$work/ovl" "$merged"

up=$work/upper
echo "build-vm-image: root additions" >&2
mkdir -p "$up/usr/lib/modules" "$up/opt/ros-rollback/app" "$up/boot" "$up/etc/systemd/system/multi-user.target.wants" \
  "$up/etc/systemd/system/sockets.target.wants" "$up/etc/systemd/network"
cp -a "/lib/modules/$kver" "$up/usr/lib/modules/" # merged /usr: /lib is a link
cp "$node" "$up/opt/ros-rollback/node"
# Boot counting's blessing (Debian ships it in systemd-boot, whose install scripts want a real ESP).
mkdir -p "$up/usr/lib/systemd/system-generators" "$up/usr/lib/systemd/system"
cp /usr/lib/systemd/systemd-bless-boot "$up/usr/lib/systemd/"
cp /usr/lib/systemd/system-generators/systemd-bless-boot-generator "$up/usr/lib/systemd/system-generators/"
cp /usr/lib/systemd/system/systemd-bless-boot.service "$up/usr/lib/systemd/system/"
cat >"$up/etc/fstab" <<'FSTAB'
/dev/vda / ext4 rw,errors=remount-ro 0 1
/dev/vdb1 /boot vfat umask=0077,nofail 0 2
app /opt/ros-rollback/app 9p trans=virtio,version=9p2000.L,ro,msize=262144,nofail 0 0
FSTAB
ln -sf /lib/systemd/system/systemd-networkd.service "$up/etc/systemd/system/multi-user.target.wants/"
ln -sf /lib/systemd/system/systemd-networkd.socket "$up/etc/systemd/system/sockets.target.wants/"
# A VM has a serial console; nothing needs the logins or the timers. Nor logind and D-Bus (root's
# ssh and systemctl do without), the modprobe@ and kernel-filesystem mounts, pstore, e2scrub:
# under TCG each cost seconds of a boot's CPU (systemd-analyze blame).
for u in serial-getty@ttyS0.service getty@tty1.service systemd-journal-flush.service man-db.timer \
  ldconfig.service systemd-update-utmp.service systemd-binfmt.service proc-sys-fs-binfmt_misc.automount \
  systemd-logind.service dbus.service dbus.socket systemd-update-utmp-runlevel.service systemd-ask-password-wall.path \
  modprobe@drm.service modprobe@fuse.service modprobe@loop.service modprobe@dm_mod.service modprobe@efi_pstore.service \
  modprobe@configfs.service dev-hugepages.mount dev-mqueue.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
  sys-fs-fuse-connections.mount sys-kernel-config.mount kmod-static-nodes.service systemd-pstore.service \
  e2scrub_reap.service; do
  ln -sf /dev/null "$up/etc/systemd/system/$u"
done

echo "build-vm-image: root.img" >&2
mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$up,workdir=$work/ovl" "$merged"
mounted+=("$merged")
# A VM has devices: udev (device units, /dev/vdb for /boot) and kmod, which the container rootfs lacks.
echo "build-vm-image: apt-get install udev kmod" >&2
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && cp "$f" "$merged$f"
done
cp /etc/resolv.conf "$merged/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' >"$merged/usr/sbin/policy-rc.d"
chmod +x "$merged/usr/sbin/policy-rc.d"
for m in /proc /sys /dev; do
  mount --bind "$m" "$merged$m"
  mounted+=("$merged$m")
done
chroot "$merged" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
chroot "$merged" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends udev kmod >&2
chroot "$merged" apt-get clean
for m in /dev /sys /proc; do umount -l "$merged$m"; done
rm -f "$merged/usr/sbin/policy-rc.d" "$merged/etc/resolv.conf"
rm -f "$merged"/etc/apt/sources.list.d/* "$merged/etc/apt/sources.list"
rm -rf "$merged"/var/lib/apt/lists/*
truncate -s 6G "$dest/root.img"
mkfs.ext4 -q -L labroot -E root_owner=0:0 -d "$merged" "$dest/root.img"
umount "$merged"
mounted=()

echo "build-vm-image: initrd" >&2
conf=$work/initramfs
mkdir -p "$conf/scripts/local-bottom" "$conf/hooks"
cp /etc/initramfs-tools/initramfs.conf "$conf/"
sed -i -e 's/^MODULES=.*/MODULES=list/' -e 's/^COMPRESS=.*/COMPRESS=gzip/' "$conf/initramfs.conf"
printf '%s\n' virtio_pci virtio_blk virtio_net ext4 vfat 9p 9pnet_virtio i6300esb >"$conf/modules"
cat >"$conf/scripts/local-bottom/lab-seed" <<'SEED'
#!/bin/sh
# The lab's per-VM files (disk labseed = /dev/vdc), copied into the root once.
case $1 in prereqs) exit 0 ;; esac
[ -b /dev/vdc ] || exit 0
[ -e "${rootmnt}/etc/lab-seeded" ] && exit 0
mkdir -p /lab-seed
mount -t ext4 -o ro /dev/vdc /lab-seed || exit 0
cp -a /lab-seed/. "${rootmnt}/" && : >"${rootmnt}/etc/lab-seeded"
umount /lab-seed
SEED
chmod +x "$conf/scripts/local-bottom/lab-seed"
# Its cp and touch: klibc has neither, and busybox (which has them) is not on every host.
cat >"$conf/hooks/lab-seed" <<'HOOK'
#!/bin/sh
case $1 in prereqs) exit 0 ;; esac
. /usr/share/initramfs-tools/hook-functions
copy_exec /usr/bin/cp /bin
copy_exec /usr/bin/touch /bin
HOOK
chmod +x "$conf/hooks/lab-seed"
mkinitramfs -d "$conf" -o "$dest/initrd.img" "$kver" >&2
cp "/boot/vmlinuz-$kver" "$dest/vmlinuz"

echo "build-vm-image: esp.img" >&2
part=$work/esp-part.img
truncate -s 256M "$part"
mkfs.vfat -F 32 -n ESP "$part" >&2
esp=(-i "$part")
mmd "${esp[@]}" ::/EFI ::/EFI/BOOT ::/EFI/systemd ::/EFI/nixos ::/loader ::/loader/entries
mcopy "${esp[@]}" /usr/lib/systemd/boot/efi/systemd-bootx64.efi ::/EFI/BOOT/BOOTX64.EFI
mcopy "${esp[@]}" /usr/lib/systemd/boot/efi/systemd-bootx64.efi ::/EFI/systemd/systemd-bootx64.efi
mcopy "${esp[@]}" "$dest/vmlinuz" ::/EFI/nixos/base-linux.efi
mcopy "${esp[@]}" "$dest/initrd.img" ::/EFI/nixos/base-initrd.efi
printf 'timeout 0\ndefault nixos-generation-0.conf\n' >"$work/loader.conf"
cat >"$work/entry.conf" <<'ENTRY'
title NixOS
version Generation 0 (lab base)
linux /EFI/nixos/base-linux.efi
initrd /EFI/nixos/base-initrd.efi
options root=/dev/vda rw console=ttyS0 net.ifnames=0 panic=5 quiet
ENTRY
mcopy "${esp[@]}" "$work/loader.conf" ::/loader/loader.conf
mcopy "${esp[@]}" "$work/entry.conf" ::/loader/entries/nixos-generation-0.conf
truncate -s 258M "$dest/esp.img"
printf 'label: gpt\nstart=2048, size=524288, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=ESP\n' |
  sfdisk -q "$dest/esp.img" >&2
dd if="$part" of="$dest/esp.img" bs=1M seek=1 conv=notrunc,sparse status=none

rm -rf "$work"
mv -T "$dest" "$final"
echo "build-vm-image: done: $final" >&2
