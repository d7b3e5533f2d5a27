/* SPDX-License-Identifier: Apache-2.0 */
/* seccomp filters for the linux mechanism, built with libseccomp in the daemon and handed
 * to tether as a BPF program (tether stays free of libseccomp). The default profile blocks
 * what Docker's blocks for a container with the same capabilities; a custom profile uses
 * the OCI runtime-spec format. Compiled filters are cached by (profile, capabilities). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include "common/error.h"
#include "mechanism/domain.h"

/* The BPF program (struct sock_filter array) for a container's security settings; NULL
 * with *len 0 when unconfined. The buffer is owned by the cache. */
const uint8_t *pl_seccomp_program(const pl_security_t *sec, size_t *len, pl_error_t **err);
/* Adds the compiled filter to tether's CONFIG as "seccomp_bpf" (base64); nothing when the
 * policy is unconfined. 0 or -1. */
int pl_seccomp_tether_config(const pl_security_t *sec, json_t *msg, pl_error_t **err);
/* For a CONFIG: the program as raw bytes under "seccomp_frame" (a JSON string only in the
 * daemon's hands), which the sender moves into a SECCOMP frame of its own ahead of the
 * CONFIG and replaces with its instruction count (link.c): no base64 to encode, dump, parse
 * and decode on a start's critical path (tether-protocol.md). 0 or -1. */
int pl_seccomp_tether_config_frame(const pl_security_t *sec, json_t *msg, pl_error_t **err);
