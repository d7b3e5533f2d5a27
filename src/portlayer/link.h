/* SPDX-License-Identifier: Apache-2.0 */
/* The write side of a container's link to tether: frames queued on the protocol stream and
 * written as the socket takes them, never blocking the loop (a full socket queues, EPOLLOUT
 * drains). Control frames overtake queued data frames but never split one, so credit and
 * signals never wait behind stdin. The units that talk to tether (container.c's lifecycle,
 * session.c, health.c, netlive.c, pods.c, logrotate.c) send through here; the read side
 * (frames dispatched to them) is container.c's. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pl_container pl_container_t;

/* Sends a control message to tether (steals j); -ENOTCONN when no link. */
int pl_container_send(pl_container_t *c, uint16_t type, json_t *j);
/* Queues one frame on the link. */
int pl_container_send_frame(pl_container_t *c, uint16_t type, uint16_t flags, uint32_t chan,
			    const void *payload, size_t len);
/* Bytes queued for tether and not yet written (stdin backpressure); past 1 MiB writers wait
 * for a change notification. */
size_t pl_container_link_backlog(const pl_container_t *c);
/* A payload-less frame of type with fd passed along (SCM_RIGHTS), ahead of queued frames
 * unless one is half written (then 0: try later). 1 when sent, <0 on a dead link. */
int pl_link_send_fd(pl_container_t *c, uint16_t type, int fd);
/* Whether tether is connected. */
bool pl_link_up(const pl_container_t *c);
/* Whether a frame is half written: a frame with an fd goes ahead of the queue, which it
 * cannot while one is (pl_link_send_fd answers 0: try again shortly). */
bool pl_link_mid_frame(const pl_container_t *c);
/* container.c: writes what the socket takes (on EPOLLOUT), drops the queue (link gone). */
void pl_link_flush(pl_container_t *c);
void pl_link_drop_queue(pl_container_t *c);
