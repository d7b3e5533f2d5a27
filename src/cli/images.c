/* SPDX-License-Identifier: Apache-2.0 */
/* plctl image: import, ls, inspect, tag, rm (pull and push are in archive.c). */
#include "cli/cli.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- images ---- */

static json_t *image_raw(pl_client_t *c, const char *ref, pl_error_t **err)
{
	pl_image_info_t *im = pl_image_inspect(c, ref, err);
	json_t *raw = im ? json_incref(im->raw ? im->raw : json_null()) : NULL;
	pl_image_info_free(im);
	return raw;
}

static int image_remove(pl_client_t *c, const char *ref, bool force, pl_error_t **err)
{
	return pl_image_remove(c, ref, force, NULL, err);
}

static const pl_cli_named_ops_t image_ops = {image_raw, image_remove};

static int image_import(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	pl_cli_sub_opts_t o = {0};
	int r = pl_cli_sub_opts(cmd, argc, argv, &o);
	bool quiet = o.quiet;
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (argc - optind != 1)
		return pl_cli_usage_error("image import", "want exactly one FILE (or - for stdin)");
	const char *file = argv[optind];
	bool is_stdin = strcmp(file, "-") == 0;
	_cleanup_close_ int fd = is_stdin ? dup(STDIN_FILENO) : open(file, O_RDONLY | O_CLOEXEC);
	_cleanup_error_ pl_error_t *err = NULL;
	if (fd < 0) {
		pl_error_errno(&err, "open %s", file);
		return pl_cli_report(err, 1);
	}
	struct stat st;
	int64_t size = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1;
	_cleanup_(json_decrefp) json_t *images = NULL;
	if (pl_image_import(c, fd, size, &images, &err) < 0)
		return pl_cli_report(err, 1);
	size_t i;
	json_t *img;
	json_array_foreach(images, i, img)
	{
		const char *id = json_string_value(json_object_get(img, "id"));
		fputs(id ? id : "?", stdout);
		size_t k;
		json_t *tag;
		if (!quiet)
			json_array_foreach(json_object_get(img, "tags"), k, tag)
			    printf(" %s", json_string_value(tag) ? json_string_value(tag) : "");
		putchar('\n');
	}
	return 0;
}

typedef struct image_row {
	char *cells[5]; /* repository, tag, id, created, size */
	const char *created;
} image_row_t;

/* Newest first, then by repository and tag. */
static int compare_image_rows(const void *a, const void *b)
{
	const image_row_t *x = a, *y = b;
	int c = strcmp(y->created ? y->created : "", x->created ? x->created : "");
	if (c == 0)
		c = strcmp(x->cells[0], y->cells[0]);
	return c ? c : strcmp(x->cells[1], y->cells[1]);
}

static int image_ls(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	pl_cli_sub_opts_t o = {0};
	int r = pl_cli_sub_opts(cmd, argc, argv, &o);
	bool quiet = o.quiet;
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (optind < argc)
		return pl_cli_usage_error("image ls", "unexpected argument '%s'", argv[optind]);
	_cleanup_error_ pl_error_t *err = NULL;
	pl_image_info_t **infos = NULL;
	size_t n_infos = 0;
	if (pl_image_list(c, NULL, &infos, &n_infos, &err) < 0)
		return pl_cli_report(err, 1);
	/* the table reads the daemon's objects (tags, created, size as they came) */
	_cleanup_(json_decrefp) json_t *list = json_array();
	for (size_t k = 0; k < n_infos; k++)
		json_array_append(list, infos[k]->raw ? infos[k]->raw : json_null());
	pl_image_infos_free(infos, n_infos);
	size_t i, n = 0;
	json_t *img;
	if (quiet) {
		json_array_foreach(list, i, img)
		{
			const char *id = json_string_value(json_object_get(img, "id"));
			if (id)
				puts(id);
		}
		return 0;
	}
	/* one row per name (docker's REPOSITORY and TAG), one for an image without any */
	json_array_foreach(list, i, img) n += json_array_size(json_object_get(img, "tags")) ?: 1;
	image_row_t *rows = pl_xcalloc(n ? n : 1, sizeof(*rows));
	size_t r_n = 0;
	json_array_foreach(list, i, img)
	{
		const char *id = json_string_value(json_object_get(img, "id"));
		const char *hex = id && strncmp(id, "sha256:", 7) == 0 ? id + 7 : id ? id : "";
		const char *created = json_string_value(json_object_get(img, "created"));
		json_t *tags = json_object_get(img, "tags");
		size_t ntags = json_array_size(tags);
		for (size_t k = 0; k < (ntags ? ntags : 1); k++) {
			const char *name =
			    ntags ? json_string_value(json_array_get(tags, k)) : NULL;
			image_row_t *row = &rows[r_n++];
			if (name) {
				const char *slash = strrchr(name, '/');
				const char *colon = strrchr(slash ? slash : name, ':');
				row->cells[0] =
				    colon ? pl_xasprintf("%.*s", (int)(colon - name), name)
					  : pl_xstrdup(name);
				row->cells[1] = pl_xstrdup(colon ? colon + 1 : "latest");
			} else {
				row->cells[0] = pl_xstrdup("<none>");
				row->cells[1] = pl_xstrdup("<none>");
			}
			row->cells[2] = pl_xasprintf("%.12s", hex);
			row->cells[3] = created && *created ? pl_cli_ago(created) : pl_xstrdup("-");
			row->cells[4] = pl_cli_human_size(
			    (double)json_integer_value(json_object_get(img, "size")), false);
			row->created = created;
		}
	}
	qsort(rows, r_n, sizeof(*rows), compare_image_rows);
	enum { COLS = 5 };
	char **cells = pl_xcalloc((r_n + 1) * COLS, sizeof(char *));
	static const char *const header[COLS] = {"REPOSITORY", "TAG", "IMAGE ID", "CREATED",
						 "SIZE"};
	for (size_t col = 0; col < COLS; col++)
		cells[col] = pl_xstrdup(header[col]);
	for (size_t k = 0; k < r_n; k++)
		for (size_t col = 0; col < COLS; col++)
			cells[(k + 1) * COLS + col] = rows[k].cells[col];
	pl_cli_print_table_free(cells, r_n + 1, COLS);
	free(rows);
	return 0;
}

