/* SPDX-License-Identifier: Apache-2.0 */
/* The vm mechanism: a domain is a QEMU microVM with its own kernel; tether is the guest's
 * PID 1 (/init of the initramfs, then the root disk). The daemon makes two listening
 * sockets in the container's run dir (tether's control channel and QMP), connects to the
 * first itself, and clones a launcher process that becomes the domain: it builds what is not
 * cached yet (initramfs, base disk, the container's overlay disk, the accelerator verdict),
 * then execs QEMU with both sockets inherited; it runs in the container's own cgroup (the
 * linux mechanism's helpers), destroyed as one. The domain's pidfd is the launcher's, so QEMU's
 * exit (tether powered the guest off, or someone killed it) ends the domain; a failure before
 * QEMU runs reaches the daemon as the protocol's ERROR frame, as in the linux mechanism. */
#include "mechanism/mechanism.h"
#include "mechanism/vm.h"
#include "mechanism/vm/vm.h"
#include "host/linux/cgroup.h"
#include "host/linux/seccomp.h"
#include "host/linux/proc.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/util.h"
#include "proto/frame.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define CTL_SOCKET	   "tether.sock"
#define QMP_SOCKET	   "qmp.sock"
#define DEFAULT_MEMORY_MIB 256
#define MIN_MEMORY_MIB	   64
/* every file QEMU writes (logs, console, exit record, the disk overlay) stops growing at the
 * root disk's size + 1/8 + the guest's memory + this: the overlay needs the disk's size and
 * its metadata, a memfd holding the guest's RAM (shared with virtiofsd) is a file too; the
 * logs a guest can write past tether (its log port is a device in the guest) need a bound */
#define FILE_SLACK PL_VM_FILE_SLACK

static struct {
	pl_vm_accel_t accel;
	char *kernel_dir;
	char *cache_dir;
	char *tether_path;
	pl_vm_kernel_t kernel;
	const char *unavailable; /* why not, or NULL */
	char reason[512];
	/* templates (template.c): off, or where, and the base of their names */
	bool templates_off;
	char *template_dir; /* NULL: cache_dir/templates */
	char *prebuild;	    /* "CPUSxMIB,..." */
	char *initramfs;    /* known at init when templates are on */
	char *template_base;
	char template_off_reason[256]; /* templates wanted but impossible here: why */
	char *pool;		       /* "CPUSxMIB[:N],...": clones started ahead (pool.c) */
	char *run_root;
} V = {.unavailable = "not initialised"};

/* Live domains: what ops that get only the id need (the QMP socket, QEMU's pid). */
typedef struct vm_dom {
	char id[65];
	int run_dirfd;
	pid_t pid;
	int pidfd;   /* our own copy: signals reach this process, never a reused pid */
	bool paused; /* what we asked for last; QMP query-status is the truth */
	int64_t memory_mib;
	struct vm_dom *next;
} vm_dom_t;
static vm_dom_t *doms;

static vm_dom_t *dom_find(const char *id)
{
	for (vm_dom_t *d = doms; d; d = d->next)
		if (strcmp(d->id, id) == 0)
			return d;
	return NULL;
}

static void dom_add(const char *id, int run_dirfd, pid_t pid, int pidfd)
{
	vm_dom_t *d = dom_find(id);
	if (!d) {
		d = pl_xcalloc(1, sizeof(*d));
		snprintf(d->id, sizeof(d->id), "%s", id);
		d->next = doms;
		doms = d;
	} else {
		close(d->run_dirfd);
		close(d->pidfd);
	}
	d->run_dirfd = fcntl(run_dirfd, F_DUPFD_CLOEXEC, 3);
	d->pidfd = fcntl(pidfd, F_DUPFD_CLOEXEC, 3);
	d->pid = pid;
	d->paused = false;
}

static void templates_init(void);
static void pool_fill(void);

static void dom_remove(const char *id)
{
	for (vm_dom_t **p = &doms; *p; p = &(*p)->next) {
		if (strcmp((*p)->id, id) == 0) {
			vm_dom_t *d = *p;
			*p = d->next;
			close(d->run_dirfd);
			close(d->pidfd);
			free(d);
			return;
		}
	}
}

/* "CPUSxMIB[:N],...": each size and how many (1 when not said); 0 at the end. */
static int pool_entry(const char **p, int *cpus, long long *mib, int *n)
{
	int used = 0;
	*n = 1;
	if (!**p || sscanf(*p, "%dx%lld%n", cpus, mib, &used) != 2)
		return 0;
	*p += used;
	if (**p == ':') {
		int u2 = 0;
		if (sscanf(*p + 1, "%d%n", n, &u2) != 1)
			return -1;
		*p += 1 + u2;
	}
	if (**p && **p != ',')
		return -1;
	*p += **p == ',';
	return 1;
}

static int configure_pool(const char *pool, pl_error_t **err)
{
	free(V.pool);
	V.pool = NULL;
	if (!pool || !*pool || strcmp(pool, "0") == 0 || strcmp(pool, "off") == 0)
		return 0;
	int cpus, n, r;
	long long mib;
	for (const char *p = pool; (r = pool_entry(&p, &cpus, &mib, &n)) != 0;)
		if (r < 0 || cpus < 1 || cpus > 64 || mib < MIN_MEMORY_MIB || mib > (1LL << 20) ||
		    n < 0 || n > 16)
			return pl_error_set(
			    err, PL_ERR_INVALID, 0,
			    "--vm-pool \"%s\": want CPUSxMIB[:N][,...] (e.g. 1x256:2), "
			    "at least %d MiB, at most 16 each",
			    pool, MIN_MEMORY_MIB);
	if (!pool_entry(&(const char *){pool}, &cpus, &mib, &n))
		return pl_error_set(err, PL_ERR_INVALID, 0, "--vm-pool \"%s\"", pool);
	V.pool = pl_xstrdup(pool);
	return 0;
}

static int configure_templates(bool enabled, const char *dir, const char *prebuild,
			       pl_error_t **err)
{
	V.templates_off = !enabled;
	free(V.template_dir);
	V.template_dir = dir ? pl_xstrdup(dir) : NULL;
	free(V.prebuild);
	V.prebuild = NULL;
	for (const char *p = prebuild; p && *p;) {
		int cpus;
		long long mib;
		int used = 0;
		if (sscanf(p, "%dx%lld%n", &cpus, &mib, &used) != 2 || cpus < 1 || cpus > 64 ||
		    mib < MIN_MEMORY_MIB || mib > (1LL << 20) || (p[used] && p[used] != ','))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "--vm-template-prebuild \"%s\": want CPUSxMIB[,...] "
					    "(e.g. 1x256), at least %d MiB",
					    prebuild, MIN_MEMORY_MIB);
		p += used + (p[used] == ',');
	}
	V.prebuild = prebuild ? pl_xstrdup(prebuild) : NULL;
	return 0;
}

