# SPDX-License-Identifier: Apache-2.0
"""What the container can see and touch, and what it leaves behind on the host."""

import hashlib
import os
import random
import stat

from conftest import (TETHER, cgroup_dirs_for, cgroup_paths_of, mounts_matching,
                      pid_alive, pids_in_cgroups_matching, pids_with_cmdline, proc_read,
                      wait_until)


def tree_manifest(root):
    """(path, type, mode, uid, gid, size, sha256 / link target) of everything under root."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            if stat.S_ISLNK(st.st_mode):
                extra = os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    extra = hashlib.sha256(f.read()).hexdigest()
            else:
                extra = ""
            out.append((rel, stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode),
                        st.st_uid, st.st_gid, st.st_size if not stat.S_ISDIR(st.st_mode) else 0,
                        extra))
    return out


def unique_sleep():
    """A sleep argument no other process on the host uses, to find our processes."""
    return str(900000 + random.randrange(99999))


# ---------------------------------------------------------------- PID 1, tether


def test_pid1_is_tether(api, rootfs):
    r = api.run(rootfs, ["/bin/sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; echo; echo $$"])
    assert r.exit_code == 0, r.stderr
    cmdline, mypid = r.stdout.splitlines()
    assert "tether" in cmdline, f"PID 1 is {cmdline!r}"
    assert mypid != "1", "the user process must not be PID 1 (tether is)"


def test_nothing_of_the_set_up_is_beside_the_first_process(api, rootfs):
    # The domain's set-up leaves tether a child that holds its copy of the daemon's memory
    # while tether starts (docs/tether-protocol.md, --reap-first); it must be gone, reaped,
    # before the container's first process exists: that process is tether's only child.
    for _ in range(5):  # prepared domains, then ones made while the earlier ran
        r = api.run(rootfs, ["/bin/sh", "-c", "cat /proc/1/task/1/children; echo; echo $$"])
        assert r.exit_code == 0, r.stderr
        children, mypid = r.stdout.splitlines()
        assert children.split() == [mypid], f"tether's children: {children!r}, primary {mypid}"


def test_pid_namespace_is_private(api, rootfs):
    r = api.run(rootfs, ["/bin/sh", "-c", "ls -d /proc/[0-9]* | wc -l"])
    # tether, sh, ls (and maybe wc): far fewer than the host has.
    assert 1 <= int(r.stdout.strip()) <= 5, r.stdout


def test_tether_binary_not_writable_from_container(api, rootfs):
    with open(TETHER, "rb") as f:
        before = hashlib.sha256(f.read()).hexdigest()
    r = api.run(rootfs, ["/bin/sh", "-c", "echo x > /proc/1/exe && echo WROTE"])
    assert r.exit_code != 0
    assert "WROTE" not in r.stdout
    with open(TETHER, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == before, "container modified pl-tether!"


# ---------------------------------------------------------------- network


def test_network_only_loopback_up(api, rootfs):
    r = api.run(rootfs, ["/bin/sh", "-c",
                         "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; echo ---; ip link show lo"])
    assert r.exit_code == 0, r.stderr
    devs, link = r.stdout.split("---\n")
    assert devs.split() == ["lo"]
    flags = link.split("<", 1)[1].split(">", 1)[0].split(",")
    assert "UP" in flags, link


def test_network_cannot_reach_outside(api, rootfs):
    # Only loopback exists: connecting anywhere else fails at once (no route).
    r = api.run(rootfs, ["/bin/sh", "-c", "ip route; ip -4 addr show lo"])
    assert "127.0.0.1" in r.stdout
    assert "default" not in r.stdout


# ---------------------------------------------------------------- zombies


def test_orphans_are_reaped(api, rootfs):
    # Three orphans exit while the primary process runs; PID 1 must reap them.
    # The script waits (with a deadline) until no process named `sleep` is left,
    # alive or zombie, then counts zombies among everything in the namespace.
    script = r"""
