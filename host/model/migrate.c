/*
 * migrate.c - documents of an older schema_version brought to the current
 * one when the host starts, in batches, each batch one commit.
 *
 * The meta database keeps, per collection, the version every document is
 * known to be at ("docs.version\0<collection>"), so a start with nothing
 * to migrate reads one record per collection, not the collection.
 */
#include "docs_priv.h"

#include "core/log.h"
#include "ids.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <string.h>

#define BATCH 500
#define KEY_MAX 511

static size_t version_key(char *k, const doc_collection *c)
{
    return (size_t)snprintf(k, 96, "docs.version%c%s", 0, c->name);
}

static uint32_t stored_version(doc_txn *t, const doc_collection *c)
{
    char k[96];
    store_val v;
    if (store_get(doc_txn_store(t), STORE_DB_META, k, version_key(k, c), &v) != 0 || v.len != 4)
        return 0;
    return store_rd32(v.data);
}

typedef struct batch {
    const doc_collection *c;
    uint8_t from[KEY_MAX]; /* where this batch starts (the last committed's end) */
    size_t from_len;
    uint8_t after[KEY_MAX]; /* the last key this batch visited */
    size_t after_len;
    char ids[BATCH][ID_MAX];
    size_t n;
    bool done;
    size_t migrated;
} batch;

static int older(void *ud, store_val k, store_val v)
{
    batch *b = ud;
    memcpy(b->after, k.data, k.len);
    b->after_len = k.len;
    /* The version is read from the record itself: a cheap look, no parse
     * of sealed fields (they are opened when the document is migrated). */
    store_val js;
    uint64_t rev;
    json_t *doc =
        store_rev_decode(k, v, &js, &rev) == 0 ? json_loadb(js.data, js.len, 0, NULL) : NULL;
    json_int_t ver = json_integer_value(json_object_get(doc, "schema_version"));
    const char *id = json_string_value(json_object_get(doc, "id"));
    if (id && ver < (json_int_t)b->c->version && strlen(id) < ID_MAX)
        snprintf(b->ids[b->n++], ID_MAX, "%s", id);
    json_decref(doc);
    return b->n == BATCH ? 1 : 0;
}

static int migrate_one(doc_txn *t, const doc_collection *c, const char *id)
{
    json_t *doc = NULL;
    int rc = docs_load(t, c, id, &doc, NULL);
    if (rc) return rc;
    json_int_t v = json_integer_value(json_object_get(doc, "schema_version"));
    if (v < 1) v = 1;
    for (; !rc && v < (json_int_t)c->version; v++) {
        doc_migrate_fn fn = c->migrations ? c->migrations[v - 1] : NULL;
        rc = fn ? fn(doc) : 0;
        if (rc)
            doc_fail(t, rc, NULL, "%s %s: the migration from version %lld failed", c->name, id,
                     (long long)v);
    }
    if (!rc) rc = doc_put(t, c->name, doc, STORE_REV_ANY, NULL);
    json_decref(doc);
    return rc;
}

static int run_batch(doc_txn *t, void *ud)
{
    batch *b = ud;
    b->n = 0; /* this may run again for one batch: start from the same place */
    b->after_len = 0;
    size_t plen = strlen(b->c->name) + 1;
    int rc = store_scan(doc_txn_store(t), STORE_DB_DOCS, b->c->name, plen,
                        b->from_len ? b->from : NULL, b->from_len, 0, older, b);
    b->done = rc == 0 && b->n < BATCH;
    for (size_t i = 0; !rc && i < b->n; i++)
        rc = migrate_one(t, b->c, b->ids[i]);
    if (!rc && b->done) {
        char k[96];
        uint8_t be[4];
        store_be32(be, b->c->version);
        rc = store_put(doc_txn_store(t), STORE_DB_META, k, version_key(k, b->c), be, 4);
    }
    return rc;
}

static int read_version(doc_txn *t, void *ud)
{
    batch *b = ud;
    b->done = stored_version(t, b->c) >= b->c->version;
    return 0;
}

int docs_migrate(docs *d, size_t *migrated, char *err, size_t errlen)
{
    *migrated = 0;
    for (size_t i = 0; i < d->ncolls; i++) {
        batch b = {.c = &d->colls[i]};
        doc_error e;
        int rc = docs_read(d, read_version, &b, &e);
        while (!rc && !b.done) {
            rc = docs_write_now(d, run_batch, &b, &e);
            if (rc) break;
            *migrated += b.n;
            memcpy(b.from, b.after, b.after_len);
            b.from_len = b.after_len;
        }
        if (rc) {
            snprintf(err, errlen, "migrating %s: %s", b.c->name,
                     e.message[0] ? e.message : "failed");
            return rc;
        }
    }
    if (*migrated) log_info("model", "migrated %zu documents to their current schema", *migrated);
    return 0;
}