static int configure(const char *accel, const char *kernel_dir, const char *state_root,
		     pl_error_t **err)
{
	if (!accel || strcmp(accel, "auto") == 0)
		V.accel = PL_VM_ACCEL_AUTO;
	else if (strcmp(accel, "kvm") == 0)
		V.accel = PL_VM_ACCEL_KVM;
	else if (strcmp(accel, "tcg") == 0)
		V.accel = PL_VM_ACCEL_TCG;
	else
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "--vm-accel \"%s\": want auto, kvm or tcg", accel);
	free(V.kernel_dir);
	V.kernel_dir = pl_xstrdup(kernel_dir ? kernel_dir : PL_VM_DEFAULT_KERNEL_DIR);
	free(V.cache_dir);
	V.cache_dir = state_root ? pl_xasprintf("%s/vm", state_root) : NULL;
	return 0;
}

const char *pl_vm_accel_name(void)
{
	switch (V.accel) {
	case PL_VM_ACCEL_KVM:
		return "kvm";
	case PL_VM_ACCEL_TCG:
		return "tcg";
	case PL_VM_ACCEL_AUTO:
	default:
		return "auto";
	}
}

const char *pl_vm_kernel_version(void)
{
	return V.kernel.version;
}

int pl_vm_init(pl_mechanism_t *m, const char *tether_path, const pl_vm_options_t *o,
	       pl_error_t **err)
{
	static const pl_vm_options_t none;
	if (!o)
		o = &none;
	if (configure(o->accel, o->kernel_dir, o->state_root, err) < 0 ||
	    configure_templates(!o->templates_off, o->template_dir, o->template_prebuild, err) <
		0 ||
	    configure_pool(o->pool, err) < 0)
		return -1;
	free(V.run_root);
	V.run_root = o->run_root ? pl_xstrdup(o->run_root) : NULL;
	free(V.tether_path);
	V.tether_path = pl_xstrdup(tether_path);
	pl_vm_kernel_clear(&V.kernel);
	V.unavailable = NULL;
	if (!V.cache_dir) {
		V.unavailable = "no state directory configured";
		return 0;
	}
	if (access(pl_vm_qemu_binary(), X_OK) != 0) {
		snprintf(V.reason, sizeof(V.reason), "%s is not installed (scripts/deps.sh)",
			 pl_vm_qemu_binary());
		V.unavailable = V.reason;
		return 0;
	}
	pl_error_t *e = NULL;
	if (pl_vm_kernel_find(V.kernel_dir, &V.kernel, &e) < 0) {
		snprintf(V.reason, sizeof(V.reason), "%s", e->msg);
		pl_error_free(e);
		V.unavailable = V.reason;
		return 0;
	}
	/* absence only makes the mechanism unavailable; a failure to make the cache is real */
	if (pl_mkdir_p(V.cache_dir, 0700, err) < 0)
		return pl_error_wrap(err, "vm cache");
	pl_vm_cache_clean(V.cache_dir);
	/* QEMU's root after it dropped its privileges: empty, and nobody may write there */
	_cleanup_free_ char *jail = pl_xasprintf("%s/empty", V.cache_dir);
	if (mkdir(jail, 0555) < 0 && errno != EEXIST)
		return pl_error_errno(err, "mkdir %s", jail);
	pl_vm_qemu_jail(jail);
	templates_init();
	/* always: a previous daemon's slots go, pool or not now */
	pl_vm_pool_init(V.cache_dir, V.run_root);
	pool_fill();
	return 0;
}

static pl_vm_tmpl_spec_t tmpl_spec(pl_vm_accel_t accel, int cpus, int64_t memory_mib, size_t n_nics)
{
	return (pl_vm_tmpl_spec_t){.dir = V.template_dir,
				   .base = V.template_base,
				   .kernel = &V.kernel,
				   .initramfs = V.initramfs,
				   .accel = accel,
				   .cpus = cpus,
				   .memory_mib = memory_mib,
				   .n_nics = n_nics};
}

/* Templates need the initramfs at hand (their names carry its hash): made now, once. A
 * failure only turns templates off; the cold path reports it at the first start. */
static void templates_init(void)
{
	V.template_off_reason[0] = 0;
	free(V.initramfs);
	free(V.template_base);
	V.initramfs = V.template_base = NULL;
	if (V.templates_off)
		return;
	if (!V.template_dir)
		V.template_dir = pl_xasprintf("%s/templates", V.cache_dir);
	pl_error_t *e = NULL;
	if (pl_mkdir_p(V.template_dir, 0700, &e) < 0 ||
	    !(V.initramfs = pl_vm_initramfs(V.cache_dir, V.tether_path, &V.kernel, &e)) ||
	    !(V.template_base = pl_vm_template_base(&V.kernel, V.initramfs))) {
		snprintf(V.template_off_reason, sizeof(V.template_off_reason),
			 "vm templates are off: %s", e ? e->msg : "sha256");
		pl_error_free(e);
		free(V.initramfs);
		V.initramfs = NULL;
		return;
	}
	pl_vm_templates_clean(V.template_dir, V.template_base);
	pl_vm_accel_t accel;
	if (!V.prebuild || !pl_vm_accel_known(V.accel, V.cache_dir, &V.kernel, &accel))
		return; /* an accelerator still to probe: the first start builds them */
	for (const char *p = V.prebuild; *p;) {
		int cpus = 1, used = 0;
		long long mib = DEFAULT_MEMORY_MIB;
		if (sscanf(p, "%dx%lld%n", &cpus, &mib, &used) != 2)
			break;
		p += used + (p[used] == ',');
		pl_vm_tmpl_spec_t t = tmpl_spec(accel, cpus, mib, 0);
		_cleanup_free_ char *key = pl_vm_template_key(&t);
		_cleanup_free_ char *append = NULL;
		char why[256];
		if (pl_vm_template_check(t.dir, key, mib, &append, why, sizeof(why)) != 1)
			pl_vm_template_build_async(&t, false);
	}
}

