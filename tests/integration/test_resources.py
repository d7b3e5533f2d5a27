# SPDX-License-Identifier: Apache-2.0
"""Resource limits (memory and OOM, pids, cpu), live update, pause/unpause.

Cgroup files are read straight from the host's v1 hierarchies:
/sys/fs/cgroup/<controller>/portlayer/<id>/<file>."""

import os
import subprocess
import time

import pytest

from conftest import (RunResult, pids_in_cgroups_matching, pids_with_cmdline, proc_read,
                      wait_until)
from pl_extra import read_events

MiB = 1 << 20
V1 = "/sys/fs/cgroup"


# --------------------------------------------------------------------------
# helpers


def body_for(rootfs, args, resources=None, **kw):
    body = {"rootfs": str(rootfs), "process": {"args": list(args)}}
    if resources is not None:
        body["resources"] = resources
    body.update(kw)
    return body


def create(api, rootfs, args, resources=None, **kw):
    r = api.create_raw(body_for(rootfs, args, resources, **kw))
    assert r.status == 201, f"create with resources={resources}: {r.status} {r.body!r}"
    return r.json["id"]


def run(api, rootfs, args, resources=None, **kw):
    cid = create(api, rootfs, args, resources, **kw)
    api.start(cid)
    w = api.wait(cid)
    out, err = api.output(cid)
    return RunResult(cid, w.get("exit_code"), out, err, api.state(cid), w)


def started(api, rootfs, args, resources=None, ready=None, **kw):
    cid = create(api, rootfs, args, resources, **kw)
    api.start(cid)
    if ready:
        api.wait_for_output(cid, ready)
    return cid


def cg_path(cid, controller, name):
    return f"{V1}/{controller}/portlayer/{cid}/{name}"


def cg(cid, controller, name):
    p = cg_path(cid, controller, name)
    assert os.path.exists(p), f"no {p} (the container's v1 {controller} cgroup)"
    with open(p) as f:
        return f.read().strip()


def cg_kv(cid, controller, name):
    return {k: int(v) for k, v in (line.split() for line in cg(cid, controller, name).splitlines())}


def ts(ns):
    return f"{ns // 10**9}.{ns % 10**9:09d}"


def events_for(daemon, cid, since_ns):
    status, evs = read_events(daemon.socket, since=ts(since_ns), until=ts(time.time_ns() + 10**6))
    assert status == 200, (status, evs)
    return [e["action"] for e in evs if e.get("id") == cid]


def update(api, cid, resources):
    return api.post(f"/containers/{cid}/update", {"resources": resources})


def config_resources(api, cid):
    return api.inspect(cid)["config"].get("resources", {})


# --------------------------------------------------------------------------
# memory


def test_memory_hog_is_oom_killed(api, daemon, rootfs):
    t0 = time.time_ns()
    r = run(api, rootfs, ["/bin/sh", "-c", "x=a; while :; do x=$x$x; done"],
            resources={"memory": 32 * MiB, "memory_swap": 32 * MiB})
    assert r.exit_code == 137, (r.exit_code, r.stderr, r.state)
    assert r.state["oom_killed"] is True, r.state
    assert r.state["status"] == "stopped", r.state
    acts = events_for(daemon, r.id, t0)
    assert "oom" in acts, f"no oom event for the container: {acts}"
    assert acts.index("oom") < acts.index("die"), acts


def test_under_limit_not_oom_killed(api, daemon, rootfs):
    t0 = time.time_ns()
    # ~1 MiB of shell string, well under the limit
    r = run(api, rootfs, ["/bin/sh", "-c",
                          "x=a; i=0; while [ $i -lt 20 ]; do x=$x$x; i=$((i+1)); done; "
                          "echo ${#x}"],
            resources={"memory": 32 * MiB, "memory_swap": 32 * MiB})
    assert (r.exit_code, r.stdout) == (0, f"{1 << 20}\n"), (r.exit_code, r.stdout, r.stderr)
    assert r.state["oom_killed"] is False, r.state
    assert "oom" not in events_for(daemon, r.id, t0)


