# SPDX-License-Identifier: Apache-2.0
"""The fast run path (issue 16): create with "start": true, removal whose tree is deleted
after the answer, the state record written in place, the raised fd limit (and the
container's unraised one), lists that take the freezer state from memory, and the phase
breakdown on /metrics. Speed itself lives in bench/run-true and bench/scale; these check
that nothing a user relies on changed."""

import os
import tempfile
from pathlib import Path

import pytest

from conftest import Daemon, cgroup_dirs_for, finish_or_fail, start_or_fail, wait_until
from pl_extra import binaries  # noqa: F401 - overrides conftest's (plctl not needed)

SLEEP = ["/bin/sleep", "1000"]
LOW_NOFILE = 1000


@pytest.fixture(scope="module")
def daemon(binaries):  # noqa: F811 - this module's own daemon: a test kills it with -9
    tmp = tempfile.mkdtemp(prefix="pl-it-fast-")
    d = Daemon(tmp)
    # started with a soft fd limit below the hard one, so raising it is visible
    d.launcher = ["prlimit", f"--nofile={LOW_NOFILE}:", "--", *d.launcher]
    d = start_or_fail(d, tmp)
    yield d
    finish_or_fail(d, restart=True)


@pytest.fixture(scope="module")
def api(daemon):
    return daemon.api


def ids(api):
    return {c["id"] for c in api.containers()}


def test_create_with_start_answers_once_running(api, rootfs):
    body = api.create_body(rootfs, SLEEP)
    body["start"] = True
    r = api.create_raw(body)
    assert r.status == 201, r.body
    cid = r.json["id"]
    assert set(r.json) >= {"id", "handle", "version"}
    st = api.state(cid)
    assert st["status"] == "running" and st["pid"] > 0
    # not part of the stored config: inspect shows what a create without it shows
    assert "start" not in api.inspect(cid)["config"]
    assert api.remove(cid, force=True).status == 204


def test_create_with_start_false_only_creates(api, rootfs):
    body = api.create_body(rootfs, SLEEP)
    body["start"] = False
    r = api.create_raw(body)
    assert r.status == 201, r.body
    assert api.state(r.json["id"])["status"] == "created"
    assert api.remove(r.json["id"]).status == 204


def test_create_with_start_must_be_boolean(api, rootfs):
    body = api.create_body(rootfs, SLEEP)
    body["start"] = "yes"
    before = ids(api)
    r = api.create_raw(body)
    assert r.status == 400 and "start" in r.message
    assert ids(api) == before


def test_failed_start_in_create_removes_the_container(api, rootfs):
    before = ids(api)
    body = api.create_body(rootfs, ["/no/such/binary"])
    body["start"] = True
    r = api.create_raw(body)
    assert r.status in (400, 500), r.body
    assert "no/such/binary" in r.message or "start" in r.message
    wait_until(lambda: ids(api) == before, what="the failed container to be removed")


def test_removed_domain_leaves_no_directory_or_cgroup(daemon, api, rootfs):
    cid = api.create(rootfs, SLEEP)
    api.start(cid)
    assert cgroup_dirs_for(cid), "a running container has cgroups"
    assert api.remove(cid, force=True).status == 204
    assert cid not in ids(api)
    containers = daemon.root / "containers"
    wait_until(lambda: not [p for p in containers.iterdir() if cid in p.name],
               what="the removed domain's tree to be deleted")
    assert not cgroup_dirs_for(cid)


def test_fd_limit_raised_for_the_daemon_not_the_container(daemon, api, rootfs):
    limits = Path(f"/proc/{daemon.pid}/limits").read_text()
    line = next(x for x in limits.splitlines() if x.startswith("Max open files"))
    soft, hard = line.split()[3:5]
    assert int(hard) > LOW_NOFILE, f"cannot check: the hard limit is {hard}"
    assert soft == hard, f"portlayerd's fd limit is not raised: {line}"
    res = api.run(rootfs, ["/bin/sh", "-c", "ulimit -n"])
    assert res.exit_code == 0
    assert res.stdout.strip() == str(LOW_NOFILE), "the container got the daemon's raised limit"


def test_list_shows_pause_without_reading_the_freezer_each_time(api, rootfs):
    cid = api.create(rootfs, SLEEP)
    api.start(cid)
    assert api.post(f"/containers/{cid}/pause").status == 204

    def listed():
        return next(c["state"] for c in api.containers() if c["id"] == cid)

    assert listed() == "paused"
    assert api.state(cid)["status"] == "paused"
    assert api.post(f"/containers/{cid}/unpause").status == 204
    assert listed() == "running"
    assert api.remove(cid, force=True).status == 204


def test_phases_on_metrics(api, rootfs):
    res = api.run(rootfs, ["/bin/true"])
    assert res.exit_code == 0
    text = api.get("/metrics").body.decode()
    counts = {}
    for line in text.splitlines():
        if line.startswith('portlayer_phase_total{phase="'):
            counts[line.split('"')[1]] = float(line.rsplit(" ", 1)[1])
    for phase in ("create.store", "start.spawn", "dom.pivot_root", "tether.exec_to_hello",
                  "tether.config_to_started", "exit.state_write", "remove.store"):
        assert counts.get(phase, 0) >= 1, f"phase {phase} not counted: {sorted(counts)}"


def test_state_record_with_a_stale_tail_still_loads(daemon, api, rootfs):
    """A kill between the state record's write and its truncate leaves the tail of the
    longer record before it: the restarted daemon must still read the record."""
    cid = api.create(rootfs, SLEEP)
    api.start(cid)
    daemon.kill()
    state = daemon.root / "containers" / cid / "state.json"
    text = state.read_text()
    state.write_text(text + '"error":"","exits":0}' + " " * 40)
    daemon.start()
    st = api.state(cid)
    assert st["status"] == "running", st
    assert api.remove(cid, force=True).status == 204
    assert not os.path.exists(state)
