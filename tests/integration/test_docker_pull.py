# SPDX-License-Identifier: Apache-2.0
"""docker pull (and docker run's own pull) through pl-dockerd from a distribution registry on
the loopback of the daemon's network namespace (Docker treats 127.0.0.0/8 as insecure)."""

import shutil
import subprocess
import sys

import pytest

from conftest import REPO
from docker_fixture import docker  # noqa: F401  (the fixture)
from test_pull import Registry, in_ns


@pytest.fixture(scope="module")
def registry(docker, tmp_path_factory, rootfs):
    for tool in ("docker-registry", "skopeo", "nsenter"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed")
    daemon = docker.daemon
    in_ns(daemon, "ip", "link", "set", "lo", "up")
    work = tmp_path_factory.mktemp("docker-pull")
    archive = work / "img.tar"
    subprocess.run([sys.executable, str(REPO / "scripts" / "docker-archive.py"), rootfs,
                    "pulled:v1", str(archive), "echo", "from-the-registry"], check=True)
    reg = Registry(daemon, work, work / "storage")
    in_ns(daemon, "skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false",
          f"docker-archive:{archive}", f"docker://{reg.host}/pl/pulled:v1", timeout=120)
    yield reg
    reg.stop()


def test_pull_then_run(docker, registry):
    ref = f"{registry.host}/pl/pulled:v1"
    p = docker.run("pull", ref)
    assert ref in p.stdout
    assert ref in docker.out("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    assert docker.out("run", "--rm", ref) == "from-the-registry\n"
    docker.run("rmi", ref)


def test_run_pulls_a_missing_image(docker, registry):
    ref = f"{registry.host}/pl/pulled:v1"
    p = docker.run("run", "--rm", ref)
    assert p.stdout == "from-the-registry\n"
    assert "Unable to find image" in p.stderr
    docker.run("rmi", ref)


def test_pull_unknown_fails(docker, registry):
    p = docker.run("pull", f"{registry.host}/pl/nosuch:v1", check=False)
    assert p.returncode != 0
    assert p.stderr.strip()
