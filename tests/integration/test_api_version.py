# SPDX-License-Identifier: Apache-2.0
"""The API is versioned: /v1/... serves the same routes as the unversioned paths (aliases of
the newest version), unknown versions are refused, and /_ping and /info say which versions
the daemon serves."""

import pytest


def test_ping_reports_versions(api):
    r = api.get("/_ping")
    assert r.status == 200
    assert r.headers.get("API-Version") == "1"
    assert r.headers.get("Min-API-Version") == "1"
    info = api.get("/v1/info").json
    assert info["api_version"] == r.headers["API-Version"]
    assert info["min_api_version"] == r.headers["Min-API-Version"]


def test_versioned_and_unversioned_paths_are_the_same_api(api, rootfs, uniq):
    cid = api.create(rootfs, ["/bin/true"], name=f"{uniq}-v")
    a = api.get(f"/v1/containers/{cid}")
    b = api.get(f"/containers/{cid}")
    assert a.status == b.status == 200
    assert a.json["id"] == b.json["id"] == cid
    assert cid in {c["id"] for c in api.get("/v1/containers").json}
    # every verb goes through the prefix, not only GET
    r = api.post(f"/v1/containers/{cid}/start")
    assert r.status in (200, 204), r
    assert api.post(f"/v1/containers/{cid}/wait").json["exit_code"] == 0
    assert api.delete(f"/v1/containers/{cid}").status == 204
    assert api.get(f"/containers/{cid}").status == 404


@pytest.mark.parametrize("path", ["/v2/info", "/v0/info", "/v99/containers", "/v2"])
def test_unsupported_versions_are_refused(api, path):
    r = api.get(path)
    assert r.status == 404
    assert "api version" in r.message.lower() and "not supported" in r.message.lower()


def test_a_version_prefix_needs_a_route_after_it(api):
    r = api.get("/v1/nope")
    assert r.status == 404
    assert r.message.lower().startswith("no such route")
    # a path segment that merely starts with "v" is not a version
    assert api.get("/volumes/v1").status == 404
    assert "no such volume" in api.get("/volumes/v1").message.lower()


def test_plctl_version_shows_both_sides(plctl):
    out = plctl("version").stdout
    client, server = out.split("Server:")
    assert "API version:  1" in client
    assert "API version:  1 (minimum 1)" in server
