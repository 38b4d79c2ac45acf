/*
 * rag_eval_api - the RAG evaluation (XQuAD, BEIR layout) through a running
 * agenthost's HTTP API: the set's paragraphs added to a base of a rag
 * instance with document.add, ingested (embedded by whatever LLM instance
 * its embed_instance names: the fake OpenAI's stand-in in the tests, a real
 * provider in production), then every question asked with the search action
 * in each mode; nDCG@10, Recall@1 and Recall@5 printed per mode, with the
 * search's latency through the API (p50, p99). A mode written MODE+rerankN
 * asks MODE with "rerank": {"top_n": N} (re-ranking by the LLM instance).
 *
 *   rag_eval_api --url http://127.0.0.1:8080 --instance kb --set tests/fixtures/rag/xquad_ru
 *                [--kb NAME] [--modes bm25,vector,hybrid,hybrid+rerank10] [--limit N]
 *                [--timeout S]
 *
 * The API token comes from AGENTHOST_TOKEN. Exit status 0, 1 (a call
 * failed, ingestion did not finish in time), 2 (usage).
 */
#include "../support/rag_eval.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *url = "http://127.0.0.1:8080", *instance = "kb", *kb = NULL, *token;
static CURL *curl;
static int failed;

typedef struct {
    char *p;
    size_t n;
} buf;

static size_t collect(char *d, size_t s, size_t n, void *ud)
{
    buf *b = ud;
    char *np = realloc(b->p, b->n + s * n + 1);
    if (!np) return 0;
    memcpy(np + b->n, d, s * n);
    b->p = np;
    b->n += s * n;
    b->p[b->n] = 0;
    return s * n;
}

/* The action's answer ({"result": ...} or {"error": ...}), or NULL. */
static json_t *action(const char *name, json_t *args)
{
    char u[600], auth[600];
    snprintf(u, sizeof u, "%s/api/v1/instances/%s/actions/%s", url, instance, name);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    char *body = json_dumps(args, JSON_COMPACT);
    json_decref(args);
    struct curl_slist *h = curl_slist_append(NULL, auth);
    h = curl_slist_append(h, "Content-Type: application/json");
    buf b = {0};
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, u);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 300L);
    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(h);
    free(body);
    json_t *o = rc == CURLE_OK && b.p ? json_loads(b.p, 0, NULL) : NULL;
    if (!o)
        fprintf(stderr, "rag_eval_api: %s: %s\n", name, rc ? curl_easy_strerror(rc) : "no JSON");
    free(b.p);
    return o;
}

/* Each search's time through the API in the current mode, in ms. */
#define MAX_TIMED 8192
static double took_ms[MAX_TIMED];
static size_t ntimed, not_reranked;

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int rank(void *ud, const char *query, uint32_t *docs, size_t k)
{
    char mode[64];
    snprintf(mode, sizeof mode, "%s", (const char *)ud);
    char *plus = strstr(mode, "+rerank");
    long top_n = plus ? atol(plus + strlen("+rerank")) : 0;
    if (plus) *plus = 0;
    json_t *args = json_pack("{s:s,s:s,s:I,s:s}", "kb", kb, "query", query, "top_k", (json_int_t)k,
                             "mode", mode);
    if (plus) json_object_set_new(args, "rerank", json_pack("{s:I}", "top_n", (json_int_t)top_n));
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    json_t *o = action("search", args);
    if (ntimed < MAX_TIMED) took_ms[ntimed++] = ms_since(&t0);
    if (plus && !json_is_true(json_object_get(json_object_get(o, "result"), "reranked")) &&
        not_reranked++ < 3) {
        const char *why =
            json_string_value(json_object_get(json_object_get(o, "result"), "rerank_reason"));
        fprintf(stderr, "rag_eval_api: not re-ranked: %s\n", why ? why : "(no reason)");
    }
    const json_t *ps = json_object_get(json_object_get(o, "result"), "passages");
    if (!ps && failed++ < 3) {
        char *d = json_dumps(o, JSON_COMPACT);
        fprintf(stderr, "rag_eval_api: search (%s): %s\n", mode, d ? d : "no answer");
        free(d);
    }
    size_t n = 0, i;
    const json_t *p;
    json_array_foreach(ps, i, p)
    {
        if (n == k) break;
        docs[n++] = (uint32_t)atoi(json_string_value(json_object_get(p, "document")) + 1);
    }
    json_decref(o);
    return (int)n;
}

