/* SPDX-License-Identifier: Apache-2.0 */
/* Small pure helpers: ids, timestamps, signal names, number parsing. No I/O beyond
 * reading the random source for ids. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "common/error.h"

#define PL_ID_LEN 64

/* FNV-1a over n bytes, continuing from h (PL_FNV1A_INIT to begin): a cheap, stable hash of
 * names, not a defence against anyone choosing them. */
#define PL_FNV1A_INIT 14695981039346656037ULL
static inline uint64_t pl_fnv1a(const void *p, size_t n, uint64_t h)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ ((const unsigned char *)p)[i]) * 1099511628211ULL;
	return h;
}

/* 64 lowercase hex chars from the kernel's CSPRNG, NUL-terminated. */
int pl_id_generate(char out[PL_ID_LEN + 1], pl_error_t **err);
bool pl_id_is_full(const char *s);

/* Nanoseconds since the epoch (CLOCK_REALTIME). */
int64_t pl_now_ns(void);
/* RFC 3339 with nanoseconds in UTC ("2026-11-28T13:16:53.123456789Z"); buf >= 40. */
void pl_time_format(int64_t ns, char *buf, size_t len);
/* Parses RFC 3339 (with or without fraction, Z only) or a plain unix time with optional
 * fraction ("1732800000.5"). */
int pl_time_parse(const char *s, int64_t *ns);

/* Signal by name ("TERM", "SIGTERM", "sigkill") or number ("9"); rejects unknown. */
int pl_signal_parse(const char *s, int *signo);
/* Name without the SIG prefix, or NULL. */
const char *pl_signal_name(int signo);

/* A detach key spec ("ctrl-p,ctrl-q", "a,ctrl-x"; "" disables detaching), shared by the
 * daemon and plctl. Returns the number of bytes written to out (at most 16), or -1. */
int pl_detach_keys_parse(const char *spec, uint8_t out[16]);

/* Standard base64 (RFC 4648, padded); caller frees. */
char *pl_base64_encode(const void *data, size_t len);
/* Standard or URL-safe base64 (both alphabets, as Docker's headers come in either). strict:
 * only alphabet characters (trailing newlines allowed), then at most two '=' completing the
 * last quantum; otherwise characters outside the alphabet are skipped. Returns a
 * NUL-terminated malloc'd buffer and its decoded size in *len (may be NULL), or NULL when
 * strict and the input is not base64. */
char *pl_base64_decode(const char *in, bool strict, size_t *len);

/* Strict decimal parse: whole string, no sign unless allow_negative, within [min, max]. */
int pl_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out);

/* Copies what is left of src[*pos, len) into dst, at most max bytes, and moves *pos on:
 * a producer handing out a buffer it holds in pieces. Returns the bytes copied (0: none
 * left). */
size_t pl_buf_take(char *dst, size_t max, const char *src, size_t len, size_t *pos);
