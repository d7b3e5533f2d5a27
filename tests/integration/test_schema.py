# SPDX-License-Identifier: Apache-2.0
"""Real answers of the daemon match the schemas of api/portlayer.yaml.

Every answer the suite's Api helper got (conftest.RESPONSES: this module runs last, after
every other module of the session) and the answers of a replay below, which calls every
route the spec lists that a single daemon can serve without a registry, are checked: the
status must be one the operation lists (any 4xx/5xx may instead be the generic error
object), the Content-Type must be one it lists, and a JSON body must validate against the
operation's schema with python3-jsonschema (Debian's package). OpenAPI 3.0 schema objects
are JSON Schema draft 4 plus `nullable`, which is translated."""

import copy
import io
import json
import re
import tarfile

import pytest

import conftest
from conftest import SPEC, wait_until

jsonschema = pytest.importorskip("jsonschema")
yaml = pytest.importorskip("yaml")

METHODS = ("get", "put", "post", "delete", "head", "patch")


def _translate(node):
    """OpenAPI 3.0 schema object → JSON Schema (draft 4): nullable becomes a "null" type."""
    if isinstance(node, list):
        return [_translate(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _translate(v) for k, v in node.items()}
    if out.pop("nullable", False):
        if "type" in out:
            t = out["type"]
            out["type"] = (t if isinstance(t, list) else [t]) + ["null"]
        elif "$ref" in out or "allOf" in out or "oneOf" in out or "anyOf" in out:
            out = {"anyOf": [out, {"type": "null"}]}
        if "enum" in out:
            out["enum"] = list(out["enum"]) + [None]
    return out


class Spec:
    def __init__(self):
        self.doc = _translate(yaml.safe_load(SPEC.read_text()))
        self.resolver = jsonschema.RefResolver.from_schema(self.doc)
        self.routes = []  # (method, template, regex, operation): literal routes first
        for path, ops in self.doc["paths"].items():
            rx = "^"
            for part in re.split(r"(\{[^}]+\})", path):
                if part.startswith("{"):
                    # the daemon's {ref} of images spans slashes ("host/repo:tag")
                    rx += "(.+)" if part in ("{ref}", "{key}") else "([^/]+)"
                else:
                    rx += re.escape(part)
            rx = re.compile(rx + "$")
            for m, op in ops.items():
                if m in METHODS:
                    self.routes.append((m.upper(), path, rx, op))
        # as the daemon matches: literal paths and longer templates before {ref} catch-alls
        self.routes.sort(key=lambda r: ("{" in r[1], "{ref}" in r[1] and not
                                        r[1].endswith("/push")))

    def route(self, method, path):
        path = re.sub(r"^/v[0-9]+(?=/|$)", "", path) or "/"
        for m, template, rx, op in self.routes:
            if m == method and rx.match(path):
                return template, op
        return None, None

    def resolve(self, obj):
        while isinstance(obj, dict) and "$ref" in obj:
            _, obj = self.resolver.resolve(obj["$ref"])
        return obj

    def validate(self, schema, value):
        jsonschema.Draft4Validator(schema, resolver=self.resolver).validate(value)


@pytest.fixture(scope="module")
def spec():
    return Spec()


def check(spec, method, path, status, ctype, body):
    """Problems with one answer (a list of strings), and its route template (or None)."""
    template, op = spec.route(method, path)
    if op is None or status == 405:
        return [], None  # a path or method the spec does not have: test_api.py's business
    where = f"{method} {template} -> {status}"
    responses = op.get("responses", {})
    resp = responses.get(str(status)) or responses.get("default")
    if resp is None:
        if status >= 400:  # any failure may be the generic error object
            resp = spec.doc["components"]["responses"]["Error"]
        else:
            return [f"{where}: status not in the spec"], template
    resp = spec.resolve(resp)
    content = resp.get("content") or {}
    mime = ctype.split(";")[0].strip()
    if not content:
        if body:
            return [f"{where}: the spec has no body, the answer has {ctype}"], template
        return [], template
    if mime and mime not in content:
        return [f"{where}: Content-Type {mime} not in the spec ({', '.join(content)})"], template
    schema = (content.get(mime) or {}).get("schema")
    if body is None or not schema or "json" not in mime:
        return [], template
    docs = [json.loads(line) for line in body.splitlines() if line.strip()] \
        if mime == "application/x-ndjson" else [json.loads(body)]
    problems = []
    for doc in docs:
        try:
            spec.validate(schema, doc)
        except jsonschema.ValidationError as e:
            at = "/".join(map(str, e.absolute_path)) or "(top)"
            problems.append(f"{where}: at {at}: {e.message} "
                            f"(schema {'/'.join(map(str, e.absolute_schema_path))})")
            break
    return problems, template


def _validate_all(spec, records):
    problems, covered = {}, set()
    for method, path, status, ctype, body in records:
        found, template = check(spec, method, path, status, ctype, body)
        if template and 200 <= status < 300:
            covered.add((method, template))
        for p in found:
            problems.setdefault(p, 0)
            problems[p] += 1
    return problems, covered


def _tar(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _replay(api, rootfs, uniq):
    """Calls every route a lone daemon serves, successfully, through the recording helper."""
    api.get("/_ping")
    api.get("/info")
    api.get("/v1/info")
    api.get("/metrics")
    vol = api.post("/volumes", {"name": f"{uniq}-vol", "labels": {"a": "b"}})
    assert vol.status == 201, vol
    api.get("/volumes")
    api.get(f"/volumes/{uniq}-vol")
    net = api.post("/networks", {"name": f"{uniq}-net", "subnet": "10.231.7.0/24"})
    assert net.status == 201, net
    api.get("/networks")
    api.get(f"/networks/{uniq}-net")

    cid = api.create(rootfs, ["sh", "-c", "echo hi; echo err >&2; sleep 1000"],
                     name=f"{uniq}-s")
    api.get("/containers")
    api.get(f"/containers/{cid}")
    api.start(cid)
    api.wait_for_output(cid, "hi")
    api.get(f"/containers/{cid}/logs", params={"stdout": 1, "stderr": 1})
    api.get(f"/containers/{cid}/stats", params={"stream": 0})
    api.get(f"/containers/{cid}/ports")
    api.get(f"/containers/{cid}/top")
    api.post(f"/networks/{uniq}-net/connect", {"container": cid, "aliases": ["a1"]})
    api.post(f"/networks/{uniq}-net/disconnect", {"container": cid})
    api.post(f"/containers/{cid}/update", {"resources": {"pids_limit": 200}})
    api.post(f"/containers/{cid}/pause")
    api.post(f"/containers/{cid}/unpause")
    ex = api.post(f"/containers/{cid}/exec", {"args": ["sh", "-c", "exit 3"]})
    assert ex.status == 201, ex
    eid = ex.json["id"]
    api.post(f"/exec/{eid}/start", params={"detach": 1})
    api.post(f"/exec/{eid}/wait")
    api.get(f"/exec/{eid}/json")
    api.delete(f"/exec/{eid}")
    api.request("PUT", f"/containers/{cid}/archive", body=_tar({"made": b"x"}),
                params={"path": "/"}, headers={"Content-Type": "application/x-tar"})
    api.request("HEAD", f"/containers/{cid}/archive", params={"path": "/made"})
    api.get(f"/containers/{cid}/archive", params={"path": "/made"})
    api.get(f"/containers/{cid}/changes")
    api.get(f"/containers/{cid}/export")
    h = api.get(f"/containers/{cid}/handle")
    handle = h.json["handle"]
    api.get(f"/handles/{handle}")
    m = api.post(f"/handles/{handle}/labels", {"set": {"k": "v"}})
    assert m.status == 200, m
    api.post(f"/handles/{m.json['handle']}/commit")
    h2 = api.get(f"/containers/{cid}/handle").json["handle"]
    api.delete(f"/handles/{h2}")
    api.post(f"/containers/{cid}/kill", params={"signal": "TERM"})
    api.post(f"/containers/{cid}/wait")
    commit = api.post("/commit", params={"container": cid, "repo": f"{uniq}-img", "tag": "t"})
    assert commit.status == 201, commit
    api.get("/images")
    api.get(f"/images/{uniq}-img:t")
    api.get("/images/get", params={"names": f"{uniq}-img:t"})
    api.post("/images/tag", params={"ref": f"{uniq}-img:t", "name": f"{uniq}-img2:u"})
    api.post(f"/containers/{cid}/stop")
    api.delete(f"/containers/{cid}")
    layer = _tar({"etc/hello": b"hello\n"})
    api.post("/layers", layer, headers={"Content-Type": "application/x-tar"})
    api.get("/events", params={"until": "1"}, timeout=10)
    api.request("PUT", f"/kv/{uniq}/k", body={"value": "v"})
    api.get(f"/kv/{uniq}/k")
    api.get("/kv", params={"prefix": f"{uniq}/"})
    api.delete(f"/kv/{uniq}/k")
    api.delete(f"/images/{uniq}-img2:u")
    api.delete(f"/images/{uniq}-img:t")
    api.delete(f"/volumes/{uniq}-vol")
    api.delete(f"/networks/{uniq}-net")


# Routes the replay cannot serve on its own (a registry, an OCI archive, an upgraded stream)
# or that answer without a body to check.
NOT_REPLAYED = {
    ("POST", "/images/pull"), ("POST", "/images/{ref}/push"), ("POST", "/images/import"),
    ("POST", "/containers/{id}/attach"), ("POST", "/containers/{id}/resize"),
    ("POST", "/exec/{id}/resize"),
}


def test_replayed_answers_match_the_spec(api, rootfs, uniq, spec):
    start = len(conftest.RESPONSES)
    _replay(api, rootfs, uniq)
    problems, covered = _validate_all(spec, conftest.RESPONSES[start:])
    assert not problems, "answers that do not match api/portlayer.yaml:\n" + \
        "\n".join(f"{p} (x{n})" for p, n in sorted(problems.items()))
    listed = {(m, t) for m, t, _, _ in spec.routes}
    missing = listed - covered - NOT_REPLAYED
    assert not missing, "routes the replay did not get a 2xx from:\n" + \
        "\n".join(f"{m} {t}" for m, t in sorted(missing))


def test_every_answer_the_suite_got_matches_the_spec(spec):
    records = list(conftest.RESPONSES)
    assert records, "nothing recorded: conftest.Api.request does not record"
    problems, covered = _validate_all(spec, records)
    assert not problems, "answers that do not match api/portlayer.yaml:\n" + \
        "\n".join(f"{p} (x{n})" for p, n in sorted(problems.items()))


def test_the_validator_catches_a_wrong_answer(spec):
    # a test that must be able to fail: a container list whose entry has a numeric name
    problems, _ = check(spec, "GET", "/containers", 200, "application/json",
                        b'[{"id": 5, "name": 7}]')
    assert problems
    problems, _ = check(spec, "GET", "/info", 201, "application/json", b"{}")
    assert problems and "status not in the spec" in problems[0]
