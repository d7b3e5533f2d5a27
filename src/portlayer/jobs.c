/* SPDX-License-Identifier: Apache-2.0 */
/* Worker jobs with their rules and events (jobs.h). */
#include "portlayer/jobs.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/util.h"
#include "portlayer/events.h"
#include "portlayer/storage/commit.h"
#include "portlayer/storage/images.h"

#include <stdlib.h>
#include <string.h>

typedef struct job {
	pl_portlayer_t *pl;
	pl_job_kind_t kind;
	char *subject, *ref, *path;
	bool copy_in;
	pl_work_fn work;
	pl_done_fn done;
	void *data;
	struct job *next_copy_in;
} job_t;

/* Copies into stopped containers in flight. The daemon is single-threaded, and container
 * ids are never reused, so the list needs no more than the id and the library. */
static job_t *copy_ins;

bool pl_portlayer_copy_in_active(pl_portlayer_t *pl, const char *id)
{
	for (job_t *j = copy_ins; j; j = j->next_copy_in)
		if (j->pl == pl && strcmp(j->subject, id) == 0)
			return true;
	return false;
}

int pl_container_archive_check(pl_container_t *c, bool write, pl_error_t **err)
{
	pl_status_t st = pl_container_status(c);
	if (st == PL_STATUS_STARTING || st == PL_STATUS_STOPPING || st == PL_STATUS_REMOVING)
		return pl_error_set(err, PL_ERR_CONFLICT, 0, "container %.12s is %s; try again",
				    pl_container_id(c), pl_status_name(st));
	if (!pl_container_is_running(c))
		pl_container_settle_teardown(c); /* its last run's overlay is unmounted */
	if (!pl_container_files_on_host(c))
		return pl_error_set(
		    err, PL_ERR_UNSUPPORTED, 0,
		    "container %.12s: the files of a domain of this mechanism are not "
		    "reachable from the host (archives and commit need a shared kernel)",
		    pl_container_id(c));
	if (write && !pl_container_is_running(c) && pl_container_userns(c)->remap)
		/* a copy-up through a plain overlay would give the container's directories host
		 * root's ids; its own overlay (idmapped layers) exists only while it runs */
		return pl_error_set(err, PL_ERR_CONFLICT, 0,
				    "container %.12s has its own user namespace: copy into it "
				    "while it runs",
				    pl_container_id(c));
	return 0;
}

int pl_container_commit_opts(pl_portlayer_t *pl, pl_container_t *c, pl_commit_opts_t *o,
			     pl_error_t **err)
{
	_cleanup_json_ json_t *insp = pl_container_inspect_json(c);
	json_t *cfg = json_object_get(insp, "config");
	json_t *proc = json_object_get(cfg, "process");
	o->dir = pl_xstrdup(pl_container_dir(c));
	o->ids = *pl_container_userns(c);
	const char *image = json_string_value(json_object_get(cfg, "image"));
	if (image) {
		const json_t *img = pl_image_find(pl_portlayer_images(pl), image, err);
		if (!img)
			return pl_error_wrap(err, "the container's image");
		o->base = json_deep_copy(json_object_get(img, "config"));
	} else {
		o->rootfs = pl_xstrdup(json_string_value(json_object_get(cfg, "rootfs")));
	}
	o->container =
	    json_pack("{s:O, s:O, s:O, s:O}", "args", json_object_get(proc, "args"), "env",
		      json_object_get(proc, "env"), "cwd", json_object_get(proc, "cwd"), "labels",
		      json_object_get(cfg, "labels"));
	return 0;
}

static void copy_in_end(job_t *j)
{
	for (job_t **p = &copy_ins; *p; p = &(*p)->next_copy_in)
		if (*p == j) {
			*p = j->next_copy_in;
			return;
		}
}

static bool writes_images(pl_job_kind_t k)
{
	switch (k) {
	case PL_JOB_LAYER:
	case PL_JOB_IMPORT:
	case PL_JOB_PULL:
	case PL_JOB_PUSH:
	case PL_JOB_COMMIT:
		return true;
	case PL_JOB_READ:
	case PL_JOB_EXPORT:
	case PL_JOB_ARCHIVE_GET:
	case PL_JOB_ARCHIVE_PUT:
	case PL_JOB_SAVE:
	default:
		return false;
	}
}

