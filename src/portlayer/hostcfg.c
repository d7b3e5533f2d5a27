/* SPDX-License-Identifier: Apache-2.0 */
#include "portlayer/hostcfg.h"
#include "portlayer/config.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_LIST 64

static bool addr_valid(const char *s)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* A DNS name: labels of [A-Za-z0-9_-] between dots, at most 253 bytes. */
static bool domain_valid(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > 253 || s[0] == '.' || s[0] == '-')
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("-._", *p))
			return false;
	return !strstr(s, "..");
}

static bool option_valid(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > 64)
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("-._:", *p))
			return false;
	return true;
}

/* "container:<ref>" where ref is a name or an id (prefix). */
const char *pl_hostcfg_target(const char *mode)
{
	size_t n = strlen(PL_CONTAINER_PREFIX);
	return mode && strncmp(mode, PL_CONTAINER_PREFIX, n) == 0 ? mode + n : NULL;
}

void pl_hostcfg_targets(const pl_config_t *c, const char *out[4], const char *fields[4])
{
	int k = 0;
	const char *t;
	if ((t = pl_hostcfg_target(c->network_mode))) {
		fields[k] = "network_mode";
		out[k++] = t;
	}
	if ((t = pl_hostcfg_target(c->host.ipc_mode))) {
		fields[k] = "ipc_mode";
		out[k++] = t;
	}
	if ((t = pl_hostcfg_target(c->host.pid_mode))) {
		fields[k] = "pid_mode";
		out[k++] = t;
	}
	out[k] = fields[k] = NULL;
}

static int parse_mode(const json_t *body, const char *field, const char *const *allowed,
		      bool container, char **out, pl_error_t **err)
{
	const char *m = NULL;
	if (pl_json_get_string(body, field, &m, err) < 0)
		return -EINVAL;
	if (!m || !*m)
		m = "private";
	const char *t = container ? pl_hostcfg_target(m) : NULL;
	bool ok = t && pl_name_valid(t);
	for (const char *const *a = allowed; *a && !ok; a++)
		ok = strcmp(*a, m) == 0;
	if (!ok)
		return pl_error_set(err, PL_ERR_INVALID, 0, "%s \"%s\" must be %s%s", field, m,
				    container ? "container:<id>, " : "",
				    allowed[2]	 ? "private, shareable or host"
				    : allowed[1] ? "private or host"
						 : "private");
	*out = pl_xstrdup(m);
	return 0;
}

typedef bool (*word_check_fn)(const char *);

static int parse_list(const json_t *body, const char *field, word_check_fn check, const char *what,
		      json_t **out, pl_error_t **err)
{
	const json_t *arr = NULL;
	if (pl_json_get_string_array(body, field, &arr, err) < 0)
		return -EINVAL;
	if (json_array_size(arr) > MAX_LIST)
		return pl_error_set(err, PL_ERR_INVALID, 0, "%s: at most %d entries", field,
				    MAX_LIST);
	size_t i;
	json_t *e;
	json_array_foreach(arr, i, e)
	{
		if (!check(json_string_value(e)))
			return pl_error_set(err, PL_ERR_INVALID, 0, "%s[%zu] \"%s\" is not %s",
					    field, i, json_string_value(e), what);
	}
	*out = arr ? json_deep_copy(arr) : json_array();
	return 0;
}

/* "name:address" (the address may be IPv6, with colons of its own) */
static bool extra_host_valid(const char *s)
{
	const char *colon = strchr(s, ':');
	if (!colon || colon == s || (size_t)(colon - s) > 253)
		return false;
	_cleanup_free_ char *name = strndup(s, (size_t)(colon - s));
	return domain_valid(name) && addr_valid(colon + 1);
}

static bool group_valid(const char *s)
{
	int64_t v;
	return pl_parse_int64(s, 0, UINT32_MAX - 1, &v) == 0 ||
	       (pl_user_name_valid(s) && !strchr(s, ':'));
}

/* Relative to the hierarchy's root, like Docker's: "/kubepods/burstable/pod1" or
 * "kubepods/...". Components are plain names: nothing can climb out of the tree. */
static int parse_cgroup_parent(const char *s, char **out, pl_error_t **err)
{
	while (*s == '/')
		s++;
	if (!*s) {
		*out = NULL;
		return 0;
	}
	size_t n = strlen(s);
	bool ok = n <= 512 && s[n - 1] != '/' && !strstr(s, "//");
	for (const char *p = s; ok && *p; p++)
		ok = isalnum((unsigned char)*p) || strchr("-._:@/", *p);
	_cleanup_free_ char *copy = pl_xstrdup(s);
	char *save = NULL;
	for (char *t = strtok_r(copy, "/", &save); ok && t; t = strtok_r(NULL, "/", &save))
		ok = strcmp(t, ".") && strcmp(t, "..");
	if (!ok)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "cgroup_parent \"%s\" must be a path of names "
				    "([A-Za-z0-9._:@-], no \".\" or \"..\")",
				    s);
	*out = pl_xstrdup(s);
	return 0;
}

