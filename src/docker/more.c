/* SPDX-License-Identifier: Apache-2.0 */
/* pl-dockerd's second half: docker cp (archive routes), commit, save, push and login,
 * system df, image/volume/network prune. */
#include "docker/docker.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

static int to_client(const char *data, size_t len, void *userdata)
{
	return dk_job_write(userdata, data, len);
}

static void write_line(dk_job_t *j, json_t *line)
{
	_cleanup_free_ char *s = pl_json_dump(line);
	json_decref(line);
	dk_job_write(j, s, strlen(s));
	dk_job_write(j, "\n", 1);
}

static void reply_ctr_error(dk_job_t *j, const pl_error_t *e)
{
	if (e->kind == PL_ERR_NOTFOUND && !strstr(e->msg, "no such route"))
		dk_job_reply_message(j, 404, "Could not find the file %s in container %s",
				     dk_job_query(j, "path") ?: "", dk_job_param(j));
	else
		dk_reply_pl_error(j, e);
}

/* ---- docker cp ---- */

void dk_archive_get(dk_job_t *j)
{
	const char *path = dk_job_query(j, "path");
	if (!path || !*path) {
		dk_job_reply_message(j, 400, "path is required");
		return;
	}
	pl_client_t *c = dk_job_client(j);
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_free_ char *stat = NULL;
	/* the stat first, so an error is still a JSON answer */
	if (pl_archive_stat(c, dk_job_param(j), path, &stat, &err) < 0) {
		reply_ctr_error(j, err);
		return;
	}
	if (stat)
		dk_job_add_header(j, "X-Docker-Container-Path-Stat", stat);
	dk_job_stream(j, 200, "application/x-tar");
	pl_archive_get(c, dk_job_param(j), path, NULL, to_client, j, NULL);
}

void dk_archive_head(dk_job_t *j)
{
	const char *path = dk_job_query(j, "path");
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_free_ char *stat = NULL;
	if (!path || pl_archive_stat(dk_job_client(j), dk_job_param(j), path, &stat, &err) < 0) {
		dk_job_reply_empty(j, err && err->kind == PL_ERR_NOTFOUND ? 404 : 400);
		return;
	}
	if (stat)
		dk_job_add_header(j, "X-Docker-Container-Path-Stat", stat);
	dk_job_reply_empty(j, 200);
}

void dk_archive_put(dk_job_t *j)
{
	const char *path = dk_job_query(j, "path");
	int fd = dk_job_body_fd(j);
	if (!path || !*path || fd < 0) {
		dk_job_reply_message(j, 400, "path and a tar body are required");
		return;
	}
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_archive_put(dk_job_client(j), dk_job_param(j), path, fd, -1, &err) < 0) {
		reply_ctr_error(j, err);
		return;
	}
	dk_job_reply_empty(j, 200);
}

/* ---- docker commit ---- */

/* ["a","b"] as JSON, or the shell form ["/bin/sh","-c","text"] */
static json_t *cmd_value(const char *v)
{
	json_t *a = json_loads(v, 0, NULL);
	if (json_is_array(a))
		return a;
	json_decref(a);
	return json_pack("[s,s,s]", "/bin/sh", "-c", v);
}

/* "k=v k2=v2" or "k v" (Dockerfile ENV and LABEL), into obj or env */
static void kv_words(const char *v, json_t *obj, json_t *env)
{
	_cleanup_free_ char *s = pl_xstrdup(v);
	if (!strchr(s, '=')) {
		char *sp = strchr(s, ' ');
		if (!sp)
			return;
		*sp++ = '\0';
		if (obj)
			json_object_set_new(obj, s, json_string(sp));
		if (env) {
			_cleanup_free_ char *kv = pl_xasprintf("%s=%s", s, sp);
			json_array_append_new(env, json_string(kv));
		}
		return;
	}
	char *save = NULL;
	for (char *w = strtok_r(s, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(w, '=');
		if (!eq)
			continue;
		*eq = '\0';
		char *val = eq + 1;
		size_t vl = strlen(val);
		if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
			val[vl - 1] = '\0';
			val++;
		}
		if (obj)
			json_object_set_new(obj, w, json_string(val));
		if (env) {
			_cleanup_free_ char *kv = pl_xasprintf("%s=%s", w, val);
			json_array_append_new(env, json_string(kv));
		}
	}
}

