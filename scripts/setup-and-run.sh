#!/usr/bin/env bash
# Installs the dependencies, builds Port Layer, makes a busybox root filesystem
# and runs portlayerd in the foreground with its default paths.
set -euo pipefail

cd "$(dirname "$0")/.."
repo="$(pwd)"

bash scripts/deps.sh
bash scripts/build.sh build

rootfs=/var/lib/portlayer/rootfs/busybox
bash scripts/mkrootfs.sh "$rootfs"

cat <<MSG

Port Layer is built. portlayerd now runs in this terminal (Ctrl-C stops it;
containers keep running). In another terminal, run a first container:

    cd $repo
    build/plctl run --rm $rootfs -- echo hello
    build/plctl run -d --name web $rootfs -- sh -c 'while :; do date; sleep 1; done'
    build/plctl ps
    build/plctl logs web
    build/plctl stop web && build/plctl rm web

The API socket is /run/portlayer/portlayer.sock (see api/portlayer.yaml).

MSG

exec "$repo/build/portlayerd" "$@"
