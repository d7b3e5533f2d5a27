/* SPDX-License-Identifier: Apache-2.0 */
/* tether's replay ring (src/tether/replay.c) and flow-control arithmetic (flow.h), without a
 * daemon or a socket: frames go to a recording callback. Output is cut into frames as the
 * credit allows, coalesced per stream, bounded in memory (the oldest goes), and frames after
 * an ATTACH's since_seq come again whole with their numbers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "tether/flow.h"
#include "tether/replay.h"

#define MAX_SENT 256

typedef struct frame {
	unsigned stream;
	uint64_t seq;
	size_t len;
	char data[PL_FRAME_DATA_MAX];
} frame_t;

typedef struct link {
	frame_t f[MAX_SENT];
	size_t n;
	bool up; /* what send answers */
} link_t;

static bool record(void *ctx, unsigned stream, uint64_t seq, const void *data, size_t n)
{
	link_t *l = ctx;
	assert_true(l->n < MAX_SENT);
	assert_true(n > 0 && n <= PL_FRAME_DATA_MAX);
	frame_t *f = &l->f[l->n++];
	f->stream = stream;
	f->seq = seq;
	f->len = n;
	memcpy(f->data, data, n);
	return l->up;
}

typedef struct fixture {
	pl_replay_t ring;
	link_t link;
	uint64_t credit, seq;
} fixture_t;

static int setup(void **state)
{
	fixture_t *f = calloc(1, sizeof(*f));
	f->link.up = true;
	*state = f;
	return f ? 0 : -1;
}

static int teardown(void **state)
{
	fixture_t *f = *state;
	pl_replay_clear(&f->ring);
	free(f);
	return 0;
}

static void flush(fixture_t *f, uint64_t credit)
{
	f->credit += credit;
	pl_replay_flush(&f->ring, &f->credit, &f->seq, record, &f->link);
}

static void expect_frame(fixture_t *f, size_t i, unsigned stream, uint64_t seq, const char *data)
{
	assert_true(i < f->link.n);
	assert_int_equal(f->link.f[i].stream, stream);
	assert_int_equal(f->link.f[i].seq, seq);
	assert_int_equal(f->link.f[i].len, strlen(data));
	assert_memory_equal(f->link.f[i].data, data, strlen(data));
}

/* Nothing goes without credit; then exactly as much as the credit, in order. */
static void test_credit_cuts_frames(void **state)
{
	fixture_t *f = *state;
	pl_replay_append(&f->ring, 1, "hello world", 11);
	flush(f, 0);
	assert_int_equal(f->link.n, 0);
	assert_true(pl_replay_owes(&f->ring, f->seq));
	flush(f, 5);
	assert_int_equal(f->link.n, 1);
	expect_frame(f, 0, 1, 1, "hello");
	assert_int_equal(f->credit, 0);
	flush(f, 100);
	assert_int_equal(f->link.n, 2);
	expect_frame(f, 1, 1, 2, " world");
	assert_int_equal(f->credit, 94);
	assert_false(pl_replay_owes(&f->ring, f->seq));
	assert_int_equal(pl_replay_unsent(&f->ring), 0);
}

/* Consecutive output of one stream is one frame; another stream starts a new one. */
static void test_coalescing(void **state)
{
	fixture_t *f = *state;
	pl_replay_append(&f->ring, 1, "ab", 2);
	pl_replay_append(&f->ring, 1, "cd", 2);
	pl_replay_append(&f->ring, 2, "ef", 2);
	pl_replay_append(&f->ring, 1, "gh", 2);
	flush(f, 1000);
	assert_int_equal(f->link.n, 3);
	expect_frame(f, 0, 1, 1, "abcd");
	expect_frame(f, 1, 2, 2, "ef");
	expect_frame(f, 2, 1, 3, "gh");
}

/* No frame is larger than PL_FRAME_DATA_MAX, whatever the credit. */
static void test_frame_size_bound(void **state)
{
	fixture_t *f = *state;
	static char big[PL_FRAME_DATA_MAX + 100];
	memset(big, 'x', sizeof(big));
	pl_replay_append(&f->ring, 1, big, sizeof(big));
	flush(f, 1 << 20);
	assert_int_equal(f->link.n, 2);
	assert_int_equal(f->link.f[0].len, PL_FRAME_DATA_MAX);
	assert_int_equal(f->link.f[1].len, 100);
}

/* A reader that never takes anything costs at most PL_REPLAY_MAX; what is kept is the
 * newest output. */
