/* portlayerd's application state and its route table. */
#pragma once

#include "common/loop.h"
#include "daemon/http.h"
#include "portlayer/container.h"
#include "portlayer/handle.h"

/* The API is served under /v<PL_API_VERSION>/ and, for older clients, every version down to
 * /v<PL_API_MIN_VERSION>/; unprefixed paths are the newest. A breaking change to a route's
 * request or answer needs a new version (docs in CONTRIBUTING.md). */
#define PL_API_VERSION	   "1"
#define PL_API_MIN_VERSION "1"

typedef struct pl_app {
	pl_loop_t *loop;
	pl_portlayer_t *pl;
	pl_http_t *http;
	pl_handles_t *handles;
	struct pl_workers *workers;
	struct waiter *event_subs; /* open /events streams */
	struct attach *attaches;   /* upgraded attach streams */
	int inotify_fd;
	pl_watch_t *inotify_watch;
	struct pl_api_metrics *api_metrics; /* request counts and latencies (routes_metrics.c) */
} pl_app_t;

/* Creates the HTTP front; listeners are added with pl_http_listen(app->http, ...). */
int pl_routes_init(pl_app_t *app, pl_error_t **err);
void pl_routes_shutdown(pl_app_t *app);
