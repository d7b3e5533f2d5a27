/* SPDX-License-Identifier: Apache-2.0 */
/* /_ping and /info: the daemon and the host it runs on. */
#include "daemon/routes.h"
#include "common/json.h"
#include "mechanism/mechanism.h"
#include "mechanism/linux.h"
#include "portlayer/userns.h"

#include <unistd.h>

static void h_ping(pl_req_t *r, void *app)
{
	pl_reply_text(r, 200, "OK");
}

static void h_info(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_counts_t n = pl_portlayer_counts(app->pl);
	json_t *mechs = json_array();
	for (const pl_mechanism_t *const *m = pl_portlayer_mechanisms(app->pl); *m; m++) {
		const char *reason = NULL;
		bool ok = (*m)->available(*m, &reason);
		json_t *j =
		    json_pack("{s:s, s:s, s:b}", "name", (*m)->name, "kernel",
			      pl_mech_has(*m, PL_MECH_DEDICATED_KERNEL) ? "dedicated" : "shared",
			      "available", ok);
		json_object_set_new(j, "files_on_host",
				    json_boolean(pl_mech_has(*m, PL_MECH_FILES_ON_HOST)));
		if (!ok && reason)
			json_object_set_new(j, "reason", json_string(reason));
		json_array_append_new(mechs, j);
	}
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	json_t *info =
	    json_pack("{s:s, s:s, s:s, s:s, s:o, s:{s:i, s:i, s:i, s:i}}", "version", PL_VERSION,
		      "api_version", PL_API_VERSION, "host", host, "cgroup_layout",
		      pl_linux_cgroup_layout(), "mechanisms", mechs, "containers", "total", n.total,
		      "created", n.created, "running", n.running, "stopped", n.stopped);
	json_object_set_new(info, "min_api_version", json_string(PL_API_MIN_VERSION));
	pl_userns_range_t range = pl_portlayer_userns_range(app->pl);
	uint32_t us = range.start, uc = range.count;
	json_object_set_new(
	    info, "userns_range",
	    json_pack("{s:I, s:I}", "start", (json_int_t)us, "count", (json_int_t)uc));
	pl_reply_json(r, 200, info);
}

const pl_route_t pl_routes_system[] = {
    {"GET", "/_ping", h_ping},
    {"GET", "/info", h_info},
    {NULL, NULL, NULL},
};
