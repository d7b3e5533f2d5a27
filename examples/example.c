/* SPDX-License-Identifier: Apache-2.0 */
/* A complete integration with libportlayer-client: create a container, start it, wait for
 * it to exit, print its logs, remove it. Build it against the installed library with
 *
 *     cc example.c $(pkg-config --cflags --libs portlayer-client) -o example
 *
 * and run it as a member of the socket's group (or root):
 *
 *     ./example [-H unix:///run/portlayer/portlayer.sock] ROOTFS-DIR|IMAGE CMD [ARG...]
 *
 * The exit status is the container's. Every call returns < 0 (or NULL) on failure and fills
 * a pl_error_t whose msg is the daemon's message with context. */
#include <portlayer-client.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(pl_error_t *err, const char *what)
{
	fprintf(stderr, "example: %s: %s\n", what, err ? err->msg : "failed");
	pl_error_free(err);
	return 125;
}

/* The log stream is Docker's framing: stdout and stderr frames, demultiplexed here. */
static int write_frame(int stream, const char *data, size_t len, void *userdata)
{
	FILE *out = stream == PL_STREAM_STDERR ? stderr : stdout;
	return fwrite(data, 1, len, out) == len ? 0 : -5;
}

int main(int argc, char **argv)
{
	const char *host = NULL;
	int i = 1;
	if (argc > 2 && strcmp(argv[1], "-H") == 0) {
		host = argv[2];
		i = 3;
	}
	if (argc - i < 2) {
		fprintf(stderr, "usage: example [-H unix:///PATH] ROOTFS-DIR|IMAGE CMD [ARG...]\n");
		return 2;
	}
	pl_error_t *err = NULL;
	pl_client_t *c = pl_client_new(host, &err);
	if (!c)
		return fail(err, "connect");

	/* create: a host directory is a rootfs, anything else an image reference */
	json_t *args = json_array();
	for (int k = i + 1; k < argc; k++)
		json_array_append_new(args, json_string(argv[k]));
	json_t *body = json_pack("{s:s, s:{s:o}}", argv[i][0] == '/' ? "rootfs" : "image",
				 argv[i], "process", "args", args);
	json_t *created = NULL;
	int r = pl_client_request(c, "POST", "/containers", body, NULL, &created, &err);
	json_decref(body);
	if (r < 0)
		return fail(err, "create");
	char *id = strdup(json_string_value(json_object_get(created, "id")));
	json_decref(created);
	char *esc = pl_client_escape(c, id);
	char path[512];

	/* start, then wait for the exit */
	snprintf(path, sizeof(path), "/containers/%s/start", esc);
	if (pl_client_request(c, "POST", path, NULL, NULL, NULL, &err) < 0)
		return fail(err, "start");
	json_t *waited = NULL;
	snprintf(path, sizeof(path), "/containers/%s/wait", esc);
	if (pl_client_request(c, "POST", path, NULL, NULL, &waited, &err) < 0)
		return fail(err, "wait");
	int status = (int)json_integer_value(json_object_get(waited, "exit_code"));
	json_decref(waited);

	/* logs: everything it wrote, stdout and stderr */
	pl_demux_t demux;
	pl_demux_init(&demux, write_frame, NULL);
	snprintf(path, sizeof(path), "/containers/%s/logs?stdout=1&stderr=1", esc);
	if (pl_client_stream(c, path, pl_demux_feed_cb, &demux, &err) < 0)
		return fail(err, "logs");
	fflush(stdout);

	/* remove */
	snprintf(path, sizeof(path), "/containers/%s", esc);
	if (pl_client_request(c, "DELETE", path, NULL, NULL, NULL, &err) < 0)
		return fail(err, "remove");
	fprintf(stderr, "container %.12s exited with %d\n", id, status);
	free(esc);
	free(id);
	pl_client_free(c);
	return status;
}
