# SPDX-License-Identifier: Apache-2.0
"""tether's SECCOMP frame: the primary's filter as raw BPF bytes ahead of CONFIG, named by
CONFIG's "seccomp_frame" (instruction count). Driven without the daemon, as
test_tether_sessions.py does; the daemon's own use is covered by test_security.py."""

import platform
import struct

import pytest

from test_tether_sessions import CONFIG, ERROR, EXITED, HELLO, STARTED, Tether  # noqa: F401

SECCOMP = 24
pytestmark = pytest.mark.skipif(platform.machine() != "x86_64",
                                reason="the filter below names x86_64 syscall numbers")

RET, LD_W_ABS, JEQ_K = 0x06, 0x20, 0x15
ALLOW, ERRNO = 0x7FFF0000, 0x00050000
EPERM = 1
MKDIR, MKDIRAT = 83, 258


def insn(code, jt, jf, k):
    return struct.pack("=HBBI", code, jt, jf, k)


# mkdir(2) and mkdirat(2) fail with EPERM, everything else is allowed (the architecture is
# not checked: a test program, not a profile)
NO_MKDIR = b"".join([
    insn(LD_W_ABS, 0, 0, 0),           # A = seccomp_data.nr
    insn(JEQ_K, 2, 0, MKDIR),
    insn(JEQ_K, 1, 0, MKDIRAT),
    insn(RET, 0, 0, ALLOW),
    insn(RET, 0, 0, ERRNO | EPERM),
])


@pytest.fixture
def tether(tmp_path):
    t = Tether(tmp_path)
    yield t
    t.close()


def hello(t):
    c = t.conn
    typ, _, _, _ = c._read_frame(30)
    assert typ == HELLO
    c.send(HELLO, {"version": 1})
    return c


def mkdir_config(tmp_path, **kw):
    return {"args": ["mkdir", str(tmp_path / "made")], **kw}


def test_the_frame_is_the_filter(tether, tmp_path):
    c = hello(tether)
    c.send(SECCOMP, raw=NO_MKDIR)
    c.send(CONFIG, mkdir_config(tmp_path, seccomp_frame=len(NO_MKDIR) // 8))
    c.expect(STARTED, 1)
    ex = c.expect(EXITED, 1)
    assert ex["exit_code"] == 1, ex  # mkdir: Operation not permitted
    assert not (tmp_path / "made").exists()
    assert not c.errors()


def test_without_the_key_the_frame_is_not_applied(tether, tmp_path):
    # the control for the test above: the same process without "seccomp_frame" may mkdir
    c = hello(tether)
    c.send(SECCOMP, raw=NO_MKDIR)
    c.send(CONFIG, mkdir_config(tmp_path))
    assert c.expect(EXITED, 1)["exit_code"] == 0
    assert (tmp_path / "made").is_dir()


@pytest.mark.parametrize("case", ["no frame", "partial instruction", "count mismatch",
                                  "with base64 too", "too many instructions"])
def test_a_bad_frame_or_count_fails_closed(tether, tmp_path, case):
    c = hello(tether)
    count = len(NO_MKDIR) // 8
    extra = {}
    if case == "partial instruction":
        c.send(SECCOMP, raw=NO_MKDIR[:-3])
        assert "whole number of BPF instructions" in c.expect(ERROR)["message"]
    elif case == "too many instructions":
        c.send(SECCOMP, raw=insn(RET, 0, 0, ALLOW) * 4097)
        assert "whole number of BPF instructions" in c.expect(ERROR)["message"]
        count = 4097
    elif case == "count mismatch":
        c.send(SECCOMP, raw=NO_MKDIR)
        count -= 1
    elif case == "with base64 too":
        c.send(SECCOMP, raw=NO_MKDIR)
        extra["seccomp_bpf"] = "AAAAAAAAAAA="
    c.send(CONFIG, mkdir_config(tmp_path, seccomp_frame=count, **extra))
    assert "invalid config" in c.expect(ERROR)["message"]
    ex = c.expect(EXITED, 1)
    assert ex["exit_code"] == 128 and "seccomp" in ex["error"], ex
    assert not (tmp_path / "made").exists()


def test_a_frame_after_config_is_unexpected(tether, tmp_path):
    c = hello(tether)
    c.send(CONFIG, {"args": ["sleep", "1000"]})
    c.expect(STARTED, 1)
    c.send(SECCOMP, raw=NO_MKDIR)
    assert c.expect(ERROR) == {"message": "unexpected message type 24", "type": 24}
