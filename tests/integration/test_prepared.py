# SPDX-License-Identifier: Apache-2.0
"""Prepared domains (issue 16): linux domains the daemon makes ahead (namespaces, cgroups,
a first process waiting for its container) keep every isolation property. A container in
one sees nothing of an earlier or concurrent one, has its own limits, and a daemon killed
with -9 while some wait leaves nothing behind once it has started again.

The daemon's /metrics phase counters say whether a start took a prepared domain
("spawn.prepared_take") and how many were made ("prepared.made")."""

import os
import re
import signal
import subprocess
import tempfile

import pytest

from conftest import Daemon, finish_or_fail, pid_alive, proc_read, start_or_fail, wait_until

MiB = 1 << 20
CG = "/sys/fs/cgroup"


def phase_count(api, name):
    r = api.get("/metrics")
    assert r.status == 200, r
    text = r.body.decode() if isinstance(r.body, bytes) else r.body
    m = re.search(r'^portlayer_phase_total\{phase="%s"\} (\d+)' % re.escape(name), text, re.M)
    return int(m.group(1)) if m else 0


def wait_prepared(api, n):
    """Waits until the daemon has made at least n prepared domains in all."""
    return wait_until(lambda: phase_count(api, "prepared.made") >= n,
                      what=f"{n} prepared domains made")


def instance_tag(root):
    """The daemon's tag for its host-wide names: FNV-1a of its state root's real path."""
    h = 2166136261
    for b in os.path.realpath(root).encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return f"{h:08x}"


def pool_dirs(tag):
    """Every cgroup directory of this daemon's prepared domains, in every hierarchy."""
    found = []
    for h in os.listdir(CG):
        parent = os.path.join(CG, h, "portlayer")
        try:
            names = os.listdir(parent)
        except OSError:
            continue
        found += [os.path.join(parent, n) for n in names if n.startswith(f"pool-{tag}-")]
    return sorted(found)


def procs_in(dirs):
    pids = set()
    for d in dirs:
        try:
            with open(os.path.join(d, "cgroup.procs")) as f:
                pids |= {int(x) for x in f.read().split()}
        except OSError:
            pass
    return pids


def ns_inode(pid, ns):
    try:
        return os.stat(f"/proc/{pid}/ns/{ns}").st_ino
    except OSError:
        return None


def start_ticks(pid):
    stat = proc_read(pid, "stat")
    return int(stat[stat.rindex(")") + 2:].split()[19]) if stat else None


def ns_holders(inode, ns, before):
    """Live processes, started before `before` (clock ticks since boot), in the namespace
    with this inode. A namespace's inode number is reused once it is freed: a process
    started later in a new namespace with the old number is not a holder of the old one."""
    out = []
    for e in os.listdir("/proc"):
        if e.isdigit() and ns_inode(e, ns) == inode and pid_alive(int(e)):
            t = start_ticks(e)
            if t is not None and t <= before:
                out.append(int(e))
    return out


def body(rootfs, script, **kw):
    b = {"rootfs": str(rootfs), "process": {"args": ["/bin/sh", "-c", script]}}
    b.update(kw)
    return b


def create(api, b):
    r = api.create_raw(b)
    assert r.status == 201, (r.status, r.body)
    return r.json["id"]


def stats(api, cid):
    r = api.get(f"/containers/{cid}/stats", params={"stream": "false"})
    assert r.status == 200, (r.status, r.body)
    return r.json


def test_starts_take_prepared_domains(api, daemon, rootfs):
    wait_prepared(api, 2)
    before = phase_count(api, "spawn.prepared_take")
    r = api.run(rootfs, ["/bin/sh", "-c",
                         "echo hi; cut -d' ' -f19 /proc/self/stat; cat /proc/self/cgroup | head -3"])
    assert r.exit_code == 0 and r.stdout.startswith("hi\n"), (r.stdout, r.stderr)
    assert phase_count(api, "spawn.prepared_take") == before + 1, \
        "the start did not take a prepared domain"
    # the container runs at the daemon's nice (nothing of the domain's own set-up sticks)
    assert r.stdout.splitlines()[1] == str(os.getpriority(os.PRIO_PROCESS, daemon.pid)), r.stdout
    # in its cgroup namespace the container is at the root of its own cgroups
    assert all(line.endswith(":/") for line in r.stdout.splitlines()[2:]), r.stdout
    # the pool is refilled: more are made after the take
    wait_prepared(api, 3)


