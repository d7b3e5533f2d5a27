/* SPDX-License-Identifier: Apache-2.0 */
#include "portlayer/placement.h"
#include "portlayer/network/network.h"

#include <string.h>

static bool host_network(const pl_config_t *cfg)
{
	return cfg->network_mode && strcmp(cfg->network_mode, "host") == 0;
}

static bool is_host(const char *mode)
{
	return mode && strcmp(mode, "host") == 0;
}

/* The field that shares a namespace with the host or another domain, or passes a host
 * device through: only a domain on the host's kernel can. NULL when none does. */
static const char *shares_host(const pl_config_t *cfg)
{
	const pl_hostcfg_t *h = &cfg->host;
	if (pl_hostcfg_target(cfg->network_mode))
		return "network_mode";
	if (pl_hostcfg_target(h->ipc_mode) || is_host(h->ipc_mode))
		return "ipc_mode";
	if (pl_hostcfg_target(h->pid_mode) || is_host(h->pid_mode))
		return "pid_mode";
	if (is_host(h->uts_mode))
		return "uts_mode";
	if (json_array_size(h->devices))
		return "devices";
	return NULL;
}

void pl_placement_describe(const pl_config_t *cfg, pl_domain_spec_t *spec)
{
	*spec = (pl_domain_spec_t){.domain_dirfd = -1,
				   .run_dirfd = -1,
				   .netns_fd = -1,
				   .security = &cfg->security,
				   .resources = &cfg->resources,
				   .mounts = cfg->mounts,
				   .host_network = host_network(cfg),
				   .hostname = cfg->hostname,
				   .host = {.cgroup_parent = cfg->host.cgroup_parent,
					    .devices = cfg->host.devices,
					    .shm_size = cfg->host.shm_size,
					    .domainname = cfg->host.domainname}};
}

pl_mech_criteria_t pl_placement_criteria(struct pl_network *net, const pl_config_t *cfg)
{
	pl_mech_criteria_t crit = {.dedicated_kernel = cfg->kernel == PL_KERNEL_DEDICATED};
	if (host_network(cfg) || shares_host(cfg))
		crit.need |= PL_MECH_SHARES_HOST_NS;
	if (net && pl_network_external_scope(net, cfg))
		crit.need |= PL_MECH_MACVLAN;
	return crit;
}

/* Adds the field that asked for the capabilities missing to err. */
static void blame(struct pl_network *net, const pl_config_t *cfg, unsigned missing,
		  pl_error_t **err)
{
	if (missing & PL_MECH_SHARES_HOST_NS)
		pl_error_wrap(err, "%s",
			      host_network(cfg) ? "network_mode \"host\"" : shares_host(cfg));
	else if (missing & PL_MECH_MACVLAN)
		pl_error_wrap(err, "networks: scope \"%s\" is on an external interface",
			      pl_network_external_scope(net, cfg));
}

const pl_mechanism_t *pl_placement_select(const pl_mechanism_t *const *list, struct pl_network *net,
					  const pl_config_t *cfg, const pl_mechanism_t *current,
					  pl_error_t **err)
{
	pl_mech_criteria_t crit = pl_placement_criteria(net, cfg);
	const pl_mechanism_t *m = current;
	if (m) {
		unsigned missing = crit.need & ~m->caps;
		if (missing) {
			pl_error_set(err, PL_ERR_INVALID, 0,
				     "the container's mechanism (%s) is not one that %s", m->name,
				     pl_mech_cap_describe(missing & -missing));
			blame(net, cfg, missing, err);
			return NULL;
		}
	} else {
		unsigned missing = 0;
		m = pl_mechanism_select(list, &crit, &missing, err);
		if (!m) {
			blame(net, cfg, missing, err);
			return NULL;
		}
	}
	pl_domain_spec_t spec;
	pl_placement_describe(cfg, &spec);
	if (m->validate(m, &spec, err) < 0)
		return NULL;
	return m;
}

bool pl_placement_pools_netns(const pl_mechanism_t *m, const pl_config_t *cfg)
{
	/* a pooled namespace belongs to the host's user namespace: a remapped domain makes its
	 * own, owned by its user namespace, so its root can configure it */
	return pl_mech_has(m, PL_MECH_NETNS_POOL) && !host_network(cfg) &&
	       !cfg->security.userns.remap;
}

const pl_mechanism_t *pl_placement_recorded(const pl_mechanism_t *const *list, const char *name,
					    const pl_config_t *cfg)
{
	if (name)
		return pl_mechanism_by_name(list, name);
	for (const pl_mechanism_t *const *m = list; *m; m++)
		if (pl_mech_has(*m, PL_MECH_DEDICATED_KERNEL) ==
		    (cfg->kernel == PL_KERNEL_DEDICATED))
			return *m;
	return NULL;
}
