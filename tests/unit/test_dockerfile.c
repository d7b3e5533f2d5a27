/* SPDX-License-Identifier: Apache-2.0 */
/* docker build's Dockerfile parser (directives, continuations, comments, flags, exec vs
 * shell form, heredocs refused) and word expansion as Docker does it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "docker/build/dockerfile.h"

static const char *vars(const char *name, void *ud)
{
	if (!strcmp(name, "A"))
		return "alpha";
	if (!strcmp(name, "EMPTY"))
		return "";
	if (!strcmp(name, "SP"))
		return "a b";
	return NULL;
}

static char *x(const char *w)
{
	pl_error_t *e = NULL;
	char *r = df_expand(w, '\\', vars, NULL, &e);
	if (!r) {
		pl_error_free(e);
		return strdup("<error>");
	}
	return r;
}

#define EXPECT(word, want)                                                                         \
	do {                                                                                       \
		char *got_ = x(word);                                                              \
		assert_string_equal(got_, want);                                                   \
		free(got_);                                                                        \
	} while (0)

static void test_expand(void **state)
{
	EXPECT("$A", "alpha");
	EXPECT("${A}x", "alphax");
	EXPECT("$A-x", "alpha-x");
	EXPECT("${NOPE:-def}", "def");
	EXPECT("${EMPTY:-def}", "def");
	EXPECT("${EMPTY-def}", "");
	EXPECT("${NOPE-def}", "def");
	EXPECT("${A:+set}", "set");
	EXPECT("${EMPTY:+set}", "");
	EXPECT("${EMPTY+set}", "set");
	EXPECT("${NOPE:+set}", "");
	EXPECT("${NOPE:-${A}}", "alpha");
	EXPECT("'$A'", "$A");
	EXPECT("\"$A b\"", "alpha b");
	EXPECT("\\$A", "$A");
	EXPECT("a\\ b", "a b");
	EXPECT("\"a\\\"b\"", "a\"b");
	EXPECT("$", "$");
	EXPECT("${NOPE:?must be set}", "<error>");
	EXPECT("${A", "<error>");
}

static void test_words_and_pairs(void **state)
{
	pl_error_t *e = NULL;
	char **w = df_expand_words("a \"b c\" $SP 'd e'", '\\', vars, NULL, &e);
	assert_non_null(w);
	assert_int_equal(df_strv_len(w), 4);
	assert_string_equal(w[1], "b c");
	assert_string_equal(w[2], "a b"); /* expansion does not split again */
	assert_string_equal(w[3], "d e");
	df_strv_free(w);

	char **kv = df_name_values("K=v K2=\"two words\" K3=$A", "ENV", '\\', vars, NULL, &e);
	assert_non_null(kv);
	assert_int_equal(df_strv_len(kv), 6);
	assert_string_equal(kv[3], "two words");
	assert_string_equal(kv[5], "alpha");
	df_strv_free(kv);
	kv = df_name_values("NAME the rest  of it", "ENV", '\\', vars, NULL, &e);
	assert_non_null(kv);
	assert_string_equal(kv[0], "NAME");
	assert_string_equal(kv[1], "the rest  of it");
	df_strv_free(kv);
	assert_null(df_name_values("=v", "LABEL", '\\', vars, NULL, &e));
	pl_error_free(e);
}

static void test_parse(void **state)
{
	const char *text = "# syntax=docker/dockerfile:1\n"
			   "# escape=`\n"
			   "\n"
			   "# a comment\n"
			   "FROM --platform=linux/amd64 busybox AS base\n"
			   "RUN echo a && `\n"
			   "# a comment inside a continuation\n"
			   "\n"
			   "    echo b\n"
			   "CMD [\"sh\", \"-c\", \"echo hi\"]\n"
			   "COPY --chown=1:2 --from=base a b /dst/\n"
			   "ENTRYPOINT [not json\n"
			   "run   lower case\r\n";
	df_file_t f;
	pl_error_t *e = NULL;
	assert_int_equal(df_parse(text, strlen(text), &f, &e), 0);
	assert_int_equal(f.escape, '`');
	assert_int_equal(f.n, 6);
	assert_string_equal(f.v[0].cmd, "from");
	assert_string_equal(df_flag(&f.v[0], "platform"), "linux/amd64");
	assert_string_equal(f.v[0].rest, "busybox AS base");
	assert_int_equal(f.v[0].line, 5);
	assert_string_equal(f.v[1].rest, "echo a &&     echo b");
	assert_false(f.v[1].json);
	assert_true(f.v[2].json);
	assert_int_equal(df_strv_len(f.v[2].argv), 3);
	assert_string_equal(f.v[2].argv[2], "echo hi");
	assert_string_equal(df_flag(&f.v[3], "chown"), "1:2");
	assert_string_equal(df_flag(&f.v[3], "from"), "base");
	assert_null(df_flag(&f.v[3], "chmod"));
	assert_false(f.v[4].json); /* not JSON: the shell form */
	assert_string_equal(f.v[5].cmd, "run");
	assert_string_equal(f.v[5].rest, "lower case");
	static const char *const ok[] = {"chown", NULL};
	assert_true(df_check_flags(&f.v[3], ok, &e) < 0);
	assert_non_null(strstr(e->msg, "unknown flag: from"));
	pl_error_free(e);
	e = NULL;
	df_file_clear(&f);
}

static void parse_fails(const char *text, const char *msg)
{
	df_file_t f;
	pl_error_t *e = NULL;
	assert_true(df_parse(text, strlen(text), &f, &e) < 0);
	assert_non_null(e);
	if (!strstr(e->msg, msg))
		fail_msg("\"%s\" does not say \"%s\"", e->msg, msg);
	pl_error_free(e);
}

static void test_parse_errors(void **state)
{
	parse_fails("FROM busybox\nRUN <<EOF\necho\nEOF\n", "heredocs");
	parse_fails("FROM busybox\nCOPY <<-EOT /x\n", "heredocs");
	parse_fails("FROM busybox\nFROBNICATE x\n", "unknown instruction");
	parse_fails("# only a comment\n\n", "cannot be empty");
	parse_fails("# escape=x\nFROM busybox\n", "invalid ESCAPE");
	parse_fails("FROM busybox\nRUN\n", "requires at least one argument");
	/* a directive after an instruction is a comment */
	df_file_t f;
	pl_error_t *e = NULL;
	const char *t = "FROM busybox\n# escape=`\nRUN a \\\n b\n";
	assert_int_equal(df_parse(t, strlen(t), &f, &e), 0);
	assert_int_equal(f.escape, '\\');
	assert_string_equal(f.v[1].rest, "a  b");
	df_file_clear(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_expand),
	    cmocka_unit_test(test_words_and_pairs),
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_parse_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
