/*
 * The fake re-ranker's scores (rerank_score.h).
 */
#include "rerank_score.h"

#include "../../plugins/rag/text.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STEM_LETTERS 5
#define MAX_WORDS 256

typedef struct {
    char w[MAX_WORDS][RAG_TOKEN_MAX + 1];
    size_t n;
} words;

/* The bytes of s's first `letters` code points. */
static size_t prefix(const char *s, size_t n, size_t letters)
{
    size_t i = 0;
    for (size_t k = 0; k < letters && i < n; k++)
        rag_utf8_next(s, n, &i);
    return i;
}

static int on_word(void *ud, const rag_token *t)
{
    words *ws = ud;
    size_t letters = 0;
    for (size_t i = 0; i < t->len; letters++)
        rag_utf8_next(t->text, t->len, &i);
    if (letters < 3 || ws->n >= MAX_WORDS) return 0; /* short words carry little */
    size_t p = prefix(t->text, t->len, STEM_LETTERS);
    for (size_t k = 0; k < ws->n; k++)
        if (!strncmp(ws->w[k], t->text, p) && ws->w[k][p] == 0) return 0;
    memcpy(ws->w[ws->n], t->text, p);
    ws->w[ws->n++][p] = 0;
    return 0;
}

static double score(const words *q, const char *text, size_t len)
{
    words *p = calloc(1, sizeof *p);
    if (!p) return 0;
    rag_tokenize(text, len, on_word, p);
    size_t hit = 0;
    for (size_t i = 0; i < q->n; i++)
        for (size_t k = 0; k < p->n; k++)
            if (!strcmp(q->w[i], p->w[k])) {
                hit++;
                break;
            }
    free(p);
    return q->n ? round(100.0 * (double)hit / (double)q->n) / 10.0 : 0;
}

char *rerank_score(const char *prompt, int variant)
{
    const char *q = strstr(prompt, "<query>\n"), *qe = q ? strstr(q, "\n</query>") : NULL;
    if (!qe) return NULL;
    words *qw = calloc(1, sizeof *qw);
    if (!qw) return NULL;
    q += strlen("<query>\n");
    rag_tokenize(q, (size_t)(qe - q), on_word, qw);
    json_t *scores = json_array();
    const char *s = qe;
    long last = 0;
    while ((s = strstr(s, "<passage id=\""))) {
        long id = strtol(s + strlen("<passage id=\""), NULL, 10);
        const char *t = strstr(s, "\">\n"), *e = t ? strstr(t, "\n</passage>") : NULL;
        if (!e) break;
        t += 3;
        json_array_append_new(scores, json_pack("{s:I,s:f}", "id", (json_int_t)id, "score",
                                                score(qw, t, (size_t)(e - t))));
        last = id;
        s = e;
    }
    free(qw);
    if (variant == RERANK_MISSING && json_array_size(scores))
        json_array_remove(scores, json_array_size(scores) - 1);
    if (variant == RERANK_INVENT) { /* a model that imagines more passages than it was given */
        json_array_insert_new(scores, 0, json_pack("{s:i,s:f}", "id", 0, "score", 10.0));
        json_array_append_new(scores,
                              json_pack("{s:I,s:f}", "id", (json_int_t)last + 7, "score", 10.0));
    }
    json_t *o = json_pack("{s:o}", "scores", scores);
    char *out = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return out;
}
