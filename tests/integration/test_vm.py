# SPDX-License-Identifier: Apache-2.0
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
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import (DEADLINE, Daemon, Plctl, UnixHTTPConnection, finish_daemon,
                      finish_or_fail, start_or_fail, wait_until)
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
    # the suite runs on clones (templates for the default 256 MiB and the box's 200 MiB,
    # built before the first test); the VMs with mounts, NICs or other sizes boot cold
    d.extra_args = ["--vm-accel", os.environ.get("PL_VM_ACCEL", "tcg"),
                    "--vm-template-prebuild", "1x256,1x200"]
    start_or_fail(d)
    info = d.api.get("/info").json
    vm = [m for m in info["mechanisms"] if m["name"] == "vm"]
    if not vm or not vm[0]["available"]:
        finish_daemon(d)
        pytest.skip("vm mechanism unavailable (qemu or the guest kernel is not installed: "
                    f"scripts/deps.sh): {vm[0].get('reason') if vm else 'not built'}")
    tdir = d.root / "vm" / "templates"
    wait_until(lambda: len(list(tdir.glob("t-*-1x2[05]*-0n/meta.json"))) == 2, 300,
               interval=0.5, what="the 1x256 and 1x200 templates")
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
    assert dom["boot"] == "clone", dom
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
              rootfs, "sh", "-c", "nproc; grep MemTotal /proc/meminfo; "
              "ip -o -4 addr show eth0; exit 4", timeout=BOOT + 30)
    assert p.returncode == 4, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "2" and 100 * 1024 < int(lines[1].split()[1]) <= 160 * 1024, p.stdout
    # the default bridge scope, as for any container
    assert "inet 172.17." in lines[2], p.stdout
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
    ("network_mode", {"network_mode": "host"}),
    ("security.userns", {"security": {"userns": {"mode": "remap"}}}),
])
def test_what_a_vm_lacks_is_refused_not_ignored(api, rootfs, uniq, field, extra):
    """The host's network namespace or a remapped user namespace would silently mean
    nothing in a guest: 400, and nothing is created."""
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


# ---- networking: a tap per endpoint on the scope's bridge, virtio-net in the guest

def host(daemon, *cmd, check=False):
    """Runs cmd in the daemon's network namespace (its bridges, taps and nftables)."""
    return subprocess.run(["nsenter", f"--net=/proc/{daemon.pid}/ns/net", "--", *cmd],
                          capture_output=True, text=True, timeout=DEADLINE, check=check)


def tap_of(cid):
    return f"pv{cid[:10]}0"  # the endpoint's host_ifname (network.c)


def has_link(daemon, name):
    return host(daemon, "ip", "link", "show", name).returncode == 0


HTTPD = "mkdir -p /www && echo content-of-{n} > /www/index.html && exec httpd -f -p 80 -h /www"
VM_PORT = 18091


@pytest.fixture(scope="module")
def netvm(api, rootfs, daemon):
    """A VM serving HTTP on its own scope, port 80 published on VM_PORT, and a linux
    container serving on the same scope."""
    uniq = f"n{os.getpid()}"
    scope = f"vmnet-{uniq}"
    host(daemon, "ip", "link", "set", "lo", "up", check=True)  # published ports on 127.0.0.1
    r = api.post("/networks", {"name": scope, "subnet": "10.77.0.0/24"})
    assert r.status == 201, r
    lin = f"lin-{uniq}"
    r = api.create_raw({**api.create_body(rootfs, ["sh", "-c", HTTPD.format(n=lin)], name=lin),
                        "networks": [{"scope": scope}]})
    assert r.status == 201, r
    api.start(r.json["id"])
    name = f"vmweb-{uniq}"
    cid = create_vm(api, rootfs, ["sh", "-c", HTTPD.format(n=name)], name,
                    networks=[{"scope": scope}], resources={"memory": 192 << 20},
                    ports=[{"container_port": 80, "host_port": VM_PORT}])
    t0 = time.monotonic()
    api.start(cid)
    wait_until(lambda: api.state(cid)["status"] == "running", BOOT, interval=0.1,
               what="running")
    return {"id": cid, "name": name, "scope": scope, "linux": lin, "t0": t0}


def guest_sh(api, cid, script):
    out, err, j = exec_run(api, cid, ["sh", "-c", script])
    assert j["exit_code"] == 0, (script, out, err)
    return out


