/* Record checksums and the whole-store check: CRC-32C, the documents'
 * frames (store_rec), the bus events' seal (bl_codec), and store_check on
 * stores with intact, older, damaged records and a damaged page. */
#include "cmocka_pre.h"

#include "bus/bus.h"
#include "bus/lmdb/bl.h"
#include "core/crc32c.h"
#include "store/store.h"
#include "store/store_lmdb.h"
#include "store/store_check.h"
#include "store/store_rec.h"

#include <agenthost/plugin.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[256];
static int nstores;

static int setup(void **s)
{
    (void)s;
    snprintf(root, sizeof(root), "/tmp/ah-store-check-XXXXXX");
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **s)
{
    (void)s;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    return system(cmd);
}

/* ---- CRC-32C ------------------------------------------------------------------ */

static void test_crc32c_matches_the_published_check_values(void **s)
{
    (void)s;
    uint8_t zeros[32] = {0}, ones[32], inc[32];
    memset(ones, 0xff, sizeof(ones));
    for (int i = 0; i < 32; i++)
        inc[i] = (uint8_t)i;
    /* RFC 3720 (iSCSI), appendix B.4, and the "123456789" check value. */
    for (int portable = 0; portable < 2; portable++) {
        uint32_t (*f)(uint32_t, const void *, size_t) = portable ? crc32c_portable : crc32c;
        assert_int_equal(f(0, "123456789", 9), 0xe3069283u);
        assert_int_equal(f(0, zeros, 32), 0x8a9136aau);
        assert_int_equal(f(0, ones, 32), 0x62a8ab43u);
        assert_int_equal(f(0, inc, 32), 0x46dd794eu);
        assert_int_equal(f(0, "", 0), 0);
    }
    /* Any length and alignment, in pieces or whole, both ways alike. */
    uint8_t buf[300];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n + off <= sizeof(buf); n += 13) {
            uint32_t whole = crc32c(0, buf + off, n);
            assert_int_equal(whole, crc32c_portable(0, buf + off, n));
            assert_int_equal(crc32c(crc32c(0, buf + off, n / 3), buf + off + n / 3, n - n / 3),
                             whole);
        }
}

/* ---- documents: framed records -------------------------------------------------- */

typedef struct doc_put {
    store *st;
    const char *key, *value;
    bool raw; /* put the bytes as they are, without a frame */
} doc_put;

static int apply_doc(store_txn *stx, void *arg)
{
    MDB_txn *txn = store_lmdb_txn(stx);
    doc_put *d = arg;
    MDB_val k = {strlen(d->key), (void *)d->key};
    if (!d->raw) return store_rec_put(txn, d->st, STORE_DB_DOCS, &k, d->value, strlen(d->value), 0);
    MDB_val v = {strlen(d->value), (void *)d->value};
    return mdb_put(txn, store_dbi(d->st, STORE_DB_DOCS), &k, &v, 0);
}

static store *open_new(char *dir, size_t len)
{
    snprintf(dir, len, "%s/s%d", root, ++nstores);
    store *st;
    char err[512];
    store_opts o = {.dir = dir};
    assert_int_equal(store_open(&st, NULL, &o, err, sizeof(err)), 0);
    return st;
}

static void test_a_framed_record_reads_back_and_a_damaged_one_is_refused(void **s)
{
    (void)s;
    char dir[300];
    store *st = open_new(dir, sizeof(dir));
    doc_put good = {st, "orders/1", "{\"total\": 42}", false};
    doc_put bare = {st, "orders/2", "{\"total\": 43}", true};
    assert_int_equal(store_write_now(st, apply_doc, &good), 0);
    assert_int_equal(store_write_now(st, apply_doc, &bare), 0);
    MDB_txn *txn;
    MDB_val k = {strlen(good.key), (void *)good.key}, payload, v;
    assert_int_equal(store_lmdb_read_begin(st, &txn), 0);
    assert_int_equal(store_rec_get(txn, st, STORE_DB_DOCS, &k, &payload), 0);
    assert_int_equal(payload.mv_size, strlen(good.value));
    assert_memory_equal(payload.mv_data, good.value, payload.mv_size);
    /* Its bytes: every single flipped bit, and another key, fail it. */
    assert_int_equal(mdb_get(txn, store_dbi(st, STORE_DB_DOCS), &k, &v), 0);
    uint8_t copy[64];
    memcpy(copy, v.mv_data, v.mv_size);
    MDB_val c = {v.mv_size, copy};
    assert_int_equal(store_rec_verify(&k, &c, &payload), 1);
    for (size_t i = 1; i < c.mv_size; i++)
        for (int bit = 0; bit < 8; bit++) {
            copy[i] ^= (uint8_t)(1 << bit);
            assert_int_equal(store_rec_verify(&k, &c, &payload), -1);
            copy[i] ^= (uint8_t)(1 << bit);
        }
    MDB_val other = {3, "abc"};
    assert_int_equal(store_rec_verify(&other, &c, &payload), -1);
    c.mv_size = 3;
    assert_int_equal(store_rec_verify(&k, &c, &payload), -1); /* shorter than its frame */
    /* A bare JSON value is told apart (0), and documents refuse it. */
    MDB_val bk = {strlen(bare.key), (void *)bare.key};
    assert_int_equal(mdb_get(txn, store_dbi(st, STORE_DB_DOCS), &bk, &v), 0);
    assert_int_equal(store_rec_verify(&bk, &v, &payload), 0);
    assert_int_equal(store_rec_get(txn, st, STORE_DB_DOCS, &bk, &payload), AH_EIO);
    MDB_val none = {4, "none"};
    assert_int_equal(store_rec_get(txn, st, STORE_DB_DOCS, &none, &payload), AH_ENOTFOUND);
    store_lmdb_read_end(st, txn);
    store_close(st);
}

