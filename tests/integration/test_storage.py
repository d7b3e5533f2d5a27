# SPDX-License-Identifier: Apache-2.0
"""Images: import (OCI image layout made with umoci, docker-archive made with skopeo), list,
inspect, tag, untag, remove with layer collection, and containers run from images: the
image's defaults, an overlay of shared read-only layers with a private upper, whiteouts
across layers."""

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import tarfile
import io
import uuid
from pathlib import Path

import pytest

from conftest import proc_read
from test_extract_hostile import (docker_archive_tar, entry, import_image, oci_layout_tar, sha256,
                                  store_snapshot, tar_bytes)

IMAGE_CMD = "echo image-cmd; pwd; echo FOO=$FOO BAR=$BAR"


def umoci(*args):
    p = subprocess.run(["umoci", *map(str, args)], capture_output=True, text=True)
    assert p.returncode == 0, f"umoci {' '.join(map(str, args))}: {p.stderr}"


@pytest.fixture(scope="module")
def built(tmp_path_factory, rootfs):
    """An OCI layout with two images: "one" (the busybox rootfs plus /etc/victim and
    /data/keep, with Cmd, Env and WorkingDir) and "two" (one + a layer that deletes
    /etc/victim and adds /etc/added); as a tar, and "two" as a docker-archive."""
    for tool in ("umoci", "skopeo"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed")
    d = tmp_path_factory.mktemp("oci")
    layout, bundle = d / "layout", d / "bundle"
    umoci("init", "--layout", layout)
    umoci("new", "--image", f"{layout}:one")
    umoci("unpack", "--image", f"{layout}:one", bundle)
    shutil.copytree(rootfs, bundle / "rootfs", symlinks=True, dirs_exist_ok=True)
    (bundle / "rootfs/etc/victim").write_text("layer one\n")
    (bundle / "rootfs/data").mkdir()
    (bundle / "rootfs/data/keep").write_text("keep\n")
    umoci("repack", "--image", f"{layout}:one", bundle)
    umoci("config", "--image", f"{layout}:one", "--config.cmd", "sh", "--config.cmd", "-c",
          "--config.cmd", IMAGE_CMD, "--config.env", "FOO=bar", "--config.env", "BAR=img",
          "--config.workingdir", "/home/user")
    shutil.rmtree(bundle)
    umoci("unpack", "--image", f"{layout}:one", bundle)
    (bundle / "rootfs/etc/victim").unlink()
    (bundle / "rootfs/etc/added").write_text("layer two\n")
    umoci("repack", "--image", f"{layout}:two", bundle)
    shutil.rmtree(bundle)
    oci_tar = d / "oci.tar"
    subprocess.run(["tar", "-C", str(layout), "-cf", str(oci_tar), "."], check=True)
    da = d / "docker.tar"
    p = subprocess.run(["skopeo", "copy", f"oci:{layout}:two",
                        f"docker-archive:{da}:pl-docker/app:v1"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return {"oci": oci_tar.read_bytes(), "docker": da.read_bytes(), "layout": layout}


@pytest.fixture(scope="module")
def base_layer(rootfs):
    """The busybox rootfs as one uncompressed layer tar (python-made, for custom images)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        t.add(rootfs, arcname=".")
    return buf.getvalue()


def imported(api, data):
    r = import_image(api, data)
    assert r.status == 201, f"import: {r.status} {r.body!r}"
    return r.json["images"]


@pytest.fixture(scope="module")
def oci(api, built):
    """Both umoci images imported (once: no test removes them); returns {ref: id}."""
    imgs = imported(api, built["oci"])
    assert len(imgs) == 2, imgs
    out = {}
    for i in imgs:
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", i["id"]), i
        assert len(i["tags"]) == 1, i
        out[i["tags"][0].split(":")[0]] = i["id"]
    assert set(out) == {"one", "two"}, imgs
    return out


def inspect(api, ref):
    r = api.get(f"/images/{ref}")
    assert r.status == 200, f"GET /images/{ref}: {r.status} {r.body!r}"
    return r.json


def layer_dirs(daemon, img):
    return [daemon.root / "storage/layers" / l[len("sha256:"):] / "diff" for l in img["layers"]]


def unique_image(api, base_layer, config=None, name=None, extra_layers=1):
    """A fresh image: the shared busybox base + extra_layers layers of its own."""
    token = uuid.uuid4().hex
    own = [tar_bytes(entry(f"uniq-{token}-{i}", data=token.encode())) for i in range(extra_layers)]
    cfg = {"Cmd": ["sh", "-c", "echo unique"]}
    cfg.update(config or {})
    cfg["Labels"] = {"token": token}
    name = name or f"pl-uniq-{token[:12]}:t"
    imgs = imported(api, oci_layout_tar([base_layer, *own], cfg, ref=name))
    assert len(imgs) == 1
    return name, imgs[0]["id"]


def run_image(api, body, timeout=None):
    r = api.create_raw(body)
    assert r.status == 201, f"create {body}: {r.status} {r.body!r}"
    cid = r.json["id"]
    api.start(cid)
    w = api.wait(cid)
    out, err = api.output(cid)
    return cid, w["exit_code"], out, err


def fingerprint(path):
    """Everything about a tree that a write could change."""
    out = {}
    for root, dirs, files in os.walk(path):
        for n in [""] + dirs + files:
            p = Path(root) / n if n else Path(root)
            st = p.lstat()
            rec = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_ino)
            if stat.S_ISREG(st.st_mode):
                rec += (hashlib.sha256(p.read_bytes()).hexdigest(),)
            out[str(p.relative_to(path))] = rec
    return out


# --------------------------------------------------------------------------
# import, list, inspect


def test_import_oci_layout(api, daemon, built, oci):
    one, two = inspect(api, "one"), inspect(api, "two")
    assert one["id"] == oci["one"] and two["id"] == oci["two"]
    assert "one:latest" in one["tags"] and "two:latest" in two["tags"]
    cfg = two["config"]["config"]
    assert cfg["Cmd"] == ["sh", "-c", IMAGE_CMD]
    assert "FOO=bar" in cfg["Env"] and "BAR=img" in cfg["Env"]
    assert cfg["WorkingDir"] == "/home/user"
    assert len(one["layers"]) == 1 and len(two["layers"]) == 2
    assert two["layers"][0] == one["layers"][0], "the shared base layer has one diff id"
    assert two["layers"] == two["config"]["rootfs"]["diff_ids"]
    for d in layer_dirs(daemon, two):
        assert d.is_dir(), d
    base, top = layer_dirs(daemon, two)
    assert (base / "bin/busybox").is_file() and (base / "etc/victim").is_file()
    st = os.lstat(top / "etc/victim")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0, "whiteout not in overlay form"
    # the image id is the digest of its config blob
    man = json.loads((built["layout"] / "index.json").read_text())
    assert len(man["manifests"]) == 2
    listing = api.get("/images").json
    by_id = {i["id"]: i for i in listing}
    for ref, iid in oci.items():
        assert iid in by_id
        rec = by_id[iid]
        assert set(rec) >= {"id", "tags", "size", "created"}, rec
        assert f"{ref}:latest" in rec["tags"] and rec["size"] > 1000


def test_import_docker_archive(api, daemon, built, oci):
    imgs = imported(api, built["docker"])
    assert len(imgs) == 1
    img = imgs[0]
    assert img["id"] == oci["two"], "same config, same image id"
    tags = inspect(api, img["id"])["tags"]
    docker_name = [t for t in tags if t.endswith("pl-docker/app:v1")]
    assert docker_name, tags
    rec = inspect(api, docker_name[0])  # the ref holds "/" and ":"
    assert rec["id"] == img["id"] and rec["layers"] == inspect(api, "two")["layers"]


def test_import_docker_archive_of_fresh_image(api, daemon, base_layer, tmp_path):
    """A docker-archive whose layers are not in the store yet."""
    token = uuid.uuid4().hex
    layer = tar_bytes(entry(f"docker-only-{token}", data=b"d"))
    cfg = json.dumps({"architecture": "amd64", "os": "linux",
                      "config": {"Cmd": ["cat", f"/docker-only-{token}"]},
                      "rootfs": {"type": "layers",
                                 "diff_ids": [sha256(base_layer), sha256(layer)]}}).encode()
    cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
    from test_extract_hostile import docker_archive_tar
    data = docker_archive_tar([{"Config": cfg_name, "RepoTags": [f"pl-da-{token[:8]}:v2"],
                                "Layers": ["l0/layer.tar", "l1/layer.tar"]}],
                              files={cfg_name: cfg, "l0/layer.tar": base_layer,
                                     "l1/layer.tar": layer})
    imgs = imported(api, data)
    assert imgs[0]["id"] == sha256(cfg)
    cid, code, out, err = run_image(api, {"image": f"pl-da-{token[:8]}:v2"})
    assert (code, out) == (0, "d"), err
    api.remove(cid)
    assert api.delete(f"/images/pl-da-{token[:8]}:v2").status == 204


def test_inspect_by_id_prefix_and_unknown(api, oci):
    iid = oci["two"]
    hexid = iid[len("sha256:"):]
    for ref in (iid, hexid, hexid[:12], "sha256:" + hexid[:12]):
        assert inspect(api, ref)["id"] == iid, ref
    for ref in ("no-such-image", "no-such:tag", "sha256:" + "0" * 64, "two:other"):
        r = api.get(f"/images/{ref}")
        assert r.status == 404, (ref, r.status, r.body)


def test_layout_with_mismatched_diff_id_refused(api, daemon):
    """The config's diff_ids say one thing, the layer blob is another: 400, nothing kept."""
    before = (api.get("/images").json, store_snapshot(daemon))
    token = uuid.uuid4().hex
    good = tar_bytes(entry("mismatch-good-" + token, data=b"g"))
    top = tar_bytes(entry("mismatch-" + token, data=b"m"))
    wrong = sha256(top + b"tampered")
    # the first layer matches its diff id, the second does not
    data = oci_layout_tar([good, top], {"Cmd": ["true"]}, ref="pl-mismatch",
                          diff_ids=[sha256(good), wrong])
    r = import_image(api, data)
    assert r.status == 400, r.body
    assert wrong in r.message, r.message
    assert api.get("/images/pl-mismatch").status == 404
    after = (api.get("/images").json, store_snapshot(daemon))
    assert after[0] == before[0]
    assert after[1]["tmp"] == before[1]["tmp"]
    new_layers = sorted({k.split("/")[0] for k in after[1]["layers"]} -
                        {k.split("/")[0] for k in before[1]["layers"]})
    assert new_layers == [], f"a refused import left layers in the store: {new_layers}"


def _retar(data, change):
    """The same tar with change(name, bytes) → bytes applied to every regular file."""
    src = tarfile.open(fileobj=io.BytesIO(data))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
        for m in src.getmembers():
            if m.isreg():
                b = change(m.name, src.extractfile(m).read())
                m.size = len(b)
                t.addfile(m, io.BytesIO(b))
            else:
                t.addfile(m)
    return out.getvalue()


def _assert_import_refused_cleanly(api, daemon, data, word, ref):
    before = (api.get("/images").json, store_snapshot(daemon))
    r = import_image(api, data)
    assert r.status == 400, r.body
    assert word in r.message and "does not match" in r.message, r.message
    assert api.get(f"/images/{ref}").status == 404
    after = (api.get("/images").json, store_snapshot(daemon))
    assert after[0] == before[0]
    assert after[1] == before[1], "a refused import changed the store"


@pytest.mark.parametrize("what", ["config", "manifest"])
def test_layout_blob_not_matching_its_digest_refused(api, daemon, what):
    """A blob of an OCI layout whose content is not what its digest says (a swapped config
    or manifest) is refused, naming the blob, and nothing is kept."""
    token = uuid.uuid4().hex
    layer = tar_bytes(entry(f"blobcheck-{token}", data=b"b"))
    ref = f"pl-blobcheck-{what}-{token[:8]}"
    data = oci_layout_tar([layer], {"Cmd": ["true"]}, ref=ref)

    def change(name, b):
        if not name.startswith("blobs/sha256/"):
            return b
        j = json.loads(b) if b.startswith(b"{") else None
        if what == "config" and j and "rootfs" in j:
            j["config"]["Cmd"] = ["sh", "-c", "swapped"]
            return json.dumps(j).encode()
        if what == "manifest" and j and "layers" in j:
            return b + b" "
        return b
    tampered = _retar(data, change)
    assert tampered != data
    _assert_import_refused_cleanly(api, daemon, tampered, "blobs/sha256/", ref)


@pytest.mark.parametrize("what", ["config", "layer"])
def test_docker_archive_blob_not_matching_its_digest_refused(api, daemon, what):
    token = uuid.uuid4().hex
    layer = tar_bytes(entry(f"dablob-{token}", data=b"d"))
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["true"]},
                      "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]}}).encode()
    lname = "blobs/sha256/" + (hashlib.sha256(layer).hexdigest() if what == "config"
                               else hashlib.sha256(b"other").hexdigest())
    cname = "blobs/sha256/" + (hashlib.sha256(cfg).hexdigest() if what == "layer"
                               else hashlib.sha256(b"other").hexdigest())
    ref = f"pl-dablob-{what}-{token[:8]}:1"
    data = docker_archive_tar([{"Config": cname, "RepoTags": [ref], "Layers": [lname]}],
                              {cname: cfg, lname: layer},
                              extra=[entry("blobs", "dir"), entry("blobs/sha256", "dir")])
    if what == "layer":
        before = (api.get("/images").json, store_snapshot(daemon))
        r = import_image(api, data)
        assert r.status == 400 and lname.split("/")[-1] in r.message, r.body
        assert (api.get("/images").json, store_snapshot(daemon)) == before
    else:
        _assert_import_refused_cleanly(api, daemon, data, cname, ref)


def test_gzip_layers_in_layout(api, daemon, base_layer):
    token = uuid.uuid4().hex
    top = tar_bytes(entry(f"gz-{token}", data=b"gz"))
    data = oci_layout_tar([base_layer, top], {"Cmd": ["cat", f"/gz-{token}"]},
                          ref=f"pl-gz-{token[:8]}", gzip_layers=True)
    imgs = imported(api, data)
    assert inspect(api, imgs[0]["id"])["layers"] == [sha256(base_layer), sha256(top)]
    cid, code, out, _ = run_image(api, {"image": f"pl-gz-{token[:8]}"})
    assert (code, out) == (0, "gz")
    api.remove(cid)
    assert api.delete(f"/images/pl-gz-{token[:8]}").status == 204


# --------------------------------------------------------------------------
# tag, untag, remove


def test_tag_and_untag(api, oci):
    iid = oci["one"]
    name = f"registry.example:5000/team/app-{uuid.uuid4().hex[:8]}:1.0"
    r = api.post("/images/tag", params={"ref": "one", "name": name})
    assert r.status == 201, r.body
    assert inspect(api, name)["id"] == iid
    assert name in inspect(api, iid)["tags"]
    assert any(name in i["tags"] for i in api.get("/images").json)
    # untag: only the name goes, the image stays with its other names
    r = api.delete(f"/images/{name}")
    assert r.status == 204, r.body
    assert api.get(f"/images/{name}").status == 404
    assert inspect(api, "one")["id"] == iid
    # a bare name means :latest
    bare = f"pl-bare-{uuid.uuid4().hex[:8]}"
    assert api.post("/images/tag", params={"ref": iid, "name": bare}).status == 201
    assert inspect(api, f"{bare}:latest")["id"] == iid
    assert api.delete(f"/images/{bare}").status == 204
    assert api.get(f"/images/{bare}:latest").status == 404


def test_docker_hub_names_are_one_name(api, oci):
    """docker.io/library/x, index.docker.io/library/x, library/x and x name the same image,
    shown in Docker's familiar form; other registries' names stay apart."""
    iid = oci["one"]
    tok = uuid.uuid4().hex[:8]
    r = api.post("/images/tag", params={"ref": "one", "name": f"docker.io/library/hub-{tok}"})
    assert r.status == 201, r.body
    for ref in (f"hub-{tok}", f"hub-{tok}:latest", f"library/hub-{tok}",
                f"index.docker.io/library/hub-{tok}:latest", f"docker.io/library/hub-{tok}"):
        assert inspect(api, ref)["id"] == iid, ref
    tags = inspect(api, iid)["tags"]
    assert f"hub-{tok}:latest" in tags and not [t for t in tags if "docker.io" in t], tags
    assert api.post("/images/tag", params={"ref": "one", "name": f"docker.io/team{tok}/app"}
                    ).status == 201
    assert f"team{tok}/app:latest" in inspect(api, iid)["tags"]
    assert api.get(f"/images/registry.example/library/hub-{tok}").status == 404
    assert api.delete(f"/images/docker.io/library/hub-{tok}:latest").status == 204
    assert api.get(f"/images/hub-{tok}").status == 404
    assert api.delete(f"/images/team{tok}/app").status == 204


def test_tag_errors(api, oci):
    assert api.post("/images/tag", params={"ref": "no-such", "name": "x:1"}).status == 404
    for bad in ("", "-leading-dash", "has space", "UPPER|pipe", "x" * 300):
        r = api.post("/images/tag", params={"ref": "one", "name": bad})
        assert r.status == 400, (bad, r.status, r.body)
    assert api.post("/images/tag", params={"ref": "one"}).status == 400
    assert api.delete("/images/no-such-image").status == 404


def test_remove_image_and_its_layers(api, daemon, base_layer):
    n1, id1 = unique_image(api, base_layer)
    n2, id2 = unique_image(api, base_layer)
    l1, l2 = layer_dirs(daemon, inspect(api, id1)), layer_dirs(daemon, inspect(api, id2))
    assert l1[0] == l2[0], "the base layer is shared"
    # a second name: removing the first only untags
    alias = n1.replace(":t", ":alias")
    assert api.post("/images/tag", params={"ref": n1, "name": alias}).status == 201
    assert api.delete(f"/images/{n1}").status == 204
    assert inspect(api, alias)["id"] == id1 and all(d.is_dir() for d in l1)
    # the last name: the image and its own layer go, the shared one stays
    assert api.delete(f"/images/{alias}").status == 204
    assert api.get(f"/images/{id1}").status == 404
    assert id1 not in [i["id"] for i in api.get("/images").json]
    assert not (daemon.root / f"storage/images/{id1[7:]}.json").exists()
    assert not l1[1].parent.exists(), "the unshared layer is still in the store"
    assert l1[0].is_dir(), "the shared base layer went with one of its images"
    # removing by id removes every name
    extra = n2.replace(":t", ":extra")
    assert api.post("/images/tag", params={"ref": n2, "name": extra}).status == 201
    assert api.delete(f"/images/{id2}").status == 204
    for ref in (n2, extra, id2):
        assert api.get(f"/images/{ref}").status == 404
    assert not l2[1].parent.exists()


def test_remove_refused_while_a_container_uses_it(api, daemon, base_layer, uniq):
    name, iid = unique_image(api, base_layer)
    dirs = layer_dirs(daemon, inspect(api, iid))
    r = api.create_raw({"image": name, "name": uniq, "process": {"args": ["sleep", "1000"]}})
    assert r.status == 201, r.body
    cid = r.json["id"]
    api.start(cid)
    for ref in (name, iid, iid[7:19]):
        r = api.delete(f"/images/{ref}")
        assert r.status == 409, (ref, r.status, r.body)
    assert inspect(api, name)["id"] == iid, "the refused remove dropped the name"
    assert all(d.is_dir() for d in dirs)
    assert api.remove(cid, force=True).status == 204
    # a stopped (not removed) container still holds it, as in Docker
    r = api.create_raw({"image": name, "process": {"args": ["true"]}})
    assert r.status == 201
    assert api.delete(f"/images/{name}").status == 409
    assert api.remove(r.json["id"]).status == 204
    assert api.delete(f"/images/{name}").status == 204
    assert api.get(f"/images/{iid}").status == 404
    assert not dirs[-1].parent.exists(), "the image's own layer survived its removal"


# --------------------------------------------------------------------------
# containers from images


def test_run_image_defaults(api, oci):
    cid, code, out, err = run_image(api, {"image": "two"})
    assert code == 0, err
    assert out == "image-cmd\n/home/user\nFOO=bar BAR=img\n", out
    cfg = api.inspect(cid)["config"]
    assert cfg["image"] == oci["two"]
    assert cfg["process"]["args"] == ["sh", "-c", IMAGE_CMD]


def test_caller_overrides_image_defaults(api, oci):
    body = {"image": "two", "process": {"env": ["FOO=mine", "NEW=1"]}}
    _, code, out, _ = run_image(api, body)
    assert (code, out) == (0, "image-cmd\n/home/user\nFOO=mine BAR=img\n")
    body = {"image": "two", "process": {"args": ["sh", "-c", "pwd; echo $FOO $NEW"],
                                        "cwd": "/tmp", "env": ["NEW=2"]}}
    _, code, out, _ = run_image(api, body)
    assert (code, out) == (0, "/tmp\nbar 2\n")


def test_image_user_entrypoint_and_caller_user(api, base_layer):
    name, _ = unique_image(api, base_layer, {"User": "1234:5678", "Entrypoint": ["sh", "-c"],
                                             "Cmd": ["echo $(id -u):$(id -g)"]})
    _, code, out, err = run_image(api, {"image": name})
    assert (code, out) == (0, "1234:5678\n"), err
    _, code, out, _ = run_image(api, {"image": name, "process": {"user": "0:0", "args": [
        "sh", "-c", "echo $(id -u)"]}})
    assert (code, out) == (0, "0\n")


def test_user_names_resolve_in_the_container(api, base_layer):
    """User names (the image's User or process.user) are resolved by tether against the
    container's own /etc/passwd and /etc/group; an unknown name fails the start like Docker
    (exit 126, the name in the error)."""
    own = tar_bytes(entry("etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\n"
                          b"app:x:4321:8765:app:/home/app:/bin/sh\n"),
                    entry("etc/group", data=b"root:x:0:\nstaff:x:50:\nappgrp:x:8765:\n"))
    ref = f"pl-users-{uuid.uuid4().hex[:12]}:t"
    imported(api, oci_layout_tar([base_layer, own], {"User": "app", "Cmd": [
        "sh", "-c", "echo $(id -u):$(id -g) $HOME"]}, ref=ref))
    _, code, out, err = run_image(api, {"image": ref})
    assert (code, out) == (0, "4321:8765 /home/app\n"), err
    _, code, out, _ = run_image(api, {"image": ref, "process": {
        "user": "app:staff", "args": ["sh", "-c", "echo $(id -u):$(id -g)"]}})
    assert (code, out) == (0, "4321:50\n")
    _, code, out, _ = run_image(api, {"image": ref, "process": {
        "user": "1000:appgrp", "args": ["sh", "-c", "echo $(id -u):$(id -g)"]}})
    assert (code, out) == (0, "1000:8765\n")
    # the host's users mean nothing: a name only the host has is unknown
    r = api.create_raw({"image": ref, "process": {"user": "nobody", "args": ["true"]}})
    cid = r.json["id"]
    r = api.post(f"/containers/{cid}/start")
    assert r.status == 400 and "unable to find user nobody" in r.message, r.body
    assert api.inspect(cid)["state"]["exit_code"] == 126
    r = api.create_raw({"image": ref, "process": {"user": "app:nogrp", "args": ["true"]}})
    r = api.post(f"/containers/{r.json['id']}/start")
    assert r.status == 400 and "unable to find group nogrp" in r.message, r.body
    # exec sessions resolve too
    r = api.create_raw({"image": ref, "process": {"args": ["sleep", "30"]}})
    cid = r.json["id"]
    api.start(cid)
    r = api.post(f"/containers/{cid}/exec", {"args": ["sh", "-c", "test $(id -u) = 4321"],
                                              "user": "app"})
    assert r.status == 201, r.body
    eid = r.json["id"]
    assert api.post(f"/exec/{eid}/start", params={"detach": 1}).status == 204
    assert api.post(f"/exec/{eid}/wait").json["exit_code"] == 0
    r = api.post(f"/containers/{cid}/exec", {"args": ["true"], "user": "ghost"})
    eid = r.json["id"]
    r = api.post(f"/exec/{eid}/start", params={"detach": 1})
    assert r.status == 400 and "unable to find user ghost" in r.message, r.body
    assert api.get(f"/exec/{eid}/json").json["exit_code"] == 126
    api.kill(cid)
    api.wait(cid)


def test_create_from_image_errors(api, base_layer):
    r = api.create_raw({"image": "pl-no-such-image:1"})
    assert r.status == 404, r.body
    r = api.create_raw({"image": "two", "rootfs": "/", "process": {"args": ["true"]}})
    assert r.status == 400, r.body
    name, _ = unique_image(api, base_layer, {"Cmd": None})
    r = api.create_raw({"image": name})
    assert r.status == 400 and "command" in r.message, r.body
    assert api.delete(f"/images/{name}").status == 204


def test_two_layer_image_whiteout(api, oci):
    script = "cat /etc/victim 2>&1; cat /etc/added; cat /data/keep"
    _, code, out, _ = run_image(api, {"image": "two", "process": {"args": ["sh", "-c", script]}})
    assert "No such file" in out and "layer one" not in out, out
    assert "layer two\n" in out and "keep\n" in out
    _, code, out, _ = run_image(api, {"image": "one", "process": {"args": ["sh", "-c", script]}})
    assert out.startswith("layer one\n"), out


def test_container_writes_never_reach_the_layers(api, daemon, oci):
    img = inspect(api, "two")
    dirs = layer_dirs(daemon, img)
    before = [fingerprint(d) for d in dirs]
    script = ("echo new > /etc/newfile && echo more >> /etc/added && rm /data/keep && "
              "rm -rf /home && chmod 700 /bin && touch /bin/busybox && mkdir /newdir && "
              "chown 1:1 /etc/passwd && ln -s x /etc/newlink && echo ok")
    cid, code, out, err = run_image(api, {"image": "two", "process": {
        "args": ["sh", "-c", script]}})
    assert (code, out) == (0, "ok\n"), err
    assert [fingerprint(d) for d in dirs] == before, "a container's write reached a layer"
    # and another container of the image sees the image, not the first one's writes
    _, code, out, _ = run_image(api, {"image": "two", "process": {"args": [
        "sh", "-c", "ls /etc/newfile 2>/dev/null; cat /data/keep /etc/added"]}})
    assert out == "keep\nlayer two\n", out


def overlay_options(pid):
    """The options of the overlay mounted as the root of pid's mount namespace."""
    info = proc_read(pid, "mountinfo") or ""
    for line in info.splitlines():
        pre, _, post = line.partition(" - ")
        fields, sfields = pre.split(), post.split()
        if fields[4] == "/" and sfields[0] == "overlay":
            return dict(o.split("=", 1) if "=" in o else (o, "") for o in sfields[2].split(","))
    raise AssertionError(f"no overlay root in /proc/{pid}/mountinfo:\n{info}")


def test_two_containers_share_the_layer_dirs(api, daemon, oci, uniq):
    img = inspect(api, "two")
    want = ":".join(str(d) for d in reversed(layer_dirs(daemon, img)))  # top first
    opts = []
    for i in range(2):
        r = api.create_raw({"image": "two", "name": f"{uniq}-{i}",
                            "process": {"args": ["sleep", "1000"]}})
        assert r.status == 201, r.body
        api.start(r.json["id"])
        opts.append(overlay_options(api.state(r.json["id"])["pid"]))
    assert opts[0]["lowerdir"] == opts[1]["lowerdir"] == want, opts
    assert opts[0]["upperdir"] != opts[1]["upperdir"]
    for o in opts:
        assert not o["upperdir"].startswith(str(daemon.root / "storage/layers"))


# --------------------------------------------------------------------------
# the store across restarts and concurrent writers


def test_store_survives_a_restart(binaries, rootfs, tmp_path):
    """Images, names and layers are on disk: a restarted daemon has them all and runs
    containers from them; leftovers of interrupted writes in storage/tmp are cleared."""
    from conftest import Daemon, finish_daemon

    d = Daemon(tmp_path / "d").start()
    try:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
            t.add(rootfs, arcname=".")
        imgs = imported(d.api, oci_layout_tar([buf.getvalue()], {"Cmd": ["echo", "again"]},
                                              ref="pl-restart:1"))
        iid = imgs[0]["id"]
        assert d.api.post("/images/tag", params={"ref": iid, "name": "pl-restart:2"}).status \
            == 201
        assert d.stop() == 0
        leftover = d.root / "storage/tmp/0123456789abcdef"
        (leftover / "diff/etc").mkdir(parents=True)
        d.start()
        assert sorted(inspect(d.api, iid)["tags"]) == ["pl-restart:1", "pl-restart:2"]
        assert not leftover.exists(), "an interrupted write's leftovers survived a restart"
        cid, code, out, _ = run_image(d.api, {"image": "pl-restart:2"})
        assert (code, out) == (0, "again\n")
    finally:
        problems = finish_daemon(d)
    assert not problems, problems


def test_concurrent_imports_keep_every_name(api, base_layer):
    """Imports run in parallel worker processes: each one's names must survive the others'
    (tags.json is the whole table, so a writer must not save a stale copy of it)."""
    import threading

    n = 6
    tars, names = [], []
    for i in range(n):
        token = uuid.uuid4().hex[:10]
        names.append(f"pl-par-{token}:{i}")
        tars.append(oci_layout_tar([base_layer, tar_bytes(entry(f"par-{token}", data=b"p"))],
                                   {"Cmd": ["true"]}, ref=names[-1]))
    results = [None] * n

    def go(i):
        results[i] = import_image(api, tars[i])

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status for r in results] == [201] * n, [r.body for r in results]
    missing = [nm for nm in names if api.get(f"/images/{nm}").status != 200]
    listed = {t for i in api.get("/images").json for t in i["tags"]}
    for r in results:  # clean up whatever is reachable
        for img in r.json["images"]:
            api.delete(f"/images/{img['id']}")
    assert not missing, f"names lost by concurrent imports: {missing} (listed: {sorted(listed)})"


def test_remove_during_an_import_keeps_the_imports_layers(api, daemon, base_layer):
    """An image removal collects unreferenced layers; the layers an import in progress has
    already written are not referenced yet, but must not be collected."""
    import threading
    import time

    victim, victim_id = unique_image(api, base_layer)
    token = uuid.uuid4().hex[:10]
    first = tar_bytes(entry(f"first-{token}", data=b"first"))
    # a slow second layer: many small entries
    slow = tar_bytes(*[entry(f"many/{i:05d}") for i in range(1000)], fmt=tarfile.USTAR_FORMAT)
    name = f"pl-inflight-{token}:1"
    data = oci_layout_tar([base_layer, first, slow], {"Cmd": ["cat", f"/first-{token}"]},
                          ref=name)
    first_dir = daemon.root / "storage/layers" / sha256(first)[7:]
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", import_image(api, data)))
    t.start()
    deadline = time.monotonic() + 60
    while not first_dir.exists() and t.is_alive() and time.monotonic() < deadline:
        time.sleep(0.002)
    raced = t.is_alive()
    assert api.delete(f"/images/{victim}").status == 204
    t.join(120)
    r = result["r"]
    assert r.status == 201, r.body
    try:
        dirs = layer_dirs(daemon, inspect(api, name))
        gone = [str(d) for d in dirs if not d.is_dir()]
        assert not gone, (f"layers of an image imported while another was removed are gone "
                          f"(removal raced the import: {raced}): {gone}")
        cid, code, out, err = run_image(api, {"image": name})
        assert (code, out) == (0, "first"), err
        api.remove(cid)
    finally:
        api.delete(f"/images/{name}")
