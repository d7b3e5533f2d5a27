/* SPDX-License-Identifier: Apache-2.0 */
/* The network namespace pool: namespaces created ahead of time (the kernel's set-up of one
 * is slow) and held as fds; a domain's set-up child enters one instead of unsharing. Refilled
 * one namespace per loop turn after each take, so a burst of starts never waits on it. */
#include "portlayer/network/scope.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/phase.h"
#include "host/linux/netdev.h"

#include <string.h>
#include <unistd.h>

static void pool_refill(pl_loop_t *loop, void *data)
{
	pl_network_t *n = data;
	n->pool_timer = NULL;
	if (n->pool_n >= (size_t)n->pool_size)
		return;
	int fd = pl_netdev_netns_new();
	if (fd < 0) {
		pl_log_warn("netns pool: %s", strerror(-fd));
		return;
	}
	n->pool_fds[n->pool_n++] = fd;
	/* one per loop turn: requests waiting meanwhile are served in between */
	if (n->pool_n < (size_t)n->pool_size)
		n->pool_timer = pl_loop_timer(n->loop, 0, pool_refill, n, NULL);
}

static void pool_schedule(pl_network_t *n)
{
	if (!n->pool_timer && n->pool_n < (size_t)n->pool_size)
		n->pool_timer = pl_loop_timer(n->loop, 1, pool_refill, n, NULL);
}

int pl_network_netns_take(pl_network_t *n)
{
	if (!n || n->pool_size <= 0)
		return -1;
	int fd = n->pool_n ? n->pool_fds[--n->pool_n] : -1;
	pool_schedule(n);
	if (fd >= 0) /* counted: /metrics says how many starts had one */
		pl_phase_add("spawn.netns_pooled", 0);
	return fd;
}

void pl_netns_pool_init(pl_network_t *n, int size)
{
	n->pool_size = size > 0 ? size : 0;
	if (n->pool_size) {
		n->pool_fds = pl_xcalloc((size_t)n->pool_size, sizeof(int));
		pool_schedule(n);
	}
}

void pl_netns_pool_free(pl_network_t *n)
{
	for (size_t i = 0; i < n->pool_n; i++)
		close(n->pool_fds[i]);
	free(n->pool_fds);
	n->pool_fds = NULL;
	n->pool_n = 0;
	n->pool_timer = pl_loop_timer_cancel(n->loop, n->pool_timer);
}
