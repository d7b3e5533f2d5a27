# SPDX-License-Identifier: Apache-2.0
"""The event stream (live, replayed from the journal, filtered, across daemon restarts)
and the restart policies it reports on."""

import threading
import time

import pytest

from conftest import DEADLINE, parse_time, wait_until
from pl_extra import EventStream, actions, for_container, read_events
from pl_extra import binaries  # noqa: F401 - overrides conftest's (plctl not needed)

SLEEP = ["/bin/sleep", "1000"]
EVENT_KEYS = {"seq", "time", "time_ns", "type", "action", "id", "host", "attributes"}


def ts(ns):
    """A time_ns as the unix-seconds query form the API accepts."""
    return f"{ns // 10**9}.{ns % 10**9:09d}"


def now_param(extra_s=0.0):
    return ts(time.time_ns() + int(extra_s * 1e9))


def stream(daemon, **params):
    s = EventStream(daemon.socket, **params)
    assert s.status == 200, f"GET {s.path}: {s.status} {getattr(s, 'body', b'')!r}"
    return s


def replay(daemon, **params):
    status, evs = read_events(daemon.socket, **params)
    assert status == 200, f"GET /events {params}: {status} {evs!r}"
    return evs


def check_shape(ev):
    assert EVENT_KEYS <= set(ev), ev
    assert ev["type"] == "container", ev
    assert isinstance(ev["seq"], int) and isinstance(ev["time_ns"], int), ev
    assert isinstance(ev["attributes"], dict), ev
    # time and time_ns agree (to the microsecond parse_time keeps)
    t = parse_time(ev["time"]).timestamp()
    assert abs(t - ev["time_ns"] / 1e9) < 1e-5, ev


def assert_strictly_increasing(seqs, what="seq"):
    bad = [(a, b) for a, b in zip(seqs, seqs[1:]) if b <= a]
    assert not bad, f"{what} not strictly increasing: {bad[:5]}"


# --------------------------------------------------------------------------
# live stream


def test_live_stream_fifty_containers(api, daemon, rootfs, uniq):
    n = 50
    s = stream(daemon)
    try:
        ids = [None] * n
        errors = []

        def worker(k):
            try:
                for i in range(k, n, 10):
                    cid = api.create(rootfs, ["/bin/sh", "-c", f"exit {i % 7}"],
                                     name=f"{uniq}-{i}")
                    ids[i] = cid
                    api.start(cid)
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(DEADLINE * 2)
        assert not errors, errors
        assert all(ids)
        want = set(ids)
        s.wait_for(lambda evs: {e["id"] for e in evs if e["action"] == "die"} >= want,
                   what="a die event for each of the 50 containers")
        evs = s.snapshot()
    finally:
        s.close()
    assert s.error is None and not s.bad_lines, (s.error, s.bad_lines[:3])
    assert_strictly_increasing([e["seq"] for e in evs])
    for e in evs:
        check_shape(e)
    for i, cid in enumerate(ids):
        mine = for_container(evs, cid)
        assert actions(mine) == ["create", "start", "die"], f"container {i}: {mine}"
        for e in mine:
            assert e["attributes"].get("name") == f"{uniq}-{i}", e
        die = mine[-1]["attributes"]
        assert die.get("exit_code") == i % 7, f"container {i}: {mine[-1]}"
        assert die.get("signal") in (None, 0), mine[-1]
        times = [e["time_ns"] for e in mine]
        assert times == sorted(times), mine


def test_event_actions_and_attributes(api, daemon, rootfs, uniq):
    s = stream(daemon)
    try:
        cid = api.create(rootfs, SLEEP, name=f"{uniq}-a")
        api.start(cid)
        h = api.get(f"/containers/{cid}/handle").json["handle"]
        h = api.post(f"/handles/{h}/rename", {"name": f"{uniq}-b"}).json["handle"]
        r = api.post(f"/handles/{h}/commit")
        assert r.status == 200, r
        version = r.json["version"]
        assert api.kill(cid, "TERM").status == 204
        api.wait(cid)
        api.start(cid)
        api.stop(cid, timeout=5)
        assert api.remove(cid).status == 204
        s.wait_for(lambda evs: "destroy" in actions(evs, cid), what="destroy event")
        evs = for_container(s.snapshot(), cid)
    finally:
        s.close()
    assert actions(evs) == ["create", "start", "rename", "update", "kill", "die",
                            "start", "die", "stop", "remove", "destroy"], evs
    by = lambda action: [e for e in evs if e["action"] == action]  # noqa: E731
    assert by("create")[0]["attributes"]["name"] == f"{uniq}-a"
    ren = by("rename")[0]["attributes"]
    assert ren["old_name"] == f"{uniq}-a" and ren["name"] == f"{uniq}-b", ren
    assert by("update")[0]["attributes"]["version"] == version
    assert by("kill")[0]["attributes"]["signal"] == 15
    assert by("die")[0]["attributes"]["exit_code"] == 143, by("die")
    assert by("die")[0]["attributes"]["signal"] == 15, by("die")
    assert by("die")[1]["attributes"]["exit_code"] == 143, by("die")
    assert by("remove")[0]["attributes"]["name"] == f"{uniq}-b"


