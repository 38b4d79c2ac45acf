#include "idmap.h"

#include <stdlib.h>

static size_t slot_of(uint64_t id, size_t cap)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdull;
    id ^= id >> 33;
    return (size_t)id & (cap - 1);
}

void ah_idmap_init(ah_idmap *m)
{
    m->keys = NULL;
    m->vals = NULL;
    m->cap = m->n = 0;
}

void ah_idmap_free(ah_idmap *m)
{
    free(m->keys);
    free(m->vals);
    ah_idmap_init(m);
}

static int grow(ah_idmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    uint64_t *keys = calloc(cap, sizeof(*keys));
    void **vals = calloc(cap, sizeof(*vals));
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t s = slot_of(m->keys[i], cap);
        while (keys[s])
            s = (s + 1) & (cap - 1);
        keys[s] = m->keys[i];
        vals[s] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return 0;
}

int ah_idmap_put(ah_idmap *m, uint64_t id, void *val)
{
    if ((m->n + 1) * 4 > m->cap * 3 && grow(m) < 0) return -1;
    size_t s = slot_of(id, m->cap);
    while (m->keys[s] && m->keys[s] != id)
        s = (s + 1) & (m->cap - 1);
    if (!m->keys[s]) m->n++;
    m->keys[s] = id;
    m->vals[s] = val;
    return 0;
}

void *ah_idmap_get(const ah_idmap *m, uint64_t id)
{
    if (!m->cap || !id) return NULL;
    size_t s = slot_of(id, m->cap);
    while (m->keys[s]) {
        if (m->keys[s] == id) return m->vals[s];
        s = (s + 1) & (m->cap - 1);
    }
    return NULL;
}

void *ah_idmap_take(ah_idmap *m, uint64_t id)
{
    if (!m->cap || !id) return NULL;
    size_t s = slot_of(id, m->cap);
    while (m->keys[s] && m->keys[s] != id)
        s = (s + 1) & (m->cap - 1);
    if (!m->keys[s]) return NULL;
    void *val = m->vals[s];
    m->n--;
    /* Backward-shift deletion keeps probe chains intact. */
    size_t hole = s, j = s;
    for (;;) {
        j = (j + 1) & (m->cap - 1);
        if (!m->keys[j]) break;
        size_t home = slot_of(m->keys[j], m->cap);
        if ((j > hole && (home <= hole || home > j)) || (j < hole && (home <= hole && home > j))) {
            m->keys[hole] = m->keys[j];
            m->vals[hole] = m->vals[j];
            hole = j;
        }
    }
    m->keys[hole] = 0;
    m->vals[hole] = NULL;
    return val;
}

int ah_idmap_next(const ah_idmap *m, size_t *pos, uint64_t *id, void **val)
{
    for (; *pos < m->cap; (*pos)++) {
        if (m->keys[*pos]) {
            *id = m->keys[*pos];
            *val = m->vals[*pos];
            (*pos)++;
            return 1;
        }
    }
    return 0;
}
