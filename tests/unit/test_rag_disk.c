/*
 * The RAG plugin's index on disk (plugins/rag/disk.h, ADR 0054) without a
 * host: documents indexed in one transaction each, BM25 reading only the
 * query's postings with exact counts after a drop, the IVF whose lists are
 * consecutive keys finding what the exact scan finds when every list is
 * probed, the IVF trained in slices while searches are answered (ADR 0058)
 * and a crash in its switch leaving the index before it, a base dropped
 * whole, and a full map failing a document without leaving half of it.
 */
#include "../../plugins/rag/disk.h"
#include "../support/kit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <lmdb.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define DIM 16

typedef struct {
    char dir[256];
    rag_disk *d;
    rag_analyzer *a;
} fx;

static int setup(void **s)
{
    fx *f = calloc(1, sizeof *f);
    char err[300];
    if (!f || kit_tmpdir("rag-disk-unit", f->dir, sizeof f->dir) < 0 ||
        rag_disk_open(&f->d, f->dir, 64, err, sizeof err) < 0 || !(f->a = rag_analyzer_new(1)))
        return -1;
    *s = f;
    return 0;
}

static int teardown(void **s)
{
    fx *f = *s;
    rag_disk_close(f->d);
    rag_analyzer_free(f->a);
    kit_rmtree(f->dir);
    free(f);
    return 0;
}

/* A vector per text: a few coordinates set from its index. */
static void vec_of(size_t i, float *v)
{
    for (size_t k = 0; k < DIM; k++)
        v[k] = (float)sin((double)(i * 7 + k * 3) * 0.37) + (k == i % DIM ? 2.0f : 0.0f);
}

/* Document doc: n chunks "word<i> common" with their embeddings stored. */
static int index_doc(fx *f, const char *kb, const char *doc, size_t from, size_t n)
{
    rag_disk_chunk c[64];
    char texts[64][48], hashes[64][17];
    float vecs[64][DIM];
    const float *vp[64];
    size_t dims[64];
    for (size_t i = 0; i < n; i++) {
        snprintf(texts[i], sizeof texts[i], "word%zu common", from + i);
        snprintf(hashes[i], 17, "%016zx", from + i);
        vec_of(from + i, vecs[i]);
        vp[i] = vecs[i];
        dims[i] = DIM;
        c[i] = (rag_disk_chunk){(uint32_t)i, 0, 10, 2, texts[i], strlen(texts[i]), "[]", hashes[i]};
    }
    if (rag_disk_emb_put(f->d, (const char(*)[17])hashes, vp, dims, n, "m") < 0) return -1;
    return rag_disk_index_doc(f->d, f->a, kb, doc, "00000000000000aa", c, n, "m");
}

static int bm25(fx *f, const char *kb, const char *q)
{
    rag_hit h[64];
    return rag_disk_bm25(f->d, f->a, kb, q, strlen(q), NULL, NULL, h, 64);
}

static void a_dropped_document_leaves_no_posting_and_exact_counts(void **s)
{
    fx *f = *s;
    assert_int_equal(index_doc(f, "kb", "a", 0, 10), 0);
    assert_int_equal(index_doc(f, "kb", "b", 10, 10), 0);
    rag_disk_stats st;
    assert_int_equal(rag_disk_stats_get(f->d, "kb", &st), 0);
    assert_int_equal(st.chunks, 20);
    assert_int_equal(st.vecs, 20);
    assert_int_equal(st.total, 40);
    assert_int_equal(bm25(f, "kb", "common"), 20);
    assert_int_equal(rag_disk_drop_doc(f->d, f->a, "kb", "a"), 0);
    assert_int_equal(bm25(f, "kb", "common"), 10);
    assert_int_equal(bm25(f, "kb", "word3"), 0);
    assert_int_equal(bm25(f, "kb", "word13"), 1);
    assert_int_equal(rag_disk_stats_get(f->d, "kb", &st), 0);
    assert_int_equal(st.chunks, 10);
    assert_int_equal(st.vecs, 10);
    assert_int_equal(st.total, 20);
    /* Indexing a document again replaces it, in one transaction. */
    assert_int_equal(index_doc(f, "kb", "b", 10, 5), 0);
    assert_int_equal(bm25(f, "kb", "common"), 5);
    char h[17];
    assert_int_equal(rag_disk_doc_hash(f->d, "kb", "b", h), 1);
    assert_string_equal(h, "00000000000000aa");
    assert_int_equal(rag_disk_doc_hash(f->d, "kb", "a", h), 0);
}

