/* SPDX-License-Identifier: Apache-2.0 */
/* The typed routes plctl needed beyond pl-dockerd's set (portlayer-client.h, "plctl"). */
#include "client/portlayer-client.h"
#include "client/pl_client_util.h"
#include "common/cleanup.h"
#include "common/json.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* An exit answer ({exit_code, signal, error}) into *out; -1 with *err when it has no exit
 * code in 0-255. */
static int exit_from_json(const json_t *resp, const char *what, pl_exit_status_t *out,
			  pl_error_t **err)
{
	*out = (pl_exit_status_t){0};
	out->error = pl_cj_str(resp, "error");
	out->signal = (int)pl_cj_int(resp, "signal", 0);
	const json_t *code = json_object_get(resp, "exit_code");
	if (!json_is_integer(code) || json_integer_value(code) < 0 ||
	    json_integer_value(code) > 255)
		return pl_error_set(err, PL_ERR_INTERNAL, 0, "%s: no valid exit_code in answer",
				    what);
	out->exit_code = (int)json_integer_value(code);
	return 0;
}

int pl_container_wait_for(pl_client_t *c, const char *id, const char *condition, double timeout,
			  pl_exit_status_t *out, pl_error_t **err)
{
	*out = (pl_exit_status_t){0};
	_cleanup_free_ char *path = pl_cj_path(c, "/containers", id, "/wait");
	if (condition && *condition)
		pl_client_add_query(c, &path, "condition", condition);
	if (timeout >= 0) {
		char t[32];
		snprintf(t, sizeof(t), "%g", timeout);
		pl_client_add_query(c, &path, "timeout", t);
	}
	_cleanup_json_ json_t *resp = NULL;
	if (pl_client_request(c, "POST", path, NULL, NULL, &resp, err) < 0)
		return -1;
	_cleanup_free_ char *what = pl_xasprintf("wait %s", id);
	return exit_from_json(resp, what, out, err);
}

/* The answer of POST /containers?follow=1: the output frames, and on stream 3 two JSON
 * objects, {"id"} first and the exit status last. */
typedef struct run_follow {
	pl_demux_t demux;
	int (*on_id)(const char *id, void *userdata);
	pl_demux_fn out;
	void *userdata;
	char *ctl; /* the stream-3 frame so far */
	size_t ctl_len;
	bool have_id, have_status, detached, malformed;
	char *id;
	pl_exit_status_t *status;
	pl_error_t *status_err;
} run_follow_t;

static int run_follow_ctl(run_follow_t *f)
{
	_cleanup_json_ json_t *j = json_loadb(f->ctl, f->ctl_len, 0, NULL);
	f->ctl_len = 0;
	const char *id = json_string_value(json_object_get(j, "id"));
	if (!json_is_object(j) || f->have_status || (!f->have_id && !id)) {
		f->malformed = true;
		return -EBADMSG;
	}
	if (!f->have_id) {
		f->have_id = true;
		f->id = pl_xstrdup(id);
		if (f->on_id && f->on_id(id, f->userdata) > 0) {
			f->detached = true;
			return -ECANCELED; /* ends the transfer: the container runs on */
		}
		return 0;
	}
	f->have_status = true;
	_cleanup_free_ char *what = pl_xasprintf("run %.12s", f->id);
	exit_from_json(j, what, f->status, &f->status_err);
	return 0;
}

static int run_follow_frame(int stream, const char *data, size_t len, void *userdata)
{
	run_follow_t *f = userdata;
	if (stream != 3)
		return f->out ? f->out(stream, data, len, f->userdata) : 0;
	if (f->ctl_len + len > 64 * 1024) {
		f->malformed = true;
		return -EMSGSIZE;
	}
	f->ctl = pl_xrealloc(f->ctl, f->ctl_len + len + 1);
	memcpy(f->ctl + f->ctl_len, data, len);
	f->ctl_len += len;
	return f->demux.remaining == 0 ? run_follow_ctl(f) : 0;
}

int pl_container_run_follow(pl_client_t *c, const pl_container_spec_t *spec,
			    int (*on_id)(const char *id, void *userdata), pl_demux_fn out,
			    void *userdata, pl_exit_status_t *status, pl_error_t **err)
{
	*status = (pl_exit_status_t){0};
	_cleanup_json_ json_t *body = pl_container_spec_json(spec);
	run_follow_t f = {.on_id = on_id, .out = out, .userdata = userdata, .status = status};
	pl_demux_init(&f.demux, run_follow_frame, &f);
	pl_error_t *e = NULL;
	int r = pl_client_stream_body(c, "POST", "/containers?follow=1", body, pl_demux_feed_cb,
				      &f.demux, &e);
	free(f.ctl);
	free(f.id);
	if (f.detached) {
		pl_error_free(e);
		pl_error_free(f.status_err);
		return 1;
	}
	if (f.malformed) {
		pl_error_free(e);
		e = NULL;
		pl_error_set(&e, PL_ERR_INTERNAL, 0, "malformed answer to a followed run");
	} else if (r >= 0 && !e && f.status_err) {
		e = TAKE_PTR(f.status_err);
	} else if (r >= 0 && !e && (!f.have_status || !pl_demux_at_boundary(&f.demux))) {
		pl_error_set(&e, PL_ERR_INTERNAL, 0,
			     "the port layer ended the run's answer before its exit status");
	}
	pl_error_free(f.status_err);
	if (!e)
		return 0;
	if (err)
		*err = e;
	else
		pl_error_free(e);
	return -1;
}

