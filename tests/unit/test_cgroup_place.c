/* SPDX-License-Identifier: Apache-2.0 */
/* Containers under a cgroup_parent of their own: where their cgroups are, as containers come
 * and go for longer than the table of placements holds (a kubelet's churn), and what happens
 * when it is full. Runs on an empty directory: no hierarchy is touched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/linux/cgroup.h"

static void make_id(unsigned n, char out[65])
{
	snprintf(out, 65, "%064x", n);
}

static void expect_path(const char *id, const char *want)
{
	char *p = pl_cgroup_path(id);
	assert_string_equal(p, want);
	free(p);
}

/* More containers than the table holds, each removed before the next: every one is where
 * its parent says, and a placement back under ours forgets the parent. */
static void test_churn_keeps_the_parent(void **state)
{
	char id[65], want[128];
	for (unsigned n = 1; n <= 10000; n++) {
		make_id(n, id);
		pl_error_t *e = NULL;
		assert_int_equal(pl_cgroup_place(id, "kubepods/pod1", &e), 0);
		snprintf(want, sizeof(want), "kubepods/pod1/%s", id);
		expect_path(id, want);
		assert_int_equal(pl_cgroup_destroy(id, NULL), 0);
	}
	make_id(1, id);
	pl_error_t *e = NULL;
	assert_int_equal(pl_cgroup_place(id, "kubepods", &e), 0);
	assert_int_equal(pl_cgroup_place(id, NULL, &e), 0);
	snprintf(want, sizeof(want), "portlayer/%s", id);
	expect_path(id, want);
}

/* Too many at once: a refusal, never a container silently outside its parent. */
static void test_full_table_refuses(void **state)
{
	char id[65];
	int refused = 0;
	unsigned n;
	for (n = 1; n <= 5000 && !refused; n++) {
		make_id(100000 + n, id);
		pl_error_t *e = NULL;
		if (pl_cgroup_place(id, "kubepods", &e) < 0) {
			assert_non_null(e);
			pl_error_free(e);
			refused = 1;
			continue;
		}
		char want[128];
		snprintf(want, sizeof(want), "kubepods/%s", id);
		expect_path(id, want);
	}
	assert_true(refused);
	for (unsigned k = 1; k < n; k++) {
		make_id(100000 + k, id);
		pl_cgroup_destroy(id, NULL);
	}
}

int main(void)
{
	char dir[] = "/tmp/pl-test-cgroup-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	pl_error_t *e = NULL;
	if (pl_cgroup_init(dir, &e) < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_churn_keeps_the_parent),
	    cmocka_unit_test(test_full_table_refuses),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(dir);
	return rc;
}