/* Tops the pool up: slots of each configured size whose template is there and sound. */
static void pool_fill(void)
{
	pl_vm_accel_t accel;
	if (!V.pool || V.templates_off || !V.initramfs || !V.run_root ||
	    !pl_vm_accel_known(V.accel, V.cache_dir, &V.kernel, &accel))
		return;
	int cpus, n;
	long long mib;
	for (const char *p = V.pool; pool_entry(&p, &cpus, &mib, &n) > 0;) {
		pl_vm_tmpl_spec_t t = tmpl_spec(accel, cpus, mib, 0);
		_cleanup_free_ char *key = pl_vm_template_key(&t);
		_cleanup_free_ char *append = NULL;
		char why[256];
		if (pl_vm_template_check(t.dir, key, mib, &append, why, sizeof(why)) != 1)
			continue;
		_cleanup_free_ char *dir = pl_xasprintf("%s/%s", t.dir, key);
		pl_vm_pool_tmpl_t pt = {.dir = dir,
					.key = key,
					.append = append,
					.accel = accel,
					.kernel = &V.kernel,
					.initramfs = V.initramfs,
					.cpus = cpus,
					.memory_mib = mib,
					.warm_disk = pl_vm_pool_warm_disk(V.cache_dir)};
		for (size_t have = pl_vm_pool_count(key); have < (size_t)n; have++) {
			pl_error_t *e = NULL;
			if (pl_vm_pool_start(&pt, &e) < 0) {
				pl_error_free(e);
				break;
			}
		}
	}
}

static struct {
	pl_loop_t *loop;
	pl_timer_t *timer;
} pool_watch;

#define POOL_CHECK_MS 2000

static void on_pool_check(pl_loop_t *loop, void *data)
{
	pool_fill();
	pool_watch.timer = pl_loop_timer(loop, POOL_CHECK_MS, on_pool_check, NULL, NULL);
}

void pl_vm_pool_watch(pl_loop_t *loop)
{
	if (!V.pool || V.templates_off || pool_watch.timer)
		return;
	pool_watch.loop = loop;
	pool_watch.timer = pl_loop_timer(loop, POOL_CHECK_MS, on_pool_check, NULL, NULL);
}

void pl_vm_pool_unwatch(void)
{
	if (pool_watch.timer)
		pool_watch.timer = pl_loop_timer_cancel(pool_watch.loop, pool_watch.timer);
}

/* Whether the pool has this size: a start of it may take a slot. */
static bool pool_has(int cpus, int64_t mib)
{
	int c, n;
	long long m;
	for (const char *p = V.pool; p && pool_entry(&p, &c, &m, &n) > 0;)
		if (c == cpus && m == mib && n > 0)
			return true;
	return false;
}

static bool vm_available(const pl_mechanism_t *m, const char **reason)
{
	if (V.unavailable) {
		*reason = V.unavailable;
		return false;
	}
	return true;
}

/* ---- spawn */

static int cpus_of(const pl_resources_t *r)
{
	if (r->cpu_quota > 0 && r->cpu_period > 0)
		return (int)((r->cpu_quota + r->cpu_period - 1) / r->cpu_period);
	return 1;
}

static int64_t memory_mib_of(const pl_resources_t *r)
{
	if (r->memory > 0)
		return r->memory >> 20;
	return DEFAULT_MEMORY_MIB;
}

/* In the launcher: tells the daemon why the VM will not run (ERROR on the control
 * socket, as the linux mechanism's set-up child does), then dies. */
static _Noreturn void launch_fail(int listen_fd, pl_error_t *e)
{
	pl_domain_fail(accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC), e, "vm launch failed");
}

/* A start from a template, decided by the daemon (vm_spawn): NULL dir for a cold boot. */
typedef struct clone_plan {
	char *dir; /* the template's directory */
	char *key;
	char *append;
	pl_vm_accel_t accel;
	const char *cold_reason; /* why not, for inspect (NULL: templates are off) */
} clone_plan_t;

static void plan_clear(clone_plan_t *p)
{
	free(p->dir);
	free(p->key);
	free(p->append);
	*p = (clone_plan_t){0};
}

/* In the launcher, just before it becomes QEMU: a process (detached: not QEMU's child) that
 * starts the clone's restore on QEMU's second monitor (x-ignore-shared, then the stream on
 * state_fd, QEMU's own fd) and leaves. A restore it cannot start ends QEMU: the domain ends
 * without an exit record, its reason in vm-qemu.log (our stderr). */
/* Whether a slot's pool port is closed already (QEMU names a disconnected socket chardev
 * "disconnected:..."): its daemon died before the guest ran, and its tether, seeing no pool,
 * would wait for a control connection that never comes. */
static bool pool_orphaned(pl_vm_qmp_t *q)
{
	json_t *r = pl_vm_qmp_call(q, "query-chardev", NULL, -1, 5000, NULL);
	size_t i;
	json_t *c;
	bool gone = false;
	json_array_foreach(r, i, c)
	{
		const char *label = json_string_value(json_object_get(c, "label"));
		const char *file = json_string_value(json_object_get(c, "filename"));
		if (label && file && strcmp(label, "pool") == 0)
			gone = strncmp(file, "disconnected", 12) == 0;
	}
	json_decref(r);
	return gone;
}

void pl_vm_restore_helper(int qmp_fd, int state_fd, long long disk_size, bool pooled)
{
	pid_t qemu = getpid();
	int64_t t_start = pl_now_ns();
	pid_t p = fork();
	if (p < 0)
		return; /* QEMU waits; nobody starts it: the daemon's deadline ends it */
	if (p > 0) {
		close(qmp_fd);
		while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
			;
		return;
	}
	if (fork() != 0)
		_exit(0);
	int fd = fcntl(qmp_fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0 || dup2(fd, 3) < 0)
		_exit(1);
	close_range(4, ~0U, 0);
	fcntl(3, F_SETFL, O_NONBLOCK);
	pl_vm_qmp_t *q = pl_xcalloc(1, sizeof(*q));
	pl_error_t *e = NULL;
	json_t *r = NULL;
	char uri[32];
	snprintf(uri, sizeof(uri), "fd:%d", state_fd);
	/* QEMU's start-up under TCG on a loaded host: seconds at worst */
	if (pl_vm_qmp_open(q, 3, 30000, &e) < 0 ||
	    !(r = pl_vm_qmp_call(q, "migrate-set-capabilities",
				 json_pack("{s:[{s:s, s:b}]}", "capabilities", "capability",
					   "x-ignore-shared", "state", 1),
				 -1, 10000, &e)) ||
	    (json_decref(r),
	     !(r = pl_vm_qmp_call(q, "migrate-incoming", json_pack("{s:s}", "uri", uri), -1, 10000,
				  &e)))) {
		dprintf(2, "portlayer: restore from the vm template: %s\n", e ? e->msg : "?");
		kill(qemu, SIGKILL);
		_exit(1);
	}
	json_decref(r);
	/* where a clone's start goes, for bench/vm: QEMU's start-up, then the restore */
	int64_t t_qmp = pl_now_ns();
	for (int i = 0; i < 2000; i++) {
		r = pl_vm_qmp_call(q, "query-migrate", NULL, -1, 5000, NULL);
		const char *st = json_string_value(json_object_get(r, "status"));
		bool done = !r || (st && strcmp(st, "active") != 0 && strcmp(st, "setup") != 0);
		if (done && disk_size > 0) {
			/* the template's disk had size 0; the guest's driver learns this one's
			 * from the capacity change this announces (tether waits for it). "root"
			 * is a clone's drive, a pooled clone's raw node (its warm-up disk) */
			json_t *rr = pl_vm_qmp_call(q, "block_resize",
						    json_pack("{s:s, s:s, s:I}", "device", "root",
							      "node-name", "root", "size",
							      (json_int_t)disk_size),
						    -1, 10000, &e);
			if (!rr) {
				dprintf(2, "portlayer: announce the clone's disk: %s\n",
					e ? e->msg : "?");
				kill(qemu, SIGKILL);
				_exit(1);
			}
			json_decref(rr);
		}
		if (done && pooled && pool_orphaned(q)) {
			dprintf(2, "portlayer: vm pool: the daemon is gone before the slot ran\n");
			json_decref(pl_vm_qmp_call(q, "quit", NULL, -1, 2000, NULL));
			kill(qemu, SIGKILL);
			_exit(0);
		}
		if (done) {
			dprintf(2,
				"portlayer: clone: QEMU ready for the restore after %lld ms, "
				"restore %s after %lld ms more (host clock %lld)\n",
				(long long)(t_qmp - t_start) / 1000000, st ? st : "?",
				(long long)(pl_now_ns() - t_qmp) / 1000000, (long long)pl_now_ns());
			json_decref(r);
			break;
		}
		json_decref(r);
		usleep(2000);
	}
	_exit(0);
}

