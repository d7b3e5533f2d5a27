/* SPDX-License-Identifier: Apache-2.0 */
/* Tether protocol framing: the wire layout both sides depend on, and a reader that survives
 * whatever a broken or hostile peer sends. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/frame.h"

/* xorshift64*: fixed seeds keep the garbage tests reproducible. */
static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static void feed_ok(pl_frame_reader_t *r, const void *data, size_t n)
{
	assert_int_equal(pl_frame_reader_feed(r, data, n), 0);
}

static size_t buffered(const pl_frame_reader_t *r)
{
	return r->len - r->off;
}

static void test_header_layout(void **state)
{
	pl_frame_hdr_t h = {.len = 0x01020304, .type = 0x0506, .flags = 0x0708, .chan = 0x090a0b0c};
	uint8_t b[PL_FRAME_HDR_LEN];
	pl_frame_hdr_encode(&h, b);
	/* Big-endian, in field order: a tether in another language must get exactly this. */
	static const uint8_t want[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
				       0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c};
	assert_memory_equal(b, want, sizeof(want));

	h.len = 7;
	pl_frame_hdr_encode(&h, b);
	pl_frame_hdr_t d;
	assert_int_equal(pl_frame_hdr_decode(b, &d), 0);
	assert_int_equal(d.len, 7);
	assert_int_equal(d.type, 0x0506);
	assert_int_equal(d.flags, 0x0708);
	assert_int_equal(d.chan, 0x090a0b0c);
}

static void test_roundtrip(void **state)
{
	const char *json = "{\"version\":1}";
	size_t n = 0;
	uint8_t *buf = pl_frame_encode(PL_MSG_HELLO, 3, json, strlen(json), &n);
	assert_non_null(buf);
	assert_int_equal(n, PL_FRAME_HDR_LEN + strlen(json));

	pl_frame_reader_t r;
	pl_frame_reader_init(&r);
	feed_ok(&r, buf, n);
	pl_frame_hdr_t h;
	const uint8_t *p;
	assert_int_equal(pl_frame_reader_next(&r, &h, &p), 1);
	assert_int_equal(h.type, PL_MSG_HELLO);
	assert_int_equal(h.chan, 3);
	assert_int_equal(h.flags, 0);
	assert_int_equal(h.len, strlen(json));
	assert_memory_equal(p, json, h.len);
	assert_int_equal(pl_frame_reader_next(&r, &h, &p), 0);
	pl_frame_reader_free(&r);
	free(buf);
}

static void test_oversize_rejected(void **state)
{
	uint8_t b[PL_FRAME_HDR_LEN];
	pl_frame_hdr_t h = {.len = PL_FRAME_MAX_PAYLOAD + 1, .type = PL_MSG_PING};
	pl_frame_hdr_encode(&h, b);
	pl_frame_hdr_t d;
	assert_int_equal(pl_frame_hdr_decode(b, &d), -EMSGSIZE);

	/* The reader refuses on the header alone: it must not wait for (or buffer) a payload
	 * it will never accept. */
	pl_frame_reader_t r;
	pl_frame_reader_init(&r);
	feed_ok(&r, b, sizeof(b));
	const uint8_t *p;
	assert_int_equal(pl_frame_reader_next(&r, &d, &p), -EMSGSIZE);
	assert_int_equal(pl_frame_reader_next(&r, &d, &p), -EMSGSIZE); /* and stays refused */
	pl_frame_reader_free(&r);

	/* Exactly the maximum is fine. */
	h.len = PL_FRAME_MAX_PAYLOAD;
	pl_frame_hdr_encode(&h, b);
	assert_int_equal(pl_frame_hdr_decode(b, &d), 0);

	size_t n;
	assert_null(pl_frame_encode(PL_MSG_PING, 0, b, PL_FRAME_MAX_PAYLOAD + 1, &n));
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(pl_frame_send(sv[0], PL_MSG_PING, 0, b, PL_FRAME_MAX_PAYLOAD + 1),
			 -EMSGSIZE);
	close(sv[0]);
	close(sv[1]);
}

