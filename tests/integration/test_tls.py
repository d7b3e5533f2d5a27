# SPDX-License-Identifier: Apache-2.0
"""API access: the unix socket's mode and group, and TCP served only with mutual TLS."""

import grp
import os
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import DEADLINE, PORTLAYERD, REPO, TETHER, wait_until

CLIENT = r"""
import http.client, ssl, sys
certs, mode = sys.argv[1], sys.argv[2]
ctx = ssl.create_default_context(cafile=certs + "/ca.pem")
if mode == "good":
    ctx.load_cert_chain(certs + "/client.pem", certs + "/client-key.pem")
elif mode == "stranger":
    ctx.load_cert_chain(certs + "/other-client.pem", certs + "/other-client-key.pem")
try:
    c = http.client.HTTPSConnection("127.0.0.1", 23760, context=ctx, timeout=10)
    c.request("GET", "/_ping")
    r = c.getresponse()
    print("STATUS", r.status, r.read().decode())
except (ssl.SSLError, ConnectionError, OSError) as e:
    print("REFUSED", type(e).__name__, e)
"""


@pytest.fixture(scope="module")
def tls_daemon(binaries):
    tmp = Path(tempfile.mkdtemp(prefix="pl-tls-"))
    certs = tmp / "certs"
    subprocess.run(["bash", str(REPO / "scripts" / "mkcerts.sh"), str(certs)], check=True,
                   stdout=subprocess.DEVNULL)
    group = grp.getgrgid(os.getgid()).gr_name if os.getgid() != 0 else "daemon"
    run = tmp / "run"
    cmd = ["unshare", "--net", "--", "sh", "-c",
           'ip link set lo up && exec "$0" "$@"', str(PORTLAYERD),
           "--root", str(tmp / "root"), "--run-dir", str(run), "--tether", str(TETHER),
           "--group", group, "--tls-listen", "127.0.0.1:23760",
           "--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server-key.pem"),
           "--tls-ca", str(certs / "ca.pem")]
    log = open(tmp / "d.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    sock = run / "portlayer.sock"
    wait_until(lambda: sock.exists() and b"mutual TLS" in (tmp / "d.log").read_bytes(),
               timeout=10, what="TLS daemon start")
    yield {"proc": proc, "certs": certs, "sock": sock, "group": group, "tmp": tmp}
    proc.terminate()
    proc.wait(10)
    log.close()
    shutil.rmtree(tmp, ignore_errors=True)


def client(d, mode):
    """Runs the TLS client inside the daemon's network namespace (no packet leaves it)."""
    p = subprocess.run(["nsenter", "-t", str(d["proc"].pid), "-n", "/usr/bin/python3", "-c",
                        CLIENT, str(d["certs"]), mode],
                       capture_output=True, text=True, timeout=DEADLINE)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_socket_mode_and_group(tls_daemon):
    st = os.stat(tls_daemon["sock"])
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert st.st_uid == 0
    assert st.st_gid == grp.getgrnam(tls_daemon["group"]).gr_gid


def test_tcp_with_client_certificate_works(tls_daemon):
    assert client(tls_daemon, "good") == "STATUS 200 OK"


def test_tcp_without_client_certificate_refused(tls_daemon):
    out = client(tls_daemon, "none")
    assert out.startswith("REFUSED"), out


def test_tcp_with_certificate_from_other_ca_refused(tls_daemon):
    out = client(tls_daemon, "stranger")
    assert out.startswith("REFUSED"), out


def test_tls_listen_requires_all_material(binaries, tmp_path):
    p = subprocess.run([str(PORTLAYERD), "--root", str(tmp_path / "r"), "--run-dir",
                        str(tmp_path / "x"), "--tls-listen", "127.0.0.1:23761"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 2
    assert "mutual TLS" in p.stderr