int pl_exec_wait(pl_client_t *c, const char *exec_id, pl_exit_status_t *out, pl_error_t **err)
{
	*out = (pl_exit_status_t){0};
	_cleanup_free_ char *path = pl_cj_path(c, "/exec", exec_id, "/wait");
	_cleanup_json_ json_t *resp = NULL;
	if (pl_client_request(c, "POST", path, NULL, NULL, &resp, err) < 0)
		return -1;
	_cleanup_free_ char *what = pl_xasprintf("exec %.12s", exec_id);
	return exit_from_json(resp, what, out, err);
}

int pl_exec_start_stream(pl_client_t *c, const char *exec_id, const pl_attach_opts_t *o,
			 pl_upgraded_t *up, pl_error_t **err)
{
	return pl_cj_upgrade_stream(c, pl_cj_path(c, "/exec", exec_id, "/start"), o, up, err);
}

int pl_exec_create_from(pl_client_t *c, const char *container, const pl_exec_spec_t *spec,
			const json_t *extra, char **exec_id, pl_error_t **err)
{
	_cleanup_json_ json_t *body = json_object();
	if (spec->args)
		json_object_set_new(body, "args", pl_cj_strv(spec->args));
	if (spec->env)
		json_object_set_new(body, "env", pl_cj_strv(spec->env));
	if (spec->cwd)
		json_object_set_new(body, "cwd", json_string(spec->cwd));
	if (spec->user)
		json_object_set_new(body, "user", json_string(spec->user));
	json_object_set_new(body, "tty", json_boolean(spec->tty));
	json_object_set_new(body, "stdin", json_boolean(spec->open_stdin));
	if (extra)
		json_object_update(body, (json_t *)extra);
	_cleanup_free_ char *path = pl_cj_path(c, "/containers", container, "/exec");
	_cleanup_json_ json_t *resp = NULL;
	if (pl_client_request(c, "POST", path, body, NULL, &resp, err) < 0)
		return -1;
	char *id = pl_cj_str(resp, "id");
	if (!id)
		return pl_error_set(err, PL_ERR_INTERNAL, 0, "exec create answer without an id");
	*exec_id = id;
	return 0;
}

int pl_container_update_resources(pl_client_t *c, const char *id, const json_t *resources,
				  pl_error_t **err)
{
	_cleanup_json_ json_t *body = json_pack("{s:O}", "resources", (json_t *)resources);
	_cleanup_free_ char *path = pl_cj_path(c, "/containers", id, "/update");
	return pl_client_request(c, "POST", path, body, NULL, NULL, err);
}

void pl_handle_clear(pl_handle_t *h)
{
	free(h->token);
	free(h->id);
	*h = (pl_handle_t){0};
}

int pl_handle_get(pl_client_t *c, const char *container, pl_handle_t *h, pl_error_t **err)
{
	*h = (pl_handle_t){0};
	_cleanup_free_ char *path = pl_cj_path(c, "/containers", container, "/handle");
	_cleanup_json_ json_t *resp = NULL;
	if (pl_client_request(c, "GET", path, NULL, NULL, &resp, err) < 0)
		return -1;
	const json_t *version = json_object_get(resp, "version");
	h->token = pl_cj_str(resp, "handle");
	h->id = pl_cj_str(resp, "id");
	h->version = json_integer_value(version);
	if (!h->token || !h->id || !json_is_integer(version)) {
		pl_handle_clear(h);
		return pl_error_set(err, PL_ERR_INTERNAL, 0,
				    "take a handle on %s: the daemon answered without "
				    "handle, id and version",
				    container);
	}
	return 0;
}

int pl_handle_rename(pl_client_t *c, const char *token, const char *name, char **staged,
		     pl_error_t **err)
{
	_cleanup_json_ json_t *body = json_object();
	json_t *v = json_string(name);
	if (!v)
		return pl_error_set(err, PL_ERR_INVALID, 0, "'%s' is not valid UTF-8", name);
	json_object_set_new(body, "name", v);
	_cleanup_free_ char *path = pl_cj_path(c, "/handles", token, "/rename");
	_cleanup_json_ json_t *resp = NULL;
	if (pl_client_request(c, "POST", path, body, NULL, &resp, err) < 0)
		return -1;
	*staged = pl_cj_str(resp, "handle");
	if (!*staged)
		return pl_error_set(err, PL_ERR_INTERNAL, 0,
				    "rename: the daemon answered without a handle");
	return 0;
}

int pl_handle_commit(pl_client_t *c, const char *token, pl_error_t **err)
{
	return pl_cj_call(c, "POST", pl_cj_path(c, "/handles", token, "/commit"), err);
}

int pl_handle_release(pl_client_t *c, const char *token, pl_error_t **err)
{
	return pl_cj_call(c, "DELETE", pl_cj_path(c, "/handles", token, NULL), err);
}

