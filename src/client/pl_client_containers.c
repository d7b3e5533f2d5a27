/* SPDX-License-Identifier: Apache-2.0 */
#include "client/portlayer-client.h"
#include "client/pl_client_util.h"
#include "common/cleanup.h"
#include "common/json.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void set_new(json_t *obj, const char *key, json_t *v)
{
	if (v)
		json_object_set_new(obj, key, v);
}

static void set_str(json_t *obj, const char *key, const char *s)
{
	if (s && *s)
		json_object_set_new(obj, key, json_string(s));
}

static json_t *tmpfs_json(const char *const *v)
{
	if (!v)
		return NULL;
	json_t *o = json_object();
	for (; *v; v++) {
		const char *colon = strchr(*v, ':');
		_cleanup_free_ char *k = colon ? strndup(*v, (size_t)(colon - *v)) : pl_xstrdup(*v);
		json_object_set_new(o, k, json_string(colon ? colon + 1 : ""));
	}
	return o;
}

json_t *pl_container_spec_json(const pl_container_spec_t *s)
{
	json_t *b = json_object();
	set_str(b, "name", s->name);
	set_str(b, "image", s->image);
	set_str(b, "rootfs", s->rootfs);
	set_str(b, "hostname", s->hostname);
	set_str(b, "domainname", s->domainname);
	if (s->kernel && *s->kernel)
		json_object_set_new(b, "isolation", json_pack("{s:s}", "kernel", s->kernel));
	if (s->args || s->env || s->cwd || s->user || s->tty || s->open_stdin) {
		json_t *p = json_object();
		set_new(p, "args", pl_cj_strv(s->args));
		set_new(p, "env", pl_cj_strv(s->env));
		set_str(p, "cwd", s->cwd);
		set_str(p, "user", s->user);
		if (s->tty)
			json_object_set_new(p, "tty", json_true());
		if (s->open_stdin)
			json_object_set_new(p, "stdin", json_true());
		json_object_set_new(b, "process", p);
	}
	set_new(b, "labels", pl_cj_kv(s->labels));
	set_new(b, "annotations", pl_cj_kv(s->annotations));
	if (s->restart_policy && *s->restart_policy) {
		json_t *rp = json_pack("{s:s}", "name", s->restart_policy);
		if (s->restart_max_retries > 0)
			json_object_set_new(rp, "max_retries",
					    json_integer(s->restart_max_retries));
		json_object_set_new(b, "restart_policy", rp);
	}
	set_str(b, "stop_signal", s->stop_signal);
	if (s->stop_timeout >= 0)
		json_object_set_new(b, "stop_timeout", json_integer(s->stop_timeout));
	if (s->auto_remove)
		json_object_set_new(b, "auto_remove", json_true());
	set_str(b, "network_mode", s->network_mode);
	if (s->n_networks) {
		json_t *a = json_array();
		for (size_t i = 0; i < s->n_networks; i++) {
			json_t *n = json_pack("{s:s}", "scope", s->networks[i].scope);
			set_str(n, "ip", s->networks[i].ip);
			set_new(n, "aliases", pl_cj_strv(s->networks[i].aliases));
			json_array_append_new(a, n);
		}
		json_object_set_new(b, "networks", a);
	}
	if (s->n_ports) {
		json_t *a = json_array();
		for (size_t i = 0; i < s->n_ports; i++) {
			const pl_port_spec_t *p = &s->ports[i];
			json_t *o = json_pack("{s:i}", "container_port", p->container_port);
			if (p->host_port)
				json_object_set_new(o, "host_port", json_integer(p->host_port));
			set_str(o, "protocol", p->protocol);
			set_str(o, "host_ip", p->host_ip);
			json_array_append_new(a, o);
		}
		json_object_set_new(b, "ports", a);
	}
	if (s->n_mounts) {
		json_t *a = json_array();
		for (size_t i = 0; i < s->n_mounts; i++) {
			const pl_mount_spec_t *m = &s->mounts[i];
			json_t *o = json_pack("{s:s,s:s}", "type", m->type, "target", m->target);
			set_str(o, "source", m->source);
			if (m->readonly)
				json_object_set_new(o, "readonly", json_true());
			json_array_append_new(a, o);
		}
		json_object_set_new(b, "mounts", a);
	}
	json_t *sec = json_object();
	if (s->privileged)
		json_object_set_new(sec, "privileged", json_true());
	if (s->read_only)
		json_object_set_new(sec, "read_only_rootfs", json_true());
	if (s->no_new_privileges_off)
		json_object_set_new(sec, "no_new_privileges", json_false());
	set_new(sec, "cap_add", pl_cj_strv(s->cap_add));
	set_new(sec, "cap_drop", pl_cj_strv(s->cap_drop));
	set_new(sec, "tmpfs", tmpfs_json(s->tmpfs));
	set_new(sec, "sysctls", pl_cj_kv(s->sysctls));
	if (json_object_size(sec))
		json_object_set_new(b, "security", sec);
	else
		json_decref(sec);
	json_t *res = json_object();
	if (s->memory)
		json_object_set_new(res, "memory", json_integer(s->memory));
	if (s->pids_limit)
		json_object_set_new(res, "pids_limit", json_integer(s->pids_limit));
	if (s->cpu_shares)
		json_object_set_new(res, "cpu_shares", json_integer(s->cpu_shares));
	if (s->cpus > 0)
		json_object_set_new(res, "cpus", json_real(s->cpus));
	if (json_object_size(res))
		json_object_set_new(b, "resources", res);
	else
		json_decref(res);
	set_new(b, "dns", pl_cj_strv(s->dns));
	set_new(b, "dns_search", pl_cj_strv(s->dns_search));
	set_new(b, "dns_options", pl_cj_strv(s->dns_options));
	set_new(b, "extra_hosts", pl_cj_strv(s->extra_hosts));
	if (s->healthcheck.test) {
		json_t *h = json_pack("{s:o}", "test", pl_cj_strv(s->healthcheck.test));
		if (s->healthcheck.interval > 0)
			json_object_set_new(h, "interval", json_real(s->healthcheck.interval));
		if (s->healthcheck.timeout > 0)
			json_object_set_new(h, "timeout", json_real(s->healthcheck.timeout));
		if (s->healthcheck.start_period > 0)
			json_object_set_new(h, "start_period",
					    json_real(s->healthcheck.start_period));
		if (s->healthcheck.retries > 0)
			json_object_set_new(h, "retries", json_integer(s->healthcheck.retries));
		json_object_set_new(b, "healthcheck", h);
	}
	if (s->extra)
		json_object_update(b, s->extra);
	return b;
}

