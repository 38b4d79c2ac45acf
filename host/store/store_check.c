#include "store_check.h"

#include "core/forked.h"
#include "store_rec.h"

#include <agenthost/plugin.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORD sizeof(size_t)
#define DB_REC_LEN (4 + 2 + 2 + 5 * WORD) /* LMDB's MDB_db, a named database's record */
#define CHILD_CANNOT_OPEN 3

/* The walk's order: LMDB's own trees first, then the store's databases. */
static int unit_at(int pos)
{
    return pos == 0 ? STORE_CHECK_MAIN : pos == 1 ? STORE_CHECK_FREE : pos - 2;
}

static const char *unit_name(int u)
{
    return u == STORE_CHECK_MAIN   ? "(databases)"
           : u == STORE_CHECK_FREE ? "(free pages)"
                                   : store_db_name((store_db)u);
}

/* ---- the core's record checks ------------------------------------------------- */

static int check_meta(store_val k, store_val v, char *why, size_t whylen)
{
    const char *fmt = STORE_FORMAT;
    if (k.len == strlen(STORE_FORMAT_KEY) && !memcmp(k.data, STORE_FORMAT_KEY, k.len) &&
        (v.len != strlen(fmt) || memcmp(v.data, fmt, v.len))) {
        snprintf(why, whylen, "the format marker is not %s", fmt);
        return -1;
    }
    return 0;
}

static int check_json(store_val k, store_val v, char *why, size_t whylen)
{
    (void)k;
    json_error_t e;
    json_t *j = json_loadb(v.data, v.len, JSON_DECODE_ANY, &e);
    if (!j) {
        snprintf(why, whylen, "not JSON: %s", e.text);
        return -1;
    }
    json_decref(j);
    return 0;
}

/* KV values: bare JSON, or services/kv_service.h's envelope (the byte
 * 0x02, a revision and an expiry of 8 bytes each, then JSON). */
static int check_kv(store_val k, store_val v, char *why, size_t whylen)
{
    const uint8_t *p = v.data;
    if (v.len == 0 || p[0] != 0x02) return check_json(k, v, why, whylen);
    if (v.len < 17) {
        snprintf(why, whylen, "a value's envelope is truncated");
        return -1;
    }
    return check_json(k, (store_val){.data = p + 17, .len = v.len - 17}, why, whylen);
}

static int check_framed(store_val k, store_val v, char *why, size_t whylen)
{
    MDB_val payload, mk = {k.len, (void *)k.data}, mv = {v.len, (void *)v.data};
    int rc = store_rec_verify(&mk, &mv, &payload);
    if (rc == 1) return 1;
    snprintf(why, whylen, rc == 0 ? "no checksum frame" : "fails its checksum");
    return -1;
}

void store_check_core(store_check_opts *o)
{
    o->checks[STORE_DB_META] = check_meta;
    o->checks[STORE_DB_KV] = check_kv;
    o->checks[STORE_DB_INSTANCES] = check_json;
    o->checks[STORE_DB_TOKENS] = check_json;
    o->checks[STORE_DB_DOCS] = check_framed;
    o->checksummed[STORE_DB_DOCS] = true;
}

/* ---- the walk (in the child) ---------------------------------------------------- */

typedef struct walker {
    int fd, unit;
    MDB_txn *txn;
    uint64_t last_page;
    uint64_t records, verified, unverified, damaged, free_pages;
} walker;

static void bad(walker *w, const MDB_val *k, const char *why)
{
    char kt[4 * 48 + 8] = "";
    if (w->damaged++ >= 3) return;
    if (k) store_key_text(k, kt, sizeof(kt));
    forked_printf(w->fd, "bad %d %s%s%s%s", w->unit, why, k ? " (key \"" : "", kt, k ? "\")" : "");
}

typedef void (*record_fn)(walker *w, const MDB_val *k, const MDB_val *v, const void *arg);

