# SPDX-License-Identifier: Apache-2.0
"""Networking: scopes, endpoints, IPAM, name resolution, published ports.

The daemon runs in a network namespace this module creates (`ip netns add`), so that a
daemon killed with SIGKILL can be restarted into the same namespace: its bridges, veths and
nftables table live there. Clients on the host side run in that namespace too (nsenter);
no packet leaves it.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile

import pytest

from conftest import (DEADLINE, PORTLAYERD, Daemon, finish_daemon, proc_state, wait_until)


class NetnsDaemon(Daemon):
    """A daemon inside a named network namespace that outlives it. Its domains take their
    network namespaces from a pool of 4 (other modules' daemons run without one)."""

    def __init__(self, tmpdir, netns, extra=("--netns-pool", "4")):
        super().__init__(tmpdir)
        self.netns = netns
        self.launcher = ["nsenter", f"--net=/run/netns/{netns}", "--"]
        self.extra_args = list(extra)


@pytest.fixture(scope="module")
def daemon(binaries):
    netns = f"pltest-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
    tmp = tempfile.mkdtemp(prefix="pl-it-net-")
    d = NetnsDaemon(tmp, netns)
    try:
        d.start()
    except RuntimeError as e:
        subprocess.run(["ip", "netns", "del", netns])
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.fail(str(e), pytrace=False)
    yield d
    problems = finish_daemon(d)
    subprocess.run(["ip", "netns", "del", netns])
    if problems:
        pytest.fail("daemon teardown: " + "; ".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def api(daemon):
    return daemon.api


def host(daemon, *cmd, timeout=DEADLINE, check=False):
    """Runs cmd on the daemon's side: in its network namespace (the named one: the daemon's
    thread steps into fresh namespaces for a moment when it fills its netns pool)."""
    ns = getattr(daemon, "netns", None)
    where = f"/run/netns/{ns}" if ns else f"/proc/{daemon.pid}/ns/net"
    return subprocess.run(["nsenter", f"--net={where}", "--", *cmd],
                          capture_output=True, text=True, timeout=timeout, check=check)


def links(daemon):
    return host(daemon, "ip", "-o", "link", "show", check=True).stdout


def table(daemon):
    return host(daemon, "nft", "list", "table", "ip", "portlayer", check=True).stdout


_subnets = iter(range(60, 250))


def make_scope(api, name, **kw):
    body = {"name": name, **kw}
    if "subnet" not in kw:
        body["subnet"] = f"10.{next(_subnets)}.0.0/24"
    r = api.post("/networks", body)
    assert r.status == 201, f"create network {name}: {r.status} {r.body!r}"
    return r.json


def create(api, rootfs, args, name=None, **net):
    body = api.create_body(rootfs, args, name=name)
    body.update(net)
    r = api.create_raw(body)
    assert r.status == 201, f"create: {r.status} {r.body!r}"
    return r.json["id"]


def create_once_free(api, rootfs, **net):
    """create(), retried while its address is refused (409): an address comes back only once
    the host veth that had it is gone, which the daemon deletes off its loop."""
    got = []

    def created():
        r = api.create_raw({**api.create_body(rootfs, ["true"]), **net})
        assert r.status in (201, 409), (r.status, r.body)
        if r.status == 201:
            got.append(r.json["id"])
        return bool(got)
    wait_until(created, what=f"create on {net} once its address is free")
    return got[0]


HTTPD = "mkdir -p /www && echo content-of-{n} > /www/index.html && exec httpd -f -p 80 -h /www"


def web(api, rootfs, name, scope, **kw):
    cid = create(api, rootfs, ["sh", "-c", HTTPD.format(n=name)], name=name,
                 networks=[{"scope": scope, **kw.pop("ep", {})}], **kw)
    api.start(cid)
    return cid


def ip_of(api, cid, i=0):
    return api.inspect(cid)["network"]["endpoints"][i]["ip"]


def run_in(api, rootfs, script, scope=None, name=None, **kw):
    net = {"networks": [{"scope": scope}]} if scope else {}
    net.update(kw)
    cid = create(api, rootfs, ["sh", "-c", script], name=name, **net)
    api.start(cid)
    w = api.wait(cid)
    out, err = api.output(cid)
    return w.get("exit_code"), out, err


def http_ok(api, rootfs, scope, url, text):
    """A client container fetches url (retrying until the server listens)."""
    code, out, err = run_in(api, rootfs,
                            f"for i in $(seq 100); do timeout 3 wget -q -O- {url} && exit 0; "
                            f"sleep 0.1; done; exit 1", scope=scope)
    return code == 0 and text in out


def test_default_bridge_scope(api, daemon):
    nets = {n["name"]: n for n in api.get("/networks").json}
    b = nets["bridge"]
    assert b["driver"] == "bridge" and b["device"] == "pl0"
    assert b["subnet"] == "172.17.0.0/16" and b["gateway"] == "172.17.0.1"
    assert "pl0" in links(daemon)
    assert "inet 172.17.0.1/16" in host(daemon, "ip", "-4", "addr", "show", "pl0").stdout


def test_none_is_loopback_only(api, rootfs):
    code, out, _ = run_in(api, rootfs, "ip -o link")
    assert code == 0
    assert re.findall(r"^\d+: (\w+)", out, re.M) == ["lo"]


@pytest.mark.mechanisms
def test_inside_configuration(api, rootfs, uniq):
    s = make_scope(api, f"in-{uniq}")
    code, out, _ = run_in(api, rootfs,
                          "ip -o -4 addr show eth0; ip route; cat /etc/hosts /etc/resolv.conf; "
                          "cat /sys/class/net/eth0/mtu /sys/class/net/eth0/address",
                          scope=s["name"], name=f"c-{uniq}")
    assert code == 0, out
    net = s["subnet"].rsplit(".", 1)[0]
    assert f"inet {net}.2/24" in out
    assert f"default via {net}.1 dev eth0" in out
    assert re.search(rf"^{re.escape(net)}\.2\s.*\bc-{re.escape(uniq)}\b", out, re.M)
    assert "127.0.0.1\tlocalhost" in out
    assert "nameserver" in out
    assert "1500" in out and "02:42:0a:" in out


def test_pooled_namespace_endpoint_without_ipv6(api, rootfs, uniq):
    """A prepared domain that enters a pooled network namespace (this daemon has
    --netns-pool) drops the /proc/sys/net/ipv6/conf it opened ahead in its first namespace
    and opens the pooled one's at the take: the endpoint has no IPv6 there either."""
    from test_prepared import phase_count
    s = make_scope(api, f"v6-{uniq}")["name"]
    both = False
    for _ in range(20):  # until a start had both a prepared domain and a pooled namespace
        before = [phase_count(api, p) for p in ("spawn.prepared_take", "spawn.netns_pooled")]
        code, out, err = run_in(api, rootfs, "cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6; "
                                "grep eth0 /proc/net/if_inet6 | wc -l", scope=s)
        assert code == 0 and out.split() == ["1", "0"], (out, err)
        after = [phase_count(api, p) for p in ("spawn.prepared_take", "spawn.netns_pooled")]
        if all(a > b for a, b in zip(after, before)):
            both = True
            break
    assert both, "no start took a prepared domain and a pooled namespace"


def test_two_containers_talk_by_name(api, rootfs, uniq):
    s = make_scope(api, f"talk-{uniq}")["name"]
    srv = web(api, rootfs, f"srv-{uniq}", s, ep={"aliases": [f"alias-{uniq}"]})
    for name in (f"srv-{uniq}", srv[:12], f"alias-{uniq}"):
        assert http_ok(api, rootfs, s, f"http://{name}/index.html", f"content-of-srv-{uniq}"), name
    # nc against the same server, by name
    code, out, _ = run_in(api, rootfs,
                          f"for i in $(seq 50); do printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' "
                          f"| nc srv-{uniq} 80 && exit 0; sleep 0.1; done; exit 1", scope=s)
    assert code == 0 and f"content-of-srv-{uniq}" in out


def test_other_scope_cannot_reach(api, rootfs, uniq):
    a = make_scope(api, f"a-{uniq}")["name"]
    b = make_scope(api, f"b-{uniq}")["name"]
    srv = web(api, rootfs, f"srv-{uniq}", a)
    ip = ip_of(api, srv)
    assert http_ok(api, rootfs, a, f"http://{ip}/index.html", "content-of")  # it serves
    code, out, err = run_in(api, rootfs, f"timeout 3 wget -q -O- http://{ip}/index.html", scope=b)
    assert code != 0 and "content-of" not in out
    code, out, err = run_in(api, rootfs, f"timeout 3 wget -q -O- http://srv-{uniq}/index.html",
                            scope=b)
    assert code != 0 and "content-of" not in out


def master_of(daemon, dev):
    out = host(daemon, "ip", "-o", "link", "show", "dev", dev, check=True).stdout
    words = out.split()
    return words[words.index("master") + 1] if "master" in words else None


def test_branch_bridges(api, rootfs, uniq, daemon, neighbour):
    """A scope's endpoints go to its bridge and its branch bridges by address (64 addresses
    each in a /24): one segment all the same, in reach of each other by address and name,
    masqueraded on the way out of the host, reaching a published port through the host's
    address, out of another scope's reach, and the branches go with the scope."""
    s = make_scope(api, f"br-{uniq}")
    net = s["subnet"].rsplit(".", 1)[0]
    far = web(api, rootfs, f"far-{uniq}", s["name"], ep={"ip": f"{net}.200"},
              ports=[{"container_port": 80, "host_port": 18096}])
    near = web(api, rootfs, f"near-{uniq}", s["name"], ep={"ip": f"{net}.10"})
    branch = master_of(daemon, f"pv{far[:10]}0")
    assert branch.startswith("plb") and branch != s["device"]
    assert master_of(daemon, f"pv{near[:10]}0") == s["device"]
    # the branch's link: one end on the scope's bridge, the other on the branch
    uplink = "plu" + branch[3:]
    assert master_of(daemon, uplink) == s["device"]
    assert master_of(daemon, "pld" + branch[3:]) == branch
    # clients on a third branch (.100, .101) and on the scope's bridge (.20, .21) reach
    # both servers
    for n, ip in enumerate((f"{net}.100", f"{net}.101", f"{net}.20", f"{net}.21")):
        for srv in (f"far-{uniq}", f"{net}.10")[n % 2:][:1]:
            code, out, _ = run_in(
                api, rootfs, f"for i in $(seq 100); do timeout 3 wget -q -O- "
                f"http://{srv}/index.html && exit 0; sleep 0.1; done; exit 1",
                name=f"cl{n}-{uniq}", networks=[{"scope": s["name"], "ip": ip}])
            assert code == 0 and "content-of-" in out, (ip, srv)
    # from a branch: out of the host through a neighbour (which has no route back to the
    # subnet: only a masqueraded connection is answered), and to the published port
    # through the gateway's address (DNAT back onto the scope)
    ns, nip, _, _, _ = neighbour
    srv = subprocess.Popen(in_netns(ns, "python3", "-m", "http.server", "18097", "--bind",
                                    nip), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        code, out, _ = run_in(
            api, rootfs, f"for i in $(seq 100); do timeout 3 wget -q -O- http://{nip}:18097/ "
            f"&& exit 0; sleep 0.1; done; exit 1",
            name=f"out-{uniq}", networks=[{"scope": s["name"], "ip": f"{net}.150"}])
        assert code == 0 and "Directory listing" in out, out
    finally:
        srv.kill()
        srv.wait()
    code, out, _ = run_in(
        api, rootfs, f"for i in $(seq 100); do timeout 3 wget -q -O- "
        f"http://{s['gateway']}:18096/index.html && exit 0; sleep 0.1; done; exit 1",
        name=f"pub-{uniq}", networks=[{"scope": s["name"], "ip": f"{net}.151"}])
    assert code == 0 and f"content-of-far-{uniq}" in out, out
    # a scope's bridge may not take a branch's name
    r = api.post("/networks", {"name": f"taken-{uniq}", "subnet": "10.251.9.0/24",
                               "bridge": "plu" + branch[3:]})
    assert r.status == 400 and "branch" in r.json["message"], r.body
    # another scope reaches neither
    other = make_scope(api, f"other-{uniq}")["name"]
    code, out, _ = run_in(api, rootfs, f"timeout 3 wget -q -O- http://{net}.200/index.html",
                          scope=other)
    assert code != 0 and "content-of" not in out
    for cid in (far, near, f"out-{uniq}", f"pub-{uniq}", *(f"cl{n}-{uniq}" for n in range(4))):
        api.remove(cid, force=True)
    wait_until(lambda: api.delete(f"/networks/{s['name']}").status == 204,
               what="the scope deleted once its veths are gone")
    l = links(daemon)
    assert branch not in l and uplink not in l and s["device"] not in l


def test_internal_has_no_outbound_route(api, rootfs, uniq, daemon):
    s = make_scope(api, f"int-{uniq}", internal=True)
    other = make_scope(api, f"out-{uniq}")["name"]
    srv = web(api, rootfs, f"srv-{uniq}", other)
    ip = ip_of(api, srv)
    code, out, _ = run_in(api, rootfs, f"ip route; timeout 3 wget -q -O- http://{ip}/index.html",
                          scope=s["name"])
    assert "default" not in out
    assert code != 0 and "content-of" not in out
    # its gateway (the name server's address) is still reachable
    code, out, _ = run_in(api, rootfs, f"ping -c1 -W2 {s['gateway']}", scope=s["name"])
    assert code == 0, out
    assert f'iifname "{s["device"]}" drop' in table(daemon)
    # inside the internal scope containers still talk, by name
    web(api, rootfs, f"isrv-{uniq}", s["name"])
    assert http_ok(api, rootfs, s["name"], f"http://isrv-{uniq}/index.html",
                   f"content-of-isrv-{uniq}")


def test_published_port(api, rootfs, uniq, daemon):
    s = make_scope(api, f"pub-{uniq}")
    cid = web(api, rootfs, f"srv-{uniq}", s["name"],
              ports=[{"container_port": 80, "host_port": 18080},
                     {"container_port": 80, "host_port": 0}])
    ports = api.get(f"/containers/{cid}/ports").json
    assert ports[0]["host_port"] == 18080 and ports[0]["protocol"] == "tcp"
    rnd = ports[1]["host_port"]
    assert 1024 < rnd < 65536
    for url in ("http://127.0.0.1:18080/index.html", f"http://127.0.0.1:{rnd}/index.html",
                "http://172.17.0.1:18080/index.html"):
        def fetch():
            r = host(daemon, "curl", "-s", "-m", "2", url)
            return r.returncode == 0 and f"content-of-srv-{uniq}" in r.stdout
        wait_until(fetch, what=url)
    # from another scope, and from its own, through a host address
    other = make_scope(api, f"pubo-{uniq}")["name"]
    assert http_ok(api, rootfs, other, "http://172.17.0.1:18080/index.html", "content-of")
    assert http_ok(api, rootfs, s["name"], f"http://{s['gateway']}:18080/index.html",
                   "content-of")
    # the same host port again: refused, nothing created
    body = api.create_body(rootfs, ["true"])
    body.update(networks=[{"scope": s["name"]}], ports=[{"container_port": 81,
                                                         "host_port": 18080}])
    r = api.create_raw(body)
    assert r.status == 409, r.body
    # stopping removes the rule
    api.stop(cid, timeout=1)
    wait_until(lambda: "18080" not in table(daemon), what="rule removed")
    r = host(daemon, "curl", "-s", "-m", "2", "http://127.0.0.1:18080/index.html")
    assert r.returncode != 0


def test_static_ip(api, rootfs, uniq):
    s = make_scope(api, f"st-{uniq}", subnet="10.251.0.0/16", ip_range="10.251.7.0/24")
    name = s["name"]
    code, out, _ = run_in(api, rootfs, "ip -o -4 addr show eth0", scope=None,
                          networks=[{"scope": name, "ip": "10.251.0.50"}])
    assert code == 0 and "inet 10.251.0.50/16" in out
    held = create(api, rootfs, ["true"], networks=[{"scope": name, "ip": "10.251.0.60"}])
    body = api.create_body(rootfs, ["true"])
    body["networks"] = [{"scope": name, "ip": "10.251.0.60"}]
    r = api.create_raw(body)
    assert r.status == 409 and "10.251.0.60" in r.json["message"]
    body["networks"] = [{"scope": name, "ip": "10.99.0.60"}]
    r = api.create_raw(body)
    assert r.status == 400 and "outside" in r.json["message"]
    # automatic addresses come from the range
    auto = create(api, rootfs, ["true"], networks=[{"scope": name}])
    assert ip_of(api, auto).startswith("10.251.7.")
    # removal gives the address back
    api.remove(held)
    body["networks"] = [{"scope": name, "ip": "10.251.0.60"}]
    r = api.create_raw(body)
    assert r.status == 201


def test_connect_with_a_handle(api, rootfs, uniq, daemon):
    a = make_scope(api, f"ha-{uniq}")
    b = make_scope(api, f"hb-{uniq}")
    cid = create(api, rootfs, ["sh", "-c", "ip -o -4 addr"], networks=[{"scope": a["name"]}])
    h = api.get(f"/containers/{cid}/handle").json["handle"]
    r = api.post(f"/handles/{h}/network", {"action": "connect", "scope": b["name"],
                                            "aliases": ["second"]})
    assert r.status in (200, 201), r.body
    h2 = r.json["handle"]
    r = api.post(f"/handles/{h2}/commit")
    assert r.status in (200, 204), r.body
    eps = api.inspect(cid)["network"]["endpoints"]
    assert [e["scope"] for e in eps] == [a["name"], b["name"]]
    api.start(cid)
    api.wait(cid)
    out, _ = api.output(cid)
    assert eps[0]["ip"] in out and eps[1]["ip"] in out and "eth1" in out
    # the addresses survive a restart of the container
    api.start(cid)
    api.wait(cid)
    assert api.inspect(cid)["network"]["endpoints"] == eps
    out, _ = api.output(cid)
    assert out.count(f"inet {eps[1]['ip']}/") == 2
    # a bad mutation is refused when staged
    h = api.get(f"/containers/{cid}/handle").json["handle"]
    r = api.post(f"/handles/{h}/network", {"action": "join", "scope": b["name"]})
    assert r.status == 400
    # disconnecting gives the address back
    r = api.post(f"/handles/{h}/network", {"action": "disconnect", "scope": b["name"]})
    assert r.status in (200, 201), r.body
    assert api.post(f"/handles/{r.json['handle']}/commit").status in (200, 204)
    assert [e["scope"] for e in api.inspect(cid)["network"]["endpoints"]] == [a["name"]]
    assert api.get(f"/networks/{b['name']}").json["endpoints"] == []
    # (once the last run's veth on b is gone: it is deleted off the daemon's loop)
    other = create_once_free(api, rootfs, networks=[{"scope": b["name"], "ip": eps[1]["ip"]}])
    assert ip_of(api, other) == eps[1]["ip"]


def test_host_mode(api, rootfs):
    code, out, _ = run_in(api, rootfs, "ip -o link", network_mode="host")
    assert code == 0 and "pl0" in out


def reaper_pid(daemon):
    """The daemon's helper process that deletes stopped containers' host veths off its event
    loop (comm pl-netdev-reap, a child of portlayerd)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if comm == "pl-netdev-reap" and ppid == daemon.pid:
            return int(pid)
    return None


def hold_netns(api, cid):
    """An fd on a running container's network namespace: while it is open the kernel cannot
    tear the namespace down, so its veth stays until someone deletes it."""
    return os.open(f"/proc/{api.state(cid)['pid']}/ns/net", os.O_RDONLY | os.O_CLOEXEC)


def test_host_veth_goes_after_removal(api, rootfs, daemon):
    cid = create(api, rootfs, ["sleep", "1000"], networks=[{"scope": "bridge"}])
    api.start(cid)
    veth = f"pv{cid[:10]}0"
    assert veth in links(daemon)
    api.remove(cid, force=True)
    # deleted off the daemon's loop: the removal's answer does not wait for it
    wait_until(lambda: veth not in links(daemon), what=f"{veth} deleted")


def test_address_not_reused_while_old_veth_remains(api, rootfs, uniq, daemon):
    # a scope with a single address for containers (/30: network, gateway, one, broadcast)
    s = make_scope(api, f"one-{uniq}", subnet=f"10.{next(_subnets)}.0.0/30")
    a = create(api, rootfs, ["sleep", "1000"], networks=[{"scope": s["name"]}])
    api.start(a)
    ip, veth = ip_of(api, a), f"pv{a[:10]}0"
    assert veth in links(daemon)
    helper = reaper_pid(daemon)
    assert helper, "no pl-netdev-reap helper under portlayerd"
    ns = hold_netns(api, a)
    os.kill(helper, signal.SIGSTOP)
    try:
        api.remove(a, force=True)  # answers though its veth cannot be deleted yet
        assert veth in links(daemon)
        # the address is still the old veth's: not handed out, not even when asked for
        r = api.create_raw({**api.create_body(rootfs, ["true"]),
                            "networks": [{"scope": s["name"]}]})
        assert r.status == 409, (r.status, r.body)
        r = api.create_raw({**api.create_body(rootfs, ["true"]),
                            "networks": [{"scope": s["name"], "ip": ip}]})
        assert r.status == 409, (r.status, r.body)
    finally:
        os.kill(helper, signal.SIGCONT)
        os.close(ns)
    wait_until(lambda: veth not in links(daemon), what=f"{veth} deleted")
    assert ip_of(api, create_once_free(api, rootfs, networks=[{"scope": s["name"]}])) == ip


def test_reap_helper_killed_with_a_deletion_out(api, rootfs, uniq, daemon):
    """The helper killed -9 with a batch out: it is reaped (no zombie), another takes its
    place, the veth still goes and its address comes back."""
    s = make_scope(api, f"kill-{uniq}", subnet=f"10.{next(_subnets)}.0.0/30")
    a = create(api, rootfs, ["sleep", "1000"], networks=[{"scope": s["name"]}])
    api.start(a)
    ip, veth = ip_of(api, a), f"pv{a[:10]}0"
    helper = reaper_pid(daemon)
    assert helper
    ns = hold_netns(api, a)
    os.kill(helper, signal.SIGSTOP)
    try:
        api.remove(a, force=True)  # its batch goes to the stopped helper
        assert veth in links(daemon)
        os.kill(helper, signal.SIGKILL)
        wait_until(lambda: not os.path.exists(f"/proc/{helper}"),
                   what=f"the killed helper {helper} reaped")
    finally:
        os.close(ns)
    wait_until(lambda: veth not in links(daemon), what=f"{veth} deleted by another helper")
    new = wait_until(lambda: reaper_pid(daemon), what="a new helper")
    assert new != helper
    assert ip_of(api, create_once_free(api, rootfs, networks=[{"scope": s["name"]}])) == ip
    assert daemon.alive()


def test_veths_removed_together_go_together(api, rootfs, uniq, daemon):
    """Veths queued while the helper is busy are deleted as one batch (one group deletion):
    every one of them goes, and nothing else."""
    s = make_scope(api, f"batch-{uniq}")
    ids = [create(api, rootfs, ["sleep", "1000"], networks=[{"scope": s["name"]}])
           for _ in range(5)]
    for cid in ids:
        api.start(cid)
    stays, gone = ids[0], ids[1:]
    ips = [ip_of(api, cid) for cid in gone]
    helper = reaper_pid(daemon)
    assert helper
    held = [hold_netns(api, cid) for cid in gone]
    os.kill(helper, signal.SIGSTOP)
    try:
        for cid in gone:  # the first goes out alone, the others queue behind it
            api.remove(cid, force=True)
        assert all(f"pv{cid[:10]}0" in links(daemon) for cid in gone)
    finally:
        os.kill(helper, signal.SIGCONT)
        for fd in held:
            os.close(fd)
    wait_until(lambda: not any(f"pv{cid[:10]}0" in links(daemon) for cid in gone),
               what="the batch deleted")
    assert f"pv{stays[:10]}0" in links(daemon) and api.state(stays)["status"] == "running"
    for ip in ips:
        create_once_free(api, rootfs, networks=[{"scope": s["name"], "ip": ip}])


def test_restart_deletes_veths_of_stopped_containers(api, rootfs, uniq, daemon):
    """A daemon that died with a veth deletion queued (its helper with it) leaves the veth
    on the bridge: the next start deletes it before it serves, and keeps running ones'."""
    s = make_scope(api, f"left-{uniq}")
    gone = create(api, rootfs, ["sleep", "1000"], networks=[{"scope": s["name"]}])
    stays = create(api, rootfs, ["sleep", "1000"], networks=[{"scope": s["name"]}])
    api.start(gone)
    api.start(stays)
    helper = reaper_pid(daemon)
    assert helper
    ns = hold_netns(api, gone)
    try:
        os.kill(helper, signal.SIGSTOP)
        api.kill(gone)
        api.wait(gone)
        assert f"pv{gone[:10]}0" in links(daemon)
        daemon.kill()  # the helper dies with it, its deletion undone
        wait_until(lambda: proc_state(helper) in (None, "Z"), what="helper gone with the daemon")
        assert f"pv{gone[:10]}0" in links(daemon)
        daemon.start()
        l = links(daemon)
        assert f"pv{gone[:10]}0" not in l and f"pv{stays[:10]}0" in l
        assert api.state(stays)["status"] == "running"
    finally:
        os.close(ns)


def test_cleanup_after_removal(api, rootfs, uniq, daemon):
    s = make_scope(api, f"gone-{uniq}")
    cid = web(api, rootfs, f"srv-{uniq}", s["name"],
              ports=[{"container_port": 80, "host_port": 18181}])
    wait_until(lambda: "18181" in table(daemon), what="rule")
    assert s["device"] in links(daemon)
    assert f"pv{cid[:10]}" in links(daemon)
    r = api.delete(f"/networks/{s['name']}")
    assert r.status == 409
    api.remove(cid, force=True)
    r = api.delete(f"/networks/{s['name']}")
    assert r.status == 204, r.body
    assert api.get(f"/networks/{s['name']}").status == 404
    # the veth's deletion runs off the daemon's loop, but a scope's deletion waits for it
    l = links(daemon)
    assert s["device"] not in l and f"pv{cid[:10]}" not in l
    wait_until(lambda: s["device"] not in table(daemon) and "18181" not in table(daemon),
               what="rules removed")


def test_invalid_fields(api, rootfs, uniq):
    base = api.create_body(rootfs, ["true"])
    bad = [
        {"network_mode": "bogus"},
        {"networks": {"scope": "bridge"}},
        {"networks": [{"scope": "bridge", "ip": "300.1.1.1"}]},
        {"networks": [{"scope": "bridge", "mac": "x"}]},
        {"networks": [{"scope": "bridge"}, {"scope": "bridge"}]},
        {"networks": [{"scope": "bridge", "aliases": ["bad name"]}]},
        {"network_mode": "none", "networks": [{"scope": "bridge"}]},
        {"network_mode": "bridge"},
        {"ports": [{"container_port": 80}]},
        {"networks": [{"scope": "bridge"}], "ports": [{"container_port": 0}]},
        {"networks": [{"scope": "bridge"}], "ports": [{"container_port": 80,
                                                        "protocol": "sctp"}]},
        {"networks": [{"scope": "bridge"}], "ports": [{"container_port": 80,
                                                        "host_port": 70000}]},
        {"networks": [{"scope": "bridge"}], "ports": [{"container_port": 80,
                                                        "host_ip": "nowhere"}]},
    ]
    before = len(api.containers())
    for extra in bad:
        r = api.create_raw({**base, **extra})
        assert r.status == 400, (extra, r.status, r.body)
    r = api.create_raw({**base, "networks": [{"scope": f"nosuch-{uniq}"}]})
    assert r.status == 404
    assert len(api.containers()) == before
    badnets = [
        {"name": "bad name"},
        {"name": f"n-{uniq}", "subnet": "10.1.2.3/24"},
        {"name": f"n-{uniq}", "subnet": "10.77.0.0/24", "gateway": "10.78.0.1"},
        {"name": f"n-{uniq}", "subnet": "10.77.0.0/24", "ip_range": "10.78.0.0/25"},
        {"name": f"n-{uniq}", "driver": "overlay"},
        {"name": f"n-{uniq}", "driver": "external"},
        {"name": f"n-{uniq}", "gateway": "10.77.0.1"},
        {"name": f"n-{uniq}", "internal": "yes"},
        {"name": f"n-{uniq}", "color": "red"},
    ]
    for body in badnets:
        r = api.post("/networks", body)
        assert r.status == 400, (body, r.status, r.body)
    assert not any(n["name"] == f"n-{uniq}" for n in api.get("/networks").json)
    assert api.post("/networks", {"name": "bridge"}).status == 409
    assert api.post("/networks", {"name": f"o-{uniq}", "subnet": "172.17.5.0/24"}).status == 409
    assert api.delete("/networks/bridge").status == 409
    assert api.delete(f"/networks/nosuch-{uniq}").status == 404


def test_survives_daemon_kill(api, rootfs, uniq, daemon):
    s = make_scope(api, f"keep-{uniq}")
    cid = web(api, rootfs, f"srv-{uniq}", s["name"],
              ports=[{"container_port": 80, "host_port": 18282}])
    ip = ip_of(api, cid)

    def fetch():
        r = host(daemon, "curl", "-s", "-m", "2", "http://127.0.0.1:18282/index.html")
        return r.returncode == 0 and f"content-of-srv-{uniq}" in r.stdout
    wait_until(fetch, what="published port")
    rules = table(daemon)
    daemon.kill()
    daemon.start()
    assert api.state(cid)["status"] == "running"
    assert any(n["name"] == s["name"] for n in api.get("/networks").json)
    assert table(daemon) == rules
    wait_until(fetch, what="published port after restart")
    # the allocator was rebuilt: a new container does not get the held address
    other = create(api, rootfs, ["true"], networks=[{"scope": s["name"]}])
    assert ip_of(api, other) != ip
    body = api.create_body(rootfs, ["true"])
    body["networks"] = [{"scope": s["name"], "ip": ip}]
    assert api.create_raw(body).status == 409


def test_read_only_root_gets_hosts(api, rootfs, uniq):
    s = make_scope(api, f"ro-{uniq}")
    code, out, err = run_in(api, rootfs, "cat /etc/hosts /etc/resolv.conf; touch /x",
                            scope=s["name"], name=f"ro-{uniq}",
                            security={"read_only_rootfs": True})
    net = s["subnet"].rsplit(".", 1)[0]
    assert f"{net}.2\t" in out and f"ro-{uniq}" in out and "nameserver" in out
    assert code != 0 and "Read-only file system" in err


def test_names_resolve_for_late_joiners(api, rootfs, uniq):
    """The scope's name server knows containers that started after the asking one."""
    s = make_scope(api, f"late-{uniq}")
    client = create(api, rootfs, ["sh", "-c",
                                  f"cat /etc/resolv.conf; for i in $(seq 300); do "
                                  f"timeout 3 wget -q -O- http://late-{uniq}/index.html "
                                  f"&& exit 0; sleep 0.1; done; exit 1"],
                    networks=[{"scope": s["name"]}])
    api.start(client)
    api.wait_for_output(client, "nameserver")
    out, _ = api.output(client)
    assert f"nameserver {s['gateway']}" in out
    web(api, rootfs, f"late-{uniq}", s["name"])
    assert api.wait(client).get("exit_code") == 0
    assert f"content-of-late-{uniq}" in api.output(client)[0]
    # the responder answers on the gateway, for this scope only
    code, out, _ = run_in(api, rootfs, f"nslookup late-{uniq} {s['gateway']}", scope=s["name"])
    assert code == 0 and ip_of(api, api.inspect(f"late-{uniq}")["id"]) in out


def test_external_scope_macvlan(api, rootfs, uniq, daemon):
    # a veth end as the "existing host interface" (no dummy module on these machines)
    parent = f"up{os.getpid() % 100000}"
    host(daemon, "ip", "link", "add", parent, "type", "veth", "peer", "name", parent + "p",
         check=True)
    host(daemon, "ip", "link", "set", parent, "up", check=True)
    host(daemon, "ip", "link", "set", parent + "p", "up", check=True)
    try:
        r = api.post("/networks", {"name": f"ext-{uniq}", "driver": "external",
                                   "parent": "nosuchif0", "subnet": "10.201.0.0/24"})
        assert r.status == 400, r.body
        s = make_scope(api, f"ext-{uniq}", driver="external", parent=parent,
                       subnet="10.200.0.0/24")
        assert s["driver"] == "external" and s["parent"] == parent
        srv = web(api, rootfs, f"mv-{uniq}", s["name"])
        ip = ip_of(api, srv)
        code, out, _ = run_in(api, rootfs,
                              f"ip -d link show eth0; ip route; for i in $(seq 50); do "
                              f"timeout 3 wget -q -O- http://{ip}/index.html && exit 0; "
                              f"sleep 0.1; done; exit 1", scope=s["name"])
        assert code == 0, out
        assert "macvlan" in out and "default via 10.200.0.1" in out
        assert f"content-of-mv-{uniq}" in out
        for ep in api.get(f"/networks/{s['name']}").json["endpoints"]:
            api.remove(ep["container"], force=True)
        assert api.delete(f"/networks/{s['name']}").status == 204
        assert parent in links(daemon)  # the parent is not ours: it stays
    finally:
        host(daemon, "ip", "link", "del", parent)


def test_plctl_network(plctl, api, rootfs, uniq, daemon):
    name = f"pn-{uniq}"
    plctl("network", "create", "--subnet", "10.202.0.0/24", "--ip-range", "10.202.0.128/25",
          "--no-masquerade", name, check=0)
    assert name in plctl("network", "ls", check=0).stdout
    assert name in plctl("network", "ls", "-q", check=0).stdout.split()
    info = json.loads(plctl("network", "inspect", name, check=0).stdout)[0]
    assert info["subnet"] == "10.202.0.0/24" and info["masquerade"] is False
    assert "10.202.0.0/24 oifname" not in table(daemon)  # no masquerade for it
    # plctl run joins the default bridge scope unless told otherwise
    p = plctl("run", "--rm", rootfs, "--", "ip", "-o", "-4", "addr", "show", "eth0", check=0)
    assert "inet 172.17." in p.stdout
    p = plctl("run", "--rm", "--net", "none", rootfs, "--", "ip", "-o", "link", check=0)
    assert "eth0" not in p.stdout
    p = plctl("run", "--rm", "--network", name, "--ip", "10.202.0.9", "--network-alias",
              f"al-{uniq}", rootfs, "--", "sh", "-c", "ip -o -4 addr show eth0; cat /etc/hosts",
              check=0)
    assert "inet 10.202.0.9/24" in p.stdout and f"al-{uniq}" in p.stdout
    cid = plctl("run", "-d", "--network", name, "-p", "127.0.0.1:18383:80", "-p", "53/udp",
                rootfs, "--", "sh", "-c", HTTPD.format(n="plctl"), check=0).stdout.strip()
    lines = plctl("port", cid, check=0).stdout.splitlines()
    assert lines[0] == "80/tcp -> 127.0.0.1:18383"
    assert re.fullmatch(r"53/udp -> 0\.0\.0\.0:\d+", lines[1])

    def fetch():
        r = host(daemon, "curl", "-s", "-m", "2", "http://127.0.0.1:18383/index.html")
        return "content-of-plctl" in r.stdout
    wait_until(fetch, what="port published through plctl")
    assert plctl("network", "rm", name).returncode != 0  # in use
    plctl("rm", "-f", cid, check=0)
    plctl("network", "rm", name, check=0)
    p = plctl("run", "--rm", "-p", "99999", rootfs, "--", "true")
    assert p.returncode != 0 and "-p 99999" in p.stderr


def test_address_pool_flag(binaries):
    """--address-pool gives the default scope its subnet; a bad pool is refused at start."""
    netns = f"pltest-pool-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    tmp = tempfile.mkdtemp(prefix="pl-it-net-pool-")
    try:
        bad = subprocess.run(["nsenter", f"--net=/run/netns/{netns}", "--", str(PORTLAYERD),
                              "--root", f"{tmp}/bad", "--run-dir", f"{tmp}/badrun",
                              "--address-pool", "10.1.2.3/24"],
                             capture_output=True, text=True, timeout=DEADLINE)
        assert bad.returncode != 0 and "address pool" in bad.stdout + bad.stderr
        d = NetnsDaemon(tmp, netns, extra=["--address-pool", "10.123.0.0/24,10.124.0.0/24"])
        d.start()
        try:
            nets = {n["name"]: n for n in d.api.get("/networks").json}
            assert nets["bridge"]["subnet"] == "10.123.0.0/24"
            r = d.api.post("/networks", {"name": "second"})
            assert r.status == 201 and r.json["subnet"] == "10.124.0.0/24"
            r = d.api.post("/networks", {"name": "third"})
            assert r.status == 409 and "pool" in r.json["message"]
        finally:
            problems = finish_daemon(d)
            assert not problems, problems
    finally:
        subprocess.run(["ip", "netns", "del", netns])
        shutil.rmtree(tmp, ignore_errors=True)


def test_remapped_container_on_a_scope(api, rootfs, uniq):
    """A domain with its own user namespace gets a network namespace owned by it (never a
    pooled one): tether, root only inside, still configures eth0, and names resolve."""
    s = make_scope(api, f"ur-{uniq}")["name"]
    web(api, rootfs, f"usrv-{uniq}", s)
    code, out, _ = run_in(api, rootfs,
                          "ip -o -4 addr show eth0 && cat /proc/self/uid_map && "
                          f"for i in $(seq 100); do timeout 3 wget -q -O- http://usrv-{uniq}/ "
                          "&& exit 0; sleep 0.1; done; exit 1",
                          scope=s, security={"userns": {"mode": "remap"}})
    assert code == 0, out
    assert "inet 10." in out and f"content-of-usrv-{uniq}" in out
    assert not re.search(r"^\s*0\s+0\s", out, re.M)  # root inside is not host root


def test_a_scopes_name_server_answers_only_its_own(api, rootfs, uniq):
    """The responder listens on a host address: a container of another scope reaches that
    address but gets no answer (REFUSED), so scopes cannot read each other's names."""
    a = make_scope(api, f"dna-{uniq}")
    b = make_scope(api, f"dnb-{uniq}")["name"]
    ip = ip_of(api, web(api, rootfs, f"dsrv-{uniq}", a["name"]))
    gw = a["gateway"]
    code, out, _ = run_in(api, rootfs, f"nslookup dsrv-{uniq} {gw}; echo rc=$?",
                          scope=a["name"])
    assert f"Address: {ip}" in out, out
    code, out, _ = run_in(api, rootfs, f"nslookup dsrv-{uniq} {gw}; echo rc=$?", scope=b)
    assert ip not in out, out


def test_chosen_scope_holds_the_default_route(api, rootfs, uniq):
    a = make_scope(api, f"ra-{uniq}")
    b = make_scope(api, f"rb-{uniq}")
    code, out, _ = run_in(api, rootfs, "ip route", networks=[
        {"scope": a["name"]}, {"scope": b["name"], "default_route": True}])
    assert code == 0 and f"default via {b['gateway']} dev eth1" in out, out
    assert f"default via {a['gateway']}" not in out
    internal = make_scope(api, f"ri-{uniq}", internal=True)
    for nets, what in (
        ([{"scope": a["name"], "default_route": True},
          {"scope": b["name"], "default_route": True}], "only one"),
        ([{"scope": internal["name"], "default_route": True}], "internal"),
        ([{"scope": a["name"], "default_route": "yes"}], "boolean"),
    ):
        body = api.create_body(rootfs, ["true"])
        body["networks"] = nets
        r = api.create_raw(body)
        assert r.status == 400 and what in r.json["message"], r.body


# --- hostile packets: hand-built frames from a container or from a neighbour ---

# Sends one UDP datagram in a hand-built Ethernet frame (AF_PACKET, as any process with
# CAP_NET_RAW can): argv dev dst-mac src-ip dst-ip dst-port payload.
RAW_SEND = r"""
import socket, struct, sys
dev, mac, src, dst, port, payload = sys.argv[1:7]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((dev, 0))
def csum(b):
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xffff)
    return ~(t + (t >> 16)) & 0xffff
data = payload.encode()
udp = struct.pack('!HHHH', 40000, int(port), 8 + len(data), 0) + data
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                 socket.inet_aton(src), socket.inet_aton(dst))
ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
s.send(bytes.fromhex(mac.replace(':', '')) + s.getsockname()[4] + b'\x08\x00' + ip + udp)
"""

# Prints every datagram received on the given ip:port sockets for argv[1] seconds.
UDP_LISTEN = r"""
import select, socket, sys, time
socks = []
for a in sys.argv[3:]:
    ip, port = a.rsplit(':', 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, int(port)))
    socks.append(s)
print('ready', flush=True)
end = time.time() + float(sys.argv[1])
seen = False
while not seen and time.time() < end:
    r, _, _ = select.select(socks, [], [], 0.1)
    for s in r:
        got = s.recv(512).decode(errors='replace')
        print(got, flush=True)
        seen = seen or sys.argv[2] in got
"""


def in_netns(nspath, *cmd, **kw):
    return ["nsenter", f"--net={nspath}", "--", *cmd]


class Listener:
    """A UDP listener in a network namespace, started and ready, that takes datagrams until
    one holding `until` arrives (the test's positive control, sent after the datagrams that
    must not arrive), or the deadline: a busy machine makes it take longer, not fail."""

    def __init__(self, nspath, until, *addrs):
        self.p = subprocess.Popen(in_netns(nspath, "python3", "-c", UDP_LISTEN, str(DEADLINE),
                                           until, *addrs), stdout=subprocess.PIPE, text=True)
        assert self.p.stdout.readline().strip() == "ready"

    def received(self):
        out, _ = self.p.communicate(timeout=DEADLINE + 10)
        return out


def raw_send(nspath, dev, mac, src, dst, port, payload):
    subprocess.run(in_netns(nspath, "python3", "-c", RAW_SEND, dev, mac, src, dst, str(port),
                            payload), check=True, timeout=DEADLINE)


def mac_in(nspath, dev):
    out = subprocess.run(in_netns(nspath, "ip", "-o", "link", "show", "dev", dev),
                         capture_output=True, text=True, check=True).stdout
    return re.search(r"link/ether ([0-9a-f:]{17})", out).group(1)


_neigh = iter(range(1, 200))


@pytest.fixture
def neighbour(daemon, uniq):
    """A network namespace next to the daemon's, joined to it by a veth (a machine on the
    host's LAN): yields (netns path, its address, its interface, the daemon side's address,
    the daemon side's MAC)."""
    k = next(_neigh)
    name = f"plnb-{os.getpid()}-{k}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    ns = f"/run/netns/{name}"
    try:
        dev = f"nb{k}"
        host(daemon, "ip", "link", "add", dev, "type", "veth", "peer", "name", "lan0",
             "netns", name, check=True)
        host(daemon, "ip", "addr", "add", f"10.199.{k}.1/24", "dev", dev, check=True)
        host(daemon, "ip", "link", "set", dev, "up", check=True)
        for c in (["ip", "link", "set", "lo", "up"],
                  ["ip", "addr", "add", f"10.199.{k}.2/24", "dev", "lan0"],
                  ["ip", "link", "set", "lan0", "up"]):
            subprocess.run(in_netns(ns, *c), check=True)
        yield ns, f"10.199.{k}.2", "lan0", f"10.199.{k}.1", mac_in(
            f"/proc/{daemon.pid}/ns/net", dev)
    finally:
        subprocess.run(["ip", "netns", "del", name])


def test_container_cannot_reach_host_loopback(api, rootfs, uniq, daemon):
    """A frame to the gateway's MAC with destination 127.0.0.1 (a container has CAP_NET_RAW)
    must not reach the host's loopback services; the same frame to the gateway's own
    address does (so the test can fail)."""
    s = make_scope(api, f"rl-{uniq}")
    cid = create(api, rootfs, ["sleep", "60"], networks=[{"scope": s["name"]}])
    api.start(cid)
    cns = f"/proc/{api.state(cid)['pid']}/ns/net"
    hns = f"/proc/{daemon.pid}/ns/net"
    gwmac = mac_in(hns, s["device"])
    l = Listener(hns, "to-gateway", "127.0.0.1:19999", f"{s['gateway']}:19999")
    raw_send(cns, "eth0", gwmac, ip_of(api, cid), "127.0.0.1", 19999, "to-loopback")
    raw_send(cns, "eth0", gwmac, ip_of(api, cid), s["gateway"], 19999, "to-gateway")
    got = l.received()
    api.remove(cid, force=True)
    assert "to-gateway" in got
    assert "to-loopback" not in got


def test_port_published_on_loopback_is_not_reachable_from_outside(api, rootfs, uniq, daemon,
                                                                   neighbour):
    """A port published on 127.0.0.1 is the host's only (CVE-2020-8558): a neighbour that
    sends to 127.0.0.1 through the host's MAC does not reach the container."""
    ns, nip, ndev, hip, hmac = neighbour
    s = make_scope(api, f"lp-{uniq}")
    cid = create(api, rootfs, ["sleep", "60"], networks=[{"scope": s["name"]}],
                 ports=[{"container_port": 8080, "protocol": "udp", "host_ip": "127.0.0.1",
                         "host_port": 18558}])
    api.start(cid)
    wait_until(lambda: "18558" in table(daemon), what="rule")
    l = Listener(f"/proc/{api.state(cid)['pid']}/ns/net", "from-host", "0.0.0.0:8080")
    raw_send(ns, ndev, hmac, nip, "127.0.0.1", 18558, "from-lan")
    host(daemon, "python3", "-c", "import socket; socket.socket(socket.AF_INET, "
         "socket.SOCK_DGRAM).sendto(b'from-host', ('127.0.0.1', 18558))", check=True)
    got = l.received()
    api.remove(cid, force=True)
    assert "from-host" in got
    assert "from-lan" not in got


def test_unpublished_ports_are_not_routable(api, rootfs, uniq, daemon, neighbour):
    """A neighbour that routes a scope's subnet through the host reaches a published port
    (through the host's address) but not the container's unpublished one."""
    ns, nip, ndev, hip, hmac = neighbour
    s = make_scope(api, f"rt-{uniq}")
    subprocess.run(in_netns(ns, "ip", "route", "add", s["subnet"], "via", hip), check=True)
    cid = web(api, rootfs, f"rsrv-{uniq}", s["name"],
              ports=[{"container_port": 80, "host_port": 18082}])

    def published():
        r = subprocess.run(in_netns(ns, "curl", "-s", "-m", "2",
                                    f"http://{hip}:18082/index.html"),
                           capture_output=True, text=True)
        return f"content-of-rsrv-{uniq}" in r.stdout
    wait_until(published, what="published port from the neighbour")
    r = subprocess.run(in_netns(ns, "curl", "-s", "-m", "2",
                                f"http://{ip_of(api, cid)}:80/index.html"),
                       capture_output=True, text=True)
    api.remove(cid, force=True)
    assert r.returncode != 0 and "content-of" not in r.stdout, r.stdout


def test_internal_first_scope_cannot_publish(api, rootfs, uniq):
    internal = make_scope(api, f"ip-{uniq}", internal=True)["name"]
    other = make_scope(api, f"ipo-{uniq}")["name"]
    for nets in ([{"scope": internal}], [{"scope": internal}, {"scope": other}]):
        body = api.create_body(rootfs, ["true"])
        body.update(networks=nets, ports=[{"container_port": 80, "host_port": 18083}])
        r = api.create_raw(body)
        assert r.status == 400 and "internal" in r.json["message"], r.body
    # nor can a handle make the internal scope the first one of a publishing container
    cid = create(api, rootfs, ["true"], networks=[{"scope": other}, {"scope": internal}],
                 ports=[{"container_port": 80, "host_port": 18083}])
    h = api.get(f"/containers/{cid}/handle").json["handle"]
    r = api.post(f"/handles/{h}/network", {"action": "disconnect", "scope": other})
    if r.status in (200, 201):
        r = api.post(f"/handles/{r.json['handle']}/commit")
    assert r.status == 400 and "internal" in r.json["message"], r.body
    assert [e["scope"] for e in api.inspect(cid)["network"]["endpoints"]] == [other, internal]
    api.remove(cid)


def test_two_scopes_two_nameservers(api, rootfs, uniq):
    a = make_scope(api, f"ns1-{uniq}")
    b = make_scope(api, f"ns2-{uniq}")
    code, out, _ = run_in(api, rootfs, "cat /etc/resolv.conf",
                          networks=[{"scope": a["name"]}, {"scope": b["name"]}])
    assert code == 0
    lines = [l for l in out.splitlines() if l.startswith("nameserver")]
    assert lines == [f"nameserver {a['gateway']}", f"nameserver {b['gateway']}"], out


def test_network_change_while_running(api, rootfs, uniq):
    """A running container takes a network live (test_netlive.py has more); while it runs
    only its last network can go."""
    a = make_scope(api, f"hr-{uniq}")
    b = make_scope(api, f"hr2-{uniq}")
    cid = create(api, rootfs, ["sleep", "60"], networks=[{"scope": a["name"]}])
    api.start(cid)
    h = api.get(f"/containers/{cid}/handle").json["handle"]
    r = api.post(f"/handles/{h}/network", {"action": "connect", "scope": b["name"]})
    assert r.status in (200, 201), r.body
    r = api.post(f"/handles/{r.json['handle']}/commit")
    assert r.status in (200, 204), r.body
    assert [e["scope"] for e in api.inspect(cid)["network"]["endpoints"]] == \
        [a["name"], b["name"]]
    before = api.inspect(cid)["network"]
    h = api.get(f"/containers/{cid}/handle").json["handle"]
    r = api.post(f"/handles/{h}/network", {"action": "disconnect", "scope": a["name"]})
    if r.status in (200, 201):
        r = api.post(f"/handles/{r.json['handle']}/commit")
    assert r.status == 409 and "running" in r.json["message"], r.body
    assert api.inspect(cid)["network"] == before
    api.remove(cid, force=True)


FAKE_NFT = """#!/bin/sh
if [ -e {flag} ]; then echo "injected nft failure" >&2; exit 1; fi
exec {real} "$@"
"""


def test_rule_writes_fail_closed(binaries, rootfs, monkeypatch):
    """nft failing (here: a wrapper in PATH that fails while a flag file exists): fatal at
    daemon start; a network create fails and creates nothing; a container start is refused
    while the table is stale; the error shows on the networks; a retry lands once nft
    works again."""
    netns = f"pltest-nft-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    tmp = tempfile.mkdtemp(prefix="pl-it-net-nft-")
    try:
        bindir, flag = os.path.join(tmp, "bin"), os.path.join(tmp, "nft-fails")
        os.mkdir(bindir)
        with open(os.path.join(bindir, "nft"), "w") as f:
            f.write(FAKE_NFT.format(flag=flag, real=shutil.which("nft")))
        os.chmod(os.path.join(bindir, "nft"), 0o755)
        monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
        open(flag, "w").close()
        bad = subprocess.run(["nsenter", f"--net=/run/netns/{netns}", "--", str(PORTLAYERD),
                              "--root", f"{tmp}/bad", "--run-dir", f"{tmp}/badrun",
                              "--socket", f"{tmp}/bad.sock"],
                             capture_output=True, text=True, timeout=DEADLINE)
        assert bad.returncode != 0, bad.stdout + bad.stderr
        assert "injected nft failure" in bad.stdout + bad.stderr
        # no nft at all: fatal too, and said so
        bad = subprocess.run([shutil.which("nsenter"), f"--net=/run/netns/{netns}", "--",
                              str(PORTLAYERD), "--root", f"{tmp}/bad2",
                              "--run-dir", f"{tmp}/bad2run", "--socket", f"{tmp}/bad2.sock"],
                             capture_output=True, text=True, timeout=DEADLINE,
                             env={**os.environ, "PATH": os.path.join(tmp, "empty")})
        assert bad.returncode != 0, bad.stdout + bad.stderr
        assert "nft: not found in PATH" in bad.stdout + bad.stderr
        os.unlink(flag)
        d = NetnsDaemon(tmp, netns).start()
        try:
            api = d.api
            cid = create(api, rootfs, ["true"], networks=[{"scope": "bridge"}])
            open(flag, "w").close()
            r = api.post("/networks", {"name": "isol", "internal": True,
                                       "subnet": "10.77.0.0/24"})
            assert r.status == 500 and "injected nft failure" in r.json["message"], r.body
            assert api.get("/networks/isol").status == 404
            assert "injected nft failure" in api.get("/networks/bridge").json["rules_error"]
            r = api.post(f"/containers/{cid}/start")
            assert r.status == 500 and "injected nft failure" in r.json["message"], r.body
            assert api.state(cid)["status"] != "running"
            os.unlink(flag)
            wait_until(lambda: "rules_error" not in api.get("/networks/bridge").json,
                       what="the retried write lands")
            api.start(cid)
            assert api.wait(cid).get("exit_code") == 0
            r = api.post("/networks", {"name": "isol", "internal": True,
                                       "subnet": "10.77.0.0/24"})
            assert r.status == 201, r.body
        finally:
            problems = finish_daemon(d)
            assert not problems, problems
    finally:
        subprocess.run(["ip", "netns", "del", netns])
        shutil.rmtree(tmp, ignore_errors=True)


def test_name_wins_over_id_prefix(api, uniq):
    a = make_scope(api, f"idp-{uniq}")
    name = a["id"][:12]
    b = make_scope(api, name)
    assert b["name"] == name
    assert api.get(f"/networks/{name}").json["name"] == name
    assert api.get(f"/networks/{a['id'][:13]}").json["name"] == a["name"]


def test_symlinked_etc_on_a_read_only_root(api, rootfs, uniq, tmp_path):
    """An image whose /etc is a symlink (resolving inside the root) starts, and a symlinked
    /etc/hosts is replaced with the container's, on a read-only root."""
    s = make_scope(api, f"sl-{uniq}")["name"]
    root = tmp_path / "root"
    shutil.copytree(rootfs, root, symlinks=True)
    os.makedirs(root / "private")
    os.rename(root / "etc", root / "private" / "etc")
    os.symlink("/private/etc", root / "etc")
    with open(root / "private" / "etc" / "hosts.image", "w") as f:
        f.write("10.9.9.9 from-the-image\n")
    os.symlink("hosts.image", root / "private" / "etc" / "hosts")
    body = api.create_body(str(root), ["sh", "-c", "cat /etc/hosts /etc/resolv.conf"],
                           name=f"sl-{uniq}")
    body.update(networks=[{"scope": s}], security={"read_only_rootfs": True})
    r = api.create_raw(body)
    assert r.status == 201, r.body
    cid = r.json["id"]
    api.start(cid)
    assert api.wait(cid).get("exit_code") == 0
    out, _ = api.output(cid)
    assert f"sl-{uniq}" in out and "from-the-image" not in out and "nameserver" in out, out


def test_user_bind_mount_on_resolv_conf_wins(api, rootfs, uniq, tmp_path):
    s = make_scope(api, f"bm-{uniq}")["name"]
    mine = tmp_path / "resolv.conf"
    mine.write_text("nameserver 10.1.2.3\n")
    hosts = tmp_path / "hosts"
    hosts.write_text("10.4.5.6 mine\n")
    for ro in (False, True):
        body = api.create_body(rootfs, ["cat", "/etc/resolv.conf", "/etc/hosts"])
        body.update(networks=[{"scope": s}], security={"read_only_rootfs": ro},
                    mounts=[{"type": "bind", "source": str(mine), "target": "/etc/resolv.conf"},
                            {"type": "bind", "source": str(hosts), "target": "/etc/hosts"}])
        r = api.create_raw(body)
        assert r.status == 201, r.body
        api.start(r.json["id"])
        assert api.wait(r.json["id"]).get("exit_code") == 0, api.output(r.json["id"])
        out, _ = api.output(r.json["id"])
        assert out == "nameserver 10.1.2.3\n10.4.5.6 mine\n", out


def test_handle_connect_is_validated_by_the_mechanism(api, rootfs, uniq, daemon):
    """A vm container refuses external scopes at create; a handle's connect is refused at
    commit the same way, not at the next start (nothing boots here). A bridge scope is fine."""
    body = api.create_body(rootfs, ["true"], isolation={"kernel": "dedicated"})
    r = api.create_raw(body)
    if r.status != 201:
        pytest.skip(f"vm mechanism unavailable here: {r.body!r}")
    cid = r.json["id"]
    parent = f"hv{os.getpid() % 100000}"
    host(daemon, "ip", "link", "add", parent, "type", "veth", "peer", "name", parent + "p",
         check=True)
    try:
        ext = make_scope(api, f"hx-{uniq}", driver="external", parent=parent,
                         subnet="10.202.0.0/24")
        h = api.get(f"/containers/{cid}/handle").json["handle"]
        r = api.post(f"/handles/{h}/network", {"action": "connect", "scope": ext["name"]})
        assert r.status in (200, 201), r.body
        r = api.post(f"/handles/{r.json['handle']}/commit")
        assert r.status == 400 and "external" in r.json["message"], r.body
        assert api.inspect(cid)["network"]["endpoints"] == []
        h = api.get(f"/containers/{cid}/handle").json["handle"]
        r = api.post(f"/handles/{h}/network", {"action": "connect", "scope": "bridge"})
        r = api.post(f"/handles/{r.json['handle']}/commit")
        assert r.status in (200, 204), r.body
        assert [e["scope"] for e in api.inspect(cid)["network"]["endpoints"]] == ["bridge"]
        api.remove(cid)
        api.delete(f"/networks/{ext['name']}")
    finally:
        host(daemon, "ip", "link", "del", parent)


def test_names_of_every_scope_a_container_is_on(api, rootfs, uniq):
    """A container on scopes A and B resolves B's containers although its first nameserver
    is A's responder (as with Docker's embedded server); a container only on A does not."""
    sa = make_scope(api, f"ma-{uniq}")
    a, b = sa["name"], make_scope(api, f"mb-{uniq}")["name"]
    ip = ip_of(api, web(api, rootfs, f"onb-{uniq}", b))
    # asked of A's responder itself (a resolver may move on to B's after a failure)
    code, out, _ = run_in(api, rootfs, f"nslookup onb-{uniq} {sa['gateway']}; echo rc=$?",
                          networks=[{"scope": a}, {"scope": b}])
    assert f"Address: {ip}" in out, out
    code, out, _ = run_in(api, rootfs, f"nslookup onb-{uniq} {sa['gateway']}; echo rc=$?",
                          scope=a)
    assert ip not in out, out


def test_subnets_checked_against_reserved_ranges_and_host(api, daemon, uniq):
    # issue 13 bug 5: reserved ranges and subnets the host already reaches are refused
    for subnet in ["127.0.0.0/8", "127.5.0.0/16", "0.0.0.0/8", "169.254.0.0/16",
                   "240.0.0.0/4", "100.64.0.0/10", "100.100.0.0/24", "224.0.0.0/24"]:
        r = api.post("/networks", {"name": f"rsv-{uniq}", "subnet": subnet})
        assert r.status == 400, (subnet, r.status, r.body)
    dev = f"hd{os.getpid() % 100000}"
    host(daemon, "ip", "link", "add", dev, "type", "veth", "peer", "name", dev + "p",
         check=True)
    try:
        host(daemon, "ip", "addr", "add", "10.252.1.1/24", "dev", dev, check=True)
        host(daemon, "ip", "link", "set", dev, "up", check=True)
        host(daemon, "ip", "route", "add", "10.253.0.0/16", "dev", dev, check=True)
        for subnet in ["10.252.1.0/24", "10.252.0.0/16", "10.253.4.0/24"]:
            r = api.post("/networks", {"name": f"hn-{uniq}", "subnet": subnet})
            assert r.status == 409, (subnet, r.status, r.body)
            assert dev in r.message
        # a neighbouring subnet is fine
        s = make_scope(api, f"ok-{uniq}", subnet="10.254.9.0/24")
        assert api.delete(f"/networks/{s['name']}").status == 204
    finally:
        host(daemon, "ip", "link", "del", dev)
