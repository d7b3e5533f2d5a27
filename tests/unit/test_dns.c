/* SPDX-License-Identifier: Apache-2.0 */
/* The per-scope DNS responder: the message parser and builders on hand-made and hostile
 * bytes, then the server over real UDP sockets on loopback, driven by the real loop, with
 * fake upstream nameservers the test runs on other loopback addresses. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "portlayer/network/dns.h"

/* ---- message functions ---- */

static size_t query(uint8_t *buf, size_t cap, uint16_t id, const char *name, uint16_t type)
{
	ssize_t n = pl_dns_build_query(id, name, type, buf, cap);
	assert_true(n > 0);
	return (size_t)n;
}

static void test_parse_good_query(void **state)
{
	uint8_t b[512];
	size_t n = query(b, sizeof(b), 0xbeef, "Web.My-Scope.", PL_DNS_TYPE_A);
	pl_dns_msg_t m;
	assert_int_equal(pl_dns_parse_query(b, n, &m), 0);
	assert_int_equal(m.id, 0xbeef);
	assert_int_equal(m.flags, PL_DNS_F_RD);
	assert_int_equal(m.qdcount, 1);
	assert_true(m.has_question);
	assert_string_equal(m.qname, "web.my-scope");
	assert_true(m.qname_plain);
	assert_int_equal(m.qtype, PL_DNS_TYPE_A);
	assert_int_equal(m.qclass, PL_DNS_CLASS_IN);
	assert_int_equal(m.question_end, n);
	/* The wire form keeps the case as sent. */
	static const uint8_t wire[] = "\3Web\10My-Scope";
	assert_int_equal(m.qname_wire_len, sizeof(wire));
	assert_memory_equal(m.qname_wire, wire, sizeof(wire));

	n = query(b, sizeof(b), 1, ".", PL_DNS_TYPE_A);
	assert_int_equal(pl_dns_parse_query(b, n, &m), 0);
	assert_string_equal(m.qname, "");
}

static void test_reply_roundtrip(void **state)
{
	uint8_t b[512], r[512];
	size_t n = query(b, sizeof(b), 0x1234, "db", PL_DNS_TYPE_A);
	pl_dns_msg_t q, a;
	assert_int_equal(pl_dns_parse_query(b, n, &q), 0);
	struct in_addr addrs[2];
	inet_pton(AF_INET, "10.1.0.5", &addrs[0]);
	inet_pton(AF_INET, "10.1.0.6", &addrs[1]);
	ssize_t rn = pl_dns_build_reply(&q, PL_DNS_RC_NOERROR, true, addrs, 2, 600, r, sizeof(r));
	assert_true(rn > 0);
	assert_int_equal(pl_dns_parse(r, (size_t)rn, &a), 0);
	assert_int_equal(a.id, 0x1234);
	assert_int_equal(a.flags,
			 PL_DNS_F_QR | PL_DNS_F_AA | PL_DNS_F_RD | PL_DNS_F_RA | PL_DNS_RC_NOERROR);
	assert_int_equal(a.ancount, 2);
	assert_string_equal(a.qname, "db");
	struct in_addr got[4];
	uint32_t ttl = 0;
	assert_int_equal(pl_dns_parse_a_answers(r, (size_t)rn, &a, got, 4, &ttl), 2);
	assert_int_equal(got[0].s_addr, addrs[0].s_addr);
	assert_int_equal(got[1].s_addr, addrs[1].s_addr);
	assert_int_equal(ttl, 600);

	/* RD clear stays clear; an opcode is copied; no AA for an error. */
	b[2] = 0; /* flags high byte: RD off */
	assert_int_equal(pl_dns_parse_query(b, n, &q), 0);
	rn = pl_dns_build_reply(&q, PL_DNS_RC_SERVFAIL, false, NULL, 0, 0, r, sizeof(r));
	assert_int_equal(pl_dns_parse(r, (size_t)rn, &a), 0);
	assert_int_equal(a.flags, PL_DNS_F_QR | PL_DNS_F_RA | PL_DNS_RC_SERVFAIL);
	assert_int_equal(a.ancount, 0);
}

static void test_reply_truncates(void **state)
{
	uint8_t b[512], r[512];
	size_t n = query(b, sizeof(b), 7, "many", PL_DNS_TYPE_A);
	pl_dns_msg_t q, a;
	assert_int_equal(pl_dns_parse_query(b, n, &q), 0);
	struct in_addr addrs[40];
	for (int i = 0; i < 40; i++)
		addrs[i].s_addr = htonl(0x0a000001 + (uint32_t)i);
	ssize_t rn = pl_dns_build_reply(&q, 0, true, addrs, 40, 600, r, sizeof(r));
	assert_true(rn > 0 && rn <= 512);
	assert_int_equal(pl_dns_parse(r, (size_t)rn, &a), 0);
	assert_true(a.flags & PL_DNS_F_TC);
	/* 12 header + 10 question (\4many\0 + 4), 16 per record. */
	assert_int_equal(a.ancount, (512 - 12 - 10) / 16);
	struct in_addr got[40];
	assert_int_equal(pl_dns_parse_a_answers(r, (size_t)rn, &a, got, 40, NULL), a.ancount);
	assert_int_equal(got[a.ancount - 1].s_addr, addrs[a.ancount - 1].s_addr);
	/* Not even the header fits: refused, not overrun. */
	assert_int_equal(pl_dns_build_reply(&q, 0, true, addrs, 1, 600, r, 12), -1);
}

static void test_truncated_packets(void **state)
{
	uint8_t b[512];
	size_t n = query(b, sizeof(b), 9, "a.example.org", PL_DNS_TYPE_A);
	pl_dns_msg_t m;
	for (size_t len = 0; len < n; len++) {
		/* An exact-size copy so ASan sees any read past the end. */
		uint8_t *c = malloc(len ? len : 1);
		memcpy(c, b, len);
		int r = pl_dns_parse_query(c, len, &m);
		if (len < PL_DNS_HDR_LEN) {
			assert_int_equal(r, -1);
		} else {
			assert_int_equal(r, PL_DNS_RC_FORMERR);
			assert_int_equal(m.id, 9);
			assert_false(m.has_question);
		}
		free(c);
	}
	assert_int_equal(pl_dns_parse_query(NULL, 0, &m), -1);
}

