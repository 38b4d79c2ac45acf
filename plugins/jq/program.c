/*
 * program.c - compiled jq programs and their cache.
 *
 * libjq binds $variables at compile time, and compiling costs milliseconds
 * (jq 1.6 parses its whole builtin library each time), so a program is
 * compiled once with its variables taken from its input at run time: the
 * text given is compiled as
 *
 *   def modulemeta: error(...); def stderr: .; def inputs: empty;
 *   . as [$__ah_in, {$a, $b}] | $__ah_in |
 *   PROGRAM
 *
 * (". as [$__ah_in] | ..." without variables)
 *
 * and run on [input, vars]. The first line shadows the builtins that would
 * touch files (modulemeta: the sandbox forbids it), flood the worker's log
 * (stderr) or wait for inputs an expression does not have (inputs: none;
 * input fails); an import, legal only at a program's start, cannot appear.
 * Messages name PROGRAM's own lines: line N of the whole is line N-1.
 */
#include "jqw.h"
#include "protocol.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX                                                                                     \
    "def modulemeta: error(\"modulemeta: expressions have no modules\"); def stderr: .; "          \
    "def inputs: empty; "                                                                          \
    ". as [$__ah_in"
#define ERROR_MAX 2048
#define LINE_TAG "at <top-level>, line "

struct jqw_program {
    char *key; /* text, NUL, the variable names joined by ',' */
    size_t keylen;
    uint64_t hash;
    jq_state *jq; /* NULL when it did not compile */
    char *error;  /* jq's compile message, or NULL */
    jqw_program *newer, *older, *chain;
};

struct jqw_cache {
    size_t cap, n, nbuckets;
    jqw_program **buckets;
    jqw_program *newest, *oldest;
    unsigned long long hits;
};

static void ignore_message(void *ud, jv msg)
{
    (void)ud;
    jv_free(msg);
}

/* `input` reads the next input; an expression has one: none more. (With no
 * callback at all, libjq 1.6 raises "break" and crashes on it.) */
static jv no_more_inputs(jq_state *jq, void *ud)
{
    (void)jq;
    (void)ud;
    return jv_invalid_with_msg(jv_string("No more inputs"));
}

static void on_no_memory(void *ud)
{
    (void)ud;
    jqw_no_memory();
}

/* ---- compile messages ------------------------------------------------ */

typedef struct messages {
    char text[ERROR_MAX];
    size_t len;
} messages;

/* "... at <top-level>, line N:" names the wrapper's line N: PROGRAM's N-1. */
static void renumber(char *s, size_t cap)
{
    char *at = strstr(s, LINE_TAG);
    if (!at) return;
    char *num = at + strlen(LINE_TAG), *end;
    long line = strtol(num, &end, 10);
    if (end == num || line < 2) return;
    char digits[24], rest[ERROR_MAX];
    snprintf(rest, sizeof(rest), "%s", end);
    snprintf(digits, sizeof(digits), "%ld", line - 1);
    snprintf(num, cap - (size_t)(num - s), "%s%s", digits, rest);
}

static void on_compile_message(void *ud, jv msg)
{
    messages *m = ud;
    if (jv_get_kind(msg) != JV_KIND_STRING) msg = jv_dump_string(msg, 0);
    const char *s = jv_string_value(msg);
    int count;
    char word[16];
    if (sscanf(s, "jq: %d compile %15s", &count, word) == 2) { /* the summary line */
        jv_free(msg);
        return;
    }
    if (!strncmp(s, "jq: error: ", 11)) s += 11;
    char one[ERROR_MAX];
    snprintf(one, sizeof(one), "%s", s);
    size_t n = strlen(one);
    while (n && (one[n - 1] == ' ' || one[n - 1] == '\n'))
        one[--n] = 0;
    renumber(one, sizeof(one));
    if (m->len + 2 < sizeof(m->text))
        m->len += (size_t)snprintf(m->text + m->len, sizeof(m->text) - m->len, "%s%s",
                                   m->len ? "\n" : "", one);
    if (m->len >= sizeof(m->text)) m->len = sizeof(m->text) - 1;
    jv_free(msg);
}

/* ---- compiling ---------------------------------------------------------- */

/* pattern: "$a, $b", or "" for no variables. */
static char *wrapped_text(const char *text, const char *pattern)
{
    size_t n = strlen(PREFIX) + strlen(pattern) + strlen(text) + 32;
    char *w = malloc(n);
    if (!w) jqw_no_memory();
    snprintf(w, n, "%s%s%s%s] | $__ah_in |\n%s", PREFIX, pattern[0] ? ", {" : "", pattern,
             pattern[0] ? "}" : "", text);
    return w;
}

