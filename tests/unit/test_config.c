/* SPDX-License-Identifier: Apache-2.0 */
/* Config parsing and validation: what the create API accepts and how it refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "portlayer/config.h"

static pl_config_t *parse(const char *text, pl_error_t **err)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	assert_non_null(j);
	pl_config_t *c = pl_config_parse(j, true, err);
	json_decref(j);
	return c;
}

static void expect_invalid(const char *text, const char *needle)
{
	pl_error_t *err = NULL;
	pl_config_t *c = parse(text, &err);
	assert_null(c);
	assert_non_null(err);
	assert_int_equal(err->kind, PL_ERR_INVALID);
	if (!strstr(err->msg, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err->msg, needle);
	pl_error_free(err);
}

static void test_minimal(void **state)
{
	pl_error_t *err = NULL;
	pl_config_t *c = parse("{\"rootfs\":\"/\",\"process\":{\"args\":[\"true\"]}}", &err);
	assert_non_null(c);
	assert_null(err);
	assert_string_equal(c->args[0], "true");
	assert_null(c->args[1]);
	assert_string_equal(c->cwd, "/");
	assert_int_equal(c->uid, 0);
	assert_int_equal(c->kernel, PL_KERNEL_SHARED);
	pl_config_free(c);
}

static void test_full(void **state)
{
	pl_error_t *err = NULL;
	pl_config_t *c =
	    parse("{\"name\":\"web-1\",\"rootfs\":\"/tmp\",\"hostname\":\"h1\","
		  "\"process\":{\"args\":[\"sh\",\"-c\",\"x\"],\"env\":[\"A=1\",\"B=\"],"
		  "\"cwd\":\"/srv\",\"user\":\"1000:2000\"},"
		  "\"isolation\":{\"kernel\":\"shared\"}}",
		  &err);
	assert_non_null(c);
	assert_string_equal(c->name, "web-1");
	assert_string_equal(c->env[1], "B=");
	assert_int_equal(c->uid, 1000);
	assert_int_equal(c->gid, 2000);
	json_t *j = pl_config_to_json(c);
	pl_config_t *again = pl_config_parse(j, true, &err);
	assert_non_null(again);
	assert_string_equal(again->cwd, "/srv");
	json_decref(j);
	pl_config_free(again);
	pl_config_free(c);
}

static void test_rejects(void **state)
{
	expect_invalid("{\"rootfs\":\"/\",\"process\":{\"args\":[]}}", "args must not be empty");
	expect_invalid("{\"rootfs\":\"/\",\"process\":{\"args\":\"ls\"}}", "args");
	expect_invalid("{\"rootfs\":\"/\",\"process\":{\"args\":[1]}}", "args");
	expect_invalid("{\"rootfs\":\"/\",\"process\":{\"args\":[\"\"]}}", "args[0]");
	expect_invalid("{\"rootfs\":\"rel\",\"process\":{\"args\":[\"x\"]}}", "absolute");
	expect_invalid("{\"rootfs\":\"/nonexistent-pl\",\"process\":{\"args\":[\"x\"]}}",
		       "nonexistent-pl");
	expect_invalid("{\"rootfs\":\"/etc/passwd\",\"process\":{\"args\":[\"x\"]}}",
		       "not a directory");
	expect_invalid("{\"rootfs\":\"/a,b\",\"process\":{\"args\":[\"x\"]}}", "','");
	expect_invalid("{\"rootfs\":\"/\",\"process\":{\"args\":[\"x\"]},\"extra\":1}",
		       "unknown field \"extra\"");
	expect_invalid("{\"rootfs\":\"/\",\"process\":{\"args\":[\"x\"],\"terminal\":true}}",
		       "unknown field \"terminal\"");
	expect_invalid("{\"rootfs\":\"/\",\"process\":{\"args\":[\"x\"],\"env\":[\"NOEQ\"]}}",
		       "KEY=VALUE");
	expect_invalid("{\"rootfs\":\"/\",\"process\":{\"args\":[\"x\"],\"env\":[\"=v\"]}}",
		       "KEY=VALUE");
	expect_invalid("{\"rootfs\":\"/\",\"process\":{\"args\":[\"x\"],\"cwd\":\"tmp\"}}",
		       "absolute");
	expect_invalid("{\"rootfs\":\"/\",\"process\":{\"args\":[\"x\"],\"user\":\"ro ot\"}}",
		       "NAME[:GROUP]");
	expect_invalid("{\"rootfs\":\"/\",\"process\":{\"args\":[\"x\"],\"user\":\"1:\"}}",
		       "NAME[:GROUP]");
	expect_invalid("{\"rootfs\":\"/\",\"process\":{\"args\":[\"x\"],\"user\":\"-1\"}}",
		       "NAME[:GROUP]");
	expect_invalid("{\"name\":\"-bad\",\"rootfs\":\"/\",\"process\":{\"args\":[\"x\"]}}",
		       "name");
	expect_invalid("{\"name\":\"a/b\",\"rootfs\":\"/\",\"process\":{\"args\":[\"x\"]}}",
		       "name");
	expect_invalid("{\"hostname\":\"a b\",\"rootfs\":\"/\",\"process\":{\"args\":[\"x\"]}}",
		       "hostname");
	expect_invalid("{\"rootfs\":\"/\",\"process\":{\"args\":[\"x\"]},"
		       "\"isolation\":{\"kernel\":\"mine\"}}",
		       "isolation.kernel");
	expect_invalid("{\"rootfs\":\"/\"}", "process is required");
	expect_invalid("{\"process\":{\"args\":[\"x\"]}}", "exactly one of rootfs and image");
	expect_invalid("[]", "JSON object");
}

static void test_tether_json_defaults(void **state)
{
	pl_error_t *err = NULL;
	pl_config_t *c =
	    parse("{\"rootfs\":\"/\",\"process\":{\"args\":[\"id\"],\"user\":\"7\"}}", &err);
	assert_non_null(c);
	assert_int_equal(c->gid, 0);
	json_t *j = pl_config_tether_json(c, "box");
	json_t *env = json_object_get(j, "env");
	int seen_path = 0, seen_host = 0, seen_home = 0;
	for (size_t i = 0; i < json_array_size(env); i++) {
		const char *e = json_string_value(json_array_get(env, i));
		seen_path |= strncmp(e, "PATH=", 5) == 0;
		seen_host |= strcmp(e, "HOSTNAME=box") == 0;
		seen_home |= strcmp(e, "HOME=/") == 0;
	}
	assert_true(seen_path && seen_host && seen_home);
	assert_int_equal(json_integer_value(json_object_get(j, "uid")), 7);
	json_decref(j);
	pl_config_free(c);
}

/* User names go to tether as given (it resolves them in the container); no HOME is made
 * up for them here. */
