/* SPDX-License-Identifier: Apache-2.0 */
#include "portlayer/handle.h"
#include "portlayer/internal.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "portlayer/network/network.h"
#include "portlayer/netlive.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

struct pl_handle {
	char token[PL_HANDLE_TOKEN_LEN + 1];
	char id[PL_ID_LEN + 1];
	uint64_t version;
	json_t *changes; /* [{"op":..., "arg":...}] in staging order */
	int64_t expires_ns;
	pl_handle_t *prev, *next; /* most recently used first */
};

struct pl_handles {
	pl_handle_t *head, *tail;
	size_t n;
};

/* --- mutators: adding one is one entry in the table below --- */

typedef struct mutator {
	const char *name;
	/* Validates the argument's shape when the change is staged. */
	int (*check)(const json_t *arg, pl_error_t **err);
	/* Applies the change to a staged copy of the config at commit. */
	int (*apply)(pl_portlayer_t *pl, const pl_container_t *c, pl_config_t *cfg,
		     const json_t *arg, pl_commit_result_t *res, pl_error_t **err);
} mutator_t;

static int keys(const json_t *arg, const char *op, const char *const *allowed, pl_error_t **err)
{
	return pl_json_check_keys(arg, op, allowed, err);
}

static int check_state(const json_t *arg, pl_error_t **err)
{
	static const char *const k[] = {"state", "timeout", NULL};
	if (keys(arg, "state", k, err) < 0)
		return -EINVAL;
	const char *s = json_string_value(json_object_get(arg, "state"));
	if (!s || (strcmp(s, "running") != 0 && strcmp(s, "stopped") != 0))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "state.state must be \"running\" or \"stopped\"");
	json_t *t = json_object_get(arg, "timeout");
	if (t &&
	    (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) > 86400))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "state.timeout must be an integer number of seconds");
	return 0;
}

static int apply_state(pl_portlayer_t *pl, const pl_container_t *c, pl_config_t *cfg,
		       const json_t *arg, pl_commit_result_t *res, pl_error_t **err)
{
	const char *s = json_string_value(json_object_get(arg, "state"));
	json_t *t = json_object_get(arg, "timeout");
	res->state = strcmp(s, "running") == 0 ? PL_WANT_RUNNING : PL_WANT_STOPPED;
	res->stop_timeout = t ? json_integer_value(t) : -1;
	return 0;
}

static int check_rename(const json_t *arg, pl_error_t **err)
{
	static const char *const k[] = {"name", NULL};
	if (keys(arg, "rename", k, err) < 0)
		return -EINVAL;
	const char *n = json_string_value(json_object_get(arg, "name"));
	if (!n || !pl_name_valid(n))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "rename.name must match [a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}");
	return 0;
}

static int apply_rename(pl_portlayer_t *pl, const pl_container_t *c, pl_config_t *cfg,
			const json_t *arg, pl_commit_result_t *res, pl_error_t **err)
{
	const char *n = json_string_value(json_object_get(arg, "name"));
	for (pl_container_t *o = pl_container_first(pl); o; o = pl_container_next(o)) {
		if (o != c && pl_container_config(o)->name &&
		    strcmp(pl_container_config(o)->name, n) == 0)
			return pl_error_set(err, PL_ERR_CONFLICT, 0,
					    "name \"%s\" is already in use by container %.12s", n,
					    pl_container_id(o));
	}
	free(cfg->name);
	cfg->name = pl_xstrdup(n);
	return 0;
}

/* {"set": ..., "unset": [names]} shared by env, labels and annotations */
static int check_set_unset(const json_t *arg, const char *op, bool env, pl_error_t **err)
{
	static const char *const k[] = {"set", "unset", NULL};
	if (keys(arg, op, k, err) < 0)
		return -EINVAL;
	json_t *set = json_object_get(arg, "set"), *unset = json_object_get(arg, "unset");
	_cleanup_free_ char *sf = pl_xasprintf("%s.set", op);
	if (set && (env ? pl_config_parse_env(set, sf, err)
			: pl_config_parse_string_map(set, sf, err)) < 0)
		return -EINVAL;
	if (unset) {
		size_t i;
		json_t *e;
		if (!json_is_array(unset))
			return pl_error_set(err, PL_ERR_INVALID, 0, "%s.unset must be an array",
					    op);
		json_array_foreach(unset, i, e)
		{
			if (!json_is_string(e) || !json_string_length(e))
				return pl_error_set(err, PL_ERR_INVALID, 0,
						    "%s.unset[%zu] must be a non-empty string", op,
						    i);
		}
	}
	return 0;
}

