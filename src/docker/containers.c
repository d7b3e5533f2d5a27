/* SPDX-License-Identifier: Apache-2.0 */
#include "docker/docker.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A vector of strings built up for a spec; owns the strings. */
typedef struct strv {
	char **v;
	size_t n, cap;
} strv_t;

static void sv_add(strv_t *s, const char *str)
{
	if (s->n + 2 > s->cap) {
		s->cap = s->cap ? s->cap * 2 : 8;
		s->v = pl_xrealloc(s->v, s->cap * sizeof(char *));
	}
	s->v[s->n++] = pl_xstrdup(str);
	s->v[s->n] = NULL;
}

static void sv_add_json(strv_t *s, const json_t *arr)
{
	size_t i;
	const json_t *v;
	json_array_foreach(arr, i, v) if (json_is_string(v)) sv_add(s, json_string_value(v));
}

static void sv_free(strv_t *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

static const char *const *sv(const strv_t *s)
{
	return s->n ? (const char *const *)s->v : NULL;
}

/* Sets or replaces KEY=... in an env vector. */
static void env_set(strv_t *env, const char *kv)
{
	const char *eq = strchr(kv, '=');
	size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);
	for (size_t i = 0; i < env->n; i++)
		if (!strncmp(env->v[i], kv, klen) &&
		    (env->v[i][klen] == '=' || env->v[i][klen] == '\0')) {
			free(env->v[i]);
			env->v[i] = pl_xstrdup(kv);
			return;
		}
	sv_add(env, kv);
}

static json_int_t jint(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* Attach streams in progress, by container id: a fallback auto-remove waits for them so
 * it never removes a container whose output is still being read. */
static pthread_mutex_t attach_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t attach_cond = PTHREAD_COND_INITIALIZER;
static char *attaching[64];

static void attach_hold(const char *id)
{
	pthread_mutex_lock(&attach_lock);
	for (size_t i = 0; i < PL_ARRAY_SIZE(attaching); i++)
		if (!attaching[i]) {
			attaching[i] = pl_xstrdup(id);
			break;
		}
	pthread_mutex_unlock(&attach_lock);
}

static void attach_release(const char *id)
{
	pthread_mutex_lock(&attach_lock);
	for (size_t i = 0; i < PL_ARRAY_SIZE(attaching); i++)
		if (attaching[i] && !strcmp(attaching[i], id)) {
			free(attaching[i]);
			attaching[i] = NULL;
			break;
		}
	pthread_cond_broadcast(&attach_cond);
	pthread_mutex_unlock(&attach_lock);
}

static void attach_wait_none(const char *id)
{
	pthread_mutex_lock(&attach_lock);
	for (;;) {
		bool busy = false;
		for (size_t i = 0; i < PL_ARRAY_SIZE(attaching); i++)
			if (attaching[i] && !strcmp(attaching[i], id))
				busy = true;
		if (!busy)
			break;
		pthread_cond_wait(&attach_cond, &attach_lock);
	}
	pthread_mutex_unlock(&attach_lock);
}

static void reply_container_error(dk_job_t *j, const char *id, const pl_error_t *e)
{
	if (e->kind == PL_ERR_NOTFOUND && strstr(e->msg, "no such container")) {
		dk_job_reply_message(j, 404, "No such container: %s", id);
		return;
	}
	dk_reply_pl_error(j, e);
}

/* ---- create ---- */

static bool is_null_or_empty(const json_t *a)
{
	return !a || json_is_null(a) || (json_is_array(a) && json_array_size(a) == 0);
}

/* "busybox" -> "busybox:latest" (Docker's message names the normalised reference) */
static char *normalise_ref(const char *ref)
{
	const char *slash = strrchr(ref, '/');
	const char *last = slash ? slash + 1 : ref;
	if (strchr(last, ':') || strchr(ref, '@'))
		return pl_xstrdup(ref);
	return pl_xasprintf("%s:latest", ref);
}

typedef struct create_ctx {
	strv_t args, env, labels, annotations, cap_add, cap_drop, tmpfs, sysctls, dns, dns_search,
	    dns_options, extra_hosts, health, aliases_store;
	pl_port_spec_t ports[64];
	pl_mount_spec_t mounts[64];
	pl_net_spec_t nets[8];
	strv_t owned; /* strings the specs point into */
} create_ctx_t;

static const char *own(create_ctx_t *c, const char *s)
{
	sv_add(&c->owned, s);
	return c->owned.v[c->owned.n - 1];
}

static void create_ctx_free(create_ctx_t *c)
{
	strv_t *all[] = {&c->args,    &c->env,		 &c->labels,	  &c->annotations,
			 &c->cap_add, &c->cap_drop,	 &c->tmpfs,	  &c->sysctls,
			 &c->dns,     &c->dns_search,	 &c->dns_options, &c->extra_hosts,
			 &c->health,  &c->aliases_store, &c->owned};
	for (size_t i = 0; i < PL_ARRAY_SIZE(all); i++)
		sv_free(all[i]);
}

static void add_port(create_ctx_t *cx, pl_container_spec_t *s, const char *key, const char *host_ip,
		     const char *host_port)
{
	if (s->n_ports >= PL_ARRAY_SIZE(cx->ports))
		return;
	int port = atoi(key);
	if (port <= 0)
		return;
	const char *slash = strchr(key, '/');
	pl_port_spec_t *p = &cx->ports[s->n_ports++];
	p->container_port = port;
	p->protocol = slash && !strcmp(slash + 1, "udp") ? "udp" : NULL;
	p->host_ip = host_ip && *host_ip ? own(cx, host_ip) : NULL;
	p->host_port = host_port ? atoi(host_port) : 0;
}

static void add_mount(create_ctx_t *cx, pl_container_spec_t *s, const char *type, const char *src,
		      const char *dst, bool ro)
{
	if (s->n_mounts >= PL_ARRAY_SIZE(cx->mounts))
		return;
	pl_mount_spec_t *m = &cx->mounts[s->n_mounts++];
	m->type = type;
	m->source = src && *src ? own(cx, src) : NULL;
	m->target = own(cx, dst);
	m->readonly = ro;
}

static void kv_from_object(strv_t *out, const json_t *obj)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)obj, k, v)
	{
		_cleanup_free_ char *kv = pl_xasprintf("%s=%s", k, json_string_value(v) ?: "");
		sv_add(out, kv);
	}
}

/* Clears the spec field a daemon without it refused ("unknown field \"dns\""), so Docker
 * requests still work, degraded, against an older port layer. */
