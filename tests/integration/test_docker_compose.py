# SPDX-License-Identifier: Apache-2.0
"""docker-compose 1.29 (Debian's) against pl-dockerd + portlayerd: a project with two
services, a named volume, a published port, a health-gated depends_on and its network."""

import shutil
import subprocess

import pytest

from conftest import DEADLINE, wait_until
from docker_fixture import docker  # noqa: F401  (the fixture)

COMPOSE = shutil.which("docker-compose")

PROJECT = """
version: "3.7"
services:
  web:
    image: busybox
    command: sh -c 'echo web-up > /data/marker; echo web-up; while :; do sleep 1; done'
    ports: ["18091:80"]
    volumes: ["data:/data"]
    healthcheck:
      test: ["CMD", "test", "-e", "/data/marker"]
      interval: 1s
  worker:
    image: busybox
    command: sh -c 'echo worker-up; while :; do sleep 1; done'
    depends_on:
      web: {condition: service_healthy}
volumes:
  data: {}
"""


@pytest.fixture
def compose(docker, tmp_path):
    if not COMPOSE:
        pytest.skip("docker-compose is not installed")
    (tmp_path / "docker-compose.yml").write_text(PROJECT)

    def run(*args, check=True):
        p = subprocess.run([COMPOSE, "-p", "plt", *args], cwd=tmp_path, env=docker.env(),
                           capture_output=True, text=True, timeout=DEADLINE * 2)
        if check:
            assert p.returncode == 0, f"docker-compose {args}: {p.stdout}\n{p.stderr}"
        return p

    yield run
    run("down", "-v", check=False)


def test_compose_up_ps_logs_exec_run_down(docker, compose):
    compose("up", "-d")
    ps = compose("ps").stdout
    assert "plt_web_1" in ps and "Up (healthy)" in ps and "0.0.0.0:18091->80/tcp" in ps
    assert "plt_worker_1" in ps
    wait_until(lambda: "worker-up" in compose("logs", "worker").stdout, what="worker log")
    assert "web-up" in compose("logs", "web").stdout
    assert compose("exec", "-T", "web", "cat", "/data/marker").stdout == "web-up\n"
    assert compose("run", "--rm", "worker", "echo", "run-ok").stdout.strip().endswith("run-ok")
    assert "plt_data" in docker.out("volume", "ls", "-q").split()
    assert "plt_default" in docker.out("network", "ls", "--format", "{{.Name}}").split()
    compose("down", "-v")
    assert not [n for n in docker.out("ps", "-a", "--format", "{{.Names}}").split()
                if n.startswith("plt_")]
    assert "plt_data" not in docker.out("volume", "ls", "-q").split()
    assert "plt_default" not in docker.out("network", "ls", "--format", "{{.Name}}").split()
