# SPDX-License-Identifier: Apache-2.0
"""Commit + push + pull round trip: a container's changes committed into an image, pushed
(POST /images/{name}/push) to a real distribution registry (Debian's docker-registry on
loopback, inside the daemon's network namespace), and pulled by a second daemon sharing
that namespace, where the image runs with the same content. Layers committed here are
written again byte for byte, so an image made entirely by commits keeps its id across the
trip; blobs the registry has are not uploaded twice."""

import shutil
import subprocess
import tempfile
import uuid

import pytest

import conftest
from conftest import finish_daemon, run_body
from test_pull import Registry, in_ns
from test_storage import base_layer, imported, oci_layout_tar  # noqa: F401 (fixture)

TOKEN = uuid.uuid4().hex[:10]


class SharedNetDaemon(conftest.Daemon):
    """A second portlayerd in the first one's network namespace (so both reach the
    registry on its loopback)."""

    def __init__(self, tmpdir, first):
        super().__init__(tmpdir)
        self.first = first

    def start(self):
        orig = subprocess.Popen

        def popen(cmd, *a, **kw):
            if cmd[:3] == ["unshare", "--net", "--"]:
                cmd = ["nsenter", "-t", str(self.first.pid), "-n", "--", *cmd[3:]]
            return orig(cmd, *a, **kw)

        subprocess.Popen = popen
        try:
            return super().start()
        finally:
            subprocess.Popen = orig


