/* SPDX-License-Identifier: Apache-2.0 */
/* portlayerd's application state, the route tables of its resources, and what the route
 * files share: error replies, common query parsing, and parked requests (waiters).
 *
 * Each resource has its own file src/daemon/routes_<resource>.c with its handlers and one
 * table (pl_routes_<resource>); routes.c joins the tables. Adding a resource is a new file,
 * its table's declaration below, and one line in routes.c's list. */
#pragma once

#include "common/loop.h"
#include "daemon/http.h"
#include "portlayer/container.h"
#include "portlayer/handle.h"

/* The API is served under /v<PL_API_VERSION>/ and, for older clients, every version down to
 * /v<PL_API_MIN_VERSION>/; unprefixed paths are the newest. A breaking change to a route's
 * request or answer needs a new version (CONTRIBUTING.md). */
#define PL_API_VERSION	   "1"
#define PL_API_MIN_VERSION "1"

typedef struct pl_app {
	pl_loop_t *loop;
	pl_portlayer_t *pl;
	pl_http_t *http;
	pl_handles_t *handles;
	struct pl_workers *workers;
	struct events_sub *event_subs; /* open /events streams (routes_events.c) */
	struct attach *attaches;       /* upgraded attach streams */
	struct run_follow *runs;       /* POST /containers?follow=1 answers (routes_run.c) */
	int inotify_fd;
	pl_watch_t *inotify_watch;
	pl_route_t *routes;		    /* the joined tables */
	struct pl_api_metrics *api_metrics; /* request counts and latencies (routes_metrics.c) */
} pl_app_t;

/* Creates the HTTP front; listeners are added with pl_http_listen(app->http, ...). */
int pl_routes_init(pl_app_t *app, pl_error_t **err);
void pl_routes_shutdown(pl_app_t *app);

/* The tables, each ended by {NULL}. Within a table, specific patterns go first. */
extern const pl_route_t pl_routes_system[];
extern const pl_route_t pl_routes_containers[];
extern const pl_route_t pl_routes_logs[];
extern const pl_route_t pl_routes_stats[];
extern const pl_route_t pl_routes_exec[];
extern const pl_route_t pl_routes_archive[];
extern const pl_route_t pl_routes_handles[];
extern const pl_route_t pl_routes_events[];
extern const pl_route_t pl_routes_images[];
extern const pl_route_t pl_routes_volumes[];
extern const pl_route_t pl_routes_networks[];
extern const pl_route_t pl_routes_metrics[];
extern const pl_route_t pl_routes_kv[];
extern const pl_route_t pl_routes_top[];

/* --- shared by the route files --- */

/* Answers with e and frees it. */
void pl_route_fail(pl_req_t *r, pl_error_t *e);
/* The container {id} names, or NULL after answering 404. */
pl_container_t *pl_route_container(pl_req_t *r, pl_app_t *app);
/* Optional non-negative number of seconds; def when absent. */
int pl_route_query_seconds(pl_req_t *r, const char *key, double def, double *out, pl_error_t **e);
/* Optional time (RFC 3339 or unix seconds) in ns; 0 when absent. */
int pl_route_query_time(pl_req_t *r, const char *key, int64_t *out, pl_error_t **e);

/* A parked request. Each kind of wait has its own type (in the file of its resource) that
 * embeds pl_waiter_t first and says how it settles; routes.c walks the parked requests on
 * the library's change notifications and on log growth, and calls the type's hooks. */
typedef struct pl_waiter pl_waiter_t;
typedef struct pl_waiter_type {
	/* the container w->id changed state (it may be being removed); optional */
	void (*changed)(pl_waiter_t *w, pl_container_t *c);
	/* a container's log grew; optional */
	void (*log_grew)(pl_waiter_t *w);
	/* the daemon is going; optional (default: answered 500) */
	void (*shutdown)(pl_waiter_t *w);
	/* frees what the type added (not w itself); optional */
	void (*clear)(pl_waiter_t *w);
} pl_waiter_type_t;

struct pl_waiter {
	const pl_waiter_type_t *type;
	pl_app_t *app;
	pl_req_t *req;
	char id[PL_ID_LEN + 1];	  /* the container waited on, "" for none */
	pl_timer_t *timer;	  /* cancelled when the waiter goes */
	struct waiter_link *link; /* held by a library callback, cut when the waiter goes */
};

/* A zeroed waiter of `size` bytes (the type's struct, pl_waiter_t first). */
void *pl_waiter_new(size_t size, const pl_waiter_type_t *type, pl_app_t *app, pl_req_t *r,
		    const char *id);
void pl_waiter_free(pl_waiter_t *w);
/* Parks the request with w; w is freed when the request ends. Every parked request's wait
 * data is a waiter (or NULL): the walks above read its type. */
void pl_waiter_park(pl_waiter_t *w);
/* Likewise, answered by on_timeout after timeout seconds (never, when negative). */
void pl_waiter_park_until(pl_waiter_t *w, double timeout, pl_timer_fn on_timeout);
/* For a library callback that may come after the request ended (the client hung up): give
 * pl_waiter_link(w) as its data, and get w back in the callback with pl_waiter_unlink (NULL
 * when w is gone). One callback per link. */
void *pl_waiter_link(pl_waiter_t *w);
pl_waiter_t *pl_waiter_unlink(void *link);
/* The library did not take the callback after all (it failed, or had nothing to do). */
void pl_waiter_link_unused(pl_waiter_t *w);
/* A parked request's hold on a job of its route's (an archive or a store job), which answers
 * it when the job ends: the type's clear hook drops the job's pointer to the request and
 * the reference the request held. */
typedef struct pl_job_waiter {
	pl_waiter_t w;
	void *job;
} pl_job_waiter_t;
/* Parks r with a job waiter of type holding job. */
void pl_waiter_park_job(pl_req_t *r, pl_app_t *app, const pl_waiter_type_t *type, void *job);
/* The job of a job waiter. */
void *pl_waiter_job(const pl_waiter_t *w);
/* Parks a streaming reply's request with w, freed with the stream. */
void pl_waiter_stream(pl_waiter_t *w, const char *content_type, pl_stream_fn fn);
