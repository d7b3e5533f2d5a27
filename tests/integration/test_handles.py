# SPDX-License-Identifier: Apache-2.0
"""Handles: staged, immutable change sets bound to a config version, committed all or
none; stale handles get 409 with the current version; the handle table is bounded."""

import json
import threading
import time

import pytest

from conftest import DEADLINE, wait_until
from pl_extra import EventStream, actions
from pl_extra import binaries  # noqa: F401 - overrides conftest's (plctl not needed)

SLEEP = ["/bin/sleep", "1000"]


# --------------------------------------------------------------------------
# helpers


def take(api, ref):
    r = api.get(f"/containers/{ref}/handle")
    assert r.status == 200, f"take handle on {ref}: {r.status} {r.body!r}"
    j = r.json
    assert set(j) >= {"handle", "id", "version"}, j
    assert isinstance(j["handle"], str) and j["handle"], j
    return j


def version_of(api, ref):
    return take(api, ref)["version"]


def mutate(api, handle, op, arg):
    r = api.post(f"/handles/{handle}/{op}", arg)
    assert r.status == 200, f"stage {op} {arg}: {r.status} {r.body!r}"
    new = r.json["handle"]
    assert isinstance(new, str) and new and new != handle, r.json
    return new


def handle_info(api, handle):
    r = api.get(f"/handles/{handle}")
    assert r.status == 200, f"GET /handles/{handle}: {r.status} {r.body!r}"
    return r.json


def commit(api, handle, timeout=DEADLINE):
    return api.post(f"/handles/{handle}/commit", timeout=timeout)


def on_disk(daemon, cid):
    with open(daemon.root / "containers" / cid / "config.json") as f:
        return json.load(f)


# --------------------------------------------------------------------------
# staging and commit


def test_staging_is_immutable_and_commit_applies_everything(api, daemon, rootfs, uniq):
    body = api.create_body(rootfs, SLEEP, name=f"{uniq}-a", env=["KEEP=1", "DROP=2"])
    body["labels"] = {"l1": "a", "gone": "x"}
    body["annotations"] = {"an1": "a"}
    r = api.create_raw(body)
    assert r.status == 201, r
    cid = r.json["id"]
    before = api.inspect(cid)
    ref = take(api, cid)
    assert ref["id"] == cid
    v0 = ref["version"]

    h0 = ref["handle"]
    h1 = mutate(api, h0, "rename", {"name": f"{uniq}-b"})
    h2 = mutate(api, h1, "env", {"set": ["NEW=3", "KEEP=one"], "unset": ["DROP"]})
    h3 = mutate(api, h2, "labels", {"set": {"l2": "b"}, "unset": ["gone"]})
    h4 = mutate(api, h3, "annotations", {"set": {"an2": "b"}})
    h5 = mutate(api, h4, "restart_policy", {"name": "on-failure", "max_retries": 4})
    h6 = mutate(api, h5, "stop", {"signal": "INT", "timeout": 7})

    # every token is distinct and each one still shows what was staged on it
    chain = [h0, h1, h2, h3, h4, h5, h6]
    assert len(set(chain)) == len(chain)
    ops = ["rename", "env", "labels", "annotations", "restart_policy", "stop"]
    for n, h in enumerate(chain):
        info = handle_info(api, h)
        assert info["handle"] == h and info["id"] == cid and info["version"] == v0, info
        assert [c["op"] for c in info["changes"]] == ops[:n], info
    assert handle_info(api, h1)["changes"][0]["arg"] == {"name": f"{uniq}-b"}
    # staging on an older handle branches; it does not disturb the newer chain
    branch = mutate(api, h1, "labels", {"set": {"branch": "1"}})
    assert [c["op"] for c in handle_info(api, branch)["changes"]] == ["rename", "labels"]
    assert [c["op"] for c in handle_info(api, h6)["changes"]] == ops

    # nothing is applied before commit
    now = api.inspect(cid)
    assert now["name"] == f"{uniq}-a"
    assert now["config"] == before["config"]
    assert version_of(api, cid) == v0
    assert api.get(f"/containers/{uniq}-b").status == 404
    assert on_disk(daemon, cid)["version"] == v0

    r = commit(api, h6)
    assert r.status == 200, r
    assert r.json == {"id": cid, "version": v0 + 1}, r.json

    after = api.inspect(cid)
    cfg = after["config"]
    assert after["name"] == f"{uniq}-b"
    assert cfg["name"] == f"{uniq}-b"
    assert sorted(cfg["process"]["env"]) == ["KEEP=one", "NEW=3"], cfg["process"]
    assert cfg["labels"] == {"l1": "a", "l2": "b"}
    assert cfg["annotations"] == {"an1": "a", "an2": "b"}
    assert cfg["restart_policy"] == {"name": "on-failure", "max_retries": 4}
    assert cfg["stop_signal"] in ("INT", "SIGINT"), cfg
    assert cfg["stop_timeout"] == 7
    assert version_of(api, cid) == v0 + 1
    assert api.inspect(f"{uniq}-b")["id"] == cid
    assert api.get(f"/containers/{uniq}-a").status == 404
    doc = on_disk(daemon, cid)
    assert doc["version"] == v0 + 1 and doc["config"]["name"] == f"{uniq}-b"
    assert sorted(doc["config"]["process"]["env"]) == ["KEEP=one", "NEW=3"]

    # the committed handle is spent; the rest of the chain is now stale
    assert commit(api, h6).status == 404
    assert api.get(f"/handles/{h6}").status == 404
    r = commit(api, branch)
    assert r.status == 409, r
    assert r.json["version"] == v0 + 1 and r.json["message"], r.json
    assert api.inspect(cid)["config"] == cfg


