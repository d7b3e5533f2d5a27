#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: scripts/mkrootfs.sh DIR
# Makes (or refreshes) a one-file busybox userland in DIR from busybox-static:
# bin/ with busybox and a symlink per applet, a minimal /etc, and empty mount
# points. Idempotent: running it again over an existing DIR changes nothing.
set -euo pipefail

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
dir="$1"
busybox="${BUSYBOX:-/bin/busybox}"

if [ ! -x "$busybox" ]; then
  echo "mkrootfs: $busybox not found (apt-get install busybox-static)" >&2
  exit 1
fi
if ! file_out="$("$busybox" --list 2>/dev/null)" || [ -z "$file_out" ]; then
  echo "mkrootfs: $busybox --list failed" >&2
  exit 1
fi

mkdir -p "$dir"
cd "$dir"
mkdir -p bin etc tmp proc sys dev root home/user
chmod 1777 tmp
chmod 0700 root

if ! cmp -s "$busybox" bin/busybox; then
  install -m 0755 "$busybox" bin/busybox.new
  mv -f bin/busybox.new bin/busybox
fi

while IFS= read -r applet; do
  case "$applet" in
    ""|busybox|*/*) continue ;;
  esac
  if [ "$(readlink "bin/$applet" 2>/dev/null || true)" != busybox ]; then
    ln -sfn busybox "bin/$applet"
  fi
done <<<"$file_out"

write_if_changed() { # PATH CONTENT
  local path="$1" content="$2"
  if [ ! -f "$path" ] || [ "$(cat "$path")" != "$content" ]; then
    printf '%s\n' "$content" >"$path.new"
    mv -f "$path.new" "$path"
  fi
}

write_if_changed etc/passwd "root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false"
write_if_changed etc/group "root:x:0:
user:x:1000:
nogroup:x:65534:"
[ -f etc/hostname ] || : >etc/hostname
chown 1000:1000 home/user 2>/dev/null || true
