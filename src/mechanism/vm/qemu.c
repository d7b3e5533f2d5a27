/* QEMU for the vm mechanism: the microvm command line (virtio-mmio devices: the root disk
 * and three virtio-serial ports, tether's control socket and the container's log and exit
 * record written by QEMU itself into the domain directory), the accelerator verdict (a boot
 * probe under KVM with a deadline, cached per guest kernel; TCG otherwise) and a small
 * synchronous QMP client for power state. */
#include "mechanism/vm/vm.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/util.h"

#include <errno.h>
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
#include <sys/wait.h>
#include <unistd.h>

#define QEMU_BINARY	  "/usr/bin/qemu-system-x86_64"
#define PROBE_DEADLINE_MS 8000
#define QMP_TIMEOUT_S	  3

const char *pl_vm_qemu_binary(void)
{
	return QEMU_BINARY;
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
	add(a, "-display");
	add(a, "none");
	add(a, "-nic");
	add(a, "none");
	add(a, "-kernel");
	add(a, "%s", k->vmlinuz);
	add(a, "-initrd");
	add(a, "%s", initramfs);
}

/* Under TCG the guest's TSC runs at the host's rate. Told so, the kernel skips calibrating
 * it against the PIT, which an emulated CPU on a loaded host fails often enough to hang the
 * boot ("tsc: Unable to calibrate against PIT"). */
static long host_tsc_khz(void)
{
	_cleanup_free_ char *info = NULL;
	if (pl_read_file_at(AT_FDCWD, "/proc/cpuinfo", &info, NULL, 1 << 22, NULL) < 0)
		return 0;
	char *p = strstr(info, "cpu MHz");
	p = p ? strchr(p, ':') : NULL;
	return p ? (long)(strtod(p + 1, NULL) * 1000) : 0;
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

char **pl_vm_qemu_argv(const pl_vm_boot_t *b)
{
	argv_b_t a = {0};
	common_args(&a, b->accel, b->kernel, b->initramfs);
	add(&a, "-m");
	add(&a, "%lldM", (long long)b->memory_mib);
	add(&a, "-smp");
	add(&a, "%d", b->cpus);
	add(&a, "-append");
	/* unknown name=value words reach init's environment: that is how tether learns them */
	char tsc[48] = "";
	long khz = b->accel == PL_VM_ACCEL_TCG ? host_tsc_khz() : 0;
	if (khz > 0)
		snprintf(tsc, sizeof(tsc), " tsc_early_khz=%ld", khz);
	add(&a, "console=ttyS0 quiet panic=-1%s pl_vm=1 pl_clock=%lld pl_hostname=%s pl_ro=%d", tsc,
	    (long long)pl_now_ns(), b->hostname, b->read_only ? 1 : 0);
	add(&a, "-serial");
	add(&a, "file:%s/vm-console.log", b->domain_dir);
	add(&a, "-drive");
	add(&a, "id=root,file=%s,format=qcow2,if=none,discard=unmap", b->disk);
	add(&a, "-device");
	add(&a, "virtio-blk-device,drive=root");
	add(&a, "-device");
	add(&a, "virtio-serial-device,max_ports=4");
	add(&a, "-chardev");
	add(&a, "socket,id=ctl,fd=%d,server=on,wait=off", b->ctl_fd);
	add(&a, "-device");
	add(&a, "virtserialport,chardev=ctl,name=pl.ctl");
	/* the log appends across restarts, as the linux mechanism's does */
	add(&a, "-chardev");
	add(&a, "file,id=log,path=%s/container.log,append=on", b->domain_dir);
	add(&a, "-device");
	add(&a, "virtserialport,chardev=log,name=pl.log");
	/* truncated at every boot: a record there is this run's */
	add(&a, "-chardev");
	add(&a, "file,id=exit,path=%s/exit.json", b->domain_dir);
	add(&a, "-device");
	add(&a, "virtserialport,chardev=exit,name=pl.exit");
	/* a virtio-net device per endpoint, its tap opened by the mechanism (vm/net.c) */
	for (size_t i = 0; b->tap_fds && i < json_array_size(b->endpoints); i++) {
		const json_t *ep = json_array_get(b->endpoints, i);
		add(&a, "-netdev");
		add(&a, "tap,id=n%zu,fd=%d", i, b->tap_fds[i]);
		add(&a, "-device");
		add(&a, "virtio-net-device,netdev=n%zu,mac=%s", i,
		    json_string_value(json_object_get(ep, "mac")));
	}
	add(&a, "-chardev");
	add(&a, "socket,id=qmp,fd=%d,server=on,wait=off", b->qmp_fd);
	add(&a, "-mon");
	add(&a, "chardev=qmp,mode=control");
	shares_args(&a, b);
	return a.v;
}

/* ---- accelerator */

static int probe_kvm(const pl_vm_kernel_t *k, const char *initramfs)
{
	argv_b_t a = {0};
	common_args(&a, PL_VM_ACCEL_KVM, k, initramfs);
	add(&a, "-m");
	add(&a, "128M");
	add(&a, "-serial");
	add(&a, "none");
	add(&a, "-append");
	add(&a, "console=ttyS0 quiet panic=-1 pl_vm=1 pl_probe=1");
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		execv(a.v[0], a.v);
		_exit(127);
	}
	pl_vm_argv_free(a.v);
	if (pid < 0)
		return 0;
	int st = 0;
	for (int waited = 0; waited < PROBE_DEADLINE_MS; waited += 20) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			/* init ran and powered off: the whole boot works under KVM */
			return WIFEXITED(st) && WEXITSTATUS(st) == 0;
		usleep(20000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return 0;
}

pl_vm_accel_t pl_vm_accel_resolve(pl_vm_accel_t wanted, const char *cache_dir,
				  const pl_vm_kernel_t *k, const char *initramfs)
{
	if (wanted != PL_VM_ACCEL_AUTO)
		return wanted;
	if (access("/dev/kvm", R_OK | W_OK) != 0)
		return PL_VM_ACCEL_TCG;
	_cleanup_free_ char *name = pl_xasprintf("accel-%s", k->version);
	_cleanup_free_ char *verdict = NULL;
	_cleanup_close_ int dirfd = open(cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pl_read_file_at(dirfd, name, &verdict, NULL, 64, NULL) == 0)
		return strncmp(verdict, "kvm", 3) == 0 ? PL_VM_ACCEL_KVM : PL_VM_ACCEL_TCG;
	bool kvm = probe_kvm(k, initramfs);
	const char *v = kvm ? "kvm\n" : "tcg\n";
	if (dirfd >= 0)
		pl_atomic_write(dirfd, name, v, strlen(v), NULL);
	return kvm ? PL_VM_ACCEL_KVM : PL_VM_ACCEL_TCG;
}

/* ---- QMP */

static int qmp_read(int fd, char *buf, size_t size, size_t *used, json_t **out, pl_error_t **err)
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
		ssize_t n = read(fd, buf + *used, size - 1 - *used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return pl_error_set(err, PL_ERR_INTERNAL, n < 0 ? errno : EPIPE,
					    "QMP: read");
		*used += (size_t)n;
	}
}

