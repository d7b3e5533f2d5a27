# SPDX-License-Identifier: Apache-2.0
"""A container's filesystem as archives: export, changes (diff against the image), copy in
(PUT /containers/{id}/archive) for stopped and running containers, copy out and stat
(GET/HEAD), and commit of a container into a new image that runs with its changes.

Copies into a container follow the layer extraction rules: a hostile archive is refused with
a message naming the entry, and nothing changes, neither in the container nor on the host.
Paths are resolved inside the container's root: a symbolic link pointing "outside" leads to
the container's own files, never the host's."""

import base64
import io
import json
import os
import tarfile
import uuid
from pathlib import Path

import pytest

from conftest import run_body
from test_extract_hostile import entry, escape, tar_bytes  # noqa: F401 (fixture)
from test_storage import base_layer, imported, oci_layout_tar  # noqa: F401 (fixture)

TOKEN = uuid.uuid4().hex[:12]
SECRET_DIR = Path(f"/tmp/pl-secret-{TOKEN}")  # exists on the host and, differently, inside


@pytest.fixture(scope="module")
def host_secret():
    SECRET_DIR.mkdir()
    (SECRET_DIR / "victim").write_text("HOST SECRET\n")
    yield SECRET_DIR
    (SECRET_DIR / "victim").unlink()
    SECRET_DIR.rmdir()


@pytest.fixture(scope="module")
def image(api, base_layer, host_secret):
    """busybox + a layer with files to change and delete, and symlinks aimed outside."""
    up = "../" * 12
    own = tar_bytes(
        entry("etc/victim", data=b"layer one\n"),
        entry("data", kind="dir"),
        entry("data/keep", data=b"keep\n"),
        entry("data/dir", kind="dir"),
        entry("data/dir/inner", data=b"lower inner\n"),
        entry("opq", kind="dir"),
        entry("opq/a", data=b"a\n"),
        entry("opq/b", data=b"b\n"),
        entry(f"tmp/pl-secret-{TOKEN}", kind="dir"),
        entry(f"tmp/pl-secret-{TOKEN}/victim", data=b"container file\n"),
        entry("uplink", kind="symlink", link=f"{up}tmp/pl-secret-{TOKEN}"),
        entry("abslink", kind="symlink", link=f"{SECRET_DIR}/victim"),
    )
    name = f"pl-archive-{TOKEN}:t"
    imgs = imported(api, oci_layout_tar([base_layer, own], {"Cmd": ["true"]}, ref=name))
    return name


def make(api, image, script):
    body = {"image": image, "process": {"args": ["sh", "-c", script]}}
    cid, code, (out, err) = run_body(api, body)
    assert code == 0, f"{script}: {code} {out} {err}"
    return cid


CHANGE_SCRIPT = ("echo new > /new.txt && echo changed > /etc/victim && rm /data/keep && "
                 "mkdir -p /made/sub && echo f > /made/sub/f && rm -rf /opq && mkdir /opq && "
                 "echo c > /opq/c")


@pytest.fixture(scope="module")
def changed(api, image):
    return make(api, image, CHANGE_SCRIPT)


def tar_members(data):
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        out = {}
        for m in t.getmembers():
            f = t.extractfile(m) if m.isreg() else None
            out[m.name.rstrip("/")] = (m, f.read() if f else None)
        return out


def archive_get(api, cid, path):
    return api.get(f"/containers/{cid}/archive", params={"path": path})


def archive_put(api, cid, path, data):
    return api.request("PUT", f"/containers/{cid}/archive", body=data, params={"path": path},
                       headers={"Content-Type": "application/x-tar"})


def upper_tree(daemon, cid):
    out = {}
    up = daemon.root / "containers" / cid / "upper"
    for root, dirs, files in os.walk(up):
        for n in dirs + files:
            p = Path(root) / n
            st = p.lstat()
            data = p.read_bytes() if p.is_file() and not p.is_symlink() else None
            out[str(p.relative_to(up))] = (st.st_mode, st.st_size, data)
    return out


# --------------------------------------------------------------------------
# changes and export


def test_changes_list_exactly_the_changes(api, changed):
    r = api.get(f"/containers/{changed}/changes")
    assert r.status == 200, r.body
    got = {(c["Path"], c["Kind"]) for c in r.json}
    want = {("/new.txt", 1), ("/etc", 0), ("/etc/victim", 0), ("/data", 0), ("/data/keep", 2),
            ("/made", 1), ("/made/sub", 1), ("/made/sub/f", 1), ("/opq", 0), ("/opq/a", 2),
            ("/opq/b", 2), ("/opq/c", 1)}
    assert got == want, f"extra {got - want}, missing {want - got}"
    assert [c["Path"] for c in r.json] == sorted(c["Path"] for c in r.json)


