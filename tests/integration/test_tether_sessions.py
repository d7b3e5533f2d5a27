# SPDX-License-Identifier: Apache-2.0
"""tether sessions: exec, tty, stdin, credits, attach and the replay ring, reconnect.

These drive the real static build/pl-tether directly, without the daemon: the test is
the port layer. Tether runs as PID 1 of a new pid namespace (`unshare -p -f`) with
a socketpair on fd 3, the log on fd 4, the exit record on fd 5 and a listening unix
socket on fd 6, and the test speaks the frames of docs/tether-protocol.md."""

import fcntl
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import DEADLINE, TETHER, proc_read, wait_until

HDR = struct.Struct(">IHHI")  # len, type, flags, chan
(HELLO, CONFIG, STARTED, EXITED, SIGNAL, ERROR, PING, PONG, GO, EXEC, CLOSE_STDIN, RESIZE,
 ATTACH, DETACH, CREDIT, DATA) = range(1, 17)
SLEEP = ["sleep", "1000"]
WINDOW = 1 << 20  # tether's stdin window


def ns_pid_of(host_pid):
    """The pid of a host process inside its own (innermost) pid namespace."""
    status = proc_read(host_pid, "status") or ""
    m = re.search(r"^NSpid:\s+(.*)$", status, re.M)
    return int(m.group(1).split()[-1]) if m else None


class Conn:
    """One daemon-side connection: frames out, frames in (DATA kept per session). Like the
    port layer it sends stdin only within the window tether granted (CREDIT T -> PL)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.controls = []  # (type, payload dict) not yet consumed
        self.data = {}  # session -> [(seq, stream, bytes)]
        self.send_lock = threading.Lock()  # a frame must not interleave with another
        self.window = threading.Condition()
        self.stdin_credit = {}  # session -> stdin bytes tether still takes
        self.stdin_granted = {}  # session -> [bytes of each grant]
        self.order = []  # (type, session) of every control frame, in order

    def send(self, type_, obj=None, chan=0, flags=0, raw=None):
        payload = raw if raw is not None else (b"" if obj is None else json.dumps(obj).encode())
        with self.send_lock:
            self.sock.sendall(HDR.pack(len(payload), type_, flags, chan) + payload)

    def _read_frame(self, timeout):
        end = time.monotonic() + timeout
        while True:
            if len(self.buf) >= HDR.size:
                n, t, f, c = HDR.unpack_from(self.buf)
                if len(self.buf) >= HDR.size + n:
                    p = self.buf[HDR.size:HDR.size + n]
                    self.buf = self.buf[HDR.size + n:]
                    return t, f, c, p
            left = end - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return None
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError("tether closed the stream")
            self.buf += chunk

    def pump(self, timeout):
        """Reads one frame (or times out); returns False on timeout."""
        fr = self._read_frame(timeout)
        if fr is None:
            return False
        t, f, c, p = fr
        if t == DATA:
            seq = struct.unpack(">Q", p[:8])[0]
            self.data.setdefault(c, []).append((seq, f, p[8:]))
        else:
            assert c == 0 and f == 0, (t, f, c)
            o = json.loads(p) if p and t != PONG else p
            self.order.append((t, o.get("session", 1) if isinstance(o, dict) else None))
            if t == CREDIT:
                with self.window:
                    n = o["session"]
                    self.stdin_credit[n] = self.stdin_credit.get(n, 0) + o["bytes"]
                    self.stdin_granted.setdefault(n, []).append(o["bytes"])
                    self.window.notify_all()
            self.controls.append((t, o))
        return True

    def stdin(self, session, data, pump=True, chunk=65536, timeout=DEADLINE):
        """Sends stdin as the granted window allows, waiting for more grants: reading them
        itself (pump) or, from a second thread, while the main thread pumps."""
        end = time.monotonic() + timeout
        off = 0
        while off < len(data):
            with self.window:
                n = min(self.stdin_credit.get(session, 0), chunk, len(data) - off)
                self.stdin_credit[session] = self.stdin_credit.get(session, 0) - n
                if n == 0 and not pump:
                    left = end - time.monotonic()
                    assert left > 0, f"no stdin grant for session {session}"
                    self.window.wait(left)
                    continue
            if n == 0:
                left = end - time.monotonic()
                assert left > 0, f"no stdin grant for session {session}"
                self.pump(left)
                continue
            self.send(DATA, chan=session, raw=data[off:off + n])
            off += n

    def expect(self, type_, session=None, timeout=DEADLINE):
        """The next control frame of this type (and session: None = any, 1 = 1 or absent)."""
        end = time.monotonic() + timeout
        while True:
            for i, (t, o) in enumerate(self.controls):
                if t != type_:
                    continue
                if session is not None and o.get("session", 1) != session:
                    continue
                del self.controls[i]
                return o
            left = end - time.monotonic()
            assert left > 0, f"no frame of type {type_} (session {session}); got {self.controls}"
            self.pump(left)

    def output(self, session):
        return b"".join(d for _, _, d in self.data.get(session, []))

    def seqs(self, session):
        return [s for s, _, _ in self.data.get(session, [])]

    def wait_output(self, session, pred, timeout=DEADLINE, what="output"):
        end = time.monotonic() + timeout
        while not pred(self.output(session)):
            left = end - time.monotonic()
            assert left > 0, f"timed out waiting for {what}: {self.output(session)!r}"
            self.pump(left)

    def quiet(self, seconds):
        """Reads whatever arrives within `seconds` (checking for absence)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.pump(max(0.0, end - time.monotonic()))

    def errors(self):
        return [o for t, o in self.controls if t == ERROR]


