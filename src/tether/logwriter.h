/* SPDX-License-Identifier: Apache-2.0 */
/* The container log writer: one stream's output (stdout or stderr of session 1) cut into CRI
 * records, "<RFC3339Nano> <stream> <F|P> <content>\n", each written with one write() to the
 * log fd. A line longer than PL_LOG_LINE_MAX is logged in P(artial) pieces, so memory stays
 * bounded. Knows nothing of sessions or the daemon: unit-testable on a pipe. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define PL_LOG_LINE_MAX (16 * 1024)

typedef struct pl_logwriter {
	int fd;		    /* the log; a full disk loses lines, not the container */
	const char *stream; /* "stdout" or "stderr" */
	char *line;	    /* PL_LOG_LINE_MAX bytes: the partial line, then room for reads */
	size_t len;	    /* bytes of the partial line */
	/* optional: a record of n bytes may be written (false: it is dropped, the log is full) */
	bool (*admit)(size_t n);
} pl_logwriter_t;

/* Where the next read goes (*room bytes free after the partial line). */
char *pl_logwriter_space(pl_logwriter_t *w, size_t *room);
/* n bytes were read into the space: logs each complete line (F) and, when the buffer is full
 * without a newline, the whole buffer (P). */
void pl_logwriter_commit(pl_logwriter_t *w, size_t n);
/* The stream ended: logs the partial line (P), if any. */
void pl_logwriter_flush(pl_logwriter_t *w);
/* One record with one write(), if w->admit lets it. */
void pl_log_record(const pl_logwriter_t *w, char tag, const char *data, size_t len);