def test_changes_of_a_fresh_container_are_empty(api, image):
    r = api.create_raw({"image": image, "process": {"args": ["true"]}})
    assert r.status == 201
    assert api.get(f"/containers/{r.json['id']}/changes").json == []


def test_changes_of_unknown_container_is_404(api):
    assert api.get("/containers/nosuchcontainer/changes").status == 404


def test_export_has_image_files_and_changes_and_no_whiteouts(api, changed):
    r = api.get(f"/containers/{changed}/export")
    assert r.status == 200, r.body
    assert r.headers.get("Content-Type") == "application/x-tar"
    m = tar_members(r.body)
    assert m["bin/busybox"][0].isreg()
    assert m["new.txt"][1] == b"new\n"
    assert m["etc/victim"][1] == b"changed\n"
    assert m["data/dir/inner"][1] == b"lower inner\n"
    assert m["made/sub/f"][1] == b"f\n"
    assert "data/keep" not in m and "opq/a" not in m and "opq/b" not in m
    assert m["opq/c"][1] == b"c\n"
    assert not [n for n in m if ".wh." in n], "whiteout entries in an export"
    assert not [n for n, (ti, _) in m.items() if ti.ischr() and ti.devmajor == 0
                and ti.devminor == 0], "overlay whiteouts in an export"
    assert m["uplink"][0].issym()


def test_export_of_a_running_container(api, image):
    r = api.create_raw({"image": image, "process": {"args": ["sh", "-c",
                                                             "echo run > /running; sleep 60"]}})
    cid = r.json["id"]
    api.start(cid)
    try:
        data = None
        for _ in range(200):
            data = tar_members(api.get(f"/containers/{cid}/export").body)
            if "running" in data:
                break
        assert data["running"][1] == b"run\n"
        assert "proc/1" not in data and "sys/kernel" not in data
    finally:
        api.kill(cid)
        api.wait(cid)


# --------------------------------------------------------------------------
# copy out and stat


def test_get_file(api, changed):
    r = archive_get(api, changed, "/etc/victim")
    assert r.status == 200, r.body
    m = tar_members(r.body)
    assert list(m) == ["victim"] and m["victim"][1] == b"changed\n"
    st = json.loads(base64.b64decode(r.headers["X-Docker-Container-Path-Stat"]))
    assert st["name"] == "victim" and st["size"] == len(b"changed\n")


def test_get_directory_tree(api, changed):
    m = tar_members(archive_get(api, changed, "/made").body)
    assert set(m) == {"made", "made/sub", "made/sub/f"}
    m = tar_members(archive_get(api, changed, "/made/.").body)
    assert set(m) == {".", "./sub", "./sub/f"}


def test_get_symlink_is_the_link_itself(api, changed, host_secret):
    r = archive_get(api, changed, "/abslink")
    assert r.status == 200, r.body
    m = tar_members(r.body)
    assert list(m) == ["abslink"]
    ti, _ = m["abslink"]
    assert ti.issym() and ti.linkname == f"{SECRET_DIR}/victim"
    assert b"HOST SECRET" not in r.body


def test_paths_through_symlinks_stay_inside_the_root(api, changed, host_secret):
    # /uplink → ../../../../tmp/pl-secret-X: resolved in the root, the container's own dir
    r = archive_get(api, changed, "/uplink/victim")
    assert r.status == 200, r.body
    assert tar_members(r.body)["victim"][1] == b"container file\n"
    assert b"HOST SECRET" not in r.body
    r = archive_get(api, changed, "/uplink/")
    assert tar_members(r.body)["uplink/victim"][1] == b"container file\n"


def test_get_errors(api, changed):
    assert archive_get(api, changed, "/no/such/file").status == 404
    r = archive_get(api, changed, "relative")
    assert r.status == 400 and "path" in r.message
    r = api.get(f"/containers/{changed}/archive")
    assert r.status == 400 and "path" in r.message
    assert archive_get(api, "nosuchcontainer", "/etc").status == 404


