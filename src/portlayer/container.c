/* SPDX-License-Identifier: Apache-2.0 */
/* Container lifecycle over the mechanism interface and the tether protocol. State is
 * derived: RUNNING means tether's pidfd has not fired; STOPPED carries what tether
 * reported (or, if it died silently, what the kernel reported about it). */
#include "portlayer/internal.h"
#include "portlayer/logs.h"
#include "portlayer/pods.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/phase.h"
#include "portlayer/janitor.h"
#include "portlayer/network/network.h"
#include "portlayer/placement.h"
#include "portlayer/health.h"
#include "portlayer/kv.h"
#include "portlayer/link.h"

#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

int pl_container_replace_config(pl_portlayer_t *pl, pl_container_t *c, pl_config_t *cfg,
				pl_error_t **err)
{
	pl_config_t *old = c->config;
	c->config = cfg;
	c->version++;
	if (pl_store_save_config(c, err) < 0) {
		c->config = old;
		c->version--;
		pl_config_free(cfg);
		return pl_error_wrap(err, "commit container %.12s", c->id);
	}
	pl_config_free(old);
	return 0;
}

static void changed(pl_container_t *c)
{
	pl_container_changed(c);
}

static int send_json(pl_container_t *c, uint16_t type, json_t *j)
{
	return pl_container_send(c, type, j);
}

static int kill_tether(pl_container_t *c)
{
	/* a frozen (v1) task ignores even SIGKILL until thawed */
	if (!pl_mech_has(c->mech, PL_MECH_KILLS_PAUSED) && c->mech->is_paused(c->mech, c->id))
		c->mech->pause(c->mech, c->id, false, NULL);
	c->paused = false;
	c->killed_by_us = true;
	return syscall(SYS_pidfd_send_signal, c->dom.pidfd, SIGKILL, NULL, 0) < 0 ? -errno : 0;
}

/* A record recovery settled: a live domain is watched again; one that stopped by itself
 * while the daemon was away says so (die) and meets its restart policy. */
static void adopt(pl_container_t *c, bool away)
{
	if (c->status == PL_STATUS_RUNNING)
		pl_container_watch_domain(c);
	if (away) {
		pl_container_emit(c, "die", pl_container_exit_json(c));
		pl_container_consider_restart(c);
	}
}

pl_portlayer_t *pl_portlayer_open(const pl_portlayer_options_t *o, pl_error_t **err)
{
	const char *root = o->root, *run_dir = o->run_dir;
	pl_loop_t *loop = o->loop;
	if (!o->mechanisms || !o->mechanisms[0]) {
		pl_error_set(err, PL_ERR_INVALID, 0, "no mechanisms to place domains on");
		return NULL;
	}
	pl_userns_range_t range = {PL_USERNS_DEFAULT_START, PL_USERNS_DEFAULT_COUNT};
	if (o->userns_count) {
		range = (pl_userns_range_t){o->userns_start, o->userns_count};
		for (const pl_mechanism_t *const *m = o->mechanisms; *m; m++)
			if (pl_userns_check_reserved(range.start, range.count,
						     (*m)->reserved_ids_start,
						     (*m)->reserved_ids_count, (*m)->name, err) < 0)
				return NULL;
	}
	_cleanup_free_ char *cdir = pl_xasprintf("%s/containers", root);
	_cleanup_free_ char *rdir = pl_xasprintf("%s/containers", run_dir);
	if (pl_mkdir_p(cdir, 0700, err) < 0 || pl_mkdir_p(rdir, 0700, err) < 0)
		return NULL;
	pl_portlayer_t *pl = pl_xcalloc(1, sizeof(*pl));
	pl->containers_fd = pl->run_containers_fd = -1;
	pl->root = pl_xstrdup(root);
	pl->run_dir = pl_xstrdup(run_dir);
	pl->loop = loop;
	pl->mechs = o->mechanisms;
	pl->userns_range = range;
	pl->log_max_size = o->log_max_size;
	pl->log_max_files = o->log_max_files ? o->log_max_files : 1;
	pl->containers_fd = open(cdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pl->containers_fd < 0) {
		pl_error_errno(err, "open %s", cdir);
		return pl_portlayer_free(pl);
	}
	pl->run_containers_fd = open(rdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pl->run_containers_fd < 0) {
		pl_error_errno(err, "open %s", rdir);
		return pl_portlayer_free(pl);
	}
	pl->janitor = pl_janitor_new(loop, pl->containers_fd, pl->run_containers_fd);
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	pl->events = pl_events_open(root, host, err);
	if (!pl->events)
		return pl_portlayer_free(pl);
	pl->images = pl_images_open(root, err);
	if (!pl->images)
		return pl_portlayer_free(pl);
	pl->volumes = pl_volumes_open(root, err);
	if (!pl->volumes)
		return pl_portlayer_free(pl);
	pl->kv = pl_kv_open(root, err);
	if (!pl->kv)
		return pl_portlayer_free(pl);
	pl_health_follow(pl);
	if (pl_recovery_run(pl, adopt, err) < 0)
		return pl_portlayer_free(pl);
	pl->net = pl_network_open(pl, root, loop, o->address_pool, o->netns_pool, err);
	if (!pl->net)
		return pl_portlayer_free(pl);
	/* auto_remove containers that stopped while the daemon was away (or whose removal it
	 * did not finish) go now that every record is loaded and the network is known */
	for (pl_container_t *c = pl->head, *next; c; c = next) {
		next = c->next;
		if (c->config->auto_remove && c->status == PL_STATUS_STOPPED)
			pl_container_auto_remove(c);
	}
	return pl;
}

static void release_domain(pl_container_t *c)
{
	c->ctl_watch = pl_loop_unwatch(c->pl->loop, c->ctl_watch);
	c->pid_watch = pl_loop_unwatch(c->pl->loop, c->pid_watch);
	c->kill_timer = pl_loop_timer_cancel(c->pl->loop, c->kill_timer);
	c->dom.ctl_fd = pl_close(c->dom.ctl_fd);
	c->dom.pidfd = pl_close(c->dom.pidfd);
	pl_frame_reader_free(&c->reader);
	pl_link_drop_queue(c);
	c->greeted = false;
	json_decref(c->guest_stats); /* a past run's figures are no one's now */
	c->guest_stats = NULL;
}

