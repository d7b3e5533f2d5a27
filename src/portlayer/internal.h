/* SPDX-License-Identifier: Apache-2.0 */
/* Private to libportlayer's container core: the container record, the persistence functions
 * store.c provides, and what the core's units call of each other. Included by exactly these:
 * container.c (lifecycle), records.c (the record list, freeing a record), about.c (what a
 * record says: accessors, lookups, lifecycle subscribers, notifications), link.c (the
 * link's write side), store.c (domain directories), recovery.c (settling domains after a
 * restart), session.c (attach and exec sessions), handle.c (committing a config), metrics.c
 * (counting containers), health.c (health checks), pods.c (shared namespaces), netlive.c
 * (network changes of a running domain) and listing.c (filtered lists). Everything else (network,
 * storage, the daemon) uses portlayer/container.h's accessors and lifecycle subscription. No
 * circles between these units: container.c calls the others, none calls back into it
 * (scripts/check-cycles.py). */
#pragma once

#include "portlayer/container.h"
#include "mechanism/mechanism.h"
#include "portlayer/events.h"
#include "portlayer/metrics.h"
#include "portlayer/session.h"
#include "portlayer/storage/images.h"
#include "portlayer/storage/volumes.h"
#include "proto/frame.h"

typedef struct pl_qframe {
	struct pl_qframe *next;
	size_t len, off;
	bool control;
	uint8_t data[];
} pl_qframe_t;

typedef struct pl_session {
	uint32_t id;
	pl_sink_t *sinks;
	uint64_t received, granted; /* output payload bytes from tether, credit given */
	uint64_t last_seq;	    /* the last output frame delivered (resume point) */
	uint64_t stdin_credit;	    /* stdin bytes tether will still accept */
	uint8_t *stdin_buf;	    /* stdin waiting for credit */
	size_t stdin_len, stdin_cap;
	bool close_pending; /* CLOSE_STDIN once the waiting stdin is out */
	struct pl_session *next;
} pl_session_t;

struct pl_exec {
	char id[PL_ID_LEN + 1];
	pl_container_t *c;
	uint32_t session;
	json_t *spec; /* {"args","env","cwd","user","tty","stdin"} as created */
	enum { PL_EXEC_CREATED, PL_EXEC_RUNNING, PL_EXEC_EXITED } state;
	int pid;
	int exit_code, signal;
	char *error;
	int64_t started_ns, finished_ns;
	pl_start_fn start_cb;
	void *start_data;
	pl_exec_t *next;
};

struct pl_container {
	char id[PL_ID_LEN + 1];
	pl_config_t *config;
	int64_t created_ns;
	uint64_t version; /* config version, advanced by every committed config change */
	const pl_mechanism_t *mech;
	char *dir;
	int dirfd;
	int run_dirfd; /* RUN_DIR/containers/<id>, opened while a domain runs */

	/* state, persisted in state.json */
	pl_status_t status;
	int64_t started_ns, finished_ns;
	bool has_exit;
	int exit_code, signal;
	char *error;
	uint64_t exits;
	uint32_t restart_count;	    /* policy restarts since the last run that lasted */
	bool stopped_by_user;	    /* the last stop came from the API (unless-stopped) */
	bool pending_restart_check; /* found stopped at load: policy decides after linking */
	long guest_oom_kills;	    /* what a dedicated kernel reported with the exit */
	bool oom_killed;	    /* the last run lost a process to the OOM killer */
	int setup_error_kind;	    /* the domain failed to set up: whose fault (pl_errkind_t) */

