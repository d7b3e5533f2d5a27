/* SPDX-License-Identifier: Apache-2.0 */
/* Where the time of a container's start and end goes: a sum and a count per named phase,
 * always on (a clock read and an add per phase), shown on /metrics as
 * portlayer_phase_seconds_total{phase} and portlayer_phase_total{phase} and printed by
 * bench/run-true. Names are string literals: the pointer is kept.
 *
 * Steps that run in a freshly cloned domain before it execs tether (mounts, pivot) cannot
 * report over a socket: they stamp a page shared with the daemon (pl_phase_page_t), which
 * the daemon folds into the sums once tether has said HELLO (or the domain ended). */
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

int64_t pl_phase_now(void);
void pl_phase_add(const char *name, int64_t ns);
/* adds the time since *t and moves *t to now: consecutive steps of one path */
void pl_phase_step(const char *name, int64_t *t);
void pl_phase_render(FILE *f);

#define PL_PHASE_PAGE_MARKS 32
typedef struct pl_phase_page {
	int64_t t0; /* the daemon's clock just before clone */
	int n;
	struct {
		/* a copy (the stamping process may be another binary: tether, for a prepared
		 * domain), NUL-terminated when read */
		char name[40];
		int64_t t;
	} marks[PL_PHASE_PAGE_MARKS];
} pl_phase_page_t;

/* A page shared with a child about to be cloned (NULL when none can be had). */
pl_phase_page_t *pl_phase_page_new(void);
/* In the child: the step ending now. */
void pl_phase_page_mark(pl_phase_page_t *p, const char *name);
/* The daemon hands the page over once the child runs, under the child's pid. */
void pl_phase_page_attach(pid_t pid, pl_phase_page_t *p);
/* Folds the child's steps into the sums and unmaps the page; nothing when none is held. */
void pl_phase_page_collect(pid_t pid);
/* Unmaps a page that was never attached. */
void pl_phase_page_free(pl_phase_page_t *p);
/* The page of the child being cloned: set by the daemon just before clone, so the child's
 * copy of it names the page the child stamps with pl_phase_child_mark. */
extern pl_phase_page_t *pl_phase_child_page;
void pl_phase_child_mark(const char *name);
