# SPDX-License-Identifier: Apache-2.0
"""The container's security profile: capabilities, no_new_privs, seccomp, masked and
read-only paths, read-only rootfs, tmpfs, sysctls, rlimits, oom_score_adj, and the
classic escape routes (overwriting the runtime binary, inherited host fds, a symlink
planted under a mount target)."""

import fcntl
import hashlib
import os
import random
import shutil
import subprocess
import time

import pytest

from test_isolation import tree_manifest
from test_prepared import phase_count
from conftest import TETHER, RunResult, pids_in_cgroups_matching, pids_with_cmdline, proc_read

DEFAULT_CAPS = 0x00000000A80425FB  # Docker's default set
CAP_CHOWN = 0
CAP_NET_ADMIN = 12
CAP_SYS_ADMIN = 21
F_GET_SEALS = 1034
F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE = 1, 2, 4, 8
CAP_FIELDS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")

# Paths Docker masks and that this kernel may or may not provide.
MASKED_FILES = ("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug")


# --------------------------------------------------------------------------
# helpers


def create_body(rootfs, args, security=None, resources=None, user=None, **kw):
    body = {"rootfs": str(rootfs), "process": {"args": list(args)}}
    if user is not None:
        body["process"]["user"] = user
    if security is not None:
        body["security"] = security
    if resources is not None:
        body["resources"] = resources
    body.update(kw)
    return body


def run(api, rootfs, args, security=None, **kw):
    """create (must be 201) + start (must be 204) + wait + logs."""
    r = api.create_raw(create_body(rootfs, args, security=security, **kw))
    assert r.status == 201, f"create with security={security}: {r.status} {r.body!r}"
    cid = r.json["id"]
    s = api.post(f"/containers/{cid}/start")
    assert s.status == 204, f"start with security={security}: {s.status} {s.body!r}"
    w = api.wait(cid)
    out, err = api.output(cid)
    return RunResult(cid, w.get("exit_code"), out, err, api.state(cid), w)


def sh(api, rootfs, script, security=None, **kw):
    return run(api, rootfs, ["/bin/sh", "-c", script], security=security, **kw)


def refused(api, rootfs, security, what):
    """A create that must be refused with 400 and a message naming what."""
    r = api.create_raw(create_body(rootfs, ["/bin/true"], security=security))
    assert r.status == 400, f"security={security}: want 400, got {r.status} {r.body!r}"
    assert what in r.message, f"400 message does not name {what!r}: {r.message!r}"
    return r


def status_fields(text):
    out = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def caps_of(api, rootfs, security=None, user=None):
    r = sh(api, rootfs, "cat /proc/self/status", security=security, user=user)
    assert r.exit_code == 0, r.stderr
    f = status_fields(r.stdout)
    missing = [k for k in CAP_FIELDS if k not in f]
    assert not missing, f"no {missing} in /proc/self/status:\n{r.stdout}"
    return {k: int(f[k], 16) for k in CAP_FIELDS}, f


def host_caps(pid):
    f = status_fields(proc_read(pid, "status") or "")
    return {k: int(f[k], 16) for k in CAP_FIELDS}


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def host_has_content(path):
    try:
        if os.stat(path).st_size > 0:
            return True
        with open(path, "rb") as f:
            return len(f.read(64)) > 0
    except OSError:
        return False


def host_mounts(pid="self"):
    """(mount point, fs type, source) of every mount in pid's mount namespace."""
    out = set()
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            pre, post = line.split(" - ", 1)
            fields = post.split()
            out.add((pre.split()[4], fields[0], fields[1]))
    return out


def new_mounts(before, after, daemon):
    """Mounts in after and not in before, less other test sessions' daemon dirs."""
    return sorted(m for m in after - before
                  if not m[0].startswith("/tmp/pl-it-") or m[0].startswith(str(daemon.tmp)))


# --------------------------------------------------------------------------
# capabilities


def test_default_capabilities_root(api, rootfs):
    caps, _ = caps_of(api, rootfs)
    assert caps == {"CapInh": 0, "CapPrm": DEFAULT_CAPS, "CapEff": DEFAULT_CAPS,
                    "CapBnd": DEFAULT_CAPS, "CapAmb": 0}, {k: f"{v:016x}" for k, v in caps.items()}