/* The image store's bracket: no layer collection while the job reads or writes the store. */
static bool uses_images(pl_job_kind_t k)
{
	return k == PL_JOB_SAVE || writes_images(k);
}

static void job_free(job_t *j)
{
	free(j->subject);
	free(j->ref);
	free(j->path);
	free(j);
}

static json_t *job_work(void *data, pl_error_t **err)
{
	job_t *j = data;
	/* a forked copy of the daemon: a domain that stops while the job runs is unmounted
	 * when the janitor closes its handle, not when the job ends */
	pl_portlayer_drop_teardown_handles(j->pl);
	return j->work(j->data, err);
}

static json_t *path_attrs(const job_t *j)
{
	return j->path ? json_pack("{s:s}", "path", j->path) : NULL;
}

/* The events a job's success means (Docker's names for them). */
static void emit_done(job_t *j, const json_t *result)
{
	pl_events_t *ev = pl_portlayer_events(j->pl);
	size_t i;
	json_t *img;
	switch (j->kind) {
	case PL_JOB_IMPORT:
	case PL_JOB_PULL:
		json_array_foreach(json_object_get(result, "images"), i, img)
		    pl_events_emit(ev, "image", j->kind == PL_JOB_PULL ? "pull" : "import",
				   json_string_value(json_object_get(img, "id")), NULL,
				   json_pack("{s:O}", "tags", json_object_get(img, "tags")));
		break;
	case PL_JOB_PUSH:
		pl_events_emit(ev, "image", "push", j->subject, NULL,
			       json_pack("{s:s, s:O}", "ref", j->ref ? j->ref : "", "digest",
					 json_object_get(result, "digest")));
		break;
	case PL_JOB_COMMIT:
		img = json_array_get(json_object_get(result, "images"), 0);
		pl_events_emit(ev, "image", "commit", json_string_value(json_object_get(img, "id")),
			       NULL, json_pack("{s:s}", "container", j->subject));
		break;
	case PL_JOB_EXPORT:
		pl_events_emit(ev, "container", "export", j->subject, NULL, path_attrs(j));
		break;
	case PL_JOB_ARCHIVE_GET:
		pl_events_emit(ev, "container", "archive-path", j->subject, NULL, path_attrs(j));
		break;
	case PL_JOB_ARCHIVE_PUT:
		pl_events_emit(ev, "container", "extract-to-dir", j->subject, NULL, path_attrs(j));
		break;
	case PL_JOB_READ:
	case PL_JOB_LAYER:
	case PL_JOB_SAVE:
	default:
		break;
	}
}

static void job_done(void *data, const json_t *result, const pl_error_t *err)
{
	job_t *j = data;
	pl_error_t *e = NULL;
	if (j->copy_in)
		copy_in_end(j);
	if (writes_images(j->kind)) {
		/* the worker wrote the store behind our back: reload, then record the names it
		 * reported (jobs never write names) */
		pl_images_t *im = pl_portlayer_images(j->pl);
		pl_images_reload(im, NULL);
		if (!err && pl_images_apply_names(im, result, &e) < 0)
			err = e;
	}
	if (uses_images(j->kind))
		pl_images_job(pl_portlayer_images(j->pl), false);
	if (!err)
		emit_done(j, result);
	j->done(j->data, err ? NULL : result, err);
	pl_error_free(e);
	job_free(j);
}

int pl_portlayer_job(pl_portlayer_t *pl, pl_workers_t *workers, const pl_job_t *job,
		     pl_error_t **err)
{
	job_t *j = pl_xcalloc(1, sizeof(*j));
	j->pl = pl;
	j->kind = job->kind;
	j->subject = job->subject ? pl_xstrdup(job->subject) : pl_xstrdup("");
	j->ref = job->ref ? pl_xstrdup(job->ref) : NULL;
	j->path = job->path ? pl_xstrdup(job->path) : NULL;
	j->copy_in = job->copy_in;
	j->work = job->work;
	j->done = job->done;
	j->data = job->data;
	if (uses_images(j->kind))
		pl_images_job(pl_portlayer_images(pl), true);
	if (pl_work_submit(workers, job_work, job_done, j, err) < 0) {
		if (uses_images(j->kind))
			pl_images_job(pl_portlayer_images(pl), false);
		job_free(j);
		return -1;
	}
	if (j->copy_in) {
		j->next_copy_in = copy_ins;
		copy_ins = j;
	}
	return 0;
}
