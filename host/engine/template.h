/*
 * template.h - the texts that scenarios send: literal text with
 * {{ path | filter(args) }} substitutions, {{#if}} and {{#each}} blocks,
 * rendered against a JSON context. The language is described in
 * docs/scenario-format.md, "Templates"; docs/adr/0018-template-engine.md
 * says why it is ours.
 *
 * A template is compiled once (tmpl_compile: every syntax error, unknown
 * filter and bad filter argument is found here, with its position) and
 * rendered many times (tmpl_render: only errors that depend on the data are
 * left, with the position of the tag that met them). A compiled template is
 * immutable: rendering it from several threads at once is safe.
 *
 * Bounds: the source (TMPL_MAX_SOURCE bytes), block nesting
 * (TMPL_MAX_DEPTH), filters in one tag (TMPL_MAX_FILTERS), loop iterations
 * in one render (TMPL_MAX_ITERATIONS), the output and every value a filter
 * makes (tmpl_opts.max_output, TMPL_MAX_OUTPUT unless smaller).
 *
 * Errors are 0 or a negative AH_E* code, with a tmpl_error filled in:
 *   AH_EINVAL     a syntax error, an unknown filter or a bad argument
 *                 (compile); a value of the wrong type for a filter or a
 *                 loop, or a bad time zone in the options (render)
 *   AH_ETOOBIG    a bound above was passed
 *   AH_ENOTFOUND  strict mode: a variable the data does not have
 *   AH_ENOMEM     out of memory
 */
#ifndef AH_TEMPLATE_H
#define AH_TEMPLATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define TMPL_MAX_SOURCE (64 * 1024) /* bytes of template source */
#define TMPL_MAX_DEPTH 16           /* {{#if}} / {{#each}} blocks inside each other */
#define TMPL_MAX_FILTERS 32         /* filters in one tag */
#define TMPL_MAX_ITERATIONS 10000   /* {{#each}} iterations in one render, all loops together */
#define TMPL_MAX_OUTPUT (64 * 1024) /* bytes of output; also each value a filter makes */

typedef struct tmpl tmpl;

/* A place in the template source. offset is in bytes from the start; line
 * and column count from 1, the column in characters (UTF-8 code points).
 * An error with no place (a bad option) has line 0 and column 0. */
typedef struct tmpl_pos {
    size_t offset;
    int line;
    int column;
} tmpl_pos;

typedef struct tmpl_error {
    int code;          /* the AH_E* code the call returned */
    tmpl_pos pos;      /* where in the source */
    char message[256]; /* "unknown filter \"uper\"", "contact.name: not found" */
} tmpl_error;

/* Told once per tag and render, in lenient mode, of a variable the data
 * does not have (it rendered as ""): path as written ("contact.name"). */
typedef void (*tmpl_missing_fn)(void *ud, const char *path, const tmpl_pos *pos);

typedef struct tmpl_opts {
    const char *lang;           /* plural rules and date names: "ru", "en-US"; NULL: "en" */
    const char *tz;             /* for the date filter: "UTC", "+03:00", "-0530"; NULL: UTC */
    size_t max_output;          /* 0 or above TMPL_MAX_OUTPUT: TMPL_MAX_OUTPUT */
    bool strict;                /* a missing variable is an error (AH_ENOTFOUND) */
    tmpl_missing_fn on_missing; /* lenient mode only; may be NULL */
    void *ud;
} tmpl_opts;

/* Compile src[0..len) (UTF-8, no NUL bytes). On success *out is a new
 * template for tmpl_free. Errors: AH_EINVAL, AH_ETOOBIG, AH_ENOMEM, with
 * err (may be NULL) filled in and *out NULL. */
int tmpl_compile(const char *src, size_t len, tmpl **out, tmpl_error *err);

/* Validate a template, as on save: tmpl_compile without keeping it (and
 * its results). */
int tmpl_check(const char *src, size_t len, tmpl_error *err);

void tmpl_free(tmpl *t);

/* Render t against ctx (borrowed; the root object of the paths). opts may
 * be NULL (lenient, English, UTC, TMPL_MAX_OUTPUT). On success *out is a
 * new NUL-terminated string for free() and *len its length; on failure
 * *out is NULL. Errors: AH_EINVAL, AH_ETOOBIG, AH_ENOTFOUND, AH_ENOMEM. */
int tmpl_render(const tmpl *t, const json_t *ctx, const tmpl_opts *opts, char **out, size_t *len,
                tmpl_error *err);

/* Every variable path t reads, in source order, each time it is written:
 * "contact.name"; inside {{#each items}}, "this.title" is told as
 * "items.*.title" and "this" as "items.*" (loop counters such as @index
 * are not told). fn returns 0 to go on, anything else to stop; that value
 * is returned. 0 when every path was told; AH_ENOMEM. */
typedef int (*tmpl_path_fn)(void *ud, const char *path, const tmpl_pos *pos);
int tmpl_paths(const tmpl *t, tmpl_path_fn fn, void *ud);

/* s[0..n) in lower case, as the lower filter changes it (for matching
 * answers without regard to case): a new string for free(), NULL when out
 * of memory. Bad UTF-8 bytes become U+FFFD. */
char *tmpl_fold(const char *s, size_t n);

/* "where:line:column: message" (or "where: message" with no place) into
 * buf, for the errors a scenario check reports ("steps.greet.text.ru"). */
void tmpl_error_format(const tmpl_error *err, const char *where, char *buf, size_t len);

#endif
