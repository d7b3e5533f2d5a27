# SPDX-License-Identifier: Apache-2.0
"""GET /containers/{id}/top: the container's processes as tether sees them inside the
domain (its own pids), with user, state, CPU time, resident memory and the command line.
Tether gathers them (TOP_REQUEST/TOP), so the same call works in a VM; that case boots one
VM (attached before its start, which it checks as well) and is skipped where the vm
mechanism is unavailable."""

import json
import os
import tempfile

import pytest

from conftest import (DEADLINE, Daemon, Plctl, finish_daemon, finish_or_fail,
                      pids_in_cgroups_matching, proc_read, start_or_fail, wait_until)
from test_interactive import Demuxer, attach

BOOT = 90  # seconds a VM boot may take under TCG (test_vm.py)


def top(api, cid):
    r = api.get(f"/containers/{cid}/top")
    assert r.status == 200, r
    return r.json["processes"]


def ns_pid(host_pid):
    """The pid a host process has in its innermost pid namespace."""
    for line in proc_read(host_pid, "status").splitlines():
        if line.startswith("NSpid:"):
            return int(line.split()[-1])
    raise AssertionError(f"no NSpid for {host_pid}")


def test_top_linux(api, rootfs, uniq):
    body = api.create_body(rootfs, ["/bin/sh", "-c",
                                    "sleep 1001 & sleep 1002 & "
                                    "while :; do usleep 100000; done"], name=uniq)
    cid = api.create_raw(body).json["id"]
    api.start(cid)
    # both children have exec'd sleep (a forked child shows the shell's args until then)
    want = {("sleep", "1001"), ("sleep", "1002")}
    wait_until(lambda: want <= {tuple(p["args"]) for p in top(api, cid)}, DEADLINE,
               what="both sleeps")
    procs = top(api, cid)
    by_args = {tuple(p["args"]): p for p in procs}
    assert want <= set(by_args), procs
    for p in procs:
        assert set(p) == {"pid", "user", "state", "cpu_time_ms", "rss_kib", "args"}, p
        assert p["user"] == "root" and len(p["state"]) == 1, p
        assert p["cpu_time_ms"] >= 0 and p["rss_kib"] >= 0, p
    # tether (PID 1 of the domain) is not the container's process
    assert 1 not in [p["pid"] for p in procs]
    # pids are the domain's: each matches what the kernel says of the host process
    host = {}
    for hp in pids_in_cgroups_matching(cid):
        try:
            host[tuple(proc_read(hp, "cmdline").rstrip("\0").split("\0"))] = hp
        except OSError:
            pass
    for args in (("sleep", "1001"), ("sleep", "1002")):
        assert by_args[args]["pid"] == ns_pid(host[args]), (args, by_args[args])
    shell = by_args[("/bin/sh", "-c", body["process"]["args"][2])]
    assert shell["rss_kib"] > 0
    api.stop(cid, timeout=0)
    r = api.get(f"/containers/{cid}/top")
    assert r.status == 409, r
    assert api.get("/containers/nosuch/top").status == 404


def test_top_user_from_the_containers_passwd(api, rootfs, uniq):
    body = api.create_body(rootfs, ["sleep", "1000"], name=uniq, user="65534:65534")
    cid = api.create_raw(body).json["id"]
    api.start(cid)
    wait_until(lambda: top(api, cid), DEADLINE, what="a process")
    (p,) = top(api, cid)
    passwd = open(os.path.join(rootfs, "etc/passwd")).read() \
        if os.path.exists(os.path.join(rootfs, "etc/passwd")) else ""
    names = [line.split(":")[0] for line in passwd.splitlines()
             if line.count(":") >= 2 and line.split(":")[2] == "65534"]
    assert p["user"] == (names[0] if names else "65534"), (p, names)
    api.stop(cid, timeout=0)