def test_memory_limit_in_cgroup(api, rootfs):
    cid = started(api, rootfs, ["/bin/sleep", "1000"],
                  {"memory": 48 * MiB, "memory_swap": 64 * MiB, "memory_reservation": 16 * MiB})
    assert cg(cid, "memory", "memory.limit_in_bytes") == str(48 * MiB)
    assert cg(cid, "memory", "memory.memsw.limit_in_bytes") == str(64 * MiB)
    assert cg(cid, "memory", "memory.soft_limit_in_bytes") == str(16 * MiB)
    assert api.remove(cid, force=True).status == 204


def test_memory_below_minimum_refused(api, rootfs):
    r = api.create_raw(body_for(rootfs, ["/bin/true"], {"memory": 4 * MiB - 1}))
    assert r.status == 400, (r.status, r.body)
    r = api.create_raw(body_for(rootfs, ["/bin/true"],
                                {"memory": 32 * MiB, "memory_swap": 16 * MiB}))
    assert r.status == 400, (r.status, r.body)


# --------------------------------------------------------------------------
# pids


def test_pids_limit(api, rootfs):
    # The inner shell backgrounds up to 50 sleeps and prints one line per fork that
    # worked; busybox sh gives up ("can't fork") at the first that does not. The
    # outer one then execs (no fork) so the cgroup can be looked at.
    inner = "i=0; while [ $i -lt 50 ]; do sleep 1000 & echo forked; i=$((i+1)); done; echo all"
    script = f"sh -c '{inner}'; echo inner-exit=$?; exec /bin/sleep 1000"
    cid = started(api, rootfs, ["/bin/sh", "-c", script], {"pids_limit": 20}, ready="inner-exit=")
    out, err = api.output(cid)
    forked = out.splitlines().count("forked")
    assert "all" not in out.splitlines(), f"50 forks succeeded under pids_limit 20:\n{out}"
    assert forked < 20, f"{forked} background processes under pids_limit 20"
    assert "can't fork" in err, err
    assert cg(cid, "pids", "pids.max") == "20"
    assert int(cg(cid, "pids", "pids.current")) <= 20
    assert len(pids_in_cgroups_matching(cid)) <= 20
    # The host is fine: we can still fork, the daemon still answers.
    assert subprocess.run(["/bin/true"]).returncode == 0
    assert api.get("/_ping").status == 200
    assert api.remove(cid, force=True).status == 204


# --------------------------------------------------------------------------
# cpu


def test_cpu_settings_in_cgroup(api, rootfs):
    cid = started(api, rootfs, ["/bin/sleep", "1000"],
                  {"cpus": 0.5, "cpuset_cpus": "0", "cpu_shares": 512})
    assert cg(cid, "cpu", "cpu.cfs_quota_us") == "50000"
    assert cg(cid, "cpu", "cpu.cfs_period_us") == "100000"
    assert cg(cid, "cpu", "cpu.shares") == "512"
    assert cg(cid, "cpuset", "cpuset.cpus") == "0"
    # explicit quota/period
    cid2 = started(api, rootfs, ["/bin/sleep", "1000"], {"cpu_quota": 25000, "cpu_period": 50000})
    assert cg(cid2, "cpu", "cpu.cfs_quota_us") == "25000"
    assert cg(cid2, "cpu", "cpu.cfs_period_us") == "50000"
    for c in (cid, cid2):
        assert api.remove(c, force=True).status == 204


