/* SPDX-License-Identifier: Apache-2.0 */
/* The typed port layer client: one function per route of api/portlayer.yaml, C structs in
 * and out, so callers (pl-dockerd, plctl) never build or pick apart request JSON by hand.
 * It sits on the transport in client/client.h (one pl_client_t = one connection).
 *
 * Ownership:
 * - Spec structs (pl_container_spec_t, pl_exec_spec_t, ...) are borrowed: every pointer in
 *   them stays the caller's. NULL-terminated string arrays (`const char *const *`) end the
 *   list; NULL means "not given" (the daemon's default).
 * - Result structs are the caller's and freed with their *_free function; every string in
 *   them is malloc'd and owned by the struct. Each keeps `raw`, the daemon's whole answer,
 *   for the fields this header does not type (a new reference owned by the struct).
 * - Errors are the transport's: the daemon's "message" with a kind from the HTTP status
 *   (404 NOTFOUND, 409 CONFLICT, ...), which callers map back to their own status codes.
 *
 * Routes the engine is still growing (auto_remove, condition=removed, top, KV, healthcheck,
 * list filters) are written against the agreed shapes: on a daemon without them the call
 * fails with the daemon's own 400/404, which callers may treat as "not supported yet". */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "client/client.h"
#include "common/error.h"

/* ---- containers ---- */

typedef struct pl_mount_spec {
	const char *type; /* "bind" | "volume" */
	const char *source;
	const char *target;
	bool readonly;
} pl_mount_spec_t;

typedef struct pl_port_spec {
	int container_port;
	int host_port;	      /* 0: the daemon picks */
	const char *protocol; /* "tcp" (NULL) | "udp" */
	const char *host_ip;
} pl_port_spec_t;

typedef struct pl_net_spec {
	const char *scope;
	const char *ip;
	const char *const *aliases;
} pl_net_spec_t;

typedef struct pl_healthcheck_spec {
	const char *const *test;		/* NULL: none given */
	double interval, timeout, start_period; /* seconds; 0: default */
	int retries;
} pl_healthcheck_spec_t;

typedef struct pl_container_spec {
	const char *name, *image, *rootfs, *hostname, *domainname;
	const char *kernel; /* isolation.kernel: NULL | "shared" | "dedicated" */
	/* process; args NULL takes the image's entrypoint + cmd */
	const char *const *args, *const *env;
	const char *cwd, *user;
	bool tty, open_stdin;
	const char *const *labels, *const *annotations; /* "key=value" */
	const char *restart_policy; /* NULL | "no" | "on-failure" | "always" | "unless-stopped" */
	int restart_max_retries;
	const char *stop_signal;
	int stop_timeout; /* seconds, < 0: default */
	bool auto_remove;
	const char *network_mode; /* NULL | none | bridge | host | container:ID */
	const pl_net_spec_t *networks;
	size_t n_networks;
	const pl_port_spec_t *ports;
	size_t n_ports;
	const pl_mount_spec_t *mounts;
	size_t n_mounts;
	/* security */
	bool privileged, read_only, no_new_privileges_off;
	const char *const *cap_add, *const *cap_drop;
	const char *const *tmpfs;   /* "path" or "path:options" */
	const char *const *sysctls; /* "key=value" */
	/* resources; 0 means not set */
	int64_t memory, pids_limit, cpu_shares;
	double cpus;
	/* names */
	const char *const *dns, *const *dns_search, *const *dns_options, *const *extra_hosts;
	pl_healthcheck_spec_t healthcheck;
	json_t *extra; /* borrowed: more top-level fields, merged last */
} pl_container_spec_t;

/* The create body for spec (a new reference): exposed so it can be unit tested. */
json_t *pl_container_spec_json(const pl_container_spec_t *spec);

