/* SPDX-License-Identifier: Apache-2.0 */
/* libportlayer's container core: the set of isolation domains on this host, their
 * lifecycle, and the state derived from the mechanism and tether. Nothing here speaks
 * HTTP. The core owns every pl_container_t; callers must not keep pointers across loop
 * iterations (keep the id and look it up again). The persistent truth is the domain
 * directory ROOT/containers/<id>/ (config.json, state.json, exit.json, container.log). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "common/error.h"
#include "common/loop.h"
#include "common/util.h"
#include "portlayer/config.h"

typedef enum pl_status {
	PL_STATUS_CREATED = 0,
	PL_STATUS_STARTING,
	PL_STATUS_RUNNING,
	PL_STATUS_STOPPING,
	PL_STATUS_STOPPED,
	PL_STATUS_REMOVING,
} pl_status_t;

typedef struct pl_portlayer pl_portlayer_t;
typedef struct pl_container pl_container_t;

/* What happened to a container, for the components that follow containers (network, health
 * checks). */
typedef enum pl_lifecycle {
	PL_LIFECYCLE_STARTED,  /* its domain runs */
	PL_LIFECYCLE_RUNNING,  /* its process runs (the "start" event) */
	PL_LIFECYCLE_RESUMED,  /* a domain that outlived a daemon restart is linked again: its
				* process runs on */
	PL_LIFECYCLE_STOPPED,  /* its domain ended */
	PL_LIFECYCLE_RELEASED, /* the daemon lets go of a live domain (it shuts down): the
				* domain runs on without it */
	PL_LIFECYCLE_GONE,     /* removed, or a create that failed: what it held is free again */
} pl_lifecycle_t;
/* c is the subscriber's to read; a core unit keeping per-container state in the record
 * (health.c) may change that state. */
typedef void (*pl_lifecycle_fn)(pl_portlayer_t *pl, pl_container_t *c, pl_lifecycle_t what,
				void *data);
/* Called with every lifecycle change of every container, in subscription order; c stays
 * valid for the call only. At most PL_LIFECYCLE_SUBSCRIBERS. */
#define PL_LIFECYCLE_SUBSCRIBERS 8
void pl_portlayer_subscribe(pl_portlayer_t *pl, pl_lifecycle_fn fn, void *data);

/* Called after every state change a caller might wait for (started, stopped, removed). */
typedef void (*pl_change_fn)(pl_portlayer_t *pl, pl_container_t *c, void *data);
/* Completion of an asynchronous start: err is NULL on success (borrowed, do not free). */
typedef void (*pl_start_fn)(pl_portlayer_t *pl, const char *id, const pl_error_t *err, void *data);

typedef struct pl_counts {
	unsigned total, created, running, stopped;
} pl_counts_t;

struct pl_mechanism;

/* Everything the core is opened with: no settings reach it any other way. */
typedef struct pl_portlayer_options {
	const char *root, *run_dir;
	pl_loop_t *loop;
	/* what domains are placed on, NULL-terminated, initialised (the daemon passes
	 * pl_mechanisms_builtin(); unit tests a fake); the core decides by their capabilities */
	const struct pl_mechanism *const *mechanisms;
	/* user namespace remapping's host id range; count 0 keeps the default */
	uint32_t userns_start, userns_count;
	/* network: candidate subnets for new scopes (NULL: the default pool) and how many
	 * network namespaces to keep made ahead (0: none) */
	const char *address_pool;
	int netns_pool;
	/* log rotation of containers created without log_config's max_size/max_files
	 * (logs.h; the daemon passes --log-max-size/--log-max-files): size 0 never rotates,
	 * files 0 counts as 1 */
	uint64_t log_max_size;
	unsigned log_max_files;
} pl_portlayer_options_t;

/* Opens (creating) ROOT and RUN_DIR, loads every domain directory and reattaches to
 * domains whose tether is still alive. */