static void test_type_zero_rejected(void **state)
{
	uint8_t b[PL_FRAME_HDR_LEN];
	pl_frame_hdr_t h = {.len = 0, .type = 0};
	pl_frame_hdr_encode(&h, b);
	pl_frame_hdr_t d;
	assert_int_equal(pl_frame_hdr_decode(b, &d), -EPROTO);

	pl_frame_reader_t r;
	pl_frame_reader_init(&r);
	feed_ok(&r, b, sizeof(b));
	const uint8_t *p;
	assert_int_equal(pl_frame_reader_next(&r, &d, &p), -EPROTO);
	pl_frame_reader_free(&r);

	/* Unknown but non-zero types decode: the receiver answers them with ERROR. */
	h.type = 0xffff;
	pl_frame_hdr_encode(&h, b);
	assert_int_equal(pl_frame_hdr_decode(b, &d), 0);
}

static void test_byte_by_byte(void **state)
{
	const char payload[] = "{\"signal\":15,\"group\":true}";
	size_t n;
	uint8_t *buf = pl_frame_encode(PL_MSG_SIGNAL, 0, payload, sizeof(payload) - 1, &n);
	assert_non_null(buf);

	pl_frame_reader_t r;
	pl_frame_reader_init(&r);
	pl_frame_hdr_t h;
	const uint8_t *p;
	feed_ok(&r, NULL, 0); /* an empty read is not an error */
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(pl_frame_reader_next(&r, &h, &p), 0);
		feed_ok(&r, buf + i, 1);
	}
	assert_int_equal(pl_frame_reader_next(&r, &h, &p), 1);
	assert_int_equal(h.type, PL_MSG_SIGNAL);
	assert_int_equal(h.len, sizeof(payload) - 1);
	assert_memory_equal(p, payload, h.len);
	assert_int_equal(pl_frame_reader_next(&r, &h, &p), 0);
	pl_frame_reader_free(&r);
	free(buf);
}

static void test_many_in_one_feed(void **state)
{
	/* Three frames back to back, one with an empty payload, delivered in a single read. */
	uint8_t all[256];
	size_t total = 0;
	const char *payloads[] = {"{\"a\":1}", "", "{\"pid\":42}"};
	const uint16_t types[] = {PL_MSG_PING, PL_MSG_PONG, PL_MSG_STARTED};
	for (int i = 0; i < 3; i++) {
		size_t n;
		uint8_t *f =
		    pl_frame_encode(types[i], (uint32_t)i, payloads[i], strlen(payloads[i]), &n);
		assert_non_null(f);
		memcpy(all + total, f, n);
		total += n;
		free(f);
	}
	pl_frame_reader_t r;
	pl_frame_reader_init(&r);
	feed_ok(&r, all, total);
	for (int i = 0; i < 3; i++) {
		pl_frame_hdr_t h;
		const uint8_t *p;
		assert_int_equal(pl_frame_reader_next(&r, &h, &p), 1);
		assert_int_equal(h.type, types[i]);
		assert_int_equal(h.chan, i);
		assert_int_equal(h.len, strlen(payloads[i]));
		assert_memory_equal(p, payloads[i], h.len);
	}
	pl_frame_hdr_t h;
	const uint8_t *p;
	assert_int_equal(pl_frame_reader_next(&r, &h, &p), 0);
	assert_int_equal(buffered(&r), 0);
	pl_frame_reader_free(&r);
}

/* Feeds `data` in random-sized chunks, taking frames after each feed as a real receiver
 * does, and checks the reader's promises: frames are well-formed, errors are final, and the
 * buffered bytes never exceed one header + max payload + the chunk just fed. */
static unsigned garbage_frames, garbage_errors;

static void feed_garbage(const uint8_t *data, size_t n)
{
	pl_frame_reader_t r;
	pl_frame_reader_init(&r);
	size_t off = 0;
	while (off < n) {
		size_t chunk = 1 + (size_t)(rng() % 4096);
		if (chunk > n - off)
			chunk = n - off;
		feed_ok(&r, data + off, chunk);
		off += chunk;
		assert_true(buffered(&r) <= PL_FRAME_HDR_LEN + PL_FRAME_MAX_PAYLOAD + chunk);
		pl_frame_hdr_t h;
		const uint8_t *p;
		int rc;
		while ((rc = pl_frame_reader_next(&r, &h, &p)) == 1) {
			garbage_frames++;
			assert_true(h.len <= PL_FRAME_MAX_PAYLOAD);
			assert_int_not_equal(h.type, 0);
			assert_true(p >= r.buf && p + h.len <= r.buf + r.len);
		}
		if (rc < 0) {
			assert_true(rc == -EMSGSIZE || rc == -EPROTO);
			garbage_errors++;
			break; /* a receiver closes the stream here */
		}
	}
	pl_frame_reader_free(&r);
}