def test_cap_drop_all(api, rootfs):
    caps, _ = caps_of(api, rootfs, security={"cap_drop": ["ALL"]})
    assert caps == dict.fromkeys(CAP_FIELDS, 0), {k: f"{v:016x}" for k, v in caps.items()}


def test_cap_add_net_admin(api, rootfs):
    caps, _ = caps_of(api, rootfs, security={"cap_add": ["NET_ADMIN"]})
    want = DEFAULT_CAPS | 1 << CAP_NET_ADMIN
    assert caps["CapEff"] == want, f"{caps['CapEff']:016x}"
    assert caps["CapBnd"] == want and caps["CapPrm"] == want
    assert caps["CapInh"] == 0 and caps["CapAmb"] == 0


def test_cap_drop_chown(api, rootfs):
    caps, _ = caps_of(api, rootfs, security={"cap_drop": ["CHOWN"]})
    want = DEFAULT_CAPS & ~(1 << CAP_CHOWN)
    assert caps["CapEff"] == want, f"{caps['CapEff']:016x}"
    assert caps["CapBnd"] == want
    # and chown really is refused
    r = sh(api, rootfs, "touch /tmp/f && chown 1000 /tmp/f", security={"cap_drop": ["CHOWN"]})
    assert r.exit_code != 0 and "Operation not permitted" in r.stderr, (r.exit_code, r.stderr)


def test_non_root_user_has_no_effective_caps(api, rootfs):
    caps, _ = caps_of(api, rootfs, user="1000")
    assert caps["CapEff"] == 0 and caps["CapPrm"] == 0, {k: f"{v:016x}" for k, v in caps.items()}
    assert caps["CapInh"] == 0 and caps["CapAmb"] == 0
    assert caps["CapBnd"] == DEFAULT_CAPS


def test_unknown_capability_refused(api, rootfs):
    refused(api, rootfs, {"cap_add": ["NOT_A_CAP"]}, "NOT_A_CAP")
    refused(api, rootfs, {"cap_drop": ["CAP_BOGUS"]}, "BOGUS")


# --------------------------------------------------------------------------
# no_new_privs and seccomp


def test_no_new_privs_default_on(api, rootfs):
    _, f = caps_of(api, rootfs)
    assert f.get("NoNewPrivs") == "1", f
    _, f = caps_of(api, rootfs, security={"no_new_privileges": False})
    assert f.get("NoNewPrivs") == "0", f


def test_seccomp_default_filter(api, rootfs):
    r = sh(api, rootfs,
           "grep '^Seccomp:' /proc/self/status; "
           "unshare -U true; echo userns=$?; unshare -m true; echo mountns=$?")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "Seccomp:\t2" in lines, r.stdout
    assert "userns=0" not in lines and "mountns=0" not in lines, r.stdout
    assert r.stderr.count("Operation not permitted") >= 2, r.stderr


def test_seccomp_sys_admin_unlocks_unshare(api, rootfs):
    r = sh(api, rootfs, "unshare -m true && echo OK", security={"cap_add": ["SYS_ADMIN"]})
    assert (r.exit_code, r.stdout) == (0, "OK\n"), r.stderr


def test_seccomp_unconfined(api, rootfs):
    # Without the filter a user namespace needs no capability: what refused it
    # above was seccomp.
    r = sh(api, rootfs, "grep '^Seccomp:' /proc/self/status; unshare -U true && echo USERNS",
           security={"seccomp": "unconfined"})
    assert r.stdout == "Seccomp:\t0\nUSERNS\n", (r.stdout, r.stderr)


def test_seccomp_custom_profile(api, rootfs):
    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                             "errnoRet": 1}]}
    r = sh(api, rootfs,
           "mkdir /tmp/x; echo mkdir=$?; touch /tmp/y; echo touch=$?; test -f /tmp/y && echo Y",
           security={"seccomp": profile})
    assert r.stdout.splitlines() == ["mkdir=1", "touch=0", "Y"], (r.stdout, r.stderr)
    assert "Operation not permitted" in r.stderr, r.stderr


