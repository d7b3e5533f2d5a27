/* SPDX-License-Identifier: Apache-2.0 */
/* User names in the container's own terms: "name", "name:group", "uid:group", resolved
 * against the /etc/passwd and /etc/group of the root tether runs in (after pivot, so they
 * are the container's files, never the host's). Plain file parsing: tether is static, and
 * NSS modules have no place in it. Docker's wording when a name is unknown. */
#include "tether/tether.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A numeric id in [0, 2^32-2], or -1. */
static long long numeric(const char *s)
{
	if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 10)
		return -1;
	long long v = strtoll(s, NULL, 10);
	return v <= 4294967294LL ? v : -1;
}

/* Finds name (or, when by_id >= 0, the id) in an /etc/passwd-like file: fields[0] name,
 * [2] id, [3] primary gid (passwd), [5] home. Returns 1 found, 0 not, -errno. */
static int lookup(const char *file, const char *name, long long by_id, long long *id,
		  long long *gid, char *home, size_t homelen)
{
	FILE *f = fopen(file, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	char *line = NULL;
	size_t cap = 0;
	int found = 0;
	while (!found && getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		char *fields[7] = {0};
		int n = 0;
		for (char *p = line, *c; n < 7; p = c + 1) {
			fields[n++] = p;
			if (!(c = strchr(p, ':')))
				break;
			*c = '\0';
		}
		if (n < 3 || fields[0][0] == '#' || numeric(fields[2]) < 0)
			continue;
		if (by_id >= 0 ? numeric(fields[2]) != by_id : strcmp(fields[0], name) != 0)
			continue;
		found = 1;
		*id = numeric(fields[2]);
		if (gid)
			*gid = n > 3 && numeric(fields[3]) >= 0 ? numeric(fields[3]) : 0;
		if (home)
			snprintf(home, homelen, "%s", n > 5 && fields[5][0] ? fields[5] : "/");
	}
	free(line);
	fclose(f);
	return found;
}

int pl_group_resolve(const char *name, uint32_t *gid, char *msg, size_t msglen)
{
	long long g = numeric(name);
	int r = g >= 0 ? 1 : lookup("/etc/group", name, -1, &g, NULL, NULL, 0);
	if (r <= 0) {
		snprintf(msg, msglen, "unable to find group %s: no matching entries in group file",
			 name);
		return -1;
	}
	*gid = (uint32_t)g;
	return 0;
}

int pl_user_resolve(const char *spec, uint32_t *uid, uint32_t *gid, char *home, size_t homelen,
		    char *msg, size_t msglen)
{
	char user[256], *group = NULL;
	snprintf(user, sizeof(user), "%s", spec);
	char *colon = strchr(user, ':');
	if (colon) {
		*colon = '\0';
		group = colon + 1;
	}
	long long u = numeric(user), g = 0, id;
	snprintf(home, homelen, "/");
	int r = lookup("/etc/passwd", user, u, &id, &g, home, homelen);
	if (r < 0) {
		snprintf(msg, msglen, "unable to read /etc/passwd: %s", strerror(-r));
		return -1;
	}
	if (r == 0 && u < 0) {
		snprintf(msg, msglen, "unable to find user %s: no matching entries in passwd file",
			 user);
		return -1;
	}
	if (r == 0) /* a uid the file does not list: gid 0, as Docker does */
		id = u, g = 0;
	if (group) {
		long long gn = numeric(group);
		r = gn >= 0 ? 1 : lookup("/etc/group", group, -1, &gn, NULL, NULL, 0);
		if (r <= 0) {
			snprintf(msg, msglen,
				 "unable to find group %s: no matching entries in group file",
				 group);
			return -1;
		}
		g = gn;
	}
	*uid = (uint32_t)id;
	*gid = (uint32_t)g;
	return 0;
}
