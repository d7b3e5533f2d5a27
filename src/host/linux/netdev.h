/* SPDX-License-Identifier: Apache-2.0 */
/* Host network devices for the port layer's scopes and the domains' endpoints: bridges
 * (one per bridge scope, the gateway address on it) and the host side of an endpoint
 * (a veth pair whose inside end is created directly in the domain's network namespace, or
 * a macvlan on an existing interface), and their deletion off the event loop. The linux
 * implementation (host/linux/netdev.c, netdev_reap.c) speaks rtnetlink; nothing here
 * configures the inside of a domain: tether does that.
 * Addresses are IPv4 in host byte order. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "common/error.h"
#include "common/loop.h"
#include "mechanism/domain.h"

/* Creates the bridge unless it exists, gives it addr/prefix (the scope's gateway), brings
 * it up, and lets it carry DNAT'ed loopback traffic (route_localnet) and forwarding. */
int pl_netdev_bridge_ensure(const char *name, uint32_t addr, unsigned prefix, pl_error_t **err);
/* A branch bridge of a scope's bridge: the endpoints of a scope with many go to branches
 * of at most a few dozen ports each, which a veth pair (uplink on the scope's bridge,
 * downlink on the branch) joins into one segment. The kernel walks every port of a bridge
 * when a port joins it (its features, MTU, promiscuity and local addresses, the device's
 * lists of lower devices): on one bridge with a thousand ports that made each start 1-2 ms
 * slower. Names at most IFNAMSIZ-1 bytes. */
typedef struct pl_netdev_branch {
	char name[16], uplink[16], downlink[16];
} pl_netdev_branch_t;
/* Creates the branch (down to its link, up, no IP) unless it exists joined to bridge (then
 * writes its no-IP settings again); one made halfway is made again; a link that is a port of
 * another bridge is an error (PL_ERR_CONFLICT). mtu 0: the kernel's default. */
int pl_netdev_branch_ensure(const char *bridge, const pl_netdev_branch_t *l, int mtu,
			    pl_error_t **err);
/* Deletes a branch of bridge and its link (one whose link is a port of another bridge is
 * left alone). */
void pl_netdev_branch_delete(const char *bridge, const pl_netdev_branch_t *l);
/* Deletes a device (a bridge, a left-over veth); a missing one is not an error. */
int pl_netdev_delete(const char *name, pl_error_t **err);
bool pl_netdev_exists(const char *name);
/* The devices enslaved to bridge (its ports): how many, their names in *names (free()). A
 * missing bridge has none. */
int pl_netdev_bridge_ports(const char *bridge, char (**names)[16], pl_error_t **err);
/* Plumbs one endpoint (a veth on its bridge, or a macvlan on its parent) into the network
 * namespace of pid (netns_fd >= 0 wins over pid). The inside end stays down: tether brings
 * it up with its addresses. */
int pl_netdev_endpoint_add(pid_t pid, int netns_fd, const pl_domain_endpoint_t *ep,
			   pl_error_t **err);
/* Every endpoint of a domain (eps[0..n)), in order; the error names the one that failed. */
int pl_netdev_endpoints_add(pid_t pid, int netns_fd, const pl_domain_endpoint_t *eps, size_t n,
			    pl_error_t **err);
/* A new network namespace, as an fd, without moving the caller: it steps in and straight
 * back (the daemon is single-threaded). -errno on failure. */
int pl_netdev_netns_new(void);

/* Deleting host network devices off the event loop. Deleting a veth costs its caller an RCU
 * grace period (16-38 ms of wall time for ~2 ms of CPU): the daemon's one loop must not
 * wait for it. A helper process, forked while the daemon is single-threaded (the daemon has
 * no threads: clone3 of a domain must never race one holding a libc lock), deletes the
 * devices it is sent over a socketpair and answers each batch; the loop reads the answers
 * and reports each deletion, in the order they were queued. One batch is out at a time
 * (what queued meanwhile goes next, in one message). The helper dies with the daemon
 * (PR_SET_PDEATHSIG: nothing is deleted after a new daemon may have reused a name); what it
 * had not deleted is the next start's to find. A helper that dies or hangs is replaced;
 * without one, deletions run on the loop. */
typedef struct pl_netdev_reaper pl_netdev_reaper_t;
/* On the loop, or inside pl_netdev_reaper_wait/free (never inside _delete): the deletion
 * of ticket is over, with 0 (the device is gone: deleted, or it was already) or -errno (it
 * may still exist). */
typedef void (*pl_netdev_reaped_fn)(void *data, uint64_t ticket, int result);

/* Forks the helper (in the caller's network namespace). Never NULL: a helper that cannot
 * be made is logged and the deletions run on the loop. */
pl_netdev_reaper_t *pl_netdev_reaper_new(pl_loop_t *loop, pl_netdev_reaped_fn fn, void *data);
/* The ticket the next _delete returns (tickets are consecutive from 1). */
uint64_t pl_netdev_reaper_next(const pl_netdev_reaper_t *r);
/* Queues the deletion of device name (at most IFNAMSIZ-1 bytes); returns its ticket. */
uint64_t pl_netdev_reaper_delete(pl_netdev_reaper_t *r, const char *name);
/* Blocks until every deletion up to ticket (0: every one queued) is over and reported. A
 * helper that answers nothing for 10 s is killed (it can delete nothing after that) and
 * replaced. */
void pl_netdev_reaper_wait(pl_netdev_reaper_t *r, uint64_t ticket);
/* Waits for every queued deletion (reported as usual), then ends the helper. */
pl_netdev_reaper_t *pl_netdev_reaper_free(pl_netdev_reaper_t *r);
