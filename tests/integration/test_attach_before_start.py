# SPDX-License-Identifier: Apache-2.0
"""Attach before start: the order every `docker run` uses (create, attach, wait, start).
Attaching to a created container succeeds, and the stream carries the process's output from
its very first byte, even for a program that prints at once and exits; stdin sent (and
closed) before the start reaches the process once it runs."""

import threading

from conftest import DEADLINE
from test_interactive import Demuxer, attach


def create(api, rootfs, args, uniq, **process):
    body = api.create_body(rootfs, args, name=uniq)
    body["process"].update(process)
    r = api.create_raw(body)
    assert r.status == 201, r
    return r.json["id"]


def test_no_byte_lost_of_a_program_that_prints_at_once(api, rootfs, uniq):
    # ~60 KB on stdout and a line on stderr, written as fast as the shell can, then exit 7
    script = ("i=0; while [ $i -lt 6000 ]; do echo line-$i; i=$((i+1)); done; "
              "echo bye >&2; exit 7")
    cid = create(api, rootfs, ["/bin/sh", "-c", script], uniq)
    assert api.state(cid)["status"] == "created"
    up = attach(api, cid)
    assert not up.raw
    # docker run's order: the wait for the next exit is parked before the start
    waited = {}
    t = threading.Thread(target=lambda: waited.update(
        api.wait(cid, condition="next-exit")))
    t.start()
    api.start(cid)
    d = Demuxer()
    d.feed(up.read_all())
    up.close()
    t.join(DEADLINE + 10)
    want = "".join(f"line-{i}\n" for i in range(6000))
    assert d.at_boundary()
    assert d.out.decode() == want, (len(d.out), len(want), bytes(d.out[:60]))
    assert d.err == b"bye\n"
    assert waited.get("exit_code") == 7, waited


def test_echo_right_away_every_time(api, rootfs, uniq):
    # the smallest race: one line, printed the instant the process runs
    for i in range(5):
        cid = create(api, rootfs, ["echo", f"hello-{i}"], f"{uniq}-{i}")
        up = attach(api, cid)
        api.start(cid)
        d = Demuxer()
        d.feed(up.read_all())
        up.close()
        assert d.out == f"hello-{i}\n".encode(), (i, bytes(d.out))


def test_stdin_before_start(api, rootfs, uniq):
    cid = create(api, rootfs, ["/bin/sh", "-c", "cat; echo done"], uniq, stdin=True)
    up = attach(api, cid, stdin=1)
    up.send(b"typed before the start\n")
    up.half_close()  # EOF, also before the start: it must come after the bytes
    api.start(cid)
    d = Demuxer()
    d.feed(up.read_all())
    up.close()
    assert d.out == b"typed before the start\ndone\n", bytes(d.out)
    assert api.wait(cid)["exit_code"] == 0


def test_attach_stopped_container_then_start_again(api, rootfs, uniq):
    cid = create(api, rootfs, ["/bin/sh", "-c", "echo run"], uniq)
    api.start(cid)
    api.wait(cid)
    up = attach(api, cid)  # docker start -a: attach, then start
    api.start(cid)
    d = Demuxer()
    d.feed(up.read_all())
    up.close()
    assert d.out == b"run\n", bytes(d.out)
