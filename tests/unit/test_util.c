/* SPDX-License-Identifier: Apache-2.0 */
/* Signal names, number and time parsing, ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static void test_signals(void **state)
{
	int s = 0;
	assert_int_equal(pl_signal_parse("TERM", &s), 0);
	assert_int_equal(s, SIGTERM);
	assert_int_equal(pl_signal_parse("SIGKILL", &s), 0);
	assert_int_equal(s, SIGKILL);
	assert_int_equal(pl_signal_parse("sighup", &s), 0);
	assert_int_equal(s, SIGHUP);
	assert_int_equal(pl_signal_parse("9", &s), 0);
	assert_int_equal(s, 9);
	assert_int_equal(pl_signal_parse("RTMIN+2", &s), 0);
	assert_int_equal(s, SIGRTMIN + 2);
	assert_int_equal(pl_signal_parse("RTMAX-1", &s), 0);
	assert_int_equal(s, SIGRTMAX - 1);
	const char *bad[] = {"",   "NOPE", "SIG",   "0",	"65",
			     "-9", "9x",   "TERM ", "RTMIN+99", "RTMIN-1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (pl_signal_parse(bad[i], &s) == 0)
			fail_msg("\"%s\" was accepted as signal %d", bad[i], s);
	assert_string_equal(pl_signal_name(SIGTERM), "TERM");
	assert_null(pl_signal_name(0));
}

static void test_int(void **state)
{
	int64_t v;
	assert_int_equal(pl_parse_int64("42", 0, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_true(pl_parse_int64("101", 0, 100, &v) < 0);
	assert_true(pl_parse_int64("-1", 0, 100, &v) < 0);
	assert_int_equal(pl_parse_int64("-1", -5, 100, &v), 0);
	assert_true(pl_parse_int64("", 0, 100, &v) < 0);
	assert_true(pl_parse_int64("1 ", 0, 100, &v) < 0);
	assert_true(pl_parse_int64("99999999999999999999", 0, INT64_MAX, &v) < 0);
}

static void test_time(void **state)
{
	int64_t ns;
	assert_int_equal(pl_time_parse("2026-11-28T13:16:53.123456789Z", &ns), 0);
	char buf[48];
	pl_time_format(ns, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-28T13:16:53.123456789Z");
	assert_int_equal(pl_time_parse("2026-11-28T13:16:53Z", &ns), 0);
	assert_int_equal(ns % 1000000000LL, 0);
	assert_int_equal(pl_time_parse("1700000000.5", &ns), 0);
	assert_int_equal(ns, 1700000000500000000LL);
	assert_true(pl_time_parse("yesterday", &ns) < 0);
	assert_true(pl_time_parse("2026-11-28T13:16:53+01:00", &ns) < 0);
	assert_true(pl_time_parse("12.", &ns) < 0);
}

static void test_ids(void **state)
{
	char a[PL_ID_LEN + 1], b[PL_ID_LEN + 1];
	assert_int_equal(pl_id_generate(a, NULL), 0);
	assert_int_equal(pl_id_generate(b, NULL), 0);
	assert_int_equal(strlen(a), PL_ID_LEN);
	assert_true(pl_id_is_full(a));
	assert_string_not_equal(a, b);
	assert_false(pl_id_is_full("abc"));
	a[3] = 'G';
	assert_false(pl_id_is_full(a));
}

static void test_base64(void **state)
{
	const char *samples[] = {"", "a", "ab", "abc", "user:p@ss\xff\x01"};
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		char *enc = pl_base64_encode(samples[i], strlen(samples[i]));
		size_t len = 99;
		char *dec = pl_base64_decode(enc, true, &len);
		assert_non_null(dec);
		assert_int_equal(len, strlen(samples[i]));
		assert_memory_equal(dec, samples[i], len);
		free(dec);
		free(enc);
	}
	size_t len = 0;
	char *d = pl_base64_decode("eyJhIjoxfQ\n", true, &len); /* unpadded, URL-safe ok */
	assert_non_null(d);
	assert_string_equal(d, "{\"a\":1}");
	free(d);
	d = pl_base64_decode("_-8", true, &len); /* URL-safe alphabet */
	assert_non_null(d);
	assert_int_equal(len, 2);
	assert_int_equal((unsigned char)d[0], 0xff);
	free(d);
	const char *bad[] = {"a", "ab$c", "abc==", "a===", "ab=c"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(pl_base64_decode(bad[i], true, &len));
	d = pl_base64_decode("YW Jj\n", false, NULL); /* lenient: skips what is not base64 */
	assert_string_equal(d, "abc");
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_signals), cmocka_unit_test(test_int),
	    cmocka_unit_test(test_time),    cmocka_unit_test(test_ids),
	    cmocka_unit_test(test_base64),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
