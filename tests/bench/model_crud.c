/* model_crud.c - document creates, updates and gets per second through
 * the document layer (docs_write/docs_read: schema, rules, revisions,
 * every index, checksums, sealed fields), beside raw LMDB putting and
 * getting the very bytes the layer stored for such a document under the
 * same keys, with the same batch: N writers in flight against
 * transactions of N puts, N gets per read transaction against N
 * mdb_gets per read transaction. Environment flags as core_store.c's
 * floor (MDB_NOTLS, synchronous commits). Two documents: a conversation
 * (six messages and variables sealed with its contact's key, seven
 * indexes) and an agent (no sealed fields, eight indexes, two unique).
 * Rounds alternate the order of the systems; ratios are medians of the
 * rounds' ratios. */
#include "model.h"

#include "model/collections.h"

#include <agenthost/plugin.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAP_SIZE (8ull << 30)
#define CONTACTS 1000 /* whose conversations are created */
#define MAX_ROUNDS 9
#define NKINDS 2

enum { K_CONV, K_AGENT };
static const char *const kind_name[NKINDS] = {"conversation", "agent"};
static const char *const kind_coll[NKINDS] = {COLL_CONVERSATIONS, COLL_AGENTS};

typedef struct crud {
    bench *b;
    mb_world w;
    mb_gen g;
    json_t *tmpl[NKINDS]; /* the document written, its id and names changed */
    char (*ws_id[NKINDS])[64];
    uint64_t *ws_rev[NKINDS];
    uint8_t *bytes[NKINDS]; /* the record the layer stored for tmpl */
    size_t nbytes[NKINDS], json_len[NKINDS];
    long nws; /* documents updated and read: at least the writers in flight */
    uint64_t next_seq;
    MDB_env *env; /* the raw floor */
    MDB_dbi dbi;
    uint64_t raw_seq;
} crud;

/* ---- through the document layer --------------------------------------------- */

typedef struct wrun wrun;
typedef struct writer {
    wrun *r;
    json_t *doc;
    long slot; /* updates: the working-set document */
    uint64_t expect, rev;
} writer;

struct wrun {
    crud *c;
    int kind;
    bool update;
    long target, started, done, errors, next_slot;
};

static void set_names(int kind, json_t *doc, const char *tag, uint64_t n)
{
    if (kind != K_AGENT) return;
    char name[64], inst[48];
    snprintf(name, sizeof(name), "Bench agent %s%llu", tag, (unsigned long long)n);
    snprintf(inst, sizeof(inst), "b%s%llu", tag, (unsigned long long)n);
    json_object_set_new(doc, "name", json_string(name));
    json_object_set_new(doc, "channels",
                        json_pack("[{s:s,s:s}]", "instance", inst, "kind", "rest"));
}

static void set_contact(crud *c, int kind, json_t *doc, long n)
{
    if (kind != K_CONV) return;
    char cid[64];
    mb_contact_id(&c->g, n % CONTACTS, cid);
    json_object_set_new(doc, "contact_id", json_string(cid));
}

static int apply_put(doc_txn *t, void *ud)
{
    writer *w = ud;
    return doc_put(t, kind_coll[w->r->kind], w->doc, w->expect, &w->rev);
}

static void issue(wrun *r, writer *w);

static void done_put(int status, const doc_error *e, void *ud)
{
    writer *w = ud;
    wrun *r = w->r;
    r->done++;
    if (status && r->errors++ == 0)
        bench_fail(r->c->b, "%s %s failed: %s", kind_name[r->kind], r->update ? "update" : "create",
                   e ? e->message : ah_strerror(status));
    if (!status && r->update) r->c->ws_rev[r->kind][w->slot] = w->rev;
    if (r->started < r->target && !r->errors) issue(r, w);
}

