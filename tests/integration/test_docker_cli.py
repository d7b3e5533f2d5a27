# SPDX-License-Identifier: Apache-2.0
"""The real docker CLI (28.x) against pl-dockerd + portlayerd: every test checks what a
docker user sees (output, exit codes, inspect fields), not only that a command succeeded."""

import json
import os
import pty
import select
import subprocess
import time

import pytest

from conftest import DEADLINE, wait_until
from docker_fixture import DOCKER, docker  # noqa: F401  (the fixture)


def names(d, *extra):
    return d.out("ps", "--format", "{{.Names}}", *extra).split()


# ---- daemon, versions, errors -------------------------------------------------------


def test_ping_headers_and_versioned_paths(docker):
    status, headers, body = docker.request("GET", "/_ping")
    assert status == 200 and body == b"OK"
    assert headers["api-version"] == "1.43"
    assert headers["ostype"] == "linux"
    assert headers["docker-experimental"] == "false"
    assert "server" in headers
    status, headers, body = docker.request("HEAD", "/_ping")
    assert status == 200 and body == b"" and headers["api-version"] == "1.43"
    for v in ("v1.24", "v1.43", "v1.50"):
        status, _, body = docker.request("GET", f"/{v}/version")
        assert status == 200, (v, body)
        assert json.loads(body)["ApiVersion"] == "1.43"
    assert docker.out("version", "--format", "{{.Server.APIVersion}}").strip() == "1.43"


def test_errors_have_docker_shape(docker):
    status, headers, body = docker.request("GET", "/v1.43/containers/nosuch/json")
    assert status == 404
    assert json.loads(body) == {"message": "No such container: nosuch"}
    status, _, body = docker.request("GET", "/v1.43/no/such/route")
    assert status == 404 and "message" in json.loads(body)
    p = docker.run("rm", "nosuch-container", check=False)
    assert p.returncode != 0 and "No such container: nosuch-container" in p.stderr
    p = docker.run("run", "--rm", "no-such-image-here", "true", check=False)
    assert p.returncode == 125
    assert "Unable to find image 'no-such-image-here:latest' locally" in p.stderr


def test_info(docker):
    info = json.loads(docker.out("info", "--format", "{{json .}}"))
    assert info["OSType"] == "linux"
    assert info["Images"] >= 1
    assert "runc" in info["Runtimes"]


# ---- images ---------------------------------------------------------------------------


def test_images_tag_inspect_rmi(docker):
    lines = docker.out("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").splitlines()
    assert any(l.startswith("busybox:latest ") for l in lines), lines
    docker.run("tag", "busybox", "pltest/box:v1")
    assert "pltest/box:v1" in docker.out("images", "--format", "{{.Repository}}:{{.Tag}}")
    cfg = json.loads(docker.out("image", "inspect", "--format", "{{json .Config}}",
                                "pltest/box:v1"))
    assert cfg["Cmd"] == ["sh"]
    out = docker.out("rmi", "pltest/box:v1")
    assert "Untagged: pltest/box:v1" in out
    assert "pltest/box" not in docker.out("images", "--format", "{{.Repository}}")
    # busybox itself is still there
    assert "busybox" in docker.out("images", "--format", "{{.Repository}}")


# ---- run ------------------------------------------------------------------------------


def test_run_rm_prints_output_and_leaves_nothing(docker, uniq):
    p = docker.run("run", "--rm", "--name", uniq, "busybox", "echo", "hi")
    assert p.stdout == "hi\n"
    # --rm: the container is gone once run returns (Docker waits for the removal)
    assert uniq not in names(docker, "-a")


def test_run_exit_code_and_stderr(docker):
    p = docker.run("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 7",
                   check=False)
    assert p.returncode == 7
    assert p.stdout == "out\n"
    assert "err\n" in p.stderr


def test_run_env_workdir_user_entrypoint(docker):
    out = docker.out("run", "--rm", "-e", "FOO=bar", "-w", "/tmp", "-u", "1234:5678",
                     "busybox", "sh", "-c", 'echo "$FOO $(pwd) $(id -u):$(id -g)"')
    assert out == "bar /tmp 1234:5678\n"
    out = docker.out("run", "--rm", "--entrypoint", "echo", "busybox", "via", "entrypoint")
    assert out == "via entrypoint\n"


def test_run_stdin_piped(docker):
    p = docker.run("run", "--rm", "-i", "busybox", "sh", "-c", "tr a-z A-Z",
                   input="piped input\n")
    assert p.stdout == "PIPED INPUT\n"