class Tether:
    def __init__(self, tmp):
        self.tmp = tmp
        ours, theirs = socket.socketpair()
        self.log = tmp / "container.log"
        self.exit = tmp / "exit.json"
        self.listen_path = str(tmp / "tether.sock")
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lsock.bind(self.listen_path)
        lsock.listen(4)
        fds = [theirs.fileno(),
               os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600),
               os.open(self.exit, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600),
               lsock.fileno()]
        # Far above 3-6, so putting them in place in the child never overwrites a source.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for fd in fds]

        def place():
            for i, fd in enumerate(high):
                os.dup2(fd, 3 + i)  # inheritable

        self.proc = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", str(TETHER)],
            preexec_fn=place, close_fds=False, stdin=subprocess.DEVNULL)
        for fd in high + fds[1:3]:
            os.close(fd)
        theirs.close()
        lsock.close()
        self.conn = Conn(ours)
        self.pid = wait_until(self._child, what="tether to start")
        self.primary_pid = None

    def _child(self):
        kids = (proc_read(self.proc.pid, f"task/{self.proc.pid}/children") or "").split()
        return int(kids[0]) if kids else None

    def children(self):
        """Host pids of tether's children."""
        return [int(p) for p in
                (proc_read(self.pid, f"task/{self.pid}/children") or "").split()]

    def host_pid(self, ns_pid):
        return next((p for p in self.children() if ns_pid_of(p) == ns_pid), None)

    def start(self, config):
        """HELLO both ways, CONFIG, and (unless it waits for ATTACH) the primary's STARTED."""
        c = self.conn
        t, _, _, p = c._read_frame(DEADLINE)
        assert t == HELLO and json.loads(p)["version"] == 1
        c.send(HELLO, {"version": 1})
        c.send(CONFIG, config)
        if not config.get("wait_attach"):
            self.primary_pid = c.expect(STARTED, 1)["pid"]

    def exec_(self, session, args, attach=True, credit=1 << 20, **kw):
        c = self.conn
        c.send(EXEC, {"session": session, "args": args, **kw})
        if attach:
            c.send(ATTACH, {"session": session})
        if credit:
            c.send(CREDIT, {"session": session, "bytes": credit})

    def vmrss_kib(self):
        m = re.search(r"^VmRSS:\s+(\d+) kB", proc_read(self.pid, "status") or "", re.M)
        return int(m.group(1)) if m else None

    def log_text(self):
        return self.log.read_text(errors="replace")

    def close(self):
        # SIGTERM reaches the primary through tether; SIGKILL of PID 1 ends the namespace.
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, DEADLINE)):
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                pass
        else:
            self.proc.kill()
            self.proc.wait()
        self.conn.sock.close()


