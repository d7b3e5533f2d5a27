# SPDX-License-Identifier: Apache-2.0
"""Pods: containers sharing another container's network, IPC and pid namespaces (or the
host's), as a Kubernetes sandbox and its containers do through cri-dockerd."""

import os

from conftest import wait_until


def body(api, rootfs, script, name=None, **kw):
    b = api.create_body(rootfs, ["sh", "-c", script], name=name)
    b.update(kw)
    return b


def create(api, b):
    r = api.create_raw(b)
    assert r.status == 201, f"create: {r.status} {r.body!r}"
    return r.json["id"]


def run(api, b):
    cid = create(api, b)
    api.start(cid)
    w = api.wait(cid)
    out, err = api.output(cid)
    return w.get("exit_code"), out, err


def sandbox(api, rootfs, name, script="exec sleep 1000", **kw):
    cid = create(api, body(api, rootfs, script, name=name, **kw))
    api.start(cid)
    api.wait_status(cid, "running")
    return cid


def test_shared_network_reaches_loopback_listener(api, rootfs, uniq):
    """One member listens on 127.0.0.1 only; the other reaches it: one network namespace."""
    sb = sandbox(api, rootfs, f"sb-{uniq}", network_mode="none",
                 script="mkdir -p /www && echo pod-says-hi > /www/index.html && "
                        "exec httpd -f -p 127.0.0.1:8080 -h /www")
    code, out, err = run(api, body(
        api, rootfs,
        "for i in $(seq 100); do wget -q -O- http://127.0.0.1:8080/ && exit 0; "
        "sleep 0.1; done; exit 1",
        network_mode=f"container:sb-{uniq}"))
    assert code == 0, err
    assert "pod-says-hi" in out
    # inspect shows the reference resolved to the full id
    j = create(api, body(api, rootfs, "true", network_mode=f"container:{sb[:12]}"))
    assert api.inspect(j)["config"]["network_mode"] == f"container:{sb}"


def test_shared_network_of_a_bridged_sandbox(api, rootfs, uniq):
    """The joiner has the sandbox's interface and address, and its /etc/hosts."""
    sb = sandbox(api, rootfs, f"sbb-{uniq}", networks=[{"scope": "bridge",
                                                        "aliases": ["pod-alias"]}])
    ip = api.inspect(sb)["network"]["endpoints"][0]["ip"]
    code, out, err = run(api, body(api, rootfs, "ip -4 addr show eth0; cat /etc/hosts",
                                   network_mode=f"container:{sb}"))
    assert code == 0, err
    assert ip in out
    assert "pod-alias" in out and f"sbb-{uniq}" in out


def test_shared_ipc(api, rootfs, uniq):
    """Same IPC namespace and the same /dev/shm (POSIX shared memory)."""
    other = sandbox(api, rootfs, f"ipcp-{uniq}")
    sb = sandbox(api, rootfs, f"ipc-{uniq}", ipc_mode="shareable",
                 script="echo from-the-sandbox > /dev/shm/token && "
                        "readlink /proc/self/ns/ipc > /dev/shm/ns && exec sleep 1000")
    wait_until(lambda: run(api, body(api, rootfs, "cat /dev/shm/ns",
                                     ipc_mode=f"container:{sb}"))[1].strip(),
               what="the sandbox wrote /dev/shm")
    code, out, err = run(api, body(
        api, rootfs,
        "cat /dev/shm/token; [ \"$(readlink /proc/self/ns/ipc)\" = \"$(cat /dev/shm/ns)\" ] "
        "&& echo same-ipc-ns; echo from-the-member > /dev/shm/back",
        ipc_mode=f"container:{sb}"))
    assert code == 0, err
    assert "from-the-sandbox" in out and "same-ipc-ns" in out
    # joining a container that is not shareable is refused, as in Docker
    r = api.create_raw(body(api, rootfs, "true", ipc_mode=f"container:{other}"))
    assert r.status == 400 and "shareable" in r.message, r.body
    # a private one sees neither
    code, out, err = run(api, body(api, rootfs,
                                   "ls /dev/shm; readlink /proc/self/ns/ipc"))
    assert "token" not in out
    # and the sandbox sees what the member wrote
    r = api.post(f"/containers/{sb}/exec", {"args": ["cat", "/dev/shm/back"]})
    assert r.status in (200, 201), r.body