static int parse_devices(pl_hostcfg_t *h, const json_t *v, bool check_host, pl_error_t **err)
{
	h->devices = json_array();
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v) || json_array_size(v) > MAX_LIST)
		return pl_error_set(err, PL_ERR_INVALID, 0, "devices must be an array (at most %d)",
				    MAX_LIST);
	size_t i;
	json_t *d;
	json_array_foreach(v, i, d)
	{
		static const char *const keys[] = {"path_on_host", "path_in_container",
						   "permissions", NULL};
		if (pl_json_check_keys(d, "devices[]", keys, err) < 0)
			return -EINVAL;
		const char *host = NULL, *in = NULL, *perms = NULL;
		if (pl_json_get_string(d, "path_on_host", &host, err) < 0 ||
		    pl_json_get_string(d, "path_in_container", &in, err) < 0 ||
		    pl_json_get_string(d, "permissions", &perms, err) < 0)
			return pl_error_wrap(err, "devices[%zu]", i);
		if (!host || !pl_path_is_clean_abs(host) || !strcmp(host, "/"))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "devices[%zu].path_on_host must be a clean absolute "
					    "path",
					    i);
		if (in && *in && (!pl_path_is_clean_abs(in) || strncmp(in, "/dev/", 5)))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "devices[%zu].path_in_container must be a clean path "
					    "under /dev/",
					    i);
		if (!in || !*in) {
			if (strncmp(host, "/dev/", 5))
				return pl_error_set(err, PL_ERR_INVALID, 0,
						    "devices[%zu].path_in_container is needed "
						    "for a device outside /dev",
						    i);
			in = host;
		}
		if (!perms || !*perms)
			perms = "rwm";
		bool ok = strlen(perms) <= 3;
		for (const char *p = perms; ok && *p; p++)
			ok = strchr("rwm", *p) && !strchr(p + 1, *p);
		if (!ok)
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "devices[%zu].permissions \"%s\" must be letters of "
					    "\"rwm\", each once",
					    i, perms);
		struct stat st;
		if (check_host &&
		    (stat(host, &st) < 0 || !(S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))))
			return pl_error_set(err, PL_ERR_INVALID, errno,
					    "devices[%zu].path_on_host %s is not a device", i,
					    host);
		for (size_t k = 0; k < json_array_size(h->devices); k++)
			if (!strcmp(json_string_value(json_object_get(json_array_get(h->devices, k),
								      "path_in_container")),
				    in))
				return pl_error_set(err, PL_ERR_INVALID, 0,
						    "devices: %s appears twice", in);
		json_array_append_new(h->devices,
				      json_pack("{s:s, s:s, s:s}", "path_on_host", host,
						"path_in_container", in, "permissions", perms));
	}
	return 0;
}

int pl_hostcfg_parse(pl_config_t *c, const json_t *body, bool check_host, pl_error_t **err)
{
	pl_hostcfg_t *h = &c->host;
	static const char *const ipc[] = {"private", "host", "shareable", NULL};
	static const char *const pid[] = {"private", "host", NULL, NULL};
	static const char *const uts[] = {"private", "host", NULL, NULL};
	if (parse_mode(body, "ipc_mode", ipc, true, &h->ipc_mode, err) < 0 ||
	    parse_mode(body, "pid_mode", pid, true, &h->pid_mode, err) < 0 ||
	    parse_mode(body, "uts_mode", uts, false, &h->uts_mode, err) < 0)
		return -EINVAL;
	if (parse_list(body, "dns", addr_valid, "an IP address", &h->dns, err) < 0 ||
	    parse_list(body, "dns_search", domain_valid, "a domain", &h->dns_search, err) < 0 ||
	    parse_list(body, "dns_options", option_valid, "a resolver option", &h->dns_options,
		       err) < 0 ||
	    parse_list(body, "extra_hosts", extra_host_valid, "\"name:address\"", &h->extra_hosts,
		       err) < 0 ||
	    parse_list(body, "group_add", group_valid, "a group id or name", &h->group_add, err) <
		0)
		return -EINVAL;
	const char *dn = NULL, *cgp = NULL;
	if (pl_json_get_string(body, "domainname", &dn, err) < 0 ||
	    pl_json_get_string(body, "cgroup_parent", &cgp, err) < 0)
		return -EINVAL;
	if (dn && *dn && (!domain_valid(dn) || strlen(dn) > 64))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "domainname \"%s\" is not a valid domain name", dn);
	h->domainname = dn && *dn ? pl_xstrdup(dn) : NULL;
	if (cgp && parse_cgroup_parent(cgp, &h->cgroup_parent, err) < 0)
		return -EINVAL;
	json_t *shm = json_object_get(body, "shm_size");
	h->shm_size = PL_SHM_DEFAULT;
	if (shm && !json_is_null(shm)) {
		if (!json_is_integer(shm) || json_integer_value(shm) < 0 ||
		    json_integer_value(shm) > (1LL << 40))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "shm_size must be a number of bytes (0: the default "
					    "64 MiB)");
		if (json_integer_value(shm) > 0)
			h->shm_size = json_integer_value(shm);
	}
	if (parse_devices(h, json_object_get(body, "devices"), check_host, err) < 0)
		return -EINVAL;
	/* the joined namespace's files are the target's */
	if (pl_hostcfg_target(c->network_mode) &&
	    (json_array_size(h->dns) || json_array_size(h->dns_search) ||
	     json_array_size(h->dns_options) || json_array_size(h->extra_hosts)))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "dns, dns_search, dns_options and extra_hosts come from the "
				    "container whose network is joined (network_mode %s)",
				    c->network_mode);
	if (strcmp(h->uts_mode, "host") == 0 && (c->hostname || h->domainname))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "hostname and domainname cannot be set with uts_mode host");
	return 0;
}