def test_cpu_quota_visible_in_usage(api, rootfs):
    # A busy loop timed from inside (/proc/uptime, centiseconds) for 1.5 s, then
    # the process execs sleep so the cgroup stays for us to read.
    script = r"""
read s _ < /proc/uptime; s=${s%.*}${s#*.}
n=$s
while [ $((n - s)) -lt 150 ]; do read n _ < /proc/uptime; n=${n%.*}${n#*.}; done
echo "wall_cs=$((n - s))"
exec /bin/sleep 1000
"""
    cid = started(api, rootfs, ["/bin/sh", "-c", script], {"cpus": 0.5}, ready="wall_cs=")
    out, _ = api.output(cid)
    wall = int(out.split("wall_cs=")[1].split()[0]) / 100
    usage = int(cg(cid, "cpuacct", "cpuacct.usage")) / 1e9
    stat = cg_kv(cid, "cpu", "cpu.stat")
    assert usage <= 0.75 * wall, f"used {usage:.3f}s of CPU in {wall:.2f}s wall under cpus=0.5"
    assert usage >= 0.1 * wall, f"the busy loop barely ran ({usage:.3f}s in {wall:.2f}s)"
    assert stat.get("nr_throttled", 0) > 0, f"never throttled: {stat}"
    assert api.remove(cid, force=True).status == 204


# --------------------------------------------------------------------------
# update


def test_update_pids_live(api, rootfs):
    cid = started(api, rootfs, ["/bin/sleep", "1000"], {"pids_limit": 20})
    assert cg(cid, "pids", "pids.max") == "20"
    r = update(api, cid, {"pids_limit": 30})
    assert r.status == 200, (r.status, r.body)
    assert r.json["id"] == cid
    v1 = r.json["version"]
    assert cg(cid, "pids", "pids.max") == "30"
    r = update(api, cid, {"pids_limit": 40})
    assert r.status == 200, (r.status, r.body)
    assert r.json["version"] > v1
    assert cg(cid, "pids", "pids.max") == "40"
    assert config_resources(api, cid).get("pids_limit") == 40
    r = update(api, cid, {"pids_limit": -1})
    assert r.status == 200, (r.status, r.body)
    assert cg(cid, "pids", "pids.max") == "max"
    assert api.state(cid)["status"] == "running"
    assert api.remove(cid, force=True).status == 204


def test_update_memory_live(api, rootfs):
    cid = started(api, rootfs, ["/bin/sleep", "1000"], {"memory": 64 * MiB})
    assert cg(cid, "memory", "memory.limit_in_bytes") == str(64 * MiB)
    r = update(api, cid, {"memory": 96 * MiB})
    assert r.status == 200, (r.status, r.body)
    assert cg(cid, "memory", "memory.limit_in_bytes") == str(96 * MiB)
    r = update(api, cid, {"memory": 48 * MiB})
    assert r.status == 200, (r.status, r.body)
    assert cg(cid, "memory", "memory.limit_in_bytes") == str(48 * MiB)
    assert config_resources(api, cid).get("memory") == 48 * MiB
    assert api.remove(cid, force=True).status == 204


def test_update_memory_and_swap_up_and_down_live(api, rootfs):
    # cgroup v1 refuses memory > memsw: raising both needs memsw written first,
    # lowering both needs memory written first.
    cid = started(api, rootfs, ["/bin/sleep", "1000"],
                  {"memory": 64 * MiB, "memory_swap": 64 * MiB})
    r = update(api, cid, {"memory": 96 * MiB, "memory_swap": 96 * MiB})
    assert r.status == 200, (r.status, r.body)
    assert cg(cid, "memory", "memory.limit_in_bytes") == str(96 * MiB)
    assert cg(cid, "memory", "memory.memsw.limit_in_bytes") == str(96 * MiB)
    r = update(api, cid, {"memory": 48 * MiB, "memory_swap": 48 * MiB})
    assert r.status == 200, (r.status, r.body)
    assert cg(cid, "memory", "memory.limit_in_bytes") == str(48 * MiB)
    assert cg(cid, "memory", "memory.memsw.limit_in_bytes") == str(48 * MiB)
    assert api.remove(cid, force=True).status == 204


def test_update_created_container_applies_at_start(api, rootfs):
    cid = create(api, rootfs, ["/bin/sleep", "1000"], {"pids_limit": 20})
    r = update(api, cid, {"pids_limit": 25, "cpu_shares": 256})
    assert r.status == 200, (r.status, r.body)
    res = config_resources(api, cid)
    assert res.get("pids_limit") == 25 and res.get("cpu_shares") == 256, res
    assert api.state(cid)["status"] == "created"
    api.start(cid)
    assert cg(cid, "pids", "pids.max") == "25"
    assert cg(cid, "cpu", "cpu.shares") == "256"
    assert api.remove(cid, force=True).status == 204