static bool drop_unknown_field(pl_container_spec_t *s, const char *msg)
{
	const char *p = strstr(msg, "unknown field \"");
	if (!p)
		return false;
	p += strlen("unknown field \"");
	const char *q = strchr(p, '"');
	if (!q)
		return false;
	_cleanup_free_ char *f = strndup(p, (size_t)(q - p));
	pl_log_info("dockerd: the port layer has no \"%s\" yet; creating without it", f);
	if (!strcmp(f, "auto_remove") && s->auto_remove)
		s->auto_remove = false;
	else if (!strcmp(f, "healthcheck") && s->healthcheck.test)
		s->healthcheck.test = NULL;
	else if (!strcmp(f, "dns") && s->dns)
		s->dns = NULL;
	else if (!strcmp(f, "dns_search") && s->dns_search)
		s->dns_search = NULL;
	else if (!strcmp(f, "dns_options") && s->dns_options)
		s->dns_options = NULL;
	else if (!strcmp(f, "extra_hosts") && s->extra_hosts)
		s->extra_hosts = NULL;
	else if (!strcmp(f, "domainname") && s->domainname)
		s->domainname = NULL;
	else if (s->extra && json_object_get(s->extra, f))
		json_object_del(s->extra, f);
	else
		return false;
	return true;
}

