/* SPDX-License-Identifier: Apache-2.0 */
/* The host ends of a stopped container's endpoints (a veth's host side on a bridge scope, a
 * VM's tap): deleted off the loop (host/linux/netdev_reap.h), so neither the exit nor the
 * answers to wait and remove pay the kernel's RCU grace period. What that must not cost:
 * - a container's addresses go back to the allocators only once its host ends are gone (a
 *   new container never gets an address whose old veth is still on the bridge): a drop
 *   pending holds the addresses it was made for, in rebuilds of the allocators too;
 * - the same container starting again, a scope's deletion and the daemon's shutdown wait
 *   for the drops pending (no veth outlives them, none is deleted after its name is reused);
 * - a daemon start deletes the host ends of containers that do not run (a crash, or a
 *   daemon that died with deletions queued, leaves them), before it serves anything. */
#include "portlayer/network/scope.h"
#include "portlayer/container.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "host/linux/netdev.h"

#include <ctype.h>
#include <string.h>

struct pl_drop {
	const pl_container_t *c; /* NULL once it is gone */
	char id[13];
	json_t *networks;     /* its endpoints' records when it stopped: their addresses */
	uint64_t first, last; /* its deletions' tickets */
	unsigned left;
	bool failed; /* a host end may remain: its addresses stay held */
	struct pl_drop *next;
};

static void unlink_drop(pl_network_t *n, pl_drop_t *d)
{
	for (pl_drop_t **at = &n->drops; *at; at = &(*at)->next) {
		if (*at == d) {
			*at = d->next;
			break;
		}
	}
	json_decref(d->networks);
	free(d);
}

/* Every host end of d is gone: its addresses are free, unless its container is still
 * there and records them. */
static void drop_done(pl_network_t *n, pl_drop_t *d)
{
	if (n->closing)
		return unlink_drop(n, d);
	if (d->failed) {
		pl_log_warn("container %s: a host end may remain: its addresses stay taken until "
			    "the daemon starts again",
			    d->id);
		return;
	}
	if (!d->c)
		pl_network_give_back(n, d->networks);
	else if (!json_equal(d->networks, pl_container_config(d->c)->networks))
		n->alloc_stale = true; /* a commit changed them meanwhile: derive again */
	unlink_drop(n, d);
}

static void on_reaped(void *data, uint64_t ticket, int result)
{
	pl_network_t *n = data;
	pl_drop_t *d = n->drops;
	while (d && !(ticket >= d->first && ticket <= d->last))
		d = d->next;
	if (!d) { /* the start-up sweep's */
		if (result < 0)
			pl_log_warn("left-over host end (ticket %llu): %s",
				    (unsigned long long)ticket, strerror(-result));
		return;
	}
	if (result < 0) {
		pl_log_warn("container %s: delete host end (ticket %llu): %s", d->id,
			    (unsigned long long)ticket, strerror(-result));
		d->failed = true;
	}
	if (--d->left == 0)
		drop_done(n, d);
}

void pl_hostends_stopped(pl_network_t *n, const pl_container_t *c)
{
	const pl_config_t *cfg = pl_container_config(c);
	if (!cfg->network_mode || strcmp(cfg->network_mode, "bridge"))
		return;
	char names[PL_NETWORK_MAX_SCOPES * 2][16];
	unsigned k = 0;
	size_t i;
	json_t *e;
	json_array_foreach(cfg->networks, i, e)
	{
		pl_scope_t *s = pl_scope_find(n, json_string_value(json_object_get(e, "scope")));
		if (!s || s->external || k == PL_ARRAY_SIZE(names))
			continue;
		pl_scope_host_ifname(c, i, names[k++], sizeof(names[0]));
	}
	if (!k)
		return;
	pl_drop_t *d = pl_xcalloc(1, sizeof(*d));
	d->c = c;
	snprintf(d->id, sizeof(d->id), "%.12s", pl_container_id(c));
	d->networks = json_deep_copy(cfg->networks);
	d->left = k;
	d->first = pl_netdev_reaper_next(n->reaper);
	d->last = d->first + k - 1;
	d->next = n->drops;
	n->drops = d;
	for (unsigned j = 0; j < k; j++)
		pl_netdev_reaper_delete(n->reaper, names[j]);
}

