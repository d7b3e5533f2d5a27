#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Makes a docker-archive (the format of `docker save`, which `docker load` reads) holding
one single-layer image from a root filesystem directory, without any registry or engine.

    docker-archive.py ROOTFS NAME:TAG OUT.tar [CMD...]   (CMD default: sh)
"""
import hashlib
import io
import json
import os
import sys
import tarfile


def layer_tar(rootfs):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for entry in sorted(os.listdir(rootfs)):
            t.add(os.path.join(rootfs, entry), arcname=entry)
    return buf.getvalue()


def add(t, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    t.addfile(info, io.BytesIO(data))


def main(argv):
    if len(argv) < 4:
        sys.stderr.write(__doc__)
        return 2
    rootfs, ref, out = argv[1], argv[2], argv[3]
    cmd = argv[4:] or ["sh"]
    layer = layer_tar(rootfs)
    diff_id = hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "config": {"Cmd": cmd, "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff_id]},
        "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "docker-archive.py " + rootfs}],
    }
    cfg = json.dumps(config, sort_keys=True).encode()
    cfg_id = hashlib.sha256(cfg).hexdigest()
    manifest = [{"Config": cfg_id + ".json", "RepoTags": [ref], "Layers": [diff_id + "/layer.tar"]}]
    with tarfile.open(out, "w") as t:
        add(t, diff_id + "/layer.tar", layer)
        add(t, cfg_id + ".json", cfg)
        add(t, "manifest.json", json.dumps(manifest).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