void dk_containers_create(dk_job_t *j)
{
	pl_client_t *c = dk_job_client(j);
	json_t *body = dk_job_body(j);
	if (!body) {
		dk_job_reply_message(j, 400,
				     "config cannot be empty in order to create a container");
		return;
	}
	const char *image = json_string_value(json_object_get(body, "Image"));
	if (!image || !*image) {
		dk_job_reply_message(j, 400, "No image specified");
		return;
	}
	_cleanup_error_ pl_error_t *err = NULL;
	pl_image_info_t *img = pl_image_inspect(c, image, &err);
	if (!img) {
		if (err->kind == PL_ERR_NOTFOUND) {
			_cleanup_free_ char *n = normalise_ref(image);
			dk_job_reply_message(j, 404, "No such image: %s", n);
		} else {
			dk_reply_pl_error(j, err);
		}
		return;
	}
	const json_t *icfg = json_object_get(img->config, "config");
	const json_t *hc = json_object_get(body, "HostConfig");
	const json_t *netcfg =
	    json_object_get(json_object_get(body, "NetworkingConfig"), "EndpointsConfig");

	create_ctx_t cx = {0};
	pl_container_spec_t s = {.stop_timeout = -1};
	const char *name = dk_job_query(j, "name");
	if (name && *name == '/')
		name++;
	s.name = name && *name ? name : NULL;
	s.image = img->id;

	/* Docker's argv: an entrypoint given resets the image's cmd */
	const json_t *entry = json_object_get(body, "Entrypoint");
	const json_t *cmd = json_object_get(body, "Cmd");
	if (json_is_string(entry)) {
		sv_add(&cx.args, "/bin/sh");
		sv_add(&cx.args, "-c");
		sv_add(&cx.args, json_string_value(entry));
	} else if (!is_null_or_empty(entry)) {
		sv_add_json(&cx.args, entry);
		if (!is_null_or_empty(cmd))
			sv_add_json(&cx.args, cmd);
	} else {
		sv_add_json(&cx.args, json_object_get(icfg, "Entrypoint"));
		sv_add_json(&cx.args, is_null_or_empty(cmd) ? json_object_get(icfg, "Cmd") : cmd);
	}
	/* an empty string entrypoint ([""]) clears it */
	while (cx.args.n && !*cx.args.v[0]) {
		free(cx.args.v[0]);
		memmove(cx.args.v, cx.args.v + 1, cx.args.n * sizeof(char *));
		cx.args.n--;
	}
	if (!cx.args.n) {
		pl_image_info_free(img);
		create_ctx_free(&cx);
		dk_job_reply_message(j, 400, "no command specified");
		return;
	}
	s.args = sv(&cx.args);
	sv_add_json(&cx.env, json_object_get(icfg, "Env"));
	size_t i;
	const json_t *v;
	json_array_foreach(json_object_get(body, "Env"), i, v) if (json_is_string(v))
	    env_set(&cx.env, json_string_value(v));
	s.env = sv(&cx.env);
	const char *wd = json_string_value(json_object_get(body, "WorkingDir"));
	if (!wd || !*wd)
		wd = json_string_value(json_object_get(icfg, "WorkingDir"));
	s.cwd = wd && *wd ? wd : NULL;
	const char *user = json_string_value(json_object_get(body, "User"));
	if (!user || !*user)
		user = json_string_value(json_object_get(icfg, "User"));
	s.user = user && *user ? user : NULL;
	s.tty = json_is_true(json_object_get(body, "Tty"));
	s.open_stdin = json_is_true(json_object_get(body, "OpenStdin"));
	const char *hn = json_string_value(json_object_get(body, "Hostname"));
	s.hostname = hn && *hn ? hn : NULL;
	const char *dn = json_string_value(json_object_get(body, "Domainname"));
	s.domainname = dn && *dn ? dn : NULL;
	const char *sig = json_string_value(json_object_get(body, "StopSignal"));
	if (!sig || !*sig)
		sig = json_string_value(json_object_get(icfg, "StopSignal"));
	s.stop_signal = sig && *sig ? sig : NULL;
	if (json_is_integer(json_object_get(body, "StopTimeout")))
		s.stop_timeout = (int)json_integer_value(json_object_get(body, "StopTimeout"));

	kv_from_object(&cx.labels, json_object_get(icfg, "Labels"));
	kv_from_object(&cx.labels, json_object_get(body, "Labels"));
	s.labels = sv(&cx.labels);

	/* what Docker's inspect shows and the port layer does not keep */
	_cleanup_free_ char *ann_image = pl_xasprintf(DK_ANN_IMAGE "=%s", image);
	sv_add(&cx.annotations, ann_image);
	const json_t *shown_entry =
	    !is_null_or_empty(entry) ? entry : json_object_get(icfg, "Entrypoint");
	_cleanup_free_ char *e_json = shown_entry && !json_is_null(shown_entry)
					  ? pl_json_dump(shown_entry)
					  : pl_xstrdup("null");
	_cleanup_free_ char *e_ann = pl_xasprintf(DK_ANN_ENTRYPOINT "=%s", e_json);
	sv_add(&cx.annotations, e_ann);
	const json_t *shown_cmd =
	    is_null_or_empty(entry) && is_null_or_empty(cmd) ? json_object_get(icfg, "Cmd") : cmd;
	_cleanup_free_ char *c_json = shown_cmd ? pl_json_dump(shown_cmd) : pl_xstrdup("null");
	_cleanup_free_ char *c_ann = pl_xasprintf(DK_ANN_CMD "=%s", c_json);
	sv_add(&cx.annotations, c_ann);
	if (hc) {
		_cleanup_free_ char *h_json = pl_json_dump(hc);
		_cleanup_free_ char *h_ann = pl_xasprintf(DK_ANN_HOSTCONFIG "=%s", h_json);
		sv_add(&cx.annotations, h_ann);
	}
	bool auto_remove = json_is_true(json_object_get(hc, "AutoRemove"));
	if (auto_remove)
		sv_add(&cx.annotations, DK_ANN_AUTOREMOVE "=1");
	s.annotations = sv(&cx.annotations);
	s.auto_remove = auto_remove;

	/* network */
	const char *nm = json_string_value(json_object_get(hc, "NetworkMode"));
	if (!nm || !*nm || !strcmp(nm, "default"))
		nm = "bridge";
	if (!strcmp(nm, "none") || !strcmp(nm, "host") || !strncmp(nm, "container:", 10)) {
		s.network_mode = nm;
	} else {
		s.network_mode = "bridge";
		pl_net_spec_t *n = &cx.nets[s.n_networks++];
		n->scope = nm;
		const json_t *ep = json_object_get(netcfg, nm);
		const char *ip = json_string_value(
		    json_object_get(json_object_get(ep, "IPAMConfig"), "IPv4Address"));
		n->ip = ip && *ip ? ip : NULL;
		const json_t *al = json_object_get(ep, "Aliases");
		if (json_array_size(al)) {
			sv_add_json(&cx.aliases_store, al);
			n->aliases = sv(&cx.aliases_store);
		}
		const char *k;
		json_t *pb;
		json_object_foreach((json_t *)json_object_get(hc, "PortBindings"), k, pb)
		{
			if (!json_array_size(pb))
				add_port(&cx, &s, k, NULL, NULL);
			json_array_foreach(pb, i, v)
			{
				const char *hp = json_string_value(json_object_get(v, "HostPort"));
				/* a range "8000-8001": its first port */
				add_port(&cx, &s, k,
					 json_string_value(json_object_get(v, "HostIp")), hp);
			}
		}
		if (json_is_true(json_object_get(hc, "PublishAllPorts"))) {
			json_t *ex;
			json_object_foreach((json_t *)json_object_get(body, "ExposedPorts"), k, ex)
			    add_port(&cx, &s, k, NULL, NULL);
		}
	}
	s.networks = cx.nets;
	s.ports = cx.ports;

	/* storage */
	json_array_foreach(json_object_get(hc, "Binds"), i, v)
	{
		_cleanup_free_ char *b = pl_xstrdup(json_string_value(v) ?: "");
		char *dst = strchr(b, ':');
		if (!dst)
			continue;
		*dst++ = '\0';
		char *opts = strchr(dst, ':');
		if (opts)
			*opts++ = '\0';
		bool ro = opts && strstr(opts, "ro");
		add_mount(&cx, &s, b[0] == '/' ? "bind" : "volume", b, dst, ro);
	}
	json_array_foreach(json_object_get(hc, "Mounts"), i, v)
	{
		const char *type = json_string_value(json_object_get(v, "Type"));
		const char *src = json_string_value(json_object_get(v, "Source"));
		const char *dst = json_string_value(json_object_get(v, "Target"));
		bool ro = json_is_true(json_object_get(v, "ReadOnly"));
		if (!dst)
			continue;
		if (type && !strcmp(type, "tmpfs")) {
			sv_add(&cx.tmpfs, dst);
			continue;
		}
		add_mount(&cx, &s, type && !strcmp(type, "bind") ? "bind" : "volume", src, dst, ro);
	}
	const char *k;
	json_t *ov;
	json_object_foreach((json_t *)json_object_get(body, "Volumes"), k, ov)
	{
		/* an image or config volume a bind or named volume already covers */
		bool covered = false;
		for (size_t m = 0; m < s.n_mounts; m++)
			if (!strcmp(cx.mounts[m].target, k))
				covered = true;
		if (!covered)
			add_mount(&cx, &s, "volume", NULL, k, false);
	}
	s.mounts = cx.mounts;
	json_object_foreach((json_t *)json_object_get(hc, "Tmpfs"), k, ov)
	{
		const char *o = json_string_value(ov);
		_cleanup_free_ char *t = o && *o ? pl_xasprintf("%s:%s", k, o) : pl_xstrdup(k);
		sv_add(&cx.tmpfs, t);
	}
	s.tmpfs = sv(&cx.tmpfs);

	/* isolation: people pick a VM runtime by name (--runtime=kata) or Windows' word */
	const char *runtime = json_string_value(json_object_get(hc, "Runtime"));
	const char *isolation = json_string_value(json_object_get(hc, "Isolation"));
	if ((runtime && (!strcmp(runtime, "kata") || !strcmp(runtime, "portlayer-vm"))) ||
	    (isolation && !strcmp(isolation, "hyperv")))
		s.kernel = "dedicated";
	else if (runtime && *runtime && strcmp(runtime, "runc")) {
		pl_image_info_free(img);
		create_ctx_free(&cx);
		dk_job_reply_message(j, 400, "unknown or invalid runtime name: %s", runtime);
		return;
	}

	/* security and resources */
	s.privileged = json_is_true(json_object_get(hc, "Privileged"));
	s.read_only = json_is_true(json_object_get(hc, "ReadonlyRootfs"));
	sv_add_json(&cx.cap_add, json_object_get(hc, "CapAdd"));
	sv_add_json(&cx.cap_drop, json_object_get(hc, "CapDrop"));
	s.cap_add = sv(&cx.cap_add);
	s.cap_drop = sv(&cx.cap_drop);
	kv_from_object(&cx.sysctls, json_object_get(hc, "Sysctls"));
	s.sysctls = sv(&cx.sysctls);
	s.memory = json_integer_value(json_object_get(hc, "Memory"));
	s.cpus = (double)json_integer_value(json_object_get(hc, "NanoCpus")) / 1e9;
	json_int_t pids = json_integer_value(json_object_get(hc, "PidsLimit"));
	s.pids_limit = pids > 0 ? pids : 0;
	s.cpu_shares = json_integer_value(json_object_get(hc, "CpuShares"));
	const json_t *rp = json_object_get(hc, "RestartPolicy");
	const char *rpn = json_string_value(json_object_get(rp, "Name"));
	s.restart_policy = rpn && *rpn ? rpn : NULL;
	s.restart_max_retries = (int)json_integer_value(json_object_get(rp, "MaximumRetryCount"));
	sv_add_json(&cx.dns, json_object_get(hc, "Dns"));
	sv_add_json(&cx.dns_search, json_object_get(hc, "DnsSearch"));
	sv_add_json(&cx.dns_options, json_object_get(hc, "DnsOptions"));
	sv_add_json(&cx.extra_hosts, json_object_get(hc, "ExtraHosts"));
	s.dns = sv(&cx.dns);
	s.dns_search = sv(&cx.dns_search);
	s.dns_options = sv(&cx.dns_options);
	s.extra_hosts = sv(&cx.extra_hosts);
	json_array_foreach(json_object_get(hc, "SecurityOpt"), i, v)
	{
		const char *o = json_string_value(v);
		if (o && (!strcmp(o, "no-new-privileges=false") ||
			  !strcmp(o, "no-new-privileges:false")))
			s.no_new_privileges_off = true;
	}
	const json_t *health = json_object_get(body, "Healthcheck");
	if (!health)
		health = json_object_get(icfg, "Healthcheck");
	if (json_array_size(json_object_get(health, "Test"))) {
		sv_add_json(&cx.health, json_object_get(health, "Test"));
		s.healthcheck.test = sv(&cx.health);
		s.healthcheck.interval =
		    (double)json_integer_value(json_object_get(health, "Interval")) / 1e9;
		s.healthcheck.timeout =
		    (double)json_integer_value(json_object_get(health, "Timeout")) / 1e9;
		s.healthcheck.start_period =
		    (double)json_integer_value(json_object_get(health, "StartPeriod")) / 1e9;
		s.healthcheck.retries = (int)json_integer_value(json_object_get(health, "Retries"));
	}

	/* namespaces and host resources (engine-b's primitives) */
	_cleanup_json_ json_t *extra = json_object();
	if (dk_host_fields(c, hc, extra, &err) < 0) {
		pl_image_info_free(img);
		create_ctx_free(&cx);
		dk_reply_pl_error(j, err);
		return;
	}
	s.extra = extra;

	_cleanup_free_ char *id = NULL;
	int r;
	for (int tries = 0; tries < 8; tries++) {
		pl_error_free(err);
		err = NULL;
		r = pl_container_create(c, &s, &id, &err);
		if (r >= 0 || err->kind != PL_ERR_INVALID || !drop_unknown_field(&s, err->msg))
			break;
	}
	pl_image_info_free(img);
	create_ctx_free(&cx);
	if (r < 0) {
		dk_reply_pl_error(j, err);
		return;
	}
	dk_job_reply_json(j, 201, json_pack("{s:s,s:[]}", "Id", id, "Warnings"));
}

