/* SPDX-License-Identifier: Apache-2.0 */
#include "portlayer/listing.h"
#include "portlayer/internal.h"
#include "portlayer/health.h"
#include "portlayer/network/network.h"
#include "portlayer/storage/images.h"
#include "portlayer/storage/volumes.h"
#include "common/cleanup.h"
#include "common/json.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

json_t *pl_filters_parse(const char *text, const char *const *allowed, pl_error_t **err)
{
	if (!text || !*text)
		return json_object();
	_cleanup_json_ json_t *j = pl_json_parse(text, strlen(text), "filters", err);
	if (!j)
		return NULL;
	if (!json_is_object(j)) {
		pl_error_set(err, PL_ERR_INVALID, 0,
			     "filters must be a JSON object {\"key\": [\"value\", ...]}");
		return NULL;
	}
	json_t *out = json_object();
	const char *k;
	json_t *v;
	json_object_foreach(j, k, v)
	{
		bool ok = false;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = strcmp(*a, k) == 0;
		if (!ok) {
			pl_error_set(err, PL_ERR_INVALID, 0, "filters: unknown filter \"%s\"", k);
			json_decref(out);
			return NULL;
		}
		json_t *vals = json_array();
		json_object_set_new(out, k, vals);
		size_t i;
		json_t *e;
		const char *key;
		if (json_is_array(v)) {
			json_array_foreach(v, i, e)
			{
				if (!json_is_string(e))
					goto bad;
				json_array_append(vals, e);
			}
		} else if (json_is_object(v)) { /* {"value": true}, Docker's older form */
			json_object_foreach(v, key, e)
			{
				if (json_is_true(e))
					json_array_append_new(vals, json_string(key));
			}
		} else if (json_is_string(v)) {
			json_array_append(vals, v);
		} else {
			goto bad;
		}
		continue;
	bad:
		pl_error_set(err, PL_ERR_INVALID, 0, "filters[\"%s\"] must be an array of strings",
			     k);
		json_decref(out);
		return NULL;
	}
	return out;
}

/* Each value of the key is tried; the key matches when one does (or it is absent). */
typedef bool (*match_fn)(const char *value, void *ctx);

static bool any_of(const json_t *filters, const char *key, match_fn fn, void *ctx)
{
	const json_t *vals = json_object_get(filters, key);
	if (!vals)
		return true;
	size_t i;
	json_t *v;
	json_array_foreach(vals, i, v)
	{
		if (fn(json_string_value(v), ctx))
			return true;
	}
	return false;
}

/* "key" (present) or "key=value" against a labels object */
static bool label_match(const char *f, void *ctx)
{
	const json_t *labels = ctx;
	const char *eq = strchr(f, '=');
	if (!eq)
		return json_object_get(labels, f) != NULL;
	_cleanup_free_ char *k = strndup(f, (size_t)(eq - f));
	const char *have = json_string_value(json_object_get(labels, k));
	return have && strcmp(have, eq + 1) == 0;
}

static bool bool_value(const char *v, bool *out)
{
	if (!strcmp(v, "true") || !strcmp(v, "1")) {
		*out = true;
		return true;
	}
	if (!strcmp(v, "false") || !strcmp(v, "0")) {
		*out = false;
		return true;
	}
	return false;
}

void pl_human_duration(int64_t ns, char *buf, size_t len)
{
	int64_t s = ns / 1000000000;
	int64_t h = s / 3600;
	if (s < 1)
		snprintf(buf, len, "Less than a second");
	else if (s == 1)
		snprintf(buf, len, "1 second");
	else if (s < 60)
		snprintf(buf, len, "%lld seconds", (long long)s);
	else if (s / 60 == 1)
		snprintf(buf, len, "About a minute");
	else if (s / 60 < 60)
		snprintf(buf, len, "%lld minutes", (long long)(s / 60));
	else if (h == 1)
		snprintf(buf, len, "About an hour");
	else if (h < 48)
		snprintf(buf, len, "%lld hours", (long long)h);
	else if (h < 24 * 7 * 2)
		snprintf(buf, len, "%lld days", (long long)(h / 24));
	else if (h < 24 * 30 * 2)
		snprintf(buf, len, "%lld weeks", (long long)(h / 24 / 7));
	else if (h < 24 * 365 * 2)
		snprintf(buf, len, "%lld months", (long long)(h / 24 / 30));
	else
		snprintf(buf, len, "%lld years", (long long)(h / 24 / 365));
}

