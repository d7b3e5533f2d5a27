# SPDX-License-Identifier: Apache-2.0
"""POST /containers?follow=1: a foreground run in one request (created, started, its output,
its exit status), and `plctl run --rm`, which uses it with auto_remove: output, exit codes,
signals forwarded, and nothing left behind, even when plctl itself is killed."""

import json
import os
import select
import signal
import struct
import subprocess
import time

import pytest

from conftest import DEADLINE, PLCTL, wait_until


def frames(payload):
    """The multiplexed stream as [(stream, bytes)]; fails on a torn frame."""
    out, i = [], 0
    while i < len(payload):
        assert len(payload) - i >= 8, f"torn frame header at {i}: {payload[i:]!r}"
        stream, n = payload[i], struct.unpack(">I", payload[i + 4:i + 8])[0]
        assert len(payload) - i - 8 >= n, f"torn frame at {i}"
        out.append((stream, payload[i + 8:i + 8 + n]))
        i += 8 + n
    return out


def run_follow(api, body, **params):
    return api.post("/containers", body, params={"follow": "1", **params})


def ids(api):
    return {c["id"] for c in api.containers()}


def test_follow_output_then_status_and_auto_removed(api, rootfs, uniq):
    before = ids(api)
    body = api.create_body(rootfs, ["/bin/sh", "-c", "echo out; echo err >&2; echo more; exit 3"],
                           name=uniq)
    body["auto_remove"] = True
    r = run_follow(api, body)
    assert r.status == 200, r
    assert r.headers.get("Content-Type") == "application/vnd.docker.multiplexed-stream"
    fr = frames(r.body)
    assert fr[0][0] == 3 and fr[-1][0] == 3, fr
    first, last = json.loads(fr[0][1]), json.loads(fr[-1][1])
    assert len(first["id"]) == 64 and set(first) == {"id"}, first
    assert last["exit_code"] == 3 and last["signal"] is None, last
    out = b"".join(d for s, d in fr if s == 1)
    err = b"".join(d for s, d in fr if s == 2)
    assert (out, err) == (b"out\nmore\n", b"err\n")
    assert [s for s, _ in fr].count(3) == 2
    # the answer ended after it was removed: nothing to see any more
    assert ids(api) == before
    assert api.get(f"/containers/{first['id']}").status == 404


def test_follow_without_auto_remove_keeps_the_container(api, rootfs, uniq):
    body = api.create_body(rootfs, ["/bin/sh", "-c", "kill -9 $$"], name=uniq)
    body["start"] = True  # allowed, and implied
    r = run_follow(api, body)
    assert r.status == 200, r
    fr = frames(r.body)
    cid = json.loads(fr[0][1])["id"]
    status = json.loads(fr[-1][1])
    assert status["exit_code"] == 137 and status["signal"] == 9, status
    c = api.inspect(uniq)
    assert c["id"] == cid and c["state"]["status"] == "stopped"
    assert c["state"]["exit_code"] == 137
    assert api.delete(f"/containers/{cid}").status == 204


def test_follow_much_output_arrives_whole(api, rootfs):
    body = api.create_body(rootfs, ["seq", "1", "100000"])
    body["auto_remove"] = True
    r = run_follow(api, body)
    assert r.status == 200, r
    fr = frames(r.body)
    out = b"".join(d for s, d in fr if s == 1)
    assert out == "".join(f"{i}\n" for i in range(1, 100001)).encode()
    assert json.loads(fr[-1][1])["exit_code"] == 0


def test_follow_failed_start_is_an_error(api, rootfs, uniq):
    """With auto_remove nothing is left; without, the container stays to inspect (stopped,
    127), as a start of a created one leaves it (and docker run without --rm)."""
    before = ids(api)
    for auto_remove in (True, False):
        body = api.create_body(rootfs, ["/bin/does-not-exist"], name=f"{uniq}-{auto_remove}")
        body["auto_remove"] = auto_remove
        r = run_follow(api, body)
        assert r.status == 400, r
        assert "does-not-exist" in r.message, r
    kept = api.inspect(f"{uniq}-False")
    assert kept["state"]["status"] == "stopped" and kept["state"]["exit_code"] == 127, kept
    assert wait_until(lambda: ids(api) == before | {kept["id"]},
                      what="the auto_remove one removed")
    assert api.delete(f"/containers/{kept['id']}").status == 204


def test_follow_bad_input(api, rootfs):
    before = ids(api)
    body = api.create_body(rootfs, ["/bin/true"])
    for params, b in (({"follow": "maybe"}, body), ({}, dict(body, start=False)),
                      ({}, dict(body, auto_remove="yes")), ({}, dict(body, bogus=1))):
        r = api.post("/containers", b, params={"follow": "1", **params})
        assert r.status == 400, (params, b, r)
    assert ids(api) == before


@pytest.mark.parametrize("sig,bare", [(signal.SIGINT, False), (signal.SIGTERM, True)],
                         ids=["INT", "TERM-bare-path-host"])