@pytest.fixture
def tether(tmp_path):
    t = Tether(tmp_path)
    yield t
    t.close()


def assert_seqs_from_1(conn, session):
    seqs = conn.seqs(session)
    assert seqs == list(range(1, len(seqs) + 1)), seqs


# ------------------------------------------------------------------ exec sessions


def test_exec_output_and_exit_code(tether):
    tether.start({"args": SLEEP})
    c = tether.conn
    tether.exec_(2, ["sh", "-c", "echo out; echo err >&2; exit 3"])
    st = c.expect(STARTED, 2)
    assert st["pid"] > 1
    ex = c.expect(EXITED, 2)
    assert ex["exit_code"] == 3 and ex["signal"] == 0, ex
    streams = {}
    for _, stream, data in c.data[2]:
        streams[stream] = streams.get(stream, b"") + data
    assert streams == {1: b"out\n", 2: b"err\n"}
    assert_seqs_from_1(c, 2)
    assert "out" not in tether.log_text(), "exec output must not be logged"
    # The domain lives on: the primary is still there, and another exec works.
    tether.exec_(3, ["echo", "again"])
    assert c.expect(EXITED, 3)["exit_code"] == 0
    assert c.output(3) == b"again\n"
    assert not c.errors()


def test_exec_of_missing_binary_is_127(tether):
    tether.start({"args": SLEEP})
    c = tether.conn
    tether.exec_(2, ["no-such-binary-here"], attach=False, credit=0)
    ex = c.expect(EXITED, 2)
    assert ex["exit_code"] == 127
    assert "executable file not found" in ex["error"]
    tether.exec_(3, ["/no/such/file"], attach=False, credit=0)
    ex = c.expect(EXITED, 3)
    assert ex["exit_code"] == 127 and "no such file" in ex["error"], ex
    tether.exec_(4, ["true"], attach=False, credit=0, cwd="/no/such/dir")
    assert c.expect(EXITED, 4)["exit_code"] == 128
    # A bad EXEC is refused like a bad CONFIG, without harming the domain.
    c.send(EXEC, {"session": 5, "args": ["true"], "bogus": 1})
    assert "unknown field" in c.expect(EXITED, 5)["error"]
    assert not any(t == STARTED for t, _ in c.controls)
    c.send(PING, raw=b"alive")
    assert c.expect(PONG) == b"alive"


def test_exec_tty_size_and_name(tether):
    tether.start({"args": SLEEP})
    c = tether.conn
    tether.exec_(2, ["sh", "-c", "stty size; tty"], tty=True, rows=30, cols=100)
    assert c.expect(EXITED, 2)["exit_code"] == 0
    assert {stream for _, stream, _ in c.data[2]} == {1}, "a tty is one stream"
    lines = c.output(2).decode().replace("\r", "").splitlines()
    assert lines[0] == "30 100", lines
    assert re.fullmatch(r"/dev/pts/\d+", lines[1]), lines
    tether.exec_(3, ["stty", "size"], tty=True)  # no size given: 24x80, as a terminal
    assert c.expect(EXITED, 3)["exit_code"] == 0
    assert c.output(3).replace(b"\r", b"") == b"24 80\n"


def test_resize_reaches_a_running_tty_shell(tether):
    tether.start({"args": SLEEP})
    c = tether.conn
    tether.exec_(2, ["sh"], tty=True, stdin=True, rows=24, cols=80,
                 env=["PATH=/usr/bin:/bin", "PS1=$ "])
    c.expect(STARTED, 2)
    for rows, cols in ((40, 120), (50, 70)):
        c.send(RESIZE, {"session": 2, "rows": rows, "cols": cols})
        c.stdin(2, b"stty size\n")
        want = re.compile(rf"(?<!\d){rows} {cols}\r?\n")
        c.wait_output(2, lambda out: want.search(out.decode(errors="replace")),
                      what=f"stty size {rows} {cols}")
    c.stdin(2, b"exit 5\n")
    assert c.expect(EXITED, 2)["exit_code"] == 5
    assert_seqs_from_1(c, 2)