def test_nothing_seen_of_an_earlier_or_concurrent_container(api, rootfs):
    wait_prepared(api, 2)
    before = phase_count(api, "spawn.prepared_take")
    # A: changes everything a later container could see, then stays running (its
    # processes, its memory held in /dev/shm and its sysctls live on meanwhile)
    a = create(api, body(
        rootfs,
        "echo a > /tmp/left-by-a; dd if=/dev/zero of=/dev/shm/a bs=1M count=24 2>/dev/null;"
        "ipcmk -M 4096 >/dev/null 2>&1; sleep 1000 & sleep 1000 & echo ready; wait",
        hostname="first-one",
        security={"sysctls": {"net.ipv4.ip_forward": "1", "kernel.shmmax": "123456789"}},
        resources={"memory": 256 * MiB, "pids_limit": 100}))
    api.start(a)
    api.wait_for_output(a, "ready")
    # B: a later container in a prepared domain of its own, with other limits
    probe = ("hostname; cat /proc/sys/kernel/shmmax; ls -A /tmp /dev/shm; "
             "ls /proc | grep -c '^[0-9]'; cat /proc/sys/net/ipv4/ip_forward; echo ready;"
             "sleep 1000")
    b = create(api, body(rootfs, probe, resources={"memory": 64 * MiB, "pids_limit": 30}))
    api.start(b)
    api.wait_for_output(b, "ready")
    assert phase_count(api, "spawn.prepared_take") >= before + 2, \
        "the containers did not both take prepared domains"
    out, err = api.output(b)
    lines = out.splitlines()
    assert lines[0] == b[:12], f"B's hostname is {lines[0]!r}"
    with open("/proc/sys/kernel/shmmax") as f:
        assert lines[1] == f.read().strip(), f"B sees A's kernel.shmmax: {lines[1]}"
    assert "left-by-a" not in out and "\na\n" not in out, out
    # its processes: sh, ls/grep of the pipeline, sleep has not started yet; never A's 3
    assert int(lines[-3]) <= 4, f"B sees {lines[-3]} processes: {out}"
    sa, sb = stats(api, a), stats(api, b)
    assert sa["memory"]["usage"] >= 20 * MiB, sa["memory"]
    assert sb["memory"]["usage"] < 20 * MiB, f"B is charged for A's memory: {sb['memory']}"
    assert sb["memory"]["limit"] == 64 * MiB and sa["memory"]["limit"] == 256 * MiB
    assert sb["pids"]["limit"] == 30 and sa["pids"]["limit"] == 100
    assert sb["pids"]["current"] <= 3, sb["pids"]
    assert sa["pids"]["current"] >= 4, sa["pids"]
    for c in (a, b):
        api.kill(c, "KILL")
        api.wait(c)
    # C: after both ended, nothing of either is left to see either
    r = api.run(rootfs, ["/bin/sh", "-c", probe.replace("sleep 1000", "true")])
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == r.id[:12] and int(lines[-3]) <= 4, r.stdout
    assert "left-by-a" not in r.stdout and "\na\n" not in r.stdout


def test_restart_of_a_container_gets_a_new_domain(api, rootfs):
    """A stopped container started again never reuses its earlier domain: the loopback
    counters of its network namespace start at zero again. (Namespace inode numbers
    cannot tell: the kernel reuses a freed one.)"""
    wait_prepared(api, 2)
    lo = "/sys/class/net/lo/statistics/tx_packets"
    cid = create(api, body(rootfs, f"cat {lo}; nc -w 1 127.0.0.1 1 </dev/null "
                           f">/dev/null 2>&1; cat {lo}"))
    before = phase_count(api, "spawn.prepared_take")
    for _ in range(2):
        api.start(cid)
        api.wait(cid)
    assert phase_count(api, "spawn.prepared_take") == before + 2
    counts = [int(x) for x in api.output(cid)[0].split()]
    assert len(counts) == 4, counts
    assert counts[1] > 0, f"no loopback traffic in the first run: {counts}"
    assert counts[2] == 0, f"the second run found the first run's counters: {counts}"


