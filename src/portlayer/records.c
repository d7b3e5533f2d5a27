/* SPDX-License-Identifier: Apache-2.0 */
/* The container records the core keeps: the list (creation order) and freeing one. What a
 * record says and what is told about it (accessors, lookups, lifecycle subscribers,
 * notifications): about.c. */
#include "portlayer/internal.h"
#include "portlayer/janitor.h"
#include "portlayer/health.h"
#include "common/cleanup.h"

#include <stdlib.h>
#include <unistd.h>

void pl_container_link(pl_portlayer_t *pl, pl_container_t *c)
{
	c->pl = pl;
	c->prev = pl->tail;
	if (pl->tail)
		pl->tail->next = c;
	else
		pl->head = c;
	pl->tail = c;
}

void pl_container_unlink(pl_portlayer_t *pl, pl_container_t *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		pl->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		pl->tail = c->prev;
	c->prev = c->next = NULL;
}

void pl_portlayer_drop_teardown_handles(pl_portlayer_t *pl)
{
	for (pl_container_t *c = pl->head; c; c = c->next)
		c->teardown_fd = pl_close(c->teardown_fd);
}

pl_container_t *pl_container_free_record(pl_container_t *c)
{
	if (!c)
		return NULL;
	pl_sessions_free(c);
	pl_health_free(c);
	pl_summary_cache_free(c->summary);
	pl_config_free(c->config);
	free(c->dir);
	if (c->dirfd >= 0)
		close(c->dirfd);
	if (c->run_dirfd >= 0)
		close(c->run_dirfd);
	if (c->sync_ticket)
		pl_janitor_sync_cancel(c->pl->janitor, c->sync_ticket);
	if (c->teardown_fd >= 0)
		close(c->teardown_fd);
	free(c->error);
	pl_frame_reader_free(&c->reader);
	json_decref(c->guest_stats);
	json_decref(c->top);
	free(c);
	return NULL;
}