/* ---- list, inspect ---- */

/* Docker's filters: {"key": {"value": true}} (or the old {"key": ["value"]}). */
static bool filter_values(const json_t *filters, const char *key, strv_t *out)
{
	const json_t *f = json_object_get(filters, key);
	if (!f)
		return false;
	if (json_is_array(f)) {
		sv_add_json(out, f);
	} else {
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)f, k, v) sv_add(out, k);
	}
	return true;
}

/* The port layer's list filters (TEAM.md, issue 17); health is matched here. */
static const char *const pl_filter_keys[] = {"label",	 "name",    "id",     "status",
					     "ancestor", "network", "volume", "exited"};

static bool health_match(const char *status, const char *want)
{
	if (!strcmp(want, "none"))
		return !strstr(status, "(health") && !strstr(status, "healthy)");
	if (!strcmp(want, "starting"))
		return strstr(status, "(health: starting)") != NULL;
	_cleanup_free_ char *w = pl_xasprintf("(%s)", want);
	return strstr(status, w) != NULL;
}

void dk_containers_list(dk_job_t *j)
{
	pl_client_t *c = dk_job_client(j);
	bool all = dk_job_query_bool(j, "all", false);
	bool size = dk_job_query_bool(j, "size", false);
	const char *ftext = dk_job_query(j, "filters");
	_cleanup_json_ json_t *filters = ftext && *ftext ? json_loads(ftext, 0, NULL) : NULL;
	if (ftext && *ftext && !json_is_object(filters)) {
		dk_job_reply_message(j, 400, "invalid filter '%s'", ftext);
		return;
	}
	const char *limit_s = dk_job_query(j, "limit");
	int limit = limit_s ? atoi(limit_s) : -1;
	if (limit == 0)
		limit = -1;
	_cleanup_json_ json_t *pl_filters = json_object();
	strv_t health = {0};
	bool health_on = false;
	const char *k;
	json_t *fv;
	json_object_foreach(filters, k, fv)
	{
		bool known = false;
		for (size_t i = 0; i < PL_ARRAY_SIZE(pl_filter_keys); i++)
			known |= !strcmp(k, pl_filter_keys[i]);
		if (known) {
			strv_t vals = {0};
			filter_values(filters, k, &vals);
			json_t *arr = json_array();
			for (size_t i = 0; i < vals.n; i++)
				json_array_append_new(arr, json_string(vals.v[i]));
			json_object_set_new(pl_filters, k, arr);
			sv_free(&vals);
		} else if (!strcmp(k, "health")) {
			health_on = filter_values(filters, k, &health);
		} else if (!strcmp(k, "before") || !strcmp(k, "since") || !strcmp(k, "publish") ||
			   !strcmp(k, "expose") || !strcmp(k, "is-task")) {
			/* matched here on the list */
		} else {
			sv_free(&health);
			dk_job_reply_message(j, 400, "invalid filter '%s'", k);
			return;
		}
	}
	/* Docker: a status filter or a limit (-n, -l) shows every state */
	if (json_object_get(pl_filters, "status") || limit > 0)
		all = true;
	_cleanup_free_ char *pf = json_object_size(pl_filters) ? pl_json_dump(pl_filters) : NULL;
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_json_ json_t *list = NULL;
	if (pl_container_summaries(c, all, size, pf, &list, &err) < 0) {
		sv_free(&health);
		dk_reply_list_error(j, err);
		return;
	}
	/* before=/since=: the list is in creation order; the named container bounds it */
	strv_t before = {0}, since = {0}, publish = {0}, expose = {0}, is_task = {0};
	filter_values(filters, "before", &before);
	filter_values(filters, "since", &since);
	filter_values(filters, "publish", &publish);
	filter_values(filters, "expose", &expose);
	filter_values(filters, "is-task", &is_task);
	size_t lo = 0, hi = json_array_size(list);
	for (size_t i = 0; i < json_array_size(list); i++) {
		const json_t *sum = json_array_get(list, i);
		const char *id = json_string_value(json_object_get(sum, "id")) ?: "";
		const char *nm = json_string_value(json_object_get(sum, "name")) ?: "";
		for (size_t b = 0; b < before.n; b++)
			if (!strcmp(nm, before.v[b]) ||
			    !strncmp(id, before.v[b], strlen(before.v[b])))
				hi = i < hi ? i : hi;
		for (size_t b = 0; b < since.n; b++)
			if (!strcmp(nm, since.v[b]) || !strncmp(id, since.v[b], strlen(since.v[b])))
				lo = i + 1 > lo ? i + 1 : lo;
	}
	bool tasks_only = is_task.n && !strcmp(is_task.v[0], "true");
	json_t *out = json_array();
	/* newest first, like Docker */
	for (size_t i = json_array_size(list); i-- > 0;) {
		const json_t *sum = json_array_get(list, i);
		if (i < lo || i >= hi || tasks_only) /* no swarm tasks here */
			continue;
		if (publish.n || expose.n) {
			bool pm = !publish.n, em = !expose.n;
			size_t pi;
			const json_t *p;
			json_array_foreach(json_object_get(sum, "ports"), pi, p)
			{
				const char *proto =
				    json_string_value(json_object_get(p, "protocol"));
				char hp[48], cp[48];
				snprintf(
				    hp, sizeof(hp), "%lld/%s",
				    (long long)json_integer_value(json_object_get(p, "host_port")),
				    proto ? proto : "tcp");
				snprintf(cp, sizeof(cp), "%lld/%s",
					 (long long)json_integer_value(
					     json_object_get(p, "container_port")),
					 proto ? proto : "tcp");
				for (size_t f = 0; f < publish.n; f++)
					pm |= !strcmp(publish.v[f], hp) ||
					      (!strchr(publish.v[f], '/') &&
					       !strncmp(hp, publish.v[f], strlen(publish.v[f])) &&
					       hp[strlen(publish.v[f])] == '/');
				for (size_t f = 0; f < expose.n; f++)
					em |= !strcmp(expose.v[f], cp) ||
					      (!strchr(expose.v[f], '/') &&
					       !strncmp(cp, expose.v[f], strlen(expose.v[f])) &&
					       cp[strlen(expose.v[f])] == '/');
			}
			if (!pm || !em)
				continue;
		}
		if (health_on) {
			const char *st = json_string_value(json_object_get(sum, "status")) ?: "";
			bool m = false;
			for (size_t h = 0; h < health.n; h++)
				m |= health_match(st, health.v[h]);
			if (!m)
				continue;
		}
		if (limit > 0 && (int)json_array_size(out) >= limit)
			break;
		json_array_append_new(out, dk_summary_from_pl(sum));
	}
	sv_free(&health);
	sv_free(&before);
	sv_free(&since);
	sv_free(&publish);
	sv_free(&expose);
	sv_free(&is_task);
	dk_job_reply_json(j, 200, out);
}

