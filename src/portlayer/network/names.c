/* SPDX-License-Identifier: Apache-2.0 */
/* The name service of bridge scopes: one DNS responder (dns.c) per scope on its gateway,
 * port 53, while the scope exists. It answers for the containers running on that scope (by
 * name, 12-character short id, full id and aliases, and the reverse) and forwards the rest
 * to the host's resolvers (an internal scope forwards nothing). */
#include "portlayer/network/scope.h"
#include "portlayer/network/dns.h"
#include "portlayer/container.h"
#include "common/log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The running containers on s answer to their name, 12-character short id, full id and
 * aliases (names arrive lowercased); others are forwarded upstream. */
static bool answers_to(const pl_container_t *c, const json_t *ep, const char *name)
{
	if (!strncmp(pl_container_id(c), name, strlen(name)) &&
	    (strlen(name) == 12 || strlen(name) == PL_ID_LEN))
		return true;
	if (pl_container_config(c)->name && !strcasecmp(pl_container_config(c)->name, name))
		return true;
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(ep, "aliases"), i,
			   a) if (!strcasecmp(json_string_value(a), name)) return true;
	return false;
}

/* The running container whose endpoint on s has address a, or NULL. */
static const pl_container_t *endpoint_owner(const pl_scope_t *s, uint32_t a)
{
	for (pl_container_t *c = pl_container_first(s->net->pl); c; c = pl_container_next(c)) {
		if (!pl_container_is_running(c))
			continue;
		size_t i;
		json_t *e;
		json_array_foreach(pl_container_config(c)->networks, i, e)
		{
			if (!strcmp(json_string_value(json_object_get(e, "scope")), s->name) &&
			    pl_endpoint_ip(e) == a)
				return c;
		}
	}
	return NULL;
}

/* Whether the asker (a container, or NULL: only s) can see scope name. */
static bool visible(const pl_scope_t *s, const pl_container_t *asker, const char *scope)
{
	if (!strcmp(scope, s->name))
		return true;
	if (!asker)
		return false;
	size_t i;
	json_t *e;
	json_array_foreach(pl_container_config(asker)->networks, i, e)
	{
		if (!strcmp(json_string_value(json_object_get(e, "scope")), scope))
			return true;
	}
	return false;
}

/* As Docker's embedded server: a container resolves the containers of every scope it is on,
 * whichever of its scopes' responders it asks (its resolv.conf lists them all, and a resolver
 * takes the first answer); the address given is the one on the shared scope. */
static int dns_lookup(void *ctx, const char *name, struct in_addr *out, int max)
{
	pl_scope_t *s = ctx;
	const pl_container_t *asker = endpoint_owner(s, ntohl(pl_dns_asker(s->dns).s_addr));
	int n = 0;
	for (pl_container_t *c = pl_container_first(s->net->pl); c && n < max;
	     c = pl_container_next(c)) {
		if (!pl_container_is_running(c))
			continue;
		size_t i;
		json_t *e;
		json_array_foreach(pl_container_config(c)->networks, i, e)
		{
			if (visible(s, asker, json_string_value(json_object_get(e, "scope"))) &&
			    answers_to(c, e, name) && n < max)
				out[n++].s_addr = htonl(pl_endpoint_ip(e));
		}
	}
	return n;
}

static int dns_reverse(void *ctx, struct in_addr addr, char *name, size_t cap)
{
	pl_scope_t *s = ctx;
	const pl_container_t *c = endpoint_owner(s, ntohl(addr.s_addr));
	if (!c)
		return 0;
	snprintf(name, cap, "%s",
		 pl_container_config(c)->name ? pl_container_config(c)->name : pl_container_id(c));
	for (char *p = name; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return 1;
}

void pl_scope_dns_start(pl_network_t *n, pl_scope_t *s)
{
	if (s->external || s->dns)
		return;
	s->net = n;
	pl_error_t *e = NULL;
	struct in_addr listen = {.s_addr = htonl(s->gateway)};
	/* an internal scope answers its own names only: nothing is forwarded out */
	s->dns = pl_dns_start(n->loop, listen, 53, s->internal ? NULL : "/etc/resolv.conf",
			      dns_lookup, s, &e);
	if (!s->dns) {
		pl_log_warn("network %s: name server on %s:53: %s", s->name,
			    pl_ipam_format(s->gateway, (char[16]){0}), e->msg);
		pl_error_free(e);
		return;
	}
	pl_dns_set_reverse(s->dns, dns_reverse, s);
	/* it listens on a host address: only the scope's own containers get answers (not an
	 * open resolver for other scopes or whatever else reaches the host) */
	pl_dns_set_client_subnet(s->dns, (struct in_addr){.s_addr = htonl(s->subnet)}, (int)s->len);
}

void pl_scope_dns_stop(pl_scope_t *s)
{
	s->dns = pl_dns_stop(s->dns);
}
