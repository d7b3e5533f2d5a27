"""The vm mechanism: containers that ask for a dedicated kernel run in a QEMU microVM with
tether as the guest's init. Real QEMU, real guest kernel (TCG here: MACHINE.md). Boots are
slow on these machines, so the module shares one daemon and a few VMs, serially:
an echo VM (exit code, logs), a long-lived box (own kernel, exec, tty, inspect, memory size,
daemon kill -9 + reattach, exit while the daemon is down), and one container started three
times (stop, kill, QEMU killed from outside)."""

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from conftest import DEADLINE, Daemon, Plctl, finish_daemon, wait_until
from test_interactive import exec_run, upgrade, exec_create, exec_wait
from test_storage import built, oci  # noqa: F401 (fixtures: two umoci images)
from pl_extra import read_events

DEDICATED = {"kernel": "dedicated"}
BOOT = 90  # seconds a boot may take on a loaded 2-core machine under TCG
ECHO = {}  # the echo VM's id, for the relaunch test


@pytest.fixture(scope="module")
def daemon(binaries, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pl-vm")
    d = Daemon(tmp)
    d.extra_args = ["--vm-accel", os.environ.get("PL_VM_ACCEL", "tcg")]
    try:
        d.start()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    info = d.api.get("/info").json
    vm = [m for m in info["mechanisms"] if m["name"] == "vm"]
    if not vm or not vm[0]["available"]:
        finish_daemon(d)
        pytest.skip("vm mechanism unavailable (qemu or the guest kernel is not installed: "
                    f"scripts/deps.sh): {vm[0].get('reason') if vm else 'not built'}")
    yield d
    problems = finish_daemon(d)
    if problems:
        pytest.fail("daemon teardown: " + "; ".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def api(daemon):
    return daemon.api


@pytest.fixture(scope="module")
def plctl(daemon):
    return Plctl(daemon.socket)


def create_vm(api, rootfs, args, name, **extra):
    body = api.create_body(rootfs, args, name=name, isolation=DEDICATED)
    body.update(extra)
    r = api.create_raw(body)
    assert r.status == 201, f"create: {r.status} {r.body!r}"
    return r.json["id"]


def qemu_pid(api, cid):
    pid = api.state(cid)["pid"]
    assert pid > 0
    exe = os.readlink(f"/proc/{pid}/exe")
    assert exe.endswith("qemu-system-x86_64"), exe
    return pid


def pid_gone(pid):
    try:
        os.kill(pid, 0)
        return False
    except ProcessLookupError:
        return True


def restart(daemon):
    """Starts a new portlayerd on the same state (the old one is dead)."""
    daemon.proc = None
    daemon.start()


def test_echo_exit_code_and_logs(api, rootfs, uniq):
    cid = create_vm(api, rootfs, ["sh", "-c", "echo out; echo err >&2; exit 3"], uniq)
    assert api.inspect(cid)["mechanism"] == "vm"
    api.start(cid)
    w = api.wait(cid, timeout=BOOT)
    assert w["exit_code"] == 3
    out, err = api.output(cid)
    assert (out, err) == ("out\n", "err\n")
    st = api.state(cid)
    assert st["status"] == "stopped" and st["exit_code"] == 3 and st["error"] == ""
    dom = api.inspect(cid)["domain"]
    assert "dedicated" in dom["reason"] and dom["kernel"] and dom["accel"] in ("kvm", "tcg")
    assert dom["file_size_limit"] > 1 << 30
    ECHO["id"] = cid


def test_failed_relaunch_is_not_the_previous_exit(daemon, api):
    """The echo VM exited 3. A relaunch whose launcher fails before QEMU runs (its disk
    cannot be made) must not report that old exit record as this run's."""
    cid = ECHO["id"]
    ddir = daemon.root / "containers" / cid
    assert (ddir / "exit.json").exists()
    (ddir / "disk.qcow2").unlink()
    (ddir / "disk.qcow2.tmp").mkdir()  # qemu-img cannot create the overlay there
    api.post(f"/containers/{cid}/start")  # fails now or while booting: either way
    wait_until(lambda: api.state(cid)["status"] == "stopped", BOOT, interval=0.1,
               what="the launch to fail")
    st = api.state(cid)
    assert st["exit_code"] != 3 and "container disk" in st["error"], st
    (ddir / "disk.qcow2.tmp").rmdir()


def test_image_root_disk_with_whiteout(api, oci, uniq):
    """An image's layers become the VM's disk as their merged view: image "two" deletes
    /etc/victim (a whiteout over layer one) and adds /etc/added."""
    body = {"image": "two", "name": uniq, "isolation": DEDICATED,
            "process": {"args": ["sh", "-c", "test -e /etc/victim || echo gone; "
                                 "cat /etc/added /data/keep; echo $FOO"]}}
    r = api.create_raw(body)
    assert r.status == 201, r
    cid = r.json["id"]
    api.start(cid)
    assert api.wait(cid, timeout=BOOT)["exit_code"] == 0
    out, _ = api.output(cid)
    assert out == "gone\nlayer two\nkeep\nbar\n"


def test_plctl_run_dedicated(plctl, rootfs, uniq):
    p = plctl("run", "--name", uniq, "--kernel=dedicated", "--cpus", "2", "--memory", "160m",
              rootfs, "sh", "-c", "nproc; grep MemTotal /proc/meminfo; exit 4", timeout=BOOT + 30)
    assert p.returncode == 4, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "2" and 100 * 1024 < int(lines[1].split()[1]) <= 160 * 1024, p.stdout
    p = plctl("inspect", uniq, check=0)
    j = json.loads(p.stdout)[0]
    assert j["mechanism"] == "vm" and j["domain"]["cpus"] == 2, j["domain"]
    assert j["domain"]["memory_mib"] == 160 and "dedicated" in j["domain"]["reason"]


def test_mounts_refused(api, rootfs, uniq, tmp_path):
    body = api.create_body(rootfs, ["true"], name=uniq, isolation=DEDICATED)
    body["mounts"] = [{"type": "bind", "source": str(tmp_path), "target": "/mnt"}]
    r = api.create_raw(body)
    assert r.status == 400 and "mounts" in r.message, r


@pytest.mark.parametrize("field,extra", [
    ("network_mode", {"networks": [{"scope": "bridge"}]}),
    ("security.userns", {"security": {"userns": {"mode": "remap"}}}),
])
def test_what_a_vm_lacks_is_refused_not_ignored(api, rootfs, uniq, field, extra):
    """A scope or a remapped user namespace would silently mean nothing in a guest: 400,
    and nothing is created."""
    body = api.create_body(rootfs, ["true"], name=uniq, isolation=DEDICATED)
    body.update(extra)
    r = api.create_raw(body)
    assert r.status == 400 and field in r.message, r
    assert api.get(f"/containers/{uniq}/json").status == 404


def cpu_quota_us(cid):
    v2 = Path(f"/sys/fs/cgroup/portlayer/{cid}/cpu.max")
    if v2.exists():
        return int(v2.read_text().split()[0])
    for c in ("cpu", "cpu,cpuacct"):
        v1 = Path(f"/sys/fs/cgroup/{c}/portlayer/{cid}/cpu.cfs_quota_us")
        if v1.exists():
            return int(v1.read_text())
    raise AssertionError(f"no cpu cgroup for {cid}")


def children(pid, comm):
    out = []
    for d in Path("/proc").iterdir():
        try:
            st = (d / "stat").read_text()
        except (OSError, ValueError):
            continue
        name = st[st.index("(") + 1:st.rindex(")")]
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        if ppid == pid and name == comm:
            out.append(int(d.name))
    return out


def dead(pid):
    """Gone, or a zombie nobody reaps (an orphan's new parent may be slow to)."""
    try:
        st = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return st[st.rindex(")") + 2] == "Z"


def test_launcher_killed_mid_build(daemon, api, uniq, tmp_path):
    """A first start builds the base disk (mkfs.ext4 copying 768 MiB: ~2 s here). Meanwhile
    pause answers 409 at once (nothing serves QMP yet). The launcher SIGKILLed mid-build
    (the daemon down) takes mkfs with it, and what it left in the cache goes at the next
    daemon start. No boot."""
    tree = tmp_path / "big"
    tree.mkdir()
    with open(tree / "data", "wb") as f:  # real blocks: mkfs copies them (seconds)
        for _ in range(768):
            f.write(b"x" * (1 << 20))
    cid = create_vm(api, tree, ["true"], uniq)

    def start():
        try:
            api.post(f"/containers/{cid}/start")
        except OSError:
            pass  # the daemon is killed while it waits
    threading.Thread(target=start, daemon=True).start()
    holder = {}
    cache = daemon.root / "vm"

    def building():
        pid = api.state(cid).get("pid", 0)
        if pid > 0 and children(pid, "mkfs.ext4") and list(cache.glob("*.tmp")):
            holder["launcher"], holder["mkfs"] = pid, children(pid, "mkfs.ext4")[0]
            return True
        return False
    wait_until(building, 60, interval=0.02, what="mkfs.ext4 under the launcher")
    t0 = time.monotonic()
    r = api.post(f"/containers/{cid}/pause")
    assert r.status == 409 and "prepared" in r.message, r
    assert time.monotonic() - t0 < 0.9
    # with the daemon down nobody kills the VM's cgroup: only the launcher's death can
    daemon.kill()
    os.kill(holder["launcher"], signal.SIGKILL)
    # at once: left alone it would run on for seconds
    wait_until(lambda: dead(holder["mkfs"]), 0.5, interval=0.02, what="mkfs killed")
    assert list(cache.glob("*.tmp")), "mkfs left no partial disk: the test proves nothing"
    restart(daemon)
    assert list(cache.glob("*.tmp")) == [] and list(cache.glob("merge.*")) == []
    assert api.remove(cid, force=True).status == 204


@pytest.fixture(scope="module")
def box(api, rootfs):
    """A VM whose primary exits 42 once /tmp/go exists."""
    cid = create_vm(api, rootfs,
                    ["sh", "-c", "echo booted; while [ ! -e /tmp/go ]; do sleep 0.2; done; "
                     "echo bye; exit 42"], "vm-box", resources={"memory": 200 << 20})
    api.start(cid)
    api.wait_for_output(cid, "booted", timeout=BOOT)
    return cid


def test_own_kernel(api, box):
    out, _, j = exec_run(api, box, ["uname", "-r"])
    assert j["exit_code"] == 0
    assert out.strip() and out.strip() != os.uname().release
    assert out.strip() == api.inspect(box)["domain"]["kernel"]
    out, _, _ = exec_run(api, box, ["cat", "/proc/1/cmdline"])
    assert out.split("\0")[0] == "/init"  # tether, the guest's init
    # the container's processes are not on the host: QEMU is, in its seccomp sandbox and
    # with its file sizes bounded
    pid = qemu_pid(api, box)
    status = Path(f"/proc/{pid}/status").read_text()
    assert "\nSeccomp:\t2\n" in status, status
    # as a uid of its own (unique among running VMs: 0x7f000000 + its pid), without
    # capabilities, in an empty root
    uid = 0x7F000000 + pid
    assert f"\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n" in status, status
    assert "\nCapEff:\t0000000000000000\n" in status, status
    root = os.readlink(f"/proc/{pid}/root")
    assert root.endswith("/vm/empty") and os.listdir(root) == [], root
    limits = Path(f"/proc/{pid}/limits").read_text()
    fsize = [ln for ln in limits.splitlines() if ln.startswith("Max file size")][0]
    assert fsize.split()[3] == str(api.inspect(box)["domain"]["file_size_limit"]), fsize
    # in the container's own cgroup, as a linux domain is, not the daemon's
    cg = Path(f"/proc/{pid}/cgroup").read_text()
    assert f"/portlayer/{box}\n" in cg, cg
    # bounded to its one vCPU plus one CPU for QEMU's own threads
    assert cpu_quota_us(box) == 200000
    # the container's /dev is the linux domains' minimal one, not the guest's devtmpfs
    out, _, _ = exec_run(api, box, ["ls", "/dev"])
    names = set(out.split())
    assert {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm"} <= names, out
    assert not names & {"vda", "ttyS0", "console", "kmsg", "mem", "vport0p1"}, out


def test_memory_sizes_the_vm(api, box):
    out, _, _ = exec_run(api, box, ["sh", "-c", "grep MemTotal /proc/meminfo"])
    kb = int(out.split()[1])
    assert 120 * 1024 < kb <= 200 * 1024, out


def test_exec_output_and_exit_code(api, box):
    out, err, j = exec_run(api, box, ["sh", "-c", "echo hi; echo oops >&2; exit 5"])
    assert (out, err, j["exit_code"]) == ("hi\n", "oops\n", 5)


def test_interactive_tty(api, box):
    eid = exec_create(api, box, ["sh"], tty=True, stdin=True)
    with upgrade(api, f"/exec/{eid}/start") as up:
        assert up.status == 101 and up.raw
        up.send(b"tty; echo $((6*7))\r")
        got = b""
        up.sock.settimeout(DEADLINE)
        while b"42" not in got.split(b"echo")[-1] or b"/dev/pts/" not in got:
            chunk = up.recv()
            assert chunk, f"stream ended: {got!r}"
            got += chunk
        up.send(b"exit 7\r")
        up.read_all()
    assert exec_wait(api, eid)["exit_code"] == 7


def test_daemon_kill_reattach(daemon, api, box):
    """Reattach keeps what QEMU knows: paused stays paused, the memory size stays known."""
    qpid = qemu_pid(api, box)
    assert api.post(f"/containers/{box}/pause").status == 204
    daemon.kill()
    assert not pid_gone(qpid), "QEMU died with the daemon"
    restart(daemon)
    st = api.state(box)
    assert st["status"] == "paused" and st["pid"] == qpid, st
    s = api.get(f"/containers/{box}/stats", params={"stream": 0}).json
    assert s["memory"]["limit"] == 200 << 20, s["memory"]
    assert api.post(f"/containers/{box}/unpause").status == 204
    assert api.state(box)["status"] == "running"
    out, _, j = exec_run(api, box, ["echo", "again"])
    assert (out, j["exit_code"]) == ("again\n", 0)


def test_exit_while_daemon_down(daemon, api, box):
    qpid = qemu_pid(api, box)
    r = api.post(f"/containers/{box}/exec", {"args": ["sh", "-c", "sleep 1; touch /tmp/go"]})
    assert r.status == 201
    assert api.post(f"/exec/{r.json['id']}/start", params={"detach": 1}).status in (200, 204)
    daemon.kill()
    wait_until(lambda: pid_gone(qpid), BOOT, interval=0.1, what="the VM powering off")
    restart(daemon)
    st = api.state(box)
    assert st["status"] == "stopped" and st["exit_code"] == 42, st
    out, _ = api.output(box)
    assert out == "booted\nbye\n"


@pytest.fixture(scope="module")
def sleeper(api, rootfs):
    return create_vm(api, rootfs, ["sleep", "100000"], "vm-sleeper")


def boot(api, cid):
    api.start(cid)
    pid = qemu_pid(api, cid)
    # running once tether has started the process
    wait_until(lambda: api.state(cid)["status"] == "running", BOOT, interval=0.1,
               what="running")
    return pid


def test_stop(api, sleeper):
    pid = boot(api, sleeper)
    out, _, _ = exec_run(api, sleeper, ["true"])  # tether answers: the guest is up
    api.stop(sleeper, timeout=30)
    st = api.state(sleeper)
    assert st["status"] == "stopped" and st["exit_code"] == 128 + signal.SIGTERM, st
    assert pid_gone(pid)


def test_kill(daemon, api, sleeper):
    """SIGKILL of a paused VM kills the stopped QEMU as it is: no resume first."""
    pid = boot(api, sleeper)
    exec_run(api, sleeper, ["true"])
    assert api.post(f"/containers/{sleeper}/pause").status == 204
    since = time.time_ns()
    assert api.kill(sleeper, "SIGKILL").status == 204
    api.wait(sleeper, timeout=BOOT)
    st = api.state(sleeper)
    assert st["status"] == "stopped" and st["exit_code"] == 137, st
    wait_until(lambda: pid_gone(pid), 10, what="QEMU gone")
    status, evs = read_events(daemon.socket, since=f"{since // 10**9}.{since % 10**9:09d}",
                              until=f"{time.time():.9f}")
    assert status == 200, evs
    actions = [e["action"] for e in evs if e["id"] == sleeper]
    assert "kill" in actions and "unpause" not in actions, actions


def test_qemu_killed_from_outside(api, sleeper):
    pid = boot(api, sleeper)
    exec_run(api, sleeper, ["true"])
    os.kill(pid, signal.SIGKILL)
    api.wait(sleeper, timeout=BOOT)
    st = api.state(sleeper)
    assert st["status"] == "stopped", st
    assert "VM was killed" in st["error"], st


def test_without_a_guest_kernel_501(binaries, rootfs, tmp_path):
    """No guest kernel: the mechanism says why it is unavailable, and a dedicated kernel is
    501 naming that reason (nothing created)."""
    d = Daemon(tmp_path / "d")
    d.extra_args = ["--vm-kernel", str(tmp_path / "no-kernel")]
    d.start()
    try:
        vm = [m for m in d.api.get("/info").json["mechanisms"] if m["name"] == "vm"][0]
        assert vm["available"] is False
        r = d.api.create_raw(d.api.create_body(rootfs, ["true"], isolation=DEDICATED))
        assert r.status == 501 and ("guest kernel" in r.message or "not installed" in r.message), r
        assert d.api.containers() == []
    finally:
        assert finish_daemon(d) == []
