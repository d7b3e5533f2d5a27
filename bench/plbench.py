# SPDX-License-Identifier: Apache-2.0
"""Shared pieces of the benchmarks: a keep-alive API client over the unix socket, a
portlayerd started in its own network namespace, a busybox rootfs, and statistics."""

import http.client
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD = (REPO / os.environ.get("PL_BUILD", "build")).resolve()


def pct(values, p):
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def ms(x):
    return x * 1000.0


def make_rootfs(dest):
    subprocess.run(["bash", str(REPO / "scripts" / "mkrootfs.sh"), str(dest)], check=True)
    return dest


class UnixConn(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=120)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Client:
    """One keep-alive connection; reconnects once when the daemon closed it."""

    def __init__(self, path):
        self.path = str(path)
        self.conn = None

    def call(self, method, url, body=None):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = UnixConn(self.path)
            try:
                data = json.dumps(body).encode() if body is not None else None
                hdrs = {"Content-Type": "application/json"} if data else {}
                self.conn.request(method, url, body=data, headers=hdrs)
                r = self.conn.getresponse()
                payload = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, payload
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def call_raw(self, method, url, data):
        """A request with raw bytes as the body (tar streams)."""
        conn = UnixConn(self.path)
        try:
            conn.request(method, url, body=data,
                         headers={"Content-Type": "application/x-tar"})
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def json(self, method, url, body=None, want=None):
        st, payload = self.call(method, url, body)
        if want is not None and st != want:
            raise RuntimeError(f"{method} {url}: {st} {payload[:300]!r}")
        return json.loads(payload) if payload else None


class Daemon:
    """portlayerd on fresh directories under tmp, inside its own network namespace."""

    def __init__(self, tmp):
        self.tmp = Path(tmp)
        self.root, self.run = self.tmp / "pl-root", self.tmp / "pl-run"
        self.sock = self.run / "portlayer.sock"
        self.proc = None
        self.extra_args = []  # more portlayerd flags (bench/network: --netns-pool, bench/vm: --vm-accel)
        self.build = BUILD  # where portlayerd and pl-tether come from (bench/run-true: a "before")

    def start(self, deadline=60):
        self.root.mkdir(exist_ok=True)
        self.run.mkdir(exist_ok=True)
        log = open(self.tmp / "portlayerd.log", "ab")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            ["unshare", "--net", "--", str(self.build / "portlayerd"), "--root", str(self.root),
             "--run-dir", str(self.run), "--socket", str(self.sock), "--log-level", "warn",
             "--tether", str(self.build / "pl-tether"), *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        log.close()
        cl = Client(self.sock)
        end = time.monotonic() + deadline
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"portlayerd exited with {self.proc.returncode}")
            try:
                if cl.call("GET", "/_ping")[0] == 200:
                    return time.perf_counter() - t0
            except OSError:
                pass
            if time.monotonic() > end:
                raise RuntimeError("portlayerd did not answer /_ping")
            time.sleep(0.001)

    def client(self):
        return Client(self.sock)

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self, remove_all=True):
        if self.proc is None or self.proc.poll() is not None:
            return
        if remove_all:
            cl = self.client()
            try:
                for c in cl.json("GET", "/containers") or []:
                    cl.call("DELETE", f"/containers/{c['id']}?force=1")
            except Exception:  # noqa: BLE001 - best effort cleanup
                pass
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
