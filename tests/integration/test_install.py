# SPDX-License-Identifier: Apache-2.0
"""`meson install --destdir` lays out everything an installed system needs, and an
integrator's program builds against the installed library with one cc line (its pkg-config
file) and runs a container against a daemon."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BUILD, REPO

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")


def _options():
    out = subprocess.run(["meson", "introspect", str(BUILD), "--buildoptions"],
                         capture_output=True, text=True, check=True).stdout
    return {o["name"]: o["value"] for o in json.loads(out)}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    dest = tmp_path_factory.mktemp("destdir")
    p = subprocess.run(["meson", "install", "-C", str(BUILD), "--no-rebuild", "--quiet",
                        "--destdir", str(dest)], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    opt = _options()
    pre = Path(opt["prefix"])

    def at(*parts):
        return dest / pre.relative_to("/") / Path(*parts)

    unitdir = opt["systemdunitdir"] or str(pre / "lib" / "systemd" / "system")
    return {
        "dest": dest, "opt": opt, "at": at,
        "sbin": at(opt["sbindir"]), "bin": at(opt["bindir"]), "lib": at(opt["libdir"]),
        "include": at(opt["includedir"], "portlayer"),
        "unitdir": dest / Path(unitdir).relative_to("/"),
    }


def test_install_lays_out_every_file(installed):
    at, opt = installed["at"], installed["opt"]
    want = [
        installed["sbin"] / "portlayerd",
        installed["bin"] / "plctl",
        at(opt["libexecdir"], "portlayer", "pl-tether"),
        at(opt["datadir"], "portlayer", "portlayer.yaml"),
        installed["unitdir"] / "portlayerd.service",
        at("lib", "sysusers.d", "portlayer.conf"),
        at("lib", "tmpfiles.d", "portlayer.conf"),
        installed["lib"] / "libportlayer-client.so.0",
        installed["lib"] / "libportlayer-client.so",
        installed["lib"] / "libportlayer-client.a",
        installed["lib"] / "pkgconfig" / "portlayer-client.pc",
        installed["include"] / "portlayer-client.h",
        installed["include"] / "client" / "client.h",
        installed["include"] / "common" / "error.h",
    ]
    if shutil.which("help2man"):
        want += [at(opt["mandir"], "man8", "portlayerd.8"), at(opt["mandir"], "man1", "plctl.1")]
    want.append(at(opt["libexecdir"], "portlayer", "plctl-dynamic"))  # cp of a static plctl
    missing = [str(p) for p in want if not p.exists()]
    if (REPO / "src" / "docker").is_dir():  # the personality, once it is in the tree
        if not (installed["unitdir"] / "pl-dockerd.service").exists():
            missing.append("pl-dockerd.service")
        unit = (installed["unitdir"] / "portlayerd.service").parent / "pl-dockerd.service"
        exec_start = re.search(r"^ExecStart=(\S+)", unit.read_text() if unit.exists() else "",
                               re.M)
        if not exec_start or not (installed["dest"] / exec_start.group(1).lstrip("/")).exists():
            missing.append("pl-dockerd where pl-dockerd.service's ExecStart says")
    assert not missing, "not installed:\n" + "\n".join(missing)
    for exe in want[:3]:
        assert os.access(exe, os.X_OK), exe
    # the soname carries the ABI version, the dev symlink points at it
    out = subprocess.run(["objdump", "-p", str(installed["lib"] / "libportlayer-client.so.0")],
                         capture_output=True, text=True, check=True).stdout
    assert re.search(r"SONAME\s+libportlayer-client\.so\.0\b", out), out


def test_installed_paths_come_from_the_options(installed):
    opt = installed["opt"]
    pre = Path(opt["prefix"])
    tether = pre / opt["libexecdir"] / "portlayer" / "pl-tether"
    out = subprocess.run([str(installed["sbin"] / "portlayerd"), "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert str(tether) in out, out  # the default --tether is the installed one
    unit = (installed["unitdir"] / "portlayerd.service").read_text()
    assert f"ExecStart={pre / opt['sbindir'] / 'portlayerd'} " in unit
    tmpfiles = installed["at"]("lib", "tmpfiles.d", "portlayer.conf").read_text()
    assert "/run/portlayer" in tmpfiles and "portlayer" in \
        installed["at"]("lib", "sysusers.d", "portlayer.conf").read_text()
    if b"INTERP" not in subprocess.run(["readelf", "-lW", str(installed["bin"] / "plctl")],
                                       capture_output=True, check=True).stdout:
        # static: where it looks for plctl-dynamic comes from the options too
        sibling = pre / opt["libexecdir"] / "portlayer" / "plctl-dynamic"
        assert str(sibling).encode() in (installed["bin"] / "plctl").read_bytes()
    ver = subprocess.run([str(installed["sbin"] / "portlayerd"), "--version"],
                         capture_output=True, text=True, check=True).stdout
    assert ver.startswith("portlayerd ")


def _declared_functions(include):
    """Functions the installed headers declare (static inline ones are not exported)."""
    names = set()
    for h in include.rglob("*.h"):
        text = re.sub(r"/\*.*?\*/", "", h.read_text(), flags=re.S)
        for m in re.finditer(r"^(?!static|typedef|#|\s)[\w\s\*]*?\b(pl_\w+)\s*\(", text, re.M):
            names.add(m.group(1))
    return names


def test_shared_library_exports_exactly_the_public_api(installed):
    out = subprocess.run(["nm", "-D", "--defined-only",
                          str(installed["lib"] / "libportlayer-client.so.0")],
                         capture_output=True, text=True, check=True).stdout
    exported = {line.split()[-1].split("@")[0] for line in out.splitlines()
                if line.split()[1] in ("T", "W", "D", "B", "R")}
    declared = _declared_functions(installed["include"])
    assert declared, "no public functions found in the installed headers"
    assert exported - declared == set(), "exported but not in a public header"
    assert declared - exported == set(), \
        "declared public but not exported (src/client/libportlayer-client.map)"


def test_every_public_header_compiles_on_its_own(installed, tmp_path):
    inc = installed["include"]
    for h in sorted(inc.rglob("*.h")):
        rel = h.relative_to(inc)
        src = tmp_path / "one.c"
        src.write_text(f"#include <{rel}>\n#include <{rel}>\n")
        p = subprocess.run(["cc", "-std=c99", "-Wall", "-Werror", "-fsyntax-only", f"-I{inc}",
                            *subprocess.run(["pkg-config", "--cflags", "jansson"],
                                            capture_output=True, text=True).stdout.split(),
                            str(src)], capture_output=True, text=True)
        assert p.returncode == 0, f"{rel}:\n{p.stderr}"


def _pkg_env(installed):
    env = dict(os.environ)
    env["PKG_CONFIG_PATH"] = str(installed["lib"] / "pkgconfig")
    env["PKG_CONFIG_SYSROOT_DIR"] = str(installed["dest"])  # the .pc names the real prefix
    return env


@pytest.fixture(scope="module")
def example(installed, tmp_path_factory):
    if installed["opt"]["b_sanitize"] not in ("none", ""):
        pytest.skip("a sanitized library needs the sanitizer runtime in every program")
    out = tmp_path_factory.mktemp("example") / "example"
    src = REPO / "examples" / "example.c"
    # exactly the line examples/example.c tells an integrator to type
    p = subprocess.run(["sh", "-c", f'cc "{src}" $(pkg-config --cflags --libs portlayer-client) '
                        f'-o "{out}"'], capture_output=True, text=True, env=_pkg_env(installed))
    assert p.returncode == 0, p.stderr
    return out


def test_example_runs_a_container(example, installed, daemon, rootfs):
    env = dict(os.environ, LD_LIBRARY_PATH=str(installed["lib"]))
    ldd = subprocess.run(["ldd", str(example)], capture_output=True, text=True, env=env).stdout
    assert str(installed["lib"] / "libportlayer-client.so.0") in ldd, ldd
    p = subprocess.run([str(example), "-H", f"unix://{daemon.socket}", rootfs,
                        "sh", "-c", "echo out; echo err >&2; exit 3"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 3, p.stderr
    assert p.stdout == "out\n"
    assert "err\n" in p.stderr
    # removed: the daemon no longer knows it
    cid = re.search(r"container ([0-9a-f]{12}) exited with 3", p.stderr).group(1)
    from conftest import Api
    assert Api(daemon.socket).get(f"/containers/{cid}").status == 404


def test_static_library_is_self_contained(installed, tmp_path, daemon, rootfs):
    if installed["opt"]["b_sanitize"] not in ("none", ""):
        pytest.skip("a sanitized library needs the sanitizer runtime in every program")
    env = _pkg_env(installed)
    cflags = subprocess.run(["pkg-config", "--cflags", "portlayer-client"], capture_output=True,
                            text=True, env=env, check=True).stdout.split()
    deps = subprocess.run(["pkg-config", "--libs", "jansson"], capture_output=True,
                          text=True, check=True).stdout.split()
    out = tmp_path / "example-static"
    p = subprocess.run(["cc", str(REPO / "examples" / "example.c"), *cflags,
                        str(installed["lib"] / "libportlayer-client.a"), *deps, "-o", str(out)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "libportlayer-client" not in subprocess.run(["ldd", str(out)], capture_output=True,
                                                       text=True).stdout
    r = subprocess.run([str(out), "-H", f"unix://{daemon.socket}", rootfs, "echo", "static"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == "static\n", r.stderr
