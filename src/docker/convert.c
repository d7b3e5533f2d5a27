/* SPDX-License-Identifier: Apache-2.0 */
#include "docker/docker.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

const char *dk_annotation(const pl_container_info_t *ci, const char *key)
{
	const json_t *ann = json_object_get(json_object_get(ci->raw, "config"), "annotations");
	return json_string_value(json_object_get(ann, key));
}

const char *dk_state_name(const char *s)
{
	if (!s)
		return "created";
	if (!strcmp(s, "stopped"))
		return "exited";
	if (!strcmp(s, "starting") || !strcmp(s, "stopping"))
		return "running";
	return s; /* created, running, paused, removing */
}

int64_t dk_unix_time(const char *t)
{
	int64_t ns;
	if (!t || !*t || pl_time_parse(t, &ns) < 0)
		return 0;
	return ns / 1000000000;
}

/* Docker's units.HumanDuration */
static char *human_duration(int64_t secs)
{
	if (secs < 1)
		return pl_xstrdup("Less than a second");
	if (secs == 1)
		return pl_xstrdup("1 second");
	if (secs < 60)
		return pl_xasprintf("%lld seconds", (long long)secs);
	int64_t mins = secs / 60;
	if (mins == 1)
		return pl_xstrdup("About a minute");
	if (mins < 60)
		return pl_xasprintf("%lld minutes", (long long)mins);
	int64_t hours = (secs + 1800) / 3600;
	if (hours == 1)
		return pl_xstrdup("About an hour");
	if (hours < 48)
		return pl_xasprintf("%lld hours", (long long)hours);
	if (hours < 24 * 7 * 2)
		return pl_xasprintf("%lld days", (long long)(hours / 24));
	if (hours < 24 * 30 * 2)
		return pl_xasprintf("%lld weeks", (long long)(hours / 24 / 7));
	if (hours < 24 * 365 * 2)
		return pl_xasprintf("%lld months", (long long)(hours / 24 / 30));
	return pl_xasprintf("%lld years", (long long)(hours / 24 / 365));
}

char *dk_human_status(const pl_container_info_t *ci)
{
	const json_t *st = json_object_get(ci->raw, "state");
	const char *s = ci->state.status;
	int64_t now = time(NULL);
	/* a list summary carries only the status word and the exit code */
	if (json_is_string(st) || !s)
		s = json_string_value(st) ? json_string_value(st) : s;
	if (!s || !strcmp(s, "created"))
		return pl_xstrdup("Created");
	if (!strcmp(s, "removing"))
		return pl_xstrdup("Removal In Progress");
	if (!strcmp(s, "stopped")) {
		_cleanup_free_ char *d = human_duration(now - dk_unix_time(ci->state.finished_at));
		if (!ci->state.finished_at || !*ci->state.finished_at)
			return pl_xasprintf("Exited (%d)", ci->state.exit_code);
		return pl_xasprintf("Exited (%d) %s ago", ci->state.exit_code, d);
	}
	_cleanup_free_ char *d = human_duration(now - dk_unix_time(ci->state.started_at));
	if (!strcmp(s, "paused"))
		return pl_xasprintf("Up %s (Paused)", d);
	if (ci->state.health)
		return pl_xasprintf("Up %s (%s)", d, ci->state.health);
	return pl_xasprintf("Up %s", d);
}

static json_t *json_from_annotation(const pl_container_info_t *ci, const char *key)
{
	const char *s = dk_annotation(ci, key);
	if (!s)
		return NULL;
	return json_loads(s, JSON_DECODE_ANY, NULL);
}

/* Docker's "80/tcp": [{HostIp, HostPort}] map from the port layer's ports. */
static json_t *ports_map(const json_t *ports, bool bindings)
{
	json_t *m = json_object();
	size_t i;
	const json_t *p;
	json_array_foreach(ports, i, p)
	{
		const char *proto = json_string_value(json_object_get(p, "protocol"));
		_cleanup_free_ char *key = pl_xasprintf(
		    "%lld/%s", (long long)json_integer_value(json_object_get(p, "container_port")),
		    proto ? proto : "tcp");
		const char *hip = json_string_value(json_object_get(p, "host_ip"));
		char hport[16];
		snprintf(hport, sizeof(hport), "%lld",
			 (long long)json_integer_value(json_object_get(p, "host_port")));
		json_t *arr = json_object_get(m, key);
		if (!arr) {
			arr = json_array();
			json_object_set_new(m, key, arr);
		}
		json_array_append_new(arr,
				      json_pack("{s:s,s:s}", "HostIp",
						hip && *hip ? hip : (bindings ? "" : "0.0.0.0"),
						"HostPort", hport));
	}
	return m;
}

