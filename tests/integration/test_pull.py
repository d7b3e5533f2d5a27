# SPDX-License-Identifier: Apache-2.0
"""Registry pull (POST /images/pull): a real distribution registry (Debian's docker-registry)
serving on loopback inside the daemon's own network namespace, images pushed there by skopeo;
the daemon pulls them through the OCI distribution API, verifies every blob against its
digest, and the image runs. Tags, digests, an image index, Docker schema 2, TLS, Basic and
Bearer authentication, and the failures: unknown names, corrupted blobs, lying configs."""

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
import uuid
from pathlib import Path

import pytest

from conftest import DEADLINE
from pl_extra import read_events

TOOLS = ("docker-registry", "skopeo", "umoci", "nsenter")
IMAGE_OUT = "pulled-image-cmd"


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def in_ns(daemon, *cmd, check=True, timeout=DEADLINE, **kw):
    """Runs cmd inside the daemon's network namespace (where the registries listen)."""
    p = subprocess.run(["nsenter", "-t", str(daemon.pid), "-n", *map(str, cmd)],
                       capture_output=True, text=True, timeout=timeout, **kw)
    if check:
        assert p.returncode == 0, f"{' '.join(map(str, cmd))}: {p.stdout}{p.stderr}"
    return p


WAIT_READY = """
import socket, sys, time
end = time.monotonic() + float(sys.argv[2])
while True:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        break
    except OSError:
        if time.monotonic() > end:
            sys.exit("registry did not listen")
        time.sleep(0.02)
"""

FREE_PORT = """
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
"""


class Registry:
    """docker-registry serving `storage` on 127.0.0.1:<free port> in the daemon's netns."""

    def __init__(self, daemon, tmp, storage, extra=None):
        self.daemon = daemon
        self.storage = Path(storage)
        self.port = int(in_ns(daemon, "python3", "-c", FREE_PORT).stdout)
        self.host = f"127.0.0.1:{self.port}"
        d = Path(tmp) / f"registry-{self.port}"
        d.mkdir(parents=True)
        cfg = {"version": 0.1, "log": {"level": "info", "accesslog": {"disabled": False}},
               "storage": {"filesystem": {"rootdirectory": str(self.storage)}},
               "http": {"addr": self.host}}
        for k, v in (extra or {}).items():
            if k == "tls":
                cfg["http"]["tls"] = v
            else:
                cfg[k] = v
        (d / "config.yml").write_text(json.dumps(cfg))  # JSON is YAML
        self.log_path = d / "registry.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                ["nsenter", "-t", str(daemon.pid), "-n", "docker-registry", "serve",
                 str(d / "config.yml")], stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        p = in_ns(daemon, "python3", "-c", WAIT_READY, self.port, DEADLINE, check=False)
        if p.returncode != 0:
            self.stop()
            pytest.fail(f"docker-registry: {p.stderr}\n{self.log()}")

    def log(self):
        return self.log_path.read_text(errors="replace")

    def blob_gets(self, digest):
        """GETs of a blob in the access log."""
        return sum(1 for line in self.log().splitlines()
                   if f'"GET /v2/' in line and f"/blobs/{digest}" in line)

    def blob_file(self, digest):
        hexd = digest.split(":", 1)[1]
        return self.storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"

    def push(self, layout, tag, repo, rtag, fmt=None, all_=False):
        """skopeo copy oci:layout:tag → this registry; returns the manifest digest."""
        digest_file = Path(layout).parent / f"digest-{uuid.uuid4().hex}"
        cmd = ["skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false",
               "--digestfile", digest_file]
        if fmt:
            cmd += ["--format", fmt]
        if all_:
            cmd += ["--all"]
        cmd += [f"oci:{layout}:{tag}", f"docker://{self.host}/{repo}:{rtag}"]
        in_ns(self.daemon, *cmd, timeout=120)
        return digest_file.read_text().strip()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def umoci(*args):
    p = subprocess.run(["umoci", *map(str, args)], capture_output=True, text=True)
    assert p.returncode == 0, f"umoci {' '.join(map(str, args))}: {p.stderr}"


