/* SPDX-License-Identifier: Apache-2.0 */
/* The Dockerfile language as the classic builder reads it: parser directives (# escape,
 * # syntax), comments, line continuations, the instruction/flags/arguments split, exec
 * (JSON) versus shell form, and the shell-like word expansion ($VAR, ${VAR:-d}, ${VAR:+x},
 * quotes, the escape character) Docker applies to the arguments of most instructions.
 * Pure: no I/O. Heredocs are refused (the classic builder has none).
 *
 * Ownership: a df_file_t owns its instructions and every string in them
 * (df_file_clear frees). Expansion results are malloc'd and the caller's. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

typedef struct df_instr {
	char *cmd;	/* lower case: "run", "copy", ... */
	char *original; /* the instruction as written, continuations joined ("RUN a b") */
	char **flags;	/* NULL-terminated "--name=value" (or "--name") as written */
	char *rest;	/* the arguments after the flags, trimmed */
	bool json;	/* rest is an exec-form JSON string array (argv holds it) */
	char **argv;	/* exec form: the array; NULL otherwise */
	int line;	/* 1-based line of the instruction's first line */
} df_instr_t;

typedef struct df_file {
	df_instr_t *v;
	size_t n;
	char escape; /* '\\' or '`' */
} df_file_t;

/* Parses a Dockerfile. Errors name the line. */
int df_parse(const char *text, size_t len, df_file_t *out, pl_error_t **err);
void df_file_clear(df_file_t *f);

/* Parses one instruction line (ONBUILD's trigger); escape as the file's. */
int df_parse_line(const char *line, char escape, int lineno, df_instr_t *out, pl_error_t **err);
void df_instr_clear(df_instr_t *i);

/* The value of a flag ("from" for --from=x), "" for a bare flag, NULL when absent. */
const char *df_flag(const df_instr_t *i, const char *name);
/* Fails naming the first flag not in allowed (NULL-terminated). */
int df_check_flags(const df_instr_t *i, const char *const *allowed, pl_error_t **err);

/* Looks a variable up: its value (borrowed) or NULL when unset. */
typedef const char *(*df_lookup_fn)(const char *name, void *userdata);

/* Expands one word as Docker does: quotes removed (single quotes literal, double quotes
 * expand), the escape character escapes, $VAR ${VAR} ${VAR:-w} ${VAR-w} ${VAR:+w}
 * ${VAR+w} ${VAR:?msg} ${VAR?msg}. */
char *df_expand(const char *word, char escape, df_lookup_fn fn, void *userdata, pl_error_t **err);
/* Splits on unquoted, unescaped whitespace and expands each word (COPY sources, EXPOSE,
 * VOLUME). Returns a NULL-terminated vector (df_strv_free), NULL on error. */
char **df_expand_words(const char *text, char escape, df_lookup_fn fn, void *userdata,
		       pl_error_t **err);
/* Splits text into unexpanded words on unquoted whitespace, quotes kept (ENV/LABEL pairs). */
char **df_split_words(const char *text, char escape);

/* ENV/LABEL arguments as name/value pairs: "k=v k2="v 2"" or the legacy "k v w". Values
 * are expanded. Returns a NULL-terminated vector k0, v0, k1, v1, ... or NULL on error. */
char **df_name_values(const char *rest, const char *what, char escape, df_lookup_fn fn,
		      void *userdata, pl_error_t **err);

/* A JSON string array ("[\"a\", \"b\"]"), or NULL when text is not one. */
char **df_json_array(const char *text);

void df_strv_free(char **v);
size_t df_strv_len(char *const *v);