bool pl_hostends_gone(pl_network_t *n, const pl_container_t *c)
{
	bool held = false;
	for (pl_drop_t *d = n->drops; d; d = d->next) {
		if (d->c != c)
			continue;
		d->c = NULL;
		held = true;
		/* its last records are not the drop's: the allocators derive them again */
		if (!json_equal(d->networks, pl_container_config(c)->networks))
			n->alloc_stale = true;
	}
	return held;
}

void pl_hostends_wait(pl_network_t *n, const pl_container_t *c)
{
	uint64_t upto = 0;
	for (pl_drop_t *d = n->drops, *next; d; d = next) {
		next = d->next;
		if (c && d->c != c)
			continue;
		if (d->left && d->last > upto)
			upto = d->last;
		/* a host end that would not go: c's start takes the name back (netdev.c) */
		if (c && !d->left && d->failed) {
			d->failed = false;
			drop_done(n, d);
		}
	}
	if (upto)
		pl_netdev_reaper_wait(n->reaper, c ? upto : 0);
}

void pl_hostends_reserve(pl_network_t *n, const pl_container_t *self)
{
	for (pl_drop_t *d = n->drops; d; d = d->next) {
		if (self && d->c == self)
			continue; /* its own old addresses are its to keep */
		size_t i;
		json_t *e;
		json_array_foreach(d->networks, i, e)
		{
			pl_scope_t *s =
			    pl_scope_find(n, json_string_value(json_object_get(e, "scope")));
			uint32_t a = pl_endpoint_ip(e);
			pl_error_t *er = NULL;
			if (s && a && pl_ipam_reserve(s->ipam, a, &er) < 0)
				pl_error_free(er); /* its container's record holds it already */
		}
	}
}

/* "pv" + 10 hex digits of a container id + the endpoint's index (network.c). */
static bool host_end_name(const char *name)
{
	if (strlen(name) != 13 || strncmp(name, "pv", 2))
		return false;
	for (const char *p = name + 2; *p; p++)
		if (!isxdigit((unsigned char)*p))
			return false;
	return true;
}

static bool runs(pl_network_t *n, const char *name)
{
	for (pl_container_t *c = pl_container_first(n->pl); c; c = pl_container_next(c))
		if (!strncmp(pl_container_id(c), name + 2, 10) && pl_container_is_running(c))
			return true;
	return false;
}

struct sweeping {
	pl_network_t *n;
	const pl_scope_t *s;
};

static void sweep_bridge(const char *bridge, void *data)
{
	struct sweeping *w = data;
	_cleanup_free_ char(*ports)[16] = NULL;
	pl_error_t *e = NULL;
	int k = pl_netdev_bridge_ports(bridge, &ports, &e);
	if (k < 0) {
		pl_log_warn("network %s: %s", w->s->name, e->msg);
		pl_error_free(e);
		return;
	}
	for (int i = 0; i < k; i++) {
		if (!host_end_name(ports[i]) || runs(w->n, ports[i]))
			continue;
		pl_log_info("network %s: deleting %s, the host end of a container that does not "
			    "run",
			    w->s->name, ports[i]);
		pl_netdev_reaper_delete(w->n->reaper, ports[i]);
	}
}

/* Before the allocators are derived from the records: no host end of a container that does
 * not run stays on a bridge of ours (a scope's or a branch of it). */
static void sweep(pl_network_t *n)
{
	for (pl_scope_t *s = n->scopes; s; s = s->next) {
		struct sweeping w = {n, s};
		if (!s->external)
			pl_scope_each_bridge(s, sweep_bridge, &w);
	}
	pl_netdev_reaper_wait(n->reaper, 0); /* in batches: a grace period per batch */
}

void pl_hostends_open(pl_network_t *n)
{
	n->reaper = pl_netdev_reaper_new(n->loop, on_reaped, n);
	sweep(n);
}

void pl_hostends_close(pl_network_t *n)
{
	n->closing = true;
	n->reaper = pl_netdev_reaper_free(n->reaper);
	while (n->drops)
		unlink_drop(n, n->drops);
}
