# SPDX-License-Identifier: Apache-2.0
"""User namespaces (security.userns mode "remap"): the container's root is an unprivileged
host uid from a 65536-id slice the daemon hands out; the rootfs still looks root-owned
inside (idmapped lower layers), files it writes land on the host with the mapped ids, and
root inside has no power over the host."""

import json
import os
import shutil
import stat
import subprocess
import tempfile

import pytest

from conftest import DEADLINE, PORTLAYERD, Daemon, finish_daemon, proc_read
from test_interactive import PROMPT, exec_run, pty_plctl  # noqa: F401 - fixture
from test_security import create_body, run, sh

REMAP = {"userns": {"mode": "remap"}}
SLICE = 65536
DEFAULT_START = 100000000


# --------------------------------------------------------------------------
# helpers


def userns_of(api, cid):
    return api.inspect(cid)["config"]["security"]["userns"]


def host_root_of(api, cid):
    u = userns_of(api, cid)
    assert u["mode"] == "remap"
    (m,) = [e for e in u["uid_map"] if e["container_id"] == 0]
    return m["host_id"]


def create_remapped(api, rootfs, args, security=None, **kw):
    sec = dict(REMAP)
    sec.update(security or {})
    r = api.create_raw(create_body(rootfs, args, security=sec, **kw))
    assert r.status == 201, f"create: {r.status} {r.body!r}"
    return r.json["id"]


def started(api, rootfs, args=("sleep", "1000"), security=None, **kw):
    cid = create_remapped(api, rootfs, list(args), security=security, **kw)
    api.start(cid)
    return cid


def host_ids(api, cid):
    """tether's uid and gid lines as the host sees them."""
    pid = api.state(cid)["pid"]
    st = proc_read(pid, "status")
    fields = dict(line.split(":", 1) for line in st.splitlines() if ":" in line)
    return [int(x) for x in fields["Uid"].split()], [int(x) for x in fields["Gid"].split()]


def upper_dir(daemon, cid):
    return daemon.root / "containers" / cid / "upper"


def ranges(u):
    return [(e["host_id"], e["host_id"] + e["size"]) for e in u["uid_map"]] + \
        [(e["host_id"], e["host_id"] + e["size"]) for e in u["gid_map"]]


def disjoint(a, b):
    return all(x1 <= y0 or y1 <= x0 for (x0, x1) in a for (y0, y1) in b)


# --------------------------------------------------------------------------
# the mapping as the container and the host see it


def test_root_inside_is_an_unprivileged_host_uid(api, rootfs):
    r = sh(api, rootfs, "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g",
           security=REMAP)
    assert r.exit_code == 0, r.stderr
    start = host_root_of(api, r.id)
    assert start >= 65536, "the container's root is one of the host's own ids"
    lines = r.stdout.split("\n")
    assert lines[0].split() == ["0", str(start), str(SLICE)]
    assert lines[1].split() == ["0", str(start), str(SLICE)]
    assert lines[2:4] == ["0", "0"]
    u = userns_of(api, r.id)
    assert u["uid_map"] == [{"container_id": 0, "host_id": start, "size": SLICE}]
    assert u["gid_map"] == u["uid_map"]


def test_host_sees_the_mapped_uid_and_own_namespace(api, rootfs):
    cid = started(api, rootfs)
    start = host_root_of(api, cid)
    uids, gids = host_ids(api, cid)
    assert set(uids) == {start} and set(gids) == {start}
    pid = api.state(cid)["pid"]
    mine = os.readlink("/proc/self/ns/user")
    assert os.readlink(f"/proc/{pid}/ns/user") != mine, "tether shares the host's userns"
    api.stop(cid, timeout=1)


