#!/usr/bin/env bash
# Installs everything Port Layer needs to build, test and benchmark on Debian 12.
# Idempotent: when every package is already installed nothing is fetched.
set -euo pipefail

PACKAGES=(
  build-essential meson ninja-build pkg-config clang clang-format
  libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libcmocka-dev
  libcap-dev libseccomp-dev
  python3 python3-pytest python3-yaml
  busybox-static crun runc iproute2 util-linux procps openssl libgnutls28-dev
  libarchive-dev libseccomp-dev umoci skopeo docker-registry
  libmnl-dev nftables
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

if [ "${#missing[@]}" -eq 0 ]; then
  echo "deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "deps: installing ${missing[*]}"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
