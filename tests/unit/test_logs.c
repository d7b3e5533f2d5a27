/* SPDX-License-Identifier: Apache-2.0 */
/* The log reader: CRI records in, Docker-framed lines out, with tail/stream/time filters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "portlayer/logs.h"

static const char LOG[] = "2026-01-01T00:00:01.000000000Z stdout F one\n"
			  "2026-01-01T00:00:02.000000000Z stderr F two\n"
			  "2026-01-01T00:00:03.000000000Z stdout P thr\n"
			  "2026-01-01T00:00:03.500000000Z stdout F ee\n"
			  "garbage line\n"
			  "2026-01-01T00:00:04.000000000Z stdout F four\n";

static int make_dir(void)
{
	char tmpl[] = "/tmp/pl-logs-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	int d = open(tmpl, O_RDONLY | O_DIRECTORY);
	int f = openat(d, "container.log", O_WRONLY | O_CREAT, 0600);
	assert_int_equal(write(f, LOG, sizeof(LOG) - 1), (ssize_t)sizeof(LOG) - 1);
	close(f);
	return d;
}

/* Reads everything, returns "s:content|" per frame. */
static char *drain(int dirfd, pl_log_opts_t o)
{
	pl_log_cursor_t *cur = pl_log_open(dirfd, &o, NULL);
	assert_non_null(cur);
	size_t cap = 4 << 20, n = 0;
	char *raw = malloc(cap);
	ssize_t r;
	/* small reads: frames span calls */
	while (n + 7 <= cap && (r = pl_log_read(cur, raw + n, 7)) > 0)
		n += (size_t)r;
	pl_log_close(cur);
	char *out = calloc(1, n + 64);
	size_t o_len = 0;
	for (size_t i = 0; i + 8 <= n;) {
		size_t len = (size_t)raw[i + 4] << 24 | (size_t)raw[i + 5] << 16 |
			     (size_t)(unsigned char)raw[i + 6] << 8 | (unsigned char)raw[i + 7];
		o_len += (size_t)sprintf(out + o_len, "%d:%.*s|", raw[i], (int)len, raw + i + 8);
		i += 8 + len;
	}
	free(raw);
	return out;
}

static void test_all(void **state)
{
	int d = make_dir();
	char *s = drain(d, (pl_log_opts_t){.out = true, .err = true, .tail = -1});
	assert_string_equal(s, "1:one\n|2:two\n|1:thr|1:ee\n|1:four\n|");
	free(s);
	s = drain(d, (pl_log_opts_t){.out = false, .err = true, .tail = -1});
	assert_string_equal(s, "2:two\n|");
	free(s);
	close(d);
}

static void test_tail(void **state)
{
	int d = make_dir();
	char *s = drain(d, (pl_log_opts_t){.out = true, .err = true, .tail = 2});
	assert_string_equal(s, "1:ee\n|1:four\n|");
	free(s);
	s = drain(d, (pl_log_opts_t){.out = true, .err = false, .tail = 1});
	assert_string_equal(s, "1:four\n|");
	free(s);
	s = drain(d, (pl_log_opts_t){.out = true, .err = true, .tail = 0});
	assert_string_equal(s, "");
	free(s);
	s = drain(d, (pl_log_opts_t){.out = true, .err = true, .tail = 100});
	assert_string_equal(s, "1:one\n|2:two\n|1:thr|1:ee\n|1:four\n|");
	free(s);
	close(d);
}

static void test_since_until_timestamps(void **state)
{
	int d = make_dir();
	int64_t base = 1767225600LL * 1000000000LL; /* 2026-01-01T00:00:00Z */
	char *s = drain(d, (pl_log_opts_t){.out = true,
					   .err = true,
					   .tail = -1,
					   .since_ns = base + 2000000000LL,
					   .until_ns = base + 3000000000LL});
	assert_string_equal(s, "2:two\n|1:thr|");
	free(s);
	s = drain(d, (pl_log_opts_t){.out = true, .err = true, .tail = 1, .timestamps = true});
	assert_string_equal(s, "1:2026-01-01T00:00:04.000000000Z four\n|");
	free(s);
	close(d);
}

