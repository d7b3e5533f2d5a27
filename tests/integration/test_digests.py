# SPDX-License-Identifier: Apache-2.0
"""Registry digests: a pulled image records the manifest digest its registry holds it under
(repo_digests in inspect and the list), runs by that digest, and a push reports the digest
and records it the same way."""

import uuid

from test_pull import busybox_layout, pull, registry, run_image, work  # noqa: F401 (fixtures)
from test_pull import IMAGE_OUT


def test_pull_records_repo_digest_and_runs_by_it(api, registry):
    ref = f"{registry.host}/busybox:t1"
    r = pull(api, ref)
    assert r.status == 201, r.body
    iid = r.json["images"][0]["id"]
    want = f"{registry.host}/busybox@{registry.digest}"
    rec = api.get(f"/images/{ref}").json
    assert rec["repo_digests"] == [want], rec
    assert ref in rec["tags"] and not any("@" in t for t in rec["tags"])
    listed = [i for i in api.get("/images").json if i["id"] == iid][0]
    assert listed["repo_digests"] == [want]
    # by digest: found without another pull, and it runs
    assert api.get(f"/images/{want}").json["id"] == iid
    code, out, err = run_image(api, want)
    assert code == 0 and IMAGE_OUT in out, (code, out, err)
    # pulling by digest keeps the same record
    r = pull(api, want)
    assert r.status == 201 and r.json["images"][0]["id"] == iid, r.body
    assert api.get(f"/images/{ref}").json["repo_digests"] == [want]


def test_push_reports_and_records_the_digest(api, registry, rootfs):
    repo = f"dg-{uuid.uuid4().hex[:8]}"
    b = api.create_body(rootfs, ["sh", "-c", "echo pushed > /p"])
    cid = api.create_raw(b).json["id"]
    api.start(cid)
    api.wait(cid)
    name = f"{registry.host}/{repo}"
    r = api.post("/commit", params={"container": cid, "repo": name, "tag": "v1"})
    assert r.status == 201, r.body
    iid = r.json["id"]
    r = api.post(f"/images/{name}/push", params={"tag": "v1", "insecure": 1}, timeout=120)
    assert r.status == 200, r.body
    digest = r.json["digest"]
    assert digest.startswith("sha256:") and len(digest) == 71
    assert api.get(f"/images/{name}:v1").json["repo_digests"] == [f"{name}@{digest}"]
    # the registry serves that digest for the tag: a pull by it finds the same image
    r = pull(api, f"{name}@{digest}")
    assert r.status == 201 and r.json["images"][0]["id"] == iid, r.body


def test_digest_names_do_not_keep_an_image(api, registry):
    ref = f"{registry.host}/busybox:v2s2"
    r = pull(api, ref)
    assert r.status == 201, r.body
    iid = r.json["images"][0]["id"]
    rec = api.get(f"/images/{iid}").json
    for tag in rec["tags"]:
        api.delete(f"/images/{tag}")
    # its last tag gone, the image goes with its digest names (as docker rmi does)
    assert api.get(f"/images/{iid}").status == 404
    assert api.get(f"/images/{registry.host}/busybox@{registry.digest_v2s2}").status == 404