static int create(pl_client_t *c, const pl_container_spec_t *spec, bool start, char **id_out,
		  pl_error_t **err)
{
	_cleanup_json_ json_t *body = pl_container_spec_json(spec);
	if (start)
		json_object_set_new(body, "start", json_true());
	_cleanup_json_ json_t *resp = NULL;
	if (pl_client_request(c, "POST", "/containers", body, NULL, &resp, err) < 0)
		return -1;
	char *id = pl_cj_str(resp, "id");
	if (!id)
		return pl_error_set(err, PL_ERR_INTERNAL, 0, "create answer without an id");
	*id_out = id;
	return 0;
}

int pl_container_create(pl_client_t *c, const pl_container_spec_t *spec, char **id_out,
			pl_error_t **err)
{
	return create(c, spec, false, id_out, err);
}

int pl_container_create_started(pl_client_t *c, const pl_container_spec_t *spec, char **id_out,
				pl_error_t **err)
{
	return create(c, spec, true, id_out, err);
}

static void state_from_json(pl_container_state_t *st, const json_t *s)
{
	st->status = pl_cj_str(s, "status");
	st->oom_killed = json_is_true(json_object_get(s, "oom_killed"));
	st->pid = (int)pl_cj_int(s, "pid", 0);
	const json_t *ec = json_object_get(s, "exit_code");
	st->has_exit_code = json_is_integer(ec);
	st->exit_code = (int)json_integer_value(ec);
	st->error = pl_cj_str(s, "error");
	st->started_at = pl_cj_str(s, "started_at");
	st->finished_at = pl_cj_str(s, "finished_at");
	st->health = pl_cj_str(json_object_get(s, "health"), "status");
}