static void the_ivf_on_disk_with_every_list_probed_finds_what_the_exact_scan_finds(void **s)
{
    fx *f = *s;
    for (size_t d = 0; d < 4; d++) {
        char doc[8];
        snprintf(doc, sizeof doc, "d%zu", d);
        assert_int_equal(index_doc(f, "v", doc, d * 50, 50), 0);
    }
    rag_ann_opts o = {.nlist = 8};
    assert_int_equal(rag_disk_ivf_train(f->d, "v", &o), 0);
    /* Listed after training: goes to its list in the document's transaction. */
    assert_int_equal(index_doc(f, "v", "late", 1000, 3), 0);
    rag_disk_stats st;
    assert_int_equal(rag_disk_stats_get(f->d, "v", &st), 0);
    assert_int_equal(st.nlist, 8);
    assert_int_equal(st.vecs, 203);
    rag_vsearch_opts exact = {SIZE_MAX, 0}, all = {0, 8};
    for (size_t i = 0; i < 12; i++) {
        float q[DIM];
        vec_of(i * 17 + (i == 11 ? 1000 - 187 : 0), q);
        rag_hit he[5], ha[5];
        int approx = 1;
        assert_int_equal(rag_disk_vsearch(f->d, "v", q, DIM, &exact, NULL, NULL, he, 5, &approx),
                         5);
        assert_false(approx);
        assert_int_equal(rag_disk_vsearch(f->d, "v", q, DIM, &all, NULL, NULL, ha, 5, &approx), 5);
        assert_true(approx);
        for (size_t k = 0; k < 5; k++)
            assert_int_equal(ha[k].doc, he[k].doc);
    }
    /* A dropped document's vectors leave their lists too. */
    assert_int_equal(rag_disk_drop_doc(f->d, f->a, "v", "late"), 0);
    float q[DIM];
    vec_of(1001, q);
    rag_hit h[203];
    int approx;
    assert_int_equal(rag_disk_vsearch(f->d, "v", q, DIM, &all, NULL, NULL, h, 203, &approx), 200);
    for (size_t k = 0; k < 200; k++)
        assert_true(h[k].doc < 200);
}

static int woken;
static void wake(void *ud)
{
    (void)ud;
    woken++;
}

static int cmp_hit_id(const void *a, const void *b)
{
    const rag_hit *x = a, *y = b;
    return x->doc < y->doc ? -1 : x->doc > y->doc;
}

/* Every vector of the base, through the IVF with every list probed: the
 * same set as the exact scan (each vector listed once, none missing). */
static void assert_lists_hold_every_vector(fx *f, const char *kb, size_t n)
{
    rag_hit he[512], ha[512];
    float q[DIM];
    vec_of(3, q);
    rag_vsearch_opts exact = {SIZE_MAX, 0}, all = {1, 4096};
    int approx = 0;
    assert_int_equal(rag_disk_vsearch(f->d, kb, q, DIM, &exact, NULL, NULL, he, 512, &approx),
                     (int)n);
    assert_int_equal(rag_disk_vsearch(f->d, kb, q, DIM, &all, NULL, NULL, ha, 512, &approx),
                     (int)n);
    assert_true(approx);
    qsort(he, n, sizeof *he, cmp_hit_id);
    qsort(ha, n, sizeof *ha, cmp_hit_id);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ha[i].doc, he[i].doc);
}