def test_image_files_look_root_owned_and_new_files_land_mapped(api, daemon, rootfs):
    script = ("stat -c '%u %g' /bin/busybox /etc /; echo data > /made-inside; "
              "mkdir /dir-inside; stat -c '%u %g' /made-inside; chown 1000:1001 /dir-inside && "
              "stat -c '%u %g' /dir-inside")
    # a host-mode container first: inside, the remapped one must see exactly the same
    host = sh(api, rootfs, script)
    assert host.exit_code == 0, host.stderr
    r = sh(api, rootfs, script, security=REMAP)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == host.stdout
    assert r.stdout.split("\n") == ["0 0"] * 4 + ["1000 1001", ""], r.stdout
    start = host_root_of(api, r.id)
    up = upper_dir(daemon, r.id)
    st = os.lstat(up / "made-inside")
    assert (st.st_uid, st.st_gid) == (start, start)
    st = os.lstat(up / "dir-inside")
    assert (st.st_uid, st.st_gid) == (start + 1000, start + 1001)
    st = os.lstat(up)
    assert (st.st_uid, st.st_gid) == (start, start), "the upper dir is not the container's"
    # the image itself was not chowned
    assert os.lstat(os.path.join(rootfs, "bin", "busybox")).st_uid == 0


def test_modified_image_file_copied_up_with_mapped_owner(api, daemon, rootfs):
    r = sh(api, rootfs, "echo extra >> /etc/passwd && tail -1 /etc/passwd", security=REMAP)
    assert r.exit_code == 0 and r.stdout == "extra\n", r.stderr
    start = host_root_of(api, r.id)
    assert os.lstat(upper_dir(daemon, r.id) / "etc" / "passwd").st_uid == start
    with open(os.path.join(rootfs, "etc", "passwd")) as f:
        assert "extra" not in f.read(), "the write reached the image"


def test_two_remapped_containers_get_disjoint_ranges(api, rootfs):
    a = create_remapped(api, rootfs, ["true"])
    b = create_remapped(api, rootfs, ["true"])
    ua, ub = userns_of(api, a), userns_of(api, b)
    assert disjoint(ranges(ua), ranges(ub)), (ua, ub)
    for u in (ua, ub):
        for (x0, x1) in ranges(u):
            assert DEFAULT_START <= x0 and x1 - x0 == SLICE


def test_removal_frees_the_range(api, rootfs):
    a = create_remapped(api, rootfs, ["true"])
    ua = userns_of(api, a)
    assert api.remove(a).status == 204
    # the first free slice is handed out first: what a held is free again
    b = create_remapped(api, rootfs, ["true"])
    assert userns_of(api, b) == ua
    c = create_remapped(api, rootfs, ["true"])
    assert disjoint(ranges(userns_of(api, c)), ranges(ua))


def test_host_mode_is_the_default(api, rootfs):
    r = api.run(rootfs, ["cat", "/proc/self/uid_map"])
    assert r.stdout.split() == ["0", "0", "4294967295"]
    r = sh(api, rootfs, "cat /proc/self/uid_map", security={"userns": {"mode": "host"}})
    assert r.stdout.split() == ["0", "0", "4294967295"]
    assert userns_of(api, r.id) == {"mode": "host"}


def test_explicit_maps(api, rootfs):
    start = DEFAULT_START + 900 * SLICE
    sec = {"userns": {"mode": "remap",
                      "uid_map": [{"container_id": 0, "host_id": start, "size": 2000}],
                      "gid_map": [{"container_id": 0, "host_id": start + 5000, "size": 10},
                                  {"container_id": 10, "host_id": start + 6000, "size": 10}]}}
    r = sh(api, rootfs, "cat /proc/self/uid_map /proc/self/gid_map", security=sec)
    assert r.exit_code == 0, r.stderr
    explicit = r.id
    rows = [line.split() for line in r.stdout.strip().split("\n")]
    assert rows == [["0", str(start), "2000"], ["0", str(start + 5000), "10"],
                    ["10", str(start + 6000), "10"]]
    # an overlapping explicit range is another container's: conflict, nothing created
    before = len(api.containers())
    r = api.create_raw(create_body(rootfs, ["true"], security={"userns": {
        "mode": "remap", "uid_map": [{"container_id": 0, "host_id": start + 1999, "size": 5}]}}))
    assert r.status == 409 and "uid_map[0]" in r.message, r.body
    assert len(api.containers()) == before
    # auto allocation steps around explicit ranges
    c = create_remapped(api, rootfs, ["true"])
    assert disjoint(ranges(userns_of(api, c)), ranges(userns_of(api, explicit)))