static int check_env(const json_t *arg, pl_error_t **err)
{
	return check_set_unset(arg, "env", true, err);
}

static int check_labels(const json_t *arg, pl_error_t **err)
{
	return check_set_unset(arg, "labels", false, err);
}

static int check_annotations(const json_t *arg, pl_error_t **err)
{
	return check_set_unset(arg, "annotations", false, err);
}

static bool env_key_is(const char *kv, const char *key)
{
	size_t n = strcspn(key, "=");
	return strncmp(kv, key, n) == 0 && kv[n] == '=';
}

static int apply_env(pl_portlayer_t *pl, const pl_container_t *c, pl_config_t *cfg,
		     const json_t *arg, pl_commit_result_t *res, pl_error_t **err)
{
	json_t *set = json_object_get(arg, "set"), *unset = json_object_get(arg, "unset");
	size_t n = 0;
	while (cfg->env[n])
		n++;
	size_t extra = json_array_size(set);
	char **env = pl_xcalloc(n + extra + 1, sizeof(char *));
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		bool drop = false;
		size_t j;
		json_t *e;
		json_array_foreach(unset, j, e) drop |=
		    env_key_is(cfg->env[i], json_string_value(e));
		json_array_foreach(set, j, e) drop |= env_key_is(cfg->env[i], json_string_value(e));
		if (drop)
			free(cfg->env[i]);
		else
			env[m++] = cfg->env[i];
	}
	size_t j;
	json_t *e;
	json_array_foreach(set, j, e) env[m++] = pl_xstrdup(json_string_value(e));
	free(cfg->env);
	cfg->env = env;
	return 0;
}

static void apply_map(json_t *map, const json_t *arg)
{
	json_t *unset = json_object_get(arg, "unset");
	size_t i;
	json_t *e;
	json_array_foreach(unset, i, e) json_object_del(map, json_string_value(e));
	json_object_update(map, json_object_get(arg, "set"));
}

static int apply_labels(pl_portlayer_t *pl, const pl_container_t *c, pl_config_t *cfg,
			const json_t *arg, pl_commit_result_t *res, pl_error_t **err)
{
	apply_map(cfg->labels, arg);
	return 0;
}

static int apply_annotations(pl_portlayer_t *pl, const pl_container_t *c, pl_config_t *cfg,
			     const json_t *arg, pl_commit_result_t *res, pl_error_t **err)
{
	apply_map(cfg->annotations, arg);
	return 0;
}

static int check_restart(const json_t *arg, pl_error_t **err)
{
	pl_restart_t r;
	int max;
	return pl_config_parse_restart(arg, &r, &max, err);
}

static int apply_restart(pl_portlayer_t *pl, const pl_container_t *c, pl_config_t *cfg,
			 const json_t *arg, pl_commit_result_t *res, pl_error_t **err)
{
	if (pl_config_parse_restart(arg, &cfg->restart, &cfg->restart_max, err) < 0)
		return -1;
	if (cfg->auto_remove && cfg->restart != PL_RESTART_NO)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "restart_policy: the container is removed when it stops "
				    "(auto_remove)");
	return 0;
}

static int check_stop(const json_t *arg, pl_error_t **err)
{
	static const char *const k[] = {"signal", "timeout", NULL};
	int s, t;
	if (keys(arg, "stop", k, err) < 0)
		return -EINVAL;
	return pl_config_parse_stop(json_object_get(arg, "signal"), json_object_get(arg, "timeout"),
				    &s, &t, err);
}

static int apply_stop(pl_portlayer_t *pl, const pl_container_t *c, pl_config_t *cfg,
		      const json_t *arg, pl_commit_result_t *res, pl_error_t **err)
{
	return pl_config_parse_stop(json_object_get(arg, "signal"), json_object_get(arg, "timeout"),
				    &cfg->stop_signal, &cfg->stop_timeout, err);
}

