/* SPDX-License-Identifier: Apache-2.0 */
/* plctl's commands over a container's filesystem: export, diff, cp (both ways) and commit;
 * and the registry transfers image pull and push.
 * Host-side tars are read and written with libarchive (loaded by cp: archive_dl.h); the container
 * side is the daemon's business (GET/PUT/HEAD /containers/{id}/archive, /export, /changes, POST
 * /commit). */
#include "cli/archive_dl.h"
#include "cli/cli.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(pl_error_t *e, int code)
{
	fprintf(stderr, "plctl: %s\n", e && e->msg ? e->msg : "unknown error");
	pl_error_free(e);
	return code;
}

static int usage(const command_t *cmd, bool err)
{
	pl_cli_print_usage(err ? stderr : stdout, cmd);
	return err ? EXIT_USAGE : 0;
}

static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	return false;
}

static int write_fd_cb(const char *data, size_t len, void *userdata)
{
	return pl_write_all(*(int *)userdata, data, len);
}

/* export [-o FILE] CONTAINER */
static int cmd_export(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	if (wants_help(argc, argv))
		return usage(cmd, false);
	_cleanup_(pl_cli_opts_clear) pl_cli_opts_t g = {0};
	pl_cli_opts_init(&g, cmd, ":");
	const char *out = NULL;
	int opt;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, g.optstring, g.longopts, NULL)) != -1) {
		if (opt != 'o')
			return usage(cmd, true);
		out = optarg;
	}
	int i = optind;
	if (i != argc - 1)
		return usage(cmd, true);
	_cleanup_close_ int fd = -1;
	if (out) {
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			fprintf(stderr, "plctl export: %s: %s\n", out, strerror(errno));
			return 1;
		}
	} else if (isatty(STDOUT_FILENO)) {
		fprintf(stderr, "plctl export: refusing to write a tar to a terminal (use -o)\n");
		return 1;
	}
	int wfd = out ? fd : STDOUT_FILENO;
	pl_error_t *e = NULL;
	if (pl_container_export(c, argv[i], write_fd_cb, &wfd, &e) < 0)
		return fail(e, 1);
	return 0;
}

/* image save [-o FILE] [--format docker|oci] IMAGE... */
enum { OPT_FORMAT = 256 };

static int image_save(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	_cleanup_(pl_cli_opts_clear) pl_cli_opts_t g = {0};
	pl_cli_opts_init(&g, cmd, ":");
	const char *out = NULL, *format = NULL;
	int opt;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, g.optstring, g.longopts, NULL)) != -1) {
		if (opt == 'h')
			return usage(cmd, false);
		if (opt == 'o')
			out = optarg;
		else if (opt == OPT_FORMAT)
			format = optarg;
		else
			return usage(cmd, true);
	}
	int i = optind;
	if (i >= argc)
		return usage(cmd, true);
	if (format && strcmp(format, "oci") && strcmp(format, "docker")) {
		fprintf(stderr, "plctl image save: --format is docker or oci, not '%s'\n", format);
		return 2;
	}
	_cleanup_close_ int fd = -1;
	if (out) {
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			fprintf(stderr, "plctl image save: %s: %s\n", out, strerror(errno));
			return 1;
		}
	} else if (isatty(STDOUT_FILENO)) {
		fprintf(stderr,
			"plctl image save: refusing to write a tar to a terminal (use -o)\n");
		return 1;
	}
	_cleanup_free_ char *names = pl_xstrdup(argv[i]);
	for (int k = i + 1; k < argc; k++) {
		char *more = pl_xasprintf("%s,%s", names, argv[k]);
		free(names);
		names = more;
	}
	int wfd = out ? fd : STDOUT_FILENO;
	pl_error_t *e = NULL;
	if (pl_image_save(c, names, format && !strcmp(format, "oci"), write_fd_cb, &wfd, &e) < 0)
		return fail(e, 1);
	return 0;
}

