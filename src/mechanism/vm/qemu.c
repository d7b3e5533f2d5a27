/* SPDX-License-Identifier: Apache-2.0 */
/* QEMU for the vm mechanism: the microvm command line (virtio-mmio devices: the root disk
 * and three virtio-serial ports, tether's control socket and the container's log and exit
 * record written by QEMU itself into the domain directory) under QEMU's seccomp sandbox, the
 * accelerator verdict (a boot probe under KVM with a deadline, cached per guest kernel and
 * QEMU binary; TCG otherwise), the host's TSC rate, and a small QMP client for power state
 * with one short deadline per exchange (the daemon's loop waits for it). */
#include "mechanism/vm/vm.h"
#include "mechanism/vm.h"
#include "host/linux/proc.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/util.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#define QEMU_BINARY	  "/usr/bin/qemu-system-x86_64"
#define PROBE_DEADLINE_MS 8000
#define QMP_DEADLINE_MS	  1000
/* what tether prints on the console when it runs as init in probe mode (tether/linux/vm.c) */
#define PROBE_TOKEN "pl-tether: probe: init ran"
/* QEMU's own seccomp filter: no obsolete system calls, no fork/exec, no scheduler or
 * affinity changes. set*id stays allowed: -runas needs it to drop root (QEMU 7.2 dies of
 * SIGSYS otherwise), and once dropped there is nothing left to elevate to. */
#define SANDBOX "on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=deny"

static char *jail; /* the empty directory QEMU chroots into, or NULL: stays root */

void pl_vm_qemu_jail(const char *dir)
{
	free(jail);
	jail = dir ? pl_xstrdup(dir) : NULL;
}

const char *pl_vm_qemu_binary(void)
{
	return QEMU_BINARY;
}