def test_bad_update_changes_nothing(api, rootfs):
    cid = started(api, rootfs, ["/bin/sleep", "1000"], {"pids_limit": 20, "memory": 64 * MiB})
    r = update(api, cid, {"pids_limit": 30})
    assert r.status == 200, (r.status, r.body)
    version = r.json["version"]
    before = config_resources(api, cid)
    for bad in ({"memory": 1}, {"pids_limit": 35, "memory": 1}, {"pids_limit": "many"},
                {"no_such_knob": 1}, {"memory": 64 * MiB, "memory_swap": 32 * MiB}):
        r = update(api, cid, bad)
        assert r.status == 400, f"update {bad}: {r.status} {r.body!r}"
        assert cg(cid, "pids", "pids.max") == "30", f"after {bad}"
        assert cg(cid, "memory", "memory.limit_in_bytes") == str(64 * MiB), f"after {bad}"
        assert config_resources(api, cid) == before, f"after {bad}"
    r = api.post(f"/containers/{cid}/update", b"{not json")
    assert r.status == 400, (r.status, r.body)
    # the failed updates did not take a version
    r = update(api, cid, {"pids_limit": 31})
    assert r.status == 200 and r.json["version"] == version + 1, (r.status, r.body, version)
    assert api.state(cid)["status"] == "running"
    assert update(api, "0" * 64, {"pids_limit": 30}).status == 404
    assert api.remove(cid, force=True).status == 204


# --------------------------------------------------------------------------
# pause / unpause

COUNTER = "i=0; while :; do i=$((i+1)); echo $i; usleep 10000; done"


def last_count(api, cid):
    out, _ = api.output(cid)
    lines = out.split()
    return int(lines[-1]) if lines else 0


