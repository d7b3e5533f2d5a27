/* SPDX-License-Identifier: Apache-2.0 */
/* pl_human_duration_until: the list keeps a container's row while its status text cannot
 * have changed, so the moment it gives must never be later than the text's next change. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "portlayer/listing.h"

#include <stdint.h>
#include <string.h>

static const int64_t S = 1000000000;

static void text(int64_t ns, char buf[64])
{
	pl_human_duration(ns, buf, 64);
}

/* For d: the text holds up to until - 1 ns and changes at until. */
static void check(int64_t d)
{
	char a[64], b[64], c[64];
	int64_t until = pl_human_duration_until(d);
	assert_true(until > d);
	text(d, a);
	text(until - 1, b);
	text(until, c);
	if (strcmp(a, b) != 0)
		fail_msg("%lld ns: \"%s\" but \"%s\" before %lld", (long long)d, a, b,
			 (long long)until);
	if (strcmp(a, c) == 0)
		fail_msg("%lld ns: \"%s\" still at %lld (too early: not wrong, but wasteful)",
			 (long long)d, a, (long long)until);
}

static void test_until_is_the_next_change(void **state)
{
	(void)state;
	const int64_t H = 3600 * S, D = 24 * H;
	const int64_t points[] = {-5 * S, 0,	   S / 2,   S,	      2 * S - 1, 59 * S,
				  60 * S, 119 * S, 120 * S, 3599 * S, H,	 2 * H - 1,
				  2 * H,  47 * H,  48 * H,  13 * D,   14 * D,	 59 * D,
				  60 * D, 61 * D,  729 * D, 730 * D,  731 * D,	 3000 * D};
	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++)
		check(points[i]);
	/* and a walk through every change over five years, from one to the next */
	int64_t d = 0, steps = 0;
	while (d < 5 * 365 * D && steps++ < 100000) {
		check(d);
		d = pl_human_duration_until(d);
	}
	assert_true(d >= 5 * 365 * D);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_until_is_the_next_change),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