static _Noreturn void launcher_main(const pl_domain_spec_t *spec, int ctl_listen, int qmp_listen,
				    const int *taps, size_t n_taps, const clone_plan_t *plan)
{
	pl_error_t *e = NULL;
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	/* QEMU outlives the daemon: its own session, no terminal, no daemon fds but ours */
	setsid();
	/* the taps go to 5 on: first out of the way of every dup2 below */
	int tap_fds[PL_VM_MAX_NICS];
	for (size_t i = 0; i < n_taps; i++)
		if ((tap_fds[i] = fcntl(taps[i], F_DUPFD_CLOEXEC, 64 + PL_VM_MAX_NICS)) < 0)
			_exit(1);
	int fds[2] = {ctl_listen, qmp_listen};
	for (int i = 0; i < 2; i++) {
		int hi = fcntl(fds[i], F_DUPFD, 64);
		if (hi < 0 || dup2(hi, 3 + i) < 0)
			_exit(1);
	}
	ctl_listen = 3;
	qmp_listen = 4;
	for (size_t i = 0; i < n_taps; i++) {
		if (dup2(tap_fds[i], 5 + (int)i) < 0)
			_exit(1);
		tap_fds[i] = 5 + (int)i;
	}
	close_range(5 + (unsigned)n_taps, ~0U, 0);
	/* a clone's device state: the template's stream, read by QEMU from this fd, and the
	 * monitor its restore is started on (the helper's end close-on-exec) */
	int state_fd = -1, restore[2] = {-1, -1};
	if (plan->dir) {
		_cleanup_free_ char *sp = pl_xasprintf("%s/state", plan->dir);
		int fd = open(sp, O_RDONLY | O_CLOEXEC);
		int sp2[2];
		if (fd >= 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp2) == 0) {
			state_fd = fcntl(fd, F_DUPFD, 5 + (int)n_taps);
			restore[0] = fcntl(sp2[0], F_DUPFD_CLOEXEC, 5 + (int)n_taps);
			restore[1] = fcntl(sp2[1], F_DUPFD, 5 + (int)n_taps);
			close(sp2[0]);
			close(sp2[1]);
			if (state_fd < 0 || restore[0] < 0 || restore[1] < 0)
				_exit(1);
		}
		if (fd >= 0)
			close(fd);
	}
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
	}
	bool clone = plan->dir && state_fd >= 0;
	/* a clone's is its template's: known to be there (the daemon made it at start-up) */
	_cleanup_free_ char *initramfs =
	    clone ? pl_xstrdup(V.initramfs)
		  : pl_vm_initramfs(V.cache_dir, V.tether_path, &V.kernel, &e);
	if (!initramfs)
		launch_fail(ctl_listen, e);
	_cleanup_free_ char *base = pl_vm_base_disk(V.cache_dir, spec->lowerdir, &e);
	if (!base)
		launch_fail(ctl_listen, e);
	_cleanup_free_ char *disk = pl_xasprintf("%s/disk.qcow2", spec->domain_dir);
	if (pl_vm_overlay_disk(disk, base, &e) < 0)
		launch_fail(ctl_listen, e);
	int shares_fd = 0;
	if (spec->n_mounts > 0 && (shares_fd = pl_vm_shares_start(spec->domain_dir, spec->mounts,
								  spec->n_mounts, &e)) < 0)
		launch_fail(ctl_listen, e);
	pl_vm_accel_t accel = plan->accel;
	if (!clone &&
	    pl_vm_accel_resolve(V.accel, V.cache_dir, &V.kernel, initramfs, &accel, &e) < 0)
		launch_fail(ctl_listen, e);
	int disk_fds[2] = {-1, -1};
	for (int i = 0; clone && i < 2; i++) {
		int fd = open(disk, (i ? O_RDWR : O_RDONLY) | O_CLOEXEC);
		if (fd < 0 || (disk_fds[i] = fcntl(fd, F_DUPFD, 5 + (int)n_taps)) < 0) {
			pl_error_errno(&e, "open %s", disk);
			launch_fail(ctl_listen, e);
		}
		close(fd);
	}
	struct stat bst;
	if (stat(base, &bst) < 0) {
		pl_error_errno(&e, "root disk %s", base);
		launch_fail(ctl_listen, e);
	}
	long long file_max = (long long)bst.st_size + (long long)bst.st_size / 8 +
			     ((long long)memory_mib_of(spec->resources) << 20) + FILE_SLACK;
	_cleanup_free_ char *mem = clone ? pl_xasprintf("%s/mem", plan->dir) : NULL;
	pl_vm_boot_t b = {
	    .mode = clone ? PL_VM_BOOT_CLONE : PL_VM_BOOT_COLD,
	    .mem_path = mem,
	    .state_fd = state_fd,
	    .restore_qmp_fd = restore[1],
	    .disk_fds = {disk_fds[0], disk_fds[1]},
	    .append = clone ? plan->append : NULL,
	    .accel = accel,
	    .tsc_khz = accel == PL_VM_ACCEL_TCG && !clone ? pl_vm_host_tsc_khz() : 0,
	    .kernel = &V.kernel,
	    .initramfs = initramfs,
	    .disk = disk,
	    .domain_dir = spec->domain_dir,
	    .ctl_fd = ctl_listen,
	    .qmp_fd = qmp_listen,
	    .hostname = spec->hostname,
	    .read_only = spec->security->read_only_rootfs,
	    .cpus = cpus_of(spec->resources),
	    .memory_mib = memory_mib_of(spec->resources),
	    .shares_fd = shares_fd,
	    .endpoints = spec->endpoints,
	    .n_endpoints = spec->n_endpoints,
	    .tap_fds = tap_fds,
	};
	/* what this domain booted with, for inspect: the record belongs to the domain */
	json_t *rec =
	    json_pack("{s:s, s:s, s:i, s:I, s:I, s:s, s:i, s:I}", "kernel", V.kernel.version,
		      "accel", b.accel == PL_VM_ACCEL_KVM ? "kvm" : "tcg", "cpus", b.cpus,
		      "memory_mib", (json_int_t)b.memory_mib, "file_size_limit",
		      (json_int_t)file_max, "boot", clone ? "clone" : "cold", "qemu_pid",
		      (int)getpid(), "qemu_start", (json_int_t)pl_proc_start_time(getpid()));
	if (clone)
		json_object_set_new(rec, "template", json_string(plan->key));
	else if (plan->cold_reason)
		json_object_set_new(rec, "cold_boot_reason", json_string(plan->cold_reason));
	char *rs = json_dumps(rec, JSON_COMPACT);
	json_decref(rec);
	int dirfd = open(spec->domain_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rs && dirfd >= 0)
		pl_atomic_write(dirfd, "vm.json", rs, strlen(rs), NULL);
	if (dirfd >= 0)
		close(dirfd);
	free(rs);
	char **argv = pl_vm_qemu_argv(&b);
	_cleanup_free_ char *log = pl_xasprintf("%s/vm-qemu.log", spec->domain_dir);
	int lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (lfd >= 0) {
		dup2(lfd, 2);
		close(lfd);
	}
	/* a write past the limit fails with EFBIG instead of killing QEMU */
	struct rlimit fsize = {.rlim_cur = (rlim_t)file_max, .rlim_max = (rlim_t)file_max};
	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &fsize) < 0) {
		pl_error_errno(&e, "limit QEMU's file sizes");
		launch_fail(ctl_listen, e);
	}
	if (clone)
		pl_vm_restore_helper(restore[0], state_fd, pl_vm_disk_size(disk), false);
	pl_vm_qemu_exec(&b, argv);
	pl_error_errno(&e, "exec %s", argv[0]);
	launch_fail(ctl_listen, e);
}