/* ---- bus events: the seal ---------------------------------------------------------- */

static uint8_t *event(const char *key, const char *body, size_t *n)
{
    uint8_t id[16] = {1, 2, 3};
    return bl_event_encode(1700000000000, id, key, "{\"h\":1}", 7, body, strlen(body), n);
}

static void test_a_sealed_event_verifies_and_any_flipped_bit_fails_it(void **s)
{
    (void)s;
    size_t n;
    uint8_t *rec = event("conv-1", "{\"text\":\"hello\"}", &n);
    uint8_t key[12], other[12];
    bl_event_key(key, 3, 17);
    bl_event_key(other, 3, 18);
    /* As older hosts wrote it: no seal, bytes 36..39 zero. */
    assert_int_equal(bl_event_verify(key, 12, rec, n), 0);
    bl_event_seal(rec, n, key);
    assert_int_equal(bl_event_verify(key, 12, rec, n), 1);
    assert_int_equal(bl_event_verify(other, 12, rec, n), -1); /* moved to another offset */
    bl_event e;
    MDB_val k = {12, key}, v = {n, rec};
    assert_int_equal(bl_event_read(&k, &v, "t", &e), 0);
    assert_int_equal(e.body_len, strlen("{\"text\":\"hello\"}"));
    assert_int_equal(e.key_len, 6);
    for (size_t i = 0; i < n; i++)
        for (int bit = 0; bit < 8; bit++) {
            rec[i] ^= (uint8_t)(1 << bit);
            if (bl_event_verify(key, 12, rec, n) == 1) fail_msg("byte %zu bit %d passed", i, bit);
            rec[i] ^= (uint8_t)(1 << bit);
        }
    /* A lost seal flag leaves a checksum where an older record has zeros. */
    rec[1] &= (uint8_t)~BL_EVENT_SEALED;
    assert_int_equal(bl_event_verify(key, 12, rec, n), -1);
    rec[1] |= BL_EVENT_SEALED;
    /* Damaged records are refused by bl_event_read, never decoded. */
    rec[n - 2] ^= 0x20;
    assert_int_equal(bl_event_read(&k, &v, "t", &e), -1);
    free(rec);
}

/* ---- the whole-store check ------------------------------------------------------------- */

typedef struct ev_put {
    store *st;
    uint32_t topic;
    int from, n;
    bool sealed;
} ev_put;

static int apply_events(store_txn *stx, void *arg)
{
    MDB_txn *txn = store_lmdb_txn(stx);
    ev_put *p = arg;
    for (int i = p->from; i < p->from + p->n; i++) {
        char body[64];
        snprintf(body, sizeof(body), "{\"text\":\"needle-%04d\"}", i);
        size_t n;
        uint8_t *rec = event(i % 2 ? "even" : "odd", body, &n), key[12];
        bl_event_key(key, p->topic, (uint64_t)i);
        if (p->sealed) bl_event_seal(rec, n, key);
        MDB_val k = {12, key}, v = {n, rec};
        int rc = mdb_put(txn, store_dbi(p->st, STORE_DB_EVENTS), &k, &v, 0);
        free(rec);
        if (rc) return rc;
    }
    return 0;
}

/* A store with `older` events written before checksums, then `sealed`
 * ones, two documents and a KV record; closed. */
static void make_store(char *dir, size_t len, int older, int sealed)
{
    store *st = open_new(dir, len);
    ev_put a = {st, 1, 1, older, false}, b = {st, 1, 1 + older, sealed, true};
    if (older) assert_int_equal(store_write_now(st, apply_events, &a), 0);
    assert_int_equal(store_write_now(st, apply_events, &b), 0);
    doc_put d1 = {st, "c/1", "{\"a\":1}", false}, d2 = {st, "c/2", "[1,2]", false};
    assert_int_equal(store_write_now(st, apply_doc, &d1), 0);
    assert_int_equal(store_write_now(st, apply_doc, &d2), 0);
    store_close(st);
}

