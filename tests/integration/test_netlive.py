# SPDX-License-Identifier: Apache-2.0
"""Live network changes: a running linux container connects to a scope (a new interface
with its address, reachable by the scope's other containers) and disconnects again,
through POST /networks/{name}/connect|disconnect and the handle's network change. A
running VM refuses with 409 and the reason (no NIC hot-plug)."""

import os

import pytest

from conftest import DEADLINE, wait_until
from test_interactive import exec_run

_subnets = iter(range(200, 250))


def make_scope(api, name):
    r = api.post("/networks", {"name": name, "subnet": f"10.{next(_subnets)}.7.0/24"})
    assert r.status == 201, r.body
    return r.json


def start(api, rootfs, script, name=None, **kw):
    b = api.create_body(rootfs, ["sh", "-c", script], name=name)
    b.update(kw)
    r = api.create_raw(b)
    assert r.status == 201, r.body
    api.start(r.json["id"])
    api.wait_status(r.json["id"], "running")
    return r.json["id"]


def test_connect_and_disconnect_a_running_container(api, rootfs, uniq):
    scope = f"live-{os.getpid()}"
    make_scope(api, scope)
    srv = start(api, rootfs, "mkdir -p /www && echo hello-live > /www/index.html && "
                             "exec httpd -f -p 80 -h /www",
                name=f"srv-{uniq}", networks=[{"scope": scope}])
    srv_ip = api.inspect(srv)["network"]["endpoints"][0]["ip"]
    # a client with no network: it keeps trying until the network arrives (ping: busybox's
    # static wget needs the /etc files a container without a network has none of)
    cli = start(api, rootfs,
                f"while :; do ping -c 1 -W 1 {srv_ip} >/dev/null 2>&1 && echo REACHED && "
                f"exec sleep 1000; sleep 0.1; done")
    out, _ = api.output(cli)
    assert "REACHED" not in out
    r = api.post(f"/networks/{scope}/connect", {"container": cli, "aliases": ["late"]})
    assert r.status == 204, r.body
    api.wait_for_output(cli, "REACHED")
    ep = api.inspect(cli)["network"]["endpoints"]
    assert [e["scope"] for e in ep] == [scope] and ep[0]["aliases"] == ["late"]
    out, err, j = exec_run(api, cli, ["ip", "-4", "addr", "show", "eth0"])
    assert ep[0]["ip"] in out, out
    # its names files follow: its address and alias in /etc/hosts, the scope's resolver
    out, err, j = exec_run(api, cli, ["cat", "/etc/hosts", "/etc/resolv.conf"])
    line = [l for l in out.splitlines() if l.startswith(ep[0]["ip"])]
    assert line and "late" in line[0].split(), out
    assert "nameserver" in out, out
    # the server reaches the client's new address too
    out, err, j = exec_run(api, srv, ["ping", "-c", "1", "-W", "2", ep[0]["ip"]])
    assert j["exit_code"] == 0, out + err
    # connecting twice is a conflict; an unknown scope is 404
    assert api.post(f"/networks/{scope}/connect", {"container": cli}).status == 409
    assert api.post("/networks/no-such-scope/connect", {"container": cli}).status == 404
    # away again: the interface goes, the scope forgets it
    r = api.post(f"/networks/{scope}/disconnect", {"container": cli})
    assert r.status == 204, r.body
    out, err, j = exec_run(api, cli, ["ip", "-o", "link"])
    assert "eth0" not in out, out
    out, err, j = exec_run(api, cli, ["cat", "/etc/hosts"])
    assert ep[0]["ip"] not in out and "localhost" in out, out
    assert api.inspect(cli)["network"]["endpoints"] == []
    assert api.inspect(cli)["config"]["network_mode"] == "none"
    # force: not being on it is fine
    assert api.post(f"/networks/{scope}/disconnect", {"container": cli}).status == 404
    assert api.post(f"/networks/{scope}/disconnect",
                    {"container": cli, "force": True}).status == 204
    api.remove(cli, force=True)
    api.remove(srv, force=True)
    assert api.delete(f"/networks/{scope}").status == 204


