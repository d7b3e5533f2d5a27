# SPDX-License-Identifier: Apache-2.0
"""pl-dockerd on the port layer's engine primitives (issue 17): names (--dns, --add-host,
--domainname), ps through the port layer's filters and summaries, shared namespaces
(--network/--ipc/--pid container:, --uts host), host resources (--cgroup-parent, --device,
--shm-size, --group-add), LogPath, live network connect/disconnect, docker save and
RepoDigests, volume and network labels; and the commands added with them: cp, commit
--change, system df, prunes. Each test checks what the docker CLI shows."""

import io
import json
import os
import subprocess
import tarfile

import pytest

from conftest import DEADLINE, wait_until
from docker_fixture import DOCKER, docker  # noqa: F401  (the fixture)


def short(uniq):
    """A name Docker accepts for networks: "n" + the unique tail of the test's name."""
    return "n" + uniq.split("-", 1)[1]


def test_dns_search_options_add_host_domainname(docker, uniq):
    out = docker.out("run", "--rm", "--network", "bridge", "--dns", "10.9.8.7",
                     "--dns-search", "example.test", "--dns-option", "ndots:3",
                     "--add-host", "db.internal:10.1.2.3", "--hostname", "h1",
                     "--domainname", "dom.test", "busybox", "sh", "-c",
                     "cat /etc/resolv.conf; echo ---; cat /etc/hosts; echo ---;"
                     " hostname; cat /proc/sys/kernel/domainname")
    resolv, hosts, names = out.split("---\n")
    assert "nameserver 10.9.8.7" in resolv
    assert "search example.test" in resolv
    assert "options ndots:3" in resolv
    assert any(line.split()[:2] == ["10.1.2.3", "db.internal"] for line in hosts.splitlines())
    assert names.split() == ["h1", "dom.test"]


def test_ps_filters_and_summaries(docker, uniq):
    a, b, c = uniq + "-a", uniq + "-b", uniq + "-c"
    docker.run("run", "-d", "--name", a, "--label", "tier=web", "busybox", "sleep", "1000")
    docker.run("run", "-d", "--name", b, "--label", "tier=db", "busybox", "sleep", "1000")
    docker.run("run", "--name", c, "--label", "tier=web", "busybox", "sh", "-c", "exit 3",
               check=False)

    def ps(*args):
        return docker.out("ps", "--format", "{{.Names}}", "--filter", f"name={uniq}",
                          *args).split()
    assert sorted(ps()) == sorted([a, b])
    assert sorted(ps("-a")) == sorted([a, b, c])
    assert sorted(ps("-a", "--filter", "label=tier=web")) == sorted([a, c])
    assert ps("--filter", "status=exited") == [c]
    assert ps("-a", "--filter", "exited=3") == [c]
    assert ps("-a", "--filter", "ancestor=busybox", "--filter", "label=tier=db") == [b]
    line = docker.out("ps", "-a", "--filter", f"name={c}", "--format",
                      "{{.Image}}|{{.Command}}|{{.Status}}|{{.Labels}}")
    image, command, status, labels = line.strip().split("|")
    assert image == "busybox"
    assert "exit 3" in command
    assert status.startswith("Exited (3)")
    assert "tier=web" in labels
    # newest first, and -n/-l count every state
    assert docker.out("ps", "-l", "--format", "{{.Names}}").split() == [c]
    assert ps("-a", "--filter", f"before={c}") == [b, a]
    assert ps("-a", "--filter", f"since={a}") == [c, b]
    # an unknown filter is Docker's error
    p = docker.run("ps", "--filter", "bogus=1", check=False)
    assert p.returncode != 0 and "invalid filter" in p.stderr
    docker.run("rm", "-f", a, b, c)


