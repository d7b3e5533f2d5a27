# SPDX-License-Identifier: Apache-2.0
"""The API cannot be wedged by its clients (issue 13, bugs 1-3 and 8): hung-up clients of
long-lived requests are freed, the listening socket comes back after the connection limit
was reached, idle and garbage connections are not held, and %00 never truncates a name.

The module's daemon runs with a low connection limit and idle timeout so the wedge cases
take a bounded number of connections; counts are a few times the limit."""

import json
import os
import signal
import socket
import tempfile

import pytest

from conftest import DEADLINE, Daemon, finish_or_fail, start_or_fail, wait_until

LIMIT = 16
IDLE = 2


@pytest.fixture(scope="module")
def wd(binaries):
    tmp = tempfile.mkdtemp(prefix="pl-it-")
    d = Daemon(tmp)
    # no prepared domains: their refills open control sockets in the daemon at any moment,
    # which the tests below would take for the sockets of the requests they hold
    d.extra_args = ["--max-connections", str(LIMIT), "--idle-timeout", str(IDLE),
                    "--prepared-domains", "0"]
    start_or_fail(d, tmp)
    yield d
    finish_or_fail(d)


def connect(d, timeout=DEADLINE):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(d.socket))
    return s


def send_request(d, line, extra=b""):
    s = connect(d)
    s.sendall(line.encode() + b"\r\nHost: x\r\n" + extra + b"\r\n")
    return s


