#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: scripts/debs.sh [--install-test] [OUTDIR]
# Builds the Debian packages (dpkg-buildpackage -us -uc -b) from a copy of the working tree
# in a scratch directory, so nothing lands beside the repository, and puts the .debs in
# OUTDIR (default: build-deb/). With --install-test it then installs them on this machine
# with apt, runs `portlayerd --version`, `plctl --version` and `plctl version` (whose
# server half fails without a running daemon), checks the files are where the packages
# say, and purges them again, checking nothing of theirs is left (dpkg -L, dpkg -l).
set -euo pipefail

cd "$(dirname "$0")/.."
repo="$(pwd)"
install_test=0
if [ "${1:-}" = --install-test ]; then
  install_test=1
  shift
fi
out="$(realpath -m "${1:-build-deb}")"
mkdir -p "$out"

work="$(mktemp -d /tmp/portlayer-deb.XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/portlayer"
# the working tree as git sees it (tracked and new files, nothing ignored)
git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$work/portlayer" 2>/dev/null || {
  git ls-files -co --exclude-standard -z | while IFS= read -r -d '' f; do
    [ -e "$f" ] && cp --parents -a "$f" "$work/portlayer"
  done
}

start=$(date +%s)
(cd "$work/portlayer" && DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=2}" \
  dpkg-buildpackage -us -uc -b)
echo "debs: built in $(( $(date +%s) - start ))s"
rm -f "$out"/*.deb
cp "$work"/*.deb "$work"/*.buildinfo "$work"/*.changes "$out"/
ls -l "$out"/*.deb

if command -v lintian >/dev/null; then
  echo "==== lintian"
  lintian --info --no-tag-display-limit "$work"/*.changes || true
fi

[ "$install_test" = 1 ] || exit 0

pkgs=(portlayer pl-dockerd plctl libportlayer-client0 libportlayer-client-dev)
for p in "${pkgs[@]}"; do
  if dpkg -s "$p" >/dev/null 2>&1; then
    echo "debs: $p is installed already: not touching this machine's packages" >&2
    exit 1
  fi
done
# the directories systemd-tmpfiles makes: leave the machine as it was
# (a purge removes them when empty; one that existed before is put back as it was)
declare -A pre=()
for d in /run/portlayer /var/lib/portlayer; do
  [ -e "$d" ] && pre[$d]="$(stat -c '%a %u %g' "$d")"
done

export DEBIAN_FRONTEND=noninteractive
debs=()
for p in "${pkgs[@]}"; do debs+=("$out/${p}_"*.deb); done
apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends "${debs[@]}"
fail=0
check() { if "$@"; then echo "ok: $*"; else echo "FAILED: $*" >&2; fail=1; fi; }
check test "$(portlayerd --version)" = "portlayerd $(dpkg-query -W -f='${Version}' portlayer)"
check sh -c 'plctl --version | grep -q "^plctl version "'
check sh -c 'plctl version | grep -q "API version:  1"' || true
check test -x /usr/libexec/portlayer/pl-tether
check sh -c 'portlayerd --help | grep -q /usr/libexec/portlayer/pl-tether'
check test -f /lib/systemd/system/portlayerd.service
check getent group portlayer
# made by the package itself (a group left by an earlier install would pass the line above)
check sh -c "dpkg-deb -I $out/portlayer_*.deb postinst | grep -q 'systemd-sysusers.*portlayer.conf'"
check test -f /usr/share/portlayer/portlayer.yaml
check sh -c 'pkg-config --modversion portlayer-client'
check sh -c "cc -o '$work/example' /usr/share/doc/libportlayer-client-dev/examples/example.c \$(pkg-config --cflags --libs portlayer-client)"
check sh -c "ldd '$work/example' | grep -q 'libportlayer-client.so.0 => /.*/libportlayer-client.so.0'"
if dpkg -L pl-dockerd | grep -q 'bin/pl-dockerd$'; then
  check test -x "$(dpkg -L pl-dockerd | grep 'bin/pl-dockerd$')"
fi
if [ -d /run/systemd/system ]; then
  check systemctl is-active portlayerd.service
fi

apt-get purge -y -q -o DPkg::Lock::Timeout=600 "${pkgs[@]}"
for p in "${pkgs[@]}"; do
  check sh -c "! dpkg -l '$p' 2>/dev/null | grep -q '^[a-z][a-z] '"
done
for f in /usr/sbin/portlayerd /usr/bin/plctl /usr/libexec/portlayer /usr/include/portlayer \
  /lib/systemd/system/portlayerd.service /usr/share/portlayer; do
  check test ! -e "$f"
done
for d in /run/portlayer /var/lib/portlayer; do
  if [ -n "${pre[$d]:-}" ]; then
    read -r mode uid gid <<<"${pre[$d]}"
    mkdir -p "$d" && chmod "$mode" "$d" && chown "$uid:$gid" "$d"
  else
    check test ! -e "$d"
  fi
done
[ "$fail" = 0 ] && echo "debs: install test passed" || echo "debs: install test FAILED" >&2
exit "$fail"
