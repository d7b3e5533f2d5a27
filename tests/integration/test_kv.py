# SPDX-License-Identifier: Apache-2.0
"""The KV store: GET/PUT/DELETE /kv/{key}, GET /kv?prefix=, a revision on every value from
one counter that only increases, compare-and-set with If-Match (409 when stale, 0 = must
not exist), 413 past 1 MiB, and atomic durable writes: a daemon killed with -9 in the middle
of writes leaves every key with a whole value it was given, never a torn one."""

import json
import random
import threading
import time

import pytest

from conftest import DEADLINE, own_daemon, Plctl, start_or_fail
from pl_extra import binaries  # noqa: F401 - overrides conftest's (plctl not needed)

MIB = 1 << 20


@pytest.fixture(scope="module")
def daemon(binaries):  # noqa: F811 - this module's own daemon: tests kill it with -9
    yield from own_daemon("pl-it-kv-")


@pytest.fixture(scope="module")
def api(daemon):
    return daemon.api


def put(api, key, value, rev=None, timeout=DEADLINE):
    headers = {} if rev is None else {"If-Match": str(rev)}
    return api.request("PUT", f"/kv/{key}", body={"value": value}, headers=headers,
                       timeout=timeout)


def test_put_get_list_delete(api, uniq):
    r = put(api, f"{uniq}/a", "one")
    assert r.status == 200 and r.json["key"] == f"{uniq}/a", r
    r1 = r.json["revision"]
    assert isinstance(r1, int) and r1 > 0
    r = put(api, f"{uniq}/b", "two")
    r2 = r.json["revision"]
    assert r2 > r1
    r = put(api, f"{uniq}/a", "uno")
    r3 = r.json["revision"]
    assert r3 > r2
    g = api.get(f"/kv/{uniq}/a")
    assert g.status == 200 and g.json == {"key": f"{uniq}/a", "value": "uno", "revision": r3}
    put(api, f"{uniq}x/c", "elsewhere")
    ls = api.get("/kv", params={"prefix": f"{uniq}/"})
    assert ls.status == 200
    assert [(e["key"], e["value"], e["revision"]) for e in ls.json] == [
        (f"{uniq}/a", "uno", r3), (f"{uniq}/b", "two", r2)]
    assert api.delete(f"/kv/{uniq}/b").status == 204
    assert api.get(f"/kv/{uniq}/b").status == 404
    assert api.delete(f"/kv/{uniq}/b").status == 404
    assert [e["key"] for e in api.get("/kv", params={"prefix": f"{uniq}/"}).json] == [
        f"{uniq}/a"]
    # unicode and an empty value are values like any other
    assert put(api, f"{uniq}/u", "gr\u00fc\u00dfe \u2603").status == 200
    assert api.get(f"/kv/{uniq}/u").json["value"] == "gr\u00fc\u00dfe \u2603"
    assert put(api, f"{uniq}/e", "").status == 200
    assert api.get(f"/kv/{uniq}/e").json["value"] == ""


def test_compare_and_set(api, uniq):
    k = f"{uniq}/cas"
    assert put(api, k, "v1", rev=5).status == 409  # does not exist: no revision 5
    r = put(api, k, "v1", rev=0)  # 0: must not exist
    assert r.status == 200, r
    rev = r.json["revision"]
    r = put(api, k, "again", rev=0)
    assert r.status == 409, r
    assert put(api, k, "v2", rev=rev + 1).status == 409
    r = put(api, k, "v2", rev=rev)
    assert r.status == 200
    new = r.json["revision"]
    assert put(api, k, "v3", rev=rev).status == 409  # stale now
    assert api.get(f"/kv/{k}").json["value"] == "v2"
    # quoted like an ETag is fine too
    r = api.request("PUT", f"/kv/{k}", body={"value": "v3"}, headers={"If-Match": f'"{new}"'})
    assert r.status == 200, r
    cur = r.json["revision"]
    assert api.delete(f"/kv/{k}", headers={"If-Match": str(new)}).status == 409
    assert api.delete(f"/kv/{k}", headers={"If-Match": str(cur)}).status == 204
    assert api.request("PUT", f"/kv/{k}", body={"value": "x"},
                       headers={"If-Match": "abc"}).status == 400


