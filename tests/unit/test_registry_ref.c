/* SPDX-License-Identifier: Apache-2.0 */
/* Registry references: what pull accepts and how it splits them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "portlayer/storage/registry.h"

static void parse_ok(const char *ref, const char *host, const char *repo, const char *tag,
		     const char *digest)
{
	pl_registry_ref_t r = {0};
	pl_error_t *err = NULL;
	if (pl_registry_ref_parse(ref, &r, &err) < 0)
		fail_msg("\"%s\" refused: %s", ref, err ? err->msg : "?");
	assert_string_equal(r.host, host);
	assert_string_equal(r.repo, repo);
	if (tag)
		assert_string_equal(r.tag, tag);
	else
		assert_null(r.tag);
	if (digest)
		assert_string_equal(r.digest, digest);
	else
		assert_null(r.digest);
	pl_registry_ref_clear(&r);
}

static void test_accepts(void **state)
{
	const char *d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	parse_ok("127.0.0.1:5000/busybox:t1", "127.0.0.1:5000", "busybox", "t1", NULL);
	parse_ok("localhost:5000/a/b", "localhost:5000", "a/b", "latest", NULL);
	char buf[200];
	snprintf(buf, sizeof(buf), "127.0.0.1:5000/busybox@%s", d);
	parse_ok(buf, "127.0.0.1:5000", "busybox", NULL, d);
}

static void test_refuses(void **state)
{
	const char *bad[] = {"",
			     "127.0.0.1:5000/",
			     "127.0.0.1:5000/UPPER:t",
			     "h:1/x@sha256:12",
			     "h:1/x:",
			     "h:1/x:t@",
			     "h:1/../x",
			     "h:1/x y"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pl_registry_ref_t r = {0};
		pl_error_t *err = NULL;
		if (pl_registry_ref_parse(bad[i], &r, &err) == 0) {
			pl_registry_ref_clear(&r);
			fail_msg("\"%s\" was accepted", bad[i]);
		}
		assert_non_null(err);
		pl_error_free(err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accepts),
	    cmocka_unit_test(test_refuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
