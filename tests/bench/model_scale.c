/* model_scale.c - the data model at 1k, 10k, 100k and 1M conversations and
 * as many contacts, in one store that grows stage by stage:
 *   - loading: batches of BATCH documents per docs_write, the next batch
 *     generated while the writer commits the one before (documents/s);
 *   - list pages of 50 (model_query.c): the first page (with its total),
 *     the next one through its cursor, and a page before a random time,
 *     p50/p99 over random agents, contacts and times, the documents each
 *     page examined and the index the planner chose, and how the cost grew
 *     from the first query stage to the last;
 *   - bytes on disk: data.mdb, a compacted backup (store_backup), and the
 *     records' own bytes per document and per index entry;
 *   - memory: a fresh process (bench_model --probe-rss) opens the store as
 *     the host does (store_open, docs_open, docs_migrate), runs list
 *     queries, and reports its VmRSS split into anonymous memory (the
 *     heap) and file pages (LMDB's map).
 * The store is closed while the backup and the probe run: LMDB must not be
 * opened twice in one process, and the probe sees the store as a
 * restarted host would. */
#include "model.h"

#include "model/collections.h"

#include <agenthost/plugin.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BATCH 2000
#define MAP_SIZE (16ull << 30)
#define MAX_STAGES 4
#define PAGE 50

typedef struct stage_q {
    double first_p50, first_p99, next_p50, next_p99, ranged_p50, ranged_p99;
    size_t examined_max, items_max;
    double examined_mean;
    double us_per_doc; /* time of all pages / documents they examined */
    char index[32];
    bool index_varied;
} stage_q;

typedef struct scale {
    bench *b;
    mb_world w;
    mb_gen g;
    const char *self;
    long contacts, convs; /* loaded so far */
    stage_q q[MAX_STAGES][16];
    long qsize[MAX_STAGES];
    int nq;                  /* query stages measured */
    char sec[32];            /* the figures' section: the stage's */
    double conv_index_share; /* of the index's bytes, the conversations' */
} scale;

/* ---- loading ------------------------------------------------------------------ */

typedef struct loader {
    scale *s;
    bool conv;
    long next, end, inflight, done;
    int errors;
} loader;

typedef struct lbatch {
    loader *l;
    json_t *docs;
} lbatch;

static int put_batch(doc_txn *t, void *ud)
{
    lbatch *k = ud;
    const char *coll = k->l->conv ? COLL_CONVERSATIONS : COLL_CONTACTS;
    size_t i;
    json_t *d;
    json_array_foreach(k->docs, i, d)
    {
        int rc = doc_put(t, coll, d, 0, NULL);
        if (rc) return rc;
    }
    return 0;
}

static void load_issue(loader *l);

static void done_batch(int status, const doc_error *e, void *ud)
{
    lbatch *k = ud;
    loader *l = k->l;
    l->inflight--;
    if (status && l->errors++ == 0)
        bench_fail(l->s->b, "loading %s: %s (%s %s)", l->conv ? "conversations" : "contacts",
                   e ? e->message : ah_strerror(status), e ? e->collection : "", e ? e->id : "");
    if (!status) l->done += (long)json_array_size(k->docs);
    json_decref(k->docs);
    free(k);
    load_issue(l);
}

static void load_issue(loader *l)
{
    if (l->errors || l->next >= l->end) return;
    scale *s = l->s;
    lbatch *k = malloc(sizeof(*k));
    k->l = l;
    k->docs = json_array();
    long end = l->next + BATCH < l->end ? l->next + BATCH : l->end;
    for (long i = l->next; i < end; i++)
        json_array_append_new(k->docs, l->conv ? mb_conversation(&s->g, i, s->contacts)
                                               : mb_contact(&s->g, i));
    l->next = end;
    int rc = docs_write(s->w.d, put_batch, k, done_batch);
    if (rc) {
        if (l->errors++ == 0) bench_fail(s->b, "docs_write refused: %s", ah_strerror(rc));
        json_decref(k->docs);
        free(k);
        return;
    }
    l->inflight++;
}

/* Every batch issued is answered, and no more will be. */
static bool loaded(void *arg)
{
    loader *l = arg;
    return l->inflight == 0 && (l->errors || l->next >= l->end);
}