def read_head(s):
    """Reads until the end of the response head; returns it (b"" on EOF first)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def ping(d, timeout=5):
    try:
        s = send_request(d, "GET /_ping HTTP/1.1", b"Connection: close\r\n")
        s.settimeout(timeout)
        head = read_head(s)
        s.close()
        return head.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def daemon_fds(d):
    return len(os.listdir(f"/proc/{d.pid}/fd"))


def daemon_sockets(d):
    """The inodes of the sockets the daemon holds."""
    found = set()
    for fd in os.listdir(f"/proc/{d.pid}/fd"):
        try:
            t = os.readlink(f"/proc/{d.pid}/fd/{fd}")
        except OSError:
            continue
        if t.startswith("socket:["):
            found.add(t)
    return found


@pytest.fixture
def quiet(wd, rootfs):
    api = wd.api
    cid = api.create(rootfs, ["/bin/sleep", "1000"])
    api.start(cid)
    yield cid
    api.remove(cid, force=True)


def hang_up_many(d, line, extra=b"", count=3 * LIMIT, read_first=True):
    """Opens count requests one after the other, each hung up once the daemon holds it;
    returns the daemon-side sockets they had."""
    held = set()
    for _ in range(count):
        before = daemon_sockets(d)
        s = send_request(d, line, extra)
        if read_first:
            head = read_head(s)
            assert head.startswith(b"HTTP/1.1 "), head
        held |= wait_until(lambda: daemon_sockets(d) - before, what="the request to be held")
        s.close()
    return held


def wait_freed(d, held, what):
    wait_until(lambda: not (daemon_sockets(d) & held), what=what)


@pytest.mark.parametrize("what", ["logs", "events", "wait"])
def test_hung_up_long_requests_are_freed(wd, quiet, what):
    # a client that hangs up on a quiet stream or a wait must not hold its connection:
    # three times the limit of them in a row, then the API still answers
    line = {"logs": f"GET /containers/{quiet}/logs?follow=1&stdout=1 HTTP/1.1",
            "events": "GET /events HTTP/1.1",
            "wait": f"POST /containers/{quiet}/wait HTTP/1.1"}[what]
    held = hang_up_many(wd, line, read_first=what != "wait")
    assert wait_until(lambda: ping(wd), what="/_ping after hung-up clients")
    wait_freed(wd, held, "the hung-up connections to be freed")
    assert wd.api.state(quiet)["status"] == "running"


def test_hung_up_attach_of_quiet_container_is_freed(wd, quiet):
    held = hang_up_many(
        wd, f"POST /containers/{quiet}/attach?stream=1&stdout=1&stdin=1 HTTP/1.1",
        b"Connection: Upgrade\r\nUpgrade: tcp\r\n")
    assert wait_until(lambda: ping(wd), what="/_ping after hung-up attach clients")
    wait_freed(wd, held, "the attach connections to be freed")


def test_listening_socket_comes_back_after_the_limit(wd, quiet):
    # fill the limit (and the backlog beyond it) with parked follow requests, close them all
    # while the daemon cannot run, then let it run: it must accept again
    socks = []
    for _ in range(LIMIT):
        socks.append(send_request(
            wd, f"GET /containers/{quiet}/logs?follow=1&stdout=1 HTTP/1.1"))
    for s in socks:
        assert read_head(s).startswith(b"HTTP/1.1 200")
    for _ in range(LIMIT):  # these wait in the backlog: the limit is reached
        socks.append(send_request(wd, "GET /_ping HTTP/1.1"))
    os.kill(wd.pid, signal.SIGSTOP)
    try:
        for s in socks:
            s.close()
    finally:
        os.kill(wd.pid, signal.SIGCONT)
    assert wait_until(lambda: ping(wd), what="/_ping after the limit was reached")


def test_idle_connections_do_not_deny_service(wd):
    # one client holding every connection slot idle: they are closed after the idle timeout
    socks = [connect(wd) for _ in range(LIMIT + 4)]
    assert wait_until(lambda: ping(wd), what="/_ping while idle connections are held")
    first = socks[0]
    first.settimeout(DEADLINE)
    assert first.recv(100) == b"", "an idle connection was not closed"
    for s in socks:
        s.close()


@pytest.mark.parametrize("garbage", [b"\x00\x01\x02garbage\r\n\r\n", b"garbage\r\n\r\n",
                                     b"GET\x01/ HTTP/1.1\r\n\r\n"])
def test_garbage_request_is_answered_and_closed(wd, garbage):
    s = connect(wd)
    s.sendall(garbage)
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data == b"" or data.startswith(b"HTTP/1.1 400"), data


def test_nul_in_path_is_refused(wd, rootfs):
    api = wd.api
    victim = api.create(rootfs, ["/bin/true"], name="nultest")
    other = api.create(rootfs, ["/bin/true"], name="other")
    try:
        for method, path in [("DELETE", "/containers/nultest%00%2f..%2fother?force=1"),
                             ("GET", "/containers/nultest%00tim"),
                             ("GET", "/containers/nultest?x=a%00b"),
                             ("POST", "/containers/nultest%00/start")]:
            r = api.request(method, path)
            assert r.status == 400, (method, path, r.status, r.body)
            assert "%00" in r.message
        assert api.inspect(victim)["id"] == victim
        assert api.inspect(other)["id"] == other
    finally:
        api.remove(victim, force=True)
        api.remove(other, force=True)


@pytest.mark.parametrize("path", ["/contain%F3", "/containers/%F3abc", "/containers/x%FF/start",
                                  "/images/%C3%28/push"])
def test_path_that_is_not_utf8_is_answered(wd, path):
    # found by fuzz_http: the 404/405 message quoted the path, JSON refused the bytes
    # and the daemon aborted
    s = send_request(wd, f"GET {path} HTTP/1.1", b"Connection: close\r\n")
    head = read_head(s)
    s.close()
    assert head.startswith(b"HTTP/1.1 4"), head
    assert wd.alive() and ping(wd)


def exec_create(api, cid, args):
    r = api.post(f"/containers/{cid}/exec", {"args": args})
    assert r.status == 201, r
    return r.json["id"]


def test_exec_whose_client_went_away_does_not_block(wd, quiet):
    # issue 13: the output of an exec nobody reads any more is dropped (as Docker does),
    # so the process runs to its end instead of blocking on a full pipe
    api = wd.api
    script = ("i=0; while [ $i -lt 30000 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxx; "
              "i=$((i+1)); done")
    ex = exec_create(api, quiet, ["/bin/sh", "-c", script])
    s = send_request(wd, f"POST /exec/{ex}/start?stdout=1&stderr=1 HTTP/1.1",
                     b"Connection: Upgrade\r\nUpgrade: tcp\r\n")
    head = read_head(s)
    assert head.startswith(b"HTTP/1.1 101"), head
    s.recv(1000)  # the first output arrived: the process runs
    s.close()
    info = wait_until(lambda: (lambda j: j if not j["running"] else None)(
        api.get(f"/exec/{ex}/json").json), what="the orphaned exec to finish")
    assert info["exit_code"] == 0, info


def test_finished_exec_records_are_pruned(wd, quiet):
    api = wd.api
    first = None
    for i in range(70):
        ex = exec_create(api, quiet, ["true"])
        first = first or ex
        r = api.post(f"/exec/{ex}/start", {"detach": True}, params={"detach": 1})
        assert r.status in (200, 204), r
        wait_until(lambda: not api.get(f"/exec/{ex}/json").json["running"],
                   what="the exec to finish")
    assert api.get(f"/exec/{first}/json").status == 404  # beyond the 64 kept
    assert api.get(f"/exec/{ex}/json").status == 200


def test_raw_nul_in_request_line_is_refused(wd, rootfs):
    api = wd.api
    victim = api.create(rootfs, ["/bin/true"], name="rawnul")
    try:
        for line in [b"DELETE /containers/rawnul\x00/../x?force=1 HTTP/1.1",
                     b"GET /_ping\x00tim HTTP/1.1", b"GET /containers/raw\x00nul HTTP/1.1"]:
            s = connect(wd)
            s.sendall(line + b"\r\nHost: x\r\nConnection: close\r\n\r\n")
            head = read_head(s)
            s.close()
            assert head.startswith(b"HTTP/1.1 400"), (line, head)
        assert api.inspect(victim)["id"] == victim
    finally:
        api.remove(victim, force=True)


def test_header_sizes(wd, rootfs):
    """A connection's memory is 32 KiB (http.c): docker's biggest headers (X-Registry-Auth,
    X-Registry-Config, a few KB each) fit with room to spare; past the budget the answer is
    431 and nothing is made. A body is streamed through, never held in that memory."""
    def post(headers, body):
        """The answer's bytes; a refused request may be cut off (reset) once answered."""
        s = connect(wd)
        data = b""
        try:
            s.sendall(b"POST /v1/containers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
                      headers + b"Content-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body) + body)
        except (ConnectionResetError, BrokenPipeError):
            pass  # answered and closed before all was sent: the answer is still there
        try:
            while chunk := s.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
        s.close()
        return data

    before = {c["id"] for c in wd.api.containers()}
    spec = {"rootfs": str(rootfs), "process": {"args": ["/bin/true"]}}
    body = json.dumps(spec).encode()
    ok = post(b"X-Registry-Auth: " + b"a" * 24000 + b"\r\n", body)
    assert ok.startswith(b"HTTP/1.1 201"), ok[:300]
    made = json.loads(ok.split(b"\r\n\r\n", 1)[1])["id"]
    try:
        big = post(b"X-Registry-Auth: " + b"a" * 40000 + b"\r\n", body)
        assert big.startswith(b"HTTP/1.1 431"), big[:300]
        many = post(b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 1000) for i in range(40)), body)
        assert many.startswith(b"HTTP/1.1 431"), many[:300]
        # a body ten times the connection's memory (a 320 KB label) is taken whole
        large = json.dumps(dict(spec, labels={"big": "x" * 320000})).encode()
        got = post(b"", large)
        assert got.startswith(b"HTTP/1.1 201"), got[:300]
        cid = json.loads(got.split(b"\r\n\r\n", 1)[1])["id"]
        assert "x" * 320000 in json.dumps(wd.api.inspect(cid))
        wd.api.remove(cid, force=True)
        assert {c["id"] for c in wd.api.containers()} == before | {made}
    finally:
        wd.api.remove(made, force=True)