/* diff CONTAINER */
static int cmd_diff(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	if (wants_help(argc, argv))
		return usage(cmd, false);
	if (argc != 2)
		return usage(cmd, true);
	pl_error_t *e = NULL;
	pl_change_t *changes = NULL;
	size_t n = 0;
	if (pl_container_changes(c, argv[1], &changes, &n, &e) < 0)
		return fail(e, 1);
	for (size_t k = 0; k < n; k++)
		printf("%c %s\n",
		       changes[k].kind == 0   ? 'C'
		       : changes[k].kind == 1 ? 'A'
					      : 'D',
		       changes[k].path ? changes[k].path : "(null)");
	pl_changes_free(changes, n);
	return 0;
}

/* "CONTAINER:PATH" → container and path (malloc'd); false for a host path. Like docker, a
 * host path with a ':' must start with '/' or '.'. */
static bool split_container(const char *arg, char **ctr, char **path)
{
	const char *colon = strchr(arg, ':');
	if (!colon || arg[0] == '/' || arg[0] == '.' || colon == arg)
		return false;
	*ctr = strndup(arg, (size_t)(colon - arg));
	*path = pl_xstrdup(colon + 1);
	return true;
}

/* Replaces the archive's top component (base) with name: "base/x" → "name/x". */
static void rename_top(struct archive_entry *e, const char *base, const char *name)
{
	const char *p = archive_entry_pathname(e);
	size_t n = strlen(base);
	if (!p || !pl_path_under(p, base))
		return;
	_cleanup_free_ char *np = pl_xasprintf("%s%s", name, p + n);
	archive_entry_copy_pathname(e, np);
	const char *h = archive_entry_hardlink(e);
	if (h && pl_path_under(h, base)) {
		_cleanup_free_ char *nh = pl_xasprintf("%s%s", name, h + n);
		archive_entry_copy_hardlink(e, nh);
	}
}

