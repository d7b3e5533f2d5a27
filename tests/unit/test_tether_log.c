/* SPDX-License-Identifier: Apache-2.0 */
/* tether's log writer (src/tether/logwriter.c) on a pipe: CRI records, complete lines as F,
 * a line longer than the buffer in P pieces, the partial line at the end as P, and each
 * record's time as RFC 3339 with nine fraction digits. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tether/logwriter.h"

typedef struct fixture {
	int rfd, wfd;
	char line[PL_LOG_LINE_MAX];
	pl_logwriter_t w;
	char *got; /* everything read from the pipe so far */
	size_t len;
} fixture_t;

static int setup(void **state)
{
	fixture_t *f = calloc(1, sizeof(*f));
	int p[2];
	if (!f || pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
	f->rfd = p[0];
	f->wfd = p[1];
	f->w = (pl_logwriter_t){.fd = f->wfd, .stream = "stdout", .line = f->line};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture_t *f = *state;
	close(f->rfd);
	close(f->wfd);
	free(f->got);
	free(f);
	return 0;
}

/* Feeds text as one read would have. */
static void feed(fixture_t *f, const char *text, size_t n)
{
	size_t room;
	char *space = pl_logwriter_space(&f->w, &room);
	assert_true(n <= room);
	memcpy(space, text, n);
	pl_logwriter_commit(&f->w, n);
}

/* The records written so far, as "TAG content" lines (the time checked and cut off). */
static char *records(fixture_t *f)
{
	char buf[65536];
	ssize_t n;
	while ((n = read(f->rfd, buf, sizeof(buf))) > 0) {
		f->got = realloc(f->got, f->len + (size_t)n + 1);
		memcpy(f->got + f->len, buf, (size_t)n);
		f->len += (size_t)n;
		f->got[f->len] = 0;
	}
	regex_t re;
	assert_int_equal(
	    regcomp(&re,
		    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{9}Z "
		    "stdout [FP] ",
		    REG_EXTENDED),
	    0);
	char *out = calloc(1, f->len + 1);
	size_t o = 0;
	for (char *p = f->got; p && p < f->got + f->len;) {
		char *nl = memchr(p, '\n', (size_t)(f->got + f->len - p));
		assert_non_null(nl);
		*nl = 0;
		assert_int_equal(regexec(&re, p, 0, NULL, 0), 0);
		char *tag = strstr(p, " stdout ") + 8;
		size_t k = strlen(tag);
		memcpy(out + o, tag, k);
		o += k;
		out[o++] = '\n';
		p = nl + 1;
	}
	regfree(&re);
	free(f->got);
	f->got = NULL;
	f->len = 0;
	return out;
}

static void test_lines_and_partials(void **state)
{
	fixture_t *f = *state;
	feed(f, "one\ntw", 6);
	char *r = records(f);
	assert_string_equal(r, "F one\n");
	free(r);
	feed(f, "o\nthree\nfo", 10);
	r = records(f);
	assert_string_equal(r, "F two\nF three\n");
	free(r);
	pl_logwriter_flush(&f->w);
	r = records(f);
	assert_string_equal(r, "P fo\n");
	free(r);
	pl_logwriter_flush(&f->w); /* nothing left: no record */
	r = records(f);
	assert_string_equal(r, "");
	free(r);
}

static void test_empty_line(void **state)
{
	fixture_t *f = *state;
	feed(f, "\n\nx\n", 4);
	char *r = records(f);
	assert_string_equal(r, "F \nF \nF x\n");
	free(r);
}

/* A line longer than the buffer goes out in P pieces of the buffer's size, then its end F. */
static void test_long_line(void **state)
{
	fixture_t *f = *state;
	static char big[PL_LOG_LINE_MAX];
	memset(big, 'a', sizeof(big));
	feed(f, big, 100);
	feed(f, big, PL_LOG_LINE_MAX - 100); /* exactly full: one P record */
	feed(f, "end\n", 4);
	char *r = records(f);
	char *want = malloc(PL_LOG_LINE_MAX + 16);
	memcpy(want, "P ", 2);
	memcpy(want + 2, big, PL_LOG_LINE_MAX);
	strcpy(want + 2 + PL_LOG_LINE_MAX, "\nF end\n");
	assert_string_equal(r, want);
	free(want);
	free(r);
	size_t room;
	pl_logwriter_space(&f->w, &room);
	assert_int_equal(room, PL_LOG_LINE_MAX); /* nothing held */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_lines_and_partials, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_empty_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_long_line, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
