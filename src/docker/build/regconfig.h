/* SPDX-License-Identifier: Apache-2.0 */
/* X-Registry-Config, as the docker CLI sends it on POST /build: base64 (URL-safe or
 * standard alphabet, padding optional) of a JSON object mapping a registry (server
 * address: "127.0.0.1:5000", "https://index.docker.io/v1/", ...) to {username, password,
 * auth, ...}. Pure: parsing and the lookup of an image reference's registry. */
#pragma once

#include "common/error.h"

#include <jansson.h>

/* The decoded map (new reference; an empty object for a missing/empty header or JSON
 * null), or NULL with *err (PL_ERR_INVALID) for bad base64, bad JSON or a non-object. */
json_t *rc_parse(const char *header, pl_error_t **err);
/* The registry host of an image reference as Docker resolves it: the first component when
 * it has a '.' or ':' or is "localhost", else "docker.io". Newly allocated. */
char *rc_registry_of(const char *ref);
/* The credentials for ref's registry in cfg: *user and *pass newly allocated (NULL, NULL
 * when there are none). Keys are compared as Docker does: scheme and path stripped,
 * index.docker.io / registry-1.docker.io meaning docker.io; "auth" (base64 user:pass) is
 * used when username is missing. */
void rc_credentials(const json_t *cfg, const char *ref, char **user, char **pass);
