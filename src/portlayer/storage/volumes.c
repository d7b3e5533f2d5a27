/* SPDX-License-Identifier: Apache-2.0 */
#include "portlayer/storage/volumes.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/util.h"
#include "portlayer/config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct pl_volumes {
	char *dir;
	int dirfd;
};

bool pl_volume_name_valid(const char *n)
{
	size_t len = strlen(n);
	if (len == 0 || len > 128 || !isalnum((unsigned char)n[0]))
		return false;
	for (const char *p = n; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_.-", *p))
			return false;
	return true;
}

pl_volumes_t *pl_volumes_open(const char *root, pl_error_t **err)
{
	pl_volumes_t *v = pl_xcalloc(1, sizeof(*v));
	v->dir = pl_xasprintf("%s/volumes", root);
	if (pl_mkdir_p(v->dir, 0700, err) < 0)
		return pl_volumes_free(v);
	v->dirfd = open(v->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (v->dirfd < 0) {
		pl_error_errno(err, "open %s", v->dir);
		return pl_volumes_free(v);
	}
	return v;
}

pl_volumes_t *pl_volumes_free(pl_volumes_t *v)
{
	if (!v)
		return NULL;
	if (v->dirfd >= 0)
		close(v->dirfd);
	free(v->dir);
	free(v);
	return NULL;
}

char *pl_volume_data_path(pl_volumes_t *v, const char *name)
{
	return pl_xasprintf("%s/%s/_data", v->dir, name);
}

char *pl_volume_marker_path(pl_volumes_t *v, const char *name)
{
	return pl_xasprintf("%s/%s/populated", v->dir, name);
}

static json_t *read_meta(pl_volumes_t *v, const char *name)
{
	_cleanup_free_ char *rel = pl_xasprintf("%s/meta.json", name);
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (pl_read_file_at(v->dirfd, rel, &buf, &len, 1 << 20, NULL) < 0)
		return NULL;
	json_t *m = json_loadb(buf, len, 0, NULL);
	if (m) {
		_cleanup_free_ char *mp = pl_volume_data_path(v, name);
		json_object_set_new(m, "mountpoint", json_string(mp));
	}
	return m;
}

static json_t *make(pl_volumes_t *v, const char *name, const json_t *labels, const json_t *options,
		    pl_error_t **err)
{
	_cleanup_free_ char *tmp = pl_xasprintf(".tmp-%s", name);
	pl_remove_tree_at(v->dirfd, tmp, NULL);
	if (mkdirat(v->dirfd, tmp, 0700) < 0) {
		pl_error_errno(err, "create volume %s", name);
		return NULL;
	}
	_cleanup_close_ int d = openat(v->dirfd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char when[48];
	pl_time_format(pl_now_ns(), when, sizeof(when));
	json_t *meta = json_pack("{s:s, s:s, s:s, s:o}", "name", name, "driver", "local", "created",
				 when, "labels", labels ? json_deep_copy(labels) : json_object());
	/* the local driver keeps its options as the volume's record (nothing to mount) */
	json_object_set_new(meta, "options", options ? json_deep_copy(options) : json_object());
	_cleanup_free_ char *s = pl_json_dump(meta);
	json_decref(meta);
	if (d < 0 || mkdirat(d, "_data", 0755) < 0 ||
	    pl_atomic_write(d, "meta.json", s, strlen(s), err) < 0 ||
	    renameat(v->dirfd, tmp, v->dirfd, name) < 0) {
		if (err && !*err)
			pl_error_errno(err, "create volume %s", name);
		pl_remove_tree_at(v->dirfd, tmp, NULL);
		return NULL;
	}
	return read_meta(v, name);
}

json_t *pl_volume_create(pl_volumes_t *v, const json_t *body, pl_error_t **err)
{
	static const char *const keys[] = {"name", "driver", "labels", "options", NULL};
	if (pl_json_check_keys(body, "volume", keys, err) < 0)
		return NULL;
	const char *name = NULL, *driver = NULL;
	if (pl_json_get_string(body, "name", &name, err) < 0 ||
	    pl_json_get_string(body, "driver", &driver, err) < 0)
		return NULL;
	if (driver && strcmp(driver, "local") != 0) {
		pl_error_set(err, PL_ERR_UNSUPPORTED, 0, "volume driver \"%s\": only \"local\"",
			     driver);
		return NULL;
	}
	const json_t *labels = json_object_get(body, "labels");
	if (labels && pl_config_parse_string_map(labels, "volume.labels", err) < 0)
		return NULL;
	const json_t *options = json_object_get(body, "options");
	if (options && pl_config_parse_string_map(options, "volume.options", err) < 0)
		return NULL;
	char gen[PL_ID_LEN + 1];
	if (!name) {
		if (pl_id_generate(gen, err) < 0)
			return NULL;
		name = gen;
	}
	if (!pl_volume_name_valid(name)) {
		pl_error_set(err, PL_ERR_INVALID, 0,
			     "volume name \"%s\" must match [a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}",
			     name);
		return NULL;
	}
	struct stat st;
	if (fstatat(v->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		pl_error_set(err, PL_ERR_CONFLICT, 0, "volume \"%s\" exists", name);
		return NULL;
	}
	return make(v, name, labels, options, err);
}

json_t *pl_volume_get(pl_volumes_t *v, const char *name, bool create, pl_error_t **err)
{
	if (!pl_volume_name_valid(name)) {
		pl_error_set(err, PL_ERR_INVALID, 0, "volume name \"%s\" is not valid", name);
		return NULL;
	}
	json_t *m = read_meta(v, name);
	if (m || !create) {
		if (!m)
			pl_error_set(err, PL_ERR_NOTFOUND, 0, "no such volume: %s", name);
		return m;
	}
	return make(v, name, NULL, NULL, err);
}

json_t *pl_volumes_list(pl_volumes_t *v)
{
	json_t *arr = json_array();
	/* a fresh open: a dup would share (and leave at the end) the read position */
	int fd = openat(v->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	for (struct dirent *de; d && (de = readdir(d));) {
		if (de->d_name[0] == '.')
			continue;
		json_t *m = read_meta(v, de->d_name);
		if (m)
			json_array_append_new(arr, m);
	}
	if (d)
		closedir(d);
	return arr;
}

int pl_volume_remove(pl_volumes_t *v, const char *name, pl_error_t **err)
{
	json_t *m = pl_volume_get(v, name, false, err);
	if (!m)
		return -1;
	json_decref(m);
	_cleanup_free_ char *del = pl_xasprintf(".removing-%s", name);
	if (renameat(v->dirfd, name, v->dirfd, del) < 0)
		return pl_error_errno(err, "remove volume %s", name);
	return pl_remove_tree_at(v->dirfd, del, err);
}