static int check_resources(const json_t *arg, pl_error_t **err)
{
	pl_resources_t r;
	pl_resources_init(&r);
	int rc = pl_resources_parse(arg, &r, err);
	pl_resources_clear(&r);
	return rc;
}

static int apply_resources(pl_portlayer_t *pl, const pl_container_t *c, pl_config_t *cfg,
			   const json_t *arg, pl_commit_result_t *res, pl_error_t **err)
{
	res->resources_changed = true;
	return pl_resources_parse(arg, &cfg->resources, err);
}

/* {"action":"connect","scope","ip","aliases"} or {"action":"disconnect","scope"}: the
 * endpoint is bound at the next start */
static int check_network(const json_t *arg, pl_error_t **err)
{
	static const char *const k[] = {"action", "scope", "ip", "aliases", NULL};
	if (keys(arg, "network", k, err) < 0)
		return -EINVAL;
	const char *action = json_string_value(json_object_get(arg, "action"));
	const char *scope = json_string_value(json_object_get(arg, "scope"));
	if (!action || (strcmp(action, "connect") && strcmp(action, "disconnect")))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "network.action must be \"connect\" or \"disconnect\"");
	if (!scope || !pl_name_valid(scope))
		return pl_error_set(err, PL_ERR_INVALID, 0, "network.scope must name a network");
	if (!strcmp(action, "disconnect") && json_object_size(arg) > 2)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "network: disconnect takes only action and scope");
	/* the shape of the endpoint is the create body's */
	json_t *ep = json_deep_copy(arg);
	json_object_del(ep, "action");
	json_t *body = json_pack("{s:[o]}", "networks", ep);
	pl_config_t probe = {0};
	int r = pl_network_config_parse(&probe, body, err);
	pl_network_config_clear(&probe);
	json_decref(body);
	return r < 0 ? pl_error_wrap(err, "network") : 0;
}

static int apply_network(pl_portlayer_t *pl, const pl_container_t *c, pl_config_t *cfg,
			 const json_t *arg, pl_commit_result_t *res, pl_error_t **err)
{
	const char *action = json_string_value(json_object_get(arg, "action"));
	const char *scope = json_string_value(json_object_get(arg, "scope"));
	if (cfg->network_mode && !strcmp(cfg->network_mode, "host"))
		return pl_error_set(err, PL_ERR_CONFLICT, 0,
				    "container %.12s uses the host's network", c->id);
	if (pl_hostcfg_target(cfg->network_mode))
		return pl_error_set(err, PL_ERR_CONFLICT, 0,
				    "container %.12s uses another container's network (%s)", c->id,
				    cfg->network_mode);
	/* a running domain gets (or loses) the endpoint now, at commit (netlive.c) */
	if (pl_netlive_check(c, cfg, action, scope, err) < 0)
		return -1;
	size_t i, at = SIZE_MAX;
	json_t *e;
	json_array_foreach(cfg->networks, i, e)
	{
		if (!strcmp(json_string_value(json_object_get(e, "scope")), scope))
			at = i;
	}
	if (!strcmp(action, "connect")) {
		if (at != SIZE_MAX)
			return pl_error_set(err, PL_ERR_CONFLICT, 0,
					    "container %.12s is already on network %s",
					    pl_container_id(c), scope);
		json_t *ep = json_deep_copy(arg);
		json_object_del(ep, "action");
		if (!json_object_get(ep, "aliases"))
			json_object_set_new(ep, "aliases", json_array());
		json_array_append_new(cfg->networks, ep);
		free(cfg->network_mode);
		cfg->network_mode = pl_xstrdup("bridge");
	} else {
		if (at == SIZE_MAX)
			return pl_error_set(err, PL_ERR_NOTFOUND, 0,
					    "container %.12s is not on network %s",
					    pl_container_id(c), scope);
		json_array_remove(cfg->networks, at);
		if (!json_array_size(cfg->networks)) {
			if (json_array_size(cfg->ports))
				return pl_error_set(err, PL_ERR_CONFLICT, 0,
						    "container %.12s publishes ports: its last "
						    "network cannot go",
						    pl_container_id(c));
			free(cfg->network_mode);
			cfg->network_mode = pl_xstrdup("none");
		}
	}
	if (pl_network_attach(pl_portlayer_network(pl), cfg, c, err) < 0)
		return -1;
	/* what create checks (a mechanism without macvlan refuses external scopes): refused now,
	 * not at the next start */
	return pl_container_check_mechanism(pl, c, cfg, err);
}