pl_portlayer_t *pl_portlayer_free(pl_portlayer_t *pl)
{
	if (!pl)
		return NULL;
	/* containers outlive the daemon: drop our view of them, touch nothing */
	while (pl->head) {
		pl_container_t *c = pl->head;
		pl->head = c->next;
		if (pl_container_is_running(c))
			pl_container_lifecycle(c, PL_LIFECYCLE_RELEASED);
		release_domain(c);
		c->teardown_fd = pl_close(c->teardown_fd); /* a running domain: only a reference */
		c->restart_timer = pl_loop_timer_cancel(pl->loop, c->restart_timer);
		pl_container_free_record(c);
	}
	pl->events = pl_events_free(pl->events);
	pl->images = pl_images_free(pl->images);
	pl->volumes = pl_volumes_free(pl->volumes);
	pl->kv = pl_kv_free(pl->kv);
	pl->net = pl_network_free(pl->net);
	pl->janitor = pl_janitor_free(pl->janitor);
	if (pl->containers_fd >= 0)
		close(pl->containers_fd);
	if (pl->run_containers_fd >= 0)
		close(pl->run_containers_fd);
	free(pl->root);
	free(pl->run_dir);
	free(pl);
	return NULL;
}

pl_counts_t pl_portlayer_counts(const pl_portlayer_t *pl)
{
	pl_counts_t n = {0};
	for (const pl_container_t *c = pl->head; c; c = c->next) {
		n.total++;
		if (pl_container_is_running(c))
			n.running++;
		else if (c->status == PL_STATUS_CREATED)
			n.created++;
		else
			n.stopped++;
	}
	return n;
}

/* Named volumes exist before the container does (created on the fly, as Docker does; an
 * anonymous one gets a generated name, recorded in the config). */
static int resolve_volumes(pl_portlayer_t *pl, pl_config_t *cfg, pl_error_t **err)
{
	size_t i;
	json_t *m;
	json_array_foreach(cfg->mounts, i, m)
	{
		if (strcmp(json_string_value(json_object_get(m, "type")), "volume") != 0)
			continue;
		const char *name = json_string_value(json_object_get(m, "source"));
		char gen[PL_ID_LEN + 1];
		if (!name) {
			if (pl_id_generate(gen, err) < 0)
				return -1;
			name = gen;
		}
		json_t *vol = pl_volume_get(pl->volumes, name, true, err);
		if (!vol)
			return pl_error_wrap(err, "mounts[%zu]", i);
		json_decref(vol);
		json_object_set_new(m, "source", json_string(name));
	}
	return 0;
}

/* The mounts as the mechanism needs them: host paths, and what to populate. */
static json_t *mounts_spec(pl_container_t *c)
{
	json_t *out = json_array();
	size_t i;
	json_t *m;
	json_array_foreach(c->config->mounts, i, m)
	{
		json_t *s = json_deep_copy(m);
		const char *src = json_string_value(json_object_get(m, "source"));
		if (strcmp(json_string_value(json_object_get(m, "type")), "volume") == 0) {
			/* a volume removed meanwhile comes back empty, as Docker does */
			json_t *vol = pl_volume_get(c->pl->volumes, src, true, NULL);
			if (vol)
				json_decref(vol);
			_cleanup_free_ char *data = pl_volume_data_path(c->pl->volumes, src);
			_cleanup_free_ char *marker = pl_volume_marker_path(c->pl->volumes, src);
			json_object_set_new(s, "source", json_string(data));
			json_object_set_new(s, "populate", json_string(marker));
		}
		json_array_append_new(out, s);
	}
	return out;
}

/* security.userns remap: a host id range no other container holds (portlayer/userns.h). The
 * ranges in use are those recorded in the containers' configs, so removal frees them. */
static int allocate_userns(pl_portlayer_t *pl, pl_config_t *cfg, pl_error_t **err)
{
	pl_userns_t *u = &cfg->security.userns;
	if (!u->remap)
		return 0;
	size_t n = 0;
	for (pl_container_t *o = pl->head; o; o = o->next)
		n++;
	_cleanup_free_ const pl_userns_t **others = pl_xcalloc(n + 1, sizeof(*others));
	n = 0;
	for (pl_container_t *o = pl->head; o; o = o->next)
		if (o->config->security.userns.remap)
			others[n++] = &o->config->security.userns;
	if (pl_userns_allocate(u, others, n, &pl->userns_range, err) < 0)
		return -1;
	if (pl_userns_host_id(u->uid_map, u->n_uid, cfg->uid) < 0 ||
	    pl_userns_host_id(u->gid_map, u->n_gid, cfg->gid) < 0)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "user %u:%u is not mapped by security.userns", cfg->uid,
				    cfg->gid);
	json_object_set_new(cfg->security.canonical, "userns", pl_userns_to_json(u));
	return 0;
}

pl_container_t *pl_container_create(pl_portlayer_t *pl, const json_t *body, pl_error_t **err)
{
	pl_container_t *c = pl_container_create_lazy(pl, body, err);
	if (c && pl_container_make_durable(c, err) < 0) {
		pl_container_remove(pl, c, true, NULL);
		return NULL;
	}
	return c;
}

static void finish_start(pl_container_t *c, const pl_error_t *e);

static void on_synced(void *data, bool ok)
{
	pl_container_t *c = data;
	c->sync_ticket = 0;
	if (!ok)
		pl_log_warn("container %.12s: config.json could not be made durable", c->id);
	if (c->start_waits_sync) {
		c->start_waits_sync = false;
		finish_start(c, NULL);
	}
}

/* The janitor's fsync is done, or is waited for now (block); a start that waited for it is
 * reported. */
static void sync_settle(pl_container_t *c, bool block)
{
	if (c->sync_ticket && block)
		pl_janitor_sync_wait(c->pl->janitor, c->sync_ticket, 30000);
}

int pl_container_make_durable_async(pl_container_t *c, pl_error_t **err)
{
	if (c->config->auto_remove || c->sync_ticket)
		return 0;
	/* by the janitor's child, forked once: a fork per create copies the daemon's memory
	 * map and fd table, and the child then closes every fd, a cost growing with the
	 * containers the daemon holds */
	bool ok = true;
	c->sync_ticket = pl_janitor_sync(c->pl->janitor, c->dirfd, on_synced, c, &ok);
	if (!c->sync_ticket && !ok)
		return pl_error_errno(err, "make domain directory durable");
	return 0;
}

int pl_container_make_durable(pl_container_t *c, pl_error_t **err)
{
	/* an auto_remove container is removed when it stops, and a host crash stops it: a
	 * crash cannot lose one anybody would get back */
	if (c->config->auto_remove)
		return 0;
	return pl_store_sync_domain(c->pl, c, err);
}

/* A create that fails after its addresses were assigned gives them back. */
static void unattach(pl_network_t **n)
{
	pl_network_rebuild(*n);
}

