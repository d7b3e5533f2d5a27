/* SPDX-License-Identifier: Apache-2.0 */
/* Persistence of domain directories: ROOT/containers/<id>/ holds config.json (durable,
 * schema-versioned), state.json (the daemon's record of the current run), exit.json (the
 * exit record tether writes itself), container.log, and the overlay's upper/work/merged.
 * A domain is created under a temporary name and renamed into place, and removed by
 * renaming it away first, so a crash never leaves one half made. Pure reads and writes:
 * nothing here touches a live domain, emits an event or decides a container's fate
 * (recovery.c does that with what pl_store_load_all read). */
#include "portlayer/internal.h"
#include "portlayer/logs.h"
#include "portlayer/placement.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "portlayer/janitor.h"
#include "common/phase.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#define TMP_PREFIX ".tmp-"
#define DEL_PREFIX ".removing-"

static json_t *config_doc(const pl_container_t *c)
{
	return json_pack("{s:i, s:s, s:I, s:I, s:s, s:o}", "schema", PL_CONFIG_SCHEMA, "id", c->id,
			 "version", (json_int_t)c->version, "created_ns", (json_int_t)c->created_ns,
			 "mechanism", c->mech->name, "config", pl_config_to_json(c->config));
}

static int write_json(int dirfd, const char *name, json_t *doc, pl_error_t **err)
{
	_cleanup_free_ char *s = pl_json_dump(doc);
	json_decref(doc);
	return pl_atomic_write(dirfd, name, s, strlen(s), err);
}

int pl_store_open_run_dir(pl_portlayer_t *pl, pl_container_t *c, pl_error_t **err)
{
	if (c->run_dirfd >= 0)
		return 0;
	if (mkdirat(pl->run_containers_fd, c->id, 0700) < 0 && errno != EEXIST)
		return pl_error_errno(err, "create run directory");
	c->run_dirfd = openat(pl->run_containers_fd, c->id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->run_dirfd < 0)
		return pl_error_errno(err, "open run directory");
	return 0;
}

int pl_store_save_config(pl_container_t *c, pl_error_t **err)
{
	return write_json(c->dirfd, "config.json", config_doc(c), err);
}

