/* plctl commands over a container's filesystem: export, diff, cp, commit. Each takes the
 * command's argv (argv[0] is the command name) and returns plctl's exit code. */
#pragma once

#include "client/client.h"

int pl_cli_export(pl_client_t *c, int argc, char **argv);
int pl_cli_diff(pl_client_t *c, int argc, char **argv);
int pl_cli_cp(pl_client_t *c, int argc, char **argv);
int pl_cli_commit(pl_client_t *c, int argc, char **argv);
int pl_cli_image_push(pl_client_t *c, int argc, char **argv);
int pl_cli_image_pull(pl_client_t *c, int argc, char **argv);
int pl_cli_image_save(pl_client_t *c, int argc, char **argv);
