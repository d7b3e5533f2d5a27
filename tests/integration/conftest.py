# SPDX-License-Identifier: Apache-2.0
"""Fixtures for the Port Layer integration suite.

The suite drives a real portlayerd over its real unix socket. Nothing is built
here (scripts/test.sh builds); the build directory comes from $PL_BUILD
(default "build", relative to the repository root).

Each test module gets its own daemon with a fresh --root and --run-dir, started
inside its own network namespace (`unshare --net`), so no test can send packets
anywhere but into namespaces it created. Every test gets a unique name prefix.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = (REPO / os.environ.get("PL_BUILD", "build")).resolve()
PORTLAYERD = BUILD / "portlayerd"
TETHER = BUILD / "pl-tether"
PLCTL = BUILD / "plctl"
MKROOTFS = REPO / "scripts" / "mkrootfs.sh"
SPEC = REPO / "api" / "portlayer.yaml"

# Generous bound for anything that should take milliseconds: a deadline, not a pace.
DEADLINE = float(os.environ.get("PL_TEST_DEADLINE", "30"))
# The mechanism the suite runs against: "linux" (default) or "vm" (containers created without
# an explicit isolation ask for a dedicated kernel). With vm only the tests marked
# `mechanisms` run: the conformance subset every mechanism must pass, kept small enough for
# CI (each is a VM boot). docs/architecture.md, "Tests per layer".
MECHANISM = os.environ.get("PL_MECHANISM", "linux")

SANITIZER_PATTERNS = re.compile(
    r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
    r"SUMMARY: UndefinedBehaviorSanitizer|SUMMARY: AddressSanitizer"
)


# --------------------------------------------------------------------------
# polling helpers


def wait_until(predicate, timeout=DEADLINE, interval=0.02, what="condition"):
    """Polls predicate() until it returns a truthy value; fails after timeout."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------
# host inspection helpers (all read the host's /proc and /sys directly)


def host_pids():
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def proc_read(pid, name, binary=False):
    try:
        with open(f"/proc/{pid}/{name}", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data if binary else data.decode(errors="replace")


def proc_state(pid):
    """Returns the one-letter state of pid, or None if it does not exist."""
    stat = proc_read(pid, "stat")
    if stat is None:
        return None
    return stat[stat.rindex(")") + 2]


def pid_alive(pid):
    """True if pid exists and is not a zombie."""
    state = proc_state(pid)
    return state is not None and state not in ("Z", "X")


def pids_with_cmdline(*argv):
    """Host pids whose argv is exactly argv (bytes compared)."""
    want = b"\0".join(a.encode() for a in argv) + b"\0"
    found = []
    for pid in host_pids():
        if proc_read(pid, "cmdline", binary=True) == want:
            found.append(pid)
    return found


def pids_in_cgroups_matching(token):
    """Live host pids with a cgroup path containing token (e.g. a container id).

    Zombies are left out: they are no longer in any cgroup (cgroup.procs), and one
    whose parent is not the daemon (a tether orphaned by a daemon restart is
    reaped by the host's init) is not the daemon's to reap."""
    found = []
    for pid in host_pids():
        cg = proc_read(pid, "cgroup")
        if cg and token in cg and pid_alive(pid):
            found.append(pid)
    return found


def cgroup_paths_of(pid):
    """The cgroup directories of pid on the host, for every mounted hierarchy."""
    cg = proc_read(pid, "cgroup") or ""
    dirs = set()
    for line in cg.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3 or parts[2] in ("", "/"):
            continue
        hid, controllers, path = parts
        if hid == "0":
            roots = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        else:
            names = [c for c in controllers.split(",") if c]
            roots = []
            for c in names:
                roots.append("/sys/fs/cgroup/" + c.replace("name=", ""))
            roots.append("/sys/fs/cgroup/" + ",".join(names))
        for r in roots:
            d = r + path
            if os.path.isdir(d):
                dirs.add(d)
    return sorted(dirs)


def cgroup_dirs_for(cid):
    """Every cgroup directory on the host named after the container id."""
    found = []
    for root, dirs, _ in os.walk("/sys/fs/cgroup"):
        for d in dirs:
            if cid in d or d.startswith(cid[:12]):
                found.append(os.path.join(root, d))
    return found


def mounts_matching(token, pid="self"):
    with open(f"/proc/{pid}/mountinfo") as f:
        return [line for line in f if token in line]


# --------------------------------------------------------------------------
# API client


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=DEADLINE):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self.unix_path)
        except OSError:
            s.close()
            raise
        self.sock = s


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict

    @property
    def json(self):
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def message(self):
        j = self.json
        if isinstance(j, dict):
            return str(j.get("message", ""))
        return self.body.decode(errors="replace")

    def __iter__(self):  # allows `status, data = api.get(...)`
        yield self.status
        yield self.json if self.json is not None else self.body


