/* SPDX-License-Identifier: Apache-2.0 */
#include "docker/build/ignore.h"
#include "common/cleanup.h"

#include <ctype.h>
#include <string.h>

/* Lexically cleans p in place as Go's filepath.Clean does for relative paths (no leading
 * '/', "." and empty components dropped, ".." resolved when possible). */
static void clean(char *p)
{
	char *out = p;
	const char *s = p;
	while (*s == '/')
		s++;
	char *w = out;
	while (*s) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 0 || (n == 1 && s[0] == '.')) {
			/* skip */
		} else if (n == 2 && s[0] == '.' && s[1] == '.' && w > out) {
			char *slash = w - 1;
			while (slash > out && *slash != '/')
				slash--;
			w = slash;
		} else {
			if (w > out)
				*w++ = '/';
			memmove(w, s, n);
			w += n;
		}
		s += n;
		while (*s == '/')
			s++;
	}
	*w = '\0';
	if (!*out)
		strcpy(out, ".");
}

void di_parse(const char *text, size_t len, di_rules_t *out)
{
	memset(out, 0, sizeof(*out));
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char *line = pl_xasprintf("%.*s", (int)ll, p);
		p = nl ? nl + 1 : end;
		char *s = line;
		size_t n = strlen(s);
		while (n && isspace((unsigned char)s[n - 1]))
			s[--n] = '\0';
		while (isspace((unsigned char)*s))
			s++;
		if (!*s || *s == '#') {
			free(line);
			continue;
		}
		bool neg = false;
		if (*s == '!') {
			neg = true;
			s++;
			while (isspace((unsigned char)*s))
				s++;
		}
		clean(s);
		out->pats = pl_xrealloc(out->pats, (out->n + 1) * sizeof(*out->pats));
		out->neg = pl_xrealloc(out->neg, (out->n + 1) * sizeof(*out->neg));
		out->pats[out->n] = pl_xstrdup(s);
		out->neg[out->n] = neg;
		out->n++;
		free(line);
	}
}

void di_clear(di_rules_t *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->pats[i]);
	free(r->pats);
	free(r->neg);
	memset(r, 0, sizeof(*r));
}

/* [class] at p (just past '['): *matched for c; returns the pattern past ']' or NULL. */
static const char *match_class(const char *p, char c, bool *matched)
{
	bool negate = false;
	if (*p == '!' || *p == '^') {
		negate = true;
		p++;
	}
	bool hit = false, first = true;
	while (*p && (*p != ']' || first)) {
		first = false;
		char lo = *p;
		if (lo == '\\' && p[1])
			lo = *++p;
		p++;
		char hi = lo;
		if (*p == '-' && p[1] && p[1] != ']') {
			hi = p[1];
			if (hi == '\\' && p[2]) {
				hi = p[2];
				p++;
			}
			p += 2;
		}
		if (c >= lo && c <= hi)
			hit = true;
	}
	if (*p != ']')
		return NULL;
	*matched = hit != negate && c != '/';
	return p + 1;
}

static bool match(const char *p, const char *s)
{
	while (*p) {
		if (p[0] == '*' && p[1] == '*') {
			while (*p == '*')
				p++;
			if (!*p)
				return true; /* "**" at the end: everything below */
			if (*p == '/') {
				/* "**" + "/": zero or more whole directories */
				const char *rest = p + 1;
				if (match(rest, s))
					return true;
				for (const char *q = s; *q; q++)
					if (*q == '/' && match(rest, q + 1))
						return true;
				return false;
			}
			for (const char *q = s;; q++) {
				if (match(p, q))
					return true;
				if (!*q)
					return false;
			}
		}
		switch (*p) {
		case '*':
			p++;
			for (const char *q = s;; q++) {
				if (match(p, q))
					return true;
				if (!*q || *q == '/')
					return false;
			}
		case '?':
			if (!*s || *s == '/')
				return false;
			p++;
			s++;
			break;
		case '[': {
			if (!*s)
				return false;
			bool m = false;
			const char *np = match_class(p + 1, *s, &m);
			if (!np || !m)
				return false;
			p = np;
			s++;
			break;
		}
		case '\\':
			if (p[1])
				p++;
			if (*p != *s)
				return false;
			p++;
			s++;
			break;
		default:
			if (*p != *s)
				return false;
			p++;
			s++;
			break;
		}
	}
	return !*s;
}

bool di_match(const char *pattern, const char *path)
{
	return match(pattern, path);
}

static bool matches_or_parent(const char *pat, const char *path)
{
	if (match(pat, path))
		return true;
	char *buf = pl_xstrdup(path);
	bool hit = false;
	for (char *q = strrchr(buf, '/'); q && !hit; q = strrchr(buf, '/')) {
		*q = '\0';
		hit = match(pat, buf);
	}
	free(buf);
	return hit;
}

bool di_excluded(const di_rules_t *r, const char *relpath)
{
	bool excluded = false;
	for (size_t i = 0; i < r->n; i++) {
		if (excluded == !r->neg[i])
			continue; /* this pattern could not change the verdict */
		if (matches_or_parent(r->pats[i], relpath))
			excluded = !r->neg[i];
	}
	return excluded;
}