static json_t *docker_mounts(const json_t *mounts)
{
	json_t *a = json_array();
	size_t i;
	const json_t *m;
	json_array_foreach(mounts, i, m)
	{
		const char *type = json_string_value(json_object_get(m, "type"));
		const char *src = json_string_value(json_object_get(m, "source"));
		const char *dst = json_string_value(json_object_get(m, "target"));
		bool ro = json_is_true(json_object_get(m, "readonly"));
		json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:b,s:s}", "Type", type ? type : "volume",
				      "Source", src ? src : "", "Destination", dst ? dst : "",
				      "Mode", ro ? "ro" : "", "RW", !ro, "Propagation", "");
		if (type && !strcmp(type, "volume")) {
			json_object_set_new(o, "Name", json_string(src ? src : ""));
			json_object_set_new(o, "Driver", json_string("local"));
		} else {
			json_object_set_new(o, "Propagation", json_string("rprivate"));
		}
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *kv_array(const json_t *obj)
{
	return obj ? json_deep_copy(obj) : json_object();
}

/* An endpoint's Aliases as Docker shows them (API < 1.44): on a network other than the
 * default bridge the container's short id comes first (the port layer's DNS answers to it on
 * every scope). compose 1.29 reads it to tell a container it has connected already
 * (short_id_alias_exists) from one it must disconnect and connect again with its aliases. */
static json_t *endpoint_aliases(const json_t *raw, const char *scope, const json_t *aliases)
{
	const char *id = json_string_value(json_object_get(raw, "id"));
	if (!id || strlen(id) < 12 || !scope || !strcmp(scope, "bridge"))
		return aliases ? json_incref((json_t *)aliases) : json_null();
	char short_id[13];
	snprintf(short_id, sizeof(short_id), "%s", id);
	json_t *out = json_pack("[s]", short_id);
	size_t i;
	const json_t *a;
	json_array_foreach(aliases, i, a)
	{
		if (!json_is_string(a) || !strcmp(json_string_value(a), short_id))
			continue;
		json_array_append(out, (json_t *)a);
	}
	return out;
}

static json_t *network_settings(const json_t *raw)
{
	const json_t *net = json_object_get(raw, "network");
	const json_t *eps = json_object_get(net, "endpoints");
	json_t *networks = json_object();
	json_t *first = NULL;
	size_t i;
	const json_t *ep;
	json_array_foreach(eps, i, ep)
	{
		const char *scope = json_string_value(json_object_get(ep, "scope"));
		const char *ip = json_string_value(json_object_get(ep, "ip"));
		const char *gw = json_string_value(json_object_get(ep, "gateway"));
		const char *mac = json_string_value(json_object_get(ep, "mac"));
		json_t *aliases = endpoint_aliases(raw, scope, json_object_get(ep, "aliases"));
		json_t *o = json_pack(
		    "{s:n,s:n,s:o,s:s,s:s,s:s,s:s,s:i,s:s,s:i,s:s,s:s,s:n}", "IPAMConfig", "Links",
		    "Aliases", aliases, "NetworkID", scope ? scope : "", "EndpointID", "",
		    "Gateway", gw ? gw : "", "IPAddress", ip ? ip : "", "IPPrefixLen",
		    (int)json_integer_value(json_object_get(ep, "prefix_len")), "IPv6Gateway", "",
		    "GlobalIPv6PrefixLen", 0, "GlobalIPv6Address", "", "MacAddress", mac ? mac : "",
		    "DriverOpts");
		json_object_set_new(networks, scope ? scope : "bridge", o);
		if (!first)
			first = o;
	}
	json_t *ports = ports_map(json_object_get(net, "ports"), false);
	json_t *ns = json_pack("{s:s,s:s,s:b,s:n,s:o,s:s,s:o}", "Bridge", "", "SandboxID", "",
			       "HairpinMode", 0, "LinkLocalIPv6Address", "Ports", ports,
			       "SandboxKey", "", "Networks", networks);
	const char *keys[] = {"Gateway", "IPAddress", "MacAddress"};
	for (size_t k = 0; k < PL_ARRAY_SIZE(keys); k++) {
		const json_t *v = first ? json_object_get(first, keys[k]) : NULL;
		json_object_set_new(ns, keys[k], v ? json_incref((json_t *)v) : json_string(""));
	}
	json_object_set_new(ns, "EndpointID", json_string(""));
	json_object_set_new(ns, "GlobalIPv6Address", json_string(""));
	json_object_set_new(ns, "GlobalIPv6PrefixLen", json_integer(0));
	json_object_set_new(ns, "IPv6Gateway", json_string(""));
	json_object_set_new(ns, "LinkLocalIPv6PrefixLen", json_integer(0));
	json_object_set_new(ns, "SecondaryIPAddresses", json_null());
	json_object_set_new(ns, "SecondaryIPv6Addresses", json_null());
	json_object_set_new(
	    ns, "IPPrefixLen",
	    json_integer(first ? json_integer_value(json_object_get(first, "IPPrefixLen")) : 0));
	return ns;
}