def test_vm_bridge_address_route_and_mac(api, daemon, netvm):
    cid = netvm["id"]
    eps = api.inspect(cid)["network"]["endpoints"]
    out = guest_sh(api, cid, "ip -o -4 addr show eth0; ip route; cat /sys/class/net/eth0/address")
    assert f"inet {eps[0]['ip']}/24" in out, out
    assert "default via 10.77.0.1 dev eth0" in out, out
    assert out.splitlines()[-1] == eps[0]["mac"], out
    # the host side: a tap on the scope's bridge, up
    link = host(daemon, "ip", "-d", "link", "show", tap_of(cid), check=True).stdout
    assert "tun type tap" in link and "master" in link and "UP" in link, link


def test_vm_and_linux_container_talk_by_name(api, rootfs, netvm):
    cid, lin = netvm["id"], netvm["linux"]
    out = guest_sh(api, cid, f"for i in $(seq 100); do timeout 3 wget -q -O- http://{lin}/ "
                   "&& exit 0; sleep 0.1; done; exit 1")
    assert f"content-of-{lin}" in out
    body = api.create_body(rootfs, ["sh", "-c", f"for i in $(seq 100); do timeout 3 wget -q -O- "
                                    f"http://{netvm['name']}/ && exit 0; sleep 0.2; done; exit 1"])
    body["networks"] = [{"scope": netvm["scope"]}]
    r = api.create_raw(body)
    assert r.status == 201, r
    api.start(r.json["id"])
    assert api.wait(r.json["id"], timeout=60)["exit_code"] == 0, api.output(r.json["id"])
    assert f"content-of-{netvm['name']}" in api.output(r.json["id"])[0]


def test_vm_published_port(api, daemon, netvm):
    def fetch():
        r = host(daemon, "curl", "-s", "-m", "2", f"http://127.0.0.1:{VM_PORT}/")
        return r.returncode == 0 and f"content-of-{netvm['name']}" in r.stdout
    wait_until(fetch, BOOT, interval=0.2, what="the VM's published port")


def stats(api, cid):
    r = api.get(f"/containers/{cid}/stats", params={"stream": 0})
    assert r.status == 200, r
    return r.json


def test_vm_stats_from_inside_the_guest(api, daemon, netvm):
    cid = netvm["id"]
    s = stats(api, cid)
    assert set(s) >= {"cpu", "memory", "pids", "networks", "blkio"}, s
    assert s["source"] == "guest", s
    # MemTotal: the VM's memory less what the guest kernel keeps
    assert 120 << 20 < s["memory"]["limit"] <= 192 << 20, s["memory"]
    assert 0 < s["memory"]["usage"] < s["memory"]["limit"], s["memory"]
    assert s["pids"]["current"] >= 2, s["pids"]  # tether and httpd, no kernel threads
    assert s["cpu"]["usage_ns"] > 0
    assert s["host"]["memory"]["usage"] > 0  # QEMU's RSS beside the guest's own figures
    before = s["networks"]["eth0"]
    for _ in range(5):
        host(daemon, "curl", "-s", "-m", "2", f"http://127.0.0.1:{VM_PORT}/", check=True)
    after = stats(api, cid)["networks"]["eth0"]
    assert after["rx_bytes"] > before["rx_bytes"] and after["tx_bytes"] > before["tx_bytes"]
    assert after["rx_packets"] >= before["rx_packets"] + 5
    # a stream: every sample from inside, the first one included, about a second apart
    conn = UnixHTTPConnection(api.socket_path, timeout=DEADLINE)
    try:
        conn.request("GET", f"/containers/{cid}/stats")
        resp = conn.getresponse()
        assert resp.status == 200
        t0 = time.monotonic()
        lines = [json.loads(resp.readline()) for _ in range(3)]
        assert all(x["source"] == "guest" and x["pids"]["current"] >= 2 for x in lines), lines
        assert 1.5 < time.monotonic() - t0 < 10
    finally:
        conn.close()


def test_vm_taps_gone_after_stop_and_kill9(api, daemon, netvm):
    cid = netvm["id"]
    tap = tap_of(cid)
    assert has_link(daemon, tap)
    api.stop(cid, timeout=10)
    wait_until(lambda: not has_link(daemon, tap), 10, what="tap removed after stop")
    qpid = boot(api, cid)
    assert has_link(daemon, tap)
    os.kill(qpid, signal.SIGKILL)
    api.wait(cid, timeout=BOOT)
    wait_until(lambda: not has_link(daemon, tap), 10, what="tap removed after kill -9")
    assert not [line for line in host(daemon, "ip", "-o", "link", "show",
                                       check=True).stdout.splitlines()
                if f"pv{cid[:10]}" in line]  # neither tap