int64_t pl_human_duration_until(int64_t ns)
{
	const int64_t S = 1000000000, M = 60 * S, H = 3600 * S, D = 24 * H;
	int64_t s = ns / S, h = s / 3600;
	if (s < 1)
		return S;
	if (s < 60)
		return (s + 1) * S;
	if (s < 120)
		return 2 * M;
	if (s < 3600)
		return (s / 60 + 1) * M;
	if (h < 2)
		return 2 * H;
	if (h < 48)
		return (h + 1) * H;
	/* days, weeks, months, years: the next unit boundary, or the switch to the next
	 * unit when that comes first */
	int64_t next;
	if (h < 24 * 7 * 2)
		return (h / 24 + 1) * D;
	if (h < 24 * 30 * 2) {
		next = (h / 24 / 7 + 1) * 7 * D;
		return next < 24 * 30 * 2 * H ? next : 24 * 30 * 2 * H;
	}
	if (h < 24 * 365 * 2) {
		next = (h / 24 / 30 + 1) * 30 * D;
		return next < 24 * 365 * 2 * H ? next : 24 * 365 * 2 * H;
	}
	return (h / 24 / 365 + 1) * 365 * D;
}

/* --- containers --- */

/* Docker's state names: created, running, paused, restarting, removing, exited, dead */
static const char *docker_state(const pl_container_t *c)
{
	const char *s = pl_container_status_listed(c); /* no freezer read per container */
	if (!strcmp(s, "starting") || !strcmp(s, "stopping"))
		return "running";
	if (!strcmp(s, "stopped"))
		return c->restart_timer ? "restarting" : "exited";
	return s;
}

/* Docker's human status ("Up 5 seconds (healthy)", "Exited (0) 3 minutes ago"), at now; *until:
 * the moment the text changes with time alone (INT64_MAX: never). */
static void human_status(const pl_container_t *c, int64_t now, char *buf, size_t len,
			 int64_t *until)
{
	char d[64];
	const char *state = docker_state(c);
	*until = INT64_MAX;
	if (!strcmp(state, "created")) {
		snprintf(buf, len, "Created");
	} else if (!strcmp(state, "removing")) {
		snprintf(buf, len, "Removal In Progress");
	} else if (!strcmp(state, "running") || !strcmp(state, "paused")) {
		pl_human_duration(now - c->started_ns, d, sizeof(d));
		*until = c->started_ns + pl_human_duration_until(now - c->started_ns);
		/* Docker's words: "Up 5 seconds (healthy)", "(health: starting)" */
		const char *h = strcmp(state, "paused") ? pl_health_status(c) : NULL;
		char hs[40] = "";
		if (h)
			snprintf(hs, sizeof(hs), !strcmp(h, "starting") ? " (health: %s)" : " (%s)",
				 h);
		snprintf(buf, len, "Up %s%s%s", d, hs, !strcmp(state, "paused") ? " (Paused)" : "");
	} else if (!strcmp(state, "restarting")) {
		pl_human_duration(now - c->finished_ns, d, sizeof(d));
		*until = c->finished_ns + pl_human_duration_until(now - c->finished_ns);
		snprintf(buf, len, "Restarting (%d) %s ago", c->exit_code, d);
	} else if (!c->finished_ns) {
		snprintf(buf, len, "Exited (%d)", c->exit_code);
	} else {
		pl_human_duration(now - c->finished_ns, d, sizeof(d));
		*until = c->finished_ns + pl_human_duration_until(now - c->finished_ns);
		snprintf(buf, len, "Exited (%d) %s ago", c->exit_code, d);
	}
}

