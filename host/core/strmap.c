#include "strmap.h"

#include <agenthost/plugin.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char tomb_marker;
#define TOMB (&tomb_marker)

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

void strmap_init(strmap *m)
{
    memset(m, 0, sizeof(*m));
}

void strmap_free(strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key && m->slots[i].key != TOMB) free(m->slots[i].key);
    free(m->slots);
    strmap_init(m);
}

static int rehash(strmap *m, size_t cap)
{
    strmap_slot *ns = calloc(cap, sizeof(*ns));
    if (!ns) return -1;
    for (size_t i = 0; i < m->cap; i++) {
        char *k = m->slots[i].key;
        if (!k || k == TOMB) continue;
        size_t s = hash(k) & (cap - 1);
        while (ns[s].key)
            s = (s + 1) & (cap - 1);
        ns[s] = m->slots[i];
    }
    free(m->slots);
    m->slots = ns;
    m->cap = cap;
    m->used = m->n;
    return 0;
}

static strmap_slot *find(const strmap *m, const char *key)
{
    if (!m->cap) return NULL;
    size_t s = hash(key) & (m->cap - 1);
    while (m->slots[s].key) {
        if (m->slots[s].key != TOMB && !strcmp(m->slots[s].key, key)) return &m->slots[s];
        s = (s + 1) & (m->cap - 1);
    }
    return NULL;
}

int strmap_put(strmap *m, const char *key, void *val)
{
    strmap_slot *hit = find(m, key);
    if (hit) {
        hit->val = val;
        return 0;
    }
    if ((m->used + 1) * 4 > m->cap * 3 &&
        rehash(m, m->cap ? (m->n * 2 > m->cap ? m->cap * 2 : m->cap) : 16) < 0)
        return AH_ENOMEM;
    char *k = strdup(key);
    if (!k) return AH_ENOMEM;
    size_t s = hash(key) & (m->cap - 1);
    while (m->slots[s].key && m->slots[s].key != TOMB)
        s = (s + 1) & (m->cap - 1);
    if (!m->slots[s].key) m->used++;
    m->slots[s].key = k;
    m->slots[s].val = val;
    m->n++;
    return 0;
}

void *strmap_get(const strmap *m, const char *key)
{
    strmap_slot *hit = find(m, key);
    return hit ? hit->val : NULL;
}

void *strmap_del(strmap *m, const char *key)
{
    strmap_slot *hit = find(m, key);
    if (!hit) return NULL;
    void *v = hit->val;
    free(hit->key);
    hit->key = TOMB;
    hit->val = NULL;
    m->n--;
    return v;
}

int strmap_next(const strmap *m, size_t *pos, const char **key, void **val)
{
    for (; *pos < m->cap; (*pos)++) {
        char *k = m->slots[*pos].key;
        if (k && k != TOMB) {
            *key = k;
            *val = m->slots[*pos].val;
            (*pos)++;
            return 1;
        }
    }
    return 0;
}