/* The guest memory (MiB) of a running QEMU, from its command line ("-m NM"); 0 unknown. */
static int64_t qemu_memory_mib(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	if (pl_read_file_at(AT_FDCWD, path, &buf, &len, 1 << 16, NULL) < 0)
		return 0;
	for (size_t i = 0; i < len;) {
		size_t n = strnlen(buf + i, len - i);
		if (strcmp(buf + i, "-m") == 0 && i + n + 1 < len)
			return strtoll(buf + i + n + 1, NULL, 10);
		i += n + 1;
	}
	return 0;
}

/* What of the container's resources holds on the host side, for QEMU as a whole: its CPU
 * weight, host CPU set and I/O weight as asked, and at most one CPU beyond its vCPUs (TCG
 * runs a vCPU on a whole host CPU; the rest is QEMU's own threads). Memory is not limited
 * here: -m sizes the guest, and QEMU's own overhead on top of it is not measured yet. */
static int host_limits(const char *id, const pl_resources_t *r, pl_error_t **err)
{
	pl_resources_t host = {
	    .cpu_shares = r->cpu_shares,
	    .cpu_period = 100000,
	    .cpu_quota = (int64_t)(cpus_of(r) + 1) * 100000,
	    .cpuset_cpus = r->cpuset_cpus,
	    .blkio_weight = r->blkio_weight,
	};
	return pl_cgroup_apply(id, &host, err);
}

/* Moves pid into the cgroup2 directory dirfd (when it could not be cloned into it). */
static int attach_v2(int dirfd, pid_t pid, pl_error_t **err)
{
	char val[32];
	int n = snprintf(val, sizeof(val), "%d", pid);
	_cleanup_close_ int fd = openat(dirfd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, val, (size_t)n) != n)
		return pl_error_errno(err, "cgroup.procs");
	return 0;
}

/* Whether this start restores a template (plan filled) or boots cold; the warning a cold
 * boot deserves (a template missing, being built, damaged), or NULL. Quick: a few stats and
 * the state file's checksum (tens of KB); building happens in a detached process. */
static const char *plan_clone(const pl_domain_spec_t *spec, size_t n_nics, clone_plan_t *plan)
{
	static char warning[512];
	*plan = (clone_plan_t){0};
	if (V.templates_off)
		return NULL;
	if (!V.initramfs)
		return plan->cold_reason = V.template_off_reason;
	if (spec->n_mounts > 0) {
		/* virtio-fs maps the guest's memory in virtiofsd: it must be shared, where a
		 * clone's is private (docs/design-decisions.md) */
		plan->cold_reason = "volumes and bind mounts (virtio-fs) need the guest's memory "
				    "shared with virtiofsd: such VMs boot cold";
		return NULL;
	}
	pl_vm_accel_t accel;
	if (!pl_vm_accel_known(V.accel, V.cache_dir, &V.kernel, &accel)) {
		plan->cold_reason = "the accelerator is still to be probed";
		return "no vm template yet: the accelerator is still to be probed (cold boot)";
	}
	const pl_resources_t *r = spec->resources;
	pl_vm_tmpl_spec_t t = tmpl_spec(accel, cpus_of(r), memory_mib_of(r), n_nics);
	char *key = pl_vm_template_key(&t);
	char why[256];
	int c = pl_vm_template_check(t.dir, key, t.memory_mib, &plan->append, why, sizeof(why));
	if (c == 1) {
		plan->dir = pl_xasprintf("%s/%s", t.dir, key);
		plan->key = key;
		plan->accel = accel;
		return NULL;
	}
	if (c < 0)
		pl_vm_template_remove(t.dir, key);
	pl_vm_template_build_async(&t, true);
	if (c == 0)
		snprintf(warning, sizeof(warning),
			 "no vm template %s yet: cold boot (it is being built in the background)",
			 key);
	else
		snprintf(warning, sizeof(warning),
			 "vm template %s is unusable (%s): cold boot; removed, being rebuilt", key,
			 why);
	free(key);
	plan->cold_reason = warning;
	return warning;
}

static int spawn_launcher(const pl_domain_spec_t *spec, pl_domain_t *out, clone_plan_t *planned,
			  pl_error_t **err);