typedef struct pl_container_state {
	char *status; /* created, running, paused, stopped, ... */
	bool oom_killed;
	int pid;
	bool has_exit_code;
	int exit_code;
	char *error, *started_at, *finished_at;
	char *health; /* "starting" | "healthy" | "unhealthy", or NULL */
} pl_container_state_t;

typedef struct pl_container_info {
	char *id, *name, *created, *image, *mechanism;
	char **args; /* NULL-terminated; from the config (or the summary) */
	pl_container_state_t state;
	json_t *raw; /* the daemon's whole object (inspect or list summary) */
	/* config.process.tty and .stdin (inspect only). Later fields are appended here: the
	 * library allocates this struct, so growing it keeps the ABI. */
	bool tty, open_stdin;
} pl_container_info_t;

pl_container_info_t *pl_container_info_free(pl_container_info_t *ci);
static inline void pl_container_info_freep(pl_container_info_t **ci)
{
	pl_container_info_free(*ci);
}
void pl_container_infos_free(pl_container_info_t **v, size_t n);

/* POST /containers: *id_out gets the new id (malloc'd). */
int pl_container_create(pl_client_t *c, const pl_container_spec_t *spec, char **id_out,
			pl_error_t **err);
/* GET /containers/{id} */
pl_container_info_t *pl_container_inspect(pl_client_t *c, const char *id, pl_error_t **err);
/* GET /containers[?all=&filters=]: filters is Docker's filter JSON text or NULL. */
int pl_container_list(pl_client_t *c, bool all, const char *filters, pl_container_info_t ***out,
		      size_t *n, pl_error_t **err);
/* GET /containers?all=&size=&filters= (Docker's filter JSON): *out gets the summaries
 * (id, name, image, image_id, labels, ports, state, status, created, args, network_mode,
 * networks, mounts, size_rw/size_root_fs), a new reference. */
int pl_container_summaries(pl_client_t *c, bool all, bool size, const char *filters, json_t **out,
			   pl_error_t **err);
/* POST /containers/{id}/start; *already (may be NULL) set when it was running (304). */
int pl_container_start(pl_client_t *c, const char *id, bool *already, pl_error_t **err);
/* POST /containers/{id}/stop[?timeout=]; timeout < 0: the container's own */
int pl_container_stop(pl_client_t *c, const char *id, int timeout, pl_error_t **err);
/* POST /containers/{id}/kill[?signal=] (NULL: KILL) */
int pl_container_kill(pl_client_t *c, const char *id, const char *signal, pl_error_t **err);
int pl_container_pause(pl_client_t *c, const char *id, pl_error_t **err);
int pl_container_unpause(pl_client_t *c, const char *id, pl_error_t **err);
/* DELETE /containers/{id}[?force=1] */
int pl_container_remove(pl_client_t *c, const char *id, bool force, pl_error_t **err);
/* Renames through a handle (GET handle, stage "rename", commit). */
int pl_container_rename(pl_client_t *c, const char *id, const char *name, pl_error_t **err);
/* Connects to or disconnects from a network scope through a handle (the "network" change:
 * a container that is not running). */
int pl_container_network_change(pl_client_t *c, const char *id, bool connect, const char *network,
				const char *ip, const char *const *aliases, pl_error_t **err);

typedef struct pl_exit_status {
	int exit_code;
	int signal; /* 0 when none */
	char *error;
} pl_exit_status_t;
void pl_exit_status_clear(pl_exit_status_t *s);

/* POST /containers/{id}/wait[?condition=] (NULL: not-running; next-exit; removed) */
int pl_container_wait(pl_client_t *c, const char *id, const char *condition, pl_exit_status_t *out,
		      pl_error_t **err);
/* POST /containers/{id}/resize?h=&w= */
int pl_container_resize(pl_client_t *c, const char *id, int h, int w, pl_error_t **err);