bool pl_vm_is_qemu(pid_t pid)
{
	char path[64], exe[PATH_MAX];
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	ssize_t n = readlink(path, exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = 0;
	return strcmp(exe, QEMU_BINARY) == 0;
}

typedef struct argv_b {
	char **v;
	size_t n;
} argv_b_t;

__attribute__((format(printf, 2, 3))) static void add(argv_b_t *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	a->v = pl_xrealloc(a->v, (a->n + 2) * sizeof(*a->v));
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

void pl_vm_argv_free(char **argv)
{
	for (char **p = argv; p && *p; p++)
		free(*p);
	free(argv);
}

static void common_args(argv_b_t *a, pl_vm_accel_t accel, const pl_vm_kernel_t *k,
			const char *initramfs)
{
	add(a, "%s", QEMU_BINARY);
	/* a PIT: without one the kernel sometimes cannot calibrate the TSC and hangs */
	add(a, "-M");
	add(a, "microvm,pit=on,rtc=on");
	add(a, "-accel");
	add(a, "%s", accel == PL_VM_ACCEL_KVM ? "kvm" : "tcg");
	if (accel == PL_VM_ACCEL_KVM) {
		add(a, "-cpu");
		add(a, "host");
	}
	add(a, "-nodefaults");
	add(a, "-no-user-config");
	add(a, "-no-reboot");
	add(a, "-sandbox");
	add(a, "%s", SANDBOX);
	if (jail) {
		/* once everything is open (disks, chardev files, inherited sockets and taps), QEMU
		 * drops to a uid of its own (unique among running VMs: the launcher's pid, which
		 * becomes QEMU's) and an empty root */
		unsigned id = PL_VM_IDS_START + (unsigned)getpid();
		add(a, "-runas");
		add(a, "%u:%u", id, id);
		add(a, "-chroot");
		add(a, "%s", jail);
	}
	add(a, "-display");
	add(a, "none");
	add(a, "-nic");
	add(a, "none");
	/* QEMU keeps a copy of the kernel image (and of the initramfs) in its heap for the
	 * guest's firmware to load, for as long as it runs: 16 MiB nothing reads again once the
	 * guest booted. A clone restores a booted guest: it is given neither (its RAM blocks
	 * are the same without them). */
	if (!k)
		return;
	add(a, "-kernel");
	add(a, "%s", k->vmlinuz);
	add(a, "-initrd");
	add(a, "%s", initramfs);
}

/* Under TCG the guest's TSC runs at the host's rate. Told so, the kernel skips calibrating
 * it against the PIT, which an emulated CPU on a loaded host fails often enough to hang the
 * boot ("tsc: Unable to calibrate against PIT"). The rate is measured (the TSC against
 * CLOCK_MONOTONIC over ~20 ms): /proc/cpuinfo's "cpu MHz" is the current core clock, which
 * frequency scaling moves away from the (invariant) TSC's. */
long pl_vm_host_tsc_khz(void)
{
#if defined(__x86_64__) || defined(__i386__)
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	unsigned long long t0 = __rdtsc();
	struct timespec nap = {.tv_nsec = 20 * 1000 * 1000};
	while (nanosleep(&nap, &nap) < 0 && errno == EINTR)
		;
	unsigned long long t1 = __rdtsc();
	clock_gettime(CLOCK_MONOTONIC, &b);
	long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
	if (ns <= 0 || t1 <= t0)
		return 0;
	return (long)((double)(t1 - t0) * 1e6 / (double)ns);
#else
	return 0;
#endif
}

/* A path inside a QEMU option string: ',' is the separator there and is written ",,". */
static char *qpath(const char *path)
{
	size_t n = strlen(path), commas = 0;
	for (const char *p = path; *p; p++)
		commas += *p == ',';
	char *out = pl_xmalloc(n + commas + 1), *o = out;
	for (const char *p = path; *p; p++) {
		*o++ = *p;
		if (*p == ',')
			*o++ = ',';
	}
	*o = 0;
	return out;
}

/* The volumes and bind mounts (shares.c): a vhost-user-fs device on virtiofsd's connection,
 * last so the other devices keep their places. vhost-user needs the guest's memory shared
 * with virtiofsd (a memfd backend) and a virtio 1.0 transport (microvm's virtio-mmio is
 * legacy by default, which virtiofsd refuses). */
static void shares_args(argv_b_t *a, const pl_vm_boot_t *b)
{
	if (b->shares_fd <= 0)
		return;
	add(a, "-global");
	add(a, "virtio-mmio.force-legacy=false");
	add(a, "-object");
	add(a, "memory-backend-memfd,id=mem,size=%lldM,share=on", (long long)b->memory_mib);
	add(a, "-machine");
	add(a, "memory-backend=mem");
	add(a, "-chardev");
	add(a, "socket,id=fs,fd=%d", b->shares_fd);
	add(a, "-device");
	add(a, "vhost-user-fs-device,chardev=fs,tag=pl.shares");
}

char *pl_vm_append(const pl_vm_boot_t *b)
{
	/* unknown name=value words reach init's environment: that is how tether learns them */
	char tsc[48] = "";
	long khz = b->accel == PL_VM_ACCEL_TCG ? b->tsc_khz : 0;
	if (khz > 0)
		snprintf(tsc, sizeof(tsc), " tsc_early_khz=%ld", khz);
	if (b->mode == PL_VM_BOOT_TEMPLATE) /* hostname, read-only root: with each clone's CONFIG */
		return pl_xasprintf("console=ttyS0 quiet panic=-1%s pl_vm=1 pl_template=1 "
				    "pl_clock=%lld",
				    tsc, (long long)pl_now_ns());
	return pl_xasprintf("console=ttyS0 quiet panic=-1%s pl_vm=1 pl_clock=%lld pl_hostname=%s "
			    "pl_ro=%d",
			    tsc, (long long)pl_now_ns(), b->hostname, b->read_only ? 1 : 0);
}

/* A template's and its clones' command lines differ only in backends: the devices, their
 * order and the memory layout are the same, or the restore is refused (or worse, wrong). */
char **pl_vm_qemu_argv(const pl_vm_boot_t *b)
{
	argv_b_t a = {0};
	bool tmpl = b->mode == PL_VM_BOOT_TEMPLATE, pool = b->mode == PL_VM_BOOT_POOL;
	bool restored = b->mode == PL_VM_BOOT_CLONE || pool;
	_cleanup_free_ char *dir = qpath(b->domain_dir);
	_cleanup_free_ char *disk = b->disk ? qpath(b->disk) : NULL;
	/* a restored guest's kernel booted with its template's (clones, pool slots) */
	common_args(&a, b->accel, restored ? NULL : b->kernel, b->initramfs);
	add(&a, "-m");
	add(&a, "%lldM", (long long)b->memory_mib);
	add(&a, "-smp");
	add(&a, "%d", b->cpus);
	if (b->mode != PL_VM_BOOT_COLD) {
		_cleanup_free_ char *mem = qpath(b->mem_path);
		add(&a, "-object");
		add(&a, "memory-backend-file,id=mem,size=%lldM,mem-path=%s,share=%s",
		    (long long)b->memory_mib, mem, tmpl ? "on" : "off");
		add(&a, "-machine");
		add(&a, "memory-backend=mem");
	}
	if (!restored) {
		char *ap = pl_vm_append(b);
		add(&a, "-append");
		add(&a, "%s", ap);
		free(ap);
	}
	add(&a, "-serial");
	add(&a, "file:%s/vm-console.log", dir);
	/* a template's disk is an empty one (size 0: its guest binds the driver and reads
	 * nothing, so nothing of a disk is cached; a clone announces its own disk's capacity
	 * with block_resize after the restore), no file QEMU would have to reopen, after
	 * dropping its privileges, to save the state */
	if (tmpl) {
		add(&a, "-drive");
		add(&a, "id=root,driver=null-co,size=0,read-zeroes=on,if=none,discard=unmap");
	} else if (pool) {
		/* a pooled clone's is a small ext4 to warm up on (or the template's empty one)
		 * under a raw node, whose file a take replaces by the container's disk
		 * (blockdev-reopen, pool.c) */
		add(&a, "-blockdev");
		if (disk) /* the warm-up disk (pool.c), its size announced after the restore */
			add(&a, "driver=file,node-name=ph,filename=%s,locking=off", disk);
		else
			add(&a, "driver=null-co,node-name=ph,size=0,read-zeroes=on");
		add(&a, "-blockdev");
		add(&a, "driver=raw,node-name=root,file=ph");
	} else if (b->disk_fds[0] > 0) {
		/* a clone's disk is reopened read-write after the restore, when QEMU is in its
		 * empty root already: from the fd set (one fd per access mode), not by name */
		for (int i = 0; i < 2; i++) {
			add(&a, "-add-fd");
			add(&a, "fd=%d,set=1", b->disk_fds[i]);
		}
		add(&a, "-drive");
		add(&a, "id=root,file=/dev/fdset/1,format=qcow2,if=none,discard=unmap");
	} else {
		add(&a, "-drive");
		add(&a, "id=root,file=%s,format=qcow2,if=none,discard=unmap", disk);
	}
	/* the write cache fixed: the guest's negotiated features must hold in every clone,
	 * whatever the backend (-drive or -blockdev) */
	add(&a, "-device");
	add(&a, "virtio-blk-device,drive=root,write-cache=on");
	add(&a, "-device");
	/* ctl, log, exit and (restored guests) the pool's port; port 0 is the console's */
	add(&a, "virtio-serial-device,max_ports=%d", b->mode == PL_VM_BOOT_COLD ? 4 : 5);
	add(&a, "-chardev");
	add(&a, "socket,id=ctl,fd=%d,server=on,wait=off", b->ctl_fd);
	add(&a, "-device");
	add(&a, "virtserialport,chardev=ctl,name=pl.ctl");
	/* the log appends across restarts, as the linux mechanism's does */
	add(&a, "-chardev");
	if (tmpl)
		add(&a, "null,id=log");
	else
		add(&a, "file,id=log,path=%s/container.log,append=on", dir);
	add(&a, "-device");
	add(&a, "virtserialport,chardev=log,name=pl.log");
	/* truncated at every boot: a record there is this run's */
	add(&a, "-chardev");
	if (tmpl)
		add(&a, "null,id=exit");
	else
		add(&a, "file,id=exit,path=%s/exit.json", dir);
	add(&a, "-device");
	add(&a, "virtserialport,chardev=exit,name=pl.exit");
	/* a pooled clone's tether hears from its pool here (tether/linux/vm.c): connected, it
	 * warms up; a byte, it is taken; closed without one, the daemon is gone: it powers
	 * off. Elsewhere nothing is connected (a template's, a plain clone's) */
	if (b->mode != PL_VM_BOOT_COLD) {
		add(&a, "-chardev");
		if (pool)
			add(&a, "socket,id=pool,fd=%d", b->pool_port_fd);
		else
			add(&a, "null,id=pool");
		add(&a, "-device");
		add(&a, "virtserialport,chardev=pool,name=pl.pool");
	}
	/* a virtio-net device per endpoint, its tap opened by the mechanism (vm/net.c); a
	 * template's are hub ports to nowhere (the guest never binds them: tether loads the
	 * driver in the clone, where the clone's MAC is set before use) */
	size_t n_nics = tmpl ? b->n_nics : b->tap_fds ? b->n_endpoints : 0;
	for (size_t i = 0; i < n_nics; i++) {
		const pl_domain_endpoint_t *ep = tmpl ? NULL : &b->endpoints[i];
		add(&a, "-netdev");
		if (tmpl)
			add(&a, "hubport,id=n%zu,hubid=%zu", i, i);
		else
			add(&a, "tap,id=n%zu,fd=%d", i, b->tap_fds[i]);
		add(&a, "-device");
		if (tmpl) /* the clone's tether knows them by these (tether/linux/vm.c) */
			add(&a, "virtio-net-device,netdev=n%zu,mac=02:00:00:00:00:%02zx", i, i);
		else
			add(&a, "virtio-net-device,netdev=n%zu,mac=%s", i, ep->mac);
	}
	add(&a, "-chardev");
	/* a template's monitor is a connected socket its builder holds */
	if (tmpl)
		add(&a, "socket,id=qmp,fd=%d", b->qmp_fd);
	else
		add(&a, "socket,id=qmp,fd=%d,server=on,wait=off", b->qmp_fd);
	add(&a, "-mon");
	add(&a, "chardev=qmp,mode=control");
	if (pool) {
		add(&a, "-chardev");
		add(&a, "socket,id=poolmon,fd=%d", b->pool_mon_fd);
		add(&a, "-mon");
		add(&a, "chardev=poolmon,mode=control");
	}
	if (restored) {
		/* QEMU 7.2 takes x-ignore-shared through QMP only: a second monitor on a
		 * connected socket, for the launcher's helper that starts the restore */
		add(&a, "-chardev");
		add(&a, "socket,id=restore,fd=%d", b->restore_qmp_fd);
		add(&a, "-mon");
		add(&a, "chardev=restore,mode=control");
		add(&a, "-incoming");
		add(&a, "defer");
	}
	shares_args(&a, b);
	return a.v;
}

void pl_vm_qemu_exec(const pl_vm_boot_t *b, char **argv)
{
	/* A clone's QEMU without transparent huge pages: QEMU asks for them (MADV_HUGEPAGE) for
	 * its TCG translation buffer and its RAM blocks, so an idle clone held a 2 MiB page for
	 * 4 KiB of ACPI tables and its translated code rounded up to 2 MiB: 3.3 MiB of its PSS.
	 * Its guest RAM, a private file mapping, gets none either way. A cold VM keeps them: its
	 * guest RAM is anonymous, where huge pages make KVM faster. The flag survives execve. */
	if (b->mode == PL_VM_BOOT_CLONE || b->mode == PL_VM_BOOT_POOL)
		prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
	char *const envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
	execve(argv[0], argv, envp);
}

/* ---- accelerator */

enum { PROBE_NO = 0, PROBE_KVM = 1, PROBE_TIMEOUT = 2 };

/* Boots the guest under KVM with tether in probe mode: only a console saying init ran, and
 * QEMU exiting 0 after it, count (-no-reboot makes a triple fault or a panic exit 0 too). */
static int probe_kvm(const char *cache_dir, const pl_vm_kernel_t *k, const char *initramfs,
		     pl_error_t **err)
{
	_cleanup_free_ char *console =
	    pl_xasprintf("%s/probe.%d.console", cache_dir, (int)getpid());
	_cleanup_free_ char *qc = qpath(console);
	unlink(console);
	argv_b_t a = {0};
	common_args(&a, PL_VM_ACCEL_KVM, k, initramfs);
	add(&a, "-m");
	add(&a, "128M");
	add(&a, "-serial");
	add(&a, "file:%s", qc);
	add(&a, "-append");
	add(&a, "console=ttyS0 quiet panic=-1 pl_vm=1 pl_probe=1");
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		/* dies with the launcher: nothing else would ever reap or stop it */
		pl_proc_helper_child(parent, -1);
		execv(a.v[0], a.v);
		_exit(127);
	}
	pl_vm_argv_free(a.v);
	if (pid < 0)
		return pl_error_errno(err, "fork the KVM probe");
	int st = 0, verdict = PROBE_TIMEOUT;
	for (int waited = 0; waited < PROBE_DEADLINE_MS; waited += 20) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			verdict = PROBE_NO;
			break;
		}
		usleep(20000);
	}
	if (verdict == PROBE_TIMEOUT) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	} else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		_cleanup_free_ char *out = NULL;
		if (pl_read_file_at(AT_FDCWD, console, &out, NULL, 1 << 20, NULL) == 0 &&
		    strstr(out, PROBE_TOKEN))
			verdict = PROBE_KVM;
	}
	unlink(console);
	return verdict;
}

