/* SPDX-License-Identifier: Apache-2.0 */
/* The harness of the container core's unit tests: a core opened over a temporary root with
 * the fake mechanism (fake_mechanism.h) in a network namespace of each test's own, the
 * events it emits collected, and the loop run until a condition holds, with a deadline. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include "common/loop.h"
#include "fake/fake_mechanism.h"
#include "portlayer/container.h"

#define DEADLINE_MS 20000

typedef struct env {
	char root[64], run[80];
	pl_loop_t *loop;
	pl_portlayer_t *pl;
	const pl_mechanism_t *mechs[3];
	json_t *events; /* actions seen, in order */
} env_t;

/* cmocka's setup and teardown: a fresh core over a fresh root; everything gone after. */
int setup(void **state);
int teardown(void **state);
/* Opens the core over e's root (recovery runs); reopen closes it first. */
void open_core(env_t *e);
void reopen(env_t *e);

typedef bool (*cond_fn)(env_t *e, void *arg);
/* Runs the loop until fn holds; fails the test at the deadline, naming what. */
void run_until(env_t *e, cond_fn fn, void *arg, const char *what);
/* arg: const char *[2] {id, status name} */
bool status_is(env_t *e, void *arg);
void wait_status(env_t *e, const char *id, const char *status);
/* arg: the id: the container no longer exists */
bool gone(env_t *e, void *arg);

/* A container running the fake's script args_json (a JSON array), extra appended to the
 * create body ("", or ", \"key\": value"). */
pl_container_t *create(env_t *e, const char *args_json, const char *extra);
char *id_of(pl_container_t *c);
void start(env_t *e, pl_container_t *c);
int exit_code(env_t *e, const char *id);
/* Whether an event with this action was emitted. */
bool saw(env_t *e, const char *action);
