/* SPDX-License-Identifier: Apache-2.0 */
/* Image save (docker save, and an OCI image layout): the store's images as a tar that an
 * import (ours or Docker's) takes back with the same ids and layer digests. Configs come as
 * their exact bytes; layers as the bytes they arrived as (kept beside the extracted files),
 * decompressed for a docker-archive, as they are (compressed too) in an OCI layout. */
#include "portlayer/storage/images.h"
#include "portlayer/storage/archive.h"
#include "portlayer/storage/digest.h"
#include "common/cleanup.h"
#include "common/json.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_CONFIG   "application/vnd.oci.image.config.v1+json"
#define MT_LAYER    "application/vnd.oci.image.layer.v1.tar"

typedef struct layer {
	char diff_id[PL_DIGEST_LEN + 1];
	int tar;  /* the uncompressed tar (docker-archive), or -1 */
	int blob; /* the bytes as kept (OCI), or -1 */
	char blob_digest[PL_DIGEST_LEN + 1];
	const char *media; /* the blob's */
	uint64_t blob_size, tar_size;
} layer_t;

static const char *hex(const char *d)
{
	return strncmp(d, "sha256:", 7) == 0 ? d + 7 : d;
}

static const char *media_of(int fd)
{
	unsigned char m[4] = {0};
	if (pread(fd, m, sizeof(m), 0) < 4)
		return MT_LAYER;
	if (m[0] == 0x1f && m[1] == 0x8b)
		return MT_LAYER "+gzip";
	if (m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
		return MT_LAYER "+zstd";
	return MT_LAYER;
}

/* A compressed blob, decompressed into a temporary file. */
static int decompress(pl_images_t *im, int blob, pl_error_t **err)
{
	_cleanup_close_ int out = pl_images_tmpfile(im, err);
	if (out < 0)
		return -1;
	struct archive *a = archive_read_new();
	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	_cleanup_close_ int in = fcntl(blob, F_DUPFD_CLOEXEC, 3);
	lseek(in, 0, SEEK_SET);
	struct archive_entry *e;
	int rc = -1;
	if (archive_read_open_fd(a, in, 65536) == ARCHIVE_OK &&
	    archive_read_next_header(a, &e) == ARCHIVE_OK &&
	    archive_read_data_into_fd(a, out) == ARCHIVE_OK)
		rc = 0;
	if (rc < 0)
		pl_error_set(err, PL_ERR_INTERNAL, 0, "decompress a layer: %s",
			     archive_error_string(a) ? archive_error_string(a) : "?");
	archive_read_free(a);
	return rc < 0 ? -1 : TAKE_FD(out);
}

static void layer_clear(layer_t *l)
{
	if (l->tar >= 0 && l->tar != l->blob)
		close(l->tar);
	if (l->blob >= 0)
		close(l->blob);
	l->tar = l->blob = -1;
}

/* The layer's bytes for the format; *rewritten when its tar had to be made anew and came
 * out different (l->diff_id is then the new one). */
static int layer_open(pl_images_t *im, const char *diff_id, const char *dir, bool oci, layer_t *l,
		      bool *rewritten, pl_error_t **err)
{
	*l = (layer_t){.tar = -1, .blob = -1};
	snprintf(l->diff_id, sizeof(l->diff_id), "%s", diff_id);
	l->blob = pl_images_open_blob(im, diff_id);
	if (l->blob >= 0) {
		l->media = media_of(l->blob);
		if (pl_digest_fd(l->blob, l->blob_digest, &l->blob_size, err) < 0)
			return -1;
		if (!oci) {
			bool plain = !strcmp(l->media, MT_LAYER);
			l->tar = plain ? l->blob : decompress(im, l->blob, err);
			if (l->tar < 0)
				return -1;
			struct stat st;
			fstat(l->tar, &st);
			l->tar_size = (uint64_t)st.st_size;
		}
		return 0;
	}
	/* no kept bytes: the files as a tar (a layer committed here comes out the same) */
	_cleanup_close_ int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d < 0)
		return pl_error_errno(err, "open layer %s", diff_id);
	int fd = pl_images_tmpfile(im, err);
	if (fd < 0)
		return -1;
	char got[PL_DIGEST_LEN + 1];
	if (pl_archive_layer(d, fd, NULL, err) < 0 ||
	    pl_digest_fd(fd, got, &l->tar_size, err) < 0) {
		close(fd);
		return -1;
	}
	if (strcmp(got, diff_id)) {
		snprintf(l->diff_id, sizeof(l->diff_id), "%s", got);
		*rewritten = true;
	}
	l->tar = l->blob = fd;
	l->media = MT_LAYER;
	snprintf(l->blob_digest, sizeof(l->blob_digest), "%s", got);
	l->blob_size = l->tar_size;
	return 0;
}