static void compile(jqw_program *p, const char *text, const char *names)
{
    if (!text[strspn(text, " \t\r\n")]) {
        p->error = strdup("the expression is empty");
        if (!p->error) jqw_no_memory();
        return;
    }
    char *w = wrapped_text(text, names);
    jq_state *jq = jq_init();
    if (!jq) jqw_no_memory();
    jq_set_nomem_handler(jq, on_no_memory, NULL);
    jq_set_input_cb(jq, no_more_inputs, NULL);
    /* jq 1.6's jq_init leaves the debug and input callbacks uninitialised:
     * `debug` would call whatever the allocation held. Set both. */
    jq_set_debug_cb(jq, ignore_message, NULL);
    messages m = {.len = 0};
    m.text[0] = 0;
    jq_set_error_cb(jq, on_compile_message, &m);
    int ok = jq_compile_args(jq, w, jv_object());
    free(w);
    jq_set_error_cb(jq, ignore_message, NULL);
    if (ok) {
        p->jq = jq;
        return;
    }
    jq_teardown(&jq);
    p->error = strdup(m.len ? m.text : "the expression does not compile");
    if (!p->error) jqw_no_memory();
}

/* "$a, $b" for the pattern and "a,b" for the key, from sorted unique names. */
static void names_of(const json_t *names, char **pattern, char **joined)
{
    size_t n = json_array_size(names), cap = 1;
    const char **v = calloc(n ? n : 1, sizeof(*v));
    if (!v) jqw_no_memory();
    for (size_t i = 0; i < n; i++) {
        v[i] = json_string_value(json_array_get(names, i));
        cap += strlen(v[i]) + 3;
    }
    for (size_t i = 1; i < n; i++) /* insertion sort: a few names */
        for (size_t j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
            const char *t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    *pattern = calloc(1, cap);
    *joined = calloc(1, cap);
    if (!*pattern || !*joined) jqw_no_memory();
    size_t pl = 0, jl = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && !strcmp(v[i], v[i - 1])) continue;
        pl += (size_t)snprintf(*pattern + pl, cap - pl, "%s$%s", pl ? ", " : "", v[i]);
        jl += (size_t)snprintf(*joined + jl, cap - jl, "%s%s", jl ? "," : "", v[i]);
    }
    free(v);
}

/* ---- the cache ------------------------------------------------------------ */

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

jqw_cache *jqw_cache_new(size_t entries)
{
    jqw_cache *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->cap = entries ? entries : 1;
    c->nbuckets = 1;
    while (c->nbuckets < c->cap * 2)
        c->nbuckets <<= 1;
    c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
    if (!c->buckets) {
        free(c);
        return NULL;
    }
    return c;
}

static void program_free(jqw_program *p)
{
    if (p->jq) jq_teardown(&p->jq);
    free(p->error);
    free(p->key);
    free(p);
}

static void unlink_lru(jqw_cache *c, jqw_program *p)
{
    if (p->newer)
        p->newer->older = p->older;
    else
        c->newest = p->older;
    if (p->older)
        p->older->newer = p->newer;
    else
        c->oldest = p->newer;
    p->newer = p->older = NULL;
}

static void push_newest(jqw_cache *c, jqw_program *p)
{
    p->older = c->newest;
    p->newer = NULL;
    if (c->newest) c->newest->newer = p;
    c->newest = p;
    if (!c->oldest) c->oldest = p;
}

static void evict_oldest(jqw_cache *c)
{
    jqw_cache_drop(c, c->oldest);
}

void jqw_cache_free(jqw_cache *c)
{
    if (!c) return;
    while (c->oldest)
        evict_oldest(c);
    free(c->buckets);
    free(c);
}

jqw_program *jqw_cache_get(jqw_cache *c, const char *text, const json_t *names)
{
    char *pattern, *joined;
    names_of(names, &pattern, &joined);
    size_t tl = strlen(text), jl = strlen(joined), keylen = tl + 1 + jl;
    char *key = malloc(keylen + 1);
    if (!key) jqw_no_memory();
    memcpy(key, text, tl + 1);
    memcpy(key + tl + 1, joined, jl + 1);
    uint64_t h = fnv1a(key, keylen);
    jqw_program **slot = &c->buckets[h & (c->nbuckets - 1)];
    for (jqw_program *p = *slot; p; p = p->chain)
        if (p->hash == h && p->keylen == keylen && !memcmp(p->key, key, keylen)) {
            c->hits++;
            unlink_lru(c, p);
            push_newest(c, p);
            free(key);
            free(pattern);
            free(joined);
            return p;
        }
    if (c->n == c->cap) evict_oldest(c);
    jqw_program *p = calloc(1, sizeof(*p));
    if (!p) jqw_no_memory();
    p->key = key;
    p->keylen = keylen;
    p->hash = h;
    compile(p, text, pattern);
    free(pattern);
    free(joined);
    slot = &c->buckets[h & (c->nbuckets - 1)]; /* evicting may have changed the chain */
    p->chain = *slot;
    *slot = p;
    push_newest(c, p);
    c->n++;
    return p;
}

void jqw_cache_drop(jqw_cache *c, jqw_program *p)
{
    jqw_program **slot = &c->buckets[p->hash & (c->nbuckets - 1)];
    while (*slot != p)
        slot = &(*slot)->chain;
    *slot = p->chain;
    unlink_lru(c, p);
    c->n--;
    program_free(p);
}

const char *jqw_program_error(const jqw_program *p)
{
    return p->error;
}

jq_state *jqw_program_state(jqw_program *p)
{
    return p->jq;
}

size_t jqw_cache_size(const jqw_cache *c)
{
    return c->n;
}

unsigned long long jqw_cache_hits(const jqw_cache *c)
{
    return c->hits;
}
