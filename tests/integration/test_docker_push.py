# SPDX-License-Identifier: Apache-2.0
"""docker login, push and pull with credentials through pl-dockerd, against a
docker-registry with htpasswd (bcrypt) basic auth on the loopback of the daemon's network
namespace (plain http, as Docker does for 127.0.0.0/8)."""

import pytest

from docker_fixture import docker, start_authed_registry  # noqa: F401  (the fixture)


@pytest.fixture(scope="module")
def authed_registry(docker, tmp_path_factory):
    reg = start_authed_registry(docker, tmp_path_factory, "pusher", "s3cret")
    yield reg
    reg.stop()


def test_login_push_pull_logout(docker, authed_registry, uniq):
    host = authed_registry.host
    ref = f"{host}/pl/pushed-{uniq.split('-', 1)[1]}:v1"
    docker.run("run", "--name", uniq, "busybox", "sh", "-c", "echo pushed > /mark")
    docker.run("commit", "--change", 'CMD ["cat", "/mark"]', uniq, ref)
    docker.run("rm", uniq)

    # no credentials: the registry refuses the push
    p = docker.run("push", ref, check=False)
    assert p.returncode != 0 and "credentials" in p.stderr, p.stderr

    p = docker.run("login", "-u", "pusher", "--password-stdin", host, input="wrong\n",
                   check=False)
    assert p.returncode != 0 and "401" in p.stderr + p.stdout
    p = docker.run("login", "-u", "pusher", "--password-stdin", host, input="s3cret\n")
    assert "Login Succeeded" in p.stdout

    p = docker.run("push", ref)
    assert "digest: sha256:" in p.stdout
    assert "/manifests/v1" in authed_registry.log()

    docker.run("rmi", ref)
    p = docker.run("pull", ref)
    assert ref in p.stdout
    assert docker.out("run", "--rm", ref) == "pushed\n"
    digests = docker.out("images", "--digests", "--format", "{{.Repository}} {{.Digest}}")
    assert any(line.startswith(ref.rsplit(":", 1)[0] + " sha256:")
               for line in digests.splitlines()), digests
    docker.run("rmi", ref)

    docker.run("logout", host)
    p = docker.run("pull", ref, check=False)
    assert p.returncode != 0 and "credentials" in p.stderr, p.stderr
