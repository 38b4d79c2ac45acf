/*
 * The RAG plugin's text core, part 2: terms for the index. Tokens (text.h)
 * stemmed with Snowball (Debian's libstemmer, ADR 0029), the stemmer chosen
 * per token by its script: Cyrillic words by the Russian algorithm, Latin
 * ones by the English, digits and other scripts kept as folded. A base in
 * one language therefore still matches the other's names and terms, and a
 * query in a language the base does not hold finds nothing rather than
 * garbage.
 */
#ifndef RAG_ANALYZE_H
#define RAG_ANALYZE_H

#include "text.h"

typedef struct rag_analyzer rag_analyzer;

/* stem = 0: terms are the folded tokens (the unstemmed peer of the
 * evaluation). Returns NULL when out of memory or libstemmer lacks an
 * algorithm. */
rag_analyzer *rag_analyzer_new(int stem);
void rag_analyzer_free(rag_analyzer *a);

/* Called for each term: term[0..len) (not NUL-terminated, valid during the
 * call) and its token (offsets, script). A nonzero return stops. */
typedef int (*rag_term_fn)(void *ud, const char *term, size_t len, const rag_token *tok);

int rag_analyze(rag_analyzer *a, const char *s, size_t n, rag_term_fn fn, void *ud);

#endif
