# SPDX-License-Identifier: Apache-2.0
"""The Docker SDK for Python (Debian's python3-docker) against pl-dockerd + portlayerd."""

import pytest

from docker_fixture import docker  # noqa: F401  (the fixture)

sdk = pytest.importorskip("docker", reason="python3-docker is not installed")


@pytest.fixture(scope="module")
def client(docker):
    c = sdk.DockerClient(base_url=docker.host, timeout=60)
    yield c
    c.close()


def test_ping_version(client):
    assert client.ping() is True
    assert client.version()["ApiVersion"] == "1.43"


def test_images(client):
    tags = [t for im in client.images.list() for t in im.tags]
    assert "busybox:latest" in tags
    assert client.images.get("busybox").attrs["Config"]["Cmd"] == ["sh"]


def test_run_collects_output(client, uniq):
    out = client.containers.run("busybox", ["sh", "-c", "echo sdk-out"], name=uniq,
                                remove=True)
    assert out == b"sdk-out\n"
    assert uniq not in [c.name for c in client.containers.list(all=True)]


def test_detached_lifecycle(client, uniq):
    c = client.containers.run("busybox", ["sh", "-c", "echo ready; sleep 1000"], name=uniq,
                              detach=True, labels={"sdk": "yes"}, environment={"K": "V"})
    assert c.id in [x.id for x in client.containers.list(filters={"label": "sdk=yes"})]
    got = client.containers.get(uniq)
    assert got.status == "running" and got.labels["sdk"] == "yes"
    code, out = got.exec_run(["sh", "-c", "echo $K; exit 4"], environment={"K": "exec"})
    assert (code, out) == (4, b"exec\n")
    got.stop(timeout=1)
    got.reload()
    assert got.status == "exited"
    assert b"ready" in got.logs()
    got.remove()
    assert uniq not in [x.name for x in client.containers.list(all=True)]


def test_volumes_and_networks(client, uniq):
    v = client.volumes.create(uniq + "-v")
    assert v.name in [x.name for x in client.volumes.list()]
    v.remove()
    assert uniq + "-v" not in [x.name for x in client.volumes.list()]
    assert "bridge" in [n.name for n in client.networks.list()]
