# SPDX-License-Identifier: Apache-2.0
"""docker build (the classic builder, DOCKER_BUILDKIT=0) through pl-dockerd with the real
docker CLI: instructions, multi-stage COPY --from, .dockerignore, build args, --target, a
failing RUN, the cache, and the built image run."""

import io
import json
import os
import shutil
import subprocess
import tarfile

import pytest

from conftest import DEADLINE
from docker_fixture import docker, start_authed_registry  # noqa: F401  (the fixture)

CONTEXT_MAX = 4 << 20  # pl-dockerd's context cap for this module (PL_DOCKERD_BUILD_CONTEXT_MAX)


@pytest.fixture(scope="module", autouse=True)
def _build_env():
    """The legacy builder for the CLI, a small context cap for the pl-dockerd the docker
    fixture starts after this (module-scoped fixtures: autouse ones come first)."""
    saved = {k: os.environ.get(k) for k in ("DOCKER_BUILDKIT", "PL_DOCKERD_BUILD_CONTEXT_MAX")}
    os.environ["DOCKER_BUILDKIT"] = "0"
    os.environ["PL_DOCKERD_BUILD_CONTEXT_MAX"] = str(CONTEXT_MAX)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v

DOCKERFILE = r"""# escape=\
ARG BASE=busybox
FROM ${BASE} AS builder
ARG GREETING=hello
RUN mkdir -p /out && echo "$GREETING from \
builder" > /out/msg
FROM busybox
LABEL org.example.k="v 1"
ENV APP_HOME=/app MODE=${MODE:-prod}
WORKDIR $APP_HOME
COPY --from=builder /out/msg ./msg
COPY files/ ./files/
COPY top.txt .
USER 4321
EXPOSE 8080
VOLUME /data
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s CMD true
CMD ["sh", "-c", "cat /app/msg; echo $MODE; pwd; id -u"]
"""


def make_context(tmp):
    ctx = tmp / "ctx"
    (ctx / "files").mkdir(parents=True)
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "files" / "a.txt").write_text("A\n")
    (ctx / "files" / "skip.log").write_text("no\n")
    (ctx / "top.txt").write_text("top\n")
    (ctx / ".dockerignore").write_text("**/*.log\n")
    return ctx


def build(docker, ctx, *args, check=True):
    return docker.run("build", *args, str(ctx), check=check)


def test_build_runs_and_caches(docker, tmp_path):
    ctx = make_context(tmp_path)
    p = build(docker, ctx, "-t", "pltest/built:1", "-t", "pltest/built:2",
              "--build-arg", "GREETING=hi")
    assert "Step 1/" in p.stdout and "Successfully tagged pltest/built:1" in p.stdout, p.stdout
    out = docker.out("run", "--rm", "pltest/built:1")
    assert out == "hi from builder\nprod\n/app\n4321\n", out
    assert docker.out("run", "--rm", "pltest/built:2", "ls", "/app/files") == "a.txt\n"
    cfg = json.loads(docker.out("image", "inspect", "--format", "{{json .Config}}",
                                "pltest/built:1"))
    assert cfg["Labels"]["org.example.k"] == "v 1"
    assert "8080/tcp" in cfg["ExposedPorts"] and "/data" in cfg["Volumes"]
    assert cfg["WorkingDir"] == "/app" and cfg["User"] == "4321"
    hist = docker.out("history", "--no-trunc", "--format", "{{.CreatedBy}}", "pltest/built:1")
    assert "WORKDIR /app" in hist and "EXPOSE 8080" in hist
    # a second build of the same context uses the cache for every step
    p2 = build(docker, ctx, "-t", "pltest/built:1", "--build-arg", "GREETING=hi")
    assert p2.stdout.count("Using cache") >= 10, p2.stdout
    assert "Running in" not in p2.stdout, p2.stdout
    # --no-cache runs again
    p3 = build(docker, ctx, "--no-cache", "-t", "pltest/built:3", "--build-arg", "GREETING=hi")
    assert "Using cache" not in p3.stdout