/* A header with qdcount 1 and ancount an, then raw bytes. */
static size_t raw(uint8_t *b, uint16_t an, const void *body, size_t len)
{
	static const uint8_t hdr[] = {0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
	memcpy(b, hdr, sizeof(hdr));
	b[7] = (uint8_t)an;
	memcpy(b + sizeof(hdr), body, len);
	return sizeof(hdr) + len;
}

static void test_compression(void **state)
{
	uint8_t b[512];
	pl_dns_msg_t m;
	struct in_addr got[2];
	/* Question "x", then an A record whose owner is a pointer to it: followed. */
	static const uint8_t ok[] = {1, 'x', 0, 0, 1,  0, 1, 0xc0, 12, 0, 1, 0,
				     1, 0,   0, 0, 60, 0, 4, 1,	   2,  3, 4};
	size_t n = raw(b, 1, ok, sizeof(ok));
	assert_int_equal(pl_dns_parse(b, n, &m), 0);
	assert_int_equal(pl_dns_parse_a_answers(b, n, &m, got, 2, NULL), 1);
	assert_int_equal(got[0].s_addr, htonl(0x01020304));

	/* A label, then a pointer back to it ("y.y.y..." forever): a loop. */
	static const uint8_t loop2[] = {1, 'x', 0, 0, 1, 0,  1, 1, 'y', 0xc0, 19, 0, 1,
					0, 1,	0, 0, 0, 60, 0, 4, 1,	2,    3,  4};
	n = raw(b, 1, loop2, sizeof(loop2));
	assert_int_equal(pl_dns_parse(b, n, &m), 0);
	assert_int_equal(pl_dns_parse_a_answers(b, n, &m, got, 2, NULL), -1);

	/* A pointer to itself. */
	static const uint8_t self[] = {1, 'x', 0, 0, 1,	 0, 1, 0xc0, 19, 0, 1, 0,
				       1, 0,   0, 0, 60, 0, 4, 1,    2,	 3, 4};
	n = raw(b, 1, self, sizeof(self));
	assert_int_equal(pl_dns_parse(b, n, &m), 0);
	assert_int_equal(pl_dns_parse_a_answers(b, n, &m, got, 2, NULL), -1);

	/* A pointer forward, to a well-formed name after the record: refused all the same, as
	 * only backward pointers guarantee progress. */
	static const uint8_t fwd[] = {1, 'x', 0, 0,  1, 0, 1, 0xc0, 35, 0, 1, 0,   1,
				      0, 0,   0, 60, 0, 4, 1, 2,    3,	4, 1, 'z', 0};
	n = raw(b, 1, fwd, sizeof(fwd));
	assert_int_equal(pl_dns_parse(b, n, &m), 0);
	assert_int_equal(pl_dns_parse_a_answers(b, n, &m, got, 2, NULL), -1);

	/* The question's own name cannot be compressed: only the header lies before it. */
	static const uint8_t qptr[] = {0xc0, 0, 0, 1, 0, 1};
	n = raw(b, 0, qptr, sizeof(qptr));
	assert_int_equal(pl_dns_parse_query(b, n, &m), PL_DNS_RC_FORMERR);
	static const uint8_t qself[] = {0xc0, 12, 0, 1, 0, 1};
	n = raw(b, 0, qself, sizeof(qself));
	assert_int_equal(pl_dns_parse_query(b, n, &m), PL_DNS_RC_FORMERR);
	/* A pointer cut in half. */
	static const uint8_t half[] = {1, 'x', 0xc0};
	n = raw(b, 0, half, sizeof(half));
	assert_int_equal(pl_dns_parse_query(b, n, &m), PL_DNS_RC_FORMERR);
	/* Extended (0x40) and reserved (0x80) label types. */
	static const uint8_t ext[] = {0x41, 'x', 0, 0, 1, 0, 1};
	n = raw(b, 0, ext, sizeof(ext));
	assert_int_equal(pl_dns_parse_query(b, n, &m), PL_DNS_RC_FORMERR);
	static const uint8_t res[] = {0x81, 'x', 0, 0, 1, 0, 1};
	n = raw(b, 0, res, sizeof(res));
	assert_int_equal(pl_dns_parse_query(b, n, &m), PL_DNS_RC_FORMERR);
}

/* A question name made of labels of the given lengths. */
static size_t labels(uint8_t *b, const int *lens, int k)
{
	uint8_t body[1024];
	size_t p = 0;
	for (int i = 0; i < k; i++) {
		body[p++] = (uint8_t)lens[i];
		memset(body + p, 'a' + i % 26, (size_t)lens[i]);
		p += (size_t)lens[i];
	}
	static const uint8_t tail[] = {0, 0, 1, 0, 1};
	memcpy(body + p, tail, sizeof(tail));
	return raw(b, 0, body, p + sizeof(tail));
}

static void test_label_and_name_limits(void **state)
{
	uint8_t b[2048];
	pl_dns_msg_t m;
	int l63[] = {63}, l64[] = {64};
	assert_int_equal(pl_dns_parse_query(b, labels(b, l63, 1), &m), 0);
	assert_int_equal(strlen(m.qname), 63);
	assert_int_equal(pl_dns_parse_query(b, labels(b, l64, 1), &m), PL_DNS_RC_FORMERR);

	/* 63+63+63+61 labels: 4*1 + 250 + root = 255 octets, the maximum; text 253. */
	int max[] = {63, 63, 63, 61};
	assert_int_equal(pl_dns_parse_query(b, labels(b, max, 4), &m), 0);
	assert_int_equal(m.qname_wire_len, 255);
	assert_int_equal(strlen(m.qname), 253);
	int over[] = {63, 63, 63, 62};
	assert_int_equal(pl_dns_parse_query(b, labels(b, over, 4), &m), PL_DNS_RC_FORMERR);
	/* Many one-octet labels: 127 * 2 + 1 = 255 fits, 128 does not. */
	int ones[128];
	for (int i = 0; i < 128; i++)
		ones[i] = 1;
	assert_int_equal(pl_dns_parse_query(b, labels(b, ones, 127), &m), 0);
	assert_int_equal(pl_dns_parse_query(b, labels(b, ones, 128), &m), PL_DNS_RC_FORMERR);

	/* The encoder has the same limits. */
	uint8_t w[300];
	char name[300];
	memset(name, 'a', 64);
	name[64] = '\0';
	assert_int_equal(pl_dns_encode_name(name, w, sizeof(w)), -1);
	name[63] = '\0';
	assert_int_equal(pl_dns_encode_name(name, w, sizeof(w)), 65);
	assert_int_equal(pl_dns_encode_name("a..b", w, sizeof(w)), -1);
	assert_int_equal(pl_dns_encode_name(".a", w, sizeof(w)), -1);
	assert_int_equal(pl_dns_encode_name("a..", w, sizeof(w)), -1);
	assert_int_equal(pl_dns_encode_name("a.", w, sizeof(w)), 3);
	assert_int_equal(pl_dns_encode_name("", w, sizeof(w)), 1);
	assert_int_equal(pl_dns_encode_name("abc", w, 4), -1); /* no room for the root */
}

static void test_query_policy(void **state)
{
	uint8_t b[512];
	pl_dns_msg_t m;
	size_t n = query(b, sizeof(b), 5, "x", PL_DNS_TYPE_A);
	b[2] |= 0x80; /* QR: a response is never answered */
	assert_int_equal(pl_dns_parse_query(b, n, &m), -1);
	b[2] = 0x01 | (2 << 3); /* opcode STATUS */
	assert_int_equal(pl_dns_parse_query(b, n, &m), PL_DNS_RC_NOTIMP);
	b[2] = 0x01 | (4 << 3); /* NOTIFY, even without a question */
	assert_int_equal(pl_dns_parse_query(b, PL_DNS_HDR_LEN, &m), PL_DNS_RC_NOTIMP);
	b[2] = 0x01;
	b[5] = 2; /* two questions */
	assert_int_equal(pl_dns_parse_query(b, n, &m), PL_DNS_RC_FORMERR);
	assert_true(m.has_question); /* the first one is echoed */
	b[5] = 0;
	assert_int_equal(pl_dns_parse_query(b, n, &m), PL_DNS_RC_FORMERR);
	/* FORMERR without a readable question echoes none. */
	uint8_t r[512];
	ssize_t rn = pl_dns_build_reply(&m, PL_DNS_RC_FORMERR, false, NULL, 0, 0, r, sizeof(r));
	assert_int_equal(rn, PL_DNS_HDR_LEN);
	assert_int_equal(r[3] & 0xf, PL_DNS_RC_FORMERR);
	assert_int_equal(r[5], 0);

	/* A label holding a dot or a control byte is not a name the lookup may see. */
	static const uint8_t dotted[] = {3, 'a', '.', 'b', 0, 0, 1, 0, 1};
	n = raw(b, 0, dotted, sizeof(dotted));
	assert_int_equal(pl_dns_parse_query(b, n, &m), 0);
	assert_false(m.qname_plain);
	static const uint8_t ctl[] = {2, 'a', 0, 0, 0, 1, 0, 1};
	n = raw(b, 0, ctl, sizeof(ctl));
	assert_int_equal(pl_dns_parse_query(b, n, &m), 0);
	assert_false(m.qname_plain);
}

static void test_reverse_and_resolv_conf(void **state)
{
	struct in_addr a;
	assert_int_equal(pl_dns_parse_reverse("5.0.17.172.in-addr.arpa", &a), 0);
	assert_int_equal(a.s_addr, htonl(0xac110005));
	assert_int_equal(pl_dns_parse_reverse("5.0.17.in-addr.arpa", &a), -1);
	assert_int_equal(pl_dns_parse_reverse("5.0.17.256.in-addr.arpa", &a), -1);
	assert_int_equal(pl_dns_parse_reverse("05.0.17.1.in-addr.arpa", &a), -1);
	assert_int_equal(pl_dns_parse_reverse("1.2.3.4.5.in-addr.arpa", &a), -1);
	assert_int_equal(pl_dns_parse_reverse("in-addr.arpa", &a), -1);
	assert_int_equal(pl_dns_parse_reverse("1.2.3.4.ip6.arpa", &a), -1);

	struct in_addr ns[3];
	const char *conf = "# generated\n"
			   "search example.org\n"
			   "nameserver 192.0.2.53 # primary\n"
			   "  nameserver\t2001:db8::1\n"
			   "nameserver 192.0.2.54\r\n"
			   "nameserver300.1.1.1\n"
			   "nameserver 192.0.2.55\n"
			   "nameserver 192.0.2.56\n";
	assert_int_equal(pl_dns_parse_resolv_conf(conf, ns, 3), 3);
	assert_int_equal(ns[0].s_addr, htonl(0xc0000235));
	assert_int_equal(ns[1].s_addr, htonl(0xc0000236));
	assert_int_equal(ns[2].s_addr, htonl(0xc0000237));
	assert_int_equal(pl_dns_parse_resolv_conf("", ns, 3), 0);
	assert_int_equal(pl_dns_parse_resolv_conf("nameserver", ns, 3), 0);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

/* Mutations of a real reply through every parser: the fuzz target does this at length; here
 * a fixed seed keeps a cheap version in every test run. */
static void test_garbage(void **state)
{
	uint8_t good[512];
	size_t n = query(good, sizeof(good), 3, "svc.scope", PL_DNS_TYPE_A);
	pl_dns_msg_t q, m;
	assert_int_equal(pl_dns_parse_query(good, n, &q), 0);
	struct in_addr one = {htonl(0x0a000002)}, got[4] = {{0}};
	ssize_t rn = pl_dns_build_reply(&q, 0, true, &one, 1, 600, good, sizeof(good));
	for (int i = 0; i < 200000; i++) {
		size_t len = (size_t)(rng() % ((size_t)rn + 8));
		uint8_t *b = malloc(len ? len : 1);
		for (size_t j = 0; j < len; j++)
			b[j] = j < (size_t)rn ? good[j] : (uint8_t)rng();
		for (int k = (int)(rng() % 4); k >= 0 && len; k--)
			b[rng() % len] = (uint8_t)rng();
		if (pl_dns_parse(b, len, &m) == 0) {
			assert_true(m.question_end <= len);
			assert_true(strlen(m.qname) <= PL_DNS_MAX_NAME);
			pl_dns_parse_a_answers(b, len, &m, got, 4, NULL);
			uint8_t r[512];
			pl_dns_build_reply(&m, 0, true, got, 4, 1, r, sizeof(r));
		}
		pl_dns_parse_query(b, len, &m);
		free(b);
	}
}

/* ---- the server over real sockets ---- */

#define DEADLINE_MS 5000

typedef struct upstream {
	int fd;
	struct sockaddr_in addr;
	pl_watch_t *w;
	enum { UP_ANSWER, UP_SILENT, UP_TRUNCATED, UP_SPOOF_FIRST } mode;
	int seen;
	uint8_t last[512];
	size_t last_len;
	int spoof_fd;
	/* The same nameserver over TCP. */
	int lfd;
	pl_watch_t *lw;
	int tcp_seen, ntcp;
	int tcp_fd[64];
	pl_watch_t *tcp_w[64];
} upstream_t;

typedef struct fixture {
	pl_loop_t *loop;
	pl_dns_t *dns;
	char resolv[64];
	upstream_t up[2];
	int client;
	struct sockaddr_in server;
	/* replies collected until `want` arrived or the deadline passed */
	int want, got;
	uint8_t replies[8][2048];
	size_t reply_len[8];
	pl_watch_t *cw;
	int tcp_client;
	pl_watch_t *tw;
	uint8_t tbuf[8192];
	size_t tlen;
	bool tcp_closed;
	pl_timer_t *deadline;
	bool timed_out;
	int lookups;
} fixture_t;

static int lookup(void *ctx, const char *name, struct in_addr *out, int max)
{
	fixture_t *f = ctx;
	f->lookups++;
	if (strcmp(name, "web") == 0 && max >= 2) {
		inet_pton(AF_INET, "10.88.0.2", &out[0]);
		inet_pton(AF_INET, "10.88.0.3", &out[1]);
		return 2;
	}
	if (strcmp(name, "many") == 0) {
		for (int i = 0; i < max; i++)
			out[i].s_addr = htonl(0x0a580100 + (uint32_t)i);
		return max;
	}
	return 0;
}

static int reverse(void *ctx, struct in_addr addr, char *name, size_t cap)
{
	if (addr.s_addr != htonl(0x0a580002))
		return 0;
	snprintf(name, cap, "web.scope");
	return 1;
}

static int udp_socket(const char *ip, uint16_t port, struct sockaddr_in *bound)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, ip, &sa.sin_addr);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -errno;
	}
	socklen_t l = sizeof(*bound);
	assert_int_equal(getsockname(fd, (struct sockaddr *)bound, &l), 0);
	return fd;
}