def test_stdin_round_trip_through_cat(tether):
    tether.start({"args": SLEEP})
    c = tether.conn
    blob = os.urandom(3 << 20)  # three windows: tether grants back what cat took
    window = 64 * 1024
    tether.exec_(2, ["cat"], stdin=True, credit=window)
    c.expect(STARTED, 2)

    def feed():
        c.stdin(2, blob, pump=False, chunk=60000)
        c.send(CLOSE_STDIN, {"session": 2})

    sender = threading.Thread(target=feed, daemon=True)
    sender.start()
    granted = window
    end = time.monotonic() + DEADLINE
    while len(c.output(2)) < len(blob):
        assert time.monotonic() < end, f"got {len(c.output(2))} of {len(blob)} bytes"
        c.pump(end - time.monotonic())
        got = len(c.output(2))
        if granted - got < window // 2:  # hand credit back as the data is consumed
            c.send(CREDIT, {"session": 2, "bytes": got + window - granted})
            granted = got + window
        assert got <= granted, "tether sent more than the credit"
    sender.join()
    assert c.expect(EXITED, 2)["exit_code"] == 0
    assert c.output(2) == blob
    assert max(len(d) for _, _, d in c.data[2]) <= 32 * 1024
    assert_seqs_from_1(c, 2)
    assert not c.errors(), c.errors()


def test_stdin_grant_follows_started(tether):
    """A session with stdin gets its 1 MiB window right after STARTED; one without, none."""
    tether.start({"args": ["cat"], "stdin": True})
    c = tether.conn
    tether.exec_(2, ["cat"], stdin=True)
    tether.exec_(3, SLEEP)
    c.expect(STARTED, 3)
    c.send(PING, raw=b"sync")
    c.expect(PONG)
    assert [o for o in c.order if o[0] in (STARTED, CREDIT)] == [
        (STARTED, 1), (CREDIT, 1), (STARTED, 2), (CREDIT, 2), (STARTED, 3)], c.order
    assert c.stdin_granted == {1: [WINDOW], 2: [WINDOW]}
    # Bytes the process took come back: a small write as soon as nothing waits.
    c.stdin(2, b"hello\n")
    c.wait_output(2, lambda out: out == b"hello\n")
    wait_until(lambda: (c.pump(0.05), c.stdin_credit[2] == WINDOW)[1], what="the grant back")
    assert c.stdin_granted[2] == [WINDOW, 6]
    assert not c.errors(), c.errors()


def test_wait_attach_primary_gets_its_window_when_it_starts(tether):
    tether.start({"args": ["cat"], "stdin": True, "wait_attach": True})
    c = tether.conn
    c.send(DATA, chan=1, raw=b"too early\n")  # nothing granted yet
    c.send(PING, raw=b"sync")
    c.expect(PONG)
    assert c.errors() == [{"message": "stdin beyond the granted window", "type": DATA,
                           "session": 1}]
    assert 1 not in c.stdin_granted
    c.send(ATTACH, {"session": 1})
    c.send(CREDIT, {"session": 1, "bytes": 4096})
    c.expect(STARTED, 1)
    c.stdin(1, b"on time\n")
    c.wait_output(1, lambda out: out == b"on time\n")
    assert c.stdin_granted[1][0] == WINDOW


def test_stdin_window_holds_the_sender_back(tether):
    """A process that reads nothing: tether takes its window (1 MiB, plus what it granted
    back for the pipe) and no more; the rest waits at the sender, and all of it arrives."""
    tether.start({"args": SLEEP})
    c = tether.conn
    flag = tether.tmp / "go"
    blob = os.urandom(3 << 20)
    window = 64 * 1024
    tether.exec_(2, ["sh", "-c", f"while [ ! -e {flag} ]; do sleep 0.02; done; exec cat"],
                 stdin=True, credit=window)
    c.expect(STARTED, 2)
    sent = [0]

    def feed():
        for off in range(0, len(blob), 32768):
            c.stdin(2, blob[off:off + 32768], pump=False)
            sent[0] = off + 32768
        c.send(CLOSE_STDIN, {"session": 2})

    sender = threading.Thread(target=feed, daemon=True)
    sender.start()

    def stalled():
        before = sent[0]
        c.quiet(0.3)
        return before == sent[0] and before >= WINDOW

    wait_until(stalled, what="the sender to be held back")
    assert sent[0] <= WINDOW + (1 << 18), f"{sent[0]} bytes taken by a process that reads nothing"
    assert tether.vmrss_kib() < 8 * 1024
    flag.touch()
    granted = window
    end = time.monotonic() + DEADLINE
    while len(c.output(2)) < len(blob):
        assert time.monotonic() < end, f"got {len(c.output(2))} of {len(blob)} bytes"
        c.pump(end - time.monotonic())
        got = len(c.output(2))
        if granted - got < window // 2:
            c.send(CREDIT, {"session": 2, "bytes": got + window - granted})
            granted = got + window
    sender.join(DEADLINE)
    assert c.expect(EXITED, 2)["exit_code"] == 0
    assert c.output(2) == blob
    assert not c.errors(), c.errors()