def test_top_of_long_command_lines_keeps_the_link(api, rootfs, uniq):
    """Command lines are the container's to choose (a page each, JSON-escaped up to six
    times over): a list past the 1 MiB frame limit is shortened, never a reason for tether
    to drop its link to the daemon (which then answered nothing more)."""
    n = 60
    filler = "\x01" * 4000  # 6 bytes each in JSON: ~24 KiB per process
    script = ("i=0; while [ $i -lt %d ]; do sh -c 'sleep 1006; :' \"$1\" & i=$((i+1)); "
              "done; wait" % n)
    body = api.create_body(rootfs, ["/bin/sh", "-c", script, "top-filler", filler],
                           name=uniq)
    cid = api.create_raw(body).json["id"]
    api.start(cid)

    def sleeps():
        r = api.get(f"/containers/{cid}/top")
        assert r.status == 200, r
        return [p for p in r.json["processes"] if p["args"][:1] == ["sleep"]
                or "sleep 1006; :" in p["args"]]
    wait_until(lambda: len(sleeps()) >= 2 * n, DEADLINE, what="every process listed")
    # still answering: the link is alive
    r = api.get(f"/containers/{cid}/top")
    assert r.status == 200, r
    assert all(len(json.dumps(p)) < 4096 for p in r.json["processes"])
    api.stop(cid, timeout=0)


@pytest.fixture(scope="module")
def vm_daemon(binaries):
    tmp = tempfile.mkdtemp(prefix="pl-it-top-vm-")
    d = Daemon(tmp)
    d.extra_args = ["--vm-accel", os.environ.get("PL_VM_ACCEL", "tcg")]
    start_or_fail(d, tmp)
    vm = [m for m in d.api.get("/info").json["mechanisms"] if m["name"] == "vm"]
    if not vm or not vm[0]["available"]:
        finish_daemon(d)
        pytest.skip("vm mechanism unavailable (qemu or the guest kernel is not installed)")
    yield d
    finish_or_fail(d)


@pytest.mark.slow
def test_top_in_a_vm(vm_daemon, rootfs, uniq):
    api = vm_daemon.api
    body = api.create_body(rootfs, ["/bin/sh", "-c",
                                    "echo first; sleep 1003 & exec sleep 1004"],
                           name=uniq, isolation={"kernel": "dedicated"})
    r = api.create_raw(body)
    assert r.status == 201, r
    cid = r.json["id"]
    # attached before the start (docker run's order), in a VM too: the first line arrives
    up = attach(api, cid)
    api.start(cid)
    wait_until(lambda: api.state(cid)["status"] == "running", BOOT, interval=0.2)
    d = Demuxer()
    up.sock.settimeout(BOOT)
    while b"\n" not in d.out:
        data = up.recv()
        assert data, f"the stream ended before the first line: {bytes(d.out)!r}"
        d.feed(data)
    up.close()
    assert d.out == b"first\n", bytes(d.out)

    def listed():
        procs = top(api, cid)
        return {tuple(p["args"]) for p in procs} >= {("sleep", "1003"), ("sleep", "1004")}
    wait_until(listed, BOOT, interval=0.2, what="both sleeps listed in the guest")
    procs = top(api, cid)
    # the guest kernel's threads and tether (the guest's init) are not listed
    assert all(p["args"] and not p["args"][0].startswith("[k") for p in procs), procs
    assert 1 not in [p["pid"] for p in procs]
    assert all(p["user"] == "root" for p in procs), procs
    api.stop(cid, timeout=0)


def test_plctl_top_and_health_flags(daemon, rootfs, uniq):
    plctl = Plctl(daemon.socket)
    cid = plctl("run", "-d", "--name", uniq, "--health-cmd", "true", "--health-interval",
                "200ms", "--health-retries", "2", rootfs, "--", "sleep", "1005",
                check=0).stdout.strip()
    hc = daemon.api.inspect(cid)["config"]["healthcheck"]
    assert hc == {"test": ["CMD-SHELL", "true"], "interval": 0.2, "timeout": 30,
                  "retries": 2, "start_period": 0}, hc
    out = plctl("top", uniq, check=0).stdout.splitlines()
    assert out[0].split()[:2] == ["PID", "USER"], out
    assert any(line.rstrip().endswith("sleep 1005") for line in out[1:]), out
    plctl("stop", "-t", "0", uniq, check=0)


def test_plctl_run_detached_rm_is_auto_remove(daemon, rootfs, uniq):
    plctl = Plctl(daemon.socket)
    cid = plctl("run", "-d", "--rm", "--name", uniq, rootfs, "--", "sh", "-c",
                "exit 0", check=0).stdout.strip()
    wait_until(lambda: daemon.api.get(f"/containers/{cid}").status == 404, DEADLINE,
               what="the port layer removing it")
    cid = plctl("create", "--rm", "--name", uniq, rootfs, "--", "true", check=0).stdout.strip()
    assert daemon.api.inspect(cid)["config"]["auto_remove"] is True
