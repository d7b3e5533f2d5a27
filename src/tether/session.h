/* SPDX-License-Identifier: Apache-2.0 */
/* Sessions: every process tether runs and its stdio (session.c). The session code is given
 * its output port at init and calls nothing else of tether's: the connection to the daemon,
 * the log fd and the start of a waiting primary are the port's. */
#pragma once

#include "tether/tether.h"

#include <jansson.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct pl_session_port {
	void *ctx;
	/* a daemon is connected and has said HELLO on this connection */
	bool (*ready)(void *ctx);
	/* a control message; takes the reference to obj (NULL is ignored) */
	void (*send_json)(void *ctx, uint16_t type, json_t *obj);
	/* an encoded DATA frame (flags carry the stream) */
	void (*send_frame)(void *ctx, const uint8_t *frame, size_t len);
	/* ERROR {"message","type","session"}; type 0 and session 0 are left out */
	void (*error)(void *ctx, int type, uint32_t session, const char *msg);
	/* the first ATTACH of a primary configured with wait_attach: start it now */
	void (*launch_primary)(void *ctx);
	int log_fd; /* session 1's output as CRI records */
	/* a record of n bytes may go to the log (false: dropped, the log is full); NULL: all */
	bool (*log_admit)(size_t n);
} pl_session_port_t;

/* Before any other call. */
void pl_sessions_init(const pl_session_port_t *port);

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