# --------------------------------------------------------------------------
# replay


def test_since_until_replay(api, daemon, rootfs, uniq):
    live = stream(daemon)
    try:
        a = api.run(rootfs, ["/bin/sh", "-c", "exit 2"], name=f"{uniq}-a")
        live.wait_for(lambda evs: "die" in actions(evs, a.id), what="die of a")
        b = api.run(rootfs, ["/bin/sh", "-c", "exit 3"], name=f"{uniq}-b")
        live.wait_for(lambda evs: "die" in actions(evs, b.id), what="die of b")
        evs = live.snapshot()
    finally:
        live.close()
    a_evs = for_container(evs, a.id)
    assert actions(a_evs) == ["create", "start", "die"], a_evs
    since, until = a_evs[0]["time_ns"], a_evs[-1]["time_ns"]

    # the window [since, until] replays exactly what the live stream saw in it,
    # then the stream ends by itself (until is in the past)
    t0 = time.monotonic()
    got = replay(daemon, since=ts(since), until=ts(until))
    assert time.monotonic() - t0 < 5, "a replay with until in the past took long to end"
    want = [e for e in evs if since <= e["time_ns"] <= until]
    assert [e["seq"] for e in got] == [e["seq"] for e in want], (got, want)
    assert got == want
    assert b.id not in {e["id"] for e in got}

    # RFC 3339 works as well as unix seconds
    got = replay(daemon, since=a_evs[0]["time"], until=a_evs[-1]["time"])
    assert [e["seq"] for e in got] == [e["seq"] for e in want]

    # since without until: replay, then live, with no duplicate and no gap
    s = stream(daemon, since=ts(since))
    try:
        c = api.run(rootfs, ["/bin/sh", "-c", "exit 4"], name=f"{uniq}-c")
        s.wait_for(lambda evs: "die" in actions(evs, c.id), what="die of c, live after replay")
        seen = s.snapshot()
    finally:
        s.close()
    seqs = [e["seq"] for e in seen]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"gap or duplicate: {seqs}"
    assert seqs[0] == a_evs[0]["seq"]
    assert actions(seen, c.id) == ["create", "start", "die"]

    # until in the near future: the stream stays open until then, then ends
    t0 = time.monotonic()
    s = stream(daemon, since=ts(since), until=now_param(1.0))
    try:
        assert s.ended.wait(DEADLINE), "stream with until=now+1s did not end"
    finally:
        s.close()
    assert time.monotonic() - t0 >= 0.8, "stream ended before its until"
    assert actions(s.snapshot(), c.id) == ["create", "start", "die"]


def test_filters(api, daemon, rootfs, uniq):
    t_start = time.time_ns() - 10**9
    a = api.run(rootfs, ["/bin/sh", "-c", "exit 5"], name=f"{uniq}-a")
    b = api.run(rootfs, ["/bin/sh", "-c", "exit 6"], name=f"{uniq}-b")
    window = dict(since=ts(t_start), until=now_param())

    got = replay(daemon, filters={"container": [f"{uniq}-a"], "event": ["die"]}, **window)
    assert len(got) == 1, got
    assert got[0]["id"] == a.id and got[0]["action"] == "die", got
    assert got[0]["attributes"]["exit_code"] == 5

    got = replay(daemon, filters={"container": [b.id[:12]]}, **window)
    assert actions(got) == ["create", "start", "die"] and {e["id"] for e in got} == {b.id}, got

    got = replay(daemon, filters={"container": [a.id, f"{uniq}-b"], "event": ["create", "die"]},
                 **window)
    assert sorted((e["id"], e["action"]) for e in got) == sorted(
        [(a.id, "create"), (a.id, "die"), (b.id, "create"), (b.id, "die")]), got

    got = replay(daemon, filters={"type": ["container"], "container": [a.id]}, **window)
    assert actions(got) == ["create", "start", "die"], got
    assert replay(daemon, filters={"type": ["network"]}, **window) == []
    assert replay(daemon, filters={"container": ["no-such-name"]}, **window) == []

    # a live, filtered subscriber gets only what matches
    s = stream(daemon, filters={"container": [f"{uniq}-c"], "event": ["die"]})
    try:
        api.run(rootfs, ["/bin/true"], name=f"{uniq}-other")
        c = api.run(rootfs, ["/bin/sh", "-c", "exit 9"], name=f"{uniq}-c")
        s.wait_for(lambda evs: evs, what="the die of c")
        evs = s.snapshot()
    finally:
        s.close()
    assert [(e["id"], e["action"]) for e in evs] == [(c.id, "die")], evs

    for bad in ("not json", "[1]", '{"container": "x"}', '{"container": [1]}',
                '{"colour": ["red"]}', '{"event": [null]}'):
        r = api.get("/events", params={"filters": bad, "until": "1"}, timeout=10)
        assert r.status == 400, f"filters={bad}: {r.status} {r.body!r}"
        assert r.json and r.json.get("message"), r.body
    for k, bad in (("since", "yesterday"), ("until", "2020-13-45T00:00:00Z"), ("since", "-5")):
        r = api.get("/events", params={k: bad}, timeout=10)
        assert r.status == 400, f"{k}={bad}: {r.status} {r.body!r}"