static void env_merge(json_t *env, const char *kv)
{
	const char *eq = strchr(kv, '=');
	size_t kl = eq ? (size_t)(eq - kv) : strlen(kv);
	size_t i;
	json_t *e;
	json_array_foreach(env, i, e)
	{
		const char *s = json_string_value(e);
		if (s && !strncmp(s, kv, kl) && (s[kl] == '=' || !s[kl])) {
			json_array_set_new(env, i, json_string(kv));
			return;
		}
	}
	json_array_append_new(env, json_string(kv));
}

/* Docker's --change instructions as the port layer's OCI config changes. */
static int parse_changes(const json_t *changes, const json_t *base_env, json_t *out, char **bad)
{
	size_t i;
	const json_t *cv;
	json_t *env = NULL;
	json_array_foreach(changes, i, cv)
	{
		_cleanup_free_ char *line = pl_xstrdup(json_string_value(cv) ?: "");
		char *p = line;
		while (*p == ' ')
			p++;
		char *sp = strchr(p, ' ');
		if (!sp) {
			*bad = pl_xstrdup(p);
			return -1;
		}
		*sp++ = '\0';
		while (*sp == ' ')
			sp++;
		if (!strcasecmp(p, "CMD")) {
			json_object_set_new(out, "Cmd", cmd_value(sp));
		} else if (!strcasecmp(p, "ENTRYPOINT")) {
			json_object_set_new(out, "Entrypoint", cmd_value(sp));
		} else if (!strcasecmp(p, "WORKDIR")) {
			json_object_set_new(out, "WorkingDir", json_string(sp));
		} else if (!strcasecmp(p, "USER")) {
			json_object_set_new(out, "User", json_string(sp));
		} else if (!strcasecmp(p, "STOPSIGNAL")) {
			json_object_set_new(out, "StopSignal", json_string(sp));
		} else if (!strcasecmp(p, "ENV")) {
			if (!env)
				env = base_env ? json_deep_copy(base_env) : json_array();
			_cleanup_json_ json_t *add = json_array();
			kv_words(sp, NULL, add);
			size_t k;
			json_t *e;
			json_array_foreach(add, k, e) env_merge(env, json_string_value(e));
		} else if (!strcasecmp(p, "LABEL")) {
			json_t *l = json_object_get(out, "Labels");
			if (!l) {
				l = json_object();
				json_object_set_new(out, "Labels", l);
			}
			kv_words(sp, l, NULL);
		} else if (!strcasecmp(p, "EXPOSE") || !strcasecmp(p, "VOLUME")) {
			const char *key = !strcasecmp(p, "EXPOSE") ? "ExposedPorts" : "Volumes";
			json_t *o = json_object_get(out, key);
			if (!o) {
				o = json_object();
				json_object_set_new(out, key, o);
			}
			_cleanup_json_ json_t *arr = json_loads(sp, 0, NULL);
			if (json_is_array(arr)) {
				size_t k;
				json_t *e;
				json_array_foreach(arr, k, e) json_object_set_new(
				    o, json_string_value(e) ?: "", json_object());
			} else {
				char *save = NULL;
				for (char *w = strtok_r(sp, " ", &save); w;
				     w = strtok_r(NULL, " ", &save)) {
					_cleanup_free_ char *port = key[0] == 'E' && !strchr(w, '/')
									? pl_xasprintf("%s/tcp", w)
									: pl_xstrdup(w);
					json_object_set_new(o, port, json_object());
				}
			}
		} else {
			*bad = pl_xstrdup(p);
			json_decref(env);
			return -1;
		}
	}
	if (env)
		json_object_set_new(out, "Env", env);
	return 0;
}

