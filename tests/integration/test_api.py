# SPDX-License-Identifier: Apache-2.0
"""The daemon serves exactly the routes api/portlayer.yaml specifies."""

import os
import re

import pytest

from conftest import SPEC

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
UNKNOWN = "no-such-container-xyz"


def _spec_paths_fallback(text):
    """Indentation-aware reader of the `paths:` section (no PyYAML needed).

    Returns {path: {METHOD, ...}}: path keys are the first level under `paths:`,
    methods the first level under each path.
    """
    paths = {}
    in_paths = False
    path_indent = child_indent = None
    current = None
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip())
        key = raw.strip().split(":", 1)[0].strip("'\"")
        if indent == 0:
            in_paths = raw.rstrip() == "paths:"
            continue
        if not in_paths:
            continue
        if path_indent is None:
            path_indent = indent
        if indent == path_indent:
            current = key
            paths[current] = set()
            child_indent = None
        elif current is not None and indent > path_indent:
            if child_indent is None:
                child_indent = indent
            if indent == child_indent and key in METHODS:
                paths[current].add(key.upper())
    return paths


def spec_routes():
    text = SPEC.read_text()
    try:
        import yaml
    except ImportError:
        return _spec_paths_fallback(text)
    doc = yaml.safe_load(text)
    return {p: {m.upper() for m in ops if m in METHODS} for p, ops in doc["paths"].items()}


def concrete(path):
    return re.sub(r"\{[^}]+\}", UNKNOWN, path)


def is_no_such_route(r):
    return r.status == 404 and r.message.lower().startswith("no such route")


def test_spec_parses_and_fallback_agrees():
    routes = spec_routes()
    assert "/containers/{id}" in routes and "GET" in routes["/containers/{id}"]
    assert _spec_paths_fallback(SPEC.read_text()) == routes


def test_every_specified_route_is_served(api):
    missing = []
    for path, methods in sorted(spec_routes().items()):
        for m in sorted(methods):
            r = api.request(m, concrete(path), stream=True)
            if r.status == 405 or is_no_such_route(r) or r.status >= 500:
                missing.append(f"{m} {path}: {r.status} {r.message!r}")
    assert not missing, "routes in the spec the daemon does not serve:\n" + "\n".join(missing)


def test_unknown_container_is_not_unknown_route(api):
    for path, methods in spec_routes().items():
        if "{id}" not in path:
            continue
        for m in methods:
            r = api.request(m, concrete(path), stream=True)
            assert r.status == 404, f"{m} {path}: {r.status}"
            # /exec/{id} names an exec session, /containers/{id} a container
            what = "exec session" if path.startswith("/exec/") else "container"
            if m == "HEAD":  # no body to carry a message
                continue
            assert f"no such {what}" in r.message.lower(), f"{m} {path}: {r.message!r}"


@pytest.mark.parametrize("method,path", [
    ("GET", "/nope"), ("GET", "/"), ("POST", "/containers/x/bogus"),
    ("GET", "/containers/x/bogus"), ("GET", "/containers/x/start/more"),
    ("GET", "/_pingx"), ("GET", "/Containers"), ("POST", "/v1x/containers"),
])
def test_unspecified_paths_are_no_such_route(api, method, path):
    r = api.request(method, path)
    assert r.status == 404, r
    assert is_no_such_route(r), r.message


def test_unspecified_methods_rejected(api):
    spec = spec_routes()
    bad = []
    for path, methods in spec.items():
        for m in ("GET", "POST", "PUT", "DELETE", "PATCH"):
            if m in methods:
                continue
            r = api.request(m, concrete(path), stream=True)
            if not (r.status == 405 or is_no_such_route(r)):
                bad.append(f"{m} {path}: {r.status} {r.message!r}")
    assert not bad, "methods outside the spec were served:\n" + "\n".join(bad)


def test_ping(api):
    r = api.get("/_ping")
    assert r.status == 200
    assert r.body.strip() == b"OK"


def _host_cgroup_layout():
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return "v2"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            if fields[sep + 1] == "cgroup2":
                return "hybrid"
    return "v1"


def test_info(api, rootfs):
    r = api.get("/info")
    assert r.status == 200
    info = r.json
    assert info["version"]
    assert info["api_version"] == "1"
    assert info["min_api_version"] == "1"
    assert info["cgroup_layout"] == _host_cgroup_layout()
    mechs = {m["name"]: m for m in info["mechanisms"]}
    assert mechs["linux"]["kernel"] == "shared"
    assert mechs["linux"]["available"] is True
    assert mechs["linux"]["files_on_host"] is True  # commit and archives work on it
    if "vm" in mechs:
        assert mechs["vm"]["files_on_host"] is False
    for m in info["mechanisms"]:
        if not m["available"]:
            assert m.get("reason"), f"unavailable mechanism {m['name']} gives no reason"
    before = info["containers"]
    cid = api.create(rootfs, ["/bin/true"])
    after = api.get("/info").json["containers"]
    assert after["total"] == before["total"] + 1
    assert after["created"] == before["created"] + 1
    assert after["total"] == after["created"] + after["running"] + after["stopped"]
    api.remove(cid)


def test_error_bodies_are_json(api):
    r = api.get("/nope")
    assert r.headers.get("Content-Type", "").startswith("application/json")
    assert set(r.json) >= {"message"}
