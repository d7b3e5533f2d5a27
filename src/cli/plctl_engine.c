/* SPDX-License-Identifier: Apache-2.0 */
/* plctl top CONTAINER: the process list tether gathers inside the domain, as a table.
 * plctl kv get|put|rm|ls: the key-value store; put and rm take --if-match REV
 * (compare-and-set: 0 means the key must not exist yet). */
#include "cli/plctl_engine.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"

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
	_cleanup_free_ char *esc = pl_client_escape(c, argv[1]);
	_cleanup_free_ char *path = pl_xasprintf("/containers/%s/top", esc);
	_cleanup_(json_decrefp) json_t *resp = NULL;
	pl_error_t *err = NULL;
	if (pl_client_request(c, "GET", path, NULL, NULL, &resp, &err) < 0)
		return fail(err, 1);
	printf("%-8s %-10s %-2s %10s %10s  %s\n", "PID", "USER", "S", "TIME(ms)", "RSS(KiB)",
	       "COMMAND");
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(resp, "processes"), i, p)
	{
		printf("%-8lld %-10s %-2s %10lld %10lld ",
		       (long long)json_integer_value(json_object_get(p, "pid")),
		       json_string_value(json_object_get(p, "user")) ?: "?",
		       json_string_value(json_object_get(p, "state")) ?: "?",
		       (long long)json_integer_value(json_object_get(p, "cpu_time_ms")),
		       (long long)json_integer_value(json_object_get(p, "rss_kib")));
		size_t k;
		json_t *a;
		json_array_foreach(json_object_get(p, "args"), k, a)
		    printf(" %s", json_string_value(a) ?: "");
		putchar('\n');
	}
	return 0;
}

#define KV_USAGE                                                                                   \
	"kv get KEY | kv put [--if-match REV] KEY VALUE|- | kv rm [--if-match REV] KEY |\n"        \
	"       kv ls [PREFIX]\n\n"                                                                \
	"The key-value store. get prints the value; put (VALUE - reads stdin) prints the new\n"    \
	"revision; ls prints REVISION KEY lines. --if-match REV writes only if the key is at\n"    \
	"revision REV (0: only if it does not exist); otherwise exit 1 with a conflict.\n"

static char *kv_path(pl_client_t *c, const char *key)
{
	/* a key's '/' are part of it: escape each segment, keep the slashes */
	size_t n = strlen(key);
	char *out = pl_xstrdup("/kv/");
	for (size_t i = 0; i <= n;) {
		size_t len = strcspn(key + i, "/");
		_cleanup_free_ char *seg = pl_xasprintf("%.*s", (int)len, key + i);
		_cleanup_free_ char *esc = pl_client_escape(c, seg);
		char *next = pl_xasprintf("%s%s%s", out, esc, i + len < n ? "/" : "");
		free(out);
		out = next;
		i += len + 1;
	}
	return out;
}

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
	_cleanup_(json_decrefp) json_t *resp = NULL;
	if (!strcmp(sub, "ls")) {
		if (argc > 3)
			return usage(KV_USAGE, true);
		_cleanup_free_ char *path = pl_xstrdup("/kv");
		if (argc == 3)
			pl_client_add_query(c, &path, "prefix", argv[2]);
		if (pl_client_request(c, "GET", path, NULL, NULL, &resp, &err) < 0)
			return fail(err, 1);
		size_t k;
		json_t *e;
		json_array_foreach(resp, k, e) printf(
		    "%lld %s\n", (long long)json_integer_value(json_object_get(e, "revision")),
		    json_string_value(json_object_get(e, "key")));
		return 0;
	}
	if (!strcmp(sub, "get") && argc == 3) {
		_cleanup_free_ char *path = kv_path(c, argv[2]);
		if (pl_client_request(c, "GET", path, NULL, NULL, &resp, &err) < 0)
			return fail(err, 1);
		const char *v = json_string_value(json_object_get(resp, "value"));
		fputs(v ? v : "", stdout);
		return 0;
	}
	if (!strcmp(sub, "put") && argc == i + 2) {
		_cleanup_free_ char *path = kv_path(c, argv[i]);
		_cleanup_free_ char *data = NULL;
		size_t len = 0;
		if (!strcmp(argv[i + 1], "-")) {
			if (pl_read_fd(STDIN_FILENO, "stdin", &data, &len, (8u << 20), &err) < 0)
				return fail(err, 1);
		} else {
			data = pl_xstrdup(argv[i + 1]);
			len = strlen(data);
		}
		json_t *v = json_stringn(data, len);
		if (!v) {
			pl_error_set(&err, PL_ERR_INVALID, 0, "the value must be UTF-8 text");
			return fail(err, 1);
		}
		_cleanup_(json_decrefp) json_t *body = json_pack("{s:o}", "value", v);
		if (pl_client_request_if_match(c, "PUT", path, body, if_match, &resp, &err) < 0)
			return fail(err, 1);
		printf("%lld\n", (long long)json_integer_value(json_object_get(resp, "revision")));
		return 0;
	}
	if (!strcmp(sub, "rm") && argc == i + 1) {
		_cleanup_free_ char *path = kv_path(c, argv[i]);
		if (pl_client_request_if_match(c, "DELETE", path, NULL, if_match, NULL, &err) < 0)
			return fail(err, 1);
		return 0;
	}
	return usage(KV_USAGE, true);
}