def test_shared_namespaces(docker, uniq):
    pod = uniq + "-pod"
    docker.run("run", "-d", "--name", pod, "--network", "bridge", "busybox", "sh", "-c",
               "echo shared > /dev/shm/mark; exec sleep 1000")
    # Docker's default IPC mode is shareable: another container may join it
    assert docker.out("inspect", "-f", "{{.HostConfig.IpcMode}}", pod).strip() == "shareable"
    pod_ip = docker.out("inspect", "-f", "{{.NetworkSettings.IPAddress}}", pod).strip()
    out = docker.out("run", "--rm", "--network", f"container:{pod}", "--ipc",
                     f"container:{pod}", "--pid", f"container:{pod}", "busybox", "sh", "-c",
                     "ip -4 addr show eth0; cat /dev/shm/mark; ps -o args")
    assert f"inet {pod_ip}/" in out
    assert "shared" in out
    assert "sleep 1000" in out  # the pod's process, seen through its pid namespace
    host_uts = os.uname().nodename
    assert docker.out("run", "--rm", "--uts", "host", "busybox", "hostname").strip() == host_uts
    assert docker.out("run", "--rm", "--pid", "host", "busybox", "sh", "-c",
                      "test -d /proc/1 && cat /proc/1/comm").strip() != "sh"
    docker.run("rm", "-f", pod)


def test_host_resources_and_log_path(docker, uniq):
    name = uniq + "-res"
    cg = f"/pl-dockerd-test-{uniq[-8:]}"
    docker.run("run", "-d", "--name", name, "--cgroup-parent", cg, "--device",
               "/dev/null:/dev/mynull:rw", "--shm-size", "8m", "--group-add", "1234",
               "busybox", "sleep", "1000")
    cid = docker.out("inspect", "-f", "{{.Id}}", name).strip()
    # the container's cgroups sit under the parent, seen from the host
    under = [os.path.join(root, d) for root, dirs, _ in os.walk(f"/sys/fs/cgroup/pids{cg}")
             for d in dirs]
    shm = docker.out("exec", name, "df", "-k", "/dev/shm").splitlines()[-1].split()
    groups = docker.out("exec", name, "id", "-G").split()
    dev = docker.out("exec", name, "sh", "-c", "echo hi > /dev/mynull && ls -l /dev/mynull")
    assert "1234" in groups
    assert int(shm[1]) == 8 * 1024
    assert dev.startswith("c")
    log_path = docker.out("inspect", "-f", "{{.LogPath}}", name).strip()
    assert log_path.startswith("/") and os.path.exists(log_path)
    docker.run("rm", "-f", name)
    assert any(cid[:12] in u for u in under), under


def test_live_network_connect_disconnect(docker, uniq):
    net = short(uniq) + "-ln"
    name = uniq + "-live"
    docker.run("network", "create", "--subnet", "10.124.0.0/24", "--label", "team=pl", net)
    assert json.loads(docker.out("network", "inspect", net))[0]["Labels"] == {"team": "pl"}
    docker.run("run", "-d", "--name", name, "--network", "bridge", "busybox", "sleep", "1000")
    docker.run("network", "connect", net, name)
    assert "inet 10.124.0." in docker.out("exec", name, "ip", "-4", "addr")
    nets = json.loads(docker.out("inspect", "-f", "{{json .NetworkSettings.Networks}}", name))
    assert net in nets
    docker.run("network", "disconnect", net, name)
    assert "inet 10.124.0." not in docker.out("exec", name, "ip", "-4", "addr")
    docker.run("rm", "-f", name)
    docker.run("network", "rm", net)


def test_volume_labels(docker, uniq):
    vol = uniq + "-lv"
    docker.run("volume", "create", "--label", "team=pl", vol)
    assert json.loads(docker.out("volume", "inspect", vol))[0]["Labels"] == {"team": "pl"}
    docker.run("volume", "rm", vol)


def test_save_load_roundtrip_and_digests(docker, uniq, tmp_path):
    tag = f"saved-{uniq[-8:]}:v1"
    docker.run("tag", "busybox", tag)
    archive = tmp_path / "saved.tar"
    docker.run("save", "-o", str(archive), tag)
    with tarfile.open(archive) as t:
        manifest = json.load(t.extractfile("manifest.json"))
    assert manifest[0]["RepoTags"] == [tag]
    image_id = docker.out("inspect", "-f", "{{.Id}}", tag).strip()
    docker.run("rmi", tag)
    docker.run("load", "-i", str(archive))
    assert docker.out("inspect", "-f", "{{.Id}}", tag).strip() == image_id
    # an image loaded from a file has no registry digest: Docker shows <none>
    digests = docker.out("images", "--digests", "--format", "{{.Repository}}:{{.Digest}}")
    assert f"saved-{uniq[-8:]}:<none>" in digests.split()
    assert json.loads(docker.out("image", "inspect", "-f", "{{json .RepoDigests}}",
                                 tag)) == []
    docker.run("rmi", tag)