/* Every record in key order; 0 when the walk reached the end. */
static int walk_tree(walker *w, MDB_dbi dbi, record_fn rec, const void *arg)
{
    MDB_cursor *cur;
    char why[160];
    int rc = mdb_cursor_open(w->txn, dbi, &cur);
    if (rc) {
        snprintf(why, sizeof(why), "cannot walk it: %s", mdb_strerror(rc));
        bad(w, NULL, why);
        return -1;
    }
    uint8_t prev[512];
    MDB_val k, v, p = {0, prev};
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
        w->records++;
        /* LMDB stores no empty key and none past 511 bytes. */
        if (k.mv_size == 0 || k.mv_size > sizeof(prev) ||
            (p.mv_size && mdb_cmp(w->txn, dbi, &p, &k) >= 0)) {
            bad(w, &k, "keys out of order: its pages are damaged");
            rc = -1;
            break;
        }
        memcpy(prev, k.mv_data, k.mv_size);
        p.mv_size = k.mv_size;
        rec(w, &k, &v, arg);
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc != -1) {
        snprintf(why, sizeof(why), "the walk stopped: %s", mdb_strerror(rc));
        bad(w, NULL, why);
    }
    return -1;
}

static void record_in_db(walker *w, const MDB_val *k, const MDB_val *v, const void *arg)
{
    store_rec_check_fn fn = (store_rec_check_fn)(uintptr_t)arg;
    char why[160];
    int rc = fn ? fn((store_val){k->mv_data, k->mv_size}, (store_val){v->mv_data, v->mv_size}, why,
                     sizeof(why))
                : 0;
    if (rc > 0)
        w->verified++;
    else if (rc == 0)
        w->unverified++;
    else
        bad(w, k, why);
}

static void record_free(walker *w, const MDB_val *k, const MDB_val *v, const void *arg)
{
    (void)arg;
    size_t n = 0;
    if (v->mv_size >= WORD) memcpy(&n, v->mv_data, WORD);
    if (k->mv_size != WORD || v->mv_size < WORD || n != v->mv_size / WORD - 1) {
        bad(w, k, "not a list of free pages");
        return;
    }
    for (size_t i = 1; i <= n; i++) {
        size_t pg;
        memcpy(&pg, (const uint8_t *)v->mv_data + i * WORD, WORD);
        if (pg < 2 || pg > w->last_page) {
            bad(w, k, "lists a page outside the file");
            return;
        }
    }
    w->free_pages += n;
}

static void record_main(walker *w, const MDB_val *k, const MDB_val *v, const void *arg)
{
    (void)arg;
    char name[128];
    if (v->mv_size != DB_REC_LEN || k->mv_size == 0 || k->mv_size >= sizeof(name)) {
        bad(w, k, "not a database record");
        return;
    }
    memcpy(name, k->mv_data, k->mv_size);
    name[k->mv_size] = 0;
    for (int i = 0; i < STORE_DB_COUNT; i++)
        if (!strcmp(name, store_db_name((store_db)i))) return;
    MDB_dbi dbi;
    MDB_stat st;
    if (mdb_dbi_open(w->txn, name, 0, &dbi) || mdb_stat(w->txn, dbi, &st)) {
        bad(w, k, "a database that cannot be opened");
        return;
    }
    forked_printf(
        w->fd, "unknown %llu %s",
        (unsigned long long)(st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages), name);
}

