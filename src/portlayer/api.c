/* SPDX-License-Identifier: Apache-2.0 */
/* One library call per API operation, rules and events included (api.h). */
#include "portlayer/api.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/util.h"
#include "portlayer/events.h"
#include "portlayer/jobs.h"
#include "portlayer/network/network.h"
#include "portlayer/storage/images.h"
#include "portlayer/storage/registry.h"
#include "portlayer/storage/volumes.h"

#include <stdio.h>
#include <stdlib.h>

/* --- containers --- */

int pl_container_set_state(pl_portlayer_t *pl, pl_container_t *c, pl_want_state_t want,
			   int64_t stop_timeout, pl_start_fn cb, void *data, pl_error_t **err)
{
	bool running = pl_container_is_running(c);
	switch (want) {
	case PL_WANT_UNCHANGED:
		return PL_STATE_REACHED;
	case PL_WANT_RUNNING:
		if (running)
			return PL_STATE_REACHED;
		if (pl_portlayer_copy_in_active(pl, pl_container_id(c)))
			return pl_error_set(
			    err, PL_ERR_CONFLICT, 0,
			    "container %.12s: an archive is being copied into it; try again",
			    pl_container_id(c));
		int rc = pl_container_start(pl, c, cb, data, err);
		if (rc < 0)
			return -1;
		return rc == 1 ? PL_STATE_REACHED : PL_STATE_STARTING; /* 1: running already */
	case PL_WANT_STOPPED:
		if (!running) {
			pl_container_stop(pl, c, stop_timeout,
					  NULL); /* cancels a pending restart */
			return PL_STATE_REACHED;
		}
		if (pl_container_stop(pl, c, stop_timeout, err) < 0)
			return -1;
		return PL_STATE_STOPPING;
	default:
		return pl_error_set(err, PL_ERR_INTERNAL, 0, "unknown run state %d", (int)want);
	}
}

/* A run's start under way: the caller's callback, then the container removed on failure. */
typedef struct run {
	pl_start_fn cb;
	void *data;
	pl_portlayer_t *pl;
	bool keep_failed;
	char id[PL_ID_LEN + 1];
} run_t;

static void run_remove(pl_loop_t *loop, void *data)
{
	run_t *run = data;
	pl_container_t *c = pl_container_find(run->pl, run->id, NULL);
	if (c)
		pl_container_remove(run->pl, c, true, NULL);
	free(run);
}

static void run_started(pl_portlayer_t *pl, const char *id, const pl_error_t *err, void *data)
{
	run_t *run = data;
	if (run->cb)
		run->cb(pl, id, err, run->data);
	/* not from inside the start's callback: the record is still in use there */
	if (!err || run->keep_failed ||
	    !pl_loop_timer(pl_portlayer_loop(pl), 0, run_remove, run, NULL))
		free(run);
}

pl_container_t *pl_container_run(pl_portlayer_t *pl, const json_t *body, int *progress,
				 pl_start_fn cb, void *data, pl_error_t **err)
{
	return pl_container_run_keep(pl, body, false, progress, cb, data, err);
}

pl_container_t *pl_container_run_keep(pl_portlayer_t *pl, const json_t *body, bool keep_failed,
				      int *progress, pl_start_fn cb, void *data, pl_error_t **err)
{
	*progress = -1;
	pl_container_t *c = pl_container_create_lazy(pl, body, err);
	if (!c) {
		pl_error_wrap(err, "create container");
		return NULL;
	}
	if (pl_container_make_durable_async(c, err) < 0) {
		pl_error_wrap(err, "create container");
		pl_container_remove(pl, c, true, NULL);
		return NULL;
	}
	run_t *run = pl_xcalloc(1, sizeof(*run));
	run->cb = cb;
	run->data = data;
	run->pl = pl;
	run->keep_failed = keep_failed;
	snprintf(run->id, sizeof(run->id), "%s", pl_container_id(c));
	int rc = pl_container_set_state(pl, c, PL_WANT_RUNNING, -1, run_started, run, err);
	if (rc != PL_STATE_STARTING) /* run_started will not be called */
		free(run);
	if (rc < 0) {
		if (!keep_failed)
			pl_container_remove(pl, c, true, NULL);
		return NULL;
	}
	*progress = rc;
	return c;
}