static void issue(wrun *r, writer *w)
{
    crud *c = r->c;
    r->started++;
    char id[64], t[32];
    if (r->update) {
        w->slot = r->next_slot++ % c->nws;
        w->expect = c->ws_rev[r->kind][w->slot];
        snprintf(id, sizeof(id), "%s", c->ws_id[r->kind][w->slot]);
        set_names(r->kind, w->doc, "w", (uint64_t)w->slot);
        set_contact(c, r->kind, w->doc, w->slot);
        mb_iso(MB_T0_MS + MB_SPAN_MS + (int64_t)c->next_seq++ * 1000, t); /* activity moves on */
        json_object_set_new(w->doc, r->kind == K_CONV ? "last_activity_at" : "updated_at",
                            json_string(t));
    } else {
        uint64_t n = c->next_seq++;
        mb_id(r->kind == K_CONV ? "cnv" : "agt", MB_T0_MS + MB_SPAN_MS, n, id);
        set_names(r->kind, w->doc, "n", n);
        set_contact(c, r->kind, w->doc, (long)n);
        w->expect = 0;
    }
    json_object_set_new(w->doc, "id", json_string(id));
    int rc = docs_write(c->w.d, apply_put, w, done_put);
    if (rc) {
        r->done++;
        if (r->errors++ == 0) bench_fail(c->b, "docs_write refused: %s", ah_strerror(rc));
    }
}

/* Every write issued is answered, and no more will be. */
static bool wrun_done(void *arg)
{
    wrun *r = arg;
    return r->done == r->started && (r->errors || r->started >= r->target);
}

/* Writes/s with n writers in flight (-1: broken); *batch gets the writes
 * per commit. */
static double docs_writes(crud *c, int kind, bool update, long n, long ops, double *batch)
{
    wrun *r = calloc(1, sizeof(*r));
    writer *ws = calloc((size_t)n, sizeof(*ws));
    *r = (wrun){.c = c, .kind = kind, .update = update, .target = ops};
    for (long i = 0; i < n; i++) {
        ws[i].r = r;
        ws[i].doc = json_deep_copy(c->tmpl[kind]);
    }
    store_stats s0, s1;
    store_get_stats(c->w.st, &s0);
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < n && r->started < ops; i++)
        issue(r, &ws[i]);
    if (!mb_run_until(&c->w, wrun_done, r, 300000)) {
        /* Writes still in flight point at r and ws: left allocated. */
        bench_fail(c->b, "%ld of %ld writes answered within 300 s", r->done, ops);
        return -1;
    }
    double s = (double)(bench_now_ns() - t0) / 1e9, rate = (double)r->done / s;
    store_get_stats(c->w.st, &s1);
    uint64_t commits = s1.commits - s0.commits;
    *batch = commits ? (double)(s1.writes - s0.writes) / (double)commits : 0;
    for (long i = 0; i < n; i++)
        json_decref(ws[i].doc);
    free(ws);
    if (r->errors) rate = -1;
    free(r);
    return rate;
}

typedef struct get_run {
    crud *c;
    int kind;
    long from, n;
    int errors;
} get_run;

static int read_some(doc_txn *t, void *ud)
{
    get_run *g = ud;
    for (long i = 0; i < g->n; i++) {
        json_t *doc = NULL;
        int rc = doc_get(t, kind_coll[g->kind], g->c->ws_id[g->kind][(g->from + i) % g->c->nws],
                         &doc, NULL);
        if (rc) return rc;
        json_decref(doc);
    }
    return 0;
}

/* ---- raw LMDB ------------------------------------------------------------------- */

static int raw_open(crud *c, const char *dir)
{
    MDB_txn *txn;
    if (mdb_env_create(&c->env) || mdb_env_set_maxdbs(c->env, STORE_DB_COUNT + 8) ||
        mdb_env_set_mapsize(c->env, MAP_SIZE) || mdb_env_open(c->env, dir, MDB_NOTLS, 0600) ||
        mdb_txn_begin(c->env, NULL, 0, &txn))
        return -1;
    if (mdb_dbi_open(txn, "docs", MDB_CREATE, &c->dbi) || mdb_txn_commit(txn)) return -1;
    return 0;
}

/* "<collection>\0<id>", as the layer keys documents. */
static size_t doc_key(char *k, int kind, const char *id)
{
    size_t cl = strlen(kind_coll[kind]) + 1;
    memcpy(k, kind_coll[kind], cl);
    snprintf(k + cl, 64, "%s", id);
    return cl + strlen(id);
}

/* Puts of the stored bytes in transactions of n: new keys (create) or the
 * working set's (update). Puts/s, or -1 with *err. */
