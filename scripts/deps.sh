#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs everything Port Layer needs to build, test and benchmark on Debian 12.
# Idempotent: when every package is already installed nothing is fetched.
set -euo pipefail

PACKAGES=(
  build-essential meson ninja-build pkg-config clang clang-format
  libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libcmocka-dev
  libcap-dev libseccomp-dev
  python3 python3-pytest python3-yaml python3-docker docker-compose
  busybox-static crun runc iproute2 util-linux procps openssl libgnutls28-dev
  libarchive-dev libseccomp-dev umoci skopeo docker-registry
  libmnl-dev nftables
  qemu-system-x86 qemu-utils e2fsprogs kmod
  # packaging (scripts/debs.sh, man pages) and the API schema check (test_schema.py)
  debhelper lintian help2man python3-jsonschema
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg -s "$p" >/dev/null 2>&1; then
    missing+=("$p")
  else
    # dpkg -s succeeds for removed-but-not-purged packages; check the status line.
    if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
      missing+=("$p")
    fi
  fi
done

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
updated=0
if [ "${#missing[@]}" -eq 0 ]; then
  echo "deps: all ${#PACKAGES[@]} packages present"
else
  echo "deps: installing ${missing[*]}"
  "${SUDO[@]}" apt-get update -q
  updated=1
  "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The vm mechanism's guest kernel: Debian's cloud flavour, unpacked (not installed: no
# initramfs or bootloader hooks on the host) where portlayerd looks by default
# (--vm-kernel). depmod writes the modules.dep the .deb does not ship.
VM_KERNEL_DIR=/usr/local/lib/portlayer/kernel
if ! ls "$VM_KERNEL_DIR"/boot/vmlinuz-* >/dev/null 2>&1; then
  [ "$updated" -eq 1 ] || "${SUDO[@]}" apt-get update -q
  pkg=$(apt-cache depends linux-image-cloud-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n1)
  [ -n "$pkg" ] || { echo "deps: cannot resolve linux-image-cloud-amd64" >&2; exit 1; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt-get download -q "$pkg")
  "${SUDO[@]}" mkdir -p "$VM_KERNEL_DIR.new"
  "${SUDO[@]}" dpkg -x "$tmp"/*.deb "$VM_KERNEL_DIR.new"
  ver=$(basename "$(ls -d "$VM_KERNEL_DIR.new"/lib/modules/*)")
  "${SUDO[@]}" depmod -b "$VM_KERNEL_DIR.new" "$ver"
  "${SUDO[@]}" rm -rf "$VM_KERNEL_DIR"
  "${SUDO[@]}" mv "$VM_KERNEL_DIR.new" "$VM_KERNEL_DIR"
  echo "deps: guest kernel $ver in $VM_KERNEL_DIR"
fi
