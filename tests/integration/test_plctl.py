# SPDX-License-Identifier: Apache-2.0
"""plctl end to end against the daemon."""

import re
import subprocess


def ids(api):
    return {c["id"] for c in api.containers()}


def test_run_rm_output_and_exit_code(api, plctl, rootfs):
    before = ids(api)
    p = plctl("run", "--rm", rootfs, "--", "/bin/sh", "-c", "echo hi; echo oops >&2; exit 7")
    assert p.returncode == 7, p
    assert p.stdout == "hi\n"
    assert "oops\n" in p.stderr
    assert ids(api) == before, "--rm left the container behind"


def test_run_success(api, plctl, rootfs):
    p = plctl("run", "--rm", rootfs, "--", "echo", "hello", check=0)
    assert p.stdout == "hello\n"


def test_run_killed_exit_code(plctl, rootfs):
    p = plctl("run", "--rm", rootfs, "--", "/bin/sh", "-c", "kill -9 $$")
    assert p.returncode == 137


def test_run_options(api, plctl, rootfs, uniq):
    p = plctl("run", "--name", uniq, "-e", "FOO=bar", "-w", "/tmp", "-u", "1000:1000", rootfs,
              "--", "/bin/sh", "-c", 'echo "$FOO $(pwd) $(id -u):$(id -g)"', check=0)
    assert p.stdout == "bar /tmp 1000:1000\n"
    c = api.inspect(uniq)
    assert c["state"]["status"] == "stopped"
    assert c["config"]["process"]["env"] == ["FOO=bar"] or "FOO=bar" in c["config"]["process"]["env"]


def test_run_missing_program_fails(api, plctl, rootfs):
    before = ids(api)
    # docker's codes, with --rm (created and started in one request, nothing left to ask)
    # and without (the failed container stays, its record has the code)
    for rm in (["--rm"], []):
        p = plctl("run", *rm, rootfs, "--", "/bin/does-not-exist")
        assert p.returncode == 127 and "does-not-exist" in p.stderr, (rm, p)
        p = plctl("run", *rm, rootfs, "--", "/")  # a directory: found, not runnable
        assert p.returncode == 126, (rm, p)
    assert len(ids(api) - before) == 2, "run without --rm keeps the failed container"


def test_plctl_links_no_http_or_archive_library():
    """plctl is on the critical path of every `plctl run`: it is static (static-pie; a
    sanitizer build keeps it dynamic, mapping libc alone), libarchive is loaded only when cp
    needs it (dlopen, by plctl-dynamic when plctl is static), and the client speaks HTTP
    itself."""
    from conftest import BUILD, PLCTL

    def needed(binary):
        out = subprocess.run(["readelf", "-d", str(binary)], capture_output=True,
                             text=True, check=True).stdout
        return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)

    sibling = BUILD / "plctl-dynamic"
    assert sibling.exists(), "plctl-dynamic is built beside plctl, static or not"
    dynamic = [BUILD / "src" / "client" / "libportlayer-client.so", sibling]
    headers = subprocess.run(["readelf", "-lW", str(PLCTL)], capture_output=True, text=True,
                             check=True).stdout
    if "INTERP" in headers:  # a sanitizer build: one dynamic plctl
        dynamic.append(PLCTL)
    else:
        assert needed(PLCTL) == [], needed(PLCTL)
    for binary in dynamic:
        libs = needed(binary)
        assert libs and not [l for l in libs if "curl" in l or "archive" in l], (binary, libs)