static void test_parse_record(void **state)
{
	int64_t ts;
	int stream;
	bool partial;
	const char *c;
	size_t n;
	const char *ok = "2026-01-01T00:00:01.5Z stderr P x y";
	assert_int_equal(pl_log_parse_record(ok, strlen(ok), &ts, &stream, &partial, &c, &n), 0);
	assert_int_equal(stream, 2);
	assert_true(partial);
	assert_int_equal(n, 3);
	const char *bad[] = {"", "x stdout F a", "2026-01-01T00:00:01Z stdin F a",
			     "2026-01-01T00:00:01Z stdout X a", "2026-01-01T00:00:01Z"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_true(pl_log_parse_record(bad[i], strlen(bad[i]), &ts, &stream, &partial, &c,
						&n) < 0);
}

/* A record longer than tether ever writes (a guest writing its log port directly) is
 * skipped whole, by the forward reader and by tail, and what follows it still reads. */
static void test_overlong_record_skipped(void **state)
{
	char tmpl[] = "/tmp/pl-logs-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	int d = open(tmpl, O_RDONLY | O_DIRECTORY);
	FILE *f = fdopen(openat(d, "container.log", O_WRONLY | O_CREAT, 0600), "w");
	assert_non_null(f);
	fputs("2026-01-01T00:00:01.000000000Z stdout F one\n", f);
	fputs("2026-01-01T00:00:02.000000000Z stdout F ", f);
	for (int i = 0; i < (1 << 20); i++) /* 1 MiB without a newline */
		fputc('x', f);
	fputs("\n2026-01-01T00:00:03.000000000Z stdout F ", f);
	for (int i = 0; i < 16 * 1024; i++) /* the longest line tether writes: kept */
		fputc('y', f);
	fputs("\n2026-01-01T00:00:04.000000000Z stdout F four\n", f);
	fclose(f);
	char want[17 * 1024];
	snprintf(want, sizeof(want), "1:one\n|1:%0*d\n|1:four\n|", 16 * 1024, 0);
	for (char *p = want + 9; *p == '0'; p++)
		*p = 'y';
	char *s = drain(d, (pl_log_opts_t){.out = true, .err = true, .tail = -1});
	assert_string_equal(s, want);
	free(s);
	s = drain(d, (pl_log_opts_t){.out = true, .err = true, .tail = 3});
	assert_string_equal(s, want);
	free(s);
	s = drain(d, (pl_log_opts_t){.out = true, .err = true, .tail = 1});
	assert_string_equal(s, "1:four\n|");
	free(s);
	close(d);
}

static void put(int d, const char *name, const char *text, bool append)
{
	int f = openat(d, name, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0600);
	assert_true(f >= 0);
	assert_int_equal(write(f, text, strlen(text)), (ssize_t)strlen(text));
	close(f);
}

static char *rec(int i)
{
	static char buf[8][96];
	char *b = buf[i % 8];
	snprintf(b, 96, "2026-01-01T00:00:%02d.000000000Z stdout F r%d\n", i, i);
	return b;
}

/* Rotated files (issue 13): container.log.2 (oldest), .1, container.log are one log. */
static void test_rotated_files(void **state)
{
	char tmpl[] = "/tmp/pl-logs-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	int d = open(tmpl, O_RDONLY | O_DIRECTORY);
	put(d, "container.log.2", rec(1), false);
	put(d, "container.log.2", rec(2), true);
	put(d, "container.log.1", rec(3), false);
	put(d, "container.log.1", rec(4), true);
	put(d, "container.log", rec(5), false);
	char *s = drain(d, (pl_log_opts_t){.out = true, .err = true, .tail = -1});
	assert_string_equal(s, "1:r1\n|1:r2\n|1:r3\n|1:r4\n|1:r5\n|");
	free(s);
	s = drain(d, (pl_log_opts_t){.out = true, .err = true, .tail = 3});
	assert_string_equal(s, "1:r3\n|1:r4\n|1:r5\n|");
	free(s);
	s = drain(d, (pl_log_opts_t){.out = true, .err = true, .tail = 1});
	assert_string_equal(s, "1:r5\n|");
	free(s);

	/* a follower at the end of container.log while it is rotated: what the writer still
	 * put in the old file comes first, then the new file once it has bytes */
	pl_log_opts_t o = {.out = true, .err = true, .tail = 0};
	pl_log_cursor_t *cur = pl_log_open(d, &o, NULL);
	char buf[256];
	assert_int_equal(pl_log_read(cur, buf, sizeof(buf)), 0);
	assert_int_equal(renameat(d, "container.log.1", d, "container.log.2"), 0);
	assert_int_equal(renameat(d, "container.log", d, "container.log.1"), 0);
	put(d, "container.log", "", false);
	assert_int_equal(pl_log_read(cur, buf, sizeof(buf)), 0); /* the new one is empty */
	put(d, "container.log.1", rec(6), true);		 /* the writer has not switched */
	put(d, "container.log", rec(7), true);			 /* now it has */
	size_t n = 0;
	ssize_t r;
	while ((r = pl_log_read(cur, buf + n, sizeof(buf) - n)) > 0)
		n += (size_t)r;
	assert_int_equal(n, 2 * (8 + 3));
	assert_memory_equal(buf + 8, "r6\n", 3);
	assert_memory_equal(buf + 11 + 8, "r7\n", 3);
	pl_log_close(cur);
	close(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_all),
	    cmocka_unit_test(test_tail),
	    cmocka_unit_test(test_since_until_timestamps),
	    cmocka_unit_test(test_parse_record),
	    cmocka_unit_test(test_overlong_record_skipped),
	    cmocka_unit_test(test_rotated_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
