/* SPDX-License-Identifier: Apache-2.0 */
/* common/phase: sums per named phase, a child's stamps folded in once, the text /metrics
 * shows. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/phase.h"

static char *rendered(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	pl_phase_render(f);
	fclose(f);
	return text;
}

static void sums_and_counts_per_name(void **state)
{
	pl_phase_add("test.a", 1500000);
	pl_phase_add("test.a", 500000);
	pl_phase_add("test.b", -5); /* a clock step back counts as zero time */
	char *t = rendered();
	assert_non_null(strstr(t, "portlayer_phase_seconds_total{phase=\"test.a\"} 0.002000000\n"));
	assert_non_null(strstr(t, "portlayer_phase_total{phase=\"test.a\"} 2\n"));
	assert_non_null(strstr(t, "portlayer_phase_seconds_total{phase=\"test.b\"} 0.000000000\n"));
	assert_non_null(strstr(t, "# TYPE portlayer_phase_total counter\n"));
	free(t);
}

static void a_childs_marks_are_collected_once(void **state)
{
	pl_phase_page_t *p = pl_phase_child_page = pl_phase_page_new();
	assert_non_null(p);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pl_phase_child_mark("test.child_one");
		pl_phase_child_mark("test.child_two");
		_exit(0);
	}
	pl_phase_child_page = NULL;
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	pl_phase_page_attach(pid, p);
	pl_phase_page_collect(pid);
	pl_phase_page_collect(pid); /* the page is gone: nothing counted twice */
	char *t = rendered();
	assert_non_null(strstr(t, "portlayer_phase_total{phase=\"test.child_one\"} 1\n"));
	assert_non_null(strstr(t, "portlayer_phase_total{phase=\"test.child_two\"} 1\n"));
	assert_non_null(strstr(t, "portlayer_phase_total{phase=\"tether.exec_to_hello\"} 1\n"));
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(sums_and_counts_per_name),
	    cmocka_unit_test(a_childs_marks_are_collected_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
