/* SPDX-License-Identifier: Apache-2.0 */
/* tether as the first process of a dedicated Linux kernel (the vm mechanism): brings the
 * guest up from the initramfs the port layer built (proc, sys, dev; the virtio modules in
 * the order listed in /modules/order; the clock and hostname from the kernel command line;
 * a minimal /dev for the container, not the devtmpfs;
 * the root disk mounted and switched into), finds the virtio-serial ports by name and puts
 * them where tether.c expects its channels (fds 3-5), and powers the guest off when tether
 * exits. Nothing here talks the protocol; in a linux-mechanism domain none of it runs. */
#include "tether/os.h"
#include "tether/linux/vmshares.h"

#include <jansson.h>
#include <linux/filter.h>
#include <linux/random.h>
#include <linux/seccomp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PORTS_DEADLINE_MS 10000
#define ROOT_DEV	  "/dev/vda"
#define NEWROOT		  "/newroot"
/* what the host waits for on the console before it saves a template (mechanism/vm) */
#define PL_TEMPLATE_READY "pl-tether: template: ready"

static bool in_vm;
/* booted as a template (pl_template on the command line): the guest stops short of the root
 * disk and waits, paused and saved by the host; each clone restored from it gets its disk,
 * NICs and identity with CONFIG (pl_os_domain_setup) */
static bool deferred;
static double t_resumed; /* a clone: when its daemon was there (uptime) */
static int pool_fd = -1; /* restored guests: the pool's port (pl.pool) */
static bool pooled;	 /* this clone was started ahead by a pool, then taken */

bool pl_os_ctl_reconnects(void)
{
	return in_vm;
}

bool pl_os_ctl_connected(int fd)
{
	/* a virtio-serial port reports HUP while nothing is connected on the host side */
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	return poll(&p, 1, 0) >= 0 && !(p.revents & (POLLHUP | POLLERR | POLLNVAL));
}

/* Boot diagnostics go to the console (the domain's vm-console.log): nobody else can hear
 * a guest that fails before its ports exist. */
__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		(void)!write(STDOUT_FILENO, buf,
			     (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static double uptime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void power_off(void)
{
	if (getpid() != 1)
		return;
	sync();
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}

static int read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, size - 1);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	buf[n] = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return (int)n;
}

/* "NAME.key=value" words of the kernel command line become the module's parameters, as
 * modprobe would pass them (microvm describes its virtio-mmio devices that way). */
static void module_params(const char *cmdline, const char *name, char *out, size_t size)
{
	char want[96];
	snprintf(want, sizeof(want), "%s.", name);
	for (char *p = want; *p; p++)
		if (*p == '-')
			*p = '_';
	size_t wl = strlen(want), used = 0;
	out[0] = 0;
	for (const char *w = cmdline; *w;) {
		while (*w == ' ')
			w++;
		size_t len = strcspn(w, " ");
		if (len > wl && strncmp(w, want, wl) == 0 && used + len - wl + 2 < size) {
			used += (size_t)snprintf(out + used, size - used, "%s%.*s", used ? " " : "",
						 (int)(len - wl), w + wl);
		}
		w += len;
	}
}

/* The drivers of the NICs a clone brings its own backends for: a template never binds them,
 * so no guest state (a MAC read at probe) can outlive the restore. Loaded when the clone's
 * CONFIG comes. virtio_blk is bound in the template, to a disk of size 0 (nothing read,
 * nothing cached): a clone's disk arrives with a capacity change (block_resize on the host)
 * instead of a module load, which costs some 200 ms under TCG. */
static bool late_module(const char *name)
{
	static const char *const late[] = {"virtio_net", "net_failover", "failover"};
	for (size_t i = 0; i < sizeof(late) / sizeof(late[0]); i++)
		if (strcmp(name, late[i]) == 0)
			return true;
	return false;
}

enum { MODS_ALL, MODS_EARLY, MODS_LATE };

