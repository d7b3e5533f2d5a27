# SPDX-License-Identifier: Apache-2.0
"""The exit and removal path off the request path: a linux domain's mount namespace is held
by the daemon while it runs and closed by the daemon's janitor process after the exit is
answered; a removed domain's tree is renamed away and deleted by the janitor. What a user
must be able to count on: once things settle nothing of a removed container is left (no
mount, namespace, cgroup, directory, record, name), and a daemon killed -9 with deletions
pending leaves nothing after its next start."""

import fcntl
import os
import signal
import socket
import struct
import subprocess
import tempfile
import threading

import pytest

from conftest import (DEADLINE, MECHANISM, PORTLAYERD, cgroup_dirs_for, Daemon, finish_or_fail,
                      mounts_matching, own_daemon, pid_alive, pids_in_cgroups_matching, proc_read,
                      start_or_fail, wait_until)
from pl_extra import binaries  # noqa: F401 - overrides conftest's (plctl not needed)

pytestmark = pytest.mark.skipif(MECHANISM == "vm", reason="host mount namespaces only")

READY_THEN_WAIT = ["/bin/sh", "-c", "echo first > /kept; echo ready; exec /bin/sleep 1000"]


@pytest.fixture(scope="module")
def daemon(binaries):  # noqa: F811 - this module's own daemon: a test kills it -9
    yield from own_daemon("pl-it-td-")


@pytest.fixture(scope="module")
def api(daemon):
    return daemon.api


NS_GET_MNTNS_ID = 0x8008B705  # _IOR(0xb7, 5, __u64): a mount namespace's id, never reused


