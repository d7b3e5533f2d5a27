#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the seed corpora of the fuzzers into tests/fuzz/corpus/<target>/ (checked in;
rerun after changing this file). Seeds are realistic inputs: create requests as clients
send them, tether protocol conversations, DNS queries, layer tars, HTTP requests."""

import io
import json
import os
import shutil
import struct
import tarfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "corpus"


def put(target, name, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def config_seeds():
    base = {"rootfs": "/r", "process": {"args": ["x"]}}
    seeds = {
        "minimal": base,
        "full": {
            "name": "web", "rootfs": "/var/lib/portlayer/rootfs/busybox",
            "process": {"args": ["sh", "-c", "echo hi"], "env": ["A=1", "PATH=/bin"],
                        "cwd": "/tmp", "user": "1000:1000", "tty": True, "stdin": True},
            "hostname": "h", "isolation": {"kernel": "shared"},
            "labels": {"a": "b"}, "annotations": {"x": "y"},
            "restart_policy": {"name": "on-failure", "maximum_retry_count": 3},
            "stop_signal": "INT", "stop_timeout": 3,
            "security": {"privileged": False, "cap_add": ["NET_ADMIN"], "cap_drop": ["ALL"],
                         "no_new_privileges": True, "seccomp": "default",
                         "read_only_rootfs": True, "sysctls": {"net.ipv4.ip_forward": "1"},
                         "rlimits": {"nofile": {"soft": 1024, "hard": 2048}},
                         "tmpfs": {"/run": "size=64m"}, "oom_score_adj": 100,
                         "userns": {"mode": "remap"}},
            "resources": {"memory": 67108864, "cpus": 1.5, "pids_limit": 100,
                          "cpu_shares": 512, "cpuset_cpus": "0-1", "blkio_weight": 300},
        },
        "image": {"image": "busybox:latest", "process": {"args": ["true"]}},
        "mounts": dict(base, mounts=[{"type": "volume", "source": "data", "target": "/data"},
                                     {"type": "bind", "source": "/tmp", "target": "/mnt",
                                      "readonly": True}]),
        "mount-proc": dict(base, mounts=[{"type": "bind", "source": "/tmp",
                                          "target": "/proc/x"}]),
        "network": dict(base, network_mode="bridge",
                        networks=[{"scope": "bridge", "ip": "172.17.0.5",
                                   "aliases": ["db"]}],
                        ports=[{"container_port": 80, "host_port": 8080,
                                "host_ip": "127.0.0.1", "protocol": "tcp"}]),
        "privileged": dict(base, security={"privileged": True}),
        "seccomp-custom": dict(base, security={"seccomp": {
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["read", "write", "exit"], "action": "SCMP_ACT_ALLOW"}]}}),
        "unconfined": dict(base, security={"seccomp": "unconfined"}),
        "null-security": dict(base, security=None),
        "vm": dict(base, isolation={"kernel": "dedicated"}, resources={"memory": 268435456}),
        "logs": dict(base, log_config={"max_size": 1048576, "max_files": 3}),
    }
    for name, body in seeds.items():
        put("fuzz_config", name + ".json", json.dumps(body))


def frame(t, payload=b"", chan=0, flags=0):
    if isinstance(payload, (dict, list)):
        payload = json.dumps(payload).encode()
    return struct.pack(">IHHI", len(payload), t, flags, chan) + payload


def frame_seeds():
    convo = [
        frame(1, {"version": 1, "agent": "pl-tether"}),
        frame(2, {"args": ["sh", "-c", "echo hi"], "env": ["PATH=/bin"], "cwd": "/"}),
        frame(3, {"pid": 7}),
        frame(16, b"hi\n", chan=0, flags=1),
        frame(16, b"oops\n", chan=0, flags=2),
        frame(4, {"exit_code": 0, "signal": 0}),
    ]
    put("fuzz_frame", "conversation", b"\x05" + b"".join(convo))
    put("fuzz_frame", "exec", b"\x01" + frame(10, {"session": 2, "args": ["ls"], "tty": True})
        + frame(12, {"session": 2, "rows": 24, "cols": 80})
        + frame(15, {"session": 2, "bytes": 65536}) + frame(11, {"session": 2}))
    put("fuzz_frame", "ping", b"\x10" + frame(7, b"abc") + frame(8, b"abc"))
    put("fuzz_frame", "stats", frame(17, {}) + frame(18, {"cpu": 1, "memory": 2, "pids": 3}))
    put("fuzz_frame", "too-big", b"\x03" + struct.pack(">IHHI", (1 << 20) + 1, 16, 0, 0))
    put("fuzz_frame", "type0", b"\x02" + struct.pack(">IHHI", 0, 0, 0, 0))


def dns_name(name):
    out = b""
    for label in name.split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def dns_query(qid, name, qtype, flags=0x0100, extra=b""):
    return struct.pack(">HHHHHH", qid, flags, 1, 0, 0, 1 if extra else 0) + \
        dns_name(name) + struct.pack(">HH", qtype, 1) + extra


def dns_seeds():
    opt = b"\0" + struct.pack(">HHIH", 41, 1232, 0, 0)
    qs = {
        "a-short": dns_query(0x1234, "web", 1),
        "a-scoped": dns_query(0x2345, "web.mynet", 1),
        "a-upper": dns_query(0x3456, "WeB.Example.COM", 1),
        "aaaa": dns_query(0x4567, "db", 28),
        "ptr": dns_query(0x5678, "5.0.17.172.in-addr.arpa", 12),
        "edns": dns_query(0x6789, "example.com", 1, extra=opt),
        "mx": dns_query(0x789a, "example.com", 15),
        "response": dns_query(0x89ab, "web", 1, flags=0x8180),
    }
    for i, (name, q) in enumerate(qs.items()):
        put("fuzz_dns", name, bytes([i * 37 % 256, 1]) + q)
    # a compression pointer loop and a truncated header
    put("fuzz_dns", "loop", b"\x01\x01" + struct.pack(">HHHHHH", 1, 0x100, 1, 0, 0, 0) +
        b"\xc0\x0c" + struct.pack(">HH", 1, 1))
    put("fuzz_dns", "short", b"\x00\x01\x12\x34\x01")


def tar_bytes(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for e in entries:
            ti = tarfile.TarInfo(e["name"])
            ti.type = e.get("type", tarfile.REGTYPE)
            ti.mode = e.get("mode", 0o644)
            ti.linkname = e.get("link", "")
            data = e.get("data", b"")
            ti.size = len(data) if ti.type == tarfile.REGTYPE else 0
            if "pax" in e:
                ti.pax_headers = e["pax"]
            t.addfile(ti, io.BytesIO(data) if ti.type == tarfile.REGTYPE else None)
    return buf.getvalue()


def tar_seeds():
    seeds = {
        "layer": [{"name": "bin/", "type": tarfile.DIRTYPE, "mode": 0o755},
                  {"name": "bin/sh", "data": b"\x7fELF", "mode": 0o755},
                  {"name": "bin/ls", "type": tarfile.SYMTYPE, "link": "sh"},
                  {"name": "etc/passwd", "data": b"root:x:0:0::/root:/bin/sh\n"},
                  {"name": "etc/hard", "type": tarfile.LNKTYPE, "link": "etc/passwd"}],
        "whiteouts": [{"name": "etc/.wh.passwd"}, {"name": "var/.wh..wh..opq"},
                      {"name": "var/x", "data": b"x"}],
        "escape-dotdot": [{"name": "../../etc/shadow", "data": b"x"}],
        "escape-symlink": [{"name": "l", "type": tarfile.SYMTYPE, "link": "/etc"},
                           {"name": "l/shadow", "data": b"x"}],
        "escape-hardlink": [{"name": "h", "type": tarfile.LNKTYPE, "link": "/etc/shadow"}],
        "devices": [{"name": "dev/null", "type": tarfile.CHRTYPE},
                    {"name": "fifo", "type": tarfile.FIFOTYPE}],
        "pax-xattr": [{"name": "f", "data": b"x",
                       "pax": {"SCHILY.xattr.user.a": "b",
                               "SCHILY.xattr.security.capability": "\x01\x00\x00\x02"}}],
        "long-name": [{"name": "d/" + "n" * 200, "data": b"x"}],
        "setuid": [{"name": "s", "data": b"x", "mode": 0o4755}],
    }
    for name, entries in seeds.items():
        put("fuzz_extract", name + ".tar", tar_bytes(entries))
    put("fuzz_extract", "gnu-long.tar",
        tar_bytes([{"name": "g/" + "m" * 150, "data": b"y"}], fmt=tarfile.GNU_FORMAT))


def http_seeds():
    reqs = {
        "ping": "GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n",
        "create": "POST /containers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  "Content-Length: 41\r\n\r\n{\"rootfs\":\"/r\",\"process\":{\"args\":[\"x\"]}}",
        "logs": "GET /containers/web/logs?follow=1&tail=10&since=1700000000.5&stdout=1 "
                "HTTP/1.1\r\nHost: x\r\n\r\n",
        "nul": "DELETE /containers/nultest%00%2f..%2fother?force=1 HTTP/1.1\r\nHost: x\r\n\r\n",
        "image-ref": "DELETE /images/registry.local:5000/a/b@sha256:" + "0" * 64 +
                     " HTTP/1.1\r\nHost: x\r\n\r\n",
        "push": "POST /images/host/repo/push?tag=v1&insecure=1 HTTP/1.1\r\nHost: x\r\n\r\n",
        "attach": "POST /containers/c/attach?stream=1&stdin=1&detachKeys=ctrl-p,ctrl-q "
                  "HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
        "chunked": "PUT /containers/c/archive?path=/tmp HTTP/1.1\r\nHost: x\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "pipelined": "GET /info HTTP/1.1\r\nHost: x\r\n\r\nGET /containers?all=1&filters="
                     "%7B%22label%22%3A%5B%22a%3Db%22%5D%7D HTTP/1.1\r\nHost: x\r\n\r\n",
        "kv": "PUT /kv/a/b HTTP/1.1\r\nHost: x\r\nIf-Match: 3\r\nContent-Length: 13\r\n\r\n"
              "{\"value\":\"v\"}",
        "garbage": "\x00\x01\x02garbage\r\n\r\n",
        "http10": "GET /version HTTP/1.0\r\n\r\n",
        "handle": "POST /handles/abc/commit HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    }
    for name, r in reqs.items():
        put("fuzz_http", name, r.encode("latin-1"))


if __name__ == "__main__":
    if OUT.exists():
        shutil.rmtree(OUT)
    config_seeds()
    frame_seeds()
    dns_seeds()
    tar_seeds()
    http_seeds()
    print(f"seeds written to {OUT}")