void dk_containers_inspect(dk_job_t *j)
{
	_cleanup_error_ pl_error_t *err = NULL;
	pl_container_info_t *ci = pl_container_inspect(dk_job_client(j), dk_job_param(j), &err);
	if (!ci) {
		reply_container_error(j, dk_job_param(j), err);
		return;
	}
	dk_job_reply_json(j, 200, dk_container_json(ci));
	pl_container_info_free(ci);
}

/* ---- lifecycle ---- */

/* Without the port layer's auto_remove, a container created with --rm is removed here
 * once it stops (lost if pl-dockerd restarts meanwhile). */
static void auto_remove_job(dk_job_t *j)
{
	pl_client_t *c = dk_job_client(j);
	pl_exit_status_t st = {0};
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_container_wait(c, dk_job_arg(j), NULL, &st, &err) < 0)
		return;
	pl_exit_status_clear(&st);
	attach_wait_none(dk_job_arg(j));
	pl_container_remove(c, dk_job_arg(j), true, NULL);
}

static bool wants_our_auto_remove(const pl_container_info_t *ci)
{
	const char *ar = dk_annotation(ci, DK_ANN_AUTOREMOVE);
	const json_t *cfg = json_object_get(ci->raw, "config");
	return ar && !strcmp(ar, "1") && !json_is_true(json_object_get(cfg, "auto_remove"));
}

void dk_containers_start(dk_job_t *j)
{
	pl_client_t *c = dk_job_client(j);
	_cleanup_error_ pl_error_t *err = NULL;
	bool already = false;
	if (pl_container_start(c, dk_job_param(j), &already, &err) < 0) {
		reply_container_error(j, dk_job_param(j), err);
		return;
	}
	if (!already) {
		pl_container_info_t *ci = pl_container_inspect(c, dk_job_param(j), NULL);
		if (ci && wants_our_auto_remove(ci))
			dk_job_background(dk_server, auto_remove_job, pl_xstrdup(ci->id));
		pl_container_info_free(ci);
	}
	dk_job_reply_empty(j, already ? 304 : 204);
}

static int stop_timeout(dk_job_t *j)
{
	const char *t = dk_job_query(j, "t");
	if (!t)
		t = dk_job_query(j, "timeout");
	return t && *t ? atoi(t) : -1;
}

void dk_containers_stop(dk_job_t *j)
{
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_container_stop(dk_job_client(j), dk_job_param(j), stop_timeout(j), &err) < 0) {
		reply_container_error(j, dk_job_param(j), err);
		return;
	}
	dk_job_reply_empty(j, 204);
}

void dk_containers_restart(dk_job_t *j)
{
	pl_client_t *c = dk_job_client(j);
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_container_stop(c, dk_job_param(j), stop_timeout(j), &err) < 0 ||
	    pl_container_start(c, dk_job_param(j), NULL, &err) < 0) {
		reply_container_error(j, dk_job_param(j), err);
		return;
	}
	dk_job_reply_empty(j, 204);
}

void dk_containers_kill(dk_job_t *j)
{
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_container_kill(dk_job_client(j), dk_job_param(j), dk_job_query(j, "signal"), &err) <
	    0) {
		if (err->kind == PL_ERR_CONFLICT)
			dk_job_reply_message(
			    j, 409, "Cannot kill container: %s: Container %s is not running",
			    dk_job_param(j), dk_job_param(j));
		else
			reply_container_error(j, dk_job_param(j), err);
		return;
	}
	dk_job_reply_empty(j, 204);
}

void dk_containers_pause(dk_job_t *j)
{
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_container_pause(dk_job_client(j), dk_job_param(j), &err) < 0) {
		reply_container_error(j, dk_job_param(j), err);
		return;
	}
	dk_job_reply_empty(j, 204);
}

void dk_containers_unpause(dk_job_t *j)
{
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_container_unpause(dk_job_client(j), dk_job_param(j), &err) < 0) {
		reply_container_error(j, dk_job_param(j), err);
		return;
	}
	dk_job_reply_empty(j, 204);
}

void dk_containers_rename(dk_job_t *j)
{
	const char *name = dk_job_query(j, "name");
	if (!name || !*name) {
		dk_job_reply_message(j, 400, "name is required");
		return;
	}
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_container_rename(dk_job_client(j), dk_job_param(j), name, &err) < 0) {
		reply_container_error(j, dk_job_param(j), err);
		return;
	}
	dk_job_reply_empty(j, 204);
}

void dk_containers_remove(dk_job_t *j)
{
	pl_client_t *c = dk_job_client(j);
	bool force = dk_job_query_bool(j, "force", false);
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_container_remove(c, dk_job_param(j), force, &err) < 0) {
		if (err->kind == PL_ERR_CONFLICT)
			dk_job_reply_message(
			    j, 409,
			    "cannot remove container \"/%s\": container is running: "
			    "stop the container before removing or force remove",
			    dk_job_param(j));
		else
			reply_container_error(j, dk_job_param(j), err);
		return;
	}
	dk_job_reply_empty(j, 204);
}

/* ---- wait ---- */

typedef struct wait_ctx {
	const char *id;
	bool want_destroy; /* condition=removed */
	bool saw_die, done;
	int exit_code;
} wait_ctx_t;

static int on_wait_event(const pl_event_t *ev, void *data)
{
	wait_ctx_t *w = data;
	if (!ev->type || strcmp(ev->type, "container") || !ev->id || strcmp(ev->id, w->id))
		return 0;
	if (ev->action && !strcmp(ev->action, "die")) {
		w->saw_die = true;
		w->exit_code =
		    (int)json_integer_value(json_object_get(ev->attributes, "exit_code"));
		if (!w->want_destroy) {
			w->done = true;
			return -ECANCELED;
		}
	}
	if (w->want_destroy && ev->action &&
	    (!strcmp(ev->action, "destroy") || !strcmp(ev->action, "remove"))) {
		w->done = true;
		return -ECANCELED;
	}
	return 0;
}

