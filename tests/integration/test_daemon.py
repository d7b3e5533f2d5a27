# SPDX-License-Identifier: Apache-2.0
"""Containers outlive the daemon: stopping or killing portlayerd stops no
container and loses no output; a restarted daemon reattaches."""

import os
import random
import signal
import tempfile

import pytest

from conftest import Daemon, finish_or_fail, pid_alive, pids_with_cmdline, wait_until

TICKER = ["/bin/sh", "-c", 'i=0; while :; do echo "tick $i"; i=$((i+1)); usleep 20000; done']


@pytest.fixture
def own_daemon(binaries):
    d = Daemon(tempfile.mkdtemp(prefix="pl-it-")).start()
    yield d
    finish_or_fail(d, restart=True)


def ticks(api, cid):
    out, _ = api.output(cid)
    return [int(line.split()[1]) for line in out.splitlines()]


def _survives(d, rootfs, how):
    api = d.api
    cid = api.create(rootfs, TICKER)
    done = api.create(rootfs, ["/bin/sh", "-c", "exit 3"])
    api.start(done)
    api.wait(done)
    api.start(cid)
    api.wait_for_output(cid, "tick 3")
    tether = api.state(cid)["pid"]

    if how == "term":
        assert d.stop() == 0, "portlayerd did not exit cleanly on SIGTERM"
    else:
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(10)
    assert pid_alive(tether), "stopping the daemon stopped the container"
    # The container keeps running (and writing) while no daemon is there.
    d.start()
    st = api.state(cid)
    assert st["status"] == "running"
    assert st["pid"] == tether
    assert api.state(done)["exit_code"] == 3
    seen_before = ticks(api, cid)
    last = seen_before[-1]
    wait_until(lambda: ticks(api, cid)[-1] >= last + 5, what="more output after reattaching")
    t = ticks(api, cid)
    assert t == list(range(len(t))), "output was lost or duplicated around the daemon restart"
    api.stop(cid, timeout=5)
    st = api.state(cid)
    assert st["status"] == "stopped"
    assert st["exit_code"] in (143, 137)
    wait_until(lambda: not pid_alive(tether), timeout=5, what="tether to exit")
    assert api.remove(cid).status == 204


def test_container_survives_daemon_sigterm(own_daemon, rootfs):
    _survives(own_daemon, rootfs, "term")


def test_container_survives_daemon_sigkill(own_daemon, rootfs):
    _survives(own_daemon, rootfs, "kill")


def test_exit_while_daemon_down_is_recorded(own_daemon, rootfs):
    d = own_daemon
    api = d.api
    token = str(900000 + random.randrange(99999))
    cid = api.create(rootfs, ["/bin/sh", "-c", f"echo started; exec sleep {token}"])
    api.start(cid)
    api.wait_for_output(cid, "started")
    assert d.stop() == 0
    # The primary process dies while no daemon is running.
    (primary,) = wait_until(lambda: pids_with_cmdline("sleep", token), what="sleep on host")
    os.kill(primary, signal.SIGTERM)
    wait_until(lambda: not pid_alive(primary), timeout=10, what="primary process to die")
    d.start()
    st = api.wait_status(cid, "stopped", timeout=10)
    assert st["exit_code"] == 143
    assert st["signal"] == 15
    assert api.output(cid)[0] == "started\n"