void pl_hostcfg_to_json(const pl_hostcfg_t *h, json_t *j)
{
	json_object_set_new(j, "ipc_mode", json_string(h->ipc_mode ? h->ipc_mode : "private"));
	json_object_set_new(j, "pid_mode", json_string(h->pid_mode ? h->pid_mode : "private"));
	json_object_set_new(j, "uts_mode", json_string(h->uts_mode ? h->uts_mode : "private"));
	json_object_set_new(j, "dns", h->dns ? json_deep_copy(h->dns) : json_array());
	json_object_set_new(j, "dns_search",
			    h->dns_search ? json_deep_copy(h->dns_search) : json_array());
	json_object_set_new(j, "dns_options",
			    h->dns_options ? json_deep_copy(h->dns_options) : json_array());
	json_object_set_new(j, "extra_hosts",
			    h->extra_hosts ? json_deep_copy(h->extra_hosts) : json_array());
	json_object_set_new(j, "domainname", json_string(h->domainname ? h->domainname : ""));
	json_object_set_new(j, "cgroup_parent",
			    json_string(h->cgroup_parent ? h->cgroup_parent : ""));
	json_object_set_new(j, "devices", h->devices ? json_deep_copy(h->devices) : json_array());
	json_object_set_new(j, "shm_size",
			    json_integer(h->shm_size ? h->shm_size : PL_SHM_DEFAULT));
	json_object_set_new(j, "group_add",
			    h->group_add ? json_deep_copy(h->group_add) : json_array());
}

void pl_hostcfg_clear(pl_hostcfg_t *h)
{
	free(h->ipc_mode);
	free(h->pid_mode);
	free(h->uts_mode);
	free(h->domainname);
	free(h->cgroup_parent);
	json_t *arrs[] = {h->dns,	  h->dns_search, h->dns_options,
			  h->extra_hosts, h->devices,	 h->group_add};
	for (size_t i = 0; i < PL_ARRAY_SIZE(arrs); i++)
		if (arrs[i])
			json_decref(arrs[i]);
	*h = (pl_hostcfg_t){0};
}

json_t *pl_hostcfg_names(const pl_config_t *c, const char *hostname, json_t *net)
{
	const pl_hostcfg_t *h = &c->host;
	bool any = json_array_size(h->dns) || json_array_size(h->dns_search) ||
		   json_array_size(h->dns_options) || json_array_size(h->extra_hosts) ||
		   h->domainname;
	if (!net && !any)
		return NULL;
	if (!net) {
		/* no network of its own (none, host): localhost and the container's own name */
		net =
		    json_pack("{s:[[s,s,s],[s,s,s,s]], s:{s:[], s:[], s:[]}}", "hosts", "127.0.0.1",
			      "localhost", hostname, "::1", "localhost", "ip6-localhost",
			      "ip6-loopback", "dns", "servers", "search", "options");
	}
	json_t *dns = json_object_get(net, "dns");
	if (!dns) {
		dns = json_pack("{s:[], s:[], s:[]}", "servers", "search", "options");
		json_object_set_new(net, "dns", dns);
	}
	if (json_array_size(h->dns))
		json_object_set(dns, "servers", h->dns);
	if (json_array_size(h->dns_search))
		json_object_set(dns, "search", h->dns_search);
	else if (h->domainname)
		json_object_set_new(dns, "search", json_pack("[s]", h->domainname));
	if (json_array_size(h->dns_options))
		json_object_set(dns, "options", h->dns_options);
	json_t *hosts = json_object_get(net, "hosts");
	if (!hosts) {
		hosts = json_array();
		json_object_set_new(net, "hosts", hosts);
	}
	/* the fully qualified own name beside the short one */
	if (h->domainname) {
		_cleanup_free_ char *fq = pl_xasprintf("%s.%s", hostname, h->domainname);
		size_t i;
		json_t *e;
		json_array_foreach(hosts, i, e)
		{
			const char *n1 = json_string_value(json_array_get(e, 1));
			if (i > 1 && n1 && !strcmp(n1, hostname))
				json_array_insert_new(e, 1, json_string(fq));
		}
	}
	size_t i;
	json_t *e;
	json_array_foreach(h->extra_hosts, i, e)
	{
		const char *s = json_string_value(e), *colon = strchr(s, ':');
		json_array_append_new(hosts, json_pack("[s, s#]", colon + 1, s, (int)(colon - s)));
	}
	return net;
}