/* --- the tar --- */

static int put_bytes(struct archive *a, const char *name, const void *data, size_t len,
		     pl_error_t **err)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_entry_set_mtime(e, 0, 0);
	int rc = archive_write_header(a, e);
	archive_entry_free(e);
	if (rc != ARCHIVE_OK || (len && archive_write_data(a, data, len) != (la_ssize_t)len))
		return pl_error_set(err, PL_ERR_INTERNAL, EPIPE, "write %s: %s", name,
				    archive_error_string(a) ? archive_error_string(a) : "");
	return 0;
}

static int put_dir(struct archive *a, const char *name)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFDIR);
	archive_entry_set_perm(e, 0755);
	archive_entry_set_mtime(e, 0, 0);
	int rc = archive_write_header(a, e);
	archive_entry_free(e);
	return rc == ARCHIVE_OK ? 0 : -1;
}

static int put_fd(struct archive *a, const char *name, int fd, uint64_t size, pl_error_t **err)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)size);
	archive_entry_set_mtime(e, 0, 0);
	int rc = archive_write_header(a, e);
	archive_entry_free(e);
	if (rc != ARCHIVE_OK)
		return pl_error_set(err, PL_ERR_INTERNAL, EPIPE, "write %s", name);
	char buf[65536];
	uint64_t off = 0;
	while (off < size) {
		ssize_t n = pread(fd, buf, sizeof(buf), (off_t)off);
		if (n <= 0)
			return pl_error_errno(err, "read %s", name);
		if (archive_write_data(a, buf, (size_t)n) != n)
			return pl_error_set(err, PL_ERR_INTERNAL, EPIPE, "write %s: %s", name,
					    archive_error_string(a) ? archive_error_string(a) : "");
		off += (uint64_t)n;
	}
	return 0;
}

static int put_json(struct archive *a, const char *name, const json_t *j, pl_error_t **err)
{
	_cleanup_free_ char *s = json_dumps(j, JSON_COMPACT);
	return put_bytes(a, name, s, strlen(s), err);
}

