/* SPDX-License-Identifier: Apache-2.0 */
/* /layers and /images: layer writes, imports, pulls and pushes run as the library's worker
 * jobs (jobs.h); tags, inspect and removal are one library call each. */
#include "daemon/routes.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "portlayer/listing.h"
#include "common/util.h"
#include "common/worker.h"
#include "daemon/routes_archive.h"
#include "portlayer/api.h"
#include "portlayer/jobs.h"
#include "portlayer/storage/images.h"
#include "portlayer/storage/registry.h"

#include <stdio.h>

/* A store job's request and what its work needs. */
typedef struct store_job {
	int refs; /* the job's completion, and the parked request's */
	pl_app_t *app;
	pl_req_t *req;	    /* NULL once the request is over (its client may go first) */
	pl_job_kind_t kind; /* PL_JOB_LAYER, _IMPORT, _PULL or _PUSH */
	int fd;
	char expected[PL_DIGEST_LEN + 1];
	/* PL_JOB_PULL, PL_JOB_PUSH */
	char *ref, *platform, *username, *password;
	bool insecure;
	char *image; /* PL_JOB_PUSH: the store's image (id) */
} store_job_t;

static void store_job_free(store_job_t *j)
{
	if (--j->refs > 0)
		return;
	free(j->ref);
	free(j->image);
	free(j->platform);
	free(j->username);
	pl_free_secret(j->password);
	free(j);
}

static json_t *store_work(void *data, pl_error_t **err)
{
	store_job_t *j = data;
	pl_images_t *im = pl_portlayer_images(j->app->pl);
	if (j->kind == PL_JOB_IMPORT)
		return pl_images_import_job(im, j->fd, err);
	if (j->kind == PL_JOB_PULL || j->kind == PL_JOB_PUSH) {
		pl_pull_opts_t o = {.ref = j->ref,
				    .platform = j->platform,
				    .username = j->username,
				    .password = j->password,
				    .insecure = j->insecure};
		return j->kind == PL_JOB_PUSH ? pl_registry_push(im, j->image, &o, err)
					      : pl_registry_pull(im, &o, err);
	}
	return pl_images_layer_write_job(im, j->fd, j->expected[0] ? j->expected : NULL, err);
}

static void store_done(void *data, const json_t *result, const pl_error_t *err)
{
	store_job_t *j = data;
	if (j->req && err)
		pl_reply_error(j->req, err);
	else if (j->req)
		pl_reply_json(j->req, j->kind == PL_JOB_PUSH ? 200 : 201, json_deep_copy(result));
	store_job_free(j);
}

/* The parked request is over (answered, or its client gone). */
static void store_req_gone(pl_waiter_t *w)
{
	store_job_t *j = pl_waiter_job(w);
	j->req = NULL;
	store_job_free(j);
}

static const pl_waiter_type_t store_waiter = {.clear = store_req_gone};

static void submit_store_job(pl_req_t *r, store_job_t *j)
{
	pl_error_t *e = NULL;
	pl_job_t job = {.kind = j->kind,
			.subject = j->image,
			.ref = j->ref,
			.work = store_work,
			.done = store_done,
			.data = j};
	if (pl_portlayer_job(j->app->pl, j->app->workers, &job, &e) < 0) {
		store_job_free(j);
		return pl_route_fail(r, e);
	}
	j->refs++;
	pl_waiter_park_job(r, j->app, &store_waiter, j);
}

static store_job_t *store_job_new(pl_req_t *r, pl_app_t *app, pl_job_kind_t kind)
{
	store_job_t *j = pl_xcalloc(1, sizeof(*j));
	j->refs = 1;
	j->app = app;
	j->req = r;
	j->kind = kind;
	j->fd = -1;
	return j;
}

static void submit_body_job(pl_req_t *r, pl_app_t *app, pl_job_kind_t kind)
{
	pl_error_t *e = NULL;
	int fd = pl_req_body_fd(r);
	if (fd < 0) {
		pl_error_set(&e, PL_ERR_INVALID, 0, "a tar body is required");
		return pl_route_fail(r, e);
	}
	const char *dg = pl_req_query(r, "digest");
	if (dg && strlen(dg) != PL_DIGEST_LEN) {
		pl_error_set(&e, PL_ERR_INVALID, 0, "digest \"%s\" is not sha256:<64 hex>", dg);
		return pl_route_fail(r, e);
	}
	store_job_t *j = store_job_new(r, app, kind);
	j->fd = fd;
	if (dg)
		snprintf(j->expected, sizeof(j->expected), "%s", dg);
	submit_store_job(r, j);
}

