# SPDX-License-Identifier: Apache-2.0
"""Layer extraction (POST /layers) against hostile archives, and what a good layer keeps.

Every refused archive must be answered 400 with a message naming the offending entry,
must leave nothing on the host outside the store (each case aims at a unique path under
/tmp that must not exist afterwards), and must leave ROOT/storage exactly as it was: no
half-made layer in layers/, nothing left in tmp/.

The accepted layers are checked on the host, in ROOT/storage/layers/<diff id>/diff:
whiteouts in overlayfs form, ownership, modes (setuid kept), mtimes and xattrs.
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import struct
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

# --------------------------------------------------------------------------
# helpers (test_storage.py uses these too)


def entry(name, kind="file", data=b"", mode=None, uid=0, gid=0, mtime=1_600_000_000,
          link=None, xattrs=None, devmajor=0, devminor=0, size=None):
    """One tar entry: a TarInfo and its data."""
    ti = tarfile.TarInfo(name)
    ti.uid, ti.gid, ti.mtime = uid, gid, mtime
    ti.uname = ti.gname = ""
    types = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
             "hardlink": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE,
             "fifo": tarfile.FIFOTYPE}
    ti.type = types[kind]
    ti.mode = mode if mode is not None else (0o755 if kind == "dir" else 0o644)
    if link is not None:
        ti.linkname = link
    if kind in ("chr", "blk"):
        ti.devmajor, ti.devminor = devmajor, devminor
    if xattrs:
        ti.pax_headers = {f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape")
                          if isinstance(v, bytes) else v for k, v in xattrs.items()}
    ti.size = len(data) if kind == "file" else 0
    if size is not None:
        ti.size = size
    return ti, data


def tar_bytes(*entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for ti, data in entries:
            t.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
    return buf.getvalue()


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tree(path):
    """Every path below path (relative) with its type and size: a listing to compare."""
    out = {}
    path = Path(path)
    if not path.exists():
        return out
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            p = Path(root) / n
            st = p.lstat()
            out[str(p.relative_to(path))] = (stat.S_IFMT(st.st_mode), st.st_size
                                             if stat.S_ISREG(st.st_mode) else 0)
    return out


def store_snapshot(daemon):
    """The layer store and its scratch space, as listings."""
    s = daemon.root / "storage"
    return {"layers": tree(s / "layers"), "tmp": tree(s / "tmp")}


def post_layer(api, data, digest=None):
    return api.post("/layers", data, params={"digest": digest} if digest else None,
                    headers={"Content-Type": "application/x-tar"}, timeout=120)


def layer_dir(daemon, diff_id):
    assert diff_id.startswith("sha256:"), diff_id
    return daemon.root / "storage" / "layers" / diff_id[len("sha256:"):] / "diff"


def write_layer(api, daemon, data, digest=None):
    r = post_layer(api, data, digest)
    assert r.status == 201, f"POST /layers: {r.status} {r.body!r}"
    body = r.json
    assert set(body) >= {"diff_id", "blob_digest", "size", "entries"}, body
    d = layer_dir(daemon, body["diff_id"])
    assert d.is_dir(), f"{d} missing after 201"
    return body, d


def _blob_tar_entries(blobs):
    out = [entry("blobs", "dir"), entry("blobs/sha256", "dir")]
    for h, b in blobs.items():
        out.append(entry(f"blobs/sha256/{h}", data=b))
    return out


def oci_layout_tar(layers, config=None, ref=None, diff_ids=None, gzip_layers=False,
                   extra=()):
    """An OCI image layout, as a tar: one manifest of layers (tar bytes), an image config
    whose "config" is config, and diff_ids (default: the layers' own digests)."""
    blobs = {}

    def add(b):
        h = hashlib.sha256(b).hexdigest()
        blobs[h] = b
        return h

    descs = []
    for raw in layers:
        blob = gzip.compress(raw, mtime=0) if gzip_layers else raw
        mt = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if gzip_layers else "")
        descs.append({"mediaType": mt, "digest": "sha256:" + add(blob), "size": len(blob)})
    cfg = {"architecture": "amd64", "os": "linux", "config": config or {},
           "rootfs": {"type": "layers",
                      "diff_ids": diff_ids if diff_ids is not None else
                      [sha256(raw) for raw in layers]}}
    cb = json.dumps(cfg).encode()
    man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                      "digest": "sha256:" + add(cb), "size": len(cb)},
           "layers": descs}
    mb = json.dumps(man).encode()
    desc = {"mediaType": man["mediaType"], "digest": "sha256:" + add(mb), "size": len(mb)}
    if ref:
        desc["annotations"] = {"org.opencontainers.image.ref.name": ref}
    index = json.dumps({"schemaVersion": 2, "manifests": [desc]}).encode()
    return tar_bytes(entry("oci-layout", data=b'{"imageLayoutVersion":"1.0.0"}'),
                     entry("index.json", data=index), *_blob_tar_entries(blobs), *extra)


