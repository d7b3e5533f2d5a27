/* SPDX-License-Identifier: Apache-2.0 */
/* The route tables joined, and what the route files share: error replies, query parsing,
 * and the walk over parked requests that hands the library's change notifications to each
 * waiter's type. */
#include "daemon/routes.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "common/worker.h"
#include "daemon/attach.h"
#include "daemon/routes_events.h"
#include "daemon/routes_logs.h"
#include "daemon/routes_metrics.h"
#include "daemon/routes_run.h"
#include "portlayer/handle.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Every resource's table; a new resource is one line here. */
static const pl_route_t *const tables[] = {
    pl_routes_system,	pl_routes_containers, pl_routes_logs,	pl_routes_stats,  pl_routes_exec,
    pl_routes_archive,	pl_routes_handles,    pl_routes_events, pl_routes_images, pl_routes_volumes,
    pl_routes_networks, pl_routes_metrics,    pl_routes_kv,	pl_routes_top,
};

static pl_route_t *join_tables(void)
{
	size_t n = 0;
	for (size_t t = 0; t < PL_ARRAY_SIZE(tables); t++)
		for (const pl_route_t *rt = tables[t]; rt->method; rt++)
			n++;
	pl_route_t *all = pl_xcalloc(n + 1, sizeof(*all));
	n = 0;
	for (size_t t = 0; t < PL_ARRAY_SIZE(tables); t++)
		for (const pl_route_t *rt = tables[t]; rt->method; rt++)
			all[n++] = *rt;
	return all;
}

void pl_route_fail(pl_req_t *r, pl_error_t *e)
{
	pl_reply_error(r, e);
	pl_error_free(e);
}

pl_container_t *pl_route_container(pl_req_t *r, pl_app_t *app)
{
	pl_error_t *e = NULL;
	pl_container_t *c = pl_container_find(app->pl, pl_req_param(r), &e);
	if (!c)
		pl_route_fail(r, e);
	return c;
}

int pl_route_query_seconds(pl_req_t *r, const char *key, double def, double *out, pl_error_t **e)
{
	const char *v = pl_req_query(r, key);
	*out = def;
	if (!v)
		return 0;
	char *end = NULL;
	errno = 0;
	double d = strtod(v, &end);
	if (!*v || *end || errno || !isfinite(d) || d < 0 || d > 1e9)
		return pl_error_set(
		    e, PL_ERR_INVALID, 0,
		    "query parameter %s=\"%s\" must be a non-negative number of seconds", key, v);
	*out = d;
	return 0;
}

int pl_route_query_time(pl_req_t *r, const char *key, int64_t *out, pl_error_t **e)
{
	const char *v = pl_req_query(r, key);
	*out = 0;
	if (!v || !*v || strcmp(v, "0") == 0)
		return 0;
	if (pl_time_parse(v, out) < 0)
		return pl_error_set(e, PL_ERR_INVALID, 0,
				    "query parameter %s=\"%s\" must be RFC 3339 or unix seconds",
				    key, v);
	return 0;
}

/* --- waiters --- */

void *pl_waiter_new(size_t size, const pl_waiter_type_t *type, pl_app_t *app, pl_req_t *r,
		    const char *id)
{
	pl_waiter_t *w = pl_xcalloc(1, size);
	w->type = type;
	w->app = app;
	w->req = r;
	snprintf(w->id, sizeof(w->id), "%s", id ? id : "");
	return w;
}

struct waiter_link {
	pl_waiter_t *w;
};

void *pl_waiter_link(pl_waiter_t *w)
{
	if (!w->link) {
		w->link = pl_xcalloc(1, sizeof(*w->link));
		w->link->w = w;
	}
	return w->link;
}

pl_waiter_t *pl_waiter_unlink(void *link)
{
	struct waiter_link *l = link;
	pl_waiter_t *w = l->w;
	if (w)
		w->link = NULL;
	free(l);
	return w;
}

void pl_waiter_link_unused(pl_waiter_t *w)
{
	if (w->link)
		pl_waiter_unlink(w->link);
}

