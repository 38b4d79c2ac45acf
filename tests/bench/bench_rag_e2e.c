/*
 * bench_rag_e2e - knowledge bases end to end (issue 18, "Measure"): the rag
 * plugin's own .so (dlopen'd from the build) driven through its actions in
 * the SDK's fake host: kb.create, document.add of generated Markdown
 * (headings, sections of Zipf-distributed Russian and English words,
 * rag_gen.h), ingestion to the end with embeddings answered by the
 * deterministic stand-in (hashed character trigrams, tests/fakes/
 * ngram_embed.c, through aht_on_call), then search in bm25, vector and
 * hybrid modes.
 *
 *   ingest   chunks per second with the provider's time (the stand-in) and
 *            the KV's (serialising each value) taken out, both reported
 *   search   p50/p99 per mode, the stand-in's time for the query's
 *            embedding taken out; beside the floors in the same run: the
 *            lexical index alone (plugins/rag/bm25.c, in this process, the
 *            same chunks and queries) and the exact scan of the same vectors
 *   recall   recall@10 of the plugin's vector search against that exact scan
 *            (approximate, IVF, from ann_min_vectors on)
 *   size     the plugin's memory (RSS growth of this process from before
 *            the first document to after the searches, per chunk) and disk
 *            per chunk: the bytes of its KV (keys and compact JSON values,
 *            as the host stores them, before LMDB's pages) plus the files
 *            under its private storage directory (aht_storage_dir)
 *
 * The fake's KV would hold every value as jansson in this same process; the
 * host table the plugin gets is the fake's with kv_put, kv_put_many and
 * kv_delete replaced: they count the bytes each key holds and complete as
 * the fake does, keeping nothing, so the RSS is the plugin's (reads find an
 * empty store, as at a base's first start). Everything the bench keeps (the
 * byte table, the vectors for the exact scan) is allocated and touched
 * before the baseline.
 *
 *   bench_rag_e2e --smoke | --full     (smoke: 1,000 chunks, ann_min_vectors
 *                                       500; full: 10,000 and 1,000,000)
 *   RAG_E2E_SIZE=10k|1m                one size of --full; or 10k-long (20
 *                                       documents of 500 sections) or
 *                                       50k-docs (50,000 of 1): ingestion's
 *                                       per-document and per-base costs
 *
 * Ingestion also reports its rate in each tenth of the base (on stderr) and
 * in the first and last tenths (rows): a cost that grows with the base shows
 * as a last tenth slower than the first.
 */
#include "bench.h"

#include "../../plugins/rag/bm25.h"
#include "../fakes/ngram_embed.h"
#include "rag_gen.h"

#include <agenthost/testing.h>
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIMS 128
#define PARA_WORDS 90
#define TOPK 10

static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ? h : 1;
}

/* ---- the counting KV ------------------------------------------------------- */

/* Wall and CPU time of this thread, ns. */
typedef struct {
    uint64_t wall, cpu;
} tm;

static tm tm_now(void)
{
    return (tm){bench_now_ns(), bench_cpu_thread_ns()};
}

static void tm_add(tm *acc, tm since)
{
    tm n = tm_now();
    acc->wall += n.wall - since.wall;
    acc->cpu += n.cpu - since.cpu;
}

/* What a key holds: its kind (chunk/, emb/, anything else) and bytes. */
enum { KIND_CHUNK, KIND_EMB, KIND_OTHER, KINDS };
static const char *const KIND_NAME[KINDS] = {"chunk", "emb", "other"};

typedef struct {
    uint64_t h;
    uint32_t bytes;
    uint8_t live, kind;
} kv_slot;

static struct {
    kv_slot *t;
    size_t cap, live;
    uint64_t bytes[KINDS];
    unsigned sample; /* serialise 1 key in sample (by its hash), count it sample times */
    tm time;
} K;