def test_run_detached_ps_logs_stop_rm(api, plctl, rootfs, uniq):
    p = plctl("run", "-d", "--name", uniq, rootfs, "--", "/bin/sh", "-c",
              "echo line1; echo line2; exec sleep 1000", check=0)
    m = re.search(r"[0-9a-f]{12,64}", p.stdout)
    assert m, f"run -d printed no id: {p.stdout!r}"
    cid = api.inspect(uniq)["id"]
    assert cid.startswith(m.group(0))
    api.wait_for_output(cid, "line2")

    ps = plctl("ps", check=0)
    assert uniq in ps.stdout
    logs = plctl("logs", uniq, check=0)
    assert logs.stdout == "line1\nline2\n"
    tail = plctl("logs", "--tail", "1", uniq, check=0)
    assert tail.stdout == "line2\n"
    ts = plctl("logs", "-t", uniq, check=0)
    assert re.fullmatch(r"(\d{4}-\d\d-\d\dT\S+ line[12]\n){2}", ts.stdout), ts.stdout

    plctl("stop", "-t", "1", uniq, check=0)
    assert api.state(cid)["status"] == "stopped"
    assert uniq not in plctl("ps", check=0).stdout
    assert uniq in plctl("ps", "-a", check=0).stdout
    plctl("rm", uniq, check=0)
    assert api.get(f"/containers/{cid}").status == 404


def test_create_start_wait_inspect(api, plctl, rootfs, uniq):
    p = plctl("create", "--name", uniq, rootfs, "--", "/bin/sh", "-c", "exit 3", check=0)
    cid = api.inspect(uniq)["id"]
    assert cid[:12] in p.stdout
    plctl("start", uniq, check=0)
    w = plctl("wait", uniq)
    assert "3" in w.stdout.split()
    insp = plctl("inspect", uniq, check=0)
    assert cid in insp.stdout
    assert '"exit_code"' in insp.stdout


def test_kill_and_rm_force(api, plctl, rootfs, uniq):
    plctl("run", "-d", "--name", uniq, rootfs, "--", "/bin/sleep", "1000", check=0)
    p = plctl("rm", uniq)
    assert p.returncode != 0, "rm of a running container without -f must fail"
    plctl("kill", "-s", "TERM", uniq, check=0)
    assert api.wait(uniq)["exit_code"] == 143
    plctl("rm", "-f", uniq, check=0)
    assert api.get(f"/containers/{uniq}").status == 404


def test_unknown_container_fails(plctl):
    p = plctl("inspect", "no-such-container-xyz")
    assert p.returncode != 0
    assert "no such container" in p.stderr.lower()


def test_info(plctl):
    p = plctl("info", check=0)
    assert "linux" in p.stdout


