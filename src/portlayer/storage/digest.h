/* SPDX-License-Identifier: Apache-2.0 */
/* Content digests as registries and image stores name blobs: "sha256:" + 64 hex. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include "common/error.h"

#define PL_DIGEST_LEN 71 /* "sha256:" + 64 hex */

/* The digest of len bytes at data. */
void pl_digest_of(const void *data, size_t len, char out[PL_DIGEST_LEN + 1]);

/* The digest of the whole file open at fd (read with pread from offset 0, the file
 * position is left alone) and its size in *size. */
int pl_digest_fd(int fd, char out[PL_DIGEST_LEN + 1], uint64_t *size, pl_error_t **err);