typedef struct pl_logs_opts {
	bool follow, timestamps, no_stdout, no_stderr;
	const char *tail, *since, *until; /* NULL: not given */
} pl_logs_opts_t;
/* GET /containers/{id}/logs: fn gets the multiplexed stream's bytes as they come. */
int pl_container_logs(pl_client_t *c, const char *id, const pl_logs_opts_t *o, pl_client_data_fn fn,
		      void *userdata, pl_error_t **err);

typedef struct pl_attach_opts {
	bool stdin_, stdout_, stderr_, logs, stream;
	const char *detach_keys; /* NULL: the daemon's default */
} pl_attach_opts_t;
/* POST /containers/{id}/attach, upgraded: *up gets the raw stream's fd. */
int pl_container_attach(pl_client_t *c, const char *id, const pl_attach_opts_t *o,
			pl_upgraded_t *up, pl_error_t **err);

/* GET /containers/{id}/stats?stream=0: the daemon's one sample (new reference). */
json_t *pl_container_stats(pl_client_t *c, const char *id, pl_error_t **err);
/* GET /containers/{id}/ports */
json_t *pl_container_ports(pl_client_t *c, const char *id, pl_error_t **err);

typedef struct pl_process_info {
	int pid;
	char *user, *state;
	int64_t cpu_time_ms, rss_kib;
	char **args; /* NULL-terminated */
} pl_process_info_t;
/* GET /containers/{id}/top */
int pl_container_top(pl_client_t *c, const char *id, pl_process_info_t **out, size_t *n,
		     pl_error_t **err);
void pl_process_infos_free(pl_process_info_t *v, size_t n);

typedef struct pl_resources_spec {
	int64_t memory, memory_swap, pids_limit, cpu_shares, cpu_quota, cpu_period; /* 0: keep */
	double cpus;
	const char *cpuset_cpus;
} pl_resources_spec_t;
/* POST /containers/{id}/update {resources}: live limits, recorded in the config */
int pl_container_update(pl_client_t *c, const char *id, const pl_resources_spec_t *r,
			pl_error_t **err);

typedef struct pl_change {
	char *path;
	int kind; /* 0 changed, 1 added, 2 deleted */
} pl_change_t;
/* GET /containers/{id}/changes */
int pl_container_changes(pl_client_t *c, const char *id, pl_change_t **out, size_t *n,
			 pl_error_t **err);
void pl_changes_free(pl_change_t *v, size_t n);
/* GET /containers/{id}/export: the filesystem as a tar, fed to fn as it comes */
int pl_container_export(pl_client_t *c, const char *id, pl_client_data_fn fn, void *userdata,
			pl_error_t **err);

/* ---- exec ---- */

typedef struct pl_exec_spec {
	const char *const *args, *const *env;
	const char *cwd, *user;
	bool tty, open_stdin;
} pl_exec_spec_t;

typedef struct pl_exec_info {
	char *id, *container_id, *state; /* created, running, exited */
	int pid;
	bool has_exit_code;
	int exit_code;
	bool tty, open_stdin;
	char **args;
	json_t *raw;
} pl_exec_info_t;
pl_exec_info_t *pl_exec_info_free(pl_exec_info_t *e);

/* POST /containers/{id}/exec -> *exec_id (malloc'd) */
int pl_exec_create(pl_client_t *c, const char *container, const pl_exec_spec_t *spec,
		   char **exec_id, pl_error_t **err);
/* POST /exec/{id}/start?detach=1 */
int pl_exec_start_detached(pl_client_t *c, const char *exec_id, pl_error_t **err);
/* POST /exec/{id}/start, upgraded */
int pl_exec_start_attached(pl_client_t *c, const char *exec_id, const char *detach_keys,
			   pl_upgraded_t *up, pl_error_t **err);
/* GET /exec/{id}/json */
pl_exec_info_t *pl_exec_inspect(pl_client_t *c, const char *exec_id, pl_error_t **err);
int pl_exec_resize(pl_client_t *c, const char *exec_id, int h, int w, pl_error_t **err);

