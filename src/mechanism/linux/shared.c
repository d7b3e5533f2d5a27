/* SPDX-License-Identifier: Apache-2.0 */
#include "mechanism/linux/shared.h"
#include "host/linux/cgroup.h"
#include "common/cleanup.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

uint64_t pl_linux_shared_ns(const pl_domain_spec_t *spec)
{
	const pl_ns_join_t *j = spec->join;
	if (!j)
		return 0;
	uint64_t drop = 0;
	if (j->ipc_fd >= 0 || j->host_ipc)
		drop |= CLONE_NEWIPC;
	if (j->pid_fd >= 0 || j->host_pid)
		drop |= CLONE_NEWPID;
	if (j->host_uts)
		drop |= CLONE_NEWUTS;
	return drop;
}

int pl_linux_devices_apply(const pl_domain_spec_t *spec, pl_error_t **err)
{
	const json_t *devs = spec->host.devices;
	size_t n = json_array_size(devs);
	_cleanup_free_ pl_cgroup_device_t *rules = pl_xcalloc(n + 1, sizeof(*rules));
	for (size_t i = 0; i < n; i++) {
		const json_t *d = json_array_get(devs, i);
		const char *path = json_string_value(json_object_get(d, "path_on_host"));
		const char *perms = json_string_value(json_object_get(d, "permissions"));
		struct stat st;
		if (stat(path, &st) < 0)
			return pl_error_set(err, PL_ERR_INVALID, errno, "device %s", path);
		if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
			return pl_error_set(err, PL_ERR_INVALID, 0, "device %s is not a device",
					    path);
		rules[i].type = S_ISCHR(st.st_mode) ? 'c' : 'b';
		rules[i].major = major(st.st_rdev);
		rules[i].minor = minor(st.st_rdev);
		snprintf(rules[i].perms, sizeof(rules[i].perms), "%s", perms);
	}
	if (pl_cgroup_devices(spec->id, rules, n, spec->security->privileged, err) < 0)
		return pl_error_wrap(err, "devices");
	return 0;
}