# --------------------------------------------------------------------------
# OCI layouts written here (for images whose bytes a test controls)


def put_blob(layout, data):
    d = sha256(data)
    p = Path(layout) / "blobs/sha256" / d.split(":")[1]
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return d


def layer_tar(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def add_image(layout, layers, cmd=None, arch="amd64", diff_ids=None, ref=None):
    """Writes an image (layers: list of {name: bytes}) into the layout; returns its
    manifest descriptor. diff_ids overrides the config's (to make it lie)."""
    descs, real = [], []
    for files in layers:
        tar = layer_tar(files)
        blob = gzip.compress(tar, mtime=0)
        real.append(sha256(tar))
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                      "digest": put_blob(layout, blob), "size": len(blob)})
    cfg = json.dumps({"architecture": arch, "os": "linux",
                      "config": {"Cmd": cmd or ["true"]},
                      "rootfs": {"type": "layers", "diff_ids": diff_ids or real}}).encode()
    man = json.dumps({"schemaVersion": 2,
                      "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                 "digest": put_blob(layout, cfg), "size": len(cfg)},
                      "layers": descs}).encode()
    desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": put_blob(layout, man), "size": len(man),
            "platform": {"os": "linux", "architecture": arch}}
    if ref:
        index_add(layout, dict(desc, annotations={"org.opencontainers.image.ref.name": ref}))
    return desc, sha256(cfg)


def index_add(layout, desc):
    p = Path(layout) / "index.json"
    idx = json.loads(p.read_text())
    idx["manifests"].append(desc)
    p.write_text(json.dumps(idx))