def docker_archive_tar(manifest, files=(), extra=()):
    """A docker-archive: manifest.json (a list) and files {name: bytes}."""
    ents = [entry("manifest.json", data=json.dumps(manifest).encode())]
    ents += [entry(n, data=b) for n, b in dict(files).items()]
    return tar_bytes(*extra, *ents)


def import_image(api, data):
    return api.post("/images/import", data, headers={"Content-Type": "application/x-tar"},
                    timeout=120)


@pytest.fixture
def escape():
    """A unique host path (and a host directory next to it) an archive aims at."""
    token = uuid.uuid4().hex[:12]
    target = Path(f"/tmp/pl-escape-{token}")
    hostdir = Path(f"/tmp/pl-escape-dir-{token}")
    hostdir.mkdir()
    (hostdir / "victim").write_text("host file\n")
    yield target, hostdir
    for p in (target, hostdir):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists() or p.is_symlink():
            p.unlink()


def assert_refused(api, daemon, data, names, escape=None, status=400):
    """POST data → status, message naming every string in names, nothing left anywhere."""
    before = store_snapshot(daemon)
    r = post_layer(api, data)
    assert r.status == status, f"want {status}, got {r.status} {r.body!r}"
    msg = r.message
    for n in names:
        assert n in msg, f"message does not name {n!r}: {msg!r}"
    assert store_snapshot(daemon) == before, "the layer store changed after a refusal"
    if escape is not None:
        target, hostdir = escape
        assert not os.path.lexists(target), f"{target} was created on the host"
        assert sorted(os.listdir(hostdir)) == ["victim"], \
            f"host directory {hostdir} changed: {os.listdir(hostdir)}"
        assert (hostdir / "victim").read_text() == "host file\n"
    return r


UP = "../" * 24  # from ROOT/storage/tmp/<x>/diff, far past /


# --------------------------------------------------------------------------
# refusals


def test_dotdot_entry_refused(api, daemon, escape):
    target, _ = escape
    name = UP + str(target)[1:]
    assert_refused(api, daemon, tar_bytes(entry("ok", data=b"1"), entry(name, data=b"x")),
                   [name, "escapes the root"], escape)


def test_dotdot_inside_name_refused(api, daemon, escape):
    target, _ = escape
    name = "a/b/" + UP + str(target)[1:]
    assert_refused(api, daemon, tar_bytes(entry("a/b", "dir"), entry(name, data=b"x")),
                   [name, "escapes the root"], escape)


def test_dotdot_directory_and_symlink_names_refused(api, daemon, escape):
    target, _ = escape
    assert_refused(api, daemon, tar_bytes(entry(UP + str(target)[1:], "dir")),
                   ["escapes the root"], escape)
    assert_refused(api, daemon,
                   tar_bytes(entry(UP + str(target)[1:], "symlink", link="/etc/passwd")),
                   ["escapes the root"], escape)


def test_write_through_absolute_symlink_refused(api, daemon, escape):
    _, hostdir = escape
    data = tar_bytes(entry("a", "symlink", link=str(hostdir)), entry("a/pwned", data=b"x"))
    assert_refused(api, daemon, data,
                   ["a/pwned", "cannot be reached without leaving the root or following "
                    "a symbolic link"], escape)


def test_write_through_relative_symlink_refused(api, daemon, escape):
    _, hostdir = escape
    data = tar_bytes(entry("d", "dir"), entry("d/a", "symlink", link=UP + str(hostdir)[1:]),
                     entry("d/a/pwned", data=b"x"))
    assert_refused(api, daemon, data, ["d/a/pwned", "symbolic link"], escape)


