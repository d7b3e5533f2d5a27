/* SPDX-License-Identifier: Apache-2.0 */
#include "docker/build/dockerfile.h"
#include "common/cleanup.h"

#include <ctype.h>
#include <jansson.h>
#include <string.h>

typedef struct sb {
	char *s;
	size_t len, cap;
} sb_t;

static void sb_putn(sb_t *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2 + 16;
		b->s = pl_xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_putc(sb_t *b, char c)
{
	sb_putn(b, &c, 1);
}

static char *sb_take(sb_t *b)
{
	b->len = b->cap = 0;
	if (!b->s)
		return pl_xstrdup("");
	return TAKE_PTR(b->s);
}

static void strv_push(char ***v, size_t *n, char *s)
{
	*v = pl_xrealloc(*v, (*n + 2) * sizeof(**v));
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
}

void df_strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

size_t df_strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

char **df_json_array(const char *text)
{
	json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
	if (!json_is_array(j)) {
		if (j)
			json_decref(j);
		return NULL;
	}
	char **v = NULL;
	size_t n = 0;
	size_t i;
	json_t *x;
	json_array_foreach(j, i, x)
	{
		if (!json_is_string(x)) {
			df_strv_free(v);
			json_decref(j);
			return NULL;
		}
		strv_push(&v, &n, pl_xstrdup(json_string_value(x)));
	}
	json_decref(j);
	if (!v) {
		v = pl_xcalloc(1, sizeof(*v));
	}
	return v;
}

void df_instr_clear(df_instr_t *i)
{
	free(i->cmd);
	free(i->original);
	df_strv_free(i->flags);
	free(i->rest);
	df_strv_free(i->argv);
	memset(i, 0, sizeof(*i));
}

void df_file_clear(df_file_t *f)
{
	for (size_t i = 0; i < f->n; i++)
		df_instr_clear(&f->v[i]);
	free(f->v);
	f->v = NULL;
	f->n = 0;
}

const char *df_flag(const df_instr_t *i, const char *name)
{
	size_t n = strlen(name);
	for (char **f = i->flags; f && *f; f++) {
		if (strncmp(*f + 2, name, n))
			continue;
		if ((*f)[2 + n] == '=')
			return *f + 3 + n;
		if ((*f)[2 + n] == '\0')
			return *f + 2 + n;
	}
	return NULL;
}

int df_check_flags(const df_instr_t *i, const char *const *allowed, pl_error_t **err)
{
	for (char **f = i->flags; f && *f; f++) {
		size_t n = strcspn(*f + 2, "=");
		bool ok = false;
		for (const char *const *a = allowed; a && *a; a++)
			if (strlen(*a) == n && !strncmp(*a, *f + 2, n))
				ok = true;
		if (!ok)
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "Dockerfile line %d: unknown flag: %.*s", i->line,
					    (int)n, *f + 2);
	}
	return 0;
}

static bool has_heredoc(const char *rest)
{
	/* "<<EOF" or "<<-EOF" (a word right after), which BuildKit reads as a heredoc */
	for (const char *p = strstr(rest, "<<"); p; p = strstr(p + 2, "<<")) {
		const char *q = p + 2;
		if (*q == '-')
			q++;
		if (*q == '"' || *q == '\'')
			q++;
		if (isalpha((unsigned char)*q) || *q == '_')
			return true;
	}
	return false;
}