static int check(const char *dir, store_check_report *r, store_check_opts *o)
{
    static char path[400];
    char err[512];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    memset(o, 0, sizeof(*o));
    o->path = path;
    o->env_dir = dir;
    store_check_core(o);
    bus_store_checks(o);
    int rc = store_check(o, r, err, sizeof(err));
    if (rc) fail_msg("store_check: %s", err);
    return rc;
}

/* The file offset of the value stored under event (topic 1, seq): its page
 * (the map is page-aligned; a page header begins with the page's number)
 * and its place in it. */
static long event_offset(const char *dir, uint64_t seq)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_stat st;
    uint8_t key[12];
    bl_event_key(key, 1, seq);
    MDB_val k = {12, key}, v;
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 32);
    assert_int_equal(mdb_env_open(env, dir, MDB_RDONLY, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "bus.events", 0, &dbi), 0);
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    mdb_env_stat(env, &st);
    uintptr_t at = (uintptr_t)v.mv_data, page = at & ~(uintptr_t)(st.ms_psize - 1);
    size_t pgno;
    memcpy(&pgno, (const void *)page, sizeof(pgno));
    long off = (long)(pgno * st.ms_psize + (at - page));
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return off;
}

static void overwrite(const char *dir, long off, const void *bytes, size_t n)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, bytes, n, off), (ssize_t)n);
    close(fd);
}

static void test_an_intact_store_passes_counting_older_records_apart(void **s)
{
    (void)s;
    char dir[300];
    make_store(dir, sizeof(dir), 20, 30);
    store_check_report r;
    store_check_opts o;
    check(dir, &r, &o);
    assert_int_equal(r.damaged, 0);
    const store_check_tree *ev = &r.tree[STORE_DB_EVENTS];
    assert_true(ev->walked);
    assert_int_equal(ev->records, 50);
    assert_int_equal(ev->verified, 30);
    assert_int_equal(ev->unverified, 20);
    assert_int_equal(r.tree[STORE_DB_DOCS].verified, 2);
    assert_true(r.pages_counted); /* 2 + trees + free = last page + 1 */
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    store_check_print(&r, &o, out);
    fclose(out);
    assert_non_null(strstr(text, "30 checksums verified, 20 records predate checksums"));
    assert_non_null(strstr(text, "the store is intact"));
    free(text);
}

static void test_a_record_that_fails_its_checksum_is_reported_with_its_offset(void **s)
{
    (void)s;
    char dir[300];
    make_store(dir, sizeof(dir), 0, 40);
    long off = event_offset(dir, 17) + BL_EVENT_HDR + 4 + 7 + 9; /* "needle" in its body */
    overwrite(dir, off, "NEEDLE", 6); /* still a well-formed event: only the checksum knows */
    store_check_report r;
    store_check_opts o;
    check(dir, &r, &o);
    const store_check_tree *ev = &r.tree[STORE_DB_EVENTS];
    assert_int_equal(ev->damaged, 1);
    assert_int_equal(ev->verified, 39);
    assert_int_equal(r.damaged, 1);
    assert_non_null(strstr(ev->first[0], "topic 1 offset 17: fails its checksum"));
    assert_int_equal(r.tree[STORE_DB_DOCS].damaged, 0);
}

static void test_a_page_that_breaks_the_walk_damages_its_database_and_not_the_check(void **s)
{
    (void)s;
    char dir[300];
    make_store(dir, sizeof(dir), 0, 40);
    long off = event_offset(dir, 20);
    uint8_t junk[64];
    memset(junk, 0xff, sizeof(junk));
    overwrite(dir, off / 4096 * 4096, junk, sizeof(junk)); /* the page header and first nodes */
    store_check_report r;
    store_check_opts o;
    check(dir, &r, &o);
    const store_check_tree *ev = &r.tree[STORE_DB_EVENTS];
    assert_true(ev->damaged > 0 || ev->signo != 0);
    assert_true(r.damaged >= 1);
    /* The walk went on past it: the databases after it were checked. */
    assert_true(r.tree[STORE_DB_DOCS].walked);
    assert_int_equal(r.tree[STORE_DB_DOCS].damaged, 0);
    assert_int_equal(r.tree[STORE_DB_DOCS].verified, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_matches_the_published_check_values),
        cmocka_unit_test(test_a_framed_record_reads_back_and_a_damaged_one_is_refused),
        cmocka_unit_test(test_a_sealed_event_verifies_and_any_flipped_bit_fails_it),
        cmocka_unit_test(test_an_intact_store_passes_counting_older_records_apart),
        cmocka_unit_test(test_a_record_that_fails_its_checksum_is_reported_with_its_offset),
        cmocka_unit_test(test_a_page_that_breaks_the_walk_damages_its_database_and_not_the_check),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
