/* SPDX-License-Identifier: Apache-2.0 */
/* VM templates: a guest booted once to where tether waits for its first CONFIG, stopped and
 * saved, so that a container's VM restores it instead of booting (docs/design-decisions.md,
 * "VM templates and clones"). One template per guest kernel, initramfs (tether), QEMU binary,
 * accelerator, vCPUs, memory size and number of NICs: all of it is in its name. A template is
 * a directory holding "mem" (the guest's RAM: the file itself was the template's memory,
 * shared; clones map it privately, copy-on-write), "state" (QEMU's migration stream with
 * x-ignore-shared: device state only, some 50 KB) and "meta.json" (the state's size and
 * SHA-256, the kernel command line), written last. Builders run detached from the daemon,
 * one per template at a time (a lock beside it), and leave a failure marker that holds
 * further attempts back for a while. */
#include "mechanism/vm/vm.h"
#include "host/linux/proc.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FORMAT		 2 /* 2: virtio_blk bound in the template (size 0), the pool port */
#define READY_TOKEN	 "pl-tether: template: ready" /* tether/linux/vm.c */
#define BOOT_DEADLINE_MS 180000			      /* a loaded 2-core host under TCG */
#define SAVE_DEADLINE_MS 60000
#define FAILURE_HOLD_S	 600
#define STATE_MAX	 (64 << 20)

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *hex(const uint8_t *d, size_t n)
{
	char *s = pl_xmalloc(2 * n + 1);
	for (size_t i = 0; i < n; i++)
		sprintf(s + 2 * i, "%02x", d[i]);
	return s;
}

static void hash_stat(gnutls_hash_hd_t h, const char *path)
{
	struct stat st;
	long long v[4] = {0};
	if (stat(path, &st) == 0) {
		v[0] = (long long)st.st_ino;
		v[1] = (long long)st.st_size;
		v[2] = (long long)st.st_mtim.tv_sec;
		v[3] = (long long)st.st_mtim.tv_nsec;
	}
	gnutls_hash(h, path, strlen(path) + 1);
	gnutls_hash(h, v, sizeof(v));
}

char *pl_vm_template_base(const pl_vm_kernel_t *k, const char *initramfs)
{
	gnutls_hash_hd_t h;
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return NULL;
	int format = FORMAT;
	gnutls_hash(h, &format, sizeof(format));
	hash_stat(h, k->vmlinuz);
	/* its name is a hash of tether and the modules it carries (guest.c) */
	hash_stat(h, initramfs);
	hash_stat(h, pl_vm_qemu_binary());
	uint8_t dg[32];
	gnutls_hash_deinit(h, dg);
	return hex(dg, 6);
}

char *pl_vm_template_key(const pl_vm_tmpl_spec_t *t)
{
	return pl_xasprintf("t-%s-%s-%dx%lld-%zun", t->base,
			    t->accel == PL_VM_ACCEL_KVM ? "kvm" : "tcg", t->cpus,
			    (long long)t->memory_mib, t->n_nics);
}

static char *sha256_file(int dfd, const char *name, size_t *size)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	if (pl_read_file_at(dfd, name, &data, &len, STATE_MAX, NULL) < 0)
		return NULL;
	uint8_t dg[32];
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, dg) < 0)
		return NULL;
	*size = len;
	return hex(dg, sizeof(dg));
}

int pl_vm_template_check(const char *dir, const char *key, int64_t memory_mib, char **append,
			 char *why, size_t why_size)
{
	*append = NULL;
	_cleanup_free_ char *path = pl_xasprintf("%s/%s", dir, key);
	_cleanup_close_ int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		snprintf(why, why_size, "%s", strerror(errno));
		return errno == ENOENT ? 0 : -1;
	}
	_cleanup_free_ char *ms = NULL;
	if (pl_read_file_at(dfd, "meta.json", &ms, NULL, 65536, NULL) < 0) {
		snprintf(why, why_size, "meta.json: %s", strerror(errno));
		return -1;
	}
	json_t *meta = json_loads(ms, 0, NULL);
	const char *want = json_string_value(json_object_get(meta, "state_sha256"));
	const char *ap = json_string_value(json_object_get(meta, "append"));
	json_int_t want_size = json_integer_value(json_object_get(meta, "state_size"));
	if (!want || !ap || json_integer_value(json_object_get(meta, "format")) != FORMAT) {
		json_decref(meta);
		snprintf(why, why_size, "meta.json is not a template's");
		return -1;
	}
	/* a few tens of KB: read whole and checked at every clone, so a damaged stream never
	 * reaches QEMU (which would end the container instead of booting it) */
	size_t size = 0;
	_cleanup_free_ char *got = sha256_file(dfd, "state", &size);
	struct stat mst;
	int r = -1;
	if (!got)
		snprintf(why, why_size, "state: %s", strerror(errno));
	else if ((json_int_t)size != want_size || strcmp(got, want) != 0)
		snprintf(why, why_size, "state does not match its checksum (damaged)");
	else if (fstatat(dfd, "mem", &mst, 0) < 0)
		snprintf(why, why_size, "mem: %s", strerror(errno));
	else if (mst.st_size != (off_t)memory_mib << 20)
		snprintf(why, why_size, "mem is %lld bytes, not %lld", (long long)mst.st_size,
			 (long long)memory_mib << 20);
	else
		r = 1;
	if (r == 1)
		*append = pl_xstrdup(ap);
	json_decref(meta);
	return r;
}

