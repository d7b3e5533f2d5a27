/* SPDX-License-Identifier: Apache-2.0 */
/* /events: each open stream is a subscriber with its own buffer and filters; events from
 * the past (since/until) are replayed from the library's journal first. */
#include "daemon/routes_events.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/util.h"
#include "portlayer/events.h"

#include <string.h>

#define EVENT_BUFFER_MAX (4u << 20)

typedef struct events_sub {
	pl_waiter_t w;
	json_t *filters;
	uint64_t until; /* ns; 0: none */
	char *buf;	/* event lines not yet taken */
	size_t len, off, cap;
	bool done;
	struct events_sub *next, *prev;
} events_sub_t;

static bool filter_has(const json_t *filters, const char *key, const char *v1, const char *v2)
{
	json_t *vals = json_object_get(filters, key);
	if (!vals || !json_array_size(vals))
		return true;
	size_t i;
	json_t *e;
	json_array_foreach(vals, i, e)
	{
		const char *want = json_string_value(e);
		if (v1 && *v1 &&
		    (strcmp(want, v1) == 0 ||
		     (strlen(want) >= 4 && strncmp(v1, want, strlen(want)) == 0)))
			return true;
		if (v2 && *v2 && strcmp(want, v2) == 0)
			return true;
	}
	return false;
}

static bool event_matches(const json_t *filters, const json_t *ev)
{
	if (!filters)
		return true;
	const char *id = json_string_value(json_object_get(ev, "id"));
	const char *name =
	    json_string_value(json_object_get(json_object_get(ev, "attributes"), "name"));
	return filter_has(filters, "type", json_string_value(json_object_get(ev, "type")), NULL) &&
	       filter_has(filters, "event", json_string_value(json_object_get(ev, "action")),
			  NULL) &&
	       filter_has(filters, "container", id, name);
}

static void events_append(const json_t *ev, const char *line, void *data)
{
	events_sub_t *s = data;
	if (s->done || !event_matches(s->filters, ev))
		return;
	json_int_t t = json_integer_value(json_object_get(ev, "time_ns"));
	if (s->until && (uint64_t)t > s->until) { /* past `until` */
		s->done = true;
		return;
	}
	size_t n = strlen(line);
	if (s->len - s->off + n > EVENT_BUFFER_MAX) {
		/* a reader this far behind is cut off; it resumes with since= */
		s->done = true;
		return;
	}
	if (s->len + n > s->cap && s->buf) {
		memmove(s->buf, s->buf + s->off, s->len - s->off);
		s->len -= s->off;
		s->off = 0;
	}
	if (s->len + n > s->cap) {
		s->cap = (s->len + n) * 2;
		s->buf = pl_xrealloc(s->buf, s->cap);
	}
	memcpy(s->buf + s->len, line, n);
	s->len += n;
}

static ssize_t events_produce(pl_req_t *r, char *buf, size_t max, void *data)
{
	events_sub_t *s = data;
	size_t n = s->len - s->off;
	if (n == 0)
		return s->done ? -1 : 0;
	if (n > max)
		n = max;
	memcpy(buf, s->buf + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

static void events_end(pl_waiter_t *w)
{
	((events_sub_t *)w)->done = true;
	pl_req_wake(w->req);
}

static void events_clear(pl_waiter_t *w)
{
	events_sub_t *s = (events_sub_t *)w;
	pl_app_t *app = w->app;
	if (s->prev)
		s->prev->next = s->next;
	else if (app->event_subs == s)
		app->event_subs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	if (s->filters)
		json_decref(s->filters);
	free(s->buf);
}

static const pl_waiter_type_t events_type = {.shutdown = events_end, .clear = events_clear};

static void on_event(const json_t *ev, const char *line, void *data)
{
	pl_app_t *app = data;
	for (events_sub_t *s = app->event_subs; s; s = s->next) {
		events_append(ev, line, s);
		pl_req_wake(s->w.req);
	}
}

static void on_events_until(pl_loop_t *loop, void *data)
{
	events_sub_t *s = data;
	s->w.timer = NULL;
	events_end(&s->w);
}

/* filters={"type":[..],"container":[..],"event":[..]}: arrays of strings. */
static json_t *parse_filters(pl_req_t *r, pl_error_t **e)
{
	const char *f = pl_req_query(r, "filters");
	if (!f || !*f)
		return NULL;
	json_t *filters = pl_json_parse(f, strlen(f), "filters", e);
	static const char *const keys[] = {"type", "container", "event", NULL};
	if (!filters || pl_json_check_keys(filters, "filters", keys, e) < 0) {
		if (filters)
			json_decref(filters);
		return NULL;
	}
	const char *k;
	json_t *v;
	json_object_foreach(filters, k, v)
	{
		size_t i;
		json_t *s;
		bool ok = json_is_array(v);
		json_array_foreach(v, i, s) ok &= json_is_string(s);
		if (!ok) {
			pl_error_set(e, PL_ERR_INVALID, 0, "filters.%s must be an array of strings",
				     k);
			json_decref(filters);
			return NULL;
		}
	}
	return filters;
}

static void h_events(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	int64_t since, until;
	if (pl_route_query_time(r, "since", &since, &e) < 0 ||
	    pl_route_query_time(r, "until", &until, &e) < 0)
		return pl_route_fail(r, e);
	json_t *filters = parse_filters(r, &e);
	if (e)
		return pl_route_fail(r, e);
	events_sub_t *s = pl_waiter_new(sizeof(*s), &events_type, app, r, "");
	s->filters = filters;
	s->until = (uint64_t)until;
	if (since || until)
		pl_events_replay(pl_portlayer_events(app->pl), since, until, events_append, s);
	int64_t now = pl_now_ns();
	if (until && until <= now) {
		s->done = true;
	} else if (until) {
		s->w.timer = pl_loop_timer(app->loop, (uint64_t)(until - now) / 1000000 + 1,
					   on_events_until, s, NULL);
	}
	s->next = app->event_subs;
	if (app->event_subs)
		app->event_subs->prev = s;
	app->event_subs = s;
	pl_waiter_stream(&s->w, "application/x-ndjson", events_produce);
}

void pl_routes_events_init(pl_app_t *app)
{
	pl_events_subscribe(pl_portlayer_events(app->pl), on_event, app);
}

void pl_routes_events_shutdown(pl_app_t *app)
{
	for (events_sub_t *s = app->event_subs; s; s = s->next)
		events_end(&s->w);
}

const pl_route_t pl_routes_events[] = {
    {"GET", "/events", h_events},
    {NULL, NULL, NULL},
};
