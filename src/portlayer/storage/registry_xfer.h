/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to the registry client (registry.c, push.c): one registry conversation (pull_t:
 * the reference, the scheme that works, the credentials earned) and its transfers (xfer_t),
 * run in parallel with libcurl multi, answering authentication challenges on the way. */
#pragma once

#include <curl/curl.h>
#include <gnutls/crypto.h>
#include <stdbool.h>
#include <stdint.h>
#include "portlayer/storage/registry.h"

#define ERRBODY_MAX_PUSH (1u << 20) /* bound on the small answers a push gets */

/* "repo@digest" for a reference "repo[:tag|@digest]": what inspect lists as repo_digests. */
char *pl_registry_repo_digest(const char *ref, const char *digest);

typedef struct pull {
	pl_images_t *im;
	const pl_pull_opts_t *o;
	pl_registry_ref_t ref;
	char os[32], arch[32], variant[32];
	CURLM *multi;
	const char *scheme;  /* "https", or "http" once https failed on an insecure pull */
	bool scheme_known;   /* a registry answered over it */
	char *authz;	     /* "Authorization: Bearer ..." */
	bool basic;	     /* send the credentials as Basic to the registry */
	bool push;	     /* tokens are asked for pull and push */
	char top_digest[72]; /* the digest of the first manifest fetched (what ref names) */
} pull_t;

typedef struct xfer {
	pull_t *p;
	CURL *h;
	char *path; /* below /v2/<repo>/ on the registry; NULL for url (a token realm) */
	char *url;
	bool accept_manifests;
	size_t max; /* bound on a 2xx body */
	int fd;	    /* a 2xx body goes here when >= 0, else to body */
	bool done, authed, too_big;
	int werr;
	CURLcode rc;
	/* the last response (reset at every status line: redirects, retries) */
	long status;
	char *ctype, *challenge, *dcd, *location;
	char *body; /* a 2xx body in memory, or the first ERRBODY_MAX of another */
	size_t len, cap;
	uint64_t got;
	gnutls_hash_hd_t hash; /* of the 2xx body */
	struct curl_slist *hdrs;
	char errbuf[CURL_ERROR_SIZE];
	/* requests other than GET (push) */
	const char *method;    /* "HEAD", "POST", "PUT"; NULL: GET */
	bool reg;	       /* url is on the registry (an upload location) */
	const char *ctype_out; /* "Content-Type: ..." of the body sent */
	int up_fd;	       /* the body from this fd (a blob) ... */
	uint64_t up_size, up_off;
	const char *up_buf; /* ... or from memory (borrowed) */
	size_t up_len;
	const char *progress_id; /* a layer download reported as it goes */
	uint64_t reported;
} xfer_t;

/* libcurl's global set-up and p->multi (the caller cleans the multi up). */
int pl_xfer_open(pull_t *p, pl_error_t **err);
void pl_xfer_init(xfer_t *x, pull_t *p, char *path, char *url, size_t max, int fd);
void pl_xfer_clear(xfer_t *x);
/* Runs the transfers not done yet to their final answer; the caller judges each status. */
int pl_xfer_run(pull_t *p, xfer_t **xs, size_t n, pl_error_t **err);
/* The registry's own words for a failed transfer. */
int pl_xfer_status_error(const xfer_t *x, const char *what, pl_error_t **err);
void pl_xfer_digest(xfer_t *x, char out[PL_DIGEST_LEN + 1]);
/* One progress line {"status","id","progressDetail"} when the pull has a progress fd. */
void pl_pull_progress(pull_t *p, const char *id, const char *status, uint64_t current,
		      uint64_t total);
