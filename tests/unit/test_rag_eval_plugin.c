/*
 * The RAG evaluation through the plugin itself (issue 18): XQuAD's 240
 * paragraphs per language added with document.add, ingested (embeddings
 * fetched through the LLM instance's embed action, here the SDK's fake
 * host answering with the stand-in: hashed character trigrams, 1,024
 * dimensions), and the 1,190 questions asked with the search action in
 * bm25, vector and hybrid modes. The same figures as test_rag_eval's core
 * evaluation, now through chunking, the KV, the embedding store, the modes
 * and the filters' code path. Vector figures come from the stand-in, not a
 * real model (docs/plugins/rag.md#evaluation).
 */
#include "cmocka_pre.h"

#include "../fakes/ngram_embed.h"
#include "../support/kit.h"
#include "../support/rag_eval.h"

#include <agenthost/testing.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIX TH_SOURCE_DIR "/tests/fixtures/rag"
#define DIMS 1024

/* Floors as test_rag_eval's (measured figures in docs/benchmarks.md). */
#define FLOOR_BM25_R5 0.90
#define FLOOR_VEC_R5 0.65
#define FLOOR_HYBRID_R5 0.85

extern const ah_plugin agenthost_plugin;

static json_t *stand_in(void *ud, const char *instance, const char *action, const json_t *args)
{
    (void)ud;
    if (strcmp(instance, "llm") != 0 || strcmp(action, "embed") != 0) return NULL;
    int dims = (int)json_integer_value(json_object_get(args, "dimensions"));
    return ngram_embed_answer(json_object_get(args, "input"), dims);
}

typedef struct {
    aht *t;
    const rag_set *s;
    const char *mode;
} ranker;

static int rank(void *ud, const char *query, uint32_t *docs, size_t k)
{
    ranker *r = ud;
    json_t *a = json_pack("{s:s,s:s,s:I,s:s}", "kb", "eval", "query", query, "top_k", (json_int_t)k,
                          "mode", r->mode);
    char *args = json_dumps(a, 0);
    const json_t *ans = aht_call(r->t, "search", args);
    free(args);
    json_decref(a);
    const json_t *ps = json_object_get(json_object_get(ans, "result"), "passages");
    size_t n = 0, i;
    const json_t *p;
    json_array_foreach(ps, i, p)
    {
        if (n == k) break;
        docs[n++] = (uint32_t)atoi(json_string_value(json_object_get(p, "document")) + 1);
    }
    return (int)n;
}

static void eval(const char *lang, rag_scores out[3])
{
    rag_set s;
    assert_int_equal(rag_set_load(&s, lang[0] == 'r' ? FIX "/xquad_ru" : FIX "/xquad_en"), 0);
    aht *t = aht_new(&agenthost_plugin, "kb");
    char dir[256];
    assert_int_equal(kit_tmpdir("rag-eval", dir, sizeof dir), 0);
    aht_storage_dir(t, dir); /* the index on disk (ADR 0054) */
    aht_on_call(t, stand_in, NULL);
    char cfg[400];
    snprintf(cfg, sizeof cfg,
             "{\"max_document_bytes\": 900000, \"max_tokens\": 2000, \"overlap_tokens\": 0, "
             "\"embed_instance\": \"llm\", \"embed_batch\": 64, \"embed_dimensions\": %d, "
             "\"embed_timeout_ms\": 60000, \"hybrid_weights\": {\"bm25\": 1.0, \"vector\": 0.1}}",
             DIMS);
    assert_int_equal(aht_init(t, cfg), AH_OK);
    assert_non_null(json_object_get(aht_call(t, "kb.create", "{\"name\": \"eval\"}"), "result"));
    for (size_t i = 0; i < s.ndocs; i++) {
        char id[32];
        snprintf(id, sizeof id, "d%zu", i); /* the index, read back by rank */
        json_t *a = json_pack("{s:s,s:s,s:s,s:s}", "kb", "eval", "id", id, "content", s.doc_text[i],
                              "format", "text");
        char *args = json_dumps(a, 0);
        assert_non_null(json_object_get(aht_call(t, "document.add", args), "result"));
        free(args);
        json_decref(a);
    }
    aht_run(t);
    const char *modes[] = {"bm25", "vector", "hybrid"};
    for (int m = 0; m < 3; m++) {
        ranker r = {t, &s, modes[m]};
        rag_score(&s, rank, &r, &out[m]);
        assert_int_equal(out[m].queries, s.nqueries);
        printf("plugin %s %-6s nDCG@10 %.3f  R@1 %.3f  R@5 %.3f%s\n", lang, modes[m], out[m].ndcg10,
               out[m].r1, out[m].r5, m ? " (stand-in embeddings)" : "");
    }
    aht_free(t);
    kit_rmtree(dir);
    rag_set_free(&s);
}

static void bm25_vector_and_hybrid_through_the_plugin_in_russian_and_english(void **state)
{
    (void)state;
    const char *langs[] = {"ru", "en"};
    for (int l = 0; l < 2; l++) {
        rag_scores sc[3];
        eval(langs[l], sc);
        assert_true(sc[0].r5 > FLOOR_BM25_R5);
        assert_true(sc[1].r5 > FLOOR_VEC_R5);
        assert_true(sc[2].r5 > FLOOR_HYBRID_R5);
        /* the convex fusion at 1 : 0.1 ranks as well as BM25 alone, as in the core */
        assert_true(sc[2].ndcg10 >= sc[0].ndcg10);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bm25_vector_and_hybrid_through_the_plugin_in_russian_and_english),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
