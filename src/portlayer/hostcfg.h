/* SPDX-License-Identifier: Apache-2.0 */
/* How a container sits in its host beyond its own isolation domain: which namespaces it
 * shares (with the host or with another container: pods), what its resolver and /etc/hosts
 * say, where its cgroup goes, which host devices it gets, the size of /dev/shm and its
 * supplementary groups. This unit owns parsing, validation and the canonical JSON of those
 * create fields; it is pure (no kernel, no other container), so the create-request fuzzer
 * links it. Resolving "container:<id>" references is the container core's. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "common/error.h"

#define PL_SHM_DEFAULT	    (64LL << 20)
#define PL_CONTAINER_PREFIX "container:"

typedef struct pl_hostcfg {
	char *ipc_mode;	     /* "private" (default), "shareable", "host", "container:<id>" */
	char *pid_mode;	     /* "private" (default), "host", "container:<id>" */
	char *uts_mode;	     /* "private" (default), "host" */
	json_t *dns;	     /* [address], never NULL */
	json_t *dns_search;  /* [domain], never NULL */
	json_t *dns_options; /* [option], never NULL */
	json_t *extra_hosts; /* ["name:address"], never NULL */
	char *domainname;    /* NULL: none */
	char *cgroup_parent; /* relative to the hierarchy's root, no leading '/'; NULL: ours */
	json_t *devices;     /* [{"path_on_host","path_in_container","permissions"}] */
	int64_t shm_size;    /* bytes of /dev/shm */
	json_t *group_add;   /* [gid or group name] */
} pl_hostcfg_t;

struct pl_config;
/* The fields of a create body (network_mode parsed already: a container network mode
 * takes no dns or extra_hosts of its own). */
int pl_hostcfg_parse(struct pl_config *c, const json_t *body, bool check_host, pl_error_t **err);
void pl_hostcfg_to_json(const pl_hostcfg_t *h, json_t *j);
void pl_hostcfg_clear(pl_hostcfg_t *h);

/* The id (or name) a "container:<ref>" mode names, or NULL for any other mode. */
const char *pl_hostcfg_target(const char *mode);
/* Every "container:<ref>" of c: network, ipc, pid (NULL-terminated, borrowed). */
void pl_hostcfg_targets(const struct pl_config *c, const char *out[4], const char *fields[4]);
/* The "network" object tether writes /etc/hosts and /etc/resolv.conf from, adjusted for c's
 * dns, dns_search, dns_options and extra_hosts (net may be NULL: a domain without a
 * network of its own gets localhost and these, or nothing when none is set). */
json_t *pl_hostcfg_names(const struct pl_config *c, const char *hostname, json_t *net);