/* ---- images ---- */

typedef struct pl_image_info {
	char *id;    /* "sha256:..." */
	char **tags; /* NULL-terminated */
	char **repo_digests;
	char *created;
	int64_t size;
	json_t *config; /* the image config (OCI/Docker: {config:{Cmd,Env,...},history,...}),
			 * borrowed from raw; NULL in list entries */
	json_t *raw;
} pl_image_info_t;
pl_image_info_t *pl_image_info_free(pl_image_info_t *im);
void pl_image_infos_free(pl_image_info_t **v, size_t n);

int pl_image_list(pl_client_t *c, const char *filters, pl_image_info_t ***out, size_t *n,
		  pl_error_t **err);
pl_image_info_t *pl_image_inspect(pl_client_t *c, const char *ref, pl_error_t **err);
/* POST /images/pull?ref=&progress=1[&insecure=1]: fn gets Docker's JSON progress lines as
 * they come. insecure: plain http (or unverified https) to the registry. */
int pl_image_pull(pl_client_t *c, const char *ref, bool insecure, pl_client_data_fn fn,
		  void *userdata, pl_error_t **err);
/* POST /images/import: a docker-archive or OCI layout tar read from fd (size < 0: to EOF).
 * *images (may be NULL) gets the answer's "images" array (new reference). */
int pl_image_import(pl_client_t *c, int fd, int64_t size, json_t **images, pl_error_t **err);
/* POST /images/tag?ref=SOURCE&name=TARGET */
int pl_image_tag(pl_client_t *c, const char *source, const char *target, pl_error_t **err);
/* DELETE /images/{ref}[?force=1]: *removed (may be NULL) gets the answer (new reference). */
int pl_image_remove(pl_client_t *c, const char *ref, bool force, json_t **removed,
		    pl_error_t **err);

/* ---- archive and commit (docker build) ---- */

/* PUT /containers/{id}/archive?path=: extracts the tar read from fd (size < 0: to EOF) into
 * the existing directory path. */
int pl_container_archive_put(pl_client_t *c, const char *id, const char *path, int fd, int64_t size,
			     pl_error_t **err);
/* HEAD /containers/{id}/archive?path=: 0 when the path exists, -1 (NOTFOUND) when not. */
int pl_container_archive_stat(pl_client_t *c, const char *id, const char *path, pl_error_t **err);
/* GET /containers/{id}/archive?path=: the tar fed to fn as it comes. */
int pl_container_archive_get(pl_client_t *c, const char *id, const char *path, pl_client_data_fn fn,
			     void *userdata, pl_error_t **err);

typedef struct pl_commit_spec {
	const char *container;
	const char *repo, *tag; /* NULL: an unnamed image */
	const char *comment, *author;
	const char *created_by; /* the history entry's; NULL: the daemon's */
	bool empty_layer;	/* config only: no new layer */
	const json_t *changes;	/* borrowed: Docker config fields that replace the container's */
} pl_commit_spec_t;
/* POST /commit: *image_id (may be NULL) gets the new image's id (malloc'd). */
int pl_container_commit(pl_client_t *c, const pl_commit_spec_t *spec, char **image_id,
			pl_error_t **err);

/* ---- volumes and networks ---- */

typedef struct pl_volume_info {
	char *name, *driver, *mountpoint, *created;
	json_t *labels; /* borrowed from raw, or NULL */
	json_t *raw;
} pl_volume_info_t;
pl_volume_info_t *pl_volume_info_free(pl_volume_info_t *v);
void pl_volume_infos_free(pl_volume_info_t **v, size_t n);

/* POST /volumes {name?, labels?}: labels "k=v", NULL-terminated or NULL */
pl_volume_info_t *pl_volume_create(pl_client_t *c, const char *name, const char *const *labels,
				   pl_error_t **err);
