# SPDX-License-Identifier: Apache-2.0
"""Running a process: output, exit status, environment, identity."""

import re
from datetime import datetime, timedelta, timezone

import pytest

from conftest import demux, parse_time, split_streams


@pytest.mark.mechanisms
def test_echo_hello(api, rootfs):
    r = api.run(rootfs, ["/bin/echo", "hello"])
    assert r.exit_code == 0
    assert r.stdout == "hello\n"
    assert r.stderr == ""
    assert r.state["status"] == "stopped"
    assert r.state["exit_code"] == 0
    assert r.state.get("signal") in (None, 0)


def test_program_found_on_default_path(api, rootfs):
    # No env given: a bare program name must still resolve (a default PATH).
    r = api.run(rootfs, ["echo", "hello"])
    assert (r.exit_code, r.stdout) == (0, "hello\n"), r.state


@pytest.mark.parametrize("code", [0, pytest.param(3, marks=pytest.mark.mechanisms), 255])
def test_exit_code(api, rootfs, code):
    r = api.run(rootfs, ["/bin/sh", "-c", f"exit {code}"])
    assert r.exit_code == code
    assert r.wait["exit_code"] == code
    assert r.state["exit_code"] == code
    assert r.state.get("signal") in (None, 0)


@pytest.mark.mechanisms
def test_killed_by_signal(api, rootfs):
    r = api.run(rootfs, ["/bin/sh", "-c", "kill -9 $$"])
    assert r.exit_code == 137
    assert r.wait.get("signal") == 9
    assert r.state["exit_code"] == 137
    assert r.state["signal"] == 9


@pytest.mark.mechanisms
def test_env(api, rootfs):
    r = api.run(rootfs, ["/bin/sh", "-c", 'echo "$FOO|$EMPTY|$WITH_EQ"; env'],
                env=["FOO=bar", "EMPTY=", "WITH_EQ=a=b"])
    assert r.exit_code == 0
    first, *rest = r.stdout.splitlines()
    assert first == "bar||a=b"
    assert "FOO=bar" in rest


def test_cwd(api, rootfs):
    r = api.run(rootfs, ["/bin/pwd"], cwd="/tmp")
    assert (r.exit_code, r.stdout) == (0, "/tmp\n")


def test_default_cwd_is_root(api, rootfs):
    r = api.run(rootfs, ["/bin/pwd"])
    assert (r.exit_code, r.stdout) == (0, "/\n")


def test_user(api, rootfs):
    r = api.run(rootfs, ["/bin/sh", "-c", "id -u; id -g"], user="1000:1000")
    assert r.exit_code == 0
    assert r.stdout.split() == ["1000", "1000"]


def test_default_user_is_root(api, rootfs):
    r = api.run(rootfs, ["/bin/sh", "-c", "id -u; id -g"])
    assert r.stdout.split() == ["0", "0"]


def test_hostname(api, rootfs):
    r = api.run(rootfs, ["/bin/hostname"], hostname="pl-test-host")
    assert (r.exit_code, r.stdout) == (0, "pl-test-host\n")


@pytest.mark.mechanisms
def test_stdout_stderr_separated(api, rootfs):
    r = api.run(rootfs, ["/bin/sh", "-c", "echo out1; echo err1 >&2; echo out2; echo err2 >&2"])
    assert r.stdout == "out1\nout2\n"
    assert r.stderr == "err1\nerr2\n"
    only_err = api.logs(r.id, stdout=0)
    assert {s for s, _ in only_err} == {2}
    assert b"".join(p for _, p in only_err) == b"err1\nerr2\n"
    only_out = api.logs(r.id, stderr=0)
    assert {s for s, _ in only_out} == {1}


def test_logs_one_frame_per_line(api, rootfs):
    r = api.run(rootfs, ["/bin/sh", "-c", "printf 'a\\nbb\\nccc\\n'"])
    frames = api.logs(r.id)
    assert [p for _, p in frames] == [b"a\n", b"bb\n", b"ccc\n"]


def test_logs_tail(api, rootfs):
    r = api.run(rootfs, ["/bin/sh", "-c", "echo one; echo two; echo three"])
    assert api.output(r.id, tail=1) == ("three\n", "")
    assert api.output(r.id, tail=2) == ("two\nthree\n", "")
    assert api.output(r.id, tail="all") == ("one\ntwo\nthree\n", "")


TS = re.compile(r"^(\S+) (.*)$", re.S)


def test_logs_timestamps(api, rootfs):
    before = datetime.now(timezone.utc) - timedelta(seconds=2)
    r = api.run(rootfs, ["/bin/sh", "-c", "echo first; echo second"])
    after = datetime.now(timezone.utc) + timedelta(seconds=2)
    frames = api.logs(r.id, timestamps=1)
    assert len(frames) == 2
    lines = []
    stamps = []
    for stream, payload in frames:
        m = TS.match(payload.decode())
        assert m, f"no RFC 3339 timestamp prefix in {payload!r}"
        stamps.append(parse_time(m.group(1)))
        lines.append(m.group(2))
    assert lines == ["first\n", "second\n"]
    assert stamps[0] <= stamps[1]
    for t in stamps:
        assert before <= t <= after, f"timestamp {t} not within the run ({before}..{after})"
    tail = api.logs(r.id, timestamps=1, tail=1)
    assert len(tail) == 1 and TS.match(tail[0][1].decode()).group(2) == "second\n"


def test_logs_follow_ends_when_container_exits(api, rootfs):
    cid = api.create(rootfs, ["/bin/sh", "-c", "echo a; usleep 300000; echo b"])
    api.start(cid)
    r = api.logs_raw(cid, follow=1)  # returns only once the stream ends
    assert r.status == 200
    assert split_streams(demux(r.body)) == ("a\nb\n", "")
    assert api.state(cid)["status"] == "stopped"


def test_state_after_run(api, rootfs):
    r = api.run(rootfs, ["/bin/true"])
    st = r.state
    assert st["status"] == "stopped"
    assert st.get("pid", 0) == 0
    info = api.inspect(r.id)
    created = parse_time(info["created"])
    started = parse_time(st["started_at"])
    finished = parse_time(st["finished_at"])
    assert created <= started <= finished
    assert info["id"] == r.id
    assert info["mechanism"] == "linux"
    assert info["config"]["process"]["args"] == ["/bin/true"]
    assert info["config"]["rootfs"] == rootfs