static void the_ivf_trained_in_slices_answers_exact_meanwhile_and_lists_what_changed(void **s)
{
    fx *f = *s;
    for (size_t d = 0; d < 4; d++) {
        char doc[8];
        snprintf(doc, sizeof doc, "d%zu", d);
        assert_int_equal(index_doc(f, "v", doc, d * 50, 50), 0); /* ids d*50 .. d*50+49 */
    }
    woken = 0;
    rag_disk_on_train(f->d, wake, NULL);
    rag_vsearch_opts all = {1, 4096}, exact = {SIZE_MAX, 0};
    float q[DIM];
    vec_of(17, q);
    rag_hit h[5], he[5];
    int approx = 1;
    /* The first search above min_vectors starts the training and is answered exact. */
    assert_int_equal(rag_disk_vsearch(f->d, "v", q, DIM, &all, NULL, NULL, h, 5, &approx), 5);
    assert_false(approx);
    assert_int_equal(woken, 1);
    assert_true(rag_disk_training(f->d, "v"));
    /* A few slices (a small budget: many of them), then a search, a
     * document added and one dropped while the training is under way. */
    for (int i = 0; i < 6; i++)
        assert_int_equal(rag_disk_train_step(f->d, 64), 1);
    assert_int_equal(rag_disk_vsearch(f->d, "v", q, DIM, &all, NULL, NULL, h, 5, &approx), 5);
    assert_false(approx);
    assert_int_equal(rag_disk_vsearch(f->d, "v", q, DIM, &exact, NULL, NULL, he, 5, &approx), 5);
    for (size_t k = 0; k < 5; k++)
        assert_int_equal(h[k].doc, he[k].doc);
    assert_int_equal(woken, 1);                              /* one training at a time */
    assert_int_equal(index_doc(f, "v", "late", 1000, 3), 0); /* ids 200 .. 202 */
    int rc = 1, steps = 0;
    for (; rc == 1 && steps < 100000; steps++) {
        rc = rag_disk_train_step(f->d, 64);
        if (steps == 200) assert_int_equal(rag_disk_drop_doc(f->d, f->a, "v", "d0"), 0);
    }
    assert_int_equal(rc, 0);
    assert_true(steps > 200); /* the drop happened during the training */
    assert_false(rag_disk_training(f->d, NULL));
    rag_disk_stats st;
    assert_int_equal(rag_disk_stats_get(f->d, "v", &st), 0);
    assert_int_equal(st.nlist, 16);
    assert_int_equal(st.vecs, 153);
    assert_int_equal(st.trained, 153);
    /* After the switch: the IVF answers, the vector added meanwhile is in
     * it, the dropped ones are not. */
    vec_of(1001, q);
    assert_int_equal(rag_disk_vsearch(f->d, "v", q, DIM, &all, NULL, NULL, h, 5, &approx), 5);
    assert_true(approx);
    assert_int_equal(h[0].doc, 201);
    assert_lists_hold_every_vector(f, "v", 153);
    rag_hit every[256];
    assert_int_equal(rag_disk_vsearch(f->d, "v", q, DIM, &all, NULL, NULL, every, 256, &approx),
                     153);
    for (size_t k = 0; k < 153; k++)
        assert_true(every[k].doc >= 50);
}

static void die_at_the_switch(const char *point)
{
    if (!strcmp(point, "train.switch")) kill(getpid(), SIGKILL);
}

static void a_crash_in_the_switch_leaves_the_ivf_before_and_the_training_starts_again(void **s)
{
    fx *f = *s;
    for (size_t d = 0; d < 4; d++) {
        char doc[8];
        snprintf(doc, sizeof doc, "d%zu", d);
        assert_int_equal(index_doc(f, "v", doc, d * 50, 50), 0);
    }
    rag_ann_opts o = {.nlist = 8};
    assert_int_equal(rag_disk_ivf_train(f->d, "v", &o), 0);
    for (size_t d = 4; d < 8; d++) { /* doubled: the next search trains again */
        char doc[8];
        snprintf(doc, sizeof doc, "d%zu", d);
        assert_int_equal(index_doc(f, "v", doc, d * 50, 50), 0);
    }
    rag_vsearch_opts all = {1, 4096};
    float q[DIM];
    vec_of(5, q);
    rag_hit h[5];
    int approx = 0;
    char err[300];
    rag_disk_close(f->d); /* the child opens its own (LMDB's environments do not survive fork) */
    f->d = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (rag_disk_open(&f->d, f->dir, 64, err, sizeof err) < 0) _exit(2);
        rag_disk_on_train(f->d, wake, NULL);
        rag_disk_fault = die_at_the_switch;
        if (rag_disk_vsearch(f->d, "v", q, DIM, &all, NULL, NULL, h, 5, &approx) != 5) _exit(3);
        for (int i = 0; i < 100000; i++)
            if (rag_disk_train_step(f->d, 256) <= 0) break;
        _exit(4); /* not reached when the fault point works */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail_msg("the child was to die at the switch: status %d", status);
    /* The index as before the training: the old IVF of 8 lists, usable. */
    assert_int_equal(rag_disk_open(&f->d, f->dir, 64, err, sizeof err), 0);
    rag_disk_stats st;
    assert_int_equal(rag_disk_stats_get(f->d, "v", &st), 0);
    assert_int_equal(st.nlist, 8);
    assert_int_equal(st.trained, 200);
    assert_int_equal(st.vecs, 400);
    woken = 0;
    rag_disk_on_train(f->d, wake, NULL);
    assert_int_equal(rag_disk_vsearch(f->d, "v", q, DIM, &all, NULL, NULL, h, 5, &approx), 5);
    assert_true(approx); /* the IVF before answers while the training runs again */
    assert_int_equal(woken, 1);
    int rc = 1;
    for (int i = 0; rc == 1 && i < 100000; i++)
        rc = rag_disk_train_step(f->d, 256);
    assert_int_equal(rc, 0);
    assert_int_equal(rag_disk_stats_get(f->d, "v", &st), 0);
    assert_int_equal(st.nlist, 20);
    assert_int_equal(st.trained, 400);
    assert_lists_hold_every_vector(f, "v", 400);
}

