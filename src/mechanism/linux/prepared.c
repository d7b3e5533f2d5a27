/* SPDX-License-Identifier: Apache-2.0 */
/* Prepared domains (see prepared.h and docs/design-decisions.md, "Prepared domains"). */
#include "mechanism/linux/prepared.h"
#include "mechanism/linux.h"
#include "mechanism/linux/userns.h"
#include "mechanism/linux/rootfs.h"
#include "mechanism/linux/setup.h"
#include "host/linux/cgroup.h"
#include "host/linux/netdev.h"
#include "host/linux/proc.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/nofile.h"
#include "common/phase.h"
#include "common/util.h"
#include "proto/frame.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_POOL 64
/* A take that leaves the pool more than half full puts the refill off until the takes pause
 * this long, then every missing domain is made in one batch: a domain made beside a start
 * slowed it by a third on 2 CPUs (they share the CPUs and the kernel's mount, cgroup and
 * network locks; docs/design-decisions.md), and most starts come alone. A burst that takes
 * half of it gets the refill, in a batch, as soon as one of its starts is done: waiting
 * longer would leave its next starts without a domain. */
#define REFILL_QUIET_MS 20
/* A take that leaves it half full or less has the pool refilled once a start is done
 * (pl_prepared_started: its mounts, seccomp filter and exec no longer share the kernel's
 * locks with a domain being made), or after this long when none reports (a start that
 * failed, or waits for an attach). */
#define REFILL_AFTER_START_MAX_MS 50

typedef struct prepared {
	pid_t pid;
	int pidfd, ctl;
	char name[64];
	pl_phase_page_t *page;	 /* shared with it before it was cloned: its set-up steps */
	unsigned long mount_gen; /* the daemon's mount table's generation before it was made */
} prepared_t;

/* What the maker sends per domain (with SCM_RIGHTS: pidfd, control socket, and a memfd
 * holding its phase page when one could be made). */
typedef struct made_msg {
	int32_t pid; /* < 0: -errno, the domain could not be made */
	char name[64];
	char error[160];
} made_msg_t;

static struct {
	int size;
	char prefix[48]; /* "pool-<tag>-" */
	pl_loop_t *loop;
	prepared_t ready[MAX_POOL];
	int n_ready;
	pid_t maker_pid;
	int maker_pidfd, maker_sock;
	int mntns; /* the daemon's mount namespace, copied by each domain at its take */
	/* the daemon's /proc/self/mountinfo: POLLPRI once its mount table changed since the
	 * last poll; the generation counts those, the in-flight domains have the one from
	 * before their request (never newer than their copy of the table) */
	int mountinfo;
	unsigned long mount_gen, inflight_gen;
	char digest[17]; /* the table's digest at generation digest_gen ("": none yet) */
	unsigned long digest_gen;
	int in_flight; /* asked of the maker, not handed over yet */
	pl_watch_t *maker_watch;
	pl_timer_t *refill;
	bool refill_after_start; /* the refill waits for a start to be done */
	int failures;		 /* in a row: a host that cannot make them stops trying */
	bool started;
	char *stage_dir; /* for pl_rootfs_stage, or NULL */
} pool = {.maker_pidfd = -1, .maker_sock = -1, .mntns = -1, .mountinfo = -1};

/* The daemon's mount table's generation now: bumped by any change (a mount, an unmount,
 * a propagation into it) since the last call, and by anything that keeps us from knowing. */
static unsigned long mount_gen(void)
{
	struct pollfd pf = {.fd = pool.mountinfo, .events = POLLPRI};
	int r = pool.mountinfo < 0 ? -1 : poll(&pf, 1, 0);
	if (r < 0 || (r > 0 && (pf.revents & (POLLPRI | POLLERR | POLLNVAL))))
		pool.mount_gen++;
	return pool.mount_gen;
}

void pl_prepared_configure(int size, const char *tag, const char *run_root)
{
	pool.size = size < 0 ? 0 : size > MAX_POOL ? MAX_POOL : size;
	snprintf(pool.prefix, sizeof(pool.prefix), PL_CGROUP_POOL_PREFIX "%.16s-",
		 tag && *tag ? tag : "0");
	/* an empty directory each waiting domain mounts its staging tmpfs on, in its own
	 * mount namespace (rootfs.h, pl_rootfs_stage) */
	free(pool.stage_dir);
	pool.stage_dir = NULL;
	if (run_root && size > 0) {
		char *d = pl_xasprintf("%s/prepared-stage", run_root);
		/* as the kernel names it in mountinfo, so that a domain's digest leaves its
		 * staging out (setup.h) */
		char *real = (mkdir(d, 0700) == 0 || errno == EEXIST) ? realpath(d, NULL) : NULL;
		free(d);
		pool.stage_dir = real;
	}
}

