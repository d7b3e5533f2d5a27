/* SPDX-License-Identifier: Apache-2.0 */
/* Attach streams: an upgraded HTTP connection joined to one session of a container (the
 * primary, or an exec session). Client bytes go to the session's stdin (watching for the
 * detach key sequence); session output comes back raw for a tty, or in the Docker
 * multiplexed framing otherwise. Output is written as the client takes it; what it has
 * not taken holds back the session's credit, so a slow client slows only itself. */
#pragma once

#include "common/util.h"

#include <stdbool.h>
#include <stdint.h>
#include "daemon/routes.h"

typedef struct pl_attach_opts {
	bool in, out, err;	 /* which streams the client wants */
	bool logs;		 /* the log so far first (primary only) */
	const char *detach_keys; /* "ctrl-p,ctrl-q" (default), "" disables */
	bool close_stdin_on_eof; /* the client's EOF closes the process's stdin */
	const char *exec_id;	 /* start this exec session once the stream is up */
} pl_attach_opts_t;

/* Validates opts (INVALID for a bad detach key spec) and answers the request with 101;
 * the stream runs from then on, on the daemon's loop. */
int pl_attach_start(pl_app_t *app, pl_req_t *r, pl_container_t *c, uint32_t session,
		    const pl_attach_opts_t *opts, pl_error_t **err);
/* Re-enables stdin reading on attach streams held back by a full link to tether. */
void pl_attach_link_drained(pl_app_t *app, pl_container_t *c);
void pl_attach_close_all(pl_app_t *app);
