/* SPDX-License-Identifier: Apache-2.0 */
/* pl_clone_spawn (host/linux/proc.c): the child runs the function on a stack of its own and
 * exits with its value; on x86-64 it shares our memory and we wait until it is gone or has
 * exec'd (CLONE_VM | CLONE_VFORK), so what it wrote is there when the call returns. */
#include "host/linux/proc.h"

#include <errno.h>
#include <linux/sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct {
	volatile int wrote;
	volatile pid_t seen_pid;
	char big[32 * 1024];
} shared_t;

static int child_writes(void *arg)
{
	shared_t *s = arg;
	/* deep enough a frame to use its own stack, not ours */
	char local[16 * 1024];
	memset(local, 'x', sizeof(local));
	memcpy(s->big, local, sizeof(local));
	s->seen_pid = (pid_t)syscall(SYS_getpid);
	s->wrote = 42;
	return 7;
}

static void test_child_runs_and_exits_with_its_value(void **state)
{
	static shared_t s;
	int pidfd = -1;
	struct clone_args args = {
	    .flags = CLONE_PIDFD, .pidfd = (uint64_t)(uintptr_t)&pidfd, .exit_signal = SIGCHLD};
	pid_t pid = pl_clone_spawn(&args, child_writes, &s);
	assert_true(pid > 0);
	assert_true(pidfd >= 0);
#if defined(__x86_64__)
	/* its memory was ours, and it was done before the call returned (nothing waited yet) */
	assert_int_equal(s.wrote, 42);
	assert_int_equal(s.seen_pid, pid);
	assert_int_equal(s.big[0], 'x');
	assert_int_equal(s.big[16 * 1024 - 1], 'x');
#endif
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 7);
	close(pidfd);
}

static int child_execs(void *arg)
{
	char *const argv[] = {"true", NULL};
	char *const envp[] = {NULL};
	execve((const char *)arg, argv, envp);
	return 127;
}

static void test_an_exec_ends_the_wait(void **state)
{
	struct clone_args args = {.exit_signal = SIGCHLD};
	pid_t pid = pl_clone_spawn(&args, child_execs, "/bin/true");
	assert_true(pid > 0);
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* a failed exec returns into the function, whose value is the status */
	pid = pl_clone_spawn(&args, child_execs, "/nonexistent/true");
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 127);
}

static void test_bad_flags_fail_with_errno(void **state)
{
	/* CLONE_SIGHAND without CLONE_VM is what the kernel refuses; with CLONE_VM added by
	 * the call it is CLONE_THREAD without CLONE_SIGHAND that must fail */
	struct clone_args args = {.flags = CLONE_THREAD, .exit_signal = 0};
	errno = 0;
	assert_int_equal(pl_clone_spawn(&args, child_writes, NULL), -1);
	assert_int_equal(errno, EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_child_runs_and_exits_with_its_value),
	    cmocka_unit_test(test_an_exec_ends_the_wait),
	    cmocka_unit_test(test_bad_flags_fail_with_errno),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
