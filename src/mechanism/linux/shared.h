/* SPDX-License-Identifier: Apache-2.0 */
/* What a linux domain takes from outside itself: namespaces shared with the host or with
 * another domain (pods) and host devices passed through with their cgroup rules. */
#pragma once

#include <stdint.h>
#include "common/error.h"
#include "mechanism/mechanism.h"

/* The CLONE_NEW* flags the domain must not make because it shares them. */
uint64_t pl_linux_shared_ns(const pl_domain_spec_t *spec);
/* Writes the domain's device rules (Docker's default set plus its devices with their
 * permissions; everything when privileged) into its cgroup. */
int pl_linux_devices_apply(const pl_domain_spec_t *spec, pl_error_t **err);
/* The mechanism's net_connect and net_disconnect (netlive.c). */
int pl_linux_net_connect(const pl_mechanism_t *m, const pl_domain_t *dom,
			 const pl_domain_endpoint_t *ep, pl_error_t **err);
int pl_linux_net_disconnect(const pl_mechanism_t *m, const pl_domain_t *dom,
			    const pl_domain_endpoint_t *ep, pl_error_t **err);
/* The mechanism's teardown_handle (teardown.c): the domain's mount namespace. */
int pl_linux_teardown_handle(const pl_mechanism_t *m, const pl_domain_t *dom);
