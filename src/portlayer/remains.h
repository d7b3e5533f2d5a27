/* SPDX-License-Identifier: Apache-2.0 */
/* A domain's remains: once tether has reported the container's exit (EXITED), the
 * container is settled at once (stopped, state written, waits answered) while its domain
 * still tears down (the pid namespace's last processes, the mount namespace, for some ms).
 * The remains hold tether's pidfd until that is over, then reap it and have the mechanism
 * release the domain (cgroups). A new start of the same container finishes them first; a
 * removed container's remains outlive its record; a daemon that dies first leaves only
 * empty cgroups, which recovery releases (pl_recovery_run). */
#pragma once

#include <stdbool.h>

struct pl_container;
/* Takes the domain's pidfd from c (c->dom.pidfd becomes -1) and watches it. false when the
 * remains cannot be watched: the caller settles the ordinary way. */
bool pl_remains_take(struct pl_container *c);
/* Waits (bounded) until c's remains are gone and releases them; nothing when there are none. */
void pl_remains_finish(struct pl_container *c);
/* c's record goes: its remains, if any, finish on their own. */
void pl_remains_detach(struct pl_container *c);
/* At shutdown: every remains finished (a stopped daemon leaves no cgroup behind). */
void pl_remains_finish_all(void);
