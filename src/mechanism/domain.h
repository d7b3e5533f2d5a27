/* SPDX-License-Identifier: Apache-2.0 */
/* The description of an isolation domain, as the core hands it to a mechanism: what to
 * isolate and how (privileges, user namespace), how much it may use (resources), and the id
 * maps. Plain data with no core types in it, so a mechanism (and the host layer enforcing
 * parts of it, src/host/linux) needs nothing from src/portlayer. The core parses and
 * validates these (portlayer/policy.c, portlayer/userns.c); mechanisms only read them. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PL_IDMAP_MAX 5 /* entries per map (the kernel takes 340; nobody needs that) */

typedef struct pl_idmap {
	uint32_t container_id, host_id, size;
} pl_idmap_t;

typedef struct pl_userns {
	bool remap;	     /* false: the host's user namespace (the default) */
	bool allow_host_ids; /* explicit maps may leave the daemon's range (never host id 0) */
	size_t n_uid, n_gid; /* 0 until allocated when remap came without explicit maps */
	pl_idmap_t uid_map[PL_IDMAP_MAX], gid_map[PL_IDMAP_MAX];
} pl_userns_t;

/* The host id container id `id` maps to, or -1 when unmapped. */
int64_t pl_userns_host_id(const pl_idmap_t *map, size_t n, uint32_t id);
/* The container id host id `id` is, or -1 when the map does not cover it. */
int64_t pl_userns_container_id(const pl_idmap_t *map, size_t n, uint32_t id);

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

/* How a domain sits in its host beyond its own isolation (the part of the create fields a
 * mechanism enforces; the core parses them: portlayer/hostcfg.c). Borrowed. */
typedef struct pl_domain_host {
	const char *cgroup_parent; /* relative to each hierarchy's root; NULL: the mechanism's */
	const json_t *devices;	   /* [{"path_on_host","path_in_container","permissions"}] */
	int64_t shm_size;	   /* bytes of /dev/shm */
	const char *domainname;	   /* NULL: none */
} pl_domain_host_t;

/* A volume or bind mount of the domain. At spawn the source is a host path (a volume's data
 * directory); at validate and tether_config time it is as configured (a volume's name, or
 * NULL for an anonymous one not yet created). Borrowed from the core for the call. */
typedef struct pl_domain_mount {
	const char *source;
	const char *target; /* a clean absolute path inside the domain */
	bool volume;	    /* the port layer's (a volume), not a host path the caller named */
	bool readonly;
	const char *propagation; /* "rprivate" (the default), "private", "rshared", "shared",
				  * "rslave", "slave" */
	/* spawn only, a volume: copy the image's content at target first (when the volume is
	 * empty), then create this marker file; NULL: never populate */
	const char *populate;
} pl_domain_mount_t;

typedef enum pl_endpoint_kind {
	PL_ENDPOINT_VETH,    /* a veth pair: its host end (host_ifname) on bridge */
	PL_ENDPOINT_MACVLAN, /* a macvlan on the host interface parent (an external scope) */
} pl_endpoint_kind_t;

#define PL_IFNAME_SIZE 16 /* IFNAMSIZ */

/* A network endpoint the mechanism plumbs on the host side before GO (see
 * host/linux/netdev.h); tether configures the inside end from CONFIG's "network" object. The
 * interface name and MAC are the ones tether's addressing uses. */
typedef struct pl_domain_endpoint {
	pl_endpoint_kind_t kind;
	char ifname[PL_IFNAME_SIZE]; /* inside the domain: eth0, eth1, ... */
	char mac[18];		     /* "02:42:ac:11:00:02" */
	int mtu;
	char bridge[PL_IFNAME_SIZE], host_ifname[PL_IFNAME_SIZE]; /* veth */
	char parent[PL_IFNAME_SIZE];				  /* macvlan */
	/* net_connect only (a live domain, which no tether CONFIG reaches): the inside end's
	 * address "A.B.C.D/len", and the gateway when this endpoint is to hold the default
	 * route ("" otherwise) */
	char address[20], gateway[16];
} pl_domain_endpoint_t;

/* A description's mounts and endpoints as JSON and back, for a mechanism that hands one to
 * another process of its own (domain_json.c). Not the boundary: the core never sees these.
 * mounts: [{"source","target","volume","readonly","propagation","populate"}] (absent fields:
 * NULL/false); endpoints: [{"kind": "veth"|"macvlan","ifname","mac","mtu","bridge",
 * "host_ifname","parent","address","gateway"}]. A parsed mount borrows its strings from j,
 * which must outlive it; free() the array. -1 when j (NULL: none) has another shape. */
json_t *pl_domain_mounts_json(const pl_domain_mount_t *v, size_t n);
int pl_domain_mounts_parse(const json_t *j, pl_domain_mount_t **v, size_t *n);
json_t *pl_domain_endpoints_json(const pl_domain_endpoint_t *v, size_t n);
int pl_domain_endpoints_parse(const json_t *j, pl_domain_endpoint_t **v, size_t *n);
