# SPDX-License-Identifier: Apache-2.0
"""pl-dockerd: volume sizes in docker system df (the port layer's GET /volumes?size=1),
docker network create -o driver options, and volume/network events in docker events.
Each test checks what the docker CLI shows."""

import json
import time

from docker_fixture import docker  # noqa: F401  (the fixture)

# 1 MiB, a hard link to it (counted once) and 3 bytes in a subdirectory
FILL = ("dd if=/dev/zero of=/v/f bs=1024 count=1024 2>/dev/null; ln /v/f /v/g;"
        " mkdir /v/d; printf abc > /v/d/x")
FILL_BYTES = 1024 * 1024 + 3


def test_volume_size_in_system_df(docker, api, uniq):
    vol, empty = uniq + "-sz", uniq + "-sz0"
    docker.run("volume", "create", vol)
    docker.run("volume", "create", empty)
    docker.run("run", "--rm", "-v", f"{vol}:/v", "busybox", "sh", "-c", FILL)
    # the port layer computes it on request
    r = api.get("/volumes?size=1")
    assert r.status == 200
    sizes = {v["name"]: v["size"] for v in r.json}
    assert sizes[vol] == FILL_BYTES and sizes[empty] == 0
    assert "size" not in api.get(f"/volumes/{vol}").json
    assert api.get(f"/volumes/{vol}?size=1").json["size"] == FILL_BYTES
    # docker system df -v: one line per volume, Docker's human size
    out = docker.out("system", "df", "-v")
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert rows[vol][-1] == "1.049MB", out
    assert rows[empty][-1] == "0B", out
    # the summary line adds them up (no container uses them: all reclaimable)
    df = docker.out("system", "df", "--format", "{{json .}}")
    local = [json.loads(x) for x in df.splitlines() if json.loads(x)["Type"] == "Local Volumes"]
    assert local and local[0]["Size"] != "0B", df
    docker.run("volume", "rm", vol, empty)


def short(uniq):
    """A name Docker accepts for networks: "n" + the unique tail of the test's name."""
    return "n" + uniq.split("-", 1)[1]


def test_network_create_driver_options(docker, api, uniq):
    net = short(uniq) + "-o"
    br = "plt" + uniq.rsplit("-", 2)[1][-5:] + uniq.rsplit("-", 1)[1]
    docker.run("network", "create", "-o", f"com.docker.network.bridge.name={br}",
               "-o", "com.docker.network.driver.mtu=1400",
               "-o", "com.docker.network.bridge.enable_ip_masquerade=false",
               "-o", "com.docker.network.bridge.enable_icc=true", net)
    # the port layer made that bridge, with that MTU and no NAT
    pl = api.get(f"/networks/{net}").json
    assert pl["device"] == br and pl["mtu"] == 1400 and pl["masquerade"] is False, pl
    opts = json.loads(docker.out("network", "inspect", "-f", "{{json .Options}}", net))
    assert opts["com.docker.network.bridge.name"] == br
    assert opts["com.docker.network.driver.mtu"] == "1400"
    # the container's interface has the MTU
    assert docker.out("run", "--rm", "--network", net, "busybox", "cat",
                      "/sys/class/net/eth0/mtu").strip() == "1400"
    # the same bridge name again: refused, nothing made
    p = docker.run("network", "create", "-o", f"com.docker.network.bridge.name={br}",
                   net + "2", check=False)
    assert p.returncode != 0 and "already exists" in p.stderr, p.stderr
    # bad values and options the port layer does not have: Docker's 400, nothing made
    for opt, says in [("com.docker.network.driver.mtu=abc", "invalid MTU"),
                      ("com.docker.network.driver.mtu=20", "invalid MTU"),
                      ("com.docker.network.bridge.enable_ip_masquerade=maybe", "boolean"),
                      ("com.docker.network.bridge.enable_icc=false", "not supported"),
                      ("com.docker.network.bridge.host_binding_ipv4=1.2.3.4",
                       "not supported"),
                      (f"com.docker.network.bridge.name={'x' * 16}", "bridge")]:
        p = docker.run("network", "create", "-o", opt, net + "3", check=False)
        assert p.returncode != 0 and says in p.stderr, (opt, p.stderr)
    names = docker.out("network", "ls", "--format", "{{.Name}}").split()
    assert net in names and net + "2" not in names and net + "3" not in names
    docker.run("network", "rm", net)
    assert api.get(f"/networks/{net}").status == 404


def test_volume_and_network_events(docker, uniq):
    vol, net, ctr = uniq + "-evv", short(uniq) + "-evn", uniq + "-evc"
    since = str(time.time() - 1)
    docker.run("volume", "create", vol)
    docker.run("network", "create", net)
    docker.run("run", "-d", "--name", ctr, "busybox", "sleep", "1000")
    cid = docker.out("inspect", "-f", "{{.Id}}", ctr).strip()
    nid = docker.out("network", "inspect", "-f", "{{.Id}}", net).strip()
    docker.run("network", "connect", net, ctr)
    docker.run("network", "disconnect", net, ctr)
    docker.run("network", "rm", net)
    docker.run("volume", "rm", vol)
    until = str(time.time() + 1)

    def events(*f, fmt="{{.Type}} {{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}"):
        args = ["events", "--since", since, "--until", until, "--format", fmt]
        for x in f:
            args += ["--filter", x]
        return docker.out(*args).splitlines()
    assert events("type=volume", f"volume={vol}") == [
        f"volume create {vol} <no value>", f"volume destroy {vol} <no value>"]
    assert events("type=volume", f"volume={vol}", fmt="{{.Actor.Attributes.driver}}") == \
        ["local", "local"]
    assert events("type=network", f"network={nid}") == [
        f"network create {nid} {net}", f"network connect {nid} {net}",
        f"network disconnect {nid} {net}", f"network destroy {nid} {net}"]
    # by name too, and connect/disconnect name the container
    assert events("type=network", f"network={net}", "event=connect", "event=disconnect",
                  fmt="{{.Action}} {{.Actor.Attributes.container}} "
                      "{{.Actor.Attributes.type}}") == [
        f"connect {cid} bridge", f"disconnect {cid} bridge"]
    docker.run("rm", "-f", ctr)
