/* SPDX-License-Identifier: Apache-2.0 */
/* The pool of pre-started clones (docs/design-decisions.md, "VM templates and clones"): per
 * configured size, a few QEMUs restored from the template ahead of any start, warmed up
 * (tether runs a throwaway fork/exec and mounts, so TCG has translated those paths) and
 * waiting. A start that fits takes one: the container's backends are bound late (its disk
 * by QMP blockdev-add + blockdev-reopen of the placeholder's raw node + block_resize, its
 * console, log and exit files and its sockets renamed into its directories, QEMU moved into
 * its cgroup, its file size limit set), then tether is told on its pool port and the
 * daemon's CONFIG gives it the rest, as for any clone. A slot is never reused: what a
 * container ran in ends with it, and the pool starts a fresh one.
 *
 * Nothing outlives the daemon: a pooled tether powers the guest off when its pool port
 * closes without a take (the daemon's end goes when it dies, kill -9 included), and at
 * start-up the slots of a previous daemon (their directories, a QEMU still running by its pid
 * and start time) are removed. A pooled VM has no taps (VMs with networks are not pooled), so
 * there is nothing else on the host to leak. */
#include "mechanism/vm/vm.h"
#include "host/linux/proc.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define CTL_SOCKET  "tether.sock"
#define QMP_SOCKET  "qmp.sock"
#define TAKE_QMP_MS 10000
#define WARM_FORMAT 1

typedef struct slot {
	char key[160]; /* its template's */
	int n;	       /* its number: the names of its directories */
	pid_t pid;
	int pidfd;
	int port_fd, mon_fd; /* our ends of its pool port and its pool monitor */
	bool ready;	     /* tether said it is warm */
	struct slot *next;
} slot_t;

static struct {
	char *dir;     /* state_root/vm/pool: a slot's files (console, logs, its QEMU's pid) */
	char *run_dir; /* run_root/vm-pool: a slot's sockets */
	slot_t *slots;
	int next_n;
	char *warm; /* the warm-up disk, or NULL */
} P;

/* A previous daemon's slots: their QEMUs (when they still run: pid and start time in the
 * slot's "pid") killed, their directories removed. */
static void clean_dir(const char *dir, bool kill_recorded)
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(fcntl(dfd, F_DUPFD_CLOEXEC, 3)) : NULL;
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (kill_recorded) {
			_cleanup_free_ char *p = pl_xasprintf("%s/pid", de->d_name);
			_cleanup_free_ char *rec = NULL;
			long long pid = 0;
			unsigned long long start = 0;
			if (pl_read_file_at(dfd, p, &rec, NULL, 128, NULL) == 0 &&
			    sscanf(rec, "%lld %llu", &pid, &start) == 2 && pid > 0 &&
			    pl_proc_start_time((pid_t)pid) == start && pl_vm_is_qemu((pid_t)pid))
				kill((pid_t)pid, SIGKILL);
		}
		pl_remove_tree_at(dfd, de->d_name, NULL);
	}
	closedir(d);
}

/* The disk a slot warms up on: a small ext4 of one file, made once (mkfs.ext4, well under
 * a second) under state_dir; each slot gets its own copy (its guest could write it). */
static void warm_disk_make(const char *state_dir)
{
	free(P.warm);
	P.warm = pl_xasprintf("%s/warm-%d.ext4", state_dir, WARM_FORMAT);
	if (access(P.warm, R_OK) == 0)
		return;
	_cleanup_free_ char *src = pl_xasprintf("%s/warm.%d.tmp.d", state_dir, (int)getpid());
	_cleanup_free_ char *tmp = pl_xasprintf("%s.%d.tmp", P.warm, (int)getpid());
	_cleanup_free_ char *file = pl_xasprintf("%s/f", src);
	mkdir(src, 0700);
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	char block[4096];
	memset(block, 'w', sizeof(block));
	for (int i = 0; fd >= 0 && i < 16; i++)
		(void)!write(fd, block, sizeof(block));
	if (fd >= 0)
		close(fd);
	char *const argv[] = {"/usr/sbin/mkfs.ext4",
			      "-q",
			      "-F",
			      "-E",
			      "lazy_itable_init=0,lazy_journal_init=0",
			      "-d",
			      src,
			      tmp,
			      "8M",
			      NULL};
	pl_error_t *e = NULL;
	if (pl_vm_run(argv, &e) < 0 || rename(tmp, P.warm) < 0) {
		pl_error_free(e);
		unlink(tmp);
		free(P.warm);
		P.warm = NULL; /* slots warm up without a disk */
	}
	unlink(file);
	rmdir(src);
}