static const mutator_t mutators[] = {
    {"state", check_state, apply_state},
    {"rename", check_rename, apply_rename},
    {"env", check_env, apply_env},
    {"labels", check_labels, apply_labels},
    {"annotations", check_annotations, apply_annotations},
    {"restart_policy", check_restart, apply_restart},
    {"stop", check_stop, apply_stop},
    {"resources", check_resources, apply_resources},
    {"network", check_network, apply_network},
};

const char *const *pl_handle_mutators(void)
{
	static const char *names[PL_ARRAY_SIZE(mutators) + 1];
	for (size_t i = 0; i < PL_ARRAY_SIZE(mutators); i++)
		names[i] = mutators[i].name;
	return names;
}

static const mutator_t *find_mutator(const char *op)
{
	for (size_t i = 0; i < PL_ARRAY_SIZE(mutators); i++)
		if (strcmp(mutators[i].name, op) == 0)
			return &mutators[i];
	return NULL;
}

/* --- the handle table --- */

pl_handles_t *pl_handles_new(void)
{
	return pl_xcalloc(1, sizeof(pl_handles_t));
}

static void unlink_h(pl_handles_t *hs, pl_handle_t *h)
{
	if (h->prev)
		h->prev->next = h->next;
	else
		hs->head = h->next;
	if (h->next)
		h->next->prev = h->prev;
	else
		hs->tail = h->prev;
	h->prev = h->next = NULL;
	hs->n--;
}

static void push_front(pl_handles_t *hs, pl_handle_t *h)
{
	h->prev = NULL;
	h->next = hs->head;
	if (hs->head)
		hs->head->prev = h;
	else
		hs->tail = h;
	hs->head = h;
	hs->n++;
}

void pl_handle_drop(pl_handles_t *hs, pl_handle_t *h)
{
	unlink_h(hs, h);
	json_decref(h->changes);
	free(h);
}

pl_handles_t *pl_handles_free(pl_handles_t *hs)
{
	if (!hs)
		return NULL;
	while (hs->head)
		pl_handle_drop(hs, hs->head);
	free(hs);
	return NULL;
}

static pl_handle_t *add(pl_handles_t *hs, const char *id, uint64_t version, json_t *changes)
{
	while (hs->n >= PL_HANDLE_MAX)
		pl_handle_drop(hs, hs->tail);
	pl_handle_t *h = pl_xcalloc(1, sizeof(*h));
	unsigned char raw[PL_HANDLE_TOKEN_LEN / 2];
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		abort();
	for (size_t i = 0; i < sizeof(raw); i++)
		sprintf(h->token + 2 * i, "%02x", raw[i]);
	snprintf(h->id, sizeof(h->id), "%s", id);
	h->version = version;
	h->changes = changes;
	h->expires_ns = pl_now_ns() + (int64_t)PL_HANDLE_TTL_S * 1000000000LL;
	push_front(hs, h);
	return h;
}

const char *pl_handle_take(pl_handles_t *hs, const pl_container_t *c)
{
	return add(hs, pl_container_id(c), pl_container_version(c), json_array())->token;
}

pl_handle_t *pl_handle_get(pl_handles_t *hs, const char *token, pl_error_t **err)
{
	int64_t now = pl_now_ns();
	for (pl_handle_t *h = hs->head, *next; h; h = next) {
		next = h->next;
		if (h->expires_ns < now) {
			pl_handle_drop(hs, h);
			continue;
		}
		if (strcmp(h->token, token) == 0) {
			unlink_h(hs, h);
			push_front(hs, h);
			return h;
		}
	}
	pl_error_set(err, PL_ERR_NOTFOUND, 0, "no such handle (unknown or expired): %s", token);
	return NULL;
}

