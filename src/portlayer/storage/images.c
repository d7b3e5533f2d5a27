/* SPDX-License-Identifier: Apache-2.0 */
#include "portlayer/storage/images.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/util.h"
#include "host/linux/resolve.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct pl_images {
	char *dir; /* ROOT/storage */
	int dirfd;
	json_t *images;	 /* id -> record */
	json_t *tags;	 /* "name:tag" -> id */
	int jobs;	 /* worker jobs that may be writing layers right now */
	bool gc_pending; /* an image went while they ran */
	json_t *added;	 /* in an import job: layers it created, dropped if it fails */
};

static const char *hex_of(const char *digest)
{
	return strncmp(digest, "sha256:", 7) == 0 ? digest + 7 : digest;
}

static bool digest_ok(const char *d)
{
	return d && strncmp(d, "sha256:", 7) == 0 && pl_id_is_full(d + 7);
}

pl_images_t *pl_images_open(const char *root, pl_error_t **err)
{
	pl_images_t *im = pl_xcalloc(1, sizeof(*im));
	im->dir = pl_xasprintf("%s/storage", root);
	im->dirfd = -1;
	_cleanup_free_ char *l = pl_xasprintf("%s/layers", im->dir);
	_cleanup_free_ char *i = pl_xasprintf("%s/images", im->dir);
	_cleanup_free_ char *t = pl_xasprintf("%s/tmp", im->dir);
	if (pl_mkdir_p(l, 0700, err) < 0 || pl_mkdir_p(i, 0700, err) < 0 ||
	    pl_mkdir_p(t, 0700, err) < 0)
		return pl_images_free(im);
	im->dirfd = open(im->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* leftovers of interrupted writes */
	int tfd = openat(im->dirfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = tfd >= 0 ? fdopendir(tfd) : NULL;
	for (struct dirent *de; d && (de = readdir(d));)
		if (de->d_name[0] != '.')
			pl_remove_tree_at(dirfd(d), de->d_name, NULL);
	if (d)
		closedir(d);
	if (pl_images_reload(im, err) < 0)
		return pl_images_free(im);
	return im;
}

pl_images_t *pl_images_free(pl_images_t *im)
{
	if (!im)
		return NULL;
	if (im->images)
		json_decref(im->images);
	if (im->tags)
		json_decref(im->tags);
	if (im->dirfd >= 0)
		close(im->dirfd);
	free(im->dir);
	free(im);
	return NULL;
}

int pl_images_reload(pl_images_t *im, pl_error_t **err)
{
	json_t *images = json_object();
	int fd = openat(im->dirfd, "images", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	for (struct dirent *de; d && (de = readdir(d));) {
		if (de->d_name[0] == '.' || !strstr(de->d_name, ".json"))
			continue;
		_cleanup_free_ char *buf = NULL;
		size_t len;
		if (pl_read_file_at(dirfd(d), de->d_name, &buf, &len, 16 << 20, NULL) < 0)
			continue;
		json_t *rec = json_loadb(buf, len, 0, NULL);
		const char *id = json_string_value(json_object_get(rec, "id"));
		if (id && digest_ok(id))
			json_object_set(images, id, rec);
		if (rec)
			json_decref(rec);
	}
	if (d)
		closedir(d);
	_cleanup_free_ char *buf = NULL;
	size_t len;
	json_t *tags = NULL;
	if (pl_read_file_at(im->dirfd, "tags.json", &buf, &len, 16 << 20, NULL) == 0)
		tags = json_loadb(buf, len, 0, NULL);
	if (!json_is_object(tags)) {
		if (tags)
			json_decref(tags);
		tags = json_object();
	}
	if (im->images)
		json_decref(im->images);
	if (im->tags)
		json_decref(im->tags);
	im->images = images;
	im->tags = tags;
	(void)err;
	return 0;
}

static int save_tags(pl_images_t *im, pl_error_t **err)
{
	_cleanup_free_ char *s = pl_json_dump(im->tags);
	return pl_atomic_write(im->dirfd, "tags.json", s, strlen(s), err);
}

/* --- references --- */

/* Docker Hub names in their familiar form, as Docker shows them: "docker.io/library/x",
 * "index.docker.io/library/x" and "library/x" are all "x"; "docker.io/user/x" is
 * "user/x". Other registries' names stay as they are. */
__attribute__((noinline)) /* inlined, gcc's overread analysis trips on string literals */
static const char *
familiar(const char *ref)
{
	static const char *const hub[] = {"docker.io/", "index.docker.io/",
					  "registry-1.docker.io/"};
	for (size_t i = 0; i < PL_ARRAY_SIZE(hub); i++)
		if (!strncmp(ref, hub[i], strlen(hub[i]))) {
			ref += strlen(hub[i]);
			break;
		}
	if (strncmp(ref, "library/", 8) == 0 && ref[8] && !strchr(ref + 8, '/'))
		ref += 8;
	return ref;
}

/* "busybox" → "busybox:latest"; "reg:5000/x" keeps its port; digests stay as they are;
 * Docker Hub names in their familiar form. */
static char *normalize_ref(const char *full)
{
	const char *ref = familiar(full);
	const char *slash = strrchr(ref, '/');
	const char *colon = strrchr(slash ? slash : ref, ':');
	if (strchr(ref, '@') || colon)
		return pl_xstrdup(ref);
	return pl_xasprintf("%s:latest", ref);
}

static bool name_ok(const char *n)
{
	size_t len = strlen(n);
	if (!len || len > 255)
		return false;
	for (const char *p = n; *p; p++)
		if (!(isalnum((unsigned char)*p) || strchr("._-/:@", *p)))
			return false;
	return isalnum((unsigned char)n[0]);
}

const json_t *pl_image_find(pl_images_t *im, const char *ref, pl_error_t **err)
{
	_cleanup_free_ char *n = normalize_ref(ref);
	const char *id = json_string_value(json_object_get(im->tags, n));
	if (id)
		return json_object_get(im->images, id);
	json_t *img = json_object_get(im->images, ref);
	if (img)
		return img;
	/* an id prefix, with or without "sha256:" */
	const char *want = hex_of(ref);
	size_t wl = strlen(want);
	const char *key;
	json_t *v, *found = NULL;
	if (wl >= 4 && wl <= 64) {
		json_object_foreach(im->images, key, v)
		{
			if (strncmp(hex_of(key), want, wl) == 0) {
				if (found) {
					pl_error_set(err, PL_ERR_INVALID, 0,
						     "image id prefix \"%s\" is ambiguous", ref);
					return NULL;
				}
				found = v;
			}
		}
	}
	if (!found)
		pl_error_set(err, PL_ERR_NOTFOUND, 0, "no such image: %s", ref);
	return found;
}

const char *pl_image_id(const json_t *img)
{
	return json_string_value(json_object_get(img, "id"));
}

const json_t *pl_image_config(const json_t *img)
{
	return json_object_get(json_object_get(img, "config"), "config");
}

/* An image's names: its tags (digests false), or its "repo@sha256:..." names (the manifest
 * digests registries hold it under, which pull and create by digest find). */
static json_t *names_of(pl_images_t *im, const char *id, bool digests)
{
	json_t *t = json_array();
	const char *k;
	json_t *v;
	json_object_foreach(im->tags, k, v)
	{
		if (strcmp(json_string_value(v), id) == 0 && (strchr(k, '@') != NULL) == digests)
			json_array_append_new(t, json_string(k));
	}
	return t;
}

static json_t *tags_of(pl_images_t *im, const char *id)
{
	return names_of(im, id, false);
}

json_t *pl_image_inspect_json(pl_images_t *im, const json_t *img)
{
	json_t *j = json_deep_copy(img);
	json_object_set_new(j, "tags", tags_of(im, pl_image_id(img)));
	json_object_set_new(j, "repo_digests", names_of(im, pl_image_id(img), true));
	return j;
}

json_t *pl_images_list_json(pl_images_t *im)
{
	json_t *arr = json_array();
	const char *k;
	json_t *v;
	json_object_foreach(im->images, k, v)
	{
		json_array_append_new(
		    arr,
		    json_pack("{s:s, s:o, s:o, s:o, s:o}", "id", k, "tags", tags_of(im, k),
			      "repo_digests", names_of(im, k, true), "size",
			      json_incref(json_object_get(v, "size")) ?: json_integer(0), "created",
			      json_incref(json_object_get(v, "created")) ?: json_string("")));
	}
	return arr;
}

int pl_image_tag(pl_images_t *im, const json_t *img, const char *name, pl_error_t **err)
{
	if (!name_ok(name))
		return pl_error_set(err, PL_ERR_INVALID, 0, "\"%s\" is not a valid image name",
				    name);
	_cleanup_free_ char *n = normalize_ref(name);
	json_object_set_new(im->tags, n, json_string(pl_image_id(img)));
	return save_tags(im, err);
}

char **pl_image_layer_paths(pl_images_t *im, const char *image_id, pl_error_t **err)
{
	json_t *img = json_object_get(im->images, image_id);
	if (!img) {
		pl_error_set(err, PL_ERR_NOTFOUND, 0, "no such image: %s", image_id);
		return NULL;
	}
	json_t *layers = json_object_get(img, "layers");
	size_t n = json_array_size(layers);
	char **out = pl_xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		out[i] = pl_xasprintf("%s/layers/%s/diff", im->dir,
				      hex_of(json_string_value(json_array_get(layers, i))));
	return out;
}

/* Layers no remaining image references go, so do their directories. */
static void collect_layers(pl_images_t *im)
{
	int fd = openat(im->dirfd, "layers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	for (struct dirent *de; d && (de = readdir(d));) {
		if (de->d_name[0] == '.')
			continue;
		bool used = false;
		const char *k;
		json_t *v;
		json_object_foreach(im->images, k, v)
		{
			size_t i;
			json_t *l;
			json_array_foreach(json_object_get(v, "layers"), i, l) used |=
			    strcmp(hex_of(json_string_value(l)), de->d_name) == 0;
		}
		if (!used)
			pl_remove_tree_at(dirfd(d), de->d_name, NULL);
	}
	if (d)
		closedir(d);
}

int pl_images_apply_names(pl_images_t *im, const json_t *result, pl_error_t **err)
{
	size_t i, k;
	json_t *img, *t;
	json_array_foreach(json_object_get(result, "images"), i, img)
	{
		const char *id = json_string_value(json_object_get(img, "id"));
		json_array_foreach(json_object_get(img, "tags"), k, t)
		{
			_cleanup_free_ char *n = normalize_ref(json_string_value(t));
			json_object_set_new(im->tags, n, json_string(id));
		}
		json_array_foreach(json_object_get(img, "repo_digests"), k, t)
		{
			if (name_ok(json_string_value(t)) && strchr(json_string_value(t), '@')) {
				_cleanup_free_ char *n = normalize_ref(json_string_value(t));
				json_object_set_new(im->tags, n, json_string(id));
			}
		}
	}
	return save_tags(im, err);
}

void pl_images_job(pl_images_t *im, bool begin)
{
	im->jobs += begin ? 1 : -1;
	if (!begin && im->jobs == 0 && im->gc_pending) {
		im->gc_pending = false;
		collect_layers(im);
	}
}

int pl_image_remove(pl_images_t *im, const char *ref, bool in_use, pl_error_t **err)
{
	const json_t *img = pl_image_find(im, ref, err);
	if (!img)
		return -1;
	_cleanup_free_ char *id = pl_xstrdup(pl_image_id(img));
	_cleanup_free_ char *n = normalize_ref(ref);
	bool by_name = json_object_get(im->tags, n) != NULL;
	if (by_name) {
		json_object_del(im->tags, n);
		json_t *left = tags_of(im, id);
		bool more = json_array_size(left) > 0;
		json_decref(left);
		if (more)
			return save_tags(im, err); /* only a name went */
	}
	if (in_use) {
		if (by_name) /* put the name back: nothing changes */
			json_object_set_new(im->tags, n, json_string(id));
		return pl_error_set(err, PL_ERR_CONFLICT, 0, "image %.19s is used by a container",
				    id);
	}
	/* every name of it goes with it */
	const char *k;
	void *tmp;
	json_t *v;
	json_object_foreach_safe(im->tags, tmp, k, v)
	{
		if (strcmp(json_string_value(v), id) == 0)
			json_object_del(im->tags, k);
	}
	_cleanup_free_ char *file = pl_xasprintf("images/%s.json", hex_of(id));
	_cleanup_free_ char *cfile = pl_xasprintf("images/%s.config", hex_of(id));
	unlinkat(im->dirfd, file, 0);
	unlinkat(im->dirfd, cfile, 0);
	json_object_del(im->images, id);
	/* a worker may be writing layers no image names yet: collect once it is done */
	if (im->jobs > 0)
		im->gc_pending = true;
	else
		collect_layers(im);
	return save_tags(im, err);
}

/* --- worker jobs --- */

static char *tmp_dir(pl_images_t *im, int *fd, pl_error_t **err)
{
	char rnd[PL_ID_LEN + 1];
	if (pl_id_generate(rnd, err) < 0)
		return NULL;
	char *rel = pl_xasprintf("tmp/%.16s", rnd);
	if (mkdirat(im->dirfd, rel, 0700) < 0) {
		pl_error_errno(err, "mkdir %s", rel);
		free(rel);
		return NULL;
	}
	*fd = openat(im->dirfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return rel;
}

/* Extracts one layer from fd into the store; checks the expected digest (of the tar or of
 * the blob) when given. Fills res (the diff id); *created says whether this call added it. */
static void keep_blob(int fd, off_t start, int dirfd)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= start)
		return;
	_cleanup_close_ int out =
	    openat(dirfd, "blob.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0)
		return;
	off_t in_off = start;
	while (in_off < st.st_size) {
		ssize_t n =
		    copy_file_range(fd, &in_off, out, NULL, (size_t)(st.st_size - in_off), 0);
		if (n <= 0) {
			char buf[65536];
			n = pread(fd, buf, sizeof(buf), in_off);
			if (n <= 0 || write(out, buf, (size_t)n) != n) {
				unlinkat(dirfd, "blob.tmp", 0);
				return;
			}
			in_off += n;
		}
	}
	renameat(dirfd, "blob.tmp", dirfd, "blob");
}

static int write_layer(pl_images_t *im, int fd, const char *expected, pl_extract_result_t *res,
		       bool *created, pl_error_t **err)
{
	if (created)
		*created = false;
	int tfd = -1;
	_cleanup_free_ char *rel = tmp_dir(im, &tfd, err);
	if (!rel)
		return -1;
	_cleanup_close_ int tmpfd = tfd;
	if (mkdirat(tmpfd, "diff", 0755) < 0)
		return pl_error_errno(err, "mkdir diff");
	_cleanup_close_ int diff = openat(tmpfd, "diff", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	pl_extract_policy_t pol = {.whiteouts = true};
	off_t start = lseek(fd, 0, SEEK_CUR);
	int r = pl_extract_tar(fd, diff, &pol, res, err);
	/* the layer's bytes as they came (a file: pulls, imports, layer writes), so a save
	 * gives back exactly what its digests name; extracted files alone cannot */
	if (r == 0 && start >= 0)
		keep_blob(fd, start, tmpfd);
	if (r == 0 && expected && strcmp(expected, res->diff_id) != 0 &&
	    strcmp(expected, res->blob_digest) != 0)
		r = pl_error_set(err, PL_ERR_INVALID, 0,
				 "layer digest mismatch: expected %s, got %s (blob %s)", expected,
				 res->diff_id, res->blob_digest);
	if (r < 0) {
		pl_remove_tree_at(im->dirfd, rel, NULL);
		return -1;
	}
	_cleanup_free_ char *final = pl_xasprintf("layers/%s", hex_of(res->diff_id));
	if (renameat(im->dirfd, rel, im->dirfd, final) < 0) {
		/* the same content is there already: keep that one */
		pl_remove_tree_at(im->dirfd, rel, NULL);
	} else if (created) {
		*created = true;
	}
	return 0;
}

int pl_images_layer_add(pl_images_t *im, int fd, const char *expected, pl_extract_result_t *res,
			bool *created, pl_error_t **err)
{
	pl_extract_result_t r; /* a local: gcc's overread analysis trips on the caller's */
	if (write_layer(im, fd, expected, &r, created, err) < 0)
		return -1;
	if (res)
		*res = r;
	return 0;
}

void pl_images_layer_drop(pl_images_t *im, const char *diff_id)
{
	if (!digest_ok(diff_id))
		return;
	_cleanup_free_ char *rel = pl_xasprintf("layers/%s", hex_of(diff_id));
	pl_remove_tree_at(im->dirfd, rel, NULL);
}

bool pl_images_has_layer(pl_images_t *im, const char *diff_id)
{
	if (!digest_ok(diff_id))
		return false;
	_cleanup_free_ char *rel = pl_xasprintf("layers/%s/diff", hex_of(diff_id));
	struct stat st;
	return fstatat(im->dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

static uint64_t tree_bytes(int fd)
{
	uint64_t sum = 0;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	for (struct dirent *de; (de = readdir(d));) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISREG(st.st_mode)) {
			sum += (uint64_t)st.st_size;
		} else if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				sum += tree_bytes(sub);
		}
	}
	closedir(d);
	return sum;
}

int pl_images_open_blob(pl_images_t *im, const char *diff_id)
{
	if (!digest_ok(diff_id))
		return -1;
	_cleanup_free_ char *rel = pl_xasprintf("layers/%s/blob", hex_of(diff_id));
	return openat(im->dirfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
}

char *pl_images_config_text(pl_images_t *im, const char *id, size_t *len)
{
	if (!digest_ok(id))
		return NULL;
	_cleanup_free_ char *rel = pl_xasprintf("images/%s.config", hex_of(id));
	char *buf = NULL;
	if (pl_read_file_at(im->dirfd, rel, &buf, len, 16 << 20, NULL) < 0)
		return NULL;
	return buf;
}

uint64_t pl_images_layer_size(pl_images_t *im, const char *diff_id)
{
	if (!digest_ok(diff_id))
		return 0;
	_cleanup_free_ char *rel = pl_xasprintf("layers/%s/diff", hex_of(diff_id));
	int fd = openat(im->dirfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd >= 0 ? tree_bytes(fd) : 0;
}

int pl_images_tmpfile(pl_images_t *im, pl_error_t **err)
{
	int fd = openat(im->dirfd, "tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR))
		return fd >= 0 ? fd : pl_error_errno(err, "temporary file in %s/tmp", im->dir);
	/* no O_TMPFILE on this file system: a named file, unlinked at once */
	char rnd[PL_ID_LEN + 1];
	if (pl_id_generate(rnd, err) < 0)
		return -1;
	_cleanup_free_ char *rel = pl_xasprintf("tmp/%.16s.blob", rnd);
	fd = openat(im->dirfd, rel, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return pl_error_errno(err, "create %s/%s", im->dir, rel);
	unlinkat(im->dirfd, rel, 0);
	return fd;
}

json_t *pl_images_layer_write_job(pl_images_t *im, int in_fd, const char *expected,
				  pl_error_t **err)
{
	pl_extract_result_t res;
	if (expected && !digest_ok(expected)) {
		pl_error_set(err, PL_ERR_INVALID, 0, "digest \"%s\" is not sha256:<64 hex>",
			     expected);
		return NULL;
	}
	if (write_layer(im, in_fd, expected, &res, NULL, err) < 0)
		return NULL;
	return json_pack("{s:s, s:s, s:I, s:I}", "diff_id", res.diff_id, "blob_digest",
			 res.blob_digest, "size", (json_int_t)res.bytes, "entries",
			 (json_int_t)res.entries);
}

/* Reads a JSON file below dirfd (names come from the archive: no symlinks followed). */
/* Names come from the archive: nothing on the way may be a link out of it. */
static int read_in_root(int dirfd, const char *clean, char **buf, size_t *len, pl_error_t **err)
{
	_cleanup_close_ int fd = pl_open_in_root(dirfd, clean, O_RDONLY);
	if (fd < 0)
		return pl_error_set(err, PL_ERR_INVALID, -fd, "%s", clean);
	return pl_read_fd(fd, clean, buf, len, 64 << 20, err);
}

static json_t *read_json_at(int dirfd, const char *rel, pl_error_t **err)
{
	_cleanup_free_ char *clean = pl_extract_clean_path(rel, err);
	if (!clean)
		return NULL;
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (read_in_root(dirfd, clean, &buf, &len, err) < 0)
		return NULL;
	return pl_json_parse(buf, len, clean, err);
}

/* Fails (INVALID) unless buf's sha256 is digest: a blob is what its name says. */
static int check_digest(const char *buf, size_t len, const char *digest, const char *what,
			pl_error_t **err)
{
	char got[PL_DIGEST_LEN + 1];
	pl_digest_of(buf, len, got);
	if (strcmp(hex_of(got), hex_of(digest)) != 0)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "%s: its content does not match its digest %s (it is %s)", what,
				    digest, got);
	return 0;
}

/* blobs/sha256/<hex> of an OCI layout, checked against its digest, as JSON. */
static json_t *read_json_blob(int dirfd, const char *digest, pl_error_t **err)
{
	_cleanup_free_ char *rel = pl_xasprintf("blobs/sha256/%s", hex_of(digest));
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (read_in_root(dirfd, rel, &buf, &len, err) < 0 ||
	    check_digest(buf, len, digest, rel, err) < 0)
		return NULL;
	return pl_json_parse(buf, len, rel, err);
}

/* The digest a docker-archive path names ("blobs/sha256/<hex>", "<hex>.json"), or NULL
 * (older archives name layers by v1 ids, which are no digests). */
static char *digest_in_path(const char *rel)
{
	const char *b = strrchr(rel, '/');
	b = b ? b + 1 : rel;
	size_t n = strspn(b, "0123456789abcdef");
	bool blob = !strncmp(rel, "blobs/sha256/", 13) && strlen(rel) == 13 + 64;
	if (n != 64 || (!blob && strcmp(b + 64, ".json") != 0))
		return NULL;
	return pl_xasprintf("sha256:%.64s", b);
}

static int open_blob(int dirfd, const char *rel, pl_error_t **err)
{
	_cleanup_free_ char *clean = pl_extract_clean_path(rel, err);
	if (!clean)
		return -1;
	int fd = pl_open_in_root(dirfd, clean, O_RDONLY);
	if (fd < 0)
		return pl_error_set(err, PL_ERR_INVALID, -fd, "blob %s", clean);
	return fd;
}

/* Writes the image record for a config (its exact bytes: the image id is their digest, as in
 * Docker and OCI) whose layers are all in the store; names go into im->tags, which the caller
 * saves. */
static json_t *write_record(pl_images_t *im, const char *text, size_t len, uint64_t size,
			    const json_t *names, pl_error_t **err)
{
	_cleanup_json_ json_t *cfg = pl_json_parse(text, len, "image config", err);
	if (!cfg)
		return NULL;
	json_t *diff_ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
	if (!json_is_array(diff_ids)) {
		pl_error_set(err, PL_ERR_INVALID, 0, "image config has no rootfs.diff_ids");
		return NULL;
	}
	size_t i;
	json_t *v;
	json_array_foreach(diff_ids, i, v)
	{
		if (!digest_ok(json_string_value(v))) {
			pl_error_set(err, PL_ERR_INVALID, 0, "bad diff id in image config");
			return NULL;
		}
		if (!pl_images_has_layer(im, json_string_value(v))) {
			pl_error_set(err, PL_ERR_INVALID, 0, "layer %s is not in the store",
				     json_string_value(v));
			return NULL;
		}
	}
	char id[PL_DIGEST_LEN + 1];
	pl_digest_of(text, len, id);
	char when[48];
	pl_time_format(pl_now_ns(), when, sizeof(when));
	json_t *rec = json_pack("{s:s, s:O, s:O, s:I, s:s}", "id", id, "config", cfg, "layers",
				diff_ids, "size", (json_int_t)size, "imported", when);
	json_t *created = json_object_get(cfg, "created");
	if (created)
		json_object_set(rec, "created", created);
	_cleanup_free_ char *s = pl_json_dump(rec);
	_cleanup_free_ char *file = pl_xasprintf("%s.json", hex_of(id));
	json_decref(rec);
	_cleanup_close_ int idir = openat(im->dirfd, "images", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* the config's exact bytes (its digest is the id): what a save writes back */
	_cleanup_free_ char *cfile = pl_xasprintf("%s.config", hex_of(id));
	if (pl_atomic_write(idir, cfile, text, len, err) < 0 ||
	    pl_atomic_write(idir, file, s, strlen(s), err) < 0)
		return NULL;
	json_t *n;
	json_array_foreach(names, i, n)
	{
		_cleanup_free_ char *nn = normalize_ref(json_string_value(n));
		json_object_set_new(im->tags, nn, json_string(id));
	}
	return json_pack("{s:s, s:O}", "id", id, "tags", names);
}

json_t *pl_images_record(pl_images_t *im, const char *config, size_t len, uint64_t size,
			 const json_t *names, pl_error_t **err)
{
	size_t i;
	json_t *n;
	json_array_foreach(names, i, n)
	{
		if (!name_ok(json_string_value(n))) {
			pl_error_set(err, PL_ERR_INVALID, 0, "\"%s\" is not a valid image name",
				     json_string_value(n));
			return NULL;
		}
	}
	/* the names travel back in the result: only the daemon writes them
	 * (pl_images_apply_names), so concurrent jobs never overwrite each other's */
	return write_record(im, config, len, size, names, err);
}

/* Extracts an image's layer files, verifying every diff id, then writes its record. */
static json_t *commit_image(pl_images_t *im, int dirfd, const char *config_rel,
			    const char *config_digest, json_t *layer_rels, json_t *layer_digests,
			    json_t *names, pl_error_t **err)
{
	_cleanup_free_ char *cfg_text = NULL;
	size_t cfg_len = 0;
	_cleanup_free_ char *clean = pl_extract_clean_path(config_rel, err);
	if (!clean || read_in_root(dirfd, clean, &cfg_text, &cfg_len, err) < 0)
		return NULL;
	if (config_digest && check_digest(cfg_text, cfg_len, config_digest, clean, err) < 0)
		return NULL;
	_cleanup_json_ json_t *cfg = pl_json_parse(cfg_text, cfg_len, clean, err);
	if (!cfg)
		return NULL;
	json_t *diff_ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
	if (json_array_size(diff_ids) != json_array_size(layer_rels)) {
		pl_error_set(err, PL_ERR_INVALID, 0,
			     "image config lists %zu layers, the manifest %zu",
			     json_array_size(diff_ids), json_array_size(layer_rels));
		return NULL;
	}
	uint64_t size = 0;
	for (size_t i = 0; i < json_array_size(layer_rels); i++) {
		const char *want = json_string_value(json_array_get(diff_ids, i));
		if (!digest_ok(want)) {
			pl_error_set(err, PL_ERR_INVALID, 0, "bad diff id in image config");
			return NULL;
		}
		_cleanup_close_ int fd =
		    open_blob(dirfd, json_string_value(json_array_get(layer_rels, i)), err);
		if (fd < 0)
			return NULL;
		pl_extract_result_t res;
		bool created;
		if (write_layer(im, fd, want, &res, &created, err) < 0)
			return NULL;
		if (created && im->added)
			json_array_append_new(im->added, json_string(res.diff_id));
		const char *blob = json_string_value(json_array_get(layer_digests, i));
		if (blob && strcmp(blob, res.blob_digest) != 0 && strcmp(blob, res.diff_id) != 0) {
			pl_error_set(err, PL_ERR_INVALID, 0, "layer blob digest mismatch: %s",
				     blob);
			return NULL;
		}
		size += res.bytes;
	}
	return write_record(im, cfg_text, cfg_len, size, names, err);
}

/* An OCI image layout: index.json → manifests (or nested indexes: linux/amd64). */
static int import_oci(pl_images_t *im, int dirfd, json_t *out, pl_error_t **err)
{
	_cleanup_json_ json_t *index = read_json_at(dirfd, "index.json", err);
	if (!index)
		return -1;
	size_t i;
	json_t *desc;
	json_array_foreach(json_object_get(index, "manifests"), i, desc)
	{
		const char *dg = json_string_value(json_object_get(desc, "digest"));
		if (!digest_ok(dg))
			return pl_error_set(err, PL_ERR_INVALID, 0, "index.json: bad digest");
		_cleanup_json_ json_t *man = read_json_blob(dirfd, dg, err);
		if (!man)
			return -1;
		const char *mt = json_string_value(json_object_get(man, "mediaType"));
		if (mt && strstr(mt, "index")) { /* pick linux/amd64 */
			json_t *sub = NULL, *m;
			size_t k;
			json_array_foreach(json_object_get(man, "manifests"), k, m)
			{
				json_t *p = json_object_get(m, "platform");
				const char *os = json_string_value(json_object_get(p, "os"));
				const char *arch =
				    json_string_value(json_object_get(p, "architecture"));
				if (!p ||
				    (os && !strcmp(os, "linux") && arch && !strcmp(arch, "amd64")))
					sub = m;
			}
			const char *sd = json_string_value(json_object_get(sub, "digest"));
			if (!digest_ok(sd))
				return pl_error_set(err, PL_ERR_INVALID, 0,
						    "image index has no linux/amd64 manifest");
			json_decref(man);
			man = read_json_blob(dirfd, sd, err);
			if (!man)
				return -1;
		}
		const char *cd =
		    json_string_value(json_object_get(json_object_get(man, "config"), "digest"));
		if (!digest_ok(cd))
			return pl_error_set(err, PL_ERR_INVALID, 0, "manifest: bad config digest");
		_cleanup_free_ char *crel = pl_xasprintf("blobs/sha256/%s", hex_of(cd));
		json_t *rels = json_array(), *digests = json_array(), *l;
		size_t k;
		json_array_foreach(json_object_get(man, "layers"), k, l)
		{
			const char *ld = json_string_value(json_object_get(l, "digest"));
			if (!digest_ok(ld)) {
				json_decref(rels);
				json_decref(digests);
				return pl_error_set(err, PL_ERR_INVALID, 0,
						    "manifest: bad layer digest");
			}
			json_array_append_new(rels, json_sprintf("blobs/sha256/%s", hex_of(ld)));
			json_array_append_new(digests, json_string(ld));
		}
		json_t *names = json_array();
		const char *ref = json_string_value(json_object_get(
		    json_object_get(desc, "annotations"), "org.opencontainers.image.ref.name"));
		if (ref && name_ok(ref))
			json_array_append_new(names, json_string(ref));
		json_t *one = commit_image(im, dirfd, crel, cd, rels, digests, names, err);
		json_decref(rels);
		json_decref(digests);
		json_decref(names);
		if (!one)
			return -1;
		json_array_append_new(out, one);
	}
	return 0;
}

/* docker save: manifest.json → [{Config, RepoTags, Layers}] */
static int import_docker(pl_images_t *im, int dirfd, json_t *out, pl_error_t **err)
{
	_cleanup_json_ json_t *man = read_json_at(dirfd, "manifest.json", err);
	if (!json_is_array(man))
		return pl_error_set(err, PL_ERR_INVALID, 0, "manifest.json is not a list");
	size_t i;
	json_t *m;
	json_array_foreach(man, i, m)
	{
		const char *cfg = json_string_value(json_object_get(m, "Config"));
		json_t *layers = json_object_get(m, "Layers");
		json_t *tags = json_object_get(m, "RepoTags");
		if (!cfg || !json_is_array(layers))
			return pl_error_set(err, PL_ERR_INVALID, 0, "manifest.json: entry %zu", i);
		json_t *names = json_array(), *t;
		size_t k;
		json_array_foreach(tags, k,
				   t) if (json_is_string(t) && name_ok(json_string_value(t)))
		    json_array_append(names, t);
		/* newer archives name config and layers by digest: hold them to it */
		_cleanup_free_ char *cfg_digest = digest_in_path(cfg);
		json_t *digests = json_array(), *l;
		json_array_foreach(layers, k, l)
		{
			char *d = json_is_string(l) ? digest_in_path(json_string_value(l)) : NULL;
			json_array_append_new(digests, d ? json_string(d) : json_null());
			free(d);
		}
		json_t *one = commit_image(im, dirfd, cfg, cfg_digest, layers, digests, names, err);
		json_decref(digests);
		json_decref(names);
		if (!one)
			return -1;
		json_array_append_new(out, one);
	}
	return 0;
}

json_t *pl_images_import_job(pl_images_t *im, int in_fd, pl_error_t **err)
{
	int tfd = -1;
	_cleanup_free_ char *rel = tmp_dir(im, &tfd, err);
	if (!rel)
		return NULL;
	_cleanup_close_ int dirfd = tfd;
	pl_extract_policy_t pol = {0};
	json_t *out = json_array();
	im->added = json_array();
	int r = pl_extract_tar(in_fd, dirfd, &pol, NULL, err);
	if (r == 0) {
		if (faccessat(dirfd, "index.json", F_OK, 0) == 0)
			r = import_oci(im, dirfd, out, err);
		else if (faccessat(dirfd, "manifest.json", F_OK, 0) == 0)
			r = import_docker(im, dirfd, out, err);
		else
			r = pl_error_set(err, PL_ERR_INVALID, 0,
					 "neither an OCI image layout (index.json) nor a "
					 "docker-archive (manifest.json)");
	}
	pl_remove_tree_at(im->dirfd, rel, NULL);
	if (r < 0) { /* what this import added goes with it */
		size_t i;
		json_t *id;
		json_array_foreach(im->added, i, id)
		    pl_images_layer_drop(im, json_string_value(id));
	}
	json_decref(im->added);
	im->added = NULL;
	if (r < 0) {
		json_decref(out);
		return NULL;
	}
	return json_pack("{s:o}", "images", out);
}
