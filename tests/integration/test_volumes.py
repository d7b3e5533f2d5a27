# SPDX-License-Identifier: Apache-2.0
"""Named volumes and bind mounts: the volume API, data lifetime, seeding from the rootfs,
read-only mounts, bind sources and hostile bind targets."""

import os
import subprocess

import pytest


def mount_body(rootfs, args, mounts, name=None):
    from conftest import Api

    body = Api.create_body(rootfs, args, name=name)
    body["mounts"] = mounts
    return body


def run_with(api, rootfs, args, mounts):
    """create + start + wait + output with mounts; returns (cid, exit code, stdout, stderr)."""
    r = api.create_raw(mount_body(rootfs, args, mounts))
    assert r.status == 201, f"create: {r.status} {r.body!r}"
    cid = r.json["id"]
    api.start(cid)
    w = api.wait(cid)
    out, err = api.output(cid)
    return cid, w.get("exit_code"), out, err


def vol(name, target, readonly=False):
    m = {"type": "volume", "target": target}
    if name is not None:
        m["source"] = name
    if readonly:
        m["readonly"] = True
    return m


def bind(source, target, readonly=False):
    m = {"type": "bind", "source": str(source), "target": target}
    if readonly:
        m["readonly"] = True
    return m


def volume_names(api):
    r = api.get("/volumes")
    assert r.status == 200, r
    return {v["name"] for v in r.json}


@pytest.fixture(scope="module")
def seeded_rootfs(rootfs, tmp_path_factory):
    """A private copy of the session rootfs with /etc/seeded/file and /evil -> /tmp."""
    d = tmp_path_factory.mktemp("volroot") / "rootfs"
    subprocess.run(["cp", "-a", rootfs, str(d)], check=True)
    os.makedirs(d / "etc" / "seeded")
    (d / "etc" / "seeded" / "file").write_text("from-rootfs\n")
    os.symlink("/tmp", d / "evil")
    return str(d)


# --------------------------------------------------------------------------
# the volume API


def test_volume_create_list_inspect_remove(api, daemon, uniq):
    name = f"v-{uniq}"
    r = api.post("/volumes", {"name": name, "labels": {"a": "b"}})
    assert r.status == 201, r
    v = r.json
    assert v["name"] == name and v["driver"] == "local"
    assert v["labels"] == {"a": "b"}
    assert v["created"]
    assert v["mountpoint"] == str(daemon.root / "volumes" / name / "_data")
    assert os.path.isdir(v["mountpoint"])
    assert name in volume_names(api)
    r = api.get(f"/volumes/{name}")
    assert r.status == 200 and r.json["name"] == name and r.json["labels"] == {"a": "b"}, r
    assert api.post("/volumes", {"name": name}).status == 409
    assert api.delete(f"/volumes/{name}").status == 204
    assert api.get(f"/volumes/{name}").status == 404
    assert api.delete(f"/volumes/{name}").status == 404
    assert name not in volume_names(api)
    assert not os.path.exists(daemon.root / "volumes" / name)


def test_volume_create_without_name_and_bad_names(api):
    r = api.post("/volumes", {})
    assert r.status == 201, r
    name = r.json["name"]
    assert name and api.get(f"/volumes/{name}").status == 200
    assert api.delete(f"/volumes/{name}").status == 204
    for bad in ["../x", "a/b", ".", "..", "-lead", "x" * 300, "sp ace"]:
        r = api.post("/volumes", {"name": bad})
        assert r.status == 400, (bad, r)
    assert api.post("/volumes", {"driver": "nfs"}).status in (400, 501)


def test_volume_list_twice(api, uniq):
    name = f"v-{uniq}"
    assert api.post("/volumes", {"name": name}).status == 201
    try:
        assert name in volume_names(api)
        assert name in volume_names(api)
    finally:
        api.delete(f"/volumes/{name}")


def test_volume_remove_in_use_and_force(api, rootfs, uniq):
    name = f"v-{uniq}"
    r = api.create_raw(mount_body(rootfs, ["sleep", "100"], [vol(name, "/data")]))
    assert r.status == 201, r
    cid = r.json["id"]
    assert api.get(f"/volumes/{name}").status == 200, "named volume not created at create"
    # a created (not running) user: plain remove refuses, force is allowed later
    assert api.delete(f"/volumes/{name}").status == 409
    api.start(cid)
    api.wait_status(cid, "running")
    assert api.delete(f"/volumes/{name}").status == 409
    assert api.delete(f"/volumes/{name}", params={"force": 1}).status == 409
    api.kill(cid, "KILL")
    api.wait(cid)
    assert api.delete(f"/volumes/{name}").status == 409
    assert api.delete(f"/volumes/{name}", params={"force": 1}).status == 204
    assert api.get(f"/volumes/{name}").status == 404
    assert api.remove(cid, force=True).status == 204