static char *verdict_name(const pl_vm_kernel_t *k, const struct stat *st)
{
	return pl_xasprintf("accel-%s-%llx-%llx-%llx", k->version, (unsigned long long)st->st_ino,
			    (unsigned long long)st->st_size,
			    (unsigned long long)st->st_mtim.tv_sec);
}

int pl_vm_accel_known(pl_vm_accel_t wanted, const char *cache_dir, const pl_vm_kernel_t *k,
		      pl_vm_accel_t *out)
{
	bool kvm_usable = access("/dev/kvm", R_OK | W_OK) == 0;
	if (wanted != PL_VM_ACCEL_AUTO || !kvm_usable) {
		*out = wanted == PL_VM_ACCEL_KVM ? PL_VM_ACCEL_KVM : PL_VM_ACCEL_TCG;
		return 1;
	}
	struct stat st;
	if (stat(QEMU_BINARY, &st) < 0)
		return 0;
	_cleanup_free_ char *name = verdict_name(k, &st);
	_cleanup_free_ char *path = pl_xasprintf("%s/%s", cache_dir, name);
	_cleanup_free_ char *verdict = NULL;
	if (pl_read_file_at(AT_FDCWD, path, &verdict, NULL, 64, NULL) < 0)
		return 0;
	*out = strncmp(verdict, "kvm", 3) == 0 ? PL_VM_ACCEL_KVM : PL_VM_ACCEL_TCG;
	return 1;
}