def test_stdin_beyond_the_window_is_refused(tether):
    """More stdin than granted breaks the protocol: that frame gets an ERROR and is dropped,
    the window and the stream stay as they were."""
    tether.start({"args": SLEEP})
    c = tether.conn
    flag = tether.tmp / "go"
    tether.exec_(2, ["sh", "-c", f"while [ ! -e {flag} ]; do sleep 0.02; done; exec cat"],
                 stdin=True, credit=0)
    c.expect(STARTED, 2)
    first = os.urandom(WINDOW)
    c.stdin(2, first, chunk=WINDOW)
    c.quiet(0.3)  # the pipe took its share, granted back: nothing more will come
    left = c.stdin_credit[2]
    assert left < WINDOW // 4, c.stdin_granted
    c.send(DATA, chan=2, raw=b"X" * (left + 1))  # one byte too many: all of it is dropped
    rest = os.urandom(left)
    c.send(DATA, chan=2, raw=rest)  # exactly the window: taken
    c.send(PING, raw=b"sync")
    c.expect(PONG)
    assert c.errors() == [{"message": "stdin beyond the granted window", "type": DATA,
                           "session": 2}]
    assert tether.vmrss_kib() < 8 * 1024
    c.send(ATTACH, {"session": 2})
    c.send(CREDIT, {"session": 2, "bytes": 4 * WINDOW})
    flag.touch()
    c.wait_output(2, lambda out: len(out) >= len(first) + len(rest))
    c.send(CLOSE_STDIN, {"session": 2})
    assert c.expect(EXITED, 2)["exit_code"] == 0
    assert c.output(2) == first + rest
    # stdin for a session without one, or no session: refused, the stream stays usable
    tether.exec_(3, SLEEP)
    c.expect(STARTED, 3)
    c.send(DATA, chan=3, raw=b"nobody reads this")
    c.send(DATA, chan=99, raw=b"no such session")
    c.send(PING, raw=b"still")
    assert c.expect(PONG) == b"still"
    assert any(e.get("session") == 3 for e in c.errors())
    assert any(e.get("session") == 99 for e in c.errors())


def test_primary_round_trip_with_a_slow_reader_loses_nothing(tether):
    """4 MiB through `cat` as session 1 while the attached reader grants output credit
    slowly: tether holds stdin back while output waits, so nothing falls out of the 256 KiB
    ring (logging goes on), every byte arrives once and in order, memory stays small."""
    tether.start({"args": ["cat"], "stdin": True})
    c = tether.conn
    c.send(ATTACH, {"session": 1, "since_seq": 0})
    blob = os.urandom(4 << 20)

    def feed():
        c.stdin(1, blob, pump=False, chunk=100000)
        c.send(CLOSE_STDIN, {"session": 1})

    sender = threading.Thread(target=feed, daemon=True)
    sender.start()
    granted, rss = 0, []
    end = time.monotonic() + DEADLINE
    while len(c.output(1)) < len(blob):
        assert time.monotonic() < end, f"got {len(c.output(1))} of {len(blob)} bytes"
        got = len(c.output(1))
        # a slow reader: every 10 ms it tops the window up to 64 KiB, never leaving less
        # than one 32 KiB frame (a resent frame keeps its size and waits for credit to
        # cover it whole, as the daemon's 256 KiB window always does)
        if granted - got < 32 * 1024:
            time.sleep(0.01)
            try:
                c.send(CREDIT, {"session": 1, "bytes": got + 64 * 1024 - granted})
            except BrokenPipeError:
                pass  # tether sent the last frames and exited: they are still to be read
            granted = got + 64 * 1024
            if len(rss) < got >> 16:
                kib = tether.vmrss_kib()  # None once tether has exited
                if kib is not None:
                    rss.append(kib)
        c.pump(0.05)
        assert len(c.output(1)) <= granted, "tether sent more than the credit"
    sender.join(DEADLINE)
    assert c.expect(EXITED, 1)["exit_code"] == 0
    out = c.output(1)
    assert out == blob, f"the first difference at " \
        f"{next((i for i, (a, b) in enumerate(zip(out, blob)) if a != b), None)}"
    assert_seqs_from_1(c, 1)
    assert rss, "tether's memory was never sampled while it ran"
    assert max(rss) < 8 * 1024, f"VmRSS grew to {max(rss)} KiB"
    assert tether.log.stat().st_size > len(blob), "the log has it all too"
    assert not c.errors(), c.errors()