void dk_containers_wait(dk_job_t *j)
{
	pl_client_t *c = dk_job_client(j);
	const char *cond = dk_job_query(j, "condition");
	if (!cond || !*cond)
		cond = "not-running";
	if (strcmp(cond, "not-running") && strcmp(cond, "next-exit") && strcmp(cond, "removed")) {
		dk_job_reply_message(j, 400, "invalid condition: \"%s\"", cond);
		return;
	}
	/* the time before anything is answered: an exit after it is in the event journal, so
	 * a start racing this wait cannot be missed */
	char since[48];
	pl_time_format(pl_now_ns() - 1000000, since, sizeof(since));
	_cleanup_error_ pl_error_t *err = NULL;
	pl_container_info_t *ci = pl_container_inspect(c, dk_job_param(j), &err);
	if (!ci) {
		reply_container_error(j, dk_job_param(j), err);
		return;
	}
	/* Docker answers the head at once and the status when it comes */
	dk_job_stream(j, 200, "application/json");
	wait_ctx_t w = {.id = ci->id, .want_destroy = !strcmp(cond, "removed")};
	const char *st = ci->state.status ? ci->state.status : "";
	bool running = strcmp(st, "stopped") && strcmp(st, "created");
	if (!strcmp(cond, "not-running") && !running) {
		w.done = true;
		w.exit_code = ci->state.exit_code;
	} else if (w.want_destroy && !running && strcmp(st, "created")) {
		w.saw_die = true;
		w.exit_code = ci->state.exit_code;
	}
	if (!w.done) {
		if (w.want_destroy && wants_our_auto_remove(ci)) {
			/* no auto_remove in the port layer: wait for the exit, then remove */
			if (!w.saw_die) {
				wait_ctx_t d = {.id = ci->id};
				pl_events_stream(c, since, NULL, NULL, on_wait_event, &d, NULL);
				w.exit_code = d.exit_code;
			}
			attach_wait_none(ci->id);
			pl_container_remove(c, ci->id, true, NULL);
		} else {
			pl_events_stream(c, since, NULL, NULL, on_wait_event, &w, NULL);
		}
	}
	pl_container_info_free(ci);
	_cleanup_free_ char *out =
	    pl_xasprintf("{\"Error\":null,\"StatusCode\":%d}\n", w.exit_code);
	dk_job_write(j, out, strlen(out));
}

/* ---- logs ---- */

typedef struct fd_out {
	int fd;
} fd_out_t;