def test_kill9_with_prepared_domains_leaks_nothing(binaries, rootfs):
    tmp = tempfile.mkdtemp(prefix="pl-it-")
    d = start_or_fail(Daemon(tmp), tmp)
    try:
        wait_prepared(d.api, 2)
        tag = instance_tag(d.root)
        dirs = wait_until(lambda: pool_dirs(tag), what="prepared cgroups")
        pids = wait_until(lambda: procs_in(dirs), what="prepared processes")
        assert all(pid_alive(p) for p in pids)
        netns = {ns_inode(p, "net") for p in pids}
        mntns = {ns_inode(p, "mnt") for p in pids}
        assert None not in netns and None not in mntns
        with open("/proc/uptime") as f:
            killed_at = int(float(f.read().split()[0]) * os.sysconf("SC_CLK_TCK"))
        os.kill(d.pid, signal.SIGKILL)
        d.proc.wait()
        # the waiting domains die with their control socket, before any restart
        wait_until(lambda: not any(pid_alive(p) for p in pids),
                   what="prepared processes of the killed daemon gone")
        d.start()
        # the new daemon swept the old cgroups before it answered
        left = [x for x in dirs if os.path.exists(x)]
        assert not left, f"cgroups of the killed daemon's prepared domains left: {left}"
        for ino in netns:
            wait_until(lambda: not ns_holders(ino, "net", killed_at),
                       what="old network namespace gone")
        for ino in mntns:
            wait_until(lambda: not ns_holders(ino, "mnt", killed_at),
                       what="old mount namespace gone")
        with open("/proc/self/mountinfo") as f:
            assert not [m for m in f if str(d.tmp) in m and "/merged" in m]
        # the new daemon works and has prepared domains of its own
        wait_prepared(d.api, 2)
        r = d.api.run(rootfs, ["/bin/true"])
        assert r.exit_code == 0
    finally:
        finish_or_fail(d, restart=True)
    # a daemon stopped in order takes its waiting domains with it
    assert not pool_dirs(tag), pool_dirs(tag)


# what a container's first process sees of its domain's mounts: the mount points and
# their types (ids and the host's sources differ run to run). (Its pid does differ: 2 in a
# prepared domain, 3 in a cloned one, whose set-up leaves tether a child it reaps first.)
# each mount's point, its flags, its type and its filesystem's options (after the " - ")
VIEW = ("awk '{for (i = 7; $i != \"-\"; i++); print $5, $6, $(i + 1), $(i + 3)}' "
        "/proc/self/mountinfo")


def test_pool_off_still_starts(binaries, rootfs, api):
    tmp = tempfile.mkdtemp(prefix="pl-it-")
    d = Daemon(tmp)
    d.extra_args = ["--prepared-domains", "0"]
    start_or_fail(d, tmp)
    try:
        r = d.api.run(rootfs, ["/bin/true"])
        assert r.exit_code == 0
        assert phase_count(d.api, "spawn.prepared_take") == 0
        assert not pool_dirs(instance_tag(d.root))
        assert (gauge(d.api), gauge(d.api, "ready"), gauge(d.api, "making")) == (0, 0, 0)
        # a cloned domain and a prepared one look alike from inside
        cloned = d.api.run(rootfs, ["/bin/sh", "-c", VIEW])
        wait_prepared(api, 2)
        before = phase_count(api, "spawn.prepared_take")
        prepared = api.run(rootfs, ["/bin/sh", "-c", VIEW])
        assert phase_count(api, "spawn.prepared_take") == before + 1
        assert cloned.exit_code == prepared.exit_code == 0, (cloned.stderr, prepared.stderr)
        # the same mounts with the same options, the root first (the kernel trees of a
        # prepared domain were built ahead of its take: their mounts come in tree order)
        assert prepared.stdout.split("\n")[0].startswith("/ "), prepared.stdout
        assert cloned.stdout.split("\n")[0].startswith("/ "), cloned.stdout
        def view(out):  # the overlay's options name the container's own directories
            return sorted(" ".join(x.split()[:3]) if x.startswith("/ ") else x
                          for x in out.splitlines())
        assert view(prepared.stdout) == view(cloned.stdout), (prepared.stdout, cloned.stdout)
    finally:
        finish_or_fail(d)


def private_mounts_daemon():
    """A daemon in a mount namespace of its own, private (no propagation from the host)."""
    tmp = tempfile.mkdtemp(prefix="pl-it-")
    d = Daemon(tmp)
    d.launcher = ["unshare", "--net", "--mount", "--propagation", "private", "--"]
    return start_or_fail(d, tmp), tmp


def dir_with_f(parent, name, text):
    src = os.path.join(parent, name)
    os.mkdir(src)
    with open(os.path.join(src, "f"), "w") as f:
        f.write(text)
    return src