void dk_commit(dk_job_t *j)
{
	pl_client_t *c = dk_job_client(j);
	const char *ctr = dk_job_query(j, "container");
	if (!ctr || !*ctr) {
		dk_job_reply_message(j, 400, "container is required");
		return;
	}
	_cleanup_error_ pl_error_t *err = NULL;
	pl_container_info_t *ci = pl_container_inspect(c, ctr, &err);
	if (!ci) {
		dk_reply_missing(j, err, "No such container: %s", ctr);
		return;
	}
	_cleanup_json_ json_t *changes = json_object();
	const json_t *env =
	    json_object_get(json_object_get(json_object_get(ci->raw, "config"), "process"), "env");
	char *bad = NULL;
	if (parse_changes(dk_job_query_all(j, "changes"), env, changes, &bad) < 0) {
		dk_job_reply_message(j, 400, "%s is not a valid change command", bad);
		free(bad);
		pl_container_info_free(ci);
		return;
	}
	/* the container's Entrypoint stays (the port layer's commit keeps args as Cmd) */
	const char *entry = dk_annotation(ci, DK_ANN_ENTRYPOINT);
	const char *cmd = dk_annotation(ci, DK_ANN_CMD);
	if (!json_object_get(changes, "Entrypoint") && entry && strcmp(entry, "null")) {
		json_object_set_new(changes, "Entrypoint", json_loads(entry, 0, NULL));
		if (!json_object_get(changes, "Cmd")) {
			json_t *cj = cmd ? json_loads(cmd, 0, NULL) : NULL;
			json_object_set_new(changes, "Cmd", json_is_array(cj) ? cj : json_array());
			if (cj && !json_is_array(cj))
				json_decref(cj);
		}
	}
	const json_t *cfg = dk_job_body(j);
	const char *k[] = {"Cmd", "Entrypoint", "Env", "WorkingDir", "User", "Labels"};
	for (size_t i = 0; i < PL_ARRAY_SIZE(k); i++) {
		const json_t *v = json_object_get(cfg, k[i]);
		if (v && !json_is_null(v) && !json_object_get(changes, k[i]) &&
		    !(json_is_array(v) && !json_array_size(v)) &&
		    !(json_is_string(v) && !*json_string_value(v)) &&
		    !(json_is_object(v) && !json_object_size(v)))
			json_object_set(changes, k[i], (json_t *)v);
	}
	const char *comment = dk_job_query(j, "comment");
	const char *author = dk_job_query(j, "author");
	pl_commit_spec_t spec = {
	    .container = ci->id,
	    .repo = dk_job_query(j, "repo"),
	    .tag = dk_job_query(j, "tag"),
	    .comment = comment && *comment ? comment : NULL,
	    .author = author && *author ? author : NULL,
	    .changes = json_object_size(changes) ? changes : NULL,
	};
	_cleanup_free_ char *id = NULL;
	int r = pl_container_commit(c, &spec, &id, &err);
	pl_container_info_free(ci);
	if (r < 0) {
		dk_reply_pl_error(j, err);
		return;
	}
	dk_job_reply_json(j, 201, json_pack("{s:s}", "Id", id ? id : ""));
}

/* ---- docker save ---- */

void dk_image_save(dk_job_t *j)
{
	_cleanup_free_ char *names = NULL;
	if (dk_job_param(j)) {
		names = pl_xstrdup(dk_job_param(j));
	} else {
		const json_t *all = dk_job_query_all(j, "names");
		size_t i;
		const json_t *v;
		json_array_foreach(all, i, v)
		{
			char *n = names ? pl_xasprintf("%s,%s", names, json_string_value(v))
					: pl_xstrdup(json_string_value(v));
			free(names);
			names = n;
		}
	}
	if (!names || !*names) {
		dk_job_reply_message(j, 400, "names is required");
		return;
	}
	pl_client_t *c = dk_job_client(j);
	/* check the names first: an error after the head could only cut the tar short */
	_cleanup_free_ char *copy = pl_xstrdup(names);
	char *save = NULL;
	for (char *n = strtok_r(copy, ",", &save); n; n = strtok_r(NULL, ",", &save)) {
		_cleanup_error_ pl_error_t *err = NULL;
		pl_image_info_t *im = pl_image_inspect(c, n, &err);
		if (!im) {
			dk_reply_missing(j, err, "No such image: %s", n);
			return;
		}
		pl_image_info_free(im);
	}
	dk_job_stream(j, 200, "application/x-tar");
	pl_image_save(c, names, false, to_client, j, NULL);
}

/* ---- registries: push, login, X-Registry-Auth ---- */