static int write_fd(const char *data, size_t len, void *userdata)
{
	fd_out_t *o = userdata;
	while (len) {
		ssize_t n = write(o->fd, data, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -EPIPE;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

typedef struct logs_ctx {
	dk_job_t *job; /* the streamed answer, or */
	fd_out_t *fd;  /* a hijacked connection */
	bool raw;      /* a tty container: Docker sends its log unframed */
	pl_demux_t demux;
} logs_ctx_t;

static int logs_write(logs_ctx_t *l, const char *data, size_t len)
{
	return l->fd ? write_fd(data, len, l->fd) : dk_job_write(l->job, data, len);
}

static int logs_raw_out(int stream, const char *data, size_t len, void *userdata)
{
	return logs_write(userdata, data, len);
}

static int logs_out(const char *data, size_t len, void *userdata)
{
	logs_ctx_t *l = userdata;
	if (l->raw)
		return pl_demux_feed(&l->demux, data, len);
	return logs_write(l, data, len);
}

void dk_containers_logs(dk_job_t *j)
{
	pl_client_t *c = dk_job_client(j);
	_cleanup_error_ pl_error_t *err = NULL;
	pl_container_info_t *ci = pl_container_inspect(c, dk_job_param(j), &err);
	if (!ci) {
		reply_container_error(j, dk_job_param(j), err);
		return;
	}
	bool want_out = dk_job_query_bool(j, "stdout", false);
	bool want_err = dk_job_query_bool(j, "stderr", false);
	if (!want_out && !want_err) {
		pl_container_info_free(ci);
		dk_job_reply_message(j, 400, "Bad parameters: you must choose at least one stream");
		return;
	}
	bool tty = json_is_true(
	    json_object_get(json_object_get(json_object_get(ci->raw, "config"), "process"), "tty"));
	pl_logs_opts_t o = {
	    .follow = dk_job_query_bool(j, "follow", false),
	    .timestamps = dk_job_query_bool(j, "timestamps", false),
	    .no_stdout = !want_out,
	    .no_stderr = !want_err,
	    .tail = dk_job_query(j, "tail"),
	};
	const char *since = dk_job_query(j, "since");
	const char *until = dk_job_query(j, "until");
	o.since = since && *since && strcmp(since, "0") ? since : NULL;
	o.until = until && *until && strcmp(until, "0") ? until : NULL;
	if (o.tail && (!*o.tail || !strcmp(o.tail, "all")))
		o.tail = NULL;
	dk_job_stream(j, 200,
		      tty ? "application/vnd.docker.raw-stream"
			  : "application/vnd.docker.multiplexed-stream");
	logs_ctx_t l = {.job = j, .raw = tty};
	pl_demux_init(&l.demux, logs_raw_out, &l);
	pl_container_logs(c, ci->id, &o, logs_out, &l, NULL);
	pl_container_info_free(ci);
}

/* ---- attach, resize ---- */

typedef struct start_ctx {
	const char *id;
	bool started, died;
} start_ctx_t;

static int on_start_event(const pl_event_t *ev, void *data)
{
	start_ctx_t *s = data;
	if (!ev->type || strcmp(ev->type, "container") || !ev->id || strcmp(ev->id, s->id))
		return 0;
	if (ev->action && !strcmp(ev->action, "start"))
		s->started = true;
	else if (ev->action && (!strcmp(ev->action, "die") || !strcmp(ev->action, "destroy") ||
				!strcmp(ev->action, "remove")))
		s->died = true;
	else
		return 0;
	return -ECANCELED;
}

void dk_containers_attach(dk_job_t *j)
{
	pl_client_t *c = dk_job_client(j);
	char since[48];
	pl_time_format(pl_now_ns() - 1000000, since, sizeof(since));
	_cleanup_error_ pl_error_t *err = NULL;
	pl_container_info_t *ci = pl_container_inspect(c, dk_job_param(j), &err);
	if (!ci) {
		reply_container_error(j, dk_job_param(j), err);
		return;
	}
	bool tty = json_is_true(
	    json_object_get(json_object_get(json_object_get(ci->raw, "config"), "process"), "tty"));
	pl_attach_opts_t o = {
	    .stream = dk_job_query_bool(j, "stream", false),
	    .stdin_ = dk_job_query_bool(j, "stdin", false),
	    .stdout_ = dk_job_query_bool(j, "stdout", false),
	    .stderr_ = dk_job_query_bool(j, "stderr", false),
	    .logs = dk_job_query_bool(j, "logs", false),
	    .detach_keys = dk_job_query(j, "detachKeys"),
	};
	if (o.detach_keys && !*o.detach_keys)
		o.detach_keys = NULL;
	pl_upgraded_t up = {.fd = -1};
	bool created = ci->state.status && !strcmp(ci->state.status, "created");
	attach_hold(ci->id);
	int r = pl_container_attach(c, ci->id, &o, &up, &err);
	_cleanup_free_ char *extra = NULL;
	size_t extra_len = 0;
	if (r < 0 && !(created && err->kind == PL_ERR_CONFLICT)) {
		reply_container_error(j, dk_job_param(j), err);
		attach_release(ci->id);
		pl_container_info_free(ci);
		return;
	}
	int fd = dk_job_upgrade(j,
				tty ? "application/vnd.docker.raw-stream"
				    : "application/vnd.docker.multiplexed-stream",
				&extra, &extra_len);
	if (fd < 0) {
		if (up.fd >= 0)
			close(up.fd);
		attach_release(ci->id);
		pl_container_info_free(ci);
		return;
	}
	if (r < 0) {
		/* The port layer cannot attach before start yet: wait for the start. Output
		 * only: follow the log from its first line, which ends when the container
		 * stops. With stdin: attach with the log so far once it runs. */
		pl_error_free(err);
		err = NULL;
		start_ctx_t s = {.id = ci->id};
		pl_events_stream(c, since, NULL, NULL, on_start_event, &s, NULL);
		o.logs = true;
		if (!o.stdin_ || !s.started || pl_container_attach(c, ci->id, &o, &up, NULL) < 0) {
			pl_logs_opts_t lo = {
			    .follow = true, .no_stdout = !o.stdout_, .no_stderr = !o.stderr_};
			fd_out_t out = {fd};
			logs_ctx_t l = {.raw = tty, .fd = &out};
			pl_demux_init(&l.demux, logs_raw_out, &l);
			pl_container_logs(c, ci->id, &lo, logs_out, &l, NULL);
			shutdown(fd, SHUT_WR);
			attach_release(ci->id);
			pl_container_info_free(ci);
			return;
		}
	}
	dk_pump(fd, extra, extra_len, up.fd, tty, o.detach_keys);
	close(up.fd);
	attach_release(ci->id);
	pl_container_info_free(ci);
}

static void dims(dk_job_t *j, int *h, int *w)
{
	const char *hs = dk_job_query(j, "h"), *ws = dk_job_query(j, "w");
	*h = hs ? atoi(hs) : 0;
	*w = ws ? atoi(ws) : 0;
}

void dk_containers_resize(dk_job_t *j)
{
	int h, w;
	dims(j, &h, &w);
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_container_resize(dk_job_client(j), dk_job_param(j), h, w, &err) < 0) {
		reply_container_error(j, dk_job_param(j), err);
		return;
	}
	dk_job_reply_empty(j, 200);
}

/* ---- top, stats ---- */

void dk_containers_top(dk_job_t *j)
{
	pl_process_info_t *procs = NULL;
	size_t n = 0;
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_container_top(dk_job_client(j), dk_job_param(j), &procs, &n, &err) < 0) {
		reply_container_error(j, dk_job_param(j), err);
		return;
	}
	json_t *rows = json_array();
	for (size_t i = 0; i < n; i++) {
		size_t len = 1;
		for (char **a = procs[i].args; a && *a; a++)
			len += strlen(*a) + 1;
		_cleanup_free_ char *cmd = pl_xcalloc(len, 1);
		for (char **a = procs[i].args; a && *a; a++) {
			if (a != procs[i].args)
				strcat(cmd, " ");
			strcat(cmd, *a);
		}
		char pid[16], t[32];
		snprintf(pid, sizeof(pid), "%d", procs[i].pid);
		int64_t s = procs[i].cpu_time_ms / 1000;
		snprintf(t, sizeof(t), "%02lld:%02lld:%02lld", (long long)(s / 3600),
			 (long long)(s / 60 % 60), (long long)(s % 60));
		json_array_append_new(rows, json_pack("[s,s,s,s,s]", procs[i].user ?: "root", pid,
						      procs[i].state ?: "", t, cmd));
	}
	pl_process_infos_free(procs, n);
	dk_job_reply_json(j, 200,
			  json_pack("{s:[s,s,s,s,s],s:o}", "Titles", "UID", "PID", "STAT", "TIME",
				    "CMD", "Processes", rows));
}

/* Docker's counters are unsigned: the port layer's -1 (unknown, unlimited) becomes 0 */
static json_int_t nonneg(json_int_t v)
{
	return v < 0 ? 0 : v;
}

static uint64_t system_cpu_ns(void)
{
	FILE *f = fopen("/proc/stat", "re");
	if (!f)
		return 0;
	unsigned long long v[8] = {0};
	int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		       &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	uint64_t sum = 0;
	for (int i = 0; i < n && i < 8; i++)
		sum += v[i];
	long hz = sysconf(_SC_CLK_TCK);
	return hz > 0 ? sum * (1000000000ull / (uint64_t)hz) : 0;
}

void dk_containers_stats(dk_job_t *j)
{
	pl_client_t *c = dk_job_client(j);
	_cleanup_error_ pl_error_t *err = NULL;
	pl_container_info_t *ci = pl_container_inspect(c, dk_job_param(j), &err);
	if (!ci) {
		reply_container_error(j, dk_job_param(j), err);
		return;
	}
	bool stream =
	    dk_job_query_bool(j, "stream", true) && !dk_job_query_bool(j, "one-shot", false);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	_cleanup_free_ char *name = pl_xasprintf("/%s", ci->name ? ci->name : "");
	json_t *prev = NULL;
	if (stream)
		dk_job_stream(j, 200, "application/json");
	for (;;) {
		_cleanup_json_ json_t *s = pl_container_stats(c, ci->id, NULL);
		json_t *cpu = json_pack(
		    "{s:{s:I,s:I,s:I},s:I,s:i,s:{s:i,s:i,s:i}}", "cpu_usage", "total_usage",
		    jint(json_object_get(s, "cpu"), "usage_ns"), "usage_in_kernelmode",
		    (json_int_t)0, "usage_in_usermode", (json_int_t)0, "system_cpu_usage",
		    (json_int_t)system_cpu_ns(), "online_cpus", (int)ncpu, "throttling_data",
		    "periods", 0, "throttled_periods", 0, "throttled_time", 0);
		json_int_t mlim = jint(json_object_get(s, "memory"), "limit");
		json_t *networks = json_object();
		const char *ifn;
		json_t *iv;
		json_object_foreach(json_object_get(s, "networks"), ifn, iv)
		{
			if (!strcmp(ifn, "lo"))
				continue;
			json_object_set_new(
			    networks, ifn,
			    json_pack("{s:I,s:I,s:I,s:i,s:I,s:I,s:I,s:i}", "rx_bytes",
				      jint(iv, "rx_bytes"), "rx_packets", jint(iv, "rx_packets"),
				      "rx_errors", jint(iv, "rx_errors"), "rx_dropped", 0,
				      "tx_bytes", jint(iv, "tx_bytes"), "tx_packets",
				      jint(iv, "tx_packets"), "tx_errors", jint(iv, "tx_errors"),
				      "tx_dropped", 0));
		}
		json_t *out = json_pack(
		    "{s:o,s:s,s:{s:I,s:I},s:{s:[]},s:i,s:{},s:o,s:o,s:{s:I,s:I,s:{}},s:s,s:s,s:o}",
		    "read",
		    json_object_get(s, "read") ? json_incref(json_object_get(s, "read"))
					       : json_string(""),
		    "preread", "0001-01-01T00:00:00Z", "pids_stats", "current",
		    jint(json_object_get(s, "pids"), "current"), "limit",
		    nonneg(jint(json_object_get(s, "pids"), "limit")), "blkio_stats",
		    "io_service_bytes_recursive", "num_procs", 0, "storage_stats", "cpu_stats", cpu,
		    "precpu_stats",
		    prev ? json_incref(prev)
			 : json_pack("{s:{s:i},s:i}", "cpu_usage", "total_usage", 0,
				     "system_cpu_usage", 0),
		    "memory_stats", "usage", nonneg(jint(json_object_get(s, "memory"), "usage")),
		    "limit",
		    mlim > 0 ? mlim : (json_int_t)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE),
		    "stats", "name", name, "id", ci->id, "networks", networks);
		if (prev)
			json_decref(prev);
		prev = json_incref(json_object_get(out, "cpu_stats"));
		if (!stream) {
			json_decref(prev);
			dk_job_reply_json(j, 200, out);
			break;
		}
		char *line = pl_json_dump(out);
		json_decref(out);
		int w = dk_job_write(j, line, strlen(line));
		if (w >= 0)
			w = dk_job_write(j, "\n", 1);
		free(line);
		if (w < 0 || !s) {
			json_decref(prev);
			break;
		}
		sleep(1);
	}
	pl_container_info_free(ci);
}