pl_container_t *pl_container_create_lazy(pl_portlayer_t *pl, const json_t *body, pl_error_t **err)
{
	int64_t pt = pl_phase_now();
	_cleanup_(unattach) pl_network_t *attached = NULL;
	_cleanup_(pl_config_freep) pl_config_t *cfg = pl_config_parse(body, true, err);
	if (!cfg)
		return NULL;
	pl_log_config_defaults(json_object_get(body, "log_config"), pl->log_max_size,
			       pl->log_max_files, &cfg->log_max_size, &cfg->log_max_files);
	if (cfg->image) {
		const json_t *img = pl_image_find(pl->images, cfg->image, err);
		if (!img ||
		    pl_config_apply_image(cfg, pl_image_id(img), pl_image_config(img), err) < 0)
			return NULL;
	}
	if (pl_pods_resolve(pl, cfg, err) < 0 || resolve_volumes(pl, cfg, err) < 0 ||
	    pl_network_attach(pl->net, cfg, NULL, err) < 0)
		return NULL;
	attached = pl->net;
	const pl_mechanism_t *mech = pl_placement_select(pl->mechs, pl->net, cfg, NULL, err);
	if (!mech)
		return NULL;
	if (allocate_userns(pl, cfg, err) < 0)
		return NULL;
	if (cfg->name) {
		for (pl_container_t *o = pl->head; o; o = o->next) {
			if (o->config->name && strcmp(o->config->name, cfg->name) == 0) {
				pl_error_set(err, PL_ERR_CONFLICT, 0,
					     "name \"%s\" is already in use by container %s",
					     cfg->name, o->id);
				return NULL;
			}
		}
	}
	_cleanup_(pl_container_free_recordp) pl_container_t *c = pl_xcalloc(1, sizeof(*c));
	c->dirfd = c->run_dirfd = c->teardown_fd = -1;
	c->dom.pidfd = c->dom.ctl_fd = -1;
	if (pl_id_generate(c->id, err) < 0)
		return NULL;
	c->config = TAKE_PTR(cfg);
	c->mech = mech;
	c->created_ns = pl_now_ns();
	c->version = 1;
	c->status = PL_STATUS_CREATED;
	pl_phase_step("create.parse_check", &pt);
	if (pl_store_create_domain(pl, c, err) < 0) {
		c->pl = pl;
		pl_container_lifecycle(c, PL_LIFECYCLE_GONE); /* its addresses are free again */
		return NULL;
	}
	pl_phase_step("create.store", &pt);
	pl_container_link(pl, c);
	attached = NULL;
	pl_container_emit(c, "create", NULL);
	pl_phase_step("create.emit", &pt);
	return TAKE_PTR(c);
}

static const char *hostname_of(const pl_container_t *c, char buf[13])
{
	if (c->config->hostname)
		return c->config->hostname;
	snprintf(buf, 13, "%.12s", c->id);
	return buf;
}

static void finish_start(pl_container_t *c, const pl_error_t *e)
{
	if (!e && c->sync_ticket) { /* a success is reported once the container is durable */
		c->start_waits_sync = true;
		return;
	}
	if (c->start_t0_ns) {
		pl_metrics_t *m = &c->pl->metrics;
		if (e)
			m->start_failures++;
		else
			m->starts++;
		pl_histogram_observe(&m->start_latency,
				     (double)(pl_metrics_now_ns() - c->start_t0_ns) / 1e9);
		c->start_t0_ns = 0;
	}
	pl_start_fn cb = c->start_cb;
	c->start_cb = NULL;
	if (cb)
		cb(c->pl, c->id, e, c->start_data);
}

static void record_error(pl_container_t *c, const char *msg)
{
	free(c->error);
	c->error = pl_xstrdup(msg);
}

/* tether is gone: settle the exit status and release the domain. */
static void domain_ended(pl_container_t *c)
{
	int64_t pt = pl_phase_now();
	if (c->phase_t) /* tether's EXITED until its process was gone */
		pl_phase_add("exit.exited_to_end", pt - c->phase_t);
	c->phase_t = 0;
	pl_phase_page_collect(c->dom.pid); /* a domain that never said HELLO */
	/* a start that ran and waits for the fsyncs is a success: report it before the end */
	if (c->start_waits_sync)
		sync_settle(c, true);
	siginfo_t si = {0};
	bool reaped = waitid((idtype_t)P_PIDFD, (id_t)c->dom.pidfd, &si, WEXITED | WNOHANG) == 0 &&
		      si.si_pid != 0;
	if (!c->reported_exit && !pl_store_read_exit(c)) {
		c->has_exit = true;
		c->signal = 0;
		if (c->mech->unreported_end) {
			/* the process is not tether (a VM's QEMU): the mechanism reads its end */
			bool killed =
			    reaped && (si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED);
			const char *why = c->mech->unreported_end(
			    c->mech, reaped, reaped && !killed ? si.si_status : 0,
			    killed ? si.si_status : 0, c->killed_by_us, &c->exit_code, &c->signal);
			if (why && !c->error)
				record_error(c, why);
		} else if (reaped && si.si_code == CLD_EXITED) {
			c->exit_code = si.si_status;
		} else if (!reaped && c->killed_by_us) {
			/* not our child (reattached): the kernel will not say, but we know */
			c->signal = SIGKILL;
			c->exit_code = 128 + SIGKILL;
		} else if (reaped && (si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED)) {
			/* tether itself was killed (stop's SIGKILL): so was everything in it */
			c->signal = si.si_status;
			c->exit_code = 128 + si.si_status;
		} else {
			c->exit_code = 255;
			if (!c->error)
				record_error(c, "tether ended without reporting an exit status");
		}
	}
	pl_sessions_domain_ended(c);
	release_domain(c);
	pl_phase_step("exit.settle_release", &pt);
	/* read before the cgroup goes: the kernel's count is the only witness */
	c->oom_killed = c->mech->oom_kills(c->mech, c->id) > 0 || c->guest_oom_kills > 0;
	if (c->oom_killed) {
		c->pl->metrics.oom_kills++;
		pl_container_emit(c, "oom", NULL);
	}
	pl_error_t *e = NULL;
	c->destroyed = c->mech->destroy(c->mech, c->id, &e) == 0;
	if (!c->destroyed) {
		pl_log_warn("container %s: release cgroups: %s", c->id, e->msg);
		pl_error_free(e);
	}
	pl_phase_step("exit.oom_destroy", &pt);
	pl_pods_domain_gone(c);
	c->status = PL_STATUS_STOPPED;
	pl_container_lifecycle(c, PL_LIFECYCLE_STOPPED);
	c->exits++;
	c->pl->metrics.exits++;
	if (!c->finished_ns || c->finished_ns < c->started_ns)
		c->finished_ns = pl_now_ns();
	bool by_user = c->stop_requested;
	c->stopped_by_user = by_user;
	c->stop_requested = false;
	/* a run that lasted is a fresh start for the restart back-off */
	if (c->finished_ns - c->started_ns > 10 * 1000000000LL)
		c->restart_count = 0;
	pl_store_save_state(c, NULL);
	pl_phase_step("exit.state_write", &pt);
	pl_container_emit(c, "die", pl_container_exit_json(c));
	if (by_user)
		pl_container_emit(c, "stop", NULL);
	pl_log_debug("container %.12s stopped: exit %d", c->id, c->exit_code);
	if (c->start_cb || c->start_t0_ns) { /* ended before it started: a failed start */
		/* tether could not run what the caller asked for (not found, not executable,
		 * no such working directory): the caller's input, not our fault */
		bool input = c->reported_exit && c->error &&
			     (c->exit_code == 126 || c->exit_code == 127 || c->exit_code == 128);
		pl_errkind_t kind = input ? PL_ERR_INVALID : (pl_errkind_t)c->setup_error_kind;
		pl_error_t *se = NULL;
		pl_error_set(&se, kind, 0, "start container %.12s: %s", c->id,
			     c->error ? c->error : "the process exited before it started");
		finish_start(c, se);
		pl_error_free(se);
	}
	changed(c); /* answers waits */
	pl_phase_step("exit.emit_notify", &pt);
	/* the unmounting, by the janitor: once the waits are answered (its process may take
	 * the loop's CPU), before anything mounts the upper directory again */
	if (c->teardown_fd >= 0)
		c->teardown_ticket = pl_janitor_hand(c->pl->janitor, TAKE_FD(c->teardown_fd));
	pl_phase_step("exit.teardown_hand", &pt);
	if (!by_user && c->status == PL_STATUS_STOPPED)
		pl_container_consider_restart(c);
}