json_t *dk_container_json(const pl_container_info_t *ci)
{
	const json_t *cfg = json_object_get(ci->raw, "config");
	const json_t *proc = json_object_get(cfg, "process");
	const json_t *st = json_object_get(ci->raw, "state");
	const char *status = dk_state_name(ci->state.status);
	bool running = !strcmp(status, "running") || !strcmp(status, "paused");

	json_t *state =
	    json_pack("{s:s,s:b,s:b,s:b,s:b,s:b,s:i,s:i,s:s,s:s,s:s}", "Status", status, "Running",
		      running, "Paused", !strcmp(status, "paused"), "Restarting", 0, "OOMKilled",
		      ci->state.oom_killed, "Dead", 0, "Pid", running ? ci->state.pid : 0,
		      "ExitCode", ci->state.has_exit_code ? ci->state.exit_code : 0, "Error",
		      ci->state.error ? ci->state.error : "", "StartedAt",
		      ci->state.started_at && *ci->state.started_at ? ci->state.started_at
								    : "0001-01-01T00:00:00Z",
		      "FinishedAt",
		      ci->state.finished_at && *ci->state.finished_at ? ci->state.finished_at
								      : "0001-01-01T00:00:00Z");
	const json_t *health = json_object_get(st, "health");
	if (health) {
		json_t *h =
		    json_pack("{s:O,s:O,s:[]}", "Status", json_object_get(health, "status"),
			      "FailingStreak", json_object_get(health, "failing_streak"), "Log");
		size_t i;
		const json_t *l;
		json_array_foreach(json_object_get(health, "log"), i, l) json_array_append_new(
		    json_object_get(h, "Log"),
		    json_pack("{s:O,s:O,s:O,s:O}", "Start", json_object_get(l, "start"), "End",
			      json_object_get(l, "end"), "ExitCode",
			      json_object_get(l, "exit_code"), "Output",
			      json_object_get(l, "output")));
		json_object_set_new(state, "Health", h);
	}

	json_t *args = json_object_get(proc, "args");
	const char *path = json_string_value(json_array_get(args, 0));
	json_t *rest = json_array();
	for (size_t i = 1; i < json_array_size(args); i++)
		json_array_append(rest, json_array_get(args, i));

	json_t *entry = json_from_annotation(ci, DK_ANN_ENTRYPOINT);
	json_t *cmd = json_from_annotation(ci, DK_ANN_CMD);
	if (!entry && !cmd) /* made without Docker: the whole argv is the command */
		cmd = args ? json_incref(args) : json_array();
	const char *image = dk_annotation(ci, DK_ANN_IMAGE);
	const char *user = json_string_value(json_object_get(proc, "user"));
	const char *cwd = json_string_value(json_object_get(proc, "cwd"));
	const char *hostname = json_string_value(json_object_get(cfg, "hostname"));
	const char *stop_signal = json_string_value(json_object_get(cfg, "stop_signal"));
	bool tty = json_is_true(json_object_get(proc, "tty"));
	bool open_stdin = json_is_true(json_object_get(proc, "stdin"));
	_cleanup_free_ char *sig =
	    stop_signal ? pl_xasprintf("SIG%s", stop_signal) : pl_xstrdup("SIGTERM");
	if (stop_signal && !strncmp(stop_signal, "SIG", 3)) {
		free(sig);
		sig = pl_xstrdup(stop_signal);
	}
	json_t *exposed = json_object();
	size_t i;
	const json_t *p;
	json_array_foreach(json_object_get(cfg, "ports"), i, p)
	{
		const char *proto = json_string_value(json_object_get(p, "protocol"));
		_cleanup_free_ char *key = pl_xasprintf(
		    "%lld/%s", (long long)json_integer_value(json_object_get(p, "container_port")),
		    proto ? proto : "tcp");
		json_object_set_new(exposed, key, json_object());
	}
	json_t *config = json_pack(
	    "{s:s,s:s,s:s,s:b,s:b,s:b,s:o,s:b,s:b,s:b,s:o,s:o,s:s,s:n,s:s,s:o,s:n,s:o,s:s}",
	    "Hostname",
	    hostname ? hostname
	    : ci->id ? ci->id
		     : "",
	    "Domainname", "", "User", user && strcmp(user, "0:0") ? user : "", "AttachStdin",
	    open_stdin, "AttachStdout", !open_stdin || 1, "AttachStderr", 1, "ExposedPorts",
	    exposed, "Tty", tty, "OpenStdin", open_stdin, "StdinOnce", open_stdin, "Env",
	    json_object_get(proc, "env") ? json_incref(json_object_get(proc, "env")) : json_array(),
	    "Cmd", cmd ? cmd : json_null(), "Image", image ? image : (ci->image ? ci->image : ""),
	    "Volumes", "WorkingDir", cwd && strcmp(cwd, "/") ? cwd : "", "Entrypoint",
	    entry ? entry : json_null(), "OnBuild", "Labels",
	    kv_array(json_object_get(cfg, "labels")), "StopSignal", sig);
	if (json_object_get(cfg, "stop_timeout"))
		json_object_set(config, "StopTimeout", json_object_get(cfg, "stop_timeout"));

	json_t *hc = json_from_annotation(ci, DK_ANN_HOSTCONFIG);
	if (!json_is_object(hc)) {
		if (hc)
			json_decref(hc);
		hc = json_object();
	}
	const char *nm = json_string_value(json_object_get(cfg, "network_mode"));
	if (!json_object_get(hc, "NetworkMode"))
		json_object_set_new(hc, "NetworkMode",
				    json_string(nm && !strcmp(nm, "bridge") ? "default"
						: nm			    ? nm
									    : "none"));
	json_object_set_new(hc, "PortBindings", ports_map(json_object_get(cfg, "ports"), true));
	const json_t *rp = json_object_get(cfg, "restart_policy");
	const char *rpn = json_string_value(json_object_get(rp, "name"));
	json_object_set_new(hc, "RestartPolicy",
			    json_pack("{s:s,s:i}", "Name", rpn && strcmp(rpn, "no") ? rpn : "no",
				      "MaximumRetryCount",
				      (int)json_integer_value(json_object_get(rp, "max_retries"))));
	const char *ar = dk_annotation(ci, DK_ANN_AUTOREMOVE);
	json_object_set_new(hc, "AutoRemove", json_boolean(ar && !strcmp(ar, "1")));
	const json_t *sec = json_object_get(cfg, "security");
	const json_t *res = json_object_get(cfg, "resources");
	json_object_set_new(hc, "Privileged",
			    json_boolean(json_is_true(json_object_get(sec, "privileged"))));
	json_object_set_new(hc, "ReadonlyRootfs",
			    json_boolean(json_is_true(json_object_get(sec, "read_only_rootfs"))));
	json_object_set_new(hc, "Memory",
			    json_integer(json_integer_value(json_object_get(res, "memory"))));
	/* the port layer keeps --cpus as quota over period */
	double cpus = json_number_value(json_object_get(res, "cpus"));
	json_int_t quota = json_integer_value(json_object_get(res, "cpu_quota"));
	json_int_t period = json_integer_value(json_object_get(res, "cpu_period"));
	if (cpus <= 0 && quota > 0 && period > 0)
		cpus = (double)quota / (double)period;
	json_object_set_new(hc, "NanoCpus", json_integer((json_int_t)(cpus * 1e9 + 0.5)));
	json_object_set_new(hc, "CpuQuota", json_integer(quota));
	json_object_set_new(hc, "CpuPeriod", json_integer(period));
	json_t *pids = json_object_get(res, "pids_limit");
	json_object_set_new(hc, "PidsLimit",
			    pids ? json_integer(json_integer_value(pids)) : json_null());
	/* the namespace modes as the port layer recorded them (container:<full id>) */
	const char *modes[][2] = {
	    {"IpcMode", "ipc_mode"}, {"PidMode", "pid_mode"}, {"UTSMode", "uts_mode"}};
	for (size_t m = 0; m < PL_ARRAY_SIZE(modes); m++) {
		const char *v = json_string_value(json_object_get(cfg, modes[m][1]));
		if (v && (strcmp(v, "private") || m == 0))
			json_object_set_new(hc, modes[m][0], json_string(v));
	}
	if (!json_object_get(hc, "Runtime"))
		json_object_set_new(hc, "Runtime", json_string("runc"));
	if (!json_object_get(hc, "LogConfig"))
		json_object_set_new(hc, "LogConfig",
				    json_pack("{s:s,s:{}}", "Type", "json-file", "Config"));

	json_t *id_image = json_string(ci->image ? ci->image : "");
	json_t *out = json_pack(
	    "{s:s,s:s,s:s,s:o,s:o,s:o,s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:s,s:s,s:s,s:n,s:o,s:o,"
	    "s:o,s:o,s:o}",
	    "Id", ci->id ? ci->id : "", "Created", ci->created ? ci->created : "", "Path",
	    path ? path : "", "Args", rest, "State", state, "Image", id_image, "ResolvConfPath", "",
	    "HostnamePath", "", "HostsPath", "", "LogPath", "", "RestartCount", 0, "Driver",
	    "overlay2", "Platform", "linux", "MountLabel", "", "ProcessLabel", "",
	    "AppArmorProfile", "", "ExecIDs", "HostConfig", hc, "Config", config, "GraphDriver",
	    json_pack("{s:s,s:{}}", "Name", "overlay2", "Data"), "Mounts",
	    docker_mounts(json_object_get(cfg, "mounts")), "NetworkSettings",
	    network_settings(ci->raw));
	_cleanup_free_ char *name = pl_xasprintf("/%s", ci->name ? ci->name : "");
	json_object_set_new(out, "Name", json_string(name));
	const json_t *lp = json_object_get(ci->raw, "log_path");
	if (!lp)
		lp = json_object_get(cfg, "log_path");
	if (lp)
		json_object_set(out, "LogPath", (json_t *)lp);
	return out;
}

