# SPDX-License-Identifier: Apache-2.0
"""List filters and summaries: containers, images, volumes and networks answer Docker's
filter JSON with exactly the objects that match, and container summaries carry what an
engine shows (image, labels, ports, state, a human status, sizes on request)."""

import json
import re

import pytest

from conftest import wait_until


def ls(api, path, filters=None, **params):
    if filters is not None:
        params["filters"] = json.dumps(filters)
    r = api.get(path, params=params)
    assert r.status == 200, (path, filters, r.status, r.body)
    return r.json


def names(items):
    return sorted(i["name"] for i in items)


@pytest.fixture(scope="module")
def fleet(api, rootfs):
    """Three containers in known states: running (labels app=web,tier=front), exited 3
    (app=batch), created (app=web)."""
    tag = "flt"

    def make(name, args, labels, **kw):
        b = api.create_body(rootfs, args, name=f"{tag}-{name}")
        b["labels"] = labels
        b.update(kw)
        r = api.create_raw(b)
        assert r.status == 201, r.body
        return r.json["id"]

    api.post("/volumes", {"name": f"{tag}-vol", "labels": {"keep": "yes"}})
    run = make("run", ["sh", "-c", "echo data > /written; exec sleep 1000"],
               {"app": "web", "tier": "front"},
               mounts=[{"type": "volume", "source": f"{tag}-vol", "target": "/data"}])
    api.start(run)
    api.wait_status(run, "running")
    wait_until(lambda: ls(api, "/containers", size=1, filters={"id": [run]})[0]["size_rw"] > 0,
               what="the writable layer has the file")
    ex = make("exit3", ["sh", "-c", "exit 3"], {"app": "batch"})
    api.start(ex)
    api.wait(ex)
    new = make("new", ["true"], {"app": "web"})
    return {"run": run, "exit3": ex, "new": new, "tag": tag}


def test_container_filters(api, fleet):
    t = fleet["tag"]
    every = [c for c in ls(api, "/containers") if c["name"].startswith(t)]
    assert len(every) == 3
    assert names(ls(api, "/containers", {"label": ["app=web"]})) == [f"{t}-new", f"{t}-run"]
    assert names(ls(api, "/containers", {"label": ["app=web", "tier=front"]})) == [f"{t}-run"]
    assert names(ls(api, "/containers", {"label": ["tier"]})) == [f"{t}-run"]
    assert names(ls(api, "/containers", {"status": ["exited"]})) == [f"{t}-exit3"]
    assert names(ls(api, "/containers", {"status": ["stopped"]})) == [f"{t}-exit3"]
    assert names(ls(api, "/containers", {"status": ["created", "running"],
                                         "name": [f"^{t}-"]})) == [f"{t}-new", f"{t}-run"]
    assert names(ls(api, "/containers", {"exited": ["3"]})) == [f"{t}-exit3"]
    assert ls(api, "/containers", {"exited": ["0"], "name": [f"^{t}-"]}) == []
    assert names(ls(api, "/containers", {"id": [fleet["new"][:10]]})) == [f"{t}-new"]
    assert names(ls(api, "/containers", {"name": [f"^/{t}-exit"]})) == [f"{t}-exit3"]
    assert names(ls(api, "/containers", {"volume": [f"{t}-vol"]})) == [f"{t}-run"]
    assert names(ls(api, "/containers", {"volume": ["/data"]})) == [f"{t}-run"]
    # the older form {"key": {"value": true}}
    assert names(ls(api, "/containers", {"label": {"app=batch": True}})) == [f"{t}-exit3"]
    # all=0: running ones only
    assert [c["name"] for c in ls(api, "/containers", all=0)
            if c["name"].startswith(t)] == [f"{t}-run"]


def test_container_summaries(api, fleet):
    t = fleet["tag"]
    by = {c["name"]: c for c in ls(api, "/containers", {"name": [f"^{t}-"]}, size=1)}
    run, ex, new = by[f"{t}-run"], by[f"{t}-exit3"], by[f"{t}-new"]
    assert run["state"] == "running" and re.fullmatch(r"Up .+", run["status"]), run
    assert ex["state"] == "stopped" and re.fullmatch(r"Exited \(3\) .+ ago", ex["status"]), ex
    assert new["state"] == "created" and new["status"] == "Created"
    assert run["labels"] == {"app": "web", "tier": "front"}
    assert run["ports"] == [] and run["image"] and run["created"]
    assert run["size_rw"] >= 5 and run["size_root_fs"] >= run["size_rw"]
    assert "size_rw" not in ls(api, "/containers", {"id": [fleet["run"]]})[0]