/* Load documents [from, to) of one collection; documents/s, or -1. */
static double load(scale *s, bool conv, long from, long to)
{
    loader *l = calloc(1, sizeof(*l));
    *l = (loader){.s = s, .conv = conv, .next = from, .end = to};
    uint64_t t0 = bench_now_ns();
    /* One batch committing while the next is made and queued. */
    load_issue(l);
    uv_run(loop_uv(s->w.loop), UV_RUN_NOWAIT);
    load_issue(l);
    if (!mb_run_until(&s->w, loaded, l, 3600 * 1000)) {
        bench_fail(s->b, "loading: not done within an hour"); /* l stays: batches use it */
        return -1;
    }
    double rate = l->errors || l->done != to - from
                      ? -1
                      : (double)l->done / ((double)(bench_now_ns() - t0) / 1e9);
    free(l);
    return rate;
}

/* ---- list pages ----------------------------------------------------------------- */

static const char *verdict(const mb_query_kind *k, const stage_q *r)
{
    if (!strcmp(r->index, "id")) return "a walk of the whole collection (id order)";
    if (r->examined_max <= PAGE + 1) return "an index lookup";
    return k->covered ? "NOT an index lookup" : "an index range, other filters checked per doc";
}

/* A page of q: its time, and the cursor of the next (malloc'd) or NULL. */
static int one_page(scale *s, const mb_query_kind *k, doc_query *q, bench_lat *lat, stage_q *r,
                    double *examined_sum, double *ns_sum, long *pages, char **next)
{
    doc_page page;
    doc_error e;
    uint64_t ns;
    if (mb_list(s->w.d, q, &page, &ns, &e) != 0) {
        bench_fail(s->b, "list %s: %s (%s)", k->key, e.message, e.field);
        return -1;
    }
    bench_lat_add(lat, ns);
    *ns_sum += (double)ns;
    if (!r->index[0]) snprintf(r->index, sizeof(r->index), "%s", page.index);
    r->index_varied |= strcmp(r->index, page.index) != 0;
    if (page.examined > r->examined_max) r->examined_max = page.examined;
    size_t items = json_array_size(page.items);
    if (items > r->items_max) r->items_max = items;
    *examined_sum += (double)page.examined;
    (*pages)++;
    if (next) *next = page.next ? strdup(page.next) : NULL;
    doc_page_free(&page);
    return 0;
}

static void query_kind(scale *s, const mb_query_kind *k, long n, long samples, stage_q *r)
{
    bench_lat first = {0}, next = {0}, ranged = {0};
    uint64_t rng = 0xC0FFEE + (uint64_t)n;
    double examined = 0, ns = 0;
    long pages = 0;
    /* Times span the documents loaded so far (and their activity after). */
    int64_t span = mb_conv_ms(&s->g, n) - MB_T0_MS;
    for (long i = 0; i < samples && !s->b->failures; i++) {
        doc_query q;
        json_t *vals = json_array();
        k->fill(&s->g, n, &rng, &q, vals);
        q.limit = PAGE;
        char *cursor = NULL;
        if (one_page(s, k, &q, &first, r, &examined, &ns, &pages, &cursor) == 0 && cursor) {
            q.cursor = cursor;
            one_page(s, k, &q, &next, r, &examined, &ns, &pages, NULL);
            q.cursor = NULL;
        }
        free(cursor);
        /* Before a random time: a page from anywhere in the index. */
        char t[32];
        mb_iso(MB_T0_MS + (int64_t)(mb_rand(&rng) % (uint64_t)(span > 0 ? span : 1)), t);
        q.range_field = q.sort;
        q.to = json_string(t);
        json_array_append_new(vals, (json_t *)q.to);
        one_page(s, k, &q, &ranged, r, &examined, &ns, &pages, NULL);
        json_decref(vals);
    }
    r->first_p50 = bench_lat_us(&first, 0.5);
    r->first_p99 = bench_lat_us(&first, 0.99);
    r->next_p50 = bench_lat_us(&next, 0.5);
    r->next_p99 = bench_lat_us(&next, 0.99);
    r->ranged_p50 = bench_lat_us(&ranged, 0.5);
    r->ranged_p99 = bench_lat_us(&ranged, 0.99);
    r->examined_mean = pages ? examined / (double)pages : 0;
    r->us_per_doc = examined > 0 ? ns / examined / 1000.0 : 0;
    bench_lat_free(&first);
    bench_lat_free(&next);
    bench_lat_free(&ranged);
}