static int load_modules(int which)
{
	static char order[4096], cmdline[4096];
	if (read_small("/modules/order", order, sizeof(order)) < 0)
		return 0; /* everything is built in */
	read_small("/proc/cmdline", cmdline, sizeof(cmdline));
	for (char *save = NULL, *name = strtok_r(order, "\n", &save); name;
	     name = strtok_r(NULL, "\n", &save)) {
		if ((which == MODS_EARLY && late_module(name)) ||
		    (which == MODS_LATE && !late_module(name)))
			continue;
		char path[160], params[1024];
		snprintf(path, sizeof(path), "/modules/%s.ko", name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			say("pl-tether: module %s: %s\n", path, strerror(errno));
			return -1;
		}
		module_params(cmdline, name, params, sizeof(params));
		long r = syscall(SYS_finit_module, fd, params, 0);
		int e = errno;
		close(fd);
		if (r < 0 && e != EEXIST) {
			say("pl-tether: load module %s: %s\n", name, strerror(e));
			return -1;
		}
	}
	return 0;
}

/* The port named name ("pl.ctl", ...): /sys/class/virtio-ports/vportNpM/name. */
static int open_port(const char *want, int flags)
{
	DIR *d = opendir("/sys/class/virtio-ports");
	if (!d)
		return -ENOENT;
	int fd = -ENOENT;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char path[300], name[64];
		snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", de->d_name);
		if (read_small(path, name, sizeof(name)) <= 0 || strcmp(name, want) != 0)
			continue;
		snprintf(path, sizeof(path), "/dev/%s", de->d_name);
		fd = open(path, flags | O_CLOEXEC);
		if (fd < 0)
			fd = -errno;
		break;
	}
	closedir(d);
	return fd;
}

static int wait_for(const char *what, int (*probe)(const char *, int), const char *arg, int flags)
{
	for (int waited = 0;; waited += 10) {
		int fd = probe(arg, flags);
		if (fd >= 0 || waited >= PORTS_DEADLINE_MS) {
			if (fd < 0)
				say("pl-tether: %s %s: %s\n", what, arg, strerror(-fd));
			return fd;
		}
		usleep(10000);
	}
}

static int open_dev(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int place(int fd, int want)
{
	if (fd < 0)
		return -1;
	if (fd != want && (dup2(fd, want) < 0 || close(fd) < 0))
		return -1;
	return 0;
}

static void set_clock(void)
{
	const char *s = getenv("pl_clock");
	if (!s)
		return;
	char *end;
	long long ns = strtoll(s, &end, 10);
	if (*end || ns <= 0)
		return;
	/* the value was taken when QEMU started; the guest has been up since */
	ns += (long long)(uptime() * 1e9);
	struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
	clock_settime(CLOCK_REALTIME, &ts);
}

/* The container's /dev: what the linux mechanism gives a domain (rootfs.c), never the
 * guest's devtmpfs, whose virtio ports, disk and serial console belong to tether and the
 * host (a container's root could otherwise write the console or the log port past tether). */
static int populate_dev(void)
{
	static const struct {
		const char *name;
		unsigned maj, min;
	} nodes[] = {
	    {"null", 1, 3},   {"zero", 1, 5},	 {"full", 1, 7},
	    {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
	};
	static const char *const links[][2] = {
	    {"pts/ptmx", "/dev/ptmx"},		{"/proc/self/fd", "/dev/fd"},
	    {"/proc/self/fd/0", "/dev/stdin"},	{"/proc/self/fd/1", "/dev/stdout"},
	    {"/proc/self/fd/2", "/dev/stderr"},
	};
	mkdir("/dev", 0755);
	if (mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k") <
	    0) {
		say("pl-tether: mount /dev: %s\n", strerror(errno));
		return -1;
	}
	mode_t old = umask(0);
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		char path[32];
		snprintf(path, sizeof(path), "/dev/%s", nodes[i].name);
		if (mknod(path, S_IFCHR | 0666, makedev(nodes[i].maj, nodes[i].min)) < 0) {
			say("pl-tether: mknod %s: %s\n", path, strerror(errno));
			umask(old);
			return -1;
		}
	}
	umask(old);
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		symlink(links[i][0], links[i][1]);
	return 0;
}

/* Moves the initramfs' mounts under the new root, then makes it the root. */
static int switch_root(void)
{
	static const char *const moved[] = {"/proc", "/sys"};
	for (size_t i = 0; i < sizeof(moved) / sizeof(moved[0]); i++) {
		char target[64];
		snprintf(target, sizeof(target), NEWROOT "%s", moved[i]);
		mkdir(target, 0755);
		if (mount(moved[i], target, NULL, MS_MOVE, NULL) < 0) {
			say("pl-tether: move %s: %s\n", moved[i], strerror(errno));
			return -1;
		}
	}
	/* the ports and the disk are open (or mounted) already; the nodes go with the devtmpfs */
	umount2("/dev", MNT_DETACH);
	if (chdir(NEWROOT) < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 ||
	    chdir("/") < 0) {
		say("pl-tether: switch root: %s\n", strerror(errno));
		return -1;
	}
	/* what a container expects beneath /dev */
	if (populate_dev() < 0)
		return -1;
	mkdir("/dev/pts", 0755);
	mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
	      "newinstance,ptmxmode=0666,mode=0620");
	mkdir("/dev/shm", 01777);
	mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	mkdir("/dev/mqueue", 0755);
	mount("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	return 0;
}

/* The guest has no network yet but loopback, which comes up down. */
static void loopback_up(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	if (fd >= 0)
		close(fd);
}

/* A line for the host, through the kernel's log: printk reaches the serial console
 * synchronously, where a write to /dev/console may still sit in the tty's buffer when the
 * power goes or the VM is paused (and tcdrain there can wait forever). msg starts "<2>". */
static void kmsg(const char *msg)
{
	mknod("/dev/kmsg", S_IFCHR | 0600, makedev(1, 11));
	int fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, msg, strlen(msg)) < 0)
		say("%s", msg + 3);
	if (fd >= 0)
		close(fd);
}