def test_seccomp_bad_profile_refused(api, rootfs):
    refused(api, rootfs, {"seccomp": {"defaultAction": "SCMP_ACT_NONSENSE"}},
            "SCMP_ACT_NONSENSE")


# --------------------------------------------------------------------------
# masked and read-only paths


def test_masked_paths_are_empty(api, rootfs):
    # Meaningful only if the host shows something the container must not see.
    host_nonempty = [p for p in MASKED_FILES if host_has_content(p)]
    assert host_nonempty, "no masked file has content on the host: nothing to test"
    assert os.listdir("/sys/firmware"), "/sys/firmware empty on the host: nothing to test"

    script = ""
    for p in MASKED_FILES:
        script += (f"if [ -e {p} ]; then echo \"{p} size=$(stat -c %s {p}) "
                   f"bytes=$(cat {p} 2>/dev/null | wc -c)\"; else echo '{p} absent'; fi\n")
    script += "echo \"firmware=[$(ls -A /sys/firmware)]\"\n"
    r = sh(api, rootfs, script)
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    for p in MASKED_FILES:
        line = next((x for x in lines if x.startswith(p + " ")), None)
        assert line is not None, r.stdout
        assert line in (f"{p} absent", f"{p} size=0 bytes=0"), f"{p} not masked: {line}"
    for p in host_nonempty:  # visible (as an empty file) is fine, content is not
        assert f"{p} size=0 bytes=0" in lines or f"{p} absent" in lines
    assert "firmware=[]" in lines, r.stdout


MASKED_DIRS = ("/proc/acpi", "/sys/firmware")


@pytest.mark.parametrize("security", [None, {"sysctls": {"kernel.shmmax": "123456789"}},
                                      {"userns": {"mode": "remap"}}],
                         ids=["staged", "mounted-at-start", "userns"])
def test_masked_directories_share_one_read_only_tmpfs(api, rootfs, security):
    # one empty read-only tmpfs bound onto every masked directory (a superblock per
    # container, not per directory), on every set-up path: a prepared domain's staged
    # trees (its staging tmpfs), trees mounted at the start (sysctls are written before
    # /proc/sys is made read-only), a user namespace's
    if not all(os.path.isdir(d) for d in MASKED_DIRS):
        pytest.skip("this host lacks a masked directory: nothing shared to check")
    script = "".join(
        f"echo \"{d} dev=$(stat -c %d {d}) n=$(ls -A {d} | wc -l)\"; "
        f"touch {d}/x && echo '{d} WROTE'; grep ' {d} ' /proc/mounts; " for d in MASKED_DIRS)
    for _ in range(20):  # until a prepared domain was ready for it (the pool refills)
        staged = phase_count(api, "dom.mounts_staged")
        r = sh(api, rootfs, script, security=security)
        now = phase_count(api, "dom.mounts_staged")
        if security or now == staged + 1:
            break
        time.sleep(0.2)
    assert now == staged + (0 if security else 1), (staged, now)
    assert r.exit_code == 0, r.stderr
    assert "WROTE" not in r.stdout, r.stdout
    assert r.stderr.count("Read-only file system") == len(MASKED_DIRS), r.stderr
    devs = set()
    for d in MASKED_DIRS:
        line = next(x for x in r.stdout.splitlines() if x.startswith(d + " dev="))
        devs.add(line.split()[1])
        assert line.endswith(" n=0"), line
        mount = [x.split() for x in r.stdout.splitlines() if x.split()[1:2] == [d]]
        assert len(mount) == 1 and mount[0][2] == "tmpfs", r.stdout
        assert {"ro", "nosuid", "nodev", "noexec"} <= set(mount[0][3].split(",")), mount
    assert len(devs) == 1, r.stdout


def test_proc_sys_read_only(api, rootfs):
    r = sh(api, rootfs, "echo evil > /proc/sys/kernel/hostname && echo WROTE; "
                        "cat /proc/sys/kernel/hostname")
    assert "WROTE" not in r.stdout
    assert "Read-only file system" in r.stderr, r.stderr
    assert "evil" not in r.stdout


