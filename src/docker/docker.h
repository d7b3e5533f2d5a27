/* SPDX-License-Identifier: Apache-2.0 */
/* pl-dockerd: the Docker Engine API personality. Every handler runs as a job (job.h) and
 * speaks to portlayerd only through the typed client (client/portlayer-client.h). Docker's
 * own metadata lives in the port layer's container annotations ("docker.*"), so pl-dockerd
 * keeps no state of its own. */
#pragma once

#include <jansson.h>

#include "client/portlayer-client.h"
#include "daemon/http.h"
#include "docker/job.h"

#define DK_API_VERSION	   "1.43"
#define DK_MIN_API_VERSION "1.24"

/* Annotation keys holding what Docker's inspect shows and the port layer does not keep. */
#define DK_ANN_IMAGE	  "docker.image"       /* the image as the user named it */
#define DK_ANN_ENTRYPOINT "docker.entrypoint"  /* JSON array or null */
#define DK_ANN_CMD	  "docker.cmd"	       /* JSON array or null */
#define DK_ANN_HOSTCONFIG "docker.hostconfig"  /* the create request's HostConfig JSON */
#define DK_ANN_AUTOREMOVE "docker.auto_remove" /* "1": removed once it exits */

extern dk_server_t *dk_server;

/* The route table (routes.c). */
extern const pl_route_t dk_routes[];

/* Maps port layer errors to Docker's status codes and messages. */
void dk_reply_pl_error(dk_job_t *j, const pl_error_t *e);
/* A list's answer to an error: a bad filter (PL_ERR_INVALID) is 400 with the port layer's
 * message, the rest as dk_reply_pl_error. */
void dk_reply_list_error(dk_job_t *j, const pl_error_t *e);
/* A missing object (PL_ERR_NOTFOUND) is 404 with Docker's message FMT; the rest as
 * dk_reply_pl_error. */
void dk_reply_missing(dk_job_t *j, const pl_error_t *e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* containers.c */
void dk_containers_create(dk_job_t *j);
void dk_containers_list(dk_job_t *j);
void dk_containers_inspect(dk_job_t *j);
void dk_containers_start(dk_job_t *j);
void dk_containers_stop(dk_job_t *j);
void dk_containers_restart(dk_job_t *j);
void dk_containers_kill(dk_job_t *j);
void dk_containers_wait(dk_job_t *j);
void dk_containers_remove(dk_job_t *j);
void dk_containers_logs(dk_job_t *j);
void dk_containers_attach(dk_job_t *j);
void dk_containers_resize(dk_job_t *j);
void dk_containers_pause(dk_job_t *j);
void dk_containers_unpause(dk_job_t *j);
void dk_containers_rename(dk_job_t *j);
void dk_containers_top(dk_job_t *j);
void dk_containers_stats(dk_job_t *j);
/* containers_extra.c */
void dk_containers_changes(dk_job_t *j);
void dk_containers_export(dk_job_t *j);
void dk_containers_update(dk_job_t *j);
void dk_containers_prune(dk_job_t *j);
void dk_exec_create(dk_job_t *j);
void dk_exec_start(dk_job_t *j);
void dk_exec_inspect(dk_job_t *j);
void dk_exec_resize(dk_job_t *j);

/* netopts.c: network create with Options (-o) */
void dk_network_create_with_options(dk_job_t *j);

/* more.c: docker cp, commit, save, push, login, system df, prunes */
void dk_archive_get(dk_job_t *j);
void dk_archive_head(dk_job_t *j);
void dk_archive_put(dk_job_t *j);
void dk_commit(dk_job_t *j);
void dk_image_save(dk_job_t *j);
void dk_image_push(dk_job_t *j);
void dk_image_import(dk_job_t *j);
void dk_auth(dk_job_t *j);
void dk_system_df(dk_job_t *j);
void dk_images_prune(dk_job_t *j);
void dk_volumes_prune(dk_job_t *j);
void dk_networks_prune(dk_job_t *j);
/* The X-Registry-Auth header's {username, password, serveraddress}, or NULL. */
json_t *dk_registry_auth(dk_job_t *j);

/* hostfields.c: HostConfig's IpcMode, PidMode, UTSMode, CgroupParent, ShmSize, GroupAdd and
 * Devices as port layer create fields, set in out (container:NAME resolved to the id). */
int dk_host_fields(pl_client_t *c, const json_t *hc, json_t *out, pl_error_t **err);

/* Docker's shapes (convert.c) */
/* Docker's inspect object for a port layer container. */
json_t *dk_container_json(const pl_container_info_t *ci);
/* Docker's /containers/json entry from a port layer list summary. */
json_t *dk_summary_from_pl(const json_t *sum);
/* Docker's /containers/json entry from an inspect. */
json_t *dk_container_summary(const pl_container_info_t *ci);
/* "Up 5 seconds", "Exited (0) 3 minutes ago", "Created" */
char *dk_human_status(const pl_container_info_t *ci);
/* RFC 3339 text to unix seconds (0 when absent or malformed). */
int64_t dk_unix_time(const char *rfc3339);
/* An annotation of the container, or NULL (borrowed from ci->raw). */
const char *dk_annotation(const pl_container_info_t *ci, const char *key);
/* Docker's name for the port layer's state. */
const char *dk_state_name(const char *pl_status);

/* Pumps a hijacked client connection and a port layer upgraded stream into each other
 * until the port layer side ends (stream.c). extra: bytes the client already sent. The
 * client's half-close closes the process's stdin, except on a terminal (tty), where the
 * client leaving ends the pumping and leaves the process alone, as Docker does. */
void dk_pump(int client_fd, const char *extra, size_t extra_len, int pl_fd, bool tty,
	     const char *detach_keys);
