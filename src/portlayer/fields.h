/* SPDX-License-Identifier: Apache-2.0 */
/* Field checks shared by the parsers of a create body (config.c, policy.c, hostcfg.c,
 * network/netconfig.c, storage/): plain predicates on names, paths and string maps, below
 * all of them, so those parsers do not depend on one another for them. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include "common/error.h"

/* A container, network or volume name: [A-Za-z0-9][A-Za-z0-9_.-]*, at most PL_NAME_MAX. */
bool pl_name_valid(const char *name);
/* "name[:group]" (or uid:group, name:gid) that tether may resolve: portable user and group
 * name characters, at most 255 bytes. */
bool pl_user_name_valid(const char *s);
/* An object of strings (keys non-empty), field named in the error. */
int pl_config_parse_string_map(const json_t *v, const char *field, pl_error_t **err);
/* An absolute path other than "/" with no "." or ".." components and no ',' or ':'. */
bool pl_path_is_clean_abs(const char *p);