static void walk_unit(walker *w, const store_check_opts *o)
{
    int u = w->unit;
    MDB_dbi dbi = 0; /* LMDB's free pages: dbi 0, read-only transactions only */
    MDB_stat st = {0};
    bool absent = false;
    int rc = 0;
    if (u == STORE_CHECK_MAIN)
        rc = mdb_dbi_open(w->txn, NULL, 0, &dbi);
    else if (u != STORE_CHECK_FREE)
        rc = mdb_dbi_open(w->txn, store_db_name((store_db)u), 0, &dbi);
    absent = rc == MDB_NOTFOUND;
    if (!rc) rc = mdb_stat(w->txn, dbi, &st);
    if (rc && !absent) {
        char why[160];
        snprintf(why, sizeof(why), "cannot open it: %s", mdb_strerror(rc));
        bad(w, NULL, why);
    } else if (!absent) {
        record_fn rec = u == STORE_CHECK_MAIN   ? record_main
                        : u == STORE_CHECK_FREE ? record_free
                                                : record_in_db;
        const void *arg = u < STORE_DB_COUNT ? (const void *)(uintptr_t)o->checks[u] : NULL;
        if (walk_tree(w, dbi, rec, arg) == 0 && w->records != st.ms_entries) {
            char why[160];
            snprintf(why, sizeof(why), "its tree counts %zu records, the walk found %llu",
                     st.ms_entries, (unsigned long long)w->records);
            bad(w, NULL, why);
        }
    }
    forked_printf(
        w->fd, "end %d %llu %llu %llu %llu %llu %llu %d", u, (unsigned long long)w->records,
        (unsigned long long)w->verified, (unsigned long long)w->unverified,
        (unsigned long long)w->damaged,
        (unsigned long long)(st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages),
        (unsigned long long)w->free_pages, absent);
}

typedef struct walk_arg {
    const store_check_opts *o;
    int start; /* position in the walk's order */
} walk_arg;

/* A snapshot whose last page is known: the transaction is the newest. */
static int begin_snapshot(MDB_env *env, MDB_txn **txn, uint64_t *last, int *exact)
{
    MDB_envinfo info;
    for (int tries = 0; tries < 20; tries++) {
        int rc = mdb_txn_begin(env, NULL, MDB_RDONLY, txn);
        if (rc) return rc;
        mdb_env_info(env, &info);
        *last = info.me_last_pgno;
        *exact = info.me_last_txnid == mdb_txn_id(*txn);
        if (*exact) return 0;
        mdb_txn_abort(*txn); /* a host committed meanwhile: again */
    }
    return mdb_txn_begin(env, NULL, MDB_RDONLY, txn);
}

static int walk_child(void *argp, int fd)
{
    walk_arg *a = argp;
    const store_check_opts *o = a->o;
    MDB_env *env;
    MDB_txn *txn;
    uint64_t last = 0;
    int exact = 0, rc = mdb_env_create(&env);
    unsigned flags = MDB_RDONLY | (o->env_dir ? 0 : MDB_NOSUBDIR | MDB_NOLOCK);
    if (!rc) mdb_env_set_maxdbs(env, 256);
    if (!rc) rc = mdb_env_open(env, o->env_dir ? o->env_dir : o->path, flags, 0600);
    if (!rc) rc = begin_snapshot(env, &txn, &last, &exact);
    if (rc) {
        forked_printf(fd, "error %s", mdb_strerror(rc));
        return CHILD_CANNOT_OPEN;
    }
    forked_printf(fd, "snapshot %llu %d", (unsigned long long)last, exact);
    /* A transaction per tree: an LMDB error in one (a damaged page) makes
     * its transaction unusable, and must not fail the trees after it. */
    size_t id = mdb_txn_id(txn);
    mdb_txn_abort(txn);
    for (int pos = a->start; pos < STORE_CHECK_TREES; pos++) {
        walker w = {.fd = fd, .unit = unit_at(pos), .last_page = last};
        if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &w.txn)) != 0) {
            forked_printf(fd, "error %s", mdb_strerror(rc));
            return CHILD_CANNOT_OPEN;
        }
        if (mdb_txn_id(w.txn) != id) forked_printf(fd, "snapshot %llu 0", (unsigned long long)last);
        forked_printf(fd, "begin %d", w.unit);
        walk_unit(&w, o);
        mdb_txn_abort(w.txn);
    }
    return 0;
}

/* ---- the parent: reading the child's lines --------------------------------------- */

