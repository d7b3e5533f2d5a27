/* SPDX-License-Identifier: Apache-2.0 */
/* The linux mechanism: a domain is a set of fresh namespaces (pid, mount, uts, ipc, net,
 * cgroup) plus one cgroup per container, entered with clone3 straight into the cgroup.
 * tether runs as the domain's PID 1, exec'd from a sealed memfd so nothing inside the
 * container can write the binary through /proc/1/exe (CVE-2019-5736 class). */
#include "mechanism/mechanism.h"
#include "mechanism/linux.h"
#include "host/linux/netdev.h"
#include "host/linux/cgroup.h"
#include "host/linux/proc.h"
#include "mechanism/linux/rootfs.h"
#include "host/linux/seccomp.h"
#include "mechanism/linux/shared.h"
#include "mechanism/linux/userns.h"
#include "mechanism/linux/prepared.h"
#include "mechanism/linux/setup.h"
#include "common/util.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/phase.h"
#include "common/nofile.h"
#include "proto/frame.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include "proto/linux_caps.h"
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <linux/keyctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* fds tether finds at exec (docs/tether-protocol.md) */
enum {
	TETHER_FD_CTL = 3,
	TETHER_FD_LOG = 4,
	TETHER_FD_EXIT = 5,
	TETHER_FD_LISTEN = 6,
	TETHER_FD_EXE = 7,
};
#define TETHER_SOCKET "tether.sock"

static int64_t default_pids_limit = PL_DEFAULT_PIDS_LIMIT; /* pl_linux_options_t */

static int tether_memfd = -1;

