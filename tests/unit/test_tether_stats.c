/* SPDX-License-Identifier: Apache-2.0 */
/* tether's STATS answer (src/tether/linux/stats.c), read from this machine's /proc and /sys:
 * the port layer's stats keys, every figure present, and plausible values (the memory limit
 * is MemTotal, this process counts, the loopback interface is listed). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tether/os.h"

static json_int_t field(json_t *j, const char *obj, const char *key)
{
	json_t *v = json_object_get(json_object_get(j, obj), key);
	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static void test_shape_and_values(void **state)
{
	json_t *j = pl_os_stats();
	assert_non_null(j);
	assert_true(field(j, "cpu", "usage_ns") > 0);
	assert_true(field(j, "cpu", "usage_ns") ==
		    field(j, "cpu", "user_ns") + field(j, "cpu", "system_ns"));
	FILE *f = fopen("/proc/meminfo", "r");
	assert_non_null(f);
	long long total_kb = 0;
	assert_int_equal(fscanf(f, "MemTotal: %lld kB", &total_kb), 1);
	fclose(f);
	assert_true(field(j, "memory", "limit") == total_kb * 1024);
	assert_true(field(j, "memory", "usage") > 0);
	assert_true(field(j, "memory", "usage") < field(j, "memory", "limit"));
	assert_true(field(j, "pids", "current") >= 1);
	assert_true(field(j, "pids", "limit") == -1);
	assert_true(field(j, "blkio", "read_bytes") >= 0);
	assert_true(field(j, "blkio", "write_bytes") >= 0);
	json_t *lo = json_object_get(json_object_get(j, "networks"), "lo");
	assert_non_null(lo);
	static const char *const keys[] = {"rx_bytes", "rx_packets", "rx_errors",
					   "tx_bytes", "tx_packets", "tx_errors"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_true(json_is_integer(json_object_get(lo, keys[i])));
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shape_and_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