def test_bad_filters(api, fleet):
    for bad in ({"nosuch": ["x"]}, {"status": ["sleeping"]}, {"exited": ["x"]},
                {"name": ["("]}, {"label": 3}):
        r = api.get("/containers", params={"filters": json.dumps(bad)})
        assert r.status == 400, (bad, r.body)
    assert api.get("/containers", params={"filters": "{not json"}).status == 400
    assert api.get("/images", params={"filters": json.dumps({"dangling": ["maybe"]})}) \
        .status == 400


def test_volume_filters_labels_options(api, fleet):
    t = fleet["tag"]
    r = api.post("/volumes", {"name": f"{t}-opt", "labels": {"keep": "no"},
                              "options": {"type": "tmpfs", "o": "size=1m"}})
    assert r.status == 201, r.body
    assert r.json["options"] == {"type": "tmpfs", "o": "size=1m"}
    assert names(ls(api, "/volumes", {"name": [f"{t}-"]})) == [f"{t}-opt", f"{t}-vol"]
    assert names(ls(api, "/volumes", {"label": ["keep=yes"]})) == [f"{t}-vol"]
    assert names(ls(api, "/volumes", {"name": [f"{t}-"], "dangling": ["true"]})) == \
        [f"{t}-opt"]
    assert names(ls(api, "/volumes", {"name": [f"{t}-"], "dangling": ["false"]})) == \
        [f"{t}-vol"]
    assert ls(api, "/volumes", {"driver": ["other"], "name": [f"{t}-"]}) == []
    assert api.post("/volumes", {"name": f"{t}-bad", "options": {"o": 1}}).status == 400


def test_network_filters_labels_options(api, fleet):
    t = fleet["tag"]
    r = api.post("/networks", {"name": f"{t}-net", "subnet": "10.251.0.0/24",
                               "labels": {"team": "a"}, "options": {"mtu-hint": "1400"}})
    assert r.status == 201, r.body
    j = api.get(f"/networks/{t}-net").json
    assert j["labels"] == {"team": "a"} and j["options"] == {"mtu-hint": "1400"}
    assert names(ls(api, "/networks", {"label": ["team=a"]})) == [f"{t}-net"]
    assert names(ls(api, "/networks", {"name": [f"{t}-"]})) == [f"{t}-net"]
    assert names(ls(api, "/networks", {"id": [j["id"][:8]]})) == [f"{t}-net"]
    assert names(ls(api, "/networks", {"type": ["builtin"]})) == ["bridge"]
    assert f"{t}-net" in names(ls(api, "/networks", {"dangling": ["true"]}))
    assert "bridge" not in names(ls(api, "/networks", {"dangling": ["true"]}))
    assert ls(api, "/networks", {"driver": ["external"], "name": [f"{t}-"]}) == []
    assert api.delete(f"/networks/{t}-net").status == 204


def test_image_filters(api, plimages):
    """plimages: two imported images, one tagged twice, plus a dangling one."""
    tagged, dangling = plimages
    ids = {i["id"] for i in ls(api, "/images", {"dangling": ["true"]})}
    assert dangling in ids and tagged not in ids
    got = ls(api, "/images", {"reference": ["flt-img*"]})
    assert [i["id"] for i in got] == [tagged]
    assert ls(api, "/images", {"reference": ["flt-img:v2"]})[0]["id"] == tagged
    assert ls(api, "/images", {"reference": ["flt-img:v9"]}) == []
    assert [i["id"] for i in ls(api, "/images", {"label": ["org.test=yes"]})] == [tagged]


@pytest.fixture(scope="module")
def plimages(api, rootfs, tmp_path_factory):
    """Commits two images from containers: one tagged flt-img:v1 and :v2 with a label, one
    tagged and untagged again (dangling)."""
    def commit(repo, tag, changes):
        b = api.create_body(rootfs, ["sh", "-c", f"echo {repo}{tag} > /f"])
        r = api.create_raw(b)
        cid = r.json["id"]
        api.start(cid)
        api.wait(cid)
        params = {"container": cid}
        if repo:
            params.update(repo=repo, tag=tag)
        r = api.post("/commit", {"changes": changes}, params=params)
        assert r.status in (200, 201), r.body
        return r.json.get("id") or r.json.get("Id")
    tagged = commit("flt-img", "v1", {"Labels": {"org.test": "yes"}})
    assert api.post("/images/tag", params={"ref": "flt-img:v1", "name": "flt-img:v2"}).status \
        == 201
    other = commit(None, None, {})  # no repository: an untagged (dangling) image
    imgs = {i["id"]: i for i in ls(api, "/images")}
    assert other in imgs and imgs[other]["tags"] == []
    return tagged, other