static void slot_free(slot_t *s, bool kill_it);

/* At the daemon's exit (not a child's: forks inherit the handler): untaken slots go with it
 * at once rather than when their tethers notice the closed port. */
static pid_t owner;

static void kill_slots(void)
{
	if (getpid() != owner)
		return;
	while (P.slots) {
		slot_t *s = P.slots;
		P.slots = s->next;
		slot_free(s, true);
	}
}

void pl_vm_pool_init(const char *state_dir, const char *run_root)
{
	if (!owner)
		atexit(kill_slots);
	owner = getpid();
	free(P.dir);
	free(P.run_dir);
	P.dir = pl_xasprintf("%s/pool", state_dir);
	P.run_dir = run_root ? pl_xasprintf("%s/vm-pool", run_root) : NULL;
	clean_dir(P.dir, true);
	if (P.run_dir)
		clean_dir(P.run_dir, false);
}

const char *pl_vm_pool_warm_disk(const char *state_dir)
{
	if (!P.warm)
		warm_disk_make(state_dir);
	return P.warm;
}

static void slot_free(slot_t *s, bool kill_it)
{
	if (kill_it && s->pidfd >= 0) {
		syscall(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL, 0);
		siginfo_t si;
		waitid((idtype_t)P_PIDFD, (id_t)s->pidfd, &si, WEXITED);
	}
	if (s->pidfd >= 0)
		close(s->pidfd);
	if (s->port_fd >= 0)
		close(s->port_fd);
	if (s->mon_fd >= 0)
		close(s->mon_fd);
	char n[16];
	snprintf(n, sizeof(n), "%d", s->n);
	_cleanup_close_ int d1 = open(P.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d1 >= 0)
		pl_remove_tree_at(d1, n, NULL);
	_cleanup_close_ int d2 =
	    P.run_dir ? open(P.run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (d2 >= 0)
		pl_remove_tree_at(d2, n, NULL);
	free(s);
}

/* Drops slots whose QEMU ended (reaped here: they are our children) and notes the ready. */
static void sweep(void)
{
	for (slot_t **p = &P.slots; *p;) {
		slot_t *s = *p;
		siginfo_t si = {0};
		if (waitid((idtype_t)P_PIDFD, (id_t)s->pidfd, &si, WEXITED | WNOHANG) == 0 &&
		    si.si_pid != 0) {
			*p = s->next;
			slot_free(s, false);
			continue;
		}
		char c;
		while (!s->ready && read(s->port_fd, &c, 1) == 1)
			s->ready = c == 'w';
		p = &s->next;
	}
}

size_t pl_vm_pool_count(const char *key)
{
	size_t n = 0;
	for (slot_t *s = P.slots; s; s = s->next)
		n += strcmp(s->key, key) == 0;
	return n;
}

int pl_vm_pool_start(const pl_vm_pool_tmpl_t *t, pl_error_t **err)
{
	sweep();
	if (!P.dir || !P.run_dir)
		return pl_error_set(err, PL_ERR_INTERNAL, 0, "vm pool: not initialised");
	int n = P.next_n++;
	_cleanup_free_ char *dir = pl_xasprintf("%s/%d", P.dir, n);
	_cleanup_free_ char *sdir = pl_xasprintf("%s/%d", P.run_dir, n);
	if (pl_mkdir_p(dir, 0700, err) < 0 || pl_mkdir_p(sdir, 0700, err) < 0)
		return pl_error_wrap(err, "vm pool slot");
	_cleanup_close_ int sdfd = open(sdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int ctl = sdfd >= 0 ? pl_unix_listen_at(sdfd, CTL_SOCKET, err) : -1;
	_cleanup_close_ int qmp = ctl >= 0 ? pl_unix_listen_at(sdfd, QMP_SOCKET, err) : -1;
	if (qmp < 0)
		return pl_error_wrap(err, "vm pool slot %d", n);
	_cleanup_free_ char *sp = pl_xasprintf("%s/state", t->dir);
	_cleanup_close_ int state = open(sp, O_RDONLY | O_CLOEXEC);
	int port[2] = {-1, -1}, mon[2] = {-1, -1}, rst[2] = {-1, -1};
	if (state < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, port) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, mon) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, rst) < 0) {
		int r = pl_error_errno(err, "vm pool slot %d: %s", n, state < 0 ? sp : "sockets");
		for (int i = 0; i < 2; i++) {
			if (port[i] >= 0)
				close(port[i]);
			if (mon[i] >= 0)
				close(mon[i]);
			if (rst[i] >= 0)
				close(rst[i]);
		}
		return r;
	}
	_cleanup_free_ char *mem = pl_xasprintf("%s/mem", t->dir);
	/* the slot's own copy of the warm-up disk (its guest mounts it read-only, but QEMU
	 * needs it writable to announce its size) */
	_cleanup_free_ char *warm = NULL;
	if (t->warm_disk) {
		warm = pl_xasprintf("%s/warm.ext4", dir);
		_cleanup_close_ int in = open(t->warm_disk, O_RDONLY | O_CLOEXEC);
		_cleanup_close_ int wo = open(warm, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		struct stat wst;
		bool ok = in >= 0 && wo >= 0 && fstat(in, &wst) == 0;
		for (off_t left = ok ? wst.st_size : 0; ok && left > 0;) {
			ssize_t c = copy_file_range(in, NULL, wo, NULL, (size_t)left, 0);
			ok = c > 0;
			left -= c;
		}
		if (!ok) {
			unlink(warm);
			free(warm);
			warm = NULL;
		}
	}
	int pidfd = -1;
	pid_t pid = pl_clone_pidfd(0, -1, &pidfd);
	if (pid == 0) {
		/* the slot's QEMU-to-be: its own session (a taken one outlives the daemon), the
		 * background CPU priority until its take (a refill must not slow the start it
		 * follows; its threads are set back to 0 then) */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int s = 1; s < NSIG; s++)
			signal(s, SIG_DFL);
		setsid();
		pl_vm_background_priority();
		/* 3 ctl, 4 qmp, 5 pool port, 6 pool monitor, 7 state, 8 restore monitor */
		int want[] = {ctl, qmp, port[1], mon[1], state, rst[1]};
		int hi[6];
		for (int i = 0; i < 6; i++)
			if ((hi[i] = fcntl(want[i], F_DUPFD, 64)) < 0)
				_exit(1);
		for (int i = 0; i < 6; i++)
			if (dup2(hi[i], 3 + i) < 0)
				_exit(1);
		int helper = fcntl(rst[0], F_DUPFD_CLOEXEC, 9);
		if (helper < 0 || dup2(helper, 9) < 0)
			_exit(1);
		close_range(10, ~0U, 0);
		fcntl(9, F_SETFD, FD_CLOEXEC);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
		}
		_cleanup_free_ char *log = pl_xasprintf("%s/vm-qemu.log", dir);
		int lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
		if (lfd >= 0)
			dup2(lfd, 2);
		pl_vm_boot_t b = {
		    .mode = PL_VM_BOOT_POOL,
		    .mem_path = mem,
		    .state_fd = 7,
		    .restore_qmp_fd = 8,
		    .append = t->append,
		    .accel = t->accel,
		    .kernel = t->kernel,
		    .initramfs = t->initramfs,
		    .domain_dir = dir,
		    .ctl_fd = 3,
		    .qmp_fd = 4,
		    .cpus = t->cpus,
		    .memory_mib = t->memory_mib,
		    .pool_port_fd = 5,
		    .pool_mon_fd = 6,
		    .disk = warm,
		};
		char **argv = pl_vm_qemu_argv(&b);
		long long lim = pl_vm_pool_file_limit(t->memory_mib);
		struct rlimit fsize = {.rlim_cur = (rlim_t)lim, .rlim_max = (rlim_t)lim};
		signal(SIGXFSZ, SIG_IGN);
		setrlimit(RLIMIT_FSIZE, &fsize);
		/* the restore done, the warm-up disk's size is announced (tether waits for it) */
		struct stat wst;
		pl_vm_restore_helper(
		    9, 7, warm && stat(warm, &wst) == 0 ? (long long)wst.st_size : 0, true);
		pl_vm_qemu_exec(&b, argv);
		_exit(127);
	}
	close(port[1]);
	close(mon[1]);
	close(rst[0]);
	close(rst[1]);
	if (pid < 0) {
		close(port[0]);
		close(mon[0]);
		return pl_error_errno(err, "vm pool slot %d: clone", n);
	}
	fcntl(port[0], F_SETFL, O_NONBLOCK);
	fcntl(mon[0], F_SETFL, O_NONBLOCK);
	slot_t *s = pl_xcalloc(1, sizeof(*s));
	snprintf(s->key, sizeof(s->key), "%s", t->key);
	s->n = n;
	s->pid = pid;
	s->pidfd = pidfd;
	s->port_fd = port[0];
	s->mon_fd = mon[0];
	s->next = P.slots;
	P.slots = s;
	/* what the next daemon kills if this one dies with the slot untaken */
	char rec[64];
	int len = snprintf(rec, sizeof(rec), "%d %llu\n", (int)pid, pl_proc_start_time(pid));
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		pl_atomic_write(dfd, "pid", rec, (size_t)len, NULL);
	return 0;
}