/* The daemon's mount table's digest (setup.h), computed once per generation: NULL when it
 * cannot be read. */
static const char *mounts_digest(void)
{
	unsigned long gen = mount_gen();
	if (!pool.digest[0] || pool.digest_gen != gen) {
		pool.digest[0] = '\0';
		if (pl_linux_mounts_digest(NULL, pool.digest) < 0)
			return NULL;
		/* an event while we read makes the next call read again */
		pool.digest_gen = mount_gen() == gen ? gen : gen - 1;
	}
	return pool.digest;
}

static void discard(prepared_t *p)
{
	if (p->pidfd >= 0) {
		syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0);
		siginfo_t si;
		waitid((idtype_t)P_PIDFD, (id_t)p->pidfd, &si, WEXITED);
	}
	p->pidfd = pl_close(p->pidfd);
	p->ctl = pl_close(p->ctl);
	pl_phase_page_free(p->page);
	p->page = NULL;
	pl_error_t *e = NULL;
	if (p->name[0] && pl_cgroup_destroy(p->name, &e) < 0) {
		pl_log_warn("prepared domain %s: %s", p->name, e->msg);
		pl_error_free(e);
	}
	p->name[0] = '\0';
}

/* ---- the domain's first process, while it waits ---- */

static void close_all_but(int a, int b)
{
	int lo = a < b ? a : b, hi = a < b ? b : a;
	if (lo > 3)
		close_range(3, (unsigned)lo - 1, 0);
	if (hi > lo + 1)
		close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
	close_range((unsigned)hi + 1, ~0U, 0);
}

/* Execs tether before any container is known: the control socket on fd 3, the phase page's
 * memfd on fd 4 (none: closed), nothing else but 0-2. Tether waits there for the take and
 * sets the domain up itself (setup.h), so the exec and tether's start-up are done ahead.
 * Runs in the maker's memory until the exec (pl_clone_spawn): system calls only, and not
 * instrumented by ASan (its stack is one ASan does not know). */
__attribute__((no_sanitize_address)) static _Noreturn void
prepared_child(int ctl, int pagefd, const int join[], int n_join)
{
	if (pl_cgroup_join_self(join, n_join) < 0)
		_exit(1); /* the take finds it ended and discards it */
	/* no handler of the maker's may run here (its memory is ours until the exec) */
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	/* the daemon is our parent (CLONE_PARENT): waiting, we die with it (kept across the
	 * exec; tether clears it at the take); its end of ctl closing says the same */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	pl_nofile_restore();
	/* its fresh network namespace's loopback, now rather than after the take (bringing
	 * it up waits for the RTNL, which every network change on the host holds) */
	pl_rootfs_loopback_up(NULL);
	int from[3] = {ctl, pagefd, pl_linux_tether_memfd()}, high[3];
	for (int i = 0; i < 3; i++)
		if ((high[i] = from[i] < 0 ? -1 : fcntl(from[i], F_DUPFD_CLOEXEC, 64)) < 0 &&
		    from[i] >= 0)
			_exit(1);
	close_range(3, 63, 0);
	static const int to[3] = {3, 4, 7};
	for (int i = 0; i < 3; i++)
		if (high[i] >= 0 && dup2(high[i], to[i]) < 0)
			_exit(1);
	close_range(8, ~0U, 0);
	if (fcntl(7, F_SETFD, FD_CLOEXEC) < 0)
		_exit(1);
	char *const argv[] = {"pl-tether", "--prepared", pool.stage_dir, NULL};
	char *const envp[] = {NULL};
	syscall(SYS_execveat, 7, "", argv, envp, AT_EMPTY_PATH);
	_exit(1);
}

/* ---- the maker: a child of the daemon that makes them, off the event loop ---- */

/* What the domain's first process is given, in the maker's memory (pl_clone_spawn). */
typedef struct child_args {
	int ctl, other, sock, pagefd, n_join;
	const int *join;
} child_args_t;