static void on_upstream_query(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	upstream_t *u = data;
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	uint8_t b[512];
	ssize_t n = recvfrom(fd, b, sizeof(b), 0, (struct sockaddr *)&from, &fl);
	if (n <= 0)
		return;
	u->seen++;
	memcpy(u->last, b, (size_t)n);
	u->last_len = (size_t)n;
	if (u->mode == UP_SILENT)
		return;
	pl_dns_msg_t q;
	assert_int_equal(pl_dns_parse_query(b, (size_t)n, &q), 0);
	uint8_t r[512];
	struct in_addr a;
	if (u->mode == UP_SPOOF_FIRST) {
		/* The right id and question, but from another port: must be ignored. */
		inet_pton(AF_INET, "10.6.6.6", &a);
		ssize_t rn = pl_dns_build_reply(&q, 0, false, &a, 1, 30, r, sizeof(r));
		assert_true(sendto(u->spoof_fd, r, (size_t)rn, 0, (struct sockaddr *)&from,
				   sizeof(from)) == rn);
		/* A wrong id from the right address: ignored too. */
		q.id ^= 0x5555;
		rn = pl_dns_build_reply(&q, 0, false, &a, 1, 30, r, sizeof(r));
		assert_true(sendto(fd, r, (size_t)rn, 0, (struct sockaddr *)&from, sizeof(from)) ==
			    rn);
		q.id ^= 0x5555;
	}
	inet_pton(AF_INET, "192.0.2.7", &a);
	ssize_t rn = pl_dns_build_reply(&q, 0, false, &a, 1, 30, r, sizeof(r));
	if (u->mode == UP_TRUNCATED)
		r[2] |= PL_DNS_F_TC >> 8;
	assert_true(sendto(fd, r, (size_t)rn, 0, (struct sockaddr *)&from, sizeof(from)) == rn);
}

