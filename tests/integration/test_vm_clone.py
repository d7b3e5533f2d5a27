# SPDX-License-Identifier: Apache-2.0
"""VM templates and clones: a dedicated-kernel container starts by restoring a guest booted
once and saved (its RAM file mapped copy-on-write) instead of booting. Real QEMU under TCG,
so serial and few: one daemon that builds its 256 MiB template at start-up, then clones
that must each be their own machine (disk, randomness, boot_id, hostname), survive a
daemon kill -9 in the middle of their start, report their PSS, and a damaged template
that must turn into a cold boot with a warning, never a failure."""

import os
import signal
import time

import pytest

from conftest import Daemon, finish_daemon, finish_or_fail, start_or_fail, wait_until
from test_interactive import exec_run
from pl_extra import read_events

DEDICATED = {"kernel": "dedicated"}
BOOT = 90  # seconds a boot may take on a loaded 2-core machine under TCG
BUILD = 300  # a template's build: a boot to tether and a save, competing with other VMs


def template_dirs(daemon, size="1x256-0n"):
    return [p for p in (daemon.root / "vm" / "templates").glob(f"t-*-{size}")
            if (p / "meta.json").exists()]


@pytest.fixture(scope="module")
def daemon(binaries, tmp_path_factory):
    d = Daemon(tmp_path_factory.mktemp("pl-vmclone"))
    d.extra_args = ["--vm-accel", os.environ.get("PL_VM_ACCEL", "tcg"),
                    "--vm-template-prebuild", "1x256"]
    start_or_fail(d)
    vm = [m for m in d.api.get("/info").json["mechanisms"] if m["name"] == "vm"]
    if not vm or not vm[0]["available"]:
        finish_daemon(d)
        pytest.skip("vm mechanism unavailable (qemu or the guest kernel is not installed)")
    wait_until(lambda: template_dirs(d), BUILD, interval=0.5, what="the 1x256 template")
    yield d
    finish_or_fail(d)


@pytest.fixture(scope="module")
def api(daemon):
    return daemon.api


def create_vm(api, rootfs, args, name=None, **extra):
    body = api.create_body(rootfs, args, name=name, isolation=DEDICATED)
    body.update(extra)
    r = api.create_raw(body)
    assert r.status == 201, f"create: {r.status} {r.body!r}"
    return r.json["id"]


def test_clone_echo_exit_code_and_logs(api, rootfs, uniq):
    cid = create_vm(api, rootfs, ["sh", "-c", "echo out; echo err >&2; exit 3"], uniq)
    api.start(cid)
    assert api.wait(cid, timeout=BOOT)["exit_code"] == 3
    assert api.output(cid) == ("out\n", "err\n")
    dom = api.inspect(cid)["domain"]
    assert dom["boot"] == "clone" and dom["template"].endswith("-1x256-0n"), dom
    # the template never held a container's hostname, clock or disk: the clone got them
    cid2 = create_vm(api, rootfs, ["sh", "-c", "hostname; date +%s"], f"{uniq}-h",
                     hostname="clone-host")
    api.start(cid2)
    assert api.wait(cid2, timeout=BOOT)["exit_code"] == 0
    out = api.output(cid2)[0].split()
    assert out[0] == "clone-host", out
    assert abs(int(out[1]) - time.time()) < 120, out  # the host's clock, not the template's
    assert api.inspect(cid2)["domain"]["boot"] == "clone"


def test_two_clones_are_two_machines(api, rootfs, uniq):
    """Two clones of one template at once: their own disks (neither sees the other's files),
    their own random streams and boot ids, and both share the template's RAM."""
    ids = [create_vm(api, rootfs, ["sleep", "100000"], f"{uniq}-{i}") for i in range(2)]
    for cid in ids:
        api.start(cid)
    for cid in ids:
        wait_until(lambda: api.state(cid)["status"] == "running", BOOT, interval=0.1,
                   what="running")
        assert api.inspect(cid)["domain"]["boot"] == "clone"
    for i, cid in enumerate(ids):
        out, err, j = exec_run(api, cid, ["sh", "-c", f"echo {i} > /mine-{i}; sync; ls /"])
        assert j["exit_code"] == 0 and f"mine-{i}" in out.split(), (out, err, j)
    for i, cid in enumerate(ids):
        out, _, _ = exec_run(api, cid, ["ls", "/"])
        assert f"mine-{1 - i}" not in out.split(), out
    facts = []
    for cid in ids:
        out, _, j = exec_run(api, cid, ["sh", "-c", "cat /proc/sys/kernel/random/boot_id; "
                                        "head -c 16 /dev/urandom | od -An -tx1"])
        assert j["exit_code"] == 0, out
        facts.append(out.split("\n", 1))
    assert facts[0][0] != facts[1][0], facts  # boot_id
    assert facts[0][1] != facts[1][1], facts  # the generators' output
    # what each costs the host: its PSS, in stats and inspect, below its RSS (shared pages)
    for cid in ids:
        s = api.get(f"/containers/{cid}/stats", params={"stream": 0}).json
        host = s.get("host", s)["memory"]
        assert 0 < host["pss"] <= host["usage"], host
        assert api.inspect(cid)["domain"]["pss_bytes"] > 0
    for cid in ids:
        assert api.remove(cid, force=True).status == 204