/* The root disk mounted (with the shares, when QEMU gave the guest any) and switched into,
 * then the hostname and loopback: the domain as the container sees it. */
static int root_up(bool ro_root, const char *host)
{
	int disk = wait_for("disk", open_dev, ROOT_DEV, O_RDONLY);
	if (disk < 0)
		return -1;
	/* Nothing of a disk was ever read in a clone's template (its guest bound the driver
	 * to a disk of size 0; a pooled clone's warm-up disk was unmounted and flushed), and
	 * nothing cached of this device may survive anyway: its own cache is dropped, nothing
	 * else. Not vm.drop_caches: that walks every cached inode and dentry
	 * of the guest, locking each, so a clone wrote (and got its own copy of) some 7 MiB of
	 * the template's slab pages (docs/design-decisions.md). */
	if (ioctl(disk, BLKFLSBUF, 0) < 0)
		say("pl-tether: flush the root disk's cache: %s\n", strerror(errno));
	close(disk);
	mkdir(NEWROOT, 0755);
	/* with volumes or bind mounts, a read-only root turns so after their mount points */
	bool shares = pl_vm_shares_present();
	if (mount(ROOT_DEV, NEWROOT, "ext4", ro_root && !shares ? MS_RDONLY : 0, NULL) < 0) {
		say("pl-tether: mount root disk: %s\n", strerror(errno));
		return -1;
	}
	const char *share_err = shares ? pl_vm_shares_mount(NEWROOT, ro_root) : NULL;
	if (share_err) {
		pl_vm_boot_error(share_err);
		return -1;
	}
	if (switch_root() < 0)
		return -1;
	if (host)
		sethostname(host, strlen(host));
	loopback_up();
	return 0;
}

static long long disk_sectors(void)
{
	char size[32];
	return read_small("/sys/block/vda/size", size, sizeof(size)) > 0 ? strtoll(size, NULL, 10)
									 : -1;
}

static void flush_disk(void)
{
	int fd = open(ROOT_DEV, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ioctl(fd, BLKFLSBUF, 0);
		close(fd);
	}
}

/* The pool's warm-up disk (a small ext4 of the slot's own, its size announced after the
 * restore): mounted read-write, a file read and one written, unmounted, its buffers
 * flushed, so the ext4 and block paths a container's root disk takes are translated. */
static void warm_disk(void)
{
	for (int waited = 0; disk_sectors() <= 0; waited++) {
		if (waited >= 3000)
			return; /* no warm-up disk: the rest still warms up */
		struct timespec t = {.tv_nsec = 1000 * 1000};
		nanosleep(&t, NULL);
	}
	if (mount(ROOT_DEV, "/warm", "ext4", 0, NULL) < 0)
		return;
	char buf[4096];
	int fd = open("/warm/f", O_RDONLY | O_CLOEXEC);
	while (fd >= 0 && read(fd, buf, sizeof(buf)) > 0)
		;
	if (fd >= 0)
		close(fd);
	fd = open("/warm/x", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		(void)!write(fd, buf, sizeof(buf));
		close(fd);
	}
	umount2("/warm", 0);
	flush_disk();
}