/* Sends one command and returns its reply, skipping asynchronous events. */
static json_t *qmp_cmd(int fd, const char *cmd, char *buf, size_t size, size_t *used,
		       pl_error_t **err)
{
	char line[128];
	int len = snprintf(line, sizeof(line), "{\"execute\":\"%s\"}\n", cmd);
	if (write(fd, line, (size_t)len) != len) {
		pl_error_errno(err, "QMP: send %s", cmd);
		return NULL;
	}
	for (;;) {
		json_t *r = NULL;
		if (qmp_read(fd, buf, size, used, &r, err) < 0)
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

json_t *pl_vm_qmp(const char *path, const char *command, pl_error_t **err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		pl_error_set(err, PL_ERR_INTERNAL, ENAMETOOLONG, "QMP socket %s", path);
		return NULL;
	}
	strcpy(sa.sun_path, path);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = {.tv_sec = QMP_TIMEOUT_S};
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		pl_error_errno(err, "QMP: connect");
		return NULL;
	}
	char buf[16384];
	size_t used = 0;
	json_t *greeting = NULL;
	if (qmp_read(fd, buf, sizeof(buf), &used, &greeting, err) < 0)
		return NULL;
	json_decref(greeting);
	json_t *caps = qmp_cmd(fd, "qmp_capabilities", buf, sizeof(buf), &used, err);
	if (!caps)
		return NULL;
	json_decref(caps);
	return qmp_cmd(fd, command, buf, sizeof(buf), &used, err);
}