def ns_key(path):
    """"mnt:[N]" and, where the kernel tells it, the namespace's unique id: an inode number
    is reused as soon as the namespace is freed (the next namespace made, a prepared
    domain's say, gets it), the id never is."""
    link = os.readlink(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return link
    try:
        return f"{link}#{struct.unpack('Q', fcntl.ioctl(fd, NS_GET_MNTNS_ID, bytes(8)))[0]}"
    except OSError:
        return link
    finally:
        os.close(fd)


def mnt_ns_of(pid):
    return ns_key(f"/proc/{pid}/ns/mnt")


def holders_of(ns):
    """Host pids that are in the namespace ns (ns_key) or hold an fd to it."""
    link = ns.split("#")[0]
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            p = f"/proc/{name}/ns/mnt"
            if os.readlink(p) == link and ns_key(p) == ns:
                found.append(int(name))
                continue
            for fd in os.listdir(f"/proc/{name}/fd"):
                p = f"/proc/{name}/fd/{fd}"
                if os.readlink(p) == link and ns_key(p) == ns:
                    found.append(int(name))
                    break
        except OSError:
            continue
    return found


def daemon_children(daemon):
    """Processes running the daemon's binary for this daemon's root, other than it."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == daemon.pid:
            continue
        cmd = proc_read(int(name), "cmdline", binary=True) or b""
        if cmd.startswith(str(PORTLAYERD).encode() + b"\0") and str(daemon.root).encode() in cmd \
                and pid_alive(int(name)):
            found.append(int(name))
    return found


def janitors(daemon):
    """The daemon's janitor process(es): its children running SCHED_BATCH (policy 3)."""
    found = []
    for pid in daemon_children(daemon):
        stat = proc_read(pid, "stat") or ""
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 38 and fields[1] == str(daemon.pid) and fields[38] == "3":
            found.append(pid)
    return found


def start_waiting(api, rootfs, **kw):
    cid = api.create(rootfs, READY_THEN_WAIT, **kw)
    api.start(cid)
    api.wait_for_output(cid, "ready")
    tether = api.state(cid)["pid"]
    return cid, tether, mnt_ns_of(tether)


def remains(daemon, cid, ns):
    """What is left of a removed container on the host."""
    problems = []
    if pids_in_cgroups_matching(cid):
        problems.append("processes in its cgroups")
    if cgroup_dirs_for(cid):
        problems.append(f"cgroups {cgroup_dirs_for(cid)}")
    if mounts_matching(cid):
        problems.append(f"mounts {mounts_matching(cid)}")
    holders = holders_of(ns)
    if holders:
        problems.append(f"its mount namespace held by {holders}")
    trees = [n for n in os.listdir(daemon.root / "containers") if cid in n]
    if trees:
        problems.append(f"directories {trees}")
    runs = [n for n in os.listdir(daemon.run_dir / "containers") if cid in n]
    if runs:
        problems.append(f"run directories {runs}")
    return problems


def test_stopped_domain_namespace_released(api, rootfs):
    cid, tether, ns = start_waiting(api, rootfs)
    assert ns != mnt_ns_of("self")
    api.stop(cid, timeout=0)
    assert api.wait(cid)["exit_code"] == 128 + 9
    # the answer means nothing of the container runs any more
    assert not pid_alive(tether)
    assert pids_in_cgroups_matching(cid) == []
    # the namespace itself goes once the janitor has closed the daemon's hold on it
    wait_until(lambda: not holders_of(ns), what=f"nothing to hold {ns}")
    # a new run mounts the same upper directory again: the earlier mount is gone first
    r = api.post(f"/containers/{cid}/start")
    assert r.status == 204, r.body
    api.wait_for_output(cid, "ready")
    assert api.state(cid)["status"] == "running"
    assert api.remove(cid, force=True).status == 204


def test_removal_leaves_nothing_once_settled(api, daemon, rootfs):
    name = "td-settle"
    cid, tether, ns = start_waiting(api, rootfs, name=name)
    assert holders_of(ns), "the running container's namespace has no process"
    assert api.remove(cid, force=True).status == 204
    # gone for every reader at once, id and name alike, and the name is free again
    assert api.get(f"/containers/{cid}").status == 404
    assert api.get(f"/containers/{name}").status == 404
    assert cid not in [c["id"] for c in api.containers()]
    assert not pid_alive(tether)
    assert pids_in_cgroups_matching(cid) == []
    assert not (daemon.root / "containers" / cid).exists()
    wait_until(lambda: not remains(daemon, cid, ns),
               what=f"nothing left of {cid[:12]}: {remains(daemon, cid, ns)}")
    again = api.create(rootfs, ["/bin/true"], name=name)
    assert again != cid
    assert api.remove(again).status == 204


def test_janitor_killed_is_replaced(api, daemon, rootfs):
    old = wait_until(lambda: janitors(daemon), what="the daemon's janitor process")
    assert len(old) == 1, old
    cid, tether, ns = start_waiting(api, rootfs)
    os.kill(old[0], signal.SIGKILL)
    wait_until(lambda: not pid_alive(old[0]), what="the killed janitor to be gone")
    # the work it would have done is done by another
    assert api.remove(cid, force=True).status == 204
    wait_until(lambda: not remains(daemon, cid, ns),
               what=f"nothing left of {cid[:12]}: {remains(daemon, cid, ns)}")
    new = janitors(daemon)
    assert len(new) == 1 and new != old, (old, new)
    assert daemon.alive()


def test_create_and_start_answers_once_the_janitor_made_it_durable(binaries, rootfs):  # noqa: F811
    """create+start fsyncs config.json and the directories off the loop, in the janitor's
    child (no fork per create): the 201 waits for that child's answer, and a child lost
    meanwhile, or just before, does not lose the answer (the daemon does the fsyncs)."""
    tmp = tempfile.mkdtemp(prefix="pl-it-td-")
    d = start_or_fail(Daemon(tmp), tmp)
    try:
        api = d.api
        old = wait_until(lambda: janitors(d), what="the daemon's janitor process")
        assert len(old) == 1, old
        os.kill(old[0], signal.SIGSTOP)
        result = {}

        def create():
            body = api.create_body(rootfs, READY_THEN_WAIT)
            body["start"] = True
            result["r"] = api.create_raw(body)

        t = threading.Thread(target=create)
        try:
            t.start()
            t.join(1.0)
            assert t.is_alive(), f"answered with the janitor stopped: {result}"
        finally:
            os.kill(old[0], signal.SIGKILL)
            os.kill(old[0], signal.SIGCONT)
        t.join(60)
        assert not t.is_alive(), "no answer once the janitor was gone"
        r = result["r"]
        assert r.status == 201, r.body
        cid = r.json["id"]
        assert (d.root / "containers" / cid / "config.json").is_file()
        api.wait_for_output(cid, "ready")
        assert api.state(cid)["status"] == "running"
        assert api.remove(cid, force=True).status == 204
        # killed just before a create+start: the daemon may find it gone while sending
        now = wait_until(lambda: janitors(d) != old and janitors(d), what="another janitor")
        os.kill(now[0], signal.SIGKILL)
        body = api.create_body(rootfs, ["/bin/true"])
        body["start"] = True
        r = api.create_raw(body)
        assert r.status == 201, r.body
        assert api.wait(r.json["id"])["exit_code"] == 0
        assert api.remove(r.json["id"], force=True).status == 204
        assert d.alive()
    finally:
        finish_or_fail(d)


def test_kill9_with_deletions_pending_leaves_nothing(api, daemon, rootfs):
    containers = daemon.root / "containers"
    # a deletion a crash interrupted: a renamed tree, half deleted
    planted = containers / (".removing-" + "e" * 64)
    (planted / "upper" / "a" / "b").mkdir(parents=True)
    for i in range(50):
        (planted / "upper" / "a" / "b" / f"f{i}").write_text("x")
    (daemon.run_dir / "containers" / (".removing-" + "e" * 64) / "x").mkdir(parents=True)
    # and a removal whose tree (a few thousand files) the janitor is deleting at the kill
    cid = api.create(rootfs, ["/bin/sh", "-c",
                              "mkdir /d && cd /d && i=0; while [ $i -lt 3000 ]; do "
                              ": > f$i; i=$((i+1)); done; echo done"])
    api.start(cid)
    assert api.wait(cid)["exit_code"] == 0
    kept, kept_tether, _ = start_waiting(api, rootfs)
    children = daemon_children(daemon)
    assert api.remove(cid).status == 204
    daemon.kill()
    # what the daemon forked dies with it
    wait_until(lambda: not [p for p in children if pid_alive(p)],
               what=f"the daemon's children {children} to end with it")
    start_or_fail(daemon)
    left = [n for n in os.listdir(containers) if n.startswith(".")]
    assert left == [], f"half-removed or half-made domains after the restart: {left}"
    left = [n for n in os.listdir(daemon.run_dir / "containers") if n.startswith(".")]
    assert left == [], f"half-removed run directories after the restart: {left}"
    assert [c["id"] for c in api.containers()] == [kept]
    assert api.get(f"/containers/{cid}").status == 404
    assert api.state(kept)["status"] == "running" and pid_alive(kept_tether)
    assert cgroup_dirs_for(cid) == [] and mounts_matching(cid) == []
    assert api.remove(kept, force=True).status == 204
    wait_until(lambda: os.listdir(containers) == [],
               what=f"removed trees to be deleted: {os.listdir(containers)}")


def test_a_job_worker_does_not_hold_a_stopped_domain(api, daemon, rootfs):
    """A job's worker process (export, pull, commit...) is forked from the daemon while
    other containers run: it must not keep their mount namespaces (and overlays) after they
    stop, however long the job lasts."""
    big = api.create(rootfs, ["/bin/sh", "-c",
                              "dd if=/dev/zero of=/big bs=1M count=32 2>/dev/null; echo done"])
    api.start(big)
    assert api.wait(big)["exit_code"] == 0
    cid, tether, ns = start_waiting(api, rootfs)
    before = set(daemon_children(daemon))
    # an export whose client reads nothing: its worker blocks on a full pipe, alive
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(daemon.socket))
    try:
        s.sendall(f"GET /containers/{big}/export HTTP/1.1\r\nHost: d\r\n\r\n".encode())
        worker = wait_until(lambda: set(daemon_children(daemon)) - before,
                            what="the export's worker process")
        api.stop(cid, timeout=0)
        api.wait(cid)
        wait_until(lambda: not holders_of(ns),
                   what=f"nothing to hold {ns} (held by {holders_of(ns)}, worker {worker})")
        assert all(pid_alive(p) for p in worker), "the worker ended: the test proves nothing"
    finally:
        s.close()
    assert api.remove(cid).status == 204
    assert api.remove(big).status == 204


