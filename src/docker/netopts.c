/* SPDX-License-Identifier: Apache-2.0 */
/* docker network create -o: Docker's bridge driver options mapped onto the port layer's
 * network fields (POST /networks); an option the port layer cannot honour is a 400. */
#include "docker/docker.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Go's strconv.ParseBool, which Docker uses for these options */
static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True", NULL};
	static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False", NULL};
	for (int i = 0; yes[i]; i++) {
		if (!strcmp(s, yes[i]))
			return *out = true, 0;
		if (!strcmp(s, no[i]))
			return *out = false, 0;
	}
	return -1;
}

/* Adds to body (the port layer's) what opts (Docker's Options) ask for; -1 with *msg
 * (malloc'd) for a bad value or an option the port layer does not have. */
static int map_options(const json_t *opts, bool macvlan, json_t *body, char **msg)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)opts, k, v)
	{
		const char *s = json_string_value(v);
		bool b;
		if (!s) {
			*msg = pl_xasprintf("network option %s: the value must be a string", k);
			return -1;
		}
		if (macvlan) {
			if (strcmp(k, "parent")) {
				*msg = pl_xasprintf("network option %s is not supported for the "
						    "macvlan driver (only parent)",
						    k);
				return -1;
			}
			json_object_set_new(body, "parent", json_string(s));
		} else if (!strcmp(k, "com.docker.network.bridge.name")) {
			json_object_set_new(body, "bridge", json_string(s));
		} else if (!strcmp(k, "com.docker.network.driver.mtu")) {
			char *end;
			errno = 0;
			long mtu = strtol(s, &end, 10);
			if (!*s || *end || errno || mtu < 68 || mtu > 65535) {
				*msg = pl_xasprintf(
				    "invalid MTU number %s: a number from 68 to 65535", s);
				return -1;
			}
			json_object_set_new(body, "mtu", json_integer(mtu));
		} else if (!strcmp(k, "com.docker.network.bridge.enable_ip_masquerade")) {
			if (parse_bool(s, &b) < 0)
				goto bad_bool;
			json_object_set_new(body, "masquerade", json_boolean(b));
		} else if (!strcmp(k, "com.docker.network.bridge.enable_icc")) {
			if (parse_bool(s, &b) < 0)
				goto bad_bool;
			if (!b) {
				*msg = pl_xstrdup(
				    "network option com.docker.network.bridge.enable_icc="
				    "false is not supported: containers on a network "
				    "always reach each other");
				return -1;
			}
		} else {
			*msg = pl_xasprintf("network option %s is not supported (bridge driver: "
					    "com.docker.network.bridge.name, "
					    "com.docker.network.driver.mtu, "
					    "com.docker.network.bridge.enable_ip_masquerade, "
					    "com.docker.network.bridge.enable_icc)",
					    k);
			return -1;
		}
		continue;
	bad_bool:
		*msg = pl_xasprintf("invalid value %s for %s: a boolean", s, k);
		return -1;
	}
	return 0;
}

void dk_network_create_with_options(dk_job_t *j)
{
	json_t *req = dk_job_body(j);
	const char *name = json_string_value(json_object_get(req, "Name"));
	const char *driver = json_string_value(json_object_get(req, "Driver"));
	bool macvlan = driver && !strcmp(driver, "macvlan");
	if (driver && *driver && !macvlan && strcmp(driver, "bridge")) {
		dk_job_reply_message(j, 400, "plugin \"%s\" not found", driver);
		return;
	}
	const json_t *ipam0 =
	    json_array_get(json_object_get(json_object_get(req, "IPAM"), "Config"), 0);
	_cleanup_json_ json_t *body = json_pack("{s:s}", "name", name ? name : "");
	if (macvlan)
		json_object_set_new(body, "driver", json_string("external"));
	const char *fields[][2] = {
	    {"Subnet", "subnet"}, {"Gateway", "gateway"}, {"IPRange", "ip_range"}};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const char *s = json_string_value(json_object_get(ipam0, fields[i][0]));
		if (s && *s)
			json_object_set_new(body, fields[i][1], json_string(s));
	}
	if (json_is_true(json_object_get(req, "Internal")))
		json_object_set_new(body, "internal", json_true());
	const json_t *labels = json_object_get(req, "Labels");
	if (json_is_object(labels) && json_object_size(labels))
		json_object_set(body, "labels", (json_t *)labels);
	const json_t *opts = json_object_get(req, "Options");
	_cleanup_free_ char *msg = NULL;
	if (map_options(opts, macvlan, body, &msg) < 0) {
		dk_job_reply_message(j, 400, "%s", msg);
		return;
	}
	json_object_set(body, "options", (json_t *)opts); /* inspect shows them */
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_json_ json_t *resp = NULL;
	if (pl_client_request(dk_job_client(j), "POST", "/networks", body, NULL, &resp, &err) < 0) {
		dk_reply_pl_error(j, err);
		return;
	}
	const char *id = json_string_value(json_object_get(resp, "id"));
	dk_job_reply_json(j, 201,
			  json_pack("{s:s,s:s}", "Id",
				    id	   ? id
				    : name ? name
					   : "",
				    "Warning", ""));
}