int pl_vm_accel_resolve(pl_vm_accel_t wanted, const char *cache_dir, const pl_vm_kernel_t *k,
			const char *initramfs, pl_vm_accel_t *out, pl_error_t **err)
{
	*out = wanted == PL_VM_ACCEL_KVM ? PL_VM_ACCEL_KVM : PL_VM_ACCEL_TCG;
	bool kvm_usable = access("/dev/kvm", R_OK | W_OK) == 0;
	if (wanted == PL_VM_ACCEL_KVM && !kvm_usable)
		return pl_error_errno(err, "--vm-accel kvm: /dev/kvm");
	if (wanted != PL_VM_ACCEL_AUTO || !kvm_usable)
		return 0;
	/* the verdict holds for this guest kernel and this QEMU binary */
	struct stat st;
	if (stat(QEMU_BINARY, &st) < 0)
		return pl_error_errno(err, "%s", QEMU_BINARY);
	_cleanup_free_ char *name = verdict_name(k, &st);
	_cleanup_free_ char *verdict = NULL;
	_cleanup_close_ int dirfd = open(cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return pl_error_errno(err, "vm cache %s", cache_dir);
	if (pl_read_file_at(dirfd, name, &verdict, NULL, 64, NULL) == 0) {
		*out = strncmp(verdict, "kvm", 3) == 0 ? PL_VM_ACCEL_KVM : PL_VM_ACCEL_TCG;
		return 0;
	}
	int r = probe_kvm(cache_dir, k, initramfs, err);
	if (r < 0)
		return pl_error_wrap(err, "accelerator probe");
	*out = r == PROBE_KVM ? PL_VM_ACCEL_KVM : PL_VM_ACCEL_TCG;
	if (r == PROBE_TIMEOUT) /* says nothing for certain (a loaded host): probe next time */
		return 0;
	const char *v = r == PROBE_KVM ? "kvm\n" : "tcg\n";
	if (pl_atomic_write(dirfd, name, v, strlen(v), err) < 0)
		return pl_error_wrap(err, "accelerator verdict %s", name);
	return 0;
}

/* ---- QMP */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One reply line, waiting no later than deadline (CLOCK_MONOTONIC, ms). */
static int qmp_read(int fd, char *buf, size_t size, size_t *used, json_t **out, int64_t deadline,
		    pl_error_t **err)
{
	for (;;) {
		char *nl = memchr(buf, '\n', *used);
		if (nl) {
			*nl = 0;
			json_error_t je;
			*out = json_loads(buf, 0, &je);
			size_t rest = *used - (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, rest);
			*used = rest;
			if (!*out)
				return pl_error_set(err, PL_ERR_INTERNAL, 0, "QMP: bad reply: %s",
						    je.text);
			return 0;
		}
		if (*used == size - 1)
			return pl_error_set(err, PL_ERR_INTERNAL, 0, "QMP: reply too long");
		int64_t left = deadline - mono_ms();
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int pr = left > 0 ? poll(&p, 1, (int)left) : 0;
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0)
			return pl_error_set(err, PL_ERR_INTERNAL, ETIMEDOUT,
					    "QMP: no answer in time");
		ssize_t n = read(fd, buf + *used, size - 1 - *used);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return pl_error_set(err, PL_ERR_INTERNAL, n < 0 ? errno : EPIPE,
					    "QMP: read");
		*used += (size_t)n;
	}
}