def test_proc_sensitive_dirs_read_only(api, rootfs):
    r = sh(api, rootfs, "cat /proc/mounts; echo h > /proc/sysrq-trigger && echo WROTE")
    assert "WROTE" not in r.stdout
    mounts = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 4:
            mounts[parts[1]] = parts[3].split(",")
    for p in ("/proc/sys", "/proc/irq", "/proc/bus", "/proc/fs"):
        if os.path.exists(p):
            assert p in mounts, f"{p} is not a (read-only) mount:\n{r.stdout}"
            assert "ro" in mounts[p], f"{p} mounted {mounts[p]}"
    if os.path.exists("/proc/sysrq-trigger"):
        assert "Read-only file system" in r.stderr, r.stderr


def test_sys_read_only(api, rootfs):
    # Creating a file in sysfs never works; the point is the error: EROFS from the mount.
    r = sh(api, rootfs, "grep ' /sys ' /proc/mounts; touch /sys/x && echo WROTE; "
                        "touch /sys/kernel/x && echo WROTE")
    assert "WROTE" not in r.stdout
    line = next(x for x in r.stdout.splitlines() if " /sys " in x)
    assert "ro" in line.split()[3].split(","), line
    assert r.stderr.count("Read-only file system") == 2, r.stderr


CAP_NAMES = ("CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP "
             "LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK "
             "IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN "
             "SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE "
             "AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND "
             "AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE").split()
PRIVILEGED_SCRIPT = (
    "cat /proc/self/status; echo ---; grep ' /sys ' /proc/mounts; "
    "echo \"timer_list=$(cat /proc/timer_list | wc -c)\"; "
    "echo \"firmware=$(ls -A /sys/firmware | wc -l)\"; "
    "if [ -e /proc/kcore ]; then echo kcore=$(stat -c %s /proc/kcore); fi")


def check_privileged(r, want_caps):
    assert r.exit_code == 0, r.stderr
    status, rest = r.stdout.split("---\n", 1)
    f = status_fields(status)
    for k in ("CapPrm", "CapEff", "CapBnd"):
        assert int(f[k], 16) == want_caps, f"{k} {f[k]}, want {want_caps:016x}"
    assert f["Seccomp"] == "0", f
    sysline = next(x for x in rest.splitlines() if " /sys " in x)
    assert "rw" in sysline.split()[3].split(","), sysline
    vals = dict(x.split("=", 1) for x in rest.splitlines() if "=" in x and " " not in x)
    assert int(vals["timer_list"]) > 0, "privileged: /proc/timer_list still masked"
    assert int(vals["firmware"]) > 0, "privileged: /sys/firmware still masked"
    if os.path.exists("/proc/kcore"):
        assert int(vals["kcore"]) > 0, "privileged: /proc/kcore still masked"


def test_privileged(api, daemon, rootfs):
    # "All capabilities" is all the daemon itself may hand out: 000001ffffffffff on a
    # host whose bounding set is full. Nothing here writes anywhere.
    full = host_caps(daemon.pid)["CapBnd"]
    assert full & DEFAULT_CAPS == DEFAULT_CAPS
    r = sh(api, rootfs, PRIVILEGED_SCRIPT, security={"privileged": True})
    check_privileged(r, full)


def test_privileged_without_caps_the_host_lacks(api, daemon, rootfs):
    # The same, with the capabilities outside the daemon's bounding set dropped
    # explicitly (none on a full host): unmasked paths, no seccomp, /sys rw.
    full = host_caps(daemon.pid)["CapBnd"]
    lacking = [n for i, n in enumerate(CAP_NAMES) if not full >> i & 1]
    r = sh(api, rootfs, PRIVILEGED_SCRIPT, security={"privileged": True, "cap_drop": lacking})
    check_privileged(r, full)


# --------------------------------------------------------------------------
# rootfs, tmpfs


