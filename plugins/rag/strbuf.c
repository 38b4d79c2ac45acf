/*
 * strbuf.c - the reducers' bounded text buffer (strbuf.h).
 */
#include "strbuf.h"

#include <stdlib.h>
#include <string.h>

int rag_buf_put(rag_buf *o, const char *s, size_t n)
{
    if (o->over || o->oom) return -1;
    if (n == 0) return 0;
    if (o->n + n > o->max) {
        o->over = 1;
        return -1;
    }
    if (o->n + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 4096;
        while (cap < o->n + n + 1)
            cap *= 2;
        char *nb = realloc(o->b, cap);
        if (!nb) {
            o->oom = 1;
            return -1;
        }
        o->b = nb;
        o->cap = cap;
    }
    memcpy(o->b + o->n, s, n);
    o->n += n;
    o->b[o->n] = 0;
    return 0;
}
