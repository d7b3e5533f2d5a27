/* SPDX-License-Identifier: Apache-2.0 */
/* Reading a container's log. tether writes it (CRI format: "<RFC3339Nano> <stream> <F|P>
 * <content>\n", one record per write); this unit turns records into the Docker API's
 * multiplexed frames (8-byte header: stream, 0, 0, 0, big-endian length), applying the
 * stream, since/until and tail filters. It never blocks: following is the caller's job. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "common/error.h"

typedef struct pl_log_opts {
	bool out, err, timestamps;
	int64_t since_ns, until_ns; /* 0: unbounded */
	long tail;		    /* -1: all */
} pl_log_opts_t;

typedef struct pl_log_cursor pl_log_cursor_t;

/* Opens the log in the domain directory and positions the cursor per opts.tail. A missing
 * log reads as empty. */
pl_log_cursor_t *pl_log_open(int domain_dirfd, const pl_log_opts_t *opts, pl_error_t **err);
pl_log_cursor_t *pl_log_close(pl_log_cursor_t *cur);
/* Copies up to max bytes of framed output; 0 when nothing more is written yet, <0 on error. */
ssize_t pl_log_read(pl_log_cursor_t *cur, char *buf, size_t max);
/* Parses one record (without its newline). Returns 0 or -EINVAL. Exposed for tests. */
int pl_log_parse_record(const char *line, size_t len, int64_t *ts, int *stream, bool *partial,
			const char **content, size_t *content_len);

/* Rotation (logrotate.c): container.log, then container.log.1 (older) ... .N-1 (oldest).
 * The daemon's defaults for containers created without log_config (--log-max-size,
 * --log-max-files); max_size 0: never rotate. */
#define PL_LOG_DEFAULT_MAX_SIZE	 (100ull << 20)
#define PL_LOG_DEFAULT_MAX_FILES 5u
/* A create body's "log_config": {"max_size": bytes or "10m", "max_files": 1..100}; what is
 * left out takes PL_LOG_DEFAULT_* here (pl_log_config_defaults puts the daemon's in). */
typedef struct json_t json_t;
int pl_log_config_parse(const json_t *v, uint64_t *max_size, unsigned *max_files, pl_error_t **err);
/* The fields log_config V leaves out take these defaults (pl_portlayer_options_t's
 * log_max_size/log_max_files; max_files 0 counts as 1). */
void pl_log_config_defaults(const json_t *v, uint64_t def_size, unsigned def_files,
			    uint64_t *max_size, unsigned *max_files);
/* "100", "10k", "10m", "1g" (binary units, an optional trailing "b"). */
int pl_log_parse_size(const char *s, uint64_t *out);
struct pl_container;
struct pl_portlayer;
/* tether said the log is full (LOG_ROTATE): rename, reopen, send it the new file. */
void pl_logs_rotate(struct pl_portlayer *pl, struct pl_container *c);