def test_cas_race_between_two_clients(api, uniq):
    """Two clients increment one counter by read, modify, conditional write, retrying on
    409: no increment may be lost."""
    k = f"{uniq}/counter"
    assert put(api, k, "0", rev=0).status == 200
    per_client = 60
    conflicts = [0, 0]
    revs = [[], []]
    errors = []

    def client(n):
        try:
            done = 0
            while done < per_client:
                g = api.get(f"/kv/{k}")
                assert g.status == 200, g
                r = put(api, k, str(int(g.json["value"]) + 1), rev=g.json["revision"])
                if r.status == 409:
                    conflicts[n] += 1
                    continue
                assert r.status == 200, r
                revs[n].append(r.json["revision"])
                done += 1
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    ts = [threading.Thread(target=client, args=(i,)) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(DEADLINE * 4)
    assert not errors, errors
    assert api.get(f"/kv/{k}").json["value"] == str(2 * per_client)
    # every successful write got its own revision, in increasing order per client
    assert len(set(revs[0]) | set(revs[1])) == 2 * per_client
    assert all(a < b for r in revs for a, b in zip(r, r[1:]))
    print(f"conflicts seen: {conflicts}")


@pytest.mark.parametrize("key", ["a/../b", "..", "sp%20ace", "semi;colon", "x" * 257,
                                 "%2e%2e/x", "q%3Fx", "a%00b"])
def test_bad_keys(api, key):
    r = api.request("PUT", f"/kv/{key}", body={"value": "v"})
    assert r.status in (400, 404), (key, r)
    assert not [e for e in api.get("/kv").json if ".." in e["key"] or " " in e["key"]]


def test_key_limits_and_bodies(api, uniq):
    k = f"{uniq}/" + "k" * (256 - len(uniq) - 1)
    assert len(k) == 256
    assert put(api, k, "long key").status == 200
    assert api.get(f"/kv/{k}").status == 200
    assert api.request("PUT", f"/kv/{uniq}/x", body={"value": 5}).status == 400
    assert api.request("PUT", f"/kv/{uniq}/x", body={"value": "a", "more": 1}).status == 400
    assert api.request("PUT", f"/kv/{uniq}/x", body="not json").status == 400
    assert api.get(f"/kv/{uniq}/never").status == 404


def test_size_limit_413(api, uniq):
    r = put(api, f"{uniq}/big", "v" * MIB)  # exactly 1 MiB: fine
    assert r.status == 200, r
    assert len(api.get(f"/kv/{uniq}/big").json["value"]) == MIB
    r = put(api, f"{uniq}/big", "v" * (MIB + 1))
    assert r.status == 413, r
    assert "1048576" in r.message
    # far past it (escaped to 6 bytes a byte): 413 too, and the old value stands
    r = put(api, f"{uniq}/big", "\x01" * (MIB + 5))
    assert r.status == 413, r
    assert len(api.get(f"/kv/{uniq}/big").json["value"]) == MIB


def test_durable_across_kill9_and_revisions_never_reused(daemon, api, uniq):
    put(api, f"{uniq}/keep", "kept")
    top = put(api, f"{uniq}/gone", "gone").json["revision"]
    assert api.delete(f"/kv/{uniq}/gone").status == 204  # the largest revision goes with it
    daemon.kill()
    start_or_fail(daemon)
    assert api.get(f"/kv/{uniq}/keep").json["value"] == "kept"
    assert api.get(f"/kv/{uniq}/gone").status == 404
    r = put(api, f"{uniq}/gone", "back")
    assert r.json["revision"] > top + 1, (r.json, top)


def test_kill9_mid_write_leaves_old_or_new(daemon, api, uniq):
    """A writer rewrites keys with large values as fast as it can; the daemon is killed with
    -9 at a random moment. Every key then holds exactly one of the values written to it."""
    keys = [f"{uniq}/w{i}" for i in range(3)]
    size = 256 * 1024

    def value(gen, i):
        return (f"{gen:08d}-{i}-" * (size // 12))[:size]

    written = {k: {value(0, i)} for i, k in enumerate(keys)}
    for i, k in enumerate(keys):
        assert put(api, k, value(0, i)).status == 200
    stop = threading.Event()

    def writer():
        gen = 1
        while not stop.is_set():
            for i, k in enumerate(keys):
                written[k].add(value(gen, i))  # before the request: it may land
                try:
                    put(api, k, value(gen, i), timeout=5)
                except OSError:
                    return
            gen += 1

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(random.uniform(0.2, 0.8))  # not synchronisation: a random kill moment
    daemon.kill()
    stop.set()
    t.join(DEADLINE)
    start_or_fail(daemon)
    for k in keys:
        g = api.get(f"/kv/{k}")
        assert g.status == 200, (k, g)
        assert g.json["value"] in written[k], (k, g.json["value"][:40], len(g.json["value"]))
    # and the store goes on working
    assert put(api, keys[0], "after").status == 200


def test_plctl_kv(daemon, uniq):
    plctl = Plctl(daemon.socket)
    rev = int(plctl("kv", "put", f"{uniq}/p/a", "alpha", check=0).stdout)
    assert plctl("kv", "get", f"{uniq}/p/a", check=0).stdout == "alpha"
    # compare-and-set from the command line: a stale revision fails, the right one works
    assert plctl("kv", "put", "--if-match", str(rev + 1000), f"{uniq}/p/a", "x").returncode == 1
    rev2 = int(plctl("kv", "put", "--if-match", str(rev), f"{uniq}/p/a", "-",
                     input="from stdin\n", check=0).stdout)
    assert rev2 > rev
    assert plctl("kv", "get", f"{uniq}/p/a", check=0).stdout == "from stdin\n"
    assert plctl("kv", "put", "--if-match", "0", f"{uniq}/p/b", "new", check=0)
    lines = plctl("kv", "ls", f"{uniq}/p/", check=0).stdout.splitlines()
    assert [ln.split()[1] for ln in lines] == [f"{uniq}/p/a", f"{uniq}/p/b"], lines
    assert plctl("kv", "rm", "--if-match", str(rev), f"{uniq}/p/a").returncode == 1
    plctl("kv", "rm", f"{uniq}/p/a", check=0)
    p = plctl("kv", "get", f"{uniq}/p/a")
    assert p.returncode == 1 and "no such key" in p.stderr, p