static int tcp_listener(const char *ip, uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, ip, &sa.sin_addr);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* The fake nameserver over TCP: one framed query in, one framed answer out (the responder
 * writes each query whole, so blocking reads of the frame are fine here). */
static void on_upstream_tcp_query(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	upstream_t *u = data;
	uint8_t l[2], b[512];
	ssize_t n = recv(fd, l, 2, MSG_WAITALL);
	size_t len = n == 2 ? (size_t)(l[0] << 8 | l[1]) : 0;
	if (n != 2 || len > sizeof(b) || recv(fd, b, len, MSG_WAITALL) != (ssize_t)len) {
		for (int i = 0; i < u->ntcp; i++)
			if (u->tcp_fd[i] == fd)
				u->tcp_w[i] = pl_loop_unwatch(loop, u->tcp_w[i]);
		return;
	}
	u->tcp_seen++;
	if (u->mode == UP_SILENT)
		return;
	pl_dns_msg_t q;
	assert_int_equal(pl_dns_parse_query(b, len, &q), 0);
	uint8_t r[2 + 512];
	struct in_addr a;
	inet_pton(AF_INET, "192.0.2.8", &a);
	ssize_t rn = pl_dns_build_reply(&q, 0, false, &a, 1, 30, r + 2, sizeof(r) - 2);
	r[0] = 0;
	r[1] = (uint8_t)rn;
	assert_int_equal(send(fd, r, (size_t)rn + 2, MSG_NOSIGNAL), rn + 2);
}

static void on_upstream_tcp_accept(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	upstream_t *u = data;
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return;
	if (u->ntcp == (int)PL_ARRAY_SIZE(u->tcp_fd)) { /* only the garbage test gets here */
		close(c);
		return;
	}
	u->tcp_fd[u->ntcp] = c;
	u->tcp_w[u->ntcp] = pl_loop_watch(loop, c, EPOLLIN, on_upstream_tcp_query, u, NULL);
	u->ntcp++;
}

static void on_reply(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	fixture_t *f = data;
	for (;;) {
		uint8_t b[1024];
		ssize_t n = recv(fd, b, sizeof(b), 0);
		if (n < 0)
			return;
		if (f->got < (int)PL_ARRAY_SIZE(f->replies)) {
			memcpy(f->replies[f->got], b, (size_t)n);
			f->reply_len[f->got] = (size_t)n;
		}
		if (++f->got >= f->want)
			pl_loop_quit(loop);
	}
}

static void on_tcp_reply(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	fixture_t *f = data;
	ssize_t n = recv(fd, f->tbuf + f->tlen, sizeof(f->tbuf) - f->tlen, MSG_DONTWAIT);
	if (n <= 0) {
		f->tw = pl_loop_unwatch(loop, f->tw);	       /* closed: what arrived is all */
		f->tcp_closed = n == 0 || errno == ECONNRESET; /* reset: it had unread data */
		pl_loop_quit(loop);
		return;
	}
	f->tlen += (size_t)n;
	for (;;) {
		if (f->tlen < 2)
			return;
		size_t len = (size_t)(f->tbuf[0] << 8 | f->tbuf[1]);
		if (f->tlen < 2 + len)
			return;
		assert_true(len <= sizeof(f->replies[0]));
		if (f->got < (int)PL_ARRAY_SIZE(f->replies)) {
			memcpy(f->replies[f->got], f->tbuf + 2, len);
			f->reply_len[f->got] = len;
		}
		memmove(f->tbuf, f->tbuf + 2 + len, f->tlen - 2 - len);
		f->tlen -= 2 + len;
		if (++f->got >= f->want)
			pl_loop_quit(loop);
	}
}

static void on_deadline(pl_loop_t *loop, void *data)
{
	fixture_t *f = data;
	f->deadline = NULL;
	f->timed_out = true;
	pl_loop_quit(loop);
}

/* Two fake upstreams on 127.0.0.2 and 127.0.0.3, UDP and TCP, the same port (the server's
 * upstream port is one for all), listed in that order in a temporary resolv.conf. */