@pytest.fixture(scope="module")
def registry(daemon, tmp_path_factory):
    for tool in ("docker-registry", "nsenter"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed")
    in_ns(daemon, "ip", "link", "set", "lo", "up")
    work = tmp_path_factory.mktemp("push")
    reg = Registry(daemon, work, work / "storage")
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def second(daemon, registry):
    d = SharedNetDaemon(tempfile.mkdtemp(prefix="pl-it-"), daemon).start()
    yield d
    problems = finish_daemon(d)
    assert not problems, problems


def commit(api, cid, repo, tag, body=None):
    r = api.post("/commit", params={"container": cid, "repo": repo, "tag": tag}, body=body)
    assert r.status == 201, r.body
    return r.json["id"]


def push(api, name, tag=None, **params):
    q = {"insecure": 1, **params}
    if tag:
        q["tag"] = tag
    return api.post(f"/images/{name}/push", params=q, timeout=120)


def pull(api, ref):
    return api.post("/images/pull", params={"ref": ref, "insecure": 1}, timeout=120)


SCRIPT = "echo pushed > /pushed.txt && rm /etc/victim && mkdir -p /deep/er && echo d > /deep/er/f"


def test_commit_push_pull_round_trip(api, daemon, second, registry, base_layer):
    own = oci_layout_tar([base_layer], {"Cmd": ["true"]}, ref=f"pushbase-{TOKEN}:t")
    imported(api, own)
    cid, code, _ = run_body(api, {"image": f"pushbase-{TOKEN}:t", "process": {"args": [
        "sh", "-c", "echo victim > /etc/victim"]}})
    assert code == 0
    mid = commit(api, cid, f"pushmid-{TOKEN}", "t")
    cid, code, _ = run_body(api, {"image": f"pushmid-{TOKEN}:t", "process": {"args": [
        "sh", "-c", SCRIPT]}})
    assert code == 0
    name = f"{registry.host}/round-{TOKEN}"
    img_id = commit(api, cid, name, "v1", body={"changes": {"Cmd": [
        "sh", "-c", "cat /pushed.txt /deep/er/f; test -e /etc/victim || echo gone"]}})
    r = push(api, name, "v1")
    assert r.status == 200, r.body
    res = r.json
    assert res["image"] == img_id
    assert res["uploaded"] == 4 and res["skipped"] == 0, res
    assert res["rewritten"], "the python-made base layer does not come out byte for byte"
    assert f"/v2/round-{TOKEN}/manifests/v1" in registry.log()
    # pushing again sends nothing but the manifest
    r = push(api, name, "v1")
    assert r.status == 200 and r.json["uploaded"] == 0 and r.json["skipped"] == 4, r.json

    r = pull(second.api, f"{name}:v1")
    assert r.status == 201, r.body
    cid2, code, (out, _) = run_body(second.api, {"image": f"{name}:v1"})
    assert (code, out) == (0, "pushed\nd\ngone\n")
    mine = api.get(f"/images/{name}:v1").json
    theirs = second.api.get(f"/images/{name}:v1").json
    # the layers committed here travelled byte for byte: the same diff ids
    assert mine["layers"][1:] == theirs["layers"][1:]
    assert theirs["config"]["config"]["Cmd"][0] == "sh"


def test_image_made_by_commits_keeps_its_id(api, second, registry, rootfs):
    cid = api.create(rootfs, ["sh", "-c", "echo from-rootfs > /r.txt"])
    api.start(cid)
    assert api.wait(cid)["exit_code"] == 0
    name = f"{registry.host}/fromdir-{TOKEN}"
    img_id = commit(api, cid, name, "v1", body={"changes": {"Cmd": ["cat", "/r.txt"]}})
    r = push(api, name, "v1")
    assert r.status == 200, r.body
    assert not r.json["rewritten"], r.json
    r = pull(second.api, f"{name}:v1")
    assert r.status == 201, r.body
    assert r.json["images"][0]["id"] == img_id, "the same config bytes: the same image id"
    _, code, (out, _) = run_body(second.api, {"image": f"{name}:v1"})
    assert (code, out) == (0, "from-rootfs\n")


def test_push_errors(api, registry, rootfs):
    r = push(api, f"{registry.host}/nosuchimage-{TOKEN}", "v1")
    assert r.status == 404, r.body
    # a registry that is not there
    cid = api.create(rootfs, ["true"])
    name = "127.0.0.1:9/unreachable"
    commit(api, cid, name, "v1")
    r = push(api, name, "v1")
    assert r.status == 500 and "127.0.0.1:9" in r.message, r.body
    assert push(api, name, "Bad Tag!").status in (400, 404)


def test_plctl_commit_and_image_push(api, plctl, second, registry, rootfs):
    cid = api.create(rootfs, ["sh", "-c", "echo via-plctl > /p.txt"])
    api.start(cid)
    assert api.wait(cid)["exit_code"] == 0
    name = f"{registry.host}/plctl-{TOKEN}:v3"
    plctl("commit", "-c", 'Cmd=["cat","/p.txt"]', cid, name, check=0)
    p = plctl("image", "push", "--insecure", name, check=0)
    assert p.stdout.strip().startswith("sha256:")
    r = pull(second.api, name)
    assert r.status == 201, r.body
    _, code, (out, _) = run_body(second.api, {"image": name})
    assert (code, out) == (0, "via-plctl\n")
    p = plctl("image", "push", "--insecure", f"{registry.host}/nope-{TOKEN}:v3")
    assert p.returncode == 1 and "nope" in p.stderr


def test_push_with_basic_auth(api, daemon, registry, rootfs, tmp_path):
    from test_pull import bcrypt_htpasswd
    line = bcrypt_htpasswd("pusher", "s3cret")
    if not line:
        pytest.skip("no bcrypt htpasswd tooling (htpasswd or crypt)")
    pw = tmp_path / "htpasswd"
    pw.write_text(line + "\n")
    reg = Registry(daemon, tmp_path, tmp_path / "authed",
                   {"auth": {"htpasswd": {"realm": "pl-test", "path": str(pw)}}})
    try:
        cid = api.create(rootfs, ["true"])
        name = f"{reg.host}/authed-{TOKEN}"
        commit(api, cid, name, "v1")
        r = push(api, name, "v1")
        assert r.status == 400 and "credentials" in r.message, r.body
        r = api.post(f"/images/{name}/push", params={"tag": "v1", "insecure": 1},
                     body={"username": "pusher", "password": "wrong"}, timeout=120)
        assert r.status == 400 and "denied" in r.message, r.body
        r = api.post(f"/images/{name}/push", params={"tag": "v1", "insecure": 1},
                     body={"username": "pusher", "password": "s3cret"}, timeout=120)
        assert r.status == 200, r.body
        assert f"/v2/authed-{TOKEN}/manifests/v1" in reg.log()
        assert "s3cret" not in daemon.log_text()
    finally:
        reg.stop()
