/* SPDX-License-Identifier: Apache-2.0 */
#include "portlayer/storage/commit.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/util.h"
#include "portlayer/storage/archive.h"

#include <fcntl.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

void pl_commit_opts_clear(pl_commit_opts_t *o)
{
	free(o->dir);
	free(o->rootfs);
	free(o->name);
	free(o->comment);
	free(o->author);
	free(o->created_by);
	if (o->base)
		json_decref(o->base);
	if (o->container)
		json_decref(o->container);
	if (o->changes)
		json_decref(o->changes);
	memset(o, 0, sizeof(*o));
}

static bool strings_only(const json_t *v, bool array)
{
	size_t i;
	const char *k;
	json_t *x;
	if (array) {
		if (!json_is_array(v))
			return false;
		json_array_foreach(v, i, x) if (!json_is_string(x)) return false;
		return true;
	}
	if (!json_is_object(v))
		return false;
	json_object_foreach((json_t *)v, k, x) if (!json_is_string(x)) return false;
	return true;
}

int pl_commit_check_changes(const json_t *ch, pl_error_t **err)
{
	static const char *const keys[] = {
	    "Cmd",    "Entrypoint",   "Env",	 "WorkingDir", "User",
	    "Labels", "ExposedPorts", "Volumes", "StopSignal", "Healthcheck",
	    "Shell",  "OnBuild",      NULL};
	if (pl_json_check_keys(ch, "changes", keys, err) < 0)
		return -1;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)ch, k, v)
	{
		bool ok = !strcmp(k, "Cmd") || !strcmp(k, "Env") || !strcmp(k, "Shell")
			      ? strings_only(v, true)
			  : !strcmp(k, "Entrypoint") || !strcmp(k, "OnBuild")
			      ? json_is_null(v) || strings_only(v, true)
			  : !strcmp(k, "Healthcheck") ? json_is_object(v)
			  : !strcmp(k, "Labels")      ? strings_only(v, false)
			  : !strcmp(k, "ExposedPorts") || !strcmp(k, "Volumes") ? json_is_object(v)
										: json_is_string(v);
		if (!ok)
			return pl_error_set(err, PL_ERR_INVALID, 0, "changes.%s has the wrong type",
					    k);
	}
	return 0;
}

/* Writes dir as a layer tar into a temporary file and adds it to the store. */
static int add_layer(pl_images_t *im, int dir, const pl_userns_t *ids, json_t *diff_ids,
		     json_t *added, uint64_t *size, pl_error_t **err)
{
	_cleanup_close_ int fd = pl_images_tmpfile(im, err);
	if (fd < 0)
		return -1;
	if (pl_archive_layer(dir, fd, ids, err) < 0)
		return pl_error_wrap(err, "write the layer");
	if (lseek(fd, 0, SEEK_SET) < 0)
		return pl_error_errno(err, "rewind the layer");
	pl_extract_result_t res;
	bool created = false;
	if (pl_images_layer_add(im, fd, NULL, &res, &created, err) < 0)
		return pl_error_wrap(err, "store the layer");
	if (created)
		json_array_append_new(added, json_string(res.diff_id));
	json_array_append_new(diff_ids, json_string(res.diff_id));
	*size += pl_images_layer_size(im, res.diff_id);
	return 0;
}

static const char *arch_name(void)
{
	static struct utsname u;
	if (uname(&u) < 0)
		return "amd64";
	return !strcmp(u.machine, "x86_64")    ? "amd64"
	       : !strcmp(u.machine, "aarch64") ? "arm64"
					       : u.machine;
}

static json_t *build_config(const pl_commit_opts_t *o, json_t *diff_ids, const char *when)
{
	json_t *cfg = o->base ? json_deep_copy(o->base)
			      : json_pack("{s:s, s:s}", "architecture", arch_name(), "os", "linux");
	json_t *c = json_object_get(cfg, "config");
	if (!json_is_object(c)) {
		c = json_object();
		json_object_set_new(cfg, "config", c);
	}
	/* the container's process is what the image now runs (args already hold the
	 * entrypoint, so it goes) */
	json_object_del(c, "Entrypoint");
	json_object_set(c, "Cmd", json_object_get(o->container, "args"));
	json_object_set(c, "Env", json_object_get(o->container, "env"));
	json_object_set(c, "WorkingDir", json_object_get(o->container, "cwd"));
	json_t *labels = json_object_get(c, "Labels");
	if (!json_is_object(labels)) {
		labels = json_object();
		json_object_set_new(c, "Labels", labels);
	}
	json_object_update(labels, json_object_get(o->container, "labels"));
	if (o->changes)
		json_object_update(c, o->changes);
	json_object_set_new(cfg, "rootfs",
			    json_pack("{s:s, s:O}", "type", "layers", "diff_ids", diff_ids));
	json_object_set_new(cfg, "created", json_string(when));
	if (o->author)
		json_object_set_new(cfg, "author", json_string(o->author));
	json_t *hist = json_object_get(cfg, "history");
	if (!json_is_array(hist)) {
		hist = json_array();
		json_object_set_new(cfg, "history", hist);
	}
	json_t *h = json_pack("{s:s, s:s}", "created", when, "created_by",
			      o->created_by ? o->created_by : "portlayer commit");
	if (o->empty_layer)
		json_object_set_new(h, "empty_layer", json_true());
	if (o->comment)
		json_object_set_new(h, "comment", json_string(o->comment));
	json_array_append_new(hist, h);
	return cfg;
}

static json_t *commit(pl_images_t *im, const pl_commit_opts_t *o, json_t *added, pl_error_t **err)
{
	_cleanup_json_ json_t *diff_ids = json_array();
	json_t *base_ids = json_object_get(json_object_get(o->base, "rootfs"), "diff_ids");
	if (base_ids)
		json_array_extend(diff_ids, base_ids);
	uint64_t size = 0;
	for (size_t i = 0; i < json_array_size(diff_ids); i++)
		size += pl_images_layer_size(im, json_string_value(json_array_get(diff_ids, i)));
	if (o->rootfs && !o->empty_layer) {
		_cleanup_close_ int rd = open(o->rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (rd < 0) {
			pl_error_errno(err, "open rootfs %s", o->rootfs);
			return NULL;
		}
		if (add_layer(im, rd, NULL, diff_ids, added, &size, err) < 0)
			return NULL;
	}
	_cleanup_free_ char *up = pl_xasprintf("%s/upper", o->dir);
	_cleanup_close_ int ud = open(up, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ud < 0) {
		pl_error_errno(err, "open the container's upper directory");
		return NULL;
	}
	if (!o->empty_layer && add_layer(im, ud, &o->ids, diff_ids, added, &size, err) < 0)
		return NULL;
	char when[48];
	pl_time_format(pl_now_ns(), when, sizeof(when));
	_cleanup_json_ json_t *cfg = build_config(o, diff_ids, when);
	_cleanup_free_ char *text = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
	_cleanup_json_ json_t *names = json_array();
	if (o->name)
		json_array_append_new(names, json_string(o->name));
	json_t *rec = pl_images_record(im, text, strlen(text), size, names, err);
	return rec ? json_pack("{s:[o]}", "images", rec) : NULL;
}

json_t *pl_commit_job(pl_images_t *im, const pl_commit_opts_t *o, pl_error_t **err)
{
	_cleanup_json_ json_t *added = json_array();
	json_t *result = commit(im, o, added, err);
	if (!result) { /* a failed commit leaves no layer of its own */
		size_t i;
		json_t *d;
		json_array_foreach(added, i, d) pl_images_layer_drop(im, json_string_value(d));
	}
	return result;
}