def test_read_only_rootfs_with_tmpfs(api, rootfs):
    before = tree_manifest(rootfs)
    r = sh(api, rootfs,
           "touch /x && echo WROTE; echo hi > /scratch/f && cat /scratch/f; "
           "grep ' /scratch ' /proc/mounts; grep ' / ' /proc/mounts",
           security={"read_only_rootfs": True, "tmpfs": {"/scratch": "size=1m"}})
    assert "WROTE" not in r.stdout
    assert "Read-only file system" in r.stderr, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "hi", r.stdout
    scratch = next((x for x in lines if " /scratch " in x), "")
    assert scratch.split()[2:3] == ["tmpfs"], r.stdout
    assert "size=1024k" in scratch, scratch
    root = next(x for x in lines if " / " in x)
    assert "ro" in root.split()[3].split(","), root
    assert tree_manifest(rootfs) == before, "the container changed its source rootfs"


def test_tmpfs_writable_on_writable_rootfs(api, rootfs):
    r = sh(api, rootfs, "echo a > /run/f && cat /run/f && grep ' /run ' /proc/mounts",
           security={"tmpfs": {"/run": "size=1m"}})
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("a\n") and " /run tmpfs " in r.stdout, r.stdout


# --------------------------------------------------------------------------
# sysctls, rlimits, oom_score_adj


def test_sysctls_namespaced(api, rootfs):
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        host_before = f.read()
    r = sh(api, rootfs, "cat /proc/sys/kernel/shmmax /proc/sys/net/ipv4/ip_forward",
           security={"sysctls": {"kernel.shmmax": "123456789", "net.ipv4.ip_forward": "1"}})
    assert (r.exit_code, r.stdout) == (0, "123456789\n1\n"), (r.stdout, r.stderr)
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        assert f.read() == host_before, "the container's sysctl leaked into the host netns"
    # and a container without the sysctl sees what any fresh network namespace gets on this
    # host, not the value above. That is not always 0: a new namespace copies init_net's
    # ip_forward (net.core.devconf_inherit_init_net 0 or 1), which a daemon's default bridge
    # (or Docker's) sets to 1 on the host.
    r2 = sh(api, rootfs, "cat /proc/sys/net/ipv4/ip_forward")
    assert r2.stdout == fresh_netns_ip_forward(), r2.stdout


def fresh_netns_ip_forward():
    """ip_forward as a network namespace made now from the host's sees it."""
    try:
        with open("/proc/sys/net/core/devconf_inherit_init_net") as f:
            mode = int(f.read())
    except FileNotFoundError:
        mode = 0
    if mode == 3:
        # inherits from the namespace it was made in (the daemon's, which ip_forward may
        # have been set in): only the kernel default 0 is certain not to be inherited here
        pytest.skip("devconf_inherit_init_net=3: a container's default depends on the daemon's netns")
    out = subprocess.run(["unshare", "-n", "cat", "/proc/sys/net/ipv4/ip_forward"],
                         check=True, capture_output=True, text=True).stdout
    return out


@pytest.mark.parametrize("name", ["kernel.hostname", "vm.swappiness", "kernel.panic",
                                  "fs.file-max"])
def test_sysctls_not_namespaced_refused(api, rootfs, name):
    refused(api, rootfs, {"sysctls": {name: "1"}}, name)


def test_rlimits(api, rootfs):
    r = sh(api, rootfs, "ulimit -n; ulimit -Hn",
           security={"rlimits": [{"type": "nofile", "soft": 100, "hard": 200}]})
    assert r.stdout == "100\n200\n", (r.stdout, r.stderr)


def test_rlimits_invalid_refused(api, rootfs):
    refused(api, rootfs, {"rlimits": [{"type": "nonsense", "soft": 1, "hard": 1}]}, "nonsense")
    r = api.create_raw(create_body(rootfs, ["/bin/true"], security={
        "rlimits": [{"type": "nofile", "soft": 300, "hard": 200}]}))
    assert r.status == 400, (r.status, r.body)


def test_oom_score_adj(api, rootfs):
    r = sh(api, rootfs, "cat /proc/self/oom_score_adj", security={"oom_score_adj": 500})
    assert r.stdout == "500\n", (r.stdout, r.stderr)


# --------------------------------------------------------------------------
# escape classes