def test_head_stat(api, changed):
    r = api.request("HEAD", f"/containers/{changed}/archive", params={"path": "/made"})
    assert r.status == 200
    st = json.loads(base64.b64decode(r.headers["X-Docker-Container-Path-Stat"]))
    assert st["name"] == "made"
    assert st["mode"] & (1 << 31), "a directory carries Go's ModeDir bit"
    assert st["mode"] & 0o777 == 0o755
    r = api.request("HEAD", f"/containers/{changed}/archive", params={"path": "/abslink"})
    st = json.loads(base64.b64decode(r.headers["X-Docker-Container-Path-Stat"]))
    assert st["mode"] & (1 << 27) and st["linkTarget"] == f"{SECRET_DIR}/victim"
    r = api.request("HEAD", f"/containers/{changed}/archive", params={"path": "/nope"})
    assert r.status == 404


# --------------------------------------------------------------------------
# copy in


def test_put_into_stopped_container(api, daemon, image):
    cid = make(api, image, "true")
    data = tar_bytes(entry("hello.txt", data=b"hello\n"), entry("dir", kind="dir"),
                     entry("dir/inner", data=b"upper inner\n", mode=0o600, uid=7, gid=8))
    r = archive_put(api, cid, "/data", data)
    assert r.status == 200, r.body
    # a file of the layers replaced: the upper hides it, the layer keeps it
    r = archive_put(api, cid, "/data/dir", tar_bytes(entry("inner", data=b"replaced\n")))
    assert r.status == 200, r.body
    up = upper_tree(daemon, cid)
    assert up["data/hello.txt"][2] == b"hello\n"
    assert up["data/dir/inner"][2] == b"replaced\n"
    m = tar_members(archive_get(api, cid, "/data").body)
    assert m["data/dir/inner"][1] == b"replaced\n" and m["data/hello.txt"][1] == b"hello\n"
    assert m["data/keep"][1] == b"keep\n"
    ch = {(c["Path"], c["Kind"]) for c in api.get(f"/containers/{cid}/changes").json}
    assert ("/data/hello.txt", 1) in ch and ("/data/dir/inner", 0) in ch
    # the container itself sees it
    api.start(cid)
    api.wait(cid)
    cid2, code, (out, _) = run_body(api, {"image": image, "process": {
        "args": ["cat", "/data/dir/inner"]}})
    assert out == "lower inner\n", "another container of the image must see the layer"


def test_put_into_running_container(api, image):
    r = api.create_raw({"image": image, "process": {"args": [
        "sh", "-c", "while [ ! -f /data/ready ]; do sleep 0.05; done; cat /data/ready"]}})
    cid = r.json["id"]
    api.start(cid)
    r = archive_put(api, cid, "/data", tar_bytes(entry("ready", data=b"from outside\n")))
    assert r.status == 200, r.body
    assert api.wait(cid)["exit_code"] == 0
    assert api.output(cid)[0] == "from outside\n"


def test_put_follows_symlinks_inside_the_root(api, image, host_secret):
    cid = make(api, image, "true")
    r = archive_put(api, cid, "/uplink", tar_bytes(entry("dropped", data=b"in\n")))
    assert r.status == 200, r.body
    assert not (SECRET_DIR / "dropped").exists(), "a copy went to the host"
    m = tar_members(archive_get(api, cid, f"/tmp/pl-secret-{TOKEN}/dropped").body)
    assert m["dropped"][1] == b"in\n"


def test_put_errors(api, image):
    cid = make(api, image, "true")
    r = archive_put(api, cid, "/etc/victim", tar_bytes(entry("x")))
    assert r.status == 400 and "not a directory" in r.message
    assert archive_put(api, cid, "/nope", tar_bytes(entry("x"))).status == 404
    r = archive_put(api, cid, "rel", tar_bytes(entry("x")))
    assert r.status == 400 and "path" in r.message
    r = api.request("PUT", f"/containers/{cid}/archive", params={"path": "/"})
    assert r.status == 400


UP = "../" * 24