/* A pooled clone's warm-up, before any container is known: under TCG every code path a
 * guest runs is translated at its first use in each QEMU, so a fresh clone pays for the
 * kernel's fork, exec, ELF loading, page faults, exit and wait, and the mounts of a
 * switch root, on its container's critical path. Here they run once ahead: tether forks and
 * execs itself (pl_warm: it exits at once), and mounts and unmounts the file systems a
 * container's /dev gets. Nothing of it stays: the children are reaped, the mounts gone, and
 * no container has ever been in this guest (a pool never reuses one). */
static void warm_up(void)
{
	double t0 = uptime();
	/* a child set up as a container's process is (tether/linux/os.c): its own session,
	 * stdio on pipes, a seccomp filter (an allow-all one), ids and capabilities set, then
	 * exec; the parent reads its output to the end and reaps it */
	static struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
	struct sock_fprog prog = {.len = 1, .filter = allow};
	for (int i = 0; i < 3; i++) {
		int out[2];
		if (pipe2(out, O_CLOEXEC) < 0)
			break;
		pid_t p = fork();
		if (p == 0) {
			char *const argv[] = {"/init", NULL};
			char *const envp[] = {"pl_warm=1", NULL};
			setsid();
			dup2(out[1], 1);
			dup2(out[1], 2);
			gid_t none[1];
			if (setgroups(0, none) < 0 || setgid(0) < 0 || setuid(0) < 0 ||
			    chdir("/") < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
			    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
				_exit(1);
			execve("/init", argv, envp);
			_exit(127);
		}
		close(out[1]);
		char buf[64];
		while (p > 0 && read(out[0], buf, sizeof(buf)) > 0)
			;
		close(out[0]);
		int st;
		while (p > 0 && waitpid(p, &st, 0) < 0 && errno == EINTR)
			;
	}
	static const char *const fs[][3] = {
	    {"tmpfs", "tmpfs", "mode=755,size=65536k"},
	    {"devpts", "devpts", "newinstance,ptmxmode=0666,mode=0620"},
	    {"shm", "tmpfs", "mode=1777"},
	    {"mqueue", "mqueue", NULL},
	};
	mkdir("/warm", 0700);
	warm_disk();
	for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++) {
		if (mount(fs[i][0], "/warm", fs[i][1], MS_NOSUID | MS_NODEV, fs[i][2]) < 0)
			continue;
		if (i == 0)
			mknod("/warm/null", S_IFCHR | 0666, makedev(1, 3));
		umount2("/warm", MNT_DETACH);
	}
	rmdir("/warm");
	/* the pool's daemon first (it takes only warm slots), then the console */
	(void)!write(pool_fd, "w", 1);
	char line[96];
	snprintf(line, sizeof(line), "<2>pl-tether: pool: warm at %.3fs (%.0f ms)\n", uptime(),
		 (uptime() - t0) * 1e3);
	kmsg(line);
}

/* Whether the port has a host side connected (a virtio port says HUP while it has none). */
static bool port_connected(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	return fd >= 0 && poll(&p, 1, 0) >= 0 && !(p.revents & (POLLHUP | POLLERR | POLLNVAL));
}

/* A template is saved while it waits here: nothing of a container is in it yet. A clone
 * goes on once the host is connected to its control port (its daemon, queued on the socket
 * QEMU serves, reaches the restored port at once). The port reports HUP without a waking
 * event while nobody is connected, so this looks every millisecond; the template's QEMU is
 * stopped within moments of the ready line. A pooled clone (its pool port connected)
 * warms up, says so on that port, and sleeps on it until its take (a byte) or its daemon's
 * end (closed without one: it powers off, so a pool never outlives its daemon). */