# --------------------------------------------------------------------------
# data


@pytest.mark.mechanisms
def test_volume_data_survives_container_removal(api, daemon, rootfs, uniq):
    name = f"v-{uniq}"
    cid, code, out, err = run_with(api, rootfs, ["sh", "-c", "echo kept > /data/f"],
                                   [vol(name, "/data")])
    assert code == 0, err
    assert api.remove(cid).status == 204
    assert (daemon.root / "volumes" / name / "_data" / "f").read_text() == "kept\n"
    cid2, code, out, err = run_with(api, rootfs, ["cat", "/data/f"], [vol(name, "/data")])
    assert (code, out) == (0, "kept\n"), err
    assert api.remove(cid2).status == 204
    assert api.delete(f"/volumes/{name}").status == 204


def test_fresh_volume_seeded_from_rootfs_and_not_overwritten(api, daemon, seeded_rootfs, uniq):
    name = f"v-{uniq}"
    cid, code, out, err = run_with(
        api, seeded_rootfs, ["sh", "-c", "cat /etc/seeded/file; echo changed > /etc/seeded/file"],
        [vol(name, "/etc/seeded")])
    assert (code, out) == (0, "from-rootfs\n"), err
    data = daemon.root / "volumes" / name / "_data"
    assert (data / "file").read_text() == "changed\n"
    # the rootfs copy is untouched: the write went to the volume
    assert open(os.path.join(seeded_rootfs, "etc/seeded/file")).read() == "from-rootfs\n"
    # a second start of the same container and a new container: no re-seeding
    api.start(cid)
    api.wait(cid)
    assert (data / "file").read_text() == "changed\n"
    cid2, code, out, err = run_with(api, seeded_rootfs, ["cat", "/etc/seeded/file"],
                                    [vol(name, "/etc/seeded")])
    assert (code, out) == (0, "changed\n"), err
    for c in (cid, cid2):
        assert api.remove(c).status == 204
    assert api.delete(f"/volumes/{name}").status == 204


def test_existing_volume_with_data_not_seeded(api, daemon, seeded_rootfs, uniq):
    name = f"v-{uniq}"
    r = api.post("/volumes", {"name": name})
    assert r.status == 201, r
    with open(os.path.join(r.json["mountpoint"], "file"), "w") as f:
        f.write("mine\n")
    try:
        cid, code, out, err = run_with(api, seeded_rootfs, ["sh", "-c", "ls /etc/seeded; "
                                                            "cat /etc/seeded/file"],
                                       [vol(name, "/etc/seeded")])
        assert api.remove(cid).status == 204
        assert (code, out) == (0, "file\nmine\n"), err
    finally:
        api.delete(f"/volumes/{name}")


def test_readonly_volume(api, rootfs, uniq):
    name = f"v-{uniq}"
    cid, code, out, err = run_with(api, rootfs, ["sh", "-c", "echo x > /data/f"],
                                   [vol(name, "/data", readonly=True)])
    assert code != 0
    assert "Read-only" in err or "read-only" in err.lower(), err
    assert api.remove(cid).status == 204
    assert api.delete(f"/volumes/{name}").status == 204


def test_anonymous_volume_gets_a_generated_name(api, rootfs):
    r = api.create_raw(mount_body(rootfs, ["true"], [vol(None, "/data")]))
    assert r.status == 201, r
    cid = r.json["id"]
    mounts = api.inspect(cid)["config"]["mounts"]
    assert len(mounts) == 1 and mounts[0]["type"] == "volume", mounts
    name = mounts[0].get("source")
    assert name, mounts
    assert api.get(f"/volumes/{name}").status == 200
    assert api.remove(cid).status == 204


# --------------------------------------------------------------------------
# bind mounts


@pytest.mark.mechanisms
def test_bind_mount_directory(api, rootfs, tmp_path):
    (tmp_path / "in").write_text("from-host\n")
    cid, code, out, err = run_with(api, rootfs,
                                   ["sh", "-c", "cat /mnt/b/in; echo back > /mnt/b/out"],
                                   [bind(tmp_path, "/mnt/b")])
    assert (code, out) == (0, "from-host\n"), err
    assert (tmp_path / "out").read_text() == "back\n"
    assert api.remove(cid).status == 204


