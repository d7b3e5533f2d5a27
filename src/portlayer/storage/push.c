/* SPDX-License-Identifier: Apache-2.0 */
/* Registry push: an image of the store to a registry (OCI distribution API v2). Layers are
 * stored extracted, so each is written again as a tar (pl_archive_layer: sorted, overlay
 * whiteouts as OCI ones); a layer committed here gives back its very bytes, so its diff id
 * and the image's config stay as they are. A layer that comes out different (imported from
 * another tool's tar) is pushed as it comes out, and the pushed config names the new diff
 * ids. Blobs the registry has (HEAD) are skipped; the others are uploaded monolithically
 * (POST for a location, PUT with the digest); the manifest comes last. */
#include "common/cleanup.h"
#include "common/json.h"
#include "portlayer/storage/archive.h"
#include "portlayer/storage/digest.h"
#include "portlayer/storage/registry_xfer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LAYER_MT  "application/vnd.oci.image.layer.v1.tar"
#define CONFIG_MT "application/vnd.oci.image.config.v1+json"
#define MANIF_MT  "application/vnd.oci.image.manifest.v1+json"

typedef struct blob {
	char digest[PL_DIGEST_LEN + 1];
	uint64_t size;
	int fd;		 /* a layer tar, or -1 */
	const char *buf; /* the config, or NULL */
	bool skipped;
} blob_t;

static char *abs_location(pull_t *p, const char *loc)
{
	if (!strncmp(loc, "http://", 7) || !strncmp(loc, "https://", 8))
		return pl_xstrdup(loc);
	return pl_xasprintf("%s://%s%s%s", p->scheme, p->ref.api, loc[0] == '/' ? "" : "/", loc);
}

/* HEAD, then POST + PUT unless the registry has it. */
static int push_blob(pull_t *p, blob_t *b, pl_error_t **err)
{
	xfer_t x;
	pl_xfer_init(&x, p, pl_xasprintf("blobs/%s", b->digest), NULL, 0, -1);
	x.method = "HEAD";
	xfer_t *one[] = {&x};
	int r = pl_xfer_run(p, one, 1, err);
	if (r == 0 && x.status == 200) {
		b->skipped = true;
		pl_xfer_clear(&x);
		return 0;
	}
	if (r == 0 && x.status != 404)
		r = pl_xfer_status_error(&x, "check blob", err);
	pl_xfer_clear(&x);
	if (r < 0)
		return -1;

	pl_xfer_init(&x, p, pl_xstrdup("blobs/uploads/"), NULL, ERRBODY_MAX_PUSH, -1);
	x.method = "POST";
	r = pl_xfer_run(p, one, 1, err);
	if (r == 0 && (x.status != 202 || !x.location))
		r = pl_xfer_status_error(&x, "start an upload", err);
	_cleanup_free_ char *loc = r == 0 ? abs_location(p, x.location) : NULL;
	pl_xfer_clear(&x);
	if (r < 0)
		return -1;

	_cleanup_free_ char *esc = curl_easy_escape(NULL, b->digest, 0);
	pl_xfer_init(&x, p, NULL,
		     pl_xasprintf("%s%cdigest=%s", loc, strchr(loc, '?') ? '&' : '?', esc),
		     ERRBODY_MAX_PUSH, -1);
	x.reg = true;
	x.method = "PUT";
	x.ctype_out = "Content-Type: application/octet-stream";
	x.up_fd = b->fd;
	x.up_size = b->size;
	x.up_buf = b->buf;
	x.up_len = b->buf ? b->size : 0;
	r = pl_xfer_run(p, one, 1, err);
	if (r == 0 && x.status != 201)
		r = pl_xfer_status_error(&x, "upload", err);
	x.up_fd = -1; /* ours */
	pl_xfer_clear(&x);
	return r < 0 ? pl_error_wrap(err, "blob %s", b->digest) : 0;
}