def test_cp_both_ways(docker, uniq, tmp_path):
    name = uniq + "-cp"
    docker.run("run", "-d", "--name", name, "busybox", "sh", "-c",
               "mkdir -p /data && echo inside > /data/f && exec sleep 1000")
    wait_until(lambda: docker.run("exec", name, "test", "-f", "/data/f",
                                  check=False).returncode == 0)
    docker.run("cp", f"{name}:/data/f", str(tmp_path / "out"))
    assert (tmp_path / "out").read_text() == "inside\n"
    docker.run("cp", f"{name}:/data", str(tmp_path / "dir"))
    assert (tmp_path / "dir" / "f").read_text() == "inside\n"
    (tmp_path / "in").write_text("from host\n")
    docker.run("cp", str(tmp_path / "in"), f"{name}:/data/in")
    assert docker.out("exec", name, "cat", "/data/in") == "from host\n"
    # a stopped container too
    docker.run("stop", "-t", "0", name)
    (tmp_path / "in2").write_text("stopped\n")
    docker.run("cp", str(tmp_path / "in2"), f"{name}:/data/")
    docker.run("cp", f"{name}:/data/in2", str(tmp_path / "back"))
    assert (tmp_path / "back").read_text() == "stopped\n"
    p = docker.run("cp", f"{name}:/nonexistent", str(tmp_path / "x"), check=False)
    assert p.returncode != 0 and "Could not find the file" in p.stderr
    docker.run("rm", "-f", name)


def test_commit_with_changes(docker, uniq):
    name = uniq + "-cm"
    image = f"committed-{uniq[-8:]}:v2"
    docker.run("run", "--name", name, "busybox", "sh", "-c", "echo layer > /made")
    docker.run("commit", "--change", 'CMD ["cat", "/made"]', "--change", "ENV A=1 B=two",
               "--change", "LABEL made=here", "--change", "WORKDIR /tmp", name, image)
    assert docker.out("run", "--rm", image) == "layer\n"
    cfg = json.loads(docker.out("image", "inspect", "-f", "{{json .Config}}", image))
    assert cfg["Cmd"] == ["cat", "/made"]
    assert "A=1" in cfg["Env"] and "B=two" in cfg["Env"]
    assert cfg["Labels"]["made"] == "here"
    assert cfg["WorkingDir"] == "/tmp"
    p = docker.run("commit", "--change", "BOGUS x", name, image, check=False)
    assert p.returncode != 0 and "BOGUS" in p.stderr
    hist = docker.out("history", "--format", "{{.ID}}", image).split()
    assert hist and docker.out("inspect", "-f", "{{.Id}}", image).strip()[7:19] in hist[0]
    docker.run("rm", name)
    docker.run("rmi", image)


def test_system_df_and_prunes(docker, uniq):
    name = uniq + "-df"
    vol = uniq + "-dfv"
    net = short(uniq) + "-pn"
    docker.run("volume", "create", vol)
    docker.run("network", "create", net)
    docker.run("create", "--name", name, "-v", f"{vol}:/v", "busybox", "true")
    df = docker.out("system", "df", "--format", "{{.Type}} {{.TotalCount}}")
    counts = dict(line.rsplit(" ", 1) for line in df.strip().splitlines())
    assert int(counts["Images"]) >= 1 and int(counts["Containers"]) >= 1
    assert int(counts["Local Volumes"]) >= 1
    # in use: the volume stays; the unused network goes
    out = docker.out("volume", "prune", "-a", "-f")
    assert vol not in out
    out = docker.out("network", "prune", "-f")
    assert net in out
    assert net not in docker.out("network", "ls", "--format", "{{.Name}}").split()
    docker.run("container", "prune", "-f")
    assert name not in docker.out("ps", "-a", "--format", "{{.Names}}").split()
    out = docker.out("volume", "prune", "-a", "-f")
    assert vol in out
    # image prune -a keeps busybox while... nothing uses it: tag a copy and prune dangling
    docker.out("image", "prune", "-f")
    assert "busybox" in docker.out("images", "--format", "{{.Repository}}").split()