/* A start from the pool (pool.c): 1 taken, 0 none ready (or not poolable), -1 failed. The
 * slot's QEMU joins the container's cgroup as a launcher would be cloned into it. */
static int pool_spawn(const pl_domain_spec_t *spec, const clone_plan_t *plan, pl_domain_t *out,
		      pl_error_t **err)
{
	const pl_resources_t *r = spec->resources;
	if (!plan->dir || spec->n_endpoints > 0 || spec->n_mounts > 0 ||
	    !pool_has(cpus_of(r), memory_mib_of(r)) ||
	    faccessat(spec->domain_dirfd, "container.log", F_OK, 0) == 0)
		return 0; /* a restart appends to its log: files are moved, not reopened */
	/* the disk is bound late, but its base must be there (building it is a launcher's job),
	 * and fit the limit the slot's QEMU was given ahead */
	_cleanup_free_ char *base = pl_vm_base_disk_cached(V.cache_dir, spec->lowerdir);
	struct stat bst;
	if (!base || stat(base, &bst) < 0 || bst.st_size > PL_VM_POOL_DISK_MAX)
		return 0;
	if (pl_cgroup_place(spec->id, spec->host.cgroup_parent, err) < 0)
		return pl_error_wrap(err, "cgroup_parent");
	_cleanup_close_ int cgfd = pl_cgroup_create(spec->id, err);
	if (cgfd < 0 && err && *err)
		return pl_error_wrap(err, "create cgroup");
	if (host_limits(spec->id, r, err) < 0) {
		pl_cgroup_destroy(spec->id, NULL);
		return pl_error_wrap(err, "resource limits");
	}
	pl_vm_pool_take_t tk = {.key = plan->key,
				.cache_dir = V.cache_dir,
				.lowerdir = spec->lowerdir,
				.domain_dir = spec->domain_dir,
				.kernel_version = V.kernel.version,
				.accel = plan->accel == PL_VM_ACCEL_KVM ? "kvm" : "tcg",
				.cpus = cpus_of(r),
				.memory_mib = memory_mib_of(r),
				.file_size_limit = pl_vm_pool_file_limit(memory_mib_of(r))};
	pl_vm_pool_taken_t t;
	int k = pl_vm_pool_take(&tk, spec->run_dirfd, spec->domain_dirfd, &t, err);
	if (k <= 0) {
		pl_cgroup_destroy(spec->id, NULL);
		return k;
	}
	if ((cgfd >= 0 && attach_v2(cgfd, t.pid, err) < 0) ||
	    pl_cgroup_attach_v1(spec->id, t.pid, err) < 0) {
		syscall(SYS_pidfd_send_signal, t.pidfd, SIGKILL, NULL, 0);
		siginfo_t si;
		waitid((idtype_t)P_PIDFD, (id_t)t.pidfd, &si, WEXITED);
		close(t.pidfd);
		close(t.ctl_fd);
		pl_cgroup_destroy(spec->id, NULL);
		return pl_error_wrap(err, "place the pooled VM in its cgroup");
	}
	dom_add(spec->id, spec->run_dirfd, t.pid, t.pidfd);
	vm_dom_t *d = dom_find(spec->id);
	if (d)
		d->memory_mib = tk.memory_mib;
	out->pid = t.pid;
	out->pidfd = t.pidfd;
	out->ctl_fd = t.ctl_fd;
	out->start_time = pl_proc_start_time(t.pid);
	return 1;
}

static int vm_spawn(const pl_mechanism_t *m, const pl_domain_spec_t *spec, pl_domain_t *out,
		    pl_error_t **err)
{
	/* a clone started ahead, when one of this size is ready; the pool topped up after */
	clone_plan_t plan = {0};
	bool planned = false;
	if (V.pool && spec->n_endpoints == 0 && spec->n_mounts == 0) {
		out->warning = plan_clone(spec, 0, &plan);
		planned = true;
		if (unlinkat(spec->domain_dirfd, "exit.json", 0) < 0 && errno != ENOENT) {
			plan_clear(&plan);
			return pl_error_errno(err, "remove the previous exit record");
		}
		int k = pool_spawn(spec, &plan, out, err);
		if (k != 0) {
			plan_clear(&plan);
			pool_fill();
			return k < 0 ? -1 : 0;
		}
	}
	int r = spawn_launcher(spec, out, planned ? &plan : NULL, err);
	pool_fill();
	return r;
}

static int spawn_launcher(const pl_domain_spec_t *spec, pl_domain_t *out, clone_plan_t *planned,
			  pl_error_t **err)
{
	_cleanup_close_ int ctl_listen = pl_unix_listen_at(spec->run_dirfd, CTL_SOCKET, err);
	if (ctl_listen < 0)
		return -1;
	_cleanup_close_ int qmp_listen = pl_unix_listen_at(spec->run_dirfd, QMP_SOCKET, err);
	if (qmp_listen < 0)
		return -1;
	/* only QEMU truncates it, at boot: a launch that fails before must not leave the
	 * previous run's record to be read as this one's */
	if (unlinkat(spec->domain_dirfd, "exit.json", 0) < 0 && errno != ENOENT)
		return pl_error_errno(err, "remove the previous exit record");
	/* queued in the backlog until QEMU (or the launcher, to report a failure) accepts */
	_cleanup_close_ int ctl = pl_unix_connect_at(spec->run_dirfd, CTL_SOCKET);
	if (ctl < 0)
		return pl_error_errno(err, "connect to the vm control socket");
	/* the taps, before QEMU exists: created here, where a failure is the caller's answer;
	 * only QEMU holds them from the clone on, so they end with it */
	int taps[PL_VM_MAX_NICS];
	int n_taps = pl_vm_net_open(spec->endpoints, spec->n_endpoints, taps, PL_VM_MAX_NICS, err);
	if (n_taps < 0)
		return -1;
	/* the launcher, its helpers and QEMU live in the container's own cgroup (as a linux
	 * domain does): out of the daemon's (a service manager restarting the daemon does not
	 * take the VMs along), accounted, and destroyed as one */
	bool cgfd_late = false;
	if (pl_cgroup_place(spec->id, spec->host.cgroup_parent, err) < 0)
		return pl_error_wrap(err, "cgroup_parent");
	_cleanup_close_ int cgfd = pl_cgroup_create(spec->id, err);
	if (cgfd < 0 && err && *err) {
		pl_vm_net_close(taps, (size_t)n_taps);
		return pl_error_wrap(err, "create cgroup");
	}
	if (host_limits(spec->id, spec->resources, err) < 0) {
		pl_vm_net_close(taps, (size_t)n_taps);
		pl_cgroup_destroy(spec->id, NULL);
		return pl_error_wrap(err, "resource limits");
	}
	clone_plan_t plan = {0};
	if (planned) /* by the pool's try: no taps then */
		plan = *planned;
	else
		out->warning = plan_clone(spec, (size_t)n_taps, &plan);
	int pidfd = -1;
	pid_t pid = pl_clone_pidfd(0, cgfd, &pidfd);
	if (pid < 0 && cgfd >= 0 && (errno == ENOSYS || errno == E2BIG || errno == EINVAL)) {
		pid = pl_clone_pidfd(0, -1, &pidfd); /* kernels before 5.7: moved after */
		cgfd_late = pid > 0;
	}
	if (pid == 0)
		launcher_main(spec, ctl_listen, qmp_listen, taps, (size_t)n_taps, &plan);
	int clone_errno = errno;
	plan_clear(&plan);
	pl_vm_net_close(taps, (size_t)n_taps);
	if (pid < 0) {
		errno = clone_errno;
		int r = pl_error_errno(err, "clone3 vm launcher");
		pl_cgroup_destroy(spec->id, NULL);
		return r;
	}
	if (pl_cgroup_attach_v1(spec->id, pid, err) < 0 ||
	    (cgfd_late && attach_v2(cgfd, pid, err) < 0)) {
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		waitpid(pid, NULL, 0);
		close(pidfd);
		pl_cgroup_destroy(spec->id, NULL);
		return pl_error_wrap(err, "place the vm launcher in its cgroup");
	}
	dom_add(spec->id, spec->run_dirfd, pid, pidfd);
	dom_find(spec->id)->memory_mib = memory_mib_of(spec->resources);
	out->pid = pid;
	out->pidfd = pidfd;
	out->ctl_fd = TAKE_FD(ctl);
	out->start_time = pl_proc_start_time(pid);
	return 0;
}

