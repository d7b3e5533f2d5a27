/* Linux implementation of tether/os.h: signalfd, fork+exec with an errno pipe, close_range,
 * waitpid reaping. Nothing here talks the protocol. */
#include "tether/os.h"
#include "proto/linux_caps.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef __NR_close_range
#define __NR_close_range 436 /* same number on every architecture */
#endif

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

static _Noreturn void child(const pl_os_spawn_spec_t *s, int out_w, int err_w, int fail_w)
{
	child_failure_t f = {.stage = PL_OS_STAGE_STDIO};
	int nul;
	setsid();
	/* /dev/null of the container, not of the host: tether already lives in its root. */
	if ((nul = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0 || dup2(nul, 0) < 0 ||
	    dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0)
		goto fail;
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
	if (setgroups(0, NULL) < 0)
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
	/* The control socket, log and exit record must never reach the container; the failure
	 * pipe survives until exec closes it (O_CLOEXEC), which is how tether sees success. */
	close_from(3, (unsigned)fail_w - 1);
	close_from(fail_w + 1, ~0U);

	f.stage = PL_OS_STAGE_NO_NEW_PRIVS;
	if (s->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		goto fail;
	f.stage = PL_OS_STAGE_SECCOMP;
	if (s->seccomp && s->no_new_privs && install_seccomp(s) < 0)
		goto fail;
	f.stage = PL_OS_STAGE_EXEC;
	errno = exec_search(s);
fail:
	f.err = errno;
	while (write(fail_w, &f, sizeof(f)) < 0 && errno == EINTR)
		;
	_exit(127);
}

int pl_os_spawn(const pl_os_spawn_spec_t *spec, pl_os_proc_t *proc, pl_os_stage_t *stage)
{
	int out[2] = {-1, -1}, err[2] = {-1, -1}, fail[2] = {-1, -1};
	int rc = 0;
	*stage = PL_OS_STAGE_SETUP;
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 || pipe2(fail, O_CLOEXEC) < 0) {
		rc = -errno;
		goto out;
	}
	pid_t pid = fork();
	if (pid < 0) {
		rc = -errno;
		goto out;
	}
	if (pid == 0)
		child(spec, out[1], err[1], fail[1]);

	close(fail[1]);
	fail[1] = -1;
	child_failure_t f;
	ssize_t n;
	while ((n = read(fail[0], &f, sizeof(f))) < 0 && errno == EINTR)
		;
	if (n == sizeof(f)) {
		*stage = (pl_os_stage_t)f.stage;
		rc = f.err > 0 ? -f.err : -EIO;
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		goto out;
	}
	/* EOF: exec succeeded. The read ends are polled; the write ends stay blocking for the
	 * container (O_NONBLOCK is per open file description, so they are unaffected). */
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	fcntl(err[0], F_SETFL, O_NONBLOCK);
	proc->pid = pid;
	proc->out_fd = out[0];
	proc->err_fd = err[0];
	out[0] = err[0] = -1;
out:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
		if (fail[i] >= 0)
			close(fail[i]);
	}
	return rc;
}

bool pl_os_reap(int pid, pl_os_status_t *st)
{
	bool found = false;
	int status;
	pid_t p;
	while ((p = waitpid(-1, &status, WNOHANG)) != 0) {
		if (p < 0) {
			if (errno == EINTR)
				continue;
			break; /* ECHILD: nobody left */
		}
		if (p != pid)
			continue;
		found = true;
		st->code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
		st->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	}
	return found;
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