def test_plctl_run_rm_forwards_signals_and_removes(api, plctl, rootfs, uniq, sig, bare):
    """plctl's signal handler posts the kill itself (src/cli/interact.c): the container's
    process gets the signal, plctl exits with its code, nothing is left; with -H given as
    unix:///path or as /path."""
    name = signal.Signals(sig).name[3:]
    host = plctl.host[len("unix://"):] if bare else plctl.host
    assert host.startswith("/" if bare else "unix:///"), host
    before = ids(api)
    p = subprocess.Popen([str(PLCTL), "-H", host, "run", "--rm", "--name", uniq, rootfs,
                          "--", "/bin/sh", "-c",
                          f'trap "echo got {name}; exit 5" {name}; echo ready; '
                          'while :; do sleep 0.05; done'],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        out = b""
        end = time.monotonic() + DEADLINE
        while b"ready\n" not in out:
            left = end - time.monotonic()
            assert left > 0 and select.select([p.stdout], [], [], left)[0], out
            chunk = os.read(p.stdout.fileno(), 4096)
            assert chunk, p.stderr.read()
            out += chunk
        p.send_signal(sig)
        rest, err = p.communicate(timeout=DEADLINE)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 5, (p.returncode, err)
    assert out + rest == f"ready\ngot {name}\n".encode()
    assert err == b"", err
    assert ids(api) == before


def test_plctl_run_rm_killed_plctl_still_removes(api, plctl, rootfs, uniq):
    """The port layer removes the container (auto_remove), not plctl: a plctl killed with -9
    leaves a container that goes once it stops."""
    p = subprocess.Popen([str(PLCTL), "-H", plctl.host, "run", "--rm", "--name", uniq, rootfs,
                          "--", "/bin/sh", "-c", "echo ready; exec sleep 600"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    try:
        assert select.select([p.stdout], [], [], DEADLINE)[0]
        assert os.read(p.stdout.fileno(), 4096) == b"ready\n"
    finally:
        p.kill()
        p.wait()
    cid = api.inspect(uniq)["id"]
    assert api.inspect(uniq)["state"]["status"] == "running"
    assert api.post(f"/containers/{cid}/kill").status == 204
    assert wait_until(lambda: api.get(f"/containers/{cid}").status == 404,
                      what="the container removed once it stopped")


def test_plctl_run_rm_exit_codes_and_streams(api, plctl, rootfs):
    before = ids(api)
    p = plctl("run", "--rm", "--network", "none", rootfs, "--", "/bin/sh", "-c",
              "echo a; echo b >&2; exit 42")
    assert (p.returncode, p.stdout, p.stderr) == (42, "a\n", "b\n"), p
    p = plctl("run", "--rm", "--network", "none", rootfs, "--", "/bin/true")
    assert (p.returncode, p.stdout, p.stderr) == (0, "", ""), p
    assert ids(api) == before


def test_plctl_run_detached_in_one_request(api, plctl, rootfs, uniq):
    """run -d leaves the followed answer once the id came: the container runs on, its
    output goes to its log; a failed start keeps the container without --rm (docker's
    code, 127) and leaves nothing with it."""
    p = plctl("run", "-d", "--name", uniq, "--network", "none", rootfs, "--", "/bin/sh", "-c",
              "echo started; exec sleep 600", check=0)
    cid = p.stdout.strip()
    assert len(cid) == 64 and p.stderr == "", p
    c = api.inspect(cid)
    assert c["name"].lstrip("/") == uniq and c["state"]["status"] == "running", c
    assert wait_until(lambda: plctl("logs", cid).stdout == "started\n", what="its log")
    plctl("rm", "-f", cid, check=0)

    before = ids(api)
    p = plctl("run", "-d", "--rm", rootfs, "--", "/bin/does-not-exist")
    assert p.returncode == 127 and "does-not-exist" in p.stderr and p.stdout == "", p
    assert wait_until(lambda: ids(api) == before, what="the failed --rm run removed")
    p = plctl("run", "-d", "--name", f"{uniq}-kept", rootfs, "--", "/bin/does-not-exist")
    assert p.returncode == 127 and p.stdout == "", p
    kept = api.inspect(f"{uniq}-kept")
    assert kept["state"]["status"] == "stopped" and kept["state"]["exit_code"] == 127
    plctl("rm", kept["id"], check=0)


def test_plctl_run_rm_i_feeds_all_of_stdin(api, plctl, rootfs):
    """-i in the one-request run: our stdin reaches the process whole, then its end (the
    end once came ahead of stdin data still queued for tether, which then dropped it: a
    reader slower than the writer, as a shell writing a file, lost the tail)."""
    import hashlib
    data = os.urandom(1 << 20).hex()  # text: plctl() runs with text=True
    before = ids(api)
    for _ in range(3):  # the lost tail depended on timing
        p = plctl("run", "--rm", "-i", "--network", "none", rootfs, "--", "/bin/sh", "-c",
                  "cat > /tmp/in && sha256sum < /tmp/in", input=data)
        assert p.returncode == 0, p
        assert p.stdout.split()[0] == hashlib.sha256(data.encode()).hexdigest()
    assert ids(api) == before


def test_follow_ends_without_status_when_the_daemon_stops(binaries, rootfs, uniq):
    """A daemon stopped cleanly ends a followed run's answer without the exit status: plctl
    says so (125), the container outlives the daemon, and the next daemon still removes it
    (auto_remove) once it stops."""
    import tempfile

    from conftest import Daemon, finish_or_fail, start_or_fail
    tmp = tempfile.mkdtemp(prefix="pl-it-follow-")
    d = start_or_fail(Daemon(tmp), tmp)
    try:
        p = subprocess.Popen([str(PLCTL), "-H", f"unix://{d.socket}", "run", "--rm", "--name",
                              uniq, "--network", "none", rootfs, "--", "/bin/sh", "-c",
                              "echo ready; exec sleep 600"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            assert select.select([p.stdout], [], [], DEADLINE)[0]
            assert os.read(p.stdout.fileno(), 4096) == b"ready\n"
            assert d.stop() == 0, d.log_tail()
            _, err = p.communicate(timeout=DEADLINE)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        assert p.returncode == 125 and b"before its exit status" in err, (p.returncode, err)
        d.start()
        c = d.api.inspect(uniq)
        assert c["state"]["status"] == "running", c
        assert d.api.post(f"/containers/{c['id']}/kill").status == 204
        assert wait_until(lambda: d.api.get(f"/containers/{c['id']}").status == 404,
                          what="the container removed once it stopped")
    finally:
        finish_or_fail(d, restart=True)


def root_mount_line(api, rootfs, uniq, auto_remove):
    body = api.create_body(rootfs, ["/bin/sh", "-c", "grep ' / / ' /proc/self/mountinfo"],
                           name=uniq)
    body["auto_remove"] = auto_remove
    r = run_follow(api, body)
    assert r.status == 200, r
    fr = frames(r.body)
    assert json.loads(fr[-1][1])["exit_code"] == 0, fr
    line = b"".join(d for s, d in fr if s == 1).decode()
    assert " - overlay overlay " in line, line
    return line, json.loads(fr[0][1])["id"]


def kernel_has_volatile_overlay():
    major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    return (major, minor) >= (5, 10)


@pytest.mark.skipif(not kernel_has_volatile_overlay(), reason="overlayfs volatile: Linux 5.10")
def test_an_auto_remove_rootfs_is_never_synced(api, rootfs, uniq):
    # Its writes cannot outlive a crash that would stop (and so remove) the container: the
    # overlay is "volatile", so neither its writes nor its unmount sync the host's
    # filesystem (podman does the same for --rm). A kept container's overlay is not.
    def volatile(line):  # older kernels show "volatile", newer ones "fsync=volatile"
        opts = line.split(" - ")[1].split()[2].split(",")
        return "volatile" in opts or "fsync=volatile" in opts

    line, _ = root_mount_line(api, rootfs, uniq, True)
    assert volatile(line), line
    line, cid = root_mount_line(api, rootfs, uniq + "-kept", False)
    try:
        assert not volatile(line), line
    finally:
        assert api.delete(f"/containers/{cid}").status == 204


@pytest.mark.skipif(not kernel_has_volatile_overlay(), reason="overlayfs volatile: Linux 5.10")
def test_a_volatile_rootfs_from_before_the_boot_is_refused(api, daemon, rootfs, uniq):
    # The kernel marks a volatile upper layer and refuses to mount it again. A mark made in
    # this boot is from a clean unmount (the container starts again); one made before it
    # says the host went down while the overlay was in use (a crash in the middle of an
    # auto_remove container's first start leaves it "created"): its writes may be torn,
    # the start says so, and the container is removed as any that stopped.
    for age, ok in ((0, True), (10 * 365 * 86400, False)):
        body = api.create_body(rootfs, ["/bin/true"], name=f"{uniq}-{ok}")
        body["auto_remove"] = True
        cid = api.create_raw(body).json["id"]
        mark = daemon.root / "containers" / cid / "work" / "work" / "incompat" / "volatile"
        mark.mkdir(parents=True)
        t = time.time() - age
        os.utime(mark, (t, t))
        r = api.post(f"/containers/{cid}/start")
        if ok:
            assert r.status == 204, r
            assert wait_until(lambda: api.get(f"/containers/{cid}").status == 404,
                              what="the container ran and was removed")
        else:
            assert r.status >= 400 and "host went down" in r.body.decode(), r
            # a failed start stops it, and an auto_remove container goes with its rootfs
            assert wait_until(lambda: api.get(f"/containers/{cid}").status == 404,
                              what="the refused container removed")
