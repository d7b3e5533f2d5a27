"""plctl end to end against the daemon."""

import re


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


def test_run_missing_program_fails(plctl, rootfs):
    p = plctl("run", "--rm", rootfs, "--", "/bin/does-not-exist")
    assert p.returncode != 0
    assert "does-not-exist" in p.stderr


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