/* HELLO and CONFIG for a new run's tether. *attached: the primary session was attached
 * before, so tether holds the process for its ATTACH. */
static int send_config(pl_container_t *c, bool *attached)
{
	char hb[13];
	int64_t pt = pl_phase_now();
	json_t *cfg = pl_config_tether_json(c->config, hostname_of(c, hb));
	json_t *net = pl_pods_tether_network(c->pl, c, hostname_of(c, hb));
	if (net)
		json_object_set_new(cfg, "network", net);
	*attached = pl_sessions_primary_attached(c);
	if (*attached) /* attached before the start: the process waits for the ATTACH below */
		json_object_set_new(cfg, "wait_attach", json_true());
	pl_error_t *e = NULL;
	_cleanup_(pl_placement_release) pl_placement_t desc = pl_placement_describe(c->config);
	if (c->mech->tether_config(c->mech, &desc.spec, cfg, &e) < 0) {
		record_error(c, e->msg);
		pl_error_free(e);
		json_decref(cfg);
		return -EINVAL;
	}
	if (send_json(c, PL_MSG_HELLO, json_pack("{s:i}", "version", PL_PROTO_VERSION)) < 0) {
		json_decref(cfg);
		return -EPIPE;
	}
	if (send_json(c, PL_MSG_CONFIG, cfg) < 0)
		return -EPIPE;
	pl_phase_step("tether.config_build_send", &pt);
	return 0;
}

static int handle_hello(pl_container_t *c, json_t *j)
{
	json_int_t v = json_integer_value(json_object_get(j, "version"));
	if (v != PL_PROTO_VERSION) {
		record_error(c, "tether speaks an unsupported protocol version");
		return -EPROTO;
	}
	c->greeted = true;
	if (json_is_true(json_object_get(j, "resumed"))) {
		/* a reattached domain: the process runs already, tether reports its pid */
		int r = send_json(c, PL_MSG_HELLO, json_pack("{s:i}", "version", PL_PROTO_VERSION));
		pl_sessions_resume(c);
		pl_container_lifecycle(c, PL_LIFECYCLE_RESUMED);
		return r;
	}
	pl_phase_page_collect(c->dom.pid);
	bool attached;
	if (c->config_sent) { /* sent at start, read by tether right after its HELLO */
		c->config_sent = false;
		attached = pl_sessions_primary_attached(c);
	} else {
		int r = send_config(c, &attached);
		if (r < 0)
			return r;
	}
	c->phase_t = pl_phase_now();
	if (attached)
		pl_sessions_resume(c);
	if (c->config->tty && c->config->open_stdin && c->status == PL_STATUS_STARTING) {
		/* tether holds the process until the first attach (run -it): the domain is up,
		 * so the start is done; STARTED follows the attach */
		c->status = PL_STATUS_RUNNING;
		pl_container_emit(c, "start", NULL);
		finish_start(c, NULL);
		pl_container_lifecycle(c, PL_LIFECYCLE_RUNNING);
		changed(c);
	}
	return 0;
}

static uint32_t session_of(const json_t *j)
{
	json_t *s = json_object_get(j, "session");
	return json_is_integer(s) ? (uint32_t)json_integer_value(s) : PL_SESSION_PRIMARY;
}

/* Taken while tether runs, so that its exit does not unmount the domain (janitor.h). */
static void hold_teardown(pl_container_t *c)
{
	if (c->teardown_fd < 0 && c->mech->teardown_handle && c->dom.pidfd >= 0)
		c->teardown_fd = c->mech->teardown_handle(c->mech, &c->dom);
}

void pl_container_settle_teardown(pl_container_t *c)
{
	if (c->teardown_ticket && c->pl->janitor)
		pl_janitor_settle(c->pl->janitor, c->teardown_ticket, 2000);
	c->teardown_ticket = 0;
}