/* Apparent size of the regular files below dirfd (hard links once): a writable layer. */
static int64_t tree_size(int dirfd, int depth)
{
	if (depth > 64)
		return 0;
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	int64_t total = 0;
	for (struct dirent *de; (de = readdir(d));) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			_cleanup_close_ int sub = openat(
			    dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				total += tree_size(sub, depth + 1);
		} else if (S_ISREG(st.st_mode) && st.st_nlink <= 1) {
			total += st.st_size;
		} else if (S_ISREG(st.st_mode)) {
			total += st.st_size / (int64_t)st.st_nlink; /* shared: counted once */
		}
	}
	closedir(d);
	return total;
}

/* image id -> its first tag, once per listing */
static json_t *first_tags(pl_images_t *im)
{
	_cleanup_json_ json_t *all = pl_images_list_json(im);
	json_t *out = json_object();
	size_t i;
	json_t *e;
	json_array_foreach(all, i, e)
	{
		json_t *t = json_array_get(json_object_get(e, "tags"), 0);
		if (t)
			json_object_set(out, json_string_value(json_object_get(e, "id")), t);
	}
	return out;
}

/* A container's summary less what changes with time (status) or with other objects (the
 * image's tag), as JSON members without braces, made again when the record fields it was made
 * from differ: a function of the record in memory, never a second source of truth. A config
 * change replaces the config and advances its version; state changes are in the key. */
struct pl_summary_cache {
	const pl_config_t *config;
	uint64_t version;
	const pl_mechanism_t *mech;
	pl_status_t status;
	bool paused, has_exit;
	int exit_code;
	int64_t started_ns;
	char *text;
	size_t len;
	/* the whole row ({text, image, status}) as last rendered, and what it was rendered
	 * from beyond the key above: it is sent again while all of it holds and the time is
	 * within [row_from, row_until) (the status text changes with time only then) */
	char *row;
	size_t row_len;
	char *row_image;
	const char *row_image_of; /* where image came from when rendered */
	const char *row_health;	  /* a static string, or NULL */
	bool row_restarting;
	int64_t row_finished_ns, row_from, row_until;
};

void pl_summary_cache_free(struct pl_summary_cache *sc)
{
	if (sc) {
		free(sc->text);
		free(sc->row);
		free(sc->row_image);
	}
	free(sc);
}

static bool cache_fresh(const struct pl_summary_cache *sc, const pl_container_t *c)
{
	return sc && sc->config == c->config && sc->version == c->version && sc->mech == c->mech &&
	       sc->status == c->status && sc->paused == c->paused && sc->has_exit == c->has_exit &&
	       sc->exit_code == c->exit_code && sc->started_ns == c->started_ns;
}

static json_t *summary_fixed(pl_container_t *c)
{
	json_t *j = pl_container_summary_json(c);
	const pl_config_t *cfg = c->config;
	json_object_set_new(j, "image_id", json_string(cfg->image ? cfg->image : ""));
	json_object_set_new(j, "labels", json_deep_copy(cfg->labels));
	json_object_set_new(j, "ports", pl_network_ports_json(c));
	json_object_set_new(j, "mechanism", json_string(c->mech->name));
	json_object_set_new(j, "network_mode",
			    json_string(cfg->network_mode ? cfg->network_mode : "none"));
	json_t *nets = json_object();
	size_t i;
	json_t *e;
	json_array_foreach(cfg->networks, i, e)
	{
		json_object_set_new(nets, json_string_value(json_object_get(e, "scope")),
				    json_pack("{s:O, s:O}", "ip", json_object_get(e, "ip"),
					      "aliases", json_object_get(e, "aliases")));
	}
	json_object_set_new(j, "networks", nets);
	json_object_set_new(j, "mounts", json_deep_copy(cfg->mounts));
	if (c->started_ns)
		json_object_set_new(j, "started_at", pl_json_time(c->started_ns));
	return j;
}

