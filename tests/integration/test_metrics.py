# SPDX-License-Identifier: Apache-2.0
"""GET /metrics: Prometheus text format with the container, API, tether and fd numbers an
operator scrapes (README, api/portlayer.yaml)."""

import re

from conftest import wait_until

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[^"}]|"(?:[^"\\]|\\.)*")*)\})? (\S+)$')


def parse(text):
    """{(name, frozenset(labels)): value}, checking every line is well formed."""
    samples, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#") or not line:
            continue
        m = LINE.match(line)
        assert m, f"malformed metrics line: {line!r}"
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        samples[(m.group(1), labels)] = float(m.group(4))
    for name, _ in samples:
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in typed or base in typed, f"{name} has no # TYPE"
    return samples


def scrape(api):
    r = api.get("/metrics")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    return parse(r.body.decode())


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_a_container_lifecycle(api, rootfs, uniq):
    before = scrape(api)
    cid = api.create(rootfs, ["sleep", "1000"], name=f"{uniq}-m")
    api.start(cid)
    mid = scrape(api)
    assert value(mid, "portlayer_containers", state="running") == \
        value(before, "portlayer_containers", state="running") + 1
    assert value(mid, "portlayer_container_starts_total") == \
        value(before, "portlayer_container_starts_total") + 1
    assert value(mid, "portlayer_domains_running", mechanism="linux") >= 1
    assert value(mid, "portlayer_tethers_connected") >= 1
    # the start latency histogram saw this start; buckets are cumulative
    n = value(mid, "portlayer_container_start_duration_seconds_count")
    assert n == value(before, "portlayer_container_start_duration_seconds_count") + 1
    assert value(mid, "portlayer_container_start_duration_seconds_bucket", le="+Inf") == n
    buckets = sorted((float(dict(k[1])["le"]), v) for k, v in mid.items()
                     if k[0] == "portlayer_container_start_duration_seconds_bucket"
                     and dict(k[1])["le"] != "+Inf")
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)

    api.kill(cid, "KILL")
    api.wait(cid)
    after = scrape(api)
    assert value(after, "portlayer_container_exits_total") == \
        value(before, "portlayer_container_exits_total") + 1
    assert value(after, "portlayer_containers", state="stopped") == \
        value(before, "portlayer_containers", state="stopped") + 1
    assert value(after, "portlayer_event_journal_bytes") > value(before, "portlayer_event_journal_bytes")
    api.remove(cid)


def test_failed_start_is_counted(api, rootfs, uniq):
    before = value(scrape(api), "portlayer_container_start_failures_total")
    cid = api.create(rootfs, ["/no/such/program"], name=f"{uniq}-f")
    r = api.post(f"/containers/{cid}/start")
    assert r.status >= 400
    assert value(scrape(api), "portlayer_container_start_failures_total") == before + 1
    api.remove(cid, force=True)


def test_api_requests_are_counted_by_route(api):
    before = scrape(api)
    key = dict(method="GET", route="/containers/{id}", code="404")
    for _ in range(3):
        assert api.get("/containers/no-such-thing-m").status == 404
    api.get("/v1/containers/no-such-thing-m")  # the versioned alias is the same route
    after = scrape(api)
    assert value(after, "portlayer_api_requests_total", **key) == \
        value(before, "portlayer_api_requests_total", **key) + 4
    lat = dict(method="GET", route="/containers/{id}")
    assert value(after, "portlayer_api_request_duration_seconds_count", **lat) >= 4
    api.get("/definitely/not/a/route")
    assert value(scrape(api), "portlayer_api_requests_total",
                 method="", route="unmatched", code="404") >= 1


def test_fds_and_build_info(api, daemon):
    s = scrape(api)
    import os
    fds = len(os.listdir(f"/proc/{daemon.pid}/fd"))
    # the daemon's count is taken from inside; a scrape opens one more connection at most
    assert abs(value(s, "portlayer_open_fds") - fds) <= 4
    assert value(s, "portlayer_max_fds") > 0
    info = [k for k in s if k[0] == "portlayer_build_info"]
    assert len(info) == 1 and dict(info[0][1])["api_version"] == "1"