static void start_upstreams(fixture_t *f)
{
	bool ok = false;
	for (int attempt = 0; attempt < 50 && !ok; attempt++) {
		f->up[0].fd = udp_socket("127.0.0.2", 0, &f->up[0].addr);
		assert_true(f->up[0].fd >= 0);
		uint16_t port = ntohs(f->up[0].addr.sin_port);
		f->up[1].fd = udp_socket("127.0.0.3", port, &f->up[1].addr);
		f->up[0].lfd = tcp_listener("127.0.0.2", port);
		f->up[1].lfd = tcp_listener("127.0.0.3", port);
		ok = f->up[1].fd >= 0 && f->up[0].lfd >= 0 && f->up[1].lfd >= 0;
		if (!ok) {
			for (int i = 0; i < 2; i++) {
				if (f->up[i].fd >= 0)
					close(f->up[i].fd);
				if (f->up[i].lfd >= 0)
					close(f->up[i].lfd);
			}
		}
	}
	assert_true(ok);
	for (int i = 0; i < 2; i++) {
		f->up[i].lw = pl_loop_watch(f->loop, f->up[i].lfd, EPOLLIN, on_upstream_tcp_accept,
					    &f->up[i], NULL);
		struct sockaddr_in ignored;
		f->up[i].spoof_fd = udp_socket(i ? "127.0.0.3" : "127.0.0.2", 0, &ignored);
		f->up[i].w = pl_loop_watch(f->loop, f->up[i].fd, EPOLLIN, on_upstream_query,
					   &f->up[i], NULL);
		assert_non_null(f->up[i].w);
	}
	snprintf(f->resolv, sizeof(f->resolv), "/tmp/pl-test-dns-XXXXXX");
	int fd = mkstemp(f->resolv);
	assert_true(fd >= 0);
	const char *conf = "nameserver 127.0.0.2\nnameserver 127.0.0.3\n";
	assert_int_equal(write(fd, conf, strlen(conf)), (ssize_t)strlen(conf));
	close(fd);
}

static int setup_common(void **state, bool upstreams)
{
	fixture_t *f = calloc(1, sizeof(*f));
	f->loop = pl_loop_new(NULL);
	assert_non_null(f->loop);
	if (upstreams)
		start_upstreams(f);
	pl_error_t *err = NULL;
	struct in_addr lo = {htonl(INADDR_LOOPBACK)};
	f->dns = pl_dns_start(f->loop, lo, 0, upstreams ? f->resolv : NULL, lookup, f, &err);
	if (!f->dns)
		fail_msg("pl_dns_start: %s", err->msg);
	assert_true(pl_dns_port(f->dns) != 0);
	if (upstreams) {
		pl_dns_set_upstream_port(f->dns, ntohs(f->up[0].addr.sin_port));
		pl_dns_set_forward_timeout(f->dns, 200);
	}
	pl_dns_set_reverse(f->dns, reverse, f);
	f->server = (struct sockaddr_in){
	    .sin_family = AF_INET, .sin_port = htons(pl_dns_port(f->dns)), .sin_addr = lo};
	struct sockaddr_in ignored;
	f->client = udp_socket("127.0.0.1", 0, &ignored);
	assert_int_equal(connect(f->client, (struct sockaddr *)&f->server, sizeof(f->server)), 0);
	f->cw = pl_loop_watch(f->loop, f->client, EPOLLIN, on_reply, f, NULL);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_common(state, true);
}

static int setup_no_upstreams(void **state)
{
	return setup_common(state, false);
}

static int teardown(void **state)
{
	fixture_t *f = *state;
	f->dns = pl_dns_stop(f->dns);
	pl_loop_unwatch(f->loop, f->cw);
	close(f->client);
	for (int i = 0; i < 2; i++) {
		if (f->up[i].w) {
			pl_loop_unwatch(f->loop, f->up[i].w);
			close(f->up[i].fd);
			close(f->up[i].spoof_fd);
			pl_loop_unwatch(f->loop, f->up[i].lw);
			close(f->up[i].lfd);
			for (int j = 0; j < f->up[i].ntcp; j++) {
				pl_loop_unwatch(f->loop, f->up[i].tcp_w[j]);
				close(f->up[i].tcp_fd[j]);
			}
		}
	}
	if (f->tcp_client > 0) {
		if (f->tw)
			pl_loop_unwatch(f->loop, f->tw);
		close(f->tcp_client);
	}
	if (f->resolv[0])
		unlink(f->resolv);
	pl_loop_timer_cancel(f->loop, f->deadline);
	pl_loop_free(f->loop);
	free(f);
	return 0;
}

static void send_raw(fixture_t *f, const void *b, size_t n)
{
	assert_int_equal(send(f->client, b, n, 0), (ssize_t)n);
}

/* Connects over TCP and sends the queries as framed messages in one write (pipelined). */
static void send_tcp(fixture_t *f, const uint16_t *ids, const char *const *names,
		     const uint16_t *types, int n)
{
	f->tcp_client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->tcp_client > 0);
	assert_int_equal(connect(f->tcp_client, (struct sockaddr *)&f->server, sizeof(f->server)),
			 0);
	uint8_t b[4096];
	size_t len = 0;
	for (int i = 0; i < n; i++) {
		size_t q = query(b + len + 2, sizeof(b) - len - 2, ids[i], names[i], types[i]);
		b[len] = 0;
		b[len + 1] = (uint8_t)q;
		len += 2 + q;
	}
	assert_int_equal(send(f->tcp_client, b, len, 0), (ssize_t)len);
	f->tw = pl_loop_watch(f->loop, f->tcp_client, EPOLLIN, on_tcp_reply, f, NULL);
	assert_non_null(f->tw);
}

static void send_query(fixture_t *f, uint16_t id, const char *name, uint16_t type)
{
	uint8_t b[512];
	send_raw(f, b, query(b, sizeof(b), id, name, type));
}

/* Runs the loop until want replies arrived; fails the test at the deadline. */
static void collect(fixture_t *f, int want)
{
	f->want = want;
	f->got = 0;
	f->deadline = pl_loop_timer(f->loop, DEADLINE_MS, on_deadline, f, NULL);
	assert_int_equal(pl_loop_run(f->loop, NULL), 0);
	if (f->timed_out)
		fail_msg("%d of %d replies before the deadline", f->got, want);
	f->deadline = pl_loop_timer_cancel(f->loop, f->deadline);
}

static pl_dns_msg_t reply(fixture_t *f, int i)
{
	pl_dns_msg_t m;
	assert_int_equal(pl_dns_parse(f->replies[i], f->reply_len[i], &m), 0);
	assert_true(m.flags & PL_DNS_F_QR);
	return m;
}