def test_daemon_kill9_mid_clone_start(daemon, api, rootfs, uniq):
    """The daemon dies right after it started a clone: the restarted daemon finds the VM and
    it runs (or has run) its process as a cold-booted one would."""
    cid = create_vm(api, rootfs, ["sh", "-c", "echo up; while [ ! -e /tmp/go ]; do sleep 0.2; "
                                  "done; exit 9"], uniq)
    api.start(cid)
    qpid = api.state(cid)["pid"]
    daemon.kill()
    daemon.proc = None
    daemon.start()
    wait_until(lambda: api.state(cid)["status"] in ("running", "stopped"), BOOT,
               interval=0.1, what="the clone running after the restart")
    st = api.state(cid)
    assert st["status"] == "running" and st["pid"] == qpid, st
    out, _, j = exec_run(api, cid, ["echo", "ok"])
    assert (out, j["exit_code"]) == ("ok\n", 0)
    # the primary exits as soon as it sees /tmp/go, taking this exec with it (137) or not
    exec_run(api, cid, ["touch", "/tmp/go"])
    assert api.wait(cid, timeout=BOOT)["exit_code"] == 9
    assert api.output(cid)[0] == "up\n"


def test_qemu_of_a_clone_killed_from_outside(api, rootfs, uniq):
    cid = create_vm(api, rootfs, ["sleep", "100000"], uniq)
    api.start(cid)
    wait_until(lambda: api.state(cid)["status"] == "running", BOOT, interval=0.1,
               what="running")
    assert api.inspect(cid)["domain"]["boot"] == "clone"
    os.kill(api.state(cid)["pid"], signal.SIGKILL)
    api.wait(cid, timeout=BOOT)
    st = api.state(cid)
    assert st["status"] == "stopped" and "VM was killed" in st["error"], st


