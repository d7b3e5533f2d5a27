/* SPDX-License-Identifier: Apache-2.0 */
/* plctl top CONTAINER: the process list tether gathers inside the domain, as a table.
 * plctl kv get|put|rm|ls: the key-value store; put and rm take --if-match REV
 * (compare-and-set: 0 means the key must not exist yet). */
#include "cli/plctl_engine.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(pl_error_t *e, int code)
{
	fprintf(stderr, "plctl: %s\n", e && e->msg ? e->msg : "unknown error");
	pl_error_free(e);
	return code;
}

static int usage(const char *text, bool err)
{
	fprintf(err ? stderr : stdout, "Usage: plctl %s\n", text);
	return err ? 2 : 0;
}

static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return true;
	return false;
}

#define TOP_USAGE "top CONTAINER\n\nList the container's processes, as seen inside it.\n"

int pl_cli_top(pl_client_t *c, int argc, char **argv)
{
	if (wants_help(argc, argv))
		return usage(TOP_USAGE, false);
	if (argc != 2)
		return usage(TOP_USAGE, true);
	pl_error_t *err = NULL;
	pl_process_info_t *procs = NULL;
	size_t n = 0;
	if (pl_container_top(c, argv[1], &procs, &n, &err) < 0)
		return fail(err, 1);
	printf("%-8s %-10s %-2s %10s %10s  %s\n", "PID", "USER", "S", "TIME(ms)", "RSS(KiB)",
	       "COMMAND");
	for (size_t i = 0; i < n; i++) {
		const pl_process_info_t *p = &procs[i];
		printf("%-8d %-10s %-2s %10lld %10lld ", p->pid, p->user ?: "?", p->state ?: "?",
		       (long long)p->cpu_time_ms, (long long)p->rss_kib);
		for (char **a = p->args; a && *a; a++)
			printf(" %s", *a);
		putchar('\n');
	}
	pl_process_infos_free(procs, n);
	return 0;
}

#define KV_USAGE                                                                                   \
	"kv get KEY | kv put [--if-match REV] KEY VALUE|- | kv rm [--if-match REV] KEY |\n"        \
	"       kv ls [PREFIX]\n\n"                                                                \
	"The key-value store. get prints the value; put (VALUE - reads stdin) prints the new\n"    \
	"revision; ls prints REVISION KEY lines. --if-match REV writes only if the key is at\n"    \
	"revision REV (0: only if it does not exist); otherwise exit 1 with a conflict.\n"

int pl_cli_kv(pl_client_t *c, int argc, char **argv)
{
	if (wants_help(argc, argv))
		return usage(KV_USAGE, false);
	if (argc < 2)
		return usage(KV_USAGE, true);
	const char *sub = argv[1];
	const char *if_match = NULL;
	int i = 2;
	if (i + 1 < argc && !strcmp(argv[i], "--if-match")) {
		if_match = argv[i + 1];
		i += 2;
	}
	if (if_match && strcmp(sub, "put") && strcmp(sub, "rm"))
		return usage(KV_USAGE, true);
	pl_error_t *err = NULL;
	int64_t rev = -1;
	if (if_match && pl_parse_int64(if_match, 0, INT64_MAX, &rev) < 0) {
		pl_error_set(&err, PL_ERR_INVALID, 0, "--if-match %s: want a revision number",
			     if_match);
		return fail(err, 1);
	}
	if (!strcmp(sub, "ls")) {
		if (argc > 3)
			return usage(KV_USAGE, true);
		pl_kv_entry_t *v = NULL;
		size_t n = 0;
		if (pl_kv_list(c, argc == 3 ? argv[2] : NULL, &v, &n, &err) < 0)
			return fail(err, 1);
		for (size_t k = 0; k < n; k++)
			printf("%lld %s\n", (long long)v[k].revision, v[k].key ? v[k].key : "");
		pl_kv_entries_free(v, n);
		return 0;
	}
	if (!strcmp(sub, "get") && argc == 3) {
		_cleanup_(pl_kv_entry_clear) pl_kv_entry_t e = {0};
		if (pl_kv_read(c, argv[2], &e, &err) < 0)
			return fail(err, 1);
		fwrite(e.value, 1, e.len, stdout);
		return 0;
	}
	if (!strcmp(sub, "put") && argc == i + 2) {
		_cleanup_free_ char *data = NULL;
		size_t len = 0;
		if (!strcmp(argv[i + 1], "-")) {
			if (pl_read_fd(STDIN_FILENO, "stdin", &data, &len, (8u << 20), &err) < 0)
				return fail(err, 1);
		} else {
			data = pl_xstrdup(argv[i + 1]);
			len = strlen(data);
		}
		int64_t revision = 0;
		if (pl_kv_set(c, argv[i], data, len, rev, &revision, &err) < 0)
			return fail(err, 1);
		printf("%lld\n", (long long)revision);
		return 0;
	}
	if (!strcmp(sub, "rm") && argc == i + 1) {
		if (pl_kv_delete_if(c, argv[i], rev, &err) < 0)
			return fail(err, 1);
		return 0;
	}
	return usage(KV_USAGE, true);
}
