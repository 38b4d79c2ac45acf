/*
 * Hashed character trigram embeddings (ngram_embed.h).
 */
#include "ngram_embed.h"

#include "../../plugins/rag/text.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    float *out;
    int dims;
} acc;

static void add(acc *a, const char *s, size_t n, float w)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    h ^= h >> 29;
    a->out[h % (uint64_t)a->dims] += (h >> 63) ? w : -w;
}

static int on_token(void *ud, const rag_token *t)
{
    acc *a = ud;
    char framed[RAG_TOKEN_MAX + 3];
    size_t n = 0, at[RAG_TOKEN_MAX + 3], k = 0;
    framed[n++] = '^';
    memcpy(framed + n, t->text, t->len);
    n += t->len;
    framed[n++] = '$';
    for (size_t i = 0; i < n;) { /* code point starts */
        at[k++] = i;
        rag_utf8_next(framed, n, &i);
    }
    at[k] = n;
    for (size_t i = 0; i + 3 <= k; i++)
        add(a, framed + at[i], at[i + 3] - at[i], 1.0f);
    add(a, t->text, t->len, 2.0f);
    return 0;
}

void ngram_embed(const char *text, size_t n, float *out, int dims)
{
    memset(out, 0, (size_t)dims * sizeof *out);
    acc a = {out, dims};
    rag_tokenize(text, n, on_token, &a);
    double norm = 0;
    for (int i = 0; i < dims; i++)
        norm += (double)out[i] * out[i];
    if (norm > 0)
        for (int i = 0; i < dims; i++)
            out[i] = (float)(out[i] / sqrt(norm));
}

json_t *ngram_embed_answer(const json_t *texts, int dims)
{
    float *v = malloc((size_t)(dims > 0 ? dims : 1) * sizeof *v);
    json_t *vs = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(texts, i, t)
    {
        ngram_embed(json_string_value(t), json_string_length(t), v, dims);
        json_t *a = json_array();
        for (int k = 0; k < dims; k++)
            json_array_append_new(a, json_real(v[k]));
        json_array_append_new(vs, a);
    }
    free(v);
    return json_pack("{s:{s:o}}", "result", "embeddings", vs);
}
