/* SPDX-License-Identifier: Apache-2.0 */
/* What a container record says, for every unit of the core and the API: container.h's
 * accessors (and the core's parts: its loop, events, images, volumes, network, kv), the
 * list walk and lookups by id, prefix or name, and what is told about a
 * container (lifecycle subscribers, the change callback that answers waits, "container"
 * events). Reads the record
 * and tells; acts on nothing (the lifecycle is container.c's), so the units that hang state
 * on a record (sessions, health checks, the link to tether) and the network can use it
 * without depending on the lifecycle. */
#include "portlayer/internal.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/util.h"
#include "portlayer/events.h"

#include <string.h>

static const char *const status_names[] = {"created",  "starting", "running",
					   "stopping", "stopped",  "removing"};

const char *pl_status_name(pl_status_t s)
{
	return (unsigned)s < PL_ARRAY_SIZE(status_names) ? status_names[s] : "unknown";
}

const pl_config_t *pl_container_config(const pl_container_t *c)
{
	return c->config;
}

const char *pl_container_id(const pl_container_t *c)
{
	return c->id;
}

pl_status_t pl_container_status(const pl_container_t *c)
{
	return c->status;
}

bool pl_container_is_running(const pl_container_t *c)
{
	return c->status == PL_STATUS_STARTING || c->status == PL_STATUS_RUNNING ||
	       c->status == PL_STATUS_STOPPING;
}

uint64_t pl_container_version(const pl_container_t *c)
{
	return c->version;
}

const char *pl_container_name(const pl_container_t *c)
{
	return c->config->name ? c->config->name : "";
}

uint64_t pl_container_exits(const pl_container_t *c)
{
	return c->exits;
}

int pl_container_dirfd(const pl_container_t *c)
{
	return c->dirfd;
}

const char *pl_container_dir(const pl_container_t *c)
{
	return c->dir;
}

pl_container_t *pl_container_first(pl_portlayer_t *pl)
{
	return pl->head;
}

pl_container_t *pl_container_next(pl_container_t *c)
{
	return c->next;
}

pl_container_t *pl_container_find(pl_portlayer_t *pl, const char *ref, pl_error_t **err)
{
	size_t n = strlen(ref);
	pl_container_t *by_prefix = NULL;
	bool ambiguous = false;
	for (pl_container_t *c = pl->head; c; c = c->next) {
		if (strcmp(c->id, ref) == 0 ||
		    (c->config->name && strcmp(c->config->name, ref) == 0))
			return c;
		if (n > 0 && n < PL_ID_LEN && strncmp(c->id, ref, n) == 0) {
			ambiguous = by_prefix != NULL;
			by_prefix = c;
		}
	}
	if (by_prefix && !ambiguous)
		return by_prefix;
	if (ambiguous)
		pl_error_set(err, PL_ERR_INVALID, 0, "container id prefix \"%s\" is ambiguous",
			     ref);
	else
		pl_error_set(err, PL_ERR_NOTFOUND, 0, "no such container: %s", ref);
	return NULL;
}

void pl_container_changed(pl_container_t *c)
{
	if (c->pl->on_change)
		c->pl->on_change(c->pl, c, c->pl->on_change_data);
}

void pl_portlayer_on_change(pl_portlayer_t *pl, pl_change_fn fn, void *data)
{
	pl->on_change = fn;
	pl->on_change_data = data;
}

void pl_container_emit(pl_container_t *c, const char *action, json_t *attrs)
{
	/* what the container was made from, at the time (Docker's events carry both) */
	if (!attrs)
		attrs = json_object();
	if (c->config->image && !json_object_get(attrs, "image"))
		json_object_set_new(attrs, "image", json_string(c->config->image));
	if (json_object_size(c->config->labels) && !json_object_get(attrs, "labels"))
		json_object_set_new(attrs, "labels", json_deep_copy(c->config->labels));
	pl_events_emit(c->pl->events, "container", action, c->id, c->config->name, attrs);
}