static void kv_count(const char *key, const json_t *v)
{
    tm t0 = tm_now();
    uint64_t h = fnv(key, strlen(key));
    uint32_t b = 0;
    if (v && h % K.sample == 0)
        b = (uint32_t)(strlen(key) + json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY));
    size_t i = (size_t)h & (K.cap - 1);
    for (size_t k = 0; k < K.cap && K.t[i].h && K.t[i].h != h; k++)
        i = (i + 1) & (K.cap - 1);
    kv_slot *s = &K.t[i];
    if (s->h == h) {
        K.bytes[s->kind] -= s->bytes;
        K.live -= s->live;
    }
    s->h = h; /* a deleted key keeps its slot, not live */
    s->bytes = b;
    s->live = v != NULL;
    s->kind = !strncmp(key, "chunk/", 6) ? KIND_CHUNK
              : !strncmp(key, "emb/", 4) ? KIND_EMB
                                         : KIND_OTHER;
    K.bytes[s->kind] += b;
    K.live += s->live;
    tm_add(&K.time, t0);
}

static const ah_plugin *PLUG;
static const ah_host *REAL;
static ah_host H;

static int w_kv_put(ah_ctx *c, const char *key, const json_t *v, ah_done_cb cb, void *ud)
{
    if (!key || !*key || !v) return AH_EINVAL;
    kv_count(key, v);
    return REAL->kv_delete(c, key, cb, ud); /* completes as a put would, keeps nothing */
}

static int w_kv_put_many(ah_ctx *c, const ah_kv_entry *it, size_t n, ah_done_cb cb, void *ud)
{
    if (!it || !n) return AH_EINVAL;
    for (size_t i = 0; i < n; i++)
        kv_count(it[i].key, it[i].value);
    return REAL->kv_delete(c, it[0].key, cb, ud);
}

static int w_kv_delete(ah_ctx *c, const char *key, ah_done_cb cb, void *ud)
{
    if (key && *key) kv_count(key, NULL);
    return REAL->kv_delete(c, key, cb, ud);
}

static int w_init(ah_ctx *ctx, const ah_host *host, const json_t *config)
{
    REAL = host;
    H = *host;
    H.kv_put = w_kv_put;
    H.kv_put_many = w_kv_put_many;
    H.kv_delete = w_kv_delete;
    return PLUG->init(ctx, &H, config);
}

/* ---- the provider: the stand-in, timed; ingested vectors kept ------------- */

static struct {
    tm time;
    int record;
    float *v;
    uint64_t *h;
    size_t n, cap;
} P;

static json_t *stand_in(void *ud, const char *instance, const char *action, const json_t *args)
{
    (void)ud;
    if (strcmp(instance, "llm") != 0 || strcmp(action, "embed") != 0) return NULL;
    tm t0 = tm_now();
    int dims = (int)json_integer_value(json_object_get(args, "dimensions"));
    float v[DIMS];
    json_t *vs = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(args, "input"), i, t)
    {
        ngram_embed(json_string_value(t), json_string_length(t), v, dims);
        if (P.record && P.n < P.cap) {
            memcpy(P.v + P.n * DIMS, v, sizeof v);
            P.h[P.n++] = fnv(json_string_value(t), json_string_length(t));
        }
        json_t *a = json_array();
        for (int k = 0; k < dims; k++)
            json_array_append_new(a, json_real(v[k]));
        json_array_append_new(vs, a);
    }
    json_t *out = json_pack("{s:{s:o}}", "result", "embeddings", vs);
    tm_add(&P.time, t0);
    return out;
}

/* The exact top k of the kept vectors (the floor): their text hashes. */
static void exact_top(const float *q, uint64_t *top, size_t k)
{
    float best[TOPK];
    size_t n = 0;
    for (size_t i = 0; i < P.n; i++) {
        const float *x = P.v + i * DIMS;
        float s = 0;
        for (int d = 0; d < DIMS; d++)
            s += q[d] * x[d];
        if (n == k && s <= best[k - 1]) continue;
        size_t j = n < k ? n++ : k - 1;
        while (j > 0 && best[j - 1] < s) {
            best[j] = best[j - 1];
            top[j] = top[j - 1];
            j--;
        }
        best[j] = s;
        top[j] = P.h[i];
    }
    for (size_t i = n; i < k; i++)
        top[i] = 0;
}

/* A field of /proc/self/status in bytes (RssAnon: the heap and other private
 * memory; RssFile: pages of mapped files, the index's LMDB map among them). */
static uint64_t status_bytes(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t n = strlen(field);
    uint64_t kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':') {
            kb = strtoull(line + n + 1, NULL, 10);
            break;
        }
    if (f) fclose(f);
    return kb * 1024;
}

/* ---- one size ------------------------------------------------------------- */