/* From an inspect answer ({config:{process:..}, state:{..}}) or a list summary
 * ({state: "running", exit_code, args}). */
static pl_container_info_t *info_from_json(json_t *j)
{
	pl_container_info_t *ci = pl_xcalloc(1, sizeof(*ci));
	ci->raw = json_incref(j);
	ci->id = pl_cj_str(j, "id");
	ci->name = pl_cj_str(j, "name");
	ci->created = pl_cj_str(j, "created");
	ci->mechanism = pl_cj_str(j, "mechanism");
	const json_t *cfg = json_object_get(j, "config");
	const json_t *st = json_object_get(j, "state");
	if (cfg) {
		ci->image = pl_cj_str(cfg, "image");
		const json_t *process = json_object_get(cfg, "process");
		ci->args = pl_strv_from_json(json_object_get(process, "args"));
		ci->tty = json_is_true(json_object_get(process, "tty"));
		ci->open_stdin = json_is_true(json_object_get(process, "stdin"));
	} else {
		ci->image = pl_cj_str(j, "image");
		ci->args = pl_strv_from_json(json_object_get(j, "args"));
	}
	if (json_is_object(st)) {
		state_from_json(&ci->state, st);
	} else {
		ci->state.status = pl_cj_str(j, "state");
		const json_t *ec = json_object_get(j, "exit_code");
		ci->state.has_exit_code = json_is_integer(ec);
		ci->state.exit_code = (int)json_integer_value(ec);
	}
	return ci;
}

pl_container_info_t *pl_container_info_free(pl_container_info_t *ci)
{
	if (!ci)
		return NULL;
	free(ci->id);
	free(ci->name);
	free(ci->created);
	free(ci->image);
	free(ci->mechanism);
	pl_strv_free(ci->args);
	free(ci->state.status);
	free(ci->state.error);
	free(ci->state.started_at);
	free(ci->state.finished_at);
	free(ci->state.health);
	if (ci->raw)
		json_decref(ci->raw);
	free(ci);
	return NULL;
}

void pl_container_infos_free(pl_container_info_t **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		pl_container_info_free(v[i]);
	free(v);
}

pl_container_info_t *pl_container_inspect(pl_client_t *c, const char *id, pl_error_t **err)
{
	_cleanup_free_ char *path = pl_cj_path(c, "/containers", id, NULL);
	_cleanup_json_ json_t *resp = NULL;
	if (pl_client_request(c, "GET", path, NULL, NULL, &resp, err) < 0)
		return NULL;
	return info_from_json(resp);
}

int pl_container_summaries(pl_client_t *c, bool all, bool size, const char *filters, json_t **out,
			   pl_error_t **err)
{
	_cleanup_free_ char *path = pl_xstrdup("/containers");
	pl_client_add_query(c, &path, "all", all ? "1" : "0");
	if (size)
		pl_client_add_query(c, &path, "size", "1");
	if (filters && *filters)
		pl_client_add_query(c, &path, "filters", filters);
	json_t *resp = NULL;
	if (pl_client_request(c, "GET", path, NULL, NULL, &resp, err) < 0)
		return -1;
	if (!json_is_array(resp)) {
		json_decref(resp);
		resp = json_array();
	}
	*out = resp;
	return 0;
}

