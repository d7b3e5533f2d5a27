/* SPDX-License-Identifier: Apache-2.0 */
/* X-Registry-Config: strict base64 + JSON, and which entry serves an image reference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "docker/build/regconfig.h"

static void test_parse(void **state)
{
	pl_error_t *err = NULL;
	json_t *v = rc_parse(NULL, &err);
	assert_true(json_is_object(v) && json_object_size(v) == 0);
	json_decref(v);
	v = rc_parse("bnVsbA==", &err); /* null: what the CLI sends without logins */
	assert_true(json_is_object(v) && json_object_size(v) == 0);
	json_decref(v);
	v = rc_parse("e30", &err); /* {} without padding */
	assert_true(json_is_object(v));
	json_decref(v);
	const char *bad[] = {
	    "!!",	   "e30==x", "e", "bm90IGpzb24=" /* not json */, "WzEsMl0=" /* [1,2] */,
	    "eyJhIjoxfQ==" /* {"a":1} */};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		assert_null(rc_parse(bad[i], &err));
		assert_non_null(err);
		assert_non_null(strstr(err->msg, "invalid X-Registry-Config header"));
		pl_error_free(err);
	}
}

static void test_credentials(void **state)
{
	json_t *cfg = json_pack("{s:{s:s,s:s},s:{s:s},s:{s:s,s:s}}", "127.0.0.1:5000", "username",
				"u", "password", "p", "https://index.docker.io/v1/", "auth",
				"aHViOnNlY3I=" /* hub:secr */, "http://reg.example/path",
				"username", "e", "password", "x");
	char *u, *p;
	rc_credentials(cfg, "127.0.0.1:5000/a/b:1", &u, &p);
	assert_string_equal(u, "u");
	assert_string_equal(p, "p");
	free(u), free(p);
	rc_credentials(cfg, "busybox", &u, &p);
	assert_string_equal(u, "hub");
	assert_string_equal(p, "secr");
	free(u), free(p);
	rc_credentials(cfg, "reg.example/x", &u, &p);
	assert_string_equal(u, "e");
	free(u), free(p);
	rc_credentials(cfg, "127.0.0.1:5001/a", &u, &p);
	assert_null(u);
	assert_null(p);
	char *r = rc_registry_of("localhost/x");
	assert_string_equal(r, "localhost");
	free(r);
	r = rc_registry_of("library/busybox");
	assert_string_equal(r, "docker.io");
	free(r);
	json_decref(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_credentials),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
