/* SPDX-License-Identifier: Apache-2.0 */
/* Docker's HostConfig namespace and host-resource fields in the port layer's create words
 * (TEAM.md, issue 17: shared namespaces, cgroup_parent, devices, shm_size, group_add). */
#include "docker/docker.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <string.h>

/* "container:NAME" -> "container:<full id>" (the port layer records ids). */
static json_t *container_mode(pl_client_t *c, const char *mode, pl_error_t **err)
{
	if (strncmp(mode, "container:", 10))
		return json_string(mode);
	pl_container_info_t *ci = pl_container_inspect(c, mode + 10, err);
	if (!ci)
		return NULL;
	_cleanup_free_ char *m = pl_xasprintf("container:%s", ci->id);
	pl_container_info_free(ci);
	return json_string(m);
}

static const char *str(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v && *v ? v : NULL;
}

int dk_host_fields(pl_client_t *c, const json_t *hc, json_t *out, pl_error_t **err)
{
	/* Docker's daemon default IPC mode is shareable (what cri-dockerd's sandboxes rely
	 * on: their containers join them with container:<sandbox>); "none" has no /dev/shm
	 * in Docker, here it is private. */
	const char *ipc = str(hc, "IpcMode");
	if (!ipc)
		ipc = "shareable";
	else if (!strcmp(ipc, "none"))
		ipc = "private";
	json_t *v = container_mode(c, ipc, err);
	if (!v)
		return -1;
	json_object_set_new(out, "ipc_mode", v);
	const char *pid = str(hc, "PidMode");
	if (pid) {
		if (!(v = container_mode(c, pid, err)))
			return -1;
		json_object_set_new(out, "pid_mode", v);
	}
	const char *uts = str(hc, "UTSMode");
	if (uts)
		json_object_set_new(out, "uts_mode", json_string(uts));
	const char *cg = str(hc, "CgroupParent");
	if (cg)
		json_object_set_new(out, "cgroup_parent", json_string(cg));
	json_int_t shm = json_integer_value(json_object_get(hc, "ShmSize"));
	if (shm > 0)
		json_object_set_new(out, "shm_size", json_integer(shm));
	const json_t *ga = json_object_get(hc, "GroupAdd");
	if (json_array_size(ga))
		json_object_set_new(out, "group_add", json_deep_copy(ga));
	const json_t *devs = json_object_get(hc, "Devices");
	if (json_array_size(devs)) {
		json_t *a = json_array();
		size_t i;
		const json_t *d;
		json_array_foreach(devs, i, d)
		{
			const char *host = str(d, "PathOnHost");
			if (!host)
				continue;
			const char *ctr = str(d, "PathInContainer");
			const char *perm = str(d, "CgroupPermissions");
			json_array_append_new(a, json_pack("{s:s,s:s,s:s}", "path_on_host", host,
							   "path_in_container", ctr ? ctr : host,
							   "permissions", perm ? perm : "rwm"));
		}
		json_object_set_new(out, "devices", a);
	}
	return 0;
}
