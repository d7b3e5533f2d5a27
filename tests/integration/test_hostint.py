# SPDX-License-Identifier: Apache-2.0
"""Names inside a container (dns, dns_search, dns_options, extra_hosts, domainname, its own
name and aliases in /etc/hosts) and host integration (cgroup_parent, devices with their
cgroup rules, shm_size, group_add, the log file's host path)."""

import os
import shutil
import stat
import tempfile

import pytest

from conftest import cgroup_paths_of


def run(api, rootfs, script, **kw):
    b = api.create_body(rootfs, ["sh", "-c", script], name=kw.pop("name", None))
    b.update(kw)
    r = api.create_raw(b)
    assert r.status == 201, f"create: {r.status} {r.body!r}"
    cid = r.json["id"]
    api.start(cid)
    w = api.wait(cid)
    out, err = api.output(cid)
    return cid, w.get("exit_code"), out, err


def test_resolver_and_hosts(api, rootfs, uniq):
    cid, code, out, err = run(
        api, rootfs, "cat /etc/resolv.conf; echo ---; cat /etc/hosts; echo ---; "
                     "cat /proc/sys/kernel/domainname",
        name=f"n-{uniq}", hostname="web", domainname="example.test",
        networks=[{"scope": "bridge", "aliases": ["www-alias"]}],
        dns=["10.9.8.7", "fd00::53"], dns_search=["corp.test", "lab.test"],
        dns_options=["ndots:2", "timeout:1"],
        extra_hosts=["db.internal:10.1.2.3", "v6host:fd00::1"])
    assert code == 0, err
    resolv, hosts, domain = out.split("---\n")
    assert resolv.splitlines() == ["nameserver 10.9.8.7", "nameserver fd00::53",
                                   "search corp.test lab.test", "options ndots:2 timeout:1"]
    lines = [l.split() for l in hosts.splitlines()]
    assert ["10.1.2.3", "db.internal"] in lines
    assert ["fd00::1", "v6host"] in lines
    ip = api.inspect(cid)["network"]["endpoints"][0]["ip"]
    own = next(l for l in lines if l[0] == ip)
    for name in ("web", "web.example.test", f"n-{uniq}", "www-alias", cid[:12]):
        assert name in own, (name, own)
    assert domain.strip() == "example.test"
    cfg = api.inspect(cid)["config"]
    assert cfg["dns"] == ["10.9.8.7", "fd00::53"] and cfg["domainname"] == "example.test"


def test_names_without_a_network(api, rootfs):
    _, code, out, err = run(api, rootfs, "cat /etc/hosts /etc/resolv.conf", hostname="solo",
                            extra_hosts=["gw:192.0.2.1"], dns_search=["x.test"])
    assert code == 0, err
    assert "192.0.2.1\tgw" in out and "solo" in out and "search x.test" in out


def test_invalid_names(api, rootfs):
    for bad in ({"dns": ["not-an-ip"]}, {"dns": "1.1.1.1"}, {"dns_search": ["bad domain"]},
                {"dns_options": ["a b"]}, {"extra_hosts": ["noaddress"]},
                {"extra_hosts": ["h:300.1.1.1"]}, {"domainname": "-bad"},
                {"network_mode": "container:x", "dns": ["1.1.1.1"]},
                {"uts_mode": "host", "hostname": "h"}):
        b = api.create_body(rootfs, ["true"])
        b.update(bad)
        r = api.create_raw(b)
        assert r.status == 400, (bad, r.status, r.body)