def test_a_very_deep_tree_is_deleted(api, daemon, rootfs):
    """A container can nest directories deeper than the deleter has fds (the daemon's limit,
    20000 here) or stack (8 MiB: ~24000 levels) for one per level: 26000 levels must still
    leave nothing behind once removed."""
    cid = api.create(rootfs, ["/bin/sh", "-c",
                              "p=$(printf 'a/%.0s' $(seq 2000)); mkdir /deep && "
                              "for i in $(seq 13); do mkdir -p /t/$p && "
                              "mv /deep /t/${p}d && mv /t /deep || exit 1; done"])
    api.start(cid)
    assert api.wait(cid, timeout=120)["exit_code"] == 0, api.logs(cid)
    assert api.remove(cid).status == 204
    containers = daemon.root / "containers"
    wait_until(lambda: not [n for n in os.listdir(containers) if cid in n],
               timeout=120, what=f"the removed tree of {cid[:12]} to be deleted")
    assert daemon.alive()


def test_janitor_lost_for_good_work_done_by_the_daemon(binaries, rootfs):  # noqa: F811
    """A janitor process that keeps dying (three times) is not replaced again: the daemon
    closes the handles and deletes the trees itself, and a removal still leaves nothing."""
    tmp = tempfile.mkdtemp(prefix="pl-it-td-")
    d = start_or_fail(Daemon(tmp), tmp)
    try:
        api = d.api
        for death in range(3):
            old = wait_until(lambda: janitors(d), what=f"janitor #{death + 1}")
            cid, tether, ns = start_waiting(api, rootfs)
            os.kill(old[0], signal.SIGKILL)
            wait_until(lambda: not os.path.exists(f"/proc/{old[0]}"),
                       what=f"the killed janitor {old[0]} reaped")
            assert api.remove(cid, force=True).status == 204
            wait_until(lambda: not remains(d, cid, ns),
                       what=f"nothing left of {cid[:12]}: {remains(d, cid, ns)}")
        assert janitors(d) == []
        cid, tether, ns = start_waiting(api, rootfs)
        api.stop(cid, timeout=0)
        api.wait(cid)
        r = api.post(f"/containers/{cid}/start")  # its last run's overlay is unmounted first
        assert r.status == 204, r.body
        api.wait_for_output(cid, "ready")
        assert api.remove(cid, force=True).status == 204
        wait_until(lambda: not remains(d, cid, ns),
                   what=f"nothing left of {cid[:12]}: {remains(d, cid, ns)}")
        assert d.alive() and janitors(d) == []
    finally:
        finish_or_fail(d)


