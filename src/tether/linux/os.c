/* SPDX-License-Identifier: Apache-2.0 */
/* Linux implementation of tether/os.h: signalfd, fork+exec with an errno pipe, pipes or a
 * devpts pseudo-terminal for stdio, close_range, waitpid reaping. Nothing here talks the
 * protocol. */
#include "tether/os.h"
#include "tether/linux/osutil.h"
#include "proto/linux_caps.h"
#include "mechanism/linux/setup.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#ifndef __NR_close_range
#define __NR_close_range 436 /* same number on every architecture */
#endif

int pl_os_prepared_setup(const char *arg)
{
	return pl_linux_prepared_setup(arg);
}

const char *pl_os_name(void)
{
	return "linux";
}

int pl_os_init(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0)
			return -errno;

	/* Blocked rather than handled: as PID 1 of a pid namespace, a blocked signal from the
	 * host is still queued, whereas one with a default disposition is dropped. Blocking
	 * SIGPIPE also keeps a vanished daemon from killing us. */
	/* Nothing in the container may inspect tether's memory or fds (/proc/1/...). */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	sigset_t all;
	sigfillset(&all);
	if (sigprocmask(SIG_BLOCK, &all, NULL) < 0)
		return -errno;
	int fd = signalfd(-1, &all, SFD_CLOEXEC | SFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

int pl_os_signal_next(int sig_fd)
{
	for (;;) {
		struct signalfd_siginfo si;
		ssize_t n = read(sig_fd, &si, sizeof(si));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		if (n != sizeof(si))
			return -EIO;
		if (si.ssi_pid == (uint32_t)getpid())
			continue;
		return (int)si.ssi_signo;
	}
}

static const struct {
	const char *name;
	int resource;
} rlimits[] = {
    {"RLIMIT_CPU", RLIMIT_CPU},		  {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_DATA", RLIMIT_DATA},	  {"RLIMIT_STACK", RLIMIT_STACK},
    {"RLIMIT_CORE", RLIMIT_CORE},	  {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_NPROC", RLIMIT_NPROC},	  {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},	  {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},	  {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},	  {"RLIMIT_RTTIME", RLIMIT_RTTIME},
};

static int rlimit_resource(const char *name)
{
	for (size_t i = 0; i < sizeof(rlimits) / sizeof(rlimits[0]); i++)
		if (strcmp(name, rlimits[i].name) == 0)
			return rlimits[i].resource;
	return -1;
}

const char *pl_os_spawn_check(const pl_os_spawn_spec_t *s)
{
	static char msg[96];
	for (char *const *c = s->caps; c && *c; c++)
		if (pl_linux_cap_number(*c) < 0) {
			snprintf(msg, sizeof(msg), "unknown capability \"%.40s\"", *c);
			return msg;
		}
	for (size_t i = 0; i < s->n_rlimits; i++)
		if (rlimit_resource(s->rlimits[i].type) < 0) {
			snprintf(msg, sizeof(msg), "unknown rlimit \"%.40s\"", s->rlimits[i].type);
			return msg;
		}
	if (s->seccomp && (s->seccomp_len == 0 || s->seccomp_len % sizeof(struct sock_filter) ||
			   s->seccomp_len / sizeof(struct sock_filter) > BPF_MAXINSNS))
		return "seccomp program is not a whole number of BPF instructions";
	return NULL;
}

static uint64_t cap_mask(char *const *caps)
{
	uint64_t m = 0;
	for (char *const *c = caps; *c; c++)
		m |= 1ull << pl_linux_cap_number(*c);
	return m;
}

/* Leaves the bounding set at exactly `mask` and the ambient set empty (needs SETPCAP,
 * so it runs before the uid changes). */
static int limit_bounding(uint64_t mask)
{
	for (int c = 0; c <= CAP_LAST_CAP; c++)
		if (!(mask >> c & 1) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			return -1;
	return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

/* effective = permitted = mask for root, nothing otherwise; inheritable always empty
 * (CVE-2022-29162: an inheritable set survives exec of file capabilities). */
static int set_caps(uint64_t mask, bool root)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2] = {{0}};
	if (root) {
		d[0].effective = d[0].permitted = (uint32_t)mask;
		d[1].effective = d[1].permitted = (uint32_t)(mask >> 32);
	}
	return (int)syscall(SYS_capset, &h, d);
}

static int install_seccomp(const pl_os_spawn_spec_t *s)
{
	struct sock_fprog prog = {
	    .len = (unsigned short)(s->seccomp_len / sizeof(struct sock_filter)),
	    .filter = (struct sock_filter *)s->seccomp,
	};
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

typedef struct child_failure {
	int stage;
	int err;
} child_failure_t;

static void close_from(int lo, unsigned hi)
{
	if ((unsigned)lo > hi || syscall(__NR_close_range, lo, hi, 0) == 0)
		return;
	/* Kernels before 5.9: close one by one up to the fd limit. */
	struct rlimit rl;
	unsigned max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 1u << 20
			   ? (unsigned)rl.rlim_cur
			   : 1u << 20;
	for (unsigned fd = (unsigned)lo; fd < max && fd <= hi; fd++)
		close((int)fd);
}

/* execvpe consults the caller's environ for PATH; the container's PATH comes from its own
 * config, so search it here. Like execvp, EACCES is remembered and the search continues. */
static int exec_search(const pl_os_spawn_spec_t *s)
{
	const char *name = s->argv[0];
	if (strchr(name, '/')) {
		execve(name, s->argv, s->envp);
		return errno;
	}
	size_t nlen = strlen(name);
	bool denied = false;
	for (const char *p = s->path;; p++) {
		const char *end = strchrnul(p, ':');
		size_t dlen = (size_t)(end - p);
		char buf[PATH_MAX];
		if (dlen == 0) /* an empty element means the working directory */
			buf[dlen++] = '.';
		else if (dlen + nlen + 2 <= sizeof(buf))
			memcpy(buf, p, dlen);
		if (dlen + nlen + 2 <= sizeof(buf)) {
			buf[dlen] = '/';
			memcpy(buf + dlen + 1, name, nlen + 1);
			execve(buf, s->argv, s->envp);
			if (errno == EACCES)
				denied = true;
			else if (errno != ENOENT && errno != ENOTDIR && errno != ENAMETOOLONG &&
				 errno != ELOOP)
				return errno; /* found something, and it cannot run */
		}
		if (*end == '\0')
			break;
		p = end;
	}
	return denied ? EACCES : ENOENT;
}

/* The child's ends of its stdio, all close-on-exec in tether's numbering. */
typedef struct child_stdio {
	int in_r;  /* read end of the stdin pipe, or -1 for /dev/null */
	int out_w; /* write ends of stdout and stderr (pipes) */
	int err_w;
	int tty; /* the terminal's slave side, or -1 */
} child_stdio_t;

/* The child runs on tether's memory (CLONE_VM|CLONE_VFORK, as posix_spawn does) while tether
 * waits: no copy of tether's page tables, no copy-on-write faults on either side, nothing to
 * tear down at its exec. Its failure is a record in that shared memory: tether reads it once
 * the child has exec'd or exited. Everything it changes besides is its own (fd table, signal
 * handlers, credentials, limits, filter, working directory: no CLONE_FILES, _SIGHAND, _FS). */
typedef struct child_args {
	const pl_os_spawn_spec_t *spec;
	child_stdio_t io;
	child_failure_t failure; /* stage 0 with err 0: exec'd (or died before saying) */
} child_args_t;

static _Noreturn void child(const pl_os_spawn_spec_t *s, const child_stdio_t *io,
			    child_failure_t *out)
{
	child_failure_t f = {.stage = PL_OS_STAGE_STDIO};
	int nul = -1;
	setsid();
	if (io->tty >= 0) {
		/* A session leader without a terminal takes this one as its controlling terminal;
		 * owned by the process's user like a login's, so tools that check it work. */
		f.stage = PL_OS_STAGE_TTY;
		if (ioctl(io->tty, TIOCSCTTY, 0) < 0 || fchown(io->tty, s->uid, (gid_t)-1) < 0 ||
		    dup2(io->tty, 0) < 0 || dup2(io->tty, 1) < 0 || dup2(io->tty, 2) < 0)
			goto fail;
	} else if (io->in_r < 0 && (nul = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
		/* /dev/null of the container, not of the host: tether already lives in its root. */
		goto fail;
	} else if (dup2(io->in_r >= 0 ? io->in_r : nul, 0) < 0 || dup2(io->out_w, 1) < 0 ||
		   dup2(io->err_w, 2) < 0) {
		goto fail;
	}
	f.stage = PL_OS_STAGE_RLIMIT;
	for (size_t i = 0; i < s->n_rlimits; i++) {
		struct rlimit rl = {.rlim_cur = s->rlimits[i].soft, .rlim_max = s->rlimits[i].hard};
		if (setrlimit(rlimit_resource(s->rlimits[i].type), &rl) < 0)
			goto fail;
	}
	/* Without no_new_privs only a privileged process may install a filter: do it while
	 * tether's privileges are still ours. */
	f.stage = PL_OS_STAGE_SECCOMP;
	if (s->seccomp && !s->no_new_privs && install_seccomp(s) < 0)
		goto fail;
	f.stage = PL_OS_STAGE_CAPS;
	if (s->caps && limit_bounding(cap_mask(s->caps)) < 0)
		goto fail;
	f.stage = PL_OS_STAGE_SETGROUPS;
	if (setgroups(s->n_groups, (const gid_t *)s->groups) < 0)
		goto fail;
	f.stage = PL_OS_STAGE_SETGID;
	if (setgid(s->gid) < 0)
		goto fail;
	f.stage = PL_OS_STAGE_SETUID;
	if (setuid(s->uid) < 0)
		goto fail;
	f.stage = PL_OS_STAGE_CAPS;
	if (s->caps && set_caps(cap_mask(s->caps), s->uid == 0) < 0)
		goto fail;
	f.stage = PL_OS_STAGE_CHDIR;
	if (chdir(s->cwd) < 0)
		goto fail;

	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL); /* fails harmlessly for SIGKILL, SIGSTOP, glibc's own */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* The control socket, log and exit record must never reach the container. */
	close_from(3, ~0U);

	f.stage = PL_OS_STAGE_NO_NEW_PRIVS;
	if (s->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		goto fail;
	f.stage = PL_OS_STAGE_SECCOMP;
	if (s->seccomp && s->no_new_privs && install_seccomp(s) < 0)
		goto fail;
	f.stage = PL_OS_STAGE_EXEC;
	errno = exec_search(s);
fail:
	f.err = errno ? errno : EIO;
	*out = f;
	_exit(127);
}

static int child_main(void *arg)
{
	child_args_t *a = arg;
	child(a->spec, &a->io, &a->failure);
}

/* The child's stack: tether is single-threaded and waits while a child uses it. */
static char child_stack[64 * 1024] __attribute__((aligned(64)));

/* A new pseudo-terminal of the devpts instance mounted in the domain: the master through
 * /dev/ptmx, the slave through TIOCGPTPEER (no path lookup in the container's /dev/pts), or
 * on kernels before 4.13 by its number. */
static int open_pty(const pl_os_spawn_spec_t *s, int *master, int *slave)
{
	*master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	int unlock = 0;
	if (*master < 0 || ioctl(*master, TIOCSPTLCK, &unlock) < 0)
		return -errno;
	*slave = ioctl(*master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*slave < 0) {
		unsigned n;
		char path[32];
		if (ioctl(*master, TIOCGPTN, &n) < 0)
			return -errno;
		snprintf(path, sizeof(path), "/dev/pts/%u", n);
		if ((*slave = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
			return -errno;
	}
	if (s->rows || s->cols)
		return pl_os_tty_resize(*master, s->rows, s->cols);
	return 0;
}

int pl_os_spawn(const pl_os_spawn_spec_t *spec, pl_os_proc_t *proc, pl_os_stage_t *stage)
{
	int out[2] = {-1, -1}, err[2] = {-1, -1}, in[2] = {-1, -1};
	int master = -1, slave = -1;
	int rc = 0;
	*stage = PL_OS_STAGE_SETUP;
	if (spec->tty) {
		*stage = PL_OS_STAGE_TTY;
		if ((rc = open_pty(spec, &master, &slave)) < 0)
			goto out;
		*stage = PL_OS_STAGE_SETUP;
	} else if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
		   (spec->open_stdin && pipe2(in, O_CLOEXEC) < 0)) {
		rc = -errno;
		goto out;
	}
	child_args_t a = {.spec = spec,
			  .io = {.in_r = in[0], .out_w = out[1], .err_w = err[1], .tty = slave}};
	/* returns once the child has exec'd or exited (all signals are blocked in tether, so
	 * none can run a handler on the shared memory meanwhile) */
	pid_t pid = clone(child_main, child_stack + sizeof(child_stack),
			  CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
	if (pid < 0) {
		rc = -errno;
		goto out;
	}
	if (a.failure.err) {
		*stage = (pl_os_stage_t)a.failure.stage;
		rc = -a.failure.err;
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		goto out;
	}
	/* exec'd. Tether's ends are polled; the container's ends stay blocking (O_NONBLOCK is
	 * per open file description: the pty's slave side and the other pipe ends are separate
	 * ones). */
	proc->pid = pid;
	proc->in_fd = -1;
	if (spec->tty) {
		fcntl(master, F_SETFL, O_NONBLOCK);
		/* A second fd on the master: stdin can be closed independently of the output. */
		if (spec->open_stdin)
			proc->in_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
		proc->out_fd = master;
		proc->err_fd = -1;
		master = -1;
	} else {
		fcntl(out[0], F_SETFL, O_NONBLOCK);
		fcntl(err[0], F_SETFL, O_NONBLOCK);
		if (in[1] >= 0)
			fcntl(in[1], F_SETFL, O_NONBLOCK);
		proc->out_fd = out[0];
		proc->err_fd = err[0];
		proc->in_fd = in[1];
		out[0] = err[0] = in[1] = -1;
	}
out:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
		if (in[i] >= 0)
			close(in[i]);
	}
	if (master >= 0)
		close(master);
	if (slave >= 0)
		close(slave);
	return rc;
}

int pl_os_tty_resize(int tty_fd, uint16_t rows, uint16_t cols)
{
	struct winsize ws = {.ws_row = rows, .ws_col = cols};
	return ioctl(tty_fd, TIOCSWINSZ, &ws) < 0 ? -errno : 0;
}

uint8_t pl_os_tty_eof_char(int tty_fd)
{
	/* On Linux the master reports the terminal's (the slave's) settings. */
	struct termios t;
	if (tcgetattr(tty_fd, &t) < 0 || t.c_cc[VEOF] == _POSIX_VDISABLE)
		return 4; /* ^D */
	return t.c_cc[VEOF];
}

int pl_os_readable_bytes(int fd)
{
	int n;
	return ioctl(fd, FIONREAD, &n) < 0 ? -errno : n;
}

int pl_os_reap_one(pl_os_status_t *st)
{
	int status;
	pid_t p;
	while ((p = waitpid(-1, &status, WNOHANG)) < 0 && errno == EINTR)
		;
	if (p <= 0)
		return 0; /* none has exited, or ECHILD: nobody left */
	st->code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
	st->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	return p;
}

void pl_os_reap_all(void)
{
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
}

int pl_os_kill(int pid, int sig, bool group)
{
	return kill(group ? -pid : pid, sig) < 0 ? -errno : 0;
}

void pl_os_kill_all(int pid)
{
	/* kill(-1) from PID 1 reaches exactly the container. Anywhere else (tests) it would hit
	 * every process the user owns, so fall back to the primary's process group. */
	if (getpid() == 1)
		kill(-1, SIGKILL);
	else
		kill(-pid, SIGKILL);
}

static char fail_msg[512];

const char *pl_os_lastfail(void)
{
	return fail_msg;
}

const char *pl_os_failf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(fail_msg, sizeof(fail_msg), fmt, ap);
	va_end(ap);
	return fail_msg;
}