def test_shm_size_and_group_add(api, rootfs):
    _, code, out, err = run(api, rootfs, "grep ' /dev/shm ' /proc/mounts; id -G",
                            shm_size=8 << 20, group_add=["1000", "nogroup", "4242"],
                            process={"args": ["sh", "-c",
                                              "grep ' /dev/shm ' /proc/mounts; id -G"],
                                     "user": "1000"})
    assert code == 0, err
    shm, groups = out.splitlines()
    assert "size=8192k" in shm
    assert set(groups.split()) >= {"1000", "65534", "4242"}
    # the default is 64 MiB
    _, code, out, err = run(api, rootfs, "grep ' /dev/shm ' /proc/mounts")
    assert "size=65536k" in out
    b = api.create_body(rootfs, ["id", "-G"])
    b["group_add"] = ["no-such-group"]
    r = api.create_raw(b)
    assert r.status == 201
    r = api.post(f"/containers/{r.json['id']}/start")
    assert r.status == 400 and "no-such-group" in r.message, r.body


@pytest.fixture
def chardev():
    """A character device node with numbers no driver has here (242:7): opening it with the
    cgroup's permission gives ENXIO, without it EPERM."""
    d = tempfile.mkdtemp(prefix="pl-dev-")
    path = os.path.join(d, "pltest")
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(242, 7))
    yield path
    shutil.rmtree(d, ignore_errors=True)


def v1_devices():
    return os.path.isdir("/sys/fs/cgroup/devices")


def test_device_passthrough_and_permissions(api, rootfs, chardev):
    if not v1_devices():
        pytest.skip("device rules are written to the v1 devices controller only")
    script = ("ls -l /dev/pltest /dev/mynull; echo x > /dev/mynull && echo null-ok; "
              "cat /dev/pltest; echo > /dev/pltest")
    cid, code, out, err = run(api, rootfs, script, devices=[
        {"path_on_host": chardev, "path_in_container": "/dev/pltest", "permissions": "r"},
        {"path_on_host": "/dev/null", "path_in_container": "/dev/mynull"}])
    assert "null-ok" in out, (out, err)
    assert "242,   7" in out or "242, 7" in out, out
    # read allowed by the cgroup (the driver is absent), write refused by the cgroup
    assert "No such device or address" in err, err
    assert "Operation not permitted" in err, err
    # with "rw": both reach the (absent) driver
    cid, code, out, err = run(api, rootfs, "cat /dev/pltest; echo > /dev/pltest", devices=[
        {"path_on_host": chardev, "path_in_container": "/dev/pltest", "permissions": "rw"}])
    assert "Operation not permitted" not in err and err.count("No such device") == 2, err
    # and without the device a container cannot make and use one
    cid, code, out, err = run(api, rootfs, "mknod /dev/d c 242 7 && cat /dev/d")
    assert "Operation not permitted" in err, err
    c = api.inspect(cid)["config"]
    assert c["devices"] == []


def test_invalid_devices(api, rootfs, chardev):
    for bad in ([{"path_on_host": "relative"}], [{"path_on_host": "/etc/passwd"}],
                [{"path_on_host": chardev}],  # outside /dev: needs path_in_container
                [{"path_on_host": "/dev/null", "permissions": "rwx"}],
                [{"path_on_host": "/dev/null", "path_in_container": "/etc/x"}],
                [{"path_on_host": "/dev/null"}, {"path_on_host": "/dev/null"}],
                {"path_on_host": "/dev/null"}):
        b = api.create_body(rootfs, ["true"])
        b["devices"] = bad
        r = api.create_raw(b)
        assert r.status == 400, (bad, r.status, r.body)