def test_write_through_symlink_deep_path_refused(api, daemon, escape):
    """The link is an intermediate component with more directories to create below it."""
    _, hostdir = escape
    data = tar_bytes(entry("a", "symlink", link=str(hostdir)),
                     entry("a/x/y/pwned", data=b"x"))
    assert_refused(api, daemon, data, ["a/x/y/pwned", "symbolic link"], escape)
    assert not (hostdir / "x").exists()


def test_whiteout_through_symlink_refused(api, daemon, escape):
    """A whiteout below a link to a host directory must not delete the host's file."""
    _, hostdir = escape
    data = tar_bytes(entry("a", "symlink", link=str(hostdir)), entry("a/.wh.victim"))
    assert_refused(api, daemon, data, ["a/.wh.victim", "symbolic link"], escape)


def test_opaque_marker_through_symlink_refused(api, daemon, escape):
    _, hostdir = escape
    data = tar_bytes(entry("a", "symlink", link=str(hostdir)), entry("a/.wh..wh..opq"))
    assert_refused(api, daemon, data, ["a/.wh..wh..opq", "symbolic link"], escape)
    assert b"trusted.overlay.opaque" not in b"".join(
        x.encode() for x in os.listxattr(hostdir))


@pytest.mark.parametrize("victim", ["..", "."])
def test_whiteout_of_dot_names_refused(api, daemon, victim):
    name = "d/.wh." + victim
    assert_refused(api, daemon, tar_bytes(entry("d", "dir"), entry(name)),
                   [name, "bad whiteout"])


def test_hardlink_to_host_file_refused(api, daemon):
    before = os.stat("/etc/passwd").st_nlink
    assert_refused(api, daemon, tar_bytes(entry("x", "hardlink", link="/etc/passwd")),
                   ['"x"', "/etc/passwd", "not a regular file extracted before"])
    assert os.stat("/etc/passwd").st_nlink == before


def test_hardlink_escaping_with_dotdot_refused(api, daemon):
    name = UP + "etc/passwd"
    before = os.stat("/etc/passwd").st_nlink
    r = assert_refused(api, daemon, tar_bytes(entry("x", "hardlink", link=name)),
                       ["x", "escapes the root"])
    assert os.stat("/etc/passwd").st_nlink == before, r.message


def test_hardlink_to_not_yet_seen_name_refused(api, daemon):
    data = tar_bytes(entry("x", "hardlink", link="later"), entry("later", data=b"1"))
    assert_refused(api, daemon, data, ['"x"', "later", "not a regular file extracted before"])


def test_hardlink_through_symlink_refused(api, daemon):
    before = os.stat("/etc/passwd").st_nlink
    data = tar_bytes(entry("l", "symlink", link="/etc"), entry("x", "hardlink", link="l/passwd"))
    assert_refused(api, daemon, data, ['"x"', "l/passwd"])
    assert os.stat("/etc/passwd").st_nlink == before


def test_hardlink_to_directory_refused(api, daemon):
    data = tar_bytes(entry("d", "dir"), entry("x", "hardlink", link="d"))
    assert_refused(api, daemon, data, ['"x"', "not a regular file"])


def test_hardlink_to_symlink_refused(api, daemon):
    data = tar_bytes(entry("s", "symlink", link="/etc/passwd"), entry("x", "hardlink", link="s"))
    assert_refused(api, daemon, data, ['"x"', "not a regular file"])


@pytest.mark.parametrize("kind", ["chr", "blk"])
def test_device_nodes_refused(api, daemon, kind):
    data = tar_bytes(entry("dev", "dir"), entry("dev/evil", kind, mode=0o666, devmajor=1,
                                                devminor=1 if kind == "chr" else 0))
    assert_refused(api, daemon, data, ["dev/evil", "device nodes are not allowed"])


@pytest.mark.parametrize("second", ["f", "./f", "/f", "d/../f"])
def test_duplicate_entries_refused(api, daemon, second):
    data = tar_bytes(entry("f", data=b"first"), entry(second, data=b"second"))
    want = ["escapes the root"] if ".." in second else [second, "duplicate entry"]
    assert_refused(api, daemon, data, want)