def cat_bound_f(api, rootfs, src):
    """Runs cat /data/f with src bound at /data; its output."""
    b = {"rootfs": str(rootfs), "process": {"args": ["/bin/cat", "/data/f"]},
         "mounts": [{"type": "bind", "source": src, "target": "/data"}]}
    cid = create(api, b)
    api.start(cid)
    assert api.wait(cid)["exit_code"] == 0
    return api.output(cid)[0]


def test_a_mount_made_after_the_domain_was_prepared_is_seen(binaries, rootfs):
    """A prepared domain was cloned before the mount existed; with the daemon's mount
    namespace private (no propagation), only a fresh copy at the take shows it."""
    d, tmp = private_mounts_daemon()
    try:
        wait_prepared(d.api, 2)
        # nothing changed the daemon's mounts since its domains were made: a start keeps
        # the domain's own copy of them
        kept = phase_count(d.api, "prepared.mounts_kept")
        assert d.api.run(rootfs, ["/bin/true"]).exit_code == 0
        assert phase_count(d.api, "prepared.mounts_kept") == kept + 1
        wait_prepared(d.api, 3)
        src = dir_with_f(tmp, "later", "under the mount\n")
        # mounted in the daemon's namespace only, after its domains were prepared
        subprocess.run(["nsenter", "-t", str(d.pid), "-m", "--", "sh", "-c",
                        f"mount -t tmpfs tmpfs {src} && echo 'on the mount' > {src}/f"],
                       check=True)
        before = phase_count(d.api, "spawn.prepared_take")
        assert cat_bound_f(d.api, rootfs, src) == "on the mount\n"
        assert phase_count(d.api, "spawn.prepared_take") == before + 1
        assert phase_count(d.api, "prepared.mounts_kept") == kept + 1  # copied afresh
        assert phase_count(d.api, "dom.mounts_copy") >= 1
    finally:
        finish_or_fail(d)


def test_a_mount_gone_again_keeps_the_prepared_copy(binaries, rootfs):
    """A mount made and unmounted again in the daemon's namespace after its domains were
    made (as crun does in the namespace it runs in) leaves its table as it was: the take
    compares the two tables and the domain keeps its own copy (and its staged kernel
    trees); the container still sees the host's mounts as they are."""
    d, tmp = private_mounts_daemon()
    try:
        wait_prepared(d.api, 4)
        src = dir_with_f(tmp, "transient", "the directory itself\n")
        subprocess.run(["nsenter", "-t", str(d.pid), "-m", "--", "sh", "-c",
                        f"mount -t tmpfs tmpfs {src} && umount {src}"], check=True)
        compared = phase_count(d.api, "dom.mounts_compared")
        copied = phase_count(d.api, "dom.mounts_copy")
        staged = phase_count(d.api, "dom.mounts_staged")
        assert cat_bound_f(d.api, rootfs, src) == "the directory itself\n"
        assert phase_count(d.api, "dom.mounts_compared") == compared + 1
        assert phase_count(d.api, "dom.mounts_copy") == copied
        assert phase_count(d.api, "dom.mounts_staged") == staged + 1
    finally:
        finish_or_fail(d)


def test_restarted_daemon_releases_a_prepared_cgroup_it_adopted(binaries, rootfs):
    """A container from a prepared domain outlives a daemon restart; the new daemon finds
    its cgroup2 directory (which kept its pool name) from the live process, keeps it out of
    the sweep, applies updates there, and removes it once the container is gone."""
    tmp = tempfile.mkdtemp(prefix="pl-it-")
    d = start_or_fail(Daemon(tmp), tmp)
    try:
        wait_prepared(d.api, 2)
        before = phase_count(d.api, "spawn.prepared_take")
        cid = create(d.api, body(rootfs, "echo ready; exec sleep 1000",
                                 resources={"pids_limit": 40}))
        d.api.start(cid)
        d.api.wait_for_output(cid, "ready")
        assert phase_count(d.api, "spawn.prepared_take") == before + 1
        tether = d.api.state(cid)["pid"]
        with open(f"/proc/{tether}/cgroup") as f:
            v2 = [line.split(":", 2)[2].strip() for line in f if line.startswith("0::")]
        pooled = [p for p in v2 if "/pool-" in p]
        if not pooled:
            pytest.skip("no cgroup2 hierarchy holds the container here")
        v2dir = "/sys/fs/cgroup/unified" + pooled[0]
        if not os.path.isdir(v2dir):
            v2dir = "/sys/fs/cgroup" + pooled[0]
        assert os.path.isdir(v2dir), v2dir
        assert d.stop() == 0
        d.start()
        # adopted, not swept: still there, the container still running in it
        assert os.path.isdir(v2dir) and pid_alive(tether)
        with open(os.path.join(v2dir, "cgroup.procs")) as f:
            assert str(tether) in f.read().split()
        assert d.api.state(cid)["status"] == "running"
        assert stats(d.api, cid)["pids"]["limit"] == 40
        d.api.kill(cid, "KILL")
        d.api.wait(cid)
        assert d.api.remove(cid).status == 204
        wait_until(lambda: not os.path.exists(v2dir), what=f"{v2dir} removed")
    finally:
        finish_or_fail(d)


