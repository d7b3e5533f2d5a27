# SPDX-License-Identifier: Apache-2.0
"""pl-dockerd for the integration suite: started beside the module's portlayerd (in that
daemon's network namespace, talking to it over its unix socket only), with a busybox image
loaded through `docker load` from a docker-archive made locally. The real docker CLI drives
it through DOCKER_HOST; nothing is pulled from anywhere."""

import http.client
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import BUILD, DEADLINE, REPO, SANITIZER_PATTERNS, UnixHTTPConnection

PL_DOCKERD = BUILD / "pl-dockerd"
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
ARCHIVE_TOOL = REPO / "scripts" / "docker-archive.py"


class DockerD:
    def __init__(self, daemon, tmp):
        self.daemon = daemon
        self.tmp = Path(tmp)
        self.socket = self.tmp / "docker.sock"
        self.log_path = self.tmp / "pl-dockerd.log"
        self.config = self.tmp / "docker-config"  # the CLI's own config: nothing of the host's
        self.config.mkdir(exist_ok=True)
        self.proc = None

    @property
    def host(self):
        return f"unix://{self.socket}"

    def start(self):
        logf = open(self.log_path, "ab")
        cmd = ["nsenter", "-t", str(self.daemon.pid), "-n", "--", str(PL_DOCKERD),
               "-H", self.host, "--portlayer", f"unix://{self.daemon.socket}",
               "--log-level", "debug"]
        self.proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        logf.close()
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pl-dockerd exited with {self.proc.returncode}:\n"
                                   f"{self.log_tail()}")
            try:
                if self.request("GET", "/_ping")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"pl-dockerd did not answer /_ping:\n{self.log_tail()}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def log_tail(self, n=60):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def request(self, method, path, body=None, headers=None):
        """(status, headers dict, body bytes) of one raw request to the Docker socket."""
        conn = UnixHTTPConnection(str(self.socket), timeout=DEADLINE)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def env(self):
        env = dict(os.environ)
        env["DOCKER_HOST"] = self.host
        env["DOCKER_CONFIG"] = str(self.config)
        env.pop("DOCKER_CONTEXT", None)
        return env

    def run(self, *args, input=None, check=True, timeout=DEADLINE):
        """Runs `docker ARGS`; returns the CompletedProcess (text)."""
        p = subprocess.run([DOCKER, *args], input=input, capture_output=True, text=True,
                           env=self.env(), timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: exit {p.returncode}\n"
                                 f"stdout: {p.stdout}\nstderr: {p.stderr}\n"
                                 f"pl-dockerd log:\n{self.log_tail(30)}")
        return p

    def out(self, *args, **kw):
        return self.run(*args, **kw).stdout


@pytest.fixture(scope="module")
def docker(daemon, rootfs):
    if not os.access(PL_DOCKERD, os.X_OK):
        pytest.fail(f"{PL_DOCKERD} missing: build first", pytrace=False)
    if not os.access(DOCKER, os.X_OK):
        pytest.fail("the docker CLI is not installed", pytrace=False)
    tmp = tempfile.mkdtemp(prefix="pl-dockerd-")
    d = DockerD(daemon, tmp)
    try:
        d.start()
    except RuntimeError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.fail(str(e), pytrace=False)
    archive = Path(tmp) / "busybox.tar"
    subprocess.run([sys.executable, str(ARCHIVE_TOOL), rootfs, "busybox:latest", str(archive)],
                   check=True)
    d.run("load", "-i", str(archive))
    yield d
    rc = d.stop()
    log = d.log_tail(10000)
    shutil.rmtree(tmp, ignore_errors=True)
    if rc not in (0, None):
        pytest.fail(f"pl-dockerd exited with {rc} after SIGTERM:\n{log[-4000:]}",
                    pytrace=False)
    if SANITIZER_PATTERNS.search(log):
        pytest.fail("sanitizer report in the pl-dockerd log:\n" + log[-4000:], pytrace=False)


def start_authed_registry(docker, tmp_path_factory, user, password):
    """docker-registry with htpasswd (bcrypt) basic auth for user on the loopback of the
    daemon's network namespace; the caller stops it. Skips where the tools are missing."""
    for tool in ("docker-registry", "nsenter"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed")
    from test_pull import Registry, bcrypt_htpasswd, in_ns
    line = bcrypt_htpasswd(user, password)
    if not line:
        pytest.skip("no bcrypt htpasswd tooling (htpasswd or crypt)")
    in_ns(docker.daemon, "ip", "link", "set", "lo", "up")
    work = tmp_path_factory.mktemp("authed-registry")
    pw = work / "htpasswd"
    pw.write_text(line + "\n")
    return Registry(docker.daemon, work, work / "storage",
                    {"auth": {"htpasswd": {"realm": "pl-test", "path": str(pw)}}})
