#!/usr/bin/env bash
# Installs everything the demo and the tests need on a fresh Debian 12 machine (as root):
# Debian packages, npm dependencies, and a build. Idempotent and quick when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

# libsystemd-dev: the agent's journald addon (systemd-journald) builds against it during npm ci.
# prometheus: promtool for the rules/metrics tests, and the server the observability scenario scrapes with.
# btrfs-progs: the data snapshots' btrfs path is tested on a loop-mounted btrfs image.
# openssh-client: the lab's `up --ssh` (ssh-keygen) and the bench's ssh baselines.
# nftables: the lab's `up --nat` (a robot nothing connects to).
# qemu-system-x86 … initramfs-tools: the lab's `up --vm` (the vm-boot scenario), under TCG.
packages=(nix-bin systemd-container debootstrap iproute2 openssl zstd util-linux protobuf-compiler procps
  libsystemd-dev pkg-config prometheus btrfs-progs nginx openssh-client nftables
  qemu-system-x86 qemu-utils ovmf systemd-boot linux-image-amd64 mtools dosfstools initramfs-tools fdisk e2fsprogs)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund >/dev/null
fi
# An optional addon skipped by an npm ci that ran before libsystemd-dev was there.
if [ ! -f node_modules/systemd-journald/build/Release/journal_send.node ]; then
  echo "setup: npm rebuild systemd-journald" >&2
  npm rebuild systemd-journald >/dev/null
fi

echo "setup: build" >&2
npx tsc -b proto nix-core agent controller relay
# The CLI the tests, the demo and the bench run: controller/dist/bundle (npm run build does both).
node controller/bundle.mjs