static void query_stage(scale *s, long n)
{
    int st = s->nq++;
    s->qsize[st] = n;
    long samples = bench_pick(s->b, 3, 200);
    for (size_t i = 0; i < mb_nqueries && !s->b->failures; i++) {
        const mb_query_kind *k = &mb_queries[i];
        stage_q *r = &s->q[st][i];
        /* A walk of the collection costs its whole budget: fewer samples. */
        query_kind(s, k, n, k->covered ? samples : (samples + 3) / 4, r);
        char key[96];
        snprintf(key, sizeof(key), "%s @%ld, first page p50", k->key, n);
        char raw[96];
        snprintf(raw, sizeof(raw), "%s@%ld", k->key, n);
        bench_set(s->b, "lists_raw", raw,
                  json_pack("{s:f,s:f,s:f,s:f,s:f,s:f,s:I,s:f,s:f,s:s}", "first_p50_us",
                            r->first_p50, "first_p99_us", r->first_p99, "next_p50_us", r->next_p50,
                            "next_p99_us", r->next_p99, "ranged_p50_us", r->ranged_p50,
                            "ranged_p99_us", r->ranged_p99, "examined_max",
                            (json_int_t)r->examined_max, "examined_mean", r->examined_mean,
                            "us_per_examined", r->us_per_doc, "index", r->index));
        bench_row(s->b, s->sec, key, r->first_p50, "us",
                  "p99 %.0f; next page %.0f/%.0f; before a random time %.0f/%.0f; examined <= %zu "
                  "(mean %.1f, %.1f us each); index %s%s: %s",
                  r->first_p99, r->next_p50, r->next_p99, r->ranged_p50, r->ranged_p99,
                  r->examined_max, r->examined_mean, r->us_per_doc, r->index,
                  r->index_varied ? " (varied)" : "", verdict(k, r));
    }
}

static void growth_rows(scale *s)
{
    if (s->nq < 2) return;
    int a = 0, z = s->nq - 1;
    bench_section(s->b, "growth", "List page cost growth, largest size against the first measured");
    for (size_t i = 0; i < mb_nqueries; i++) {
        const stage_q *p = &s->q[a][i], *q = &s->q[z][i];
        char key[96];
        snprintf(key, sizeof(key), "%s %ld/%ld", mb_queries[i].key, s->qsize[z], s->qsize[a]);
        double g = p->first_p50 > 0 ? q->first_p50 / p->first_p50 : 0;
        bench_row(s->b, "growth", key, g, "x",
                  "first page p50; next page %.2fx, random time %.2fx; per document examined "
                  "%.2fx; examined <= %zu -> <= %zu; index %s (ideal %s)",
                  p->next_p50 > 0 ? q->next_p50 / p->next_p50 : 0,
                  p->ranged_p50 > 0 ? q->ranged_p50 / p->ranged_p50 : 0,
                  p->us_per_doc > 0 ? q->us_per_doc / p->us_per_doc : 0, p->examined_max,
                  q->examined_max, q->index, mb_queries[i].ideal);
    }
}

/* ---- bytes --------------------------------------------------------------------------- */

typedef struct tally {
    uint64_t records, bytes;
} tally;

static int add_one(void *ud, store_val k, store_val v)
{
    tally *t = ud;
    t->records++;
    t->bytes += k.len + v.len;
    return 0;
}

typedef struct tallies {
    tally docs[2], index[2];
} tallies;

static int count_all(doc_txn *t, void *ud)
{
    tallies *a = ud;
    static const char *const colls[2] = {COLL_CONVERSATIONS, COLL_CONTACTS};
    store_txn *st = doc_txn_store(t);
    int rc = 0;
    for (int i = 0; !rc && i < 2; i++) {
        size_t pl = strlen(colls[i]) + 1;
        rc = store_scan(st, STORE_DB_DOCS, colls[i], pl, NULL, 0, 0, add_one, &a->docs[i]);
        if (!rc)
            rc =
                store_scan(st, STORE_DB_DOC_INDEX, colls[i], pl, NULL, 0, 0, add_one, &a->index[i]);
    }
    return rc;
}