def new_layout(tmp):
    d = Path(tmp) / f"layout-{uuid.uuid4().hex[:8]}"
    d.mkdir()
    (d / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (d / "index.json").write_text('{"schemaVersion": 2, "manifests": []}')
    return d


def unique_files(tag):
    token = uuid.uuid4().hex
    return {f"{tag}-{token}": token.encode() * 64}


# --------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def work(daemon, tmp_path_factory):
    for tool in TOOLS:
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed")
    in_ns(daemon, "ip", "link", "set", "lo", "up")
    return tmp_path_factory.mktemp("pull")


@pytest.fixture(scope="module")
def busybox_layout(work, rootfs):
    """The busybox rootfs as an OCI layout (umoci), tag "t1", Cmd printing IMAGE_OUT."""
    layout, bundle = work / "busybox", work / "bundle"
    umoci("init", "--layout", layout)
    umoci("new", "--image", f"{layout}:t1")
    umoci("unpack", "--image", f"{layout}:t1", bundle)
    subprocess.run(["cp", "-a", f"{rootfs}/.", str(bundle / "rootfs")], check=True)
    umoci("repack", "--image", f"{layout}:t1", bundle)
    umoci("config", "--image", f"{layout}:t1", "--config.cmd", "sh", "--config.cmd", "-c",
          "--config.cmd", f"echo {IMAGE_OUT}; echo arch=$(uname -m)")
    shutil.rmtree(bundle)
    return layout


@pytest.fixture(scope="module")
def registry(daemon, work, busybox_layout):
    """An open registry holding busybox:t1 (OCI) and busybox:v2s2 (Docker schema 2)."""
    reg = Registry(daemon, work, work / "storage-open")
    reg.digest = reg.push(busybox_layout, "t1", "busybox", "t1")
    reg.digest_v2s2 = reg.push(busybox_layout, "t1", "busybox", "v2s2", fmt="v2s2")
    yield reg
    reg.stop()


def pull(api, ref, insecure=True, **kw):
    params = {"ref": ref, "insecure": insecure}
    params.update({k: v for k, v in kw.items() if k in ("platform",)})
    return api.post("/images/pull", kw.get("body"), params=params, timeout=120)


def store_state(daemon, api):
    s = daemon.root / "storage"
    return {"layers": sorted(os.listdir(s / "layers")),
            "tmp": sorted(os.listdir(s / "tmp")),
            "images": sorted(i["id"] for i in api.get("/images").json)}


def run_image(api, ref):
    r = api.create_raw({"image": ref})
    assert r.status == 201, f"create from {ref}: {r.status} {r.body!r}"
    cid = r.json["id"]
    api.start(cid)
    w = api.wait(cid)
    out, err = api.output(cid)
    api.remove(cid, force=True)
    return w["exit_code"], out, err


# --------------------------------------------------------------------------
# pulls that work


def test_pull_by_tag_runs(api, daemon, registry):
    ref = f"{registry.host}/busybox:t1"
    since = time.time()
    r = pull(api, ref)
    assert r.status == 201, f"pull: {r.status} {r.body!r}"
    imgs = r.json["images"]
    assert len(imgs) == 1 and imgs[0]["tags"] == [ref], imgs
    iid = imgs[0]["id"]
    rec = api.get(f"/images/{ref}").json
    assert rec["id"] == iid and ref in rec["tags"]
    # the image id is the digest of the config blob the registry holds
    man = json.loads(registry.blob_file(registry.digest).read_text())
    assert iid == man["config"]["digest"]
    assert rec["layers"] == rec["config"]["rootfs"]["diff_ids"]
    for l in rec["layers"]:
        assert (daemon.root / "storage/layers" / l[7:] / "diff/bin/busybox").is_file()
    assert rec["size"] > 100000
    code, out, err = run_image(api, ref)
    assert code == 0 and IMAGE_OUT in out, (code, out, err)
    status, evs = read_events(daemon.socket, since=f"{since:.6f}", until=f"{time.time():.6f}")
    assert status == 200
    pulls = [e for e in evs if e.get("type") == "image" and e.get("action") == "pull"]
    assert [e["id"] for e in pulls] == [iid], evs
    assert os.listdir(daemon.root / "storage/tmp") == []


def pull_progress(api, ref, **params):
    r = api.post("/images/pull", params={"ref": ref, "insecure": 1, "progress": 1, **params},
                 timeout=120)
    assert r.status == 200, r.body
    assert r.headers.get("Content-Type") == "application/x-ndjson"
    return [json.loads(line) for line in r.body.decode().splitlines()]


def test_pull_progress_stream(api, daemon, registry, work, rootfs):
    """?progress=1: Docker's pull stream, one JSON object per line, per layer; the last
    line carries the outcome (the images, or the error with its HTTP status)."""
    layout = new_layout(work)
    files = unique_files("progress")
    big = os.urandom(3 << 20)  # several MiB: "Downloading" with progress on the way
    add_image(layout, [files, {"big.bin": big}], ref="p1")
    dg = registry.push(layout, "p1", "progress", "p1")
    ref = f"{registry.host}/progress:p1"
    since = time.time()
    lines = pull_progress(api, ref)
    assert lines[0]["status"] == "Pulling from progress" and lines[0]["id"] == "p1", lines
    last = lines[-1]
    assert last["status"] == "Pulled" and last["images"][0]["tags"] == [ref], last
    man = json.loads(registry.blob_file(dg).read_text())
    for l in man["layers"]:
        short = l["digest"][7:19]
        statuses = [x["status"] for x in lines if x.get("id") == short]
        assert statuses[0] == "Pulling fs layer" and statuses[-1] == "Pull complete", statuses
        assert "Verifying Checksum" in statuses and "Extracting" in statuses
    big_short = man["layers"][1]["digest"][7:19]
    downloading = [x for x in lines if x.get("id") == big_short
                   and x["status"] == "Downloading"]
    assert downloading and downloading[-1]["progressDetail"]["total"] == \
        man["layers"][1]["size"]
    assert any("Downloaded newer image" in x["status"] for x in lines)
    status, evs = read_events(daemon.socket, since=f"{since:.6f}", until=f"{time.time():.6f}")
    assert [e["id"] for e in evs if e.get("action") == "pull"] == [last["images"][0]["id"]]
    # again: every layer already exists
    lines = pull_progress(api, ref)
    assert {x["status"] for x in lines if x.get("id") in
            {l["digest"][7:19] for l in man["layers"]}} == {"Already exists"}
    assert lines[-1]["status"] == "Pulled"
    # a failure is the stream's last line, with the status a plain pull would answer
    lines = pull_progress(api, f"{registry.host}/progress:no-such-tag")
    assert lines[-1]["errorDetail"]["status"] == 404 and "error" in lines[-1], lines
    assert os.listdir(daemon.root / "storage/tmp") == []


def test_pull_by_digest_reuses_layers(api, daemon, registry):
    ref = f"{registry.host}/busybox:t1"
    assert pull(api, ref).status == 201
    man = json.loads(registry.blob_file(registry.digest).read_text())
    layer = man["layers"][0]["digest"]
    before = registry.blob_gets(layer)
    dref = f"{registry.host}/busybox@{registry.digest}"
    r = pull(api, dref)
    assert r.status == 201, f"pull by digest: {r.status} {r.body!r}"
    assert r.json["images"][0]["id"] == man["config"]["digest"]
    assert registry.blob_gets(layer) == before, "a layer in the store was downloaded again"
    assert api.get(f"/images/{dref}").status == 200
    # a digest that is not the manifest's: the registry does not know it
    other = f"{registry.host}/busybox@sha256:{'0' * 64}"
    assert pull(api, other).status == 404


def test_pull_docker_schema2(api, daemon, registry):
    ref = f"{registry.host}/busybox:v2s2"
    r = pull(api, ref)
    assert r.status == 201, f"pull: {r.status} {r.body!r}"
    code, out, _ = run_image(api, ref)
    assert code == 0 and IMAGE_OUT in out


def test_pull_index_picks_platform(api, daemon, registry, work):
    layout = new_layout(work)
    amd, amd_cfg = add_image(layout, [unique_files("amd64")], arch="amd64")
    arm, arm_cfg = add_image(layout, [unique_files("arm64")], arch="arm64")
    idx = json.dumps({"schemaVersion": 2,
                      "mediaType": "application/vnd.oci.image.index.v1+json",
                      "manifests": [arm, amd]}).encode()
    index_add(layout, {"mediaType": "application/vnd.oci.image.index.v1+json",
                       "digest": put_blob(layout, idx), "size": len(idx),
                       "annotations": {"org.opencontainers.image.ref.name": "multi"}})
    registry.push(layout, "multi", "multi", "m1", all_=True)
    ref = f"{registry.host}/multi:m1"
    r = pull(api, ref)
    assert r.status == 201, f"pull: {r.status} {r.body!r}"
    assert r.json["images"][0]["id"] == amd_cfg
    r = pull(api, ref, platform="linux/arm64")
    assert r.status == 201 and r.json["images"][0]["id"] == arm_cfg, r.body
    r = pull(api, ref, platform="linux/s390x")
    assert r.status == 404 and "linux/s390x" in r.message, r.body
    assert pull(api, ref, platform="linux").status == 400


# --------------------------------------------------------------------------
# failures


def test_pull_unknown_names(api, daemon, registry):
    before = store_state(daemon, api)
    r = pull(api, f"{registry.host}/busybox:no-such-tag")
    assert r.status == 404 and "manifest unknown" in r.message, r.body
    assert f"{registry.host}/busybox:no-such-tag" in r.message
    r = pull(api, f"{registry.host}/no-such-repo:t1")
    assert r.status == 404, r.body
    assert store_state(daemon, api) == before


def test_pull_bad_requests(api):
    for params in ({}, {"ref": ""}, {"ref": "127.0.0.1:1/UPPER:t"},
                   {"ref": "127.0.0.1:1/x@sha256:abc"}, {"ref": "127.0.0.1:1/x:t", "insecure": "maybe"}):
        r = api.post("/images/pull", params=params)
        assert r.status == 400, (params, r.status, r.body)
    r = api.post("/images/pull", {"user": "x"}, params={"ref": "127.0.0.1:1/x:t"})
    assert r.status == 400 and "user" in r.message


def test_pull_corrupted_blob(api, daemon, registry, work):
    layout = new_layout(work)
    add_image(layout, [unique_files("good"), unique_files("bad")], ref="c1")
    digest = registry.push(layout, "c1", "corrupt", "c1")
    man = json.loads(registry.blob_file(digest).read_text())
    blob = registry.blob_file(man["layers"][1]["digest"])
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same name, same size, other bytes
    blob.write_bytes(bytes(data))
    before = store_state(daemon, api)
    r = pull(api, f"{registry.host}/corrupt:c1")
    assert r.status == 400 and "digest mismatch" in r.message, r.body
    assert man["layers"][1]["digest"] in r.message
    assert store_state(daemon, api) == before, "a failed pull left something in the store"
    assert api.get(f"/images/{registry.host}/corrupt:c1").status == 404


def test_pull_lying_config_leaves_nothing(api, daemon, registry, work):
    """Blobs are what the manifest says, but the config's diff id for the second layer is
    wrong: the first layer, already extracted by then, is taken back."""
    layout = new_layout(work)
    good, bad = unique_files("first"), unique_files("second")
    add_image(layout, [good, bad], ref="l1",
              diff_ids=[sha256(layer_tar(good)), sha256(b"not this layer")])
    registry.push(layout, "l1", "liar", "l1")
    before = store_state(daemon, api)
    r = pull(api, f"{registry.host}/liar:l1")
    assert r.status == 400 and "mismatch" in r.message, r.body
    assert store_state(daemon, api) == before


def test_pull_needs_insecure_for_plain_http(api, daemon, registry):
    before = store_state(daemon, api)
    r = pull(api, f"{registry.host}/busybox:t1", insecure=False)
    assert r.status == 500 and "https://" in r.message, r.body
    assert store_state(daemon, api) == before


# --------------------------------------------------------------------------
# TLS and authentication: the same storage served by further registries


def openssl(*args):
    p = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True)
    assert p.returncode == 0, f"openssl {args}: {p.stderr}"
    return p.stdout