def test_duplicate_replacing_file_with_symlink_refused(api, daemon, escape):
    """A later entry of the same name must not turn a file into a link to write through."""
    _, hostdir = escape
    data = tar_bytes(entry("a", "dir"), entry("a", "symlink", link=str(hostdir)),
                     entry("a/pwned", data=b"x"))
    assert_refused(api, daemon, data, ["duplicate entry"], escape)


def test_name_over_path_max_refused(api, daemon):
    name = "/".join(["d" * 200] * 25)  # 5024 bytes, every component a legal length
    r = assert_refused(api, daemon, tar_bytes(entry(name, data=b"x")), ["PATH_MAX"])
    assert len(r.body) < 64 * 1024


def test_component_over_name_max_is_a_client_error(api, daemon):
    """A 300-byte component (the name itself under PATH_MAX) is bad input: 400, not 500."""
    name = "d/" + "n" * 300
    assert_refused(api, daemon, tar_bytes(entry("d", "dir"), entry(name, data=b"x")), ["d/nnn"])


def test_declared_size_without_data_fails_cleanly(api, daemon):
    """A header claiming 17 GiB followed by a few bytes: refused, nothing written."""
    ti, _ = entry("big", size=17 << 30)
    data = ti.tobuf(tarfile.PAX_FORMAT, tarfile.ENCODING, "surrogateescape") + b"x" * 4096
    assert_refused(api, daemon, data, ["big"])


def test_sparse_file_over_size_limit_refused(api, daemon, tmp_path):
    """A 17 GiB sparse file (a few KiB of tar) is 17 GiB of regular file: over the 16 GiB
    default limit on the sum of regular file sizes."""
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "big", "wb") as f:
        f.write(b"data")
        f.truncate(17 << 30)
    out = tmp_path / "sparse.tar"
    subprocess.run(["tar", "--sparse", "--format=pax", "-C", str(src), "-cf", str(out), "big"],
                   check=True)
    data = out.read_bytes()
    assert len(data) < 1 << 20
    assert_refused(api, daemon, data, ["big", "exceeds"])


def test_not_a_tar_refused(api, daemon):
    assert_refused(api, daemon, b"this is not a tar archive at all\n" * 40, [])
    assert_refused(api, daemon, gzip.compress(b"garbage" * 1000), [])