/* Writes frames with random headers (lengths below max_len, types including 0) and random
 * payloads into data; returns the bytes used. */
static size_t random_frames(uint8_t *data, size_t cap, uint32_t max_len)
{
	size_t n = 0;
	for (;;) {
		pl_frame_hdr_t h = {.len = (uint32_t)(rng() % max_len),
				    .type = (uint16_t)(rng() % 12),
				    .chan = (uint32_t)(rng() % 3)};
		if (n + PL_FRAME_HDR_LEN + h.len > cap)
			return n;
		pl_frame_hdr_encode(&h, data + n);
		n += PL_FRAME_HDR_LEN;
		for (uint32_t i = 0; i < h.len; i++)
			data[n++] = (uint8_t)rng();
	}
}

static void test_garbage(void **state)
{
	enum { N = 1 << 16, BIG = 4 << 20 };
	uint8_t *data = malloc(BIG);
	assert_non_null(data);

	/* Pure noise: almost every header is oversize, so this mostly checks refusal. */
	rng_state = 0x9e3779b97f4a7c15ull;
	for (int iter = 0; iter < 200; iter++) {
		for (size_t i = 0; i < N; i++)
			data[i] = (uint8_t)rng();
		feed_garbage(data, N);
	}

	/* Plausible frames with flipped bits: exercises frames, partial frames and errors
	 * deep inside a stream. */
	rng_state = 0x2545f4914f6cdd1dull;
	for (int iter = 0; iter < 200; iter++) {
		size_t n = random_frames(data, N, 64);
		for (int flips = 0; flips < 4; flips++)
			data[rng() % n] ^= (uint8_t)(1u << (rng() % 8));
		feed_garbage(data, n);
	}

	/* Frames up to the maximum size: the buffering bound must hold while a large frame
	 * is still incomplete. */
	for (int iter = 0; iter < 4; iter++)
		feed_garbage(data, random_frames(data, BIG, PL_FRAME_MAX_PAYLOAD + 1));

	/* Otherwise the loops above proved nothing. */
	assert_true(garbage_frames > 1000);
	assert_true(garbage_errors > 100);
	free(data);
}

static void test_send_over_socketpair(void **state)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	/* The biggest legal frame exceeds the socket buffer, so the writer must run
	 * concurrently and the reader must assemble it from many fills. */
	uint8_t *big = malloc(PL_FRAME_MAX_PAYLOAD);
	assert_non_null(big);
	for (size_t i = 0; i < PL_FRAME_MAX_PAYLOAD; i++)
		big[i] = (uint8_t)(i * 31 + 7);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		int rc = pl_frame_send(sv[1], PL_MSG_PING, 0, "ping", 4);
		rc = rc ?: pl_frame_send(sv[1], PL_MSG_EXITED, 7, big, PL_FRAME_MAX_PAYLOAD);
		rc = rc ?: pl_frame_send(sv[1], PL_MSG_GO, 0, NULL, 0);
		_exit(rc == 0 ? 0 : 1);
	}
	close(sv[1]);

	pl_frame_reader_t r;
	pl_frame_reader_init(&r);
	int got = 0;
	long n;
	while ((n = pl_frame_reader_fill(&r, sv[0])) > 0) {
		pl_frame_hdr_t h;
		const uint8_t *p;
		int rc;
		while ((rc = pl_frame_reader_next(&r, &h, &p)) == 1) {
			switch (got++) {
			case 0:
				assert_int_equal(h.type, PL_MSG_PING);
				assert_int_equal(h.len, 4);
				assert_memory_equal(p, "ping", 4);
				break;
			case 1:
				assert_int_equal(h.type, PL_MSG_EXITED);
				assert_int_equal(h.chan, 7);
				assert_int_equal(h.len, PL_FRAME_MAX_PAYLOAD);
				assert_memory_equal(p, big, PL_FRAME_MAX_PAYLOAD);
				break;
			case 2:
				assert_int_equal(h.type, PL_MSG_GO);
				assert_int_equal(h.len, 0);
				break;
			default:
				fail_msg("unexpected extra frame");
			}
		}
		assert_int_equal(rc, 0);
	}
	assert_int_equal(n, 0); /* EOF once the writer is gone */
	assert_int_equal(got, 3);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* A non-blocking socket with nothing to read reports -EAGAIN, not EOF. */
	int sv2[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv2),
			 0);
	assert_int_equal(pl_frame_reader_fill(&r, sv2[0]), -EAGAIN);
	close(sv2[0]);
	close(sv2[1]);

	pl_frame_reader_free(&r);
	close(sv[0]);
	free(big);
}