static void handle_frame(pl_container_t *c, const pl_frame_hdr_t *h, const uint8_t *payload)
{
	_cleanup_json_ json_t *j = json_loadb((const char *)payload, h->len, 0, NULL);
	switch ((pl_msg_type_t)h->type) {
	case PL_MSG_HELLO:
		if (handle_hello(c, j) < 0)
			kill_tether(c);
		break;
	case PL_MSG_STARTED:
		if (session_of(j) != PL_SESSION_PRIMARY) {
			pl_sessions_on_started(c, session_of(j), j);
			break;
		}
		if (c->status != PL_STATUS_STARTING) {
			hold_teardown(c);
			break; /* a resumed tether confirming what we know */
		}
		c->status = PL_STATUS_RUNNING;
		if (c->phase_t) /* tether: CONFIG parsed, process forked, seccomp, exec */
			pl_phase_step("tether.config_to_started", &c->phase_t);
		/* a daemon that dies from here on must know the domain ran (a VM killed while
		 * it is down leaves no exit record: that ended a run, it did not cancel a start) */
		pl_store_save_state(c, NULL);
		pl_container_emit(c, "start", NULL);
		finish_start(c, NULL);
		pl_container_lifecycle(c, PL_LIFECYCLE_RUNNING);
		changed(c);
		if (c->phase_t)
			pl_phase_step("start.started_state_notify", &c->phase_t);
		c->phase_t = 0;
		hold_teardown(c); /* after the answer */
		if (c->mech->started)
			c->mech->started(c->mech, &c->dom);
		break;
	case PL_MSG_EXITED: {
		if (session_of(j) != PL_SESSION_PRIMARY) {
			pl_sessions_on_exited(c, session_of(j), j);
			break;
		}
		c->reported_exit = true;
		c->phase_t = pl_phase_now();
		c->has_exit = true;
		c->exit_code = (int)json_integer_value(json_object_get(j, "exit_code"));
		c->signal = (int)json_integer_value(json_object_get(j, "signal"));
		json_t *fin = json_object_get(j, "finished_at_ns");
		if (json_is_integer(fin))
			c->finished_ns = json_integer_value(fin);
		c->guest_oom_kills = (long)json_integer_value(json_object_get(j, "oom_kills"));
		const char *e = json_string_value(json_object_get(j, "error"));
		if (e && *e)
			record_error(c, e);
		break;
	}
	case PL_MSG_ERROR: {
		const char *m = json_string_value(json_object_get(j, "message"));
		pl_log_debug("container %.12s: tether error: %s", c->id, m ? m : "?");
		if (c->status == PL_STATUS_STARTING && m) {
			record_error(c, m); /* a set-up failure before tether ran */
			c->setup_error_kind = (int)json_integer_value(json_object_get(j, "kind"));
		}
		if (json_integer_value(json_object_get(j, "type")) == PL_MSG_EXEC)
			pl_sessions_on_exec_refused(c, j);
		if (json_integer_value(json_object_get(j, "type")) == PL_MSG_TOP_REQUEST) {
			/* a tether that cannot list its processes: whoever waits is told */
			json_decref(c->top);
			c->top = json_pack("{s:s}", "error", m ? m : "tether refused TOP_REQUEST");
			c->top_seq++;
			changed(c);
		}
		break;
	}
	case PL_MSG_PING:
		pl_container_send_frame(c, PL_MSG_PONG, 0, 0, payload, h->len);
		break;
	case PL_MSG_DATA:
		pl_sessions_on_data(c, h, payload);
		break;
	case PL_MSG_STATS:
		if (!json_is_object(j))
			break;
		json_decref(c->guest_stats);
		c->guest_stats = json_incref(j);
		c->guest_stats_seq++;
		changed(c);
		break;
	case PL_MSG_PONG:
	case PL_MSG_CONFIG:
	case PL_MSG_SIGNAL:
	case PL_MSG_GO:
	case PL_MSG_EXEC:
	case PL_MSG_CLOSE_STDIN:
	case PL_MSG_RESIZE:
	case PL_MSG_ATTACH:
	case PL_MSG_DETACH:
	case PL_MSG_CREDIT:
		pl_sessions_on_stdin_credit(c, j);
		break;
	case PL_MSG_TOP:
		json_decref(c->top);
		c->top = json_is_object(j) ? json_incref(j)
					   : json_pack("{s:s}", "error", "tether sent a bad TOP");
		c->top_seq++;
		changed(c);
		break;
	case PL_MSG_STATS_REQUEST: /* ours to send, never tether's */
	case PL_MSG_NETWORK:
	case PL_MSG_TOP_REQUEST:
	case PL_MSG_LOG_ROTATED:
	case PL_MSG_SECCOMP:
		break;
	case PL_MSG_LOG_ROTATE:
		/* only asked for by a tether that writes the host file and has a limit: anything
		 * else (a VM guest) would only get its own log renamed away */
		if (pl_mech_has(c->mech, PL_MECH_LOG_ROTATE) && c->config->log_max_size)
			pl_logs_rotate(c->pl, c);
		else
			pl_log_debug("container %.12s: ignoring an unasked LOG_ROTATE", c->id);
		break;
	default:
		pl_log_debug("container %.12s: ignoring frame type %u", c->id, h->type);
		break;
	}
}

static void process_frames(pl_container_t *c)
{
	pl_frame_hdr_t h;
	const uint8_t *payload;
	int r;
	while ((r = pl_frame_reader_next(&c->reader, &h, &payload)) > 0)
		handle_frame(c, &h, payload);
	if (r < 0) {
		pl_log_warn("container %.12s: corrupt tether stream, disconnecting", c->id);
		c->ctl_watch = pl_loop_unwatch(c->pl->loop, c->ctl_watch);
		c->dom.ctl_fd = pl_close(c->dom.ctl_fd);
	}
}

static void on_pidfd(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	pl_container_t *c = data;
	/* drain what tether said before it went (EXITED is usually already queued) */
	if (c->ctl_watch) {
		for (;;) {
			long n = pl_frame_reader_fill(&c->reader, c->dom.ctl_fd);
			if (n <= 0)
				break;
		}
	}
	process_frames(c);
	domain_ended(c);
	if (c->config->auto_remove && c->status == PL_STATUS_STOPPED)
		pl_container_auto_remove(c); /* c is gone */
}

static void on_ctl(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	pl_container_t *c = data;
	if (events & EPOLLOUT)
		pl_link_flush(c);
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	long n = pl_frame_reader_fill(&c->reader, fd);
	if (n == -EAGAIN)
		return;
	if (n > 0) {
		process_frames(c);
		return;
	}
	/* EOF or error: tether is going away; the pidfd settles the rest */
	c->ctl_watch = pl_loop_unwatch(loop, c->ctl_watch);
	c->dom.ctl_fd = pl_close(c->dom.ctl_fd);
}

void pl_container_watch_domain(pl_container_t *c)
{
	pl_frame_reader_init(&c->reader);
	if (c->dom.ctl_fd >= 0) {
		fcntl(c->dom.ctl_fd, F_SETFL, O_NONBLOCK);
		c->ctl_watch = pl_loop_watch(c->pl->loop, c->dom.ctl_fd, EPOLLIN, on_ctl, c, NULL);
	}
	c->pid_watch = pl_loop_watch(c->pl->loop, c->dom.pidfd, EPOLLIN, on_pidfd, c, NULL);
}

/* The overlay's lower layers: the rootfs directory, or the image's layers top first. */
static char *lowerdir_of(pl_container_t *c, pl_error_t **err)
{
	if (!c->config->image)
		return pl_xstrdup(c->config->rootfs);
	char **paths = pl_image_layer_paths(c->pl->images, c->config->image, err);
	if (!paths)
		return NULL;
	size_t n = 0, len = 0;
	for (; paths[n]; n++)
		len += strlen(paths[n]) + 1;
	if (n == 0) {
		free(paths);
		pl_error_set(err, PL_ERR_INVALID, 0, "image %s has no layers", c->config->image);
		return NULL;
	}
	char *out = pl_xmalloc(len + 1), *o = out;
	for (size_t i = n; i-- > 0;) {
		o += sprintf(o, "%s%s", o == out ? "" : ":", paths[i]);
		free(paths[i]);
	}
	free(paths);
	return out;
}