typedef struct {
    size_t chunks;      /* asked for */
    size_t ann_min;     /* ann_min_vectors */
    size_t queries;     /* per mode */
    size_t recall_q;    /* of which checked against the exact scan */
    unsigned kv_sample; /* serialise 1 KV value in this many (by key hash) */
    size_t sections;    /* per document, one chunk each */
    int floor_lexical;  /* build the lexical index alone too */
    const char *label;  /* "1k", "10k", "1m" */
} size_cfg;

/* A document: "# title", then `sections` sections "## heading" and a
 * paragraph of PARA_WORDS words. The same for the same seed. */
static char *gen_doc(size_t sections, char **paras)
{
    size_t cap = 64 + sections * (PARA_WORDS + 8) * 25, n = 0;
    char *d = malloc(cap), w[32];
    n += (size_t)snprintf(d + n, cap - n, "# ");
    for (int k = 0; k < 4; k++) {
        rag_gen_word(w, sizeof w);
        n += (size_t)snprintf(d + n, cap - n, "%s%s", k ? " " : "", w);
    }
    for (size_t s = 0; s < sections; s++) {
        n += (size_t)snprintf(d + n, cap - n, "\n\n## ");
        for (int k = 0; k < 3; k++) {
            rag_gen_word(w, sizeof w);
            n += (size_t)snprintf(d + n, cap - n, "%s%s", k ? " " : "", w);
        }
        char *p = rag_gen_text(PARA_WORDS);
        n += (size_t)snprintf(d + n, cap - n, "\n\n%s", p);
        if (paras)
            paras[s] = p;
        else
            free(p);
    }
    snprintf(d + n, cap - n, "\n");
    return d;
}

static uint64_t du_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    uint64_t sum = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) < 0) continue;
        sum += S_ISDIR(st.st_mode) ? du_bytes(p) : (uint64_t)st.st_blocks * 512;
    }
    closedir(d);
    return sum;
}

static uint64_t peak_rss(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %llu kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb * 1024;
}

/* The fake keeps every call the plugin made (each embed's texts) and every
 * log line for the test to read: emptied as the run goes, so that this
 * process's growth is the plugin's. */
static void forget(aht *t)
{
    json_array_clear((json_t *)aht_calls_made(t));
    json_array_clear((json_t *)aht_logs(t));
}

static const json_t *call(bench *b, aht *t, const char *action, json_t *args)
{
    char *s = json_dumps(args, JSON_COMPACT);
    json_decref(args);
    const json_t *ans = aht_call(t, action, s);
    free(s);
    if (!json_object_get(ans, "result")) {
        char *e = ans ? json_dumps(ans, JSON_COMPACT) : NULL;
        bench_fail(b, "%s: %s", action, e ? e : "no answer");
        free(e);
        return NULL;
    }
    return json_object_get(ans, "result");
}

/* A tenth of the ingestion: the plugin's CPU time (the stand-in's, the KV
 * serialisation's and the generation's taken out) and the chunks embedded,
 * so that the rate at the base's end can be set beside its start's. */
typedef struct {
    tm t0, p0, k0, g0;
    uint64_t cpu;
    size_t n0, chunks;
} slice;

static void slice_start(slice *s, tm gen)
{
    *s = (slice){tm_now(), P.time, K.time, gen, 0, P.n, 0};
}

static void slice_end(slice *s, tm gen, const char *label, size_t done, size_t ndocs)
{
    tm n = tm_now();
    s->cpu = (n.cpu - s->t0.cpu) - (P.time.cpu - s->p0.cpu) - (K.time.cpu - s->k0.cpu) -
             (gen.cpu - s->g0.cpu);
    s->chunks = P.n - s->n0;
    fprintf(stderr,
            "%s: %zu of %zu documents, %zu chunks: %.0f chunks per CPU second (%.0f s wall)\n",
            label, done, ndocs, P.n, (double)s->chunks / ((double)s->cpu / 1e9 + 1e-9),
            (double)(n.wall - s->t0.wall) / 1e9);
}

static double slice_rate(const slice *s)
{
    return (double)s->chunks / ((double)s->cpu / 1e9 + 1e-9);
}