__attribute__((no_sanitize_address)) static int domain_child(void *arg)
{
	const child_args_t *a = arg;
	close(a->other);
	close(a->sock);
	prepared_child(a->ctl, a->pagefd, a->join, a->n_join);
}

/* The daemon's child (CLONE_PARENT: it is the domain's parent and reaps it) in new
 * namespaces, in the cgroup when cgfd >= 0, sharing our memory until it execs tether. */
static pid_t clone_domain(const child_args_t *a, int cgfd, int *pidfd)
{
	/* clone3 wants exit_signal 0 with CLONE_PARENT: the child gets ours (SIGCHLD) */
	struct clone_args args = {
	    .flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET |
		     CLONE_PARENT | CLONE_PIDFD,
	    .pidfd = (uint64_t)(uintptr_t)pidfd,
	};
	if (cgfd >= 0) {
		args.flags |= CLONE_INTO_CGROUP;
		args.cgroup = (uint64_t)cgfd;
	}
	return pl_clone_spawn(&args, domain_child, (void *)a);
}

/* A phase page shared through a memfd (the daemon maps it when the domain arrives). */
static pl_phase_page_t *page_memfd(int *fd)
{
	*fd = memfd_create("pl-phase", MFD_CLOEXEC);
	if (*fd < 0)
		return NULL;
	void *p = MAP_FAILED;
	if (ftruncate(*fd, sizeof(pl_phase_page_t)) == 0)
		p = mmap(NULL, sizeof(pl_phase_page_t), PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	if (p == MAP_FAILED) {
		*fd = pl_close(*fd);
		return NULL;
	}
	return p;
}

static int make_one(int sock, const char *name, pl_error_t **err)
{
	int cgfd = pl_cgroup_create(name, err);
	if (cgfd < 0 && err && *err)
		return -1;
	/* the default device rules: a prepared domain serves only containers without devices
	 * or privilege */
	if (pl_cgroup_devices(name, NULL, 0, false, err) < 0) {
		if (cgfd >= 0)
			close(cgfd);
		return -1;
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		if (cgfd >= 0)
			close(cgfd);
		return pl_error_errno(err, "socketpair");
	}
	int join[PL_CGROUP_MAX_V1];
	int n_join = pl_cgroup_join_fds(name, join, err);
	if (n_join < 0) {
		if (cgfd >= 0)
			close(cgfd);
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	int pidfd = -1, pagefd = -1;
	pl_phase_child_page = page_memfd(&pagefd);
	child_args_t ca = {.ctl = sv[1],
			   .other = sv[0],
			   .sock = sock,
			   .pagefd = pagefd,
			   .join = join,
			   .n_join = n_join};
	pid_t pid = clone_domain(&ca, cgfd, &pidfd);
	int e = errno;
	pl_cgroup_join_close(join, n_join);
	if (pl_phase_child_page)
		munmap(pl_phase_child_page, sizeof(pl_phase_page_t));
	pl_phase_child_page = NULL;
	if (cgfd >= 0)
		close(cgfd);
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		pl_close(pagefd);
		errno = e;
		return pl_error_errno(err, "clone3");
	}
	made_msg_t m = {.pid = pid};
	snprintf(m.name, sizeof(m.name), "%s", name);
	int fds[3] = {pidfd, sv[0], pagefd};
	ssize_t n = pl_send_fds(sock, &m, sizeof(m), fds, pagefd >= 0 ? 3 : 2, 0);
	close(pidfd);
	close(sv[0]);
	pl_close(pagefd);
	return n == (ssize_t)sizeof(m) ? 0 : pl_error_errno(err, "hand over");
}

/* The maker lives as long as the pool: the daemon asks for domains (a uint32_t count per
 * request) and forks nothing on its loop after the first time. */
static _Noreturn void maker_main(pid_t daemon, int sock)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != daemon)
		_exit(0);
	close_all_but(sock, pl_linux_tether_memfd());
	unsigned seq = 0;
	for (;;) {
		uint32_t want;
		ssize_t n = recv(sock, &want, sizeof(want), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(want))
			_exit(0); /* the daemon is gone or stops the pool */
		for (uint32_t i = 0; i < want && i < MAX_POOL; i++) {
			char name[64];
			snprintf(name, sizeof(name), "%s%d-%u", pool.prefix, (int)daemon, seq++);
			pl_error_t *e = NULL;
			if (make_one(sock, name, &e) < 0) {
				made_msg_t m = {.pid = -(e && e->errnum ? e->errnum : EIO)};
				snprintf(m.name, sizeof(m.name), "%s", name);
				snprintf(m.error, sizeof(m.error), "%s", e ? e->msg : "failed");
				pl_error_free(e);
				pl_cgroup_destroy(name, NULL);
				send(sock, &m, sizeof(m), MSG_NOSIGNAL);
			}
		}
	}
}

