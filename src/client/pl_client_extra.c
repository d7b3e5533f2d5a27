/* SPDX-License-Identifier: Apache-2.0 */
/* The typed client for routes pl-dockerd's second half uses: the archive routes with the
 * path stat header (docker cp), image save and push, pulls with credentials, layers. */
#include "client/portlayer-client.h"
#include "client/pl_client_util.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/util.h"

#include <string.h>

static char *archive_path(pl_client_t *c, const char *id, const char *path)
{
	char *p = pl_cj_path(c, "/containers", id, "/archive");
	pl_client_add_query(c, &p, "path", path);
	return p;
}

int pl_archive_get(pl_client_t *c, const char *id, const char *path, char **stat,
		   pl_client_data_fn fn, void *userdata, pl_error_t **err)
{
	_cleanup_free_ char *p = archive_path(c, id, path);
	return pl_client_stream_header(c, "GET", p, "X-Docker-Container-Path-Stat", stat, fn,
				       userdata, err);
}

int pl_archive_stat(pl_client_t *c, const char *id, const char *path, char **stat, pl_error_t **err)
{
	_cleanup_free_ char *p = archive_path(c, id, path);
	return pl_client_stream_header(c, "HEAD", p, "X-Docker-Container-Path-Stat", stat, NULL,
				       NULL, err);
}

int pl_archive_put(pl_client_t *c, const char *id, const char *path, int fd, int64_t size,
		   pl_error_t **err)
{
	_cleanup_free_ char *p = archive_path(c, id, path);
	return pl_client_upload(c, "PUT", p, fd, size, "application/x-tar", NULL, NULL, err);
}

int pl_image_save(pl_client_t *c, const char *names, bool oci, pl_client_data_fn fn, void *userdata,
		  pl_error_t **err)
{
	_cleanup_free_ char *p = pl_xstrdup("/images/get");
	pl_client_add_query(c, &p, "names", names);
	if (oci)
		pl_client_add_query(c, &p, "format", "oci");
	return pl_client_stream(c, p, fn, userdata, err);
}

int pl_image_push(pl_client_t *c, const char *ref, const char *tag, bool insecure,
		  const char *username, const char *password, json_t **result, pl_error_t **err)
{
	_cleanup_free_ char *p = pl_xasprintf("/images/%s/push", ref);
	if (tag && *tag)
		pl_client_add_query(c, &p, "tag", tag);
	if (insecure)
		pl_client_add_query(c, &p, "insecure", "1");
	_cleanup_json_ json_t *body = json_object();
	if (username && *username)
		json_object_set_new(body, "username", json_string(username));
	if (password && *password)
		json_object_set_new(body, "password", json_string(password));
	json_t *resp = NULL;
	if (pl_client_request(c, "POST", p, body, NULL, &resp, err) < 0)
		return -1;
	if (result)
		*result = resp;
	else
		json_decref(resp);
	return 0;
}

int pl_image_pull_auth(pl_client_t *c, const char *ref, bool insecure, const char *username,
		       const char *password, pl_client_data_fn fn, void *userdata, pl_error_t **err)
{
	_cleanup_free_ char *path = pl_xstrdup("/images/pull");
	pl_client_add_query(c, &path, "ref", ref);
	pl_client_add_query(c, &path, "progress", "1");
	if (insecure)
		pl_client_add_query(c, &path, "insecure", "1");
	_cleanup_json_ json_t *body = NULL;
	if (username && *username) {
		body = json_pack("{s:s,s:s}", "username", username, "password",
				 password ? password : "");
	}
	return pl_client_stream_body(c, "POST", path, body, fn, userdata, err);
}

int pl_layer_write(pl_client_t *c, int fd, int64_t size, json_t **out, pl_error_t **err)
{
	json_t *resp = NULL;
	if (pl_client_upload(c, "POST", "/layers", fd, size, "application/x-tar", NULL, &resp,
			     err) < 0)
		return -1;
	if (out)
		*out = resp;
	else
		json_decref(resp);
	return 0;
}