int df_parse_line(const char *line, char escape, int lineno, df_instr_t *out, pl_error_t **err)
{
	memset(out, 0, sizeof(*out));
	out->line = lineno;
	while (isspace((unsigned char)*line))
		line++;
	size_t clen = strcspn(line, " \t");
	out->cmd = pl_xasprintf("%.*s", (int)clen, line);
	for (char *c = out->cmd; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	out->original = pl_xstrdup(line);
	const char *p = line + clen;
	size_t nflags = 0;
	bool takes_flags = !strcmp(out->cmd, "from") || !strcmp(out->cmd, "copy") ||
			   !strcmp(out->cmd, "add") || !strcmp(out->cmd, "run") ||
			   !strcmp(out->cmd, "healthcheck");
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!takes_flags || strncmp(p, "--", 2) || p[2] == '\0' || p[2] == ' ')
			break;
		size_t n = strcspn(p, " \t");
		strv_push(&out->flags, &nflags, pl_xasprintf("%.*s", (int)n, p));
		p += n;
	}
	out->rest = pl_xstrdup(p);
	size_t rl = strlen(out->rest);
	while (rl && isspace((unsigned char)out->rest[rl - 1]))
		out->rest[--rl] = '\0';
	static const char *const known[] = {
	    "from",   "run",	 "cmd",		"entrypoint", "env",  "arg", "label",
	    "expose", "volume",	 "user",	"workdir",    "copy", "add", "stopsignal",
	    "shell",  "onbuild", "healthcheck", "maintainer", NULL};
	bool ok = false;
	for (const char *const *k = known; *k; k++)
		if (!strcmp(*k, out->cmd))
			ok = true;
	if (!ok) {
		pl_error_set(err, PL_ERR_INVALID, 0,
			     "Dockerfile parse error line %d: unknown instruction: %s", lineno,
			     out->original);
		df_instr_clear(out);
		return -1;
	}
	if ((!strcmp(out->cmd, "run") || !strcmp(out->cmd, "copy") || !strcmp(out->cmd, "add")) &&
	    has_heredoc(out->rest)) {
		pl_error_set(
		    err, PL_ERR_INVALID, 0,
		    "Dockerfile line %d: heredocs (<<EOF) are not supported by the classic "
		    "builder",
		    lineno);
		df_instr_clear(out);
		return -1;
	}
	static const char *const jsonable[] = {"run", "cmd",	"entrypoint", "copy",
					       "add", "volume", "shell",      NULL};
	for (const char *const *k = jsonable; *k; k++) {
		if (strcmp(*k, out->cmd) || out->rest[0] != '[')
			continue;
		out->argv = df_json_array(out->rest);
		out->json = out->argv != NULL;
	}
	if (!out->rest[0] && strcmp(out->cmd, "cmd") && strcmp(out->cmd, "entrypoint")) {
		pl_error_set(err, PL_ERR_INVALID, 0,
			     "Dockerfile parse error line %d: %s requires at least one argument",
			     lineno, out->cmd);
		df_instr_clear(out);
		return -1;
	}
	return 0;
}

/* A line holding only a parser directive ("# escape=`"): its name and value. */
static bool directive(const char *line, size_t len, char *name, size_t nsz, char *val, size_t vsz)
{
	const char *p = line, *end = line + len;
	if (p >= end || *p != '#')
		return false;
	p++;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	const char *n0 = p;
	while (p < end && (isalnum((unsigned char)*p) || *p == '_'))
		p++;
	size_t nl = (size_t)(p - n0);
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (!nl || p >= end || *p != '=' || nl >= nsz)
		return false;
	p++;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	const char *v0 = p;
	while (end > v0 && isspace((unsigned char)end[-1]))
		end--;
	if ((size_t)(end - v0) >= vsz)
		return false;
	memcpy(name, n0, nl);
	name[nl] = '\0';
	for (char *c = name; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	memcpy(val, v0, (size_t)(end - v0));
	val[end - v0] = '\0';
	return true;
}

int df_parse(const char *text, size_t len, df_file_t *out, pl_error_t **err)
{
	memset(out, 0, sizeof(*out));
	out->escape = '\\';
	size_t cap = 0;
	bool directives = true, seen_escape = false;
	sb_t cur = {0};
	int start_line = 0, lineno = 0;
	const char *p = text, *end = text + len;
	if (end - p >= 3 && !memcmp(p, "\xef\xbb\xbf", 3))
		p += 3; /* a UTF-8 byte order mark */
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *line = p;
		p = nl ? nl + 1 : end;
		lineno++;
		if (ll && line[ll - 1] == '\r')
			ll--;
		if (directives) {
			char name[32], val[256];
			if (directive(line, ll, name, sizeof(name), val, sizeof(val))) {
				if (!strcmp(name, "escape")) {
					if (seen_escape) {
						pl_error_set(err, PL_ERR_INVALID, 0,
							     "only one escape parser directive can "
							     "be used");
						goto fail;
					}
					seen_escape = true;
					if (strcmp(val, "\\") && strcmp(val, "`")) {
						pl_error_set(err, PL_ERR_INVALID, 0,
							     "invalid ESCAPE '%s'. Must be ` or \\",
							     val);
						goto fail;
					}
					out->escape = val[0];
				}
				/* "syntax" and unknown directives pick a frontend in BuildKit:
				 * the classic builder ignores them */
				continue;
			}
			directives = false;
		}
		const char *s = line, *e = line + ll;
		while (s < e && isspace((unsigned char)*s))
			s++;
		if (s < e && *s == '#')
			continue; /* a comment, also inside a continuation */
		if (s == e) {
			continue; /* empty lines, also inside a continuation */
		}
		/* as Docker: a continuation line keeps its leading blanks, and only the escape
		 * character (and blanks after it) goes from a continued line's end */
		if (cur.len)
			s = line;
		const char *t = e;
		while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		bool cont = t > s && t[-1] == out->escape;
		if (cont)
			e = t - 1;
		if (!cur.len)
			start_line = lineno;
		sb_putn(&cur, s, (size_t)(e - s));
		if (cont)
			continue;
		if (out->n == cap) {
			cap = cap ? cap * 2 : 16;
			out->v = pl_xrealloc(out->v, cap * sizeof(*out->v));
		}
		int r = df_parse_line(cur.s, out->escape, start_line, &out->v[out->n], err);
		cur.len = 0;
		if (r < 0)
			goto fail;
		out->n++;
	}
	if (cur.len) { /* a continuation at the end of the file */
		if (out->n == cap)
			out->v = pl_xrealloc(out->v, (cap + 1) * sizeof(*out->v));
		if (df_parse_line(cur.s, out->escape, start_line, &out->v[out->n], err) < 0)
			goto fail;
		out->n++;
	}
	free(cur.s);
	if (!out->n) {
		pl_error_set(err, PL_ERR_INVALID, 0, "the Dockerfile (Dockerfile) cannot be empty");
		df_file_clear(out);
		return -1;
	}
	return 0;
fail:
	free(cur.s);
	df_file_clear(out);
	return -1;
}