@dataclass
class RunResult:
    id: str
    exit_code: int
    stdout: str
    stderr: str
    state: dict = field(default_factory=dict)
    wait: dict = field(default_factory=dict)


def demux(data):
    """Splits a Docker multiplexed stream into [(stream, payload bytes)]."""
    frames = []
    i = 0
    while i < len(data):
        assert len(data) - i >= 8, f"truncated frame header at {i}: {data[i:]!r}"
        stream, z1, z2, z3, length = struct.unpack(">BBBBI", data[i : i + 8])
        assert stream in (1, 2), f"bad stream byte {stream} at offset {i}"
        assert (z1, z2, z3) == (0, 0, 0), f"non-zero padding in header at {i}"
        i += 8
        assert len(data) - i >= length, f"truncated frame payload at {i}"
        frames.append((stream, data[i : i + length]))
        i += length
    return frames


RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")


def parse_time(text):
    """Parses an RFC 3339 (nano) timestamp into an aware datetime."""
    from datetime import datetime

    m = RFC3339.match(text)
    assert m, f"not an RFC 3339 timestamp: {text!r}"
    frac = (m.group(2) or "")[:7]
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    return datetime.fromisoformat(m.group(1) + frac + zone)


def split_streams(frames):
    out = b"".join(p for s, p in frames if s == 1).decode(errors="replace")
    err = b"".join(p for s, p in frames if s == 2).decode(errors="replace")
    return out, err


def _qs(params):
    if not params:
        return ""
    clean = {}
    for k, v in params.items():
        if v is None:
            continue
        if v is True:
            v = "1"
        elif v is False:
            v = "0"
        clean[k] = str(v)
    return "?" + urllib.parse.urlencode(clean) if clean else ""


# Every answer Api.request got during the session, for tests/integration/test_schema.py
# (which runs last) to validate against api/portlayer.yaml: (method, path without the
# query, status, Content-Type, the body when it is JSON (None otherwise). Bounded.
RESPONSES = []
RESPONSES_MAX = 50000


