/* SPDX-License-Identifier: Apache-2.0 */
/* pl_remove_tree_at: a tree goes whole, however deep, without following a symlink out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"

#define DEPTH 1000

static void test_deep_tree_with_symlinks_out(void **state)
{
	(void)state;
	char tmp[] = "/tmp/pl-unit-rmtree-XXXXXX";
	assert_non_null(mkdtemp(tmp));
	int base = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(base >= 0);
	assert_int_equal(mkdirat(base, "outside", 0700), 0);
	int keep = openat(base, "outside/keep", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(keep >= 0);
	close(keep);
	char outside[sizeof(tmp) + 16];
	snprintf(outside, sizeof(outside), "%s/outside", tmp);

	/* a chain far deeper than the fds the removal may use, a way out at every level */
	assert_int_equal(mkdirat(base, "t", 0700), 0);
	int fd = openat(base, "t", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (int i = 0; i < DEPTH; i++) {
		assert_int_equal(symlinkat(outside, fd, "abs"), 0);
		assert_int_equal(symlinkat("../../../../outside", fd, "rel"), 0);
		int f = openat(fd, "file", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		assert_true(f >= 0);
		close(f);
		assert_int_equal(mkdirat(fd, i % 7 ? "d" : ".pl-deep-0", 0700), 0);
		int next =
		    openat(fd, i % 7 ? "d" : ".pl-deep-0", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		assert_true(next >= 0);
		close(fd);
		fd = next;
	}
	close(fd);

	struct rlimit rl, few = {.rlim_cur = 256, .rlim_max = 0};
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	few.rlim_max = rl.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &few), 0);
	pl_error_t *e = NULL;
	int r = pl_remove_tree_at(base, "t", &e);
	setrlimit(RLIMIT_NOFILE, &rl);
	if (r < 0)
		fail_msg("remove: %s", e->msg);
	struct stat st;
	assert_int_equal(fstatat(base, "t", &st, AT_SYMLINK_NOFOLLOW), -1);
	assert_int_equal(fstatat(base, "outside/keep", &st, 0), 0);
	assert_int_equal(pl_remove_tree_at(base, "outside", NULL), 0);
	close(base);
	assert_int_equal(rmdir(tmp), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_deep_tree_with_symlinks_out),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