static void bytes_rows(scale *s, long n, uint64_t conv_growth)
{
    tallies a;
    memset(&a, 0, sizeof(a));
    doc_error e;
    if (docs_read(s->w.d, count_all, &a, &e) != 0) {
        bench_fail(s->b, "counting records: %s", e.message);
        return;
    }
    s->conv_index_share = (double)a.index[0].bytes / (double)(a.index[0].bytes + a.index[1].bytes);
    char key[96];
    snprintf(key, sizeof(key), "conversation record @%ld, bytes", n);
    bench_row(s->b, s->sec, key, (double)a.docs[0].bytes / (double)n, "B",
              "key and value; its %llu index entries: %.0f bytes (%.1f per conversation)",
              (unsigned long long)a.index[0].records, (double)a.index[0].bytes / (double)n,
              (double)a.index[0].records / (double)n);
    snprintf(key, sizeof(key), "contact record @%ld, bytes", n);
    bench_row(s->b, s->sec, key, (double)a.docs[1].bytes / (double)n, "B",
              "its index entries: %.0f bytes (%.1f per contact)",
              (double)a.index[1].bytes / (double)n, (double)a.index[1].records / (double)n);
    snprintf(key, sizeof(key), "file pages per conversation @%ld", n);
    bench_row(s->b, s->sec, key, (double)conv_growth, "B",
              "growth of the store's pages in use while this stage's conversations loaded, per "
              "conversation");
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* ---- closed: backup and probe ------------------------------------------------------ */

/* Pages of one database of a store file (opened read-only, no lock). */
typedef struct db_pages {
    uint64_t tree, overflow; /* bytes */
} db_pages;

static int pages_of(const char *file, const char *name, db_pages *out)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_stat ms;
    int rc = mdb_env_create(&env);
    if (!rc) rc = mdb_env_set_maxdbs(env, STORE_DB_COUNT + 8);
    if (!rc) rc = mdb_env_open(env, file, MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK, 0600);
    if (!rc) rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (!rc) rc = mdb_dbi_open(txn, name, 0, &dbi);
    if (!rc) rc = mdb_stat(txn, dbi, &ms);
    if (!rc) {
        out->tree = (uint64_t)(ms.ms_branch_pages + ms.ms_leaf_pages) * ms.ms_psize;
        out->overflow = (uint64_t)ms.ms_overflow_pages * ms.ms_psize;
    }
    if (txn) mdb_txn_abort(txn);
    if (env) mdb_env_close(env);
    return rc;
}

static void backup_row(scale *s, long n)
{
    char to[700], err[512] = "", path[700], kpath[700];
    snprintf(to, sizeof(to), "%s/backup.mdb", s->w.dir);
    snprintf(path, sizeof(path), "%s/data.mdb", s->w.data);
    snprintf(kpath, sizeof(kpath), "%s/keys/data.mdb", s->w.dir);
    uint64_t bytes = 0, t0 = bench_now_ns();
    if (store_backup(s->w.data, to, &bytes, err, sizeof(err)) != 0) {
        bench_fail(s->b, "backup: %s", err);
        return;
    }
    double secs = (double)(bench_now_ns() - t0) / 1e9;
    db_pages dp[2] = {{0}};
    static const store_db dbs[2] = {STORE_DB_DOCS, STORE_DB_DOC_INDEX};
    int rc = 0;
    for (int i = 0; !rc && i < 2; i++)
        rc = pages_of(to, store_db_name(dbs[i]), &dp[i]);
    unlink(to);
    if (rc) {
        bench_fail(s->b, "reading the backup's databases: %s", mdb_strerror(rc));
        return;
    }
    double mib = 1.0 / 1048576.0;
    char key[96];
    snprintf(key, sizeof(key), "bytes on disk per conversation @%ld", n);
    /* A conversation's record (over ~2 KB) fills overflow pages of its own,
     * contacts' fit in leaf pages; its index entries are its share of the
     * index's pages (by their bytes). */
    double conv = ((double)dp[0].overflow + (double)dp[1].tree * s->conv_index_share) / (double)n;
    bench_row(s->b, s->sec, key, conv, "B",
              "its record's overflow pages and its share of the index pages, in a compacted "
              "backup (store_backup, %.1f s) of %.1f MiB: docs %.1f MiB (overflow %.1f), "
              "index %.1f MiB; data.mdb %.1f MiB; the personal-data keys, apart (keys/data.mdb): "
              "%.1f MiB",
              secs, (double)bytes * mib, (double)(dp[0].tree + dp[0].overflow) * mib,
              (double)dp[0].overflow * mib, (double)dp[1].tree * mib, (double)file_size(path) * mib,
              (double)file_size(kpath) * mib);
    snprintf(key, sizeof(key), "bytes on disk per conversation and contact @%ld", n);
    bench_row(s->b, s->sec, key, (double)bytes / (double)n, "B", "the whole compacted backup / %ld",
              n);
}

