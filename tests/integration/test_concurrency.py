# SPDX-License-Identifier: Apache-2.0
"""Many containers at once."""

import threading

from conftest import DEADLINE


def test_twenty_concurrent_containers(api, rootfs, uniq):
    n = 20
    results = [None] * n
    errors = []
    barrier = threading.Barrier(n)

    def worker(i):
        token = f"token-{uniq}-{i}"
        try:
            barrier.wait(DEADLINE)
            r = api.run(rootfs, ["/bin/sh", "-c", f"echo {token}; echo {token}-err >&2; exit {i % 7}"],
                        name=f"{uniq}-{i}")
            results[i] = (token, r)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(f"worker {i}: {e!r}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE * 3)
    assert not [t for t in threads if t.is_alive()], "workers still running"
    assert not errors, "\n".join(errors)
    ids = set()
    for i, (token, r) in enumerate(results):
        assert r.stdout == f"{token}\n", f"container {i}: stdout {r.stdout!r}"
        assert r.stderr == f"{token}-err\n", f"container {i}: stderr {r.stderr!r}"
        assert r.exit_code == i % 7
        assert api.inspect(f"{uniq}-{i}")["id"] == r.id
        ids.add(r.id)
    assert len(ids) == n


def test_concurrent_creates_same_name_one_wins(api, rootfs, uniq):
    n = 8
    statuses = []
    lock = threading.Lock()
    barrier = threading.Barrier(n)

    def worker():
        barrier.wait(DEADLINE)
        r = api.create_raw(api.create_body(rootfs, ["/bin/true"], name=uniq))
        with lock:
            statuses.append(r.status)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
    assert sorted(statuses) == [201] + [409] * (n - 1), statuses
    assert len([c for c in api.containers() if c["name"] == uniq]) == 1