int pl_volume_list(pl_client_t *c, pl_volume_info_t ***out, size_t *n, pl_error_t **err);
/* GET /volumes?filters= (Docker's filter JSON: name, label, driver, dangling) */
int pl_volume_list_filtered(pl_client_t *c, const char *filters, pl_volume_info_t ***out, size_t *n,
			    pl_error_t **err);
pl_volume_info_t *pl_volume_inspect(pl_client_t *c, const char *name, pl_error_t **err);
int pl_volume_remove(pl_client_t *c, const char *name, bool force, pl_error_t **err);

typedef struct pl_network_spec {
	const char *name, *driver, *subnet, *gateway, *ip_range, *parent;
	bool internal;
	const char *const *labels;
} pl_network_spec_t;

typedef struct pl_network_info {
	char *name, *id, *driver, *subnet, *gateway, *created;
	bool internal;
	json_t *raw;
} pl_network_info_t;
pl_network_info_t *pl_network_info_free(pl_network_info_t *n);
void pl_network_infos_free(pl_network_info_t **v, size_t n);

pl_network_info_t *pl_network_create(pl_client_t *c, const pl_network_spec_t *spec,
				     pl_error_t **err);
int pl_network_list(pl_client_t *c, pl_network_info_t ***out, size_t *n, pl_error_t **err);
/* GET /networks?filters= (Docker's filter JSON: name, id, label, driver, type, dangling) */
int pl_network_list_filtered(pl_client_t *c, const char *filters, pl_network_info_t ***out,
			     size_t *n, pl_error_t **err);
pl_network_info_t *pl_network_inspect(pl_client_t *c, const char *name, pl_error_t **err);
int pl_network_remove(pl_client_t *c, const char *name, pl_error_t **err);
/* POST /networks/{name}/connect {container, ip?, aliases?} */
int pl_network_connect(pl_client_t *c, const char *network, const char *container, const char *ip,
		       const char *const *aliases, pl_error_t **err);
/* POST /networks/{name}/disconnect {container, force} */
int pl_network_disconnect(pl_client_t *c, const char *network, const char *container, bool force,
			  pl_error_t **err);

/* ---- system, events, KV ---- */

typedef struct pl_system_info {
	char *version, *api_version, *host, *cgroup_layout;
	int containers, running, stopped, created;
	bool vm_available;
	json_t *raw;
} pl_system_info_t;
pl_system_info_t *pl_system_info_free(pl_system_info_t *i);
pl_system_info_t *pl_system_info(pl_client_t *c, pl_error_t **err);

typedef struct pl_event {
	int64_t seq, time_ns;
	const char *type, *action, *id; /* borrowed from raw */
	const json_t *attributes;	/* borrowed, may be NULL */
	const json_t *raw;
} pl_event_t;
/* Return < 0 (negative errno) to stop the stream. */
typedef int (*pl_event_fn)(const pl_event_t *ev, void *userdata);
/* GET /events[?since=&until=&filters=]: fn per event until the daemon ends the stream
 * (until given) or fn stops it. since/until: RFC 3339 or unix seconds. */
int pl_events_stream(pl_client_t *c, const char *since, const char *until, const char *filters,
		     pl_event_fn fn, void *userdata, pl_error_t **err);

/* PUT /kv/{key}: if_match >= 0 sends If-Match (0: must not exist yet; 409 when stale),
 * < 0 is unconditional; *revision (may be NULL) gets the new one */
int pl_kv_put(pl_client_t *c, const char *key, const char *value, int64_t if_match,
	      int64_t *revision, pl_error_t **err);
/* GET /kv/{key}: *value malloc'd */
int pl_kv_get(pl_client_t *c, const char *key, char **value, int64_t *revision, pl_error_t **err);
int pl_kv_delete(pl_client_t *c, const char *key, pl_error_t **err);
/* GET /kv?prefix=: the keys under prefix, a NULL-terminated array (pl_strv_free), or NULL */
char **pl_kv_keys(pl_client_t *c, const char *prefix, pl_error_t **err);