def test_a_parked_archive_request_survives_other_containers_changes(api, daemon, rootfs):
    """An archive request (here changes, answered when its job ends) is parked while its job
    runs; another container's change of state meanwhile walks the parked requests, which
    must all be waiters (a job parked as its own wait data was read as one: SEGV)."""
    many = api.create(rootfs, ["/bin/sh", "-c",
                               "mkdir /m && cd /m && seq 60000 | xargs touch && echo done"])
    api.start(many)
    assert api.wait(many, timeout=120)["exit_code"] == 0
    cid, _, _ = start_waiting(api, rootfs)
    parked = False
    for _ in range(5):  # until a stop came while the request was still parked
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(daemon.socket))
        try:
            s.sendall(f"GET /containers/{many}/changes HTTP/1.1\r\nHost: d\r\n"
                      f"Connection: close\r\n\r\n".encode())
            api.stop(cid, timeout=0)
            api.wait(cid)
            try:  # nothing to read yet: the stop's change came while it was parked
                s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except BlockingIOError:
                parked = True
            assert api.get("/_ping").status == 200
            s.settimeout(120)
            head = s.recv(64)
            assert head.startswith(b"HTTP/1.1 200"), head
        finally:
            s.close()
        if parked:
            break
        api.start(cid)
    assert parked, "every changes job ended before the stop: the test proves nothing"
    assert api.remove(cid, force=True).status == 204
    assert api.remove(many).status == 204