def test_no_output_without_credit(tether):
    tether.start({"args": SLEEP})
    c = tether.conn
    tether.exec_(2, ["sh", "-c", "echo hi; exec sleep 1000"], credit=0)
    pid = c.expect(STARTED, 2)["pid"]

    def wrote():  # it printed, then became sleep
        hp = tether.host_pid(pid)
        return hp and (proc_read(hp, "comm") or "").strip() == "sleep"

    wait_until(wrote, what="the exec process to write and exec sleep")
    c.quiet(0.3)
    assert 2 not in c.data, "DATA without credit"
    c.send(CREDIT, {"session": 2, "bytes": 2})  # a partial grant: exactly two bytes
    c.wait_output(2, lambda out: out == b"hi")
    c.quiet(0.2)
    assert c.output(2) == b"hi"
    c.send(CREDIT, {"session": 2, "bytes": 100})
    c.wait_output(2, lambda out: out == b"hi\n")
    assert_seqs_from_1(c, 2)
    c.send(SIGNAL, {"session": 2, "signal": 15})
    ex = c.expect(EXITED, 2)
    assert ex["exit_code"] == 143 and ex["signal"] == 15, ex
    # the primary is untouched
    assert tether.host_pid(tether.primary_pid)


def test_exec_session_limit(tether):
    tether.start({"args": SLEEP})
    c = tether.conn
    for n in range(2, 66):
        tether.exec_(n, SLEEP, attach=False, credit=0)
    for n in range(2, 66):
        c.expect(STARTED, n)
    tether.exec_(66, SLEEP, attach=False, credit=0)
    ex = c.expect(EXITED, 66)
    assert ex["exit_code"] == 128 and "too many sessions" in ex["error"], ex
    c.send(SIGNAL, {"session": 2, "signal": 9})
    assert c.expect(EXITED, 2)["exit_code"] == 137
    tether.exec_(67, ["true"], attach=False, credit=0)  # a slot is free again
    assert c.expect(EXITED, 67)["exit_code"] == 0


# ------------------------------------------------------------------ the primary


def test_wait_attach_starts_primary_on_attach(tether):
    tether.start({"args": ["sh", "-c", "echo started"], "wait_attach": True})
    c = tether.conn
    c.quiet(0.3)
    assert not c.controls and not c.data, (c.controls, c.data)
    assert tether.children() == [], "the primary ran before ATTACH"
    assert tether.log_text() == ""
    c.send(CREDIT, {"session": 1, "bytes": 4096})
    c.send(ATTACH, {"session": 1, "since_seq": 0})
    assert c.expect(STARTED, 1)["pid"] > 1
    ex = c.expect(EXITED, 1)
    assert ex["exit_code"] == 0
    assert c.output(1) == b"started\n"
    assert_seqs_from_1(c, 1)
    assert " stdout F started" in tether.log_text()
    assert json.loads(tether.exit.read_text())["exit_code"] == 0


