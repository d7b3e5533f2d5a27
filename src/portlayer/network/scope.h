/* SPDX-License-Identifier: Apache-2.0 */
/* Private to the network unit: a scope's record, shared by network.c (scopes, endpoints),
 * ports.c (the nftables table) and dns wiring. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "common/loop.h"
#include "portlayer/network/ipam.h"
#include "portlayer/network/network.h"

/* A bridge scope's endpoints go to its bridge and its branch bridges by address: the first
 * pl_scope_branch_size() addresses of the subnet to the scope's bridge, each next as many to
 * branch 1, 2, ... (at most PL_SCOPE_BRANCHES - 1), made when first used (host/linux/netdev.h,
 * pl_netdev_branch_ensure). */
#define PL_SCOPE_BRANCHES 512

typedef struct pl_scope {
	char *name;
	char id[65];
	bool external;	 /* macvlan on parent; otherwise a bridge scope */
	char device[16]; /* the bridge (bridge scopes) */
	char *parent;	 /* the host interface (external scopes) */
	uint32_t subnet, gateway, range;
	unsigned len, range_len;
	bool internal, masquerade;
	int mtu;
	int64_t created_ns;
	json_t *labels, *options; /* the caller's labels and driver options (kept, shown) */
	pl_ipam_t *ipam;
	uint64_t branches[PL_SCOPE_BRANCHES / 64]; /* those made or checked this run (branch.c) */
	struct pl_dns *dns;			   /* the scope's DNS responder, when one runs */
	struct pl_network *net;			   /* for the responder's lookups */
	struct pl_scope *next;
} pl_scope_t;

/* The address recorded in a container's networks[] entry (0 when none). */
static inline uint32_t pl_endpoint_ip(const json_t *e)
{
	uint32_t a = 0;
	pl_ipam_parse_addr(json_string_value(json_object_get(e, "ip")), &a);
	return a;
}

/* branch.c. The bridge endpoint address ip of s goes to (the scope's own or a branch, made
 * here when missing; the scope's own when a branch cannot be made, said in the log), into
 * out[16]. */
void pl_scope_bridge_for(pl_scope_t *s, uint32_t ip, char out[16]);
/* Calls fn with the scope's bridge and each branch of it that exists. */
void pl_scope_each_bridge(const pl_scope_t *s, void (*fn)(const char *bridge, void *data),
			  void *data);
/* Whether name is of the form of a branch's devices (reserved: no scope's bridge). */
bool pl_scope_branch_name(const char *name);
/* The nftables pattern of the scope's branch bridges' names ("plb...*"), into out[16]. */
void pl_scope_branch_pattern(const pl_scope_t *s, char out[16]);
/* Deletes the scope's branches (before its bridge). */
void pl_scope_branches_delete(pl_scope_t *s);

typedef struct pl_nft pl_nft_t;
typedef struct pl_drop pl_drop_t;
struct pl_netdev_reaper;

/* The candidate subnets for scopes created without one, and the netns pool's size. */
struct pl_network_opts {
	uint32_t nets[64];
	unsigned lens[64];
	size_t n;
	int netns_pool;
};

struct pl_network {
	struct pl_portlayer *pl;
	struct pl_network_opts opts;
	pl_loop_t *loop;
	int dirfd; /* ROOT/network */
	pl_scope_t *scopes;
	pl_nft_t *nft;
	/* the address allocators are derived from the containers' configs (no table of their
	 * own): stale means "derive again before the next allocation" (after a commit that may
	 * not hold, or conflicting records, where giving one container's addresses back could
	 * free another's); otherwise create and removal keep them as the records are */
	bool alloc_stale, alloc_conflicts;
	int *pool_fds; /* the netns pool */
	size_t pool_n;
	int pool_size;
	pl_timer_t *pool_timer;
	struct pl_netdev_reaper *reaper; /* deletes host ends off the loop (hostends.c) */
	pl_drop_t *drops;		 /* stopped containers' host ends being deleted */
	bool closing;
};

/* ports.c: the project's nftables table, a function of the scopes and the running
 * containers' published ports. An async write (sync false) runs `nft -f -` in a child the
 * loop watches; a change while one runs queues exactly one more write; a failed write is
 * retried with backoff. sync waits for it and returns its error. */
pl_nft_t *pl_nft_new(pl_loop_t *loop);
pl_nft_t *pl_nft_free(pl_nft_t *t);
int pl_nft_write(pl_network_t *n, bool sync, pl_error_t **err);
/* Whether the table may not match the state: a write running, queued or failed. */
bool pl_nft_pending(const pl_nft_t *t);
/* Before a container with addresses ips (JSON strings) starts: when the last write failed,
 * or a pending one would remove a DNAT to one of ips, makes the table match the state now
 * (waits for the write in flight, or writes synchronously); -1 when it cannot. */
int pl_nft_settle(pl_network_t *n, const json_t *ips, pl_error_t **err);
/* The last write's failure while no write has landed since, else NULL. */
const char *pl_nft_error(const pl_nft_t *t);
/* The table's text: the whole `ip portlayer` table, deleted and rebuilt in one transaction
 * (with no scope left it is still written, empty of scope rules). */
char *pl_nft_ruleset(pl_network_t *n);

/* names.c: the scope's DNS responder (bridge scopes; idempotent). */
void pl_scope_dns_start(pl_network_t *n, pl_scope_t *s);
void pl_scope_dns_stop(pl_scope_t *s);

/* network.c, for the unit's other files: a scope by name (or id prefix); the host end's
 * name of c's endpoint i; addresses of networks records back to the allocators. */
pl_scope_t *pl_scope_find(pl_network_t *n, const char *name);
void pl_scope_host_ifname(const struct pl_container *c, size_t i, char *buf, size_t size);
void pl_network_give_back(pl_network_t *n, const json_t *networks);

/* hostends.c: the host ends of stopped containers, deleted off the loop; the addresses
 * they had are held until they are gone. _open deletes those of containers that do not run
 * (before anything is served); _stopped queues c's; _gone: c's addresses wait for its host
 * ends (true), or are free now (false); _wait: until c's (NULL: every) host end queued is
 * gone; _reserve: a rebuild of the allocators takes the addresses held (self's excepted);
 * _close waits for every deletion. */
void pl_hostends_open(pl_network_t *n);
void pl_hostends_stopped(pl_network_t *n, const struct pl_container *c);
bool pl_hostends_gone(pl_network_t *n, const struct pl_container *c);
void pl_hostends_wait(pl_network_t *n, const struct pl_container *c);
void pl_hostends_reserve(pl_network_t *n, const struct pl_container *self);
void pl_hostends_close(pl_network_t *n);

/* pool.c */
void pl_netns_pool_init(pl_network_t *n, int size);
void pl_netns_pool_free(pl_network_t *n);