def test_a_waiting_domain_holds_only_tether(binaries, rootfs):
    # A prepared domain execs tether before its container is known: nothing of the daemon's
    # memory or fds waits in it.
    tmp = tempfile.mkdtemp(prefix="pl-it-")
    d = start_or_fail(Daemon(tmp), tmp)
    try:
        wait_prepared(d.api, 2)
        dirs = wait_until(lambda: pool_dirs(instance_tag(d.root)), what="prepared cgroups")

        def waiting():
            pids = procs_in(dirs)
            # each is tether by now (it execs as soon as it is made)
            return pids if pids and all(
                (proc_read(p, "comm") or "").startswith("memfd:pl-teth") for p in pids) else None

        pids = wait_until(waiting, what="prepared domains running tether")
        daemon_exe = os.readlink(f"/proc/{d.pid}/exe")
        for p in pids:
            assert os.readlink(f"/proc/{p}/exe") != daemon_exe
            # the control socket, and for the take (rootfs.h) its network namespace's
            # /proc/sys/net/ipv6/conf, the kernel trees staged for its container and the
            # root it pivoted onto ahead (once it has made them all); the phase page is
            # mapped
            want = [0, 1, 2, 3, 64, 65, 66]
            wait_until(lambda: sorted(int(x) for x in os.listdir(f"/proc/{p}/fd")) == want,
                       what=f"its fds to be {want}")
            assert os.readlink(f"/proc/{p}/fd/64").endswith("/proc/sys/net/ipv6/conf")
            assert os.readlink(f"/proc/{p}/fd/65").endswith("/prepared-stage")
            assert os.readlink(f"/proc/{p}/fd/66") == "/"
            # chrooted into the host's tree, which is below the root made ahead
            assert os.readlink(f"/proc/{p}/root") == "/oldroot", os.readlink(f"/proc/{p}/root")
            maps = proc_read(p, "maps") or ""
            assert "portlayerd" not in maps and "libjansson" not in maps, maps[:400]
            assert "memfd:pl-phase" in maps
        # and a start still takes one and runs
        r = d.api.run(rootfs, ["/bin/sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"])
        assert r.exit_code == 0 and "pl-tether" in r.stdout, (r.stdout, r.stderr)
    finally:
        finish_or_fail(d)


def gauge(api, state=None):
    """portlayer_prepared_domains{state=...}, or the pool's target without a state."""
    r = api.get("/metrics")
    assert r.status == 200, r
    text = r.body.decode() if isinstance(r.body, bytes) else r.body
    pat = (r'^portlayer_prepared_domains\{state="%s"\} (\d+)$' % state if state else
           r'^portlayer_prepared_domains_target (\d+)$')
    m = re.search(pat, text, re.M)
    assert m, text
    return int(m.group(1))


def test_the_pool_is_whole_again_once_starts_pause(binaries, rootfs):
    # The default pool (4) is refilled once the starts pause (prepared.c), every missing
    # domain at once: after one start and after two the pool is whole again, never more
    # than 4 domains wait, and /metrics shows the pool as it is.
    tmp = tempfile.mkdtemp(prefix="pl-it-")
    d = start_or_fail(Daemon(tmp), tmp)
    tag = instance_tag(d.root)
    seen = []

    def domains():
        names = {os.path.basename(p) for p in pool_dirs(tag)}
        seen.append(len(names))
        return names

    def whole(made):
        wait_prepared(d.api, made)
        assert len(wait_until(lambda: len(domains()) == 4 and domains(),
                              what="the pool whole")) == 4
        assert wait_until(lambda: gauge(d.api, "making") == 0, what="nothing being made")
        assert phase_count(d.api, "prepared.made") == made
        assert (gauge(d.api), gauge(d.api, "ready")) == (4, 4)

    try:
        whole(4)
        assert d.api.run(rootfs, ["/bin/true"]).exit_code == 0
        assert phase_count(d.api, "spawn.prepared_take") == 1
        whole(5)
        for _ in range(2):
            assert d.api.run(rootfs, ["/bin/true"]).exit_code == 0
        assert phase_count(d.api, "spawn.prepared_take") == 3
        whole(7)
        assert max(seen) == 4, seen
    finally:
        finish_or_fail(d)


