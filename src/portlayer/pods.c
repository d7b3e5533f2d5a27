/* SPDX-License-Identifier: Apache-2.0 */
#include "portlayer/pods.h"
#include "portlayer/internal.h"
#include "portlayer/network/network.h"
#include "common/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static bool is_host(const char *mode)
{
	return mode && strcmp(mode, "host") == 0;
}

static pl_container_t *target_of(pl_portlayer_t *pl, const char *mode);

/* Rewrites "container:<ref>" in *mode to the full id. */
static int resolve_one(pl_portlayer_t *pl, char **mode, const char *field, pl_error_t **err)
{
	const char *ref = pl_hostcfg_target(*mode);
	if (!ref)
		return 0;
	pl_container_t *t = pl_container_find(pl, ref, err);
	if (!t)
		return pl_error_wrap(err, "%s", field);
	if (!pl_mech_has(t->mech, PL_MECH_SHARES_HOST_NS))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "%s: container %.12s has a dedicated kernel; its namespaces "
				    "cannot be shared",
				    field, t->id);
	/* the namespaces of a remapped domain belong to its user namespace, whose root holds
	 * every capability over them: a joiner that is root on the host must not share them */
	if (t->config->security.userns.remap)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "%s: container %.12s runs in a user namespace (security.userns "
				    "remap); its namespaces cannot be shared",
				    field, t->id);
	char *full = pl_xasprintf(PL_CONTAINER_PREFIX "%s", t->id);
	free(*mode);
	*mode = full;
	return 0;
}

int pl_pods_resolve(pl_portlayer_t *pl, pl_config_t *cfg, pl_error_t **err)
{
	pl_hostcfg_t *h = &cfg->host;
	if (cfg->kernel == PL_KERNEL_DEDICATED) {
		/* a VM has its own kernel: no namespace of the host's or of another domain */
		const char *field = pl_hostcfg_target(cfg->network_mode) ? "network_mode"
				    : pl_hostcfg_target(h->ipc_mode) || is_host(h->ipc_mode)
					? "ipc_mode"
				    : strcmp(h->pid_mode, "private") ? "pid_mode"
				    : is_host(h->uts_mode)	     ? "uts_mode"
				    : json_array_size(h->devices)    ? "devices"
								     : NULL;
		if (field)
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "%s: a dedicated kernel (isolation.kernel) cannot "
					    "share the host's or another container's %s",
					    field,
					    !strcmp(field, "devices") ? "devices" : "namespaces");
		return 0;
	}
	if (cfg->security.userns.remap &&
	    (pl_hostcfg_target(cfg->network_mode) || pl_hostcfg_target(h->ipc_mode) ||
	     pl_hostcfg_target(h->pid_mode) || is_host(h->ipc_mode) || is_host(h->pid_mode) ||
	     is_host(h->uts_mode)))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "security.userns remap cannot be combined with shared "
				    "namespaces (network_mode, ipc_mode, pid_mode, uts_mode)");
	if (cfg->security.userns.remap && !strcmp(h->ipc_mode, "shareable"))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "ipc_mode shareable cannot be combined with security.userns "
				    "remap");
	if (resolve_one(pl, &cfg->network_mode, "network_mode", err) < 0 ||
	    resolve_one(pl, &h->ipc_mode, "ipc_mode", err) < 0 ||
	    resolve_one(pl, &h->pid_mode, "pid_mode", err) < 0)
		return -1;
	/* as in Docker: IPC is shared with a container made for it */
	pl_container_t *t = target_of(pl, h->ipc_mode);
	if (t && strcmp(t->config->host.ipc_mode, "shareable"))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "ipc_mode: container %.12s is not shareable (its ipc_mode is "
				    "%s; create it with ipc_mode shareable)",
				    t->id, t->config->host.ipc_mode);
	return 0;
}

/* A shareable container's /dev/shm is a tmpfs in the daemon's mount namespace (in its
 * domain directory), so joiners can bind it: a mount of another mount namespace cannot be. */
#define SHM_DIR "shm"

static int mount_shm(const char *dir, int64_t size, pl_error_t **err)
{
	umount2(dir, MNT_DETACH); /* a stale one from a run the daemon did not see end */
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return pl_error_errno(err, "mkdir %s", dir);
	char opts[64];
	snprintf(opts, sizeof(opts), "mode=1777,size=%lld", (long long)size);
	if (mount("shm", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) < 0)
		return pl_error_errno(err, "mount shareable /dev/shm");
	return 0;
}

void pl_pods_domain_gone(pl_container_t *c)
{
	if (c->config->host.ipc_mode && !strcmp(c->config->host.ipc_mode, "shareable")) {
		_cleanup_free_ char *dir = pl_xasprintf("%s/" SHM_DIR, c->dir);
		umount2(dir, MNT_DETACH);
	}
}