def test_commit_is_all_or_none(api, daemon, rootfs, uniq):
    other = api.create(rootfs, SLEEP, name=f"{uniq}-taken")
    cid = api.create(rootfs, SLEEP, name=f"{uniq}-mine", env=["A=1"])
    before = api.inspect(cid)
    v0 = version_of(api, cid)
    h = take(api, cid)["handle"]
    h = mutate(api, h, "env", {"set": ["A=2", "B=3"]})
    h = mutate(api, h, "labels", {"set": {"x": "y"}})
    h = mutate(api, h, "rename", {"name": f"{uniq}-taken"})
    r = commit(api, h)
    assert r.status == 409, r
    assert "in use" in r.message, r.json
    after = api.inspect(cid)
    assert after["config"] == before["config"], "a failed commit applied part of its changes"
    assert after["name"] == f"{uniq}-mine"
    assert version_of(api, cid) == v0
    assert on_disk(daemon, cid)["version"] == v0
    assert api.inspect(f"{uniq}-taken")["id"] == other
    # renaming to one's own current name is not a conflict
    h = mutate(api, take(api, cid)["handle"], "rename", {"name": f"{uniq}-mine"})
    assert commit(api, h).status == 200


def test_stale_handle_gets_409_with_current_version(api, rootfs, uniq):
    cid = api.create(rootfs, SLEEP, name=uniq)
    a = take(api, cid)
    b = take(api, cid)
    assert a["version"] == b["version"] and a["handle"] != b["handle"]
    v0 = a["version"]
    ha = mutate(api, a["handle"], "labels", {"set": {"who": "a"}})
    hb = mutate(api, b["handle"], "labels", {"set": {"who": "b"}})
    r = commit(api, ha)
    assert r.status == 200 and r.json["version"] == v0 + 1, r
    r = commit(api, hb)
    assert r.status == 409, r
    assert r.json["version"] == v0 + 1, r.json
    assert r.json.get("message")
    assert api.inspect(cid)["config"]["labels"] == {"who": "a"}
    # a fresh handle replays fine
    hb2 = mutate(api, take(api, cid)["handle"], "labels", {"set": {"who": "b"}})
    r = commit(api, hb2)
    assert r.status == 200 and r.json["version"] == v0 + 2, r
    assert api.inspect(cid)["config"]["labels"] == {"who": "b"}
    # an empty handle commits without a new version
    r = commit(api, take(api, cid)["handle"])
    assert r.status == 200 and r.json["version"] == v0 + 2, r


@pytest.mark.mechanisms
def test_commit_state_running_then_stopped(api, rootfs, uniq):
    cid = api.create(rootfs, ["/bin/sh", "-c",
                              'trap "" TERM; echo "hello $GREETING"; while :; do usleep 50000; done'],
                     name=uniq)
    assert api.state(cid)["status"] == "created"
    h = mutate(api, take(api, cid)["handle"], "env", {"set": ["GREETING=world"]})
    h = mutate(api, h, "state", {"state": "running"})
    r = commit(api, h)
    assert r.status == 200, r
    st = api.state(cid)
    # the answer comes once the container is running, with the new config
    assert st["status"] == "running", st
    assert st["pid"] > 0
    api.wait_for_output(cid, "hello world\n")

    # stopped with a 1 s grace period: TERM is ignored, so KILL after ~1 s
    h = mutate(api, take(api, cid)["handle"], "state", {"state": "stopped", "timeout": 1})
    t0 = time.monotonic()
    r = commit(api, h)
    elapsed = time.monotonic() - t0
    assert r.status == 200, r
    st = api.state(cid)
    assert st["status"] == "stopped", f"commit answered before the container stopped: {st}"
    assert st["exit_code"] == 137, st
    assert elapsed >= 0.9, f"KILL came after {elapsed:.2f}s, before the 1 s timeout"
    # a state-only commit is not a config change
    assert r.json["version"] == version_of(api, cid)

    # state running on a stopped container starts it again; running on running is 200
    h = mutate(api, take(api, cid)["handle"], "state", {"state": "running"})
    assert commit(api, h).status == 200
    assert api.state(cid)["status"] == "running"
    h = mutate(api, take(api, cid)["handle"], "state", {"state": "running"})
    assert commit(api, h).status == 200
    api.kill(cid)
    api.wait(cid)


