# SPDX-License-Identifier: Apache-2.0
"""Health checks run by the port layer as exec sessions: status starting -> healthy ->
unhealthy with its failing streak and last results in inspect, health_status events,
wait?condition=healthy, timeouts, and a record that survives a daemon kill -9 (the status is
carried on, not reset, and checks go on)."""

import json
import os
import signal
import threading
import time

import pytest

from conftest import (DEADLINE, own_daemon, pids_in_cgroups_matching, proc_read, start_or_fail,
                      wait_until)
from pl_extra import binaries  # noqa: F401 - overrides conftest's (plctl not needed)
from pl_extra import read_events
from test_interactive import exec_run

FLAG = ["/bin/sh", "-c", "touch /tmp/ok; exec sleep 1000"]


@pytest.fixture(scope="module")
def daemon(binaries):  # noqa: F811 - this module's own daemon: a test kills it with -9
    yield from own_daemon("pl-it-hc-")


@pytest.fixture(scope="module")
def api(daemon):
    return daemon.api


def create(api, rootfs, args, name, healthcheck):
    body = api.create_body(rootfs, args, name=name)
    body["healthcheck"] = healthcheck
    r = api.create_raw(body)
    assert r.status == 201, r
    return r.json["id"]


def health(api, cid):
    return api.state(cid).get("health")


def wait_healthy(api, cid):
    r = api.post(f"/containers/{cid}/wait", params={"condition": "healthy",
                                                     "timeout": DEADLINE},
                 timeout=DEADLINE + 10)
    assert r.status == 200, r
    return r.json


def health_events(daemon, cid, since):
    status, evs = read_events(daemon.socket, since=f"{since:.3f}", until=f"{time.time():.3f}")
    assert status == 200
    return [e["attributes"]["health_status"] for e in evs
            if e.get("id") == cid and e["action"] == "health_status"]


def listed_status(api, cid):
    """The list's human status (its rows are kept between lists: health must show at once)."""
    r = api.get("/containers", params={"filters": json.dumps({"id": [cid]})})
    assert r.status == 200 and len(r.json) == 1, r.body
    return r.json[0]["status"]


def test_healthy_then_unhealthy(daemon, api, rootfs, uniq):
    t0 = time.time() - 1
    cid = create(api, rootfs, FLAG, uniq,
                 {"test": ["CMD-SHELL", "test -e /tmp/ok && echo fine"], "interval": 0.2,
                  "timeout": 5, "retries": 2})
    hc = api.inspect(cid)["config"]["healthcheck"]
    assert hc["test"] == ["CMD-SHELL", "test -e /tmp/ok && echo fine"]
    assert hc["interval"] == 0.2 and hc["retries"] == 2 and hc["start_period"] == 0
    api.start(cid)
    assert health(api, cid)["status"] in ("starting", "healthy")
    assert listed_status(api, cid).startswith("Up ")  # a row kept from before it was healthy
    h = wait_healthy(api, cid)
    assert h["status"] == "healthy" and h["failing_streak"] == 0, h
    assert listed_status(api, cid).endswith(" (healthy)")
    last = h["log"][-1]
    assert last["exit_code"] == 0 and last["output"] == "fine\n", last
    assert last["start"] <= last["end"]
    out, _, _ = exec_run(api, cid, ["rm", "/tmp/ok"])
    wait_until(lambda: health(api, cid)["status"] == "unhealthy", DEADLINE,
               what="unhealthy after the flag went")
    assert listed_status(api, cid).endswith(" (unhealthy)")
    h = health(api, cid)
    assert h["failing_streak"] >= 2, h
    assert h["log"][-1]["exit_code"] == 1, h
    assert len(h["log"]) <= 5
    # and back
    exec_run(api, cid, ["touch", "/tmp/ok"])
    wait_healthy(api, cid)
    assert health_events(daemon, cid, t0)[:3] == ["healthy", "unhealthy", "healthy"]
    # the checks leave no exec records behind: only the two execs above have one
    api.stop(cid, timeout=0)
    assert len(list((daemon.root / "containers" / cid).glob("exec-*.json"))) == 2


def test_cmd_form_and_timeout(api, rootfs, uniq):
    cid = create(api, rootfs, ["sleep", "1000"], uniq,
                 {"test": ["CMD", "sleep", "100"], "interval": 0.1, "timeout": 0.2,
                  "retries": 1})
    api.start(cid)
    wait_until(lambda: health(api, cid)["status"] == "unhealthy", DEADLINE,
               what="unhealthy by timeout")
    last = health(api, cid)["log"][-1]
    assert last["exit_code"] == -1 and "timeout" in last["output"], last
    # the overrunning check was killed: no sleep 100 is left in the container
    top = api.get(f"/containers/{cid}/top").json["processes"]
    wait_until(lambda: not [p for p in api.get(f"/containers/{cid}/top").json["processes"]
                            if p["args"] == ["sleep", "100"]], DEADLINE,
               what="the timed-out check killed")
    assert top is not None
    api.stop(cid, timeout=0)


