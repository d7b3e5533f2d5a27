# SPDX-License-Identifier: Apache-2.0
"""Container lifecycle: create, start, stop, kill, wait, restart, addressing."""

import threading
import time

import pytest

from conftest import pid_alive, wait_until

SLEEP = ["/bin/sleep", "1000"]


@pytest.mark.mechanisms
def test_created_then_running_then_stopped(api, rootfs):
    cid = api.create(rootfs, SLEEP)
    st = api.state(cid)
    assert st["status"] == "created"
    assert st.get("pid", 0) == 0
    api.start(cid)
    st = api.state(cid)
    assert st["status"] == "running"
    assert st["pid"] > 0 and pid_alive(st["pid"]), st
    assert api.post(f"/containers/{cid}/start").status == 304
    api.kill(cid)
    w = api.wait(cid)
    assert w["exit_code"] == 137
    assert api.state(cid)["status"] == "stopped"
    wait_until(lambda: not pid_alive(st["pid"]), what="tether to exit")


@pytest.mark.slow
@pytest.mark.mechanisms
def test_stop_graceful(api, rootfs):
    cid = api.create(rootfs, ["/bin/sh", "-c",
                              'trap "echo got-term; exit 0" TERM; echo ready; '
                              'while :; do usleep 20000; done'])
    api.start(cid)
    api.wait_for_output(cid, "ready")
    t0 = time.monotonic()
    api.stop(cid, timeout=20)
    elapsed = time.monotonic() - t0
    st = api.state(cid)
    assert st["status"] == "stopped"
    assert st["exit_code"] == 0
    assert st.get("signal") in (None, 0)
    # A process that honours SIGTERM must not sit out the grace period.
    assert elapsed < 10, f"stop took {elapsed:.1f}s although the process exited on TERM"
    assert "got-term\n" in api.output(cid)[0]


@pytest.mark.slow
def test_stop_escalates_to_kill(api, rootfs):
    cid = api.create(rootfs, ["/bin/sh", "-c", 'trap "" TERM; echo ready; sleep 1000'])
    api.start(cid)
    api.wait_for_output(cid, "ready")
    t0 = time.monotonic()
    api.stop(cid, timeout=1)
    elapsed = time.monotonic() - t0
    st = api.state(cid)
    assert st["status"] == "stopped"
    assert st["exit_code"] == 137
    assert st["signal"] == 9
    assert elapsed >= 0.9, f"SIGKILL came after {elapsed:.2f}s, before the 1s grace period"


def test_stop_is_idempotent(api, rootfs):
    cid = api.create(rootfs, SLEEP)
    api.start(cid)
    api.stop(cid, timeout=0)
    assert api.state(cid)["status"] == "stopped"
    assert api.post(f"/containers/{cid}/stop").status == 204
    assert api.post(f"/containers/{cid}/stop", params={"timeout": 0}).status == 204


def test_stop_created_container(api, rootfs):
    cid = api.create(rootfs, SLEEP)
    assert api.post(f"/containers/{cid}/stop").status == 204


def test_wait_timeout_on_running(api, rootfs):
    cid = api.create(rootfs, SLEEP)
    api.start(cid)
    t0 = time.monotonic()
    r = api.post(f"/containers/{cid}/wait", params={"timeout": 0.5}, timeout=10)
    assert r.status == 408, r
    assert "message" in r.json
    assert time.monotonic() - t0 < 8
    assert api.state(cid)["status"] == "running"
    api.kill(cid)


def test_wait_on_exited(api, rootfs):
    r = api.run(rootfs, ["/bin/sh", "-c", "exit 5"])
    w = api.wait(r.id, timeout=1)
    assert w["exit_code"] == 5
    assert api.post(f"/containers/{r.id}/wait").json["exit_code"] == 5