static struct pl_summary_cache *summary_cached(pl_container_t *c)
{
	if (cache_fresh(c->summary, c))
		return c->summary;
	pl_summary_cache_free(c->summary);
	struct pl_summary_cache *sc = pl_xcalloc(1, sizeof(*sc));
	*sc = (struct pl_summary_cache){c->config, c->version,	c->mech,      c->status,
					c->paused, c->has_exit, c->exit_code, c->started_ns};
	_cleanup_json_ json_t *j = summary_fixed(c);
	char *t = pl_json_dump(j); /* "{...}": keep what is between the braces */
	size_t n = strlen(t);
	memmove(t, t + 1, n - 2);
	t[n - 2] = '\0';
	sc->text = t;
	sc->len = n - 2;
	return c->summary = sc;
}

typedef struct {
	char *p;
	size_t len, cap;
} sbuf_t;

static void sb_add(sbuf_t *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = b->cap ? b->cap : 4096;
		while (b->len + n + 1 > b->cap)
			b->cap *= 2;
		b->p = pl_xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_str(sbuf_t *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* A JSON string of s (valid UTF-8: it came from JSON or from us). */
static void sb_json_string(sbuf_t *b, const char *s)
{
	sb_add(b, "\"", 1);
	const char *run = s;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		sb_add(b, run, (size_t)(s - run));
		char esc[8];
		if (ch == '"' || ch == '\\')
			snprintf(esc, sizeof(esc), "\\%c", ch);
		else
			snprintf(esc, sizeof(esc), "\\u%04x", ch);
		sb_str(b, esc);
		run = s + 1;
	}
	sb_add(b, run, (size_t)(s - run));
	sb_add(b, "\"", 1);
}

static bool row_fresh(const struct pl_summary_cache *sc, const pl_container_t *c, const char *image,
		      int64_t now)
{
	return sc->row && now >= sc->row_from && now < sc->row_until &&
	       sc->row_restarting == (c->restart_timer != NULL) &&
	       sc->row_finished_ns == c->finished_ns && sc->row_health == pl_health_status(c) &&
	       /* the config's own strings live as long as the config, which is in the key */
	       ((image == sc->row_image_of &&
		 (image == c->config->image || image == c->config->rootfs)) ||
		!strcmp(sc->row_image, image));
}

static void summary(sbuf_t *b, pl_portlayer_t *pl, pl_container_t *c, bool size, json_t *tags,
		    int64_t now)
{
	const pl_config_t *cfg = c->config;
	struct pl_summary_cache *sc = summary_cached(c);
	const json_t *tag = cfg->image ? json_object_get(tags, cfg->image) : NULL;
	const char *image = tag		  ? json_string_value(tag)
			    : cfg->image  ? cfg->image
			    : cfg->rootfs ? cfg->rootfs
					  : "";
	if (!size && row_fresh(sc, c, image, now)) {
		sb_add(b, sc->row, sc->row_len);
		return;
	}
	size_t from = b->len;
	sb_add(b, "{", 1);
	sb_add(b, sc->text, sc->len);
	sb_str(b, ",\"image\":");
	sb_json_string(b, image);
	/* "state" stays the port layer's word (stopped, not Docker's exited): status says it */
	char st[160];
	int64_t until;
	human_status(c, now, st, sizeof(st), &until);
	sb_str(b, ",\"status\":");
	sb_json_string(b, st);
	if (!size) {
		sb_add(b, "}", 1);
		free(sc->row);
		sc->row_len = b->len - from;
		sc->row = pl_xmalloc(sc->row_len);
		memcpy(sc->row, b->p + from, sc->row_len);
		free(sc->row_image);
		sc->row_image = pl_xstrdup(image);
		sc->row_image_of = image;
		sc->row_health = pl_health_status(c);
		sc->row_restarting = c->restart_timer != NULL;
		sc->row_finished_ns = c->finished_ns;
		sc->row_from = now;
		sc->row_until = until;
		return;
	}
	/* size: read from disk at every request, never kept */
	int64_t rw = 0, img = 0;
	if (pl_mech_has(c->mech, PL_MECH_FILES_ON_HOST)) {
		_cleanup_close_ int up =
		    openat(c->dirfd, "upper", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (up >= 0)
			rw = tree_size(up, 0);
	}
	const json_t *im = cfg->image ? pl_image_find(pl->images, cfg->image, NULL) : NULL;
	if (im)
		img = json_integer_value(json_object_get(im, "size"));
	char sz[96];
	snprintf(sz, sizeof(sz), ",\"size_rw\":%lld,\"size_root_fs\":%lld", (long long)rw,
		 (long long)(rw + img));
	sb_str(b, sz);
	sb_add(b, "}", 1);
}

typedef struct {
	pl_portlayer_t *pl;
	pl_container_t *c;
	regex_t *res;
	size_t n_res;
} cctx_t;

static bool m_name(const char *v, void *p)
{
	cctx_t *x = p;
	const char *name = x->c->config->name;
	if (!name)
		return false;
	_cleanup_free_ char *slashed = pl_xasprintf("/%s", name);
	for (size_t i = 0; i < x->n_res; i++)
		if (regexec(&x->res[i], name, 0, NULL, 0) == 0 ||
		    regexec(&x->res[i], slashed, 0, NULL, 0) == 0)
			return true;
	return false;
}

static bool m_id(const char *v, void *p)
{
	cctx_t *x = p;
	return *v && strncmp(x->c->id, v, strlen(v)) == 0;
}

static bool m_status(const char *v, void *p)
{
	cctx_t *x = p;
	/* Docker's words and ours (stopped, starting, stopping) */
	return !strcmp(v, docker_state(x->c)) || !strcmp(v, pl_container_status_listed(x->c));
}

static bool m_ancestor(const char *v, void *p)
{
	cctx_t *x = p;
	const json_t *img = pl_image_find(x->pl->images, v, NULL);
	return img && x->c->config->image && !strcmp(pl_image_id(img), x->c->config->image);
}

static bool m_network(const char *v, void *p)
{
	cctx_t *x = p;
	const pl_config_t *cfg = x->c->config;
	if (cfg->network_mode && !strcmp(cfg->network_mode, v))
		return true;
	_cleanup_json_ json_t *s = pl_network_inspect(x->pl->net, v, NULL);
	const char *name = s ? json_string_value(json_object_get(s, "name")) : v;
	size_t i;
	json_t *e;
	json_array_foreach(cfg->networks, i, e)
	{
		if (!strcmp(json_string_value(json_object_get(e, "scope")), name))
			return true;
	}
	return false;
}

static bool m_volume(const char *v, void *p)
{
	cctx_t *x = p;
	size_t i;
	json_t *m;
	json_array_foreach(x->c->config->mounts, i, m)
	{
		const char *src = json_string_value(json_object_get(m, "source"));
		const char *dst = json_string_value(json_object_get(m, "target"));
		if ((src && !strcmp(src, v)) || (dst && !strcmp(dst, v)))
			return true;
	}
	return false;
}

static bool m_exited(const char *v, void *p)
{
	cctx_t *x = p;
	return !strcmp(docker_state(x->c), "exited") && x->c->has_exit &&
	       atoi(v) == x->c->exit_code;
}

static const char *const states[] = {"created", "restarting", "running", "removing", "paused",
				     "exited",	"dead",	      "stopped", "starting", "stopping"};

char *pl_containers_list(pl_portlayer_t *pl, const json_t *filters, bool all, bool size,
			 size_t *len, pl_error_t **err)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(filters, "status"), i, v)
	{
		bool ok = false;
		for (size_t k = 0; k < PL_ARRAY_SIZE(states) && !ok; k++)
			ok = !strcmp(states[k], json_string_value(v));
		if (!ok) {
			pl_error_set(err, PL_ERR_INVALID, 0,
				     "filters: status \"%s\" must be created, restarting, "
				     "running, removing, paused, exited or dead",
				     json_string_value(v));
			return NULL;
		}
	}
	json_array_foreach(json_object_get(filters, "exited"), i, v)
	{
		int64_t code;
		if (pl_parse_int64(json_string_value(v), -1, 255, &code) < 0) {
			pl_error_set(err, PL_ERR_INVALID, 0,
				     "filters: exited \"%s\" must be an exit code",
				     json_string_value(v));
			return NULL;
		}
	}
	const json_t *names = json_object_get(filters, "name");
	size_t n_res = json_array_size(names);
	regex_t *res = pl_xcalloc(n_res + 1, sizeof(regex_t));
	char *out = NULL;
	sbuf_t b = {0};
	_cleanup_json_ json_t *tags = NULL;
	size_t compiled = 0;
	for (; compiled < n_res; compiled++) {
		if (regcomp(&res[compiled], json_string_value(json_array_get(names, compiled)),
			    REG_EXTENDED | REG_NOSUB) != 0) {
			pl_error_set(err, PL_ERR_INVALID, 0,
				     "filters: name \"%s\" is not a regular expression",
				     json_string_value(json_array_get(names, compiled)));
			goto done;
		}
	}
	tags = first_tags(pl->images);
	int64_t now = pl_now_ns();
	/* the size of the last answer: one allocation, not a doubling series */
	static size_t last_len;
	b.cap = last_len + 4096;
	b.p = pl_xmalloc(b.cap);
	sb_add(&b, "[", 1);
	bool status_given = json_object_get(filters, "status") != NULL;
	bool filtered = json_object_size(filters) > 0;
	for (pl_container_t *c = pl->head; c; c = c->next) {
		cctx_t x = {pl, c, res, n_res};
		if (!all && !status_given && !pl_container_is_running(c))
			continue;
		/* every label filter must hold (Docker ANDs labels) */
		bool labels_ok = true;
		json_array_foreach(filtered ? json_object_get(filters, "label") : NULL, i, v)
		{
			labels_ok =
			    labels_ok && label_match(json_string_value(v), c->config->labels);
		}
		if (filtered &&
		    (!labels_ok || !any_of(filters, "name", m_name, &x) ||
		     !any_of(filters, "id", m_id, &x) || !any_of(filters, "status", m_status, &x) ||
		     !any_of(filters, "ancestor", m_ancestor, &x) ||
		     !any_of(filters, "network", m_network, &x) ||
		     !any_of(filters, "volume", m_volume, &x) ||
		     !any_of(filters, "exited", m_exited, &x)))
			continue;
		if (b.len > 1)
			sb_add(&b, ",", 1);
		summary(&b, pl, c, size, tags, now);
	}
	sb_add(&b, "]", 1);
	out = b.p;
	*len = b.len;
	if (!filtered)
		last_len = b.len;
done:
	for (size_t k = 0; k < compiled; k++)
		regfree(&res[k]);
	free(res);
	return out;
}

