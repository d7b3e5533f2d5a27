/* SPDX-License-Identifier: Apache-2.0 */
/* .dockerignore: Docker's pattern rules (moby/patternmatcher). One pattern a line; blank
 * lines and lines starting with '#' skipped; a leading '!' re-includes; patterns are
 * cleaned like paths (leading '/' dropped, "a/./b" -> "a/b"); '*' and '?' never match '/',
 * '**' matches any number of directories (none included), "[...]" classes, '\\' escapes.
 * A path is excluded when the last pattern matching it, or one of its parent directories,
 * is not a '!' one. Pure; a di_rules_t owns its patterns. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef struct di_rules {
	char **pats;
	bool *neg;
	size_t n;
} di_rules_t;

void di_parse(const char *text, size_t len, di_rules_t *out);
void di_clear(di_rules_t *r);
/* One pattern against one path ("a/b/c", no leading '/'). */
bool di_match(const char *pattern, const char *path);
/* relpath: a path relative to the context root, no leading "./" or '/'. */
bool di_excluded(const di_rules_t *r, const char *relpath);
