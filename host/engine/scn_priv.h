/*
 * scn_priv.h - what the parts of the scenario check share (scenario.c:
 * the whole; scn_schema.c: the schema, every error; scn_steps.c: each
 * step's kind; scn_graph.c: targets, reachability, loops). Not a public
 * header: scenario.h is the module's face.
 */
#ifndef AH_SCN_PRIV_H
#define AH_SCN_PRIV_H

#include "engine/scenario.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define SCN_PATH_MAX 512

typedef struct scn_check {
    const json_t *schema; /* the whole content schema, for "$ref"s */
    const json_t *content;
    const scenario_check_env *env;
    json_t *errors;
    json_t *expressions; /* or NULL */
    json_t *texts;       /* or NULL: every text met, {"path", "text"} */
    json_t *seen;        /* path -> true: one problem per path */
    json_t *declared;    /* variable name -> true: "variables" and set steps' keys */
    json_t *languages;   /* the declared languages (strings) */
    json_t *patterns;    /* the schema's patterns, compiled once a check: text -> index */
    struct scn_regex *regex;
    size_t nregex;
    bool full; /* SCENARIO_MAX_ERRORS reached */
    int rc;    /* AH_ENOMEM once memory ran out */
} scn_check;

/* A problem at path (a printf message). The first one at a path wins. */
void scn_error(scn_check *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A loop at a step: beside any other problem of that step. */
void scn_error_loop(scn_check *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* path + ".key" (or "key" at the root), path + "[i]": into out. */
void scn_path_key(char *out, const char *path, const char *key);
void scn_path_index(char *out, const char *path, size_t i);

/* "\"s\"" for a message, at most about 60 bytes, cut on a character. */
void scn_quote(char *out, size_t n, const char *s);

/* Check v against schema (a part of the content schema), every problem. */
void scn_schema_done(scn_check *c); /* frees the compiled patterns */
void scn_schema_collect(scn_check *c, const json_t *schema, const json_t *v, const char *path);
/* A definition of the content schema ("say", "text"), or NULL. */
const json_t *scn_schema_def(const scn_check *c, const char *name);

/* A text: a template, or an object of language -> template. */
void scn_check_text(scn_check *c, const json_t *text, const char *path);
/* A string that is a template (not checked when it is not a string). */
void scn_check_template(scn_check *c, const json_t *s, const char *path);
/* Every string leaf of v (an HTTP body, a plugin step's args). */
void scn_check_template_leaves(scn_check *c, const json_t *v, const char *path, int depth);
/* A jq program, for the caller (when it is a non-empty string). */
void scn_add_expression(scn_check *c, const json_t *program, const char *path);
/* A variable a step stores into: declared, or an error. */
void scn_check_stored_var(scn_check *c, const json_t *name, const char *path);
/* A set step's key: a variable name or a profile field (contact.phone). */
void scn_check_target_name(scn_check *c, const char *name, const char *path);

/* One step (its kind's schema and rules); id is valid or not. */
void scn_check_step(scn_check *c, const char *id, const json_t *step);
/* Targets, start, reachability and loops over every step. */
void scn_check_graph(scn_check *c);

/* [A-Za-z][A-Za-z0-9_]{0,63} */
bool scn_var_name_ok(const char *s);

/* Whether a step waits for input (a turn ends there). */
bool scn_step_waits(const json_t *step);

#endif
