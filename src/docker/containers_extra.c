/* SPDX-License-Identifier: Apache-2.0 */
/* Docker routes over a container's filesystem and resources: diff, export, update, and
 * container prune. */
#include "docker/docker.h"
#include "common/cleanup.h"
#include "common/json.h"

#include <string.h>

static void reply_error(dk_job_t *j, const pl_error_t *e)
{
	if (e->kind == PL_ERR_NOTFOUND && strstr(e->msg, "no such container")) {
		dk_job_reply_message(j, 404, "No such container: %s", dk_job_param(j));
		return;
	}
	dk_reply_pl_error(j, e);
}

void dk_containers_changes(dk_job_t *j)
{
	pl_change_t *v = NULL;
	size_t n = 0;
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_container_changes(dk_job_client(j), dk_job_param(j), &v, &n, &err) < 0) {
		reply_error(j, err);
		return;
	}
	json_t *out = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(
		    out,
		    json_pack("{s:s,s:i}", "Path", v[i].path ? v[i].path : "", "Kind", v[i].kind));
	pl_changes_free(v, n);
	dk_job_reply_json(j, 200, out);
}

static int export_out(const char *data, size_t len, void *userdata)
{
	return dk_job_write(userdata, data, len);
}

void dk_containers_export(dk_job_t *j)
{
	pl_client_t *c = dk_job_client(j);
	_cleanup_error_ pl_error_t *err = NULL;
	pl_container_info_t *ci = pl_container_inspect(c, dk_job_param(j), &err);
	if (!ci) {
		reply_error(j, err);
		return;
	}
	dk_job_stream(j, 200, "application/x-tar");
	pl_container_export(c, ci->id, export_out, j, NULL);
	pl_container_info_free(ci);
}

void dk_containers_update(dk_job_t *j)
{
	json_t *b = dk_job_body(j);
	if (!b) {
		dk_job_reply_message(j, 400, "update needs a JSON body");
		return;
	}
	pl_resources_spec_t r = {
	    .memory = json_integer_value(json_object_get(b, "Memory")),
	    .memory_swap = json_integer_value(json_object_get(b, "MemorySwap")),
	    .pids_limit = json_integer_value(json_object_get(b, "PidsLimit")),
	    .cpu_shares = json_integer_value(json_object_get(b, "CpuShares")),
	    .cpu_quota = json_integer_value(json_object_get(b, "CpuQuota")),
	    .cpu_period = json_integer_value(json_object_get(b, "CpuPeriod")),
	    .cpus = (double)json_integer_value(json_object_get(b, "NanoCpus")) / 1e9,
	    .cpuset_cpus = json_string_value(json_object_get(b, "CpusetCpus")),
	};
	if (r.cpuset_cpus && !*r.cpuset_cpus)
		r.cpuset_cpus = NULL;
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_container_update(dk_job_client(j), dk_job_param(j), &r, &err) < 0) {
		reply_error(j, err);
		return;
	}
	dk_job_reply_json(j, 200, json_pack("{s:[]}", "Warnings"));
}

void dk_containers_prune(dk_job_t *j)
{
	pl_client_t *c = dk_job_client(j);
	pl_container_info_t **list = NULL;
	size_t n = 0;
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_container_list(c, true, NULL, &list, &n, &err) < 0) {
		dk_reply_pl_error(j, err);
		return;
	}
	json_t *deleted = json_array();
	for (size_t i = 0; i < n; i++) {
		const char *st = list[i]->state.status;
		if (!st || (strcmp(st, "stopped") && strcmp(st, "created")))
			continue;
		if (pl_container_remove(c, list[i]->id, false, NULL) == 0)
			json_array_append_new(deleted, json_string(list[i]->id));
	}
	pl_container_infos_free(list, n);
	dk_job_reply_json(
	    j, 200, json_pack("{s:o,s:i}", "ContainersDeleted", deleted, "SpaceReclaimed", 0));
}