@pytest.fixture(scope="module")
def cert(work):
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    d = work / "pki"
    d.mkdir()
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", d / "key.pem", "-out", d / "cert.pem", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1")
    return d


def test_pull_over_tls(api, daemon, registry, work, cert):
    reg = Registry(daemon, work, registry.storage,
                   {"tls": {"certificate": str(cert / "cert.pem"), "key": str(cert / "key.pem")}})
    try:
        ref = f"{reg.host}/busybox:t1"
        r = pull(api, ref, insecure=False)
        assert r.status == 500 and "certificate" in r.message.lower(), r.body
        r = pull(api, ref)  # insecure: TLS without verification, no http fallback needed
        assert r.status == 201, f"pull: {r.status} {r.body!r}"
    finally:
        reg.stop()


def bcrypt_htpasswd(user, password):
    if shutil.which("htpasswd"):
        p = subprocess.run(["htpasswd", "-nbB", user, password], capture_output=True, text=True)
        return p.stdout.strip()
    try:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt
        h = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))
    except (ImportError, AttributeError):
        return None
    return f"{user}:{h}" if h and h.startswith("$2") else None


def test_pull_basic_auth(api, daemon, registry, work):
    line = bcrypt_htpasswd("puller", "s3cret")
    if not line:
        pytest.skip("no bcrypt htpasswd tooling (htpasswd or crypt)")
    pw = work / f"htpasswd-{uuid.uuid4().hex[:6]}"
    pw.write_text(line + "\n")
    reg = Registry(daemon, work, registry.storage,
                   {"auth": {"htpasswd": {"realm": "pl-test", "path": str(pw)}}})
    try:
        ref = f"{reg.host}/busybox:t1"
        r = pull(api, ref)
        assert r.status == 400 and "credentials" in r.message, r.body
        r = pull(api, ref, body={"username": "puller", "password": "wrong"})
        assert r.status == 400 and "denied" in r.message, r.body
        r = pull(api, ref, body={"username": "puller", "password": "s3cret"})
        assert r.status == 201, f"pull: {r.status} {r.body!r}"
        assert "s3cret" not in daemon.log_text()
    finally:
        reg.stop()