/* One image into the archive; `written` remembers blobs already in it. */
static int save_one(pl_images_t *im, struct archive *a, const json_t *want, bool oci,
		    json_t *written, json_t *manifest, json_t *index, pl_error_t **err)
{
	const char *id = json_string_value(json_object_get(want, "id"));
	const json_t *names = json_object_get(want, "names");
	const json_t *img = pl_image_find(im, id, err);
	if (!img)
		return -1;
	size_t cfg_len = 0;
	_cleanup_free_ char *cfg_text = pl_images_config_text(im, id, &cfg_len);
	_cleanup_json_ json_t *cfg = json_deep_copy(json_object_get(img, "config"));
	json_t *diff_ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
	size_t n = json_array_size(diff_ids);
	char **paths = pl_image_layer_paths(im, id, err);
	if (!paths)
		return -1;
	layer_t *ls = pl_xcalloc(n + 1, sizeof(*ls));
	for (size_t i = 0; i <= n; i++)
		ls[i].tar = ls[i].blob = -1;
	int rc = -1;
	bool rewritten = false;
	_cleanup_free_ char *cfg_name = NULL, *mtext = NULL, *mname = NULL;
	for (size_t i = 0; i < n; i++) {
		if (layer_open(im, json_string_value(json_array_get(diff_ids, i)), paths[i], oci,
			       &ls[i], &rewritten, err) < 0)
			goto out;
		json_array_set_new(diff_ids, i, json_string(ls[i].diff_id));
	}
	if (rewritten || !cfg_text) { /* the config as the layers now are */
		free(cfg_text);
		cfg_text = json_dumps(cfg, JSON_COMPACT);
		cfg_len = strlen(cfg_text);
	}
	char cfg_digest[PL_DIGEST_LEN + 1];
	pl_digest_of(cfg_text, cfg_len, cfg_digest);
	json_t *layer_names = json_array(), *descs = json_array();
	for (size_t i = 0; i < n; i++) {
		const char *key = oci ? ls[i].blob_digest : ls[i].diff_id;
		_cleanup_free_ char *name = oci ? pl_xasprintf("blobs/sha256/%s", hex(key))
						: pl_xasprintf("%s/layer.tar", hex(key));
		json_array_append_new(layer_names, json_string(name));
		json_array_append_new(descs, json_pack("{s:s, s:s, s:I}", "mediaType", ls[i].media,
						       "digest", key, "size",
						       (json_int_t)ls[i].blob_size));
		if (json_object_get(written, name))
			continue;
		if (!oci) {
			_cleanup_free_ char *dir = pl_xasprintf("%s", hex(key));
			put_dir(a, dir);
		}
		if (put_fd(a, name, oci ? ls[i].blob : ls[i].tar,
			   oci ? ls[i].blob_size : ls[i].tar_size, err) < 0) {
			json_decref(layer_names);
			json_decref(descs);
			goto out;
		}
		json_object_set_new(written, name, json_true());
	}
	cfg_name = oci ? pl_xasprintf("blobs/sha256/%s", hex(cfg_digest))
		       : pl_xasprintf("%s.json", hex(cfg_digest));
	if (!json_object_get(written, cfg_name)) {
		if (put_bytes(a, cfg_name, cfg_text, cfg_len, err) < 0) {
			json_decref(layer_names);
			json_decref(descs);
			goto out;
		}
		json_object_set_new(written, cfg_name, json_true());
	}
	if (!oci) {
		json_array_append_new(manifest,
				      json_pack("{s:s, s:O, s:o}", "Config", cfg_name, "RepoTags",
						names, "Layers", layer_names));
		json_decref(descs);
		rc = 0;
		goto out;
	}
	json_decref(layer_names);
	json_t *man = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2,
				"mediaType", MT_MANIFEST, "config", "mediaType", MT_CONFIG,
				"digest", cfg_digest, "size", (json_int_t)cfg_len, "layers", descs);
	mtext = json_dumps(man, JSON_COMPACT);
	json_decref(man);
	char mdigest[PL_DIGEST_LEN + 1];
	pl_digest_of(mtext, strlen(mtext), mdigest);
	mname = pl_xasprintf("blobs/sha256/%s", hex(mdigest));
	if (!json_object_get(written, mname)) {
		if (put_bytes(a, mname, mtext, strlen(mtext), err) < 0)
			goto out;
		json_object_set_new(written, mname, json_true());
	}
	/* one descriptor per name (the ref.name annotation carries the full name, as
	 * containerd writes it); a nameless image has one without */
	size_t k;
	json_t *nm;
	json_array_foreach(names, k, nm)
	{
		json_array_append_new(index, json_pack("{s:s, s:s, s:I, s:{s:O}}", "mediaType",
						       MT_MANIFEST, "digest", mdigest, "size",
						       (json_int_t)strlen(mtext), "annotations",
						       "org.opencontainers.image.ref.name", nm));
	}
	if (!json_array_size(names))
		json_array_append_new(index, json_pack("{s:s, s:s, s:I}", "mediaType", MT_MANIFEST,
						       "digest", mdigest, "size",
						       (json_int_t)strlen(mtext)));
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		layer_clear(&ls[i]);
	free(ls);
	for (size_t i = 0; paths[i]; i++)
		free(paths[i]);
	free(paths);
	return rc;
}

int pl_images_save(pl_images_t *im, const json_t *images, bool oci, int out_fd, pl_error_t **err)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (archive_write_open_fd(a, out_fd) != ARCHIVE_OK) {
		archive_write_free(a);
		return pl_error_set(err, PL_ERR_INTERNAL, 0, "open the archive");
	}
	_cleanup_json_ json_t *written = json_object();
	_cleanup_json_ json_t *manifest = json_array();
	_cleanup_json_ json_t *index = json_array();
	int rc = 0;
	if (oci) {
		put_dir(a, "blobs");
		put_dir(a, "blobs/sha256");
	}
	size_t i;
	json_t *want;
	json_array_foreach(images, i, want)
	{
		if (rc == 0)
			rc = save_one(im, a, want, oci, written, manifest, index, err);
	}
	if (rc == 0 && !oci)
		rc = put_json(a, "manifest.json", manifest, err);
	if (rc == 0 && oci) {
		_cleanup_json_ json_t *layout = json_pack("{s:s}", "imageLayoutVersion", "1.0.0");
		_cleanup_json_ json_t *idx =
		    json_pack("{s:i, s:s, s:O}", "schemaVersion", 2, "mediaType",
			      "application/vnd.oci.image.index.v1+json", "manifests", index);
		rc = put_json(a, "oci-layout", layout, err);
		if (rc == 0)
			rc = put_json(a, "index.json", idx, err);
	}
	if (archive_write_close(a) != ARCHIVE_OK && rc == 0)
		rc = pl_error_set(err, PL_ERR_INTERNAL, EPIPE, "finish the archive");
	archive_write_free(a);
	return rc;
}