def test_cgroup_parent(api, rootfs, uniq):
    parent = f"pltest-{os.getpid()}/pod-{uniq[-6:]}"
    b = api.create_body(rootfs, ["sleep", "1000"])
    b["cgroup_parent"] = "/" + parent
    r = api.create_raw(b)
    assert r.status == 201, r.body
    cid = r.json["id"]
    try:
        api.start(cid)
        pid = api.wait_status(cid, "running")["pid"]
        paths = [p for p in cgroup_paths_of(pid) if p.endswith(f"/{parent}/{cid}")]
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
        # every hierarchy we place containers in (memory among them) holds it there
        assert any(":memory:" in l or l.startswith("0::") for l in lines)
        for l in lines:
            if ":memory:" in l or ":pids:" in l or l.startswith("0::"):
                assert l.endswith(f"/{parent}/{cid}"), l
        assert paths
        assert api.inspect(cid)["config"]["cgroup_parent"] == parent
        assert api.remove(cid, force=True).status == 204
        assert not any(os.path.exists(p) for p in paths)
    finally:
        api.remove(cid, force=True)
        # the parents are the caller's (a kubelet's): this test made them, it removes them
        for root in ["/sys/fs/cgroup"] + [os.path.join("/sys/fs/cgroup", d)
                                          for d in os.listdir("/sys/fs/cgroup")]:
            for p in (os.path.join(root, parent), os.path.join(root, parent.split("/")[0])):
                try:
                    os.rmdir(p)
                except OSError:
                    pass
    for bad in ("../escape", "a/../../b", "a//b", "bad name"):
        b = api.create_body(rootfs, ["true"])
        b["cgroup_parent"] = bad
        assert api.create_raw(b).status == 400, bad


def test_log_path(api, rootfs):
    cid, code, out, err = run(api, rootfs, "echo to-the-log")
    path = api.inspect(cid)["log_path"]
    assert os.path.isabs(path)
    with open(path) as f:
        text = f.read()
    assert " stdout F to-the-log" in text  # CRI format, what a kubelet reads


def test_cgroup_parent_survives_a_daemon_restart(binaries, rootfs):
    """A restarted daemon finds a container under its cgroup_parent (from the process) and
    still releases that cgroup when the container stops."""
    import tempfile
    from conftest import Daemon, finish_daemon
    tmp = tempfile.mkdtemp(prefix="pl-it-cgp-")
    d = Daemon(tmp).start()
    parent = f"pltest-{os.getpid()}-restart"
    try:
        b = d.api.create_body(rootfs, ["sleep", "1000"])
        b["cgroup_parent"] = parent
        r = d.api.create_raw(b)
        assert r.status == 201, r.body
        cid = r.json["id"]
        d.api.start(cid)
        pid = d.api.wait_status(cid, "running")["pid"]
        paths = [p for p in cgroup_paths_of(pid) if p.endswith(f"/{parent}/{cid}")]
        assert paths
        d.kill()
        d.start()
        assert d.api.state(cid)["status"] == "running"
        d.api.stop(cid, timeout=0)
        d.api.wait_status(cid, ("stopped", "exited"))
        assert not any(os.path.exists(p) for p in paths), paths
    finally:
        problems = finish_daemon(d)
        for root in ["/sys/fs/cgroup"] + [os.path.join("/sys/fs/cgroup", x)
                                          for x in os.listdir("/sys/fs/cgroup")]:
            try:
                os.rmdir(os.path.join(root, parent))
            except OSError:
                pass
    assert not problems, problems


def test_cgroup_parent_systemd_slice(api, rootfs):
    """A kubelet with the systemd cgroup driver names a slice: it is the slice's path."""
    top = f"plt{os.getpid()}"
    b = api.create_body(rootfs, ["sleep", "1000"])
    b["cgroup_parent"] = f"{top}-pod9.slice"
    r = api.create_raw(b)
    assert r.status == 201, r.body
    cid = r.json["id"]
    want = f"/{top}.slice/{top}-pod9.slice/{cid}"
    try:
        api.start(cid)
        pid = api.wait_status(cid, "running")["pid"]
        with open(f"/proc/{pid}/cgroup") as f:
            lines = [l for l in f.read().splitlines() if ":memory:" in l or l.startswith("0::")]
        assert lines and all(l.endswith(want) for l in lines), lines
    finally:
        api.remove(cid, force=True)
        for root in ["/sys/fs/cgroup"] + [os.path.join("/sys/fs/cgroup", x)
                                          for x in os.listdir("/sys/fs/cgroup")]:
            for p in (f"{top}.slice/{top}-pod9.slice", f"{top}.slice"):
                try:
                    os.rmdir(os.path.join(root, p))
                except OSError:
                    pass
