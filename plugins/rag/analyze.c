/*
 * Terms: tokens stemmed by script (analyze.h).
 */
#include "analyze.h"

#include <libstemmer.h>
#include <stdlib.h>

struct rag_analyzer {
    struct sb_stemmer *ru;
    struct sb_stemmer *en;
};

rag_analyzer *rag_analyzer_new(int stem)
{
    rag_analyzer *a = calloc(1, sizeof *a);
    if (!a || !stem) return a;
    a->ru = sb_stemmer_new("russian", "UTF_8");
    a->en = sb_stemmer_new("english", "UTF_8");
    if (!a->ru || !a->en) {
        rag_analyzer_free(a);
        return NULL;
    }
    return a;
}

void rag_analyzer_free(rag_analyzer *a)
{
    if (!a) return;
    if (a->ru) sb_stemmer_delete(a->ru);
    if (a->en) sb_stemmer_delete(a->en);
    free(a);
}

typedef struct {
    rag_analyzer *a;
    rag_term_fn fn;
    void *ud;
} job;

static int on_token(void *ud, const rag_token *tok)
{
    job *j = ud;
    struct sb_stemmer *st = tok->script == RAG_SCRIPT_CYRILLIC ? j->a->ru
                            : tok->script == RAG_SCRIPT_LATIN  ? j->a->en
                                                               : NULL;
    if (!st) return j->fn(j->ud, tok->text, tok->len, tok);
    const sb_symbol *out = sb_stemmer_stem(st, (const sb_symbol *)tok->text, (int)tok->len);
    if (!out) return j->fn(j->ud, tok->text, tok->len, tok); /* out of memory: unstemmed */
    return j->fn(j->ud, (const char *)out, (size_t)sb_stemmer_length(st), tok);
}

int rag_analyze(rag_analyzer *a, const char *s, size_t n, rag_term_fn fn, void *ud)
{
    job j = {a, fn, ud};
    return rag_tokenize(s, n, on_token, &j);
}
