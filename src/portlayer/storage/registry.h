/* SPDX-License-Identifier: Apache-2.0 */
/* Registry pull: the client side of the OCI distribution API (v2) over libcurl. Owns the
 * transfers of one pull (manifest, index → platform manifest, config and layer blobs), the
 * registry's authentication dance (Bearer tokens from the challenge's realm, or Basic) and
 * the verification of every byte against its digest before anything reaches the store;
 * the store itself (layers, records, names) stays with images.c. Runs in a worker process. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include "common/error.h"
#include "portlayer/storage/images.h"

/* HOST[:PORT]/REPO[:TAG] or HOST[:PORT]/REPO@sha256:HEX. Without a host part (no "." or ":"
 * in the first component, and not "localhost") the registry is Docker Hub, where a
 * one-component repository is under "library/". */
typedef struct pl_registry_ref {
	char *host;   /* as given ("127.0.0.1:5000"); "docker.io" for Docker Hub */
	char *api;    /* where the API is ("registry-1.docker.io" for Docker Hub) */
	char *repo;   /* "busybox", "library/busybox" */
	char *tag;    /* NULL when pulled by digest */
	char *digest; /* "sha256:<hex>" or NULL */
} pl_registry_ref_t;

int pl_registry_ref_parse(const char *ref, pl_registry_ref_t *out, pl_error_t **err);
void pl_registry_ref_clear(pl_registry_ref_t *r);

typedef struct pl_pull_opts {
	const char *ref;
	const char *platform;		 /* "os/arch[/variant]"; NULL: linux/amd64 */
	const char *username, *password; /* NULL: anonymous */
	bool insecure;			 /* plain http (after https failed) and unverified TLS */
	int progress_fd; /* > 0: progress as newline-delimited JSON (Docker's pull stream) */
} pl_pull_opts_t;

/* Pulls one image into the store and names it by o->ref → {"images":[{"id","tags"}]}.
 * Errors: NOTFOUND for an unknown repository, tag or platform (the registry's words);
 * INVALID for a digest or size that does not match, a refused login; UNSUPPORTED for
 * what is not a container image; INTERNAL for network and registry faults. A failed pull
 * leaves no layer of its own behind. */
json_t *pl_registry_pull(pl_images_t *im, const pl_pull_opts_t *o, pl_error_t **err);

/* Pushes the store's image (a reference or id) to o->ref (HOST[:PORT]/REPO:TAG; platform
 * unused) with the same credentials and TLS options as a pull → {"image","digest" (of the
 * manifest),"config","uploaded","skipped","rewritten"}. Blobs the registry has are not sent.
 * Implemented in push.c. */
json_t *pl_registry_push(pl_images_t *im, const char *image, const pl_pull_opts_t *o,
			 pl_error_t **err);