HOSTILE = {
    "dotdot": lambda esc: [entry(f"{UP}{esc[0].relative_to('/')}", data=b"x")],
    "symlink-then-write": lambda esc: [entry("lnk", kind="symlink", link=str(esc[1])),
                                       entry("lnk/planted", data=b"x")],
    "relative-symlink-then-write": lambda esc: [
        entry("rl", kind="symlink", link=f"{UP}{str(esc[1]).lstrip('/')}"),
        entry("rl/planted", data=b"x")],
    "through-existing-symlink": lambda esc: [entry("uplink/planted", data=b"x")],
    "device": lambda esc: [entry("dev-null", kind="chr", devmajor=1, devminor=3)],
    "hardlink-outside": lambda esc: [entry("hl", kind="hardlink", link=f"{UP}etc/passwd")],
    "hardlink-unseen": lambda esc: [entry("hl", kind="hardlink", link="not-there")],
    "duplicate": lambda esc: [entry("dup", data=b"1"), entry("dup", data=b"2")],
    "replace-dir": lambda esc: [entry("dir", data=b"file over a directory")],
}
NAMES = {"dotdot": "..", "symlink-then-write": "lnk/planted",
         "relative-symlink-then-write": "rl/planted", "through-existing-symlink": "uplink/planted",
         "device": "dev-null", "hardlink-outside": "hl", "hardlink-unseen": "hl",
         "duplicate": "dup", "replace-dir": "dir"}