static void test_memory_bound(void **state)
{
	fixture_t *f = *state;
	char chunk[4096];
	for (int i = 0; i < 1024; i++) { /* 4 MiB */
		memset(chunk, 'a' + i % 26, sizeof(chunk));
		pl_replay_append(&f->ring, 1, chunk, sizeof(chunk));
		assert_true(pl_replay_held(&f->ring) <= PL_REPLAY_MAX);
	}
	assert_true(pl_replay_held(&f->ring) > PL_REPLAY_MAX / 2);
	flush(f, (uint64_t)1 << 30);
	assert_true(f->link.n > 0);
	frame_t *last = &f->link.f[f->link.n - 1];
	assert_int_equal(last->data[last->len - 1], 'a' + 1023 % 26);
}

/* An ATTACH with since_seq gets every frame after it again, whole and with its number; with
 * 0 it gets only new output. */
static void test_resend_after_since(void **state)
{
	fixture_t *f = *state;
	pl_replay_append(&f->ring, 1, "one", 3);
	flush(f, 3);
	pl_replay_append(&f->ring, 2, "two", 3);
	flush(f, 3);
	pl_replay_append(&f->ring, 1, "three", 5);
	flush(f, 5);
	assert_int_equal(f->link.n, 3);
	assert_int_equal(f->seq, 3);

	f->link.n = 0;
	f->credit = 0;
	pl_replay_attach(&f->ring, 1, f->seq);
	assert_true(pl_replay_owes(&f->ring, f->seq));
	flush(f, 4); /* "two" fits, "three" (5) must come whole: it waits */
	assert_int_equal(f->link.n, 1);
	expect_frame(f, 0, 2, 2, "two");
	flush(f, 4);
	assert_int_equal(f->link.n, 2);
	expect_frame(f, 1, 1, 3, "three");
	pl_replay_append(&f->ring, 1, "four", 4);
	flush(f, 100);
	expect_frame(f, 2, 1, 4, "four"); /* new output numbers on */
	assert_false(pl_replay_owes(&f->ring, f->seq));

	/* since 0: what waits unsent is dropped, nothing old comes again */
	f->link.n = 0;
	pl_replay_append(&f->ring, 1, "stale", 5);
	pl_replay_attach(&f->ring, 0, f->seq);
	assert_false(pl_replay_owes(&f->ring, f->seq));
	flush(f, 100);
	assert_int_equal(f->link.n, 0);
}

/* A connection that fails stops the flush at once. */
static void test_link_down_stops(void **state)
{
	fixture_t *f = *state;
	pl_replay_append(&f->ring, 1, "ab", 2);
	pl_replay_append(&f->ring, 2, "cd", 2);
	f->link.up = false;
	flush(f, 100);
	assert_int_equal(f->link.n, 1);
}

static void test_credit_add_saturates(void **state)
{
	assert_int_equal(pl_credit_add(0, 10), 10);
	assert_int_equal(pl_credit_add(5, 10), 15);
	assert_int_equal(pl_credit_add(PL_CREDIT_MAX - 1, 10), PL_CREDIT_MAX);
	assert_int_equal(pl_credit_add(10, UINT64_MAX), PL_CREDIT_MAX);
}

/* The stdin window: its free space, granted in batches while bytes wait for the process. */
static void test_stdin_grant(void **state)
{
	assert_int_equal(pl_stdin_grant(0, 0), PL_STDIN_WINDOW);
	assert_int_equal(pl_stdin_grant(0, PL_STDIN_WINDOW), 0);
	assert_int_equal(pl_stdin_grant(PL_STDIN_WINDOW, 0), 0);
	/* less than a batch free while the process has not taken everything: wait */
	assert_int_equal(pl_stdin_grant(10, PL_STDIN_WINDOW - 100), 0);
	/* nothing waiting: even a little goes back at once */
	assert_int_equal(pl_stdin_grant(0, PL_STDIN_WINDOW - 100), 100);
	/* a whole batch free goes back even with bytes waiting */
	assert_int_equal(pl_stdin_grant(10, PL_STDIN_WINDOW - PL_STDIN_BATCH - 10), PL_STDIN_BATCH);
	/* never more than the window in flight and waiting */
	for (uint64_t p = 0; p <= PL_STDIN_WINDOW; p += 4099)
		for (uint64_t g = 0; g + p <= PL_STDIN_WINDOW; g += 65537)
			assert_true(p + g + pl_stdin_grant(p, g) <= PL_STDIN_WINDOW);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_credit_cuts_frames, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_coalescing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_frame_size_bound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_memory_bound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resend_after_since, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_link_down_stops, setup, teardown),
	    cmocka_unit_test(test_credit_add_saturates),
	    cmocka_unit_test(test_stdin_grant),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