def test_truncated_gzip_refused(api, daemon):
    data = gzip.compress(tar_bytes(entry("a", data=os.urandom(200_000))))
    assert_refused(api, daemon, data[: len(data) // 2], [])


def test_refusal_midway_leaves_no_partial_layer(api, daemon):
    """Many good entries, then a bad one: every byte already written goes."""
    good = [entry(f"dir{i}/f{j}", data=b"y" * 1000) for i in range(20) for j in range(20)]
    data = tar_bytes(*good, entry("dev", "dir"), entry("dev/null", "chr", devmajor=1,
                                                        devminor=3))
    assert_refused(api, daemon, data, ["dev/null"])


# --------------------------------------------------------------------------
# digests


def test_digest_of_tar_accepted(api, daemon):
    data = tar_bytes(entry("digest-ok", data=b"hello"))
    body, d = write_layer(api, daemon, data, digest=sha256(data))
    assert body["diff_id"] == sha256(data)
    assert body["blob_digest"] == sha256(data)
    assert (d / "digest-ok").read_bytes() == b"hello"


def test_digest_of_compressed_blob_accepted(api, daemon):
    raw = tar_bytes(entry("digest-blob", data=b"hello gz"))
    blob = gzip.compress(raw)
    body, d = write_layer(api, daemon, blob, digest=sha256(blob))
    assert body["diff_id"] == sha256(raw)
    assert body["blob_digest"] == sha256(blob)


def test_digest_mismatch_refused(api, daemon):
    data = tar_bytes(entry("digest-mismatch-" + uuid.uuid4().hex, data=b"x"))
    before = store_snapshot(daemon)
    wrong = sha256(data + b"!")
    r = post_layer(api, data, digest=wrong)
    assert r.status == 400, r.body
    assert "mismatch" in r.message and wrong in r.message, r.message
    assert store_snapshot(daemon) == before


@pytest.mark.parametrize("bad", ["sha256:abc", "md5:" + "0" * 64, "sha256:" + "G" * 64,
                                 "EXTRA"])
def test_malformed_digest_refused(api, daemon, bad):
    data = tar_bytes(entry("digest-malformed-" + uuid.uuid4().hex, data=b"x"))
    if bad == "EXTRA":  # a correct digest with junk after it is not that digest
        bad = sha256(data) + "deadbeef"
    before = store_snapshot(daemon)
    r = post_layer(api, data, digest=bad)
    assert r.status == 400, f"digest={bad!r}: {r.status} {r.body!r}"
    assert store_snapshot(daemon) == before


# --------------------------------------------------------------------------
# what a layer keeps


def test_whiteouts_and_opaque_dirs_in_overlay_form(api, daemon):
    data = tar_bytes(entry("etc", "dir"), entry("etc/.wh.passwd"),
                     entry(".wh.gone"),
                     entry("opaque", "dir"), entry("opaque/.wh..wh..opq"),
                     entry("opaque/kept", data=b"k"),
                     entry("plain", "dir"), entry("plain/f", data=b"p"))
    body, d = write_layer(api, daemon, data)
    for wh in ("gone", "etc/passwd"):
        st = os.lstat(d / wh)
        assert stat.S_ISCHR(st.st_mode), f"{wh}: {oct(st.st_mode)}"
        assert os.major(st.st_rdev) == 0 and os.minor(st.st_rdev) == 0
    for marker in (".wh.gone", "etc/.wh.passwd", "opaque/.wh..wh..opq"):
        assert not os.path.lexists(d / marker), f"{marker} kept in the layer"
    assert os.getxattr(d / "opaque", "trusted.overlay.opaque") == b"y"
    assert (d / "opaque/kept").read_bytes() == b"k"
    with pytest.raises(OSError):
        os.getxattr(d / "plain", "trusted.overlay.opaque")
    assert body["entries"] == 8


def test_ownership_modes_mtime_xattrs_preserved(api, daemon):
    cap = struct.pack("<IIIII", 0x02000001, 1 << 10, 0, 0, 0)  # cap_net_bind_service=ep
    data = tar_bytes(
        entry("d", "dir", mode=0o750, uid=1001, gid=1002, mtime=1_111_111_111),
        entry("d/suid", data=b"#!/bin/sh\n", mode=0o4755, uid=0, gid=0, mtime=1_234_567_890),
        entry("d/sgid", data=b"g", mode=0o2711, uid=5, gid=6, mtime=1_000_000_000),
        entry("d/sticky", "dir", mode=0o1777, mtime=1_200_000_000),
        entry("d/owned", data=b"o", mode=0o600, uid=123456, gid=654321, mtime=1_300_000_000),
        entry("d/xattr", data=b"x", xattrs={"user.pl": b"value", "security.capability": cap}),
        entry("d/link", "symlink", link="/etc/passwd", uid=42, gid=43, mtime=1_400_000_000),
        entry("d/hard", "hardlink", link="d/owned"),
        entry("d/fifo", "fifo", mode=0o640, uid=7, gid=8),
    )
    body, root = write_layer(api, daemon, data)
    d = root / "d"

    def check(p, mode, uid, gid, mtime=None):
        st = os.lstat(p)
        assert stat.S_IMODE(st.st_mode) == mode, f"{p.name}: mode {oct(st.st_mode)}"
        assert (st.st_uid, st.st_gid) == (uid, gid), f"{p.name}: owner {st.st_uid}:{st.st_gid}"
        if mtime is not None:
            assert int(st.st_mtime) == mtime, f"{p.name}: mtime {st.st_mtime}"
        return st

    check(d / "suid", 0o4755, 0, 0, 1_234_567_890)
    check(d / "sgid", 0o2711, 5, 6, 1_000_000_000)
    check(d / "sticky", 0o1777, 0, 0)
    owned = check(d / "owned", 0o600, 123456, 654321, 1_300_000_000)
    assert os.readlink(d / "link") == "/etc/passwd"
    check(d / "link", 0o777, 42, 43, 1_400_000_000)
    assert os.lstat(d / "hard").st_ino == owned.st_ino
    assert stat.S_ISFIFO(check(d / "fifo", 0o640, 7, 8).st_mode)
    assert os.getxattr(d / "xattr", "user.pl") == b"value"
    assert os.getxattr(d / "xattr", "security.capability") == cap
    st = check(d, 0o750, 1001, 1002)
    assert int(st.st_mtime) == 1_111_111_111, \
        f"directory mtime {st.st_mtime} (children written after it changed it)"


def test_absolute_names_neutralised(api, daemon, escape):
    target, _ = escape
    data = tar_bytes(entry(str(target), data=b"absolute"),
                     entry(str(target) + "-link", "hardlink", link=str(target)),
                     entry("/abs-sym", "symlink", link=str(target)))
    body, d = write_layer(api, daemon, data)
    assert not os.path.lexists(target), f"{target} written on the host"
    assert not os.path.lexists(str(target) + "-link")
    rel = str(target)[1:]
    assert (d / rel).read_bytes() == b"absolute"
    assert os.lstat(d / (rel + "-link")).st_ino == os.lstat(d / rel).st_ino
    assert os.readlink(d / "abs-sym") == str(target)  # stored as is: only a link


def test_symlink_to_host_path_stored_not_followed(api, daemon):
    data = tar_bytes(entry("etc", "dir"), entry("etc/passwd", "symlink", link="/etc/passwd"),
                     entry("up", "symlink", link="../../../../../../../"))
    body, d = write_layer(api, daemon, data)
    assert os.readlink(d / "etc/passwd") == "/etc/passwd"
    assert os.readlink(d / "up") == "../../../../../../../"


def test_gzip_layer(api, daemon):
    raw = tar_bytes(entry("gz", "dir"), entry("gz/file", data=b"gzipped" * 1000))
    blob = gzip.compress(raw)
    body, d = write_layer(api, daemon, blob)
    assert body["diff_id"] == sha256(raw)
    assert body["blob_digest"] == sha256(blob)
    assert body["entries"] == 2
    assert (d / "gz/file").read_bytes() == b"gzipped" * 1000


def test_zstd_layer(api, daemon, tmp_path):
    if not shutil.which("zstd"):
        pytest.skip("zstd CLI not installed")
    raw = tar_bytes(entry("zst", "dir"), entry("zst/file", data=b"zstd" * 1000))
    blob = subprocess.run(["zstd", "-q", "-c"], input=raw, capture_output=True,
                          check=True).stdout
    body, d = write_layer(api, daemon, blob, digest=sha256(raw))
    assert body["diff_id"] == sha256(raw)
    assert body["blob_digest"] == sha256(blob)
    assert (d / "zst/file").read_bytes() == b"zstd" * 1000


def test_same_layer_twice_is_one_layer(api, daemon):
    data = tar_bytes(entry("twice-" + uuid.uuid4().hex, data=b"t"))
    b1, d1 = write_layer(api, daemon, data)
    snap = store_snapshot(daemon)
    b2, d2 = write_layer(api, daemon, data)
    assert b1["diff_id"] == b2["diff_id"] and d1 == d2
    assert store_snapshot(daemon) == snap


def test_empty_body_refused(api, daemon):
    before = store_snapshot(daemon)
    r = api.post("/layers", b"", headers={"Content-Type": "application/x-tar"})
    assert r.status == 400, r.body
    assert store_snapshot(daemon) == before


# --------------------------------------------------------------------------
# hostile image archives (POST /images/import)


def image_state(api, daemon):
    r = api.get("/images")
    assert r.status == 200, r.body
    s = daemon.root / "storage"
    return sorted(json.dumps(i, sort_keys=True) for i in r.json), store_snapshot(daemon), \
        sorted(os.listdir(s / "images"))


def assert_import_refused(api, daemon, data, names=(), secret=None):
    before = image_state(api, daemon)
    r = import_image(api, data)
    assert r.status == 400, f"want 400, got {r.status} {r.body!r}"
    for n in names:
        assert n in r.message, f"message does not name {n!r}: {r.message!r}"
    if secret is not None:
        assert secret not in r.body.decode(errors="replace")
    assert image_state(api, daemon) == before, "the image store changed after a refusal"
    return r


def test_import_dotdot_entry_refused(api, daemon, escape):
    target, _ = escape
    name = UP + str(target)[1:]
    data = oci_layout_tar([tar_bytes(entry("f", data=b"x"))], {"Cmd": ["true"]},
                          extra=[entry(name, data=b"x")])
    assert_import_refused(api, daemon, data, [name, "escapes the root"])
    assert not os.path.lexists(target)


def test_import_device_node_refused(api, daemon):
    data = oci_layout_tar([tar_bytes(entry("f", data=b"x"))], {"Cmd": ["true"]},
                          extra=[entry("evil", "chr", devmajor=1, devminor=1)])
    assert_import_refused(api, daemon, data, ["evil", "device nodes are not allowed"])


def test_import_hostile_layer_refused(api, daemon, escape):
    """An image whose layer writes through a symlink: the layer's refusal refuses the image."""
    _, hostdir = escape
    layer = tar_bytes(entry("a", "symlink", link=str(hostdir)), entry("a/pwned", data=b"x"))
    data = oci_layout_tar([layer], {"Cmd": ["true"]}, ref="pl-hostile-layer")
    assert_import_refused(api, daemon, data, ["a/pwned"])
    assert sorted(os.listdir(hostdir)) == ["victim"]
    assert api.get("/images/pl-hostile-layer").status == 404


def test_import_config_through_symlinked_directory_refused(api, daemon, escape):
    """A docker-archive whose Config path goes through a symlink to a host directory must
    not read the host's file (it would be served back by GET /images/{ref})."""
    _, hostdir = escape
    secret = "pl-secret-" + uuid.uuid4().hex
    (hostdir / "cfg.json").write_text(json.dumps(
        {"secret": secret, "rootfs": {"type": "layers", "diff_ids": []}}))
    name = "pl-leak-cfg-" + uuid.uuid4().hex[:8] + ":v1"
    data = docker_archive_tar([{"Config": "h/cfg.json", "RepoTags": [name], "Layers": []}],
                              extra=[entry("h", "symlink", link=str(hostdir))])
    try:
        assert_import_refused(api, daemon, data, secret=secret)
    finally:
        leaked = api.get(f"/images/{name}")
        if leaked.status == 200:
            api.delete(f"/images/{name}")
        assert secret not in leaked.body.decode(errors="replace"), \
            f"host file served back by GET /images/{name}: {leaked.body[:300]!r}"


def test_import_layer_through_symlinked_directory_refused(api, daemon, escape):
    """Likewise for a layer file: a tar on the host must not become an image layer."""
    _, hostdir = escape
    host_layer = tar_bytes(entry("host-only-" + hostdir.name, data=b"from the host"))
    (hostdir / "layer.tar").write_bytes(host_layer)
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["true"]},
                      "rootfs": {"type": "layers", "diff_ids": [sha256(host_layer)]}}).encode()
    name = "pl-leak-layer-" + uuid.uuid4().hex[:8] + ":v1"
    data = docker_archive_tar([{"Config": "config.json", "RepoTags": [name],
                                "Layers": ["h/layer.tar"]}], files={"config.json": cfg},
                              extra=[entry("h", "symlink", link=str(hostdir))])
    try:
        assert_import_refused(api, daemon, data)
    finally:
        if api.get(f"/images/{name}").status == 200:
            api.delete(f"/images/{name}")