# --------------------------------------------------------------------------
# restart policies


def _create(api, rootfs, args, name, policy=None):
    body = api.create_body(rootfs, args, name=name)
    if policy is not None:
        body["restart_policy"] = policy
    r = api.create_raw(body)
    assert r.status == 201, r
    return r.json["id"]


def test_restart_on_failure_max_retries(api, daemon, rootfs, uniq):
    t_create = time.time_ns()
    cid = _create(api, rootfs, ["/bin/sh", "-c", "exit 3"], uniq,
                  {"name": "on-failure", "max_retries": 2})
    assert api.inspect(cid)["config"]["restart_policy"] == {"name": "on-failure",
                                                            "max_retries": 2}
    s = stream(daemon, filters={"container": [cid]})
    try:
        api.start(cid)
        s.wait_for(lambda evs: actions(evs).count("die") >= 3, 10,
                   what="three exits (two restarts)")
        # the next back-off would be 400 ms: no further start may come
        time.sleep(1.0)
        evs = s.snapshot()
    finally:
        s.close()
    acts = actions(evs)
    assert acts.count("start") == 3, acts
    assert acts.count("die") == 3, acts
    assert [e["attributes"].get("restart_count") for e in evs if e["action"] == "restart"] \
        == [1, 2], evs
    assert all(e["attributes"]["exit_code"] == 3 for e in evs if e["action"] == "die"), evs
    st = api.state(cid)
    assert st["status"] == "stopped" and st["exit_code"] == 3, st
    # back-off between exits: ~100 ms then ~200 ms
    dies = [e["time_ns"] for e in evs if e["action"] == "die"]
    starts = [e["time_ns"] for e in evs if e["action"] == "start"]
    gaps = [(starts[i + 1] - dies[i]) / 1e9 for i in range(2)]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19, f"restart back-off too short: {gaps}"
    # the journal agrees
    got = replay(daemon, since=ts(t_create - 10**9), until=now_param(),
                 filters={"container": [cid], "event": ["start"]})
    assert len(got) == 3, got


@pytest.mark.parametrize("how", ["post-stop", "handle-commit"])
def test_restart_always_until_stopped(api, daemon, rootfs, uniq, how):
    cid = _create(api, rootfs, ["/bin/sh", "-c", "exit 0"], uniq, {"name": "always"})
    s = stream(daemon, filters={"container": [cid]})
    try:
        api.start(cid)
        s.wait_for(lambda evs: actions(evs).count("start") >= 2 and "restart" in actions(evs),
                   10, what="a restart after exit 0")
        # second exit: it is now waiting out its back-off (200 ms) -- stop it there
        s.wait_for(lambda evs: actions(evs).count("die") >= 2, 10, what="the second exit")
        if how == "post-stop":
            r = api.post(f"/containers/{cid}/stop", params={"timeout": 2}, timeout=DEADLINE)
            assert r.status == 204, r
        else:
            h = api.get(f"/containers/{cid}/handle").json["handle"]
            h = api.post(f"/handles/{h}/state", {"state": "stopped", "timeout": 2}).json["handle"]
            r = api.post(f"/handles/{h}/commit", timeout=DEADLINE)
            assert r.status == 200, r
        t_stopped = time.time_ns()
        st = api.state(cid)
        assert st["status"] == "stopped", st
        # stop means stop: the pending restart (200 ms back-off) must not happen
        time.sleep(1.0)
        evs = s.snapshot()
    finally:
        s.close()
    late = [e for e in evs if e["time_ns"] > t_stopped and e["action"] in ("start", "restart")]
    assert not late, f"restarted after {how}: {late}\nall: {actions(evs)}"
    assert api.state(cid)["status"] == "stopped", api.state(cid)


