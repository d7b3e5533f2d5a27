# SPDX-License-Identifier: Apache-2.0
"""Bad input and wrong states get the contract's status codes and change nothing."""

import os

import pytest

from conftest import Api

UNKNOWN = "no-such-container-xyz"
UNKNOWN_ID = "0123456789abcdef" * 4


def assert_error(r, status, *words):
    assert r.status == status, f"want {status}, got {r.status}: {r.body!r}"
    j = r.json
    assert isinstance(j, dict) and isinstance(j.get("message"), str) and j["message"], \
        f"error body is not {{\"message\": ...}}: {r.body!r}"
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    for w in words:
        assert w.lower() in j["message"].lower(), f"{w!r} not in message {j['message']!r}"


# ---------------------------------------------------------------- 404


@pytest.mark.parametrize("method,suffix", [
    ("GET", ""), ("POST", "/start"), ("POST", "/stop"), ("POST", "/kill"),
    ("POST", "/wait"), ("GET", "/logs"), ("DELETE", ""),
])
def test_unknown_container_404(api, method, suffix):
    r = api.request(method, f"/containers/{UNKNOWN}{suffix}")
    assert_error(r, 404)
    assert not r.message.lower().startswith("no such route"), r.message


def test_unknown_full_id_inspect_404(api):
    assert_error(api.get(f"/containers/{UNKNOWN_ID}"), 404)
    assert_error(api.post(f"/containers/{UNKNOWN_ID}/start"), 404)


# ---------------------------------------------------------------- 400 on create


def _body(rootfs, **over):
    body = Api.create_body(rootfs, ["/bin/true"])
    body.update(over)
    return body


def _bad_bodies(rootfs, tmp_file):
    return {
        "unknown top-level field": _body(rootfs, bogus=1),
        "unknown process field": _body(rootfs, process={"args": ["/bin/true"], "bogus": 1}),
        "unknown isolation field": _body(rootfs, isolation={"kernel": "shared", "bogus": 1}),
        "args not an array": _body(rootfs, process={"args": "/bin/true"}),
        "args item not a string": _body(rootfs, process={"args": ["/bin/echo", 1]}),
        "empty args": _body(rootfs, process={"args": []}),
        "missing args": _body(rootfs, process={}),
        "missing process": {"rootfs": rootfs},
        "missing rootfs": {"process": {"args": ["/bin/true"]}},
        "relative rootfs": _body("relative/rootfs"),
        "rootfs does not exist": _body(rootfs + "-does-not-exist"),
        "rootfs not a directory": _body(tmp_file),
        "env without =": _body(rootfs, process={"args": ["/bin/true"], "env": ["FOO"]}),
        "env starting with =": _body(rootfs, process={"args": ["/bin/true"], "env": ["=x"]}),
        "env not strings": _body(rootfs, process={"args": ["/bin/true"], "env": [1]}),
        "user name with space": _body(rootfs, process={"args": ["/bin/true"], "user": "ro ot"}),
        "user two colons": _body(rootfs, process={"args": ["/bin/true"], "user": "1000:a:b"}),
        "user negative": _body(rootfs, process={"args": ["/bin/true"], "user": "-1"}),
        "user empty": _body(rootfs, process={"args": ["/bin/true"], "user": ""}),
        "relative cwd": _body(rootfs, process={"args": ["/bin/true"], "cwd": "tmp"}),
        "bad name": _body(rootfs, name="-starts-with-dash"),
        "name with slash": _body(rootfs, name="a/b"),
        "name too long": _body(rootfs, name="a" * 129),
        "hostname too long": _body(rootfs, hostname="h" * 65),
        "unknown kernel": _body(rootfs, isolation={"kernel": "bogus"}),
        "rootfs wrong type": {"rootfs": 42, "process": {"args": ["/bin/true"]}},
        "body not an object": ["/bin/true"],
    }


BAD_CASES = [
    "unknown top-level field", "unknown process field", "unknown isolation field",
    "args not an array", "args item not a string", "empty args", "missing args",
    "missing process", "missing rootfs", "relative rootfs", "rootfs does not exist",
    "rootfs not a directory", "env without =", "env starting with =", "env not strings",
    "user name with space", "user two colons", "user negative", "user empty", "relative cwd", "bad name",
    "name with slash", "name too long", "hostname too long", "unknown kernel",
    "rootfs wrong type", "body not an object",
]


@pytest.mark.parametrize("case", BAD_CASES)
def test_create_bad_input_400(api, rootfs, tmp_path, case):
    f = tmp_path / "a-file"
    f.write_text("not a directory\n")
    bodies = _bad_bodies(rootfs, str(f))
    before = len(api.containers())
    r = api.create_raw(bodies[case])
    assert_error(r, 400)
    assert len(api.containers()) == before, "a rejected create left a container behind"


def test_create_invalid_json_400(api):
    assert_error(api.post("/containers", b'{"rootfs": "/x", "process": {'), 400)
    assert_error(api.post("/containers", b""), 400)


def test_unknown_field_is_named(api, rootfs):
    r = api.create_raw(_body(rootfs, bogus_field_name=1))
    assert_error(r, 400, "bogus_field_name")


# ---------------------------------------------------------------- 400 on other endpoints