static pl_container_t *target_of(pl_portlayer_t *pl, const char *mode)
{
	const char *id = pl_hostcfg_target(mode);
	return id ? pl_container_find(pl, id, NULL) : NULL;
}

static int open_ns(pl_container_t *t, const char *what, pl_error_t **err)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/%s", t->dom.pid, what);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pl_error_errno(err, "open %s namespace of container %.12s", what, t->id);
	return fd;
}

int pl_pods_prepare(pl_portlayer_t *pl, pl_container_t *c, pl_ns_join_t *join, int *netns_fd,
		    pl_error_t **err)
{
	const pl_hostcfg_t *h = &c->config->host;
	*join = (pl_ns_join_t){.ipc_fd = -1, .pid_fd = -1};
	*netns_fd = -1;
	const char *targets[4], *fields[4];
	pl_hostcfg_targets(c->config, targets, fields);
	for (int i = 0; targets[i]; i++) {
		pl_container_t *t = pl_container_find(pl, targets[i], NULL);
		if (!t)
			return pl_error_set(err, PL_ERR_CONFLICT, 0,
					    "%s: container %.12s no longer exists", fields[i],
					    targets[i]);
		if (!pl_container_is_running(t) || t->dom.pid <= 0 ||
		    !pl_mech_has(t->mech, PL_MECH_SHARES_HOST_NS))
			return pl_error_set(err, PL_ERR_CONFLICT, 0,
					    "%s: container %.12s%s%s is not running", fields[i],
					    t->id, t->config->name ? " " : "",
					    t->config->name ? t->config->name : "");
	}
	pl_container_t *t;
	if ((t = target_of(pl, c->config->network_mode)) &&
	    (*netns_fd = open_ns(t, "net", err)) < 0)
		goto fail;
	if ((t = target_of(pl, h->ipc_mode))) {
		if ((join->ipc_fd = open_ns(t, "ipc", err)) < 0)
			goto fail;
		join->shm_dir = pl_xasprintf("%s/" SHM_DIR, t->dir);
	}
	if (!strcmp(h->ipc_mode, "shareable")) {
		join->shm_dir = pl_xasprintf("%s/" SHM_DIR, c->dir);
		if (mount_shm(join->shm_dir, h->shm_size, err) < 0)
			goto fail;
	}
	if ((t = target_of(pl, h->pid_mode)) && (join->pid_fd = open_ns(t, "pid", err)) < 0)
		goto fail;
	join->host_ipc = is_host(h->ipc_mode);
	if (join->host_ipc)
		join->shm_dir = pl_xstrdup("/dev/shm");
	join->host_pid = is_host(h->pid_mode);
	join->host_uts = is_host(h->uts_mode);
	return 0;
fail:
	if (*netns_fd >= 0)
		close(*netns_fd);
	*netns_fd = -1;
	pl_pods_release(join);
	return -1;
}

void pl_pods_release(pl_ns_join_t *join)
{
	if (join->ipc_fd >= 0)
		close(join->ipc_fd);
	if (join->pid_fd >= 0)
		close(join->pid_fd);
	free(join->shm_dir);
	*join = (pl_ns_join_t){.ipc_fd = -1, .pid_fd = -1};
}

int pl_pods_check_remove(pl_portlayer_t *pl, pl_container_t *c, bool force, pl_error_t **err)
{
	if (force)
		return 0;
	for (pl_container_t *o = pl->head; o; o = o->next) {
		if (o == c || !pl_container_is_running(o))
			continue;
		const char *targets[4], *fields[4];
		pl_hostcfg_targets(o->config, targets, fields);
		for (int i = 0; targets[i]; i++)
			if (strcmp(targets[i], c->id) == 0)
				return pl_error_set(err, PL_ERR_CONFLICT, 0,
						    "container %.12s shares its namespaces with "
						    "running container %.12s (%s): stop that "
						    "first or force",
						    c->id, o->id, fields[i]);
	}
	return 0;
}

json_t *pl_pods_tether_network(pl_portlayer_t *pl, pl_container_t *c, const char *hostname)
{
	/* a joiner writes the files of the container whose network it is in */
	pl_container_t *owner = c;
	for (int hops = 0; hops < 8 && pl_hostcfg_target(owner->config->network_mode); hops++) {
		pl_container_t *t = target_of(pl, owner->config->network_mode);
		if (!t)
			return NULL;
		owner = t;
	}
	char hb[13];
	if (owner != c) {
		hostname = owner->config->hostname;
		if (!hostname) {
			snprintf(hb, sizeof(hb), "%.12s", owner->id);
			hostname = hb;
		}
	}
	json_t *net = pl_network_tether_json(pl->net, owner);
	if (net && owner != c) {
		json_object_del(net, "interfaces");
		json_object_del(net, "routes");
	}
	return pl_hostcfg_names(owner->config, hostname, net);
}