# A registry that accepts and says nothing until its stdin closes, then hangs up on every
# connection (the held ones and any after); prints its port, then one line per connection.
SILENT_REGISTRY = """
import socket, sys, threading
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(16)
print(srv.getsockname()[1], flush=True)
held, done = [], threading.Event()
def serve():
    while True:
        c, _ = srv.accept()
        print("conn", flush=True)
        c.close() if done.is_set() else held.append(c)
threading.Thread(target=serve, daemon=True).start()
sys.stdin.read()
done.set()
for c in held:
    c.close()
threading.Event().wait(60)
"""


def test_a_store_job_whose_client_left_answers_nobody(api, daemon):
    """A pull (a store job: answered when it ends) whose client hangs up first: the job
    must answer nobody when it ends, not the request freed meanwhile."""
    # the daemon's own network namespace: its loopback may still be down
    subprocess.run(["nsenter", "-t", str(daemon.pid), "-n", "ip", "link", "set", "lo", "up"],
                   check=True)
    reg = subprocess.Popen(["nsenter", "-t", str(daemon.pid), "-n", "python3", "-c",
                            SILENT_REGISTRY], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           text=True)
    try:
        port = int(reg.stdout.readline())
        before = set(daemon_children(daemon))
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(daemon.socket))
        try:
            s.sendall(f"POST /images/pull?ref=127.0.0.1:{port}/gone/client:1&insecure=1 "
                      f"HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n".encode())
            assert reg.stdout.readline().strip() == "conn"  # the job waits on the registry
            worker = set(daemon_children(daemon)) - before
        finally:
            s.close()  # the client goes while the job waits
        # the daemon sees the hang-up (a parked request's socket is watched); then the job ends
        assert api.get("/_ping").status == 200
        reg.stdin.close()
        wait_until(lambda: not any(pid_alive(p) for p in worker), what="the pull's worker gone")
        for _ in range(3):  # its answer, to nobody, comes on the loop meanwhile
            assert api.get("/_ping").status == 200
        assert daemon.proc.poll() is None
    finally:
        reg.kill()
        reg.wait()


def test_stopping_with_a_stream_waiting_for_its_job(binaries):  # noqa: F811
    """A pull's progress stream waits for its job (the registry says nothing) when the
    daemon is told to stop: the stream ends (cut) and the daemon exits cleanly, instead of
    answering a streaming request 500 and aborting on a suspended connection."""
    tmp = tempfile.mkdtemp(prefix="pl-it-td-")
    d = start_or_fail(Daemon(tmp), tmp)
    reg = None
    try:
        subprocess.run(["nsenter", "-t", str(d.pid), "-n", "ip", "link", "set", "lo", "up"],
                       check=True)
        reg = subprocess.Popen(["nsenter", "-t", str(d.pid), "-n", "python3", "-c",
                                SILENT_REGISTRY], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
        port = int(reg.stdout.readline())
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(d.socket))
        s.settimeout(DEADLINE)
        try:
            s.sendall(f"POST /images/pull?ref=127.0.0.1:{port}/stop/me:1&insecure=1&progress=1 "
                      f"HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n".encode())
            head = s.recv(4096)
            assert head.startswith(b"HTTP/1.1 200"), head
            assert reg.stdout.readline().strip() == "conn"  # the job waits on the registry
            assert d.stop(timeout=DEADLINE) == 0, "the daemon did not exit cleanly"
            while s.recv(4096):  # the stream ends
                pass
        finally:
            s.close()
    finally:
        if reg:
            reg.kill()
            reg.wait()
        finish_or_fail(d, restart=True)
