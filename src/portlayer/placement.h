/* SPDX-License-Identifier: Apache-2.0 */
/* Placement: the core's side of the mechanism boundary. Which mechanism a container's
 * domain goes to, chosen from its isolation criteria and the capabilities the mechanisms
 * declare (never from their names), and the self-contained description (mechanism/domain.h)
 * the core hands across. The only unit that turns a pl_config_t into a pl_domain_spec_t. */
#pragma once

#include "common/error.h"
#include "mechanism/mechanism.h"
#include "portlayer/config.h"

struct pl_network;
struct pl_volumes;
struct pl_container;

/* A description and what it holds beyond the config: the mounts and endpoints as
 * mechanism/domain.h's plain structs (no JSON crosses the boundary). spec points into it
 * and into the config it was made from; pl_placement_release frees it. */
typedef struct pl_placement {
	pl_domain_spec_t spec;
	pl_domain_mount_t *mounts;
	pl_domain_endpoint_t *endpoints;
	char **paths; /* the resolved host paths the mounts point to */
	size_t n_paths;
} pl_placement_t;

/* The description part of a spec from cfg (security, resources, host, mounts as configured,
 * host_network, hostname); everything else -1/NULL. */
pl_placement_t pl_placement_describe(const pl_config_t *cfg);
/* For a spawn of c (whose config p describes): the mounts' volumes resolved to their data
 * directories and populate markers (a volume removed meanwhile is made again, empty, as
 * Docker does), and the endpoints net gives c. */
void pl_placement_resolve(pl_placement_t *p, struct pl_volumes *vols, struct pl_network *net,
			  const struct pl_container *c);
void pl_placement_release(pl_placement_t *p);
/* The criteria cfg sets: the kernel it asks for, the capabilities it needs. */
pl_mech_criteria_t pl_placement_criteria(struct pl_network *net, const pl_config_t *cfg);
/* The mechanism for cfg out of list, validated by it; with current (a container's
 * mechanism, for a change to an existing container) that one must meet the criteria
 * instead. NULL with an error naming the field that asks for what no mechanism offers. */
const pl_mechanism_t *pl_placement_select(const pl_mechanism_t *const *list, struct pl_network *net,
					  const pl_config_t *cfg, const pl_mechanism_t *current,
					  pl_error_t **err);
/* Whether a domain takes a pre-created network namespace from the pool. */
bool pl_placement_pools_netns(const pl_mechanism_t *m, const pl_config_t *cfg);
/* The mechanism a stored domain was placed on: the one recorded by name, or for a record
 * from before names were kept the first of the kernel cfg asks for. NULL when unknown. */
const pl_mechanism_t *pl_placement_recorded(const pl_mechanism_t *const *list, const char *name,
					    const pl_config_t *cfg);