/* Waits until every document is ready (or failed); 0, or -1 after timeout_s. */
static int wait_ready(size_t ndocs, int timeout_s)
{
    time_t end = time(NULL) + timeout_s;
    while (time(NULL) < end) {
        json_t *o = action("document.list", json_pack("{s:s}", "kb", kb));
        size_t ready = 0, bad = 0, i;
        const json_t *d;
        json_array_foreach(json_object_get(json_object_get(o, "result"), "documents"), i, d)
        {
            const char *st = json_string_value(json_object_get(d, "state"));
            ready += st && !strcmp(st, "ready");
            bad += st && !strcmp(st, "failed");
        }
        json_decref(o);
        if (ready + bad >= ndocs) return bad ? -1 : 0;
        sleep(1);
    }
    return -1;
}

int main(int argc, char **argv)
{
    const char *set = NULL, *modes = "bm25,vector,hybrid";
    long limit = 0, timeout_s = 1800;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--url"))
            url = argv[i + 1];
        else if (!strcmp(argv[i], "--instance"))
            instance = argv[i + 1];
        else if (!strcmp(argv[i], "--set"))
            set = argv[i + 1];
        else if (!strcmp(argv[i], "--kb"))
            kb = argv[i + 1];
        else if (!strcmp(argv[i], "--modes"))
            modes = argv[i + 1];
        else if (!strcmp(argv[i], "--limit"))
            limit = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--timeout"))
            timeout_s = atol(argv[i + 1]);
        else
            return fprintf(stderr, "rag_eval_api: unknown option %s\n", argv[i]), 2;
    }
    token = getenv("AGENTHOST_TOKEN");
    if (!set || !token) {
        fprintf(stderr, "usage: AGENTHOST_TOKEN=... rag_eval_api --url URL --instance ID --set DIR "
                        "[--kb NAME] [--modes bm25,vector,hybrid] [--limit N] [--timeout S]\n");
        return 2;
    }
    const char *base = strrchr(set, '/') ? strrchr(set, '/') + 1 : set;
    char kbname[120];
    snprintf(kbname, sizeof kbname, "eval-%s", base);
    if (!kb) kb = kbname;
    rag_set s;
    if (rag_set_load(&s, set) < 0) return 1;
    size_t loaded = s.nqueries; /* all of them are freed, however many are asked */
    if (limit > 0 && (size_t)limit < s.nqueries) s.nqueries = (size_t)limit;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    curl = curl_easy_init();
    json_decref(action("kb.create", json_pack("{s:s,s:i,s:i}", "name", kb, "max_tokens", 2000,
                                              "overlap_tokens", 0)));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < s.ndocs; i++) {
        char id[32];
        snprintf(id, sizeof id, "d%zu", i); /* the index, read back by rank */
        json_t *o = action("document.add", json_pack("{s:s,s:s,s:s,s:s}", "kb", kb, "id", id,
                                                     "content", s.doc_text[i], "format", "text"));
        if (!json_object_get(o, "result")) failed++;
        json_decref(o);
    }
    int rc = wait_ready(s.ndocs, (int)timeout_s);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%s: %zu documents ingested in %.1f s%s\n", base, s.ndocs,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
           rc ? " (NOT all ready)" : "");
    char *list = strdup(modes);
    for (char *save = NULL, *m = strtok_r(list, ",", &save); m && !rc;
         m = strtok_r(NULL, ",", &save)) {
        rag_scores sc;
        ntimed = not_reranked = 0;
        rag_score(&s, rank, m, &sc);
        qsort(took_ms, ntimed, sizeof *took_ms, by_value);
        printf("%s %-6s nDCG@10 %.3f  R@1 %.3f  R@5 %.3f  (%zu questions)  search p50 %.2f ms  "
               "p99 %.2f ms%s\n",
               base, m, sc.ndcg10, sc.r1, sc.r5, sc.queries, ntimed ? took_ms[ntimed / 2] : 0.0,
               ntimed ? took_ms[ntimed * 99 / 100] : 0.0,
               not_reranked ? " (some NOT re-ranked)" : "");
    }
    free(list);
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    s.nqueries = loaded;
    rag_set_free(&s);
    return rc || failed ? 1 : 0;
}