def test_restart_always_stop_while_running(api, daemon, rootfs, uniq):
    cid = _create(api, rootfs, ["/bin/sh", "-c", "trap 'exit 0' TERM; usleep 300000; exit 0"],
                  uniq, {"name": "always"})
    s = stream(daemon, filters={"container": [cid]})
    try:
        api.start(cid)
        s.wait_for(lambda evs: actions(evs).count("start") >= 2, 10, what="a restart")
        # a stop that finds it running
        wait_until(lambda: api.state(cid)["status"] == "running", 5, what="running again")
        api.stop(cid, timeout=2)
        t_stopped = time.time_ns()
        time.sleep(1.0)
        evs = s.snapshot()
    finally:
        s.close()
    late = [e for e in evs if e["time_ns"] > t_stopped and e["action"] in ("start", "restart")]
    assert not late, f"restarted after POST stop: {late}"
    assert "stop" in actions(evs)
    assert api.state(cid)["status"] == "stopped"


def test_restart_no_by_default(api, daemon, rootfs, uniq):
    cid = _create(api, rootfs, ["/bin/sh", "-c", "exit 1"], uniq)
    assert api.inspect(cid)["config"]["restart_policy"]["name"] == "no"
    s = stream(daemon, filters={"container": [cid]})
    try:
        api.start(cid)
        s.wait_for(lambda evs: "die" in actions(evs), what="exit")
        time.sleep(0.5)  # a restart would come after 100 ms
        evs = s.snapshot()
    finally:
        s.close()
    assert actions(evs) == ["start", "die"], evs
    assert api.state(cid)["status"] == "stopped"


def test_restart_policy_bad_input(api, rootfs, uniq):
    for policy in ({"name": "sometimes"}, {"name": "always", "max_retries": 3},
                   {"name": "on-failure", "max_retries": -1}, {"name": "no", "extra": 1},
                   {"max_retries": 1}):
        body = api.create_body(rootfs, ["/bin/true"], name=uniq)
        body["restart_policy"] = policy
        r = api.create_raw(body)
        assert r.status == 400, f"{policy}: {r.status} {r.body!r}"


# --------------------------------------------------------------------------
# across a daemon restart (kills the module's daemon: keep this last)


def test_events_survive_daemon_restart(api, daemon, rootfs, uniq):
    before = api.run(rootfs, ["/bin/sh", "-c", "exit 1"], name=f"{uniq}-before")
    s = stream(daemon)
    try:
        api.run(rootfs, ["/bin/true"], name=f"{uniq}-before2")
        s.wait_for(lambda evs: len(evs) >= 3, what="live events before the kill")
        journal = replay(daemon, since="1", until=now_param())
        last = journal[-1]
        assert last["seq"] == max(e["seq"] for e in journal)
        assert last["seq"] == s.snapshot()[-1]["seq"]
        assert last["action"] == "die"

        daemon.kill()
        assert s.ended.wait(10), "the event stream did not end when the daemon died"
    finally:
        s.close()
    daemon.start()

    after = [api.run(rootfs, ["/bin/sh", "-c", f"exit {k}"], name=f"{uniq}-after{k}")
             for k in range(3)]
    got = replay(daemon, since=last["time"], until=now_param())
    by_seq = {}
    for e in got:
        assert by_seq.setdefault(e["seq"], e) == e, f"seq {e['seq']} reused: {by_seq[e['seq']]} {e}"
    seqs = sorted(by_seq)
    assert seqs[0] <= last["seq"], f"the replay since {last['time']} lost the last event"
    tail = [q for q in seqs if q >= last["seq"]]
    assert tail == list(range(last["seq"], last["seq"] + len(tail))), f"gap in seqs: {tail}"
    for r in after:
        acts = [by_seq[q]["action"] for q in tail if by_seq[q]["id"] == r.id]
        assert acts == ["create", "start", "die"], (r.id, acts)
        assert min(q for q in tail if by_seq[q]["id"] == r.id) > last["seq"]
    # the whole journal is one increasing sequence with no reuse
    full = replay(daemon, since="1", until=now_param())
    fseq = [e["seq"] for e in full]
    assert_strictly_increasing(fseq, "journal seq")
    assert len(set(fseq)) == len(fseq)
    assert any(e["id"] == before.id for e in full)