static int seal_tether(const char *path, pl_error_t **err)
{
	_cleanup_close_ int src = open(path, O_RDONLY | O_CLOEXEC);
	if (src < 0)
		return pl_error_errno(err, "open tether binary %s", path);
	struct stat st;
	if (fstat(src, &st) < 0)
		return pl_error_errno(err, "stat %s", path);
	_cleanup_close_ int mfd = memfd_create("pl-tether", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0)
		return pl_error_errno(err, "memfd_create");
	off_t off = 0;
	while (off < st.st_size) {
		ssize_t n = sendfile(mfd, src, &off, (size_t)(st.st_size - off));
		if (n <= 0)
			return pl_error_errno(err, "copy tether binary");
	}
	if (fchmod(mfd, 0555) < 0 ||
	    fcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
		return pl_error_errno(err, "seal tether memfd");
	return TAKE_FD(mfd);
}

int pl_linux_init(pl_mechanism_t *m, const char *tether_path, const pl_linux_options_t *o,
		  pl_error_t **err)
{
	default_pids_limit = o ? o->default_pids_limit : PL_DEFAULT_PIDS_LIMIT;
	pl_prepared_configure(o ? o->prepared_domains : 0, o ? o->instance_tag : NULL,
			      o ? o->run_root : NULL);
	if (pl_cgroup_init(NULL, err) < 0)
		return pl_error_wrap(err, "cgroups");
	tether_memfd = seal_tether(tether_path, err);
	if (tether_memfd < 0)
		return -1;
	return 0;
}

const char *pl_linux_cgroup_layout(void)
{
	return pl_cgroup_layout_name();
}

static bool linux_available(const pl_mechanism_t *m, const char **reason)
{
	if (tether_memfd < 0) {
		*reason = "not initialised";
		return false;
	}
	return true;
}

/* Reports a set-up failure to the port layer as the protocol's ERROR frame, then dies. */
static _Noreturn void child_fail(int ctl, pl_error_t *e)
{
	pl_domain_fail(ctl, e, "domain set-up failed");
}

#define N_TETHER_FDS 5

/* Puts fds exactly at 3..7 whatever their current numbers. */
static int arrange_fds(int fds[N_TETHER_FDS])
{
	int high[N_TETHER_FDS];
	for (int i = 0; i < N_TETHER_FDS; i++) {
		high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 64);
		if (high[i] < 0)
			return -errno;
	}
	for (int i = 0; i < N_TETHER_FDS; i++) {
		/* dup2 clears FD_CLOEXEC; the exe fd keeps it so tether does not inherit it */
		if (dup2(high[i], 3 + i) < 0)
			return -errno;
	}
	if (fcntl(TETHER_FD_EXE, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	close_range(3 + N_TETHER_FDS, ~0U, 0);
	return 0;
}

static _Noreturn void child_main(const pl_domain_spec_t *spec, int ctl, int logfd, int exitfd,
				 int listenfd, const int join[], int n_join)
{
	pl_phase_child_mark("dom.clone3");
	pl_error_t *e = NULL;
	int r = pl_cgroup_join_self(join, n_join); /* before anything of the container runs */
	pl_phase_child_mark("dom.cgroup_join");
	if (r < 0) {
		pl_error_set(&e, PL_ERR_INTERNAL, -r, "join the container's v1 cgroups");
		child_fail(ctl, e);
	}
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	pl_nofile_restore(); /* the container's limit is the one the daemon was given */
	/* before the fds are closed: a pooled network namespace instead of a fresh one
	 * (clone left CLONE_NEWNET out) */
	if (spec->netns_pooled && setns(spec->netns_fd, CLONE_NEWNET) < 0) {
		pl_error_errno(&e, "enter pooled network namespace");
		child_fail(ctl, e);
	}
	/* a pod: another domain's IPC namespace (its pid namespace came with clone) */
	if (spec->join && spec->join->ipc_fd >= 0 && setns(spec->join->ipc_fd, CLONE_NEWIPC) < 0) {
		pl_error_errno(&e, "join IPC namespace");
		child_fail(ctl, e);
	}
	pl_linux_child_run(spec, ctl, logfd, exitfd, listenfd);
}

/* This process's memory is a copy of the daemon's (some 270 mappings, megabytes of page
 * tables): an exec that drops it tears it down on the container's critical path (execveat
 * took ~0.9 ms here, ~0.25 ms from a small process). A sibling sharing it (CLONE_VM, its own
 * small stack) holds it across our exec and lets it go once the exec has closed the
 * close-on-exec pipe end we keep (the mm was released before that), on another CPU while
 * tether starts. It is tether's first child: tether, told by --reap-first, reaps it before
 * any process of the container exists, so nothing of the daemon's memory meets the
 * container. It makes no library call (it shares our TLS and heap). */
__attribute__((no_sanitize("address", "undefined"))) static int dropper(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char c;
	syscall(SYS_close_range, 0, (unsigned)fd - 1, 0);
	syscall(SYS_close_range, (unsigned)fd + 1, ~0U, 0);
	while (syscall(SYS_read, fd, &c, 1) != 0 && errno == EINTR)
		;
	syscall(SYS_exit, 0);
	return 0;
}

static int shed_memory(int read_end)
{
	static char stack[16384] __attribute__((aligned(64)));
	pid_t pid =
	    clone(dropper, stack + sizeof(stack), CLONE_VM | SIGCHLD, (void *)(intptr_t)read_end);
	return pid > 0 ? 0 : -1;
}

int pl_linux_tether_memfd(void)
{
	return tether_memfd;
}

_Noreturn void pl_linux_child_run(const pl_domain_spec_t *spec, int ctl, int logfd, int exitfd,
				  int listenfd)
{
	pl_error_t *e = NULL;
	/* First of all, drop every daemon fd the clone copied (its end of our socket among
	 * them: holding it, we would never see EOF if the daemon died before GO). */
	int fds[N_TETHER_FDS] = {ctl, logfd, exitfd, listenfd, tether_memfd};
	if (arrange_fds(fds) < 0)
		_exit(1);
	ctl = TETHER_FD_CTL;

	/* in a user namespace nothing can be done before the daemon has written the maps and
	 * sent the mounts only it can make: GO comes first */
	pl_userns_fds_t ufds, *userns = NULL;
	if (pl_userns_wanted(spec)) {
		_cleanup_free_ char *merged = pl_xasprintf("%s/merged", spec->domain_dir);
		if (pl_userns_wait_go(ctl, merged, spec->n_mounts, &ufds, &e) < 0)
			child_fail(ctl, e);
		userns = &ufds;
	}
	int v6conf = -1;
	int root = pl_rootfs_prepare(spec, userns, -1, spec->n_endpoints ? &v6conf : NULL, &e);
	if (root < 0)
		child_fail(ctl, e);
	if (pl_linux_enter_root(root, -1, &e) < 0)
		child_fail(ctl, e);
	if (!userns && pl_linux_wait_go(ctl, &e) < 0)
		child_fail(ctl, e);
	pl_phase_child_mark("dom.wait_go");
	pl_rootfs_endpoints_no_ipv6(spec, v6conf); /* after GO: its endpoints exist, still down */
	pl_close(v6conf);
	/* whatever set-up received after arrange_fds (mount trees with GO) ends here too */
	close_range(3 + N_TETHER_FDS, ~0U, 0);
	pl_phase_child_mark("dom.keyring_fds");
	int drop[2] = {-1, -1};
	bool shed = pipe2(drop, O_CLOEXEC) == 0 && shed_memory(drop[0]) == 0;
	pl_close(drop[0]);
	char *const argv[] = {"pl-tether", shed ? "--reap-first" : NULL, NULL};
	char *const envp[] = {NULL};
	syscall(SYS_execveat, TETHER_FD_EXE, "", argv, envp, AT_EMPTY_PATH);
	pl_error_errno(&e, "exec tether");
	pl_close(drop[1]); /* the sibling ends */
	child_fail(TETHER_FD_CTL, e);
}

static int linux_spawn(const pl_mechanism_t *m, const pl_domain_spec_t *spec, pl_domain_t *out,
		       pl_error_t **err)
{
	int64_t pt = pl_phase_now();
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return pl_error_errno(err, "socketpair");
	_cleanup_close_ int ours = sv[0], theirs = sv[1];
	_cleanup_close_ int logfd = openat(spec->domain_dirfd, "container.log",
					   O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (logfd < 0)
		return pl_error_errno(err, "open container log");
	_cleanup_close_ int exitfd =
	    openat(spec->domain_dirfd, "exit.json", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (exitfd < 0)
		return pl_error_errno(err, "open exit record");
	_cleanup_close_ int listenfd = pl_unix_listen_at(spec->run_dirfd, TETHER_SOCKET, err);
	if (listenfd < 0)
		return pl_error_wrap(err, "tether reconnect socket");
	pl_phase_step("spawn.files_sockets", &pt);
	pl_resources_t res = *spec->resources;
	if (!res.has_pids_limit && default_pids_limit > 0) {
		/* the daemon's --default-pids-limit: a fork bomb stops short of pid_max */
		res.has_pids_limit = true;
		res.pids_limit = default_pids_limit;
	}
	if (pl_prepared_usable(spec)) {
		int r = pl_prepared_take(spec, &res, logfd, exitfd, listenfd, out, err);
		if (r <= 0)
			return r;
	}
	if (pl_cgroup_place(spec->id, spec->host.cgroup_parent, err) < 0)
		return pl_error_wrap(err, "cgroup_parent");
	_cleanup_close_ int cgfd = pl_cgroup_create(spec->id, err);
	if (cgfd < 0 && err && *err)
		return pl_error_wrap(err, "create cgroup");
	pt = pl_phase_now();
	if (pl_cgroup_apply(spec->id, &res, err) < 0) {
		pl_cgroup_destroy(spec->id, NULL);
		return pl_error_wrap(err, "resource limits");
	}
	if (pl_linux_devices_apply(spec, err) < 0) {
		pl_cgroup_destroy(spec->id, NULL);
		return -1;
	}
	pl_phase_step("spawn.cgroup_limits", &pt);

	const bool userns = pl_userns_wanted(spec);
	uint64_t ns =
	    CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | (userns ? CLONE_NEWUSER : 0);
	if (!spec->host_network && !spec->netns_pooled)
		ns |= CLONE_NEWNET;
	ns &= ~pl_linux_shared_ns(spec);
	int join[PL_CGROUP_MAX_V1];
	int n_join = pl_cgroup_join_fds(spec->id, join, err);
	if (n_join < 0) {
		pl_cgroup_destroy(spec->id, NULL);
		return -1;
	}
	/* joining a pid namespace is for children only: ours, for the clone (nothing may fail
	 * between this and the clone, which is followed by the way back) */
	_cleanup_close_ int own_pidns = -1;
	if (spec->join && spec->join->pid_fd >= 0 &&
	    ((own_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC)) < 0 ||
	     setns(spec->join->pid_fd, CLONE_NEWPID) < 0)) {
		int r = pl_error_errno(err, "join pid namespace");
		pl_cgroup_join_close(join, n_join);
		pl_cgroup_destroy(spec->id, NULL);
		return r;
	}
	int pidfd = -1;
	pl_phase_page_t *page = pl_phase_child_page = pl_phase_page_new();
	pid_t pid = pl_clone_pidfd(ns, cgfd, &pidfd);
	if (pid < 0 && cgfd >= 0 && (errno == ENOSYS || errno == E2BIG || errno == EINVAL))
		pid = pl_clone_pidfd(ns, -1, &pidfd); /* kernels before 5.7: place it afterwards */
	if (pid != 0 && own_pidns >= 0 && setns(own_pidns, CLONE_NEWPID) < 0)
		abort(); /* the daemon's later children would land in a container */
	if (pid == 0)
		child_main(spec, theirs, logfd, exitfd, listenfd, join, n_join);
	int clone_errno = errno;
	pl_cgroup_join_close(join, n_join);
	errno = clone_errno;
	pl_phase_child_page = NULL;
	if (pid < 0) {
		int r = pl_error_errno(err, "clone3");
		pl_phase_page_free(page);
		pl_cgroup_destroy(spec->id, NULL);
		return r;
	}
	pl_phase_page_attach(pid, page);
	pt = pl_phase_now();
	_cleanup_close_ int pfd = pidfd;
	int r = 0;
	if (cgfd < 0 && pl_cgroup_layout() == PL_CG_V2)
		r = -1; /* unreachable in practice: v2 always yields a cgroup fd */
	pl_userns_fds_t ufds;
	pl_userns_fds_init(&ufds);
	if (r == 0 && userns)
		r = pl_userns_setup(spec, pid, &ufds, err);
	/* the host side of the endpoints, their inside ends born in the child's namespace */
	if (r == 0)
		r = pl_netdev_endpoints_add(pid, spec->netns_pooled ? spec->netns_fd : -1,
					    spec->endpoints, spec->n_endpoints, err);
	if (spec->n_endpoints)
		pl_phase_step("spawn.netns_endpoints", &pt);
	if (r == 0)
		r = userns ? pl_userns_send_go(ours, &ufds)
			   : pl_frame_send(ours, PL_MSG_GO, 0, NULL, 0);
	pl_userns_fds_close(&ufds);
	if (r < 0) {
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		waitpid(pid, NULL, 0);
		pl_phase_page_collect(pid);
		pl_cgroup_destroy(spec->id, NULL);
		if (err && !*err)
			pl_error_set(err, PL_ERR_INTERNAL, -r, "start domain");
		return -1;
	}
	out->pid = pid;
	out->pidfd = TAKE_FD(pfd);
	out->ctl_fd = TAKE_FD(ours);
	out->start_time = pl_proc_start_time(pid);
	return 0;
}

static int linux_reattach(const pl_mechanism_t *m, const char *id, int run_dirfd, pid_t pid,
			  unsigned long long start_time, pl_domain_t *out, pl_error_t **err)
{
	int r = pl_domain_reattach(pid, start_time, run_dirfd, TETHER_SOCKET, out, err);
	if (r == 1)
		pl_cgroup_adopt(id, pid); /* under a cgroup_parent: found where it is */
	return r;
}

static int linux_destroy(const pl_mechanism_t *m, const char *id, pl_error_t **err)
{
	/* a frozen v1 cgroup holds even SIGKILLed tasks: thaw before killing */
	if (pl_cgroup_is_frozen(id))
		pl_cgroup_freeze(id, false, NULL);
	return pl_cgroup_destroy(id, err);
}

static void linux_started(const pl_mechanism_t *m, const pl_domain_t *dom)
{
	pl_prepared_started();
}

static int linux_validate(const pl_mechanism_t *m, const pl_domain_spec_t *spec, pl_error_t **err)
{
	size_t len;
	if (!pl_seccomp_program(spec->security, &len, err) && err && *err)
		return -1;
	return pl_userns_validate(spec, err);
}

/* Capabilities no process started by us can hold: those outside our own bounding set
 * (sandboxes often lack some, e.g. SYS_RESOURCE). "All" means all we have. */
static void clamp_capabilities(json_t *msg)
{
	json_t *caps = json_object_get(msg, "capabilities");
	for (size_t i = json_array_size(caps); i-- > 0;) {
		int n = pl_linux_cap_number(json_string_value(json_array_get(caps, i)));
		if (n < 0 || prctl(PR_CAPBSET_READ, n, 0, 0, 0) != 1)
			json_array_remove(caps, i);
	}
}

static int linux_tether_config(const pl_mechanism_t *m, const pl_domain_spec_t *spec, json_t *msg,
			       pl_error_t **err)
{
	clamp_capabilities(msg);
	/* a CONFIG goes to a tether exec'd from our own binary: the SECCOMP frame; an EXEC
	 * may reach a tether of an earlier daemon (it outlives us): base64, as ever */
	if (!json_object_get(msg, "session"))
		return pl_seccomp_tether_config_frame(spec->security, msg, err);
	return pl_seccomp_tether_config(spec->security, msg, err);
}

static int linux_update(const pl_mechanism_t *m, const char *id, const pl_resources_t *r,
			pl_error_t **err)
{
	return pl_cgroup_apply(id, r, err);
}

static long linux_oom_kills(const pl_mechanism_t *m, const char *id)
{
	return pl_cgroup_oom_kills(id);
}

static int linux_pause(const pl_mechanism_t *m, const char *id, bool paused, pl_error_t **err)
{
	return pl_cgroup_freeze(id, paused, err);
}

/* Interface counters of the domain's network namespace, read through tether's /proc. */
static json_t *net_stats(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/net/dev", pid);
	_cleanup_free_ char *buf = NULL;
	json_t *nets = json_object();
	if (pl_read_file_at(AT_FDCWD, path, &buf, NULL, 1 << 20, NULL) < 0)
		return nets;
	char *save = NULL;
	int line_no = 0;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (++line_no <= 2) /* two header lines */
			continue;
		char name[64];
		unsigned long long v[16];
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = ' ';
		if (sscanf(line,
			   " %63s %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
			   name, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8],
			   &v[9], &v[10], &v[11]) != 13)
			continue;
		json_object_set_new(nets, name,
				    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "rx_bytes",
					      (json_int_t)v[0], "rx_packets", (json_int_t)v[1],
					      "rx_errors", (json_int_t)v[2], "tx_bytes",
					      (json_int_t)v[8], "tx_packets", (json_int_t)v[9],
					      "tx_errors", (json_int_t)v[10]));
	}
	return nets;
}

