#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fails when an include crosses a layer boundary docs/architecture.md forbids, when the core
# branches on a mechanism's name, when internal.h leaks past the files it names, or when the
# core's units call each other in a circle.
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

# the bottom layers: common/ (libc, jansson) and proto/ (framing over common/)
out="$(includes src/common '[a-z]+/' | grep -v '"common/' || true)"
[ -z "$out" ] || fail "src/common includes above itself:"$'\n'"$out"
out="$(includes src/proto '[a-z]+/' | grep -vE '"(common|proto)/' || true)"
[ -z "$out" ] || fail "src/proto includes above itself:"$'\n'"$out"
# tether: common/, proto/ and its own OS layer; nothing of the daemon side but the one
# seam docs/architecture.md names (a prepared linux domain's set-up, which tether runs)
seam='^src/tether/linux/[a-z_]+\.c:[0-9]+:#include "mechanism/linux/setup\.h"$'
out="$(includes src/tether '[a-z]+/' | grep -vE '"(common|proto|tether)/' | grep -vE "$seam" || true)"
[ -z "$out" ] || fail "src/tether includes the daemon side:"$'\n'"$out"
# mechanisms see the domain description, never the core
out="$(includes src/mechanism 'portlayer/')"
[ -z "$out" ] || fail "src/mechanism includes the core:"$'\n'"$out"
# the host layer: common, proto and the plain description types only
out="$(includes src/host 'portlayer/|daemon/|mechanism/' | grep -v '"mechanism/domain.h"')"
[ -z "$out" ] || fail "src/host includes above itself:"$'\n'"$out"
# one mechanism's directory is private to it (unit tests may look inside)
for m in src/mechanism/*/; do
  name="$(basename "$m")"
  out="$(includes src "mechanism/$name/" | grep -v "^src/mechanism/$name/" | grep -vE "$seam" || true)"
  [ -z "$out" ] || fail "outside src/mechanism/$name, its internals are included:"$'\n'"$out"
done
# mechanisms: common/, proto/, the host layer and mechanism/ itself
out="$(includes src/mechanism '[a-z]+/' | grep -vE '"(common|proto|host/linux|mechanism)/' || true)"
[ -z "$out" ] || fail "src/mechanism includes above itself:"$'\n'"$out"
# the core and the daemon use only the interface and the public mechanism headers
out="$(includes src/portlayer 'mechanism/[a-z]+/|mechanism/[a-z]+\.h' |
  grep -vE '"mechanism/(mechanism|domain)\.h"' || true)"
[ -z "$out" ] || fail "src/portlayer includes a mechanism's own header:"$'\n'"$out"
# of the host layer, the core uses its network plumbing and path resolution only
out="$(includes src/portlayer 'host/' | grep -vE '"host/linux/(netdev|netfilter|resolve)\.h"' || true)"
[ -z "$out" ] || fail "src/portlayer includes the host layer beyond netdev/netfilter/resolve:"$'\n'"$out"
# the portable core never includes kernel headers, nor anything above it
out="$(grep -rnE '^#include <linux/' src/portlayer --include='*.c' --include='*.h' || true)"
[ -z "$out" ] || fail "src/portlayer includes kernel headers:"$'\n'"$out"
out="$(includes src/portlayer '(daemon|tether|cli|client|docker)/')"
[ -z "$out" ] || fail "src/portlayer includes a layer above it:"$'\n'"$out"
out="$(includes src/daemon 'mechanism/[a-z]+/|portlayer/internal\.h|host/|tether/')"
[ -z "$out" ] || fail "src/daemon includes internals:"$'\n'"$out"
# the core decides by capability, never by a mechanism's name
out="$(grep -rnE 'str(n|case)?cmp\([^;]*mech[^;]*name|mech[a-z_]*->name *[=!]=' src/portlayer || true)"
[ -z "$out" ] || fail "src/portlayer branches on a mechanism's name:"$'\n'"$out"
# internal.h: only the files it names
allowed='src/portlayer/(container|records|about|link|store|recovery|session|handle|metrics|health|pods|netlive|listing)\.c'
out="$(grep -rln '"portlayer/internal.h"' src | grep -vE "^($allowed)$" || true)"
[ -z "$out" ] || fail "portlayer/internal.h included by a file it does not name: $out"

# no circles between the core's units (who calls whom: scripts/check-cycles.py)
python3 scripts/check-cycles.py . || bad=1

[ "$bad" -eq 0 ] && echo "layers: clean"
exit "$bad"