int pl_store_create_domain(pl_portlayer_t *pl, pl_container_t *c, pl_error_t **err)
{
	int64_t pt = pl_phase_now();
	_cleanup_free_ char *tmp = pl_xasprintf(TMP_PREFIX "%s", c->id);
	if (mkdirat(pl->containers_fd, tmp, 0700) < 0)
		return pl_error_errno(err, "create domain directory");
	_cleanup_close_ int dfd =
	    openat(pl->containers_fd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || mkdirat(dfd, "upper", 0755) < 0 || mkdirat(dfd, "work", 0700) < 0 ||
	    mkdirat(dfd, "merged", 0755) < 0) {
		int r = pl_error_errno(err, "populate domain directory");
		pl_remove_tree_at(pl->containers_fd, tmp, NULL);
		return r;
	}
	pl_phase_step("create.store_mkdirs", &pt);
	/* written in place: the directory they are in is renamed into place whole, and made
	 * durable by pl_store_sync_domain */
	_cleanup_json_ json_t *doc = config_doc(c);
	_cleanup_free_ char *conf = pl_json_dump(doc);
	_cleanup_close_ int cfd =
	    openat(dfd, "config.json", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (cfd < 0 || pl_write_all(cfd, conf, strlen(conf)) < 0 ||
	    (pl_phase_step("create.store_config", &pt),
	     pl_store_save_state(&(pl_container_t){.status = PL_STATUS_CREATED, .dirfd = dfd},
				 err) < 0) ||
	    (pl_phase_step("create.store_state", &pt),
	     renameat(pl->containers_fd, tmp, pl->containers_fd, c->id) < 0)) {
		if (err && !*err)
			pl_error_errno(err, "commit domain directory");
		pl_remove_tree_at(pl->containers_fd, tmp, NULL);
		return -1;
	}
	pl_phase_step("create.store_rename", &pt);
	c->dir = pl_xasprintf("%s/containers/%s", pl->root, c->id);
	c->dirfd = TAKE_FD(dfd);
	return 0;
}

int pl_store_sync_domain(pl_portlayer_t *pl, pl_container_t *c, pl_error_t **err)
{
	int64_t pt = pl_phase_now();
	_cleanup_close_ int fd = openat(c->dirfd, "config.json", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0 || fsync(c->dirfd) < 0 || fsync(pl->containers_fd) < 0)
		return pl_error_errno(err, "make domain directory durable");
	pl_phase_step("create.fsync", &pt);
	return 0;
}

static json_t *opt_int(bool present, json_int_t v)
{
	return present ? json_integer(v) : json_null();
}

int pl_store_save_state(pl_container_t *c, pl_error_t **err)
{
	/* Not fsync'd: runtime state means nothing after a host reboot, and an fsync per
	 * start would dominate start latency. Written in place (no rename over the old record:
	 * ext4 starts writeback of a file renamed over another, ms per write on a busy disk).
	 * A daemon killed at any point finds one whole record (a record is one write), maybe
	 * followed by the tail of a longer one (killed before the truncate): the loader reads
	 * the first JSON value only. Only a host crash can leave it torn. */
	json_t *doc = json_pack(
	    "{s:s, s:i, s:I, s:I, s:I, s:o, s:i, s:s, s:I, s:i, s:b}", "status",
	    pl_status_name(c->status), "pid", (int)c->dom.pid, "start_time",
	    (json_int_t)c->dom.start_time, "started_ns", (json_int_t)c->started_ns, "finished_ns",
	    (json_int_t)c->finished_ns, "exit_code", opt_int(c->has_exit, c->exit_code), "signal",
	    c->signal, "error", c->error ? c->error : "", "exits", (json_int_t)c->exits,
	    "restart_count", (int)c->restart_count, "stopped_by_user", c->stopped_by_user);
	json_object_set_new(doc, "oom_killed", json_boolean(c->oom_killed));
	_cleanup_free_ char *s = pl_json_dump(doc);
	json_decref(doc);
	_cleanup_close_ int fd =
	    openat(c->dirfd, "state.json", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return pl_error_errno(err, "write state");
	size_t n = strlen(s);
	if (pwrite(fd, s, n, 0) != (ssize_t)n || ftruncate(fd, (off_t)n) < 0)
		return pl_error_errno(err, "write state");
	return 0;
}

int pl_store_read_exit(pl_container_t *c)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	if (pl_read_file_at(c->dirfd, "exit.json", &buf, &len, 65536, NULL) < 0 || len == 0)
		return 0;
	_cleanup_json_ json_t *j = json_loadb(buf, len, 0, NULL);
	json_t *code = j ? json_object_get(j, "exit_code") : NULL;
	if (!json_is_integer(code))
		return 0;
	c->has_exit = true;
	c->exit_code = (int)json_integer_value(code);
	c->signal = (int)json_integer_value(json_object_get(j, "signal"));
	const char *e = json_string_value(json_object_get(j, "error"));
	free(c->error);
	c->error = e && *e ? pl_xstrdup(e) : NULL;
	json_t *fin = json_object_get(j, "finished_at_ns");
	if (json_is_integer(fin))
		c->finished_ns = json_integer_value(fin);
	c->guest_oom_kills = (long)json_integer_value(json_object_get(j, "oom_kills"));
	return 1;
}

static pl_status_t status_parse(const char *s)
{
	for (int i = PL_STATUS_CREATED; i <= PL_STATUS_REMOVING; i++)
		if (s && strcmp(s, pl_status_name((pl_status_t)i)) == 0)
			return (pl_status_t)i;
	return PL_STATUS_STOPPED;
}

/* Rebuilds a record from its directory as it was written: the saved run (pid, start time)
 * is in c->dom, the domain itself untouched (recovery.c settles it). */
static pl_container_t *load_one(pl_portlayer_t *pl, const char *id, pl_error_t **err)
{
	_cleanup_close_ int dfd = openat(pl->containers_fd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		pl_error_errno(err, "open");
		return NULL;
	}
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	if (pl_read_file_at(dfd, "config.json", &buf, &len, 1 << 20, err) < 0)
		return NULL;
	_cleanup_json_ json_t *doc = pl_json_parse(buf, len, "config.json", err);
	if (!doc)
		return NULL;
	/* migrate-on-read happens here when the schema advances */
	json_int_t schema = json_integer_value(json_object_get(doc, "schema"));
	if (schema != PL_CONFIG_SCHEMA) {
		pl_error_set(err, PL_ERR_INTERNAL, 0, "config.json schema %lld not supported",
			     (long long)schema);
		return NULL;
	}
	_cleanup_(pl_container_free_recordp) pl_container_t *c = pl_xcalloc(1, sizeof(*c));
	c->dirfd = c->run_dirfd = c->teardown_fd = -1;
	c->pl = pl;
	c->dom.pidfd = c->dom.ctl_fd = -1;
	snprintf(c->id, sizeof(c->id), "%.64s", id);
	c->config = pl_config_parse(json_object_get(doc, "config"), false, err);
	if (!c->config)
		return NULL;
	/* records written before log_config was stored take the daemon's defaults */
	pl_log_config_defaults(json_object_get(json_object_get(doc, "config"), "log_config"),
			       pl->log_max_size, pl->log_max_files, &c->config->log_max_size,
			       &c->config->log_max_files);
	c->created_ns = json_integer_value(json_object_get(doc, "created_ns"));
	c->version = (uint64_t)json_integer_value(json_object_get(doc, "version"));
	if (c->version == 0)
		c->version = 1;
	const char *mech = json_string_value(json_object_get(doc, "mechanism"));
	c->mech = pl_placement_recorded(pl->mechs, mech, c->config);
	if (!c->mech) {
		pl_error_set(err, PL_ERR_INTERNAL, 0, "unknown mechanism \"%s\"",
			     mech ? mech : "(none recorded)");
		return NULL;
	}
	c->dir = pl_xasprintf("%s/containers/%s", pl->root, id);
	c->dirfd = TAKE_FD(dfd);

	free(buf);
	buf = NULL;
	_cleanup_json_ json_t *st = NULL;
	if (pl_read_file_at(c->dirfd, "state.json", &buf, &len, 1 << 20, NULL) == 0)
		st = json_loadb(buf, len, JSON_DISABLE_EOF_CHECK, NULL);
	c->status = status_parse(json_string_value(json_object_get(st, "status")));
	c->dom.pid = (pid_t)json_integer_value(json_object_get(st, "pid"));
	c->dom.start_time =
	    (unsigned long long)json_integer_value(json_object_get(st, "start_time"));
	c->started_ns = json_integer_value(json_object_get(st, "started_ns"));
	c->finished_ns = json_integer_value(json_object_get(st, "finished_ns"));
	c->exits = (uint64_t)json_integer_value(json_object_get(st, "exits"));
	c->restart_count = (uint32_t)json_integer_value(json_object_get(st, "restart_count"));
	c->stopped_by_user = json_is_true(json_object_get(st, "stopped_by_user"));
	c->oom_killed = json_is_true(json_object_get(st, "oom_killed"));
	json_t *code = json_object_get(st, "exit_code");
	if (json_is_integer(code)) {
		c->has_exit = true;
		c->exit_code = (int)json_integer_value(code);
		c->signal = (int)json_integer_value(json_object_get(st, "signal"));
	}
	const char *e = json_string_value(json_object_get(st, "error"));
	c->error = e && *e ? pl_xstrdup(e) : NULL;
	return TAKE_PTR(c);
}

static int cmp_created(const void *a, const void *b)
{
	const pl_container_t *x = *(pl_container_t *const *)a, *y = *(pl_container_t *const *)b;
	return x->created_ns < y->created_ns ? -1 : x->created_ns > y->created_ns;
}

/* Run directories of removals a crash interrupted (renamed away, not deleted yet). */
static void sweep_run_dirs(pl_portlayer_t *pl)
{
	int fd = fcntl(pl->run_containers_fd, F_DUPFD_CLOEXEC, 3);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (strncmp(de->d_name, DEL_PREFIX, strlen(DEL_PREFIX)) == 0)
			pl_remove_tree_at(pl->run_containers_fd, de->d_name, NULL);
	closedir(d);
}

int pl_store_load_all(pl_portlayer_t *pl, pl_container_t ***out, size_t *count, pl_error_t **err)
{
	sweep_run_dirs(pl);
	int fd = fcntl(pl->containers_fd, F_DUPFD_CLOEXEC, 3);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d)
		return pl_error_errno(err, "open containers directory");
	size_t n = 0, cap = 16;
	pl_container_t **all = pl_xmalloc(cap * sizeof(*all));
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.') {
			/* a create or remove that a crash interrupted: finish it */
			if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0 ||
			    strncmp(de->d_name, DEL_PREFIX, strlen(DEL_PREFIX)) == 0)
				pl_remove_tree_at(pl->containers_fd, de->d_name, NULL);
			continue;
		}
		if (!pl_id_is_full(de->d_name))
			continue;
		pl_error_t *e = NULL;
		pl_container_t *c = load_one(pl, de->d_name, &e);
		if (!c) {
			pl_log_warn("skipping domain %s: %s", de->d_name, e ? e->msg : "?");
			pl_error_free(e);
			continue;
		}
		if (n == cap)
			all = pl_xrealloc(all, (cap *= 2) * sizeof(*all));
		all[n++] = c;
	}
	closedir(d);
	qsort(all, n, sizeof(*all), cmp_created);
	*out = all;
	*count = n;
	return 0;
}

