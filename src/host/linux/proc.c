/* SPDX-License-Identifier: Apache-2.0 */
/* Process and socket plumbing of the Linux host: see proc.h. */
#include "host/linux/proc.h"
#include "common/cleanup.h"
#include "common/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/sched.h>
#include <signal.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

pid_t pl_clone_pidfd(uint64_t flags, int cgfd, int *pidfd)
{
	struct clone_args args = {
	    .flags = flags | CLONE_PIDFD,
	    .pidfd = (uint64_t)(uintptr_t)pidfd,
	    .exit_signal = SIGCHLD,
	};
	if (cgfd >= 0) {
		args.flags |= CLONE_INTO_CGROUP;
		args.cgroup = (uint64_t)cgfd;
	}
	return (pid_t)syscall(SYS_clone3, &args, sizeof(args));
}

#if defined(__x86_64__)
/* long pl_clone3_call(struct clone_args *args, size_t size, int (*fn)(void *), void *arg):
 * clone3, and in the child (on the stack args gives it, no frame to return to) exit(fn(arg)).
 * r8 and r9 survive the system call in both. */
long pl_clone3_call(struct clone_args *args, size_t size, int (*fn)(void *), void *arg);
__asm__(".pushsection .text\n"
	".globl pl_clone3_call\n"
	".hidden pl_clone3_call\n"
	".type pl_clone3_call, @function\n"
	"pl_clone3_call:\n"
	"	mov %rdx, %r8\n"
	"	mov %rcx, %r9\n"
	"	mov $435, %eax\n" /* __NR_clone3 */
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jz 1f\n"
	"	ret\n"
	"1:	xor %ebp, %ebp\n"
	"	mov %r9, %rdi\n"
	"	call *%r8\n"
	"	mov %eax, %edi\n"
	"	mov $60, %eax\n" /* __NR_exit */
	"	syscall\n"
	"	hlt\n"
	".size pl_clone3_call, .-pl_clone3_call\n"
	".popsection\n");

#define SPAWN_STACK (64 * 1024)

pid_t pl_clone_spawn(struct clone_args *args, int (*fn)(void *), void *arg)
{
	/* a guard page below it: an overflow faults instead of writing into our memory */
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *map = mmap(NULL, SPAWN_STACK + page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (map == MAP_FAILED)
		return -1;
	if (mprotect(map, page, PROT_NONE) < 0) {
		munmap(map, SPAWN_STACK + page);
		return -1;
	}
	struct clone_args a = *args;
	a.flags |= CLONE_VM | CLONE_VFORK;
	a.stack = (uint64_t)(uintptr_t)(map + page);
	a.stack_size = SPAWN_STACK;
	long r = pl_clone3_call(&a, sizeof(a), fn, arg);
#if defined(__SANITIZE_ADDRESS__)
	/* a child that exec'd left its frames' redzones marked: a later mapping here is clean */
	__asan_unpoison_memory_region(map + page, SPAWN_STACK);
#endif
	munmap(map, SPAWN_STACK + page); /* the child has exec'd or exited */
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return (pid_t)r;
}
#else
pid_t pl_clone_spawn(struct clone_args *args, int (*fn)(void *), void *arg)
{
	pid_t pid = (pid_t)syscall(SYS_clone3, args, sizeof(*args));
	if (pid == 0)
		_exit(fn(arg));
	return pid;
}
#endif

void pl_proc_helper_child(pid_t parent, int err_fd)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	dup2(null, 0);
	dup2(null, 1);
	dup2(err_fd >= 0 ? err_fd : null, 2);
	close_range(3, ~0U, 0);
}

unsigned long long pl_proc_start_time(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	_cleanup_free_ char *buf = NULL;
	if (pl_read_file_at(AT_FDCWD, path, &buf, NULL, 8192, NULL) < 0)
		return 0;
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	/* field 22 (starttime); p points at the end of field 2 */
	unsigned long long v = 0;
	int field = 2;
	char *save = NULL;
	for (char *tok = strtok_r(p + 1, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		if (++field == 22) {
			v = strtoull(tok, NULL, 10);
			break;
		}
	}
	return v;
}

/* path of name inside dirfd, short enough for sun_path whatever the directory's length */
static void fd_path(struct sockaddr_un *sa, int dirfd, const char *name)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", dirfd, name);
}

int pl_unix_listen_at(int dirfd, const char *name, pl_error_t **err)
{
	struct sockaddr_un sa;
	fd_path(&sa, dirfd, name);
	unlinkat(dirfd, name, 0);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0)
		return pl_error_errno(err, "socket %s", name);
	return TAKE_FD(fd);
}

int pl_unix_connect_at(int dirfd, const char *name)
{
	struct sockaddr_un sa;
	fd_path(&sa, dirfd, name);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}