@pytest.mark.parametrize("userns, what", [
    ("remap", "security.userns"),
    ({"mode": "guest"}, "security.userns.mode"),
    ({}, "security.userns.mode"),
    ({"mode": "remap", "extra": 1}, "extra"),
    ({"mode": "host", "uid_map": [{"container_id": 0, "host_id": 200000, "size": 1}]},
     "need mode \"remap\""),
    ({"mode": "remap", "allow_host_ids": "yes"}, "allow_host_ids"),
    ({"mode": "remap", "uid_map": []}, "security.userns.uid_map"),
    ({"mode": "remap", "uid_map": {"container_id": 0}}, "security.userns.uid_map"),
    ({"mode": "remap", "uid_map": [{"container_id": 0, "host_id": 200000}]},
     "security.userns.uid_map[0]"),
    ({"mode": "remap", "uid_map": [{"container_id": 0, "host_id": 200000, "size": 65537}]},
     "security.userns.uid_map[0]"),
    ({"mode": "remap", "uid_map": [{"container_id": 0, "host_id": 200000, "size": 0}]},
     "security.userns.uid_map[0]"),
    ({"mode": "remap", "uid_map": [{"container_id": 0, "host_id": -5, "size": 10}]},
     "security.userns.uid_map[0]"),
    ({"mode": "remap", "uid_map": [{"container_id": 0, "host_id": 1000, "size": 10}]},
     "host's own ids"),
    ({"mode": "remap", "allow_host_ids": True,
      "uid_map": [{"container_id": 0, "host_id": 0, "size": 10}]}, "host id 0"),
    ({"mode": "remap", "uid_map": [{"container_id": 0, "host_id": 200000, "size": 100},
                                   {"container_id": 50, "host_id": 300000, "size": 10}]},
     "overlaps security.userns.uid_map[0]"),
    ({"mode": "remap", "uid_map": [{"container_id": 0, "host_id": 200000, "size": 40000},
                                   {"container_id": 40000, "host_id": 300000, "size": 40000}]},
     "at most 65536"),
    ({"mode": "remap", "uid_map": [{"container_id": 1, "host_id": 200000, "size": 10}]},
     "container id 0"),
    ({"mode": "remap", "gid_map": [{"container_id": 0, "host_id": 200000, "size": 10}]},
     "needs a uid_map"),
    ({"mode": "remap", "uid_map": [{"container_id": 0, "host_id": 200000, "size": 10}]},
     "outside the daemon's range"),
])
def test_invalid_userns_is_400_and_creates_nothing(api, rootfs, userns, what):
    before = len(api.containers())
    r = api.create_raw(create_body(rootfs, ["true"], security={"userns": userns}))
    assert r.status == 400, f"{userns}: want 400, got {r.status} {r.body!r}"
    assert what in r.message, f"400 message does not name {what!r}: {r.message!r}"
    assert len(api.containers()) == before


def test_unmapped_process_user_is_400(api, rootfs):
    sec = {"userns": {"mode": "remap", "uid_map": [
        {"container_id": 0, "host_id": DEFAULT_START + 950 * SLICE, "size": 100}]}}
    r = api.create_raw(create_body(rootfs, ["true"], security=sec, user="1000:1000"))
    assert r.status == 400 and "not mapped" in r.message, r.body


def test_process_user_inside_the_map(api, rootfs):
    r = sh(api, rootfs, "id -u; id -g; touch /tmp/x && stat -c '%u' /tmp/x",
           security=REMAP, user="1000:1000")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.split() == ["1000", "1000", "1000"]


# --------------------------------------------------------------------------
# no power over the host


@pytest.fixture
def secret_dir():
    d = tempfile.mkdtemp(prefix="pl-userns-secret-")
    os.chmod(d, 0o755)
    p = os.path.join(d, "secret")
    with open(p, "w") as f:
        f.write("host secret\n")
    os.chmod(p, 0o600)
    os.chown(p, 0, 0)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("extra", [{}, {"privileged": True}], ids=["default", "privileged"])