long long pl_vm_pool_file_limit(int64_t memory_mib)
{
	return PL_VM_POOL_DISK_MAX + PL_VM_POOL_DISK_MAX / 8 + (memory_mib << 20) +
	       PL_VM_FILE_SLACK;
}

/* QEMU's threads (nice is per thread) and its autogroup back to the default priority. */
static void renice(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/autogroup", pid);
	int ag = open(path, O_WRONLY | O_CLOEXEC);
	if (ag >= 0) {
		(void)!write(ag, "0", 1);
		close(ag);
	}
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			setpriority(PRIO_PROCESS, (id_t)strtol(de->d_name, NULL, 10), 0);
	closedir(d);
}

static json_t *qmp_fd_cmd(pl_vm_qmp_t *q, const char *cmd, json_t *args, int fd, pl_error_t **err)
{
	return pl_vm_qmp_call(q, cmd, args, fd, TAKE_QMP_MS, err);
}

/* In the take's helper: the container's disk (built when missing, as a launcher would)
 * bound in place of the placeholder, its capacity announced, the file size limit set. */
static int bind_disk(const pl_vm_pool_take_t *tk, pl_vm_qmp_t *q, pl_error_t **err)
{
	_cleanup_free_ char *base = pl_vm_base_disk(tk->cache_dir, tk->lowerdir, err);
	if (!base)
		return -1;
	_cleanup_free_ char *disk = pl_xasprintf("%s/disk.qcow2", tk->domain_dir);
	if (pl_vm_overlay_disk(disk, base, err) < 0)
		return -1;
	long long size = pl_vm_disk_size(disk);
	if (size <= 0)
		return pl_error_errno(err, "root disk %s", disk);
	if (pl_vm_qmp_open(q, q->fd, TAKE_QMP_MS, err) < 0)
		return -1;
	/* QEMU runs in its empty root as its own uid: the images come as fds */
	const char *names[] = {disk, disk, base};
	const int modes[] = {O_RDONLY, O_RDWR, O_RDONLY}, sets[] = {10, 10, 11};
	for (int i = 0; i < 3; i++) {
		_cleanup_close_ int fd = open(names[i], modes[i] | O_CLOEXEC);
		if (fd < 0)
			return pl_error_errno(err, "open %s", names[i]);
		json_t *r =
		    qmp_fd_cmd(q, "add-fd", json_pack("{s:i}", "fdset-id", sets[i]), fd, err);
		if (!r)
			return -1;
		json_decref(r);
	}
	json_t *r = qmp_fd_cmd(
	    q, "blockdev-add",
	    json_pack(
		"{s:s, s:s, s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s, s:b, s:{s:s, s:s, s:s, s:b}}}",
		"driver", "qcow2", "node-name", "disk", "discard", "unmap", "file", "driver",
		"file", "filename", "/dev/fdset/10", "locking", "off", "backing", "driver", "raw",
		"node-name", "base", "read-only", 1, "file", "driver", "file", "filename",
		"/dev/fdset/11", "locking", "off", "read-only", 1),
	    -1, err);
	if (!r)
		return -1;
	json_decref(r);
	r = qmp_fd_cmd(q, "blockdev-reopen",
		       json_pack("{s:[{s:s, s:s, s:s}]}", "options", "driver", "raw", "node-name",
				 "root", "file", "disk"),
		       -1, err);
	if (!r)
		return -1;
	json_decref(r);
	r = qmp_fd_cmd(q, "block_resize",
		       json_pack("{s:s, s:I}", "node-name", "root", "size", (json_int_t)size), -1,
		       err);
	if (!r)
		return -1;
	json_decref(r);
	json_t *rec = json_pack("{s:s, s:s, s:i, s:I, s:I, s:s, s:b, s:s, s:i, s:I}", "kernel",
				tk->kernel_version, "accel", tk->accel, "cpus", tk->cpus,
				"memory_mib", (json_int_t)tk->memory_mib, "file_size_limit",
				(json_int_t)tk->file_size_limit, "boot", "clone", "pooled", 1,
				"template", tk->key, "qemu_pid", (int)tk->pid, "qemu_start",
				(json_int_t)pl_proc_start_time(tk->pid));
	char *rs = json_dumps(rec, JSON_COMPACT);
	json_decref(rec);
	_cleanup_close_ int dfd = open(tk->domain_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rs && dfd >= 0)
		pl_atomic_write(dfd, "vm.json", rs, strlen(rs), NULL);
	free(rs);
	return 0;
}

