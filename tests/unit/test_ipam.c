/* SPDX-License-Identifier: Apache-2.0 */
/* The IPv4 allocator: next free, exhaustion, release, static conflicts, rebuilt state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "portlayer/network/ipam.h"

static uint32_t A(const char *s)
{
	uint32_t a = 0;
	assert_int_equal(pl_ipam_parse_addr(s, &a), 0);
	return a;
}

static pl_ipam_t *make(const char *cidr, const char *range, const char *gw)
{
	uint32_t net, r = 0;
	unsigned len, rlen = 0;
	assert_int_equal(pl_ipam_parse_cidr(cidr, &net, &len, NULL), 0);
	if (range)
		assert_int_equal(pl_ipam_parse_cidr(range, &r, &rlen, NULL), 0);
	pl_ipam_t *p = pl_ipam_new(net, len, r, rlen, A(gw), NULL);
	assert_non_null(p);
	return p;
}

static void test_parse(void **state)
{
	uint32_t net;
	unsigned len;
	pl_error_t *e = NULL;
	assert_int_equal(pl_ipam_parse_cidr("172.18.0.0/16", &net, &len, NULL), 0);
	assert_int_equal(net, A("172.18.0.0"));
	assert_int_equal(len, 16);
	const char *bad[] = {"172.18.0.1/16", "172.18.0.0",  "172.18.0.0/31", "x/16",
			     "172.18.0.0/7",  "172.18.0.0/", "1.2.3/24",      "172.18.0.0/16x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (pl_ipam_parse_cidr(bad[i], &net, &len, &e) == 0)
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_int_equal(e->kind, PL_ERR_INVALID);
		e = pl_error_free(e);
	}
	char b[16];
	assert_string_equal(pl_ipam_format(A("10.1.2.3"), b), "10.1.2.3");
}

static void test_next_free_and_exhaustion(void **state)
{
	/* a /29: .0 network, .7 broadcast, .1 gateway: .2 to .6 are handed out */
	pl_ipam_t *p = make("10.0.0.0/29", NULL, "10.0.0.1");
	uint32_t a;
	char b[16];
	const char *want[] = {"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"};
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(pl_ipam_alloc(p, &a, NULL), 0);
		assert_string_equal(pl_ipam_format(a, b), want[i]);
	}
	pl_error_t *e = NULL;
	assert_true(pl_ipam_alloc(p, &a, &e) < 0);
	assert_int_equal(e->kind, PL_ERR_CONFLICT);
	e = pl_error_free(e);
	assert_int_equal(pl_ipam_used(p), 5);
	pl_ipam_free(p);
}

static void test_release(void **state)
{
	pl_ipam_t *p = make("10.0.0.0/29", NULL, "10.0.0.1");
	uint32_t a, first;
	assert_int_equal(pl_ipam_alloc(p, &first, NULL), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pl_ipam_alloc(p, &a, NULL), 0);
	pl_ipam_release(p, A("10.0.0.4"));
	pl_ipam_release(p, A("10.0.0.4")); /* twice is harmless */
	pl_ipam_release(p, A("10.0.0.1")); /* the gateway is never released */
	assert_int_equal(pl_ipam_used(p), 4);
	assert_int_equal(pl_ipam_alloc(p, &a, NULL), 0);
	assert_int_equal(a, A("10.0.0.4"));
	assert_true(pl_ipam_alloc(p, &a, NULL) < 0);
	pl_ipam_free(p);
}

static void test_round_robin(void **state)
{
	/* a just released address is not the next one handed out */
	pl_ipam_t *p = make("10.0.0.0/24", NULL, "10.0.0.1");
	uint32_t a, b2;
	assert_int_equal(pl_ipam_alloc(p, &a, NULL), 0);
	pl_ipam_release(p, a);
	assert_int_equal(pl_ipam_alloc(p, &b2, NULL), 0);
	assert_int_not_equal(a, b2);
	pl_ipam_free(p);
}

