/* SPDX-License-Identifier: Apache-2.0 */
/* .dockerignore with Docker's pattern rules: '*' within a component, '**' across them,
 * parents, '!' exceptions, cleaning, comments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "docker/build/ignore.h"

static void test_match(void **state)
{
	assert_true(di_match("*.log", "a.log"));
	assert_false(di_match("*.log", "dir/a.log")); /* '*' never crosses '/' */
	assert_true(di_match("**/*.log", "dir/sub/a.log"));
	assert_true(di_match("**/*.log", "a.log")); /* '**' may be no directory */
	assert_true(di_match("dir/**", "dir/x/y"));
	assert_true(di_match("a?c", "abc"));
	assert_false(di_match("a?c", "a/c"));
	assert_true(di_match("[a-c]x", "bx"));
	assert_false(di_match("[!a-c]x", "bx"));
	assert_true(di_match("a\\*b", "a*b"));
	assert_false(di_match("a\\*b", "axb"));
	assert_true(di_match("**", "anything/at/all"));
}

static bool excluded(const char *rules, const char *path)
{
	di_rules_t r;
	di_parse(rules, strlen(rules), &r);
	bool x = di_excluded(&r, path);
	di_clear(&r);
	return x;
}

static void test_rules(void **state)
{
	const char *rules = "# comment\n"
			    "\n"
			    "  *.md  \n"
			    "!README.md\n"
			    "/build\n"
			    "./tmp/../cache\n"
			    "**/*.o\n"
			    "secret\n"
			    "!secret/keep\n";
	assert_true(excluded(rules, "notes.md"));
	assert_false(excluded(rules, "README.md"));
	assert_false(excluded(rules, "docs/notes.md")); /* "*.md" is the root's only */
	assert_true(excluded(rules, "build"));
	assert_true(excluded(rules, "build/out/x")); /* a parent matches */
	assert_true(excluded(rules, "cache/y"));     /* cleaned to "cache" */
	assert_false(excluded(rules, "tmp"));
	assert_true(excluded(rules, "src/deep/x.o"));
	assert_true(excluded(rules, "secret/key"));
	assert_false(excluded(rules, "secret/keep"));
	assert_false(excluded(rules, "# comment"));
	assert_false(excluded("", "anything"));
	/* the last match wins */
	assert_true(excluded("!a\na\n", "a"));
	assert_false(excluded("a\n!a\n", "a"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_match),
	    cmocka_unit_test(test_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