static json_t *linux_stats(const pl_mechanism_t *m, const char *id, const pl_domain_t *dom)
{
	json_t *j = pl_cgroup_stats(id);
	json_object_set_new(j, "networks", net_stats(dom->pid));
	return j;
}

static bool linux_is_paused(const pl_mechanism_t *m, const char *id)
{
	return pl_cgroup_is_frozen(id);
}

pl_mechanism_t pl_mechanism_linux = {
    .name = "linux",
    .caps = PL_MECH_SHARES_HOST_NS | PL_MECH_NETNS_POOL | PL_MECH_MACVLAN | PL_MECH_HOTPLUG_NIC |
	    PL_MECH_LOG_ROTATE | PL_MECH_PAUSE | PL_MECH_FILES_ON_HOST,
    .available = linux_available,
    .spawn = linux_spawn,
    .reattach = linux_reattach,
    .validate = linux_validate,
    .tether_config = linux_tether_config,
    .update = linux_update,
    .oom_kills = linux_oom_kills,
    .pause = linux_pause,
    .is_paused = linux_is_paused,
    .stats = linux_stats,
    .destroy = linux_destroy,
    .teardown_handle = pl_linux_teardown_handle,
    .started = linux_started,
    .net_connect = pl_linux_net_connect,
    .net_disconnect = pl_linux_net_disconnect,
};
