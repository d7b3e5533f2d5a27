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
