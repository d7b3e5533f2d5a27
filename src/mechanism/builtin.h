/* SPDX-License-Identifier: Apache-2.0 */
/* The mechanisms compiled in, as the daemon opens them: each one's settings are passed to
 * its init here, never set beforehand (mechanism/linux.h, mechanism/vm.h). */
#pragma once

#include "common/error.h"
#include "mechanism/linux.h"
#include "mechanism/mechanism.h"
#include "mechanism/vm.h"

typedef struct pl_mechanisms_options {
	const char *tether_path; /* the agent binary to run */
	pl_linux_options_t linux_mech;
	pl_vm_options_t vm;
} pl_mechanisms_options_t;
/* Initialises every compiled-in mechanism with its options (one that cannot work here
 * reports itself unavailable; an error is a bad setting or a broken host). */
int pl_mechanisms_init(const pl_mechanisms_options_t *o, pl_error_t **err);
/* The mechanisms compiled in (available or not), NULL-terminated, once initialised. */
const pl_mechanism_t *const *pl_mechanisms_builtin(void);