def test_fifty_concurrent_renames(api, daemon, rootfs, uniq):
    n = 50
    cid = api.create(rootfs, SLEEP, name=f"{uniq}-orig")
    v0 = version_of(api, cid)
    results = {}  # thread index -> (version, name)
    attempts = [0] * n
    errors = []
    lock = threading.Lock()
    barrier = threading.Barrier(n)

    def worker(i):
        name = f"{uniq}-{i}"
        try:
            barrier.wait(DEADLINE)
            end = time.monotonic() + DEADLINE * 2
            while time.monotonic() < end:
                attempts[i] += 1
                t = api.get(f"/containers/{cid}/handle")
                if t.status != 200:
                    errors.append(f"{i}: take: {t.status} {t.body!r}")
                    return
                hv = t.json["version"]
                m = api.post(f"/handles/{t.json['handle']}/rename", {"name": name})
                if m.status != 200:
                    errors.append(f"{i}: rename: {m.status} {m.body!r}")
                    return
                c = api.post(f"/handles/{m.json['handle']}/commit")
                if c.status == 200:
                    with lock:
                        if i in results:
                            errors.append(f"{i}: succeeded twice")
                        results[i] = (c.json["version"], name)
                    return
                if c.status != 409 or not isinstance(c.json, dict):
                    errors.append(f"{i}: commit: {c.status} {c.body!r}")
                    return
                cur = c.json.get("version")
                if not isinstance(cur, int) or cur <= hv:
                    errors.append(f"{i}: 409 for a handle at version {hv} reports version "
                                  f"{cur!r}: {c.body!r}")
                    return
            errors.append(f"{i}: no success after {attempts[i]} attempts")
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(f"{i}: {e!r}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE * 3)
    assert not [t for t in threads if t.is_alive()], "workers still running"
    assert not errors, "\n".join(errors[:20])
    assert sorted(results) == list(range(n)), f"threads without a success: " \
        f"{sorted(set(range(n)) - set(results))}"
    versions = sorted(v for v, _ in results.values())
    assert versions == list(range(v0 + 1, v0 + n + 1)), (
        f"commit versions are not exactly one per version {v0 + 1}..{v0 + n}: {versions}")
    last_name = next(name for v, name in results.values() if v == v0 + n)

    info = api.inspect(cid)
    assert info["name"] == last_name, f"final name {info['name']!r}, last commit set {last_name!r}"
    assert info["config"]["name"] == last_name
    assert version_of(api, cid) == v0 + n
    assert api.inspect(last_name)["id"] == cid
    for i in range(n):
        name = f"{uniq}-{i}"
        if name != last_name:
            assert api.get(f"/containers/{name}").status == 404, name
    assert api.get(f"/containers/{uniq}-orig").status == 404
    doc = on_disk(daemon, cid)
    assert doc["version"] == v0 + n, doc
    assert doc["config"]["name"] == last_name, doc
    # one take-rename-commit per attempt: contention must have happened for this to mean much
    assert sum(attempts) > n, attempts


def test_bad_input(api, rootfs, uniq):
    cid = api.create(rootfs, SLEEP, name=uniq)
    v0 = version_of(api, cid)
    unknown = "0123456789abcdef0123456789abcdef"
    assert commit(api, unknown).status == 404
    assert api.get(f"/handles/{unknown}").status == 404
    assert api.delete(f"/handles/{unknown}").status == 404
    assert api.post(f"/handles/{unknown}/rename", {"name": "x"}).status == 404
    r = api.get("/containers/no-such-container-anywhere/handle")
    assert r.status == 404, r

    h = take(api, cid)["handle"]
    r = api.post(f"/handles/{h}/frobnicate", {})
    assert r.status == 404, r
    assert r.json and r.json.get("message"), r.body
    cases = [
        ("rename", {"name": "-x"}),
        ("rename", {}),
        ("rename", {"name": "ok", "extra": 1}),
        ("env", {"set": ["NOEQ"]}),
        ("env", {"set": "A=1"}),
        ("env", {"unset": [""]}),
        ("labels", {"set": {"k": 1}}),
        ("labels", {"set": ["k=v"]}),
        ("annotations", {"unset": "k"}),
        ("state", {"state": "paused"}),
        ("state", {"state": "stopped", "timeout": -1}),
        ("state", {"state": "stopped", "timeout": "soon"}),
        ("restart_policy", {"name": "sometimes"}),
        ("restart_policy", {"name": "on-failure", "max_retries": -1}),
        ("stop", {"signal": "NOTASIGNAL"}),
        ("stop", {"timeout": -5}),
    ]
    for op, arg in cases:
        r = api.post(f"/handles/{h}/{op}", arg)
        assert r.status == 400, f"{op} {arg}: {r.status} {r.body!r}"
        assert r.json and r.json.get("message"), f"{op} {arg}: no message: {r.body!r}"
    for raw in (b"not json", b"{", b"[1,2]", b"\"str\""):
        r = api.post(f"/handles/{h}/rename", raw, headers={"Content-Type": "application/json"})
        assert r.status == 400, f"body {raw!r}: {r.status} {r.body!r}"
    # none of the rejected changes was staged and the handle still works
    assert handle_info(api, h)["changes"] == []
    assert version_of(api, cid) == v0
    good = mutate(api, h, "rename", {"name": f"{uniq}-ok"})
    assert commit(api, good).status == 200
    assert api.inspect(cid)["name"] == f"{uniq}-ok"

    # DELETE discards a handle
    h = take(api, cid)["handle"]
    assert api.delete(f"/handles/{h}").status == 204
    assert api.get(f"/handles/{h}").status == 404
    assert commit(api, h).status == 404

    # a handle on a removed container is useless
    h = mutate(api, take(api, cid)["handle"], "labels", {"set": {"a": "b"}})
    assert api.remove(cid, force=True).status == 204
    r = commit(api, h)
    assert r.status == 404, r


def test_handle_table_is_bounded(api, rootfs, uniq):
    cid = api.create(rootfs, SLEEP, name=uniq)
    total = 4200
    handles = [take(api, cid)["handle"] for _ in range(total)]
    assert len(set(handles)) == total
    # the most recent 4096 survive, everything older was evicted (LRU, 4096)
    assert api.get(f"/handles/{handles[0]}").status == 404
    assert api.get(f"/handles/{handles[-4097]}").status == 404
    assert api.get(f"/handles/{handles[-4096]}").status == 200
    assert api.get(f"/handles/{handles[-1]}").status == 200
    assert commit(api, handles[0]).status == 404
    h = mutate(api, handles[-1], "labels", {"set": {"lru": "ok"}})
    assert commit(api, h).status == 200
    assert api.inspect(cid)["config"]["labels"] == {"lru": "ok"}


def test_handle_table_is_lru_not_fifo(api, rootfs, uniq):
    cid = api.create(rootfs, SLEEP, name=uniq)
    first = take(api, cid)["handle"]
    rest = []
    for i in range(4200):
        rest.append(take(api, cid)["handle"])
        if i % 1000 == 0:  # keep the first one recently used
            assert api.get(f"/handles/{first}").status == 200
    assert api.get(f"/handles/{first}").status == 200, "a recently used handle was evicted"
    assert api.get(f"/handles/{rest[0]}").status == 404


def test_create_returns_a_usable_handle(api, daemon, rootfs, uniq):
    r = api.create_raw(api.create_body(rootfs, SLEEP, name=f"{uniq}-1"))
    assert r.status == 201, r
    cid, h = r.json["id"], r.json["handle"]
    assert r.json["version"] == version_of(api, cid)
    info = handle_info(api, h)
    assert info["id"] == cid and info["changes"] == []
    h2 = mutate(api, h, "rename", {"name": f"{uniq}-2"})
    r = commit(api, h2)
    assert r.status == 200, r
    assert api.inspect(cid)["name"] == f"{uniq}-2"
    assert on_disk(daemon, cid)["config"]["name"] == f"{uniq}-2"


def test_restart_policy_set_by_handle_takes_effect(api, rootfs, uniq):
    cid = api.create(rootfs, ["/bin/sh", "-c", "exit 4"], name=uniq)
    events = EventStream(api.socket_path, filters={"container": [cid]})
    try:
        h = mutate(api, take(api, cid)["handle"], "restart_policy",
                   {"name": "on-failure", "max_retries": 1})
        h = mutate(api, h, "state", {"state": "running"})
        assert commit(api, h).status == 200
        events.wait_for(lambda evs: actions(evs).count("die") >= 2, 10,
                        what="two exits (one restart)")
        # absence of a second restart: its back-off would be 200 ms
        time.sleep(0.6)
        acts = actions(events.snapshot())
    finally:
        events.close()
    assert acts.count("start") == 2, acts
    assert acts.count("restart") == 1, acts
    assert acts.count("die") == 2, acts
    st = api.state(cid)
    assert st["status"] == "stopped" and st["exit_code"] == 4, st