class Api:
    def __init__(self, socket_path):
        self.socket_path = str(socket_path)
        self.created = []
        self._lock = threading.Lock()

    # -- raw HTTP ---------------------------------------------------------

    def request(self, method, path, body=None, params=None, timeout=DEADLINE, headers=None,
                stream=False):
        """One request on a fresh connection. With stream=True a response without
        Content-Length (a stream such as /events) is not read: only its status
        and headers are returned."""
        conn = UnixHTTPConnection(self.socket_path, timeout=timeout)
        try:
            hdrs = dict(headers or {})
            data = None
            if body is not None:
                if isinstance(body, (bytes, str)):
                    data = body.encode() if isinstance(body, str) else body
                else:
                    data = json.dumps(body).encode()
                hdrs.setdefault("Content-Type", "application/json")
            conn.request(method, path + _qs(params), body=data, headers=hdrs)
            resp = conn.getresponse()
            unread = stream and resp.getheader("Content-Length") is None
            payload = b"" if unread else resp.read()
            if len(RESPONSES) < RESPONSES_MAX:
                ctype = resp.getheader("Content-Type", "")
                keep = not unread and "json" in ctype and len(payload) <= 4 << 20
                RESPONSES.append((method, path.split("?", 1)[0], resp.status, ctype,
                                  payload if keep else None))
            return Response(resp.status, payload, dict(resp.getheaders()))
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    # -- containers -------------------------------------------------------

    @staticmethod
    def create_body(rootfs, args, name=None, env=None, cwd=None, user=None,
                    hostname=None, isolation=None):
        process = {"args": list(args)}
        if env is not None:
            process["env"] = list(env)
        if cwd is not None:
            process["cwd"] = cwd
        if user is not None:
            process["user"] = user
        body = {"rootfs": str(rootfs), "process": process}
        if name is not None:
            body["name"] = name
        if hostname is not None:
            body["hostname"] = hostname
        if isolation is None and MECHANISM == "vm":
            isolation = {"kernel": "dedicated"}
        if isolation is not None:
            body["isolation"] = isolation
        return body

    def create_raw(self, body):
        r = self.post("/containers", body)
        if r.status == 201 and isinstance(r.json, dict) and "id" in r.json:
            with self._lock:
                self.created.append(r.json["id"])
        return r

    def create(self, rootfs, args, **kw):
        r = self.create_raw(self.create_body(rootfs, args, **kw))
        assert r.status == 201, f"create {args}: {r.status} {r.body!r}"
        cid = r.json["id"]
        assert re.fullmatch(r"[0-9a-f]{64}", cid), f"bad id {cid!r}"
        return cid

    def start(self, cid):
        r = self.post(f"/containers/{cid}/start")
        assert r.status == 204, f"start {cid}: {r.status} {r.body!r}"
        return r

    def inspect(self, cid):
        r = self.get(f"/containers/{cid}")
        assert r.status == 200, f"inspect {cid}: {r.status} {r.body!r}"
        return r.json

    def state(self, cid):
        return self.inspect(cid)["state"]

    def wait(self, cid, timeout=None, condition=None, http_timeout=DEADLINE + 5):
        t = DEADLINE if timeout is None else timeout
        r = self.post(f"/containers/{cid}/wait", params={"timeout": t, "condition": condition},
                      timeout=http_timeout if timeout is None else t + 10)
        assert r.status == 200, f"wait {cid}: {r.status} {r.body!r}"
        return r.json

    def stop(self, cid, timeout=None):
        r = self.post(f"/containers/{cid}/stop", params={"timeout": timeout},
                      timeout=(timeout or 10) + DEADLINE)
        assert r.status == 204, f"stop {cid}: {r.status} {r.body!r}"
        return r

    def kill(self, cid, sig=None):
        return self.post(f"/containers/{cid}/kill", params={"signal": sig})

    def remove(self, cid, force=False):
        return self.delete(f"/containers/{cid}", params={"force": force} if force else None)

    def logs_raw(self, cid, timeout=DEADLINE, **params):
        return self.get(f"/containers/{cid}/logs", params=params, timeout=timeout)

    def logs(self, cid, **params):
        r = self.logs_raw(cid, **params)
        assert r.status == 200, f"logs {cid}: {r.status} {r.body!r}"
        return demux(r.body)

    def output(self, cid, **params):
        return split_streams(self.logs(cid, **params))

    def wait_for_output(self, cid, text, timeout=DEADLINE):
        """Polls the container's stdout until it contains text."""
        def seen():
            out, _ = self.output(cid)
            return text in out
        wait_until(seen, timeout, interval=0.02, what=f"{text!r} in output of {cid[:12]}")

    def wait_status(self, cid, statuses, timeout=DEADLINE):
        if isinstance(statuses, str):
            statuses = (statuses,)
        def ok():
            st = self.state(cid)
            return st if st["status"] in statuses else None
        return wait_until(ok, timeout, what=f"{cid[:12]} status in {statuses}")

    def run(self, rootfs, args, **kw):
        """create + start + wait + logs. Returns a RunResult."""
        cid = self.create(rootfs, args, **kw)
        self.start(cid)
        w = self.wait(cid)
        out, err = self.output(cid)
        st = self.state(cid)
        return RunResult(cid, w.get("exit_code"), out, err, st, w)

    def containers(self, all=True):
        r = self.get("/containers")
        assert r.status == 200, r
        return r.json

    def remove_all(self):
        """Force-removes every container; returns a list of failure strings."""
        failures = []
        try:
            listing = self.containers()
        except Exception as e:  # daemon gone
            return [f"list containers: {e}"]
        for c in listing:
            try:
                r = self.remove(c["id"], force=True)
                if r.status != 204:
                    failures.append(f"remove {c['id'][:12]}: {r.status} {r.message}")
            except Exception as e:
                failures.append(f"remove {c['id'][:12]}: {e}")
        return failures


# --------------------------------------------------------------------------
# the daemon