/* The X-Registry-Auth header's {username, password} (new reference), or NULL. */
json_t *dk_registry_auth(dk_job_t *j)
{
	const char *h = dk_job_header(j, "X-Registry-Auth");
	if (!h || !*h)
		return NULL;
	_cleanup_free_ char *text = pl_base64_decode(h, false, NULL);
	json_t *a = json_loads(text, 0, NULL);
	if (!json_is_object(a)) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static bool local_registry(const char *ref)
{
	return !strncmp(ref, "localhost", 9) || !strncmp(ref, "127.", 4);
}

void dk_image_push(dk_job_t *j)
{
	const char *name = dk_job_param(j);
	const char *tag = dk_job_query(j, "tag");
	_cleanup_json_ json_t *auth = dk_registry_auth(j);
	_cleanup_json_ json_t *res = NULL;
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_free_ char *full =
	    tag && *tag ? pl_xasprintf("%s:%s", name, tag) : pl_xstrdup(name);
	pl_image_info_t *im = pl_image_inspect(dk_job_client(j), full, &err);
	if (!im) {
		dk_reply_missing(j, err, "An image does not exist locally with the tag: %s", name);
		return;
	}
	pl_image_info_free(im);
	dk_job_stream(j, 200, "application/json");
	_cleanup_free_ char *msg = pl_xasprintf("The push refers to repository [%s]", name);
	write_line(j, json_pack("{s:s}", "status", msg));
	if (pl_image_push(dk_job_client(j), name, tag, local_registry(name),
			  json_string_value(json_object_get(auth, "username")),
			  json_string_value(json_object_get(auth, "password")), &res, &err) < 0) {
		write_line(j, json_pack("{s:s,s:{s:s}}", "error", err->msg, "errorDetail",
					"message", err->msg));
		return;
	}
	const char *digest = json_string_value(json_object_get(res, "digest")) ?: "";
	_cleanup_free_ char *done =
	    pl_xasprintf("%s: digest: %s size: 0", tag && *tag ? tag : "latest", digest);
	write_line(j, json_pack("{s:s}", "status", done));
	write_line(j, json_pack("{s:{},s:{s:s,s:s,s:i}}", "progressDetail", "aux", "Tag",
				tag && *tag ? tag : "latest", "Digest", digest, "Size", 0));
}

static size_t discard(char *d, size_t s, size_t n, void *u)
{
	(void)d, (void)u;
	return s * n;
}

/* POST /auth: checks the credentials against the registry's /v2/ (basic auth), as
 * Docker's login does; a registry on loopback is spoken to over plain http when https
 * fails (Docker's insecure registries). */
void dk_auth(dk_job_t *j)
{
	json_t *b = dk_job_body(j);
	const char *user = json_string_value(json_object_get(b, "username"));
	const char *pass = json_string_value(json_object_get(b, "password"));
	const char *server = json_string_value(json_object_get(b, "serveraddress"));
	if (!server || !*server || strstr(server, "docker.io")) {
		dk_job_reply_message(j, 400, "login to Docker Hub is not supported here");
		return;
	}
	const char *host = server;
	if (!strncmp(host, "https://", 8))
		host += 8;
	else if (!strncmp(host, "http://", 7))
		host += 7;
	_cleanup_free_ char *h = pl_xstrdup(host);
	char *slash = strchr(h, '/');
	if (slash)
		*slash = '\0';
	long code = 0;
	for (int scheme = 0; scheme < 2 && !code; scheme++) {
		if (scheme == 1 && !local_registry(h))
			break;
		_cleanup_free_ char *url =
		    pl_xasprintf("%s://%s/v2/", scheme ? "http" : "https", h);
		CURL *cu = curl_easy_init();
		curl_easy_setopt(cu, CURLOPT_URL, url);
		curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(cu, CURLOPT_TIMEOUT, 30L);
		curl_easy_setopt(cu, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(cu, CURLOPT_USERNAME, user ? user : "");
		curl_easy_setopt(cu, CURLOPT_PASSWORD, pass ? pass : "");
		curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, discard);
		if (local_registry(h)) {
			curl_easy_setopt(cu, CURLOPT_SSL_VERIFYPEER, 0L);
			curl_easy_setopt(cu, CURLOPT_SSL_VERIFYHOST, 0L);
		}
		if (curl_easy_perform(cu) == CURLE_OK)
			curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &code);
		curl_easy_cleanup(cu);
	}
	if (code == 200) {
		dk_job_reply_json(
		    j, 200,
		    json_pack("{s:s,s:s}", "Status", "Login Succeeded", "IdentityToken", ""));
	} else if (code == 401) {
		dk_job_reply_message(
		    j, 401, "login attempt to %s failed with status: 401 Unauthorized", server);
	} else {
		dk_job_reply_message(j, 500, "cannot reach the registry %s (status %ld)", server,
				     code);
	}
}

