/* SPDX-License-Identifier: Apache-2.0 */
/* Daemon-side logging to stderr. Library code never logs on its own behalf except through
 * this, at debug level; decisions about what matters are the daemon's. */
#pragma once

typedef enum pl_loglevel {
	PL_LOG_ERROR = 0,
	PL_LOG_WARN,
	PL_LOG_INFO,
	PL_LOG_DEBUG,
} pl_loglevel_t;

void pl_log_set_level(pl_loglevel_t level);
int pl_log_parse_level(const char *s, pl_loglevel_t *out);
void pl_log(pl_loglevel_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define pl_log_error(...) pl_log(PL_LOG_ERROR, __VA_ARGS__)
#define pl_log_warn(...)  pl_log(PL_LOG_WARN, __VA_ARGS__)
#define pl_log_info(...)  pl_log(PL_LOG_INFO, __VA_ARGS__)
#define pl_log_debug(...) pl_log(PL_LOG_DEBUG, __VA_ARGS__)
