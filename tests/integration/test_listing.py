# SPDX-License-Identifier: Apache-2.0
"""GET /containers builds each summary from a per-container cache derived from the record in
memory: every change a client can make (state, pause, rename, labels, a live network, removal)
shows in the very next list, and the list says what inspect says."""

import json
import os
import re

from conftest import wait_until


def listed(api, cid, **params):
    r = api.get("/containers", params={"filters": json.dumps({"id": [cid]}), **params})
    assert r.status == 200, r.body
    assert len(r.json) <= 1, r.json
    return r.json[0] if r.json else None


def commit_change(api, cid, op, arg):
    h = api.get(f"/containers/{cid}/handle")
    assert h.status == 200, h.body
    m = api.post(f"/handles/{h.json['handle']}/{op}", arg)
    assert m.status == 200, m.body
    c = api.post(f"/handles/{m.json['handle']}/commit")
    assert c.status == 200, c.body


def test_every_change_shows_in_the_next_list(api, rootfs, uniq):
    b = api.create_body(rootfs, ["sleep", "1000"], name=f"{uniq}-a")
    b["labels"] = {"k": "1", "gone": "x"}
    r = api.create_raw(b)
    assert r.status == 201, r.body
    cid = r.json["id"]
    s = listed(api, cid)
    assert (s["name"], s["state"], s["status"], s["labels"]) == \
        (f"{uniq}-a", "created", "Created", {"k": "1", "gone": "x"})
    assert "started_at" not in s and s["exit_code"] is None

    api.start(cid)
    api.wait_status(cid, "running")
    s = listed(api, cid)
    assert s["state"] == "running" and re.fullmatch(r"Up .+", s["status"]), s
    assert s["started_at"] == api.inspect(cid)["state"]["started_at"]

    assert api.post(f"/containers/{cid}/pause").status == 204
    s = listed(api, cid)
    assert s["state"] == "paused" and s["status"].endswith("(Paused)"), s
    assert api.post(f"/containers/{cid}/unpause").status == 204
    s = listed(api, cid)
    assert s["state"] == "running" and "Paused" not in s["status"], s

    commit_change(api, cid, "rename", {"name": f"{uniq}-b"})
    assert listed(api, cid)["name"] == f"{uniq}-b"
    r = api.get("/containers", params={"filters": json.dumps({"name": [f"^{uniq}-a$"]})})
    assert r.status == 200 and r.json == [], r.body

    commit_change(api, cid, "labels", {"set": {"k": "2", "new": "y"}, "unset": ["gone"]})
    assert listed(api, cid)["labels"] == {"k": "2", "new": "y"}
    r = api.get("/containers", params={"filters": json.dumps({"label": ["k=2"]})})
    assert [c["id"] for c in r.json] == [cid], r.json

    scope = f"lst-{os.getpid()}"
    r = api.post("/networks", {"name": scope, "subnet": "10.251.7.0/24"})
    assert r.status == 201, r.body
    r = api.post(f"/networks/{scope}/connect", {"container": cid, "aliases": ["al"]})
    assert r.status == 204, r.body
    s = listed(api, cid)
    ep = api.inspect(cid)["network"]["endpoints"]
    assert s["networks"] == {scope: {"ip": ep[0]["ip"], "aliases": ["al"]}}, s
    r = api.post(f"/networks/{scope}/disconnect", {"container": cid})
    assert r.status == 204, r.body
    assert listed(api, cid)["networks"] == {}

    assert api.kill(cid, "KILL").status == 204
    api.wait(cid)
    s = listed(api, cid)
    assert s["state"] == "stopped" and s["exit_code"] == 137, s
    assert re.fullmatch(r"Exited \(137\) .+ ago", s["status"]), s
    assert listed(api, cid, all=0) is None

    api.start(cid)  # a second run: a new start time, running again
    api.wait_status(cid, "running")
    s = listed(api, cid)
    assert s["state"] == "running" and s["started_at"] == api.inspect(cid)["state"]["started_at"]

    assert api.remove(cid, force=True).status == 204
    assert listed(api, cid) is None
    assert api.delete(f"/networks/{scope}").status == 204


def test_list_says_what_inspect_says(api, rootfs, uniq, tmp_path):
    # odd bytes in a label and in the rootfs path (the image field, rendered per request)
    odd = tmp_path / 'ro"ot\tfs \u00e9'
    os.symlink(rootfs, odd)
    ids = []
    for i, args in enumerate((["true"], ["sleep", "1000"], ["sh", "-c", "exit 3"])):
        b = api.create_body(str(odd), args, name=f"{uniq}-{i}")
        b["labels"] = {"q": 'a"b\\c\n\u00e9\u2603', "i": str(i)}
        r = api.create_raw(b)
        assert r.status == 201, r.body
        ids.append(r.json["id"])
    api.start(ids[1])
    api.start(ids[2])
    api.wait_status(ids[1], "running")
    api.wait(ids[2])
    r = api.get("/containers", params={"filters": json.dumps({"name": [f"^{uniq}-"]})})
    assert r.status == 200
    assert r.headers.get("Content-Type", "").startswith("application/json")
    got = {c["id"]: c for c in r.json}
    assert set(got) == set(ids)
    for cid in ids:
        s, j = got[cid], api.inspect(cid)
        assert s["name"] == j["name"] and s["labels"] == j["config"]["labels"]
        assert s["labels"]["q"] == 'a"b\\c\n\u00e9\u2603'
        assert s["image"] == j["config"]["rootfs"], (s["image"], j["config"]["rootfs"])
        assert s["created"] == j["created"] and s["args"] == j["config"]["process"]["args"]
        assert s["state"] == j["state"]["status"]
    assert got[ids[2]]["exit_code"] == 3 and got[ids[0]]["status"] == "Created"
    for cid in ids:
        assert api.remove(cid, force=True).status == 204
    wait_until(lambda: api.get("/containers", params={
        "filters": json.dumps({"name": [f"^{uniq}-"]})}).json == [], what="all gone")


def test_a_kept_row_still_follows_the_clock(api, rootfs, uniq):
    # an unchanged container's row is sent again as it was rendered, but only while its
    # status text ("Up 1 second", "Exited (0) 2 seconds ago") cannot have moved: every
    # list in between asks again, so each later text must be the daemon's answer for then
    r = api.create_raw(api.create_body(rootfs, ["sleep", "1000"], name=f"{uniq}-clock"))
    assert r.status == 201, r.body
    cid = r.json["id"]
    api.start(cid)
    api.wait_status(cid, "running")
    seen = []

    def moved(prefix, pattern):
        s = listed(api, cid)["status"]
        seen.append(s)
        assert s.startswith(prefix), s
        return re.fullmatch(pattern, s)

    # from "Up Less than a second" (or already 1 second on a slow host) to 2 seconds
    wait_until(lambda: moved("Up ", r"Up [2-9] seconds"), what=f"Up 2 seconds ({seen[-3:]})")
    assert api.kill(cid, "KILL").status == 204
    api.wait(cid)
    wait_until(lambda: moved("Exited (137) ", r"Exited \(137\) [2-9] seconds ago"),
               what=f"Exited 2 seconds ago ({seen[-3:]})")
    assert api.remove(cid, force=True).status == 204