/* ---- each vector stored once (ADR 0058), read straight from the LMDB file ---- */

typedef struct {
    size_t in_vec, refs, listed; /* vec's vectors, vec's list numbers, list entries */
} copies;

static MDB_env *raw_open(const char *dir, MDB_txn **txn, unsigned flags, MDB_dbi *vec, MDB_dbi *ivf,
                         MDB_dbi *meta)
{
    MDB_env *env;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
    assert_int_equal(mdb_env_set_mapsize(env, (size_t)64 << 20), 0);
    assert_int_equal(mdb_env_open(env, dir, MDB_NOTLS, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, flags, txn), 0);
    assert_int_equal(mdb_dbi_open(*txn, "vec", 0, vec), 0);
    assert_int_equal(mdb_dbi_open(*txn, "ivf", 0, ivf), 0);
    assert_int_equal(mdb_dbi_open(*txn, "meta", 0, meta), 0);
    return env;
}

/* How many copies of the base's vectors the file holds, where (the index
 * closed: LMDB allows one environment per file in a process). */
static copies count_copies(const char *dir, const char *kb)
{
    MDB_txn *txn;
    MDB_dbi vec, ivf, meta;
    MDB_env *env = raw_open(dir, &txn, MDB_RDONLY, &vec, &ivf, &meta);
    copies c = {0};
    size_t kn = strlen(kb) + 1;
    MDB_cursor *cur;
    MDB_val k, v;
    assert_int_equal(mdb_cursor_open(txn, vec, &cur), 0);
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        if (k.mv_size == kn + 4 && !memcmp(k.mv_data, kb, kn)) {
            if (v.mv_size == DIM * sizeof(float)) c.in_vec++;
            if (v.mv_size == 4) c.refs++;
        }
    mdb_cursor_close(cur);
    assert_int_equal(mdb_cursor_open(txn, ivf, &cur), 0);
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        if (k.mv_size == kn + 9 && !memcmp(k.mv_data, kb, kn) && ((char *)k.mv_data)[kn] == 'L')
            c.listed++;
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return c;
}

static void shut(fx *f)
{
    rag_disk_close(f->d);
    f->d = NULL;
}

static void reopen(fx *f)
{
    char err[300];
    shut(f);
    assert_int_equal(rag_disk_open(&f->d, f->dir, 64, err, sizeof err), 0);
}

static void each_vector_is_stored_once_in_vec_or_in_its_list(void **s)
{
    fx *f = *s;
    for (size_t d = 0; d < 4; d++) {
        char doc[8];
        snprintf(doc, sizeof doc, "d%zu", d);
        assert_int_equal(index_doc(f, "v", doc, d * 50, 50), 0);
    }
    shut(f);
    copies c = count_copies(f->dir, "v");
    assert_int_equal(c.in_vec, 200); /* no IVF yet: every vector in vec */
    assert_int_equal(c.refs + c.listed, 0);
    reopen(f);
    rag_ann_opts o = {.nlist = 8};
    assert_int_equal(rag_disk_ivf_train(f->d, "v", &o), 0);
    assert_int_equal(index_doc(f, "v", "late", 1000, 10), 0); /* listed as written */
    assert_int_equal(rag_disk_drop_doc(f->d, f->a, "v", "d1"), 0);
    shut(f);
    c = count_copies(f->dir, "v");
    assert_int_equal(c.in_vec, 0); /* trained: every vector in its list only */
    assert_int_equal(c.refs, 160);
    assert_int_equal(c.listed, 160);
    reopen(f);
    assert_lists_hold_every_vector(f, "v", 160);
    /* Trained again (the lists' numbers change): still one copy each. */
    o.nlist = 12;
    assert_int_equal(rag_disk_ivf_train(f->d, "v", &o), 0);
    assert_lists_hold_every_vector(f, "v", 160);
    shut(f);
    c = count_copies(f->dir, "v");
    assert_int_equal(c.in_vec, 0);
    assert_int_equal(c.refs, 160);
    assert_int_equal(c.listed, 160);
    reopen(f);
}