static void ingest(bench *b, aht *t, const size_cfg *c, size_t ndocs)
{
    tm gen = {0}, p0 = P.time, k0 = K.time, t0 = tm_now();
    slice sl = {0}, first = {0}, last = {0};
    slice_start(&sl, gen);
    rag_gen_seed(0xC0FFEEull);
    for (size_t i = 0; i < ndocs; i++) {
        if (ndocs >= 10 && i && i % (ndocs / 10) == 0 && i / (ndocs / 10) <= 10) {
            aht_run(t);
            forget(t);
            slice_end(&sl, gen, c->label, i, ndocs);
            if (i / (ndocs / 10) == 1) first = sl;
            last = sl;
            slice_start(&sl, gen);
        }
        tm g0 = tm_now();
        char *doc = gen_doc(c->sections, NULL), id[32];
        snprintf(id, sizeof id, "d%07zu", i);
        json_t *a = json_pack("{s:s,s:s,s:s,s:s}", "kb", "bench", "id", id, "format", "markdown",
                              "content", doc);
        free(doc);
        tm_add(&gen, g0);
        if (!call(b, t, "document.add", a)) return;
        if (i % 32 == 31) {
            aht_run(t);
            forget(t);
        }
    }
    aht_run(t);
    forget(t);
    if (ndocs >= 10 && ndocs % 10 == 0) {
        slice_end(&sl, gen, c->label, ndocs, ndocs);
        last = sl;
    }
    tm all = {0};
    tm_add(&all, t0);
    tm prov = {P.time.wall - p0.wall, P.time.cpu - p0.cpu};
    tm kv = {K.time.wall - k0.wall, K.time.cpu - k0.cpu};
    const json_t *l = call(b, t, "kb.list", json_object());
    const json_t *kb = json_array_get(json_object_get(l, "bases"), 0);
    size_t chunks = (size_t)json_integer_value(json_object_get(kb, "chunks"));
    size_t docs = (size_t)json_integer_value(json_object_get(kb, "documents"));
    if (docs != ndocs || chunks < ndocs * c->sections)
        bench_fail(b, "%s: %zu documents, %zu chunks; expected %zu and at least %zu", c->label,
                   docs, chunks, ndocs, ndocs * c->sections);
    if (P.n != chunks) bench_fail(b, "%s: %zu chunks embedded of %zu", c->label, P.n, chunks);
    const json_t *dl = call(b, t, "document.list", json_pack("{s:s}", "kb", "bench"));
    size_t i, ready = 0;
    const json_t *d;
    json_array_foreach(json_object_get(dl, "documents"), i, d) ready +=
        strcmp(json_string_value(json_object_get(d, "state")) ?: "", "ready") == 0;
    if (ready != ndocs) bench_fail(b, "%s: %zu of %zu documents ready", c->label, ready, ndocs);
    double wall_s = (double)(all.wall - prov.wall - kv.wall - gen.wall) / 1e9;
    double cpu_s = (double)(all.cpu - prov.cpu - kv.cpu - gen.cpu) / 1e9;
    char key[96];
    snprintf(key, sizeof key, "%s_chunks", c->label);
    bench_row(b, "ingest", key, (double)chunks, "", "%zu documents of %zu sections, markdown",
              ndocs, c->sections);
    snprintf(key, sizeof key, "%s_chunks_per_s", c->label);
    bench_row(b, "ingest", key, (double)chunks / wall_s, "chunks/s",
              "plugin only, wall: %.1f s of %.1f s", wall_s, (double)all.wall / 1e9);
    snprintf(key, sizeof key, "%s_chunks_per_cpu_s", c->label);
    bench_row(b, "ingest", key, (double)chunks / cpu_s, "chunks/s", "plugin only, per CPU second");
    if (first.chunks && last.chunks) {
        snprintf(key, sizeof key, "%s_chunks_per_cpu_s_first_tenth", c->label);
        bench_row(b, "ingest", key, slice_rate(&first), "chunks/s",
                  "plugin only, per CPU second, the base's first tenth");
        snprintf(key, sizeof key, "%s_chunks_per_cpu_s_last_tenth", c->label);
        bench_row(b, "ingest", key, slice_rate(&last), "chunks/s",
                  "plugin only, per CPU second, its last tenth");
    }
    snprintf(key, sizeof key, "%s_provider_s", c->label);
    bench_row(b, "ingest", key, (double)prov.wall / 1e9, "s",
              "excluded: stand-in embeddings, %d dims (%.1f s CPU)", DIMS, (double)prov.cpu / 1e9);
    snprintf(key, sizeof key, "%s_kv_serialise_s", c->label);
    bench_row(b, "ingest", key, (double)kv.wall / 1e9, "s",
              "excluded: KV values as compact JSON, 1 key in %u (%.1f s CPU)", K.sample,
              (double)kv.cpu / 1e9);
}

