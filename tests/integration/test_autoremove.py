# SPDX-License-Identifier: Apache-2.0
"""auto_remove: the port layer removes a container (and its anonymous volumes) as soon as
it stops, including a stop that happened while the daemon was down (found at recovery).
wait?condition=removed answers with the exit code once it is gone; the events are die, then
destroy."""

import json
import os
import signal
import time

import pytest

from conftest import (DEADLINE, own_daemon, pids_in_cgroups_matching, proc_read, start_or_fail,
                      UnixHTTPConnection, wait_until)
from pl_extra import actions, read_events
from pl_extra import binaries  # noqa: F401 - overrides conftest's (plctl not needed)


@pytest.fixture(scope="module")
def daemon(binaries):  # noqa: F811 - this module's own daemon: a test kills it with -9
    yield from own_daemon("pl-it-rm-")


@pytest.fixture(scope="module")
def api(daemon):
    return daemon.api


def create(api, rootfs, args, name, **extra):
    body = api.create_body(rootfs, args, name=name)
    body["auto_remove"] = True
    body.update(extra)
    r = api.create_raw(body)
    assert r.status == 201, r
    return r.json["id"]


def events_of(daemon, cid, since):
    status, evs = read_events(daemon.socket, since=f"{since:.3f}", until=f"{time.time():.3f}")
    assert status == 200, evs
    return actions(evs, cid)


def test_wait_removed_answers_exit_code(daemon, api, rootfs, uniq):
    t0 = time.time() - 1
    cid = create(api, rootfs, ["/bin/sh", "-c",
                               "while [ ! -e /tmp/go ]; do usleep 10000; done; exit 3"], uniq)
    api.start(cid)
    # docker run --rm waits for "removed": the wait is parked while the container runs
    conn = UnixHTTPConnection(str(daemon.socket), timeout=DEADLINE + 10)
    conn.request("POST", f"/containers/{cid}/wait?condition=removed&timeout={DEADLINE}")
    assert api.get(f"/containers/{cid}").status == 200  # a round trip after the wait's
    eid = api.post(f"/containers/{cid}/exec", {"args": ["touch", "/tmp/go"]}).json["id"]
    assert api.post(f"/exec/{eid}/start", params={"detach": 1}).status in (200, 204)
    resp = conn.getresponse()
    body = json.loads(resp.read())
    conn.close()
    assert resp.status == 200, body
    assert body["exit_code"] == 3, body
    assert api.get(f"/containers/{cid}").status == 404
    acts = events_of(daemon, cid, t0)
    assert "die" in acts and "destroy" in acts, acts
    assert acts.index("die") < acts.index("destroy"), acts


def test_anonymous_volume_goes_named_stays(daemon, api, rootfs, uniq):
    named = f"{uniq}-keep"
    cid = create(api, rootfs, ["/bin/sh", "-c", "echo x > /anon/f; echo y > /named/f"], uniq,
                 mounts=[{"type": "volume", "target": "/anon"},
                         {"type": "volume", "source": named, "target": "/named"}])
    mounts = api.inspect(cid)["config"]["mounts"]
    anon = [m for m in mounts if m["target"] == "/anon"][0]
    assert anon.get("anonymous") is True and anon["source"], mounts
    assert api.get(f"/volumes/{anon['source']}").status == 200
    api.start(cid)
    wait_until(lambda: api.get(f"/containers/{cid}").status == 404, DEADLINE,
               what="auto-removal")
    wait_until(lambda: api.get(f"/volumes/{anon['source']}").status == 404, DEADLINE,
               what="the anonymous volume removed")
    assert api.get(f"/volumes/{named}").status == 200
    assert api.delete(f"/volumes/{named}").status == 204


def test_not_with_a_restart_policy(api, rootfs, uniq):
    body = api.create_body(rootfs, ["true"], name=uniq)
    body["auto_remove"] = True
    body["restart_policy"] = {"name": "always"}
    r = api.create_raw(body)
    assert r.status == 400 and "auto_remove" in r.message, r
    body = api.create_body(rootfs, ["true"], name=uniq)
    body["auto_remove"] = "yes"
    assert api.create_raw(body).status == 400


def test_stop_while_daemon_down_is_removed_at_recovery(daemon, api, rootfs, uniq):
    t0 = time.time() - 1
    cid = create(api, rootfs, ["/bin/sleep", "1000"], uniq)
    api.start(cid)
    wait_until(lambda: api.state(cid)["status"] == "running", DEADLINE)
    daemon.kill()  # kill -9
    assert not daemon.alive()
    # the container stops while nobody is watching: its process is killed from outside
    pids = pids_in_cgroups_matching(cid)
    sleeper = [p for p in pids if proc_read(p, "cmdline").split("\0")[0] == "/bin/sleep"]
    assert sleeper, f"no /bin/sleep among {pids}"
    os.kill(sleeper[0], signal.SIGKILL)
    wait_until(lambda: not pids_in_cgroups_matching(cid), DEADLINE,
               what="the domain ending while the daemon is down")
    start_or_fail(daemon)
    assert api.get(f"/containers/{cid}").status == 404
    assert cid not in [c["id"] for c in api.get("/containers", params={"all": 1}).json]
    acts = events_of(daemon, cid, t0)
    assert acts.count("die") == 1 and "destroy" in acts, acts
    assert acts.index("die") < acts.index("destroy"), acts
    # nothing of it is left on disk
    assert not (daemon.root / "containers" / cid).exists()