void pl_vm_template_remove(const char *dir, const char *key)
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	/* out of the way first: a clone starting now sees no half-removed template; the clones
	 * that run keep their (private) mappings of the unlinked RAM file */
	char gone[128];
	snprintf(gone, sizeof(gone), "%s.%d.old.tmp", key, (int)getpid());
	if (renameat(dfd, key, dfd, gone) == 0)
		pl_remove_tree_at(dfd, gone, NULL);
}

/* Whether pid runs: leftovers of a builder that does not are removed. */
static bool pid_runs(long pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld", pid);
	return access(path, F_OK) == 0;
}

void pl_vm_templates_clean(const char *dir, const char *base)
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(fcntl(dfd, F_DUPFD_CLOEXEC, 3)) : NULL;
	if (!d)
		return;
	_cleanup_free_ char *cur = pl_xasprintf("t-%s-", base);
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		if (strncmp(n, "t-", 2) != 0)
			continue;
		size_t len = strlen(n);
		if (len > 4 && strcmp(n + len - 4, ".tmp") == 0) {
			/* KEY.PID.tmp, KEY.PID.old.tmp: a builder's or a remover's */
			const char *dot = strchr(n, '.');
			if (dot && !pid_runs(strtol(dot + 1, NULL, 10)))
				pl_remove_tree_at(dfd, n, NULL);
			continue;
		}
		/* stale: built from another kernel, initramfs or QEMU binary */
		if (strncmp(n, cur, strlen(cur)) != 0)
			pl_remove_tree_at(dfd, n, NULL);
	}
	closedir(d);
}

/* ---- building */