typedef struct {
    char **q;
    size_t n;
} queries;

static void search_mode(bench *b, aht *t, const size_cfg *c, const queries *qs, const char *mode,
                        size_t *recall_hits)
{
    bench_lat lat = {0}, cpu = {0};
    float qv[DIMS];
    const char *how = "";
    for (size_t i = 0; i < qs->n; i++) {
        tm p0 = P.time, t0 = tm_now();
        const json_t *r = call(b, t, "search",
                               json_pack("{s:s,s:s,s:s,s:i}", "kb", "bench", "query", qs->q[i],
                                         "mode", mode, "top_k", TOPK));
        tm t1 = tm_now();
        bench_lat_add(&lat, t1.wall - t0.wall - (P.time.wall - p0.wall));
        bench_lat_add(&cpu, t1.cpu - t0.cpu - (P.time.cpu - p0.cpu));
        if (!r) break;
        how = json_string_value(json_object_get(r, "vector_search")) ?: "";
        if (!recall_hits || i >= c->recall_q) continue;
        uint64_t top[TOPK];
        ngram_embed(qs->q[i], strlen(qs->q[i]), qv, DIMS);
        exact_top(qv, top, TOPK);
        size_t k;
        const json_t *p;
        json_array_foreach(json_object_get(r, "passages"), k, p)
        {
            const char *tx = json_string_value(json_object_get(p, "text")) ?: "";
            uint64_t h = fnv(tx, strlen(tx));
            for (int j = 0; j < TOPK; j++)
                if (top[j] == h) {
                    ++*recall_hits;
                    break;
                }
        }
    }
    char key[96];
    snprintf(key, sizeof key, "%s_%s_p50", c->label, mode);
    bench_row(b, "search", key, bench_lat_us(&lat, 0.5), "us", "%zu queries, top %d%s%s", qs->n,
              TOPK, *how ? ", " : "", how);
    snprintf(key, sizeof key, "%s_%s_p99", c->label, mode);
    bench_row(b, "search", key, bench_lat_us(&lat, 0.99), "us", "%s", "");
    snprintf(key, sizeof key, "%s_%s_cpu_p50", c->label, mode);
    bench_row(b, "search", key, bench_lat_us(&cpu, 0.5), "us", "CPU time");
    bench_lat_free(&lat);
    bench_lat_free(&cpu);
}

/* The floors: the lexical index alone over the same paragraphs, and the
 * exact scan of the kept vectors, with the same queries. */