def test_target_stops_at_stage(docker, tmp_path):
    ctx = make_context(tmp_path)
    build(docker, ctx, "--target", "builder", "-t", "pltest/stage:1")
    assert docker.out("run", "--rm", "pltest/stage:1", "cat", "/out/msg") == \
        "hello from builder\n"


def test_failing_run_reports_and_tags_nothing(docker, tmp_path):
    ctx = tmp_path / "bad"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo before; exit 3\n")
    before = docker.out("ps", "-aq")
    p = build(docker, ctx, "-t", "pltest/bad:1", check=False)
    assert p.returncode != 0
    assert "returned a non-zero code: 3" in p.stderr + p.stdout
    assert "before" in p.stdout
    assert "pltest/bad" not in docker.out("images", "--format", "{{.Repository}}")
    assert docker.out("ps", "-aq") == before


def test_hostile_context_and_remote_add(docker, tmp_path):
    ctx = tmp_path / "h"
    ctx.mkdir()
    os.symlink("/etc/passwd", ctx / "link")
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY link /x/link\n")
    build(docker, ctx, "-t", "pltest/link:1")
    out = docker.out("run", "--rm", "pltest/link:1", "readlink", "/x/link")
    assert out == "/etc/passwd\n"
    (ctx / "Dockerfile").write_text("FROM busybox\nADD http://127.0.0.1:1/x /x\n")
    p = build(docker, ctx, check=False)
    assert p.returncode != 0 and "remote URLs are not supported" in p.stdout + p.stderr