def test_start_period_and_wait_on_a_stop(api, rootfs, uniq):
    cid = create(api, rootfs, ["sleep", "1000"], uniq,
                 {"test": ["CMD", "false"], "interval": 0.1, "retries": 1,
                  "start_period": 3600})
    api.start(cid)
    # failures inside the start period do not count: it stays "starting"
    wait_until(lambda: len(health(api, cid)["log"]) >= 3, DEADLINE, what="three checks")
    h = health(api, cid)
    assert h["status"] == "starting" and h["failing_streak"] == 0, h
    # a wait for healthy ends (409) when the container stops first
    got = {}
    t = threading.Thread(target=lambda: got.update(r=api.post(
        f"/containers/{cid}/wait", params={"condition": "healthy", "timeout": DEADLINE},
        timeout=DEADLINE + 10)))
    t.start()
    api.stop(cid, timeout=0)
    t.join(DEADLINE + 15)
    assert got["r"].status == 409 and "stopped" in got["r"].message, got["r"]


def test_bad_healthchecks(api, rootfs, uniq):
    for hc in ({"test": []}, {"test": ["CMD"]}, {"test": ["CMD-SHELL", "a", "b"]},
               {"test": ["WHAT", "x"]}, {"test": ["CMD", "x"], "interval": 0},
               {"test": ["CMD", "x"], "interval": "5s"}, {"test": ["CMD", "x"], "retries": -1},
               {"test": ["CMD", "x"], "bogus": 1}, "CMD true"):
        body = api.create_body(rootfs, ["true"], name=uniq)
        body["healthcheck"] = hc
        r = api.create_raw(body)
        assert r.status == 400 and "healthcheck" in r.message, (hc, r)
    cid = create(api, rootfs, ["true"], uniq, {"test": ["NONE"]})
    assert "health" not in api.state(cid)
    r = api.post(f"/containers/{cid}/wait", params={"condition": "healthy"})
    assert r.status == 400, r


def test_survives_daemon_kill9(daemon, api, rootfs, uniq):
    t0 = time.time() - 1
    cid = create(api, rootfs, FLAG, uniq,
                 {"test": ["CMD", "test", "-e", "/tmp/ok"], "interval": 0.2, "retries": 1})
    api.start(cid)
    wait_healthy(api, cid)
    before = health(api, cid)
    daemon.kill()
    start_or_fail(daemon)
    # carried on: not reset to "starting", the log still there
    after = health(api, cid)
    assert after["status"] == "healthy", after
    assert after["log"][:1] == before["log"][:1], (before, after)
    # and the checks run again
    last_end = after["log"][-1]["end"]
    wait_until(lambda: health(api, cid)["log"][-1]["end"] > last_end, DEADLINE,
               what="a check after the restart")
    exec_run(api, cid, ["rm", "/tmp/ok"])
    wait_until(lambda: health(api, cid)["status"] == "unhealthy", DEADLINE,
               what="unhealthy after the restart")
    assert health_events(daemon, cid, t0) == ["healthy", "unhealthy"]
    # a check the killed daemon left running is cleared up too: only our exec's record stays
    execs = lambda: list((daemon.root / "containers" / cid).glob("exec-*.json"))  # noqa: E731
    wait_until(lambda: len(execs()) == 1, DEADLINE, what="only one exec record")
    api.stop(cid, timeout=0)
    # the record outlives the run and the daemon: a stopped container shows its last health
    daemon.kill()
    start_or_fail(daemon)
    assert health(api, cid)["status"] == "unhealthy"


def test_check_in_flight_at_kill9_is_cleared_up(daemon, api, rootfs, uniq):
    # the first check hangs; the daemon is killed while it runs
    cid = create(api, rootfs, ["sleep", "1000"], uniq,
                 {"test": ["CMD-SHELL", "[ -e /tmp/first ] && exit 0; touch /tmp/first; "
                           "exec sleep 1007"], "interval": 0.1, "timeout": 3600})
    api.start(cid)
    wait_until(lambda: any(p["args"] == ["sleep", "1007"]
                           for p in api.get(f"/containers/{cid}/top").json["processes"]),
               DEADLINE, what="the hanging check")
    execs = lambda: list((daemon.root / "containers" / cid).glob("exec-*.json"))  # noqa: E731
    assert len(execs()) == 1
    daemon.kill()
    start_or_fail(daemon)
    wait_healthy(api, cid)  # the new daemon's checks pass
    hung = [p for p in pids_in_cgroups_matching(cid)
            if proc_read(p, "cmdline").split("\0")[:2] == ["sleep", "1007"]]
    assert hung
    os.kill(hung[0], signal.SIGKILL)
    wait_until(lambda: not execs(), DEADLINE, what="the old check's exec record removed")
    api.stop(cid, timeout=0)