char *pl_container_lowerdir(pl_container_t *c, pl_error_t **err)
{
	return lowerdir_of(c, err);
}

json_t *pl_container_mounts(pl_container_t *c)
{
	return mounts_spec(c);
}

int pl_container_check_mechanism(pl_portlayer_t *pl, const pl_container_t *c,
				 const pl_config_t *cfg, pl_error_t **err)
{
	return pl_placement_select(pl->mechs, pl->net, cfg, c ? c->mech : NULL, err) ? 0 : -1;
}

const pl_userns_t *pl_container_userns(const pl_container_t *c)
{
	return &c->config->security.userns;
}

bool pl_container_files_on_host(const pl_container_t *c)
{
	return pl_mech_has(c->mech, PL_MECH_FILES_ON_HOST);
}

int pl_container_ns_pidfd(const pl_container_t *c)
{
	return pl_container_is_running(c) && pl_mech_has(c->mech, PL_MECH_SHARES_HOST_NS)
		   ? c->dom.pidfd
		   : -1;
}

/* A start that failed before the domain existed. */
static int start_failed(pl_container_t *c, pl_error_t **err)
{
	c->pl->metrics.start_failures++;
	return pl_error_wrap(err, "start container %.12s", c->id);
}

int pl_container_start(pl_portlayer_t *pl, pl_container_t *c, pl_start_fn cb, void *data,
		       pl_error_t **err)
{
	if (pl_container_is_running(c))
		return 1;
	if (c->status == PL_STATUS_REMOVING)
		return pl_error_set(err, PL_ERR_CONFLICT, 0, "container %.12s is being removed",
				    c->id);
	int64_t t0 = pl_metrics_now_ns();
	int64_t pt = pl_phase_now();
	char hb[13];
	if (pl_network_prepare(pl->net, c, err) < 0 || pl_store_open_run_dir(pl, c, err) < 0)
		return start_failed(c, err);
	_cleanup_free_ char *lower = lowerdir_of(c, err);
	if (!lower)
		return start_failed(c, err);
	_cleanup_(pl_placement_release) pl_placement_t place = pl_placement_describe(c->config);
	pl_placement_resolve(&place, pl->volumes, pl->net, c);
	pl_domain_spec_t spec = place.spec;
	spec.id = c->id;
	spec.domain_dirfd = c->dirfd;
	spec.run_dirfd = c->run_dirfd;
	spec.domain_dir = c->dir;
	spec.hostname = hostname_of(c, hb);
	spec.lowerdir = lower;
	spec.disposable_rootfs = c->config->auto_remove;
	/* a pod: the namespaces of the containers it joins (a joined network namespace is
	 * entered like a pooled one) */
	_cleanup_(pl_pods_release) pl_ns_join_t join = {.ipc_fd = -1, .pid_fd = -1};
	int joined_net = -1;
	if (pl_pods_prepare(pl, c, &join, &joined_net, err) < 0)
		return pl_error_wrap(err, "start container %.12s", c->id);
	spec.join = &join;
	/* else a pre-created network namespace when the mechanism takes one and the pool has
	 * one */
	_cleanup_close_ int netns = joined_net >= 0 ? joined_net
				    : pl_placement_pools_netns(c->mech, c->config)
					? pl_network_netns_take(pl->net)
					: -1;
	spec.netns_pooled = netns >= 0;
	spec.netns_fd = netns;
	pl_domain_t dom = {.pidfd = -1, .ctl_fd = -1};
	c->restart_timer = pl_loop_timer_cancel(pl->loop, c->restart_timer);
	/* recorded before the domain exists: a daemon that dies from here on finds a
	 * "starting" record and can tell a domain that never ran from one that did */
	pl_status_t before = c->status;
	c->status = PL_STATUS_STARTING;
	c->dom.pid = 0;
	pl_container_settle_teardown(c); /* the last run's overlay is unmounted */
	c->destroyed = false;
	pl_phase_step("start.prepare", &pt);
	if (pl_store_save_state(c, err) < 0) {
		pl_pods_domain_gone(c);
		c->status = before;
		return start_failed(c, err);
	}
	pl_phase_step("start.state_write", &pt);
	if (c->mech->spawn(c->mech, &spec, &dom, err) < 0) {
		pl_pods_domain_gone(c);
		c->status = before;
		pl_store_save_state(c, NULL);
		return start_failed(c, err);
	}
	pl_phase_step("start.spawn", &pt);
	if (dom.warning) {
		pl_log_warn("container %.12s: %s", c->id, dom.warning);
		pl_container_emit(c, "warning", json_pack("{s:s}", "message", dom.warning));
		dom.warning = NULL;
	}
	c->dom = dom;
	c->start_t0_ns = t0;
	c->started_ns = pl_now_ns();
	c->finished_ns = 0;
	c->has_exit = c->reported_exit = c->stop_requested = c->oom_killed = false;
	c->guest_oom_kills = 0;
	c->setup_error_kind = PL_ERR_INTERNAL;
	c->killed_by_us = false;
	c->paused = false;
	c->exit_code = c->signal = 0;
	free(c->error);
	c->error = NULL;
	c->start_cb = cb;
	c->start_data = data;
	pl_container_watch_domain(c);
	/* persisted before anything else can happen so a restarted daemon finds the domain */
	pl_store_save_state(c, NULL);
	pl_container_lifecycle(c, PL_LIFECYCLE_STARTED); /* its published ports */
	pl_phase_step("start.state_write", &pt);
	/* tether's HELLO and CONFIG wait in its socket while the domain sets itself up, so
	 * tether starts the process without a round trip (a host-kernel domain: its control
	 * socket is tether's own from the first byte) */
	bool attached;
	c->config_sent = false;
	if (pl_mech_has(c->mech, PL_MECH_SHARES_HOST_NS))
		c->config_sent = send_config(c, &attached) == 0;
	return 0;
}