int pl_container_list(pl_client_t *c, bool all, const char *filters, pl_container_info_t ***out,
		      size_t *n, pl_error_t **err)
{
	_cleanup_free_ char *path = pl_xstrdup("/containers");
	pl_client_add_query(c, &path, "all", all ? "1" : "0");
	if (filters && *filters)
		pl_client_add_query(c, &path, "filters", filters);
	_cleanup_json_ json_t *resp = NULL;
	if (pl_client_request(c, "GET", path, NULL, NULL, &resp, err) < 0)
		return -1;
	size_t count = json_array_size(resp);
	pl_container_info_t **v = pl_xcalloc(count + 1, sizeof(*v));
	for (size_t i = 0; i < count; i++)
		v[i] = info_from_json(json_array_get(resp, i));
	*out = v;
	*n = count;
	return 0;
}

int pl_container_start(pl_client_t *c, const char *id, bool *already, pl_error_t **err)
{
	_cleanup_free_ char *path = pl_cj_path(c, "/containers", id, "/start");
	long status = 0;
	_cleanup_json_ json_t *resp = NULL;
	if (pl_client_request(c, "POST", path, NULL, &status, &resp, err) < 0)
		return -1;
	if (already)
		*already = status == 304;
	return 0;
}

int pl_container_stop(pl_client_t *c, const char *id, int timeout, pl_error_t **err)
{
	char *path = pl_cj_path(c, "/containers", id, "/stop");
	if (timeout >= 0) {
		char t[24];
		snprintf(t, sizeof(t), "%d", timeout);
		pl_client_add_query(c, &path, "timeout", t);
	}
	return pl_cj_call(c, "POST", path, err);
}

int pl_container_kill(pl_client_t *c, const char *id, const char *signal, pl_error_t **err)
{
	char *path = pl_cj_path(c, "/containers", id, "/kill");
	if (signal && *signal)
		pl_client_add_query(c, &path, "signal", signal);
	return pl_cj_call(c, "POST", path, err);
}

int pl_container_pause(pl_client_t *c, const char *id, pl_error_t **err)
{
	return pl_cj_call(c, "POST", pl_cj_path(c, "/containers", id, "/pause"), err);
}

int pl_container_unpause(pl_client_t *c, const char *id, pl_error_t **err)
{
	return pl_cj_call(c, "POST", pl_cj_path(c, "/containers", id, "/unpause"), err);
}

int pl_container_remove(pl_client_t *c, const char *id, bool force, pl_error_t **err)
{
	char *path = pl_cj_path(c, "/containers", id, NULL);
	if (force)
		pl_client_add_query(c, &path, "force", "1");
	return pl_cj_call(c, "DELETE", path, err);
}

/* GET the container's handle, stage the changes in order, commit them as one. */
static int handle_changes(pl_client_t *c, const char *id, const char *const *ops,
			  json_t *const *args, size_t n, pl_error_t **err)
{
	_cleanup_free_ char *path = pl_cj_path(c, "/containers", id, "/handle");
	_cleanup_json_ json_t *h = NULL;
	if (pl_client_request(c, "GET", path, NULL, NULL, &h, err) < 0)
		return -1;
	const char *t = json_string_value(json_object_get(h, "handle"));
	if (!t)
		return pl_error_set(err, PL_ERR_INTERNAL, 0, "handle answer without a handle");
	_cleanup_free_ char *token = pl_xstrdup(t);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *suffix = pl_xasprintf("/%s", ops[i]);
		_cleanup_free_ char *op_path = pl_cj_path(c, "/handles", token, suffix);
		_cleanup_json_ json_t *staged = NULL;
		if (pl_client_request(c, "POST", op_path, args[i], NULL, &staged, err) < 0)
			return -1;
		const char *t2 = json_string_value(json_object_get(staged, "handle"));
		if (t2) {
			free(token);
			token = pl_xstrdup(t2);
		}
	}
	_cleanup_free_ char *commit = pl_cj_path(c, "/handles", token, "/commit");
	_cleanup_json_ json_t *done = NULL;
	return pl_client_request(c, "POST", commit, NULL, NULL, &done, err);
}