int pl_handle_commit_apply(pl_portlayer_t *pl, pl_handle_t *h, pl_commit_result_t *res,
			   pl_start_fn cb, void *data, pl_error_t **err)
{
	*res = (pl_commit_result_t){0};
	if (pl_handle_commit(pl, h, res, err) < 0)
		return -1;
	pl_container_t *c = pl_container_find(pl, pl_handle_container_id(h), err);
	if (!c)
		return -1;
	return pl_container_set_state(pl, c, res->state, res->stop_timeout, cb, data, err);
}

int pl_container_change(pl_portlayer_t *pl, pl_handles_t *hs, pl_container_t *c, const char *op,
			const json_t *arg, pl_commit_result_t *res, pl_error_t **err)
{
	pl_handle_t *h = pl_handle_get(hs, pl_handle_take(hs, c), err);
	const char *staged = h ? pl_handle_mutate(hs, pl, h, op, arg, err) : NULL;
	if (h)
		pl_handle_drop(hs, h);
	pl_handle_t *h2 = staged ? pl_handle_get(hs, staged, err) : NULL;
	if (!h2)
		return -1;
	int rc = pl_handle_commit(pl, h2, res, err);
	pl_handle_drop(hs, h2);
	return rc;
}

int pl_portlayer_container_remove(pl_portlayer_t *pl, const char *ref, bool force, pl_error_t **err)
{
	pl_error_t *e = NULL;
	pl_container_t *c = pl_container_find(pl, ref, &e);
	if (!c) {
		if (pl_id_is_full(ref) && e->kind == PL_ERR_NOTFOUND) {
			pl_error_free(e);
			return 0;
		}
		*err = e;
		return -1;
	}
	return pl_container_remove(pl, c, force, err);
}

int pl_exec_start_detached(pl_portlayer_t *pl, pl_exec_t *ex, pl_start_fn cb, void *data,
			   pl_error_t **err)
{
	if (pl_exec_start(pl, ex, cb, data, err) < 0)
		return -1;
	/* a detached exec's output has no reader */
	pl_session_discard(pl_exec_container(ex), pl_exec_session(ex));
	return 0;
}

/* --- images --- */

int pl_portlayer_image_tag(pl_portlayer_t *pl, const char *ref, const char *name, pl_error_t **err)
{
	pl_images_t *im = pl_portlayer_images(pl);
	const json_t *img = pl_image_find(im, ref ? ref : "", err);
	if (!img)
		return -1;
	if (!name)
		return pl_error_set(err, PL_ERR_INVALID, 0, "tag needs ?ref=IMAGE&name=NAME[:TAG]");
	if (pl_image_tag(im, img, name, err) < 0)
		return -1;
	pl_events_emit(pl_portlayer_events(pl), "image", "tag", pl_image_id(img), NULL,
		       json_pack("{s:s}", "name", name));
	return 0;
}

int pl_portlayer_image_remove(pl_portlayer_t *pl, const char *ref, pl_error_t **err)
{
	pl_images_t *im = pl_portlayer_images(pl);
	const json_t *img = pl_image_find(im, ref, err);
	if (!img)
		return -1;
	_cleanup_free_ char *id = pl_xstrdup(pl_image_id(img));
	if (pl_image_remove(im, ref, pl_portlayer_image_in_use(pl, id), err) < 0)
		return -1;
	pl_events_emit(pl_portlayer_events(pl), "image", "untag", id, NULL,
		       json_pack("{s:s}", "name", ref));
	return 0;
}

int pl_image_push_target(pl_portlayer_t *pl, const char *name, const char *tag, char **ref,
			 char **image_id, pl_error_t **err)
{
	_cleanup_free_ char *r = tag && *tag ? pl_xasprintf("%s:%s", name, tag) : pl_xstrdup(name);
	const json_t *img = pl_image_find(pl_portlayer_images(pl), r, err);
	if (!img)
		return -1;
	pl_registry_ref_t parsed;
	if (pl_registry_ref_parse(r, &parsed, err) < 0)
		return -1;
	pl_registry_ref_clear(&parsed);
	*image_id = pl_xstrdup(pl_image_id(img));
	*ref = TAKE_PTR(r);
	return 0;
}