/* ---- system df, prune ---- */

void dk_system_df(dk_job_t *j)
{
	pl_client_t *c = dk_job_client(j);
	_cleanup_error_ pl_error_t *err = NULL;
	pl_image_info_t **imgs = NULL;
	size_t ni = 0;
	if (pl_image_list(c, NULL, &imgs, &ni, &err) < 0) {
		dk_reply_pl_error(j, err);
		return;
	}
	_cleanup_json_ json_t *sums = NULL;
	if (pl_container_summaries(c, true, true, NULL, &sums, &err) < 0) {
		pl_image_infos_free(imgs, ni);
		dk_reply_pl_error(j, err);
		return;
	}
	json_t *images = json_array(), *containers = json_array(), *volumes = json_array();
	json_int_t layers = 0;
	for (size_t i = 0; i < ni; i++) {
		json_int_t users = 0;
		size_t k;
		const json_t *s;
		json_array_foreach(sums, k, s)
		{
			const char *iid = json_string_value(json_object_get(s, "image_id"));
			if (iid && imgs[i]->id && !strcmp(iid, imgs[i]->id))
				users++;
		}
		json_t *tags = json_array();
		for (char **t = imgs[i]->tags; t && *t; t++)
			json_array_append_new(tags, json_string(*t));
		json_array_append_new(
		    images,
		    json_pack("{s:s,s:s,s:o,s:[],s:I,s:I,s:I,s:I,s:I,s:{}}", "Id",
			      imgs[i]->id ? imgs[i]->id : "", "ParentId", "", "RepoTags", tags,
			      "RepoDigests", "Created", (json_int_t)dk_unix_time(imgs[i]->created),
			      "Size", (json_int_t)imgs[i]->size, "SharedSize", (json_int_t)0,
			      "VirtualSize", (json_int_t)imgs[i]->size, "Containers", users,
			      "Labels"));
		layers += imgs[i]->size;
	}
	size_t k;
	const json_t *s;
	json_array_foreach(sums, k, s) json_array_append_new(containers, dk_summary_from_pl(s));
	pl_volume_info_t **vols = NULL;
	size_t nv = 0;
	/* the port layer computes the bytes under each volume on request */
	_cleanup_json_ json_t *sized = NULL, *sizes = json_object();
	if (pl_client_request(c, "GET", "/volumes?size=1", NULL, NULL, &sized, NULL) == 0) {
		const json_t *sv;
		json_array_foreach(sized, k, sv)
		{
			const char *n = json_string_value(json_object_get(sv, "name"));
			json_t *sz = json_object_get(sv, "size");
			if (n && json_is_integer(sz))
				json_object_set(sizes, n, sz);
		}
	}
	if (pl_volume_list(c, &vols, &nv, NULL) == 0) {
		for (size_t i = 0; i < nv; i++) {
			json_int_t refs = 0;
			json_array_foreach(sums, k, s)
			{
				size_t m;
				const json_t *mt;
				json_array_foreach(json_object_get(s, "mounts"), m, mt)
				{
					const char *src =
					    json_string_value(json_object_get(mt, "source"));
					if (src && vols[i]->name && !strcmp(src, vols[i]->name))
						refs++;
				}
			}
			json_t *szv = json_object_get(sizes, vols[i]->name ? vols[i]->name : "");
			json_int_t vol_size = szv ? json_integer_value(szv) : -1;
			json_array_append_new(
			    volumes,
			    json_pack(
				"{s:s,s:s,s:s,s:s,s:o,s:s,s:{s:I,s:I}}", "Name",
				vols[i]->name ? vols[i]->name : "", "Driver", "local", "Mountpoint",
				vols[i]->mountpoint ? vols[i]->mountpoint : "", "CreatedAt",
				vols[i]->created ? vols[i]->created : "", "Labels",
				vols[i]->labels ? json_incref(vols[i]->labels) : json_object(),
				"Scope", "local", "UsageData", "Size", vol_size, "RefCount", refs));
		}
		pl_volume_infos_free(vols, nv);
	}
	pl_image_infos_free(imgs, ni);
	dk_job_reply_json(j, 200,
			  json_pack("{s:I,s:o,s:o,s:o,s:[]}", "LayersSize", layers, "Images",
				    images, "Containers", containers, "Volumes", volumes,
				    "BuildCache"));
}

