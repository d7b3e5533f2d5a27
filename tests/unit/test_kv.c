/* SPDX-License-Identifier: Apache-2.0 */
/* The KV store and the engine fields of a create body: keys, revisions, compare-and-set,
 * reopening (revisions never reused, a torn write's temp file ignored), and the healthcheck /
 * auto_remove validation. */
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

#include "common/fs.h"
#include "portlayer/config.h"
#include "portlayer/kv.h"

static int64_t put(pl_kv_t *kv, const char *key, const char *value, int64_t expect)
{
	pl_error_t *err = NULL;
	json_t *r = pl_kv_put(kv, key, value, strlen(value), expect, &err);
	if (!r) {
		int kind = err->kind;
		pl_error_free(err);
		return -kind;
	}
	int64_t rev = json_integer_value(json_object_get(r, "revision"));
	json_decref(r);
	return rev;
}

static void test_keys(void **state)
{
	assert_true(pl_kv_key_valid("a"));
	assert_true(pl_kv_key_valid("docker/containers/abc.json"));
	assert_true(pl_kv_key_valid("-_."));
	assert_false(pl_kv_key_valid(""));
	assert_false(pl_kv_key_valid("a/../b"));
	assert_false(pl_kv_key_valid(".."));
	assert_false(pl_kv_key_valid("a b"));
	assert_false(pl_kv_key_valid("a%2f"));
	char long_key[258];
	memset(long_key, 'k', 257);
	long_key[257] = 0;
	assert_false(pl_kv_key_valid(long_key));
	long_key[256] = 0;
	assert_true(pl_kv_key_valid(long_key));
}

static void test_revisions_cas_and_reopen(void **state)
{
	char dir[] = "/tmp/pl-kv-unit-XXXXXX";
	assert_non_null(mkdtemp(dir));
	pl_error_t *err = NULL;
	pl_kv_t *kv = pl_kv_open(dir, &err);
	assert_non_null(kv);
	int64_t r1 = put(kv, "a", "1", -1);
	int64_t r2 = put(kv, "b", "2", 0);
	assert_true(r1 > 0 && r2 > r1);
	assert_int_equal(put(kv, "b", "x", 0), -PL_ERR_CONFLICT);      /* exists */
	assert_int_equal(put(kv, "a", "x", r1 + 7), -PL_ERR_CONFLICT); /* stale */
	assert_int_equal(put(kv, "c", "x", 5), -PL_ERR_CONFLICT);      /* absent */
	int64_t r3 = put(kv, "a", "one", r1);
	assert_true(r3 > r2);
	assert_int_equal(put(kv, "bad key", "x", -1), -PL_ERR_INVALID);
	json_t *l = pl_kv_list(kv, NULL);
	assert_int_equal(json_array_size(l), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "key")), "a");
	json_decref(l);
	/* deleting the key with the largest revision must not let it be reused */
	assert_int_equal(pl_kv_delete(kv, "a", r1, &err), -1);
	pl_error_free(err);
	err = NULL;
	assert_int_equal(pl_kv_delete(kv, "a", r3, NULL), 0);
	pl_kv_free(kv);
	/* a write the daemon did not finish: its temp file is not a record */
	char path[128];
	snprintf(path, sizeof(path), "%s/kv/.torn.json.tmp", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"key\":\"a\",\"val", f);
	fclose(f);
	kv = pl_kv_open(dir, &err);
	assert_non_null(kv);
	assert_int_equal(access(path, F_OK), -1);
	json_t *g = pl_kv_get(kv, "a", &err);
	assert_null(g);
	assert_int_equal(err->kind, PL_ERR_NOTFOUND);
	pl_error_free(err);
	g = pl_kv_get(kv, "b", NULL);
	assert_string_equal(json_string_value(json_object_get(g, "value")), "2");
	json_decref(g);
	int64_t r4 = put(kv, "a", "again", 0);
	assert_true(r4 > r3 + 1); /* the deletion took r3 + 1 */
	pl_kv_free(kv);
	pl_remove_tree_at(AT_FDCWD, dir, NULL);
}

static pl_config_t *parse(const char *extra, pl_error_t **err)
{
	char text[1024];
	snprintf(text, sizeof(text), "{\"rootfs\":\"/\",\"process\":{\"args\":[\"true\"]}%s}",
		 extra);
	json_t *j = json_loads(text, 0, NULL);
	assert_non_null(j);
	pl_config_t *c = pl_config_parse(j, false, err);
	json_decref(j);
	return c;
}

static void test_healthcheck_and_auto_remove(void **state)
{
	pl_error_t *err = NULL;
	pl_config_t *c = parse(",\"healthcheck\":{\"test\":[\"CMD-SHELL\",\"true\"],"
			       "\"interval\":0.5},\"auto_remove\":true",
			       &err);
	assert_non_null(c);
	assert_true(c->auto_remove);
	assert_true(json_real_value(json_object_get(c->healthcheck, "interval")) == 0.5);
	assert_true(json_real_value(json_object_get(c->healthcheck, "timeout")) == 30);
	assert_int_equal(json_integer_value(json_object_get(c->healthcheck, "retries")), 3);
	pl_config_free(c);
	static const char *const bad[] = {
	    ",\"healthcheck\":{\"test\":[\"CMD\"]}",
	    ",\"healthcheck\":{\"test\":[\"NONE\",\"x\"]}",
	    ",\"healthcheck\":{\"test\":[\"CMD\",\"x\"],\"timeout\":0}",
	    ",\"healthcheck\":{\"test\":[\"CMD\",\"x\"],\"retries\":1.5}",
	    ",\"healthcheck\":{\"test\":[\"CMD\",\"x\"],\"start_period\":-1}",
	    ",\"auto_remove\":1",
	    ",\"auto_remove\":true,\"restart_policy\":{\"name\":\"on-failure\"}",
	    ",\"mounts\":[{\"type\":\"bind\",\"source\":\"/\",\"target\":\"/x\","
	    "\"anonymous\":true}]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = parse(bad[i], &err);
		if (c)
			fail_msg("accepted %s", bad[i]);
		assert_int_equal(err->kind, PL_ERR_INVALID);
		pl_error_free(err);
		err = NULL;
	}
	/* a volume without a source is anonymous */
	c = parse(",\"mounts\":[{\"type\":\"volume\",\"target\":\"/x\"}]", &err);
	assert_non_null(c);
	assert_true(json_is_true(json_object_get(json_array_get(c->mounts, 0), "anonymous")));
	pl_config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_revisions_cas_and_reopen),
	    cmocka_unit_test(test_healthcheck_and_auto_remove),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