def test_import_oci_blobs_through_symlink_refused(api, daemon, escape):
    """An OCI layout whose blobs/ is a symlink to a host directory."""
    _, hostdir = escape
    good = oci_layout_tar([tar_bytes(entry("f", data=b"x"))], {"Cmd": ["true"]})
    # the same layout's blobs moved to the host, blobs/ pointing there
    with tarfile.open(fileobj=io.BytesIO(good)) as t:
        keep = []
        for m in t.getmembers():
            if m.name.startswith("blobs/sha256/"):
                (hostdir / "sha256").mkdir(exist_ok=True)
                (hostdir / "sha256" / m.name.rsplit("/", 1)[1]).write_bytes(
                    t.extractfile(m).read())
            elif not m.name.startswith("blobs"):
                keep.append((m, t.extractfile(m).read() if m.isreg() else b""))
    data = tar_bytes(*keep, entry("blobs", "symlink", link=str(hostdir)))
    before = image_state(api, daemon)
    r = import_image(api, data)
    if r.status == 201:
        for img in r.json["images"]:
            api.delete(f"/images/{img['id']}")
    assert r.status == 400, f"blobs read through a symlink to the host: {r.status} {r.body!r}"
    assert image_state(api, daemon) == before


def test_import_not_an_image_refused(api, daemon):
    assert_import_refused(api, daemon, tar_bytes(entry("hello", data=b"x")),
                          ["index.json", "manifest.json"])
