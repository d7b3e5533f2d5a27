/* SPDX-License-Identifier: Apache-2.0 */
/* A container's configuration: parsed and validated from the API's create body, stored in
 * the domain directory as config.json, and turned into tether's CONFIG message. This unit
 * owns validation; nothing downstream re-checks what it accepted. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "common/error.h"
#include "portlayer/policy.h"
#include "portlayer/hostcfg.h"

#define PL_CONFIG_SCHEMA 1
#define PL_NAME_MAX	 128
#define PL_HOSTNAME_MAX	 64

typedef enum pl_kernel {
	PL_KERNEL_SHARED = 0,
	PL_KERNEL_DEDICATED,
} pl_kernel_t;

typedef enum pl_restart {
	PL_RESTART_NO = 0,
	PL_RESTART_ON_FAILURE,
	PL_RESTART_ALWAYS,
	PL_RESTART_UNLESS_STOPPED,
} pl_restart_t;

typedef struct pl_config {
	char *name;	 /* may be NULL: no name */
	char *rootfs;	 /* absolute host directory (overlay lower), or NULL with an image */
	char *image;	 /* an image reference as given; the image id once created */
	bool user_set;	 /* process.user was given (else the image's user applies) */
	char **args;	 /* NULL-terminated, at least one */
	char **env;	 /* NULL-terminated, K=V each */
	char *cwd;	 /* absolute, inside the container */
	bool tty;	 /* the primary gets a terminal */
	bool open_stdin; /* the primary's stdin is fed by attach clients */
	uid_t uid;
	gid_t gid;
	char *user_name; /* "name[:group]" tether resolves in the container, or NULL (numeric) */
	char *hostname;	 /* may be NULL: derived from the id */
	pl_kernel_t kernel;
	json_t *labels;	     /* object of strings, never NULL */
	json_t *annotations; /* object of strings, never NULL */
	pl_restart_t restart;
	int restart_max;  /* on-failure retries; 0 = unlimited */
	int stop_signal;  /* default SIGTERM */
	int stop_timeout; /* seconds, default 10 */
	json_t *mounts; /* [{"type":"bind"|"volume","source","target","readonly","propagation"}] */
	pl_security_t security;
	pl_resources_t resources;
	/* network (portlayer/network/network.c parses these) */
	char *network_mode;  /* "none" (loopback only), "bridge" (the scopes below), "host" */
	json_t *networks;    /* [{"scope","ip","aliases":[]}]; ip recorded once assigned */
	json_t *ports;	     /* [{"container_port","protocol","host_ip","host_port"}] */
	bool auto_remove;    /* removed as soon as it stops (portlayer/health.c parses the rest) */
	json_t *healthcheck; /* canonical {"test","interval","timeout","retries","start_period"} or
				NULL */
	pl_hostcfg_t host;   /* shared namespaces, names, cgroup parent, devices (hostcfg.c) */
	uint64_t log_max_size;	/* bytes before container.log rotates; 0: never (logs.h) */
	unsigned log_max_files; /* container.log and the rotated ones kept, >= 1 */
} pl_config_t;

/* Parses and validates the create body (or a stored config's "config" object). With
 * check_host, paths on the host are checked too (rootfs must be an existing directory);
 * stored configs are loaded without it so a vanished rootfs never hides a container. */
pl_config_t *pl_config_parse(const json_t *body, bool check_host, pl_error_t **err);
pl_config_t *pl_config_free(pl_config_t *c);
static inline void pl_config_freep(pl_config_t **c)
{
	pl_config_free(*c);
}
/* The canonical JSON form (what inspect shows and config.json stores). */
json_t *pl_config_to_json(const pl_config_t *c);
/* tether's CONFIG payload: args, env (with defaults filled), cwd, uid, gid. */
json_t *pl_config_tether_json(const pl_config_t *c, const char *hostname);
/* tether's EXEC payload: the exec spec over the container's process defaults. */
json_t *pl_config_tether_exec_json(const pl_config_t *c, const json_t *spec);

/* Fills what the caller left out from an image's OCI config (Entrypoint+Cmd, Env,
 * WorkingDir, User) and records the image id. */
int pl_config_apply_image(pl_config_t *c, const char *image_id, const json_t *img_config,
			  pl_error_t **err);

/* A deep copy (for staging changes). */
pl_config_t *pl_config_dup(const pl_config_t *c);

/* Field parsers shared by create and the handle mutators; each names the field in errors. */
int pl_config_parse_restart(const json_t *v, pl_restart_t *policy, int *max, pl_error_t **err);
int pl_config_parse_env(const json_t *arr, const char *field, pl_error_t **err);
int pl_config_parse_stop(const json_t *sig, const json_t *timeout, int *signo, int *secs,
			 pl_error_t **err);
const char *pl_restart_name(pl_restart_t r);

int pl_user_parse(const char *s, uid_t *uid, gid_t *gid);
const char *pl_kernel_name(pl_kernel_t k);

/* Whether a mount target is refused: /proc or /sys or below, /dev itself, or "/". */
bool pl_mount_target_reserved(const char *target);