/* ---- exec ---- */

void dk_exec_create(dk_job_t *j)
{
	json_t *body = dk_job_body(j);
	if (!body || !json_array_size(json_object_get(body, "Cmd"))) {
		dk_job_reply_message(j, 400, "No exec command specified");
		return;
	}
	strv_t args = {0}, env = {0};
	sv_add_json(&args, json_object_get(body, "Cmd"));
	sv_add_json(&env, json_object_get(body, "Env"));
	const char *user = json_string_value(json_object_get(body, "User"));
	const char *wd = json_string_value(json_object_get(body, "WorkingDir"));
	pl_exec_spec_t s = {
	    .args = sv(&args),
	    .env = sv(&env),
	    .user = user && *user ? user : NULL,
	    .cwd = wd && *wd ? wd : NULL,
	    .tty = json_is_true(json_object_get(body, "Tty")),
	    .open_stdin = json_is_true(json_object_get(body, "AttachStdin")),
	};
	_cleanup_free_ char *id = NULL;
	_cleanup_error_ pl_error_t *err = NULL;
	int r = pl_exec_create(dk_job_client(j), dk_job_param(j), &s, &id, &err);
	sv_free(&args);
	sv_free(&env);
	if (r < 0) {
		if (err->kind == PL_ERR_CONFLICT)
			dk_job_reply_message(j, 409, "container %s is not running",
					     dk_job_param(j));
		else
			reply_container_error(j, dk_job_param(j), err);
		return;
	}
	dk_job_reply_json(j, 201, json_pack("{s:s}", "Id", id));
}

void dk_exec_start(dk_job_t *j)
{
	pl_client_t *c = dk_job_client(j);
	json_t *body = dk_job_body(j);
	_cleanup_error_ pl_error_t *err = NULL;
	if (json_is_true(json_object_get(body, "Detach"))) {
		if (pl_exec_start_detached(c, dk_job_param(j), &err) < 0) {
			dk_reply_pl_error(j, err);
			return;
		}
		dk_job_reply_empty(j, 200);
		return;
	}
	pl_exec_info_t *ei = pl_exec_inspect(c, dk_job_param(j), &err);
	if (!ei) {
		dk_reply_missing(j, err, "No such exec instance: %s", dk_job_param(j));
		return;
	}
	if (ei->state && strcmp(ei->state, "created") != 0) {
		dk_job_reply_message(j, 409, "exec %s has already started", dk_job_param(j));
		pl_exec_info_free(ei);
		return;
	}
	/* The 101 goes out before the process starts (as Docker does): output the process
	 * writes at once then never shares a read with the answer's head, which clients that
	 * read the head through a buffered HTTP parser (docker-py) would lose. */
	_cleanup_free_ char *extra = NULL;
	size_t extra_len = 0;
	int fd = dk_job_upgrade(j,
				ei->tty ? "application/vnd.docker.raw-stream"
					: "application/vnd.docker.multiplexed-stream",
				&extra, &extra_len);
	pl_upgraded_t up = {.fd = -1};
	if (fd >= 0 &&
	    pl_exec_start_attached(c, ei->id ? ei->id : dk_job_param(j), NULL, &up, &err) < 0) {
		/* the head is out: Docker writes such an error into the stream */
		_cleanup_free_ char *msg = pl_xasprintf("Error: %s\r\n", err->msg);
		fd_out_t out = {fd};
		write_fd(msg, strlen(msg), &out);
		shutdown(fd, SHUT_WR);
	} else if (fd >= 0) {
		dk_pump(fd, extra, extra_len, up.fd, ei->tty, NULL);
		/* the exit code must be there when the CLI inspects next */
		_cleanup_free_ char *path = pl_xasprintf("/exec/%s/wait", dk_job_param(j));
		_cleanup_json_ json_t *resp = NULL;
		pl_client_request(c, "POST", path, NULL, NULL, &resp, NULL);
	}
	if (up.fd >= 0)
		close(up.fd);
	pl_exec_info_free(ei);
}

void dk_exec_inspect(dk_job_t *j)
{
	_cleanup_error_ pl_error_t *err = NULL;
	pl_exec_info_t *e = pl_exec_inspect(dk_job_client(j), dk_job_param(j), &err);
	if (!e) {
		dk_reply_missing(j, err, "No such exec instance: %s", dk_job_param(j));
		return;
	}
	bool running = e->state && !strcmp(e->state, "running");
	json_t *rest = json_array();
	for (size_t i = 1; e->args && e->args[0] && e->args[i]; i++)
		json_array_append_new(rest, json_string(e->args[i]));
	json_t *out =
	    json_pack("{s:s,s:b,s:o,s:{s:b,s:s,s:o,s:b,s:s},s:b,s:b,s:b,s:b,s:s,s:s,s:i}", "ID",
		      e->id ? e->id : dk_job_param(j), "Running", running, "ExitCode",
		      e->has_exit_code ? json_integer(e->exit_code) : json_null(), "ProcessConfig",
		      "tty", e->tty, "entrypoint", e->args && e->args[0] ? e->args[0] : "",
		      "arguments", rest, "privileged", 0, "user", "", "OpenStdin", e->open_stdin,
		      "OpenStderr", 1, "OpenStdout", 1, "CanRemove", 0, "ContainerID",
		      e->container_id ? e->container_id : "", "DetachKeys", "", "Pid", e->pid);
	pl_exec_info_free(e);
	dk_job_reply_json(j, 200, out);
}

void dk_exec_resize(dk_job_t *j)
{
	int h, w;
	dims(j, &h, &w);
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_exec_resize(dk_job_client(j), dk_job_param(j), h, w, &err) < 0) {
		dk_reply_pl_error(j, err);
		return;
	}
	dk_job_reply_empty(j, 200);
}