static double raw_puts(crud *c, int kind, bool update, long n, long ops, int *err)
{
    char(*keys)[96] = malloc((size_t)ops * sizeof(*keys));
    size_t *klen = malloc((size_t)ops * sizeof(*klen));
    for (long i = 0; i < ops; i++) {
        char id[64];
        if (update)
            snprintf(id, sizeof(id), "%s", c->ws_id[kind][i % c->nws]);
        else
            mb_id(kind == K_CONV ? "cnv" : "agt", MB_T0_MS + 2 * MB_SPAN_MS, c->raw_seq++, id);
        klen[i] = doc_key(keys[i], kind, id);
    }
    uint64_t t0 = bench_now_ns();
    int rc = 0;
    for (long done = 0; !rc && done < ops; done += n) {
        MDB_txn *txn;
        rc = mdb_txn_begin(c->env, NULL, 0, &txn);
        for (long i = done; !rc && i < done + n && i < ops; i++) {
            MDB_val k = {klen[i], keys[i]}, v = {c->nbytes[kind], c->bytes[kind]};
            rc = mdb_put(txn, c->dbi, &k, &v, 0);
        }
        if (!rc)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
    }
    double rate = (double)ops / ((double)(bench_now_ns() - t0) / 1e9);
    free(keys);
    free(klen);
    *err = rc;
    return rc ? -1 : rate;
}

/* n gets per read transaction of the working set (parse: and the JSON of
 * each parsed, as the least a document read must do). Gets/s or -1. */
static long raw_get_batch(crud *c, int kind, long from, long n, bool parse)
{
    MDB_txn *txn;
    if (mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn)) return -1;
    long got = 0;
    for (long i = 0; i < n; i++) {
        char key[96];
        MDB_val k = {doc_key(key, kind, c->ws_id[kind][(from + i) % c->nws]), key}, v;
        if (mdb_get(txn, c->dbi, &k, &v)) break;
        if (parse) {
            size_t off = v.mv_size - c->json_len[kind];
            json_t *doc = json_loadb((const char *)v.mv_data + off, c->json_len[kind], 0, NULL);
            if (!doc) break;
            json_decref(doc);
        }
        got++;
    }
    mdb_txn_abort(txn);
    return got == n ? got : -1;
}

/* Gets/s of one system for at least min_s (and at most cap gets). */
enum { SYS_DOCS, SYS_RAW, SYS_RAW_PARSE };

static double gets(crud *c, int kind, int sys, long n, double min_s, long cap)
{
    uint64_t t0 = bench_now_ns(), want = (uint64_t)(min_s * 1e9);
    long done = 0;
    while (done < cap && (done == 0 || bench_now_ns() - t0 < want)) {
        if (sys == SYS_DOCS) {
            get_run g = {.c = c, .kind = kind, .from = done, .n = n};
            doc_error e;
            int rc = docs_read(c->w.d, read_some, &g, &e);
            if (rc) {
                bench_fail(c->b, "%s get: %s", kind_name[kind], e.message);
                return -1;
            }
        } else if (raw_get_batch(c, kind, done, n, sys == SYS_RAW_PARSE) < 0) {
            bench_fail(c->b, "raw LMDB get of a %s failed", kind_name[kind]);
            return -1;
        }
        done += n;
    }
    return (double)done / ((double)(bench_now_ns() - t0) / 1e9);
}

/* ---- setting up ------------------------------------------------------------------------ */

typedef struct bulk {
    const char *coll;
    json_t *docs;
} bulk;

static int put_bulk(doc_txn *t, void *ud)
{
    bulk *k = ud;
    size_t i;
    json_t *d;
    json_array_foreach(k->docs, i, d)
    {
        int rc = doc_put(t, k->coll, d, 0, NULL);
        if (rc) return rc;
    }
    return 0;
}

typedef struct stored {
    crud *c;
    int kind;
} stored;

static int read_stored(doc_txn *t, void *ud)
{
    stored *s = ud;
    crud *c = s->c;
    char key[96];
    size_t kl = doc_key(key, s->kind, c->ws_id[s->kind][0]);
    store_val v, js;
    uint64_t rev;
    int rc = store_get(doc_txn_store(t), STORE_DB_DOCS, key, kl, &v);
    if (!rc) rc = store_rev_decode((store_val){key, kl}, v, &js, &rev);
    if (rc) return rc;
    c->bytes[s->kind] = malloc(v.len);
    memcpy(c->bytes[s->kind], v.data, v.len);
    c->nbytes[s->kind] = v.len;
    c->json_len[s->kind] = js.len;
    return 0;
}

