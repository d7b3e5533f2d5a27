/* SPDX-License-Identifier: Apache-2.0 */
/* plctl commands over the engine primitives: top (a container's processes) and kv (the
 * key-value store). Each takes the command's argv (argv[0] is the command name) and returns
 * plctl's exit code. */
#pragma once

#include "client/portlayer-client.h"

int pl_cli_top(pl_client_t *c, int argc, char **argv);
int pl_cli_kv(pl_client_t *c, int argc, char **argv);
