/* bl_delete.c - deleting a durable consumer (bus_consumer_delete), and
 * the consumers only stored (from a run before) for bus_consumers.
 *
 * A deletion is one store write removing the consumer's record, its
 * positions ("name\0" + topic id) and its failure records ("name\0" +
 * topic id + sequence). An open consumer is closed at the call and kept,
 * closed, in b->deleting until that write has answered: writes of it
 * queued earlier (positions, dead letters, commits of its deliveries)
 * answer first, in queue order, and their done callbacks may still look at
 * its memory; they find its window cleared and do nothing more. */
#include "core/log.h"
#include "bl.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct del_op {
    bl *b;
    char name[BL_CONSUMER_NAME_MAX + 1];
    bus_done_cb cb;
    void *ud;
    size_t removed; /* result: records deleted */
} del_op;

static int apply_delete(store_txn *txn, void *arg)
{
    del_op *op = arg;
    size_t len = strlen(op->name), npos = 0, npend = 0;
    op->removed = 0;
    int rc = store_del(txn, STORE_DB_CONSUMERS, op->name, len);
    if (rc && rc != AH_ENOTFOUND) return rc;
    op->removed += rc == 0;
    uint8_t prefix[BL_CONSUMER_NAME_MAX + 1];
    memcpy(prefix, op->name, len);
    prefix[len] = 0; /* names hold no NUL: "a\0" never prefixes "ab"'s keys */
    if ((rc = store_del_prefix(txn, STORE_DB_CONSUMERS, prefix, len + 1, &npos)) != 0) return rc;
    if ((rc = store_del_prefix(txn, STORE_DB_PENDING, prefix, len + 1, &npend)) != 0) return rc;
    op->removed += npos + npend;
    return 0;
}

static void done_delete(int status, void *arg)
{
    del_op *op = arg;
    bl_consumer *c = strmap_del(&op->b->deleting, op->name);
    if (c) bl_consumer_free(c);
    json_t *f = json_pack("{s:s,s:I,s:i}", "consumer", op->name, "records", (json_int_t)op->removed,
                          "status", status);
    if (status)
        log_write("events", LOG_ERROR, "bus", NULL, f, "deleting consumer %s failed: %s", op->name,
                  ah_strerror(status));
    else
        log_write("events", LOG_INFO, "bus", NULL, f, "consumer %s deleted (%llu records)",
                  op->name, (unsigned long long)op->removed);
    json_decref(f);
    if (op->cb) op->cb(op->ud, status);
    free(op);
}

static int any_key(void *ud, store_val key, store_val val)
{
    (void)key, (void)val;
    *(bool *)ud = true;
    return 1;
}

/* Whether anything of the consumer is stored: its record or a position. */
static int stored(bl *b, const char *name, bool *found)
{
    store_txn *txn;
    int rc = store_read_begin(b->st, &txn);
    if (rc) return rc;
    size_t len = strlen(name);
    store_val v;
    uint8_t prefix[BL_CONSUMER_NAME_MAX + 1];
    memcpy(prefix, name, len);
    prefix[len] = 0;
    *found = store_get(txn, STORE_DB_CONSUMERS, name, len, &v) == 0;
    if (!*found) {
        rc = store_scan(txn, STORE_DB_CONSUMERS, prefix, len + 1, NULL, 0, 0, any_key, found);
    }
    store_read_end(b->st, txn);
    return rc;
}

/* Remove ct from the array v of n. */
static void drop_ptr(bl_ctopic **v, size_t *n, const bl_ctopic *ct)
{
    for (size_t i = 0; i < *n;)
        if (v[i] == ct)
            v[i] = v[--*n];
        else
            i++;
}

/* Close c: no delivery, no timer, no write from now on. Deliveries out
 * become stale; the window is cleared so done callbacks of writes in
 * flight find nothing to settle. */
static void close_deleted(bl *b, bl_consumer *c)
{
    c->attached = false;
    c->deleted = true;
    for (size_t i = 0; i < c->ntopics; i++) {
        bl_ctopic *ct = c->topics[i];
        for (size_t s = 0; s < ct->cap; s++) {
            slot *sl = &ct->ring[s];
            if (sl->state == S_INFLIGHT) free(ah_idmap_take(&b->deliveries, sl->delivery_id));
            free(sl->key);
            free(sl->error);
            memset(sl, 0, sizeof(*sl));
        }
        ct->ready.n = ct->ready.head = 0;
        ct->inflight = ct->retrying = ct->suspects = 0;
        drop_ptr(ct->t->subs, &ct->t->nsubs, ct);
        if (ct->dirty) drop_ptr(b->dirty, &b->ndirty, ct);
        ct->dirty = false;
    }
    c->inflight = c->suspects = 0;
    strmap_del(&b->consumers, c->name);
}