static void refill(void);

static void maker_done(void)
{
	pool.maker_watch = pl_loop_unwatch(pool.loop, pool.maker_watch);
	pool.maker_sock = pl_close(pool.maker_sock);
	if (pool.maker_pidfd >= 0) {
		siginfo_t si;
		waitid((idtype_t)P_PIDFD, (id_t)pool.maker_pidfd, &si, WEXITED);
	}
	pool.maker_pidfd = pl_close(pool.maker_pidfd);
	pool.maker_pid = 0;
	pool.in_flight = 0;
	if (pool.started) /* it lives as long as the pool: an end is a failure */
		pool.failures++;
	if (pool.failures < 3)
		refill();
}

static void on_maker(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	for (;;) {
		made_msg_t m;
		int fds[3] = {-1, -1, -1};
		char cbuf[CMSG_SPACE(sizeof(fds))];
		struct iovec iov = {.iov_base = &m, .iov_len = sizeof(m)};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf)};
		ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			maker_done();
			return;
		}
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
			    c->cmsg_len <= CMSG_LEN(sizeof(fds)))
				memcpy(fds, CMSG_DATA(c), c->cmsg_len - CMSG_LEN(0));
		if (pool.in_flight > 0)
			pool.in_flight--;
		m.name[sizeof(m.name) - 1] = m.error[sizeof(m.error) - 1] = '\0';
		if (n != (ssize_t)sizeof(m) || m.pid <= 0 || fds[0] < 0 || fds[1] < 0) {
			pool.failures++;
			pl_log_warn("prepared domain %s: %s", m.name,
				    n == (ssize_t)sizeof(m) ? m.error : "bad hand-over");
			pl_close(fds[0]);
			pl_close(fds[1]);
			pl_close(fds[2]);
			continue;
		}
		pool.failures = 0;
		prepared_t p = {
		    .pid = m.pid, .pidfd = fds[0], .ctl = fds[1], .mount_gen = pool.inflight_gen};
		if (fds[2] >= 0) {
			void *pg = mmap(NULL, sizeof(pl_phase_page_t), PROT_READ | PROT_WRITE,
					MAP_SHARED, fds[2], 0);
			p.page = pg == MAP_FAILED ? NULL : pg;
			close(fds[2]);
		}
		snprintf(p.name, sizeof(p.name), "%s", m.name);
		if (pool.n_ready >= pool.size || !pool.started) {
			discard(&p);
			continue;
		}
		pool.ready[pool.n_ready++] = p;
		pl_phase_add("prepared.made", 0);
	}
}

static void start_maker(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		pool.failures++;
		return;
	}
	pid_t daemon = getpid();
	int pidfd = -1;
	pid_t pid = pl_clone_pidfd(0, -1, &pidfd);
	if (pid == 0) {
		close(sv[0]);
		maker_main(daemon, sv[1]);
	}
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		pool.failures++;
		return;
	}
	pool.maker_pid = pid;
	pool.maker_pidfd = pidfd;
	pool.maker_sock = sv[0];
	pool.in_flight = 0;
	pool.maker_watch = pl_loop_watch(pool.loop, sv[0], EPOLLIN, on_maker, NULL, NULL);
	if (!pool.maker_watch) { /* cannot hear it: stop it */
		pool.failures++;
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		maker_done();
	}
}

static void refill(void)
{
	if (!pool.started || pool.n_ready + pool.in_flight >= pool.size)
		return;
	if (!pool.maker_pid)
		start_maker();
	if (!pool.maker_pid)
		return;
	uint32_t want = (uint32_t)(pool.size - pool.n_ready - pool.in_flight);
	if (pool.in_flight == 0) /* else the older generation stands for these too */
		pool.inflight_gen = mount_gen();
	if (send(pool.maker_sock, &want, sizeof(want), MSG_NOSIGNAL | MSG_DONTWAIT) ==
	    (ssize_t)sizeof(want))
		pool.in_flight += (int)want;
}

