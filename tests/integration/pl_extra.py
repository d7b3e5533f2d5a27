# SPDX-License-Identifier: Apache-2.0
"""Helpers shared by test_handles.py, test_events.py and test_recovery.py.

Kept out of conftest.py (owned elsewhere). Import what you need:

    from pl_extra import binaries, KeepAlive, EventStream, events_between
"""

import json
import os
import threading
import time
import urllib.parse

import pytest

from conftest import DEADLINE, PORTLAYERD, TETHER, UnixHTTPConnection


@pytest.fixture(scope="session")
def binaries():
    """Like conftest's, but without plctl: these modules never run it."""
    missing = [str(p) for p in (PORTLAYERD, TETHER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(f"binaries missing (build first): {', '.join(missing)}", pytrace=False)
    return {"portlayerd": PORTLAYERD, "tether": TETHER}


class KeepAlive:
    """One persistent HTTP/1.1 connection over the daemon's unix socket.

    Reconnects once if the daemon closed the idle connection."""

    def __init__(self, socket_path, timeout=DEADLINE):
        self.socket_path = str(socket_path)
        self.timeout = timeout
        self.conn = None

    def _open(self):
        self.conn = UnixHTTPConnection(self.socket_path, timeout=self.timeout)

    def request(self, method, path, body=None):
        data = None
        headers = {}
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (0, 1):
            if self.conn is None:
                self._open()
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                payload = resp.read()
                if resp.will_close:
                    self.close()
                return resp.status, (json.loads(payload) if payload else None)
            except (ConnectionError, OSError, __import__("http").client.HTTPException):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def qs(params):
    clean = {k: str(v) for k, v in params.items() if v is not None}
    return "?" + urllib.parse.urlencode(clean) if clean else ""


class EventStream:
    """GET /events read line by line in a background thread."""

    def __init__(self, socket_path, timeout=DEADLINE * 4, **params):
        if isinstance(params.get("filters"), (dict, list)):
            params["filters"] = json.dumps(params["filters"])
        self.path = "/events" + qs(params)
        self.conn = UnixHTTPConnection(str(socket_path), timeout=timeout)
        self.conn.request("GET", self.path)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.events = []
        self.bad_lines = []
        self.ended = threading.Event()
        self.error = None
        self.closing = False
        self._cv = threading.Condition()
        if self.status == 200:
            self.thread = threading.Thread(target=self._read, daemon=True)
            self.thread.start()
        else:
            self.body = self.resp.read()
            self.ended.set()

    def _read(self):
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    break
                try:
                    ev = json.loads(line)
                except ValueError:
                    self.bad_lines.append(line)
                    continue
                with self._cv:
                    self.events.append(ev)
                    self._cv.notify_all()
        except Exception as e:  # noqa: BLE001 - reported by the test
            if not self.closing:  # close() pulls the connection from under the reader
                self.error = e
        finally:
            self.ended.set()
            with self._cv:
                self._cv.notify_all()

    def snapshot(self):
        with self._cv:
            return list(self.events)

    def wait_for(self, predicate, timeout=DEADLINE, what="events"):
        """Waits until predicate(list of events) is truthy; returns its value."""
        end = time.monotonic() + timeout
        with self._cv:
            while True:
                v = predicate(self.events)
                if v:
                    return v
                left = end - time.monotonic()
                if left <= 0 or (self.ended.is_set() and not predicate(self.events)):
                    raise AssertionError(
                        f"timed out waiting for {what} on {self.path} "
                        f"(stream ended: {self.ended.is_set()}, error: {self.error!r}, "
                        f"{len(self.events)} events, last: {self.events[-3:]})")
                self._cv.wait(min(left, 0.2))

    def close(self):
        self.closing = True
        try:
            self.conn.sock and self.conn.sock.shutdown(2)
        except OSError:
            pass
        self.conn.close()


def read_events(socket_path, timeout=DEADLINE, **params):
    """A GET /events that must end by itself (until in the past): (status, events)."""
    s = EventStream(socket_path, timeout=timeout, **params)
    if s.status != 200:
        return s.status, s.body
    if not s.ended.wait(timeout):
        s.close()
        raise AssertionError(f"GET {s.path} did not end within {timeout}s")
    s.close()
    assert s.error is None, f"GET {s.path}: {s.error!r}"
    assert not s.bad_lines, f"GET {s.path}: lines that are not JSON: {s.bad_lines[:3]}"
    return s.status, s.events


def for_container(events, cid):
    return [e for e in events if e.get("id") == cid]


def actions(events, cid=None):
    return [e["action"] for e in events if cid is None or e.get("id") == cid]