int pl_container_rename(pl_client_t *c, const char *id, const char *name, pl_error_t **err)
{
	_cleanup_json_ json_t *arg = json_pack("{s:s}", "name", name);
	const char *op = "rename";
	return handle_changes(c, id, &op, &arg, 1, err);
}

int pl_container_network_change(pl_client_t *c, const char *id, bool connect, const char *network,
				const char *ip, const char *const *aliases, pl_error_t **err)
{
	_cleanup_json_ json_t *off =
	    json_pack("{s:s,s:s}", "action", "disconnect", "scope", network);
	if (!connect) {
		const char *op = "network";
		return handle_changes(c, id, &op, &off, 1, err);
	}
	_cleanup_json_ json_t *on = json_pack("{s:s,s:s}", "action", "connect", "scope", network);
	if (ip && *ip)
		json_object_set_new(on, "ip", json_string(ip));
	if (aliases && *aliases)
		json_object_set_new(on, "aliases", pl_cj_strv(aliases));
	const char *op = "network";
	return handle_changes(c, id, &op, &on, 1, err);
}

void pl_exit_status_clear(pl_exit_status_t *s)
{
	free(s->error);
	s->error = NULL;
}

int pl_container_wait(pl_client_t *c, const char *id, const char *condition, pl_exit_status_t *out,
		      pl_error_t **err)
{
	_cleanup_free_ char *path = pl_cj_path(c, "/containers", id, "/wait");
	if (condition && *condition)
		pl_client_add_query(c, &path, "condition", condition);
	_cleanup_json_ json_t *resp = NULL;
	if (pl_client_request(c, "POST", path, NULL, NULL, &resp, err) < 0)
		return -1;
	out->exit_code = (int)pl_cj_int(resp, "exit_code", 0);
	out->signal = (int)pl_cj_int(resp, "signal", 0);
	out->error = pl_cj_str(resp, "error");
	return 0;
}

static int resize(pl_client_t *c, const char *prefix, const char *id, int h, int w,
		  pl_error_t **err)
{
	char *path = pl_cj_path(c, prefix, id, "/resize");
	char hs[16], ws[16];
	snprintf(hs, sizeof(hs), "%d", h);
	snprintf(ws, sizeof(ws), "%d", w);
	pl_client_add_query(c, &path, "h", hs);
	pl_client_add_query(c, &path, "w", ws);
	return pl_cj_call(c, "POST", path, err);
}

int pl_container_resize(pl_client_t *c, const char *id, int h, int w, pl_error_t **err)
{
	return resize(c, "/containers", id, h, w, err);
}

int pl_container_logs(pl_client_t *c, const char *id, const pl_logs_opts_t *o, pl_client_data_fn fn,
		      void *userdata, pl_error_t **err)
{
	_cleanup_free_ char *path = pl_cj_path(c, "/containers", id, "/logs");
	if (o->follow)
		pl_client_add_query(c, &path, "follow", "1");
	if (o->timestamps)
		pl_client_add_query(c, &path, "timestamps", "1");
	if (o->no_stdout)
		pl_client_add_query(c, &path, "stdout", "0");
	if (o->no_stderr)
		pl_client_add_query(c, &path, "stderr", "0");
	if (o->tail)
		pl_client_add_query(c, &path, "tail", o->tail);
	if (o->since)
		pl_client_add_query(c, &path, "since", o->since);
	if (o->until)
		pl_client_add_query(c, &path, "until", o->until);
	return pl_client_stream(c, path, fn, userdata, err);
}

int pl_container_attach(pl_client_t *c, const char *id, const pl_attach_opts_t *o,
			pl_upgraded_t *up, pl_error_t **err)
{
	return pl_cj_upgrade_stream(c, pl_cj_path(c, "/containers", id, "/attach"), o, up, err);
}