/* a prune's label filters: label=k / label=k=v must all hold; label!=... none */
static bool labels_pass(const json_t *filters, const json_t *labels)
{
	const char *keys[] = {"label", "label!"};
	for (int neg = 0; neg < 2; neg++) {
		const json_t *f = json_object_get(filters, keys[neg]);
		const char *k;
		json_t *v;
		size_t i;
		json_t *vals = json_array();
		if (json_is_array(f))
			json_array_extend(vals, (json_t *)f);
		else
			json_object_foreach((json_t *)f, k, v)
			    json_array_append_new(vals, json_string(k));
		json_array_foreach(vals, i, v)
		{
			const char *want = json_string_value(v);
			const char *eq = strchr(want, '=');
			_cleanup_free_ char *key =
			    eq ? strndup(want, (size_t)(eq - want)) : pl_xstrdup(want);
			const char *have = json_string_value(json_object_get(labels, key));
			bool m = have && (!eq || !strcmp(have, eq + 1));
			if (m == (bool)neg) {
				json_decref(vals);
				return false;
			}
		}
		json_decref(vals);
	}
	return true;
}

static json_t *prune_filters(dk_job_t *j)
{
	const char *t = dk_job_query(j, "filters");
	return t && *t ? json_loads(t, 0, NULL) : NULL;
}

void dk_images_prune(dk_job_t *j)
{
	pl_client_t *c = dk_job_client(j);
	_cleanup_json_ json_t *filters = prune_filters(j);
	/* dangling=false (docker image prune -a): every image no container uses */
	const json_t *d = json_object_get(filters, "dangling");
	bool all = json_object_get(d, "false") || json_object_get(d, "0");
	_cleanup_error_ pl_error_t *err = NULL;
	pl_image_info_t **imgs = NULL;
	size_t n = 0;
	if (pl_image_list(c, NULL, &imgs, &n, &err) < 0) {
		dk_reply_pl_error(j, err);
		return;
	}
	json_t *deleted = json_array();
	json_int_t space = 0;
	for (size_t i = 0; i < n; i++) {
		bool tagged = imgs[i]->tags && imgs[i]->tags[0];
		if (tagged && !all)
			continue;
		const json_t *labels = json_object_get(imgs[i]->raw, "labels");
		if (!labels_pass(filters, labels))
			continue;
		_cleanup_json_ json_t *removed = NULL;
		/* not forced: an image a container uses stays (409) */
		if (pl_image_remove(c, imgs[i]->id, false, &removed, NULL) < 0)
			continue;
		for (char **t = imgs[i]->tags; t && *t; t++)
			json_array_append_new(deleted, json_pack("{s:s}", "Untagged", *t));
		json_array_append_new(deleted, json_pack("{s:s}", "Deleted", imgs[i]->id));
		space += imgs[i]->size;
	}
	pl_image_infos_free(imgs, n);
	dk_job_reply_json(
	    j, 200, json_pack("{s:o,s:I}", "ImagesDeleted", deleted, "SpaceReclaimed", space));
}