static int vm_reattach(const pl_mechanism_t *m, const char *id, int run_dirfd, pid_t pid,
		       unsigned long long start_time, pl_domain_t *out, pl_error_t **err)
{
	/* QEMU serves the port's socket again once the old connection is gone; tether notices
	 * the port reconnect and greets with a resumed HELLO */
	int r = pl_domain_reattach(pid, start_time, run_dirfd, CTL_SOCKET, out, err);
	if (r == 1)
		pl_cgroup_adopt(id, pid);
	if (r == 1) {
		dom_add(id, run_dirfd, pid, out->pidfd);
		dom_find(id)->memory_mib = qemu_memory_mib(pid);
	}
	return r;
}

static int vm_destroy(const pl_mechanism_t *m, const char *id, pl_error_t **err)
{
	vm_dom_t *d = dom_find(id);
	if (d) {
		/* QEMU is the launcher itself after exec: if it still runs, nothing needs it now.
		 * Through our pidfd: once reaped, the pid may be someone else's (ESRCH then) */
		syscall(SYS_pidfd_send_signal, d->pidfd, SIGKILL, NULL, 0);
		unlinkat(d->run_dirfd, CTL_SOCKET, 0);
		unlinkat(d->run_dirfd, QMP_SOCKET, 0);
		dom_remove(id);
	}
	/* and whatever else is in its cgroup (a helper of a launcher killed mid-build) */
	return pl_cgroup_destroy(id, err);
}

static int vm_validate(const pl_mechanism_t *m, const pl_domain_spec_t *spec, pl_error_t **err)
{
	if (pl_vm_shares_check(spec->mounts, spec->n_mounts, err) < 0)
		return -1;
	/* network_mode "host": the core never picks a mechanism without PL_MECH_SHARES_HOST_NS */
	if (spec->security->userns.remap)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "security.userns: a dedicated kernel is isolated by its own "
				    "kernel; \"remap\" applies to shared-kernel domains only");
	if (spec->resources->memory > 0 && (spec->resources->memory >> 20) < MIN_MEMORY_MIB)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "resources.memory: a dedicated kernel needs at least %d MiB",
				    MIN_MEMORY_MIB);
	size_t len;
	if (!pl_seccomp_program(spec->security, &len, err) && err && *err)
		return -1;
	return 0;
}

static int vm_tether_config(const pl_mechanism_t *m, const pl_domain_spec_t *spec, json_t *msg,
			    pl_error_t **err)
{
	/* what a guest restored from a template learns only now (and every guest's entropy):
	 * the host's clock at this moment, its hostname and read-only root, and bytes from the
	 * host's generator, which the control channel (a socket only the daemon holds) keeps
	 * to the guest */
	/* an EXEC (it has a session) only takes the seccomp filter */
	if (json_object_get(msg, "session"))
		return pl_seccomp_tether_config(spec->security, msg, err);
	const char *host = spec->hostname;
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(msg, "env"), i, v)
	{
		const char *e = json_string_value(v);
		if (!host && e && strncmp(e, "HOSTNAME=", 9) == 0)
			host = e + 9;
	}
	uint8_t seed[32];
	char hex[2 * sizeof(seed) + 1];
	if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		return pl_error_errno(err, "getrandom");
	for (size_t k = 0; k < sizeof(seed); k++)
		sprintf(hex + 2 * k, "%02x", seed[k]);
	json_t *vm = json_pack("{s:I, s:b, s:s}", "clock_ns", (json_int_t)pl_now_ns(), "read_only",
			       spec->security->read_only_rootfs, "seed", hex);
	/* a clone's disk is there when the guest sees this capacity (a pooled one had its
	 * warm-up disk before) */
	_cleanup_free_ char *disk = pl_xasprintf("%s/disk.qcow2", spec->domain_dir);
	long long disk_bytes = pl_vm_disk_size(disk);
	if (disk_bytes > 0)
		json_object_set_new(vm, "disk_bytes", json_integer(disk_bytes));
	if (host)
		json_object_set_new(vm, "hostname", json_string(host));
	json_object_set_new(msg, "vm", vm);
	/* the guest kernel has the same system call ABI: the same filter applies */
	return pl_seccomp_tether_config(spec->security, msg, err);
}

static int vm_update(const pl_mechanism_t *m, const char *id, const pl_resources_t *r,
		     pl_error_t **err)
{
	return pl_error_set(
	    err, PL_ERR_UNSUPPORTED, 0,
	    "resources of a running VM cannot change; they apply at the next start");
}

static long vm_oom_kills(const pl_mechanism_t *m, const char *id)
{
	return 0;
}