/* Rewrites the file as the layout before ADR 0058 wrote it: each listed
 * vector also in vec, no format key. */
static void make_format_1(const char *dir)
{
    MDB_txn *txn;
    MDB_dbi vec, ivf, meta;
    MDB_env *env = raw_open(dir, &txn, 0, &vec, &ivf, &meta);
    MDB_cursor *cur;
    MDB_val k, v;
    assert_int_equal(mdb_cursor_open(txn, ivf, &cur), 0);
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const char *b = k.mv_data, *nul = memchr(b, 0, k.mv_size);
        size_t kn = (size_t)(nul - b) + 1;
        if (k.mv_size != kn + 9 || b[kn] != 'L') continue;
        char vk[64];
        memcpy(vk, b, kn);
        memcpy(vk + kn, b + kn + 5, 4);
        MDB_val vkey = {kn + 4, vk};
        assert_int_equal(mdb_put(txn, vec, &vkey, &v, 0), 0);
    }
    mdb_cursor_close(cur);
    MDB_val fk = {7, "\0format"};
    assert_int_equal(mdb_del(txn, meta, &fk, NULL), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static void an_index_of_the_previous_layout_is_converted_at_open(void **s)
{
    fx *f = *s;
    for (size_t d = 0; d < 4; d++) {
        char doc[8];
        snprintf(doc, sizeof doc, "d%zu", d);
        assert_int_equal(index_doc(f, "v", doc, d * 50, 50), 0);
    }
    assert_int_equal(index_doc(f, "w", "small", 500, 20), 0); /* a base never trained */
    rag_ann_opts o = {.nlist = 8};
    assert_int_equal(rag_disk_ivf_train(f->d, "v", &o), 0);
    float q[DIM];
    vec_of(77, q);
    rag_hit before[10], after[10];
    rag_vsearch_opts exact = {SIZE_MAX, 0};
    int approx;
    assert_int_equal(rag_disk_vsearch(f->d, "v", q, DIM, &exact, NULL, NULL, before, 10, &approx),
                     10);
    shut(f);
    make_format_1(f->dir);
    copies c = count_copies(f->dir, "v");
    assert_int_equal(c.in_vec, 200); /* three copies again (the hash's aside) */
    assert_int_equal(c.listed, 200);
    reopen(f); /* converts */
    shut(f);
    c = count_copies(f->dir, "v");
    assert_int_equal(c.in_vec, 0);
    assert_int_equal(c.refs, 200);
    assert_int_equal(c.listed, 200);
    c = count_copies(f->dir, "w");
    assert_int_equal(c.in_vec, 20); /* untouched */
    assert_int_equal(c.refs + c.listed, 0);
    reopen(f);
    assert_int_equal(rag_disk_vsearch(f->d, "v", q, DIM, &exact, NULL, NULL, after, 10, &approx),
                     10);
    for (size_t i = 0; i < 10; i++)
        assert_int_equal(after[i].doc, before[i].doc);
    assert_lists_hold_every_vector(f, "v", 200);
    assert_int_equal(rag_disk_drop_doc(f->d, f->a, "v", "d2"), 0); /* its list entries go too */
    assert_lists_hold_every_vector(f, "v", 150);
    reopen(f); /* converted once: opening again changes nothing */
    assert_lists_hold_every_vector(f, "v", 150);
}

static void an_index_of_a_newer_format_is_refused_by_name(void **s)
{
    fx *f = *s;
    shut(f);
    MDB_txn *txn;
    MDB_dbi vec, ivf, meta;
    MDB_env *env = raw_open(f->dir, &txn, 0, &vec, &ivf, &meta);
    uint32_t nine = 9;
    MDB_val fk = {7, "\0format"}, v = {4, &nine};
    assert_int_equal(mdb_put(txn, meta, &fk, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    char err[300] = "";
    assert_int_equal(rag_disk_open(&f->d, f->dir, 64, err, sizeof err), -1);
    assert_non_null(strstr(err, "format 9, newer than this plugin's 2"));
}

static void a_dropped_base_is_gone_and_another_base_untouched(void **s)
{
    fx *f = *s;
    assert_int_equal(index_doc(f, "one", "a", 0, 5), 0);
    assert_int_equal(index_doc(f, "one2", "a", 0, 5), 0); /* a name the first is a prefix of */
    assert_int_equal(rag_disk_drop_kb(f->d, "one"), 0);
    rag_disk_stats st;
    assert_int_equal(rag_disk_stats_get(f->d, "one", &st), 0);
    assert_int_equal(st.chunks, 0);
    assert_int_equal(bm25(f, "one", "common"), 0);
    assert_int_equal(bm25(f, "one2", "common"), 5);
    /* The embeddings serve every base: kept. */
    size_t dim;
    assert_int_equal(rag_disk_emb_get(f->d, "0000000000000000", "m", NULL, 0, &dim), 1);
    assert_int_equal(dim, DIM);
    assert_int_equal(rag_disk_emb_get(f->d, "0000000000000000", "other", NULL, 0, &dim), 0);
}

static void a_base_dropped_during_its_training_ends_the_training(void **s)
{
    fx *f = *s;
    assert_int_equal(index_doc(f, "v", "a", 0, 40), 0);
    assert_int_equal(index_doc(f, "w", "a", 100, 40), 0);
    assert_int_equal(rag_disk_train_begin(f->d, "v", NULL), 0);
    assert_int_equal(rag_disk_train_step(f->d, 64), 1);
    assert_int_equal(rag_disk_drop_kb(f->d, "w"), 0); /* another base: the training goes on */
    assert_true(rag_disk_training(f->d, "v"));
    assert_int_equal(rag_disk_drop_kb(f->d, "v"), 0);
    assert_false(rag_disk_training(f->d, NULL));
    assert_int_equal(rag_disk_train_step(f->d, 64), 0); /* nothing under way */
    /* The same name again, with other vectors under the same ids: no list
     * of the dropped base's training reaches it. */
    assert_int_equal(index_doc(f, "v", "b", 300, 40), 0);
    rag_disk_stats st;
    assert_int_equal(rag_disk_stats_get(f->d, "v", &st), 0);
    assert_int_equal(st.nlist, 0);
    assert_int_equal(st.vecs, 40);
}

static void a_full_index_fails_the_document_whole_and_says_so(void **s)
{
    (void)s;
    char dir[256], err[300];
    rag_disk *d;
    rag_analyzer *a = rag_analyzer_new(1);
    assert_int_equal(kit_tmpdir("rag-disk-full", dir, sizeof dir), 0);
    assert_int_equal(rag_disk_open(&d, dir, 1, err, sizeof err), 0); /* 1 MiB */
    static char text[200000];
    for (size_t i = 0; i + 12 < sizeof text; i += 11) /* "t%09zu " and its NUL, overwritten */
        snprintf(text + i, 13, "t%09zu ", i);
    rag_disk_chunk c[20];
    for (size_t i = 0; i < 20; i++)
        c[i] = (rag_disk_chunk){(uint32_t)i, 0, 1, 1, text, strlen(text), "[]", NULL};
    assert_int_equal(rag_disk_index_doc(d, a, "kb", "big", "00000000000000bb", c, 20, NULL), -1);
    assert_non_null(strstr(rag_disk_error(d), "index_max_mb"));
    rag_disk_stats st;
    assert_int_equal(rag_disk_stats_get(d, "kb", &st), 0);
    assert_int_equal(st.chunks, 0); /* nothing of it */
    rag_disk_close(d);
    rag_analyzer_free(a);
    kit_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_dropped_document_leaves_no_posting_and_exact_counts,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            the_ivf_on_disk_with_every_list_probed_finds_what_the_exact_scan_finds, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            the_ivf_trained_in_slices_answers_exact_meanwhile_and_lists_what_changed, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_crash_in_the_switch_leaves_the_ivf_before_and_the_training_starts_again, setup,
            teardown),
        cmocka_unit_test_setup_teardown(each_vector_is_stored_once_in_vec_or_in_its_list, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(an_index_of_the_previous_layout_is_converted_at_open, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(an_index_of_a_newer_format_is_refused_by_name, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_dropped_base_is_gone_and_another_base_untouched, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_base_dropped_during_its_training_ends_the_training, setup,
                                        teardown),
        cmocka_unit_test(a_full_index_fails_the_document_whole_and_says_so),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
