/* SPDX-License-Identifier: Apache-2.0 */
/* Recovery after a daemon (re)start: what store.c read of every domain directory is
 * settled against the host. A domain recorded as running is reattached when its tether
 * still lives; otherwise the mechanism releases what it held, and the container stopped:
 * with tether's exit record, or exit code 255 when the domain left none, or back to
 * created when it never ran. Then, in creation order, records are linked and handed to the
 * container core (adopt), which watches live domains and, for those that stopped while the
 * daemon was away, emits die and applies the restart policy: recovery decides what a record
 * means, the lifecycle stays container.c's. */
#include "portlayer/internal.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"

#include <stdlib.h>

/* A domain recorded as running when the daemon went away: alive, or what became of it. */
static void settle(pl_container_t *c)
{
	pid_t pid = c->dom.pid;
	unsigned long long stt = c->dom.start_time;
	bool starting = c->status == PL_STATUS_STARTING;
	if (pl_store_open_run_dir(c->pl, c, NULL) == 0 &&
	    c->mech->reattach(c->mech, c->id, c->run_dirfd, pid, stt, &c->dom, NULL) == 1) {
		c->status = PL_STATUS_RUNNING;
		c->paused = c->mech->is_paused(c->mech, c->id);
		return;
	}
	c->dom = (pl_domain_t){.pidfd = -1, .ctl_fd = -1};
	c->mech->destroy(c->mech, c->id, NULL);
	pl_sessions_domain_ended(c);
	if (pl_store_read_exit(c)) {
		c->status = PL_STATUS_STOPPED;
		c->exits++;
	} else if (starting) {
		/* the daemon died before the domain was released to run: it never ran */
		c->status = c->exits ? PL_STATUS_STOPPED : PL_STATUS_CREATED;
		c->started_ns = 0;
	} else {
		c->status = PL_STATUS_STOPPED;
		c->exits++;
		c->has_exit = true;
		c->exit_code = 255;
		c->signal = 0;
		free(c->error);
		c->error = pl_xstrdup("the domain ended while the daemon was down and left no "
				      "exit record");
		c->finished_ns = pl_now_ns();
	}
	pl_store_save_state(c, NULL);
	c->pending_restart_check = c->status == PL_STATUS_STOPPED;
}

int pl_recovery_run(pl_portlayer_t *pl, pl_recovery_adopt_fn adopt, pl_error_t **err)
{
	pl_container_t **all = NULL;
	size_t n = 0;
	if (pl_store_load_all(pl, &all, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		pl_container_t *c = all[i];
		pl_execs_load(c);
		if (c->status == PL_STATUS_RUNNING || c->status == PL_STATUS_STARTING ||
		    c->status == PL_STATUS_STOPPING)
			settle(c);
		else
			c->dom = (pl_domain_t){.pidfd = -1, .ctl_fd = -1};
	}
	for (size_t i = 0; i < n; i++) {
		pl_container_link(pl, all[i]);
		bool away = all[i]->pending_restart_check;
		all[i]->pending_restart_check = false;
		adopt(all[i], away);
	}
	free(all);
	return 0;
}
