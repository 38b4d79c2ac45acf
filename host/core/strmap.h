/*
 * strmap.h - a hash map from strings (copied) to pointers.
 * Open addressing with tombstones; not thread-safe.
 */
#ifndef AH_STRMAP_H
#define AH_STRMAP_H

#include <stddef.h>

typedef struct strmap_slot {
    char *key; /* NULL: empty; STRMAP_TOMB: deleted */
    void *val;
} strmap_slot;

typedef struct strmap {
    strmap_slot *slots;
    size_t cap, n, used; /* used counts tombstones too */
} strmap;

void strmap_init(strmap *m);
/* Frees the keys; values are the caller's. */
void strmap_free(strmap *m);
/* Insert or replace. 0, or AH_ENOMEM (nothing changed). */
int strmap_put(strmap *m, const char *key, void *val);
void *strmap_get(const strmap *m, const char *key);
/* Remove and return the value (NULL if absent). */
void *strmap_del(strmap *m, const char *key);
/* Iterate: *pos starts at 0; returns 0 when done. */
int strmap_next(const strmap *m, size_t *pos, const char **key, void **val);

#endif