/* A daemon holds a reader per container: once a big frame is taken, the next small one must
 * not leave the reader holding the big buffer (1000 idle containers held 128 MiB). */
static void test_idle_reader_is_small(void **state)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pl_frame_reader_t r;
	pl_frame_reader_init(&r);
	size_t big = 200000, n = 0;
	uint8_t *payload = calloc(1, big);
	uint8_t *frame = pl_frame_encode(PL_MSG_DATA, 0, payload, big, &n);
	assert_non_null(frame);
	pid_t pid = fork();
	if (pid == 0) {
		ssize_t w = 0;
		for (size_t off = 0; off < n && w >= 0; off += (size_t)w)
			w = write(sv[1], frame + off, n - off);
		const char *small = "{}";
		size_t sn = 0;
		uint8_t *s2 = pl_frame_encode(PL_MSG_HELLO, 0, small, 2, &sn);
		_exit(write(sv[1], s2, sn) == (ssize_t)sn ? 0 : 1);
	}
	close(sv[1]);
	pl_frame_hdr_t h;
	const uint8_t *p;
	int got = 0;
	while (got < 2) {
		int rc;
		while ((rc = pl_frame_reader_next(&r, &h, &p)) == 1) {
			if (got++ == 0)
				assert_int_equal(h.len, big);
			else
				assert_int_equal(h.type, PL_MSG_HELLO);
		}
		assert_int_equal(rc, 0);
		if (got < 2)
			assert_true(pl_frame_reader_fill(&r, sv[0]) > 0);
	}
	assert_int_equal(buffered(&r), 0);
	/* a small frame after the drain: back to at most a page */
	size_t sn = 0;
	uint8_t *s3 = pl_frame_encode(PL_MSG_HELLO, 0, "{}", 2, &sn);
	int pp[2];
	assert_int_equal(pipe(pp), 0);
	assert_int_equal(write(pp[1], s3, sn), (ssize_t)sn);
	assert_true(pl_frame_reader_fill(&r, pp[0]) > 0);
	assert_true(r.cap <= 4096);
	assert_int_equal(pl_frame_reader_next(&r, &h, &p), 1);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
	close(pp[0]);
	close(pp[1]);
	close(sv[0]);
	free(s3);
	free(frame);
	free(payload);
	pl_frame_reader_free(&r);
}

/* SECCOMP payloads: whole 8-byte instructions, 1 ..= 4096 of them (BPF_MAXINSNS) */
static void test_seccomp_check(void **state)
{
	(void)state;
	assert_int_equal(pl_frame_seccomp_check(0), -EINVAL);
	assert_int_equal(pl_frame_seccomp_check(7), -EINVAL);
	assert_int_equal(pl_frame_seccomp_check(8), 1);
	assert_int_equal(pl_frame_seccomp_check(13), -EINVAL);
	assert_int_equal(pl_frame_seccomp_check(8 * 4096), 4096);
	assert_int_equal(pl_frame_seccomp_check(8 * 4096 + 8), -EINVAL);
	assert_int_equal(pl_frame_seccomp_check(PL_FRAME_MAX_PAYLOAD), -EINVAL);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_layout),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_oversize_rejected),
		cmocka_unit_test(test_type_zero_rejected),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_many_in_one_feed),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_idle_reader_is_small),
		cmocka_unit_test(test_send_over_socketpair),
		cmocka_unit_test(test_seccomp_check),
	};
	/* clang-format on */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