/* --- images, volumes, networks --- */

static bool all_labels(const json_t *filters, const json_t *labels)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(filters, "label"), i, v)
	{
		if (!label_match(json_string_value(v), (void *)labels))
			return false;
	}
	return true;
}

/* "dangling" values parse as booleans; the last one given applies */
static int dangling_of(const json_t *filters, int *out, pl_error_t **err)
{
	*out = -1;
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(filters, "dangling"), i, v)
	{
		bool b;
		if (!bool_value(json_string_value(v), &b))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "filters: dangling \"%s\" must be true or false",
					    json_string_value(v));
		*out = b;
	}
	return 0;
}

static bool m_reference(const char *pat, void *p)
{
	const json_t *tags = p;
	size_t i;
	json_t *t;
	json_array_foreach(tags, i, t)
	{
		const char *tag = json_string_value(t);
		_cleanup_free_ char *repo = pl_xstrdup(tag);
		char *slash = strrchr(repo, '/'), *colon = strrchr(slash ? slash : repo, ':');
		if (colon)
			*colon = '\0';
		if (fnmatch(pat, tag, 0) == 0 || fnmatch(pat, repo, 0) == 0)
			return true;
	}
	return false;
}

json_t *pl_images_list_filtered(pl_portlayer_t *pl, const json_t *filters, pl_error_t **err)
{
	int dangling;
	if (dangling_of(filters, &dangling, err) < 0)
		return NULL;
	json_t *all = pl_images_list_json(pl->images), *out = json_array();
	size_t i;
	json_t *e;
	json_array_foreach(all, i, e)
	{
		const char *id = json_string_value(json_object_get(e, "id"));
		const json_t *img = pl_image_find(pl->images, id, NULL);
		const json_t *labels = img ? json_object_get(pl_image_config(img), "Labels") : NULL;
		json_object_set_new(
		    e, "labels", json_is_object(labels) ? json_deep_copy(labels) : json_object());
		const json_t *tags = json_object_get(e, "tags");
		bool nameless = json_array_size(tags) == 0 &&
				json_array_size(json_object_get(e, "repo_digests")) == 0;
		if ((dangling >= 0 && nameless != (bool)dangling) ||
		    !all_labels(filters, json_object_get(e, "labels")) ||
		    !any_of(filters, "reference", m_reference, (void *)tags))
			continue;
		json_array_append(out, e);
	}
	json_decref(all);
	return out;
}