static void on_refill(pl_loop_t *loop, void *data)
{
	pool.refill = NULL;
	pool.refill_after_start = false;
	refill();
}

void pl_prepared_started(void)
{
	if (!pool.refill_after_start)
		return;
	pool.refill = pl_loop_timer_cancel(pool.loop, pool.refill);
	pl_phase_add("prepared.refill_after_start", 0);
	on_refill(pool.loop, NULL);
}

int pl_prepared_start(pl_loop_t *loop, pl_error_t **err)
{
	pool.loop = loop;
	/* whatever an earlier daemon of ours left (kill -9): its domains died with their
	 * control sockets, their cgroups are still there */
	pl_cgroup_sweep(pool.prefix);
	if (pool.size == 0)
		return 0;
	pool.mntns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	if (pool.mntns < 0) {
		pl_log_warn("prepared domains off: open mount namespace: %s", strerror(errno));
		return 0;
	}
	pool.mountinfo = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	pool.started = true;
	refill();
	return 0;
}

void pl_prepared_stop(void)
{
	if (!pool.loop)
		return;
	pool.started = false;
	pool.refill = pl_loop_timer_cancel(pool.loop, pool.refill);
	pool.refill_after_start = false;
	if (pool.maker_pidfd >= 0)
		syscall(SYS_pidfd_send_signal, pool.maker_pidfd, SIGKILL, NULL, 0);
	if (pool.maker_pid)
		maker_done();
	for (int i = 0; i < pool.n_ready; i++)
		discard(&pool.ready[i]);
	pool.n_ready = 0;
	/* domains the killed maker had made but not handed over */
	pl_cgroup_sweep(pool.prefix);
	pool.mntns = pl_close(pool.mntns);
	pool.mountinfo = pl_close(pool.mountinfo);
}

bool pl_prepared_usable(const pl_domain_spec_t *spec)
{
	if (!pool.started || pool.n_ready == 0 || spec->host_network || pl_userns_wanted(spec) ||
	    spec->security->privileged || json_array_size(spec->host.devices) ||
	    (spec->host.cgroup_parent && *spec->host.cgroup_parent))
		return false;
	const pl_ns_join_t *j = spec->join;
	return !j || (j->ipc_fd < 0 && j->pid_fd < 0 && !j->host_ipc && !j->host_pid &&
		      !j->host_uts && !j->shm_dir);
}

static json_t *spec_json(const pl_domain_spec_t *spec, bool mounts_unchanged)
{
	const pl_security_t *sec = spec->security;
	json_t *j =
	    json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:I, s:b}", "id", spec->id, "domain_dir",
		      spec->domain_dir, "hostname", spec->hostname, "lowerdir", spec->lowerdir,
		      "mounts", pl_domain_mounts_json(spec->mounts, spec->n_mounts), "endpoints",
		      pl_domain_endpoints_json(spec->endpoints, spec->n_endpoints), "shm_size",
		      (json_int_t)spec->host.shm_size, "read_only_rootfs", sec->read_only_rootfs);
	if (spec->host.domainname)
		json_object_set_new(j, "domainname", json_string(spec->host.domainname));
	if (spec->disposable_rootfs)
		json_object_set_new(j, "disposable_rootfs", json_true());
	if (mounts_unchanged)
		json_object_set_new(j, "mounts_unchanged", json_true());
	else if (mounts_digest())
		json_object_set_new(j, "mounts_digest", json_string(pool.digest));
	if (sec->tmpfs)
		json_object_set(j, "tmpfs", sec->tmpfs);
	if (sec->sysctls)
		json_object_set(j, "sysctls", sec->sysctls);
	if (sec->has_oom_score_adj)
		json_object_set_new(j, "oom_score_adj", json_integer(sec->oom_score_adj));
	return j;
}

static int send_spec(int ctl, const pl_domain_spec_t *spec, bool mounts_unchanged, const int *fds,
		     int nfds)
{
	_cleanup_json_ json_t *j = spec_json(spec, mounts_unchanged);
	_cleanup_free_ char *s = pl_json_dump(j);
	uint32_t len = (uint32_t)strlen(s);
	if (pl_send_fds(ctl, &len, sizeof(len), fds, (size_t)nfds, 0) != (ssize_t)sizeof(len))
		return errno ? -errno : -EIO;
	return pl_write_all(ctl, s, len);
}

