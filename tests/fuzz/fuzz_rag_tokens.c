/*
 * Fuzz target: any bytes through the RAG tokenizer and the stemming
 * analyzer (plugins/rag/text.c, analyze.c): every token's offsets lie
 * within the input, in order, and its folded text is valid UTF-8 within
 * RAG_TOKEN_MAX bytes.
 */
#include "../../plugins/rag/analyze.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    size_t n, last_end;
} seen;

static int check_token(void *ud, const rag_token *t)
{
    seen *s = ud;
    if (t->start >= t->end || t->end > s->n || t->start < s->last_end) __builtin_trap();
    if (t->len == 0 || t->len > RAG_TOKEN_MAX || strlen(t->text) != t->len) __builtin_trap();
    for (size_t i = 0; i < t->len;) {
        if (rag_utf8_next(t->text, t->len, &i) < 0) __builtin_trap();
    }
    s->last_end = t->end;
    return 0;
}

static int check_term(void *ud, const char *term, size_t len, const rag_token *t)
{
    (void)ud;
    (void)t;
    if (len == 0 && term == NULL) __builtin_trap();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static rag_analyzer *a;
    if (!a) a = rag_analyzer_new(1);
    seen s = {size, 0};
    rag_tokenize((const char *)data, size, check_token, &s);
    rag_analyze(a, (const char *)data, size, check_term, NULL);
    return 0;
}