static bool m_substr(const char *v, void *p)
{
	return strstr((const char *)p, v) != NULL;
}

static bool m_equal(const char *v, void *p)
{
	return strcmp((const char *)p, v) == 0;
}

static bool m_prefix(const char *v, void *p)
{
	return *v && strncmp((const char *)p, v, strlen(v)) == 0;
}

json_t *pl_volumes_list_filtered(pl_portlayer_t *pl, const json_t *filters, pl_error_t **err)
{
	int dangling;
	if (dangling_of(filters, &dangling, err) < 0)
		return NULL;
	json_t *all = pl_volumes_list(pl->volumes), *out = json_array();
	size_t i;
	json_t *e;
	json_array_foreach(all, i, e)
	{
		const char *name = json_string_value(json_object_get(e, "name"));
		const char *driver = json_string_value(json_object_get(e, "driver"));
		bool used = pl_portlayer_volume_in_use(pl, name, false);
		if ((dangling >= 0 && used == (bool)dangling) ||
		    !all_labels(filters, json_object_get(e, "labels")) ||
		    !any_of(filters, "name", m_substr, (void *)name) ||
		    !any_of(filters, "driver", m_equal, (void *)(driver ? driver : "local")))
			continue;
		json_array_append(out, e);
	}
	json_decref(all);
	return out;
}