pl_portlayer_t *pl_portlayer_open(const pl_portlayer_options_t *o, pl_error_t **err);
/* The host id range remapped containers get slices of. */
pl_userns_range_t pl_portlayer_userns_range(const pl_portlayer_t *pl);
/* The mechanisms it was opened with (NULL-terminated). */
const struct pl_mechanism *const *pl_portlayer_mechanisms(const pl_portlayer_t *pl);
pl_portlayer_t *pl_portlayer_free(pl_portlayer_t *pl);
/* The loop it was opened with. */
pl_loop_t *pl_portlayer_loop(pl_portlayer_t *pl);
void pl_portlayer_on_change(pl_portlayer_t *pl, pl_change_fn fn, void *data);
struct pl_events *pl_portlayer_events(pl_portlayer_t *pl);
pl_counts_t pl_portlayer_counts(const pl_portlayer_t *pl);
struct pl_images *pl_portlayer_images(pl_portlayer_t *pl);
struct pl_volumes *pl_portlayer_volumes(pl_portlayer_t *pl);
struct pl_network *pl_portlayer_network(pl_portlayer_t *pl);
struct pl_kv *pl_portlayer_kv(pl_portlayer_t *pl);
/* Whether a container (a running one, with running_only) mounts the named volume. */
bool pl_portlayer_volume_in_use(pl_portlayer_t *pl, const char *name, bool running_only);
/* Whether any container uses the image (by id). */
bool pl_portlayer_image_in_use(pl_portlayer_t *pl, const char *image_id);

/* By full id, name, or unique id prefix; NOTFOUND error otherwise. */
pl_container_t *pl_container_find(pl_portlayer_t *pl, const char *ref, pl_error_t **err);
/* Iteration in creation order. */
pl_container_t *pl_container_first(pl_portlayer_t *pl);
pl_container_t *pl_container_next(pl_container_t *c);

pl_container_t *pl_container_create(pl_portlayer_t *pl, const json_t *body, pl_error_t **err);
/* pl_container_create without the fsyncs: config.json is not durable until
 * pl_container_make_durable, which the caller runs before it answers (create+start runs
 * it while the domain sets itself up). */
pl_container_t *pl_container_create_lazy(pl_portlayer_t *pl, const json_t *body, pl_error_t **err);
int pl_container_make_durable(pl_container_t *c, pl_error_t **err);
/* The same in a forked child while the loop goes on; a successful start of c is reported
 * (its callback called) only once the child is done. */
int pl_container_make_durable_async(pl_container_t *c, pl_error_t **err);
/* Starts the primary process; cb runs when tether reports it started or it failed.
 * Returns 1 when already running (cb not called), 0 when started asynchronously. */
int pl_container_start(pl_portlayer_t *pl, pl_container_t *c, pl_start_fn cb, void *data,
		       pl_error_t **err);
/* Sends signo to the primary process; CONFLICT when not running. */
int pl_container_kill(pl_portlayer_t *pl, pl_container_t *c, int signo, pl_error_t **err);
/* Begins a graceful stop: the stop signal, then SIGKILL after timeout_s (-1: the
 * container's stop_timeout). Completion is a change
 * to STOPPED. No-op when not running. */
int pl_container_stop(pl_portlayer_t *pl, pl_container_t *c, int64_t timeout_s, pl_error_t **err);
/* Removes the domain; a running one needs force (it is killed first). */
int pl_container_remove(pl_portlayer_t *pl, pl_container_t *c, bool force, pl_error_t **err);

const char *pl_container_id(const pl_container_t *c);
/* The container's current config (read-only; changes go through a handle). */
const pl_config_t *pl_container_config(const pl_container_t *c);
const char *pl_container_name(const pl_container_t *c); /* "" when unnamed */
uint64_t pl_container_version(const pl_container_t *c);
pl_status_t pl_container_status(const pl_container_t *c);
bool pl_container_is_running(const pl_container_t *c);
/* Waits until the last run's domain is torn down (its overlay unmounted, portlayer/janitor.h):
 * before its upper directory is mounted again. */
