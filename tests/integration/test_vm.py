"""The vm mechanism: containers that ask for a dedicated kernel run in a QEMU microVM with
tether as the guest's init. Real QEMU, real guest kernel (TCG here: MACHINE.md). Boots are
slow on these machines, so the module shares one daemon and a few VMs, serially:
an echo VM (exit code, logs), a long-lived box (own kernel, exec, tty, inspect, memory size,
daemon kill -9 + reattach, exit while the daemon is down), one container started three
times (stop, kill, QEMU killed from outside), and one VM with five mounts (binds, a
read-only bind, a file bind, a fresh and a shared volume) checked against linux containers
on the same volumes."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (DEADLINE, Daemon, Plctl, finish_daemon, finish_or_fail, start_or_fail,
                      wait_until)
from test_interactive import exec_run, upgrade, exec_create, exec_wait
from test_storage import built, oci  # noqa: F401 (fixtures: two umoci images)

DEDICATED = {"kernel": "dedicated"}
BOOT = 90  # seconds a boot may take on a loaded 2-core machine under TCG


@pytest.fixture(scope="module")
def daemon(binaries, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pl-vm")
    d = Daemon(tmp)
    d.extra_args = ["--vm-accel", os.environ.get("PL_VM_ACCEL", "tcg")]
    start_or_fail(d)
    info = d.api.get("/info").json
    vm = [m for m in info["mechanisms"] if m["name"] == "vm"]
    if not vm or not vm[0]["available"]:
        finish_daemon(d)
        pytest.skip("vm mechanism unavailable (qemu or the guest kernel is not installed: "
                    f"scripts/deps.sh): {vm[0].get('reason') if vm else 'not built'}")
    yield d
    finish_or_fail(d)


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


def run_linux(api, rootfs, args, mounts):
    """A shared-kernel container with these mounts: (exit code, stdout, stderr)."""
    body = api.create_body(rootfs, args)
    body["mounts"] = mounts
    r = api.create_raw(body)
    assert r.status == 201, f"create: {r.status} {r.body!r}"
    cid = r.json["id"]
    api.start(cid)
    w = api.wait(cid)
    out, err = api.output(cid)
    assert api.remove(cid).status == 204
    return w.get("exit_code"), out, err


@pytest.fixture(scope="module")
def image_with_data(rootfs, tmp_path_factory):
    """A copy of the busybox rootfs with /data/seed: what a fresh volume at /data takes."""
    d = tmp_path_factory.mktemp("vmdata") / "rootfs"
    subprocess.run(["cp", "-a", rootfs, str(d)], check=True)
    os.makedirs(d / "data")
    (d / "data" / "seed").write_text("from-image\n")
    os.chmod(d / "data" / "seed", 0o640)
    os.chown(d / "data" / "seed", 123, 456)
    os.symlink("/tmp", d / "evil")
    return str(d)


def test_volumes_and_bind_mounts(daemon, api, rootfs, image_with_data, uniq, tmp_path):
    """One VM with a read-write bind, a read-only bind, a file bind, a fresh volume over
    image content and a volume a linux container wrote first; then a linux container reads
    what the guest wrote, and a symlink the guest planted in the volume cannot steer a later
    linux container's mount out of its root."""
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (rw / "hello").write_text("host\n")
    (ro / "keep").write_text("kept\n")
    hostfile = tmp_path / "file"
    hostfile.write_text("a file\n")
    fresh, shared = f"{uniq}-fresh", f"{uniq}-shared"
    code, _, err = run_linux(api, rootfs, ["sh", "-c", "echo from-linux > /v/fromlinux"],
                             [{"type": "volume", "source": shared, "target": "/v"}])
    assert code == 0, err
    script = ("cat /mnt/rw/hello; echo guest > /mnt/rw/fromguest; "
              "if echo x > /mnt/ro/x; then echo ro-writable; else echo ro-refused; fi; "
              "cat /mnt/ro/keep /etc/pl-file; "
              "ls -ln /data/seed | awk '{print $1, $3, $4}'; cat /data/seed; "
              "echo from-vm > /data/fromvm; ln -s / /data/escape; "
              "cat /v/fromlinux; grep -c ' /data ' /proc/mounts; "
              "if touch /rootfile; then echo root-writable; else echo root-ro; fi")
    cid = create_vm(api, image_with_data, ["sh", "-c", script], uniq, mounts=[
        {"type": "bind", "source": str(rw), "target": "/mnt/rw"},
        {"type": "bind", "source": str(ro), "target": "/mnt/ro", "readonly": True},
        {"type": "bind", "source": str(hostfile), "target": "/etc/pl-file"},
        {"type": "volume", "source": fresh, "target": "/data"},
        {"type": "volume", "source": shared, "target": "/v"},
    ], security={"read_only_rootfs": True})
    api.start(cid)
    w = api.wait(cid, timeout=BOOT)
    out, err = api.output(cid)
    assert w["exit_code"] == 0, (out, err)
    assert out.splitlines() == ["host", "ro-refused", "kept", "a file", "-rw-r----- 123 456",
                                "from-image", "from-linux", "1", "root-ro"], (out, err)
    assert (rw / "fromguest").read_text() == "guest\n"
    assert sorted(os.listdir(ro)) == ["keep"]
    data = daemon.root / "volumes" / fresh / "_data"
    assert (data / "fromvm").read_text() == "from-vm\n"
    assert (data / "seed").read_text() == "from-image\n"
    st = os.stat(data / "seed")
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (123, 456, 0o640)
    assert os.readlink(data / "escape") == "/"
    assert api.remove(cid).status == 204
    # the data outlives the vm container; a linux container reads it
    code, out, err = run_linux(api, rootfs, ["cat", "/v/fromvm", "/v/seed"],
                               [{"type": "volume", "source": fresh, "target": "/v"}])
    assert (code, out) == (0, "from-vm\nfrom-image\n"), err
    # the guest's /data/escape -> / must not take a later mount target out of the root
    escape = f"/tmp/pl-vm-escape-{uniq}"
    body = api.create_body(rootfs, ["true"])
    body["mounts"] = [{"type": "volume", "source": fresh, "target": "/v"},
                      {"type": "bind", "source": str(rw), "target": f"/v/escape{escape}"}]
    r = api.create_raw(body)
    if r.status == 201:
        s = api.post(f"/containers/{r.json['id']}/start")
        assert s.status >= 400 and "/v/escape" in s.message, s
        assert api.remove(r.json["id"], force=True).status == 204
    else:
        assert r.status == 400, r
    assert not os.path.exists(escape)
    assert sorted(os.listdir(rw)) == ["fromguest", "hello"]