/* Sends one command (with arguments, stolen, and an fd passed along for getfd) and returns
 * its reply, skipping asynchronous events. */
static json_t *qmp_cmd_args(int fd, const char *cmd, json_t *args, int pass_fd, char *buf,
			    size_t size, size_t *used, int64_t deadline, pl_error_t **err)
{
	json_t *msg = json_pack("{s:s}", "execute", cmd);
	if (args)
		json_object_set_new(msg, "arguments", args);
	char *line = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	if (!line) {
		pl_error_set(err, PL_ERR_INTERNAL, 0, "QMP: encode %s", cmd);
		return NULL;
	}
	size_t len = strlen(line);
	line = pl_xrealloc(line, len + 2);
	line[len++] = '\n';
	/* a short line into an empty socket buffer: a non-blocking send takes it whole */
	ssize_t n = pl_send_fds(fd, line, len, &pass_fd, pass_fd >= 0 ? 1 : 0, 0);
	free(line);
	if (n != (ssize_t)len) {
		pl_error_errno(err, "QMP: send %s", cmd);
		return NULL;
	}
	for (;;) {
		json_t *r = NULL;
		if (qmp_read(fd, buf, size, used, &r, deadline, err) < 0)
			return NULL;
		if (json_object_get(r, "event")) {
			json_decref(r);
			continue;
		}
		json_t *e = json_object_get(r, "error");
		if (e) {
			pl_error_set(err, PL_ERR_INTERNAL, 0, "QMP %s: %s", cmd,
				     json_string_value(json_object_get(e, "desc")));
			json_decref(r);
			return NULL;
		}
		json_t *ret = json_incref(json_object_get(r, "return"));
		json_decref(r);
		return ret ? ret : json_object();
	}
}

