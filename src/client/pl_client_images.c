/* SPDX-License-Identifier: Apache-2.0 */
#include "client/portlayer-client.h"
#include "client/pl_client_util.h"
#include "common/cleanup.h"
#include "common/json.h"

#include <string.h>

/* ---- images ---- */

static pl_image_info_t *image_from_json(json_t *j)
{
	pl_image_info_t *im = pl_xcalloc(1, sizeof(*im));
	im->raw = json_incref(j);
	im->id = pl_cj_str(j, "id");
	im->tags = pl_strv_from_json(json_object_get(j, "tags"));
	im->repo_digests = pl_strv_from_json(json_object_get(j, "repo_digests"));
	im->created = pl_cj_str(j, "created");
	im->size = pl_cj_int(j, "size", 0);
	im->config = json_object_get(j, "config");
	return im;
}

pl_image_info_t *pl_image_info_free(pl_image_info_t *im)
{
	if (!im)
		return NULL;
	free(im->id);
	pl_strv_free(im->tags);
	pl_strv_free(im->repo_digests);
	free(im->created);
	if (im->raw)
		json_decref(im->raw);
	free(im);
	return NULL;
}

void pl_image_infos_free(pl_image_info_t **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		pl_image_info_free(v[i]);
	free(v);
}

int pl_image_list(pl_client_t *c, const char *filters, pl_image_info_t ***out, size_t *n,
		  pl_error_t **err)
{
	_cleanup_free_ char *path = pl_xstrdup("/images");
	if (filters && *filters)
		pl_client_add_query(c, &path, "filters", filters);
	_cleanup_json_ json_t *resp = NULL;
	if (pl_client_request(c, "GET", path, NULL, NULL, &resp, err) < 0)
		return -1;
	size_t count = json_array_size(resp);
	pl_image_info_t **v = pl_xcalloc(count + 1, sizeof(*v));
	for (size_t i = 0; i < count; i++)
		v[i] = image_from_json(json_array_get(resp, i));
	*out = v;
	*n = count;
	return 0;
}

pl_image_info_t *pl_image_inspect(pl_client_t *c, const char *ref, pl_error_t **err)
{
	/* refs keep their slashes: the route takes the rest of the path */
	_cleanup_free_ char *path = pl_xasprintf("/images/%s", ref);
	_cleanup_json_ json_t *resp = NULL;
	if (pl_client_request(c, "GET", path, NULL, NULL, &resp, err) < 0)
		return NULL;
	return image_from_json(resp);
}

int pl_image_pull(pl_client_t *c, const char *ref, bool insecure, pl_client_data_fn fn,
		  void *userdata, pl_error_t **err)
{
	_cleanup_free_ char *path = pl_xstrdup("/images/pull");
	pl_client_add_query(c, &path, "ref", ref);
	pl_client_add_query(c, &path, "progress", "1");
	if (insecure)
		pl_client_add_query(c, &path, "insecure", "1");
	return pl_client_stream_body(c, "POST", path, NULL, fn, userdata, err);
}

int pl_image_import(pl_client_t *c, int fd, int64_t size, json_t **images, pl_error_t **err)
{
	_cleanup_json_ json_t *resp = NULL;
	if (pl_client_upload(c, "POST", "/images/import", fd, size, "application/x-tar", NULL,
			     &resp, err) < 0)
		return -1;
	if (images) {
		json_t *a = json_object_get(resp, "images");
		*images = a ? json_incref(a) : json_array();
	}
	return 0;
}

int pl_image_tag(pl_client_t *c, const char *source, const char *target, pl_error_t **err)
{
	char *path = pl_xstrdup("/images/tag");
	pl_client_add_query(c, &path, "ref", source);
	pl_client_add_query(c, &path, "name", target);
	return pl_cj_call(c, "POST", path, err);
}

int pl_image_remove(pl_client_t *c, const char *ref, bool force, json_t **removed, pl_error_t **err)
{
	_cleanup_free_ char *path = pl_xasprintf("/images/%s", ref);
	if (force)
		pl_client_add_query(c, &path, "force", "1");
	json_t *resp = NULL;
	if (pl_client_request(c, "DELETE", path, NULL, NULL, &resp, err) < 0)
		return -1;
	if (removed)
		*removed = resp;
	else if (resp)
		json_decref(resp);
	return 0;
}