/* The port layer's published ports as the Ports of a /containers/json entry. */
static json_t *ps_ports(const json_t *plist)
{
	json_t *ports = json_array();
	size_t i;
	const json_t *p;
	json_array_foreach(plist, i, p)
	{
		const char *proto = json_string_value(json_object_get(p, "protocol"));
		const char *hip = json_string_value(json_object_get(p, "host_ip"));
		json_t *o = json_pack("{s:I,s:s}", "PrivatePort",
				      json_integer_value(json_object_get(p, "container_port")),
				      "Type", proto ? proto : "tcp");
		json_int_t hp = json_integer_value(json_object_get(p, "host_port"));
		if (hp) {
			json_object_set_new(o, "PublicPort", json_integer(hp));
			json_object_set_new(o, "IP", json_string(hip && *hip ? hip : "0.0.0.0"));
		}
		json_array_append_new(ports, o);
	}
	return ports;
}

json_t *dk_container_summary(const pl_container_info_t *ci)
{
	const json_t *cfg = json_object_get(ci->raw, "config");
	_cleanup_free_ char *name = pl_xasprintf("/%s", ci->name ? ci->name : "");
	_cleanup_free_ char *status = dk_human_status(ci);
	/* the command as Docker shows it: the argv joined by spaces */
	size_t len = 0;
	for (char **a = ci->args; a && *a; a++)
		len += strlen(*a) + 1;
	_cleanup_free_ char *command = pl_xcalloc(len + 1, 1);
	for (char **a = ci->args; a && *a; a++) {
		if (a != ci->args)
			strcat(command, " ");
		strcat(command, *a);
	}
	const char *image = dk_annotation(ci, DK_ANN_IMAGE);
	const json_t *net = json_object_get(ci->raw, "network");
	json_t *ports =
	    ps_ports(net ? json_object_get(net, "ports") : json_object_get(cfg, "ports"));
	json_t *ns = network_settings(ci->raw);
	const char *nm = json_string_value(json_object_get(cfg, "network_mode"));
	json_t *out = json_pack(
	    "{s:s,s:[s],s:s,s:s,s:s,s:I,s:o,s:o,s:s,s:s,s:{s:s},s:{s:O},s:o}", "Id",
	    ci->id ? ci->id : "", "Names", name, "Image",
	    image ? image : (ci->image ? ci->image : ""), "ImageID", ci->image ? ci->image : "",
	    "Command", command, "Created", (json_int_t)dk_unix_time(ci->created), "Ports", ports,
	    "Labels", kv_array(json_object_get(cfg, "labels")), "State",
	    dk_state_name(ci->state.status), "Status", status, "HostConfig", "NetworkMode",
	    nm && !strcmp(nm, "bridge") ? "default" : (nm ? nm : "none"), "NetworkSettings",
	    "Networks", json_object_get(ns, "Networks"), "Mounts",
	    docker_mounts(json_object_get(cfg, "mounts")));
	json_decref(ns);
	return out;
}

