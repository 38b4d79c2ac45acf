#include "throttle.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
    char key[THROTTLE_KEY_MAX + 1]; /* "" when free */
    unsigned count;
    uint64_t first_ms;
} slot;

struct throttle {
    size_t n;
    size_t used; /* slots holding a key (expired ones included until found) */
    unsigned limit;
    uint64_t window_ms;
    slot s[];
};

throttle *throttle_new(size_t slots, unsigned limit, uint64_t window_ms)
{
    throttle *t = calloc(1, sizeof(*t) + slots * sizeof(slot));
    if (!t) return NULL;
    t->n = slots;
    t->limit = limit;
    t->window_ms = window_ms;
    return t;
}

void throttle_free(throttle *t)
{
    free(t);
}

/* The key's slot (expired windows freed on the way), a new one when
 * create, or NULL. */
static slot *find(throttle *t, const char *key, uint64_t now, bool create)
{
    /* No key held: nothing to find or free (every request asks a table
     * that is empty unless something failed). */
    if (!t->used && !create) return NULL;
    char k[THROTTLE_KEY_MAX + 1];
    snprintf(k, sizeof(k), "%s", key);
    slot *free_slot = NULL, *oldest = NULL;
    for (size_t i = 0; i < t->n; i++) {
        slot *s = &t->s[i];
        if (s->key[0] && now - s->first_ms >= t->window_ms) s->key[0] = 0, t->used--;
        if (!s->key[0]) {
            if (!free_slot) free_slot = s;
            continue;
        }
        if (!strcmp(s->key, k)) return s;
        if (!oldest || s->first_ms < oldest->first_ms) oldest = s;
    }
    if (!create) return NULL;
    slot *s = free_slot ? free_slot : oldest;
    if (!s) return NULL; /* a table of no slots */
    if (s == free_slot) t->used++;
    memcpy(s->key, k, sizeof(k));
    s->count = 0;
    s->first_ms = now;
    return s;
}

unsigned throttle_wait_s(throttle *t, const char *key, uint64_t now_ms)
{
    slot *s = find(t, key, now_ms, false);
    if (!s || s->count < t->limit) return 0;
    uint64_t left = s->first_ms + t->window_ms - now_ms;
    return (unsigned)((left + 999) / 1000);
}

unsigned throttle_fail(throttle *t, const char *key, uint64_t now_ms)
{
    slot *s = find(t, key, now_ms, true);
    if (!s) return 0;
    return ++s->count;
}