static int tmpfile_fd(void)
{
	const char *dir = getenv("TMPDIR");
	return open(dir && *dir ? dir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
}

/* cp CONTAINER:PATH HOSTPATH|- */
static int cp_out(pl_client_t *c, const char *ctr, const char *src, const char *dst)
{
	pl_error_t *e = NULL;
	if (!strcmp(dst, "-")) {
		int fd = STDOUT_FILENO;
		return pl_archive_get(c, ctr, src, NULL, write_fd_cb, &fd, &e) < 0 ? fail(e, 1) : 0;
	}
	_cleanup_close_ int tmp = tmpfile_fd();
	if (tmp < 0) {
		fprintf(stderr, "plctl cp: temporary file: %s\n", strerror(errno));
		return 1;
	}
	if (pl_archive_get(c, ctr, src, NULL, write_fd_cb, &tmp, &e) < 0)
		return fail(e, 1);
	lseek(tmp, 0, SEEK_SET);
	/* into an existing directory as is; otherwise under the destination's name */
	struct stat st;
	bool into = stat(dst, &st) == 0 && S_ISDIR(st.st_mode);
	_cleanup_free_ char *d1 = pl_xstrdup(dst), *d2 = pl_xstrdup(dst);
	const char *dir = into ? dst : dirname(d1);
	const char *newname = into ? NULL : basename(d2);
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fchdir(dfd) < 0) {
		fprintf(stderr, "plctl cp: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	struct archive *in = archive_read_new(), *out = archive_write_disk_new();
	archive_read_support_format_tar(in);
	archive_write_disk_set_options(
	    out, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
		     ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS |
		     (geteuid() == 0 ? ARCHIVE_EXTRACT_OWNER : 0));
	int rc = 0;
	if (archive_read_open_fd(in, tmp, 65536) != ARCHIVE_OK) {
		fprintf(stderr, "plctl cp: %s\n", archive_error_string(in));
		rc = 1;
	}
	struct archive_entry *ent;
	char *base = NULL;
	while (!rc && archive_read_next_header(in, &ent) == ARCHIVE_OK) {
		if (!base) { /* the first entry is the copied path itself */
			const char *p = archive_entry_pathname(ent);
			base = strndup(p, strcspn(p, "/"));
		}
		if (newname && strcmp(base, ".") != 0)
			rename_top(ent, base, newname);
		else if (newname) { /* "dir/." into a new directory: create it */
			_cleanup_free_ char *np =
			    pl_xasprintf("%s%s", newname, archive_entry_pathname(ent) + 1);
			archive_entry_copy_pathname(ent, np);
		}
		if (archive_write_header(out, ent) != ARCHIVE_OK) {
			fprintf(stderr, "plctl cp: %s: %s\n", archive_entry_pathname(ent),
				archive_error_string(out));
			rc = 1;
			break;
		}
		const void *buf;
		size_t len;
		la_int64_t off;
		int r;
		while ((r = archive_read_data_block(in, &buf, &len, &off)) == ARCHIVE_OK)
			if (archive_write_data_block(out, buf, len, off) != ARCHIVE_OK) {
				r = ARCHIVE_FATAL;
				break;
			}
		if (r != ARCHIVE_EOF) {
			fprintf(stderr, "plctl cp: %s: %s\n", archive_entry_pathname(ent),
				archive_error_string(out));
			rc = 1;
		}
	}
	free(base);
	if (archive_write_close(out) != ARCHIVE_OK && !rc) {
		fprintf(stderr, "plctl cp: %s\n", archive_error_string(out));
		rc = 1;
	}
	archive_write_free(out);
	archive_read_free(in);
	return rc;
}

/* Writes a tar of the host path src (its top entry named name) to fd. */
static int host_tar(const char *src, const char *name, int fd)
{
	struct archive *disk = archive_read_disk_new(), *out = archive_write_new();
	archive_read_disk_set_symlink_physical(disk);
	archive_read_disk_set_standard_lookup(disk);
	archive_write_set_format_pax_restricted(out);
	int rc = 0;
	if (archive_write_open_fd(out, fd) != ARCHIVE_OK ||
	    archive_read_disk_open(disk, src) != ARCHIVE_OK) {
		fprintf(stderr, "plctl cp: %s: %s\n", src, archive_error_string(disk));
		rc = 1;
	}
	struct archive_entry *e = archive_entry_new();
	size_t n = strlen(src);
	for (;;) {
		if (rc)
			break;
		archive_entry_clear(e);
		int r = archive_read_next_header2(disk, e);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK) {
			fprintf(stderr, "plctl cp: %s\n", archive_error_string(disk));
			rc = 1;
			break;
		}
		archive_read_disk_descend(disk);
		const char *p = archive_entry_pathname(e);
		_cleanup_free_ char *np = pl_xasprintf("%s%s", name, p + (strlen(p) >= n ? n : 0));
		archive_entry_copy_pathname(e, np);
		if (archive_write_header(out, e) != ARCHIVE_OK) {
			fprintf(stderr, "plctl cp: %s\n", archive_error_string(out));
			rc = 1;
			break;
		}
		if (archive_entry_filetype(e) == AE_IFREG && archive_entry_size(e) > 0) {
			_cleanup_close_ int f =
			    open(archive_entry_sourcepath(e), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			char buf[65536];
			ssize_t k;
			while (f >= 0 && (k = read(f, buf, sizeof(buf))) > 0)
				archive_write_data(out, buf, (size_t)k);
		}
	}
	archive_entry_free(e);
	if (archive_write_close(out) != ARCHIVE_OK && !rc)
		rc = 1;
	archive_write_free(out);
	archive_read_free(disk);
	return rc;
}

/* cp HOSTPATH|- CONTAINER:PATH */
static int cp_in(pl_client_t *c, const char *src, const char *ctr, const char *dst)
{
	_cleanup_close_ int tmp = -1;
	const char *target = dst;
	_cleanup_free_ char *parent = NULL;
	int fd = STDIN_FILENO;
	if (strcmp(src, "-") != 0) {
		/* into an existing directory under the source's name; otherwise (nothing
		 * there, or a file to replace) into dst's directory under dst's name */
		_cleanup_free_ char *probe = pl_xasprintf("%s/.", dst);
		pl_error_t *e = NULL;
		int r = pl_archive_stat(c, ctr, probe, NULL, &e);
		bool absent = r < 0 && (e->kind == PL_ERR_NOTFOUND || e->kind == PL_ERR_INVALID);
		pl_error_free(e);
		_cleanup_free_ char *s1 = pl_xstrdup(src);
		_cleanup_free_ char *name = NULL;
		if (absent) {
			_cleanup_free_ char *d1 = pl_xstrdup(dst), *d2 = pl_xstrdup(dst);
			parent = pl_xstrdup(dirname(d1));
			name = pl_xstrdup(basename(d2));
			target = parent;
		} else {
			name = pl_xstrdup(basename(s1));
		}
		tmp = tmpfile_fd();
		if (tmp < 0 || host_tar(src, name, tmp) != 0)
			return 1;
		lseek(tmp, 0, SEEK_SET);
		fd = tmp;
	}
	struct stat st;
	int64_t size = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1;
	pl_error_t *e = NULL;
	if (pl_archive_put(c, ctr, target, fd, size, &e) < 0)
		return fail(e, 1);
	return 0;
}

static int cmd_cp(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	if (wants_help(argc, argv))
		return usage(cmd, false);
	if (argc != 3)
		return usage(cmd, true);
	_cleanup_free_ char *c1 = NULL, *p1 = NULL, *c2 = NULL, *p2 = NULL;
	bool from = split_container(argv[1], &c1, &p1);
	bool to = split_container(argv[2], &c2, &p2);
	if (from == to) {
		fprintf(stderr, "plctl cp: exactly one of the two paths must be CONTAINER:PATH\n");
		return 2;
	}
	pl_error_t *e = NULL;
	if (pl_cli_archive_load(&e) < 0)
		return fail(e, 1);
	if (from)
		return cp_out(c, c1, p1, argv[2]);
	return cp_in(c, argv[1], c2, p2);
}

/* commit [-m MSG] [-a AUTHOR] [-c KEY=VALUE]... CONTAINER [REPO[:TAG]] */
static int cmd_commit(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	_cleanup_(pl_cli_opts_clear) pl_cli_opts_t g = {0};
	pl_cli_opts_init(&g, cmd, ":");
	_cleanup_json_ json_t *changes = json_object();
	pl_commit_spec_t spec = {0};
	int opt;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, g.optstring, g.longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			return usage(cmd, false);
		case 'm':
			spec.comment = optarg;
			break;
		case 'a':
			spec.author = optarg;
			break;
		case 'c': {
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg) {
				fprintf(stderr,
					"plctl commit: --change wants KEY=VALUE, not \"%s\"\n",
					optarg);
				return 2;
			}
			_cleanup_free_ char *key = strndup(optarg, (size_t)(eq - optarg));
			json_t *v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
			json_object_set_new(changes, key, v ? v : json_string(eq + 1));
			break;
		}
		default:
			fprintf(stderr, "plctl commit: bad flag\n");
			return usage(cmd, true);
		}
	}
	if (optind >= argc || argc - optind > 2)
		return usage(cmd, true);
	spec.container = argv[optind];
	spec.changes = json_object_size(changes) ? changes : NULL;
	_cleanup_free_ char *ref = optind + 1 < argc ? pl_xstrdup(argv[optind + 1]) : NULL;
	if (ref) {
		char *slash = strrchr(ref, '/');
		char *colon = strrchr(slash ? slash : ref, ':');
		if (colon) {
			*colon = '\0';
			spec.tag = colon + 1;
		}
		spec.repo = ref;
	}
	pl_error_t *e = NULL;
	_cleanup_free_ char *id = NULL;
	if (pl_container_commit(c, &spec, &id, &e) < 0)
		return fail(e, 1);
	puts(id ? id : "(null)");
	return 0;
}