def test_readonly_bind(api, rootfs, tmp_path):
    (tmp_path / "in").write_text("ro\n")
    cid, code, out, err = run_with(api, rootfs,
                                   ["sh", "-c", "cat /mnt/b/in; echo x > /mnt/b/out"],
                                   [bind(tmp_path, "/mnt/b", readonly=True)])
    assert code != 0 and out == "ro\n", (code, out, err)
    assert not (tmp_path / "out").exists()
    assert api.remove(cid).status == 204


def test_bind_single_file(api, rootfs, tmp_path):
    f = tmp_path / "one"
    f.write_text("single\n")
    cid, code, out, err = run_with(api, rootfs,
                                   ["sh", "-c", "cat /etc/one.conf; echo more >> /etc/one.conf"],
                                   [bind(f, "/etc/one.conf")])
    assert (code, out) == (0, "single\n"), err
    assert f.read_text() == "single\nmore\n"
    assert api.remove(cid).status == 204


def test_bind_validation(api, rootfs, tmp_path):
    def create(mounts):
        return api.create_raw(mount_body(rootfs, ["true"], mounts))

    assert create([bind(tmp_path / "missing", "/x")]).status == 400
    assert create([bind("relative/path", "/x")]).status == 400
    for target in ["relative", "/a/../b", "/a/./b", "", "/", "/a:b"]:
        r = create([bind(tmp_path, target)])
        assert r.status == 400, (target, r)
    assert create([bind(tmp_path, "/x"), bind(tmp_path, "/x")]).status == 400
    assert create([bind(tmp_path, "/x"), vol(None, "/x")]).status == 400
    assert create([{**bind(tmp_path, "/x"), "propagation": "bogus"}]).status == 400
    assert create([{"type": "tmpfs", "target": "/x"}]).status == 400


def test_unclean_targets_refused(api, rootfs, tmp_path):
    for mounts in ([bind(tmp_path, "/a//b")], [bind(tmp_path, "/a/")],
                   [bind(tmp_path, "/x"), bind(tmp_path, "/x/")]):
        r = api.create_raw(mount_body(rootfs, ["true"], mounts))
        assert r.status == 400, (mounts, r)


def test_bind_target_through_rootfs_symlink(api, seeded_rootfs, tmp_path):
    """/evil -> /tmp in the rootfs: the mount must not land on the host's /tmp."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "marker").write_text("m\n")
    with open("/proc/self/mountinfo") as f:
        before = f.read()
    for target in ["/evil", "/evil/pl-escape"]:
        r = api.create_raw(mount_body(seeded_rootfs, ["sh", "-c", "ls /evil /evil/pl-escape; "
                                                      "echo w > /evil/pl-written"],
                                      [bind(src, target)]))
        if r.status == 400:
            continue
        assert r.status == 201, r
        cid = r.json["id"]
        s = api.post(f"/containers/{cid}/start")
        if s.status == 204:
            api.wait(cid)
        with open("/proc/self/mountinfo") as f:
            during = f.read()
        new = [ln for ln in during.splitlines() if ln not in before.splitlines()]
        assert not [ln for ln in new if ln.split()[4] == "/tmp"
                    or ln.split()[4].startswith("/tmp/pl-escape")], new
        assert api.remove(cid, force=True).status == 204
    assert not os.path.exists("/tmp/pl-escape")
    assert not os.path.exists("/tmp/pl-written")
    with open("/proc/self/mountinfo") as f:
        after = f.read()
    assert [ln.split()[4] for ln in after.splitlines()].count("/tmp") == \
        [ln.split()[4] for ln in before.splitlines()].count("/tmp")


def test_kernel_filesystem_targets_refused(api, rootfs, tmp_path, uniq):
    # issue 13 bug 4: a volume at /sys was "populated" from the live sysfs (thousands of
    # files copied as host root) before the start failed with a 500
    name = f"v-{uniq}"
    r = api.post("/volumes", {"name": name})
    assert r.status == 201, r
    mountpoint = r.json["mountpoint"]
    for target in ["/proc", "/proc/sys", "/proc/1/root", "/sys", "/sys/kernel", "/dev"]:
        for m in (vol(name, target), bind(tmp_path, target)):
            r = api.create_raw(mount_body(rootfs, ["true"], [m]))
            assert r.status == 400, (target, m["type"], r.status, r.body)
            assert target in r.message
    assert os.listdir(mountpoint) == [], "a refused volume was written to"
    # below /dev a bind (e.g. a log socket) is still fine
    (tmp_path / "log").write_text("x")
    cid, code, out, _ = run_with(api, rootfs, ["cat", "/dev/mylog"],
                                 [bind(tmp_path / "log", "/dev/mylog")])
    assert (code, out) == (0, "x")
    api.remove(cid, force=True)
    assert api.delete(f"/volumes/{name}").status == 204