	/* the live domain */
	pl_domain_t dom;
	pl_watch_t *ctl_watch, *pid_watch;
	pl_frame_reader_t reader;
	/* frames queued for tether: control frames overtake queued data frames (never
	 * splitting one), so credit and signals never wait behind stdin */
	struct pl_qframe *wq, *wq_ctrl_tail;
	size_t wq_bytes;
	bool reported_exit; /* tether's EXITED arrived for this run */
	bool greeted;	    /* tether said HELLO on this link: session messages may go */
	bool config_sent;   /* HELLO and CONFIG went with the start, before tether's HELLO */
	bool stop_requested;
	bool killed_by_us; /* we sent SIGKILL to tether: if it says nothing, that is why */
	pl_timer_t *kill_timer;
	pl_timer_t *restart_timer;
	pl_start_fn start_cb;
	void *start_data;
	int64_t start_t0_ns; /* when the pending start began (monotonic), 0 when none */
	int64_t phase_t;     /* common/phase.h: when the current step of start/exit began */
	/* the freezer as last seen (pause/unpause, a thaw before a signal, a reattach): lists and
	 * counts use it, so they never read a file per container */
	bool paused;
	/* create+start: the janitor's ticket for fsyncing config.json meanwhile (0 when none),
	 * and whether the start's success waits for it */
	uint64_t sync_ticket;
	bool start_waits_sync;
	/* the running domain's teardown handle (mechanism.h, -1: none), and once handed to the
	 * janitor at the end, its ticket (0: none): the next mount of the upper directory waits
	 * for it (pl_container_settle_teardown) */
	int teardown_fd;
	uint64_t teardown_ticket;
	/* the mechanism's destroy succeeded at the last end and nothing started since: a
	 * removal need not call it again */
	bool destroyed;

	/* the last STATS tether sent (mechanisms whose stats come from inside the domain) and
	 * how many have arrived, for requests waiting on the next one */
	json_t *guest_stats;
	uint64_t guest_stats_seq;
	/* the last process list tether sent (TOP) and how many have arrived */
	json_t *top;
	uint64_t top_seq;

	struct pl_health *health;	  /* portlayer/health.c: the checks and their record */
	struct pl_summary_cache *summary; /* listing.c: the list's summary, derived, cached */

	pl_session_t *sessions; /* those with sinks or output state */
	pl_exec_t *execs;
	uint32_t next_session;

	pl_portlayer_t *pl;
	pl_container_t *prev, *next;
};

struct pl_portlayer {
	char *root, *run_dir;
	const pl_mechanism_t *const *mechs; /* what domains are placed on (options) */
	pl_userns_range_t userns_range;	    /* remapped containers' host ids (options) */
	uint64_t log_max_size;		    /* log_config defaults (options) */
	unsigned log_max_files;
	int containers_fd, run_containers_fd;
	pl_loop_t *loop;
	pl_container_t *head, *tail;
	pl_events_t *events;
	pl_images_t *images;
	pl_volumes_t *volumes;
	struct pl_network *net;
	struct pl_kv *kv;
	pl_change_fn on_change;
	void *on_change_data;
	struct {
		pl_lifecycle_fn fn;
		void *data;
	} subscribers[PL_LIFECYCLE_SUBSCRIBERS];
	size_t n_subscribers;
	pl_metrics_t metrics;
	struct pl_janitor *janitor; /* deletes removed domains' trees off the request path */
};

/* recovery.c hands each settled record to the lifecycle (container.c), linked, in creation
 * order: away means it stopped while the daemon was away. */
typedef void (*pl_recovery_adopt_fn)(pl_container_t *c, bool away);

/* store.c */
/* Makes the domain directory (config.json, state.json); not yet durable: */
int pl_store_create_domain(pl_portlayer_t *pl, pl_container_t *c, pl_error_t **err);
/* fsyncs what pl_store_create_domain wrote: from here a host crash keeps the container. */
int pl_store_sync_domain(pl_portlayer_t *pl, pl_container_t *c, pl_error_t **err);
/* Writes config.json for c's current config and version (durable). */
int pl_store_save_config(pl_container_t *c, pl_error_t **err);
int pl_store_save_state(pl_container_t *c, pl_error_t **err);
/* Reads every domain directory into unlinked records (creation order; *out malloc'd):
 * config, the saved state, the saved run's pid and start time in c->dom. Touches no domain. */
