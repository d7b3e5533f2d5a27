/* SPDX-License-Identifier: Apache-2.0 */
#include "portlayer/placement.h"
#include "portlayer/network/network.h"
#include "portlayer/storage/volumes.h"
#include "common/cleanup.h"

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

pl_placement_t pl_placement_describe(const pl_config_t *cfg)
{
	pl_placement_t p = {0};
	size_t n = json_array_size(cfg->mounts);
	p.mounts = n ? pl_xcalloc(n, sizeof(*p.mounts)) : NULL;
	size_t i;
	json_t *m;
	json_array_foreach(cfg->mounts, i, m)
	{
		const char *type = json_string_value(json_object_get(m, "type"));
		p.mounts[i] = (pl_domain_mount_t){
		    .source = json_string_value(json_object_get(m, "source")),
		    .target = json_string_value(json_object_get(m, "target")),
		    .volume = type && strcmp(type, "volume") == 0,
		    .readonly = json_is_true(json_object_get(m, "readonly")),
		    .propagation = json_string_value(json_object_get(m, "propagation"))};
	}
	p.spec = (pl_domain_spec_t){.domain_dirfd = -1,
				    .run_dirfd = -1,
				    .netns_fd = -1,
				    .security = &cfg->security,
				    .resources = &cfg->resources,
				    .mounts = p.mounts,
				    .n_mounts = n,
				    .host_network = host_network(cfg),
				    .hostname = cfg->hostname,
				    .host = {.cgroup_parent = cfg->host.cgroup_parent,
					     .devices = cfg->host.devices,
					     .shm_size = cfg->host.shm_size,
					     .domainname = cfg->host.domainname}};
	return p;
}

static const char *keep(pl_placement_t *p, char *path)
{
	p->paths = pl_xrealloc(p->paths, (p->n_paths + 1) * sizeof(*p->paths));
	return p->paths[p->n_paths++] = path;
}

void pl_placement_resolve(pl_placement_t *p, pl_volumes_t *vols, struct pl_network *net,
			  const struct pl_container *c)
{
	for (size_t i = 0; i < p->spec.n_mounts; i++) {
		pl_domain_mount_t *m = &p->mounts[i];
		if (!m->volume || !m->source)
			continue;
		json_t *vol = pl_volume_get(vols, m->source, true, NULL);
		if (vol)
			json_decref(vol);
		const char *name = m->source;
		m->source = keep(p, pl_volume_data_path(vols, name));
		m->populate = keep(p, pl_volume_marker_path(vols, name));
	}
	p->spec.n_endpoints = pl_network_endpoints(net, c, &p->endpoints);
	p->spec.endpoints = p->endpoints;
}

void pl_placement_release(pl_placement_t *p)
{
	free(p->mounts);
	free(p->endpoints);
	for (size_t i = 0; i < p->n_paths; i++)
		free(p->paths[i]);
	free(p->paths);
	*p = (pl_placement_t){0};
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
	_cleanup_(pl_placement_release) pl_placement_t p = pl_placement_describe(cfg);
	if (m->validate(m, &p.spec, err) < 0)
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