/* ---- archives, commit, save, push (pl_client_extra.c) ---- */

/* GET /containers/{id}/archive?path=: the tar to fn; *stat (may be NULL) gets the
 * X-Docker-Container-Path-Stat header (base64 JSON, malloc'd). */
int pl_archive_get(pl_client_t *c, const char *id, const char *path, char **stat,
		   pl_client_data_fn fn, void *userdata, pl_error_t **err);
/* HEAD /containers/{id}/archive?path= */
int pl_archive_stat(pl_client_t *c, const char *id, const char *path, char **stat,
		    pl_error_t **err);
/* PUT /containers/{id}/archive?path=: the tar read from fd (size < 0: to EOF). */
int pl_archive_put(pl_client_t *c, const char *id, const char *path, int fd, int64_t size,
		   pl_error_t **err);
/* GET /images/get?names=a,b[&format=oci]: the tar to fn. */
int pl_image_save(pl_client_t *c, const char *names, bool oci, pl_client_data_fn fn, void *userdata,
		  pl_error_t **err);
/* pl_image_pull with registry credentials (username NULL: none). */
int pl_image_pull_auth(pl_client_t *c, const char *ref, bool insecure, const char *username,
		       const char *password, pl_client_data_fn fn, void *userdata,
		       pl_error_t **err);
/* POST /layers: a layer from the tar read from fd; *out gets {diff_id, blob_digest, size}. */
int pl_layer_write(pl_client_t *c, int fd, int64_t size, json_t **out, pl_error_t **err);
/* POST /images/{ref}/push[?tag=&insecure=1] {username, password}: *result the answer. */
int pl_image_push(pl_client_t *c, const char *ref, const char *tag, bool insecure,
		  const char *username, const char *password, json_t **result, pl_error_t **err);

/* ---- added for plctl (pl_client_cli.c) ---- */

/* A pull: ref, plain http (or unverified https) to the registry when insecure, the registry
 * login (username NULL: none), the platform ("linux/arm64"; NULL: the host's). Borrowed. */
typedef struct pl_pull_spec {
	const char *ref;
	bool insecure;
	const char *username, *password;
	const char *platform;
} pl_pull_spec_t;
/* POST /images/pull?progress=1: fn gets Docker's JSON progress lines as they come. */
int pl_image_pull_from(pl_client_t *c, const pl_pull_spec_t *spec, pl_client_data_fn fn,
		       void *userdata, pl_error_t **err);

/* pl_network_create with extra (borrowed, may be NULL): fields pl_network_spec_t does not type
 * ("masquerade": false, "options"), merged into the body last. */
pl_network_info_t *pl_network_create_from(pl_client_t *c, const pl_network_spec_t *spec,
					  const json_t *extra, pl_error_t **err);

/* POST /containers with "start": true: created and started in one round trip, answered once
 * the process runs. A start that fails removes the container again and fails the call with
 * the start's error (the process's own wording: "exec: \"x\": executable file not found in
 * $PATH", "...: permission denied"). */
int pl_container_create_started(pl_client_t *c, const pl_container_spec_t *spec, char **id_out,
				pl_error_t **err);
/* POST /containers?follow=1: created, started and followed to its end in one request (the
 * fewest round trips for a foreground run; with spec->auto_remove the port layer removes it
 * before the answer ends). on_id (may be NULL) gets the id once the process runs, before any
 * output, and returns > 0 to stop there (the container runs on: the call returns 1); out
 * gets each piece of output (stream 1 stdout, 2 stderr) as it comes; *status the exit
 * status (the call returns 0). A create or start that fails fails the call as
 * pl_container_create_started does (but a container without auto_remove whose start failed
 * stays, stopped), and so does an answer that ends without the exit status. */