static void probe_row(scale *s, long n)
{
    char cmd[1400];
    long queries = bench_pick(s->b, 20, 300);
    snprintf(cmd, sizeof(cmd), "'%s' --probe-rss '%s' %ld %ld %ld", s->self, s->w.data, n,
             s->g.nmax, queries);
    FILE *p = popen(cmd, "r");
    char line[1024] = "";
    bool got = p && fgets(line, sizeof(line), p) != NULL;
    int st = p ? pclose(p) : -1;
    json_t *j = got && st == 0 ? json_loads(line, 0, NULL) : NULL;
    if (!j) {
        bench_fail(s->b, "the RSS probe failed (status %d): %s", st, line);
        return;
    }
    double mib = 1.0 / 1024.0;
    char key[96];
    snprintf(key, sizeof(key), "probe RSS @%ld conversations", n);
    bench_row(s->b, s->sec, key, (double)json_integer_value(json_object_get(j, "rss_kb")) * mib,
              "MiB",
              "after %ld list queries: anonymous (heap) %.2f MiB, file pages (LMDB map) %.2f MiB; "
              "after opening: RSS %.2f, anonymous %.2f; open + migrate check %.1f ms",
              queries, (double)json_integer_value(json_object_get(j, "anon_kb")) * mib,
              (double)json_integer_value(json_object_get(j, "file_kb")) * mib,
              (double)json_integer_value(json_object_get(j, "rss_open_kb")) * mib,
              (double)json_integer_value(json_object_get(j, "anon_open_kb")) * mib,
              json_real_value(json_object_get(j, "open_ms")));
    snprintf(key, sizeof(key), "probe%ld", n);
    bench_set(s->b, "memory_raw", key, j);
}

static int reopen(scale *s)
{
    char err[512] = "";
    store_opts so = {.dir = s->w.data, .map_size = MAP_SIZE};
    if (store_open(&s->w.st, s->w.loop, &so, err, sizeof(err)) != 0 ||
        docs_open(&s->w.d, s->w.st, s->w.keys, mb_key, err, sizeof(err)) != 0) {
        bench_fail(s->b, "reopening the store: %s", err);
        return -1;
    }
    return 0;
}

static int closed_rows(scale *s, long n)
{
    docs_close(s->w.d);
    store_close(s->w.st);
    s->w.d = NULL;
    s->w.st = NULL;
    backup_row(s, n);
    probe_row(s, n);
    return reopen(s);
}

/* ---- the benchmark -------------------------------------------------------------------- */

static int stage(scale *s, long n, bool queries)
{
    char title[160];
    snprintf(s->sec, sizeof(s->sec), "scale_%ld", n);
    snprintf(title, sizeof(title),
             "%ld conversations and %ld contacts: loading, list pages of %d (us per page), "
             "bytes, memory",
             n, n, PAGE);
    bench_section(s->b, s->sec, title);
    double crate = load(s, false, s->contacts, n);
    s->contacts = n;
    store_stats s0, s1;
    store_get_stats(s->w.st, &s0);
    double vrate = crate < 0 ? -1 : load(s, true, s->convs, n);
    store_get_stats(s->w.st, &s1);
    if (crate < 0 || vrate < 0) return -1;
    uint64_t growth = (s1.used_bytes - s0.used_bytes) / (uint64_t)(n - s->convs);
    s->convs = n;
    char key[96];
    snprintf(key, sizeof(key), "load contacts to %ld", n);
    bench_row(s->b, s->sec, key, crate, "docs/s", "batches of %d per docs_write", BATCH);
    snprintf(key, sizeof(key), "load conversations to %ld", n);
    bench_row(s->b, s->sec, key, vrate, "docs/s", "store %.1f MiB in use",
              (double)s1.used_bytes / 1048576.0);
    if (queries) query_stage(s, n);
    bytes_rows(s, n, growth);
    return closed_rows(s, n);
}

void bench_model_scale(bench *b, const char *self)
{
    scale *s = calloc(1, sizeof(*s));
    s->b = b;
    s->self = self;
    static const long full[] = {1000, 10000, 100000, 1000000};
    static const long smoke[] = {100, 250, 500, 1000};
    const long *sizes = b->full ? full : smoke;
    const char *env = getenv("BENCH_MODEL_MAX"); /* a smaller largest size, for trials */
    long nmax = env && atol(env) > 0 ? atol(env) : sizes[MAX_STAGES - 1];
    s->g.nmax = nmax;
    if (mb_open(&s->w, b, "model", MAP_SIZE) == 0) {
        for (int i = 0; i < MAX_STAGES && sizes[i] <= nmax && !b->failures; i++)
            if (stage(s, sizes[i], i > 0) < 0) break;
        growth_rows(s);
    }
    mb_close(&s->w);
    free(s);
}