V1_MANAGED = {"memory", "pids", "cpu", "cpuacct", "cpuset", "blkio", "freezer", "devices"}


def v1_paths(pid):
    """{controller: path} of pid's v1 hierarchies that we manage."""
    out = {}
    for line in (proc_read(pid, "cgroup") or "").splitlines():
        hid, ctrls, path = line.split(":", 2)
        for c in ctrls.split(","):
            if hid != "0" and c in V1_MANAGED:
                out[c] = path
    return out


@pytest.mark.parametrize("pool", ["prepared", "cloned"])
def test_every_v1_hierarchy_holds_the_container_in_its_cgroup(binaries, rootfs, api, pool):
    """The domain's first process joins its v1 cgroups itself (a thread moving itself skips
    the kernel's global threadgroup lock): tether and the container's processes are in the
    container's cgroup in every v1 hierarchy, prepared or cloned."""
    if not v1_paths(os.getpid()):
        pytest.skip("no v1 hierarchies on this host")
    d = None
    if pool == "cloned":
        tmp = tempfile.mkdtemp(prefix="pl-it-")
        d = Daemon(tmp)
        d.extra_args = ["--prepared-domains", "0"]
        start_or_fail(d, tmp)
        a = d.api
    else:
        a = api
        wait_prepared(a, 2)
    try:
        before = phase_count(a, "spawn.prepared_take")
        cid = create(a, body(rootfs, "sleep 300 & wait", start=True))
        assert phase_count(a, "spawn.prepared_take") == before + (pool == "prepared")
        tether = a.state(cid)["pid"]
        kids = wait_until(lambda: [int(p) for p in (proc_read(tether, "task/%d/children" % tether)
                                                   or "").split()], what="tether's children")
        for pid in [tether, *kids]:
            paths = v1_paths(pid)
            assert set(paths) == set(v1_paths(os.getpid())), (pid, paths)
            wrong = {c: p for c, p in paths.items() if not p.endswith("/" + cid)}
            assert not wrong, f"pid {pid} outside the container's cgroups: {wrong}"
        a.remove(cid, force=True)
    finally:
        if d:
            finish_or_fail(d)


def test_a_start_waiting_for_its_attach_does_not_hold_up_the_refill(binaries, rootfs):
    # A take that leaves the pool half full or less refills it once a start is done
    # (prepared.c): tether reports STARTED. A tty container with stdin waits for its first
    # attach before that, so the refill must come anyway (after at most 50 ms): with a pool
    # of 2 every take is such a take, and the pool is whole again while the container still
    # waits.
    tmp = tempfile.mkdtemp(prefix="pl-it-")
    d = Daemon(tmp)
    d.extra_args = ["--prepared-domains", "2"]
    d = start_or_fail(d, tmp)
    try:
        wait_prepared(d.api, 2)
        assert wait_until(lambda: gauge(d.api, "ready") == 2, what="the pool whole")
        body = d.api.create_body(rootfs, ["/bin/sh"])
        body["process"].update({"tty": True, "stdin": True})
        r = d.api.create_raw(body)
        assert r.status == 201, r
        cid = r.json["id"]
        d.api.start(cid)
        assert phase_count(d.api, "spawn.prepared_take") == 1
        assert d.api.state(cid)["status"] == "running"
        assert wait_until(lambda: gauge(d.api, "ready") == 2 and gauge(d.api, "making") == 0,
                          what="the pool whole again")
        assert phase_count(d.api, "prepared.made") == 3
        # it has not attached: no STARTED yet, and the refill came without one
        assert phase_count(d.api, "tether.config_to_started") == 0
        assert phase_count(d.api, "prepared.refill_after_start") == 0
        assert d.api.remove(cid, force=True).status == 204
        # (an ordinary start's STARTED refills it sooner, counted as
        # prepared.refill_after_start; whether it comes before the 50 ms is timing)
    finally:
        finish_or_fail(d)
