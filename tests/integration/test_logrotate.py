# SPDX-License-Identifier: Apache-2.0
"""Per-container log limits (issue 13): log_config {max_size, max_files} rotates
container.log into container.log.1 ... like Docker's max-size/max-file; logs, tail and
follow read across the rotated files; the daemon's defaults apply to containers created
without one."""

import socket

from conftest import DEADLINE, demux, split_streams

LINE = "line-{:05d}-" + "x" * 30  # ~75 bytes a record with the CRI prefix


def writer(n):
    # busybox seq + sed: n numbered lines, as fast as the shell goes
    return ["/bin/sh", "-c", f"seq 1 {n} | sed 's/.*/line-&/' | while read l; do "
            f"printf '%s-%s\\n' \"$(printf 'line-%05d' ${{l#line-}})\" "
            f"'{'x' * 30}'; done"]


def make(api, rootfs, args, log_config, start=True):
    body = api.create_body(rootfs, args)
    if log_config is not None:
        body["log_config"] = log_config
    r = api.create_raw(body)
    assert r.status == 201, r
    cid = r.json["id"]
    if start:
        api.start(cid)
    return cid


def numbers(text):
    return [int(line.split("-")[1]) for line in text.splitlines()]


def log_files(daemon, cid):
    d = daemon.root / "containers" / cid
    return sorted(p.name for p in d.iterdir() if p.name.startswith("container.log"))


def test_rotation_keeps_everything_within_the_files(api, daemon, rootfs):
    n = 1000
    cid = make(api, rootfs, writer(n), {"max_size": 4096, "max_files": 40})
    assert api.wait(cid)["exit_code"] == 0
    files = log_files(daemon, cid)
    assert len(files) > 5, files  # it did rotate, several times
    d = daemon.root / "containers" / cid
    for f in files:
        # what the container wrote while a rotation was in flight may land past the limit
        assert (d / f).stat().st_size <= 4096 + (256 << 10), f
    out, _ = api.output(cid)
    assert numbers(out) == list(range(1, n + 1))  # all of it, in order, across files
    out, _ = api.output(cid, tail=3)
    assert numbers(out) == [n - 2, n - 1, n]
    out, _ = api.output(cid, tail=150)  # reaches back into rotated files
    assert numbers(out) == list(range(n - 149, n + 1))
    assert api.inspect(cid)["config"]["log_config"] == {"max_size": 4096, "max_files": 40}
    api.remove(cid, force=True)


def test_old_files_are_dropped(api, daemon, rootfs):
    n = 5000
    cid = make(api, rootfs, writer(n), {"max_size": "4k", "max_files": 2})
    assert api.wait(cid)["exit_code"] == 0
    files = log_files(daemon, cid)
    assert files == ["container.log", "container.log.1"], files
    got = numbers(api.output(cid)[0])
    assert got and got[-1] == n and got == list(range(got[0], n + 1)), got[:5]
    assert len(got) < n  # the oldest went
    api.remove(cid, force=True)


def test_follow_reads_across_rotation(api, daemon, rootfs):
    # the follower joins while the writer runs (most of the time: it is not asserted) and
    # must see every line once, in order, across a dozen rotations
    n = 3000
    cid = make(api, rootfs, writer(n), {"max_size": 8192, "max_files": 100})
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(DEADLINE)
    s.connect(str(daemon.socket))
    s.sendall(f"GET /containers/{cid}/logs?follow=1&stdout=1 HTTP/1.0\r\n\r\n".encode())
    got = bytearray()
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        got.extend(chunk)
    s.close()
    assert api.wait(cid)["exit_code"] == 0
    body = bytes(got).split(b"\r\n\r\n", 1)[1]
    out, _ = split_streams(demux(body))
    assert numbers(out) == list(range(1, n + 1))
    assert len(log_files(daemon, cid)) > 5
    api.remove(cid, force=True)


def test_bad_log_config_refused(api, rootfs):
    for lc in [{"max_size": 10}, {"max_size": "lots"}, {"max_files": 0},
               {"max_files": 1000}, {"bogus": 1}, "10m"]:
        body = api.create_body(rootfs, ["true"])
        body["log_config"] = lc
        r = api.create_raw(body)
        assert r.status == 400, (lc, r.status, r.body)


def test_daemon_default_applies(api, rootfs):
    cid = make(api, rootfs, ["true"], None, start=False)
    lc = api.inspect(cid)["config"]["log_config"]
    assert lc == {"max_size": 100 << 20, "max_files": 5}, lc
    api.remove(cid, force=True)