/* The working sets in both systems, the contacts, and the bytes stored. */
static int setup(crud *c)
{
    c->g.nmax = CONTACTS;
    bulk k = {COLL_CONTACTS, json_array()};
    for (long i = 0; i < CONTACTS; i++)
        json_array_append_new(k.docs, mb_contact(&c->g, i));
    doc_error e;
    int rc = docs_write_now(c->w.d, put_bulk, &k, &e);
    json_decref(k.docs);
    for (int kind = 0; !rc && kind < NKINDS; kind++) {
        c->tmpl[kind] = kind == K_CONV ? mb_conversation(&c->g, 0, CONTACTS) : mb_agent(0);
        c->ws_id[kind] = calloc(c->nws, sizeof(*c->ws_id[kind]));
        c->ws_rev[kind] = calloc(c->nws, sizeof(*c->ws_rev[kind]));
        k = (bulk){kind_coll[kind], json_array()};
        for (long i = 0; i < c->nws; i++) {
            json_t *d = json_deep_copy(c->tmpl[kind]);
            mb_id(kind == K_CONV ? "cnv" : "agt", MB_T0_MS, (uint64_t)i, c->ws_id[kind][i]);
            json_object_set_new(d, "id", json_string(c->ws_id[kind][i]));
            set_names(kind, d, "w", (uint64_t)i);
            set_contact(c, kind, d, i);
            json_array_append_new(k.docs, d);
            c->ws_rev[kind][i] = 1;
        }
        rc = docs_write_now(c->w.d, put_bulk, &k, &e);
        json_decref(k.docs);
        stored s = {c, kind};
        if (!rc) rc = docs_read(c->w.d, read_stored, &s, &e);
    }
    if (rc) {
        bench_fail(c->b, "setting up the documents: %s", e.message);
        return -1;
    }
    int err = 0;
    for (int kind = 0; kind < NKINDS; kind++)
        if (raw_puts(c, kind, true, 1000, c->nws, &err) < 0) {
            bench_fail(c->b, "raw LMDB: %s", mdb_strerror(err));
            return -1;
        }
    return 0;
}

/* ---- the benchmark ------------------------------------------------------------------------ */

static const char *verdict(double ratio, double target)
{
    return ratio >= target ? "met" : "MISSED";
}

static void write_rows(crud *c, int kind, bool update, long n, long commits, int rounds)
{
    double ratio[MAX_ROUNDS], d_sum = 0, r_sum = 0, batch = 0;
    long ops = n * commits;
    int err = 0;
    for (int r = 0; r < rounds; r++) {
        double x = 0, y;
        if (r % 2 == 0) x = raw_puts(c, kind, update, n, ops, &err);
        y = docs_writes(c, kind, update, n, ops, &batch);
        if (y < 0) return;
        if (r % 2 == 1) x = raw_puts(c, kind, update, n, ops, &err);
        if (x < 0) {
            bench_fail(c->b, "raw LMDB: %s", mdb_strerror(err));
            return;
        }
        d_sum += 1.0 / y;
        r_sum += 1.0 / x;
        ratio[r] = y / x;
    }
    double med = bench_median(ratio, rounds);
    const char *op = update ? "update" : "create";
    char k[96];
    snprintf(k, sizeof(k), "%s %ss/s, %ld in flight", kind_name[kind], op, n);
    bench_row(c->b, "crud", k, rounds / d_sum, "docs/s", "%.0f writes per commit", batch);
    snprintf(k, sizeof(k), "raw LMDB puts/s, %s bytes, batch %ld", kind_name[kind], n);
    bench_row(c->b, "crud", k, rounds / r_sum, "puts/s", NULL);
    snprintf(k, sizeof(k), "ratio %s %s/raw, %ld", kind_name[kind], op, n);
    bench_row(c->b, "crud", k, med, "x", "median of %d rounds (%.2f-%.2f); target >= 0.50: %s",
              rounds, ratio[0], ratio[rounds - 1], verdict(med, 0.5));
}

