/* The privilege and resource parts of the isolation criteria: what a container may do
 * (capabilities, no_new_privs, seccomp, read-only root, sysctls, rlimits, tmpfs mounts,
 * oom_score_adj) and how much it may use (memory, CPU, pids, block IO). This unit owns
 * their validation and canonical JSON; mechanisms enforce them. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "common/error.h"
#include "portlayer/userns.h"

typedef enum pl_seccomp_mode {
	PL_SECCOMP_DEFAULT = 0,
	PL_SECCOMP_UNCONFINED,
	PL_SECCOMP_CUSTOM, /* an OCI seccomp profile (linux.seccomp of the runtime spec) */
} pl_seccomp_mode_t;

typedef struct pl_security {
	bool privileged;
	uint64_t caps; /* the capability set the process gets (bit n = capability n) */
	bool no_new_privs;
	pl_seccomp_mode_t seccomp;
	json_t *seccomp_profile; /* PL_SECCOMP_CUSTOM only */
	bool read_only_rootfs;
	json_t *sysctls; /* {"net.ipv4.ip_forward": "1"}, namespaced keys only */
	json_t *rlimits; /* [{"type": "RLIMIT_NOFILE", "soft": n, "hard": n}] */
	json_t *tmpfs;	 /* {"/run": "size=64m"} */
	bool has_oom_score_adj;
	int oom_score_adj;
	pl_userns_t userns; /* the user namespace: the host's, or a remapped one */
	json_t *canonical;  /* what config.json stores and inspect shows */
} pl_security_t;

#define PL_UNSET (-1)

typedef struct pl_resources {
	int64_t memory, memory_reservation, memory_swap; /* bytes; swap -1 = unlimited */
	int64_t cpu_shares, cpu_quota, cpu_period;	 /* quota/period in microseconds */
	char *cpuset_cpus;
	int64_t pids_limit;   /* -1 = unlimited */
	int64_t blkio_weight; /* 10..1000 */
	bool has_memory_swap, has_pids_limit;
} pl_resources_t;

/* An absolute path other than "/" with no "." or ".." components and no ',' or ':'. */
bool pl_path_is_clean_abs(const char *p);

/* Defaults: Docker's capability set, no_new_privs on, default seccomp. */
void pl_security_init(pl_security_t *s);
int pl_security_parse(const json_t *v, pl_security_t *s, pl_error_t **err);
void pl_security_clear(pl_security_t *s);
json_t *pl_security_to_json(const pl_security_t *s);

void pl_resources_init(pl_resources_t *r);
/* Parses over r: fields present in v replace r's (so an update can be partial). */
int pl_resources_parse(const json_t *v, pl_resources_t *r, pl_error_t **err);
void pl_resources_clear(pl_resources_t *r);
json_t *pl_resources_to_json(const pl_resources_t *r);
bool pl_resources_any(const pl_resources_t *r);