static void test_user_names(void **state)
{
	assert_true(pl_user_name_valid("app"));
	assert_true(pl_user_name_valid("app:staff"));
	assert_true(pl_user_name_valid("1000:staff"));
	assert_true(pl_user_name_valid("svc_1.x-y$"));
	assert_false(pl_user_name_valid(""));
	assert_false(pl_user_name_valid(":staff"));
	assert_false(pl_user_name_valid("app:"));
	assert_false(pl_user_name_valid("a:b:c"));
	assert_false(pl_user_name_valid("-app"));
	assert_false(pl_user_name_valid("a b"));
	assert_false(pl_user_name_valid("a/b"));
	pl_error_t *err = NULL;
	pl_config_t *c = parse(
	    "{\"rootfs\":\"/\",\"process\":{\"args\":[\"id\"],\"user\":\"app:staff\"}}", &err);
	assert_non_null(c);
	assert_string_equal(c->user_name, "app:staff");
	json_t *j = pl_config_tether_json(c, "box");
	assert_string_equal(json_string_value(json_object_get(j, "user")), "app:staff");
	json_t *env = json_object_get(j, "env");
	for (size_t i = 0; i < json_array_size(env); i++)
		assert_true(strncmp(json_string_value(json_array_get(env, i)), "HOME=", 5) != 0);
	json_decref(j);
	json_t *back = pl_config_to_json(c);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(back, "process"), "user")),
	    "app:staff");
	json_decref(back);
	pl_config_free(c);
}

/* The canonical form of a config parses back to itself, from the first normalisation on
 * (issue 13 bug 7: a missing "security" became {} and only a second pass the defaults). */
static void test_idempotent(void **state)
{
	static const char *const bodies[] = {
	    "{\"rootfs\":\"/r\",\"process\":{\"args\":[\"x\"]}}",
	    "{\"rootfs\":\"/r\",\"process\":{\"args\":[\"x\"]},\"security\":null}",
	    "{\"rootfs\":\"/r\",\"process\":{\"args\":[\"x\"]},\"security\":{}}",
	    "{\"rootfs\":\"/r\",\"process\":{\"args\":[\"x\"]},\"resources\":{}}",
	    "{\"rootfs\":\"/r\",\"process\":{\"args\":[\"x\"]},\"security\":{\"privileged\":"
	    "true}}",
	    "{\"image\":\"busybox:latest\",\"process\":{\"args\":[\"true\"]}}",
	};
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		json_t *j = json_loads(bodies[i], 0, NULL);
		assert_non_null(j);
		pl_error_t *err = NULL;
		pl_config_t *c = pl_config_parse(j, false, &err);
		assert_non_null(c);
		json_t *canon = pl_config_to_json(c);
		pl_config_t *again = pl_config_parse(canon, false, &err);
		if (!again)
			fail_msg("%s: canonical form refused: %s", bodies[i], err->msg);
		json_t *canon2 = pl_config_to_json(again);
		if (!json_equal(canon, canon2)) {
			char *a = json_dumps(canon, JSON_SORT_KEYS),
			     *b = json_dumps(canon2, JSON_SORT_KEYS);
			fail_msg("not idempotent:\n%s\n%s", a, b);
		}
		json_decref(canon);
		json_decref(canon2);
		pl_config_free(again);
		pl_config_free(c);
		json_decref(j);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_minimal),    cmocka_unit_test(test_full),
	    cmocka_unit_test(test_rejects),    cmocka_unit_test(test_tether_json_defaults),
	    cmocka_unit_test(test_user_names), cmocka_unit_test(test_idempotent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
