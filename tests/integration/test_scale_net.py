# SPDX-License-Identifier: Apache-2.0
"""What a bridge endpoint costs the host when a thousand others are there (issue 16, scale):
the host end of a container's veth is a bridge port with no IPv6 of its own (no link-local
address, DAD, MLD or routes per container in the daemon's namespace) and one queue each
way; the container's end has no IPv6 either (scopes are IPv4-only: its DAD, MLD and router
solicitations would be flooded to every other container) unless its sysctls say otherwise;
the bridge does no multicast snooping; a container from a prepared domain finds its
loopback up (brought up while the domain waited), and IPv4 works as before."""

import contextlib
import subprocess

import pytest

from conftest import DEADLINE
from test_interactive import exec_run


def on_daemon_side(daemon, *cmd):
    return subprocess.run(["nsenter", f"--net=/proc/{daemon.pid}/ns/net", "--", *cmd],
                          capture_output=True, text=True, timeout=DEADLINE, check=True).stdout


@contextlib.contextmanager
def bridge_sleeper(api, rootfs, name, **fields):
    """A running container with an endpoint on the bridge scope, removed at the end."""
    b = api.create_body(rootfs, ["sleep", "1000"], name=name)
    b["networks"] = [{"scope": "bridge"}]
    b.update(fields)
    r = api.create_raw(b)
    assert r.status == 201, r.body
    cid = r.json["id"]
    try:
        api.start(cid)
        api.wait_status(cid, "running")
        yield cid
    finally:
        assert api.remove(cid, force=True).status == 204


def test_bridge_port_without_ipv6_one_queue(daemon, api, rootfs, uniq):
    with bridge_sleeper(api, rootfs, f"{uniq}-port") as cid:
        port = f"pv{cid[:10]}0"
        assert port in on_daemon_side(daemon, "ip", "-o", "link", "show", "master", "pl0")
        assert on_daemon_side(daemon, "cat",
                              f"/proc/sys/net/ipv6/conf/{port}/disable_ipv6").strip() == "1"
        assert on_daemon_side(daemon, "ip", "-6", "-o", "addr", "show", "dev", port) == ""
        details = on_daemon_side(daemon, "ip", "-d", "-o", "link", "show", "dev", port)
        assert " numtxqueues 1 numrxqueues 1 " in details, details
        # inside: its address, a reachable bridge, and its own end's queues as the kernel
        # leaves them (one each way)
        out, err, ex = exec_run(api, cid, ["sh", "-c",
                                           "ls /sys/class/net/eth0/queues; "
                                           "cat /sys/class/net/lo/flags "
                                           "/proc/sys/net/ipv6/conf/eth0/disable_ipv6 "
                                           "/proc/sys/net/ipv6/conf/lo/disable_ipv6"])
        assert ex["exit_code"] == 0, err
        words = out.split()
        assert sorted(words[:2]) == ["rx-0", "tx-0"], out
        assert int(words[2], 16) & 1, f"lo is down: {out}"  # IFF_UP
        assert words[3:] == ["1", "0"], f"eth0 / lo disable_ipv6: {out}"
        assert " mcast_snooping 0 " in on_daemon_side(daemon, "ip", "-d", "-o", "link", "show",
                                                      "dev", "pl0")
        gw = api.inspect(cid)["network"]["endpoints"][0]["gateway"]
        out, err, ex = exec_run(api, cid, ["ping", "-c", "1", "-W", "5", gw])
        assert ex["exit_code"] == 0, (out, err)


def test_container_sysctls_keep_ipv6(api, rootfs, uniq):
    sysctls = {"net.ipv6.conf.all.disable_ipv6": "0"}
    with bridge_sleeper(api, rootfs, f"{uniq}-v6", security={"sysctls": sysctls}) as cid:
        out, err, ex = exec_run(api, cid, ["cat", "/proc/sys/net/ipv6/conf/eth0/disable_ipv6"])
        assert ex["exit_code"] == 0 and out.strip() == "0", (out, err)


# every way a domain gets its /proc/sys/net/ipv6/conf: staged ahead (above; also when the
# staged trees do not fit, a prepared domain whose /dev/shm differs), the cloned set-up (a
# host device: no prepared domain; and privileged: no read-only /proc/sys), in a user
# namespace; a pooled network namespace: test_network
@pytest.mark.parametrize("fields", [
    {"shm_size": 32 << 20},
    {"devices": [{"path_on_host": "/dev/null", "path_in_container": "/dev/pl-null"}]},
    {"security": {"privileged": True}},
    {"security": {"userns": {"mode": "remap"}}},
], ids=["take", "cloned", "privileged", "userns"])
def test_every_set_up_leaves_endpoints_without_ipv6(api, rootfs, uniq, fields):
    with bridge_sleeper(api, rootfs, f"{uniq}-v6off", **fields) as cid:
        out, err, ex = exec_run(api, cid, ["sh", "-c",
                                           "cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6; "
                                           "grep eth0 /proc/net/if_inet6 | wc -l"])
        assert ex["exit_code"] == 0, err
        assert out.split() == ["1", "0"], out
