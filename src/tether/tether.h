/* Tether's internal interface between its portable parts: tether.c owns the control stream,
 * the phases (hello, config, running, exiting) and the main loop; session.c owns every process
 * tether runs and its stdio (the log, the replay ring, credits, stdin); launch.c owns the
 * CONFIG/EXEC payloads and the Docker-compatible wording of launch failures. */
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

/* ---- tether.c: the daemon connection. Sending never fails the container: a daemon that
 * went away only means nobody is listening. */

/* A daemon is connected and has said HELLO on this connection. */
bool pl_ctl_ready(void);
void pl_ctl_send(uint16_t type, const void *payload, size_t len);
/* Takes the reference to obj (NULL is ignored). */
void pl_ctl_send_json(uint16_t type, json_t *obj);
/* An already encoded frame (DATA, whose flags carry the stream). */
void pl_ctl_send_frame(const uint8_t *frame, size_t len);
/* ERROR {"message","type","session"}; type 0 and session 0 are left out. */
__attribute__((format(printf, 3, 4))) void pl_ctl_error(int type, uint32_t session, const char *fmt,
							...);
/* The first ATTACH of a primary configured with wait_attach: start it now. */
void pl_tether_launch_primary(void);

/* ---- launch.c */

typedef struct launch {
	json_t *json; /* holds the strings spec points into */
	char **argv, **env, **caps;
	uint8_t *seccomp;
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

/* ---- session.c */

/* CONFIG accepted: session 1 exists (stdin may be buffered) before its process starts. */
void pl_session_primary_init(const pl_os_spawn_spec_t *spec);
/* Starts session 1's process; 0, or -errno with *stage set. */
int pl_session_primary_start(const pl_os_spawn_spec_t *spec, pl_os_stage_t *stage, int *pid);

/* EXEC, SIGNAL, CLOSE_STDIN, RESIZE, ATTACH, DETACH, CREDIT (channel 0), and DATA. */
void pl_session_message(uint16_t type, const uint8_t *payload, size_t len);
void pl_session_stdin(uint32_t session, const uint8_t *payload, size_t len);

/* Grants each running session with an open stdin the free space of its window (CREDIT),
 * when that is worth a frame. */
void pl_sessions_grant(void);
/* The poll set: appends the fds sessions wait on; pl_sessions_io handles their events. */
size_t pl_sessions_poll(struct pollfd *p, size_t max);
void pl_sessions_io(const struct pollfd *p, size_t n);
/* Milliseconds until a session deadline (an exited exec session's idle output), or -1. */
int pl_sessions_timeout_ms(void);
/* Reaps exited children; returns true (and *st) when the primary was among them. */
bool pl_sessions_reap(pl_os_status_t *st);
/* The connection is gone or replaced: nothing is attached, no credit is left. */
void pl_sessions_detach_all(void);
/* A daemon said HELLO on a new connection: STARTED for each live exec session, a stdin grant
 * for each open stdin, EXITED for exec sessions that ended while nobody was told. */
void pl_sessions_resume(void);

/* The primary exited: exec sessions die with the domain, their fds close now. */
void pl_sessions_end(void);
/* Session 1's output pipes are still open. */
bool pl_session_primary_draining(void);
/* Gives up on the pipes (a writer that cannot die): logs the partial lines, closes them. */
void pl_session_primary_cut(void);
/* Session 1 is attached and holds output not yet sent. */
bool pl_session_primary_unsent(void);
