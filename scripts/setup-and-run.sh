#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the dependencies, builds Port Layer, makes a busybox root filesystem and image,
# and runs portlayerd with its default paths plus pl-dockerd (the Docker API) beside it.
set -euo pipefail

cd "$(dirname "$0")/.."
repo="$(pwd)"

bash scripts/deps.sh
bash scripts/build.sh build

rootfs=/var/lib/portlayer/rootfs/busybox
bash scripts/mkrootfs.sh "$rootfs"

run=/run/portlayer
mkdir -p "$run"
# portlayerd in the background so pl-dockerd and the busybox image can follow; this script
# stays in the foreground and stops pl-dockerd when portlayerd ends.
"$repo/build/portlayerd" "$@" &
pld=$!
dockerd=
trap '[ -n "$dockerd" ] && kill "$dockerd" 2>/dev/null; kill "$pld" 2>/dev/null; wait' INT TERM
for _ in $(seq 250); do
  "$repo/build/plctl" info >/dev/null 2>&1 && break
  kill -0 "$pld" 2>/dev/null || { echo "portlayerd exited" >&2; exit 1; }
  sleep 0.04
done
"$repo/build/pl-dockerd" -H "unix://$run/docker.sock" &
dockerd=$!

# a local busybox image (nothing is downloaded): the rootfs as a one-layer docker-archive
archive=$(mktemp --suffix=.tar)
python3 scripts/docker-archive.py "$rootfs" busybox:latest "$archive"
"$repo/build/plctl" image import -q "$archive" >/dev/null
rm -f "$archive"

cat <<MSG

Port Layer is built. portlayerd and pl-dockerd now run from this terminal (Ctrl-C stops
them; containers keep running). In another terminal, run a first container:

    cd $repo
    build/plctl run --rm $rootfs -- echo hello
    build/plctl run -d --name web $rootfs -- sh -c 'while :; do date; sleep 1; done'
    build/plctl ps
    build/plctl logs web
    build/plctl stop web && build/plctl rm web

or with the docker CLI, through pl-dockerd:

    export DOCKER_HOST=unix://$run/docker.sock
    docker run --rm -it busybox sh
    docker run -d --name web busybox sh -c 'while :; do date; sleep 1; done'
    docker ps; docker logs web; docker exec web ls /; docker rm -f web

The API sockets are $run/portlayer.sock (see api/portlayer.yaml) and
$run/docker.sock (the Docker Engine API 1.43).

MSG

wait "$pld"
rc=$?
kill "$dockerd" 2>/dev/null || true
exit $rc
