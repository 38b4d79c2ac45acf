/*
 * resilience.c - backoff, Retry-After and circuit breakers. See resilience.h.
 */
#include "resilience.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BREAKER_KEY_MAX 272
#define BREAKER_MAX_KEYS 4096 /* destinations are allowlisted: this is plenty */

uint32_t backoff_delay_ms(uint32_t n, uint32_t base_ms, uint32_t max_ms, uint32_t rnd)
{
    uint64_t d = base_ms ? base_ms : 1;
    for (uint32_t i = 1; i < n && d < max_ms; i++)
        d *= 2;
    if (d > max_ms) d = max_ms;
    uint64_t half = d / 2;
    return (uint32_t)(half + (d - half) * (uint64_t)rnd / UINT32_MAX);
}

int64_t retry_after_ms(const char *value, int64_t now_unix_ms)
{
    if (!value) return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (!*value) return -1;
    if (isdigit((unsigned char)*value)) {
        char *end;
        unsigned long long s = strtoull(value, &end, 10);
        while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
            end++;
        if (*end || s > 86400ull * 365) return -1;
        return (int64_t)s * 1000;
    }
    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *rest = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!rest) return -1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1) return -1;
    int64_t delta = (int64_t)t * 1000 - now_unix_ms;
    return delta > 0 ? delta : 0;
}

/* ---- breakers ------------------------------------------------------------ */

typedef struct breaker {
    char key[BREAKER_KEY_MAX];
    breaker_state state;
    uint32_t failures; /* consecutive */
    uint64_t open_until_ms;
    bool probing;
} breaker;

struct breaker_table {
    breaker *v;
    size_t n, cap;
    uint32_t threshold, cooldown_ms;
    breaker_change_fn fn;
    void *ud;
};

const char *breaker_state_name(breaker_state s)
{
    return s == BREAKER_OPEN ? "open" : s == BREAKER_HALF_OPEN ? "half_open" : "closed";
}

breaker_table *breaker_table_new(uint32_t threshold, uint32_t cooldown_ms, breaker_change_fn fn,
                                 void *ud)
{
    breaker_table *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->threshold = threshold ? threshold : 1;
    t->cooldown_ms = cooldown_ms;
    t->fn = fn;
    t->ud = ud;
    return t;
}

void breaker_table_free(breaker_table *t)
{
    if (!t) return;
    free(t->v);
    free(t);
}

static breaker *find(breaker_table *t, const char *key, bool create)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->v[i].key, key)) return &t->v[i];
    if (!create || strlen(key) >= BREAKER_KEY_MAX || t->n >= BREAKER_MAX_KEYS) return NULL;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        breaker *nv = realloc(t->v, cap * sizeof(*nv));
        if (!nv) return NULL;
        t->v = nv;
        t->cap = cap;
    }
    breaker *b = &t->v[t->n++];
    memset(b, 0, sizeof(*b));
    strcpy(b->key, key);
    return b;
}

static void set_state(breaker_table *t, breaker *b, breaker_state s)
{
    if (b->state == s) return;
    breaker_state from = b->state;
    b->state = s;
    if (t->fn) t->fn(t->ud, b->key, from, s, b->failures);
}

breaker_verdict breaker_allow(breaker_table *t, const char *key, uint64_t now_ms,
                              uint64_t *retry_in_ms)
{
    breaker *b = find(t, key, true);
    if (!b) return BREAKER_ALLOW;
    if (b->state == BREAKER_OPEN && now_ms >= b->open_until_ms) set_state(t, b, BREAKER_HALF_OPEN);
    switch (b->state) {
    case BREAKER_CLOSED:
        return BREAKER_ALLOW;
    case BREAKER_HALF_OPEN:
        if (!b->probing) {
            b->probing = true;
            return BREAKER_ALLOW_PROBE;
        }
        if (retry_in_ms) *retry_in_ms = 0;
        return BREAKER_DENY;
    case BREAKER_OPEN:
        if (retry_in_ms) *retry_in_ms = b->open_until_ms - now_ms;
        return BREAKER_DENY;
    }
    return BREAKER_ALLOW;
}

void breaker_success(breaker_table *t, const char *key, bool probe)
{
    breaker *b = find(t, key, false);
    if (!b) return;
    if (probe) b->probing = false;
    b->failures = 0;
    set_state(t, b, BREAKER_CLOSED);
}

void breaker_failure(breaker_table *t, const char *key, bool probe, uint64_t now_ms)
{
    breaker *b = find(t, key, false);
    if (!b) return;
    if (probe) b->probing = false;
    b->failures++;
    /* A failing probe reopens; so does the threshold while closed. A late
     * failure of a request that started before the breaker opened only
     * counts. */
    if (probe || (b->state == BREAKER_CLOSED && b->failures >= t->threshold) ||
        (b->state == BREAKER_HALF_OPEN && !b->probing && b->failures >= t->threshold)) {
        b->open_until_ms = now_ms + t->cooldown_ms;
        set_state(t, b, BREAKER_OPEN);
    }
}

void breaker_abandon(breaker_table *t, const char *key, bool probe)
{
    breaker *b = find(t, key, false);
    if (b && probe) b->probing = false;
}

breaker_state breaker_get(breaker_table *t, const char *key)
{
    breaker *b = find(t, key, false);
    return b ? b->state : BREAKER_CLOSED;
}

json_t *breaker_table_json(breaker_table *t, uint64_t now_ms)
{
    json_t *o = json_object();
    for (size_t i = 0; t && i < t->n; i++) {
        breaker *b = &t->v[i];
        json_t *e = json_pack("{s:s,s:I}", "state", breaker_state_name(b->state), "failures",
                              (json_int_t)b->failures);
        if (b->state == BREAKER_OPEN)
            json_object_set_new(e, "retry_in_ms",
                                json_integer(b->open_until_ms > now_ms
                                                 ? (json_int_t)(b->open_until_ms - now_ms)
                                                 : 0));
        json_object_set_new(o, b->key, e);
    }
    return o;
}