def test_root_inside_cannot_read_a_host_root_file_through_a_bind_mount(api, rootfs,
                                                                      secret_dir, extra):
    sec = dict(REMAP, **extra)
    body = create_body(rootfs, ["/bin/sh", "-c",
                                "stat -c '%u %a' /host/secret; cat /host/secret; "
                                "echo rc=$?; echo x > /host/planted; echo w=$?"],
                       security=sec)
    body["mounts"] = [{"type": "bind", "source": secret_dir, "target": "/host"}]
    r = api.create_raw(body)
    assert r.status == 201, r.body
    cid = r.json["id"]
    api.start(cid)
    api.wait(cid)
    out, err = api.output(cid)
    # host root is not mapped: it shows as the overflow id, and root inside is not its owner
    assert out.split("\n")[0] == "65534 600", out
    assert "host secret" not in out
    assert "rc=1" in out and "w=1" in out, out
    assert "Permission denied" in err
    assert not os.path.exists(os.path.join(secret_dir, "planted"))


@pytest.mark.parametrize("extra", [{}, {"privileged": True}], ids=["default", "privileged"])
def test_root_inside_has_no_capability_on_the_host(api, rootfs, extra):
    # privileged: every capability and no seccomp filter, and still nothing on the host
    sec = dict(REMAP, **extra)
    r = sh(api, rootfs,
           "cat /proc/sys/vm/overcommit_ratio > /tmp/v; "
           "echo $(cat /tmp/v) > /proc/sys/vm/overcommit_ratio; echo sysctl=$?; "
           "mknod /tmp/null c 1 3; echo mknod=$?; "
           "mkdir -p /tmp/m; mount -t tmpfs none /tmp/m; echo tmpfs=$?; "
           "grep CapEff /proc/self/status", security=sec)
    assert "sysctl=0" not in r.stdout and "sysctl=" in r.stdout, r.stdout
    assert "mknod=0" not in r.stdout and "mknod=" in r.stdout, r.stdout
    if extra:
        # a mount in its own namespace is the userns root's right, as crun allows
        assert "tmpfs=0" in r.stdout, r.stdout + r.stderr
        # it held CAP_SYS_ADMIN and CAP_MKNOD, inside its namespace only
        caps = int(r.stdout.split("CapEff:\t")[1].split()[0], 16)
        assert caps >> 21 & 1 and caps >> 27 & 1, r.stdout


def test_capability_sets_inside_match_the_policy(api, rootfs):
    r = sh(api, rootfs, "grep -E '^Cap(Inh|Prm|Eff|Amb)' /proc/self/status",
           security=dict(REMAP, cap_drop=["CHOWN"], cap_add=["NET_ADMIN"]))
    f = dict(line.split(":\t") for line in r.stdout.strip().split("\n"))
    default = 0x00000000A80425FB
    want = (default & ~1) | (1 << 12)
    assert int(f["CapEff"], 16) == want and int(f["CapPrm"], 16) == want
    assert int(f["CapInh"], 16) == 0 and int(f["CapAmb"], 16) == 0


def test_default_seccomp_still_blocks_nested_userns(api, rootfs):
    r = sh(api, rootfs, "unshare -U true; echo rc=$?", security=REMAP)
    assert "rc=0" not in r.stdout and "Operation not permitted" in r.stderr, r.stdout + r.stderr
    # what the filter blocks, the kernel itself would allow here: the block is seccomp's
    r = sh(api, rootfs, "unshare -U true; echo rc=$?", security=dict(REMAP, seccomp="unconfined"))
    assert "rc=0" in r.stdout, r.stdout + r.stderr


# --------------------------------------------------------------------------
# everything else still works in a remapped container


