/*
 * idmap.h - a map from non-zero 64-bit request ids to pointers.
 * Open addressing with backward-shift deletion; internal to agenthost.
 */
#ifndef AH_IDMAP_H
#define AH_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct ah_idmap {
    uint64_t *keys; /* 0 marks an empty slot */
    void **vals;
    size_t cap, n;
} ah_idmap;

void ah_idmap_init(ah_idmap *m);
void ah_idmap_free(ah_idmap *m);
/* Insert or replace; id must be non-zero. 0 or -1 (no memory). */
int ah_idmap_put(ah_idmap *m, uint64_t id, void *val);
void *ah_idmap_get(const ah_idmap *m, uint64_t id);
/* Remove and return the value, or NULL. */
void *ah_idmap_take(ah_idmap *m, uint64_t id);
/* Iterate: start with *pos = 0; returns 0 when done. */
int ah_idmap_next(const ah_idmap *m, size_t *pos, uint64_t *id, void **val);

#endif