class Pty:
    """The docker CLI on a pseudo-terminal of its own, as a user's shell would run it."""

    def __init__(self, docker, *args):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ.update(docker.env())
            os.execv(DOCKER, [DOCKER, *args])
        self.out = b""

    def read_until(self, token):
        end = time.monotonic() + DEADLINE
        while token not in self.out and time.monotonic() < end:
            r, _, _ = select.select([self.fd], [], [], 0.2)
            if r:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                self.out += data
        return token in self.out

    def send(self, data):
        os.write(self.fd, data)

    def exit_code(self):
        _, st = os.waitpid(self.pid, 0)
        self.pid = 0
        return os.waitstatus_to_exitcode(st)

    def close(self):
        if self.pid:
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


def test_run_interactive_tty(docker):
    t = Pty(docker, "run", "--rm", "-it", "busybox", "sh")
    try:
        assert t.read_until(b"# "), t.out
        # the terminal echoes the input: wait for what only the shell's output holds
        t.send(b"echo tty-$((6*7)); [ -t 0 ] && echo is-a-$((0))tty\n")
        assert t.read_until(b"is-a-0tty"), t.out
        assert b"tty-42" in t.out
        t.send(b"exit 5\n")
        assert t.exit_code() == 5
    finally:
        t.close()


def test_exec_interactive_tty_and_detach_keys(docker, uniq):
    t = Pty(docker, "run", "-it", "--name", uniq, "busybox", "sh")
    try:
        assert t.read_until(b"# "), t.out
        t.send(b"\x10\x11")  # ctrl-p ctrl-q: detach, the container keeps running
        assert t.exit_code() == 0
    finally:
        t.close()
    assert docker.out("inspect", "-f", "{{.State.Status}}", uniq).strip() == "running"
    t = Pty(docker, "exec", "-it", uniq, "sh")
    try:
        assert t.read_until(b"# "), t.out
        t.send(b"echo exec-$((2+3)); exit 4\n")
        assert t.read_until(b"exec-5"), t.out
        assert t.exit_code() == 4
    finally:
        t.close()
    docker.run("rm", "-f", uniq)


def test_create_start_attach_and_logs_follow(docker, uniq):
    docker.run("create", "--name", uniq, "busybox", "sh", "-c",
               "echo first; echo second >&2; exit 2")
    assert docker.out("inspect", "-f", "{{.State.Status}}", uniq).strip() == "created"
    p = docker.run("start", "-a", uniq, check=False)
    assert p.returncode == 2
    assert p.stdout == "first\n" and "second\n" in p.stderr
    docker.run("rm", uniq)
    # logs -f ends when the container does, with every line
    docker.run("run", "-d", "--name", uniq + "f", "busybox", "sh", "-c",
               "for i in 1 2 3; do echo l$i; sleep 0.1; done")
    assert docker.out("logs", "-f", uniq + "f") == "l1\nl2\nl3\n"
    docker.run("rm", uniq + "f")