/* "/kv/<key>" with each segment escaped and its slashes kept (they are part of the key). */
static char *kv_path(pl_client_t *c, const char *key)
{
	size_t n = strlen(key);
	char *out = pl_xstrdup("/kv/");
	for (size_t i = 0; i <= n;) {
		size_t len = strcspn(key + i, "/");
		_cleanup_free_ char *seg = pl_xasprintf("%.*s", (int)len, key + i);
		_cleanup_free_ char *esc = pl_client_escape(c, seg);
		char *next = pl_xasprintf("%s%s%s", out, esc, i + len < n ? "/" : "");
		free(out);
		out = next;
		i += len + 1;
	}
	return out;
}

int pl_kv_set(pl_client_t *c, const char *key, const char *value, size_t len, int64_t if_match,
	      int64_t *revision, pl_error_t **err)
{
	json_t *v = json_stringn(value, len);
	if (!v)
		return pl_error_set(err, PL_ERR_INVALID, 0, "the value must be UTF-8 text");
	_cleanup_json_ json_t *body = json_pack("{s:o}", "value", v);
	_cleanup_free_ char *path = kv_path(c, key);
	char rev[24];
	snprintf(rev, sizeof(rev), "%lld", (long long)if_match);
	_cleanup_json_ json_t *resp = NULL;
	if (pl_client_request_if_match(c, "PUT", path, body, if_match >= 0 ? rev : NULL, &resp,
				       err) < 0)
		return -1;
	if (revision)
		*revision = pl_cj_int(resp, "revision", 0);
	return 0;
}

int pl_kv_delete_if(pl_client_t *c, const char *key, int64_t if_match, pl_error_t **err)
{
	_cleanup_free_ char *path = kv_path(c, key);
	char rev[24];
	snprintf(rev, sizeof(rev), "%lld", (long long)if_match);
	return pl_client_request_if_match(c, "DELETE", path, NULL, if_match >= 0 ? rev : NULL, NULL,
					  err);
}

int pl_kv_read(pl_client_t *c, const char *key, pl_kv_entry_t *out, pl_error_t **err)
{
	*out = (pl_kv_entry_t){0};
	_cleanup_free_ char *path = kv_path(c, key);
	_cleanup_json_ json_t *resp = NULL;
	if (pl_client_request(c, "GET", path, NULL, NULL, &resp, err) < 0)
		return -1;
	const json_t *v = json_object_get(resp, "value");
	out->key = pl_cj_str(resp, "key");
	out->len = json_string_length(v);
	out->value = pl_xmalloc(out->len + 1);
	memcpy(out->value, json_string_value(v) ? json_string_value(v) : "", out->len);
	out->value[out->len] = '\0';
	out->revision = pl_cj_int(resp, "revision", 0);
	return 0;
}

void pl_kv_entry_clear(pl_kv_entry_t *e)
{
	free(e->key);
	free(e->value);
	*e = (pl_kv_entry_t){0};
}

int pl_kv_list(pl_client_t *c, const char *prefix, pl_kv_entry_t **out, size_t *n, pl_error_t **err)
{
	*out = NULL;
	*n = 0;
	_cleanup_free_ char *path = pl_xstrdup("/kv");
	if (prefix)
		pl_client_add_query(c, &path, "prefix", prefix);
	_cleanup_json_ json_t *resp = NULL;
	if (pl_client_request(c, "GET", path, NULL, NULL, &resp, err) < 0)
		return -1;
	size_t count = json_array_size(resp);
	pl_kv_entry_t *v = pl_xcalloc(count + 1, sizeof(*v));
	for (size_t i = 0; i < count; i++) {
		const json_t *e = json_array_get(resp, i);
		const json_t *val = json_object_get(e, "value");
		v[i].key = pl_cj_str(e, "key");
		v[i].len = json_string_length(val);
		v[i].value = pl_xmalloc(v[i].len + 1);
		memcpy(v[i].value, json_string_value(val) ? json_string_value(val) : "", v[i].len);
		v[i].value[v[i].len] = '\0';
		v[i].revision = pl_cj_int(e, "revision", 0);
	}
	*out = v;
	*n = count;
	return 0;
}

void pl_kv_entries_free(pl_kv_entry_t *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		pl_kv_entry_clear(&v[i]);
	free(v);
}

int pl_image_pull_from(pl_client_t *c, const pl_pull_spec_t *s, pl_client_data_fn fn,
		       void *userdata, pl_error_t **err)
{
	_cleanup_free_ char *path = pl_xstrdup("/images/pull?progress=1");
	pl_client_add_query(c, &path, "ref", s->ref);
	if (s->insecure)
		pl_client_add_query(c, &path, "insecure", "1");
	if (s->platform)
		pl_client_add_query(c, &path, "platform", s->platform);
	_cleanup_json_ json_t *body = NULL;
	if (s->username)
		body = json_pack("{s:s,s:s}", "username", s->username, "password",
				 s->password ? s->password : "");
	return pl_client_stream_body(c, "POST", path, body, fn, userdata, err);
}
