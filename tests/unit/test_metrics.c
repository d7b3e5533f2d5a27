/* SPDX-License-Identifier: Apache-2.0 */
/* The latency histogram behind /metrics: bucket boundaries, the overflow bucket, sums. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "portlayer/metrics.h"

static void test_bounds_ascend(void **state)
{
	for (unsigned i = 1; i < PL_LATENCY_BUCKETS; i++)
		assert_true(pl_latency_bounds[i - 1] < pl_latency_bounds[i]);
}

static void test_observations_land_in_their_bucket(void **state)
{
	pl_histogram_t h = {0};
	pl_histogram_observe(&h, 0);			      /* below the first bound */
	pl_histogram_observe(&h, pl_latency_bounds[0]);	      /* on a bound: that bucket */
	pl_histogram_observe(&h, pl_latency_bounds[0] * 1.5); /* between: the next one */
	pl_histogram_observe(&h, pl_latency_bounds[PL_LATENCY_BUCKETS - 1] + 1); /* +Inf only */
	assert_int_equal(h.count, 4);
	assert_int_equal(h.bucket[0], 2);
	assert_int_equal(h.bucket[1], 1);
	uint64_t in_buckets = 0;
	for (unsigned i = 0; i < PL_LATENCY_BUCKETS; i++)
		in_buckets += h.bucket[i];
	assert_int_equal(in_buckets, 3);
	assert_float_equal(
	    h.sum, pl_latency_bounds[0] * 2.5 + pl_latency_bounds[PL_LATENCY_BUCKETS - 1] + 1,
	    1e-9);
}

static void test_monotonic_clock_advances(void **state)
{
	int64_t a = pl_metrics_now_ns(), b = pl_metrics_now_ns();
	assert_true(a > 0 && b >= a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bounds_ascend),
	    cmocka_unit_test(test_observations_land_in_their_bucket),
	    cmocka_unit_test(test_monotonic_clock_advances),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