def test_volume_is_idmapped(api, daemon, rootfs, uniq):
    body = create_body(rootfs, ["/bin/sh", "-c",
                                "echo v > /data/file && chown 33:33 /data/file && "
                                "stat -c '%u %g' /data/file"], security=REMAP)
    body["mounts"] = [{"type": "volume", "source": uniq, "target": "/data"}]
    r = api.create_raw(body)
    assert r.status == 201, r.body
    cid = r.json["id"]
    api.start(cid)
    assert api.wait(cid)["exit_code"] == 0, api.output(cid)
    assert api.output(cid)[0] == "33 33\n"
    # on the host the volume keeps the container's own ids: a host-mode container and a
    # remapped one see the same owners
    st = os.lstat(daemon.root / "volumes" / uniq / "_data" / "file")
    assert (st.st_uid, st.st_gid) == (33, 33)
    body = create_body(rootfs, ["stat", "-c", "%u %g", "/data/file"])
    body["mounts"] = [{"type": "volume", "source": uniq, "target": "/data"}]
    r = api.create_raw(body)
    api.start(r.json["id"])
    api.wait(r.json["id"])
    assert api.output(r.json["id"])[0] == "33 33\n"


def test_volume_is_nosuid_and_nodev_when_remapped(api, daemon, rootfs, uniq):
    """A remapped root's "uid 0" on a shared volume is real uid 0 on disk: a setuid file it
    makes there must not give root to anyone else, so the volume is nosuid,nodev."""
    body = create_body(rootfs, ["/bin/sh", "-c",
                                "cp /bin/busybox /data/sh && chmod 4755 /data/sh && "
                                "grep ' /data ' /proc/self/mounts"], security=REMAP)
    body["mounts"] = [{"type": "volume", "source": uniq, "target": "/data"}]
    r = api.create_raw(body)
    assert r.status == 201, r.body
    api.start(r.json["id"])
    assert api.wait(r.json["id"])["exit_code"] == 0, api.output(r.json["id"])
    opts = api.output(r.json["id"])[0].split()[3].split(",")
    assert "nosuid" in opts and "nodev" in opts, opts


def test_read_only_volume_stays_read_only(api, rootfs, uniq):
    """Read-only is set on the whole detached tree by the daemon; the remapped root (default
    capabilities) cannot remount it read-write. (A privileged remapped root can: mount
    flags are locked only across a user-namespace boundary, see docs.)"""
    body = create_body(rootfs, ["/bin/sh", "-c",
                                "mount -o remount,rw,bind /data; touch /data/x && echo wrote"],
                       security=REMAP)
    body["mounts"] = [{"type": "volume", "source": uniq, "target": "/data",
                       "readonly": True}]
    r = api.create_raw(body)
    assert r.status == 201, r.body
    api.start(r.json["id"])
    api.wait(r.json["id"])
    assert "wrote" not in "".join(api.output(r.json["id"]))


def test_read_only_rootfs_and_tmpfs(api, rootfs):
    r = sh(api, rootfs, "touch /x; echo rc=$?; touch /run/y && echo tmpfs-ok",
           security=dict(REMAP, read_only_rootfs=True, tmpfs={"/run": "size=1m"}))
    assert "rc=1" in r.stdout and "tmpfs-ok" in r.stdout, r.stdout + r.stderr


def test_exec_in_remapped_container(api, rootfs):
    cid = started(api, rootfs)
    start = host_root_of(api, cid)
    out, err, j = exec_run(api, cid, ["sh", "-c", "id -u; cat /proc/self/uid_map"])
    assert j["exit_code"] == 0, err
    lines = out.split("\n")
    assert lines[0] == "0" and lines[1].split() == ["0", str(start), str(SLICE)]
    out, _, j = exec_run(api, cid, ["id", "-u"], user="1234")
    assert out == "1234\n"
    api.stop(cid, timeout=1)


def test_tty_exec_in_remapped_container(api, rootfs, pty_plctl):  # noqa: F811
    cid = started(api, rootfs)
    t = pty_plctl("exec", "-it", cid, "--", "sh", rows=33, cols=77)
    t.expect(PROMPT)
    t.write(b"tty; stty size; id -u\r")
    t.expect(r"/dev/pts/\d+\r\n33 77\r\n0\r\n")
    t.write(b"exit 4\r")
    assert t.wait() == 4
    api.stop(cid, timeout=1)