static void floors(bench *b, const size_cfg *c, size_t ndocs, const queries *qs)
{
    char key[96];
    bench_lat lat = {0}, cpu = {0};
    float qv[DIMS];
    uint64_t top[TOPK];
    for (size_t i = 0; i < qs->n && i < c->recall_q; i++) {
        tm t0 = tm_now();
        ngram_embed(qs->q[i], strlen(qs->q[i]), qv, DIMS);
        exact_top(qv, top, TOPK);
        tm t1 = tm_now();
        bench_lat_add(&lat, t1.wall - t0.wall);
        bench_lat_add(&cpu, t1.cpu - t0.cpu);
    }
    snprintf(key, sizeof key, "%s_exact_scan_p50", c->label);
    bench_row(b, "search", key, bench_lat_us(&lat, 0.5), "us",
              "floor: %zu vectors of %d floats scanned here", P.n, DIMS);
    snprintf(key, sizeof key, "%s_exact_scan_p99", c->label);
    bench_row(b, "search", key, bench_lat_us(&lat, 0.99), "us", "%s", "");
    snprintf(key, sizeof key, "%s_exact_scan_cpu_p50", c->label);
    bench_row(b, "search", key, bench_lat_us(&cpu, 0.5), "us", "CPU time");
    bench_lat_free(&lat);
    bench_lat_free(&cpu);
    if (!c->floor_lexical) return;
    rag_analyzer *a = rag_analyzer_new(1);
    rag_index *ix = rag_index_new(a);
    char **paras = calloc(ndocs * c->sections, sizeof *paras);
    rag_gen_seed(0xC0FFEEull);
    for (size_t i = 0; i < ndocs; i++)
        free(gen_doc(c->sections, paras + i * c->sections));
    tm t0 = tm_now(), ix_t = {0};
    for (size_t i = 0; i < ndocs * c->sections; i++)
        rag_index_add(ix, paras[i], strlen(paras[i]));
    tm_add(&ix_t, t0);
    snprintf(key, sizeof key, "%s_lexical_alone_chunks_per_s", c->label);
    bench_row(b, "ingest", key, (double)(ndocs * c->sections) / ((double)ix_t.wall / 1e9),
              "chunks/s", "floor: bm25.c index alone, same paragraphs");
    snprintf(key, sizeof key, "%s_lexical_alone_chunks_per_cpu_s", c->label);
    bench_row(b, "ingest", key, (double)(ndocs * c->sections) / ((double)ix_t.cpu / 1e9),
              "chunks/s", "per CPU second");
    lat = (bench_lat){0};
    cpu = (bench_lat){0};
    for (size_t i = 0; i < qs->n; i++) {
        rag_hit hits[TOPK];
        tm q0 = tm_now();
        rag_index_search(ix, qs->q[i], strlen(qs->q[i]), NULL, NULL, hits, TOPK);
        tm q1 = tm_now();
        bench_lat_add(&lat, q1.wall - q0.wall);
        bench_lat_add(&cpu, q1.cpu - q0.cpu);
    }
    snprintf(key, sizeof key, "%s_lexical_alone_p50", c->label);
    bench_row(b, "search", key, bench_lat_us(&lat, 0.5), "us", "floor: bm25.c alone, same queries");
    snprintf(key, sizeof key, "%s_lexical_alone_p99", c->label);
    bench_row(b, "search", key, bench_lat_us(&lat, 0.99), "us", "%s", "");
    snprintf(key, sizeof key, "%s_lexical_alone_cpu_p50", c->label);
    bench_row(b, "search", key, bench_lat_us(&cpu, 0.5), "us", "CPU time");
    bench_lat_free(&lat);
    bench_lat_free(&cpu);
    for (size_t i = 0; i < ndocs * c->sections; i++)
        free(paras[i]);
    free(paras);
    rag_index_free(ix);
    rag_analyzer_free(a);
}

/* Make every page resident (a memset of zeros may become a calloc). */
static void touch(void *p, size_t n)
{
    for (size_t i = 0; i < n; i += 4096)
        ((volatile char *)p)[i] = 0;
}

