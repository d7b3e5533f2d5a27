# SPDX-License-Identifier: Apache-2.0
"""pl-dockerd over TCP with mutual TLS (-H tcp://ADDR:PORT --tls-cert --tls-key --tls-ca):
the docker CLI with --tlsverify and a client certificate signed by the CA gets in (run,
exec with a hijacked stream, ps); without a certificate, with a stranger's, or with plain
http it does not. pl-dockerd and the CLI run in the module daemon's network namespace."""

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import DEADLINE, REPO
from docker_fixture import DOCKER, PL_DOCKERD, docker  # noqa: F401  (the fixture)
from test_pull import FREE_PORT, WAIT_READY, in_ns


@pytest.fixture(scope="module")
def tls_dockerd(docker):
    daemon = docker.daemon
    in_ns(daemon, "ip", "link", "set", "lo", "up")
    tmp = Path(tempfile.mkdtemp(prefix="pl-dockerd-tls-"))
    certs = tmp / "certs"
    subprocess.run(["bash", str(REPO / "scripts" / "mkcerts.sh"), str(certs)], check=True,
                   stdout=subprocess.DEVNULL)
    port = int(in_ns(daemon, "python3", "-c", FREE_PORT).stdout)
    log = open(tmp / "pl-dockerd.log", "wb")
    proc = subprocess.Popen(
        ["nsenter", "-t", str(daemon.pid), "-n", "--", str(PL_DOCKERD), "-H",
         f"tcp://127.0.0.1:{port}", "--tls-cert", str(certs / "server.pem"), "--tls-key",
         str(certs / "server-key.pem"), "--tls-ca", str(certs / "ca.pem"), "--portlayer",
         f"unix://{daemon.socket}"], stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True)
    in_ns(daemon, "python3", "-c", WAIT_READY, port, DEADLINE)
    yield {"port": port, "certs": certs, "tmp": tmp}
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)
    log.close()
    shutil.rmtree(tmp, ignore_errors=True)


def cli(docker, t, *args, cert="client", ca="ca", verify=True, input=None):
    env = dict(os.environ, DOCKER_CONFIG=str(docker.config))
    env.pop("DOCKER_HOST", None)
    env.pop("DOCKER_CONTEXT", None)
    c = t["certs"]
    tls = []
    if verify:
        tls = ["--tlsverify", "--tlscacert", str(c / f"{ca}.pem")]
        if cert:
            tls += ["--tlscert", str(c / f"{cert}.pem"), "--tlskey", str(c / f"{cert}-key.pem")]
    return subprocess.run(["nsenter", "-t", str(docker.daemon.pid), "-n", "--", DOCKER,
                           "-H", f"tcp://127.0.0.1:{t['port']}", *tls, *args],
                          capture_output=True, text=True, env=env, input=input,
                          timeout=DEADLINE)


def test_mutual_tls_cli(docker, tls_dockerd, uniq):
    t = tls_dockerd
    p = cli(docker, t, "version", "--format", "{{.Server.APIVersion}}")
    assert p.returncode == 0 and p.stdout.strip() == "1.43", p.stderr
    # run attaches (a hijacked stream through the TLS session)
    p = cli(docker, t, "run", "--rm", "busybox", "echo", "over-tls")
    assert (p.returncode, p.stdout) == (0, "over-tls\n"), p.stderr
    p = cli(docker, t, "run", "-d", "--name", uniq, "busybox", "sleep", "1000")
    assert p.returncode == 0, p.stderr
    p = cli(docker, t, "exec", uniq, "echo", "exec-out")
    assert (p.returncode, p.stdout) == (0, "exec-out\n"), p.stderr
    p = cli(docker, t, "exec", "-i", uniq, "cat", input="piped in\n")
    assert (p.returncode, p.stdout) == (0, "piped in\n"), p.stderr
    p = cli(docker, t, "ps", "--format", "{{.Names}}")
    assert uniq in p.stdout.split()
    cli(docker, t, "rm", "-f", uniq)


def test_tls_refuses_strangers(docker, tls_dockerd):
    t = tls_dockerd
    # no client certificate
    p = cli(docker, t, "version", cert=None)
    assert p.returncode != 0
    # a certificate from another CA
    p = cli(docker, t, "version", cert="other-client")
    assert p.returncode != 0
    # plain http to the TLS port
    p = cli(docker, t, "version", verify=False)
    assert p.returncode != 0