/* ---- volumes ---- */

static pl_volume_info_t *volume_from_json(json_t *j)
{
	pl_volume_info_t *v = pl_xcalloc(1, sizeof(*v));
	v->raw = json_incref(j);
	v->name = pl_cj_str(j, "name");
	v->driver = pl_cj_str(j, "driver");
	v->mountpoint = pl_cj_str(j, "mountpoint");
	if (!v->mountpoint)
		v->mountpoint = pl_cj_str(j, "path");
	v->created = pl_cj_str(j, "created");
	v->labels = json_object_get(j, "labels");
	return v;
}

pl_volume_info_t *pl_volume_info_free(pl_volume_info_t *v)
{
	if (!v)
		return NULL;
	free(v->name);
	free(v->driver);
	free(v->mountpoint);
	free(v->created);
	if (v->raw)
		json_decref(v->raw);
	free(v);
	return NULL;
}

void pl_volume_infos_free(pl_volume_info_t **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		pl_volume_info_free(v[i]);
	free(v);
}

pl_volume_info_t *pl_volume_create(pl_client_t *c, const char *name, const char *const *labels,
				   pl_error_t **err)
{
	_cleanup_json_ json_t *body = json_object();
	if (name && *name)
		json_object_set_new(body, "name", json_string(name));
	json_t *l = pl_cj_kv(labels);
	if (l && json_object_size(l))
		json_object_set_new(body, "labels", l);
	else if (l)
		json_decref(l);
	_cleanup_json_ json_t *resp = NULL;
	if (pl_client_request(c, "POST", "/volumes", body, NULL, &resp, err) < 0)
		return NULL;
	return volume_from_json(resp);
}

int pl_volume_list(pl_client_t *c, pl_volume_info_t ***out, size_t *n, pl_error_t **err)
{
	return pl_volume_list_filtered(c, NULL, out, n, err);
}

int pl_volume_list_filtered(pl_client_t *c, const char *filters, pl_volume_info_t ***out, size_t *n,
			    pl_error_t **err)
{
	_cleanup_json_ json_t *resp = NULL;
	_cleanup_free_ char *path = pl_xstrdup("/volumes");
	if (filters && *filters)
		pl_client_add_query(c, &path, "filters", filters);
	if (pl_client_request(c, "GET", path, NULL, NULL, &resp, err) < 0)
		return -1;
	size_t count = json_array_size(resp);
	pl_volume_info_t **v = pl_xcalloc(count + 1, sizeof(*v));
	for (size_t i = 0; i < count; i++)
		v[i] = volume_from_json(json_array_get(resp, i));
	*out = v;
	*n = count;
	return 0;
}

pl_volume_info_t *pl_volume_inspect(pl_client_t *c, const char *name, pl_error_t **err)
{
	_cleanup_free_ char *path = pl_cj_path(c, "/volumes", name, NULL);
	_cleanup_json_ json_t *resp = NULL;
	if (pl_client_request(c, "GET", path, NULL, NULL, &resp, err) < 0)
		return NULL;
	return volume_from_json(resp);
}

int pl_volume_remove(pl_client_t *c, const char *name, bool force, pl_error_t **err)
{
	char *path = pl_cj_path(c, "/volumes", name, NULL);
	if (force)
		pl_client_add_query(c, &path, "force", "1");
	return pl_cj_call(c, "DELETE", path, err);
}

/* ---- networks ---- */

static pl_network_info_t *network_from_json(json_t *j)
{
	pl_network_info_t *n = pl_xcalloc(1, sizeof(*n));
	n->raw = json_incref(j);
	n->name = pl_cj_str(j, "name");
	n->id = pl_cj_str(j, "id");
	n->driver = pl_cj_str(j, "driver");
	n->subnet = pl_cj_str(j, "subnet");
	n->gateway = pl_cj_str(j, "gateway");
	n->created = pl_cj_str(j, "created");
	n->internal = json_is_true(json_object_get(j, "internal"));
	return n;
}

pl_network_info_t *pl_network_info_free(pl_network_info_t *n)
{
	if (!n)
		return NULL;
	free(n->name);
	free(n->id);
	free(n->driver);
	free(n->subnet);
	free(n->gateway);
	free(n->created);
	if (n->raw)
		json_decref(n->raw);
	free(n);
	return NULL;
}