def test_entrypoint_shell_onbuild_add_tar_glob_chown(docker, tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    (base / "Dockerfile").write_text(
        "FROM busybox\n"
        "ONBUILD RUN echo triggered > /trigger\n"
        "ENTRYPOINT [\"echo\", \"ep\"]\n"
        "CMD [\"default\"]\n")
    build(docker, base, "-t", "pltest/onbuild:1")
    assert docker.out("run", "--rm", "pltest/onbuild:1") == "ep default\n"
    assert docker.out("run", "--rm", "pltest/onbuild:1", "given") == "ep given\n"
    cfg = json.loads(docker.out("image", "inspect", "--format", "{{json .Config}}",
                                "pltest/onbuild:1"))
    assert cfg["OnBuild"] == ["RUN echo triggered > /trigger"]

    ctx = tmp_path / "child"
    ctx.mkdir()
    with tarfile.open(ctx / "bundle.tar.gz", "w:gz") as t:
        data = b"from the tarball\n"
        info = tarfile.TarInfo("pkg/inside.txt")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    (ctx / "one.conf").write_text("1\n")
    (ctx / "two.conf").write_text("2\n")
    (ctx / "other.txt").write_text("x\n")
    (ctx / "Dockerfile").write_text(
        "FROM pltest/onbuild:1\n"
        "SHELL [\"/bin/sh\", \"-e\", \"-c\"]\n"
        "ARG WHO=world\n"
        "RUN echo \"hello $WHO\" > /greeting\n"
        "ADD bundle.tar.gz /opt/\n"
        "COPY --chown=1234:5678 *.conf /etc/app/\n"
        "ENTRYPOINT []\n"
        "CMD cat /trigger /greeting /opt/pkg/inside.txt\n")
    p = build(docker, ctx, "-t", "pltest/child:1", "--build-arg", "WHO=you",
              "--label", "built.by=test")
    assert "Executing 1 build trigger" in p.stdout, p.stdout
    out = docker.out("run", "--rm", "pltest/child:1")
    assert out == "triggered\nhello you\nfrom the tarball\n", out
    owners = docker.out("run", "--rm", "pltest/child:1", "sh", "-c",
                        "stat -c '%n %u:%g' /etc/app/*")
    assert owners == "/etc/app/one.conf 1234:5678\n/etc/app/two.conf 1234:5678\n", owners
    cfg = json.loads(docker.out("image", "inspect", "--format", "{{json .Config}}",
                                "pltest/child:1"))
    assert cfg["Shell"] == ["/bin/sh", "-e", "-c"]
    assert cfg["Labels"]["built.by"] == "test"
    # the build arg is in RUN's environment only, not the image's
    assert not any(e.startswith("WHO=") for e in cfg["Env"] or [])
    # history: one entry per instruction, metadata ones without a layer
    hist = json.loads(docker.request("GET", "/images/pltest/child:1/history")[2])
    created = [h["CreatedBy"] for h in hist]
    assert any("SHELL" in c for c in created) and any("ADD" in c for c in created)


def test_quiet_prints_only_the_id(docker, tmp_path):
    ctx = tmp_path / "q"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nENV QUIET=1\n")
    out = build(docker, ctx, "-q").stdout.strip()
    assert out.startswith("sha256:") and "\n" not in out, out


def raw_build(docker, tar_bytes, query=""):
    status, _, body = docker.request("POST", "/build" + query, body=tar_bytes,
                                     headers={"Content-Type": "application/x-tar"})
    return status, body.decode(errors="replace")


def tar_of(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            if kind == "sym":
                info.type = tarfile.SYMTYPE
                info.linkname = data
                t.addfile(info)
            else:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_hostile_context_tars_write_nothing_outside(docker, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    df = b"FROM busybox\nCOPY . /ctx/\n"
    # a ".." entry
    status, body = raw_build(docker, tar_of([("Dockerfile", "file", df),
                                             ("../../../../" + str(victim)[1:] + "/dotdot",
                                              "file", b"x")]))
    assert "outside" in body, body
    # an absolute symlink, then an entry written through it
    status, body = raw_build(docker, tar_of([("Dockerfile", "file", df),
                                             ("lnk", "sym", str(victim)),
                                             ("lnk/through", "file", b"x")]))
    assert "errorDetail" in body and "lnk" in body, body
    # an absolute entry name
    status, body = raw_build(docker, tar_of([("Dockerfile", "file", df),
                                             (str(victim) + "/abs", "file", b"x")]))
    assert "errorDetail" in body, body
    assert list(victim.iterdir()) == []


def test_giant_context_is_refused(docker, tmp_path):
    ctx = tmp_path / "giant"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY big /big\n")
    with open(ctx / "big", "wb") as f:
        f.write(os.urandom(CONTEXT_MAX + 1024))
    p = build(docker, ctx, check=False)
    assert p.returncode != 0
    assert "build context is too large" in p.stdout + p.stderr


def test_compose_build(docker, tmp_path):
    compose = shutil.which("docker-compose")
    if not compose:
        pytest.skip("docker-compose is not installed")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text(
        "FROM busybox\nARG MSG\nRUN echo \"$MSG\" > /msg\nCMD cat /msg\n")
    (tmp_path / "docker-compose.yml").write_text(
        'version: "3.7"\nservices:\n  app:\n    build:\n      context: ./app\n'
        '      args: {MSG: composed}\n    image: pltest/composed:1\n')
    env = dict(docker.env(), COMPOSE_DOCKER_CLI_BUILD="0", DOCKER_BUILDKIT="0")
    p = subprocess.run([compose, "-p", "plb", "build"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=DEADLINE * 2)
    assert p.returncode == 0, p.stdout + p.stderr
    assert docker.out("run", "--rm", "pltest/composed:1") == "composed\n"


def test_chown_by_name_and_dockerfile_on_stdin(docker, tmp_path):
    ctx = tmp_path / "names"
    ctx.mkdir()
    (ctx / "f").write_text("f\n")
    (ctx / "Dockerfile").write_text(
        "FROM busybox\n"
        "RUN echo 'usr:x:1345:2345::/:/bin/sh' >> /etc/passwd && "
        "echo 'grp:x:2345:' >> /etc/group\n"
        "COPY --chown=usr:grp f /f\n"
        "COPY --chown=usr f /g\n")
    build(docker, ctx, "-t", "pltest/names:1")
    out = docker.out("run", "--rm", "pltest/names:1", "stat", "-c", "%u:%g", "/f", "/g")
    assert out == "1345:2345\n1345:1345\n", out
    p = build(docker, ctx, "-t", "pltest/names:1")
    assert p.stdout.count("Using cache") == 3, p.stdout
    # `docker build - < Dockerfile`: no context, the body is the Dockerfile
    p = docker.run("build", "-t", "pltest/stdin:1", "-",
                   input="FROM busybox\nENV FROM_STDIN=yes\n")
    assert p.returncode == 0, p.stderr
    assert docker.out("run", "--rm", "pltest/stdin:1", "sh", "-c", "echo $FROM_STDIN") == \
        "yes\n"


def test_rm_false_keeps_containers_and_buildkit_flags_refused(docker, tmp_path):
    ctx = tmp_path / "keep"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nEXPOSE 7000-7002/udp\nRUN true\n")
    before = set(docker.out("ps", "-aq").split())
    p = build(docker, ctx, "--rm=false", "--no-cache", "-t", "pltest/keep:1")
    assert "Removing intermediate container" not in p.stdout
    kept = set(docker.out("ps", "-aq").split()) - before
    assert len(kept) == 2, p.stdout
    docker.run("rm", "-f", *kept)
    ports = json.loads(docker.out("image", "inspect", "--format",
                                  "{{json .Config.ExposedPorts}}", "pltest/keep:1"))
    assert sorted(ports) == ["7000/udp", "7001/udp", "7002/udp"]
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY --chmod=755 Dockerfile /x\n")
    p = build(docker, ctx, check=False)
    assert p.returncode != 0 and "--chmod option requires BuildKit" in p.stdout + p.stderr


def test_network_none_custom_dockerfile_and_escape_refused(docker, tmp_path):
    ctx = tmp_path / "net"
    ctx.mkdir()
    (ctx / "build.df").write_text("FROM busybox\nRUN ls /sys/class/net > /nets\n")
    build(docker, ctx, "-f", str(ctx / "build.df"), "--network", "none", "-t", "pltest/net:1")
    assert docker.out("run", "--rm", "pltest/net:1", "cat", "/nets") == "lo\n"
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY ../../etc/passwd /p\n")
    p = build(docker, ctx, check=False)
    assert p.returncode != 0
    assert "outside the build context" in p.stdout + p.stderr


def test_builder_prune_forgets_the_cache(docker, tmp_path):
    ctx = tmp_path / "pctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo pruned > /p\nCMD cat /p\n")
    build(docker, ctx, "-t", "pltest/prune:1")
    again = build(docker, ctx, "-t", "pltest/prune:1")
    assert "Using cache" in again.stdout, again.stdout
    p = docker.run("builder", "prune", "-f")
    assert "Total reclaimed space" in p.stdout, p.stdout
    after = build(docker, ctx, "-t", "pltest/prune:1")
    assert "Using cache" not in after.stdout and "Running in" in after.stdout, after.stdout
    # docker system prune reaches /build/prune too
    docker.run("system", "prune", "-f")
    assert docker.out("run", "--rm", "pltest/prune:1") == "pruned\n"


# ---- X-Registry-Config and --isolation ---------------------------------------------------


@pytest.fixture(scope="module")
def authed_registry(docker, tmp_path_factory):
    """docker-registry with htpasswd basic auth on the loopback of the daemon's netns."""
    reg = start_authed_registry(docker, tmp_path_factory, "builder", "s3cret")
    yield reg
    reg.stop()


def test_from_a_private_registry_uses_x_registry_config(docker, authed_registry, tmp_path,
                                                        uniq):
    host = authed_registry.host
    base = f"{host}/pl/base-{uniq.rsplit('-', 2)[-2]}-{uniq.rsplit('-', 1)[-1]}:v1"
    tag = f"pl-build-private-{uniq.rsplit('-', 1)[-1]}"
    docker.run("run", "--name", uniq, "busybox", "sh", "-c", "echo private > /mark")
    docker.run("commit", uniq, base)
    docker.run("rm", uniq)
    login = ("login", "-u", "builder", "--password-stdin", host)
    assert "Login Succeeded" in docker.out(*login, input="s3cret\n")
    docker.run("push", base)
    docker.run("rmi", base)
    docker.run("logout", host)

    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {base}\nRUN cat /mark > /copy\n")
    # no credentials: the pull of the FROM image is refused, nothing is tagged
    p = build(docker, ctx, "-t", tag, check=False)
    assert p.returncode != 0 and "pull access denied" in p.stdout + p.stderr, p
    assert docker.run("image", "inspect", tag, check=False).returncode != 0

    assert "Login Succeeded" in docker.out(*login, input="s3cret\n")
    p = build(docker, ctx, "-t", tag)
    assert "Pulling " + base in p.stdout, p.stdout
    assert docker.out("run", "--rm", tag, "cat", "/copy") == "private\n"
    # pull=1 pulls again with the credentials though the image is here now
    assert "Pulling " + base in build(docker, ctx, "--pull", "-t", tag).stdout
    docker.run("logout", host)
    docker.run("rmi", tag, base)

    # the header is parsed strictly, as X-Registry-Auth is
    df = b"FROM busybox\n"
    ctx_tar = tar_of([("Dockerfile", "file", df)])
    for bad in ("!!not base64!!", "bm90IGpzb24=", "WzEsMl0="):  # "not json", "[1,2]"
        status, _, body = docker.request(
            "POST", "/build", body=ctx_tar,
            headers={"Content-Type": "application/x-tar", "X-Registry-Config": bad})
        assert status == 400, (bad, status, body)
        assert "invalid X-Registry-Config header" in body.decode(), body
    # what the CLI sends without logins: JSON null or {} (base64url)
    for ok in ("bnVsbA==", "e30="):
        status, _, body = docker.request(
            "POST", "/build", body=ctx_tar,
            headers={"Content-Type": "application/x-tar", "X-Registry-Config": ok})
        assert status == 200 and b'"aux"' in body, (ok, status, body)


def test_isolation_hyperv_runs_each_run_with_a_dedicated_kernel(docker, tmp_path, uniq):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM busybox\nRUN echo {uniq} > /vm-built\n")
    p = build(docker, ctx, "--isolation", "bogus", check=False)
    assert p.returncode != 0 and 'Unsupported isolation: "bogus"' in p.stderr, p
    info = docker.daemon.api.get("/info").json
    vm = [m for m in info["mechanisms"] if m["name"] == "vm"]
    if not vm or not vm[0]["available"]:
        p = build(docker, ctx, "--isolation", "hyperv", check=False)
        assert p.returncode != 0 and "vm mechanism is unavailable" in p.stderr, p
        pytest.skip("vm mechanism unavailable (the refusal was checked): "
                    f"{vm[0].get('reason') if vm else 'not built'}")
    tag = f"pl-build-hyperv-{uniq.rsplit('-', 1)[-1]}"
    before = set(docker.out("ps", "-aq", "--no-trunc").split())
    if not vm[0].get("files_on_host"):
        # the vm mechanism cannot commit a domain's files yet: refused before any VM boots
        p = build(docker, ctx, "--isolation", "hyperv", "-t", tag, check=False)
        assert p.returncode != 0 and "cannot be committed yet" in p.stderr, p
        assert set(docker.out("ps", "-aq", "--no-trunc").split()) == before
        assert docker.run("image", "inspect", tag, check=False).returncode != 0
        pytest.skip("the vm mechanism cannot commit (the refusal was checked)")
    build(docker, ctx, "--isolation", "hyperv", "--rm=false", "--no-cache", "-t", tag)
    kept = set(docker.out("ps", "-aq", "--no-trunc").split()) - before
    assert len(kept) == 1, kept
    ctr = kept.pop()
    pl = docker.daemon.api.inspect(ctr)
    assert pl["mechanism"] == "vm" and pl["config"]["isolation"]["kernel"] == "dedicated", pl
    assert docker.out("run", "--rm", tag, "cat", "/vm-built") == uniq + "\n"
    docker.run("rm", ctr)
    docker.run("rmi", tag)
