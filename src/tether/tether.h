/* SPDX-License-Identifier: Apache-2.0 */
/* Tether's internal interface between its portable parts: tether.c owns the control stream,
 * the phases (hello, config, running, exiting) and the main loop; session.c (session.h) owns
 * every process tether runs and its stdio, and reaches the connection and the log only
 * through the port tether.c gives it; logwriter.c, replay.c and flow.h are the log records,
 * the replay ring and the flow-control arithmetic; launch.c owns the CONFIG/EXEC payloads
 * and the Docker-compatible wording of launch failures. */
#pragma once

#include "proto/frame.h"
#include "tether/os.h"

#include <jansson.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define FD_CONTROL  3
#define FD_LOG	    4
#define FD_EXIT	    5
#define FD_LISTEN   6	/* optional: where a restarted daemon reconnects */
#define EXIT_CONFIG 128 /* like runc: tether could not even try to exec */
#define PRIMARY	    1	/* the session id of the CONFIG process */

static inline int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- logrotate.c: the log's size, when to ask the daemon for a new file (LOG_ROTATE), the
 * file it sends back (LOG_ROTATED). It sends nothing itself: tether.c owns the connection. */

void pl_logrot_configure(uint64_t max_size); /* 0: never rotate */
/* A record of n bytes is about to be written: false drops it (the log is full); true counts
 * it, and sets *ask when a LOG_ROTATE should go to the daemon now (ready: one is connected). */
bool pl_logrot_admit(size_t n, bool ready, bool *ask);
/* A new connection: fds queued from the old one are dropped; true: ask (again) now. */
bool pl_logrot_reconnected(bool ready);
/* LOG_ROTATED arrived: NULL, or what is wrong with it; *ask as for pl_logrot_admit. */
const char *pl_logrot_on_rotated(bool ready, bool *ask);
/* pl_frame_reader_fill, keeping file descriptors that come along (SCM_RIGHTS) for LOG_ROTATED. */
long pl_logrot_fill(pl_frame_reader_t *r, int fd);

/* ---- launch.c */

typedef struct launch {
	json_t *json; /* holds the strings spec points into */
	char **argv, **env, **caps;
	uint8_t *seccomp;
	uint8_t *frame_bpf; /* the SECCOMP frame before CONFIG (checked whole instructions) */
	size_t frame_bpf_len;
	pl_os_rlimit_t *rlimits;
	uint32_t *groups;
	pl_os_spawn_spec_t spec;
	bool wait_attach; /* CONFIG only */
	const char *user; /* a user to resolve in the container ("name[:group]"), or NULL */
	char *home_env;	  /* "HOME=..." from its passwd entry, when env has no HOME */
} launch_t;

/* Parses a CONFIG (exec false) or EXEC payload into *l (which keeps a reference to o).
 * Strict: an unknown key is an error. Returns NULL or what is wrong. */
const char *pl_launch_parse(launch_t *l, json_t *o, bool exec);
void pl_launch_free(launch_t *l);
/* Resolves l->user (if any) against the container's /etc/passwd and /etc/group: sets the
 * spec's uid/gid (and HOME when env has none). Returns 0, or the exit code (126) with msg. */
int pl_launch_resolve_user(launch_t *l, char *msg, size_t size);

/* ---- user.c */

/* "name", "name:group", "uid", "uid:group" → ids (and the passwd home); -1 with Docker's
 * message when a name is not in the files. */
int pl_user_resolve(const char *spec, uint32_t *uid, uint32_t *gid, char *home, size_t homelen,
		    char *msg, size_t msglen);
/* A group id or a name in the container's /etc/group; -1 with Docker's message. */
int pl_group_resolve(const char *name, uint32_t *gid, char *msg, size_t msglen);
/* A failed launch as Docker reports it: returns the exit code (127 not found, 126 not
 * runnable, 128 set-up) and writes the message. */
int pl_launch_failure(const pl_os_spawn_spec_t *s, pl_os_stage_t stage, int err, char *msg,
		      size_t size);
