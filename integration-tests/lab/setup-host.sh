#!/bin/bash
# Installs the host tools the lab robot needs (Debian 12). Idempotent: installs only what is missing.
set -euo pipefail
# qemu-system-x86 … initramfs-tools: the VM robot (`up --vm`, vm-image.ts), run under TCG.
packages=(debootstrap systemd-container iproute2 openssl nix-bin util-linux iputils-ping openssh-client nftables fdisk
  qemu-system-x86 qemu-utils ovmf systemd-boot linux-image-amd64 mtools dosfstools initramfs-tools e2fsprogs)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-host: installing ${missing[*]}" >&2
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
echo "setup-host: ok" >&2