json_t *pl_container_stats(pl_client_t *c, const char *id, pl_error_t **err)
{
	_cleanup_free_ char *path = pl_cj_path(c, "/containers", id, "/stats?stream=0");
	json_t *resp = NULL;
	if (pl_client_request(c, "GET", path, NULL, NULL, &resp, err) < 0)
		return NULL;
	return resp;
}

json_t *pl_container_ports(pl_client_t *c, const char *id, pl_error_t **err)
{
	_cleanup_free_ char *path = pl_cj_path(c, "/containers", id, "/ports");
	json_t *resp = NULL;
	if (pl_client_request(c, "GET", path, NULL, NULL, &resp, err) < 0)
		return NULL;
	return resp ? resp : json_array();
}

int pl_container_top(pl_client_t *c, const char *id, pl_process_info_t **out, size_t *n,
		     pl_error_t **err)
{
	_cleanup_free_ char *path = pl_cj_path(c, "/containers", id, "/top");
	_cleanup_json_ json_t *resp = NULL;
	if (pl_client_request(c, "GET", path, NULL, NULL, &resp, err) < 0)
		return -1;
	const json_t *procs = json_object_get(resp, "processes");
	size_t count = json_array_size(procs);
	pl_process_info_t *v = pl_xcalloc(count + 1, sizeof(*v));
	for (size_t i = 0; i < count; i++) {
		const json_t *p = json_array_get(procs, i);
		v[i].pid = (int)pl_cj_int(p, "pid", 0);
		v[i].user = pl_cj_str(p, "user");
		v[i].state = pl_cj_str(p, "state");
		v[i].cpu_time_ms = pl_cj_int(p, "cpu_time_ms", 0);
		v[i].rss_kib = pl_cj_int(p, "rss_kib", 0);
		v[i].args = pl_strv_from_json(json_object_get(p, "args"));
	}
	*out = v;
	*n = count;
	return 0;
}

void pl_process_infos_free(pl_process_info_t *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].user);
		free(v[i].state);
		pl_strv_free(v[i].args);
	}
	free(v);
}

int pl_container_update(pl_client_t *c, const char *id, const pl_resources_spec_t *r,
			pl_error_t **err)
{
	_cleanup_free_ char *path = pl_cj_path(c, "/containers", id, "/update");
	json_t *res = json_object();
	const struct {
		const char *key;
		int64_t v;
	} ints[] = {{"memory", r->memory},	   {"memory_swap", r->memory_swap},
		    {"pids_limit", r->pids_limit}, {"cpu_shares", r->cpu_shares},
		    {"cpu_quota", r->cpu_quota},   {"cpu_period", r->cpu_period}};
	for (size_t i = 0; i < PL_ARRAY_SIZE(ints); i++)
		if (ints[i].v)
			json_object_set_new(res, ints[i].key, json_integer(ints[i].v));
	if (r->cpus > 0)
		json_object_set_new(res, "cpus", json_real(r->cpus));
	set_str(res, "cpuset_cpus", r->cpuset_cpus);
	_cleanup_json_ json_t *body = json_pack("{s:o}", "resources", res);
	_cleanup_json_ json_t *resp = NULL;
	return pl_client_request(c, "POST", path, body, NULL, &resp, err);
}

int pl_container_changes(pl_client_t *c, const char *id, pl_change_t **out, size_t *n,
			 pl_error_t **err)
{
	_cleanup_free_ char *path = pl_cj_path(c, "/containers", id, "/changes");
	_cleanup_json_ json_t *resp = NULL;
	if (pl_client_request(c, "GET", path, NULL, NULL, &resp, err) < 0)
		return -1;
	size_t count = json_array_size(resp);
	pl_change_t *v = pl_xcalloc(count + 1, sizeof(*v));
	for (size_t i = 0; i < count; i++) {
		const json_t *e = json_array_get(resp, i);
		v[i].path = pl_cj_str(e, "Path");
		v[i].kind = (int)pl_cj_int(e, "Kind", 0);
	}
	*out = v;
	*n = count;
	return 0;
}