typedef struct reader {
    store_check_report *r;
    int current; /* the unit begun and not ended, or -1 */
    bool exact;
    char error[200];
} reader;

static void on_line(void *ud, const char *line)
{
    reader *rd = ud;
    store_check_report *r = rd->r;
    int u, absent, n;
    unsigned long long a, b, c, d, e, f, last;
    if (sscanf(line, "begin %d", &u) == 1 && u >= 0 && u < STORE_CHECK_TREES) {
        rd->current = u;
    } else if (sscanf(line, "bad %d %n", &u, &n) == 1 && u >= 0 && u < STORE_CHECK_TREES) {
        store_check_tree *t = &r->tree[u];
        if (t->nfirst < 3) snprintf(t->first[t->nfirst++], sizeof(t->first[0]), "%s", line + n);
    } else if (sscanf(line, "end %d %llu %llu %llu %llu %llu %llu %d", &u, &a, &b, &c, &d, &e, &f,
                      &absent) == 8 &&
               u >= 0 && u < STORE_CHECK_TREES) {
        store_check_tree *t = &r->tree[u];
        t->walked = true;
        t->absent = absent;
        t->records = a;
        t->verified = b;
        t->unverified = c;
        t->damaged = d;
        t->pages = e;
        if (u == STORE_CHECK_FREE) r->free_pages = f;
        rd->current = -1;
    } else if (sscanf(line, "unknown %llu %n", &a, &n) == 1) {
        r->unknown_pages += a;
        size_t used = strlen(r->unknown);
        snprintf(r->unknown + used, sizeof(r->unknown) - used, "%s%s", used ? ", " : "", line + n);
    } else if (sscanf(line, "snapshot %llu %d", &last, &u) == 2) {
        r->last_page = last;
        rd->exact = u;
    } else if (!strncmp(line, "error ", 6)) {
        snprintf(rd->error, sizeof(rd->error), "%s", line + 6);
    }
}

static uint64_t pages_in_trees(const store_check_report *r)
{
    uint64_t n = r->unknown_pages;
    for (int u = 0; u < STORE_CHECK_TREES; u++)
        n += r->tree[u].pages;
    return n;
}

int store_check(const store_check_opts *o, store_check_report *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    for (int u = 0; u < STORE_CHECK_TREES; u++)
        r->tree[u].name = unit_name(u);
    int rc = store_file_check(o->path, o->env_dir, &r->file, err, errlen);
    if (rc) return rc;
    bool whole = true;
    for (int pos = 0; pos < STORE_CHECK_TREES;) {
        reader rd = {.r = r, .current = -1};
        walk_arg a = {.o = o, .start = pos};
        forked_end end;
        if (forked_run(walk_child, &a, on_line, &rd, &end) != 0 ||
            end.exit_code == CHILD_CANNOT_OPEN) {
            snprintf(err, errlen, "%s: cannot read the store: %s", o->path,
                     rd.error[0] ? rd.error : "the check could not start");
            return AH_EIO;
        }
        int stopped = rd.current;
        if (stopped < 0 && (end.signo || end.exit_code)) stopped = unit_at(pos);
        if (stopped < 0) {
            bool intact = true;
            for (int u = 0; u < STORE_CHECK_TREES; u++)
                intact = intact && !r->tree[u].damaged;
            r->pages_counted = pos == 0 && whole && rd.exact && intact;
            if (r->pages_counted && 2 + pages_in_trees(r) + r->free_pages != r->last_page + 1)
                r->damaged++;
            break;
        }
        /* The walk died in `stopped`: its pages are damaged; go on after it. */
        store_check_tree *t = &r->tree[stopped];
        t->signo = end.signo ? end.signo : SIGABRT;
        whole = false;
        while (pos < STORE_CHECK_TREES && unit_at(pos) != stopped)
            pos++;
        pos++;
    }
    for (int u = 0; u < STORE_CHECK_TREES; u++)
        if (r->tree[u].damaged || r->tree[u].signo || (!r->tree[u].walked && !r->tree[u].signo))
            r->damaged++;
    return 0;
}