def test_runtime_binary_not_overwritable(api, rootfs):
    before = sha256(TETHER)
    script = ("echo x > /proc/1/exe && echo WROTE1; cat /bin/sh > /proc/1/exe && echo WROTE2; "
              "cp /bin/busybox /proc/1/exe && echo WROTE3; readlink /proc/1/exe && echo LINK; "
              "cat /proc/1/environ > /dev/null && echo ENV; "
              "cat /proc/1/maps > /dev/null && echo MAPS; echo done; exec /bin/sleep 1000")
    r = api.create_raw(create_body(rootfs, ["/bin/sh", "-c", script]))
    assert r.status == 201, r.body
    cid = r.json["id"]
    api.start(cid)
    api.wait_for_output(cid, "done")
    out, err = api.output(cid)
    for marker in ("WROTE1", "WROTE2", "WROTE3", "LINK", "ENV", "MAPS"):
        assert marker not in out, f"{marker}: {out!r} {err!r}"
    assert sha256(TETHER) == before, "the container modified pl-tether on the host!"
    # Why: PID 1 runs from a sealed memfd, not from build/pl-tether.
    tether = api.state(cid)["pid"]
    exe = os.readlink(f"/proc/{tether}/exe")
    assert exe.startswith("/memfd:"), f"tether runs from {exe}"
    fd = os.open(f"/proc/{tether}/exe", os.O_RDONLY | os.O_CLOEXEC)
    try:
        seals = fcntl.fcntl(fd, F_GET_SEALS)
    finally:
        os.close(fd)
    want = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE
    assert seals & want == want, f"tether memfd seals {seals:#x}"
    assert api.remove(cid, force=True).status == 204


def test_no_host_fds_visible(api, daemon, rootfs):
    token = str(900000 + random.randrange(99999))
    # No redirection or command substitution around ls: ash would hold a saved
    # stdout (fd 10) or the substitution's pipe while ls looks.
    script = ("echo self-begin; ls /proc/self/fd; echo sh-begin; ls /proc/$$/fd; echo end; "
              "for f in /proc/$$/fd/*; do echo \"link $f -> $(readlink $f)\"; done; "
              "ls -l /proc/1/fd/ >/dev/null; "
              f"echo ready; exec /bin/sleep {token}")
    r = api.create_raw(create_body(rootfs, ["/bin/sh", "-c", script]))
    assert r.status == 201, r.body
    cid = r.json["id"]
    api.start(cid)
    api.wait_for_output(cid, "ready")
    out, err = api.output(cid)
    lines = out.splitlines()
    self_fds = lines[lines.index("self-begin") + 1:lines.index("sh-begin")]
    sh_fds = lines[lines.index("sh-begin") + 1:lines.index("end")]
    # ls itself holds one fd on the directory it lists
    assert set(sh_fds) <= {"0", "1", "2"}, f"shell inherited fds: {sh_fds}"
    assert set(self_fds) <= {"0", "1", "2", "3"} and len(self_fds) <= 4, self_fds
    # PID 1's fds: names visible, targets not (non-dumpable)
    assert "Permission denied" in err, err
    assert "->" not in err
    forbidden = (str(daemon.root), str(daemon.run_dir), "tether.sock", "container.log",
                 "portlayer.sock")
    links = [x for x in lines if x.startswith("link ")]
    assert links, out
    for x in links:
        assert not any(f in x for f in forbidden), f"host path visible inside: {x}"
    # The same process seen from the host: no fd onto the daemon's files.
    procs = pids_with_cmdline("/bin/sleep", token)
    assert len(procs) == 1, procs
    fd_dir = f"/proc/{procs[0]}/fd"
    fds = os.listdir(fd_dir)
    assert set(fds) <= {"0", "1", "2"}, f"container process holds fds {fds}"
    for fd in fds:
        target = os.readlink(f"{fd_dir}/{fd}")
        assert not any(f in target for f in forbidden), f"fd {fd} -> {target}"
    assert api.remove(cid, force=True).status == 204


@pytest.fixture
def private_rootfs(rootfs, tmp_path):
    copy = tmp_path / "rootfs"
    subprocess.run(["cp", "-a", rootfs, str(copy)], check=True)
    yield copy
    shutil.rmtree(copy, ignore_errors=True)


