/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the tether protocol decoder. Any byte stream, fed in arbitrary chunks,
 * must yield whole frames or a clean error, never a crash or unbounded buffering. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "proto/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pl_frame_reader_t r;
	pl_frame_reader_init(&r);
	size_t off = 0;
	/* the first byte picks the chunk size so splits vary with the input */
	size_t chunk = size ? (size_t)data[0] % 17 + 1 : 1;
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		if (pl_frame_reader_feed(&r, data + off, n) < 0)
			abort();
		off += n;
		pl_frame_hdr_t h;
		const uint8_t *payload;
		int rc;
		while ((rc = pl_frame_reader_next(&r, &h, &payload)) > 0) {
			if (h.len > PL_FRAME_MAX_PAYLOAD)
				abort();
			volatile uint8_t sink = h.len ? payload[h.len - 1] : 0; /* touch the end */
			(void)sink;
			/* a SECCOMP payload tether takes is whole instructions, within the limit */
			long insns = h.type == PL_MSG_SECCOMP ? pl_frame_seccomp_check(h.len) : -1;
			if (insns >= 0 && ((size_t)insns * PL_SECCOMP_INSN_LEN != h.len ||
					   insns < 1 || insns > PL_SECCOMP_MAX_INSNS))
				abort();
		}
		if (rc < 0)
			break;
		if (r.len - r.off > PL_FRAME_HDR_LEN + PL_FRAME_MAX_PAYLOAD + chunk)
			abort();
	}
	pl_frame_reader_free(&r);
	return 0;
}