/* The registry password of push and pull: stdin's first line when pw_stdin (else empty),
 * when a user was given. */
static void read_password(char *pw, size_t size, const char *user, bool pw_stdin)
{
	pw[0] = '\0';
	if (user && pw_stdin && !fgets(pw, (int)size, stdin))
		pw[0] = '\0';
	pw[strcspn(pw, "\r\n")] = '\0';
}

/* image push [--insecure] [-u USER --password-stdin] NAME[:TAG] */
static int image_push(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	_cleanup_(pl_cli_opts_clear) pl_cli_opts_t g = {0};
	pl_cli_opts_init(&g, cmd, ":");
	bool insecure = false, pw_stdin = false;
	const char *user = NULL;
	int opt;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, g.optstring, g.longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			return usage(cmd, false);
		case 'k':
			insecure = true;
			break;
		case 'u':
			user = optarg;
			break;
		case 'p':
			pw_stdin = true;
			break;
		default:
			return usage(cmd, true);
		}
	}
	if (optind != argc - 1)
		return usage(cmd, true);
	char pw[1024];
	read_password(pw, sizeof(pw), user, pw_stdin);
	pl_error_t *e = NULL;
	json_t *resp = NULL;
	int r = pl_image_push(c, argv[optind], NULL, insecure, user, pw, &resp, &e);
	explicit_bzero(pw, sizeof(pw));
	if (r < 0)
		return fail(e, 1);
	printf("%s\n", json_string_value(json_object_get(resp, "digest")));
	json_decref(resp);
	return 0;
}