void pl_network_infos_free(pl_network_info_t **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		pl_network_info_free(v[i]);
	free(v);
}

pl_network_info_t *pl_network_create(pl_client_t *c, const pl_network_spec_t *s, pl_error_t **err)
{
	return pl_network_create_from(c, s, NULL, err);
}

pl_network_info_t *pl_network_create_from(pl_client_t *c, const pl_network_spec_t *s,
					  const json_t *extra, pl_error_t **err)
{
	json_t *name = json_string(s->name ? s->name : "");
	if (!name) {
		pl_error_set(err, PL_ERR_INVALID, 0, "'%s' is not valid UTF-8", s->name);
		return NULL;
	}
	_cleanup_json_ json_t *body = json_pack("{s:o}", "name", name);
	const char *fields[][2] = {{"driver", s->driver},
				   {"subnet", s->subnet},
				   {"gateway", s->gateway},
				   {"ip_range", s->ip_range},
				   {"parent", s->parent}};
	for (size_t i = 0; i < PL_ARRAY_SIZE(fields); i++)
		if (fields[i][1] && *fields[i][1])
			json_object_set_new(body, fields[i][0], json_string(fields[i][1]));
	if (s->internal)
		json_object_set_new(body, "internal", json_true());
	json_t *l = pl_cj_kv(s->labels);
	if (l && json_object_size(l))
		json_object_set_new(body, "labels", l);
	else if (l)
		json_decref(l);
	if (extra)
		json_object_update(body, (json_t *)extra);
	_cleanup_json_ json_t *resp = NULL;
	if (pl_client_request(c, "POST", "/networks", body, NULL, &resp, err) < 0)
		return NULL;
	return network_from_json(resp);
}

int pl_network_list(pl_client_t *c, pl_network_info_t ***out, size_t *n, pl_error_t **err)
{
	return pl_network_list_filtered(c, NULL, out, n, err);
}

int pl_network_list_filtered(pl_client_t *c, const char *filters, pl_network_info_t ***out,
			     size_t *n, pl_error_t **err)
{
	_cleanup_json_ json_t *resp = NULL;
	_cleanup_free_ char *path = pl_xstrdup("/networks");
	if (filters && *filters)
		pl_client_add_query(c, &path, "filters", filters);
	if (pl_client_request(c, "GET", path, NULL, NULL, &resp, err) < 0)
		return -1;
	size_t count = json_array_size(resp);
	pl_network_info_t **v = pl_xcalloc(count + 1, sizeof(*v));
	for (size_t i = 0; i < count; i++)
		v[i] = network_from_json(json_array_get(resp, i));
	*out = v;
	*n = count;
	return 0;
}

pl_network_info_t *pl_network_inspect(pl_client_t *c, const char *name, pl_error_t **err)
{
	_cleanup_free_ char *path = pl_cj_path(c, "/networks", name, NULL);
	_cleanup_json_ json_t *resp = NULL;
	if (pl_client_request(c, "GET", path, NULL, NULL, &resp, err) < 0)
		return NULL;
	return network_from_json(resp);
}

int pl_network_remove(pl_client_t *c, const char *name, pl_error_t **err)
{
	return pl_cj_call(c, "DELETE", pl_cj_path(c, "/networks", name, NULL), err);
}

int pl_network_connect(pl_client_t *c, const char *network, const char *container, const char *ip,
		       const char *const *aliases, pl_error_t **err)
{
	_cleanup_free_ char *path = pl_cj_path(c, "/networks", network, "/connect");
	_cleanup_json_ json_t *body = json_pack("{s:s}", "container", container);
	if (ip && *ip)
		json_object_set_new(body, "ip", json_string(ip));
	if (aliases)
		json_object_set_new(body, "aliases", pl_cj_strv(aliases));
	_cleanup_json_ json_t *resp = NULL;
	return pl_client_request(c, "POST", path, body, NULL, &resp, err);
}

int pl_network_disconnect(pl_client_t *c, const char *network, const char *container, bool force,
			  pl_error_t **err)
{
	_cleanup_free_ char *path = pl_cj_path(c, "/networks", network, "/disconnect");
	_cleanup_json_ json_t *body =
	    json_pack("{s:s,s:b}", "container", container, "force", force);
	_cleanup_json_ json_t *resp = NULL;
	return pl_client_request(c, "POST", path, body, NULL, &resp, err);
}
