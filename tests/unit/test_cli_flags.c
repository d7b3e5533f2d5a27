/* SPDX-License-Identifier: Apache-2.0 */
/* plctl's flag tables (src/cli/flags.c, cli.c): getopt's option string and long options
 * come from a command's tables, table flags set their JSON fields, and the help lists
 * every flag with its text (headings, continuation lines, hidden flags, subcommands). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

enum { OPT_RM = 256, OPT_HELP };

static const flag_t own_flags[] = {
    {"rm", 0, NULL, "remove it when it exits", OPT_RM},
    {"detach", 'd', NULL, "return once it started"},
    {"volume", 'v', "[SRC:]DST[:ro]", "mount a host path or a volume;\nDST alone: anonymous"},
    {"mount", 0, "type=bind|volume,source=SRC,target=DST", "\nlikewise, the long form", 300},
    {"help", 0, NULL, NULL, OPT_HELP},
    {0},
};

static const flag_table_t tables[] = {
    {NULL, own_flags},
    {"Resources", pl_cli_resource_flags},
    {0},
};

static int cmd_fn(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	return 0;
}

static const command_t cmd = {"run", cmd_fn, 1, "Run", "run [OPTIONS] ROOTFS\n\nRuns it.", tables};

static void test_optstring_and_longopts(void **state)
{
	pl_cli_opts_t g = {0};
	pl_cli_opts_init(&g, &cmd, "+:");
	assert_string_equal(g.optstring, "+:dv:m:");
	size_t n = 0;
	while (g.longopts[n].name)
		n++;
	size_t want = 5;
	for (const flag_t *f = pl_cli_resource_flags; f->name; f++)
		want++;
	assert_int_equal(n, want);
	assert_string_equal(g.longopts[0].name, "rm");
	assert_int_equal(g.longopts[0].val, OPT_RM);
	assert_int_equal(g.longopts[0].has_arg, no_argument);
	assert_int_equal(g.longopts[2].val, 'v');
	assert_int_equal(g.longopts[2].has_arg, required_argument);
	pl_cli_opts_clear(&g);
	assert_null(g.longopts);
}

/* A whole parse: own flags come back by id, table flags set their fields. */
static void test_parse(void **state)
{
	char *argv[] = {"run", "--rm", "-m",	    "64m",    "--cpus",
			"1.5", "-d",   "--bogus-x", "rootfs", NULL};
	int argc = 9;
	pl_cli_opts_t g = {0};
	pl_cli_opts_init(&g, &cmd, "+:");
	json_t *res = json_object();
	bool rm = false, detach = false, unknown = false;
	int opt;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, g.optstring, g.longopts, NULL)) != -1) {
		const flag_t *table, *f;
		if (opt == OPT_RM)
			rm = true;
		else if (opt == 'd')
			detach = true;
		else if ((f = pl_cli_table_flag(&cmd, opt, &table))) {
			assert_ptr_equal(table, pl_cli_resource_flags);
			pl_error_t *e = NULL;
			assert_int_equal(f->set(res, f, optarg, &e), 0);
		} else {
			assert_int_equal(opt, '?');
			unknown = true;
		}
	}
	assert_true(rm && detach && unknown);
	assert_int_equal(optind, 8);
	assert_int_equal(json_integer_value(json_object_get(res, "memory")), 64 << 20);
	assert_true(json_real_value(json_object_get(res, "cpus")) == 1.5);
	json_decref(res);
	pl_cli_opts_clear(&g);
}

static char *usage_of(const command_t *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	pl_cli_print_usage(f, c);
	fclose(f);
	return buf;
}

static void test_help(void **state)
{
	char *u = usage_of(&cmd);
	assert_non_null(strstr(u, "Usage: plctl run [OPTIONS] ROOTFS\n\nRuns it.\n\n  --rm "));
	/* the column: three spaces after the widest flag, 30 at most */
	assert_non_null(strstr(u, "\n  -d, --detach                return once it started\n"));
	/* as wide as the column less one: one space */
	assert_non_null(strstr(u, "\n  -v, --volume [SRC:]DST[:ro] mount a host path or a volume;\n"
				  "                              DST alone: anonymous\n"));
	/* wider, and its help starts with a newline: below it */
	assert_non_null(strstr(u, "  --mount type=bind|volume,source=SRC,target=DST\n"
				  "                              likewise, the long form\n"));
	assert_non_null(strstr(u, "\n\nResources:\n  -m, --memory SIZE "));
	assert_null(strstr(u, "--help")); /* hidden */
	free(u);
}

static const command_t sub_ls = {"ls", cmd_fn, 1, "list them", "thing ls [-q]"};
static const command_t sub_list = {"list", cmd_fn, 1, NULL, "thing list [-q]"};
static const command_t sub_create = {"create", cmd_fn, 1, "make one;\nprints its name",
				     "thing create NAME\n\nMakes one."};
static const command_t group = {"thing",
				cmd_fn,
				1,
				"Things",
				"thing COMMAND",
				NULL,
				(const command_t *const[]){&sub_ls, &sub_list, &sub_create, NULL},
				"NAME: a thing's name."};

static void test_group_help(void **state)
{
	char *u = usage_of(&group);
	assert_string_equal(u, "Usage: plctl thing COMMAND\n\n"
			       "  ls [-q]       list them\n"
			       "  create NAME   make one;\n"
			       "                prints its name\n"
			       "\nNAME: a thing's name.\n");
	free(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_optstring_and_longopts),
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_help),
	    cmocka_unit_test(test_group_help),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
