/* SPDX-License-Identifier: Apache-2.0 */
/* What happens to an exec session nobody reads any more (its attach client went away, or
 * it was started detached): a sink that takes the output at once and drops it, so credit
 * keeps flowing and the process never blocks on a full pipe (Docker drops it as well);
 * and the bound on finished exec records a container keeps (docs/design-decisions.md). */
#include "portlayer/internal.h"
#include "common/cleanup.h"

#include <stdlib.h>

typedef struct discard {
	pl_sink_t sink;
	pl_container_t *c; /* valid while the sink is attached: the session ends first */
	uint32_t session;
} discard_t;

static void discard_data(pl_sink_t *s, int stream, const uint8_t *buf, size_t len)
{
	discard_t *d = (discard_t *)s;
	pl_session_consumed(d->c, d->session, s, len);
}

static void discard_ended(pl_sink_t *s)
{
	free(s);
}

void pl_session_discard(pl_container_t *c, uint32_t session)
{
	discard_t *d = pl_xcalloc(1, sizeof(*d));
	d->sink.data = discard_data;
	d->sink.ended = discard_ended;
	d->c = c;
	d->session = session;
	if (pl_session_attach(c, session, &d->sink, NULL) < 0)
		free(d);
}

bool pl_session_is_running_exec(pl_container_t *c, uint32_t session)
{
	for (pl_exec_t *ex = c->execs; ex; ex = ex->next)
		if (ex->session == session)
			return ex->state == PL_EXEC_RUNNING;
	return false;
}

void pl_execs_prune(pl_container_t *c)
{
	unsigned finished = 0;
	pl_exec_t *next;
	for (pl_exec_t *ex = c->execs; ex; ex = next) { /* newest first */
		next = ex->next;
		if (ex->state == PL_EXEC_EXITED && ++finished > PL_EXEC_KEEP_FINISHED)
			pl_exec_remove(c->pl, ex, NULL);
	}
}