static json_t *qmp_cmd(int fd, const char *cmd, char *buf, size_t size, size_t *used,
		       int64_t deadline, pl_error_t **err)
{
	return qmp_cmd_args(fd, cmd, NULL, -1, buf, size, used, deadline, err);
}

int pl_vm_qmp_open(pl_vm_qmp_t *q, int fd, int timeout_ms, pl_error_t **err)
{
	q->fd = fd;
	q->used = 0;
	int64_t deadline = mono_ms() + timeout_ms;
	json_t *greeting = NULL;
	if (qmp_read(fd, q->buf, sizeof(q->buf), &q->used, &greeting, deadline, err) < 0)
		return -1;
	json_decref(greeting);
	json_t *caps =
	    qmp_cmd(fd, "qmp_capabilities", q->buf, sizeof(q->buf), &q->used, deadline, err);
	json_decref(caps);
	return caps ? 0 : -1;
}

json_t *pl_vm_qmp_call(pl_vm_qmp_t *q, const char *cmd, json_t *args, int pass_fd, int timeout_ms,
		       pl_error_t **err)
{
	return qmp_cmd_args(q->fd, cmd, args, pass_fd, q->buf, sizeof(q->buf), &q->used,
			    mono_ms() + timeout_ms, err);
}

json_t *pl_vm_qmp(const char *path, const char *command, pl_error_t **err)
{
	/* the daemon's loop waits for this: one deadline for the whole exchange */
	int64_t deadline = mono_ms() + QMP_DEADLINE_MS;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		pl_error_set(err, PL_ERR_INTERNAL, ENAMETOOLONG, "QMP socket %s", path);
		return NULL;
	}
	strcpy(sa.sun_path, path);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		pl_error_errno(err, "QMP: connect");
		return NULL;
	}
	char buf[16384];
	size_t used = 0;
	json_t *greeting = NULL;
	if (qmp_read(fd, buf, sizeof(buf), &used, &greeting, deadline, err) < 0)
		return NULL;
	json_decref(greeting);
	json_t *caps = qmp_cmd(fd, "qmp_capabilities", buf, sizeof(buf), &used, deadline, err);
	if (!caps)
		return NULL;
	json_decref(caps);
	return qmp_cmd(fd, command, buf, sizeof(buf), &used, deadline, err);
}