static void h_layer_write(pl_req_t *r, void *data)
{
	submit_body_job(r, data, PL_JOB_LAYER);
}

static void h_image_import(pl_req_t *r, void *data)
{
	submit_body_job(r, data, PL_JOB_IMPORT);
}

/* The optional body {"username","password"} of a pull or push (what names it in errors):
 * *body holds the strings *user and *pass point into (both NULL without a body). */
static int req_login(pl_req_t *r, const char *what, json_t **body, const char **user,
		     const char **pass, pl_error_t **e)
{
	static const char *const keys[] = {"username", "password", NULL};
	if (!pl_req_has_body(r))
		return 0;
	*body = pl_req_json(r, e);
	if (!*body || pl_json_check_keys(*body, what, keys, e) < 0 ||
	    pl_json_get_string(*body, "username", user, e) < 0 ||
	    pl_json_get_string(*body, "password", pass, e) < 0)
		return -1;
	return 0;
}

/* ?ref=HOST[:PORT]/REPO[:TAG|@sha256:HEX][&insecure=1][&platform=os/arch[/variant]], with an
 * optional body {"username","password"}: the registry's credentials. */
static void h_image_pull(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	const char *ref = pl_req_query(r, "ref");
	bool insecure;
	if (!ref || !*ref) {
		pl_error_set(&e, PL_ERR_INVALID, 0,
			     "pull needs ?ref=HOST[:PORT]/REPO[:TAG|@sha256:DIGEST]");
		return pl_route_fail(r, e);
	}
	pl_registry_ref_t parsed;
	if (pl_registry_ref_parse(ref, &parsed, &e) < 0)
		return pl_route_fail(r, e);
	pl_registry_ref_clear(&parsed);
	if (pl_req_query_bool(r, "insecure", false, &insecure, &e) < 0)
		return pl_route_fail(r, e);
	const char *user = NULL, *pass = NULL;
	_cleanup_json_ json_t *body = NULL;
	if (req_login(r, "pull", &body, &user, &pass, &e) < 0)
		return pl_route_fail(r, e);
	bool progress;
	if (pl_req_query_bool(r, "progress", false, &progress, &e) < 0)
		return pl_route_fail(r, e);
	if (progress)
		return pl_pull_stream(r, app, ref, pl_req_query(r, "platform"), user, pass,
				      insecure);
	store_job_t *j = store_job_new(r, app, PL_JOB_PULL);
	j->ref = pl_xstrdup(ref);
	const char *platform = pl_req_query(r, "platform");
	j->platform = platform && *platform ? pl_xstrdup(platform) : NULL;
	j->username = user && *user ? pl_xstrdup(user) : NULL;
	j->password = pass ? pl_xstrdup(pass) : NULL;
	j->insecure = insecure;
	submit_store_job(r, j);
}

/* POST /images/{name}/push[?tag=T][&insecure=1], body {"username","password"}: the image
 * named NAME[:T] goes to the registry its name names, as docker push does. */
static void h_image_push(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	_cleanup_free_ char *ref = NULL, *image = NULL;
	if (pl_image_push_target(app->pl, pl_req_param(r), pl_req_query(r, "tag"), &ref, &image,
				 &e) < 0)
		return pl_route_fail(r, e);
	bool insecure;
	if (pl_req_query_bool(r, "insecure", false, &insecure, &e) < 0)
		return pl_route_fail(r, e);
	const char *user = NULL, *pass = NULL;
	_cleanup_json_ json_t *body = NULL;
	if (req_login(r, "push", &body, &user, &pass, &e) < 0)
		return pl_route_fail(r, e);
	store_job_t *j = store_job_new(r, app, PL_JOB_PUSH);
	j->ref = TAKE_PTR(ref);
	j->image = TAKE_PTR(image);
	j->username = user && *user ? pl_xstrdup(user) : NULL;
	j->password = pass ? pl_xstrdup(pass) : NULL;
	j->insecure = insecure;
	submit_store_job(r, j);
}