static void run_size(bench *b, const size_cfg *c)
{
    size_t ndocs = c->chunks / c->sections, keys = 2 * c->chunks + ndocs + 64;
    uint64_t t_start = bench_now_ns();
    for (K.cap = 1024; K.cap < 2 * keys; K.cap *= 2)
        ;
    K.t = calloc(K.cap, sizeof *K.t);
    P.cap = c->chunks + c->chunks / 4 + 64;
    P.v = malloc(P.cap * DIMS * sizeof *P.v);
    P.h = malloc(P.cap * sizeof *P.h);
    if (!K.t || !P.v || !P.h) return bench_fail(b, "%s: out of memory", c->label);
    touch(K.t, K.cap * sizeof *K.t); /* resident before the baseline */
    touch(P.v, P.cap * DIMS * sizeof *P.v);
    touch(P.h, P.cap * sizeof *P.h);
    K.sample = c->kv_sample;
    P.n = 0, P.record = 1;
    queries qs = {calloc(c->queries, sizeof(char *)), c->queries};
    rag_gen_seed(0x5EEDull + c->chunks);
    for (size_t i = 0; i < qs.n; i++)
        qs.q[i] = rag_gen_text(2 + i % 3);

    char dir[512];
    if (bench_tmpdir(dir, sizeof dir, "rag-e2e") < 0) return bench_fail(b, "tmpdir");
    static ah_plugin W;
    W = *PLUG;
    W.init = w_init;
    aht *t = aht_new(&W, "kb");
    aht_on_call(t, stand_in, NULL);
    aht_storage_dir(t, dir);
    char cfg[600];
    snprintf(cfg, sizeof cfg,
             "{\"max_document_bytes\": 900000, \"max_tokens\": 200, \"overlap_tokens\": 30, "
             "\"embed_instance\": \"llm\", \"embed_batch\": 64, \"embed_dimensions\": %d, "
             "\"embed_timeout_ms\": 60000, \"ann_min_vectors\": %zu, \"ann_nprobe\": 32, "
             "\"index_max_mb\": 16384}",
             DIMS, c->ann_min);
    if (aht_init(t, cfg) != AH_OK) return bench_fail(b, "init");
    aht_run(t);
    uint64_t rss0 = bench_rss(getpid()), anon0 = status_bytes("RssAnon"),
             file0 = status_bytes("RssFile");
    call(b, t, "kb.create",
         json_pack("{s:s,s:i,s:i}", "name", "bench", "max_tokens", 120, "overlap_tokens", 0));

    bench_section(b, "ingest", "document.add to ready, through the plugin");
    ingest(b, t, c, ndocs);
    P.record = 0;
    uint64_t rss_ingested = bench_rss(getpid());

    bench_section(b, "search", "search action, p50/p99 (stand-in's time for the query excluded)");
    /* The first vector query at and above ann_min_vectors starts the IVF's training. */
    tm f0 = tm_now(), first = {0};
    call(b, t, "search",
         json_pack("{s:s,s:s,s:s}", "kb", "bench", "query", "возврат денег", "mode", "vector"));
    tm_add(&first, f0);
    char key[96];
    snprintf(key, sizeof key, "%s_first_vector_query_ms", c->label);
    bench_row(b, "search", key, (double)first.wall / 1e6, "ms", "%s, %.0f ms CPU",
              P.n >= c->ann_min ? "exact, starts training the IVF index in slices"
                                : "exact: no index to train",
              (double)first.cpu / 1e6);
    /* The training's slices (ADR 0058) on the fake host's clock, 1 ms
     * each, until a vector search answers through the IVF. */
    int trained = P.n < c->ann_min;
    tm tr0 = tm_now(), train = {0};
    for (size_t i = 0; !trained && i < 100000; i++) {
        aht_advance(t, 1000);
        const json_t *r = call(
            b, t, "search",
            json_pack("{s:s,s:s,s:s}", "kb", "bench", "query", "возврат денег", "mode", "vector"));
        const char *how = json_string_value(json_object_get(r, "vector_search"));
        trained = how && !strcmp(how, "approximate");
    }
    tm_add(&train, tr0);
    if (P.n >= c->ann_min) {
        snprintf(key, sizeof key, "%s_ivf_training_ms", c->label);
        bench_row(b, "search", key, (double)train.wall / 1e6, "ms",
                  "slices until the switch (a search each 1,000), %.0f ms CPU",
                  (double)train.cpu / 1e6);
    }
    /* The plugin's memory: before the searches, whose answers the fake keeps. */
    uint64_t rss1 = bench_rss(getpid()), disk_dir = du_bytes(dir);
    uint64_t anon1 = status_bytes("RssAnon"), file1 = status_bytes("RssFile");
    size_t hits = 0;
    search_mode(b, t, c, &qs, "bm25", NULL);
    search_mode(b, t, c, &qs, "vector", &hits);
    search_mode(b, t, c, &qs, "hybrid", NULL);
    size_t chunks = P.n;
    floors(b, c, ndocs, &qs);

    bench_section(b, "recall", "plugin's vector search against the exact scan");
    snprintf(key, sizeof key, "%s_recall10", c->label);
    size_t nq = c->recall_q < qs.n ? c->recall_q : qs.n;
    bench_row(b, "recall", key, (double)hits / (double)(nq * TOPK), "",
              "%zu queries, %s, nprobe 32", nq,
              chunks >= c->ann_min ? "approximate (IVF)" : "exact");

    bench_section(b, "size", "memory and disk per chunk");
    snprintf(key, sizeof key, "%s_memory_per_chunk", c->label);
    bench_row(b, "size", key, (double)(rss1 - rss0) / (double)chunks, "B",
              "RSS growth %.0f MB (%.0f MB before the first vector query), vectors of %d floats",
              (double)(rss1 - rss0) / 1e6, (double)(rss_ingested - rss0) / 1e6, DIMS);
    snprintf(key, sizeof key, "%s_heap_per_chunk", c->label);
    bench_row(b, "size", key, (double)(anon1 - anon0) / (double)chunks, "B",
              "of which private (RssAnon growth, %.0f MB): the plugin's heap",
              (double)(anon1 - anon0) / 1e6);
    snprintf(key, sizeof key, "%s_mapped_per_chunk", c->label);
    bench_row(b, "size", key, (double)(file1 - file0) / (double)chunks, "B",
              "of which mapped (RssFile growth, %.0f MB): the index's pages, the kernel's to evict",
              (double)(file1 - file0) / 1e6);
    uint64_t kv_all = 0;
    for (int k = 0; k < KINDS; k++) {
        kv_all += K.bytes[k] * K.sample;
        snprintf(key, sizeof key, "%s_kv_%s_bytes_per_chunk", c->label, KIND_NAME[k]);
        bench_row(b, "size", key, (double)(K.bytes[k] * K.sample) / (double)chunks, "B",
                  "KV keys %s",
                  k == KIND_CHUNK ? "chunk/ (a previous version's: none now)"
                  : k == KIND_EMB ? "emb/ (a previous version's: none now)"
                                  : "kb/, doc/, src/ (the records, each document's text)");
    }
    snprintf(key, sizeof key, "%s_kv_bytes_per_chunk", c->label);
    bench_row(b, "size", key, (double)kv_all / (double)chunks, "B", "%zu keys, %.0f MB%s", K.live,
              (double)kv_all / 1e6, K.sample > 1 ? " (sampled)" : "");
    snprintf(key, sizeof key, "%s_storage_dir_bytes_per_chunk", c->label);
    bench_row(b, "size", key, (double)disk_dir / (double)chunks, "B",
              "files under the storage dir, %.0f MB", (double)disk_dir / 1e6);
    snprintf(key, sizeof key, "%s_peak_rss_mb", c->label);
    bench_row(b, "size", key, (double)peak_rss() / 1e6, "MB", "this process");
    snprintf(key, sizeof key, "%s_run_s", c->label);
    bench_row(b, "size", key, (double)(bench_now_ns() - t_start) / 1e9, "s",
              "this size, all of it");

    aht_free(t);
    bench_rmdir(dir);
    for (size_t i = 0; i < qs.n; i++)
        free(qs.q[i]);
    free(qs.q);
    free(K.t);
    free(P.v);
    free(P.h);
    memset(&K, 0, sizeof K);
    memset(&P, 0, sizeof P);
}