static void template_wait(void)
{
	/* the kernel's generator initialised now, once per template: under TCG (no RDRAND, few
	 * interrupts) it is not yet, and the first read (jansson's hash seed, at the first
	 * JSON object) would make every clone wait for the jitter entropy; each clone is
	 * reseeded from the host at its CONFIG (pl_os_domain_setup) */
	uint8_t b[16];
	(void)!getrandom(b, sizeof(b), 0);
	kmsg("<2>" PL_TEMPLATE_READY "\n");
	struct timespec ms = {.tv_nsec = 1000 * 1000};
	bool warmed = false;
	while (!pl_os_ctl_connected(3)) {
		if (!pooled && port_connected(pool_fd)) {
			if (!warmed) {
				warm_up();
				warmed = true;
			}
			struct pollfd p = {.fd = pool_fd, .events = POLLIN};
			if (poll(&p, 1, 60000) <= 0 || !(p.revents & POLLIN))
				continue;
			char c = 0;
			if (read(pool_fd, &c, 1) == 1 && c == 'g') {
				pooled = true; /* taken: the daemon connects its control port */
				continue;
			}
			if (!port_connected(pool_fd)) /* closed without a take: nobody wants us */
				power_off();
			continue;
		}
		if (warmed && !pooled) /* the pool's daemon went away before any take */
			power_off();
		nanosleep(&ms, NULL);
	}
	t_resumed = uptime();
}

int pl_os_boot(void)
{
	if (getenv("pl_warm")) /* a pooled clone's warm-up exec (warm_up): done */
		_exit(0);
	if (getpid() != 1 || !getenv("pl_vm"))
		return 0;
	in_vm = true;
	atexit(power_off);
	if (getenv("pl_probe")) { /* the accelerator probe: reaching init is the answer */
		kmsg("<2>pl-tether: probe: init ran\n");
		exit(0);
	}
	double t_init = uptime();
	mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	set_clock();
	deferred = getenv("pl_template") != NULL;
	if (load_modules(deferred ? MODS_EARLY : MODS_ALL) < 0)
		return -1;
	double t_modules = uptime();
	int ctl = wait_for("port", open_port, "pl.ctl", O_RDWR | O_NONBLOCK);
	int log = wait_for("port", open_port, "pl.log", O_WRONLY);
	int ex = wait_for("port", open_port, "pl.exit", O_WRONLY);
	if (place(ctl, 3) < 0 || place(log, 4) < 0 || place(ex, 5) < 0)
		return -1;
	if (deferred) {
		/* restored guests' pool port: no waiting (a template has it from the start) */
		int pf = open_port("pl.pool", O_RDWR | O_NONBLOCK);
		if (pf >= 0) { /* out of tether's numbered fds (FD_LISTEN...), close-on-exec */
			pool_fd = fcntl(pf, F_DUPFD_CLOEXEC, 64);
			close(pf);
		}
		say("pl-tether: template: init at %.3fs, modules loaded at %.3fs, ready at %.3fs "
		    "(uptime)\n",
		    t_init, t_modules, uptime());
		template_wait();
		return 0;
	}
	const char *ro = getenv("pl_ro");
	if (root_up(ro && strcmp(ro, "1") == 0, getenv("pl_hostname")) < 0)
		return -1;
	say("pl-tether: boot: init at %.3fs, modules loaded at %.3fs, ready at %.3fs (uptime)\n",
	    t_init, t_modules, uptime());
	return 0;
}

/* Mixes the host's bytes (hex) into the guest's pool, credited, and reseeds the kernel's
 * generator from it at once: every clone of a template starts from the same pool, and this
 * is what makes their random streams (and boot_id, made at its first read) their own. */
static void reseed(const char *hex)
{
	uint32_t words[2 + 16] = {0};
	struct rand_pool_info *info = (struct rand_pool_info *)words;
	uint8_t *buf = (uint8_t *)&words[2];
	size_t n = 0;
	for (; n < 64 && hex[2 * n] && hex[2 * n + 1]; n++) {
		unsigned v;
		if (sscanf(hex + 2 * n, "%2x", &v) != 1)
			break;
		buf[n] = (uint8_t)v;
	}
	info->entropy_count = (int)n * 8;
	info->buf_size = (int)n;
	int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (n > 0 && ioctl(fd, RNDADDENTROPY, info) < 0)
		say("pl-tether: add the host's entropy: %s\n", strerror(errno));
	else if (ioctl(fd, RNDRESEEDCRNG) < 0)
		say("pl-tether: reseed: %s\n", strerror(errno));
	close(fd);
}

/* A clone's disk replaces the template's empty one (or a pooled clone's warm-up disk): the
 * host announces its capacity (a virtio config change, handled by the driver in a work
 * item), so it is there once the size is the daemon's (or not 0 when the daemon did not
 * say). The block device's buffers are dropped too (the template read nothing, the warm-up
 * disk's are flushed already; nothing may survive anyway). */