def test_wait_blocks_until_exit(api, rootfs):
    cid2 = api.create(rootfs, SLEEP)
    api.start(cid2)
    result = {}

    def waiter():
        result["w"] = api.wait(cid2)

    t = threading.Thread(target=waiter)
    t.start()
    t.join(0.3)
    assert t.is_alive(), "wait returned while the container was still running"
    assert api.kill(cid2, "TERM").status == 204
    t.join(10)
    assert not t.is_alive()
    assert result["w"]["exit_code"] == 143


def test_wait_next_exit_on_created(api, rootfs):
    cid = api.create(rootfs, ["/bin/sh", "-c", "exit 6"])
    result = {}

    def waiter():
        result["r"] = api.post(f"/containers/{cid}/wait",
                               params={"condition": "next-exit", "timeout": 20}, timeout=30)

    t = threading.Thread(target=waiter)
    t.start()
    t.join(0.3)
    assert t.is_alive(), "next-exit wait returned before the container was started"
    api.start(cid)
    t.join(20)
    assert not t.is_alive()
    assert result["r"].status == 200, result["r"]
    assert result["r"].json["exit_code"] == 6


@pytest.mark.parametrize("sig,code", [pytest.param("TERM", 143, marks=pytest.mark.mechanisms),
                                      ("SIGTERM", 143), ("15", 143),
                                      pytest.param("KILL", 137, marks=pytest.mark.mechanisms),
                                      ("9", 137), (None, 137)])
def test_kill_signal(api, rootfs, sig, code):
    cid = api.create(rootfs, SLEEP)
    api.start(cid)
    r = api.kill(cid, sig)
    assert r.status == 204, r
    w = api.wait(cid)
    assert w["exit_code"] == code
    assert w.get("signal") == code - 128


@pytest.mark.mechanisms
def test_kill_delivers_catchable_signal(api, rootfs):
    cid = api.create(rootfs, ["/bin/sh", "-c",
                              'trap "echo got-usr1; exit 9" USR1; echo ready; '
                              'while :; do usleep 20000; done'])
    api.start(cid)
    api.wait_for_output(cid, "ready")
    assert api.kill(cid, "USR1").status == 204
    assert api.wait(cid)["exit_code"] == 9
    assert "got-usr1\n" in api.output(cid)[0]


@pytest.mark.mechanisms
def test_restart_keeps_writable_layer(api, rootfs):
    cid = api.create(rootfs, ["/bin/sh", "-c",
                              "echo run >> /counter; cat /counter | wc -l"])
    api.start(cid)
    assert api.wait(cid)["exit_code"] == 0
    api.start(cid)
    assert api.wait(cid)["exit_code"] == 0
    out, _ = api.output(cid)
    assert out.split() == ["1", "2"]


def test_address_by_name_and_prefix(api, rootfs, uniq):
    cid = api.create(rootfs, ["/bin/true"], name=uniq)
    by_name = api.inspect(uniq)
    assert by_name["id"] == cid
    assert by_name["name"] == uniq
    assert api.inspect(cid[:12])["id"] == cid
    assert api.inspect(cid)["name"] == uniq
    api.start(uniq)
    assert api.wait(cid[:16])["exit_code"] == 0


def test_list_in_creation_order(api, rootfs, uniq):
    ids = [api.create(rootfs, ["/bin/true"], name=f"{uniq}-{i}") for i in range(3)]
    api.start(ids[1])
    api.wait(ids[1])
    listing = api.containers()
    mine = [c for c in listing if c["id"] in ids]
    assert [c["id"] for c in mine] == ids
    by_id = {c["id"]: c for c in mine}
    assert by_id[ids[0]]["state"] == "created"
    assert by_id[ids[1]]["state"] == "stopped"
    assert by_id[ids[1]]["exit_code"] == 0
    assert by_id[ids[0]]["name"] == f"{uniq}-0"
    assert by_id[ids[0]]["args"] == ["/bin/true"]


def test_name_reusable_after_remove(api, rootfs, uniq):
    cid = api.create(rootfs, ["/bin/true"], name=uniq)
    assert api.remove(cid).status == 204
    cid2 = api.create(rootfs, ["/bin/true"], name=uniq)
    assert cid2 != cid