void pl_portlayer_subscribe(pl_portlayer_t *pl, pl_lifecycle_fn fn, void *data)
{
	if (pl->n_subscribers == PL_LIFECYCLE_SUBSCRIBERS)
		abort(); /* a fixed set of components subscribes at open */
	pl->subscribers[pl->n_subscribers].fn = fn;
	pl->subscribers[pl->n_subscribers++].data = data;
}

void pl_container_lifecycle(pl_container_t *c, pl_lifecycle_t what)
{
	pl_portlayer_t *pl = c->pl;
	for (size_t i = 0; i < pl->n_subscribers; i++)
		pl->subscribers[i].fn(pl, c, what, pl->subscribers[i].data);
}

bool pl_portlayer_volume_in_use(pl_portlayer_t *pl, const char *name, bool running_only)
{
	for (pl_container_t *c = pl->head; c; c = c->next) {
		if (running_only && !pl_container_is_running(c))
			continue;
		size_t i;
		json_t *m;
		json_array_foreach(c->config->mounts, i, m)
		{
			if (!strcmp(json_string_value(json_object_get(m, "type")), "volume") &&
			    !strcmp(json_string_value(json_object_get(m, "source")), name))
				return true;
		}
	}
	return false;
}

bool pl_portlayer_image_in_use(pl_portlayer_t *pl, const char *image_id)
{
	for (pl_container_t *c = pl->head; c; c = c->next)
		if (c->config->image && strcmp(c->config->image, image_id) == 0)
			return true;
	return false;
}

json_t *pl_container_exit_json(const pl_container_t *c)
{
	json_t *j = json_pack("{s:o, s:o}", "exit_code",
			      c->has_exit ? json_integer(c->exit_code) : json_null(), "signal",
			      c->has_exit && c->signal ? json_integer(c->signal) : json_null());
	if (c->error)
		json_object_set_new(j, "error", json_string(c->error));
	return j;
}

const char *pl_container_status_name(const pl_container_t *c)
{
	/* derived from the freezer, never remembered */
	if (c->status == PL_STATUS_RUNNING && c->mech->is_paused(c->mech, c->id))
		return "paused";
	return pl_status_name(c->status);
}

const char *pl_container_status_listed(const pl_container_t *c)
{
	return c->status == PL_STATUS_RUNNING && c->paused ? "paused" : pl_status_name(c->status);
}

json_t *pl_container_summary_json(const pl_container_t *c)
{
	json_t *args = json_array();
	for (char **a = c->config->args; *a; a++)
		json_array_append_new(args, json_string(*a));
	return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "id", c->id, "name",
			 c->config->name ? c->config->name : "", "state",
			 pl_container_status_listed(c), "exit_code",
			 c->has_exit ? json_integer(c->exit_code) : json_null(), "created",
			 pl_json_time(c->created_ns), "args", args);
}

/* --- the core's own parts */

const pl_mechanism_t *const *pl_portlayer_mechanisms(const pl_portlayer_t *pl)
{
	return pl->mechs;
}

pl_userns_range_t pl_portlayer_userns_range(const pl_portlayer_t *pl)
{
	return pl->userns_range;
}

struct pl_kv *pl_portlayer_kv(pl_portlayer_t *pl)
{
	return pl->kv;
}

struct pl_network *pl_portlayer_network(pl_portlayer_t *pl)
{
	return pl->net;
}

pl_loop_t *pl_portlayer_loop(pl_portlayer_t *pl)
{
	return pl->loop;
}

pl_images_t *pl_portlayer_images(pl_portlayer_t *pl)
{
	return pl->images;
}

pl_events_t *pl_portlayer_events(pl_portlayer_t *pl)
{
	return pl->events;
}

pl_volumes_t *pl_portlayer_volumes(pl_portlayer_t *pl)
{
	return pl->volumes;
}