static int image_inspect(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	return pl_cli_each_named(cmd, c, argc, argv, "image inspect", "image", &image_ops, false);
}

static int image_tag(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	pl_cli_sub_opts_t o = {0};
	int r = pl_cli_sub_opts(cmd, argc, argv, &o);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (argc - optind != 2)
		return pl_cli_usage_error("image tag",
					  "want an image and a new name (REF NAME[:TAG])");
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_image_tag(c, argv[optind], argv[optind + 1], &err) < 0)
		return pl_cli_report(err, 1);
	return 0;
}

static int image_rm(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	return pl_cli_each_named(cmd, c, argc, argv, "image rm", "image", &image_ops, true);
}

static const flag_t quiet_ids[] = {{"quiet", 'q', NULL, "only the ids"}, {"help", 'h'}, {0}};
static const flag_t help_flag[] = {{"help", 'h'}, {0}};
static const flag_table_t quiet_flags[] = {{NULL, quiet_ids}, {0}};
static const flag_table_t help_only[] = {{NULL, help_flag}, {0}};

#define IMPORT_USAGE                                                                               \
	"import an OCI image layout or a docker-archive (a tar, as\n"                              \
	"made by `tar -C LAYOUT -cf FILE .` or `docker save`); prints\n"                           \
	"each image's id and names (-q: ids only)"

static const command_t image_import_cmd = {
    "import", image_import, 1, IMPORT_USAGE, "image import [-q] FILE|-", quiet_flags};
static const command_t image_load_cmd = {
    "load", image_import, 1, NULL, "image load [-q] FILE|-", quiet_flags};
static const command_t image_ls_cmd = {
    "ls", image_ls, 1, "list images (-q: ids only)", "image ls [-q]", quiet_flags};
static const command_t image_list_cmd = {"list", image_ls, 1, NULL, "image list [-q]", quiet_flags};
static const command_t image_inspect_cmd = {"inspect",
					    image_inspect,
					    1,
					    "show images' config, layers and names as JSON",
					    "image inspect REF...",
					    help_only};
static const command_t image_tag_cmd = {
    "tag", image_tag, 1, "give an image another name", "image tag REF NAME[:TAG]", help_only};
static const command_t image_rm_cmd = {"rm",
				       image_rm,
				       1,
				       "remove a name; the last name (or an id) removes the image\n"
				       "and the layers no other image uses",
				       "image rm REF...",
				       help_only};
static const command_t image_remove_cmd = {"remove", image_rm, 1, NULL, "image remove REF...",
					   help_only};

static int cmd_image(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	return pl_cli_dispatch_sub(cmd, c, argc, argv);
}

const command_t pl_cli_cmd_image = {
    "image",
    cmd_image,
    1,
    "Manage images: pull, push, import, ls, inspect, tag, rm",
    "image COMMAND",
    NULL,
    (const command_t *const[]){&image_import_cmd, &image_load_cmd, &image_ls_cmd, &image_list_cmd,
			       &image_inspect_cmd, &image_tag_cmd, &image_rm_cmd, &image_remove_cmd,
			       &pl_cli_cmd_image_pull, &pl_cli_cmd_image_push,
			       &pl_cli_cmd_image_save, NULL},
    "REF: NAME[:TAG] (\":latest\" implied), an id (sha256:HEX) or a unique id prefix."};
