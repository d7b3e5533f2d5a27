"""docker build (the classic builder, DOCKER_BUILDKIT=0) through pl-dockerd with the real
docker CLI: instructions, multi-stage COPY --from, .dockerignore, build args, --target, a
failing RUN, the cache, and the built image run."""

import json
import os

from docker_fixture import docker  # noqa: F401  (the fixture)

os.environ["DOCKER_BUILDKIT"] = "0"

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
RUN adduser -D -u 4321 app 2>/dev/null || true
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