static int disk_arrived(long long want_bytes)
{
	long long got = -1;
	for (int waited = 0; waited < PORTS_DEADLINE_MS * 10; waited++) {
		got = disk_sectors();
		if (want_bytes > 0 ? got * 512 == want_bytes : got > 0) {
			flush_disk();
			return 0;
		}
		struct timespec t = {.tv_nsec = 100 * 1000};
		nanosleep(&t, NULL);
	}
	say("pl-tether: the root disk has %lld sectors, not %lld bytes\n", got, want_bytes);
	return -1;
}

/* A template's NIC i has MAC 02:00:00:00:00:i (mechanism/vm/qemu.c), restored as it was:
 * the clone's NIC i becomes its endpoint i's (CONFIG's interfaces, in the same order). */
static void clone_macs(json_t *network)
{
	json_t *ifs = json_object_get(network, "interfaces");
	struct if_nameindex *ni = if_nameindex();
	int sk = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	for (struct if_nameindex *i = ni; sk >= 0 && i && i->if_index; i++) {
		struct ifreq r = {0};
		snprintf(r.ifr_name, sizeof(r.ifr_name), "%s", i->if_name);
		if (ioctl(sk, SIOCGIFHWADDR, &r) < 0)
			continue;
		const unsigned char *m = (const unsigned char *)r.ifr_hwaddr.sa_data;
		static const unsigned char tmpl[5] = {2, 0, 0, 0, 0};
		const char *want =
		    memcmp(m, tmpl, 5) == 0
			? json_string_value(json_object_get(json_array_get(ifs, m[5]), "mac"))
			: NULL;
		unsigned v[6];
		if (!want || sscanf(want, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4],
				    &v[5]) != 6)
			continue;
		for (int k = 0; k < 6; k++)
			r.ifr_hwaddr.sa_data[k] = (char)v[k];
		if (ioctl(sk, SIOCSIFHWADDR, &r) < 0)
			say("pl-tether: set the mac of %s: %s\n", i->if_name, strerror(errno));
	}
	if (ni)
		if_freenameindex(ni);
	if (sk >= 0)
		close(sk);
}

const char *pl_os_domain_setup(json_t *config)
{
	if (!in_vm)
		return NULL;
	json_t *vm = json_object_get(config, "vm");
	double t0 = uptime();
	const char *seed = json_string_value(json_object_get(vm, "seed"));
	if (seed)
		reseed(seed);
	if (!deferred)
		return NULL;
	deferred = false;
	/* the template's clock stopped when it was saved: the host's, taken for this CONFIG */
	json_int_t ns = json_integer_value(json_object_get(vm, "clock_ns"));
	if (ns > 0) {
		struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
		clock_settime(CLOCK_REALTIME, &ts);
	}
	if (pool_fd >= 0) {
		close(pool_fd);
		pool_fd = -1;
	}
	json_t *ifs = json_object_get(json_object_get(config, "network"), "interfaces");
	if (json_array_size(ifs) > 0 && load_modules(MODS_LATE) < 0)
		return "the guest could not load its network drivers (vm-console.log)";
	if (disk_arrived(json_integer_value(json_object_get(vm, "disk_bytes"))) < 0)
		return "the guest's root disk did not arrive (vm-console.log)";
	double t_mod = uptime();
	clone_macs(json_object_get(config, "network"));
	if (root_up(json_is_true(json_object_get(vm, "read_only")),
		    json_string_value(json_object_get(vm, "hostname"))) < 0)
		return "the guest could not mount its root disk (vm-console.log)";
	/* the host's clock: bench/vm lines this up with the start */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	say("pl-tether: clone: connected at %.3fs, config after %.0f ms, drivers loaded in %.0f "
	    "ms, "
	    "root disk and identity in %.0f ms (uptime); ready at %lld.%09ld\n",
	    t_resumed, (t0 - t_resumed) * 1e3, (t_mod - t0) * 1e3, (uptime() - t_mod) * 1e3,
	    (long long)now.tv_sec, now.tv_nsec);
	return NULL;
}

long pl_os_oom_kills(void)
{
	if (!in_vm)
		return -1;
	char buf[8192];
	int fd = open("/proc/vmstat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	const char *p = strstr(buf, "\noom_kill ");
	return p ? strtol(p + 10, NULL, 10) : 0;
}