int pl_store_remove_domain(pl_portlayer_t *pl, pl_container_t *c, pl_error_t **err)
{
	_cleanup_free_ char *del = pl_xasprintf(DEL_PREFIX "%s", c->id);
	if (renameat(pl->containers_fd, c->id, pl->containers_fd, del) < 0)
		return pl_error_errno(err, "remove domain directory");
	int64_t pt = pl_phase_now();
	/* renamed too, not deleted here: tether's socket and what the domain mounted from it
	 * may still be in its mount namespace, which the janitor tears down first */
	if (renameat(pl->run_containers_fd, c->id, pl->run_containers_fd, del) < 0 &&
	    errno != ENOENT)
		pl_remove_tree_at(pl->run_containers_fd, c->id, NULL);
	pl_phase_step("remove.run_dir", &pt);
	return 0;
}

void pl_store_discard_domain(pl_portlayer_t *pl, const char *id)
{
	/* the tree (an overlay's upper and work dirs, the log) can take tens of ms to delete:
	 * the janitor does it, a crash before it has leaves it to the next start. Given to it
	 * once the record's fds are closed: a file the janitor unlinks while we hold it open
	 * would be freed by our close, on the loop. */
	_cleanup_free_ char *del = pl_xasprintf(DEL_PREFIX "%s", id);
	if (pl->janitor) {
		pl_janitor_remove(pl->janitor, false, del);
		pl_janitor_remove(pl->janitor, true, del);
	} else {
		pl_remove_tree_at(pl->containers_fd, del, NULL);
		pl_remove_tree_at(pl->run_containers_fd, del, NULL);
	}
}