def test_shared_pid_namespace(api, rootfs, uniq):
    sb = sandbox(api, rootfs, f"pid-{uniq}", script="exec sleep 4242")
    code, out, err = run(api, body(api, rootfs, "ps -o args", pid_mode=f"container:{sb}"))
    assert code == 0, err
    assert "sleep 4242" in out
    code, out, err = run(api, body(api, rootfs, "ps -o args"))
    assert "sleep 4242" not in out


def test_host_uts_and_pid(api, rootfs):
    code, out, err = run(api, body(api, rootfs, "hostname", uts_mode="host"))
    assert code == 0, err
    assert out.strip() == os.uname().nodename
    code, out, err = run(api, body(api, rootfs, "ls /proc | grep -c '^[0-9]'",
                                   pid_mode="host"))
    assert code == 0, err
    assert int(out.strip()) > 3  # the host's processes, not just sh and tether


def test_joiner_of_a_stopped_target_is_a_conflict(api, rootfs, uniq):
    target = create(api, body(api, rootfs, "sleep 1000", name=f"idle-{uniq}",
                              ipc_mode="shareable"))
    for field in ("network_mode", "ipc_mode", "pid_mode"):
        j = create(api, body(api, rootfs, "true", **{field: f"container:idle-{uniq}"}))
        r = api.post(f"/containers/{j}/start")
        assert r.status == 409, (field, r.status, r.body)
        assert field in r.message and target[:12] in r.message and "not running" in r.message
    r = api.create_raw(body(api, rootfs, "true", network_mode="container:no-such-one"))
    assert r.status == 404, r.body


def test_target_removal_refused_while_joiners_run(api, rootfs, uniq):
    sb = sandbox(api, rootfs, f"rm-{uniq}", network_mode="none", ipc_mode="shareable")
    member = sandbox(api, rootfs, None, network_mode=f"container:{sb}",
                     ipc_mode=f"container:{sb}")
    api.stop(sb, timeout=0)
    api.wait_status(sb, ("exited", "stopped"))
    r = api.remove(sb)
    assert r.status == 409, r.body
    assert member[:12] in r.message
    api.stop(member, timeout=0)
    api.wait_status(member, ("exited", "stopped"))
    assert api.remove(sb).status == 204
    # forced: allowed while they run
    sb2 = sandbox(api, rootfs, f"rm2-{uniq}", network_mode="none")
    sandbox(api, rootfs, None, network_mode=f"container:{sb2}")
    assert api.remove(sb2, force=True).status == 204


def test_dedicated_kernel_refuses_sharing(api, rootfs, uniq):
    sb = create(api, body(api, rootfs, "sleep 1000", name=f"vmt-{uniq}"))
    for field, value in (("network_mode", f"container:{sb}"), ("ipc_mode", "host"),
                         ("pid_mode", f"container:{sb}"), ("uts_mode", "host"),
                         ("ipc_mode", f"container:{sb}")):
        b = body(api, rootfs, "true", **{field: value})
        b["isolation"] = {"kernel": "dedicated"}
        r = api.create_raw(b)
        assert r.status == 400, (field, r.status, r.body)
        assert field in r.message


def test_remapped_target_refuses_sharing(api, rootfs, uniq):
    """A remapped domain's namespaces are owned by its user namespace, whose root has every
    capability over them: a joiner running as the host's root may not enter them."""
    b = body(api, rootfs, "sleep 1000", name=f"rmp-{uniq}")
    b["security"] = {"userns": {"mode": "remap"}}
    sb = create(api, b)
    for field in ("network_mode", "pid_mode"):
        r = api.create_raw(body(api, rootfs, "true", **{field: f"container:{sb}"}))
        assert r.status == 400, (field, r.status, r.body)
        assert field in r.message and "user namespace" in r.message, r.message


def test_invalid_modes(api, rootfs):
    for bad in ({"ipc_mode": "shared"}, {"pid_mode": "shareable"}, {"uts_mode": "container:x"},
                {"network_mode": "container:"}, {"ipc_mode": "container:bad name"},
                {"pid_mode": 3}):
        r = api.create_raw(body(api, rootfs, "true", **bad))
        assert r.status == 400, (bad, r.status, r.body)