def test_host_from_env(daemon, rootfs):
    import os
    import subprocess

    from conftest import PLCTL

    env = dict(os.environ, PORTLAYER_HOST=f"unix://{daemon.socket}")
    p = subprocess.run([str(PLCTL), "run", "--rm", rootfs, "--", "echo", "via-env"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert (p.returncode, p.stdout) == (0, "via-env\n"), p.stderr


# --------------------------------------------------------------------------
# run/create resource, security and config flags; update, pause, events, rename


def test_run_memory_limit_oom_killed(api, plctl, rootfs, uniq):
    p = plctl("run", "--name", uniq, "--memory", "32m", "--memory-swap", "32m", rootfs, "--",
              "/bin/sh", "-c", "x=a; while :; do x=$x$x; done")
    assert p.returncode == 137, p
    c = api.inspect(uniq)
    assert c["state"]["oom_killed"] is True, c["state"]
    assert c["config"]["resources"]["memory"] == 32 << 20


def test_run_cap_drop_all(plctl, rootfs):
    p = plctl("run", "--rm", "--cap-drop", "ALL", rootfs, "--", "grep", "^CapEff:",
              "/proc/self/status", check=0)
    assert p.stdout.split() == ["CapEff:", "0000000000000000"]
    p = plctl("run", "--rm", "--cap-drop", "ALL", "--cap-add", "NET_ADMIN", rootfs, "--", "grep",
              "^CapEff:", "/proc/self/status", check=0)
    assert p.stdout.split() == ["CapEff:", f"{1 << 12:016x}"]  # CAP_NET_ADMIN is 12


def test_run_read_only_rootfs(plctl, rootfs):
    p = plctl("run", "--rm", "--read-only", "--tmpfs", "/run:size=1m", rootfs, "--", "/bin/sh",
              "-c", "touch /run/ok && echo tmpfs-writable && touch /x")
    assert p.returncode == 1, p
    assert p.stdout == "tmpfs-writable\n"
    assert "Read-only file system" in p.stderr


def test_run_ulimit(plctl, rootfs):
    p = plctl("run", "--rm", "--ulimit", "nofile=100:200", rootfs, "--", "/bin/sh", "-c",
              "ulimit -n; ulimit -Hn", check=0)
    assert p.stdout.split() == ["100", "200"]


def test_create_config_flags(api, plctl, rootfs, uniq):
    plctl("create", "--name", uniq, "--label", "tier=web", "--restart", "on-failure:3",
          "--stop-signal", "INT", "--stop-timeout", "5", "--cpus", "1.5", "--pids-limit", "64",
          "--sysctl", "net.ipv4.ip_forward=1", "--security-opt", "no-new-privileges=false",
          rootfs, "--", "true", check=0)
    cfg = api.inspect(uniq)["config"]
    assert cfg["labels"] == {"tier": "web"}
    assert cfg["restart_policy"] == {"name": "on-failure", "max_retries": 3}
    assert (cfg["stop_signal"], cfg["stop_timeout"]) == ("INT", 5)
    res = cfg["resources"]
    assert (res["cpu_quota"], res["cpu_period"], res["pids_limit"]) == (150000, 100000, 64)
    assert cfg["security"]["sysctls"] == {"net.ipv4.ip_forward": "1"}
    assert cfg["security"]["no_new_privileges"] is False


def test_run_bad_flag_values_exit_125(api, plctl, rootfs):
    before = ids(api)
    # the first ones are caught by plctl, the last by the daemon (its 400 message shows)
    for flag, value, shown in [("--memory", "12x", "12x"), ("--cpus", "fast", "fast"),
                               ("--ulimit", "nofile", "nofile"), ("--restart", "always:3", "always:3"),
                               ("--security-opt", "apparmor=x", "apparmor=x"),
                               ("--cap-add", "NO_SUCH_CAP", "NO_SUCH_CAP")]:
        p = plctl("run", "--rm", flag, value, rootfs, "--", "true")
        assert p.returncode == 125, (flag, value, p)
        assert p.stderr.startswith("plctl: ") and shown in p.stderr, (flag, p.stderr)
    assert ids(api) == before


def test_update_pause_unpause(api, plctl, rootfs, uniq):
    plctl("run", "-d", "--name", uniq, rootfs, "--", "/bin/sh", "-c",
          "echo ready; while /bin/true; do :; done", check=0)
    api.wait_for_output(uniq, "ready")

    assert plctl("pause", uniq, check=0).stdout == f"{uniq}\n"
    assert api.state(uniq)["status"] == "paused"
    assert uniq in plctl("ps", check=0).stdout
    p = plctl("pause", uniq)
    assert p.returncode == 1 and "already paused" in p.stderr
    assert plctl("unpause", uniq, check=0).stdout == f"{uniq}\n"
    assert api.state(uniq)["status"] == "running"

    assert plctl("update", "--memory", "x", uniq).returncode == 2
    assert plctl("update", uniq).returncode == 2
    # one process allowed: the loop's next fork fails and the shell gives up
    assert plctl("update", "--pids-limit", "1", "--memory", "64m", uniq, check=0).stdout == \
        f"{uniq}\n"
    assert api.wait(uniq)["exit_code"] != 0
    assert "can't fork" in api.output(uniq)[1]
    res = api.inspect(uniq)["config"]["resources"]
    assert (res["pids_limit"], res["memory"]) == (1, 64 << 20)


def test_events_for_a_run(api, plctl, rootfs, uniq):
    import json
    import os
    import select
    import subprocess
    import time

    from conftest import DEADLINE, PLCTL

    since = f"{time.time():.6f}"
    # --since replays what happened before the stream was set up, so nothing is lost to
    # the race between starting plctl events and the run
    ev = subprocess.Popen([str(PLCTL), "-H", plctl.host, "events", "--since", since,
                           "--filter", f"container={uniq}"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        p = plctl("run", "--name", uniq, rootfs, "--", "/bin/sh", "-c", "exit 3")
        assert p.returncode == 3, p
        out = b""
        end = time.monotonic() + DEADLINE
        while b" container die " not in out or not out.endswith(b"\n"):
            left = end - time.monotonic()
            assert left > 0 and select.select([ev.stdout], [], [], left)[0], \
                f"no die event; got {out!r}"
            chunk = os.read(ev.stdout.fileno(), 65536)
            assert chunk, f"plctl events ended: {ev.stderr.read()!r}"
            out += chunk
    finally:
        ev.terminate()
        ev.wait()
    lines = out.decode().splitlines()
    cid = api.inspect(uniq)["id"]
    assert [line.split()[1:4] for line in lines] == \
        [["container", action, cid] for action in ("create", "start", "die")]
    assert lines[-1].endswith(f" (exit_code=3, name={uniq})"), lines[-1]

    # with --until the stream ends by itself; --format json gives the daemon's lines
    until = f"{time.time():.6f}"
    j = plctl("events", "--since", since, "--until", until, "--filter", f"container={uniq}",
              "--filter", "event=die", "--format", "json", check=0)
    evs = [json.loads(line) for line in j.stdout.splitlines()]
    assert [(e["action"], e["id"], e["attributes"]["exit_code"]) for e in evs] == \
        [("die", cid, 3)]


def test_rename(api, plctl, rootfs, uniq):
    plctl("create", "--name", uniq, rootfs, "--", "true", check=0)
    cid = api.inspect(uniq)["id"]
    assert plctl("rename", uniq, f"{uniq}-new", check=0).stdout == ""
    assert api.inspect(cid)["name"] == f"{uniq}-new"
    assert api.get(f"/containers/{uniq}").status == 404

    # a name in use is refused and the container keeps its own
    plctl("create", "--name", uniq, rootfs, "--", "true", check=0)
    p = plctl("rename", f"{uniq}-new", uniq)
    assert p.returncode == 1 and "already in use" in p.stderr, p
    assert api.inspect(cid)["name"] == f"{uniq}-new"


# --------------------------------------------------------------------------
# exec, attach, run -i, stats (terminals through a pty: test_interactive.py)

import base64  # noqa: E402
import os  # noqa: E402

from conftest import wait_until  # noqa: E402


def running_box(api, rootfs, name, args=("sleep", "1000")):
    cid = api.create(rootfs, list(args), name=name)
    api.start(cid)
    return cid


def test_exec_output_exit_code_and_options(api, plctl, rootfs, uniq):
    running_box(api, rootfs, uniq)
    p = plctl("exec", uniq, "--", "sh", "-c", "echo hi; echo oops >&2; exit 3")
    assert (p.returncode, p.stdout, p.stderr) == (3, "hi\n", "oops\n"), p
    p = plctl("exec", "-e", "FOO=bar", "-w", "/tmp", "-u", "1000:1000", uniq,
              "sh", "-c", 'echo "$FOO $(pwd) $(id -u):$(id -g)"', check=0)
    assert p.stdout == "bar /tmp 1000:1000\n"


def test_exec_interactive_stdin(api, plctl, rootfs, uniq):
    running_box(api, rootfs, uniq)
    p = plctl("exec", "-i", uniq, "--", "tr", "a-z", "A-Z", input="hello\nworld\n", check=0)
    assert p.stdout == "HELLO\nWORLD\n"
    # without a tty the input is data: ctrl-p ctrl-q in it detaches nothing
    data = "x\x10\x11y\n" * 1000
    assert plctl("exec", "-i", uniq, "--", "cat", input=data, check=0).stdout == data
    # without -i the process gets no stdin: it sees EOF at once
    p = plctl("exec", uniq, "--", "sh", "-c", "cat; echo done", input="ignored\n", check=0)
    assert p.stdout == "done\n"


def test_exec_interactive_large_input_round_trip(api, plctl, rootfs, uniq):
    running_box(api, rootfs, uniq)
    data = base64.b64encode(os.urandom(6 << 20)).decode()  # 8 MiB through stdin and back
    p = plctl("exec", "-i", uniq, "--", "cat", input=data, check=0)
    assert len(p.stdout) == len(data) and p.stdout == data, \
        f"{len(p.stdout)} of {len(data)} bytes back"


def test_exec_detached_and_failures(api, plctl, rootfs, uniq):
    cid = running_box(api, rootfs, uniq)
    p = plctl("exec", "-d", uniq, "--", "sh", "-c", "echo detached > /tmp/mark", check=0)
    assert p.stdout == ""
    wait_until(lambda: plctl("exec", uniq, "cat", "/tmp/mark").stdout == "detached\n",
               what="the detached exec's file")

    p = plctl("exec", uniq, "--", "/no/such/binary")
    assert p.returncode == 127 and "/no/such/binary" in p.stderr, p
    p = plctl("exec", "-d", uniq, "--", "/no/such/binary")
    assert p.returncode == 127 and "/no/such/binary" in p.stderr, p

    api.kill(cid, "KILL")
    api.wait(cid)
    p = plctl("exec", uniq, "--", "true")
    assert p.returncode == 1 and "not running" in p.stderr, p
    assert plctl("exec", uniq).returncode == 2  # usage: no command


def test_run_interactive_feeds_stdin(plctl, rootfs):
    p = plctl("run", "--rm", "-i", rootfs, "--", "sh", "-c", "echo before; cat; exit 5",
              input="piped\n")
    assert (p.returncode, p.stdout) == (5, "before\npiped\n"), p


def test_attach_without_tty(api, plctl, rootfs, uniq):
    body = api.create_body(rootfs, ["sh", "-c", "read x; echo got $x; echo to-err >&2; exit 4"],
                           name=uniq)
    body["process"]["stdin"] = True
    r = api.create_raw(body)
    assert r.status == 201, r
    api.start(r.json["id"])
    p = plctl("attach", uniq, input="hello\n")
    assert (p.returncode, p.stdout, p.stderr) == (4, "got hello\n", "to-err\n"), p
    assert plctl("attach", uniq).returncode == 1  # stopped: nothing to attach to


def test_stats(api, plctl, rootfs, uniq):
    cid = running_box(api, rootfs, uniq)
    p = plctl("stats", "--no-stream", uniq, check=0)
    header, *rows = p.stdout.splitlines()
    assert re.split(r"\s{3,}", header) == ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT",
                                           "MEM %", "NET I/O", "BLOCK I/O", "PIDS"]
    assert len(rows) == 1
    cells = re.split(r"\s{3,}", rows[0])
    assert cells[0] == cid[:12] and cells[1] == uniq
    assert re.fullmatch(r"\d+\.\d\d%", cells[2])
    assert re.fullmatch(r"[\d.]+[KMG]?i?B / [\d.]+[KMGT]?i?B", cells[3]), cells
    assert int(cells[7]) >= 1
    # all running containers by default
    assert uniq in plctl("stats", "--no-stream", check=0).stdout
    api.kill(cid, "KILL")
    api.wait(cid)
    p = plctl("stats", "--no-stream", uniq)
    assert p.returncode == 1 and "not running" in p.stderr, p


# --------------------------------------------------------------------------
# images: plctl image import/ls/inspect/tag/rm, plctl run IMAGE

import io  # noqa: E402
import json  # noqa: E402
import tarfile  # noqa: E402
import uuid  # noqa: E402

from conftest import PLCTL  # noqa: E402
from test_extract_hostile import entry, oci_layout_tar, tar_bytes  # noqa: E402


def _image_tar(rootfs, tmp_path, name, config):
    """An OCI image layout tar: the busybox rootfs plus a layer of its own."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        t.add(rootfs, arcname=".")
    own = tar_bytes(entry("etc", "dir"), entry("etc/cli-image", data=uuid.uuid4().bytes.hex()
                                               .encode()))
    f = tmp_path / "image.tar"
    f.write_bytes(oci_layout_tar([buf.getvalue(), own], config, ref=name))
    return f


CLI_IMAGE_CONFIG = {"Cmd": ["sh", "-c", "echo cmd $FOO; pwd; exit 3"], "Env": ["FOO=img"],
                    "WorkingDir": "/home/user"}


def test_image_import_ls_inspect_tag_rm(api, plctl, rootfs, tmp_path, uniq):
    name = f"pl-cli/{uniq.lower()}"
    f = _image_tar(rootfs, tmp_path, f"{name}:v1", CLI_IMAGE_CONFIG)
    p = plctl("image", "import", f, check=0)
    m = re.fullmatch(r"(sha256:[0-9a-f]{64}) (\S+)\n", p.stdout)
    assert m and m.group(2) == f"{name}:v1", p.stdout
    iid = m.group(1)
    assert api.get(f"/images/{name}:v1").json["id"] == iid
    assert plctl("image", "import", "-q", f, check=0).stdout == iid + "\n"

    p = plctl("image", "ls", check=0)
    header, *rows = p.stdout.splitlines()
    assert re.split(r"\s{3,}", header) == ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
    mine = [re.split(r"\s{3,}", r) for r in rows if r.startswith(name + " ")]
    assert len(mine) == 1, p.stdout
    assert mine[0][:3] == [name, "v1", iid[7:19]] and re.fullmatch(r"[\d.]+[kMG]?B", mine[0][4])
    assert iid in plctl("image", "ls", "-q", check=0).stdout.split()

    p = plctl("image", "inspect", f"{name}:v1", iid[7:19], check=0)
    recs = json.loads(p.stdout)
    assert [r["id"] for r in recs] == [iid, iid]
    assert recs[0]["config"]["config"]["Env"] == ["FOO=img"] and len(recs[0]["layers"]) == 2

    assert plctl("image", "tag", f"{name}:v1", f"{name}:v2", check=0).stdout == ""
    assert f"{name}:v2" in api.get(f"/images/{iid}").json["tags"]
    p = plctl("image", "rm", f"{name}:v2", check=0)
    assert p.stdout == f"{name}:v2\n"
    assert api.get(f"/images/{name}:v2").status == 404
    assert api.get(f"/images/{name}:v1").status == 200

    p = plctl("image", "inspect", "pl-no-such-image", f"{name}:v1")
    assert p.returncode == 1 and "no such image" in p.stderr
    assert len(json.loads(p.stdout)) == 1
    p = plctl("image", "rm", "pl-no-such-image", f"{name}:v1")
    assert p.returncode == 1 and "no such image" in p.stderr and p.stdout == f"{name}:v1\n"
    assert api.get(f"/images/{iid}").status == 404


def test_image_import_from_stdin(api, plctl, rootfs, tmp_path, uniq):
    name = f"pl-cli-stdin-{uniq.lower()}:1"
    f = _image_tar(rootfs, tmp_path, name, CLI_IMAGE_CONFIG)
    with open(f, "rb") as stdin:  # a pipe: no length known up front
        cat = subprocess.Popen(["cat"], stdin=stdin, stdout=subprocess.PIPE)
        p = subprocess.run([str(PLCTL), "-H", plctl.host, "image", "import", "-"],
                           stdin=cat.stdout, capture_output=True, text=True, timeout=60)
        cat.stdout.close()
        cat.wait()
    assert p.returncode == 0, p.stderr
    assert p.stdout.split()[1] == name
    assert api.delete(f"/images/{name}").status == 204


def test_image_import_refused_and_usage(plctl, tmp_path):
    bad = tmp_path / "bad.tar"
    bad.write_bytes(tar_bytes(entry("../../escape", data=b"x")))
    p = plctl("image", "import", bad)
    assert p.returncode == 1 and "escapes the root" in p.stderr, p
    p = plctl("image", "import", tmp_path / "missing.tar")
    assert p.returncode == 1 and "missing.tar" in p.stderr
    assert plctl("image").returncode == 2
    assert plctl("image", "frobnicate").returncode == 2
    assert plctl("image", "tag", "only-one").returncode == 2
    assert plctl("image", "rm").returncode == 2
    assert plctl("image", "import").returncode == 2
    assert plctl("image", "ls", "--help", check=0).stdout.startswith("Usage:")
    for group in ("volume", "network"):  # each group's help names its own group
        for sub in ("ls", "inspect", "rm"):
            out = plctl(group, sub, "--help", check=0).stdout
            assert out.startswith(f"Usage: plctl {group} {sub}"), out


def test_run_image(api, plctl, rootfs, tmp_path, uniq):
    name = f"pl-cli-run-{uniq.lower()}"
    f = _image_tar(rootfs, tmp_path, name, CLI_IMAGE_CONFIG)
    plctl("image", "import", f, check=0)
    before = ids(api)
    # no CMD: the image's runs, with its env and working directory
    p = plctl("run", "--rm", name)
    assert (p.returncode, p.stdout) == (3, "cmd img\n/home/user\n"), p
    p = plctl("run", "--rm", "-e", "FOO=mine", "-w", "/tmp", name)
    assert (p.returncode, p.stdout) == (3, "cmd mine\n/tmp\n"), p
    # a CMD replaces the image's, with or without --
    p = plctl("run", "--rm", name, "--", "sh", "-c", "echo $FOO; cat /etc/cli-image | wc -c")
    assert (p.returncode, p.stdout) == (0, "img\n32\n"), p
    assert plctl("run", "--rm", f"{name}:latest", "echo", "hi", check=0).stdout == "hi\n"
    assert ids(api) == before
    # create IMAGE: the container records the image id
    p = plctl("create", "--name", uniq, name, check=0)
    cid = p.stdout.strip()
    iid = api.get(f"/images/{name}").json["id"]
    assert api.inspect(cid)["config"]["image"] == iid
    p = plctl("image", "rm", name)
    assert p.returncode == 1 and "used by a container" in p.stderr, p
    plctl("rm", cid, check=0)
    plctl("image", "rm", name, check=0)


def test_run_unknown_image_and_rootfs_without_cmd(plctl, rootfs):
    p = plctl("run", "--rm", "pl-no-such-image:1")
    assert p.returncode == 125 and "no such image" in p.stderr, p
    p = plctl("run", "--rm", rootfs)  # a directory: a command is still required
    assert p.returncode == 2 and "missing the command" in p.stderr, p


# --------------------------------------------------------------------------
# volumes and mounts


def test_volume_commands(api, plctl, rootfs, uniq):
    name = f"v-{uniq}"
    assert plctl("volume", "create", "--label", "k=v", name, check=0).stdout == f"{name}\n"
    p = plctl("volume", "create", name)
    assert p.returncode == 1 and "exists" in p.stderr, p
    gen = plctl("volume", "create", check=0).stdout.strip()
    assert gen and gen != name
    # one listing only: see test_volumes.test_volume_list_twice
    p = plctl("volume", "ls", check=0)
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["DRIVER", "VOLUME", "NAME"]
    assert ["local", name] in [ln.split() for ln in lines[1:]], p.stdout
    import json
    got = json.loads(plctl("volume", "inspect", name, gen, check=0).stdout)
    assert [v["name"] for v in got] == [name, gen]
    assert got[0]["labels"] == {"k": "v"} and got[0]["driver"] == "local"
    p = plctl("volume", "inspect", "pl-no-such-volume")
    assert p.returncode == 1 and "no such volume" in p.stderr, p
    # in use by a stopped container: rm refuses, rm -f removes
    cid = plctl("create", "-v", f"{name}:/data", rootfs, "--", "true", check=0).stdout.strip()
    p = plctl("volume", "rm", name)
    assert p.returncode == 1 and p.stdout == "", p
    assert plctl("volume", "rm", "-f", name, gen, check=0).stdout == f"{name}\n{gen}\n"
    assert api.get(f"/volumes/{name}").status == 404
    plctl("rm", cid, check=0)
    assert plctl("volume", "frob").returncode == 2
    assert plctl("volume", "ls", "extra").returncode == 2


def test_run_volume_flags(api, plctl, rootfs, uniq, tmp_path):
    name = f"v-{uniq}"
    (tmp_path / "in").write_text("host\n")
    plctl("run", "--rm", "-v", f"{name}:/data", "-v", f"{tmp_path}:/h:ro", rootfs, "--",
          "sh", "-c", "cat /h/in > /data/f", check=0)
    p = plctl("run", "--rm", "--volume", f"{name}:/d2:ro", "-v", f"{tmp_path}:/h", rootfs, "--",
              "sh", "-c", "cat /d2/f; echo out > /h/out; echo x > /d2/g")
    assert p.returncode != 0 and p.stdout == "host\n", p
    assert (tmp_path / "out").read_text() == "out\n"
    # -v DST alone: an anonymous volume, named in the container's config
    cid = plctl("create", "-v", "/anon", rootfs, "--", "true", check=0).stdout.strip()
    mounts = api.inspect(cid)["config"]["mounts"]
    assert [(m["type"], m["target"]) for m in mounts] == [("volume", "/anon")]
    anon = mounts[0]["source"]
    plctl("rm", cid, check=0)
    plctl("volume", "rm", name, anon, check=0)
    for bad in ["", ":/x", "a:", "a:/x:rx", "a:/x:ro:more"]:
        p = plctl("create", "-v", bad, rootfs, "--", "true")
        assert p.returncode == 125 and "--volume" in p.stderr, (bad, p)


def test_run_mount_flag(api, plctl, rootfs, uniq, tmp_path):
    name = f"v-{uniq}"
    (tmp_path / "f").write_text("file\n")
    p = plctl("run", "--rm", "--mount", f"type=bind,source={tmp_path},target=/b,readonly",
              "--mount", f"source={name},target=/v", rootfs, "--",
              "sh", "-c", "cat /b/f; echo y > /v/y; echo z > /b/z")
    assert p.returncode != 0 and p.stdout == "file\n", p
    assert not (tmp_path / "z").exists()
    assert (api.get(f"/volumes/{name}").status) == 200
    cid = plctl("create", "--mount", f"type=bind,src={tmp_path},dst=/b,bind-propagation=rslave",
                rootfs, "--", "true", check=0).stdout.strip()
    m = api.inspect(cid)["config"]["mounts"]
    assert m == [{"type": "bind", "source": str(tmp_path), "target": "/b", "readonly": False,
                  "propagation": "rslave"}], m
    plctl("rm", cid, check=0)
    plctl("volume", "rm", name, check=0)
    for bad in ["type=tmpfs,target=/x", "source=a", "type=bind,target=/x", "target=/x,bogus=1",
                "target=/x,readonly=maybe"]:
        p = plctl("create", "--mount", bad, rootfs, "--", "true")
        assert p.returncode == 125 and "--mount" in p.stderr, (bad, p)
    # a bind source that does not exist: the daemon's 400
    p = plctl("create", "-v", f"{tmp_path}/missing:/x", rootfs, "--", "true")
    assert p.returncode == 125 and "missing" in p.stderr, p
