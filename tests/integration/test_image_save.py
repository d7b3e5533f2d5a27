# SPDX-License-Identifier: Apache-2.0
"""Image save (GET /images/get, plctl image save): a docker-archive or an OCI image layout
of one or more images that import takes back with the same ids and layer digests, and the
image runs again after export -> rm -> import."""

import io
import json
import tarfile

import pytest

from test_storage import base_layer, built, imported, run_image, unique_image  # noqa: F401


def save(api, names, fmt=None):
    params = {"names": ",".join(names)}
    if fmt:
        params["format"] = fmt
    r = api.get("/images/get", params=params, timeout=120)
    assert r.status == 200, (names, r.status, r.body[:300])
    assert r.headers.get("Content-Type") == "application/x-tar"
    return r.body


def members(data):
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        return {m.name.lstrip("./"): (t.extractfile(m).read() if m.isfile() else None)
                for m in t.getmembers()}


def full(name):
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def rm(api, ref):
    r = api.delete(f"/images/{ref}")
    assert r.status in (200, 204), r.body


@pytest.mark.parametrize("fmt", ["docker", "oci"])
def test_round_trip_keeps_ids_and_runs(api, built, fmt):
    """umoci's images (gzip layers) out and back in: same id, same layers, same content."""
    imgs = imported(api, built["oci"])
    by_name = {i["tags"][0]: i["id"] for i in imgs}
    one = [n for n in by_name if n.endswith("one") or n == "one:latest"][0]
    two = [n for n in by_name if n != one][0]
    before = {n: api.get(f"/images/{n}").json for n in (one, two)}
    data = save(api, [one, two], fmt)
    files = members(data)
    if fmt == "docker":
        man = json.loads(files["manifest.json"])
        assert sorted(t for m in man for t in m["RepoTags"]) == sorted([full(one), full(two)])
        for m in man:
            cfg = files[m["Config"]]
            assert "sha256:" + __import__("hashlib").sha256(cfg).hexdigest() in by_name.values()
    else:
        assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
        idx = json.loads(files["index.json"])
        refs = sorted(m["annotations"]["org.opencontainers.image.ref.name"]
                      for m in idx["manifests"])
        assert refs == sorted([full(one), full(two)])
    for n in (two, one):
        rm(api, n)
    assert api.get(f"/images/{one}").status == 404
    back = {full(i["tags"][0]): i["id"] for i in imported(api, data)}
    assert back == {full(n): i for n, i in by_name.items()}
    for n in (one, two):
        after = api.get(f"/images/{n}").json
        assert after["id"] == before[n]["id"]
        assert after["layers"] == before[n]["layers"]
        assert after["config"] == before[n]["config"]
    cid, code, out, err = run_image(api, {"image": two})
    assert code == 0 and "image-cmd" in out, (out, err)
    api.remove(cid, force=True)


def test_python_made_image_and_by_id(api, base_layer):
    name, iid = unique_image(api, base_layer, extra_layers=2)
    data = save(api, [iid])  # by id: no names in the archive
    man = json.loads(members(data)["manifest.json"])
    assert len(man) == 1 and not man[0]["RepoTags"] and len(man[0]["Layers"]) == 3
    rm(api, name)
    back = imported(api, data)
    assert back[0]["id"] == iid and back[0]["tags"] == []
    cid, code, out, err = run_image(api, {"image": iid})
    assert code == 0 and "unique" in out, (out, err)
    api.remove(cid, force=True)


def test_committed_image_round_trip(api, rootfs):
    b = api.create_body(rootfs, ["sh", "-c", "echo committed > /c.txt"])
    cid = api.create_raw(b).json["id"]
    api.start(cid)
    api.wait(cid)
    r = api.post("/commit", params={"container": cid, "repo": "pl-saved", "tag": "c1"},
                 body={"changes": {"Cmd": ["cat", "/c.txt"]}})
    assert r.status == 201, r.body
    iid = r.json["id"]
    api.remove(cid, force=True)
    data = save(api, ["pl-saved:c1"], "oci")
    rm(api, "pl-saved:c1")
    assert imported(api, data)[0]["id"] == iid
    cid, code, out, err = run_image(api, {"image": "pl-saved:c1"})
    assert code == 0 and "committed" in out, (out, err)
    api.remove(cid, force=True)


def test_plctl_image_save(api, plctl, base_layer, tmp_path):
    name, iid = unique_image(api, base_layer)
    out = tmp_path / "saved.tar"
    plctl("image", "save", "-o", out, name, check=0)
    man = json.loads(members(out.read_bytes())["manifest.json"])
    assert man[0]["RepoTags"] == [name]
    p = plctl("image", "save", "--format", "oci", "-o", tmp_path / "o.tar", name, check=0)
    assert "index.json" in members((tmp_path / "o.tar").read_bytes()), p.stderr


def test_save_errors(api):
    assert api.get("/images/get", params={"names": "no-such-image:x"}).status == 404
    assert api.get("/images/get").status == 400
    assert api.get("/images/get", params={"names": "x", "format": "zip"}).status == 400