/* GET /images/get?names=a,b[&format=oci|docker]: docker save. A name that is a tag of its
 * image is kept (RepoTags, or the OCI ref.name); an id saves the image without names. */
static void h_image_save(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	const char *names = pl_req_query(r, "names"), *format = pl_req_query(r, "format");
	if (!names || !*names || (format && strcmp(format, "oci") && strcmp(format, "docker"))) {
		pl_error_set(&e, PL_ERR_INVALID, 0,
			     "save needs ?names=IMAGE[,IMAGE...] (and format=docker or oci)");
		return pl_route_fail(r, e);
	}
	pl_images_t *im = pl_portlayer_images(app->pl);
	json_t *images = json_array();
	_cleanup_free_ char *copy = pl_xstrdup(names);
	char *save = NULL;
	for (char *n = strtok_r(copy, ",", &save); n; n = strtok_r(NULL, ",", &save)) {
		const json_t *img = pl_image_find(im, n, &e);
		if (!img) {
			json_decref(images);
			return pl_route_fail(r, e);
		}
		_cleanup_json_ json_t *insp = pl_image_inspect_json(im, img);
		_cleanup_free_ char *latest = pl_xasprintf("%s:latest", n);
		const char *tag = NULL;
		size_t i;
		json_t *t;
		json_array_foreach(json_object_get(insp, "tags"), i, t)
		{
			const char *s = json_string_value(t);
			if (!strcmp(s, n) || !strcmp(s, latest))
				tag = s;
		}
		json_t *entry = NULL;
		json_array_foreach(images, i, t)
		{
			if (!strcmp(json_string_value(json_object_get(t, "id")), pl_image_id(img)))
				entry = t;
		}
		if (!entry) {
			entry = json_pack("{s:s, s:[]}", "id", pl_image_id(img), "names");
			json_array_append_new(images, entry);
		}
		if (tag)
			json_array_append_new(json_object_get(entry, "names"), json_string(tag));
	}
	pl_save_stream(r, app, images, format && !strcmp(format, "oci"));
}

static const json_t *lookup_image(pl_req_t *r, pl_app_t *app, const char *ref)
{
	pl_error_t *e = NULL;
	const json_t *img = pl_image_find(pl_portlayer_images(app->pl), ref ? ref : "", &e);
	if (!img)
		pl_route_fail(r, e);
	return img;
}

static void h_image_inspect(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	const json_t *img = lookup_image(r, app, pl_req_param(r));
	if (img)
		pl_reply_json(r, 200, pl_image_inspect_json(pl_portlayer_images(app->pl), img));
}

static void h_image_tag(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	if (pl_portlayer_image_tag(app->pl, pl_req_query(r, "ref"), pl_req_query(r, "name"), &e) <
	    0)
		return pl_route_fail(r, e);
	pl_reply_empty(r, 201);
}

static void h_image_remove(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	if (pl_portlayer_image_remove(app->pl, pl_req_param(r), &e) < 0)
		return pl_route_fail(r, e);
	pl_reply_empty(r, 204);
}

/* ?filters= (Docker's JSON), the logic in portlayer/listing.c */
static void h_image_list(pl_req_t *r, void *data)
{
	static const char *const keys[] = {"reference", "label", "dangling", NULL};
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	_cleanup_json_ json_t *f = pl_filters_parse(pl_req_query(r, "filters"), keys, &e);
	json_t *list = f ? pl_images_list_filtered(app->pl, f, &e) : NULL;
	if (!list)
		return pl_route_fail(r, e);
	pl_reply_json(r, 200, list);
}

const pl_route_t pl_routes_images[] = {
    {"POST", "/layers", h_layer_write, true},
    {"POST", "/images/import", h_image_import, true},
    {"POST", "/images/pull", h_image_pull},
    {"POST", "/images/tag", h_image_tag},
    {"GET", "/images", h_image_list},
    {"GET", "/images/get", h_image_save},
    {"POST", "/images/{ref*}/push", h_image_push},
    {"GET", "/images/{ref*}", h_image_inspect},
    {"DELETE", "/images/{ref*}", h_image_remove},
    {NULL, NULL, NULL},
};