@pytest.mark.parametrize("target,link", [
    ("proc", "/tmp"),
    ("proc", "../../../../../../../../tmp"),
    ("dev", "/tmp"),
    ("sys", "/tmp"),
])
def test_symlinked_mount_target_refused(api, daemon, private_rootfs, target, link):
    p = private_rootfs / target
    p.rmdir()
    os.symlink(link, p)
    tmp_before = set(os.listdir("/tmp"))
    mounts_before = host_mounts()
    daemon_mounts_before = host_mounts(daemon.pid)

    r = api.create_raw(create_body(private_rootfs, ["/bin/sh", "-c", "echo RAN"]))
    if r.status == 201:
        cid = r.json["id"]
        s = api.post(f"/containers/{cid}/start")
        assert s.status in (400, 500), f"start with /{target} -> {link}: {s.status} {s.body!r}"
        msg = s.message
        st = api.state(cid)
        assert st["status"] != "running", st
        assert pids_in_cgroups_matching(cid) == []
        out, _ = api.output(cid)
        assert "RAN" not in out
    else:
        assert r.status == 400, (r.status, r.body)
        msg = r.message
    assert f"/{target}" in msg, f"error does not name the mount target: {msg!r}"

    assert new_mounts(mounts_before, host_mounts(), daemon) == [], "mounted on the host"
    assert new_mounts(daemon_mounts_before, host_mounts(daemon.pid), daemon) == []
    assert not any(m[0] == "/tmp" for m in host_mounts()), "a mount on the host's /tmp"
    new = set(os.listdir("/tmp")) - tmp_before
    assert not [n for n in new if n.isdigit() or n in ("self", "sys", "null", "kernel", "pts")], \
        f"the host's /tmp got container entries: {sorted(new)}"


def test_symlinked_tmpfs_target_does_not_escape(api, daemon, private_rootfs, tmp_path):
    # Refusing the start and mounting inside the container are both fine; mounting
    # on (or writing into) the host directory the link names is not.
    hostdir = tmp_path / "hostdir"
    hostdir.mkdir()
    os.symlink(str(hostdir), private_rootfs / "scratch")
    mounts_before = host_mounts()
    r = api.create_raw(create_body(private_rootfs, ["/bin/sh", "-c", "echo x > /scratch/f"],
                                   security={"tmpfs": {"/scratch": "size=1m"}}))
    if r.status == 201:
        s = api.post(f"/containers/{r.json['id']}/start")
        if s.status == 204:
            api.wait(r.json["id"])
        else:
            assert s.status in (400, 500), (s.status, s.body)
            assert "/scratch" in s.message, s.message
    else:
        assert r.status == 400, (r.status, r.body)
    assert new_mounts(mounts_before, host_mounts(), daemon) == [], "mounted on the host"
    assert list(hostdir.iterdir()) == [], "the container wrote through the symlink to the host"


# --------------------------------------------------------------------------
# the default seccomp profile is Docker's, rule by rule (issue 13 bug 6)

PROBE_C = r"""
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* prints NAME=0 or NAME=<errno name>; the syscalls go straight to the kernel */
static void report(const char *name, long rc)
{
    printf("%s=%s\n", name, rc < 0 ? strerror(errno) : "0");
}

int main(void)
{
    report("vsock", syscall(SYS_socket, 40 /* AF_VSOCK */, SOCK_STREAM, 0));
    report("inet", syscall(SYS_socket, AF_INET, SOCK_STREAM, 0));
    report("unix", syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0));
    report("persona_query", syscall(SYS_personality, 0xffffffffUL));
    report("persona_linux32", syscall(SYS_personality, 0x8UL));
    report("persona_linux", syscall(SYS_personality, 0x0UL));
    report("persona_read_implies_exec", syscall(SYS_personality, 0x0400000UL));
    report("persona_addr_no_randomize", syscall(SYS_personality, 0x0040000UL));
    report("syslog", syscall(SYS_syslog, 10 /* SIZE_BUFFER */, NULL, 0));
    report("uselib", syscall(SYS_uselib, "/nonexistent"));
    report("io_uring_setup", syscall(SYS_io_uring_setup, 1, NULL));
    return 0;
}
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    cc = shutil.which("gcc") or shutil.which("cc")
    if not cc:
        pytest.skip("no C compiler for the seccomp probe")
    d = tmp_path_factory.mktemp("probe")
    (d / "probe.c").write_text(PROBE_C)
    subprocess.run([cc, "-static", "-O1", "-o", str(d / "probe"), str(d / "probe.c")],
                   check=True)
    return d / "probe"


def probe_results(api, rootfs, probe, security=None):
    r = run(api, rootfs, ["/probe"], security=security,
            mounts=[{"type": "bind", "source": str(probe), "target": "/probe",
                     "readonly": True}])
    assert r.exit_code == 0, (r.stdout, r.stderr)
    return dict(line.split("=", 1) for line in r.stdout.splitlines())


ESCAPE_C = r"""
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The classic way out of a chroot (CAP_SYS_CHROOT is in the default set): chroot into a
 * subdirectory without entering it, climb, chroot to where the climb ends. Prints what is
 * there and whether argv[1] (a host path) is. */