static void test_server_known_name(void **state)
{
	fixture_t *f = *state;
	send_query(f, 0x4242, "WEB", PL_DNS_TYPE_A);
	collect(f, 1);
	pl_dns_msg_t m = reply(f, 0);
	assert_int_equal(m.id, 0x4242);
	assert_int_equal(m.flags & PL_DNS_F_RCODE, PL_DNS_RC_NOERROR);
	assert_true(m.flags & PL_DNS_F_AA);
	assert_true(m.flags & PL_DNS_F_RA);
	assert_true(m.flags & PL_DNS_F_RD);
	assert_memory_equal(m.qname_wire, "\3WEB", 5); /* case echoed as asked */
	struct in_addr got[4];
	uint32_t ttl = 0;
	assert_int_equal(pl_dns_parse_a_answers(f->replies[0], f->reply_len[0], &m, got, 4, &ttl),
			 2);
	assert_int_equal(got[0].s_addr, htonl(0x0a580002));
	assert_int_equal(got[1].s_addr, htonl(0x0a580003));
	assert_int_equal(ttl, PL_DNS_TTL);
	assert_int_equal(f->up[0].seen + f->up[1].seen, 0);
}

static void test_server_known_name_other_types(void **state)
{
	fixture_t *f = *state;
	send_query(f, 1, "web", PL_DNS_TYPE_AAAA);
	send_query(f, 2, "web", 16 /* TXT */);
	collect(f, 2);
	for (int i = 0; i < 2; i++) {
		pl_dns_msg_t m = reply(f, i);
		assert_int_equal(m.flags & PL_DNS_F_RCODE, PL_DNS_RC_NOERROR);
		assert_true(m.flags & PL_DNS_F_AA);
		assert_int_equal(m.ancount, 0);
	}
	assert_int_equal(f->up[0].seen + f->up[1].seen, 0);
}

static void test_server_truncates_many(void **state)
{
	fixture_t *f = *state;
	send_query(f, 3, "many", PL_DNS_TYPE_A);
	collect(f, 1);
	pl_dns_msg_t m = reply(f, 0);
	assert_true(f->reply_len[0] <= PL_DNS_UDP_MAX);
	assert_true(m.flags & PL_DNS_F_TC);
	assert_true(m.ancount > 0 && m.ancount < PL_DNS_MAX_ADDRS);
}

static void test_server_ptr(void **state)
{
	fixture_t *f = *state;
	send_query(f, 4, "2.0.88.10.in-addr.arpa", PL_DNS_TYPE_PTR);
	collect(f, 1);
	pl_dns_msg_t m = reply(f, 0);
	assert_int_equal(m.ancount, 1);
	assert_true(m.flags & PL_DNS_F_AA);
	static const uint8_t want[] = "\3web\5scope";
	assert_true(f->reply_len[0] >= sizeof(want));
	assert_memory_equal(f->replies[0] + f->reply_len[0] - sizeof(want), want, sizeof(want));
}

static void test_server_forwards_unknown(void **state)
{
	fixture_t *f = *state;
	uint8_t b[512];
	size_t n = query(b, sizeof(b), 0x7777, "Example.Org", PL_DNS_TYPE_A);
	send_raw(f, b, n);
	collect(f, 1);
	assert_int_equal(f->up[0].seen, 1);
	assert_int_equal(f->up[1].seen, 0);
	/* Forwarded as sent but for the id. */
	assert_int_equal(f->up[0].last_len, n);
	assert_memory_equal(f->up[0].last + 2, b + 2, n - 2);
	pl_dns_msg_t m = reply(f, 0);
	assert_int_equal(m.id, 0x7777);
	assert_false(m.flags & PL_DNS_F_AA);
	struct in_addr got[2];
	assert_int_equal(pl_dns_parse_a_answers(f->replies[0], f->reply_len[0], &m, got, 2, NULL),
			 1);
	assert_int_equal(got[0].s_addr, htonl(0xc0000207));
	assert_true(f->lookups >= 1);
}

static void test_server_forwards_many_at_once(void **state)
{
	fixture_t *f = *state;
	for (uint16_t i = 0; i < 8; i++)
		send_query(f, (uint16_t)(100 + i), "example.org", PL_DNS_TYPE_A);
	collect(f, 8);
	bool seen[8] = {false};
	for (int i = 0; i < 8; i++) {
		pl_dns_msg_t m = reply(f, i);
		assert_true(m.id >= 100 && m.id < 108);
		assert_false(seen[m.id - 100]);
		seen[m.id - 100] = true;
	}
}