static int signal_domain(pl_container_t *c, int signo)
{
	/* frozen tasks take no signal (v1 freezer: not even SIGKILL) until thawed */
	if (!(signo == SIGKILL && pl_mech_has(c->mech, PL_MECH_KILLS_PAUSED)) &&
	    c->mech->is_paused(c->mech, c->id) &&
	    c->mech->pause(c->mech, c->id, false, NULL) == 0) {
		c->paused = false;
		pl_container_emit(c, "unpause", NULL);
	}
	if (c->dom.ctl_fd >= 0 && signo != SIGKILL) {
		int r = send_json(c, PL_MSG_SIGNAL,
				  json_pack("{s:i, s:b}", "signal", signo, "group", 0));
		if (r == 0)
			return 0;
	}
	/* tether forwards what it receives; SIGKILL takes the whole domain down */
	if (signo == SIGKILL)
		return kill_tether(c);
	if (syscall(SYS_pidfd_send_signal, c->dom.pidfd, signo, NULL, 0) < 0)
		return -errno;
	return 0;
}

int pl_container_kill(pl_portlayer_t *pl, pl_container_t *c, int signo, pl_error_t **err)
{
	if (!pl_container_is_running(c))
		return pl_error_set(err, PL_ERR_CONFLICT, 0, "container %.12s is not running",
				    c->id);
	int r = signal_domain(c, signo);
	if (r < 0 && r != -ESRCH)
		return pl_error_set(err, PL_ERR_INTERNAL, -r, "signal container %.12s", c->id);
	pl_container_emit(c, "kill", json_pack("{s:i}", "signal", signo));
	return 0;
}

static void on_stop_timeout(pl_loop_t *loop, void *data)
{
	pl_container_t *c = data;
	c->kill_timer = NULL;
	pl_log_debug("container %.12s: stop timeout, killing", c->id);
	kill_tether(c);
}

int pl_container_stop(pl_portlayer_t *pl, pl_container_t *c, int64_t timeout_s, pl_error_t **err)
{
	if (!pl_container_is_running(c) && c->restart_timer) {
		/* stopped, but the restart policy was about to bring it back: the API wins */
		c->restart_timer = pl_loop_timer_cancel(pl->loop, c->restart_timer);
		c->stopped_by_user = true;
		pl_store_save_state(c, NULL);
		return 0;
	}
	if (!pl_container_is_running(c) || c->stop_requested)
		return 0;
	c->stop_requested = true;
	c->status = PL_STATUS_STOPPING;
	if (timeout_s < 0)
		timeout_s = c->config->stop_timeout;
	if (timeout_s == 0 || signal_domain(c, c->config->stop_signal) < 0) {
		kill_tether(c);
		return 0;
	}
	c->kill_timer =
	    pl_loop_timer(pl->loop, (uint64_t)timeout_s * 1000, on_stop_timeout, c, err);
	return c->kill_timer ? 0 : -1;
}

/* Kills the domain and settles its exit synchronously (remove -f). */
static void kill_now(pl_container_t *c)
{
	kill_tether(c);
	siginfo_t si;
	/* our child: wait for it; reattached (not ours): poll the pidfd until it fires */
	if (waitid((idtype_t)P_PIDFD, (id_t)c->dom.pidfd, &si, WEXITED | WNOWAIT) < 0) {
		struct pollfd p = {.fd = c->dom.pidfd, .events = POLLIN};
		poll(&p, 1, 10000);
	}
	c->stop_requested = true;
	domain_ended(c);
}

int pl_container_remove(pl_portlayer_t *pl, pl_container_t *c, bool force, pl_error_t **err)
{
	if (pl_pods_check_remove(pl, c, force, err) < 0)
		return -1;
	c->restart_timer = pl_loop_timer_cancel(pl->loop, c->restart_timer);
	if (pl_container_is_running(c)) {
		if (!force)
			return pl_error_set(err, PL_ERR_CONFLICT, 0,
					    "container %.12s is running: stop it first or force",
					    c->id);
		kill_now(c);
	}
	sync_settle(c, true);
	int64_t pt = pl_phase_now();
	c->status = PL_STATUS_REMOVING;
	pl_pods_domain_gone(c);
	pl_error_t *e = NULL;
	if (!c->destroyed && c->mech->destroy(c->mech, c->id, &e) < 0) {
		pl_log_warn("container %.12s: %s", c->id, e->msg);
		pl_error_free(e);
	}
	changed(c);
	pl_phase_step("remove.destroy_notify", &pt);
	if (pl_store_remove_domain(pl, c, err) < 0) {
		c->status = PL_STATUS_STOPPED;
		return -1;
	}
	pl_container_unlink(pl, c);
	pl_phase_step("remove.store", &pt);
	pl_container_emit(c, "remove", NULL);
	pl_container_emit(c, "destroy", NULL); /* Docker's name for it */
	pl_phase_step("remove.emit", &pt);
	pl_container_lifecycle(c, PL_LIFECYCLE_GONE); /* its addresses are free again */
	pl_phase_step("remove.network_rebuild", &pt);
	char id[sizeof(c->id)];
	memcpy(id, c->id, sizeof(id));
	pl_container_free_record(c);
	pl_phase_step("remove.free_record", &pt);
	pl_store_discard_domain(pl, id);
	pl_phase_step("remove.domain_tree", &pt);
	return 0;
}

void pl_container_auto_remove(pl_container_t *c)
{
	pl_portlayer_t *pl = c->pl;
	_cleanup_json_ json_t *anon = json_array();
	size_t i;
	json_t *m;
	json_array_foreach(c->config->mounts, i, m)
	{
		if (json_is_true(json_object_get(m, "anonymous")))
			json_array_append(anon, json_object_get(m, "source"));
	}
	_cleanup_free_ char *id = pl_xstrdup(c->id);
	pl_error_t *e = NULL;
	if (pl_container_remove(pl, c, false, &e) < 0) {
		pl_log_warn("container %.12s: auto-remove: %s", id, e->msg);
		pl_error_free(e);
		return;
	}
	json_t *v;
	json_array_foreach(anon, i, v)
	{
		const char *name = json_string_value(v);
		if (pl_portlayer_volume_in_use(pl, name, false))
			continue;
		if (pl_volume_remove(pl->volumes, name, &e) < 0) {
			pl_log_warn("volume %s: %s", name, e->msg);
			pl_error_free(e);
			e = NULL;
			continue;
		}
		pl_events_emit(pl->events, "volume", "remove", name, NULL, NULL);
	}
}

static void on_restart_timer(pl_loop_t *loop, void *data)
{
	pl_container_t *c = data;
	c->restart_timer = NULL;
	if (c->status != PL_STATUS_STOPPED)
		return;
	pl_error_t *e = NULL;
	c->restart_count++;
	if (pl_container_start(c->pl, c, NULL, NULL, &e) < 0) {
		pl_log_warn("container %.12s: restart: %s", c->id, e->msg);
		pl_error_free(e);
		return;
	}
	pl_container_emit(c, "restart", json_pack("{s:i}", "restart_count", c->restart_count));
}

