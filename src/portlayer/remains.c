/* SPDX-License-Identifier: Apache-2.0 */
#include "portlayer/remains.h"
#include "portlayer/internal.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/phase.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct pl_remains {
	struct pl_remains *next;
	pl_container_t *owner; /* NULL once the record is gone */
	pl_loop_t *loop;
	const pl_mechanism_t *mech;
	char *id;
	int pidfd;
	pl_watch_t *watch;
	int64_t t0;
} pl_remains_t;

static pl_remains_t *all;

static void release(pl_remains_t *r)
{
	for (pl_remains_t **p = &all; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
	r->watch = pl_loop_unwatch(r->loop, r->watch);
	siginfo_t si;
	waitid((idtype_t)P_PIDFD, (id_t)r->pidfd, &si, WEXITED | WNOHANG);
	close(r->pidfd);
	pl_phase_add("exit.teardown_async", pl_phase_now() - r->t0);
	pl_error_t *e = NULL;
	if (r->mech->destroy(r->mech, r->id, &e) < 0) {
		pl_log_warn("container %.12s: release cgroups: %s", r->id, e->msg);
		pl_error_free(e);
	}
	if (r->owner)
		r->owner->remains = NULL;
	free(r->id);
	free(r);
}

static void on_gone(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	release(data);
}

bool pl_remains_take(pl_container_t *c)
{
	/* a second fd of the pidfd: the container's own watch and fd go with its record */
	int fd = fcntl(c->dom.pidfd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return false;
	pl_remains_t *r = pl_xcalloc(1, sizeof(*r));
	r->owner = c;
	r->loop = c->pl->loop;
	r->mech = c->mech;
	r->pidfd = fd;
	r->t0 = pl_phase_now();
	r->watch = pl_loop_watch(r->loop, r->pidfd, EPOLLIN, on_gone, r, NULL);
	if (!r->watch) {
		close(fd);
		free(r);
		return false;
	}
	r->id = pl_xstrdup(c->id);
	c->remains = r;
	r->next = all;
	all = r;
	return true;
}

static void finish(pl_remains_t *r)
{
	/* tether reported the exit and is on its way out: give it a moment, then make sure */
	struct pollfd p = {.fd = r->pidfd, .events = POLLIN};
	if (poll(&p, 1, 2000) == 0) {
		syscall(SYS_pidfd_send_signal, r->pidfd, SIGKILL, NULL, 0);
		poll(&p, 1, 10000);
	}
	release(r);
}

void pl_remains_finish(pl_container_t *c)
{
	if (c->remains)
		finish(c->remains);
}

void pl_remains_detach(pl_container_t *c)
{
	if (c->remains)
		c->remains->owner = NULL;
	c->remains = NULL;
}

void pl_remains_finish_all(void)
{
	while (all)
		finish(all);
}