def test_limits_stats_and_pause(api, rootfs):
    # a main process that never forks: the exec below fills the pids limit, and a shell
    # loop's next fork could then fail and end the container
    cid = started(api, rootfs, resources={"memory": 64 << 20, "pids_limit": 20})
    r = api.get(f"/containers/{cid}/stats", params={"stream": 0})
    assert r.status == 200, (r.status, r.body)
    s = r.json
    assert s["memory"]["usage"] > 0 and s["memory"]["limit"] == 64 << 20, s["memory"]
    assert s["pids"]["current"] >= 1 and s["pids"]["limit"] == 20, s["pids"]
    assert "lo" in s["networks"]
    assert api.post(f"/containers/{cid}/pause").status == 204
    try:
        assert api.state(cid)["status"] == "paused"
    finally:
        assert api.post(f"/containers/{cid}/unpause").status == 204
    assert api.state(cid)["status"] == "running"
    # the pids limit holds inside
    out, _, _ = exec_run(api, cid, ["sh", "-c",
                                    "for i in $(seq 40); do sleep 5 & done 2>/dev/null; "
                                    "echo spawned"])
    r = api.get(f"/containers/{cid}/stats", params={"stream": 0})
    assert r.status == 200, (r.status, r.body)
    assert r.json["pids"]["current"] <= 20
    assert api.state(cid)["status"] == "running"
    api.stop(cid, timeout=1)


def test_oom_reported(api, rootfs):
    r = sh(api, rootfs, "x=a; while :; do x=$x$x; done",
           security=REMAP, resources={"memory": 16 << 20, "memory_swap": 16 << 20})
    assert api.inspect(r.id)["state"].get("oom_killed") is True, api.inspect(r.id)["state"]


def test_plctl_run_userns_remap_and_inspect(plctl, api, rootfs, uniq):
    p = plctl("run", "--userns=remap", "--name", uniq, rootfs, "--", "cat", "/proc/self/uid_map",
              check=0)
    start = host_root_of(api, uniq)
    assert p.stdout.split() == ["0", str(start), str(SLICE)]
    info = json.loads(plctl("inspect", uniq, check=0).stdout)
    info = info[0] if isinstance(info, list) else info
    assert info["config"]["security"]["userns"]["uid_map"][0]["host_id"] == start
    p = plctl("run", "--userns", "host", rootfs, "--", "cat", "/proc/self/uid_map", check=0)
    assert p.stdout.split() == ["0", "0", "4294967295"]
    p = plctl("run", "--userns=guest", rootfs, "--", "true")
    assert p.returncode != 0 and "--userns" in p.stderr


# --------------------------------------------------------------------------
# the daemon's range: restarts, the flag


def test_ranges_survive_restart(binaries, rootfs):
    d = Daemon(tempfile.mkdtemp(prefix="pl-it-userns-"))
    try:
        d.start()
        api = d.api
        a = started(api, rootfs)
        b = create_remapped(api, rootfs, ["true"])
        ua, ub = userns_of(api, a), userns_of(api, b)
        d.kill()
        d.start()
        api = d.api
        assert userns_of(api, a) == ua and userns_of(api, b) == ub
        assert api.state(a)["status"] == "running"
        c = create_remapped(api, rootfs, ["true"])
        assert disjoint(ranges(userns_of(api, c)), ranges(ua) + ranges(ub))
        # the reattached, remapped container still answers exec
        out, _, j = exec_run(api, a, ["id", "-u"])
        assert out == "0\n"
        assert api.remove(b).status == 204
        d2 = create_remapped(api, rootfs, ["true"])
        assert userns_of(api, d2) == ub, "the removed container's range was not reused"
    finally:
        problems = finish_daemon(d)
    assert not problems, problems