def test_kill_bad_signal_400(api, rootfs):
    cid = api.create(rootfs, ["/bin/sleep", "1000"])
    api.start(cid)
    for bad in ("BOGUS", "SIGBOGUS", "0x", "-1", "99999"):
        assert_error(api.kill(cid, bad), 400)
    assert api.state(cid)["status"] == "running"
    api.kill(cid)
    api.wait(cid)


def test_stop_bad_timeout_400(api, rootfs):
    cid = api.create(rootfs, ["/bin/true"])
    assert_error(api.post(f"/containers/{cid}/stop", params={"timeout": "-1"}), 400)
    assert_error(api.post(f"/containers/{cid}/stop", params={"timeout": "soon"}), 400)


def test_wait_bad_params_400(api, rootfs):
    cid = api.create(rootfs, ["/bin/true"])
    assert_error(api.post(f"/containers/{cid}/wait", params={"condition": "bogus"}), 400)
    assert_error(api.post(f"/containers/{cid}/wait", params={"timeout": "-1"}), 400)


def test_logs_bad_tail_400(api, rootfs):
    r = api.run(rootfs, ["/bin/true"])
    assert_error(api.logs_raw(r.id, tail="lots"), 400)


# ---------------------------------------------------------------- exec failures


def test_start_missing_program(api, rootfs):
    cid = api.create(rootfs, ["/bin/no-such-program-here"])
    r = api.post(f"/containers/{cid}/start")
    assert_error(r, 400, "no-such-program-here")
    st = api.state(cid)
    assert st["status"] == "stopped"
    assert st["exit_code"] == 127
    assert "no-such-program-here" in st.get("error", "")


def test_start_missing_program_on_path(api, rootfs):
    cid = api.create(rootfs, ["no-such-program-either"])
    assert_error(api.post(f"/containers/{cid}/start"), 400, "no-such-program-either")
    assert api.state(cid)["exit_code"] == 127


def test_start_not_executable(api, rootfs):
    cid = api.create(rootfs, ["/etc/passwd"])
    r = api.post(f"/containers/{cid}/start")
    assert_error(r, 400, "/etc/passwd")
    st = api.state(cid)
    assert st["status"] == "stopped"
    assert st["exit_code"] == 126


def test_start_bad_cwd(api, rootfs):
    cid = api.create(rootfs, ["/bin/true"], cwd="/no/such/dir")
    r = api.post(f"/containers/{cid}/start")
    assert r.status == 400, r
    assert api.state(cid)["status"] == "stopped"


# ---------------------------------------------------------------- 409


def test_duplicate_name_409(api, rootfs, uniq):
    api.create(rootfs, ["/bin/true"], name=uniq)
    before = len(api.containers())
    assert_error(api.create_raw(_body(rootfs, name=uniq)), 409, uniq)
    assert len(api.containers()) == before


def test_kill_stopped_409(api, rootfs):
    r = api.run(rootfs, ["/bin/true"])
    assert_error(api.kill(r.id), 409)
    assert_error(api.kill(r.id, "TERM"), 409)


def test_kill_created_409(api, rootfs):
    cid = api.create(rootfs, ["/bin/true"])
    assert_error(api.kill(cid), 409)


def test_remove_running_without_force_409(api, rootfs):
    cid = api.create(rootfs, ["/bin/sleep", "1000"])
    api.start(cid)
    assert_error(api.remove(cid), 409)
    assert api.state(cid)["status"] == "running"
    assert api.remove(cid, force=True).status == 204


# ---------------------------------------------------------------- idempotence


def test_remove_idempotent_by_full_id(api, rootfs, uniq):
    cid = api.create(rootfs, ["/bin/true"], name=uniq)
    assert api.remove(cid).status == 204
    assert_error(api.get(f"/containers/{cid}"), 404)
    assert api.remove(cid).status == 204
    assert api.remove(cid, force=True).status == 204
    # ...but a name or a prefix that no longer resolves is unknown.
    assert_error(api.remove(uniq), 404)
    assert_error(api.remove(cid[:12]), 404)


def test_second_stop_204(api, rootfs):
    r = api.run(rootfs, ["/bin/true"])
    assert api.post(f"/containers/{r.id}/stop").status == 204
    assert api.post(f"/containers/{r.id}/stop").status == 204
    assert api.state(r.id)["exit_code"] == 0


# ---------------------------------------------------------------- 501


def test_dedicated_kernel_501(api, rootfs):
    info = api.get("/info").json
    for m in info.get("mechanisms", []):
        if m.get("kernel") == "dedicated" and m.get("available"):
            pytest.skip(f"mechanism {m.get('name')} provides a dedicated kernel here")
    before = len(api.containers())
    r = api.create_raw(_body(rootfs, isolation={"kernel": "dedicated"}))
    assert_error(r, 501)
    assert len(api.containers()) == before


def test_shared_kernel_accepted(api, rootfs):
    cid = api.create(rootfs, ["/bin/true"], isolation={"kernel": "shared"})
    assert api.inspect(cid)["mechanism"] == "linux"


def test_rejected_input_leaves_no_domain_dir(api, daemon, rootfs):
    def domain_dirs():
        # .removing-*: earlier tests' removals the daemon's janitor is still deleting
        d = daemon.root / "containers"
        return sorted(n for n in os.listdir(d) if not n.startswith(".removing-")) \
            if d.exists() else []

    before = domain_dirs()
    api.create_raw(_body(rootfs, process={"args": []}))
    api.create_raw(_body(rootfs, isolation={"kernel": "bogus"}))
    assert domain_dirs() == before