def test_events_filter_label_image_volume(docker, uniq, tmp_path):
    import time
    vol = uniq + "-ev"
    since = str(time.time() - 1)
    docker.run("tag", "busybox", "evimg:x")
    # kept until the query: Docker's image filter matches the name as typed, which
    # pl-dockerd reads from the container (a removed one is matched by image id)
    docker.run("run", "--name", uniq + "-l", "--label", "evt=yes", "busybox", "true")
    docker.run("run", "--name", uniq + "-i", "evimg:x", "true")
    # an anonymous volume goes with its --rm container: a volume event
    docker.run("run", "--rm", "--name", uniq + "-v", "-v", "/anon", "busybox", "true")
    until = str(time.time() + 1)

    def events(*f):
        args = ["events", "--since", since, "--until", until, "--format",
                "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"]
        for x in f:
            args += ["--filter", x]
        return docker.out(*args).splitlines()
    by_label = events("label=evt=yes")
    assert by_label and all(line.endswith(uniq + "-l") for line in by_label), by_label
    assert "container start " + uniq + "-l" in by_label
    by_image = events("image=evimg:x", "event=start")
    # (removed containers, -v and earlier tests', are matched by image id: busybox's is
    # evimg:x's; -l, still there, by the name it was created with)
    assert [e for e in by_image if e.endswith(("-l", "-i"))] == \
        ["container start " + uniq + "-i"]
    vols = docker.out("events", "--since", since, "--until", until, "--filter", "type=volume",
                      "--format", "{{.Type}} {{.Action}} {{.Actor.ID}}").splitlines()
    assert vols and vols[-1].startswith("volume destroy "), vols
    anon = vols[-1].split()[2]
    assert docker.out("events", "--since", since, "--until", until, "--filter",
                      f"volume={anon}", "--format", "{{.Actor.ID}}").split() == [anon]
    assert docker.out("events", "--since", since, "--until", until, "--filter",
                      f"volume={vol}", "--format", "{{.Actor.ID}}").split() == []
    attrs = docker.out("events", "--since", since, "--until", until, "--filter",
                       "label=evt", "--filter", "event=create", "--format",
                       "{{json .Actor.Attributes}}")
    assert json.loads(attrs)["image"] == "busybox" and json.loads(attrs)["evt"] == "yes"
    docker.run("rm", uniq + "-l", uniq + "-i")
    docker.run("rmi", "evimg:x")


def test_import_with_changes(docker, uniq, tmp_path):
    image = f"imported-{uniq.split('-', 1)[1]}:v1"
    # a root file system: busybox's own, exported from a container, plus a file
    docker.run("create", "--name", uniq, "busybox", "true")
    rootfs = tmp_path / "rootfs.tar"
    with open(rootfs, "wb") as f:
        subprocess.run([DOCKER, "export", uniq], stdout=f, env=docker.env(), check=True,
                       timeout=DEADLINE)
    docker.run("rm", uniq)
    with tarfile.open(rootfs, "a") as t:
        data = b"imported\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    p = docker.run("import", "--change", 'CMD ["cat", "/hello.txt"]', "--message", "mine",
                   str(rootfs), image)
    assert p.stdout.strip().startswith("sha256:")
    assert docker.out("run", "--rm", image) == "imported\n"
    hist = docker.out("history", "--format", "{{.Comment}}", image)
    assert "mine" in hist
    docker.run("rmi", image)


def test_ls_filters_images_volumes_networks(docker, uniq):
    tag = f"lsf-{uniq.split('-', 1)[1]}:v1"
    vol, net = uniq + "-fv", short(uniq) + "-fn"
    docker.run("tag", "busybox", tag)
    docker.run("volume", "create", "--label", "pick=me", vol)
    docker.run("volume", "create", vol + "x")
    docker.run("network", "create", "--label", "pick=me", net)
    assert docker.out("images", "--format", "{{.Repository}}:{{.Tag}}",
                      tag.split(":")[0]).split() == [tag]
    assert docker.out("volume", "ls", "-q", "--filter", "label=pick=me").split() == [vol]
    assert sorted(docker.out("volume", "ls", "-q", "--filter", f"name={vol}").split()) == \
        sorted([vol, vol + "x"])
    assert docker.out("network", "ls", "--format", "{{.Name}}", "--filter",
                      "label=pick=me").split() == [net]
    docker.run("volume", "rm", vol, vol + "x")
    docker.run("network", "rm", net)
    docker.run("rmi", tag)