static json_t *qmp(const char *id, const char *cmd, pl_error_t **err)
{
	vm_dom_t *d = dom_find(id);
	if (!d) {
		pl_error_set(err, PL_ERR_CONFLICT, 0, "VM of %.12s is not running", id);
		return NULL;
	}
	if (!pl_vm_is_qemu(d->pid)) {
		pl_error_set(err, PL_ERR_CONFLICT, 0,
			     "VM of %.12s is still being prepared (QEMU is not running yet)", id);
		return NULL;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d/" QMP_SOCKET, d->run_dirfd);
	return pl_vm_qmp(path, cmd, err);
}

static int vm_pause(const pl_mechanism_t *m, const char *id, bool paused, pl_error_t **err)
{
	json_t *r = qmp(id, paused ? "stop" : "cont", err);
	json_decref(r);
	if (!r)
		return -1;
	vm_dom_t *d = dom_find(id);
	if (d)
		d->paused = paused;
	return 0;
}

static bool vm_is_paused(const pl_mechanism_t *m, const char *id)
{
	vm_dom_t *d = dom_find(id);
	if (!d)
		return false;
	/* QEMU knows (it survives daemon restarts; a reattached domain starts unknown) */
	pl_error_t *e = NULL;
	json_t *r = qmp(id, "query-status", &e);
	if (!r) {
		pl_error_free(e);
		return d->paused;
	}
	const char *status = json_string_value(json_object_get(r, "status"));
	d->paused = status && strcmp(status, "paused") == 0;
	json_decref(r);
	return d->paused;
}

static int64_t memory_mib_of_id(const char *id)
{
	vm_dom_t *d = dom_find(id);
	return d ? d->memory_mib : 0;
}

/* QEMU's proportional set size (bytes; -1 unknown): a clone's RAM pages still shared with
 * its template (and its siblings) count divided among them. */
static long long pss_of(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
	_cleanup_free_ char *s = NULL;
	if (pl_read_file_at(AT_FDCWD, path, &s, NULL, 65536, NULL) < 0)
		return -1;
	char *p = strstr(s, "\nPss:");
	return p ? strtoll(p + 5, NULL, 10) * 1024 : -1;
}

/* What the VM costs the host: QEMU's CPU time and resident memory. */
static json_t *vm_stats(const pl_mechanism_t *m, const char *id, const pl_domain_t *dom)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", dom->pid);
	_cleanup_free_ char *stat = NULL;
	unsigned long long ut = 0, stt = 0;
	if (pl_read_file_at(AT_FDCWD, path, &stat, NULL, 8192, NULL) == 0) {
		char *p = strrchr(stat, ')');
		if (p)
			sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			       &stt);
	}
	long hz = sysconf(_SC_CLK_TCK);
	snprintf(path, sizeof(path), "/proc/%d/status", dom->pid);
	_cleanup_free_ char *status = NULL;
	long long rss_kb = 0;
	if (pl_read_file_at(AT_FDCWD, path, &status, NULL, 65536, NULL) == 0) {
		char *p = strstr(status, "VmRSS:");
		if (p)
			rss_kb = strtoll(p + 6, NULL, 10);
	}
	/* the shape of the linux mechanism's; what the guest's own processes use needs tether
	 * to report from inside (not yet): pids and blkio are unknown (-1) */
	unsigned long long ns_per_tick = 1000000000ULL / (unsigned long long)hz;
	json_t *j =
	    json_pack("{s:{s:I, s:I, s:I}, s:{s:I, s:I}, s:{s:I, s:I}, s:{s:I, s:I}, s:{}, "
		      "s:s}",
		      "cpu", "usage_ns", (json_int_t)((ut + stt) * ns_per_tick), "user_ns",
		      (json_int_t)(ut * ns_per_tick), "system_ns", (json_int_t)(stt * ns_per_tick),
		      "memory", "usage", (json_int_t)(rss_kb * 1024), "limit",
		      (json_int_t)(memory_mib_of_id(id) << 20), "pids", "current", (json_int_t)-1,
		      "limit", (json_int_t)-1, "blkio", "read_bytes", (json_int_t)-1, "write_bytes",
		      (json_int_t)-1, "networks", "source", "host: the VM's QEMU process");
	if (j)
		json_object_set_new(json_object_get(j, "memory"), "pss",
				    json_integer(pss_of(dom->pid)));
	return j;
}

static const char *vm_unreported_end(const pl_mechanism_t *m, bool reaped, int code, int signo,
				     bool killed_by_us, int *exit_code, int *out_signal)
{
	if (killed_by_us) {
		*out_signal = SIGKILL;
		*exit_code = 128 + SIGKILL;
		return NULL;
	}
	*out_signal = 0;
	*exit_code = 255;
	static char msg[160];
	if (reaped && signo)
		snprintf(msg, sizeof(msg), "the VM was killed: QEMU ended by signal %d (%s)", signo,
			 pl_signal_name(signo));
	else if (reaped)
		snprintf(msg, sizeof(msg),
			 "the VM ended without an exit record: QEMU exited with status %d "
			 "(see vm-console.log and vm-qemu.log in the domain directory)",
			 code);
	else
		snprintf(msg, sizeof(msg), "the VM ended without an exit record (QEMU is gone)");
	return msg;
}

static json_t *vm_describe(const pl_mechanism_t *m, int domain_dirfd)
{
	_cleanup_free_ char *s = NULL;
	if (pl_read_file_at(domain_dirfd, "vm.json", &s, NULL, 4096, NULL) < 0)
		return json_pack("{s:s}", "kernel", V.kernel.version ? V.kernel.version : "");
	json_t *j = json_loads(s, 0, NULL);
	if (json_is_object(j)) {
		/* while that QEMU runs: what it costs the host now */
		pid_t pid = (pid_t)json_integer_value(json_object_get(j, "qemu_pid"));
		json_int_t start = json_integer_value(json_object_get(j, "qemu_start"));
		if (pid > 0 && start > 0 && pl_proc_start_time(pid) == (unsigned long long)start &&
		    pl_vm_is_qemu(pid))
			json_object_set_new(j, "pss_bytes", json_integer(pss_of(pid)));
		json_object_del(j, "qemu_start");
		return j;
	}
	json_decref(j);
	return json_object();
}

pl_mechanism_t pl_mechanism_vm = {
    .name = "vm",
    .caps = PL_MECH_DEDICATED_KERNEL | PL_MECH_PAUSE | PL_MECH_GUEST_STATS | PL_MECH_KILLS_PAUSED,
    .reserved_ids_start = PL_VM_IDS_START,
    .reserved_ids_count = PL_VM_IDS_COUNT,
    .available = vm_available,
    .spawn = vm_spawn,
    .reattach = vm_reattach,
    .validate = vm_validate,
    .tether_config = vm_tether_config,
    .update = vm_update,
    .oom_kills = vm_oom_kills,
    .pause = vm_pause,
    .is_paused = vm_is_paused,
    .stats = vm_stats,
    .destroy = vm_destroy,
    .unreported_end = vm_unreported_end,
    .describe = vm_describe,
};