static bool alive(const prepared_t *p)
{
	struct pollfd pf = {.fd = p->pidfd, .events = POLLIN};
	return poll(&pf, 1, 0) == 0;
}

int pl_prepared_take(const pl_domain_spec_t *spec, const pl_resources_t *res, int logfd, int exitfd,
		     int listenfd, pl_domain_t *out, pl_error_t **err)
{
	int64_t pt = pl_phase_now();
	prepared_t p = {.pidfd = -1, .ctl = -1};
	/* the oldest first: a domain is handed over as soon as it is cloned and does its work
	 * ahead (kernel trees, pivot) after, so the newest may still be at it */
	while (pool.n_ready > 0) {
		p = pool.ready[0];
		memmove(&pool.ready[0], &pool.ready[1], sizeof(p) * (size_t)--pool.n_ready);
		if (alive(&p))
			break;
		pl_log_warn("prepared domain %s ended while it waited", p.name);
		discard(&p);
	}
	/* a refill that waits for a start keeps its deadline: takes coming faster than it,
	 * with no start done, must not put it off for ever */
	if (!pool.refill_after_start) {
		bool low = pool.n_ready <= pool.size / 2;
		pool.refill = pl_loop_timer_cancel(pool.loop, pool.refill);
		pool.refill_after_start = low;
		pool.refill =
		    pl_loop_timer(pool.loop, low ? REFILL_AFTER_START_MAX_MS : REFILL_QUIET_MS,
				  on_refill, NULL, NULL);
	}
	if (p.pidfd < 0)
		return 1;
	pl_error_t *e = NULL;
	if (pl_cgroup_take(p.name, spec->id, &e) < 0) { /* the ordinary path can still start */
		pl_log_warn("prepared domain %s: %s", p.name, e->msg);
		pl_error_free(e);
		discard(&p);
		return 1;
	}
	/* from here on the cgroups are the container's: its id removes them */
	snprintf(p.name, sizeof(p.name), "%s", spec->id);
	pl_phase_step("spawn.prepared_take", &pt);
	if (p.page) { /* its steps count from the take (it has been waiting until now) */
		p.page->t0 = pt;
		pl_phase_page_attach(p.pid, TAKE_PTR(p.page));
	}
	if (pl_cgroup_apply(spec->id, res, err) < 0) {
		discard(&p);
		return pl_error_wrap(err, "resource limits");
	}
	pl_phase_step("spawn.cgroup_limits", &pt);
	int fds[PL_SPEC_FDS] = {logfd, exitfd, listenfd, pool.mntns, spec->netns_fd};
	/* its mount namespace, copied from ours before the generation it has, is what a fresh
	 * copy would be when nothing changed since (setup.c) */
	bool unchanged = mount_gen() == p.mount_gen;
	pl_phase_add(unchanged ? "prepared.mounts_kept" : "prepared.mounts_copied", 0);
	int r = send_spec(p.ctl, spec, unchanged, fds, spec->netns_pooled ? 5 : 4);
	pl_phase_step("spawn.prepared_send", &pt);
	if (r == 0)
		r = pl_netdev_endpoints_add(p.pid, spec->netns_pooled ? spec->netns_fd : -1,
					    spec->endpoints, spec->n_endpoints, err);
	if (spec->n_endpoints)
		pl_phase_step("spawn.netns_endpoints", &pt);
	if (r == 0)
		r = pl_frame_send(p.ctl, PL_MSG_GO, 0, NULL, 0);
	if (r < 0) {
		if (err && !*err)
			pl_error_set(err, PL_ERR_INTERNAL, -r, "start prepared domain");
		discard(&p);
		pl_phase_page_collect(p.pid);
		return -1;
	}
	out->pid = p.pid;
	out->pidfd = p.pidfd;
	out->ctl_fd = p.ctl;
	out->start_time = pl_proc_start_time(p.pid);
	return 0;
}

int pl_linux_prepared_start(pl_loop_t *loop, pl_error_t **err)
{
	return pl_prepared_start(loop, err);
}

void pl_linux_prepared_stop(void)
{
	pl_prepared_stop();
}

pl_linux_prepared_counts_t pl_linux_prepared_counts(void)
{
	if (!pool.started)
		return (pl_linux_prepared_counts_t){0};
	return (pl_linux_prepared_counts_t){pool.size, pool.n_ready, pool.in_flight};
}