/* --- volumes --- */

json_t *pl_portlayer_volume_create(pl_portlayer_t *pl, const json_t *body, pl_error_t **err)
{
	json_t *vol = pl_volume_create(pl_portlayer_volumes(pl), body, err);
	if (vol)
		pl_events_emit(pl_portlayer_events(pl), "volume", "create",
			       json_string_value(json_object_get(vol, "name")), NULL,
			       json_pack("{s:s}", "driver", "local"));
	return vol;
}

int pl_portlayer_volume_remove(pl_portlayer_t *pl, const char *name, bool force, pl_error_t **err)
{
	if (pl_portlayer_volume_in_use(pl, name, force))
		return pl_error_set(err, PL_ERR_CONFLICT, 0, "volume %s is in use by a %scontainer",
				    name, force ? "running " : "");
	if (pl_volume_remove(pl_portlayer_volumes(pl), name, err) < 0)
		return -1;
	pl_events_emit(pl_portlayer_events(pl), "volume", "remove", name, NULL,
		       json_pack("{s:s}", "driver", "local"));
	return 0;
}

/* --- networks --- */

/* network events carry the driver ("bridge" or "external") */
static const char *net_driver(const json_t *net)
{
	const char *d = json_string_value(json_object_get(net, "driver"));
	return d ? d : "bridge";
}

static json_t *net_attrs(const json_t *net)
{
	return json_pack("{s:s}", "driver", net_driver(net));
}

json_t *pl_portlayer_network_create(pl_portlayer_t *pl, const json_t *body, pl_error_t **err)
{
	json_t *net = pl_network_create(pl_portlayer_network(pl), body, err);
	if (net)
		pl_events_emit(pl_portlayer_events(pl), "network", "create",
			       json_string_value(json_object_get(net, "id")),
			       json_string_value(json_object_get(net, "name")), net_attrs(net));
	return net;
}

int pl_portlayer_network_connect(pl_portlayer_t *pl, pl_handles_t *hs, const char *network,
				 const char *container, bool connect, const json_t *opts,
				 bool force, pl_error_t **err)
{
	pl_container_t *c = pl_container_find(pl, container, err);
	_cleanup_json_ json_t *net =
	    c ? pl_network_inspect(pl_portlayer_network(pl), network, err) : NULL;
	if (!net)
		return -1;
	_cleanup_json_ json_t *arg =
	    json_pack("{s:s, s:O}", "action", connect ? "connect" : "disconnect", "scope",
		      json_object_get(net, "name"));
	if (connect && json_object_get(opts, "ip"))
		json_object_set(arg, "ip", json_object_get(opts, "ip"));
	if (connect && json_object_get(opts, "aliases"))
		json_object_set(arg, "aliases", json_object_get(opts, "aliases"));
	pl_commit_result_t res;
	pl_error_t *e = NULL;
	if (pl_container_change(pl, hs, c, "network", arg, &res, &e) < 0) {
		/* force: not being on it is what was asked for */
		if (connect || !force || e->kind != PL_ERR_NOTFOUND) {
			*err = e;
			return -1;
		}
		pl_error_free(e);
	}
	pl_events_emit(
	    pl_portlayer_events(pl), "network", connect ? "connect" : "disconnect",
	    json_string_value(json_object_get(net, "id")),
	    json_string_value(json_object_get(net, "name")),
	    json_pack("{s:s, s:s}", "container", pl_container_id(c), "driver", net_driver(net)));
	return 0;
}

int pl_portlayer_network_remove(pl_portlayer_t *pl, const char *ref, pl_error_t **err)
{
	pl_network_t *n = pl_portlayer_network(pl);
	_cleanup_json_ json_t *net = pl_network_inspect(n, ref, err);
	if (!net || pl_network_remove(n, ref, err) < 0)
		return -1;
	pl_events_emit(pl_portlayer_events(pl), "network", "destroy",
		       json_string_value(json_object_get(net, "id")),
		       json_string_value(json_object_get(net, "name")), net_attrs(net));
	return 0;
}