const char *pl_handle_mutate(pl_handles_t *hs, pl_portlayer_t *pl, pl_handle_t *h, const char *op,
			     const json_t *arg, pl_error_t **err)
{
	const mutator_t *m = find_mutator(op);
	if (!m) {
		pl_error_set(err, PL_ERR_NOTFOUND, 0, "no such mutator \"%s\"", op);
		return NULL;
	}
	if (m->check(arg, err) < 0)
		return NULL;
	json_t *changes = json_deep_copy(h->changes);
	json_array_append_new(changes, json_pack("{s:s, s:O}", "op", op, "arg", arg));
	return add(hs, h->id, h->version, changes)->token;
}

const char *pl_handle_container_id(const pl_handle_t *h)
{
	return h->id;
}

json_t *pl_handle_json(const pl_handle_t *h)
{
	return json_pack("{s:s, s:s, s:I, s:O}", "handle", h->token, "id", h->id, "version",
			 (json_int_t)h->version, "changes", h->changes);
}

static int commit_changes(pl_portlayer_t *pl, pl_handle_t *h, pl_commit_result_t *res,
			  pl_error_t **err)
{
	*res = (pl_commit_result_t){.state = PL_WANT_UNCHANGED, .stop_timeout = -1};
	pl_container_t *c = pl_container_find(pl, h->id, err);
	if (!c)
		return -ENOENT;
	if (pl_container_version(c) != h->version)
		return pl_error_set(err, PL_ERR_CONFLICT, 0,
				    "handle is bound to version %llu but container %.12s is at "
				    "version %llu: take a new handle and replay",
				    (unsigned long long)h->version, pl_container_id(c),
				    (unsigned long long)pl_container_version(c));
	_cleanup_(pl_config_freep) pl_config_t *cfg = pl_config_dup(pl_container_config(c));
	bool config_changed = false;
	size_t i;
	json_t *ch;
	json_array_foreach(h->changes, i, ch)
	{
		const char *op = json_string_value(json_object_get(ch, "op"));
		const mutator_t *m = find_mutator(op ? op : "");
		if (!m) /* staged changes were checked: this is a bug, not bad input */
			return pl_error_set(err, PL_ERR_INTERNAL, 0, "staged unknown change %s",
					    op);
		if (m->apply(pl, c, cfg, json_object_get(ch, "arg"), res, err) < 0)
			return pl_error_wrap(err, "commit %s", op);
		config_changed |= m->apply != apply_state;
	}
	/* limits reach a live domain before the config records them: if the kernel refuses,
	 * nothing is committed */
	if (res->resources_changed &&
	    pl_container_update_resources(pl, c, &cfg->resources, err) < 0)
		return -1;
	/* so does a network change: the domain first, then the record */
	int live_net = pl_netlive_apply(pl, c, cfg, err);
	if (live_net < 0)
		return -1;
	if (config_changed) {
		_cleanup_free_ char *old = pl_xstrdup(pl_container_name(c));
		bool renamed = strcmp(old, cfg->name ? cfg->name : "") != 0;
		if (pl_container_replace_config(pl, c, TAKE_PTR(cfg), err) < 0)
			return -1;
		if (renamed)
			pl_container_emit(c, "rename", json_pack("{s:s}", "old_name", old));
		pl_container_emit(
		    c, "update",
		    json_pack("{s:I}", "version", (json_int_t)pl_container_version(c)));
	}
	if (live_net > 0) {
		pl_network_container_changed(pl_portlayer_network(pl), c);
		pl_netlive_refresh_names(pl, c);
	}
	res->version = c->version;
	return 0;
}

int pl_handle_commit(pl_portlayer_t *pl, pl_handle_t *h, pl_commit_result_t *res, pl_error_t **err)
{
	int r = commit_changes(pl, h, res, err);
	/* a network change that did not commit gives its addresses back */
	size_t i;
	json_t *ch;
	json_array_foreach(h->changes, i, ch)
	{
		if (r < 0 && !strcmp(json_string_value(json_object_get(ch, "op")), "network")) {
			pl_network_rebuild(pl_portlayer_network(pl));
			break;
		}
	}
	return r;
}