def ctxt_switches(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def ppid(pid):
    stat = proc_read(pid, "stat")
    return int(stat[stat.rindex(")") + 2:].split()[1]) if stat else None


@pytest.fixture
def thaw_on_failure():
    """Registers containers a test pauses. At teardown, any still frozen is thawed
    directly in the freezer: frozen tasks ignore even SIGKILL, so a daemon that
    forgets to thaw blocks forever and nothing else could clean up."""
    ids = []
    yield ids.append
    for cid in ids:
        p = cg_path(cid, "freezer", "freezer.state")
        try:
            with open(p) as f:
                frozen = f.read().strip() != "THAWED"
            if frozen:
                with open(p, "w") as f:
                    f.write("THAWED")
        except OSError:
            pass


def test_pause_unpause(api, daemon, rootfs, thaw_on_failure):
    t0 = time.time_ns()
    cid = started(api, rootfs, ["/bin/sh", "-c", COUNTER])
    thaw_on_failure(cid)
    wait_until(lambda: last_count(api, cid) >= 3, what="the counter to run")
    tether = api.state(cid)["pid"]
    # the counter shell itself, not a child forked for usleep that has not exec'd yet
    shells = wait_until(lambda: [p for p in pids_with_cmdline("/bin/sh", "-c", COUNTER)
                                 if ppid(p) == tether], what="the counter shell")
    assert len(shells) == 1, shells

    r = api.post(f"/containers/{cid}/pause")
    assert r.status == 204, (r.status, r.body)
    assert api.state(cid)["status"] == "paused"
    assert cg(cid, "freezer", "freezer.state") == "FROZEN"
    r = api.post(f"/containers/{cid}/pause")
    assert r.status == 409, (r.status, r.body)

    # Nothing advances for half a second: not the log, not the shell's switches.
    frozen_at = last_count(api, cid)
    switches = ctxt_switches(shells[0])
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        assert last_count(api, cid) == frozen_at, "the counter advanced while paused"
        assert ctxt_switches(shells[0]) == switches, "the shell ran while paused"
        time.sleep(0.05)
    assert api.state(cid)["status"] == "paused"

    r = api.post(f"/containers/{cid}/unpause")
    assert r.status == 204, (r.status, r.body)
    assert api.state(cid)["status"] == "running"
    assert cg(cid, "freezer", "freezer.state") == "THAWED"
    wait_until(lambda: last_count(api, cid) > frozen_at + 3, what="the counter to resume")
    r = api.post(f"/containers/{cid}/unpause")
    assert r.status == 409, (r.status, r.body)

    acts = events_for(daemon, cid, t0)
    assert "pause" in acts and "unpause" in acts, acts
    assert acts.index("pause") < acts.index("unpause"), acts
    assert api.remove(cid, force=True).status == 204


def test_pause_not_running_is_409(api, rootfs):
    cid = create(api, rootfs, ["/bin/true"])
    assert api.post(f"/containers/{cid}/pause").status == 409
    assert api.post(f"/containers/{cid}/unpause").status == 409
    api.start(cid)
    api.wait(cid)
    assert api.post(f"/containers/{cid}/pause").status == 409
    assert api.post(f"/containers/{cid}/unpause").status == 409
    assert api.post(f"/containers/{'0' * 64}/pause").status == 404


def test_stop_paused_container(api, rootfs, thaw_on_failure):
    cid = started(api, rootfs, ["/bin/sh", "-c", COUNTER])
    thaw_on_failure(cid)
    wait_until(lambda: last_count(api, cid) >= 1, what="the counter to run")
    assert api.post(f"/containers/{cid}/pause").status == 204
    assert api.state(cid)["status"] == "paused"
    api.stop(cid, timeout=2)
    st = api.wait_status(cid, "stopped", timeout=10)
    assert st["status"] == "stopped"
    wait_until(lambda: pids_in_cgroups_matching(cid) == [], timeout=5,
               what="the paused container's processes to be gone")
    # and it can be started again, not frozen
    api.start(cid)
    n = last_count(api, cid)
    wait_until(lambda: last_count(api, cid) > n, what="the restarted counter to run")
    assert api.state(cid)["status"] == "running"
    assert api.remove(cid, force=True).status == 204


def test_kill_paused_container(api, rootfs, thaw_on_failure):
    cid = started(api, rootfs, ["/bin/sh", "-c", COUNTER])
    thaw_on_failure(cid)
    wait_until(lambda: last_count(api, cid) >= 1, what="the counter to run")
    assert api.post(f"/containers/{cid}/pause").status == 204
    r = api.kill(cid, "KILL")
    assert r.status == 204, (r.status, r.body)
    w = api.wait(cid, timeout=10)
    assert w["exit_code"] == 137, w
    assert api.state(cid)["status"] == "stopped"
    assert pids_in_cgroups_matching(cid) == []


def test_force_remove_paused_container(api, rootfs, thaw_on_failure):
    cid = started(api, rootfs, ["/bin/sh", "-c", COUNTER])
    thaw_on_failure(cid)
    wait_until(lambda: last_count(api, cid) >= 1, what="the counter to run")
    assert api.post(f"/containers/{cid}/pause").status == 204
    assert api.remove(cid).status == 409
    try:
        r = api.delete(f"/containers/{cid}", params={"force": True}, timeout=10)
    except TimeoutError:
        raise AssertionError("DELETE ?force=1 of a paused container did not answer within "
                             "10s (frozen tasks ignore SIGKILL until thawed)") from None
    assert r.status == 204, (r.status, r.body)
    assert pids_in_cgroups_matching(cid) == []
    assert api.get(f"/containers/{cid}").status == 404


def test_default_pids_limit(api, rootfs):
    # issue 13: without a pids_limit a container could fork until the host's pid_max; the
    # daemon's --default-pids-limit (32768 unless given) caps it
    cid = started(api, rootfs, ["/bin/sleep", "1000"], {})
    assert cg(cid, "pids", "pids.max") == "32768"
    api.remove(cid, force=True)
