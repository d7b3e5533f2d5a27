# SPDX-License-Identifier: Apache-2.0
"""Recovery: containers outlive a SIGKILLed daemon; a restarted daemon reattaches to
the live ones, settles the ones that ended meanwhile, and finishes or undoes whatever
create/start/remove the kill interrupted."""

import json
import os
import random
import struct
import threading
import time

import pytest

from conftest import (DEADLINE, PORTLAYERD, cgroup_dirs_for, mounts_matching, own_daemon,
                      pid_alive, pids_in_cgroups_matching, proc_read, UnixHTTPConnection,
                      wait_until)
from pl_extra import read_events
from pl_extra import binaries  # noqa: F401 - overrides conftest's (plctl not needed)

COUNTER = ["/bin/sh", "-c", "i=0; while :; do echo $i; i=$((i+1)); usleep 100000; done"]
SLEEP = ["/bin/sleep", "1000"]


@pytest.fixture(scope="module")
def daemon(binaries):  # noqa: F811 - this module's own daemon: its tests kill -9 it
    yield from own_daemon("pl-it-rec-")


@pytest.fixture(scope="module")
def api(daemon):
    return daemon.api


def kill9(daemon):
    assert daemon.alive(), "daemon already dead before the kill"
    daemon.kill()
    assert not daemon.alive()


def counter_lines(api, cid):
    out, err = api.output(cid, stderr=False)
    return out.splitlines()


def assert_gapless(lines, what):
    want = [str(i) for i in range(len(lines))]
    if lines != want:
        bad = next(i for i, (a, b) in enumerate(zip(lines, want + [None] * len(lines))) if a != b)
        raise AssertionError(f"{what}: output not 0..n without gaps or duplicates; first "
                             f"difference at line {bad}: {lines[max(0, bad - 3):bad + 3]}")


def read_frame(resp):
    """One multiplexed log frame from a streaming response, or None at the end."""
    hdr = resp.read(8)
    if not hdr:
        return None
    assert len(hdr) == 8, f"truncated frame header {hdr!r}"
    stream, _, _, _, n = struct.unpack(">BBBBI", hdr)
    payload = resp.read(n)
    assert len(payload) == n, "truncated frame payload"
    return stream, payload


# --------------------------------------------------------------------------
# the test