def test_attach_resends_from_the_ring(tether):
    tether.start({"args": ["sh", "-c", 'while read l; do echo "got $l"; done'],
                  "stdin": True})
    c = tether.conn

    def logged(word):
        wait_until(lambda: f"stdout F got {word}" in tether.log_text(), what=f"got {word}")

    c.stdin(1, b"pre\n")
    logged("pre")
    c.send(ATTACH, {"session": 1, "since_seq": 0})  # only new output
    c.send(CREDIT, {"session": 1, "bytes": 1 << 20})
    c.stdin(1, b"a\n")
    c.wait_output(1, lambda out: out == b"got a\n")
    assert c.seqs(1) == [1]
    c.send(DETACH, {"session": 1})
    c.stdin(1, b"b\n")
    c.stdin(1, b"c\n")
    logged("c")
    c.quiet(0.2)
    assert c.output(1) == b"got a\n", "output while detached"
    c.send(ATTACH, {"session": 1, "since_seq": 1})
    c.send(CREDIT, {"session": 1, "bytes": 1 << 20})
    c.wait_output(1, lambda out: out == b"got a\ngot b\ngot c\n", what="the missed output")
    assert_seqs_from_1(c, 1)
    missed = c.data[1][1:]
    # A daemon that lost frames asks again: the same frames, same numbers, nothing else.
    c.send(ATTACH, {"session": 1, "since_seq": 1})
    c.wait_output(1, lambda out: len(out) == len(b"got a\n") + 2 * len(b"got b\ngot c\n"))
    assert c.data[1][1 + len(missed):] == missed
    c.stdin(1, b"d\n")
    c.wait_output(1, lambda out: out.endswith(b"got d\n"))
    assert c.data[1][-1][0] == missed[-1][0] + 1
    c.send(CLOSE_STDIN, {"session": 1})
    assert c.expect(EXITED, 1)["exit_code"] == 0
    log = tether.log_text()
    assert all(f"stdout F got {w}\n" in log for w in ("pre", "a", "b", "c", "d"))


def test_primary_tty_is_logged_as_stdout(tether):
    tether.start({"args": ["sh", "-c", "tty; echo err >&2"], "tty": True})
    c = tether.conn
    assert c.expect(EXITED, 1)["exit_code"] == 0
    log = tether.log_text()
    assert re.search(r" stdout F /dev/pts/\d+\r?\n", log), log
    assert " stdout F err" in log and " stderr " not in log, log


def test_rss_stays_bounded_without_credit(tether):
    blob = tether.tmp / "chunk.txt"
    blob.write_text(("0123456789abcdef" * 4 + "\n") * 256)  # 16.6 KB of lines
    tether.start({"args": ["sh", "-c", f"while :; do cat {blob}; sleep 0.005; done"]})
    c = tether.conn
    c.send(ATTACH, {"session": 1, "since_seq": 0})  # attached, but never any credit
    wait_until(lambda: tether.log.stat().st_size > 1 << 20, what="1 MiB of log")
    size0, rss = tether.log.stat().st_size, []
    end = time.monotonic() + 3
    while time.monotonic() < end:
        rss.append(tether.vmrss_kib())
        c.quiet(0.2)
    assert 1 not in c.data, "DATA without credit"
    assert tether.log.stat().st_size > size0 + (1 << 20), "logging stopped"
    assert max(rss) < 8 * 1024, f"VmRSS grew to {max(rss)} KiB"
    assert max(rss) - rss[0] < 2 * 1024, rss
    # Credit now: what the ring kept (at most 256 KiB, the newest) arrives, in order.
    c.send(CREDIT, {"session": 1, "bytes": 1 << 20})
    c.wait_output(1, lambda out: len(out) >= 200 * 1024, what="the ring's output")
    assert_seqs_from_1(c, 1)


# ------------------------------------------------------------------ reconnect