int main(int argc, char **argv)
{
    mkdir("/esc", 0755);
    if (chroot("/esc") < 0) {
        printf("chroot=%s\n", strerror(errno));
        return 0;
    }
    for (int i = 0; i < 64; i++)
        if (chdir("..") < 0)
            break;
    if (chroot(".") < 0) {
        printf("chroot2=%s\n", strerror(errno));
        return 0;
    }
    DIR *d = opendir("/");
    for (struct dirent *e; d && (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            printf("entry=%s\n", e->d_name);
    struct stat st;
    printf("host=%s\n", stat(argv[1], &st) < 0 ? strerror(errno) : "visible");
    return 0;
}
"""


def test_out_of_a_chroot_is_nothing_of_the_hosts(api, rootfs, daemon, tmp_path):
    """A container that breaks out of a chroot of its own (the default capabilities allow
    chroot) ends at its own root: never in the host's tree. A prepared domain's root is
    mounted on the root it pivoted onto ahead of its take (rootfs.h): ".." out of the
    container's root lands on that mount's mountpoint, which leads back into the mount."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if not cc:
        pytest.skip("no C compiler for the probe")
    (tmp_path / "escape.c").write_text(ESCAPE_C)
    subprocess.run([cc, "-static", "-O1", "-o", str(tmp_path / "escape"),
                    str(tmp_path / "escape.c")], check=True)
    own = set(os.listdir(rootfs)) | {"esc", "escape", "proc", "sys", "dev", "etc"}
    for _ in range(4):  # prepared domains, and the clone path once the pool is empty
        r = run(api, rootfs, ["/escape", str(daemon.root)],
                mounts=[{"type": "bind", "source": str(tmp_path / "escape"),
                         "target": "/escape", "readonly": True}])
        assert r.exit_code == 0, (r.stdout, r.stderr)
        got = [line.split("=", 1) for line in r.stdout.splitlines()]
        assert ["host", "No such file or directory"] in got, r.stdout
        entries = {v for k, v in got if k == "entry"}
        assert "bin" in entries and entries <= own, entries - own


def test_default_seccomp_is_dockers(api, rootfs, probe):
    got = probe_results(api, rootfs, probe)
    eperm = "Operation not permitted"
    want = {"vsock": eperm, "inet": "0", "unix": "0", "persona_query": "0",
            "persona_linux32": "0", "persona_linux": "0",
            "persona_read_implies_exec": eperm, "persona_addr_no_randomize": eperm,
            "syslog": eperm, "uselib": eperm, "io_uring_setup": eperm}
    assert got == want


def test_seccomp_capabilities_unlock_their_syscalls(api, rootfs, probe):
    got = probe_results(api, rootfs, probe, security={"cap_add": ["SYSLOG"]})
    assert got["syslog"] == "0", got
    assert got["vsock"] == "Operation not permitted", got  # no capability unlocks it
    got = probe_results(api, rootfs, probe, security={"seccomp": "unconfined"})
    assert got["persona_read_implies_exec"] == "0", got  # the filter refused it, not the kernel