def test_second_network_live_and_only_the_last_leaves(api, rootfs, uniq):
    a, b = f"la-{os.getpid()}", f"lb-{os.getpid()}"
    make_scope(api, a)
    make_scope(api, b)
    c = start(api, rootfs, "exec sleep 1000", networks=[{"scope": a}])
    assert api.post(f"/networks/{b}/connect", {"container": c}).status == 204
    out, err, j = exec_run(api, c, ["ip", "-o", "-4", "addr"])
    eps = api.inspect(c)["network"]["endpoints"]
    assert "eth1" in out and eps[1]["ip"] in out, out
    # the default route stays on the first network
    out, err, j = exec_run(api, c, ["ip", "route"])
    assert out.count("default") == 1 and "eth0" in out.split("default")[1].split("\n")[0]
    r = api.post(f"/networks/{a}/disconnect", {"container": c})
    assert r.status == 409 and b in r.message, r.body
    assert api.post(f"/networks/{b}/disconnect", {"container": c}).status == 204
    assert api.post(f"/networks/{a}/disconnect", {"container": c}).status == 204
    api.remove(c, force=True)
    for s in (a, b):
        assert api.delete(f"/networks/{s}").status == 204


def test_handle_network_change_on_a_running_container(api, rootfs):
    c = start(api, rootfs, "exec sleep 1000")
    h = api.get(f"/containers/{c}/handle").json["handle"]
    r = api.post(f"/handles/{h}/network", {"action": "connect", "scope": "bridge"})
    assert r.status == 200, r.body
    r = api.post(f"/handles/{r.json['handle']}/commit")
    assert r.status in (200, 204), r.body
    out, err, j = exec_run(api, c, ["ip", "-4", "addr", "show", "eth0"])
    assert api.inspect(c)["network"]["endpoints"][0]["ip"] in out
    api.remove(c, force=True)


def test_bad_requests(api, rootfs):
    c = start(api, rootfs, "exec sleep 1000")
    for body in ({}, {"container": c, "extra": 1}, {"container": c, "force": "yes"}):
        assert api.post("/networks/bridge/disconnect", body).status == 400, body
    assert api.post("/networks/bridge/connect", {"container": "no-such"}).status == 404
    api.remove(c, force=True)


def test_vm_refuses_live_changes(api, rootfs):
    vm = [m for m in api.get("/info").json["mechanisms"] if m["name"] == "vm"]
    if not vm or not vm[0]["available"]:
        pytest.skip("vm mechanism unavailable here")
    b = api.create_body(rootfs, ["sleep", "1000"], isolation={"kernel": "dedicated"})
    c = api.create_raw(b).json["id"]
    # a guest boots under emulation on a loaded machine: a generous deadline
    r = api.post(f"/containers/{c}/start", timeout=240)
    assert r.status == 204, r.body
    api.wait_status(c, "running", timeout=240)
    r = api.post("/networks/bridge/connect", {"container": c})
    assert r.status == 409 and "vm" in r.message and "stop it first" in r.message, r.body
    assert api.inspect(c)["network"]["endpoints"] == []
    api.remove(c, force=True)


def test_plctl_network_connect_disconnect(api, plctl, rootfs):
    c = start(api, rootfs, "exec sleep 1000")
    plctl("network", "connect", "--alias", "via-plctl", "bridge", c, check=0)
    ep = api.inspect(c)["network"]["endpoints"]
    assert [e["scope"] for e in ep] == ["bridge"] and ep[0]["aliases"] == ["via-plctl"]
    out, err, j = exec_run(api, c, ["ip", "-4", "addr", "show", "eth0"])
    assert ep[0]["ip"] in out
    plctl("network", "disconnect", "bridge", c, check=0)
    assert api.inspect(c)["network"]["endpoints"] == []
    p = plctl("network", "disconnect", "bridge", c)
    assert p.returncode != 0 and "not on network" in p.stderr, p.stderr
    plctl("network", "disconnect", "-f", "bridge", c, check=0)
    api.remove(c, force=True)