typedef struct pull_view {
	bool quiet;
	json_t *last; /* the last line: the outcome */
} pull_view_t;

static int pull_line(json_t *v, const char *line, size_t len, void *data)
{
	pull_view_t *pv = data;
	if (!v)
		return 0;
	if (pv->last)
		json_decref(pv->last);
	pv->last = json_incref(v);
	const char *status = json_string_value(json_object_get(v, "status"));
	const char *id = json_string_value(json_object_get(v, "id"));
	json_t *pd = json_object_get(v, "progressDetail");
	if (pv->quiet || !status || json_object_get(v, "images"))
		return 0;
	if (pd)
		fprintf(stderr, "%s: %s %lld/%lld\n", id ? id : "", status,
			(long long)json_integer_value(json_object_get(pd, "current")),
			(long long)json_integer_value(json_object_get(pd, "total")));
	else if (id)
		fprintf(stderr, "%s: %s\n", id, status);
	else
		fprintf(stderr, "%s\n", status);
	return 0;
}

/* image pull [-q] [--insecure] [--platform P] [-u USER --password-stdin] REF */
static int image_pull(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	_cleanup_(pl_cli_opts_clear) pl_cli_opts_t g = {0};
	pl_cli_opts_init(&g, cmd, ":");
	bool insecure = false, pw_stdin = false;
	pull_view_t pv = {0};
	const char *user = NULL, *platform = NULL;
	int opt;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, g.optstring, g.longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			return usage(cmd, false);
		case 'q':
			pv.quiet = true;
			break;
		case 'k':
			insecure = true;
			break;
		case 'P':
			platform = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'p':
			pw_stdin = true;
			break;
		default:
			return usage(cmd, true);
		}
	}
	if (optind != argc - 1)
		return usage(cmd, true);
	char pw[1024];
	read_password(pw, sizeof(pw), user, pw_stdin);
	pl_pull_spec_t spec = {.ref = argv[optind],
			       .insecure = insecure,
			       .username = user,
			       .password = pw,
			       .platform = platform};
	pl_ndjson_t nd;
	pl_ndjson_init(&nd, pull_line, &pv);
	pl_error_t *e = NULL;
	int r = pl_image_pull_from(c, &spec, pl_ndjson_feed_cb, &nd, &e);
	explicit_bzero(pw, sizeof(pw));
	pl_ndjson_done(&nd);
	if (r < 0) {
		if (pv.last)
			json_decref(pv.last);
		return fail(e, 1);
	}
	int rc = 0;
	const char *msg = json_string_value(json_object_get(pv.last, "error"));
	json_t *img = json_array_get(json_object_get(pv.last, "images"), 0);
	if (msg) {
		fprintf(stderr, "plctl: %s\n", msg);
		rc = 1;
	} else if (img) {
		puts(json_string_value(json_object_get(img, "id")));
	} else {
		fprintf(stderr, "plctl: the pull stream ended without an outcome\n");
		rc = 1;
	}
	if (pv.last)
		json_decref(pv.last);
	return rc;
}

/* ---- the commands */

static const flag_t help_flag[] = {{"help", 'h'}, {0}};

const command_t pl_cli_cmd_cp = {
    "cp",
    cmd_cp,
    1,
    "Copy files between a container and the host",
    "cp CONTAINER:PATH HOSTPATH|-\n       plctl cp HOSTPATH|- CONTAINER:PATH\n\n"
    "Copy files out of or into a container (running or stopped). Paths in the container\n"
    "resolve inside its root. Into an existing directory the copy keeps its name;\n"
    "otherwise it takes the destination's. '-' is a tar on stdout or stdin.",
    (const flag_table_t[]){{NULL, help_flag}, {0}}};

