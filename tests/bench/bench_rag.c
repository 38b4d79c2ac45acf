/*
 * bench_rag - knowledge bases (issue 18): retrieval quality and the lexical
 * index's cost.
 *
 *   quality  nDCG@10, Recall@1, Recall@5 over XQuAD (240 paragraphs, 1,190
 *            questions; tests/fixtures/rag) in Russian and English: BM25
 *            with Snowball stemming beside the peer, plain BM25 over folded
 *            tokens only, in the same run; vectors alone (exact cosine over
 *            stand-in embeddings: hashed character trigrams, tests/fakes/
 *            ngram_embed.c) and hybrid (reciprocal rank fusion, weights 1:1
 *            and 1:0.3)
 *   scale    generated chunks (about 100 tokens of Russian and English
 *            words, Zipf-distributed): chunks indexed per second (analysis
 *            and posting, no provider), query latency p50/p99 for 2-4 word
 *            queries, index memory per chunk; stemmed beside plain
 *
 *   bench_rag --smoke | --full      (smoke: 1,000 chunks; full: 10,000 and 100,000)
 */
#include "bench.h"

#include "../../plugins/rag/bm25.h"
#include "../../plugins/rag/vec.h"
#include "../support/rag_eval.h"
#include "rag_gen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void row3(bench *b, const char *lang, const char *sys, const rag_scores *r, const char *note)
{
    char key[96];
    snprintf(key, sizeof key, "%s_%s_ndcg10", lang, sys);
    bench_row(b, "quality", key, r->ndcg10, "", "%s", note);
    snprintf(key, sizeof key, "%s_%s_recall1", lang, sys);
    bench_row(b, "quality", key, r->r1, "", "%s", "");
    snprintf(key, sizeof key, "%s_%s_recall5", lang, sys);
    bench_row(b, "quality", key, r->r5, "", "%s", "");
}

/* Vectors alone (stand-in embeddings), and hybrid by each fusion at the
 * weightings the docs report (BM25 : vectors). */
static void vectors(bench *b, const rag_set *s, const char *lang)
{
    rag_scores r;
    if (rag_eval_vectors(s, 1024, &r) < 0) bench_fail(b, "vectors %s", lang);
    row3(b, lang, "vectors", &r, "stand-in: hashed trigrams, 1,024 dims");
    static const rag_eval_fusion f[] = {
        {RAG_FUSE_RRF, 1.0, 1.0, 50},    {RAG_FUSE_RRF, 1.0, 0.3, 50},
        {RAG_FUSE_CONVEX, 1.0, 1.0, 50}, {RAG_FUSE_CONVEX, 1.0, 0.3, 50},
        {RAG_FUSE_CONVEX, 1.0, 0.1, 50},
    };
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
        char sys[64];
        const char *how = f[i].how == RAG_FUSE_RRF ? "rrf" : "convex";
        snprintf(sys, sizeof sys, "hybrid_%s_%.1f_%.1f", how, f[i].w_bm25, f[i].w_vec);
        if (rag_eval_hybrid(s, 1024, &f[i], &r) < 0) bench_fail(b, "hybrid %s", lang);
        row3(b, lang, sys, &r,
             f[i].how == RAG_FUSE_RRF ? "RRF c=60, BM25 and vector lists of 50"
                                      : "convex, min-max normalised, lists of 50");
    }
}

static void quality(bench *b)
{
    static const char *const langs[] = {"ru", "en"};
    bench_section(b, "quality", "XQuAD retrieval (240 paragraphs, 1,190 questions)");
    for (int l = 0; l < 2; l++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/tests/fixtures/rag/xquad_%s", BENCH_SOURCE_DIR, langs[l]);
        rag_set s;
        if (rag_set_load(&s, dir) < 0) {
            bench_fail(b, "cannot load %s", dir);
            return;
        }
        for (int stem = 1; stem >= 0; stem--) {
            rag_scores r;
            if (rag_eval_bm25(&s, stem, &r) < 0 || r.queries != s.nqueries) {
                bench_fail(b, "evaluation of %s failed", langs[l]);
                continue;
            }
            row3(b, langs[l], stem ? "bm25_stemmed" : "bm25_plain", &r, stem ? "" : "peer");
        }
        vectors(b, &s, langs[l]);
        rag_set_free(&s);
    }
}

static void scale_one(bench *b, size_t chunks, int stem)
{
    rag_analyzer *a = rag_analyzer_new(stem);
    rag_index *ix = rag_index_new(a);
    char **texts = malloc(chunks * sizeof *texts);
    for (size_t i = 0; i < chunks; i++)
        texts[i] = rag_gen_text(100);
    uint64_t t0 = bench_now_ns();
    for (size_t i = 0; i < chunks; i++)
        if (rag_index_add(ix, texts[i], strlen(texts[i])) != (int64_t)i)
            bench_fail(b, "add %zu", i);
    double secs = (double)(bench_now_ns() - t0) / 1e9;
    bench_lat lat = {0};
    size_t queries = chunks < 10000 ? 200 : 1000;
    for (size_t q = 0; q < queries; q++) {
        char *qt = rag_gen_text(2 + q % 3);
        rag_hit hits[10];
        uint64_t s0 = bench_now_ns();
        if (rag_index_search(ix, qt, strlen(qt), NULL, NULL, hits, 10) < 0) bench_fail(b, "search");
        bench_lat_add(&lat, bench_now_ns() - s0);
        free(qt);
    }
    char key[96];
    const char *sys = stem ? "stemmed" : "plain";
    snprintf(key, sizeof key, "%s_%zu_chunks_per_s", sys, chunks);
    bench_row(b, "scale", key, (double)chunks / secs, "chunks/s", "100 tokens each%s",
              stem ? "" : " (peer)");
    snprintf(key, sizeof key, "%s_%zu_query_p50", sys, chunks);
    bench_row(b, "scale", key, bench_lat_us(&lat, 0.5), "us", "%zu queries", queries);
    snprintf(key, sizeof key, "%s_%zu_query_p99", sys, chunks);
    bench_row(b, "scale", key, bench_lat_us(&lat, 0.99), "us", "%s", "");
    snprintf(key, sizeof key, "%s_%zu_index_bytes_per_chunk", sys, chunks);
    bench_row(b, "scale", key, (double)rag_index_bytes(ix) / (double)chunks, "B", "%zu terms",
              rag_index_terms(ix));
    bench_lat_free(&lat);
    for (size_t i = 0; i < chunks; i++)
        free(texts[i]);
    free(texts);
    rag_index_free(ix);
    rag_analyzer_free(a);
}

int main(int argc, char **argv)
{
    bench b;
    bench_init(&b, "rag", argc, argv);
    if (bench_want(&b, "quality")) quality(&b);
    if (bench_want(&b, "scale")) {
        bench_section(&b, "scale", "BM25 index over generated chunks");
        size_t sizes[] = {1000, 10000, 100000};
        for (int i = b.full ? 1 : 0; i < (b.full ? 3 : 1); i++) {
            scale_one(&b, sizes[i], 1);
            scale_one(&b, sizes[i], 0);
        }
    }
    return bench_finish(&b);
}
