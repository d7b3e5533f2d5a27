# SPDX-License-Identifier: Apache-2.0
"""The address allocators are kept between creates (not derived from every container's
config each time): an address comes back when its container is removed, when a create fails
after its addresses were assigned, and when a network change does not commit; an address
held stays held."""

import os

import pytest

from test_listing import commit_change


@pytest.fixture
def scope(api):
    name = f"kept-{os.getpid()}"
    r = api.post("/networks", {"name": name, "subnet": "10.252.7.0/24"})
    assert r.status == 201, r.body
    yield name
    api.delete(f"/networks/{name}")


def make(api, rootfs, scope, ip, name=None, **kw):
    b = api.create_body(rootfs, ["sleep", "1000"], name=name)
    b["networks"] = [{"scope": scope, "ip": ip}]
    b.update(kw)
    return api.create_raw(b)


def test_addresses_come_back(api, rootfs, uniq, scope):
    a = make(api, rootfs, scope, "10.252.7.10", name=f"{uniq}-a")
    assert a.status == 201, a.body
    # held: a second claim is a conflict, and stays one
    for _ in range(2):
        r = make(api, rootfs, scope, "10.252.7.10")
        assert r.status == 409, r.body
    # a create refused after its address was assigned (its name is taken) gives it back
    r = make(api, rootfs, scope, "10.252.7.11", name=f"{uniq}-a")
    assert r.status == 409 and b"in use" in r.body, r.body
    b = make(api, rootfs, scope, "10.252.7.11", name=f"{uniq}-b")
    assert b.status == 201, b.body
    # removal gives an address back, and only that one
    assert api.remove(a.json["id"], force=True).status == 204
    r = make(api, rootfs, scope, "10.252.7.10", name=f"{uniq}-a2")
    assert r.status == 201, r.body
    assert make(api, rootfs, scope, "10.252.7.11").status == 409
    # automatic addresses never hand out a held one
    ips = set()
    for i in range(3):
        c = api.create_raw({**api.create_body(rootfs, ["true"]),
                            "networks": [{"scope": scope}]})
        assert c.status == 201, c.body
        ips.add(api.inspect(c.json["id"])["network"]["endpoints"][0]["ip"])
    assert len(ips) == 3 and not ips & {"10.252.7.10", "10.252.7.11"}, ips
    # a network change that commits: the old address is free, the new one held
    commit_change(api, b.json["id"], "network", {"action": "disconnect", "scope": scope})
    r = make(api, rootfs, scope, "10.252.7.11")
    assert r.status == 201, r.body
    assert api.remove(r.json["id"], force=True).status == 204
    commit_change(api, b.json["id"], "network",
                  {"action": "connect", "scope": scope, "ip": "10.252.7.13"})
    assert make(api, rootfs, scope, "10.252.7.13").status == 409
    assert make(api, rootfs, scope, "10.252.7.11").status == 201
    for c in api.get("/containers").json:
        if c["networks"].get(scope) or c["id"] == b.json["id"]:
            assert api.remove(c["id"], force=True).status == 204