static bool scope_used(pl_portlayer_t *pl, const char *name)
{
	for (pl_container_t *c = pl->head; c; c = c->next) {
		size_t i;
		json_t *e;
		json_array_foreach(c->config->networks, i, e)
		{
			if (!strcmp(json_string_value(json_object_get(e, "scope")), name))
				return true;
		}
	}
	return false;
}

json_t *pl_networks_list_filtered(pl_portlayer_t *pl, const json_t *filters, pl_error_t **err)
{
	int dangling;
	if (dangling_of(filters, &dangling, err) < 0)
		return NULL;
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(filters, "type"), i, e)
	{
		const char *t = json_string_value(e);
		if (strcmp(t, "custom") && strcmp(t, "builtin")) {
			pl_error_set(err, PL_ERR_INVALID, 0,
				     "filters: type \"%s\" must be custom or builtin", t);
			return NULL;
		}
	}
	json_t *all = pl_network_list(pl->net), *out = json_array();
	json_array_foreach(all, i, e)
	{
		const char *name = json_string_value(json_object_get(e, "name"));
		const char *id = json_string_value(json_object_get(e, "id"));
		const char *driver = json_string_value(json_object_get(e, "driver"));
		const char *type = !strcmp(name, "bridge") ? "builtin" : "custom";
		const json_t *labels = json_object_get(e, "labels");
		/* a builtin network is never dangling (Docker's rule: it cannot be removed) */
		bool dangles = !scope_used(pl, name) && strcmp(type, "builtin");
		if ((dangling >= 0 && dangles != (bool)dangling) || !all_labels(filters, labels) ||
		    !any_of(filters, "name", m_substr, (void *)name) ||
		    !any_of(filters, "id", m_prefix, (void *)id) ||
		    !any_of(filters, "driver", m_equal, (void *)driver) ||
		    !any_of(filters, "type", m_equal, (void *)type))
			continue;
		json_array_append(out, e);
	}
	json_decref(all);
	return out;
}
