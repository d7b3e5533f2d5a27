/* SPDX-License-Identifier: Apache-2.0 */
#include "mechanism/builtin.h"

#include <stddef.h>
#include <string.h>

static const pl_mechanism_t *const builtin[] = {&pl_mechanism_linux, &pl_mechanism_vm, NULL};

int pl_mechanisms_init(const pl_mechanisms_options_t *o, pl_error_t **err)
{
	if (pl_linux_init(&pl_mechanism_linux, o->tether_path, &o->linux_mech, err) < 0)
		return -1;
	return pl_vm_init(&pl_mechanism_vm, o->tether_path, &o->vm, err);
}

const pl_mechanism_t *const *pl_mechanisms_builtin(void)
{
	return builtin;
}

const pl_mechanism_t *pl_mechanism_by_name(const pl_mechanism_t *const *list, const char *name)
{
	for (const pl_mechanism_t *const *m = list; *m; m++)
		if (strcmp((*m)->name, name) == 0)
			return *m;
	return NULL;
}

const char *pl_mech_cap_describe(unsigned cap)
{
	switch ((pl_mech_caps_t)cap) {
	case PL_MECH_DEDICATED_KERNEL:
		return "runs a dedicated kernel";
	case PL_MECH_SHARES_HOST_NS:
		return "shares the host's namespaces";
	case PL_MECH_NETNS_POOL:
		return "enters pre-created network namespaces";
	case PL_MECH_MACVLAN:
		return "plumbs macvlan endpoints (scopes on an external interface)";
	case PL_MECH_HOTPLUG_NIC:
		return "adds network endpoints to a running domain";
	case PL_MECH_PAUSE:
		return "pauses a domain";
	case PL_MECH_FILES_ON_HOST:
		return "keeps the domain's files on the host";
	case PL_MECH_GUEST_STATS:
		return "reports usage from inside the domain";
	case PL_MECH_KILLS_PAUSED:
		return "kills a paused domain";
	case PL_MECH_LOG_ROTATE:
		return "rotates the log tether writes on the host";
	default:
		return "an unknown capability";
	}
}

const pl_mechanism_t *pl_mechanism_select(const pl_mechanism_t *const *list,
					  const pl_mech_criteria_t *crit, unsigned *missing,
					  pl_error_t **err)
{
	const char *kernel = crit->dedicated_kernel ? "dedicated" : "shared";
	const char *reason = NULL;
	bool any = false;
	unsigned lacking = crit->need; /* what every available candidate lacks */
	for (const pl_mechanism_t *const *m = list; *m; m++) {
		if (pl_mech_has(*m, PL_MECH_DEDICATED_KERNEL) != crit->dedicated_kernel)
			continue;
		if (!(*m)->available(*m, &reason))
			continue;
		any = true;
		if (pl_mech_has(*m, crit->need))
			return *m;
		lacking &= ~(*m)->caps;
	}
	if (missing)
		*missing = any ? lacking : 0;
	if (!any) {
		pl_error_set(err, PL_ERR_UNSUPPORTED, 0, "no mechanism provides a %s kernel: %s",
			     kernel, reason ? reason : "none available");
		return NULL;
	}
	/* name the first capability missing (the caller wraps it with the field that needs it) */
	unsigned first = lacking & -lacking;
	pl_error_set(err, PL_ERR_INVALID, 0, "no available mechanism with a %s kernel %s", kernel,
		     pl_mech_cap_describe(first));
	return NULL;
}
