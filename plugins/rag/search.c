/*
 * The RAG plugin's searches (rag.h): BM25, vector or hybrid, with the
 * query's embedding fetched through the LLM instance first when the mode
 * needs it, re-ranked by the LLM when asked (rerank.h), and one line per
 * query in logs/rag_integration.log.
 */
#include "embed.h"
#include "rag.h"
#include "rerank.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const char *const MODES[] = {"bm25", "vector", "hybrid"};

/* One line per query in logs/rag_integration.log: the base, the query's
 * hash (its text only with log_queries), the mode, the time taken, the
 * hits and the re-ranking's outcome (rerank.h; no texts). */
static void log_query(const char *kb, const char *query, rag_mode mode, const json_t *passages,
                      long long us, const json_t *rerank)
{
    if (!AH_HOST_HAS(R.host, log_record)) return;
    char hash[17];
    rag_hash(query, strlen(query), hash);
    json_t *docs = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(passages, i, p)
    {
        json_array_append_new(
            docs, json_pack("{s:O,s:O,s:O}", "document", json_object_get(p, "document"), "chunk",
                            json_object_get(p, "chunk"), "score", json_object_get(p, "score")));
    }
    json_t *f =
        json_pack("{s:s,s:s,s:s,s:I,s:I,s:o,s:O?}", "kb", kb, "query_hash", hash, "mode",
                  MODES[mode], "took_us", (json_int_t)us, "hits",
                  (json_int_t)json_array_size(passages), "passages", docs, "rerank", rerank);
    if (R.log_queries) json_object_set_new(f, "query", json_string(query));
    R.host->log_record(R.ctx, "rag_integration", AH_LOG_INFO, f, "rag.search");
    json_decref(f);
}

typedef struct {
    ah_call *call;
    json_t *args;
    char *query, *note, *kb;
    const char *vector_search; /* how the vector side searched, or NULL (bm25) */
    rag_mode mode;
    size_t k, top_n; /* passages answered; candidates re-ranked (0: none) */
    long long t0;
    rag_search_then then;
    void *ud;
} pending;

static void pending_free(pending *p)
{
    json_decref(p->args);
    free(p->query);
    free(p->note);
    free(p->kb);
    free(p);
}

/* Answers ps (stolen), cut to top_k, with the re-ranking's outcome
 * (stolen, or NULL when none was asked). */
static void deliver(pending *p, json_t *ps, json_t *rerank)
{
    while (json_array_size(ps) > p->k)
        json_array_remove(ps, json_array_size(ps) - 1);
    log_query(p->kb, p->query, p->mode, ps, now_us() - p->t0, rerank);
    json_t *out = json_pack("{s:s,s:s,s:o}", "kb", p->kb, "mode", MODES[p->mode], "passages", ps);
    if (p->vector_search) /* docs/plugins/rag.md */
        json_object_set_new(out, "vector_search", json_string(p->vector_search));
    if (rerank) { /* docs/plugins/rag.md#re-ranking */
        json_object_set(out, "reranked", json_object_get(rerank, "reranked"));
        if (json_object_get(rerank, "reason"))
            json_object_set(out, "rerank_reason", json_object_get(rerank, "reason"));
    }
    json_decref(rerank);
    if (p->note)
        json_object_set_new(out, "note", json_string(p->note));
    else if (!json_array_size(ps)) /* a query in a language the base does not hold lands here too */
        json_object_set_new(out, "note",
                            json_string(p->mode == RAG_BM25
                                            ? "no passage matches: no word of the query "
                                              "occurs in this base (or its filters)"
                                            : "no passage matches (the base, or its filters, "
                                              "hold no chunk)"));
    p->then(p->call, p->args, out, NULL, NULL, p->ud);
    pending_free(p);
}

static void reranked(json_t *passages, json_t *outcome, void *ud)
{
    deliver(ud, passages, outcome);
}

