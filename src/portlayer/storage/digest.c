/* SPDX-License-Identifier: Apache-2.0 */
#include "portlayer/storage/digest.h"

#include <gnutls/crypto.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void format(const unsigned char d[32], char out[PL_DIGEST_LEN + 1])
{
	strcpy(out, "sha256:");
	for (int i = 0; i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", d[i]);
}

void pl_digest_of(const void *data, size_t len, char out[PL_DIGEST_LEN + 1])
{
	unsigned char d[32];
	gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, d);
	format(d, out);
}

int pl_digest_fd(int fd, char out[PL_DIGEST_LEN + 1], uint64_t *size, pl_error_t **err)
{
	gnutls_hash_hd_t h;
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return pl_error_set(err, PL_ERR_INTERNAL, 0, "sha256");
	char buf[65536];
	uint64_t total = 0;
	ssize_t n;
	while ((n = pread(fd, buf, sizeof(buf), (off_t)total)) > 0) {
		gnutls_hash(h, buf, (size_t)n);
		total += (uint64_t)n;
	}
	unsigned char d[32];
	gnutls_hash_deinit(h, d);
	if (n < 0)
		return pl_error_errno(err, "read a blob");
	format(d, out);
	*size = total;
	return 0;
}