class Daemon:
    def __init__(self, tmpdir):
        self.tmp = Path(tmpdir)
        self.root = self.tmp / "root"
        self.run_dir = self.tmp / "run"
        self.socket = self.run_dir / "portlayer.sock"
        self.log_path = self.tmp / "portlayerd.log"
        self.proc = None
        self.log_offset = 0
        self.api = Api(self.socket)
        self.extra_args = []  # more portlayerd flags (test_vm: --vm-accel)
        if MECHANISM == "vm":
            self.extra_args = ["--vm-accel", os.environ.get("PL_VM_ACCEL", "tcg")]
        self.launcher = ["unshare", "--net", "--"]  # what runs portlayerd: its own netns

    def start(self):
        self.root.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        logf = open(self.log_path, "ab")
        cmd = [*self.launcher, str(PORTLAYERD),
               "--root", str(self.root), "--run-dir", str(self.run_dir),
               "--socket", str(self.socket), "--log-level", "debug",
               "--tether", str(TETHER), *self.extra_args]
        self.proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        logf.close()
        end = time.monotonic() + 10
        last = None
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"portlayerd exited with {self.proc.returncode} "
                                   f"before answering /_ping:\n{self.log_tail()}")
            try:
                r = self.api.get("/_ping", timeout=2)
                if r.status == 200:
                    return self
                last = f"status {r.status}"
            except OSError as e:
                last = str(e)
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"portlayerd did not answer /_ping within 10s ({last}):\n"
                           f"{self.log_tail()}")

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines=60):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def new_log(self):
        """Log written since the last call."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_offset)
                data = f.read()
        except OSError:
            return ""
        self.log_offset += len(data)
        return data.decode(errors="replace")

    def stop(self, timeout=10):
        """SIGTERM, wait. Returns the exit status (None if it had to be killed)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _cleanup_host(tmp, ids):
    """Last-resort cleanup so a buggy daemon cannot pollute the machine."""
    problems = []
    for cid in ids:
        for pid in pids_in_cgroups_matching(cid):
            problems.append(f"process {pid} still in a cgroup of {cid[:12]}")
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f]
    for m in reversed(mounts):
        if m.startswith(str(tmp) + "/"):
            problems.append(f"mount left behind: {m}")
            subprocess.run(["umount", "-l", m], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for cid in ids:
        for d in cgroup_dirs_for(cid):
            problems.append(f"cgroup left behind: {d}")
            for sub, _, _ in sorted(os.walk(d), key=lambda t: -len(t[0])):
                try:
                    os.rmdir(sub)
                except OSError:
                    pass
    return problems


def start_daemon(tmpdir=None):
    tmp = tmpdir or tempfile.mkdtemp(prefix="pl-it-")
    return Daemon(tmp).start()


def run_body(api, body):
    """Creates a container from a raw create body, starts it and waits for it: (id, exit
    code, (stdout, stderr))."""
    r = api.create_raw(body)
    assert r.status == 201, f"create: {r.status} {r.body!r}"
    cid = r.json["id"]
    api.start(cid)
    w = api.wait(cid)
    return cid, w["exit_code"], api.output(cid)


def start_or_fail(d, tmp=None):
    """d.start() for a fixture: a daemon that does not come up fails the test (removing tmp,
    its directory, when given)."""
    try:
        return d.start()
    except RuntimeError as e:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        pytest.fail(str(e), pytrace=False)


def finish_or_fail(d, restart=False):
    """finish_daemon for a fixture's teardown: any problem fails the test. restart: a daemon
    a test left dead (killed on purpose) is started again first, to clean up after itself."""
    if restart and not d.alive():
        try:
            d.start()
        except RuntimeError:
            pass
    problems = finish_daemon(d)
    if problems:
        pytest.fail("daemon teardown: " + "; ".join(problems), pytrace=False)


def own_daemon(prefix):
    """A module's own daemon, for a module whose tests kill it (-9) or need it alone: a
    generator for a module-scoped fixture (`yield from own_daemon("pl-it-xx-")`); a daemon
    a test left dead is started again at the end to clean up after itself."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    d = start_or_fail(Daemon(tmp), tmp)
    yield d
    finish_or_fail(d, restart=True)


# --------------------------------------------------------------------------
# fixtures


def _require_binaries():
    missing = [str(p) for p in (PORTLAYERD, TETHER, PLCTL) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail("binaries missing (build first: bash scripts/build.sh "
                    f"{BUILD.name}): {', '.join(missing)}", pytrace=False)


@pytest.fixture(scope="session")
def binaries():
    _require_binaries()
    return {"portlayerd": PORTLAYERD, "tether": TETHER, "plctl": PLCTL}


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory):
    """A busybox root filesystem, made once per session. Tests must not modify it."""
    d = tmp_path_factory.mktemp("rootfs") / "busybox"
    subprocess.run(["bash", str(MKROOTFS), str(d)], check=True)
    return str(d)


def finish_daemon(d):
    """Removes every container, SIGTERMs the daemon, cleans the host.

    Returns a list of problems (empty when everything went as it should)."""
    problems = []
    if d.alive():
        problems += d.api.remove_all()
    else:
        problems.append(f"portlayerd died (status {d.proc.returncode})")
    rc = d.stop()
    if rc is None:
        problems.append("portlayerd did not exit within 10s of SIGTERM")
    elif rc != 0 and not any(p.startswith("portlayerd died") for p in problems):
        problems.append(f"portlayerd exited with status {rc} after SIGTERM")
    rest = d.new_log()
    if SANITIZER_PATTERNS.search(rest):
        problems.append("sanitizer report in portlayerd log at shutdown")
    problems += _cleanup_host(d.tmp, d.api.created)
    if problems:
        print(f"--- portlayerd log tail ({d.log_path}) ---\n{d.log_tail(80)}")
    # PL_KEEP_TMP=1 keeps the daemon's root, run dir and full log for debugging.
    if os.environ.get("PL_KEEP_TMP") == "1":
        print(f"kept {d.tmp}")
    else:
        shutil.rmtree(d.tmp, ignore_errors=True)
    return problems


@pytest.fixture(scope="module")
def daemon(binaries):
    tmp = tempfile.mkdtemp(prefix="pl-it-")
    d = start_or_fail(Daemon(tmp), tmp)
    yield d
    finish_or_fail(d)


@pytest.fixture(scope="module")
def api(daemon):
    return daemon.api


_counter = [0]


@pytest.fixture
def uniq(request):
    """A unique, valid container-name prefix for this test."""
    _counter[0] += 1
    base = re.sub(r"[^a-zA-Z0-9_.-]", "-", request.node.name)[:60].strip("-.") or "t"
    return f"{base}-{os.getpid()}-{_counter[0]}"


@pytest.fixture(autouse=True)
def _daemon_health(request):
    """Fails a test during which the daemon crashed or reported a sanitizer error."""
    if "daemon" not in request.fixturenames:
        yield
        return
    d = request.getfixturevalue("daemon")
    # Nothing is skipped: a report that arrived between two tests is blamed on
    # the later one rather than lost.
    yield
    text = d.new_log()
    if not d.alive():
        pytest.fail(f"portlayerd died during the test (status {d.proc.returncode}):\n"
                    f"{d.log_tail(80)}", pytrace=False)
    m = SANITIZER_PATTERNS.search(text)
    if m:
        start = max(0, m.start() - 200)
        pytest.fail("sanitizer report from portlayerd during the test:\n"
                    + text[start:start + 4000], pytrace=False)


def pytest_collection_modifyitems(config, items):
    # test_schema.py validates what every other module recorded, so it runs after them (one
    # hook: a second definition of it in this module would silently replace the first)
    items.sort(key=lambda item: item.fspath.basename == "test_schema.py")
    if MECHANISM == "linux":
        return
    skip = pytest.mark.skip(reason=f"PL_MECHANISM={MECHANISM}: not in the `mechanisms` subset")
    for item in items:
        if "mechanisms" not in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.failed:
        d = item.funcargs.get("daemon")
        if isinstance(d, Daemon):
            rep.sections.append(("portlayerd log tail", d.log_tail(40)))


# --------------------------------------------------------------------------
# plctl


class Plctl:
    def __init__(self, socket_path):
        self.host = f"unix://{socket_path}"

    def __call__(self, *args, timeout=DEADLINE + 20, check=None, input=None):
        cmd = [str(PLCTL), "-H", self.host, *map(str, args)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           input=input, stdin=None if input is not None else subprocess.DEVNULL)
        m = SANITIZER_PATTERNS.search(p.stderr)
        assert not m, f"sanitizer report from plctl {args}:\n{p.stderr}"
        if check is not None:
            assert p.returncode == check, (
                f"plctl {' '.join(map(str, args))}: exit {p.returncode}, want {check}\n"
                f"stdout: {p.stdout}\nstderr: {p.stderr}")
        return p


@pytest.fixture(scope="module")
def plctl(daemon):
    return Plctl(daemon.socket)