int bl_consumer_delete(bus *bb, const char *name, bus_done_cb cb, void *ud, char *err,
                       size_t errlen)
{
    bl *b = bl_of(bb);
    if (!name || !*name || strlen(name) > BL_CONSUMER_NAME_MAX) {
        snprintf(err, errlen, "a consumer name is 1-%d bytes", BL_CONSUMER_NAME_MAX);
        return AH_EINVAL;
    }
    if (b->closing) {
        snprintf(err, errlen, "the bus is closing");
        return AH_ECLOSED;
    }
    if (strmap_get(&b->deleting, name)) {
        snprintf(err, errlen, "consumer %s is being deleted", name);
        return AH_EBUSY;
    }
    bl_consumer *c = strmap_get(&b->consumers, name);
    bool found = c != NULL;
    int rc = found ? 0 : stored(b, name, &found);
    if (rc) {
        snprintf(err, errlen, "reading the consumers: %s", ah_strerror(rc));
        return AH_EIO;
    }
    if (!found) {
        snprintf(err, errlen, "no consumer %s", name);
        return AH_ENOTFOUND;
    }
    del_op *op = calloc(1, sizeof(*op));
    if (!op || (c && strmap_put(&b->deleting, name, c) != 0)) {
        free(op);
        snprintf(err, errlen, "out of memory");
        return AH_ENOMEM;
    }
    *op = (del_op){.b = b, .cb = cb, .ud = ud};
    snprintf(op->name, sizeof(op->name), "%s", name);
    if ((rc = store_write(b->st, apply_delete, done_delete, op)) != 0) {
        if (c) strmap_del(&b->deleting, name);
        free(op);
        snprintf(err, errlen, "the deletion cannot be queued: %s", ah_strerror(rc));
        return rc;
    }
    if (c) close_deleted(b, c);
    return 0;
}

/* ---- consumers only stored ----------------------------------------------------------- */

typedef struct list_arg {
    bl *b;
    json_t *arr;
    json_t *cur;       /* the entry of the record scanned last, or NULL */
    const char *cname; /* its name */
} list_arg;

static void add_position(list_arg *a, const uint8_t *p, size_t klen, store_val val)
{
    if (!a->cur || val.len != 8) return;
    size_t nlen = strlen(a->cname);
    if (klen != nlen + 5 || memcmp(p, a->cname, nlen) != 0 || p[nlen] != 0) return;
    uint32_t id = store_rd32(p + nlen + 1);
    bl_topic *t = ah_idmap_get(&a->b->topic_ids, id);
    uint64_t pos = store_rd64(val.data), head = t ? bl_topic_head(t) : pos;
    json_array_append_new(json_object_get(a->cur, "topics"),
                          json_pack("{s:s?,s:I,s:I,s:I}", "topic", t ? t->name : NULL, "position",
                                    (json_int_t)pos, "head", (json_int_t)head, "lag",
                                    (json_int_t)(head > pos ? head - pos : 0)));
    json_object_set_new(a->cur, "lag",
                        json_integer(json_integer_value(json_object_get(a->cur, "lag")) +
                                     (json_int_t)(head > pos ? head - pos : 0)));
}

static int list_one(void *ud, store_val key, store_val val)
{
    list_arg *a = ud;
    const uint8_t *p = key.data;
    if (memchr(p, 0, key.len)) {
        add_position(a, p, key.len, val);
        return 0;
    }
    char name[BL_CONSUMER_NAME_MAX + 1];
    a->cur = NULL;
    if (key.len > BL_CONSUMER_NAME_MAX) return 0;
    memcpy(name, p, key.len);
    name[key.len] = 0;
    if (strmap_get(&a->b->consumers, name) || strmap_get(&a->b->deleting, name)) return 0;
    json_t *rec = json_loadb(val.data, val.len, 0, NULL);
    json_t *pats = json_object_get(rec, "patterns");
    a->cur =
        json_pack("{s:s,s:b,s:o,s:b,s:i,s:I,s:O?,s:[]}", "name", name, "open", 0, "patterns",
                  pats ? json_incref(pats) : json_array(), "attached", 0, "in_flight", 0, "lag",
                  (json_int_t)0, "updated_ms", json_object_get(rec, "updated_ms"), "topics");
    json_decref(rec);
    if (!a->cur) return 0;
    json_array_append_new(a->arr, a->cur);
    a->cname = json_string_value(json_object_get(a->cur, "name"));
    return 0;
}

void bl_stored_consumers(bl *b, json_t *arr)
{
    store_txn *txn;
    if (store_read_begin(b->st, &txn) != 0) return;
    list_arg a = {.b = b, .arr = arr};
    store_scan(txn, STORE_DB_CONSUMERS, NULL, 0, NULL, 0, 0, list_one, &a);
    store_read_end(b->st, txn);
}