def test_reconnect_reports_live_and_finished_exec_sessions(tether):
    tether.start({"args": SLEEP})
    c = tether.conn
    flag = tether.tmp / "go"
    tether.exec_(2, SLEEP)
    tether.exec_(3, ["sh", "-c", f"while [ ! -e {flag} ]; do sleep 0.02; done; exit 7"])
    p2 = c.expect(STARTED, 2)["pid"]
    p3 = c.expect(STARTED, 3)["pid"]
    host3 = wait_until(lambda: tether.host_pid(p3), what="exec 3 on the host")
    c.sock.close()  # the daemon goes away
    flag.touch()
    wait_until(lambda: proc_read(host3, "stat") is None, what="exec 3 to end and be reaped")

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(tether.listen_path)
    c = tether.conn = Conn(s)
    t, _, _, p = c._read_frame(DEADLINE)
    assert t == HELLO and json.loads(p)["resumed"] is True
    c.send(HELLO, {"version": 1})
    assert c.expect(STARTED, 1)["pid"] == tether.primary_pid
    assert c.expect(STARTED, 2)["pid"] == p2
    ex = c.expect(EXITED, 3)
    assert ex["exit_code"] == 7, ex
    c.quiet(0.2)
    assert not [o for t, o in c.controls if t in (STARTED, EXITED)], c.controls
    # The new connection drives sessions as the old one did.
    c.send(ATTACH, {"session": 2})  # no credit: nothing to send, the exit still comes
    c.send(SIGNAL, {"session": 2, "signal": 9})
    assert c.expect(EXITED, 2)["exit_code"] == 137
    tether.exec_(4, ["echo", "hello again"])
    assert c.expect(EXITED, 4)["exit_code"] == 0
    assert c.output(4) == b"hello again\n"


def test_reconnect_hello_says_resumed(tether):
    tether.start({"args": SLEEP})
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(tether.listen_path)
    c = Conn(s)
    t, _, _, p = c._read_frame(DEADLINE)
    assert t == HELLO and json.loads(p)["resumed"] is True
    tether.conn.sock.close()
    tether.conn = c
    c.send(HELLO, {"version": 1})
    assert c.expect(STARTED, 1)["pid"] == tether.primary_pid


def test_reconnect_grants_stdin_again(tether):
    """A new daemon starts with no stdin credit: after its HELLO tether grants each open
    stdin the free space of its window. What the old daemon sent and the process did not
    take yet is kept, and is not granted again."""
    flag = tether.tmp / "go"
    tether.start({"args": ["cat"], "stdin": True})
    c = tether.conn
    tether.exec_(2, ["sh", "-c", f"while [ ! -e {flag} ]; do sleep 0.02; done; exec cat"],
                 stdin=True, credit=0)
    tether.exec_(3, SLEEP)
    c.expect(STARTED, 2)
    c.expect(STARTED, 3)
    first = os.urandom(WINDOW)
    c.stdin(2, first, chunk=WINDOW)
    c.quiet(0.3)  # the pipe's share is granted back; the rest waits in tether
    left = c.stdin_credit[2]
    assert 0 < left < WINDOW // 4, c.stdin_granted
    c.sock.close()

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(tether.listen_path)
    c = tether.conn = Conn(s)
    t, _, _, p = c._read_frame(DEADLINE)
    assert t == HELLO and json.loads(p)["resumed"] is True
    c.quiet(0.2)
    assert not c.controls, "a grant before the daemon's HELLO"
    c.send(HELLO, {"version": 1})
    for n in (1, 2, 3):
        c.expect(STARTED, n)
    c.send(PING, raw=b"sync")
    c.expect(PONG)
    assert c.stdin_granted == {1: [WINDOW], 2: [left]}, c.stdin_granted
    assert c.order.index((CREDIT, 2)) > c.order.index((STARTED, 2))
    # The new window works, and nothing the old daemon sent was lost.
    for n in (1, 2):
        c.send(ATTACH, {"session": n})
        c.send(CREDIT, {"session": n, "bytes": 8 * WINDOW})
    c.stdin(1, b"primary\n")
    c.wait_output(1, lambda out: out == b"primary\n")
    flag.touch()
    second = os.urandom(2 * WINDOW)

    def feed():  # from a thread: the echo must be read while stdin is sent
        c.stdin(2, second, pump=False)
        c.send(CLOSE_STDIN, {"session": 2})

    sender = threading.Thread(target=feed, daemon=True)
    sender.start()
    assert c.expect(EXITED, 2)["exit_code"] == 0
    sender.join(DEADLINE)
    assert c.output(2) == first + second
    assert not c.errors(), c.errors()
