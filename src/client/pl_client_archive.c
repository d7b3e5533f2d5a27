/* SPDX-License-Identifier: Apache-2.0 */
#include "client/portlayer-client.h"
#include "client/pl_client_util.h"
#include "common/cleanup.h"
#include "common/json.h"

#include <string.h>

static char *archive_path(pl_client_t *c, const char *id, const char *path)
{
	_cleanup_free_ char *eid = pl_client_escape(c, id);
	char *p = pl_xasprintf("/containers/%s/archive", eid);
	pl_client_add_query(c, &p, "path", path);
	return p;
}

int pl_container_archive_put(pl_client_t *c, const char *id, const char *path, int fd, int64_t size,
			     pl_error_t **err)
{
	_cleanup_free_ char *p = archive_path(c, id, path);
	return pl_client_upload(c, "PUT", p, fd, size, "application/x-tar", NULL, NULL, err);
}

int pl_container_archive_stat(pl_client_t *c, const char *id, const char *path, pl_error_t **err)
{
	_cleanup_free_ char *p = archive_path(c, id, path);
	return pl_client_request(c, "HEAD", p, NULL, NULL, NULL, err);
}

int pl_container_archive_get(pl_client_t *c, const char *id, const char *path, pl_client_data_fn fn,
			     void *userdata, pl_error_t **err)
{
	_cleanup_free_ char *p = archive_path(c, id, path);
	return pl_client_stream(c, p, fn, userdata, err);
}

int pl_container_commit(pl_client_t *c, const pl_commit_spec_t *s, char **image_id,
			pl_error_t **err)
{
	_cleanup_free_ char *path = pl_xstrdup("/commit");
	pl_client_add_query(c, &path, "container", s->container);
	if (s->repo && *s->repo)
		pl_client_add_query(c, &path, "repo", s->repo);
	if (s->tag && *s->tag)
		pl_client_add_query(c, &path, "tag", s->tag);
	_cleanup_json_ json_t *body = json_object();
	if (s->comment)
		json_object_set_new(body, "comment", json_string(s->comment));
	if (s->author)
		json_object_set_new(body, "author", json_string(s->author));
	if (s->created_by)
		json_object_set_new(body, "created_by", json_string(s->created_by));
	if (s->empty_layer)
		json_object_set_new(body, "empty_layer", json_true());
	if (s->changes)
		json_object_set_new(body, "changes", json_deep_copy(s->changes));
	_cleanup_json_ json_t *resp = NULL;
	if (pl_client_request(c, "POST", path, body, NULL, &resp, err) < 0)
		return -1;
	const char *id = json_string_value(
	    json_object_get(json_array_get(json_object_get(resp, "images"), 0), "id"));
	if (!id)
		id = json_string_value(json_object_get(resp, "id"));
	if (image_id)
		*image_id = id ? pl_xstrdup(id) : NULL;
	return 0;
}