/* ---- expansion ---- */

typedef struct lex {
	const char *p;
	char esc;
	df_lookup_fn fn;
	void *ud;
	pl_error_t **err;
	bool failed;
} lex_t;

static void expand_until(lex_t *l, sb_t *out, const char *stops, bool in_dquote);

static bool is_name(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

static void expand_var(lex_t *l, sb_t *out)
{
	/* l->p is just past '$' */
	char name[256];
	size_t n = 0;
	if (*l->p == '{') {
		l->p++;
		while (is_name(*l->p) && n < sizeof(name) - 1)
			name[n++] = *l->p++;
		name[n] = '\0';
		const char *val = l->fn(name, l->ud);
		if (*l->p == '}') {
			l->p++;
			if (val)
				sb_putn(out, val, strlen(val));
			return;
		}
		bool colon = false;
		if (*l->p == ':') {
			colon = true;
			l->p++;
		}
		char op = *l->p;
		if (op != '-' && op != '+' && op != '?') {
			pl_error_set(l->err, PL_ERR_INVALID, 0,
				     "unsupported modifier (%c) in substitution", op ? op : ' ');
			l->failed = true;
			return;
		}
		l->p++;
		sb_t word = {0};
		expand_until(l, &word, "}", false);
		if (*l->p != '}') {
			pl_error_set(l->err, PL_ERR_INVALID, 0, "missing '}' in substitution");
			l->failed = true;
			free(word.s);
			return;
		}
		l->p++;
		bool set = val && (!colon || *val);
		const char *w = word.s ? word.s : "";
		switch (op) {
		case '-':
			if (set)
				sb_putn(out, val, strlen(val));
			else
				sb_putn(out, w, strlen(w));
			break;
		case '+':
			if (set)
				sb_putn(out, w, strlen(w));
			break;
		default: /* '?' */
			if (set) {
				sb_putn(out, val, strlen(val));
			} else {
				pl_error_set(l->err, PL_ERR_INVALID, 0, "%s: %s", name,
					     *w ? w : "is not allowed to be unset");
				l->failed = true;
			}
			break;
		}
		free(word.s);
		return;
	}
	while (is_name(*l->p) && n < sizeof(name) - 1)
		name[n++] = *l->p++;
	name[n] = '\0';
	if (!n) {
		sb_putc(out, '$'); /* a lone dollar */
		return;
	}
	const char *val = l->fn(name, l->ud);
	if (val)
		sb_putn(out, val, strlen(val));
}

static void expand_until(lex_t *l, sb_t *out, const char *stops, bool in_dquote)
{
	while (*l->p && !l->failed) {
		char c = *l->p;
		if (strchr(stops, c))
			return;
		if (c == l->esc) {
			l->p++;
			if (!*l->p)
				return;
			if (in_dquote && !strchr("\"$", *l->p) && *l->p != l->esc)
				sb_putc(out, l->esc); /* "\n" in double quotes stays as it is */
			sb_putc(out, *l->p++);
			continue;
		}
		if (c == '$') {
			l->p++;
			expand_var(l, out);
			continue;
		}
		if (!in_dquote && c == '\'') {
			l->p++;
			while (*l->p && *l->p != '\'')
				sb_putc(out, *l->p++);
			if (*l->p == '\'')
				l->p++;
			continue;
		}
		if (!in_dquote && c == '"') {
			l->p++;
			expand_until(l, out, "\"", true);
			if (*l->p == '"')
				l->p++;
			continue;
		}
		sb_putc(out, c);
		l->p++;
	}
}

char *df_expand(const char *word, char escape, df_lookup_fn fn, void *userdata, pl_error_t **err)
{
	lex_t l = {.p = word, .esc = escape, .fn = fn, .ud = userdata, .err = err};
	sb_t out = {0};
	expand_until(&l, &out, "", false);
	if (l.failed) {
		free(out.s);
		return NULL;
	}
	return sb_take(&out);
}

char **df_split_words(const char *text, char escape)
{
	char **v = pl_xcalloc(1, sizeof(*v));
	size_t n = 0;
	sb_t w = {0};
	bool inword = false;
	char quote = 0;
	for (const char *p = text; *p; p++) {
		char c = *p;
		if (!quote && isspace((unsigned char)c)) {
			if (inword)
				strv_push(&v, &n, sb_take(&w));
			w.len = 0;
			inword = false;
			continue;
		}
		inword = true;
		if (c == escape && p[1] && quote != '\'') {
			sb_putc(&w, c);
			sb_putc(&w, *++p);
			continue;
		}
		if (quote && c == quote)
			quote = 0;
		else if (!quote && (c == '\'' || c == '"'))
			quote = c;
		sb_putc(&w, c);
	}
	if (inword)
		strv_push(&v, &n, sb_take(&w));
	free(w.s);
	return v;
}

char **df_expand_words(const char *text, char escape, df_lookup_fn fn, void *userdata,
		       pl_error_t **err)
{
	char **words = df_split_words(text, escape);
	for (size_t i = 0; words[i]; i++) {
		char *x = df_expand(words[i], escape, fn, userdata, err);
		if (!x) {
			df_strv_free(words);
			return NULL;
		}
		free(words[i]);
		words[i] = x;
	}
	return words;
}

char **df_name_values(const char *rest, const char *what, char escape, df_lookup_fn fn,
		      void *userdata, pl_error_t **err)
{
	char **words = df_split_words(rest, escape);
	char **out = pl_xcalloc(1, sizeof(*out));
	size_t n = 0;
	if (!words[0]) {
		pl_error_set(err, PL_ERR_INVALID, 0, "%s requires at least one argument", what);
		goto fail;
	}
	if (!strchr(words[0], '=')) {
		/* the legacy form "NAME value with spaces": the rest of the line is the value */
		const char *p = rest + strlen(words[0]);
		while (isspace((unsigned char)*p))
			p++;
		if (!*p) {
			pl_error_set(err, PL_ERR_INVALID, 0, "%s must have two arguments", what);
			goto fail;
		}
		char *v = df_expand(p, escape, fn, userdata, err);
		if (!v)
			goto fail;
		strv_push(&out, &n, pl_xstrdup(words[0]));
		strv_push(&out, &n, v);
		df_strv_free(words);
		return out;
	}
	for (size_t i = 0; words[i]; i++) {
		char *eq = strchr(words[i], '=');
		if (!eq || eq == words[i]) {
			pl_error_set(err, PL_ERR_INVALID, 0,
				     "Syntax error - can't find = in \"%s\". Must be of the form: "
				     "name=value",
				     words[i]);
			goto fail;
		}
		*eq = '\0';
		char *k = df_expand(words[i], escape, fn, userdata, err);
		char *v = k ? df_expand(eq + 1, escape, fn, userdata, err) : NULL;
		if (!v) {
			free(k);
			goto fail;
		}
		strv_push(&out, &n, k);
		strv_push(&out, &n, v);
	}
	df_strv_free(words);
	return out;
fail:
	df_strv_free(words);
	df_strv_free(out);
	return NULL;
}