/* The blobs (layers, then the config at blobs[n]), then the manifest naming them. */
static json_t *send_all(pull_t *p, blob_t *blobs, size_t n, const char *id, bool rewritten,
			pl_error_t **err)
{
	blob_t *cb = &blobs[n];
	for (size_t i = 0; i <= n; i++)
		if (push_blob(p, &blobs[i], err) < 0)
			return NULL;
	json_t *layers = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(layers, json_pack("{s:s, s:s, s:I}", "mediaType", LAYER_MT,
							"digest", blobs[i].digest, "size",
							(json_int_t)blobs[i].size));
	_cleanup_json_ json_t *man =
	    json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2, "mediaType",
		      MANIF_MT, "config", "mediaType", CONFIG_MT, "digest", cb->digest, "size",
		      (json_int_t)cb->size, "layers", layers);
	_cleanup_free_ char *mtext = json_dumps(man, JSON_COMPACT);
	xfer_t x;
	pl_xfer_init(&x, p, pl_xasprintf("manifests/%s", p->ref.tag), NULL, ERRBODY_MAX_PUSH, -1);
	x.method = "PUT";
	x.ctype_out = "Content-Type: " MANIF_MT;
	x.up_buf = mtext;
	x.up_len = strlen(mtext);
	xfer_t *one[] = {&x};
	int r = pl_xfer_run(p, one, 1, err);
	if (r == 0 && x.status != 201)
		r = pl_xfer_status_error(&x, "put the manifest", err);
	pl_xfer_clear(&x);
	if (r < 0)
		return NULL;
	char mdigest[PL_DIGEST_LEN + 1];
	pl_digest_of(mtext, strlen(mtext), mdigest);
	size_t skipped = 0;
	for (size_t i = 0; i <= n; i++)
		skipped += blobs[i].skipped;
	json_t *out = json_pack("{s:s, s:s, s:s, s:I, s:I, s:b}", "image", id, "digest", mdigest,
				"config", cb->digest, "uploaded", (json_int_t)(n + 1 - skipped),
				"skipped", (json_int_t)skipped, "rewritten", rewritten);
	/* the registry now holds this image under repo@digest: inspect lists it (the daemon
	 * records it as it records names); not when the pushed config is another image's */
	if (!strcmp(cb->digest, id)) {
		_cleanup_free_ char *rd = pl_registry_repo_digest(p->o->ref, mdigest);
		json_object_set_new(
		    out, "images",
		    json_pack("[{s:s, s:[], s:[s]}]", "id", id, "tags", "repo_digests", rd));
	}
	return out;
}

static json_t *do_push(pull_t *p, const char *image, pl_error_t **err)
{
	pl_images_t *im = p->im;
	const json_t *img = pl_image_find(im, image, err);
	if (!img)
		return NULL;
	const char *id = pl_image_id(img);
	_cleanup_json_ json_t *cfg = json_deep_copy(json_object_get(img, "config"));
	json_t *diff_ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
	char **paths = pl_image_layer_paths(im, id, err);
	if (!paths)
		return NULL;
	size_t n = json_array_size(diff_ids);
	blob_t *blobs = pl_xcalloc(n + 1, sizeof(*blobs));
	for (size_t i = 0; i <= n; i++)
		blobs[i].fd = -1;
	json_t *out = NULL;
	bool rewritten = false;
	_cleanup_free_ char *text = NULL;
	for (size_t i = 0; i < n; i++) {
		_cleanup_close_ int dir =
		    paths[i] ? open(paths[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
		if (dir < 0) {
			pl_error_errno(err, "open layer %zu", i);
			goto out;
		}
		blobs[i].fd = pl_images_tmpfile(im, err);
		if (blobs[i].fd < 0 || pl_archive_layer(dir, blobs[i].fd, NULL, err) < 0 ||
		    pl_digest_fd(blobs[i].fd, blobs[i].digest, &blobs[i].size, err) < 0)
			goto out;
		const char *want = json_string_value(json_array_get(diff_ids, i));
		if (strcmp(want, blobs[i].digest) != 0) {
			json_array_set_new(diff_ids, i, json_string(blobs[i].digest));
			rewritten = true;
		}
	}
	/* the config as the store holds it, serialised the way commit wrote it */
	text = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
	blob_t *cb = &blobs[n];
	cb->buf = text;
	cb->size = strlen(text);
	pl_digest_of(text, cb->size, cb->digest);
	out = send_all(p, blobs, n, id, rewritten, err);
out:
	for (size_t i = 0; i <= n; i++)
		if (blobs[i].fd >= 0)
			close(blobs[i].fd);
	free(blobs);
	for (size_t i = 0; paths[i]; i++)
		free(paths[i]);
	free(paths);
	return out;
}

json_t *pl_registry_push(pl_images_t *im, const char *image, const pl_pull_opts_t *o,
			 pl_error_t **err)
{
	pull_t p = {.im = im, .o = o, .scheme = "https", .push = true};
	json_t *out = NULL;
	if (pl_registry_ref_parse(o->ref, &p.ref, err) < 0)
		goto done;
	if (!p.ref.tag) {
		pl_error_set(err, PL_ERR_INVALID, 0, "ref: a push needs a tag, not a digest");
		goto done;
	}
	if (pl_xfer_open(&p, err) < 0)
		goto done;
	out = do_push(&p, image, err);
	curl_multi_cleanup(p.multi);
done:
	if (!out)
		pl_error_wrap(err, "push %s", o->ref);
	pl_registry_ref_clear(&p.ref);
	free(p.authz);
	return out;
}