def test_attach_to_running(docker, uniq):
    docker.run("run", "-d", "--name", uniq, "busybox", "sh", "-c",
               "while :; do echo tick; sleep 0.05; done")
    p = subprocess.Popen([DOCKER, "attach", "--no-stdin", uniq], env=docker.env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"tick\n"
    finally:
        p.kill()
        p.wait()
    docker.run("rm", "-f", uniq)


# ---- detached containers --------------------------------------------------------------


def test_detached_ps_logs_exec_inspect_rm(docker, uniq):
    cid = docker.out("run", "-d", "--name", uniq, "--label", "team=pl", "busybox", "sh",
                     "-c", "echo started; while :; do sleep 1; done").strip()
    assert len(cid) == 64
    line = docker.out("ps", "--filter", f"name={uniq}", "--format",
                      "{{.ID}} {{.Names}} {{.Image}} {{.Status}}")
    assert line.startswith(f"{cid[:12]} {uniq} busybox Up"), line
    wait_until(lambda: "started" in docker.out("logs", uniq), what="log line")
    assert docker.out("exec", uniq, "echo", "from-exec") == "from-exec\n"
    p = docker.run("exec", uniq, "sh", "-c", "exit 3", check=False)
    assert p.returncode == 3
    info = json.loads(docker.out("inspect", uniq))[0]
    assert info["Id"] == cid
    assert info["Name"] == f"/{uniq}"
    assert info["State"]["Running"] is True and info["State"]["Status"] == "running"
    assert info["Config"]["Image"] == "busybox"
    assert info["Config"]["Labels"]["team"] == "pl"
    assert info["Config"]["Cmd"][0] == "sh"
    assert info["HostConfig"]["NetworkMode"] in ("default", "bridge")
    assert info["NetworkSettings"]["IPAddress"]
    assert docker.out("inspect", "-f", "{{.State.Pid}}", uniq).strip() != "0"
    # filters and -q
    assert docker.out("ps", "-q", "--filter", "label=team=pl").split() == [cid[:12]]
    assert docker.out("ps", "-q", "--filter", "label=team=other").split() == []
    docker.run("rm", "-f", uniq)
    assert uniq not in names(docker, "-a")


def test_stop_start_restart_kill_wait(docker, uniq):
    docker.run("run", "-d", "--name", uniq, "busybox", "sleep", "1000")
    docker.run("stop", "-t", "1", uniq)
    st = json.loads(docker.out("inspect", "-f", "{{json .State}}", uniq))
    assert st["Status"] == "exited" and st["Running"] is False
    assert uniq in names(docker, "-a", "--filter", "status=exited")
    assert uniq not in names(docker)
    docker.run("start", uniq)
    assert docker.out("inspect", "-f", "{{.State.Status}}", uniq).strip() == "running"
    docker.run("restart", "-t", "1", uniq)
    assert docker.out("inspect", "-f", "{{.State.Status}}", uniq).strip() == "running"
    docker.run("kill", uniq)
    assert docker.out("wait", uniq).strip() == "137"
    assert docker.out("inspect", "-f", "{{.State.ExitCode}}", uniq).strip() == "137"
    docker.run("rm", uniq)


def test_wait_blocks_until_exit(docker, uniq):
    docker.run("run", "-d", "--name", uniq, "busybox", "sh", "-c",
               "trap 'exit 9' USR1; echo ready; while :; do sleep 0.05; done")
    wait_until(lambda: "ready" in docker.out("logs", uniq), what="the trap in place")
    waiter = subprocess.Popen([DOCKER, "wait", uniq], env=docker.env(), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    docker.run("kill", "-s", "USR1", uniq)
    out, err = waiter.communicate(timeout=DEADLINE)
    assert out.strip() == "9", err
    # Docker's wait on a container that is not running answers at once
    assert docker.out("wait", uniq).strip() == "9"
    docker.run("rm", uniq)


def test_pause_unpause_rename(docker, uniq):
    docker.run("run", "-d", "--name", uniq, "busybox", "sleep", "1000")
    docker.run("pause", uniq)
    assert docker.out("inspect", "-f", "{{.State.Status}}", uniq).strip() == "paused"
    assert "(Paused)" in docker.out("ps", "--filter", f"name={uniq}", "--format",
                                    "{{.Status}}")
    docker.run("unpause", uniq)
    assert docker.out("inspect", "-f", "{{.State.Status}}", uniq).strip() == "running"
    docker.run("rename", uniq, uniq + "-new")
    assert uniq + "-new" in names(docker)
    docker.run("rm", "-f", uniq + "-new")


def test_logs_tail_timestamps_and_tty_raw(docker, uniq):
    docker.run("run", "--name", uniq, "busybox", "sh", "-c", "echo one; echo two; echo three")
    assert docker.out("logs", uniq) == "one\ntwo\nthree\n"
    assert docker.out("logs", "--tail", "1", uniq) == "three\n"
    stamped = docker.out("logs", "-t", uniq).splitlines()
    assert len(stamped) == 3 and stamped[0].endswith(" one") and stamped[0][:4].isdigit()
    docker.run("rm", uniq)
    # a tty container's log is raw: no multiplexing headers
    docker.run("run", "-d", "-t", "--name", uniq + "t", "busybox", "echo", "tty-line")
    assert docker.out("wait", uniq + "t").strip() == "0"
    assert docker.out("logs", uniq + "t").rstrip("\r\n") == "tty-line"
    docker.run("rm", uniq + "t")


def test_stats_no_stream(docker, uniq):
    docker.run("run", "-d", "--name", uniq, "busybox", "sleep", "1000")
    out = docker.out("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}} {{.MemUsage}}",
                     uniq)
    name, pids, mem = out.split(" ", 2)
    assert name == uniq and int(pids) >= 1 and "B" in mem
    docker.run("rm", "-f", uniq)


# ---- ports, volumes, networks, events ---------------------------------------------


def test_published_port(docker, uniq):
    docker.run("run", "-d", "--name", uniq, "-p", "18080:80", "busybox", "sleep", "1000")
    assert docker.out("port", uniq).strip() == "80/tcp -> 0.0.0.0:18080"
    ports = json.loads(docker.out("inspect", "-f", "{{json .NetworkSettings.Ports}}", uniq))
    assert ports["80/tcp"][0]["HostPort"] == "18080"
    docker.run("rm", "-f", uniq)


def test_volumes(docker, uniq):
    vol = uniq + "-vol"
    docker.run("volume", "create", vol)
    assert vol in docker.out("volume", "ls", "-q").split()
    docker.run("run", "--rm", "-v", f"{vol}:/data", "busybox", "sh", "-c",
               "echo kept > /data/f")
    assert docker.out("run", "--rm", "-v", f"{vol}:/data", "busybox", "cat",
                      "/data/f") == "kept\n"
    assert json.loads(docker.out("volume", "inspect", vol))[0]["Name"] == vol
    docker.run("volume", "rm", vol)
    assert vol not in docker.out("volume", "ls", "-q").split()


def test_networks(docker, uniq):
    net = uniq[-20:] + "-net"
    docker.run("network", "create", "--subnet", "10.123.0.0/24", net)
    assert net in docker.out("network", "ls", "--format", "{{.Name}}").split()
    info = json.loads(docker.out("network", "inspect", net))[0]
    assert info["IPAM"]["Config"][0]["Subnet"] == "10.123.0.0/24"
    out = docker.out("run", "--rm", "--network", net, "busybox", "ip", "-4", "addr", "show",
                     "eth0")
    assert "inet 10.123.0." in out
    docker.run("network", "rm", net)
    assert net not in docker.out("network", "ls", "--format", "{{.Name}}").split()


def test_events(docker, uniq):
    since = str(time.time() - 1)
    docker.run("run", "--rm", "--name", uniq, "busybox", "true")
    until = str(time.time() + 1)
    out = docker.out("events", "--since", since, "--until", until, "--filter",
                     f"container={uniq}", "--format", "{{.Action}}")
    actions = out.split()
    for a in ("create", "start", "die", "destroy"):
        assert a in actions, actions
    assert actions.index("create") < actions.index("start") < actions.index("die")


def test_personality_restart_loses_nothing(docker, uniq):
    docker.run("run", "-d", "--name", uniq, "busybox", "sleep", "1000")
    docker.stop()
    docker.start()
    assert uniq in names(docker)
    assert docker.out("inspect", "-f", "{{.Config.Image}}", uniq).strip() == "busybox"
    docker.run("rm", "-f", uniq)


# ---- fidelity: Docker's own answers, recorded from dockerd 20.10 (fixtures/docker) ----

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "docker")
# maps whose keys are data (labels, ports, env...), not part of the shape
DATA_KEYS = {"Labels", "Env", "Networks", "Ports", "PortBindings", "ExposedPorts", "Data",
             "Options", "Config", "Volumes", "Ulimits"}


def shape(obj, prefix=""):
    keys = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            keys.add(prefix + k)
            if k not in DATA_KEYS:
                keys |= shape(v, prefix + k + ".")
    elif isinstance(obj, list) and obj and isinstance(obj[0], dict):
        keys |= shape(obj[0], prefix + "[].")
    return keys


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f)


