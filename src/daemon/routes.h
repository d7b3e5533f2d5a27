/* portlayerd's application state and its route table. */
#pragma once

#include "common/loop.h"
#include "daemon/http.h"
#include "portlayer/container.h"
#include "portlayer/handle.h"

#define PL_API_VERSION "0.1"

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
} pl_app_t;

/* Creates the HTTP front; listeners are added with pl_http_listen(app->http, ...). */
int pl_routes_init(pl_app_t *app, pl_error_t **err);
void pl_routes_shutdown(pl_app_t *app);
