/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's half of log rotation (tether's is src/tether/logrotate.c): on LOG_ROTATE,
 * container.log becomes container.log.1 (.1 becomes .2 and so on; the file past
 * config.log_max_files goes), a fresh container.log is opened and sent to tether with
 * LOG_ROTATED, its fd riding along as SCM_RIGHTS. tether writes the old file until the new
 * one arrives, so records stay in order across files (logs.c reads them oldest first). */
#include "portlayer/container.h"
#include "portlayer/link.h"
#include "portlayer/logs.h"
#include "proto/frame.h"
#include "common/cleanup.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void rotate_names(int dirfd, unsigned files)
{
	char from[32], to[32];
	if (files <= 1) {
		unlinkat(dirfd, "container.log", 0);
		return;
	}
	snprintf(to, sizeof(to), "container.log.%u", files - 1);
	unlinkat(dirfd, to, 0);
	for (unsigned k = files - 1; k-- > 1;) {
		snprintf(from, sizeof(from), "container.log.%u", k);
		snprintf(to, sizeof(to), "container.log.%u", k + 1);
		renameat(dirfd, from, dirfd, to);
	}
	renameat(dirfd, "container.log", dirfd, "container.log.1");
}

typedef struct retry {
	pl_portlayer_t *pl;
	char id[PL_ID_LEN + 1];
} retry_t;

static void on_retry(pl_loop_t *loop, void *data)
{
	retry_t *r = data;
	pl_portlayer_t *pl = r->pl;
	pl_container_t *c = pl_container_find(pl, r->id, NULL);
	free(r);
	if (c)
		pl_logs_rotate(pl, c);
}

void pl_logs_rotate(pl_portlayer_t *pl, pl_container_t *c)
{
	const pl_config_t *cfg = pl_container_config(c);
	const char *id = pl_container_id(c);
	unsigned files = cfg->log_max_files ? cfg->log_max_files : 1;
	int dirfd = pl_container_dirfd(c);
	if (!pl_link_up(c) || dirfd < 0)
		return;		    /* tether asks again when a daemon is back */
	if (pl_link_mid_frame(c)) { /* a frame half written: shortly */
		retry_t *r = pl_xcalloc(1, sizeof(*r));
		r->pl = pl;
		snprintf(r->id, sizeof(r->id), "%s", id);
		if (!pl_loop_timer(pl_portlayer_loop(pl), 20, on_retry, r, NULL))
			free(r);
		return;
	}
	rotate_names(dirfd, files);
	_cleanup_close_ int fd =
	    openat(dirfd, "container.log", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		pl_log_warn("container %.12s: rotate log: %s", id, strerror(errno));
		return;
	}
	int r = pl_link_send_fd(c, PL_MSG_LOG_ROTATED, fd);
	if (r <= 0)
		pl_log_warn("container %.12s: rotate log: %s", id,
			    r == 0 ? "the link is busy" : strerror(-r));
	else
		pl_log_debug("container %.12s: log rotated", id);
}