void pl_waiter_free(pl_waiter_t *w)
{
	if (!w)
		return;
	if (w->link) /* the callback comes to nothing */
		w->link->w = NULL;
	w->timer = pl_loop_timer_cancel(w->app->loop, w->timer);
	if (w->type->clear)
		w->type->clear(w);
	free(w);
}

static void waiter_free_cb(void *data)
{
	pl_waiter_free(data);
}

void pl_waiter_park(pl_waiter_t *w)
{
	pl_req_park(w->req, w);
	pl_req_set_wait_free(w->req, waiter_free_cb);
}

void pl_waiter_park_job(pl_req_t *r, pl_app_t *app, const pl_waiter_type_t *type, void *job)
{
	pl_job_waiter_t *jw = pl_waiter_new(sizeof(*jw), type, app, r, NULL);
	jw->job = job;
	pl_waiter_park(&jw->w);
}

void *pl_waiter_job(const pl_waiter_t *w)
{
	return ((const pl_job_waiter_t *)w)->job;
}

void pl_waiter_park_until(pl_waiter_t *w, double timeout, pl_timer_fn on_timeout)
{
	if (timeout >= 0) {
		pl_error_t *e = NULL;
		w->timer =
		    pl_loop_timer(w->app->loop, (uint64_t)(timeout * 1000), on_timeout, w, &e);
		if (!w->timer) {
			pl_req_t *r = w->req;
			pl_waiter_free(w);
			return pl_route_fail(r, e);
		}
	}
	pl_waiter_park(w);
}

void pl_waiter_stream(pl_waiter_t *w, const char *content_type, pl_stream_fn fn)
{
	pl_req_park(w->req, w);
	pl_reply_stream(w->req, 200, content_type, fn, w, waiter_free_cb);
}

/* --- change notifications --- */

static void on_change(pl_portlayer_t *pl, pl_container_t *c, void *data)
{
	pl_app_t *app = data;
	const char *id = pl_container_id(c);
	pl_attach_link_drained(app, c);
	pl_routes_run_changed(app, c);
	pl_req_t *next;
	for (pl_req_t *r = pl_http_parked_first(app->http); r; r = next) {
		next = pl_req_parked_next(r);
		pl_waiter_t *w = pl_req_wait_data(r);
		if (w && w->type->changed && strcmp(w->id, id) == 0)
			w->type->changed(w, c);
	}
}

int pl_routes_init(pl_app_t *app, pl_error_t **err)
{
	if (pl_routes_logs_init(app, err) < 0)
		return -1;
	app->routes = join_tables();
	app->http = pl_http_new(app->loop, app->routes, app);
	pl_http_set_api_versions(app->http, (unsigned)atoi(PL_API_MIN_VERSION),
				 (unsigned)atoi(PL_API_VERSION));
	pl_metrics_routes_init(app);
	app->handles = pl_handles_new();
	app->workers = pl_workers_new(app->loop);
	pl_routes_events_init(app);
	pl_portlayer_on_change(app->pl, on_change, app);
	return 0;
}

void pl_routes_shutdown(pl_app_t *app)
{
	/* answer whoever still waits: the daemon is going, the containers are not */
	pl_req_t *r;
	while ((r = pl_http_parked_first(app->http))) {
		pl_waiter_t *w = pl_req_wait_data(r);
		if (w && w->type->shutdown) {
			w->type->shutdown(w);
			if (pl_http_parked_first(app->http) != r)
				continue;
		}
		pl_error_t *e = NULL;
		pl_error_set(&e, PL_ERR_INTERNAL, 0, "the daemon is shutting down");
		pl_route_fail(r, e);
	}
	pl_routes_events_shutdown(app);
	pl_attach_close_all(app);
	app->http = pl_http_free(app->http);
	pl_metrics_routes_free(app);
	free(app->routes);
	app->routes = NULL;
	app->handles = pl_handles_free(app->handles);
	app->workers = pl_workers_free(app->workers);
	pl_routes_logs_shutdown(app);
}