def test_target_through_image_symlink_refused(api, image_with_data, uniq, tmp_path):
    """/evil -> /tmp in the image: the guest refuses to place a mount through it, and the
    start fails saying so (the guest's ERROR reaches the daemon before HELLO)."""
    cid = create_vm(api, image_with_data, ["true"], uniq, mounts=[
        {"type": "bind", "source": str(tmp_path), "target": "/evil/x"}])
    r = api.post(f"/containers/{cid}/start")
    if r.status == 204:  # the failure may arrive after the start was answered
        wait_until(lambda: api.state(cid)["status"] != "running", timeout=BOOT)
        msg = api.state(cid)["error"]
    else:
        msg = r.message
    assert 'target /evil/x (component "evil")' in msg, (r.status, msg)
    assert os.listdir(tmp_path) == []


def test_bind_source_gone_before_start(api, rootfs, uniq, tmp_path):
    """The source vanished after create: virtiofsd's set-up fails before QEMU runs, and the
    start fails naming the source (the launcher's ERROR)."""
    src = tmp_path / "gone"
    src.mkdir()
    cid = create_vm(api, rootfs, ["true"], uniq,
                    mounts=[{"type": "bind", "source": str(src), "target": "/mnt"}])
    src.rmdir()
    r = api.post(f"/containers/{cid}/start")
    if r.status == 204:
        wait_until(lambda: api.state(cid)["status"] != "running", timeout=BOOT)
        msg = api.state(cid)["error"]
    else:
        msg = r.message
    assert f"mount source {src}" in msg, (r.status, msg)


@pytest.mark.parametrize("mount,field", [
    ({"type": "bind", "source": "/tmp", "target": "/mnt", "propagation": "rshared"},
     "mounts[0].propagation"),
    ({"type": "bind", "source": "/tmp", "target": "mnt"}, "mounts[0].target"),
    ({"type": "bind", "source": "/nonexistent-pl-vm", "target": "/mnt"}, "mounts[0].source"),
])
def test_invalid_mounts_400(api, rootfs, uniq, mount, field):
    body = api.create_body(rootfs, ["true"], name=uniq, isolation=DEDICATED)
    body["mounts"] = [mount]
    r = api.create_raw(body)
    assert r.status == 400 and field in r.message, r
    assert api.get(f"/containers/{uniq}/json").status == 404


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


def test_archives_of_a_vm_are_refused(api, rootfs, uniq):
    """A vm's files are on its disk, not in the overlay on the host: export, changes,
    copies and commit answer 501 rather than showing (or changing) the wrong tree."""
    r = api.create_raw(api.create_body(rootfs, ["true"], name=uniq, isolation=DEDICATED))
    assert r.status == 201, r
    cid = r.json["id"]
    for method, path, params in (("GET", f"/containers/{cid}/export", None),
                                 ("GET", f"/containers/{cid}/changes", None),
                                 ("GET", f"/containers/{cid}/archive", {"path": "/"}),
                                 ("PUT", f"/containers/{cid}/archive", {"path": "/"}),
                                 ("POST", "/commit", {"container": cid})):
        r = api.request(method, path, params=params, body=b"" if method == "PUT" else None)
        assert r.status == 501, (method, path, r.status, r.body)


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
    # the container's processes are not on the host: QEMU is
    qemu_pid(api, box)


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
    qpid = qemu_pid(api, box)
    daemon.kill()
    assert not pid_gone(qpid), "QEMU died with the daemon"
    restart(daemon)
    st = api.state(box)
    assert st["status"] == "running" and st["pid"] == qpid
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


def test_kill(api, sleeper):
    pid = boot(api, sleeper)
    exec_run(api, sleeper, ["true"])
    assert api.kill(sleeper, "SIGKILL").status == 204
    api.wait(sleeper, timeout=BOOT)
    st = api.state(sleeper)
    assert st["status"] == "stopped" and st["exit_code"] == 137, st
    wait_until(lambda: pid_gone(pid), 10, what="QEMU gone")


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