static void test_server_next_upstream(void **state)
{
	fixture_t *f = *state;
	f->up[0].mode = UP_SILENT;
	send_query(f, 9, "example.org", PL_DNS_TYPE_A);
	collect(f, 1);
	assert_int_equal(f->up[0].seen, 1);
	assert_int_equal(f->up[1].seen, 1);
	pl_dns_msg_t m = reply(f, 0);
	assert_int_equal(m.id, 9);
	assert_int_equal(m.flags & PL_DNS_F_RCODE, PL_DNS_RC_NOERROR);
	assert_int_equal(m.ancount, 1);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_server_all_upstreams_silent(void **state)
{
	fixture_t *f = *state;
	f->up[0].mode = f->up[1].mode = UP_SILENT;
	uint64_t t0 = mono_ms();
	send_query(f, 10, "example.org", PL_DNS_TYPE_A);
	collect(f, 1);
	/* One timeout per upstream (200 ms each here) before giving up. */
	assert_true(mono_ms() - t0 >= 400);
	assert_int_equal(f->up[0].seen, 1);
	assert_int_equal(f->up[1].seen, 1);
	pl_dns_msg_t m = reply(f, 0);
	assert_int_equal(m.id, 10);
	assert_int_equal(m.flags & PL_DNS_F_RCODE, PL_DNS_RC_SERVFAIL);
	assert_string_equal(m.qname, "example.org");
}

static void test_server_truncated_upstream(void **state)
{
	fixture_t *f = *state;
	f->up[0].mode = UP_TRUNCATED;
	send_query(f, 11, "big.example.org", PL_DNS_TYPE_A);
	collect(f, 1);
	pl_dns_msg_t m = reply(f, 0);
	assert_int_equal(m.id, 11);
	assert_true(m.flags & PL_DNS_F_TC);
}

static void test_server_ignores_spoofed(void **state)
{
	fixture_t *f = *state;
	f->up[0].mode = UP_SPOOF_FIRST;
	send_query(f, 12, "example.org", PL_DNS_TYPE_A);
	collect(f, 1);
	pl_dns_msg_t m = reply(f, 0);
	struct in_addr got[2];
	assert_int_equal(pl_dns_parse_a_answers(f->replies[0], f->reply_len[0], &m, got, 2, NULL),
			 1);
	assert_int_equal(got[0].s_addr, htonl(0xc0000207));
}

static void test_server_malformed(void **state)
{
	fixture_t *f = *state;
	/* Too short for a header: dropped, so the first reply is the FORMERR's. */
	send_raw(f, "\x12\x34\x01", 3);
	static const uint8_t bad[] = {0x12, 0x35, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x40, 'x'};
	send_raw(f, bad, sizeof(bad));
	uint8_t b[512];
	size_t n = query(b, sizeof(b), 0x1236, "web", PL_DNS_TYPE_A);
	b[2] = 0x01 | (2 << 3); /* STATUS */
	send_raw(f, b, n);
	n = query(b, sizeof(b), 0x1237, "web", PL_DNS_TYPE_A);
	b[2] |= 0x80; /* a response: dropped */
	send_raw(f, b, n);
	send_query(f, 0x1238, "web", PL_DNS_TYPE_A);
	collect(f, 3);
	pl_dns_msg_t m;
	assert_int_equal(pl_dns_parse(f->replies[0], f->reply_len[0], &m), PL_DNS_EFORMAT);
	assert_int_equal(m.id, 0x1235);
	assert_int_equal(m.flags & PL_DNS_F_RCODE, PL_DNS_RC_FORMERR);
	m = reply(f, 1);
	assert_int_equal(m.id, 0x1236);
	assert_int_equal(m.flags & PL_DNS_F_RCODE, PL_DNS_RC_NOTIMP);
	m = reply(f, 2);
	assert_int_equal(m.id, 0x1238);
	assert_int_equal(m.flags & PL_DNS_F_RCODE, PL_DNS_RC_NOERROR);
	assert_int_equal(f->up[0].seen + f->up[1].seen, 0);
}

static void test_server_no_upstreams(void **state)
{
	fixture_t *f = *state;
	send_query(f, 13, "example.org", PL_DNS_TYPE_A);
	send_query(f, 14, "web", PL_DNS_TYPE_A);
	collect(f, 2);
	pl_dns_msg_t m = reply(f, 0);
	assert_int_equal(m.id, 13);
	assert_int_equal(m.flags & PL_DNS_F_RCODE, PL_DNS_RC_SERVFAIL);
	m = reply(f, 1);
	assert_int_equal(m.ancount, 2);
}

/* Stopping with forwards in flight frees them (ASan checks) and answers nobody. */
static void test_server_stop_with_pending(void **state)
{
	fixture_t *f = *state;
	f->up[0].mode = f->up[1].mode = UP_SILENT;
	for (uint16_t i = 0; i < 16; i++)
		send_query(f, i, "pending.example.org", PL_DNS_TYPE_A);
	send_query(f, 99, "web", PL_DNS_TYPE_A); /* answered locally after the 16 forwards */
	collect(f, 1);
	assert_int_equal(reply(f, 0).id, 99);
	f->dns = pl_dns_stop(f->dns);
}

static void test_server_tcp_full_answer(void **state)
{
	fixture_t *f = *state;
	/* What UDP truncated comes whole over TCP; two pipelined queries both answered. */
	send_tcp(f, (uint16_t[]){21, 22}, (const char *const[]){"many", "web"},
		 (uint16_t[]){PL_DNS_TYPE_A, PL_DNS_TYPE_AAAA}, 2);
	collect(f, 2);
	pl_dns_msg_t m = reply(f, 0);
	assert_int_equal(m.id, 21);
	assert_false(m.flags & PL_DNS_F_TC);
	assert_int_equal(m.ancount, PL_DNS_MAX_ADDRS);
	struct in_addr got[PL_DNS_MAX_ADDRS];
	assert_int_equal(
	    pl_dns_parse_a_answers(f->replies[0], f->reply_len[0], &m, got, PL_DNS_MAX_ADDRS, NULL),
	    PL_DNS_MAX_ADDRS);
	assert_int_equal(got[PL_DNS_MAX_ADDRS - 1].s_addr,
			 htonl(0x0a580100 + PL_DNS_MAX_ADDRS - 1));
	m = reply(f, 1);
	assert_int_equal(m.id, 22);
	assert_int_equal(m.ancount, 0);
	assert_true(m.flags & PL_DNS_F_AA);
}

static void test_server_tcp_forward(void **state)
{
	fixture_t *f = *state;
	/* Over TCP a forward goes over TCP: the client came because UDP was truncated. The
	 * first upstream keeps silent, the second answers; the client has half-closed. */
	f->up[0].mode = UP_SILENT;
	send_tcp(f, (uint16_t[]){23}, (const char *const[]){"big.example.org"},
		 (uint16_t[]){PL_DNS_TYPE_A}, 1);
	assert_int_equal(shutdown(f->tcp_client, SHUT_WR), 0);
	/* One answer, then the server closes (everything owed was sent and the client had
	 * closed its side): the loop stops at the close, not at a second answer. */
	collect(f, 2);
	assert_true(f->tcp_closed);
	assert_int_equal(f->got, 1);
	assert_int_equal(f->up[0].tcp_seen, 1);
	assert_int_equal(f->up[1].tcp_seen, 1);
	assert_int_equal(f->up[0].seen + f->up[1].seen, 0);
	pl_dns_msg_t m = reply(f, 0);
	assert_int_equal(m.id, 23);
	struct in_addr got[2];
	assert_int_equal(pl_dns_parse_a_answers(f->replies[0], f->reply_len[0], &m, got, 2, NULL),
			 1);
	assert_int_equal(got[0].s_addr, htonl(0xc0000208));
}

static void test_server_client_subnet(void **state)
{
	fixture_t *f = *state;
	/* Only 127.0.0.1/32 is the scope: a client on 127.0.0.4 is refused, even for a name the
	 * scope knows, and nothing of its query is forwarded. */
	struct in_addr net = {htonl(0x7f000001)};
	pl_dns_set_client_subnet(f->dns, net, 32);
	struct sockaddr_in ignored;
	int other = udp_socket("127.0.0.4", 0, &ignored);
	assert_int_equal(connect(other, (struct sockaddr *)&f->server, sizeof(f->server)), 0);
	pl_watch_t *w = pl_loop_watch(f->loop, other, EPOLLIN, on_reply, f, NULL);
	uint8_t b[512];
	size_t n = query(b, sizeof(b), 41, "web", PL_DNS_TYPE_A);
	assert_int_equal(send(other, b, n, 0), (ssize_t)n);
	n = query(b, sizeof(b), 42, "example.org", PL_DNS_TYPE_A);
	assert_int_equal(send(other, b, n, 0), (ssize_t)n);
	send_query(f, 43, "web", PL_DNS_TYPE_A);
	collect(f, 3);
	for (int i = 0; i < 3; i++) {
		pl_dns_msg_t m = reply(f, i);
		if (m.id == 43) {
			assert_int_equal(m.ancount, 2);
		} else {
			assert_int_equal(m.flags & PL_DNS_F_RCODE, PL_DNS_RC_REFUSED);
			assert_int_equal(m.ancount, 0);
		}
	}
	assert_int_equal(f->up[0].seen + f->up[1].seen, 0);
	pl_loop_unwatch(f->loop, w);
	close(other);
}

static void test_server_tcp_client_subnet(void **state)
{
	fixture_t *f = *state;
	struct in_addr net = {htonl(0x0a000000)};
	pl_dns_set_client_subnet(f->dns, net, 8);
	send_tcp(f, (uint16_t[]){44}, (const char *const[]){"web"}, (uint16_t[]){PL_DNS_TYPE_A}, 1);
	collect(f, 1);
	assert_true(f->tcp_closed);
	assert_int_equal(f->got, 0);
}

/* Hostile traffic on the live server (the fuzz target covers the parsers; this covers the
 * sockets, the pending table and the connections): mutated queries over UDP, random streams
 * over TCP, interleaved with the loop running. Then a plain query must still be answered. */
typedef struct garbage {
	fixture_t *f;
	int rounds;
	int tcp[8];
	int probe;
	pl_watch_t *pw;
	bool answered;
} garbage_t;

static void mutate(uint8_t *b, size_t *n, size_t cap)
{
	static const char *const names[] = {"web", "many", "example.org", "2.0.88.10.in-addr.arpa",
					    "x.y.z"};
	*n = query(b, cap, (uint16_t)rng(), names[rng() % 5], (uint16_t)(rng() % 4 ? 1 : rng()));
	for (int k = (int)(rng() % 5); k > 0; k--)
		b[rng() % *n] = (uint8_t)rng();
	if (rng() % 4 == 0)
		*n = (size_t)(rng() % (*n + 1));
}

static void on_probe(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	garbage_t *g = data;
	uint8_t b[512];
	ssize_t n = recv(fd, b, sizeof(b), 0);
	pl_dns_msg_t m;
	if (n > 0 && pl_dns_parse(b, (size_t)n, &m) == 0 && m.id == 0x5eed && m.ancount == 2) {
		g->answered = true;
		pl_loop_quit(loop);
	}
}

static void on_garbage_round(pl_loop_t *loop, void *data)
{
	garbage_t *g = data;
	fixture_t *f = g->f;
	uint8_t b[600];
	size_t n;
	if (g->rounds-- == 0) {
		send(g->probe, b, query(b, sizeof(b), 0x5eed, "web", PL_DNS_TYPE_A), 0);
		return;
	}
	for (int i = 0; i < 40; i++) {
		mutate(b, &n, sizeof(b));
		send(f->client, b, n, MSG_DONTWAIT);
	}
	for (int i = 0; i < 8; i++) {
		if (g->tcp[i] < 0 || rng() % 8 == 0) {
			if (g->tcp[i] >= 0)
				close(g->tcp[i]);
			g->tcp[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			connect(g->tcp[i], (struct sockaddr *)&f->server, sizeof(f->server));
		}
		mutate(b + 2, &n, sizeof(b) - 2);
		/* Usually a right length prefix, sometimes a lie. */
		uint16_t len = rng() % 4 ? (uint16_t)n : (uint16_t)rng();
		b[0] = (uint8_t)(len >> 8);
		b[1] = (uint8_t)len;
		send(g->tcp[i], b, n + 2, MSG_DONTWAIT | MSG_NOSIGNAL);
		char sink[4096];
		while (recv(g->tcp[i], sink, sizeof(sink), MSG_DONTWAIT) > 0)
			;
	}
	assert_non_null(pl_loop_timer(loop, 1, on_garbage_round, g, NULL));
}

static void test_server_garbage(void **state)
{
	fixture_t *f = *state;
	garbage_t g = {.f = f, .rounds = 150};
	for (int i = 0; i < 8; i++)
		g.tcp[i] = -1;
	struct sockaddr_in ignored;
	g.probe = udp_socket("127.0.0.1", 0, &ignored);
	assert_int_equal(connect(g.probe, (struct sockaddr *)&f->server, sizeof(f->server)), 0);
	g.pw = pl_loop_watch(f->loop, g.probe, EPOLLIN, on_probe, &g, NULL);
	assert_non_null(pl_loop_timer(f->loop, 0, on_garbage_round, &g, NULL));
	/* Replies to the garbage land on f->client; never enough to end the run. */
	collect(f, 1 << 30);
	assert_true(g.answered);
	pl_loop_unwatch(f->loop, g.pw);
	close(g.probe);
	for (int i = 0; i < 8; i++)
		if (g.tcp[i] >= 0)
			close(g.tcp[i]);
}

static void test_start_errors(void **state)
{
	pl_loop_t *loop = pl_loop_new(NULL);
	pl_error_t *err = NULL;
	/* 192.0.2.1 is on no interface here: bind fails with a message naming it. */
	struct in_addr a = {htonl(0xc0000201)};
	assert_null(pl_dns_start(loop, a, 0, NULL, lookup, NULL, &err));
	assert_non_null(err);
	assert_non_null(strstr(err->msg, "192.0.2.1"));
	err = pl_error_free(err);
	/* A resolv.conf that is a directory cannot be read. */
	a.s_addr = htonl(INADDR_LOOPBACK);
	assert_null(pl_dns_start(loop, a, 0, "/", lookup, NULL, &err));
	assert_non_null(err);
	err = pl_error_free(err);
	/* A missing one means no upstreams, not an error. */
	pl_dns_t *d = pl_dns_start(loop, a, 0, "/nonexistent/resolv.conf", lookup, NULL, &err);
	assert_non_null(d);
	pl_dns_stop(d);
	pl_loop_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_good_query),
	    cmocka_unit_test(test_reply_roundtrip),
	    cmocka_unit_test(test_reply_truncates),
	    cmocka_unit_test(test_truncated_packets),
	    cmocka_unit_test(test_compression),
	    cmocka_unit_test(test_label_and_name_limits),
	    cmocka_unit_test(test_query_policy),
	    cmocka_unit_test(test_reverse_and_resolv_conf),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test_setup_teardown(test_server_known_name, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_known_name_other_types, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_truncates_many, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_ptr, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_forwards_unknown, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_forwards_many_at_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_next_upstream, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_all_upstreams_silent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_truncated_upstream, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_ignores_spoofed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_no_upstreams, setup_no_upstreams, teardown),
	    cmocka_unit_test_setup_teardown(test_server_stop_with_pending, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_tcp_full_answer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_tcp_forward, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_client_subnet, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_tcp_client_subnet, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_garbage, setup, teardown),
	    cmocka_unit_test(test_start_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