int pl_container_run_follow(pl_client_t *c, const pl_container_spec_t *spec,
			    int (*on_id)(const char *id, void *userdata), pl_demux_fn out,
			    void *userdata, pl_exit_status_t *status, pl_error_t **err);
/* POST /containers/{id}/wait[?condition=][&timeout=] (timeout < 0: none; 408 past it). Fails
 * when the answer has no exit code in 0-255. */
int pl_container_wait_for(pl_client_t *c, const char *id, const char *condition, double timeout,
			  pl_exit_status_t *out, pl_error_t **err);
/* POST /containers/{id}/update {resources} with the resources object as given (borrowed):
 * the fields pl_resources_spec_t does not type (plctl's flag tables fill it). */
int pl_container_update_resources(pl_client_t *c, const char *id, const json_t *resources,
				  pl_error_t **err);
/* POST /containers/{id}/exec; extra (borrowed, may be NULL) is merged into the body last. */
int pl_exec_create_from(pl_client_t *c, const char *container, const pl_exec_spec_t *spec,
			const json_t *extra, char **exec_id, pl_error_t **err);
/* POST /exec/{id}/start, upgraded, choosing the streams (stdin_, stdout_, stderr_, stream,
 * detach_keys of o; logs is ignored). */
int pl_exec_start_stream(pl_client_t *c, const char *exec_id, const pl_attach_opts_t *o,
			 pl_upgraded_t *up, pl_error_t **err);
/* POST /exec/{id}/wait. */
int pl_exec_wait(pl_client_t *c, const char *exec_id, pl_exit_status_t *out, pl_error_t **err);

/* A handle: a token bound to one config version of a container (GET /containers/{id}/handle);
 * changes are staged on it and committed as one. Strings malloc'd; pl_handle_clear frees. */
typedef struct pl_handle {
	char *token, *id;
	int64_t version;
} pl_handle_t;
void pl_handle_clear(pl_handle_t *h);
int pl_handle_get(pl_client_t *c, const char *container, pl_handle_t *h, pl_error_t **err);
/* POST /handles/{token}/rename {name}: *staged gets the staged handle's token (malloc'd). */
int pl_handle_rename(pl_client_t *c, const char *token, const char *name, char **staged,
		     pl_error_t **err);
/* POST /handles/{token}/commit (409 when the container moved past the handle's version) */
int pl_handle_commit(pl_client_t *c, const char *token, pl_error_t **err);
/* DELETE /handles/{token}: drops a handle not committed */
int pl_handle_release(pl_client_t *c, const char *token, pl_error_t **err);

/* The KV store with values as byte counts (they may hold any UTF-8, NUL included) and keys
 * escaped segment by segment. if_match >= 0 sends If-Match (0: must not exist; 409 when
 * stale). */
typedef struct pl_kv_entry {
	char *key, *value; /* malloc'd; value NUL-terminated after len bytes */
	size_t len;
	int64_t revision;
} pl_kv_entry_t;
void pl_kv_entry_clear(pl_kv_entry_t *e);
void pl_kv_entries_free(pl_kv_entry_t *v, size_t n);
/* PUT /kv/{key} */
int pl_kv_set(pl_client_t *c, const char *key, const char *value, size_t len, int64_t if_match,
	      int64_t *revision, pl_error_t **err);
/* GET /kv/{key} */
int pl_kv_read(pl_client_t *c, const char *key, pl_kv_entry_t *out, pl_error_t **err);
/* DELETE /kv/{key} */
int pl_kv_delete_if(pl_client_t *c, const char *key, int64_t if_match, pl_error_t **err);
/* GET /kv[?prefix=]: every entry under prefix (NULL: all) */
int pl_kv_list(pl_client_t *c, const char *prefix, pl_kv_entry_t **out, size_t *n,
	       pl_error_t **err);

/* NULL-terminated string vector helpers for the result structs. */
char **pl_strv_from_json(const json_t *array);
void pl_strv_free(char **v);