def test_userns_range_flag(binaries, rootfs):
    for bad in ("1000:65536", "200000:100", "x", "200000:", "4294900000:131072"):
        p = subprocess.run([str(PORTLAYERD), "--userns-range", bad, "--root", "/nonexistent"],
                           capture_output=True, text=True, timeout=DEADLINE)
        assert p.returncode != 0 and "--userns-range" in p.stderr, (bad, p.stderr)
    d = Daemon(tempfile.mkdtemp(prefix="pl-it-userns-"))
    try:
        # a daemon whose range holds exactly two slices
        d.extra_args = ["--userns-range", f"{300000}:{2 * SLICE}"]
        d.start()
        api = d.api
        assert api.get("/info").json["userns_range"] == {"start": 300000, "count": 2 * SLICE}
        a = create_remapped(api, rootfs, ["true"])
        b = create_remapped(api, rootfs, ["true"])
        assert {host_root_of(api, a), host_root_of(api, b)} == {300000, 300000 + SLICE}
        r = api.create_raw(create_body(rootfs, ["true"], security=REMAP))
        assert r.status == 409 and "no free user namespace range" in r.message, r.body
    finally:
        problems = finish_daemon(d)
    assert not problems, problems


def test_upper_of_host_mode_untouched(api, daemon, rootfs):
    r = api.run(rootfs, ["sh", "-c", "touch /f"])
    st = os.lstat(upper_dir(daemon, r.id) / "f")
    assert st.st_uid == 0
    assert stat.S_ISREG(st.st_mode)


def test_oom_score_adj_and_namespaced_sysctls(api, rootfs):
    # /proc/self/oom_score_adj is not the container root's to write: the daemon sets it
    r = sh(api, rootfs, "cat /proc/self/oom_score_adj /proc/sys/net/ipv4/ip_forward "
           "/proc/sys/kernel/shmmax",
           security=dict(REMAP, oom_score_adj=500,
                         sysctls={"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000000"}))
    assert r.exit_code == 0, r.stderr
    assert r.stdout.split() == ["500", "1", "1000000"]


def test_bind_mount_flags_and_file_binds(api, rootfs, secret_dir):
    f = os.path.join(secret_dir, "readable")
    with open(f, "w") as fh:
        fh.write("for everyone\n")
    os.chmod(f, 0o644)
    body = create_body(rootfs, ["/bin/sh", "-c",
                                "cat /ro/readable; touch /ro/new; echo ro=$?; cat /one-file"],
                       security=REMAP)
    body["mounts"] = [{"type": "bind", "source": secret_dir, "target": "/ro", "readonly": True},
                      {"type": "bind", "source": f, "target": "/one-file"}]
    r = api.create_raw(body)
    assert r.status == 201, r.body
    api.start(r.json["id"])
    api.wait(r.json["id"])
    out, err = api.output(r.json["id"])
    assert out == "for everyone\nro=1\nfor everyone\n", out + err
    assert "Read-only file system" in err


def test_fresh_volume_is_seeded_from_the_image(api, daemon, rootfs, uniq):
    body = create_body(rootfs, ["/bin/sh", "-c", "stat -c '%u' /etc/passwd; ls /etc | wc -l"],
                       security=REMAP)
    body["mounts"] = [{"type": "volume", "source": uniq, "target": "/etc"}]
    r = api.create_raw(body)
    assert r.status == 201, r.body
    api.start(r.json["id"])
    assert api.wait(r.json["id"])["exit_code"] == 0
    out, err = api.output(r.json["id"])
    lines = out.split()
    assert lines[0] == "0" and int(lines[1]) == len(os.listdir(os.path.join(rootfs, "etc"))), \
        out + err
    # seeded through the idmapped mount: the image's root-owned files are root's on disk
    assert os.lstat(daemon.root / "volumes" / uniq / "_data" / "passwd").st_uid == 0


def test_restart_on_the_same_upper(api, daemon, rootfs):
    cid = create_remapped(api, rootfs, ["/bin/sh", "-c", "echo run >> /runs; cat /runs"])
    for n in (1, 2):
        api.start(cid)
        assert api.wait(cid)["exit_code"] == 0
    out, _ = api.output(cid)
    assert out.endswith("run\nrun\n"), out
    assert os.lstat(upper_dir(daemon, cid) / "runs").st_uid == host_root_of(api, cid)


