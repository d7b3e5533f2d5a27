/* SPDX-License-Identifier: Apache-2.0 */
/* The image store: content-addressed layers (ROOT/storage/layers/<diff-id hex>/diff, in
 * overlayfs form, shared by every container of every image that has them) and images
 * (ROOT/storage/images/<id hex>.json: OCI image config + layer chain) with their names
 * (ROOT/storage/tags.json). Writes happen in worker processes (pl_image_*_job) into a
 * temporary directory renamed into place, so a crash never leaves a layer that looks
 * complete; the daemon then re-reads the store. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include "common/error.h"
#include "portlayer/storage/extract.h"

typedef struct pl_images pl_images_t;

pl_images_t *pl_images_open(const char *root, pl_error_t **err);
pl_images_t *pl_images_free(pl_images_t *im);
/* Re-reads images and tags from disk (after a worker job). */
int pl_images_reload(pl_images_t *im, pl_error_t **err);

/* Worker jobs (run in a child process). in_fd: the request body.
 * layer_write: one tar stream (plain/gzip/zstd) → {"diff_id","size","entries"}; with an
 * expected digest (of the uncompressed stream, or of the blob as sent) a mismatch leaves
 * nothing behind. import: an OCI image layout or a docker-archive, as a tar →
 * {"images":[{"id","tags":[...]}]}. */
json_t *pl_images_layer_write_job(pl_images_t *im, int in_fd, const char *expected,
				  pl_error_t **err);
json_t *pl_images_import_job(pl_images_t *im, int in_fd, pl_error_t **err);

/* Building blocks for jobs that fetch images themselves (registry pull), in a worker too.
 * tmpfile: an unlinked temporary file in ROOT/storage/tmp (gone when closed).
 * layer_add: one layer tar from fd into the store, checked against expected (its diff id or
 * blob digest) when given; *created (may be NULL) says whether this call added it, so a job
 * that fails later can take it back with layer_drop. layer_size: bytes of regular files in
 * a stored layer. record: writes the image record for a config, given as its exact bytes
 * (the image id is their digest), whose rootfs.diff_ids are all in the store, and names it
 * (names saved) → {"id","tags"}. */
int pl_images_tmpfile(pl_images_t *im, pl_error_t **err);
bool pl_images_has_layer(pl_images_t *im, const char *diff_id);
int pl_images_layer_add(pl_images_t *im, int fd, const char *expected, pl_extract_result_t *res,
			bool *created, pl_error_t **err);
void pl_images_layer_drop(pl_images_t *im, const char *diff_id);
uint64_t pl_images_layer_size(pl_images_t *im, const char *diff_id);
/* The layer's bytes as they arrived (compressed or not), kept when it came as a file; -1
 * when there are none (an older store). config_text: an image config's exact bytes (its
 * digest is the id), or NULL for a record older than them; caller frees. */
int pl_images_open_blob(pl_images_t *im, const char *diff_id);
char *pl_images_config_text(pl_images_t *im, const char *id, size_t *len);
/* Writes a tar of the images to out_fd: a docker-archive (manifest.json, <config>.json,
 * <layer>/layer.tar), or with oci an OCI image layout (oci-layout, index.json, blobs/).
 * images: [{"id","names":[...]}]. Digests are kept: configs and layers are the bytes they
 * name (a layer with no kept bytes is written again from its files; when that changes its
 * digest, the config names the new one and the image gets a new id). A worker job. */
int pl_images_save(pl_images_t *im, const json_t *images, bool oci, int out_fd, pl_error_t **err);
json_t *pl_images_record(pl_images_t *im, const char *config, size_t len, uint64_t size,
			 const json_t *names, pl_error_t **err);

/* The daemon brackets every worker job with these: layer collection (after an image
 * removal) waits until no job is writing layers. */
void pl_images_job(pl_images_t *im, bool begin);
/* Records the names a job reported ({"images":[{"id","tags"}]}); jobs never write names. */
int pl_images_apply_names(pl_images_t *im, const json_t *result, pl_error_t **err);

/* Lookups by "name[:tag]" (":latest" implied), "sha256:<id>", or a unique id prefix. */
const json_t *pl_image_find(pl_images_t *im, const char *ref, pl_error_t **err);
json_t *pl_images_list_json(pl_images_t *im);
json_t *pl_image_inspect_json(pl_images_t *im, const json_t *img);
int pl_image_tag(pl_images_t *im, const json_t *img, const char *name, pl_error_t **err);
/* Removes a name; removes the image with its unshared layers when no name is left (or
 * when ref is an id). in_use: the image is used by a container → CONFLICT. */
int pl_image_remove(pl_images_t *im, const char *ref, bool in_use, pl_error_t **err);
/* Layer directories for an image, lowest first, NULL-terminated; caller frees. */
char **pl_image_layer_paths(pl_images_t *im, const char *image_id, pl_error_t **err);
const char *pl_image_id(const json_t *img);
const json_t *pl_image_config(const json_t *img); /* the OCI "config" object */