int pl_store_load_all(pl_portlayer_t *pl, pl_container_t ***out, size_t *count, pl_error_t **err);
int pl_store_remove_domain(pl_portlayer_t *pl, pl_container_t *c, pl_error_t **err);
/* After pl_store_remove_domain and the record's end: deletes the renamed tree (janitor). */
void pl_store_discard_domain(pl_portlayer_t *pl, const char *id);
/* Opens (creating) the container's run directory into c->run_dirfd. */
int pl_store_open_run_dir(pl_portlayer_t *pl, pl_container_t *c, pl_error_t **err);
/* Reads tether's exit record for the last run; 0 when absent or empty. */
int pl_store_read_exit(pl_container_t *c);
/* listing.c */
void pl_summary_cache_free(struct pl_summary_cache *sc);
/* recovery.c: loads every domain and settles it against the host (pl_portlayer_open) */
int pl_recovery_run(pl_portlayer_t *pl, pl_recovery_adopt_fn adopt, pl_error_t **err);
/* records.c */
void pl_container_link(pl_portlayer_t *pl, pl_container_t *c);
void pl_container_unlink(pl_portlayer_t *pl, pl_container_t *c);
pl_container_t *pl_container_free_record(pl_container_t *c);
static inline void pl_container_free_recordp(pl_container_t **c)
{
	pl_container_free_record(*c);
}

/* Makes cfg the container's config (durably, version + 1); takes cfg even on failure. */
int pl_container_replace_config(pl_portlayer_t *pl, pl_container_t *c, pl_config_t *cfg,
				pl_error_t **err);
/* The link's write side (pl_container_send, ...): link.h. about.c: tells on_change. */
void pl_container_changed(pl_container_t *c);
/* Tells the lifecycle subscribers. */
void pl_container_lifecycle(pl_container_t *c, pl_lifecycle_t what);

/* session.c, driven by container.c */
void pl_sessions_on_data(pl_container_t *c, const pl_frame_hdr_t *h, const uint8_t *payload);
/* STARTED/EXITED for an exec session (session >= 2) */
void pl_sessions_on_started(pl_container_t *c, uint32_t session, const json_t *msg);
void pl_sessions_on_exited(pl_container_t *c, uint32_t session, const json_t *msg);
/* tether answered an EXEC with ERROR (it cannot run sessions, or the request was bad) */
void pl_sessions_on_exec_refused(pl_container_t *c, const json_t *msg);
/* the domain is gone: running execs end, every sink is told */
void pl_sessions_domain_ended(pl_container_t *c);
/* a (re)connected tether: re-attach sessions that have sinks, resuming after last_seq */
void pl_sessions_resume(pl_container_t *c);
/* an attach came before the start: the primary must wait for it (CONFIG's wait_attach) */
bool pl_sessions_primary_attached(pl_container_t *c);
/* CREDIT from tether: more stdin it accepts for a session */
void pl_sessions_on_stdin_credit(pl_container_t *c, const json_t *msg);
void pl_sessions_free(pl_container_t *c);
int pl_execs_load(pl_container_t *c);

/* container.c: resumes watching a domain that outlived the daemon */
void pl_container_watch_domain(pl_container_t *c);
/* container.c: removes a stopped auto_remove container and its anonymous volumes (c is
 * freed) */
void pl_container_auto_remove(pl_container_t *c);
/* container.c: applies the restart policy to a container that stopped by itself */
void pl_container_consider_restart(pl_container_t *c);
/* records.c: a "container" event (image and labels added) */
void pl_container_emit(pl_container_t *c, const char *action, json_t *attrs);

/* session.c: an exec session nobody reads has its output dropped; a container keeps
 * at most PL_EXEC_KEEP_FINISHED finished exec records (the oldest go). */
#define PL_EXEC_KEEP_FINISHED 64u
bool pl_session_is_running_exec(pl_container_t *c, uint32_t session);
void pl_execs_prune(pl_container_t *c);