void pl_container_settle_teardown(pl_container_t *c);
/* In a child the daemon forked (a job's worker): closes its copies of the running domains'
 * teardown handles, which would keep their mount namespaces (overlays) after they stop. */
void pl_portlayer_drop_teardown_handles(pl_portlayer_t *pl);
/* Number of times the container has exited (advances on every stop). */
uint64_t pl_container_exits(const pl_container_t *c);
/* Exit status as the wait API reports it: {"exit_code","signal","error"}. */
json_t *pl_container_exit_json(const pl_container_t *c);
json_t *pl_container_inspect_json(const pl_container_t *c);
json_t *pl_container_summary_json(const pl_container_t *c);
/* The domain directory fd (for the log reader). */
int pl_container_dirfd(const pl_container_t *c);
const char *pl_container_dir(const pl_container_t *c);
const char *pl_status_name(pl_status_t s);
/* The overlay lowerdir of the container's rootfs (top first, ':'-separated); caller frees. */
char *pl_container_lowerdir(pl_container_t *c, pl_error_t **err);
/* The container's volumes and bind mounts with host sources ([{"source","target",
 * "readonly",...}]); caller decrefs. */
json_t *pl_container_mounts(pl_container_t *c);
/* A running linux domain's tether pidfd (setns into it reaches the container's mount
 * namespace), else -1. Borrowed. */
int pl_container_ns_pidfd(const pl_container_t *c);
/* The container's user-namespace maps (remap false: the host's ids). */
/* What only the chosen mechanism can judge of a config (create and handle commits). */
int pl_container_check_mechanism(pl_portlayer_t *pl, const pl_container_t *c,
				 const pl_config_t *cfg, pl_error_t **err);
const pl_userns_t *pl_container_userns(const pl_container_t *c);
/* Whether the container's files are its overlay in the domain directory (mechanism.h). */
bool pl_container_files_on_host(const pl_container_t *c);
/* Usage of a running container (CONFLICT otherwise). */
json_t *pl_container_stats_json(pl_container_t *c, pl_error_t **err);
/* For a mechanism whose figures come from inside the domain (a VM): asks tether for them.
 * Returns the stats sequence number that answers (pl_container_stats_seq reaches it and a
 * change notification follows), or 0 when there is nothing to wait for (the figures are
 * the host's, or tether cannot be asked: pl_container_stats_json answers from the host). */
uint64_t pl_container_stats_request(pl_container_t *c);
uint64_t pl_container_stats_seq(const pl_container_t *c);
/* The status callers see: the mechanism's truth overrides the record ("paused"). */
const char *pl_container_status_name(const pl_container_t *c);
/* The same for lists: "paused" as the freezer was last seen (pause, unpause, reattach), so
 * a list reads no file per container. */
const char *pl_container_status_listed(const pl_container_t *c);
/* Freezes or thaws every process of a running container. */
int pl_container_pause(pl_portlayer_t *pl, pl_container_t *c, bool pause, pl_error_t **err);
/* Applies resource limits to a running container (a no-op for others). */
int pl_container_update_resources(pl_portlayer_t *pl, pl_container_t *c, const pl_resources_t *r,
				  pl_error_t **err);
/* The process list, gathered by tether inside the domain (any mechanism): asks for it and
 * returns the sequence number that answers (pl_container_top_seq reaches it, a change
 * notification follows); CONFLICT when not running or tether cannot be asked. */
uint64_t pl_container_top_request(pl_container_t *c, pl_error_t **err);
uint64_t pl_container_top_seq(const pl_container_t *c);
/* The last answer: {"processes":[{"pid","user","state","cpu_time_ms","rss_kib","args"}]}, or
 * {"error": "..."} when tether could not answer. Caller decrefs. */
json_t *pl_container_top_json(const pl_container_t *c);
