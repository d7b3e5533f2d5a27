"""pl-dockerd: volume sizes in docker system df (the port layer's GET /volumes?size=1),
docker network create -o driver options, and volume/network events in docker events.
Each test checks what the docker CLI shows."""

import json
import time

from docker_fixture import docker  # noqa: F401  (the fixture)

# 1 MiB, a hard link to it (counted once) and 3 bytes in a subdirectory
FILL = ("dd if=/dev/zero of=/v/f bs=1024 count=1024 2>/dev/null; ln /v/f /v/g;"
        " mkdir /v/d; printf abc > /v/d/x")
FILL_BYTES = 1024 * 1024 + 3


def test_volume_size_in_system_df(docker, api, uniq):
    vol, empty = uniq + "-sz", uniq + "-sz0"
    docker.run("volume", "create", vol)
    docker.run("volume", "create", empty)
    docker.run("run", "--rm", "-v", f"{vol}:/v", "busybox", "sh", "-c", FILL)
    # the port layer computes it on request
    r = api.get("/volumes?size=1")
    assert r.status == 200
    sizes = {v["name"]: v["size"] for v in r.json}
    assert sizes[vol] == FILL_BYTES and sizes[empty] == 0
    assert "size" not in api.get(f"/volumes/{vol}").json
    assert api.get(f"/volumes/{vol}?size=1").json["size"] == FILL_BYTES
    # docker system df -v: one line per volume, Docker's human size
    out = docker.out("system", "df", "-v")
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert rows[vol][-1] == "1.049MB", out
    assert rows[empty][-1] == "0B", out
    # the summary line adds them up (no container uses them: all reclaimable)
    df = docker.out("system", "df", "--format", "{{json .}}")
    local = [json.loads(x) for x in df.splitlines() if json.loads(x)["Type"] == "Local Volumes"]
    assert local and local[0]["Size"] != "0B", df
    docker.run("volume", "rm", vol, empty)