static void finish(pending *p, const float *qvec, size_t qdim)
{
    const json_t *args = p->args;
    rag_kb *kb = rag_kbs_find(&R.kbs, json_string_value(json_object_get(args, "kb")));
    if (!kb) { /* deleted meanwhile */
        p->then(p->call, args, NULL, "not_found", "kb: the knowledge base was deleted", p->ud);
        return pending_free(p);
    }
    const json_t *w = json_object_get(args, "weights");
    rag_search_opts o = {.mode = p->mode,
                         .qvec = qvec,
                         .qdim = qdim,
                         .w_bm25 = R.w_bm25,
                         .w_vector = R.w_vector,
                         .fusion = R.fusion,
                         .ann = &R.ann};
    if (json_is_number(json_object_get(w, "bm25")))
        o.w_bm25 = json_number_value(json_object_get(w, "bm25"));
    if (json_is_number(json_object_get(w, "vector")))
        o.w_vector = json_number_value(json_object_get(w, "vector"));
    if (json_is_string(json_object_get(args, "fusion")))
        o.fusion = rag_fusion_named(json_string_value(json_object_get(args, "fusion")));
    rag_disk_stats st;
    if (rag_disk_stats_get(R.kbs.disk, kb->name, &st) < 0) memset(&st, 0, sizeof st);
    if (p->mode != RAG_BM25 && qvec && qdim != st.dim && st.vecs && !p->note)
        p->note = strdup("the query's embedding has another dimension than the base's: "
                         "the vector side found nothing (was the model changed?)");
    json_int_t k = json_integer_value(json_object_get(args, "top_k"));
    p->k = k > 0 ? (size_t)k : 5;
    int approx = 0;
    json_t *ps = rag_kb_search_ex(&R.kbs, kb, p->query, &o, p->top_n > p->k ? p->top_n : p->k,
                                  json_object_get(args, "tags"),
                                  json_string_value(json_object_get(args, "language")), &approx);
    if (!ps) {
        p->then(p->call, args, NULL, "search_failed", rag_disk_error(R.kbs.disk), p->ud);
        return pending_free(p);
    }
    if (!(p->kb = strdup(kb->name))) {
        json_decref(ps);
        p->then(p->call, args, NULL, "no_memory", "out of memory", p->ud);
        return pending_free(p);
    }
    if (p->mode != RAG_BM25) /* how the vector side searched (docs/plugins/rag.md) */
        p->vector_search = approx ? "approximate" : "exact";
    if (p->top_n)
        rag_rerank(p->query, ps, p->top_n, reranked, p);
    else
        deliver(p, ps, NULL);
}

static void query_embedded(const float *v, size_t dim, int status, const char *message, void *ud)
{
    pending *p = ud;
    if (status && p->mode == RAG_VECTOR) {
        p->then(p->call, p->args, NULL, "embedding_failed", message, p->ud);
        return pending_free(p);
    }
    if (status) { /* hybrid: BM25 alone, said so */
        char note[600];
        snprintf(note, sizeof note, "BM25 only: %s", message);
        p->note = strdup(note);
        p->mode = RAG_BM25;
    }
    finish(p, v, dim);
}

void rag_search_start(ah_call *call, const json_t *args, const char *query, rag_search_then then,
                      void *ud)
{
    const char *name = json_string_value(json_object_get(args, "kb"));
    rag_kb *kb = rag_kbs_find(&R.kbs, name ? name : "");
    char msg[200];
    size_t top_n;
    if (!kb) {
        snprintf(msg, sizeof msg, "kb: no knowledge base \"%.100s\"", name ? name : "");
        return then(call, args, NULL, "not_found", msg, ud);
    }
    if (rag_rerank_top_n(args, kb->rec, &top_n, msg, sizeof msg) < 0)
        return then(call, args, NULL, "invalid", msg, ud);
    const char *m = json_string_value(json_object_get(args, "mode"));
    rag_mode mode = R.embed_instance ? RAG_HYBRID : RAG_BM25;
    if (m) mode = !strcmp(m, "vector") ? RAG_VECTOR : !strcmp(m, "hybrid") ? RAG_HYBRID : RAG_BM25;
    if (mode != RAG_BM25 && !R.embed_instance)
        return then(call, args, NULL, "invalid",
                    "mode: vector and hybrid search need embed_instance in the instance's "
                    "configuration",
                    ud);
    pending *p = calloc(1, sizeof *p);
    if (!p || !(p->query = strdup(query ? query : ""))) {
        free(p);
        return then(call, args, NULL, "no_memory", "out of memory", ud);
    }
    *p = (pending){.call = call,
                   .args = json_deep_copy(args),
                   .query = p->query,
                   .mode = mode,
                   .top_n = top_n,
                   .t0 = now_us(),
                   .then = then,
                   .ud = ud};
    if (mode == RAG_BM25)
        finish(p, NULL, 0);
    else
        rag_embed_query(p->query, query_embedded, p);
}