void dk_volumes_prune(dk_job_t *j)
{
	pl_client_t *c = dk_job_client(j);
	_cleanup_json_ json_t *filters = prune_filters(j);
	/* Docker 23+ prunes anonymous volumes only unless all=true */
	const json_t *a = json_object_get(filters, "all");
	bool all = json_object_get(a, "true") || json_object_get(a, "1");
	_cleanup_error_ pl_error_t *err = NULL;
	pl_volume_info_t **v = NULL;
	size_t n = 0;
	if (pl_volume_list(c, &v, &n, &err) < 0) {
		dk_reply_pl_error(j, err);
		return;
	}
	json_t *deleted = json_array();
	for (size_t i = 0; i < n; i++) {
		bool anonymous = v[i]->name && strlen(v[i]->name) == 64 &&
				 strspn(v[i]->name, "0123456789abcdef") == 64;
		if (!all && !anonymous)
			continue;
		if (!labels_pass(filters, v[i]->labels))
			continue;
		/* not forced: a volume in use stays */
		if (pl_volume_remove(c, v[i]->name, false, NULL) == 0)
			json_array_append_new(deleted, json_string(v[i]->name));
	}
	pl_volume_infos_free(v, n);
	dk_job_reply_json(j, 200,
			  json_pack("{s:o,s:i}", "VolumesDeleted", deleted, "SpaceReclaimed", 0));
}

void dk_networks_prune(dk_job_t *j)
{
	pl_client_t *c = dk_job_client(j);
	_cleanup_json_ json_t *filters = prune_filters(j);
	_cleanup_error_ pl_error_t *err = NULL;
	pl_network_info_t **v = NULL;
	size_t n = 0;
	if (pl_network_list(c, &v, &n, &err) < 0) {
		dk_reply_pl_error(j, err);
		return;
	}
	_cleanup_json_ json_t *sums = NULL;
	pl_container_summaries(c, true, false, NULL, &sums, NULL);
	json_t *deleted = json_array();
	for (size_t i = 0; i < n; i++) {
		const char *name = v[i]->name;
		if (!name || !strcmp(name, "bridge") || !strcmp(name, "host") ||
		    !strcmp(name, "none") || !strcmp(name, "default"))
			continue;
		if (!labels_pass(filters, json_object_get(v[i]->raw, "labels")))
			continue;
		bool used = false;
		size_t k;
		const json_t *s;
		json_array_foreach(sums, k, s) used |=
		    json_object_get(json_object_get(s, "networks"), name) != NULL;
		if (used)
			continue;
		if (pl_network_remove(c, name, NULL) == 0)
			json_array_append_new(deleted, json_string(name));
	}
	pl_network_infos_free(v, n);
	dk_job_reply_json(j, 200, json_pack("{s:o}", "NetworksDeleted", deleted));
}

/* ---- docker import ---- */

static int tar_header(int fd, const char *name, uint64_t size)
{
	char h[512] = {0};
	snprintf(h, 100, "%s", name);
	snprintf(h + 100, 8, "%07o", 0644);
	snprintf(h + 108, 8, "%07o", 0);
	snprintf(h + 116, 8, "%07o", 0);
	if (size >= 077777777777ULL)
		return -1; /* ustar's 8 GiB */
	char num[32];
	snprintf(num, sizeof(num), "%011llo", (unsigned long long)size);
	memcpy(h + 124, num, 11);
	snprintf(num, sizeof(num), "%011llo", (unsigned long long)time(NULL) & 077777777777ULL);
	memcpy(h + 136, num, 11);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	unsigned sum = 0;
	for (size_t i = 0; i < sizeof(h); i++)
		sum += (unsigned char)h[i];
	snprintf(h + 148, 8, "%06o", sum);
	return pl_write_all(fd, h, sizeof(h));
}

static int tar_pad(int fd, uint64_t size)
{
	static const char zero[512];
	size_t pad = (size_t)((512 - size % 512) % 512);
	return pad ? pl_write_all(fd, zero, pad) : 0;
}

static int tar_file(int fd, const char *name, const char *data, size_t len)
{
	if (tar_header(fd, name, len) < 0 || pl_write_all(fd, data, len) < 0)
		return -1;
	return tar_pad(fd, len);
}

static int tar_copy(int fd, const char *name, int src, uint64_t size)
{
	if (tar_header(fd, name, size) < 0 || lseek(src, 0, SEEK_SET) < 0)
		return -1;
	char buf[64 * 1024];
	uint64_t left = size;
	while (left) {
		ssize_t n = read(src, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || pl_write_all(fd, buf, (size_t)n) < 0)
			return -1;
		left -= (uint64_t)n;
	}
	return tar_pad(fd, size);
}