static void test_static(void **state)
{
	pl_ipam_t *p = make("172.20.0.0/16", "172.20.5.0/24", "172.20.0.1");
	pl_error_t *e = NULL;
	assert_int_equal(pl_ipam_reserve(p, A("172.20.9.9"), NULL), 0); /* outside range: ok */
	assert_true(pl_ipam_reserve(p, A("172.20.9.9"), &e) < 0);
	assert_int_equal(e->kind, PL_ERR_CONFLICT);
	e = pl_error_free(e);
	assert_true(pl_ipam_reserve(p, A("172.21.0.2"), &e) < 0);
	assert_int_equal(e->kind, PL_ERR_INVALID);
	e = pl_error_free(e);
	const char *res[] = {"172.20.0.0", "172.20.255.255", "172.20.0.1"};
	for (size_t i = 0; i < 3; i++) {
		assert_true(pl_ipam_reserve(p, A(res[i]), &e) < 0);
		assert_int_equal(e->kind, PL_ERR_INVALID);
		e = pl_error_free(e);
	}
	/* the range is honoured by alloc, and a static address inside it is skipped */
	assert_int_equal(pl_ipam_reserve(p, A("172.20.5.0"), NULL), 0);
	uint32_t a;
	assert_int_equal(pl_ipam_alloc(p, &a, NULL), 0);
	assert_int_equal(a, A("172.20.5.1"));
	pl_ipam_free(p);
}

static void test_bad_new(void **state)
{
	pl_error_t *e = NULL;
	uint32_t net = A("10.0.0.0");
	assert_null(pl_ipam_new(net, 24, 0, 0, A("10.0.1.1"), &e)); /* gateway outside */
	e = pl_error_free(e);
	assert_null(pl_ipam_new(net, 24, 0, 0, A("10.0.0.255"), &e)); /* broadcast */
	e = pl_error_free(e);
	assert_null(pl_ipam_new(net, 24, A("10.0.1.0"), 25, A("10.0.0.1"), &e)); /* range */
	e = pl_error_free(e);
	assert_null(pl_ipam_new(net, 24, A("10.0.0.0"), 23, A("10.0.0.1"), &e)); /* wider */
	e = pl_error_free(e);
}

static void test_rebuild(void **state)
{
	/* after a restart the state is rebuilt from what the containers recorded: the
	 * recorded addresses are taken again and alloc never hands them out twice */
	pl_ipam_t *p = make("10.9.0.0/28", NULL, "10.9.0.1");
	uint32_t held[3];
	for (int i = 0; i < 3; i++)
		assert_int_equal(pl_ipam_alloc(p, &held[i], NULL), 0);
	pl_ipam_free(p);
	p = make("10.9.0.0/28", NULL, "10.9.0.1");
	for (int i = 0; i < 3; i++)
		assert_int_equal(pl_ipam_reserve(p, held[i], NULL), 0);
	for (int i = 0; i < 10; i++) {
		uint32_t a;
		assert_int_equal(pl_ipam_alloc(p, &a, NULL), 0);
		for (int k = 0; k < 3; k++)
			assert_int_not_equal(a, held[k]);
	}
	uint32_t a;
	assert_true(pl_ipam_alloc(p, &a, NULL) < 0); /* 13 hosts, all used */
	pl_ipam_reset(p);
	assert_int_equal(pl_ipam_used(p), 0);
	assert_int_equal(pl_ipam_reserve(p, held[0], NULL), 0);
	pl_ipam_free(p);
}

static void test_reset_keeps_cursor(void **state)
{
	/* a rebuild (reset, then the remaining containers' addresses reserved) after b's
	 * container went: the next address is a fresh one, not b's */
	pl_ipam_t *p = make("10.9.0.0/28", NULL, "10.9.0.1");
	uint32_t a, b, c;
	assert_int_equal(pl_ipam_alloc(p, &a, NULL), 0);
	assert_int_equal(pl_ipam_alloc(p, &b, NULL), 0);
	pl_ipam_reset(p);
	assert_int_equal(pl_ipam_reserve(p, a, NULL), 0);
	assert_int_equal(pl_ipam_alloc(p, &c, NULL), 0);
	assert_int_not_equal(c, b);
	assert_int_equal(c, b + 1);
	pl_ipam_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),   cmocka_unit_test(test_next_free_and_exhaustion),
	    cmocka_unit_test(test_release), cmocka_unit_test(test_round_robin),
	    cmocka_unit_test(test_static),  cmocka_unit_test(test_bad_new),
	    cmocka_unit_test(test_rebuild), cmocka_unit_test(test_reset_keeps_cursor),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
