#!/usr/bin/env bash
# Usage: scripts/spdx.sh [--check] [FILE...]
# Adds an SPDX licence identifier to every source file (git ls-files, or the FILEs given)
# that lacks one in its first lines:
#   C sources, headers and linker maps:   /* SPDX-License-Identifier: Apache-2.0 */
#   shell, Python, meson, YAML:          # SPDX-License-Identifier: Apache-2.0
# as the first line, or the second after a "#!" line. Idempotent. With --check nothing is
# changed: the files lacking one are listed and the exit status is 1 if there are any.
set -euo pipefail

cd "$(dirname "$0")/.."
ID="SPDX-License-Identifier: Apache-2.0"
check=0
if [ "${1:-}" = --check ]; then
  check=1
  shift
fi

style_of() { # FILE -> c | hash | "" (not a file that carries one)
  case "$1" in
    debian/* | */testdata/* | */corpus/* | LICENSE) echo "" ;;
    *.c | *.h | *.map | *.c.in | *.h.in) echo c ;;
    *.sh | *.py | *.yaml | *.yml | */meson.build | meson.build | meson_options.txt | .ci/run) echo hash ;;
    *) echo "" ;;
  esac
}

if [ "$#" -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(git ls-files)
fi

missing=0
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  style="$(style_of "$f")"
  [ -n "$style" ] || continue
  head -n 5 "$f" | grep -q 'SPDX-License-Identifier:' && continue
  missing=$((missing + 1))
  if [ "$check" = 1 ]; then
    echo "$f"
    continue
  fi
  if [ "$style" = c ]; then
    line="/* $ID */"
  else
    line="# $ID"
  fi
  tmp="$(mktemp "$f.spdx.XXXXXX")"
  if [ "$(head -c 2 "$f")" = '#!' ]; then
    { head -n 1 "$f"; printf '%s\n' "$line"; tail -n +2 "$f"; } >"$tmp"
  else
    { printf '%s\n' "$line"; cat "$f"; } >"$tmp"
  fi
  chmod --reference="$f" "$tmp"
  mv "$tmp" "$f"
done

if [ "$check" = 1 ]; then
  if [ "$missing" -gt 0 ]; then
    echo "spdx: $missing file(s) lack \"$ID\" (run scripts/spdx.sh)" >&2
    exit 1
  fi
  echo "spdx: every source file carries an SPDX identifier"
elif [ "$missing" -gt 0 ]; then
  echo "spdx: added the identifier to $missing file(s)"
fi