/* Docker's /containers/json entry from a port layer list summary (no inspect). */
json_t *dk_summary_from_pl(const json_t *sum)
{
	const char *id = json_string_value(json_object_get(sum, "id"));
	const char *name = json_string_value(json_object_get(sum, "name"));
	_cleanup_free_ char *slash_name = pl_xasprintf("/%s", name ? name : "");
	size_t len = 0, i;
	const json_t *a;
	const json_t *args = json_object_get(sum, "args");
	json_array_foreach(args, i, a) len += strlen(json_string_value(a) ?: "") + 1;
	_cleanup_free_ char *command = pl_xcalloc(len + 1, 1);
	json_array_foreach(args, i, a)
	{
		if (i)
			strcat(command, " ");
		strcat(command, json_string_value(a) ?: "");
	}
	/* the image's first tag; Docker shows "busybox" for busybox:latest */
	const char *image = json_string_value(json_object_get(sum, "image"));
	_cleanup_free_ char *shown = pl_xstrdup(image ? image : "");
	size_t sl = strlen(shown);
	if (sl > 7 && !strcmp(shown + sl - 7, ":latest") && !strchr(shown, '@'))
		shown[sl - 7] = '\0';
	json_t *ports = ps_ports(json_object_get(sum, "ports"));
	json_t *networks = json_object();
	const char *k;
	const json_t *n;
	json_object_foreach((json_t *)json_object_get(sum, "networks"), k, n)
	{
		const char *ip = json_string_value(json_object_get(n, "ip"));
		const json_t *al = json_object_get(n, "aliases");
		json_object_set_new(networks, k,
				    json_pack("{s:s,s:s,s:O,s:s,s:s}", "NetworkID", k, "IPAddress",
					      ip ? ip : "", "Aliases", al ? al : json_null(),
					      "Gateway", "", "MacAddress", ""));
	}
	const char *nm = json_string_value(json_object_get(sum, "network_mode"));
	const char *state = json_string_value(json_object_get(sum, "state"));
	const char *status = json_string_value(json_object_get(sum, "status"));
	const char *img_id = json_string_value(json_object_get(sum, "image_id"));
	const char *created = json_string_value(json_object_get(sum, "created"));
	json_t *out = json_pack(
	    "{s:s,s:[s],s:s,s:s,s:s,s:I,s:o,s:o,s:s,s:s,s:{s:s},s:{s:o},s:o}", "Id", id ? id : "",
	    "Names", slash_name, "Image", shown, "ImageID", img_id ? img_id : "", "Command",
	    command, "Created", (json_int_t)dk_unix_time(created), "Ports", ports, "Labels",
	    kv_array(json_object_get(sum, "labels")), "State", dk_state_name(state), "Status",
	    status ? status : "", "HostConfig", "NetworkMode",
	    nm && !strcmp(nm, "bridge") ? "default" : (nm ? nm : "none"), "NetworkSettings",
	    "Networks", networks, "Mounts", docker_mounts(json_object_get(sum, "mounts")));
	if (json_object_get(sum, "size_rw"))
		json_object_set(out, "SizeRw", json_object_get(sum, "size_rw"));
	if (json_object_get(sum, "size_root_fs"))
		json_object_set(out, "SizeRootFs", json_object_get(sum, "size_root_fs"));
	return out;
}
