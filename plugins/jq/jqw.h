/*
 * jqw.h - the jq worker's internals shared by its files: value conversion
 * between jansson and libjq (convert.c) and compiled programs with their
 * cache (program.c). Not part of any public face.
 */
#ifndef AH_JQW_H
#define AH_JQW_H

#include <jansson.h>
#include <jq.h>
#include <stdbool.h>
#include <stddef.h>

/* Out of memory anywhere in the worker: libjq's state may be half-built,
 * so the process leaves with JQ_WORKER_EXIT_NO_MEMORY (protocol.h). */
_Noreturn void jqw_no_memory(void);

/* ---- convert.c ---- */

/* A new jv for v (borrowed). Its depth is bounded by the parser that made
 * v (jansson refuses more than 2048 levels). */
jv jqw_from_json(const json_t *v);

/* What one evaluation may still emit. */
typedef struct jqw_budget {
    size_t bytes_left; /* compact JSON bytes, numbers counted at most 24 */
    char why[160];     /* set when a conversion is refused */
} jqw_budget;

/* A new json_t for x (consumed), its size charged to b; NULL with b->why
 * when it exceeds b or is nested deeper than JQ_MAX_OUTPUT_DEPTH. NaN
 * becomes null and infinities the largest finite doubles, as jq prints. */
json_t *jqw_to_json(jv x, jqw_budget *b);

/* A JSON string of the n bytes at s; every byte that is not valid UTF-8
 * (as jansson checks it) becomes U+FFFD, so the answer is always a valid
 * message. libjq 1.6 repairs its strings itself as far as known: this is
 * the last line. */
json_t *jqw_json_string(const char *s, size_t n);

/* jq's message of an invalid value (consumed) as text, into buf. */
void jqw_error_text(jv invalid, char *buf, size_t len);

/* ---- program.c ---- */

typedef struct jqw_cache jqw_cache;
typedef struct jqw_program jqw_program;

/* An LRU of compiled programs keyed by their text and variable names, at
 * most `entries` (each a jq_state, about 20 KiB). NULL without memory. */
jqw_cache *jqw_cache_new(size_t entries);
void jqw_cache_free(jqw_cache *c);

/* The compiled program for text with the variables named in names (an
 * array of strings, borrowed; NULL for none): from the cache, or compiled
 * now and cached (compile errors too). Never NULL; borrowed until the
 * next call. */
jqw_program *jqw_cache_get(jqw_cache *c, const char *text, const json_t *names);

/* Forget p (and free it): a program that halted must not run again,
 * since jq 1.6's jq_start frees a halted state's exit code and message
 * without forgetting them, and its teardown frees them again. */
void jqw_cache_drop(jqw_cache *c, jqw_program *p);

/* NULL when it compiled, else jq's compile message. */
const char *jqw_program_error(const jqw_program *p);
/* The compiled state; NULL when it did not compile. */
jq_state *jqw_program_state(jqw_program *p);
/* How many programs the cache holds and how many lookups it answered. */
size_t jqw_cache_size(const jqw_cache *c);
unsigned long long jqw_cache_hits(const jqw_cache *c);

#endif