def test_shapes_match_docker(docker, uniq):
    # the fixtures' container: docker run -d --name fx -p 18081:80 --label a=b busybox sleep 1000
    docker.run("run", "-d", "--name", uniq, "-p", "18081:80", "--label", "a=b", "busybox",
               "sleep", "1000")
    ours = json.loads(docker.request("GET", f"/v1.43/containers/{uniq}/json")[2])
    missing = shape(fixture("container_inspect.json")) - shape(ours)
    # kernel memory is gone from newer Docker APIs
    missing -= {"HostConfig.KernelMemory", "HostConfig.KernelMemoryTCP"}
    assert not missing, sorted(missing)
    listing = json.loads(docker.request("GET", "/v1.43/containers/json")[2])
    mine = [c for c in listing if c["Names"] == [f"/{uniq}"]]
    assert len(mine) == 1
    assert not shape(fixture("container_list.json")[0]) - shape(mine[0])
    image = json.loads(docker.request("GET", "/v1.43/images/busybox/json")[2])
    # compose 1.29 reads ContainerConfig; its sub-keys are the build container's
    missing = {k for k in shape(fixture("image_inspect.json")) - shape(image)
               if not k.startswith("ContainerConfig.")}
    assert not missing, sorted(missing)
    err = fixture("error_no_such_container.json")
    status, _, body = docker.request("GET", "/v1.43/containers/nosuch/json")
    assert (status, json.loads(body)) == (err["status"], err["body"])
    ping = fixture("ping_headers.json")
    status, headers, body = docker.request("GET", "/_ping")
    assert (status, body.decode()) == (ping["status"], ping["body"])
    assert {h.lower() for h in ping["headers"]} <= set(headers)
    docker.run("rm", "-f", uniq)


