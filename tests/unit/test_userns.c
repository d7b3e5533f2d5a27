/* SPDX-License-Identifier: Apache-2.0 */
/* security.userns: the daemon's range flag, map validation, and slice allocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "portlayer/userns.h"

static void parse_ok(const char *text, pl_userns_t *u)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	assert_non_null(j);
	pl_error_t *err = NULL;
	if (pl_userns_parse(j, u, &err) < 0)
		fail_msg("%s: %s", text, err->msg);
	json_decref(j);
}

static void parse_bad(const char *text, const char *needle)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
	assert_non_null(j);
	pl_error_t *err = NULL;
	pl_userns_t u;
	assert_true(pl_userns_parse(j, &u, &err) < 0);
	assert_int_equal(err->kind, PL_ERR_INVALID);
	if (!strstr(err->msg, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err->msg, needle);
	pl_error_free(err);
	json_decref(j);
}

static void test_range_flag(void **state)
{
	uint32_t s, c;
	assert_int_equal(pl_userns_parse_range("100000000:131072", &s, &c, NULL), 0);
	assert_int_equal(s, 100000000);
	assert_int_equal(c, 131072);
	const char *bad[] = {"", "1:65536", "65536", "65536:", ":65536", "65536:1000", "65536:0",
			     "-65536:65536", "65536:-65536", "65536:65536x", "4294901760:65536",
			     /* wraps to START 0 in 64 bits: must not pass the START check */
			     "18446744069414584320:4295032832", NULL};
	for (const char **b = bad; *b; b++) {
		pl_error_t *err = NULL;
		if (pl_userns_parse_range(*b, &s, &c, &err) == 0)
			fail_msg("range \"%s\" accepted", *b);
		assert_non_null(strstr(err->msg, "--userns-range"));
		pl_error_free(err);
	}
	/* ids a mechanism reserves (the vm's QEMU processes), at either end */
	const uint32_t rs = 0x7f000000u, rc = 1u << 22;
	const uint32_t clash[][2] = {{2134835200u, 65536}, {2130640896u, 131072}};
	for (size_t i = 0; i < 2; i++) {
		pl_error_t *err = NULL;
		assert_true(pl_userns_check_reserved(clash[i][0], clash[i][1], rs, rc, "vm", &err) <
			    0);
		assert_non_null(strstr(err->msg, "--userns-range"));
		pl_error_free(err);
	}
	assert_int_equal(pl_userns_check_reserved(100000000u, 131072, rs, rc, "vm", NULL), 0);
	assert_int_equal(pl_userns_check_reserved(rs, 65536, 0, 0, "linux", NULL), 0);
}

static void test_parse(void **state)
{
	pl_userns_t u;
	parse_ok("{\"mode\":\"host\"}", &u);
	assert_false(u.remap);
	parse_ok("{\"mode\":\"remap\"}", &u);
	assert_true(u.remap);
	assert_int_equal(u.n_uid, 0);
	parse_ok("{\"mode\":\"remap\",\"uid_map\":[{\"container_id\":0,\"host_id\":200000,"
		 "\"size\":10}]}",
		 &u);
	assert_int_equal(u.n_gid, 1); /* gid_map defaults to uid_map */
	assert_int_equal(u.gid_map[0].host_id, 200000);
	assert_int_equal(pl_userns_host_id(u.uid_map, u.n_uid, 9), 200009);
	assert_int_equal(pl_userns_host_id(u.uid_map, u.n_uid, 10), -1);
	json_t *j = pl_userns_to_json(&u);
	assert_int_equal(json_array_size(json_object_get(j, "gid_map")), 1);
	json_decref(j);

	parse_bad("\"remap\"", "security.userns");
	parse_bad("{\"mode\":\"x\"}", "security.userns.mode");
	parse_bad("{\"mode\":\"host\",\"allow_host_ids\":true}", "need mode");
	parse_bad("{\"mode\":\"remap\",\"uid_map\":[{\"container_id\":0,\"host_id\":10,"
		  "\"size\":10}]}",
		  "host's own ids");
	parse_bad("{\"mode\":\"remap\",\"allow_host_ids\":true,\"uid_map\":[{\"container_id\":0,"
		  "\"host_id\":0,\"size\":10}]}",
		  "host id 0");
	parse_bad("{\"mode\":\"remap\",\"uid_map\":[{\"container_id\":0,\"host_id\":4294967290,"
		  "\"size\":10}]}",
		  "below");
}

static void test_allocate(void **state)
{
	const pl_userns_range_t rg = {200000, 3 * PL_USERNS_SLICE};
	pl_userns_t a, b, c, d;
	parse_ok("{\"mode\":\"remap\"}", &a);
	parse_ok("{\"mode\":\"remap\"}", &b);
	parse_ok("{\"mode\":\"remap\"}", &c);
	parse_ok("{\"mode\":\"remap\"}", &d);
	assert_int_equal(pl_userns_allocate(&a, NULL, 0, &rg, NULL), 0);
	assert_int_equal(a.uid_map[0].host_id, 200000);
	const pl_userns_t *others[3] = {&a};
	assert_int_equal(pl_userns_allocate(&b, others, 1, &rg, NULL), 0);
	assert_int_equal(b.uid_map[0].host_id, 200000 + PL_USERNS_SLICE);
	others[1] = &b;
	assert_int_equal(pl_userns_allocate(&c, others, 2, &rg, NULL), 0);
	others[2] = &c;
	pl_error_t *err = NULL;
	assert_true(pl_userns_allocate(&d, others, 3, &rg, &err) < 0);
	assert_int_equal(err->kind, PL_ERR_CONFLICT);
	err = pl_error_free(err);
	/* a freed slice (a gone) is found again, even behind others */
	others[0] = &c;
	assert_int_equal(pl_userns_allocate(&d, others, 2, &rg, NULL), 0);
	assert_int_equal(d.uid_map[0].host_id, 200000);

	/* explicit: inside the range and clear of others, or refused */
	pl_userns_t e;
	parse_ok("{\"mode\":\"remap\",\"uid_map\":[{\"container_id\":0,\"host_id\":200005,"
		 "\"size\":10}]}",
		 &e);
	const pl_userns_t *holder[] = {&d};
	assert_true(pl_userns_allocate(&e, holder, 1, &rg, &err) < 0);
	assert_int_equal(err->kind, PL_ERR_CONFLICT);
	err = pl_error_free(err);
	assert_int_equal(pl_userns_allocate(&e, others, 2, &rg, NULL), 0);
	parse_ok("{\"mode\":\"remap\",\"uid_map\":[{\"container_id\":0,\"host_id\":100000,"
		 "\"size\":10}]}",
		 &e);
	assert_true(pl_userns_allocate(&e, NULL, 0, &rg, &err) < 0);
	assert_int_equal(err->kind, PL_ERR_INVALID);
	assert_non_null(strstr(err->msg, "outside the daemon's range"));
	err = pl_error_free(err);
	parse_ok("{\"mode\":\"remap\",\"allow_host_ids\":true,\"uid_map\":[{\"container_id\":0,"
		 "\"host_id\":100000,\"size\":10}]}",
		 &e);
	assert_int_equal(pl_userns_allocate(&e, NULL, 0, &rg, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_range_flag),
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_allocate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