int main(int argc, char **argv)
{
    bench b;
    bench_init(&b, "rag_e2e", argc, argv);
    const char *so = getenv("RAG_SO") ? getenv("RAG_SO") : BENCH_BUILD_DIR "/plugins/rag/librag.so";
    void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    PLUG = h ? dlsym(h, AH_PLUGIN_SYMBOL) : NULL;
    if (!PLUG) {
        bench_fail(&b, "cannot load %s: %s", so, dlerror());
        return bench_finish(&b);
    }
    static const size_cfg smoke[] = {{1000, 500, 100, 50, 1, 20, 1, "1k"}};
    static const size_cfg full[] = {{10000, 50000, 1000, 200, 1, 20, 1, "10k"},
                                    {1000000, 50000, 200, 100, 8, 20, 0, "1m"}};
    /* Run only when named: the shapes that cost the most per chunk when a
     * document's bookkeeping is quadratic in its sections (long) or the
     * base's in its documents (docs); ann_min_vectors out of reach, the
     * searches exact. */
    static const size_cfg shapes[] = {{10000, 2000000, 200, 100, 1, 500, 0, "10k-long"},
                                      {50000, 2000000, 200, 100, 1, 1, 0, "50k-docs"}};
    const size_cfg *cs = b.full ? full : smoke;
    size_t n = b.full ? 2 : 1;
    const char *only = getenv("RAG_E2E_SIZE"); /* e.g. 10k: one size of --full */
    for (size_t i = 0; i < n; i++)
        if (!only || !strcmp(only, cs[i].label)) run_size(&b, &cs[i]);
    for (size_t i = 0; only && i < sizeof shapes / sizeof *shapes; i++)
        if (!strcmp(only, shapes[i].label)) run_size(&b, &shapes[i]);
    dlclose(h);
    return bench_finish(&b);
}