int pl_vm_pool_take(pl_vm_pool_take_t *tk, int run_dirfd, int domain_dirfd, pl_vm_pool_taken_t *out,
		    pl_error_t **err)
{
	sweep();
	slot_t **pp = &P.slots;
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->ready && strcmp((*pp)->key, tk->key) == 0)
			break;
	if (!*pp)
		return 0;
	slot_t *s = *pp;
	*pp = s->next;
	char n[16];
	snprintf(n, sizeof(n), "%d", s->n);
	_cleanup_close_ int dfd = open(P.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int rfd = open(P.run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int slot =
	    dfd >= 0 ? openat(dfd, n, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	_cleanup_close_ int sslot =
	    rfd >= 0 ? openat(rfd, n, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	/* the container's from now on: a later daemon must not kill it as a slot */
	if (slot < 0 || sslot < 0 || unlinkat(slot, "pid", 0) < 0) {
		int r = pl_error_errno(err, "vm pool slot %s", n);
		slot_free(s, true);
		return r;
	}
	renice(s->pid);
	tk->pid = s->pid;
	static const char *const files[] = {"vm-console.log", "vm-qemu.log", "container.log",
					    "exit.json"};
	static const char *const socks[] = {CTL_SOCKET, QMP_SOCKET};
	for (size_t i = 0; i < 4; i++)
		if (renameat(slot, files[i], domain_dirfd, files[i]) < 0 && errno != ENOENT) {
			int r = pl_error_errno(err, "vm pool: move %s", files[i]);
			slot_free(s, true);
			return r;
		}
	for (size_t i = 0; i < 2; i++)
		if (renameat(sslot, socks[i], run_dirfd, socks[i]) < 0) {
			int r = pl_error_errno(err, "vm pool: move %s", socks[i]);
			slot_free(s, true);
			return r;
		}
	int ctl = pl_unix_connect_at(run_dirfd, CTL_SOCKET);
	if (ctl < 0) {
		int r = pl_error_errno(err, "connect to the vm control socket");
		slot_free(s, true);
		return r;
	}
	/* the rest (disk images, QMP) in a detached helper: the daemon's loop does not wait */
	pid_t h = fork();
	if (h == 0) {
		if (fork() != 0)
			_exit(0);
		int keep[] = {s->mon_fd, s->port_fd, s->pidfd};
		for (int i = 0; i < 3; i++) {
			int hi = fcntl(keep[i], F_DUPFD_CLOEXEC, 64);
			if (hi < 0 || dup2(hi, 3 + i) < 0)
				_exit(1);
		}
		close_range(6, ~0U, 0);
		fcntl(3, F_SETFL, O_NONBLOCK);
		pl_vm_qmp_t *q = pl_xcalloc(1, sizeof(*q));
		q->fd = 3;
		pl_error_t *e = NULL;
		if (bind_disk(tk, q, &e) < 0) {
			_cleanup_free_ char *log = pl_xasprintf("%s/vm-qemu.log", tk->domain_dir);
			int lfd = open(log, O_WRONLY | O_APPEND | O_CLOEXEC);
			if (lfd >= 0)
				dprintf(lfd, "portlayer: vm pool: bind the container's disk: %s\n",
					e ? e->msg : "?");
			syscall(SYS_pidfd_send_signal, 5, SIGKILL, NULL, 0);
			_exit(1);
		}
		/* go: tether leaves its wait, the daemon's CONFIG gives it the rest */
		(void)!write(4, "g", 1);
		_exit(0);
	}
	if (h > 0)
		while (waitpid(h, NULL, 0) < 0 && errno == EINTR)
			;
	if (h < 0) {
		int r = pl_error_errno(err, "vm pool: fork");
		close(ctl);
		slot_free(s, true);
		return r;
	}
	out->pid = s->pid;
	out->pidfd = TAKE_FD(s->pidfd);
	out->ctl_fd = ctl;
	s->pidfd = -1;
	slot_free(s, false); /* the slot's directories, our ends of its port and monitor */
	return 1;
}