(sleep 0.1 &) ; (sleep 0.15 &) ; (sleep 0.2 &)
count() { # prints "<sleep processes> <zombies>"
  s=0; z=0
  for f in /proc/[0-9]*/stat; do
    line=$(cat "$f" 2>/dev/null) || continue
    comm=${line#*(}; comm=${comm%%)*}
    st=${line##*) }; st=${st%% *}
    [ "$comm" = sleep ] && s=$((s+1))
    [ "$st" = Z ] && z=$((z+1))
  done
  echo "$s $z"
}
i=0
while [ $i -lt 200 ]; do
  set -- $(count)
  [ "$1" = 0 ] && break
  usleep 25000; i=$((i+1))
done
echo "sleeps=$1 zombies=$2"
"""
    r = api.run(rootfs, ["/bin/sh", "-c", script])
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == "sleeps=0 zombies=0", \
        f"orphaned children were not reaped by PID 1: {r.stdout!r}"


def test_no_process_survives_primary_exit(api, rootfs):
    token = unique_sleep()
    r = api.run(rootfs, ["/bin/sh", "-c", f"sleep {token} & sleep {token} & echo started"])
    assert r.stdout == "started\n"
    assert r.state["status"] == "stopped"
    assert r.exit_code == 0
    wait_until(lambda: not [p for p in pids_with_cmdline("sleep", token) if pid_alive(p)],
               timeout=5, what="background processes of the exited container to die")
    assert pids_with_cmdline("sleep", token) == [], "zombie of a container process left on host"
    assert pids_in_cgroups_matching(r.id) == []
    for d in cgroup_dirs_for(r.id):
        with open(os.path.join(d, "cgroup.procs")) as f:
            assert f.read().strip() == "", f"processes left in {d}"


# ---------------------------------------------------------------- rootfs


def test_source_rootfs_unchanged(api, rootfs):
    before = tree_manifest(rootfs)
    r = api.run(rootfs, ["/bin/sh", "-c",
                         "touch /newfile && rm /bin/ls && echo extra >> /etc/passwd && "
                         "chmod 700 /bin && mkdir -p /tmp/x/y && rm -r /home && "
                         "test -e /newfile && ! test -e /bin/ls && echo CHANGED"])
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "CHANGED\n"
    assert tree_manifest(rootfs) == before, "the container modified its source rootfs"
    # A new container sees the pristine tree.
    r2 = api.run(rootfs, ["/bin/sh", "-c", "test -e /bin/ls && ! test -e /newfile && echo CLEAN"])
    assert r2.stdout == "CLEAN\n"


def test_rootfs_writable(api, rootfs):
    r = api.run(rootfs, ["/bin/sh", "-c", "echo data > /tmp/f && cat /tmp/f && echo y > /f && cat /f"])
    assert (r.exit_code, r.stdout) == (0, "data\ny\n")


def test_proc_and_dev_basics(api, rootfs):
    r = api.run(rootfs, ["/bin/sh", "-c",
                         "test -r /proc/self/status && test -c /dev/null && "
                         "echo x > /dev/null && head -c 4 /dev/zero | wc -c"])
    assert (r.exit_code, r.stdout.strip()) == (0, "4"), r.stderr


# ---------------------------------------------------------------- remove


def test_force_remove_running_cleans_everything(api, daemon, rootfs):
    token = unique_sleep()
    cid = api.create(rootfs, ["/bin/sh", "-c", f"sleep {token} & echo ready; sleep {token}"])
    api.start(cid)
    api.wait_for_output(cid, "ready")
    st = api.state(cid)
    tether = st["pid"]
    assert tether > 0 and pid_alive(tether)
    procs = wait_until(lambda: (lambda p: p if len(p) == 2 else None)(
        pids_with_cmdline("sleep", token)), timeout=10, what="two container sleeps on the host")
    # The container's own cgroups: those its processes are in and we are not.
    cgdirs = set(cgroup_paths_of(procs[0])) - set(cgroup_paths_of(os.getpid())) \
        - set(cgroup_paths_of(daemon.pid))
    domain = daemon.root / "containers" / cid
    assert domain.is_dir(), f"no domain directory {domain}"

    assert api.remove(cid).status == 409
    r = api.remove(cid, force=True)
    assert r.status == 204, r

    # All of this holds once remove has answered.
    assert not domain.exists(), f"domain dir {domain} still exists"
    assert mounts_matching(cid) == [], "a mount of the container is left on the host"
    assert mounts_matching(cid, daemon.pid) == [], "a mount is left in the daemon's namespace"
    for d in sorted(cgdirs):
        assert not os.path.exists(d), f"cgroup {d} still exists"
    leftover = cgroup_dirs_for(cid)
    assert leftover == [], f"cgroup dirs left: {leftover}"
    assert pids_in_cgroups_matching(cid) == []
    assert api.get(f"/containers/{cid}").status == 404
    assert cid not in [c["id"] for c in api.containers()]
    # Processes: killed by the time remove answered; reaping may trail by a moment.
    wait_until(lambda: not pid_alive(tether) and not any(pid_alive(p) for p in procs),
               timeout=5, what="container processes to die")
    wait_until(lambda: proc_read(tether, "stat") is None and not pids_with_cmdline("sleep", token),
               timeout=5, what="container processes to be reaped")


def test_container_gets_own_cgroup(api, rootfs):
    token = unique_sleep()
    cid = api.create(rootfs, ["/bin/sleep", token])
    api.start(cid)
    tether = api.state(cid)["pid"]
    procs = wait_until(lambda: pids_with_cmdline("/bin/sleep", token), what="the sleep on the host")
    assert len(procs) == 1
    mine = proc_read(os.getpid(), "cgroup")
    theirs = proc_read(procs[0], "cgroup")
    assert theirs != mine, "the container's process shares the test runner's cgroups"
    assert proc_read(tether, "cgroup") is not None
    # The container's cgroup is named after it (the cleanup checks rely on it).
    assert pids_in_cgroups_matching(cid), f"no cgroup path contains the id:\n{theirs}"
    api.remove(cid, force=True)