const command_t pl_cli_cmd_diff = {
    "diff",
    cmd_diff,
    1,
    "List a container's changes against its image",
    "diff CONTAINER\n\n"
    "List what the container changed against its image: A added, C changed, D deleted.",
    (const flag_table_t[]){{NULL, help_flag}, {0}}};

static const flag_t export_flags[] = {
    {"output", 'o', "FILE", "write the tar to FILE instead of stdout"},
    {"help", 'h'},
    {0},
};

const command_t pl_cli_cmd_export = {"export",
				     cmd_export,
				     1,
				     "Write a container's filesystem as a tar",
				     "export [-o FILE] CONTAINER\n\n"
				     "Write the container's filesystem as a tar to FILE or stdout.",
				     (const flag_table_t[]){{NULL, export_flags}, {0}}};

static const flag_t commit_flags[] = {
    {"message", 'm', "TEXT", "a comment in the image's history"},
    {"author", 'a', "TEXT", "the image's author"},
    {"change", 'c', "KEY=VAL",
     "set an image config field: Cmd, Entrypoint, Env (JSON\narrays), WorkingDir, User, "
     "StopSignal (strings), Labels,\nExposedPorts, Volumes (JSON objects); repeatable"},
    {"help", 'h'},
    {0},
};

const command_t pl_cli_cmd_commit = {
    "commit",
    cmd_commit,
    1,
    "Make an image of a container's changes",
    "commit [OPTIONS] CONTAINER [REPO[:TAG]]\n\n"
    "Make an image of the container's changes (a new layer over its image).",
    (const flag_table_t[]){{NULL, commit_flags}, {0}}};

static const flag_t save_flags[] = {
    {"output", 'o', "FILE", "write the tar to FILE instead of stdout"},
    {"format", 0, "docker|oci", "a docker-archive (default) or an OCI image layout", OPT_FORMAT},
    {"help", 'h'},
    {0},
};

const command_t pl_cli_cmd_image_save = {
    "save",
    image_save,
    1,
    "write images as a tar that image import takes back",
    "image save [-o FILE] [--format docker|oci] IMAGE...\n\n"
    "Write the images as a docker-archive (or an OCI image layout) tar to FILE or stdout;\n"
    "image import takes it back with the same ids.",
    (const flag_table_t[]){{NULL, save_flags}, {0}}};

static const flag_t push_flags[] = {
    {"insecure", 0, NULL, "unverified TLS, plain http when https fails", 'k'},
    {"username", 'u', "U", "log in as U (the password from stdin with --password-stdin)"},
    {"password-stdin", 0, NULL, NULL, 'p'},
    {"help", 'h'},
    {0},
};

const command_t pl_cli_cmd_image_push = {
    "push",
    image_push,
    1,
    "push an image to the registry its name names",
    "image push [--insecure] [-u USER [--password-stdin]] HOST[:PORT]/REPO[:TAG]\n\n"
    "Push the image to the registry its name names; prints the manifest digest.",
    (const flag_table_t[]){{NULL, push_flags}, {0}}};

static const flag_t pull_flags[] = {
    {"quiet", 'q', NULL, "no progress"},
    {"insecure", 0, NULL, "unverified TLS, plain http when https fails", 'k'},
    {"platform", 0, "P", "the platform to pick from an image index (linux/amd64)", 'P'},
    {"username", 'u', "U", "log in as U (the password from stdin with --password-stdin)"},
    {"password-stdin", 0, NULL, NULL, 'p'},
    {"help", 'h'},
    {0},
};

const command_t pl_cli_cmd_image_pull = {
    "pull",
    image_pull,
    1,
    "pull from a registry, with per-layer progress",
    "image pull [-q] [--insecure] [--platform OS/ARCH] [-u USER [--password-stdin]] REF\n\n"
    "Pull an image from a registry, showing each layer's progress on stderr; prints the\n"
    "image id.",
    (const flag_table_t[]){{NULL, pull_flags}, {0}}};