def test_twenty_containers_survive_kill9(daemon, api, rootfs, uniq):
    counters = [api.create(rootfs, COUNTER, name=f"{uniq}-c{i}") for i in range(10)]
    sleepers = {api.create(rootfs, ["/bin/sh", "-c", f"sleep 1; exit {k}"],
                           name=f"{uniq}-s{k}"): k for k in range(10, 20)}
    for cid in counters:
        api.start(cid)
    for cid in counters:
        api.wait_for_output(cid, "0\n")
    tethers = {cid: api.state(cid)["pid"] for cid in counters}
    assert all(p > 0 and pid_alive(p) for p in tethers.values()), tethers

    # the sleepers start together right before the kill: they end while the daemon is away
    errors = []

    def start(cid):
        try:
            api.start(cid)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=start, args=(cid,)) for cid in sleepers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
    assert not errors, errors
    t_started = time.monotonic()
    kill9(daemon)
    t_killed_ns = time.time_ns()
    assert time.monotonic() - t_started < 0.8, "too slow to kill the daemon before the sleepers end"
    for cid, p in tethers.items():
        assert pid_alive(p), f"killing the daemon killed container {cid[:12]}"
    time.sleep(2.0)  # the outage: the point of this test
    daemon.start()

    listing = {c["id"]: c for c in api.containers()}
    for cid in counters + list(sleepers):
        assert cid in listing, f"container {cid[:12]} not listed after the restart"
    for cid in counters:
        st = api.state(cid)
        assert st["status"] == "running", (cid[:12], st)
        assert st["pid"] == tethers[cid], (cid[:12], st, tethers[cid])
        assert pid_alive(st["pid"])
        assert listing[cid]["state"] == "running"
    for cid, k in sleepers.items():
        st = api.state(cid)
        assert st["status"] == "stopped", (cid[:12], st)
        assert st["exit_code"] == k, (cid[:12], k, st)
        assert listing[cid]["exit_code"] == k, listing[cid]
        assert not pids_in_cgroups_matching(cid), f"processes left in the cgroups of {cid[:12]}"
    # the exits that happened during the outage were journaled by the new daemon
    _, evs = read_events(daemon.socket, since=str(t_killed_ns // 10**9 - 1),
                         until=f"{time.time():.6f}", filters={"event": ["die"]})
    died = {e["id"]: e["attributes"].get("exit_code") for e in evs if e["time_ns"] > t_killed_ns}
    assert died == sleepers, f"die events after the restart: {died}, want {sleepers}"

    # each counter's log covers the outage without gap or duplicate
    def far_enough():
        return all(len(counter_lines(api, cid)) >= 26 for cid in counters)

    wait_until(far_enough, 10, interval=0.05, what="every counter to reach 25")
    for cid in counters:
        assert_gapless(counter_lines(api, cid), f"counter {cid[:12]}")

    # a reattached container: logs follow streams new lines, wait works, stop works
    follow_id, wait_id = counters[0], counters[1]
    conn = UnixHTTPConnection(str(daemon.socket), timeout=DEADLINE)
    conn.request("GET", f"/containers/{follow_id}/logs?follow=1&stdout=1&tail=1")
    resp = conn.getresponse()
    assert resp.status == 200, resp.status
    waited = {}

    def waiter():
        waited["r"] = api.post(f"/containers/{wait_id}/wait", timeout=DEADLINE)

    wt = threading.Thread(target=waiter)
    wt.start()
    try:
        got = []
        deadline = time.monotonic() + 10
        while len(got) < 4 and time.monotonic() < deadline:
            f = read_frame(resp)
            assert f is not None, "follow stream ended while the counter runs"
            got.append(int(f[1].decode().strip()))
        assert len(got) >= 4, got
        assert got == list(range(got[0], got[0] + len(got))), got
        wt.join(0.3)
        assert wt.is_alive(), f"wait returned while the container runs: {waited}"

        t0 = time.monotonic()
        for cid in counters:
            r = api.post(f"/containers/{cid}/stop", params={"timeout": 2}, timeout=DEADLINE)
            assert r.status == 204, (cid[:12], r)
        assert time.monotonic() - t0 < 10 * 2 + 5
        # the follow stream ends once its container stopped
        rest = []
        end = time.monotonic() + 10
        while time.monotonic() < end:
            f = read_frame(resp)
            if f is None:
                break
            rest.append(int(f[1].decode().strip()))
        else:
            raise AssertionError("logs?follow=1 did not end after the container stopped")
        seq = got + rest
        assert seq == list(range(seq[0], seq[0] + len(seq))), "followed lines have gaps"
    finally:
        conn.close()
    wt.join(DEADLINE)
    assert not wt.is_alive(), "wait on a reattached container did not return"
    assert waited["r"].status == 200, waited["r"]
    assert waited["r"].json["exit_code"] in (143, 137), waited["r"].json
    for cid in counters:
        st = api.state(cid)
        assert st["status"] == "stopped", (cid[:12], st)
        assert st["exit_code"] in (143, 137), (cid[:12], st)
        wait_until(lambda: not pid_alive(tethers[cid]), 5, what=f"tether of {cid[:12]} to exit")
        assert_gapless(counter_lines(api, cid), f"counter {cid[:12]} after stop")
        wait_until(lambda: not pids_in_cgroups_matching(cid), 5,
                   what=f"processes of {cid[:12]} to go")
    for cid in counters + list(sleepers):
        assert api.remove(cid).status == 204


def test_reattached_container_killed_reports_signal(daemon, api, rootfs, uniq):
    """SIGKILL of a reattached domain (stop escalation, POST kill) is exit 128+9, as it is
    for a domain the running daemon started itself."""
    stubborn = ["/bin/sh", "-c", 'trap "" TERM; echo ready; while :; do usleep 50000; done']
    a = api.create(rootfs, stubborn, name=f"{uniq}-a")
    b = api.create(rootfs, SLEEP, name=f"{uniq}-b")
    for cid in (a, b):
        api.start(cid)
    api.wait_for_output(a, "ready")
    kill9(daemon)
    daemon.start()
    assert api.state(a)["status"] == "running" and api.state(b)["status"] == "running"

    t0 = time.monotonic()
    api.stop(a, timeout=1)
    assert time.monotonic() - t0 >= 0.9, "stop did not wait for the TERM grace period"
    st_a = api.state(a)
    assert api.kill(b).status == 204
    w_b = api.wait(b)
    st_b = api.state(b)
    problems = []
    if (st_a["status"], st_a["exit_code"], st_a["signal"]) != ("stopped", 137, 9):
        problems.append(f"reattached stop escalated to SIGKILL: state {st_a}")
    if (w_b["exit_code"], st_b["exit_code"], st_b["signal"]) != (137, 137, 9):
        problems.append(f"reattached POST kill (SIGKILL): wait {w_b}, state {st_b}")
    for cid in (a, b):
        assert api.remove(cid).status == 204
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------
# kill -9 at random points of create / start / remove


def leftovers(daemon, cid):
    problems = []
    pids = pids_in_cgroups_matching(cid)
    if pids:
        problems.append(f"processes {pids} in cgroups of {cid[:12]}")
    dirs = cgroup_dirs_for(cid)
    if dirs:
        problems.append(f"cgroup dirs {dirs}")
    mounts = mounts_matching(cid)
    if mounts:
        problems.append(f"mounts {mounts}")
    return problems


ROUNDS = 8


def daemon_lookalikes(daemon):
    """Host processes (other than the daemon) whose argv is the daemon's: children it
    cloned that never exec'd tether, holding copies of every daemon fd."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == daemon.pid:
            continue
        cmd = proc_read(int(pid), "cmdline", binary=True) or b""
        if cmd.startswith(str(PORTLAYERD).encode() + b"\0") and str(daemon.root).encode() in cmd:
            found.append((int(pid), (proc_read(int(pid), "wchan") or "").strip()))
    return found


def test_kill9_during_create_start_remove(daemon, api, rootfs, uniq):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    containers_dir = daemon.root / "containers"
    all_ids = set()
    report = []
    findings = []
    for rnd in range(ROUNDS):
        got_ids = []
        stop = threading.Event()
        cycles = [0]

        def churn():
            i = 0
            while not stop.is_set():
                try:
                    r = api.post("/containers",
                                 api.create_body(rootfs, SLEEP, name=f"{uniq}-r{rnd}-{i}"),
                                 timeout=4)
                    if r.status != 201:
                        return
                    cid = r.json["id"]
                    got_ids.append(cid)
                    if api.post(f"/containers/{cid}/start", timeout=4).status != 204:
                        return
                    # keep every third one running, remove the rest
                    if i % 3 and api.remove(cid, force=True).status != 204:
                        return
                    cycles[0] += 1
                    i += 1
                except OSError:  # the daemon is gone
                    return

        t = threading.Thread(target=churn)
        t.start()
        delay = rng.uniform(0.05, 0.3)
        time.sleep(delay)  # a random kill point, not synchronisation
        kill9(daemon)
        stop.set()
        # The daemon is gone: a request it was serving must fail now, not hang.
        t.join(3)
        if t.is_alive():
            findings.append(f"round {rnd}: a request outstanding at the kill still hangs 3 s "
                            f"later; processes still running the daemon's binary: "
                            f"{daemon_lookalikes(daemon)}")
        t.join(DEADLINE)
        assert not t.is_alive()
        daemon.start()
        all_ids.update(got_ids)
        report.append(f"round {rnd}: kill after {delay * 1000:.0f} ms, {cycles[0]} cycles, "
                      f"{len(got_ids)} ids")

        ctx = f"(seed {seed}, {report[-1]})"
        stray = [n for n in os.listdir(containers_dir)
                 if n.startswith(".tmp-") or n.startswith(".removing-")]
        assert not stray, f"half-made or half-removed domains after the restart: {stray} {ctx}"
        listing = {c["id"]: c for c in api.containers()}
        for cid, c in listing.items():
            d = containers_dir / cid
            assert (d / "config.json").is_file(), f"listed {cid[:12]} has no config.json {ctx}"
            doc = json.loads((d / "config.json").read_text())
            assert doc["id"] == cid, doc
            st = api.state(cid)
            assert st["status"] in ("created", "running", "stopped"), (cid[:12], st, ctx)
            assert c["state"] == st["status"], (c, st)
            if st["status"] == "running":
                assert st["pid"] > 0 and pid_alive(st["pid"]), (cid[:12], st, ctx)
            else:
                assert not pids_in_cgroups_matching(cid), \
                    f"{st['status']} {cid[:12]} still has processes in its cgroups {ctx}"
                assert not cgroup_dirs_for(cid), \
                    f"{st['status']} {cid[:12]} still has cgroup dirs {cgroup_dirs_for(cid)} {ctx}"
        for n in os.listdir(containers_dir):
            if not n.startswith("."):
                assert n in listing, f"domain dir {n[:12]} on disk but not listed {ctx}"
        for cid in got_ids:
            if cid not in listing:
                problems = leftovers(daemon, cid)
                assert not problems, f"removed {cid[:12]}: {problems} {ctx}"
        # a container caught mid-start can be started (again) and removed
        for cid, c in listing.items():
            if c["state"] != "running":
                r = api.post(f"/containers/{cid}/start")
                assert r.status == 204, (cid[:12], c, r, ctx)
                assert api.state(cid)["status"] == "running"
        fails = api.remove_all()
        assert not fails, f"{fails} {ctx}"
        assert api.containers() == []
        for cid in got_ids:
            problems = leftovers(daemon, cid)
            assert not problems, f"after remove -f: {problems} {ctx}"
            assert not (containers_dir / cid).exists()
        # removed domains' trees are deleted by the daemon's janitor after the answer
        wait_until(lambda: os.listdir(containers_dir) == [],
                   what=f"removed domains' trees to be deleted: {os.listdir(containers_dir)}")
    print("\n".join(report))
    assert sum(1 for r in report if ", 0 ids" not in r) >= 3, \
        f"the kills came before any work in most rounds: {report}"
    for cid in all_ids:
        assert not leftovers(daemon, cid)
    assert not findings, "\n".join(findings)