def test_no_mount_fd_reaches_tether(api, rootfs, secret_dir, uniq):
    """The mounts the daemon sent with GO are close-on-exec: tether holds the same fds as in
    a host-mode domain, none of them onto the rootfs, a layer, a volume or a bind source."""
    def tether_fds(security):
        body = create_body(rootfs, ["sleep", "1000"], security=security)
        body["mounts"] = [{"type": "bind", "source": secret_dir, "target": "/host"},
                          {"type": "volume", "source": uniq, "target": "/data"}]
        r = api.create_raw(body)
        assert r.status == 201, r.body
        api.start(r.json["id"])
        pid = api.state(r.json["id"])["pid"]
        fds = {fd: os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        api.remove(r.json["id"], force=True)
        return fds
    host, remapped = tether_fds(None), tether_fds(REMAP)
    assert sorted(host) == sorted(remapped), (host, remapped)
    for target in remapped.values():
        assert secret_dir not in target and uniq not in target and rootfs not in target, \
            remapped
        assert not target.endswith("/merged"), remapped


# --------------------------------------------------------------------------
# archives of a remapped container: owners are the container's own ids both ways


def _tar(*members):
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, uid, gid in members:
            ti = tarfile.TarInfo(name)
            ti.size, ti.uid, ti.gid, ti.mode = 2, uid, gid, 0o644
            t.addfile(ti, io.BytesIO(b"x\n"))
    return buf.getvalue()


def _put(api, cid, path, data):
    return api.request("PUT", f"/containers/{cid}/archive", body=data, params={"path": path},
                       headers={"Content-Type": "application/x-tar"})


def test_copy_in_and_out_use_the_containers_own_ids(api, daemon, rootfs):
    import io
    import tarfile
    cid = started(api, rootfs)
    r = _put(api, cid, "/tmp", _tar(("root-file", 0, 0), ("user-file", 1000, 1000)))
    assert r.status == 200, r.body
    out, _, _ = exec_run(api, cid, ["stat", "-c", "%n %u %g", "/tmp/root-file", "/tmp/user-file"])
    assert "/tmp/root-file 0 0" in out and "/tmp/user-file 1000 1000" in out, out
    base = host_root_of(api, cid)
    st = os.lstat(upper_dir(daemon, cid) / "tmp" / "user-file")
    assert (st.st_uid, st.st_gid) == (base + 1000, base + 1000)
    # out again: what the container wrote (host ids base+n) and the image's files (0)
    exec_run(api, cid, ["sh", "-c", "echo y > /tmp/made-inside"])
    for path in ("/tmp/made-inside", "/tmp/user-file", "/bin/busybox"):
        r = api.get(f"/containers/{cid}/archive", params={"path": path})
        assert r.status == 200, r.body
        (m,) = tarfile.open(fileobj=io.BytesIO(r.body)).getmembers()
        want = 1000 if path == "/tmp/user-file" else 0
        assert (m.uid, m.gid) == (want, want), (path, m.uid, m.gid)
    # an owner the container does not map is refused, naming the entry, nothing written
    r = _put(api, cid, "/tmp", _tar(("ok-file", 0, 0), ("far-file", 70000, 0)))
    assert r.status == 400 and "far-file" in r.json["message"], r.body
    assert not (upper_dir(daemon, cid) / "tmp" / "ok-file").exists()


def test_copy_into_a_stopped_remapped_container_is_409(api, rootfs):
    cid = create_remapped(api, rootfs, ["true"])
    r = _put(api, cid, "/tmp", _tar(("f", 0, 0)))
    assert r.status == 409 and "user namespace" in r.json["message"], r.body


def test_commit_of_a_remapped_container_has_its_own_ids(api, daemon, rootfs, uniq):
    import io
    import tarfile
    cid = create_remapped(api, rootfs, ["sh", "-c", "echo c > /made && chown 33:33 /made"])
    api.start(cid)
    assert api.wait(cid)["exit_code"] == 0
    r = api.post("/commit", params={"container": cid, "repo": f"userns-{uniq}"})
    assert r.status in (200, 201), r.body
    img = f"userns-{uniq}:latest"
    # a host-mode container of the new image sees the file as 33:33, as the remapped one did
    h = api.create_raw({"image": img, "process": {"args": ["stat", "-c", "%u %g", "/made"]}})
    assert h.status == 201, h.body
    api.start(h.json["id"])
    api.wait(h.json["id"])
    assert api.output(h.json["id"])[0] == "33 33\n"