/* POST /images/create?fromSrc=-: the body, a root file system tar, becomes a one-layer
 * image: the layer goes to the store (POST /layers gives its diff id), then a
 * docker-archive around it is imported, so the image is recorded as any loaded one. */
void dk_image_import(dk_job_t *j)
{
	pl_client_t *c = dk_job_client(j);
	const char *src = dk_job_query(j, "fromSrc");
	int body = dk_job_body_fd(j);
	if (!src || strcmp(src, "-") || body < 0) {
		dk_job_reply_message(j, 400, "import takes the tar in the request (fromSrc=-)");
		return;
	}
	off_t size = lseek(body, 0, SEEK_END);
	if (size <= 0) {
		dk_job_reply_message(j, 400, "import: an empty archive");
		return;
	}
	lseek(body, 0, SEEK_SET);
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_json_ json_t *layer = NULL;
	if (pl_layer_write(c, body, size, &layer, &err) < 0) {
		dk_reply_pl_error(j, err);
		return;
	}
	const char *diff_id = json_string_value(json_object_get(layer, "diff_id"));
	_cleanup_json_ json_t *changes = json_object();
	char *bad = NULL;
	if (parse_changes(dk_job_query_all(j, "changes"), NULL, changes, &bad) < 0) {
		dk_job_reply_message(j, 400, "%s is not a valid change command", bad);
		free(bad);
		return;
	}
	char when[48];
	pl_time_format(pl_now_ns(), when, sizeof(when));
	const char *msg = dk_job_query(j, "message");
	_cleanup_json_ json_t *config =
	    json_pack("{s:s,s:s,s:s,s:O,s:{s:s,s:[s]},s:[{s:s,s:s,s:s}]}", "architecture", "amd64",
		      "os", "linux", "created", when, "config", changes, "rootfs", "type", "layers",
		      "diff_ids", diff_id ? diff_id : "", "history", "created", when, "created_by",
		      "", "comment", msg && *msg ? msg : "Imported from -");
	const char *repo = dk_job_query(j, "repo");
	const char *tag = dk_job_query(j, "tag");
	_cleanup_json_ json_t *tags = json_array();
	if (repo && *repo) {
		_cleanup_free_ char *t =
		    strchr(repo, ':') && !strchr(strrchr(repo, ':'), '/')
			? pl_xstrdup(repo)
			: pl_xasprintf("%s:%s", repo, tag && *tag ? tag : "latest");
		json_array_append_new(tags, json_string(t));
	}
	_cleanup_json_ json_t *manifest = json_pack("[{s:s,s:O,s:[s]}]", "Config", "config.json",
						    "RepoTags", tags, "Layers", "layer.tar");
	_cleanup_free_ char *cfg_text = pl_json_dump(config);
	_cleanup_free_ char *man_text = pl_json_dump(manifest);
	char path[] = "/tmp/pl-dockerd-import-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0) {
		dk_job_reply_message(j, 500, "import: %s", strerror(errno));
		return;
	}
	unlink(path);
	static const char zero[1024];
	if (tar_file(fd, "manifest.json", man_text, strlen(man_text)) < 0 ||
	    tar_file(fd, "config.json", cfg_text, strlen(cfg_text)) < 0 ||
	    tar_copy(fd, "layer.tar", body, (uint64_t)size) < 0 ||
	    pl_write_all(fd, zero, sizeof(zero)) < 0) {
		close(fd);
		dk_job_reply_message(j, 500, "import: writing the archive failed");
		return;
	}
	off_t total = lseek(fd, 0, SEEK_CUR);
	lseek(fd, 0, SEEK_SET);
	_cleanup_json_ json_t *images = NULL;
	int r = pl_image_import(c, fd, total, &images, &err);
	close(fd);
	if (r < 0) {
		dk_reply_pl_error(j, err);
		return;
	}
	const char *id = json_string_value(json_object_get(json_array_get(images, 0), "id"));
	dk_job_stream(j, 200, "application/json");
	write_line(j, json_pack("{s:s}", "status", id ? id : ""));
}
