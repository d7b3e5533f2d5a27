/* SPDX-License-Identifier: Apache-2.0 */
/* pl-dockerd's bridge between the single-threaded HTTP front (daemon/http.h on the event
 * loop) and the blocking typed port layer client: each Docker request runs as a job on a
 * thread of its own with a port layer connection of its own; what it answers (a JSON reply,
 * a streamed body, a hijacked connection) travels back to the loop through a queue.
 *
 * Ownership: a job is shared by its thread and the loop and freed when both are done with
 * it. The request may end (the client went away) while the thread still runs: replies are
 * then dropped and dk_job_write fails with -EPIPE. */
#pragma once

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "client/portlayer-client.h"
#include "common/loop.h"
#include "daemon/http.h"

typedef struct dk_server dk_server_t;
typedef struct dk_job dk_job_t;

typedef void (*dk_job_fn)(dk_job_t *j);

dk_server_t *dk_server_new(pl_loop_t *loop, const char *portlayer_host, pl_error_t **err);
dk_server_t *dk_server_free(dk_server_t *s);
const char *dk_server_portlayer(const dk_server_t *s);

/* Runs fn on a new thread for req (which is parked until the job answers). */
void dk_job_spawn(dk_server_t *s, pl_req_t *req, dk_job_fn fn);
/* Runs fn on a new thread with no request (background work such as auto-remove); arg is
 * the job's data. */
void dk_job_background(dk_server_t *s, dk_job_fn fn, char *arg_owned);

/* Thread side. The request's parameters, copied when the job was made. */
const char *dk_job_param(const dk_job_t *j);
const char *dk_job_query(const dk_job_t *j, const char *key);
/* Every value of a repeated query key, as a JSON array of strings (borrowed), or NULL. */
const json_t *dk_job_query_all(const dk_job_t *j, const char *key);
bool dk_job_query_bool(const dk_job_t *j, const char *key, bool def);
const char *dk_job_header(const dk_job_t *j, const char *name);
/* The JSON body, or NULL when there is none or it does not parse (borrowed). */
json_t *dk_job_body(dk_job_t *j);
/* The spooled body's fd (for routes registered with spool), or -1. */
int dk_job_body_fd(const dk_job_t *j);
const char *dk_job_arg(const dk_job_t *j);
/* The job's own port layer connection. */
pl_client_t *dk_job_client(dk_job_t *j);

/* Answers (at most one of reply/stream/upgrade per job). */
void dk_job_add_header(dk_job_t *j, const char *name, const char *value);
void dk_job_reply_json(dk_job_t *j, unsigned status, json_t *body); /* steals body */
void dk_job_reply_empty(dk_job_t *j, unsigned status);
/* Docker's error shape {"message": ...} with the status for the error's kind. */
void dk_job_reply_error(dk_job_t *j, const pl_error_t *e);
void dk_job_reply_message(dk_job_t *j, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void dk_job_reply_vmessage(dk_job_t *j, unsigned status, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Starts a streamed answer: the status line and headers go out now, the body is what
 * dk_job_write sends until the job ends. */
void dk_job_stream(dk_job_t *j, unsigned status, const char *content_type);
/* Returns 0, or -EPIPE when the client went away. */
int dk_job_write(dk_job_t *j, const void *data, size_t len);

/* Hijacks the connection (101, Upgrade: tcp): returns the client's socket, blocking, the
 * job's until it ends (the loop closes it then), or -1 when the client went away. Bytes
 * the client sent past the request head come back in *extra (malloc'd). */
int dk_job_upgrade(dk_job_t *j, const char *content_type, char **extra, size_t *extra_len);
