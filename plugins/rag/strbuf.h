/*
 * strbuf.h - the growing text buffer the document reducers (PDF, DOCX)
 * write their text into, bounded: past max bytes it refuses, and after a
 * refusal (too large or out of memory) it takes nothing more.
 */
#ifndef RAG_STRBUF_H
#define RAG_STRBUF_H

#include <stddef.h>

typedef struct {
    char *b; /* NUL-terminated once anything was put; the caller frees it */
    size_t n, cap, max;
    int over, oom; /* refused: past max; out of memory */
} rag_buf;

/* Append s[0..n): 0, or -1 (over or oom set, and every later call -1). */
int rag_buf_put(rag_buf *o, const char *s, size_t n);

#endif
