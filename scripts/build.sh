#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: scripts/build.sh [BUILDDIR] [meson options...]
# Configures BUILDDIR (default: build) with meson -- or reconfigures it when the
# options changed -- and builds it with ninja.
set -euo pipefail

cd "$(dirname "$0")/.."
builddir="${1:-build}"
[ "$#" -gt 0 ] && shift

if [ -f "$builddir/build.ninja" ]; then
  if [ "$#" -gt 0 ]; then
    meson configure "$builddir" "$@"
  fi
  # ninja re-runs meson by itself when a meson.build changed.
else
  if [ -d "$builddir" ]; then
    # A half-configured directory (an earlier setup failed): start again.
    meson setup --wipe "$builddir" "$@" || { rm -rf "$builddir"; meson setup "$builddir" "$@"; }
  else
    meson setup "$builddir" "$@"
  fi
fi

ninja -C "$builddir"