# A token service as registries use it (Docker Hub, GHCR): Basic credentials in, a JWT out,
# signed RS256 by a key whose certificate the registry trusts (x5c). openssl signs.
TOKEN_SERVER = r"""
import base64, json, subprocess, sys, time, uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse
port, key, cert, user, password, issuer, log = sys.argv[1:8]
der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"],
                     capture_output=True, check=True).stdout
def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_GET(self):
        u = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        auth = self.headers.get("Authorization", "")
        with open(log, "a") as f:
            f.write(json.dumps({"path": u.path, "query": q, "auth": bool(auth)}) + "\n")
        want = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if auth != want:
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"errors":[{"code":"UNAUTHORIZED","message":"bad login"}]}')
            return
        access = []
        if "scope" in q:
            typ, name, actions = q["scope"].split(":")
            access.append({"type": typ, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        head = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        claims = {"iss": issuer, "sub": user, "aud": q.get("service", ""), "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex, "access": access}
        signing = b64(json.dumps(head).encode()) + "." + b64(json.dumps(claims).encode())
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing.encode(),
                             capture_output=True, check=True).stdout
        body = json.dumps({"token": signing + "." + b64(sig)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
HTTPServer(("127.0.0.1", int(port)), H).serve_forever()
"""


def test_pull_bearer_token(api, daemon, registry, work, cert):
    port = int(in_ns(daemon, "python3", "-c", FREE_PORT).stdout)
    log = work / f"token-{port}.log"
    srv = subprocess.Popen(["nsenter", "-t", str(daemon.pid), "-n", "python3", "-c",
                            TOKEN_SERVER, str(port), str(cert / "key.pem"),
                            str(cert / "cert.pem"), "puller", "t0ken-pw", "pl-issuer", str(log)],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    reg = None
    try:
        p = in_ns(daemon, "python3", "-c", WAIT_READY, port, DEADLINE, check=False)
        assert p.returncode == 0, f"token server: {p.stderr}"
        reg = Registry(daemon, work, registry.storage, {"auth": {"token": {
            "realm": f"http://127.0.0.1:{port}/token", "service": "pl-registry",
            "issuer": "pl-issuer", "rootcertbundle": str(cert / "cert.pem")}}})
        ref = f"{reg.host}/busybox:t1"
        r = pull(api, ref, body={"username": "puller", "password": "wrong"})
        assert r.status == 400 and "bad login" in r.message, r.body
        r = pull(api, ref, body={"username": "puller", "password": "t0ken-pw"})
        assert r.status == 201, f"pull: {r.status} {r.body!r}\n{reg.log()[-2000:]}"
        asks = [json.loads(l) for l in log.read_text().splitlines()]
        assert asks[-1]["query"] == {"scope": "repository:busybox:pull",
                                     "service": "pl-registry"}, asks
        # the token went to the registry: it served the manifest and the config
        assert '"GET /v2/busybox/manifests/t1 HTTP/1.1" 200' in reg.log()
    finally:
        if reg:
            reg.stop()
        srv.terminate()
        srv.wait(10)


def test_plctl_image_pull(api, plctl, registry):
    ref = f"{registry.host}/busybox:t1"
    p = plctl("image", "pull", "--insecure", ref, check=0)
    assert p.stdout.strip() == api.get(f"/images/{ref}").json["id"]
    assert "Pulling from busybox" in p.stderr and ("Pull complete" in p.stderr or
                                                  "Already exists" in p.stderr), p.stderr
    p = plctl("image", "pull", "-q", "--insecure", f"{registry.host}/busybox:nope")
    assert p.returncode == 1 and "nope" in p.stderr and p.stdout == "", p.stderr
