#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fails when an include crosses a layer boundary docs/architecture.md forbids, when the core
# branches on a mechanism's name, or when internal.h leaks past the files it names.
set -uo pipefail
cd "$(dirname "$0")/.."
bad=0
fail() {
  echo "layers: $*" >&2
  bad=1
}
includes() { # DIR PATTERN: lines of files under DIR that include PATTERN
  grep -rnE "^#include \"($2)" "$1" --include='*.c' --include='*.h' || true
}

# mechanisms see the domain description, never the core
out="$(includes src/mechanism 'portlayer/')"
[ -z "$out" ] || fail "src/mechanism includes the core:"$'\n'"$out"
# the host layer: common, proto and the plain description types only
out="$(includes src/host 'portlayer/|daemon/|mechanism/' | grep -v '"mechanism/domain.h"')"
[ -z "$out" ] || fail "src/host includes above itself:"$'\n'"$out"
# one mechanism's directory is private to it (unit tests may look inside)
for m in src/mechanism/*/; do
  name="$(basename "$m")"
  out="$(includes src "mechanism/$name/" | grep -v "^src/mechanism/$name/" || true)"
  [ -z "$out" ] || fail "outside src/mechanism/$name, its internals are included:"$'\n'"$out"
done
# the core and the daemon use only the interface and the public mechanism headers
out="$(includes src/portlayer 'mechanism/[a-z]+/|mechanism/(linux|vm)\.h')"
[ -z "$out" ] || fail "src/portlayer includes a mechanism's own header:"$'\n'"$out"
out="$(includes src/daemon 'mechanism/[a-z]+/|portlayer/internal\.h')"
[ -z "$out" ] || fail "src/daemon includes internals:"$'\n'"$out"
# the core decides by capability, never by a mechanism's name
out="$(grep -rnE 'str(n|case)?cmp\([^;]*mech[^;]*name|mech[a-z_]*->name *[=!]=' src/portlayer || true)"
[ -z "$out" ] || fail "src/portlayer branches on a mechanism's name:"$'\n'"$out"
# internal.h: only the files it names
allowed='src/portlayer/(container|records|store|recovery|session|handle|metrics|health|pods|netlive|listing|logrotate|exec_orphan|remains)\.c'
out="$(grep -rln '"portlayer/internal.h"' src | grep -vE "^($allowed)$" || true)"
[ -z "$out" ] || fail "portlayer/internal.h included by a file it does not name: $out"

[ "$bad" -eq 0 ] && echo "layers: clean"
exit "$bad"