/* ---- the report ------------------------------------------------------------------- */

static void print_tree(const store_check_tree *t, int u, uint64_t r_free_pages,
                       const store_check_opts *o, FILE *out)
{
    if (t->signo) {
        fprintf(out, "  %-18s %10s  DAMAGED: reading its pages crashed (SIG%s)\n", t->name, "-",
                sigabbrev_np(t->signo));
    } else if (!t->walked) {
        fprintf(out, "  %-18s %10s  not checked: an earlier walk stopped\n", t->name, "-");
    } else if (t->absent) {
        fprintf(out, "  %-18s %10s  absent (a store from before this database)\n", t->name, "-");
    } else if (t->damaged) {
        fprintf(out, "  %-18s %10llu  DAMAGED: %llu problem%s\n", t->name,
                (unsigned long long)t->records, (unsigned long long)t->damaged,
                t->damaged == 1 ? "" : "s");
    } else if (u < STORE_DB_COUNT && o->checksummed[u]) {
        fprintf(out, "  %-18s %10llu  ok: %llu checksums verified", t->name,
                (unsigned long long)t->records, (unsigned long long)t->verified);
        if (t->unverified)
            fprintf(out, ", %llu records predate checksums", (unsigned long long)t->unverified);
        fputc('\n', out);
    } else if (u == STORE_CHECK_FREE) {
        fprintf(out, "  %-18s %10llu  ok: %llu free pages\n", t->name,
                (unsigned long long)t->records, (unsigned long long)r_free_pages);
    } else {
        fprintf(out, "  %-18s %10llu  ok (%s)\n", t->name, (unsigned long long)t->records,
                u < STORE_DB_COUNT && o->checks[u] ? "no checksums kept: format checked"
                                                   : "no checksums kept: structure checked");
    }
    for (size_t i = 0; i < t->nfirst; i++)
        fprintf(out, "      %s\n", t->first[i]);
}

void store_check_print(const store_check_report *r, const store_check_opts *o, FILE *out)
{
    fprintf(out, "%s: %llu bytes, page size %u, pages 0-%llu, transaction %llu\n", o->path,
            (unsigned long long)r->file.file_bytes, r->file.page_size,
            (unsigned long long)r->file.last_page, (unsigned long long)r->file.txnid);
    for (int pos = 0; pos < STORE_CHECK_TREES; pos++)
        print_tree(&r->tree[unit_at(pos)], unit_at(pos), r->free_pages, o, out);
    if (r->unknown[0]) fprintf(out, "  databases this host does not know: %s\n", r->unknown);
    if (r->pages_counted) {
        uint64_t in_trees = pages_in_trees(r);
        uint64_t total = 2 + in_trees + r->free_pages;
        bool ok = total == r->last_page + 1;
        fprintf(out,
                "  pages: 2 meta + %llu in trees + %llu free = %llu, %s last page %llu + 1%s\n",
                (unsigned long long)in_trees, (unsigned long long)r->free_pages,
                (unsigned long long)total, ok ? "the" : "NOT the", (unsigned long long)r->last_page,
                ok ? "" : ": pages are lost or counted twice");
    } else {
        fprintf(out, "  pages: not counted (%s)\n",
                r->damaged ? "a database is damaged" : "a host committed during the check");
    }
    if (!r->damaged) {
        fprintf(out, "the store is intact\n");
        return;
    }
    fprintf(out, "the store is DAMAGED:");
    for (int u = 0; u < STORE_CHECK_TREES; u++)
        if (r->tree[u].damaged || r->tree[u].signo) fprintf(out, " %s", r->tree[u].name);
    if (r->pages_counted && 2 + pages_in_trees(r) + r->free_pages != r->last_page + 1)
        fprintf(out, " (page count)");
    fprintf(out, "\n");
}