def test_damaged_template_boots_cold_with_a_warning(daemon, api, rootfs, uniq):
    """A template whose saved state does not match its checksum is never restored: the VM
    boots cold, the log and an event say why, and a fresh template is built."""
    (tdir,) = template_dirs(daemon)
    state = tdir / "state"
    data = bytearray(state.read_bytes())
    data[len(data) // 2] ^= 0xFF
    state.write_bytes(bytes(data))
    since = time.time_ns()
    cid = create_vm(api, rootfs, ["echo", "cold"], uniq)
    api.start(cid)
    assert api.wait(cid, timeout=BOOT)["exit_code"] == 0
    assert api.output(cid)[0] == "cold\n"
    dom = api.inspect(cid)["domain"]
    assert dom["boot"] == "cold" and "unusable" in dom["cold_boot_reason"], dom
    assert "unusable" in daemon.log_text()
    status, evs = read_events(daemon.socket, since=f"{since // 10**9}.{since % 10**9:09d}",
                              until=f"{time.time():.9f}")
    assert status == 200, evs
    warn = [e for e in evs if e["id"] == cid and e["action"] == "warning"]
    assert warn and "unusable" in warn[0]["attributes"]["message"], evs
    # rebuilt in the background; the next start is a clone again
    wait_until(lambda: template_dirs(daemon), BUILD, interval=0.5, what="the rebuilt template")
    cid2 = create_vm(api, rootfs, ["echo", "again"], f"{uniq}-2")
    api.start(cid2)
    assert api.wait(cid2, timeout=BOOT)["exit_code"] == 0
    assert api.inspect(cid2)["domain"]["boot"] == "clone"


def test_templates_off_boots_cold(binaries, rootfs, tmp_path):
    d = Daemon(tmp_path / "d")
    d.extra_args = ["--vm-accel", "tcg", "--vm-templates", "off"]
    start_or_fail(d)
    try:
        cid = d.api.create_raw(d.api.create_body(rootfs, ["echo", "hi"],
                                                 isolation=DEDICATED)).json["id"]
        d.api.start(cid)
        assert d.api.wait(cid, timeout=BOOT)["exit_code"] == 0
        dom = d.api.inspect(cid)["domain"]
        assert dom["boot"] == "cold" and "cold_boot_reason" not in dom, dom
        assert not (d.root / "vm" / "templates").exists()
        assert "vm template" not in d.log_text()
    finally:
        assert finish_daemon(d) == []


# ---- the pool: clones started ahead, warmed, each taken by one start

POOL = 2


def pool_slots(d):
    """The pool's slots: {slot dir: (QEMU pid, warm)} (pid None once taken)."""
    out = {}
    for s in (d.root / "vm" / "pool").glob("*"):
        try:
            pid = int((s / "pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pid = None
        try:
            warm = "pool: warm" in (s / "vm-console.log").read_text(errors="replace")
        except OSError:
            warm = False
        out[s] = (pid, warm)
    return out


def wait_warm(d, n=1):
    wait_until(lambda: sum(1 for pid, warm in pool_slots(d).values() if pid and warm) >= n,
               BUILD, interval=0.1, what=f"{n} warm pool slot(s)")


def qemu_running(pid):
    try:
        return os.readlink(f"/proc/{pid}/exe").endswith("qemu-system-x86_64")
    except OSError:
        return False


@pytest.fixture(scope="module")
def pool_daemon(binaries, tmp_path_factory):
    """A daemon with a pool of two 1x256 clones (templates are per daemon: their names hash
    its initramfs)."""
    d = Daemon(tmp_path_factory.mktemp("pl-vmpool"))
    d.extra_args = ["--vm-accel", os.environ.get("PL_VM_ACCEL", "tcg"),
                    "--vm-template-prebuild", "1x256", "--vm-pool", f"1x256:{POOL}"]
    start_or_fail(d)
    wait_until(lambda: template_dirs(d), BUILD, interval=0.5, what="the 1x256 template")
    yield d
    finish_or_fail(d)


def test_pool_off_clones_as_before(api, rootfs, uniq, daemon):
    cid = create_vm(api, rootfs, ["echo", "hi"], uniq)
    api.start(cid)
    assert api.wait(cid, timeout=BOOT)["exit_code"] == 0
    dom = api.inspect(cid)["domain"]
    assert dom["boot"] == "clone" and "pooled" not in dom, dom
    assert not list((daemon.root / "vm" / "pool").glob("*"))


def test_pooled_clone_echo_exit_code_exec_stop_kill(pool_daemon, rootfs, uniq):
    api = pool_daemon.api
    # the first start of an image builds its base disk: a plain clone (and the pool fills)
    cid = create_vm(api, rootfs, ["echo", "first"], uniq)
    api.start(cid)
    assert api.wait(cid, timeout=BOOT)["exit_code"] == 0
    assert "pooled" not in api.inspect(cid)["domain"]
    wait_warm(pool_daemon)
    cid = create_vm(api, rootfs, ["sh", "-c", "echo out; echo err >&2; hostname; exit 3"],
                    f"{uniq}-a", hostname="pooled-host")
    api.start(cid)
    assert api.wait(cid, timeout=BOOT)["exit_code"] == 3
    assert api.output(cid) == ("out\npooled-host\n", "err\n")
    dom = api.inspect(cid)["domain"]
    assert dom["boot"] == "clone" and dom.get("pooled") is True, dom
    assert (pool_daemon.root / "containers" / cid / "vm-console.log").exists()
    # exec and stop in a pooled sleeper; kill another
    for action in ("stop", "kill"):
        wait_warm(pool_daemon)
        cid = create_vm(api, rootfs, ["sleep", "100000"], f"{uniq}-{action}")
        api.start(cid)
        wait_until(lambda: api.state(cid)["status"] == "running", BOOT, interval=0.1,
                   what="running")
        assert api.inspect(cid)["domain"].get("pooled") is True
        out, err, j = exec_run(api, cid, ["sh", "-c", "echo in; ls /"])
        assert j["exit_code"] == 0 and out.startswith("in\n") and "bin" in out.split(), out
        qpid = api.state(cid)["pid"]
        if action == "stop":
            r = api.post(f"/containers/{cid}/stop", params={"timeout": 1})
        else:
            r = api.kill(cid, "SIGKILL")
        assert r.status == 204, r.body
        st = api.wait(cid, timeout=BOOT)
        assert st["exit_code"] in ((137, 143) if action == "stop" else (137,)), st
        wait_until(lambda: not qemu_running(qpid), 30, interval=0.1, what="QEMU gone")


def test_two_pooled_clones_at_once(pool_daemon, rootfs, uniq):
    """Two slots taken at once: two machines with their own disks, boot ids and streams."""
    api = pool_daemon.api
    wait_warm(pool_daemon, POOL)
    ids = [create_vm(api, rootfs, ["sleep", "100000"], f"{uniq}-{i}") for i in range(2)]
    for cid in ids:
        api.start(cid)
    for cid in ids:
        wait_until(lambda: api.state(cid)["status"] == "running", BOOT, interval=0.1,
                   what="running")
        assert api.inspect(cid)["domain"].get("pooled") is True
    for i, cid in enumerate(ids):
        out, err, j = exec_run(api, cid, ["sh", "-c", f"echo {i} > /mine-{i}; sync; ls /"])
        assert j["exit_code"] == 0 and f"mine-{i}" in out.split(), (out, err, j)
    facts = []
    for i, cid in enumerate(ids):
        out, _, j = exec_run(api, cid, ["sh", "-c", "ls /; cat /proc/sys/kernel/random/boot_id;"
                                        " head -c 16 /dev/urandom | od -An -tx1"])
        assert j["exit_code"] == 0 and f"mine-{1 - i}" not in out.split(), out
        facts.append(out.split("\n")[-3:])
    assert facts[0][0] != facts[1][0] and facts[0][1] != facts[1][1], facts
    for cid in ids:
        assert api.remove(cid, force=True).status == 204


def test_daemon_kill9_with_a_pool_waiting(pool_daemon, rootfs, uniq):
    """kill -9 of the daemon: the untaken slots' QEMUs end by themselves (their pool port
    closed), a taken one runs on and is found again; the next daemon leaves nothing of the
    old pool and fills a new one."""
    api = pool_daemon.api
    wait_warm(pool_daemon)
    cid = create_vm(api, rootfs, ["sh", "-c", "echo up; while [ ! -e /tmp/go ]; do sleep 0.2; "
                                  "done; exit 9"], uniq)
    api.start(cid)
    assert api.inspect(cid)["domain"].get("pooled") is True
    qpid = api.state(cid)["pid"]
    wait_warm(pool_daemon, POOL)
    old = {s: pid for s, (pid, _) in pool_slots(pool_daemon).items() if pid}
    assert len(old) == POOL and all(qemu_running(p) for p in old.values()), old
    pool_daemon.kill()
    pool_daemon.proc = None
    wait_until(lambda: not any(qemu_running(p) for p in old.values()), BOOT, interval=0.1,
               what="the untaken slots' QEMUs gone")
    assert qemu_running(qpid)
    pool_daemon.start()
    wait_until(lambda: api.state(cid)["status"] == "running", BOOT, interval=0.1,
               what="the pooled clone found again")
    assert api.state(cid)["pid"] == qpid
    out, _, j = exec_run(api, cid, ["echo", "ok"])
    assert (out, j["exit_code"]) == ("ok\n", 0)
    # the primary exits as soon as it sees /tmp/go, taking this exec with it (137) or not
    exec_run(api, cid, ["touch", "/tmp/go"])
    assert api.wait(cid, timeout=BOOT)["exit_code"] == 9
    assert api.output(cid)[0] == "up\n"
    wait_warm(pool_daemon, POOL)
    now = pool_slots(pool_daemon)
    assert len(now) == POOL and not set(p for p, _ in now.values()) & set(old.values()), now
    run = pool_daemon.run_dir / "vm-pool"
    assert len(list(run.glob("*"))) == POOL


def test_daemon_stop_ends_its_pool(pool_daemon):
    """SIGTERM: the daemon ends its untaken slots as it exits; the next one fills anew."""
    wait_warm(pool_daemon)
    old = [pid for pid, _ in pool_slots(pool_daemon).values() if pid]
    assert old and all(qemu_running(p) for p in old), old
    assert pool_daemon.stop() == 0
    pool_daemon.proc = None
    wait_until(lambda: not any(qemu_running(p) for p in old), 10, interval=0.05,
               what="the slots' QEMUs gone with their daemon")
    pool_daemon.start()
    wait_warm(pool_daemon, POOL)