void pl_container_consider_restart(pl_container_t *c)
{
	const pl_config_t *cfg = c->config;
	bool again = false;
	switch (cfg->restart) {
	case PL_RESTART_ALWAYS:
	case PL_RESTART_UNLESS_STOPPED:
		again = !c->stopped_by_user;
		break;
	case PL_RESTART_ON_FAILURE:
		again = !c->stopped_by_user && c->exit_code != 0 &&
			(cfg->restart_max == 0 || c->restart_count < (uint32_t)cfg->restart_max);
		break;
	case PL_RESTART_NO:
	default:
		break;
	}
	if (!again || c->restart_timer)
		return;
	/* Docker's back-off: 100 ms, doubling, at most a minute */
	uint64_t delay = 100ull << (c->restart_count < 10 ? c->restart_count : 10);
	if (delay > 60000)
		delay = 60000;
	c->restart_timer = pl_loop_timer(c->pl->loop, delay, on_restart_timer, c, NULL);
}

int pl_container_pause(pl_portlayer_t *pl, pl_container_t *c, bool pause, pl_error_t **err)
{
	if (!pl_container_is_running(c))
		return pl_error_set(err, PL_ERR_CONFLICT, 0, "container %.12s is not running",
				    c->id);
	if (!pl_mech_has(c->mech, PL_MECH_PAUSE))
		return pl_error_set(err, PL_ERR_UNSUPPORTED, 0,
				    "container %.12s: its mechanism (%s) cannot pause", c->id,
				    c->mech->name);
	if (c->mech->is_paused(c->mech, c->id) == pause)
		return pl_error_set(err, PL_ERR_CONFLICT, 0, "container %.12s is %s", c->id,
				    pause ? "already paused" : "not paused");
	if (c->mech->pause(c->mech, c->id, pause, err) < 0)
		return pl_error_wrap(err, "%s container %.12s", pause ? "pause" : "unpause", c->id);
	c->paused = pause;
	pl_container_emit(c, pause ? "pause" : "unpause", NULL);
	changed(c);
	return 0;
}

json_t *pl_container_stats_json(pl_container_t *c, pl_error_t **err)
{
	if (!pl_container_is_running(c)) {
		pl_error_set(err, PL_ERR_CONFLICT, 0, "container %.12s is not running", c->id);
		return NULL;
	}
	json_t *j = c->mech->stats(c->mech, c->id, &c->dom);
	if (pl_mech_has(c->mech, PL_MECH_GUEST_STATS) && c->guest_stats) {
		/* the guest's own figures, with what the domain costs the host beside them */
		json_t *host = j;
		j = json_deep_copy(c->guest_stats);
		for (const char **k = (const char *[]){"source", "pids", "blkio", "networks", NULL};
		     *k; k++)
			json_object_del(host, *k);
		json_object_set_new(j, "host", host);
		json_object_set_new(j, "source", json_string("guest"));
	}
	char when[48];
	pl_time_format(pl_now_ns(), when, sizeof(when));
	json_object_set_new(j, "read", json_string(when));
	json_object_set_new(j, "id", json_string(c->id));
	json_object_set_new(j, "name", json_string(pl_container_name(c)));
	return j;
}

uint64_t pl_container_stats_request(pl_container_t *c)
{
	if (!pl_container_is_running(c) || !pl_mech_has(c->mech, PL_MECH_GUEST_STATS) ||
	    c->dom.ctl_fd < 0 || send_json(c, PL_MSG_STATS_REQUEST, json_object()) < 0)
		return 0;
	return c->guest_stats_seq + 1;
}

uint64_t pl_container_top_request(pl_container_t *c, pl_error_t **err)
{
	if (!pl_container_is_running(c)) {
		pl_error_set(err, PL_ERR_CONFLICT, 0, "container %.12s is not running", c->id);
		return 0;
	}
	if (c->dom.ctl_fd < 0 || !c->greeted ||
	    send_json(c, PL_MSG_TOP_REQUEST, json_object()) < 0) {
		pl_error_set(err, PL_ERR_CONFLICT, ENOTCONN, "container %.12s: no link to tether",
			     c->id);
		return 0;
	}
	return c->top_seq + 1;
}

uint64_t pl_container_top_seq(const pl_container_t *c)
{
	return c->top_seq;
}

json_t *pl_container_top_json(const pl_container_t *c)
{
	return c->top ? json_incref(c->top) : json_pack("{s:[]}", "processes");
}

uint64_t pl_container_stats_seq(const pl_container_t *c)
{
	return c->guest_stats_seq;
}

int pl_container_update_resources(pl_portlayer_t *pl, pl_container_t *c, const pl_resources_t *r,
				  pl_error_t **err)
{
	if (!pl_container_is_running(c))
		return 0; /* applied at the next start, from the config */
	if (c->mech->update(c->mech, c->id, r, err) < 0)
		return pl_error_wrap(err, "update container %.12s", c->id);
	return 0;
}

json_t *pl_container_inspect_json(const pl_container_t *c)
{
	json_t *state = pl_container_exit_json(c);
	json_object_set_new(state, "status", json_string(pl_container_status_name(c)));
	json_object_set_new(state, "oom_killed", json_boolean(c->oom_killed));
	json_object_set_new(state, "pid",
			    json_integer(pl_container_is_running(c) ? c->dom.pid : 0));
	json_object_set_new(state, "started_at", pl_json_time(c->started_ns));
	json_object_set_new(state, "finished_at", pl_json_time(c->finished_ns));
	if (!json_object_get(state, "error"))
		json_object_set_new(state, "error", json_string(""));
	json_t *health = pl_health_json(c);
	if (health)
		json_object_set_new(state, "health", health);
	json_t *j = json_pack("{s:s, s:s, s:o, s:s, s:o, s:o, s:o}", "id", c->id, "name",
			      c->config->name ? c->config->name : "", "created",
			      pl_json_time(c->created_ns), "mechanism", c->mech->name, "config",
			      pl_config_to_json(c->config), "state", state, "network",
			      pl_network_container_json(c->pl->net, c));
	/* why this mechanism: the isolation criterion it satisfies */
	json_t *dom = c->mech->describe ? c->mech->describe(c->mech, c->dirfd) : NULL;
	if (!dom)
		dom = json_object();
	json_object_set_new(dom, "reason",
			    json_string(c->config->kernel == PL_KERNEL_DEDICATED
					    ? "isolation.kernel: dedicated requested"
					    : "isolation.kernel: shared (the default)"));
	json_object_set_new(j, "domain", dom);
	/* the CRI-format log tether (or QEMU) writes: what a kubelet follows */
	json_object_set_new(j, "log_path", json_sprintf("%s/container.log", c->dir));
	return j;
}