/* Waits until the console says tether is ready for a clone, or QEMU ended, or the deadline. */
static int wait_ready(const char *console, pid_t qemu, pl_error_t **err)
{
	int64_t deadline = mono_ms() + BOOT_DEADLINE_MS;
	for (;;) {
		_cleanup_free_ char *out = NULL;
		if (pl_read_file_at(AT_FDCWD, console, &out, NULL, 1 << 20, NULL) == 0 &&
		    strstr(out, READY_TOKEN))
			return 0;
		int st;
		if (waitpid(qemu, &st, WNOHANG) == qemu)
			return pl_error_set(err, PL_ERR_INTERNAL, 0,
					    "the template's QEMU ended (status %d) before tether "
					    "was ready (see its console and qemu.log)",
					    WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		if (mono_ms() > deadline)
			return pl_error_set(err, PL_ERR_INTERNAL, ETIMEDOUT,
					    "the template did not reach tether within %d s",
					    BOOT_DEADLINE_MS / 1000);
		usleep(20000);
	}
}

/* Saves the guest's device state into state_fd (RAM is the shared file). Not stopped first:
 * the migration stops it as it completes, and the state records it as running, so that
 * clones run as soon as their restore is done (a state saved paused would restore paused). */
static int save(int qmp_fd, int state_fd, pl_error_t **err)
{
	pl_vm_qmp_t *q = pl_xcalloc(1, sizeof(*q));
	json_t *r = NULL;
	int rc = -1;
	if (pl_vm_qmp_open(q, qmp_fd, 5000, err) < 0)
		goto out;
	r = pl_vm_qmp_call(q, "migrate-set-capabilities",
			   json_pack("{s:[{s:s, s:b}]}", "capabilities", "capability",
				     "x-ignore-shared", "state", 1),
			   -1, 5000, err);
	if (!r)
		goto out;
	json_decref(r);
	if (!(r = pl_vm_qmp_call(q, "getfd", json_pack("{s:s}", "fdname", "state"), state_fd, 5000,
				 err)))
		goto out;
	json_decref(r);
	if (!(r = pl_vm_qmp_call(q, "migrate", json_pack("{s:s}", "uri", "fd:state"), -1, 5000,
				 err)))
		goto out;
	json_decref(r);
	for (int64_t deadline = mono_ms() + SAVE_DEADLINE_MS;;) {
		r = pl_vm_qmp_call(q, "query-migrate", NULL, -1, 5000, err);
		if (!r)
			goto out;
		const char *status = json_string_value(json_object_get(r, "status"));
		if (status && strcmp(status, "completed") == 0)
			break;
		if (status && (strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0)) {
			pl_error_set(err, PL_ERR_INTERNAL, 0,
				     "saving the template: migration %s: %s", status,
				     json_string_value(json_object_get(r, "error-desc")) ?: "");
			goto out;
		}
		json_decref(r);
		r = NULL;
		if (mono_ms() > deadline) {
			pl_error_set(err, PL_ERR_INTERNAL, ETIMEDOUT, "saving the template");
			goto out;
		}
		usleep(5000);
	}
	rc = 0;
	json_decref(pl_vm_qmp_call(q, "quit", NULL, -1, 2000, NULL));
out:
	json_decref(r);
	free(q);
	return rc;
}

int pl_vm_template_build(const pl_vm_tmpl_spec_t *t, pl_error_t **err)
{
	int64_t t0 = mono_ms();
	_cleanup_free_ char *key = pl_vm_template_key(t);
	_cleanup_free_ char *tmp = pl_xasprintf("%s/%s.%d.tmp", t->dir, key, (int)getpid());
	_cleanup_free_ char *final = pl_xasprintf("%s/%s", t->dir, key);
	_cleanup_free_ char *mem = pl_xasprintf("%s/mem", tmp);
	_cleanup_free_ char *statep = pl_xasprintf("%s/state", tmp);
	_cleanup_free_ char *console = pl_xasprintf("%s/vm-console.log", tmp);
	_cleanup_free_ char *qlog = pl_xasprintf("%s/qemu.log", tmp);
	_cleanup_close_ int ctl = -1, state = -1, tfd = -1;
	_cleanup_free_ char *append = NULL, *sum = NULL;
	int qmp[2] = {-1, -1};
	pid_t qemu = -1;
	int rc = -1;
	if (mkdir(tmp, 0700) < 0)
		return pl_error_errno(err, "template: mkdir %s", tmp);
	/* a port nobody connects to: tether waits on it, its clones find their daemon there */
	ctl = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (ctl < 0 || bind(ctl, (struct sockaddr *)&sa, sizeof(sa_family_t)) < 0 ||
	    listen(ctl, 1) < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qmp) < 0) {
		pl_error_errno(err, "template: sockets");
		goto out;
	}
	state = open(statep, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (state < 0) {
		pl_error_errno(err, "template: %s", statep);
		goto out;
	}
	pl_vm_boot_t b = {
	    .mode = PL_VM_BOOT_TEMPLATE,
	    .mem_path = mem,
	    .n_nics = t->n_nics,
	    .accel = t->accel,
	    .tsc_khz = t->accel == PL_VM_ACCEL_TCG ? pl_vm_host_tsc_khz() : 0,
	    .kernel = t->kernel,
	    .initramfs = t->initramfs,
	    .domain_dir = tmp,
	    .ctl_fd = 3,
	    .qmp_fd = 4,
	    .cpus = t->cpus,
	    .memory_mib = t->memory_mib,
	};
	append = pl_vm_append(&b);
	b.append = append;
	pid_t parent = getpid();
	qemu = fork();
	if (qemu == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* dies with its builder */
		if (getppid() != parent)
			_exit(127);
		int hi_ctl = fcntl(ctl, F_DUPFD, 10), hi_qmp = fcntl(qmp[1], F_DUPFD, 10);
		if (hi_ctl < 0 || hi_qmp < 0 || dup2(hi_ctl, 3) < 0 || dup2(hi_qmp, 4) < 0)
			_exit(127);
		close_range(5, ~0U, 0);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		int lfd = open(qlog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
		}
		if (lfd >= 0)
			dup2(lfd, 2);
		/* built here: QEMU's uid is its pid's (qemu.c) */
		char **argv = pl_vm_qemu_argv(&b);
		char *const envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
		execve(argv[0], argv, envp);
		_exit(127);
	}
	if (qemu < 0) {
		pl_error_errno(err, "template: fork QEMU");
		goto out;
	}
	close(qmp[1]);
	qmp[1] = -1;
	fcntl(qmp[0], F_SETFL, O_NONBLOCK);
	int64_t t_boot = mono_ms();
	if (wait_ready(console, qemu, err) < 0)
		goto out;
	int64_t t_ready = mono_ms();
	if (save(qmp[0], state, err) < 0)
		goto out;
	int st;
	for (int i = 0; i < 200 && waitpid(qemu, &st, WNOHANG) != qemu; i++)
		usleep(10000);
	kill(qemu, SIGKILL);
	waitpid(qemu, &st, 0);
	qemu = -1;
	/* only QEMU's open fd wrote it: the stream is complete once QEMU is gone */
	size_t size = 0;
	sum = sha256_file(AT_FDCWD, statep, &size);
	if (!sum || size == 0) {
		pl_error_set(err, PL_ERR_INTERNAL, 0, "template: no device state was saved");
		goto out;
	}
	json_t *meta =
	    json_pack("{s:i, s:s, s:s, s:I, s:s, s:I, s:I, s:I}", "format", FORMAT, "key", key,
		      "state_sha256", sum, "state_size", (json_int_t)size, "append", append,
		      "boot_ms", (json_int_t)(t_ready - t_boot), "build_ms",
		      (json_int_t)(mono_ms() - t0), "built_ns", (json_int_t)pl_now_ns());
	char *ms = json_dumps(meta, JSON_COMPACT);
	json_decref(meta);
	tfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int w = tfd >= 0 && ms ? pl_atomic_write(tfd, "meta.json", ms, strlen(ms), err) : -1;
	free(ms);
	if (w < 0) {
		if (err && !*err)
			pl_error_errno(err, "template: meta.json");
		goto out;
	}
	/* complete, or not there at all */
	if (rename(tmp, final) < 0) {
		pl_error_errno(err, "template: rename to %s", final);
		goto out;
	}
	rc = 0;
out:
	if (qemu > 0) {
		kill(qemu, SIGKILL);
		waitpid(qemu, NULL, 0);
	}
	if (qmp[0] >= 0)
		close(qmp[0]);
	if (qmp[1] >= 0)
		close(qmp[1]);
	if (rc < 0) {
		/* keep what says why (console, QEMU's log) beside the failure marker */
		_cleanup_free_ char *keep = pl_xasprintf("%s/%s.console", t->dir, key);
		rename(console, keep);
		_cleanup_free_ char *keepq = pl_xasprintf("%s/%s.qemu.log", t->dir, key);
		rename(qlog, keepq);
		_cleanup_close_ int dfd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		_cleanup_free_ char *name = pl_xasprintf("%s.%d.tmp", key, (int)getpid());
		if (dfd >= 0)
			pl_remove_tree_at(dfd, name, NULL);
		pl_error_wrap(err, "build vm template %s", key);
	}
	return rc;
}

/* A failure marker newer than FAILURE_HOLD_S holds further builds of key back. */
static bool failed_lately(const char *dir, const char *key)
{
	_cleanup_free_ char *p = pl_xasprintf("%s/%s.failed", dir, key);
	struct stat st;
	return stat(p, &st) == 0 && time(NULL) - st.st_mtime < FAILURE_HOLD_S;
}

void pl_vm_template_build_async(const pl_vm_tmpl_spec_t *t, bool background)
{
	_cleanup_free_ char *key = pl_vm_template_key(t);
	if (failed_lately(t->dir, key))
		return;
	pid_t pid = fork();
	if (pid < 0)
		return;
	if (pid > 0) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		return;
	}
	/* the builder: detached (the daemon does not wait for it, nor reap it), none of the
	 * daemon's fds, default signals */
	setsid();
	if (fork() != 0)
		_exit(0);
	close_range(3, ~0U, 0);
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			close(null);
	}
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	/* a build on first use runs beside the cold boots it is to spare: it must not slow them
	 * down on a small host (its QEMU inherits the priority) */
	if (background) {
		pl_vm_background_priority();
	}
	_cleanup_free_ char *lock = pl_xasprintf("%s/%s.lock", t->dir, key);
	int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0 || flock(lfd, LOCK_EX | LOCK_NB) < 0)
		_exit(0); /* another builder has it */
	char why[256];
	_cleanup_free_ char *append = NULL;
	if (pl_vm_template_check(t->dir, key, t->memory_mib, &append, why, sizeof(why)) == 1)
		_exit(0);
	pl_error_t *e = NULL;
	if (pl_vm_template_build(t, &e) < 0) {
		_cleanup_free_ char *failed = pl_xasprintf("%s/%s.failed", t->dir, key);
		int fd = open(failed, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dprintf(fd, "%s\n", e ? e->msg : "?");
			close(fd);
		}
		_exit(1);
	}
	_exit(0);
}

void pl_vm_background_priority(void)
{
	setpriority(PRIO_PROCESS, 0, PL_VM_BACKGROUND_NICE);
	/* setsid made this a scheduler autogroup of its own, competing as a whole with every
	 * other session whatever its tasks' nice values: lower the group's too */
	int ag = open("/proc/self/autogroup", O_WRONLY | O_CLOEXEC);
	if (ag >= 0) {
		dprintf(ag, "%d", PL_VM_BACKGROUND_NICE);
		close(ag);
	}
}