def test_vm_refuses_an_external_scope(api, rootfs, uniq, daemon):
    parent = f"vx{os.getpid() % 100000}"
    host(daemon, "ip", "link", "add", parent, "type", "veth", "peer", "name", parent + "p",
         check=True)
    r = api.post("/networks", {"name": f"ext-{uniq}", "driver": "external",
                               "parent": parent, "subnet": "10.78.0.0/24"})
    assert r.status == 201, r
    body = api.create_body(rootfs, ["true"], name=uniq, isolation=DEDICATED)
    body["networks"] = [{"scope": f"ext-{uniq}"}]
    r = api.create_raw(body)
    assert r.status == 400 and "networks" in r.message and "external" in r.message, r
    assert api.get(f"/containers/{uniq}/json").status == 404


def test_vm_network_across_daemon_restarts(binaries, rootfs):
    """A daemon in a named network namespace (so a restarted one finds its bridges), a VM
    on two scopes (eth0, eth1: a tap each): the published port survives a daemon kill -9; a
    VM that dies while the daemon is down leaves no tap, and starts again with the same
    ones. (Names are not looked up here: with two scopes the guest has both responders,
    each knowing only its own scope.)"""
    from test_network import NetnsDaemon
    netns = f"plvm-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
    d = NetnsDaemon(tempfile.mkdtemp(prefix="pl-it-vmnet-"), netns,
                    extra=("--vm-accel", os.environ.get("PL_VM_ACCEL", "tcg")))
    problems = []
    try:
        d.start()
        api = d.api
        r = api.post("/networks", {"name": "second", "subnet": "10.79.0.0/24"})
        assert r.status == 201, r
        cid = create_vm(api, rootfs, ["sh", "-c", HTTPD.format(n="restarts")], "vm-restarts",
                        networks=[{"scope": "bridge"}, {"scope": "second"}],
                        ports=[{"container_port": 80, "host_port": VM_PORT}])
        tap = tap_of(cid)
        tap2 = tap[:-1] + "1"

        def fetch():
            r = subprocess.run(["ip", "netns", "exec", netns, "curl", "-s", "-m", "2",
                                f"http://127.0.0.1:{VM_PORT}/"], capture_output=True, text=True)
            return r.returncode == 0 and "content-of-restarts" in r.stdout

        def tap_there(name=tap):
            return subprocess.run(["ip", "-n", netns, "link", "show", name],
                                  capture_output=True).returncode == 0

        api.start(cid)
        wait_until(fetch, BOOT, interval=0.2, what="the published port")
        eps = api.inspect(cid)["network"]["endpoints"]
        out = guest_sh(api, cid, "ip -o -4 addr; cat /sys/class/net/eth0/address "
                       "/sys/class/net/eth1/address")
        assert f"eth0    inet {eps[0]['ip']}/16" in out, out
        assert f"eth1    inet {eps[1]['ip']}/24" in out, out
        assert out.splitlines()[-2:] == [eps[0]["mac"], eps[1]["mac"]], out
        link = subprocess.run(["ip", "-n", netns, "link", "show", tap2], capture_output=True,
                              text=True, check=True).stdout
        assert "master pl-" in link, link
        qpid = qemu_pid(api, cid)
        d.kill()
        d.proc = None
        d.start()
        wait_until(fetch, 30, interval=0.2, what="the published port after a daemon restart")
        d.kill()
        os.kill(qpid, signal.SIGKILL)
        wait_until(lambda: pid_gone(qpid), 10, what="QEMU gone")
        wait_until(lambda: not tap_there() and not tap_there(tap2), 10,
                   what="the taps gone with QEMU")
        d.proc = None
        d.start()
        st = api.state(cid)
        assert st["status"] == "stopped" and st["exit_code"] == 255, st
        api.start(cid)
        wait_until(fetch, BOOT, interval=0.2, what="the published port after a new start")
        assert tap_there()
        assert api.remove(cid, force=True).status == 204
        wait_until(lambda: not tap_there() and not tap_there(tap2), 10,
                   what="the taps gone after removal")
    finally:
        problems = finish_daemon(d)
        subprocess.run(["ip", "netns", "del", netns])
    assert not problems, problems
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


def test_oom_in_the_guest_is_reported(api, rootfs, uniq):
    """The guest's own kernel kills the memory hog: tether reports the kill with the exit (the
    host's cgroups never see it), so the container stops oom_killed with an oom event."""
    cid = create_vm(api, rootfs, ["sh", "-c", "echo hog; a=x; while :; do a=\"$a$a\"; done"],
                    uniq, resources={"memory": 96 << 20})
    api.start(cid)
    w = api.wait(cid, timeout=BOOT + 60)
    st = api.state(cid)
    assert st["oom_killed"] is True, (w, st)
    assert w["exit_code"] == 137, w
    r = api.get("/events", params={"since": 0, "until": int(time.time()) + 1,
                                   "filters": json.dumps({"container": [cid]})})
    assert b'"oom"' in r.body, r.body[-500:]
