/* SPDX-License-Identifier: Apache-2.0 */
/* Sessions: the processes tether runs with their own stdio — session 1 is the primary,
 * exec sessions (tasks) are 2 and up — and the sinks that consume their output (attach
 * clients). This unit owns exec records (persisted next to the container as
 * exec-<id>.json so their exit codes survive a daemon restart), routes tether's DATA
 * frames to sinks, and grants tether output credit only as fast as the slowest sink
 * consumes, so no reader can make anything buffer without bound. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/error.h"
#include "portlayer/container.h"

#define PL_SESSION_PRIMARY 1
#define PL_SESSION_WINDOW  (256u * 1024) /* output bytes in flight per session */

typedef struct pl_sink pl_sink_t;
struct pl_sink {
	/* output bytes of stream 1 (stdout) or 2 (stderr) */
	void (*data)(pl_sink_t *s, int stream, const uint8_t *buf, size_t len);
	/* the session's process is gone (exit status in the exec record / container) */
	void (*ended)(pl_sink_t *s);
	/* owned by the session */
	uint64_t base, consumed;
	pl_sink_t *next;
};

typedef struct pl_exec pl_exec_t;

/* body: {"args", "env", "cwd", "user", "tty", "stdin"}; CONFLICT unless running. */
pl_exec_t *pl_exec_create(pl_portlayer_t *pl, pl_container_t *c, const json_t *body,
			  pl_error_t **err);
pl_exec_t *pl_exec_find(pl_portlayer_t *pl, const char *id, pl_error_t **err);
/* Starts it; cb runs on STARTED or on failure to start (as for containers). */
int pl_exec_start(pl_portlayer_t *pl, pl_exec_t *ex, pl_start_fn cb, void *data, pl_error_t **err);
int pl_exec_remove(pl_portlayer_t *pl, pl_exec_t *ex, pl_error_t **err);
json_t *pl_exec_inspect_json(const pl_exec_t *ex);
const char *pl_exec_id(const pl_exec_t *ex);
bool pl_exec_running(const pl_exec_t *ex);
bool pl_exec_exited(const pl_exec_t *ex);
bool pl_exec_tty(const pl_exec_t *ex);
uint32_t pl_exec_session(const pl_exec_t *ex);
pl_container_t *pl_exec_container(const pl_exec_t *ex);

/* Session I/O. attach registers a sink (the first one makes tether forward output);
 * consumed reports bytes a sink has written out, which may return credit to tether. */
int pl_session_attach(pl_container_t *c, uint32_t session, pl_sink_t *sink, pl_error_t **err);
/* Attaches a sink that drops what the session writes at once, so its credit keeps
 * flowing (a detached exec, a session whose client went away). */
void pl_session_discard(pl_container_t *c, uint32_t session);
void pl_session_detach(pl_container_t *c, uint32_t session, pl_sink_t *sink);
void pl_session_consumed(pl_container_t *c, uint32_t session, pl_sink_t *sink, size_t n);
int pl_session_write(pl_container_t *c, uint32_t session, const void *buf, size_t len);
int pl_session_close_stdin(pl_container_t *c, uint32_t session);
int pl_session_resize(pl_container_t *c, uint32_t session, unsigned rows, unsigned cols,
		      pl_error_t **err);
bool pl_session_tty(const pl_container_t *c, uint32_t session);
/* Stdin bytes of a session waiting for tether's window: writers stop reading their client
 * above PL_STDIN_HIGH_WATER; a change notification follows when it drains. */
#define PL_STDIN_HIGH_WATER (1u << 20)
size_t pl_session_stdin_backlog(pl_container_t *c, uint32_t session);