def test_runtime_selects_dedicated_kernel(docker, uniq):
    p = docker.run("create", "--runtime", "no-such-runtime", "busybox", "true", check=False)
    assert p.returncode != 0 and "unknown or invalid runtime name" in p.stderr
    info = docker.daemon.api.get("/info").json
    vm = [m for m in info["mechanisms"] if m["name"] == "vm"][0]
    p = docker.run("create", "--name", uniq, "--runtime", "kata", "busybox", "true",
                   check=False)
    if not vm["available"]:
        assert p.returncode != 0 and "dedicated" in p.stderr
        return
    assert p.returncode == 0, p.stderr
    pl = docker.daemon.api.inspect(uniq)
    assert pl["mechanism"] == "vm"
    assert pl["config"]["isolation"]["kernel"] == "dedicated"
    docker.run("rm", uniq)


# ---- the engine primitives (issue 17) through Docker --------------------------------


def test_top(docker, uniq):
    docker.run("run", "-d", "--name", uniq, "busybox", "sleep", "1000")
    lines = docker.out("top", uniq).splitlines()
    assert lines[0].split()[:2] == ["UID", "PID"]
    assert any(l.endswith("sleep 1000") for l in lines[1:]), lines
    docker.run("rm", "-f", uniq)


def test_run_detached_rm_removes_after_exit(docker, uniq):
    docker.run("run", "-d", "--rm", "--name", uniq, "busybox", "sh", "-c", "exit 3")
    wait_until(lambda: uniq not in names(docker, "-a"), what="the --rm container gone")
    assert docker.daemon.api.get(f"/containers/{uniq}").status == 404


def test_healthcheck(docker, uniq):
    docker.run("run", "-d", "--name", uniq, "--health-cmd", "test -e /tmp/ok",
               "--health-interval", "200ms", "--health-retries", "1", "busybox", "sleep",
               "1000")
    status = lambda: docker.out("inspect", "-f", "{{.State.Health.Status}}", uniq).strip()
    wait_until(lambda: status() == "unhealthy", what="unhealthy")
    docker.run("exec", uniq, "touch", "/tmp/ok")
    wait_until(lambda: status() == "healthy", what="healthy")
    assert "(healthy)" in docker.out("ps", "--filter", f"name={uniq}", "--format",
                                     "{{.Status}}")
    log = json.loads(docker.out("inspect", "-f", "{{json .State.Health.Log}}", uniq))
    assert log and log[-1]["ExitCode"] == 0
    docker.run("rm", "-f", uniq)


def test_diff_export_history_update_prune(docker, uniq):
    docker.run("run", "--name", uniq, "busybox", "sh", "-c", "echo x > /new; rm /etc/passwd")
    diff = docker.out("diff", uniq).splitlines()
    assert "A /new" in diff and "D /etc/passwd" in diff
    tar = subprocess.run([DOCKER, "export", uniq], env=docker.env(), capture_output=True,
                         check=True).stdout
    import io
    import tarfile
    names_in = tarfile.open(fileobj=io.BytesIO(tar)).getnames()
    assert any(n.lstrip("./") == "new" for n in names_in)
    assert not any(n.lstrip("./") == "etc/passwd" for n in names_in)
    assert "docker-archive.py" in docker.out("history", "--no-trunc", "busybox")
    docker.run("run", "-d", "--name", uniq + "u", "busybox", "sleep", "1000")
    docker.run("update", "--memory", "64m", "--cpus", "0.5", uniq + "u")
    assert docker.out("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}",
                      uniq + "u").split() == ["67108864", "500000000"]
    out = docker.out("container", "prune", "-f")
    cid = docker.out("inspect", "-f", "{{.Id}}", uniq + "u").strip()
    assert cid not in out  # running: kept
    assert uniq not in names(docker, "-a")  # stopped: pruned
    docker.run("rm", "-f", uniq + "u")