def test_ps_publish_expose_and_size(docker, uniq):
    docker.run("run", "-d", "--name", uniq, "-p", "18093:80", "busybox", "sh", "-c",
               "echo x > /grown; exec sleep 1000")

    def names(*f):
        return docker.out("ps", "--format", "{{.Names}}", "--filter", f"name={uniq}",
                          *f).split()
    assert names("--filter", "publish=18093") == [uniq]
    assert names("--filter", "publish=18093/tcp") == [uniq]
    assert names("--filter", "publish=18094") == []
    assert names("--filter", "expose=80") == [uniq]
    assert names("--filter", "expose=81") == []
    wait_until(lambda: docker.run("exec", uniq, "test", "-f", "/grown", check=False).returncode == 0)
    size = docker.out("ps", "-s", "--filter", f"name={uniq}", "--format", "{{.Size}}")
    assert size.strip().endswith(")") and "virtual" in size, size
    docker.run("rm", "-f", uniq)


def test_live_connect_with_alias(docker, uniq):
    net = short(uniq) + "-sp"
    name = uniq + "-al"
    docker.run("network", "create", net)
    docker.run("run", "-d", "--name", name, "busybox", "sleep", "1000")
    docker.run("network", "connect", "--alias", "svc-alias", net, name)
    out = docker.out("run", "--rm", "--network", net, "busybox", "nslookup", "svc-alias")
    nets = json.loads(docker.out("inspect", "-f", "{{json .NetworkSettings.Networks}}", name))
    ip = nets[net]["IPAddress"]
    assert ip and ip in out, out
    # Docker's Aliases on a user network start with the short id (compose 1.29 reads it), and
    # the name resolves on the network
    cid = docker.out("inspect", "-f", "{{.Id}}", name).strip()
    assert nets[net]["Aliases"][0] == cid[:12] and "svc-alias" in nets[net]["Aliases"], nets
    out = docker.out("run", "--rm", "--network", net, "busybox", "nslookup", cid[:12])
    assert ip in out, out
    # a second connect is Docker's 403, not a silent success
    p = docker.run("network", "connect", net, name, check=False)
    assert p.returncode != 0 and "already exists in network" in p.stderr, p
    docker.run("rm", "-f", name)
    docker.run("network", "rm", net)


def test_abandoned_idle_streams_end_at_once(docker, uniq):
    """A client that goes away from an idle stream (`logs -f` of a quiet container,
    `events`) frees the thread and port layer connection pl-dockerd held for it then, not
    at the stream's next byte."""
    from conftest import UnixHTTPConnection
    docker.run("run", "-d", "--name", uniq, "busybox", "sleep", "1000")
    tasks = f"/proc/{docker.proc.pid}/task"

    def threads():
        return set(os.listdir(tasks))
    before = threads()  # threads of earlier requests may still be ending: not counted
    streams = []
    for path in (f"/containers/{uniq}/logs?follow=1&stdout=1&stderr=1", "/events"):
        for _ in range(3):
            conn = UnixHTTPConnection(str(docker.socket), timeout=DEADLINE)
            conn.request("GET", path)
            resp = conn.getresponse()
            assert resp.status == 200, resp.read()
            streams.append((conn, resp))
    new = wait_until(lambda: (lambda t: t if len(t) >= 6 else None)(threads() - before),
                     DEADLINE, what="a thread per stream")
    for conn, resp in streams:
        resp.close()
        conn.close()
    # the six streams' threads end; another that began meanwhile (a request of an earlier
    # client's, still on its way) may live on
    wait_until(lambda: len(threads() & new) <= len(new) - len(streams), DEADLINE,
               what="the idle streams' threads to end")
    docker.run("rm", "-f", uniq)