@pytest.mark.parametrize("running", [False, True], ids=["stopped", "running"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_tar_into_container_refused(api, daemon, image, escape, case, running):
    if running:
        r = api.create_raw({"image": image, "process": {"args": ["sleep", "60"]}})
        cid = r.json["id"]
        api.start(cid)
        path = "/data" if case != "through-existing-symlink" else "/"
    else:
        cid = make(api, image, "true")
        path = "/data" if case != "through-existing-symlink" else "/"
    before = upper_tree(daemon, cid)
    # a good entry first: refused archives must not leave it behind either
    data = tar_bytes(entry("good-first", data=b"good"), *HOSTILE[case](escape))
    if case == "replace-dir":
        data = tar_bytes(entry("good-first", data=b"good"), *HOSTILE[case](escape))
    r = archive_put(api, cid, path if case != "replace-dir" else "/data", data)
    try:
        assert r.status == 400, f"{case}: {r.status} {r.body!r}"
        assert NAMES[case] in r.message, r.message
        assert upper_tree(daemon, cid) == before, "the container changed after a refusal"
        target, hostdir = escape
        assert not os.path.lexists(target)
        assert sorted(os.listdir(hostdir)) == ["victim"]
    finally:
        if running:
            api.kill(cid)
            api.wait(cid)


# --------------------------------------------------------------------------
# commit


def test_commit_then_run_sees_the_changes(api, changed):
    r = api.post("/commit", params={"container": changed, "repo": f"committed-{TOKEN}",
                                    "tag": "v1"}, body={"comment": "test commit"})
    assert r.status == 201, r.body
    assert f"committed-{TOKEN}:v1" in r.json["tags"]
    img = api.get(f"/images/committed-{TOKEN}:v1").json
    assert img["config"]["history"][-1]["comment"] == "test commit"
    cid, code, (out, err) = run_body(api, {"image": f"committed-{TOKEN}:v1", "process": {"args": [
        "sh", "-c", "cat /new.txt /etc/victim /made/sub/f; ls /opq; "
        "test -e /data/keep && echo KEEP; cat /data/dir/inner"]}})
    assert code == 0, err
    assert out == "new\nchanged\nf\nc\nlower inner\n"


def test_commit_with_changes_sets_the_config(api, image):
    cid = make(api, image, "echo from-commit > /marker")
    r = api.post("/commit", params={"container": cid, "repo": f"withcfg-{TOKEN}"},
                 body={"changes": {"Cmd": ["sh", "-c", "cat /marker; echo $ADDED"],
                                   "Env": ["ADDED=yes", "PATH=/bin:/usr/bin"],
                                   "Labels": {"k": "v"}}})
    assert r.status == 201, r.body
    img = api.get(f"/images/withcfg-{TOKEN}").json
    assert img["config"]["config"]["Labels"]["k"] == "v"
    r = api.post("/commit", params={"container": cid, "repo": f"withq-{TOKEN}",
                                    "comment": "from the query", "author": "someone"})
    img = api.get(f"/images/withq-{TOKEN}").json
    assert img["config"]["author"] == "someone"
    assert img["config"]["history"][-1]["comment"] == "from the query"
    cid2, code, (out, _) = run_body(api, {"image": f"withcfg-{TOKEN}"})
    assert (code, out) == (0, "from-commit\nyes\n")


def test_commit_of_a_rootfs_container(api, rootfs):
    cid = api.create(rootfs, ["sh", "-c", "echo rootfs-made > /made-here"])
    api.start(cid)
    assert api.wait(cid)["exit_code"] == 0
    r = api.post("/commit", params={"container": cid, "repo": f"fromdir-{TOKEN}"})
    assert r.status == 201, r.body
    img = api.get(f"/images/fromdir-{TOKEN}").json
    assert len(img["layers"]) == 2, "the rootfs is the base layer, the changes the second"
    cid2, code, (out, _) = run_body(api, {"image": f"fromdir-{TOKEN}", "process": {"args": [
        "cat", "/made-here"]}})
    assert (code, out) == (0, "rootfs-made\n")


@pytest.mark.parametrize("params,body,status,word", [
    ({}, None, 400, "container"),
    ({"container": "nosuchcontainer"}, None, 404, "nosuchcontainer"),
    ({"tag": "x"}, None, 400, "tag"),
    ({"repo": "Bad Name!"}, None, 400, "Bad Name!"),
    ({}, {"changes": {"Bogus": 1}}, 400, "Bogus"),
    ({}, {"changes": {"Cmd": "not-a-list"}}, 400, "Cmd"),
    ({}, {"unknown": 1}, 400, "unknown"),
])
def test_commit_errors(api, changed, params, body, status, word):
    p = dict(params)
    if "container" not in p and (p or body):
        p["container"] = changed
    before = api.get("/images").json
    r = api.post("/commit", params=p, body=body)
    assert r.status == status, r.body
    assert word in r.message, r.message
    assert api.get("/images").json == before


# --------------------------------------------------------------------------
# plctl


def test_plctl_diff_and_export(plctl, changed, tmp_path):
    p = plctl("diff", changed, check=0)
    lines = set(p.stdout.splitlines())
    assert {"A /new.txt", "C /etc/victim", "D /data/keep", "A /made/sub/f"} <= lines, p.stdout
    out = tmp_path / "export.tar"
    plctl("export", "-o", out, changed, check=0)
    m = tar_members(out.read_bytes())
    assert m["new.txt"][1] == b"new\n" and "data/keep" not in m
    assert plctl("diff", "nosuchcontainer").returncode == 1


def test_plctl_cp_out_and_in(plctl, api, image, changed, tmp_path):
    # out: a file under a new name, a directory into an existing directory
    plctl("cp", f"{changed}:/etc/victim", tmp_path / "v.txt", check=0)
    assert (tmp_path / "v.txt").read_text() == "changed\n"
    (tmp_path / "into").mkdir()
    plctl("cp", f"{changed}:/made", tmp_path / "into", check=0)
    assert (tmp_path / "into/made/sub/f").read_text() == "f\n"
    # a symlink out of the root comes out as the link, not the host's file
    plctl("cp", f"{changed}:/abslink", tmp_path / "link", check=0)
    assert os.readlink(tmp_path / "link") == f"{SECRET_DIR}/victim"
    # in: a file into a directory, a tree under a new name, a file replacing a file
    cid = make(api, image, "true")
    (tmp_path / "hello.txt").write_text("hi\n")
    (tmp_path / "tree/sub").mkdir(parents=True)
    (tmp_path / "tree/sub/x").write_text("x\n")
    plctl("cp", tmp_path / "hello.txt", f"{cid}:/data", check=0)
    plctl("cp", tmp_path / "tree", f"{cid}:/data/renamed", check=0)
    plctl("cp", tmp_path / "hello.txt", f"{cid}:/etc/victim", check=0)
    m = tar_members(archive_get(api, cid, "/data").body)
    assert m["data/hello.txt"][1] == b"hi\n"
    assert m["data/renamed/sub/x"][1] == b"x\n"
    assert tar_members(archive_get(api, cid, "/etc/victim").body)["victim"][1] == b"hi\n"
    p = plctl("cp", tmp_path / "hello.txt", tmp_path / "other")
    assert p.returncode == 2 and "CONTAINER:PATH" in p.stderr


def test_plctl_commit(plctl, api, image):
    cid = make(api, image, "echo committed-by-plctl > /m")
    p = plctl("commit", "-m", "via plctl", "-c", 'Cmd=["cat","/m"]', cid,
              f"plctl-commit-{TOKEN}:v2", check=0)
    assert p.stdout.startswith("sha256:")
    cid2, code, (out, _) = run_body(api, {"image": f"plctl-commit-{TOKEN}:v2"})
    assert (code, out) == (0, "committed-by-plctl\n")
    p = plctl("commit", "-c", "Bogus=1", cid)
    assert p.returncode == 1 and "Bogus" in p.stderr


def test_rootfs_container_changes_and_copies(api, rootfs, tmp_path):
    """A container on a rootfs directory (one lower): changes, copy in and out, export."""
    cid = api.create(rootfs, ["sh", "-c", "echo hi > /tmp/made; rm /etc/hostname"])
    api.start(cid)
    assert api.wait(cid)["exit_code"] == 0
    ch = {(c["Path"], c["Kind"]) for c in api.get(f"/containers/{cid}/changes").json}
    assert {("/tmp", 0), ("/tmp/made", 1), ("/etc", 0), ("/etc/hostname", 2)} <= ch, ch
    r = archive_put(api, cid, "/tmp", tar_bytes(entry("in.txt", data=b"in\n")))
    assert r.status == 200, r.body
    m = tar_members(archive_get(api, cid, "/tmp").body)
    assert m["tmp/in.txt"][1] == b"in\n" and m["tmp/made"][1] == b"hi\n"
    assert not os.path.exists(os.path.join(rootfs, "tmp/in.txt")), "the rootfs changed"
    m = tar_members(api.get(f"/containers/{cid}/export").body)
    assert "etc/hostname" not in m and m["tmp/in.txt"][1] == b"in\n"


def test_archive_events(api, daemon, image):
    import time
    from pl_extra import read_events
    cid = make(api, image, "true")
    since = time.time()
    assert archive_get(api, cid, "/etc/victim").status == 200
    assert archive_put(api, cid, "/data", tar_bytes(entry("ev", data=b"e"))).status == 200
    assert api.get(f"/containers/{cid}/export").status == 200
    r = api.post("/commit", params={"container": cid, "repo": f"events-{TOKEN}"})
    assert r.status == 201
    status, evs = read_events(daemon.socket, since=f"{since:.6f}", until=f"{time.time():.6f}")
    got = [(e["type"], e["action"]) for e in evs if e.get("id") in (cid, r.json["id"])]
    assert got == [("container", "archive-path"), ("container", "extract-to-dir"),
                   ("container", "export"), ("image", "commit")], evs


def test_copies_reach_volumes_and_binds(api, daemon, rootfs, tmp_path):
    """Stopped or running, a copy into a volume's path lands in the volume (not in the
    writable layer), reads come from it, and a read-only bind refuses writes."""
    from test_volumes import bind, run_with, vol
    name = f"archvol-{TOKEN}"
    hostdir = tmp_path / "bound"
    hostdir.mkdir()
    (hostdir / "host.txt").write_text("bound\n")
    cid, code, _, err = run_with(api, rootfs, ["sh", "-c", "echo a > /vol/a"],
                                 [vol(name, "/vol"), bind(hostdir, "/ro", readonly=True)])
    assert code == 0, err
    r = archive_put(api, cid, "/vol", tar_bytes(entry("b", data=b"b\n")))
    assert r.status == 200, r.body
    data = daemon.root / "volumes" / name / "_data"
    assert (data / "b").read_text() == "b\n"
    assert not (daemon.root / "containers" / cid / "upper/vol/b").exists()
    m = tar_members(archive_get(api, cid, "/vol").body)
    assert m["vol/a"][1] == b"a\n" and m["vol/b"][1] == b"b\n"
    assert tar_members(archive_get(api, cid, "/ro/host.txt").body)["host.txt"][1] == b"bound\n"
    r = archive_put(api, cid, "/ro", tar_bytes(entry("nope", data=b"x")))
    assert r.status == 400 and "nope" in r.message, r.body
    assert sorted(os.listdir(hostdir)) == ["host.txt"]
    # export leaves volumes out, as Docker's does
    assert "vol/a" not in tar_members(api.get(f"/containers/{cid}/export").body)


def test_copy_in_racing_the_container_is_never_a_500(api, image):
    # issue 13 bug 9: a process swapping a directory with a symlink while PUT /archive
    # writes into it made 4 in 10 copies fail with 500 ("chown/create: No such file")
    body = {"image": image, "process": {"args": ["sh", "-c",
            "mkdir -p /race/d; while :; do mv /race/d /race/x; ln -s /nowhere /race/d; "
            "rm /race/d; mv /race/x /race/d; done"]}}
    r = api.create_raw(body)
    assert r.status == 201, r
    cid = r.json["id"]
    api.start(cid)
    data = tar_bytes(*[entry(f"d/sub{i}", kind="dir") for i in range(8)],
                     *[entry(f"d/sub{i}/f{k}", data=b"x" * 64) for i in range(8)
                       for k in range(4)])
    try:
        statuses = [archive_put(api, cid, "/race", data).status for _ in range(60)]
    finally:
        api.remove(cid, force=True)
    assert all(s < 500 for s in statuses), statuses