void pl_changes_free(pl_change_t *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i].path);
	free(v);
}

int pl_container_export(pl_client_t *c, const char *id, pl_client_data_fn fn, void *userdata,
			pl_error_t **err)
{
	_cleanup_free_ char *path = pl_cj_path(c, "/containers", id, "/export");
	return pl_client_stream(c, path, fn, userdata, err);
}

/* ---- exec ---- */

int pl_exec_create(pl_client_t *c, const char *container, const pl_exec_spec_t *s, char **exec_id,
		   pl_error_t **err)
{
	_cleanup_free_ char *path = pl_cj_path(c, "/containers", container, "/exec");
	_cleanup_json_ json_t *body = json_object();
	set_new(body, "args", pl_cj_strv(s->args));
	set_new(body, "env", pl_cj_strv(s->env));
	set_str(body, "cwd", s->cwd);
	set_str(body, "user", s->user);
	if (s->tty)
		json_object_set_new(body, "tty", json_true());
	if (s->open_stdin)
		json_object_set_new(body, "stdin", json_true());
	_cleanup_json_ json_t *resp = NULL;
	if (pl_client_request(c, "POST", path, body, NULL, &resp, err) < 0)
		return -1;
	char *id = pl_cj_str(resp, "id");
	if (!id)
		return pl_error_set(err, PL_ERR_INTERNAL, 0, "exec answer without an id");
	*exec_id = id;
	return 0;
}

int pl_exec_start_detached(pl_client_t *c, const char *exec_id, pl_error_t **err)
{
	return pl_cj_call(c, "POST", pl_cj_path(c, "/exec", exec_id, "/start?detach=1"), err);
}

int pl_exec_start_attached(pl_client_t *c, const char *exec_id, const char *detach_keys,
			   pl_upgraded_t *up, pl_error_t **err)
{
	_cleanup_free_ char *path = pl_cj_path(c, "/exec", exec_id, "/start");
	if (detach_keys)
		pl_client_add_query(c, &path, "detachKeys", detach_keys);
	return pl_client_upgrade(c, "POST", path, NULL, up, err);
}

pl_exec_info_t *pl_exec_info_free(pl_exec_info_t *e)
{
	if (!e)
		return NULL;
	free(e->id);
	free(e->container_id);
	free(e->state);
	pl_strv_free(e->args);
	if (e->raw)
		json_decref(e->raw);
	free(e);
	return NULL;
}

pl_exec_info_t *pl_exec_inspect(pl_client_t *c, const char *exec_id, pl_error_t **err)
{
	_cleanup_free_ char *path = pl_cj_path(c, "/exec", exec_id, "/json");
	_cleanup_json_ json_t *resp = NULL;
	if (pl_client_request(c, "GET", path, NULL, NULL, &resp, err) < 0)
		return NULL;
	pl_exec_info_t *e = pl_xcalloc(1, sizeof(*e));
	e->raw = json_incref(resp);
	e->id = pl_cj_str(resp, "id");
	e->container_id = pl_cj_str(resp, "container");
	if (!e->container_id)
		e->container_id = pl_cj_str(resp, "container_id");
	e->state = pl_cj_str(resp, "state");
	e->pid = (int)pl_cj_int(resp, "pid", 0);
	const json_t *ec = json_object_get(resp, "exit_code");
	e->has_exit_code = json_is_integer(ec);
	e->exit_code = (int)json_integer_value(ec);
	e->tty = json_is_true(json_object_get(resp, "tty"));
	e->open_stdin = json_is_true(json_object_get(resp, "stdin"));
	e->args = pl_strv_from_json(json_object_get(resp, "args"));
	return e;
}

int pl_exec_resize(pl_client_t *c, const char *exec_id, int h, int w, pl_error_t **err)
{
	return resize(c, "/exec", exec_id, h, w, err);
}
