# SPDX-License-Identifier: Apache-2.0
"""Interaction with running containers: exec sessions, attach streams (raw tty and the
multiplexed framing), terminals through plctl in a real pseudo-terminal, flow control
towards a slow client, and stats.

Attach and exec start answer "101 Switching Protocols" and then carry a raw
bidirectional stream, which http.client cannot do: the small client below speaks
that part of HTTP/1.1 itself over the daemon's unix socket."""

import fcntl
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import termios
import threading
import time
import urllib.parse

import pytest

from conftest import (DEADLINE, PLCTL, SANITIZER_PATTERNS, UnixHTTPConnection, finish_daemon,
                      start_daemon, wait_until)

# --------------------------------------------------------------------------
# the raw upgrade client


class Upgraded:
    """An upgraded connection: status and headers of the answer, then the stream."""

    def __init__(self, sock, status, headers, rest):
        self.sock = sock
        self.status = status
        self.headers = headers
        self._rest = rest  # stream bytes that arrived with the head

    @property
    def raw(self):
        return "raw-stream" in self.headers.get("content-type", "")

    def recv(self, n=65536):
        """Up to n bytes; b"" at the end of the stream."""
        if self._rest:
            data, self._rest = self._rest[:n], self._rest[n:]
            return data
        return self.sock.recv(n)

    def send(self, data):
        self.sock.sendall(data)

    def half_close(self):
        self.sock.shutdown(socket.SHUT_WR)

    def read_all(self, timeout=DEADLINE):
        """Everything up to the daemon closing the stream."""
        self.sock.settimeout(timeout)
        chunks = []
        while True:
            data = self.recv()
            if not data:
                return b"".join(chunks)
            chunks.append(data)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def upgrade(api, path, params=None, timeout=DEADLINE):
    """POSTs path with "Connection: Upgrade" / "Upgrade: tcp". Returns an Upgraded for a 101
    answer; for any other the Upgraded has .status and .body instead of a stream."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(api.socket_path)
    query = "?" + urllib.parse.urlencode(params) if params else ""
    s.sendall((f"POST {path}{query} HTTP/1.1\r\nHost: localhost\r\n"
               "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        assert chunk, f"connection closed before the answer's head: {data!r}"
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    up = Upgraded(s, status, headers, rest)
    if status != 101:
        want = int(headers.get("content-length", "0"))
        body = rest
        while len(body) < want:
            chunk = s.recv(want - len(body))
            if not chunk:
                break
            body += chunk
        up.body = body
        s.close()
    return up


class Demuxer:
    """Incremental parser of the multiplexed framing: stdout and stderr as they arrive."""

    def __init__(self):
        self.buf = b""
        self.out = bytearray()
        self.err = bytearray()
        self.frames = 0

    def feed(self, data):
        self.buf += data
        while len(self.buf) >= 8:
            stream, z1, z2, z3, length = struct.unpack(">BBBBI", self.buf[:8])
            assert stream in (1, 2) and (z1, z2, z3) == (0, 0, 0), self.buf[:8]
            if len(self.buf) < 8 + length:
                break
            payload, self.buf = self.buf[8:8 + length], self.buf[8 + length:]
            (self.out if stream == 1 else self.err).extend(payload)
            self.frames += 1

    def at_boundary(self):
        return not self.buf


def attach(api, cid, **params):
    q = {"stream": 1, "stdout": 1, "stderr": 1}
    q.update(params)
    up = upgrade(api, f"/containers/{cid}/attach", q)
    assert up.status == 101, f"attach {cid[:12]}: {up.status} {getattr(up, 'body', b'')!r}"
    return up


def start_container(api, rootfs, args, name, tty=False, stdin=False):
    body = api.create_body(rootfs, args, name=name)
    body["process"]["tty"] = tty
    body["process"]["stdin"] = stdin
    r = api.create_raw(body)
    assert r.status == 201, r
    cid = r.json["id"]
    api.start(cid)
    return cid


def exec_create(api, cid, args, **spec):
    r = api.post(f"/containers/{cid}/exec", {"args": list(args), **spec})
    assert r.status == 201, f"exec create: {r.status} {r.body!r}"
    return r.json["id"]


def exec_json(api, eid):
    r = api.get(f"/exec/{eid}/json")
    assert r.status == 200, r
    return r.json


def exec_wait(api, eid, timeout=DEADLINE):
    r = api.post(f"/exec/{eid}/wait", params={"timeout": timeout}, timeout=timeout + 10)
    assert r.status == 200, f"exec wait: {r.status} {r.body!r}"
    return r.json


def exec_run(api, cid, args, **spec):
    """exec through the attached start: (stdout, stderr, the exec's json once exited)."""
    eid = exec_create(api, cid, args, **spec)
    with upgrade(api, f"/exec/{eid}/start") as up:
        assert up.status == 101, f"exec start: {up.status} {getattr(up, 'body', b'')!r}"
        assert not up.raw
        d = Demuxer()
        d.feed(up.read_all())
    assert d.at_boundary(), f"stream ended inside a frame: {d.buf!r}"
    return bytes(d.out).decode(), bytes(d.err).decode(), exec_wait(api, eid)


@pytest.fixture
def box(api, rootfs, uniq):
    """A running container to exec into."""
    return start_container(api, rootfs, ["sleep", "1000"], uniq)


# --------------------------------------------------------------------------
# exec


def test_exec_output_and_exit_code(api, box):
    out, err, j = exec_run(api, box, ["sh", "-c", "echo hi; echo oops >&2; exit 3"])
    assert (out, err) == ("hi\n", "oops\n")
    assert j["exit_code"] == 3 and j["state"] == "exited" and j["running"] is False
    assert j["container"] == box

    # detached start, then wait: the same code
    eid = exec_create(api, box, ["sh", "-c", "exit 5"])
    r = api.post(f"/exec/{eid}/start", params={"detach": 1})
    assert r.status == 204, r
    assert exec_wait(api, eid)["exit_code"] == 5


def test_detached_exec_with_much_output_does_not_block(api, box):
    """Nobody reads a detached exec's output: it is discarded (as Docker does), so a process
    writing far more than a pipe holds still runs to its end."""
    eid = exec_create(api, box, ["sh", "-c", "head -c 5000000 /dev/zero; exit 4"])
    r = api.post(f"/exec/{eid}/start", params={"detach": 1})
    assert r.status == 204, r
    assert exec_wait(api, eid)["exit_code"] == 4


def test_exec_env_cwd_user(api, box):
    out, err, j = exec_run(api, box, ["sh", "-c", 'echo "$FOO|$(pwd)|$(id -u):$(id -g)"'],
                           env=["FOO=bar baz"], cwd="/tmp", user="1000:1001")
    assert out == "bar baz|/tmp|1000:1001\n", err
    assert j["exit_code"] == 0


def test_exec_missing_binary(api, box):
    eid = exec_create(api, box, ["/no/such/binary"])
    r = api.post(f"/exec/{eid}/start", params={"detach": 1})
    assert r.status == 400, r
    j = exec_json(api, eid)
    assert j["exit_code"] == 127 and j["running"] is False, j
    assert "/no/such/binary" in j["error"], j


def test_exec_in_stopped_container_conflicts(api, rootfs, uniq):
    cid = start_container(api, rootfs, ["true"], uniq)
    api.wait(cid)
    r = api.post(f"/containers/{cid}/exec", {"args": ["echo", "hi"]})
    assert r.status == 409, r


def test_twenty_concurrent_execs(api, box):
    results = {}

    def one(i):
        token = f"token-{i}-{os.urandom(4).hex()}"
        try:
            results[i] = (token, exec_run(api, box, ["sh", "-c", f"echo {token}; exit {i}"]))
        except Exception as e:  # reported below, with the others
            results[i] = (token, e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
    assert len(results) == 20
    for i, (token, res) in results.items():
        assert not isinstance(res, Exception), f"exec {i}: {res!r}"
        out, err, j = res
        assert out == token + "\n" and err == "", (i, out, err)
        assert j["exit_code"] == i, (i, j)


def test_exec_running_state_wait_timeout_and_delete(api, box):
    eid = exec_create(api, box, ["sleep", "1000"])
    assert exec_json(api, eid)["state"] == "created"
    r = api.post(f"/exec/{eid}/start", params={"detach": 1})
    assert r.status == 204, r
    j = exec_json(api, eid)
    assert j["state"] == "running" and j["running"] is True and j["pid"] > 0, j
    assert j["exit_code"] is None

    r = api.post(f"/exec/{eid}/wait", params={"timeout": 0.3})
    assert r.status == 408, r
    assert api.delete(f"/exec/{eid}").status == 409
    assert api.post(f"/exec/{eid}/start", params={"detach": 1}).status == 409

    # the pid is the process's inside the container: kill it from there
    _, _, k = exec_run(api, box, ["kill", "-9", str(j["pid"])])
    assert k["exit_code"] == 0, k
    done = exec_wait(api, eid)
    assert done["state"] == "exited" and done["running"] is False
    assert done["exit_code"] == 137 or done["signal"] == 9, done

    assert api.delete(f"/exec/{eid}").status == 204
    assert api.get(f"/exec/{eid}/json").status == 404


# --------------------------------------------------------------------------
# terminals: plctl in a real pseudo-terminal


class Pty:
    """plctl ARGS with a new pseudo-terminal as its controlling terminal and stdio."""

    def __init__(self, host, args, rows=24, cols=80):
        self.master, self.slave = os.openpty()  # our slave fd keeps its settings readable
        self.resize(rows, cols, signal_it=False, fd=self.slave)
        self.out = b""

        def ctty():
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen([str(PLCTL), "-H", host, *args], stdin=self.slave,
                                     stdout=self.slave, stderr=self.slave,
                                     start_new_session=True, preexec_fn=ctty)

    def cooked(self):
        """True when the terminal is in its usual (line, echo) mode, not raw."""
        lflag = termios.tcgetattr(self.slave)[3]
        return bool(lflag & termios.ICANON and lflag & termios.ECHO and lflag & termios.ISIG)

    def resize(self, rows, cols, signal_it=True, fd=None):
        """Sets the window size; the kernel sends SIGWINCH to the terminal's foreground
        process group (plctl) itself, the explicit signal only makes sure of it."""
        fcntl.ioctl(self.master if fd is None else fd, termios.TIOCSWINSZ,
                    struct.pack("HHHH", rows, cols, 0, 0))
        if signal_it:
            self.proc.send_signal(signal.SIGWINCH)

    def write(self, data):
        os.write(self.master, data)

    def expect(self, pattern, timeout=DEADLINE):
        """Reads until pattern (a regex over the bytes since the last match) matches."""
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        end = time.monotonic() + timeout
        while True:
            m = rx.search(self.out)
            if m:
                self.out = self.out[m.end():]
                return m
            left = end - time.monotonic()
            r, _, _ = select.select([self.master], [], [], max(0, left))
            if not r:
                raise AssertionError(f"no {pattern!r} within {timeout}s; got {self.out!r}")
            self.out += os.read(self.master, 65536)

    def wait(self, timeout=DEADLINE):
        """plctl's exit code; reads the terminal meanwhile so plctl never blocks on it."""
        end = time.monotonic() + timeout
        while self.proc.poll() is None:
            assert time.monotonic() < end, f"plctl still running; output {self.out!r}"
            r, _, _ = select.select([self.master], [], [], 0.05)
            if r:
                self.out += os.read(self.master, 65536)
        assert not SANITIZER_PATTERNS.search(self.out.decode(errors="replace")), self.out
        return self.proc.returncode

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def pty_plctl(daemon):
    opened = []

    def open_(*args, rows=24, cols=80):
        p = Pty(f"unix://{daemon.socket}", list(map(str, args)), rows, cols)
        opened.append(p)
        return p

    yield open_
    for p in opened:
        p.close()


PROMPT = r"[/~] # "


def test_run_it_shell_size_and_ctrl_d(api, rootfs, uniq, pty_plctl):
    t = pty_plctl("run", "-it", "--name", uniq, rootfs, "--", "sh", rows=30, cols=100)
    t.expect(PROMPT)  # held until the attach: the first prompt is not lost
    assert not t.cooked(), "plctl did not put the terminal in raw mode"
    t.write(b"echo $((6*7))\r")
    t.expect(r"\r\n42\r\n")
    t.write(b"stty size\r")
    t.expect(r"\r\n30 100\r\n")

    t.resize(40, 120)

    # the size travels plctl -> daemon -> tether on its own: ask until it shows
    def poll_size():
        t.write(b"stty size\r")
        return t.expect(r"\r\n(\d+ \d+)\r\n").group(1) == b"40 120"

    wait_until(poll_size, timeout=10, interval=0.1, what="stty size 40 120 in the container")

    # the shell's line editor flushes typeahead when it takes the terminal back: ^D must
    # come after its prompt, or it is thrown away
    t.expect(PROMPT)
    t.write(b"\x04")  # ctrl-d: EOF for the shell
    assert t.wait() == 0
    assert t.cooked(), "plctl left the terminal in raw mode"
    assert api.state(uniq)["status"] == "stopped"
    assert api.state(uniq)["exit_code"] == 0


def test_run_it_exit_code(api, rootfs, uniq, pty_plctl):
    t = pty_plctl("run", "-it", "--rm", "--name", uniq, rootfs, "--", "sh")
    t.expect(PROMPT)
    t.write(b"exit 7\r")
    assert t.wait() == 7
    assert api.get(f"/containers/{uniq}").status == 404, "--rm left the container"


def test_detach_keys_and_reattach(api, rootfs, uniq, pty_plctl):
    t = pty_plctl("run", "-it", "--name", uniq, rootfs, "--", "sh")
    t.expect(PROMPT)
    t.write(b"X=remembered\r")
    t.expect(PROMPT)
    t.write(b"\x10\x11")  # ctrl-p ctrl-q
    assert t.wait() == 0
    assert api.state(uniq)["status"] == "running"

    a = pty_plctl("attach", uniq)
    # nothing is printed on attach (a tty is not replayed): type, and see the answer
    a.write(b"echo again-$X\r")
    a.expect(r"again-remembered")
    a.write(b"exit 3\r")
    assert a.wait() == 3
    assert api.state(uniq)["exit_code"] == 3


def test_exec_tty_through_plctl(api, box, daemon, pty_plctl):
    t = pty_plctl("exec", "-it", box, "--", "sh", rows=33, cols=77)
    t.expect(PROMPT)
    t.write(b"tty; stty size\r")
    t.expect(r"/dev/pts/\d+\r\n33 77\r\n")
    t.write(b"exit 4\r")
    assert t.wait() == 4


def test_terminal_restored_when_plctl_is_killed(api, box, pty_plctl):
    t = pty_plctl("exec", "-it", box, "--", "sh")
    t.expect(PROMPT)
    assert not t.cooked()
    t.proc.terminate()
    assert t.wait() == -signal.SIGTERM
    assert t.cooked(), "SIGTERM left the terminal in raw mode"


# --------------------------------------------------------------------------
# attach without a tty: the multiplexed framing


def test_attach_stdin_roundtrip_10mib(api, rootfs, uniq):
    cid = start_container(api, rootfs, ["cat"], uniq, stdin=True)
    payload = os.urandom(10 << 20)
    # random bytes hold ctrl-p ctrl-q pairs: no detach keys for this stream
    with attach(api, cid, stdin=1, detachKeys="") as up:
        assert not up.raw
        chunks = []
        failure = []

        def reader():  # only collects: parsing would slow it down
            try:
                while True:
                    data = up.recv(1 << 20)
                    if not data:
                        return
                    chunks.append(data)
            except Exception as e:
                failure.append(e)

        t = threading.Thread(target=reader)
        t.start()
        up.send(payload)
        up.half_close()  # EOF for cat, which then exits: the daemon ends the stream
        t.join(DEADLINE)
        assert not t.is_alive(), "the stream did not end after cat's EOF"
    assert not failure, failure
    d = Demuxer()
    d.feed(b"".join(chunks))
    assert d.at_boundary()
    same = bytes(d.out) == payload
    assert same, f"{len(d.out)} of {len(payload)} bytes back, the first difference at " \
        f"{next((i for i, (a, b) in enumerate(zip(d.out, payload)) if a != b), None)}"
    assert d.err == b""
    assert api.wait(cid)["exit_code"] == 0


def test_attach_stdout_stderr_demultiplexed(api, rootfs, uniq):
    script = "read go; for i in 1 2 3 4 5 6 7 8; do echo out$i; echo err$i >&2; done"
    cid = start_container(api, rootfs, ["sh", "-c", script], uniq, stdin=True)
    with attach(api, cid, stdin=1) as up:
        up.send(b"go\n")  # the output starts once we listen
        d = Demuxer()
        d.feed(up.read_all())
    assert d.at_boundary()
    assert bytes(d.out) == b"".join(b"out%d\n" % i for i in range(1, 9))
    assert bytes(d.err) == b"".join(b"err%d\n" % i for i in range(1, 9))
    assert d.frames >= 2


def test_several_clients_see_the_output(api, rootfs, uniq):
    cid = start_container(api, rootfs, ["cat"], uniq, stdin=True)
    with attach(api, cid, stdin=1) as writer, attach(api, cid) as watcher1, \
            attach(api, cid) as watcher2:
        token = f"hello-{uniq}\n".encode()
        writer.send(token)
        for up in (writer, watcher1, watcher2):
            d = Demuxer()
            up.sock.settimeout(DEADLINE)
            while bytes(d.out) != token:
                data = up.recv()
                assert data, f"stream ended with {bytes(d.out)!r}"
                d.feed(data)
        writer.half_close()
        for up in (watcher1, watcher2):
            assert up.read_all() == b"", "output after cat's EOF"
    assert api.wait(cid)["exit_code"] == 0


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def test_slow_reader_holds_no_memory(api, daemon, rootfs, uniq):
    # ~6 MB/s: enough that buffering it would show, little enough to spare the disk
    script = "while :; do head -c 65535 /dev/zero | tr '\\0' x; echo; usleep 10000; done"
    cid = start_container(api, rootfs, ["sh", "-c", script], uniq)
    tether = api.state(cid)["pid"]
    log = daemon.root / "containers" / cid / "container.log"
    wait_until(lambda: log.exists() and log.stat().st_size > 0, what="log output")
    base_daemon, base_tether = vm_rss_kib(daemon.pid), vm_rss_kib(tether)

    up = attach(api, cid)
    try:
        # read nothing while the container writes 24 MiB (four times tether's pipe, ring and
        # socket buffers together), watching memory meanwhile. Measured by bytes written,
        # not by time: a busy machine only makes it take longer.
        peak_daemon = peak_tether = 0
        first_size = log.stat().st_size

        def grown():
            nonlocal peak_daemon, peak_tether
            peak_daemon = max(peak_daemon, vm_rss_kib(daemon.pid))
            peak_tether = max(peak_tether, vm_rss_kib(tether))
            return log.stat().st_size - first_size >= 24 << 20

        wait_until(grown, timeout=DEADLINE * 10, interval=0.25,
                   what="24 MiB of log while a client stalled")
        print(f"log +{(log.stat().st_size - first_size) >> 20} MiB; RSS daemon "
              f"{base_daemon}->{peak_daemon} KiB, tether {base_tether}->{peak_tether} KiB")
        assert peak_daemon - base_daemon < 20 << 10, \
            f"daemon RSS grew from {base_daemon} to {peak_daemon} KiB"
        assert peak_tether - base_tether < 20 << 10 and peak_tether < 32 << 10, \
            f"tether RSS grew from {base_tether} to {peak_tether} KiB"
        tail1 = api.logs_raw(cid, tail=1).body
        wait_until(lambda: api.logs_raw(cid, tail=1).body != tail1, what="the log to move on")

        # the stalled stream still works. What fell out of tether's resend ring while it
        # stalled is skipped (it is in the log), so lines may be cut where it resumes.
        d = Demuxer()
        up.sock.settimeout(DEADLINE)
        while len(d.out) < 1 << 20:
            data = up.recv()
            assert data, "stream ended"
            d.feed(data)
        assert set(bytes(d.out)) == set(b"x\n")
    finally:
        up.close()
    assert api.kill(cid, "KILL").status == 204
    api.wait(cid)
    assert daemon.alive()


# --------------------------------------------------------------------------
# a daemon killed during an exec


def test_exec_survives_daemon_kill9(binaries, rootfs, uniq):
    d = start_daemon()
    try:
        api = d.api
        cid = api.create(rootfs, ["sleep", "1000"], name=uniq)
        api.start(cid)
        eid = exec_create(api, cid, ["sh", "-c", "sleep 2; exit 9"])
        assert api.post(f"/exec/{eid}/start", params={"detach": 1}).status == 204
        d.kill()
        d.start()  # the same root and run dir
        j = exec_json(api, eid)
        assert j["container"] == cid
        done = exec_wait(api, eid)
        assert done["exit_code"] == 9 and done["state"] == "exited", done
        assert api.state(cid)["status"] == "running"
    finally:
        problems = finish_daemon(d)
    assert not problems, problems


# --------------------------------------------------------------------------
# stats


def test_stats_one_shot(api, box):
    r = api.get(f"/containers/{box}/stats", params={"stream": 0})
    assert r.status == 200, r
    s = r.json
    assert s["id"] == box
    assert s["memory"]["usage"] > 0
    assert s["pids"]["current"] >= 1
    assert s["cpu"]["usage_ns"] >= 0
    assert "lo" in s["networks"]


def test_stats_stream_until_stopped(api, rootfs, uniq):
    cid = start_container(api, rootfs, ["sleep", "1000"], uniq)
    conn = UnixHTTPConnection(api.socket_path, timeout=DEADLINE)
    try:
        conn.request("GET", f"/containers/{cid}/stats")
        resp = conn.getresponse()
        assert resp.status == 200
        lines = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.5:
            line = resp.readline()
            assert line, "stream ended while the container runs"
            lines.append(json.loads(line))
        assert len(lines) >= 2
        assert all(s["id"] == cid and s["pids"]["current"] >= 1 for s in lines)
        # it ends when the container stops
        assert api.kill(cid, "KILL").status == 204
        rest = resp.read()
        for line in rest.splitlines():
            json.loads(line)
    finally:
        conn.close()


def test_stats_stopped_conflicts(api, rootfs, uniq):
    cid = start_container(api, rootfs, ["true"], uniq)
    api.wait(cid)
    assert api.get(f"/containers/{cid}/stats", params={"stream": 0}).status == 409