static void read_rows(crud *c, int kind, long n, double min_s, long cap, int rounds)
{
    double ratio[MAX_ROUNDS], pratio[MAX_ROUNDS], sum[3] = {0};
    for (int r = 0; r < rounds; r++) {
        double v[3];
        for (int s = 0; s < 3; s++) {
            int sys = r % 2 ? 2 - s : s;
            v[sys] = gets(c, kind, sys, n, min_s, cap);
            if (v[sys] < 0) return;
        }
        for (int s = 0; s < 3; s++)
            sum[s] += 1.0 / v[s];
        ratio[r] = v[SYS_DOCS] / v[SYS_RAW];
        pratio[r] = v[SYS_DOCS] / v[SYS_RAW_PARSE];
    }
    double med = bench_median(ratio, rounds), pmed = bench_median(pratio, rounds);
    char k[96];
    snprintf(k, sizeof(k), "%s gets/s, %ld per read", kind_name[kind], n);
    bench_row(c->b, "crud", k, rounds / sum[SYS_DOCS], "docs/s", NULL);
    snprintf(k, sizeof(k), "raw LMDB gets/s, %s bytes, %ld per txn", kind_name[kind], n);
    bench_row(c->b, "crud", k, rounds / sum[SYS_RAW], "gets/s", NULL);
    snprintf(k, sizeof(k), "raw LMDB get + JSON parse/s, %s, %ld", kind_name[kind], n);
    bench_row(c->b, "crud", k, rounds / sum[SYS_RAW_PARSE], "gets/s",
              "the least a JSON document read does (jansson)");
    snprintf(k, sizeof(k), "ratio %s get/raw, %ld", kind_name[kind], n);
    bench_row(c->b, "crud", k, med, "x",
              "median of %d rounds (%.3f-%.3f); target >= 0.70: %s; against get + parse: %.2f",
              rounds, ratio[0], ratio[rounds - 1], verdict(med, 0.7), pmed);
}

void bench_model_crud(bench *b)
{
    crud c = {.b = b, .nws = bench_pick(b, 1000, 5000)};
    char rawdir[512] = "";
    if (mb_open(&c.w, b, "docs", MAP_SIZE) < 0 ||
        bench_tmpdir(rawdir, sizeof(rawdir), "rawdocs") < 0)
        goto out;
    if (raw_open(&c, rawdir) < 0) {
        bench_fail(b, "cannot open the raw LMDB environment in %s", rawdir);
        goto out;
    }
    if (setup(&c) < 0) goto out;
    bench_section(b, "crud",
                  "Documents through docs_write/docs_read vs raw LMDB puts/gets of the same bytes");
    for (int kind = 0; kind < NKINDS; kind++) {
        char k[64];
        snprintf(k, sizeof(k), "%s record, bytes", kind_name[kind]);
        bench_row(b, "crud", k, (double)c.nbytes[kind], "B", "its JSON as stored: %zu bytes%s",
                  c.json_len[kind], kind == K_CONV ? " (variables and messages sealed)" : "");
    }
    static const long flight[] = {1, 100, 1000};
    const long commits[] = {bench_pick(b, 4, 100), bench_pick(b, 2, 30), bench_pick(b, 1, 8)};
    int rounds = (int)bench_pick(b, 1, 5);
    for (int kind = 0; kind < NKINDS && !b->failures; kind++) {
        for (int i = 0; i < 3; i++)
            write_rows(&c, kind, false, flight[i], commits[i], rounds);
        for (int i = 0; i < 3; i++)
            write_rows(&c, kind, true, flight[i], commits[i], rounds);
        read_rows(&c, kind, 1, b->full ? 0.3 : 0.01, bench_pick(b, 200, 2000000), rounds);
        read_rows(&c, kind, 100, b->full ? 0.3 : 0.01, bench_pick(b, 200, 2000000), rounds);
    }
out:
    for (int kind = 0; kind < NKINDS; kind++) {
        json_decref(c.tmpl[kind]);
        free(c.ws_id[kind]);
        free(c.ws_rev[kind]);
        free(c.bytes[kind]);
    }
    if (c.env) mdb_env_close(c.env);
    mb_close(&c.w);
    bench_rmdir(rawdir);
}
