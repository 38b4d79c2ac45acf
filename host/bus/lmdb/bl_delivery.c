/* bl_delivery.c - delivering events to consumers: the window of events
 * between a consumer's position and its read head, per-key ordering,
 * acks, nacks, ack timeouts, retries with backoff, attach and detach. */
#include "core/fault.h"
#include "core/log.h"
#include "core/util.h"
#include "bl.h"

#include <agenthost/plugin.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

slot *bl_slot(bl_ctopic *ct, uint64_t seq)
{
    if (seq <= ct->floor || seq > ct->floor + ct->cap) return NULL;
    return &ct->ring[(ct->head + (seq - ct->floor - 1)) % ct->cap];
}

static void clear_slot(slot *s)
{
    free(s->key);
    free(s->error);
    memset(s, 0, sizeof(*s));
}

static void mark_dirty(bl_ctopic *ct)
{
    if (ct->dirty || ct->c->deleted) return;
    bl *b = ct->c->b;
    if (b->ndirty == b->capdirty) {
        size_t nc = b->capdirty ? b->capdirty * 2 : 16;
        bl_ctopic **nv = realloc(b->dirty, nc * sizeof(*nv));
        if (!nv) return;
        b->dirty = nv;
        b->capdirty = nc;
    }
    b->dirty[b->ndirty++] = ct;
    ct->dirty = true;
}

static void advance_floor(bl_ctopic *ct)
{
    uint64_t before = ct->floor;
    while (ct->read_pos > ct->floor + 1) {
        slot *s = &ct->ring[ct->head];
        if (s->state != S_DONE) break;
        clear_slot(s);
        ct->head = (ct->head + 1) % ct->cap;
        ct->floor++;
    }
    if (ct->floor != before) mark_dirty(ct);
}

/* ---- queues of sequences ------------------------------------------------------ */

int seqq_push(seqq *q, uint64_t seq, bool front)
{
    if (q->n == q->cap) {
        size_t nc = q->cap ? q->cap * 2 : 16;
        uint64_t *nv = malloc(nc * sizeof(*nv));
        if (!nv) return AH_ENOMEM;
        for (size_t i = 0; i < q->n; i++)
            nv[i] = q->v[(q->head + i) % q->cap];
        free(q->v);
        q->v = nv;
        q->cap = nc;
        q->head = 0;
    }
    if (front) {
        q->head = (q->head + q->cap - 1) % q->cap;
        q->v[q->head] = seq;
    } else {
        q->v[(q->head + q->n) % q->cap] = seq;
    }
    q->n++;
    return 0;
}

uint64_t seqq_pop(seqq *q)
{
    uint64_t seq = q->v[q->head];
    q->head = (q->head + 1) % q->cap;
    q->n--;
    return seq;
}

void seqq_free(seqq *q)
{
    free(q->v);
    memset(q, 0, sizeof(*q));
}

static int ready_push(bl_ctopic *ct, uint64_t seq, bool front)
{
    return seqq_push(&ct->ready, seq, front);
}

static uint64_t ready_pop(bl_ctopic *ct)
{
    return seqq_pop(&ct->ready);
}

/* ---- keys: one event of a key at a time ---------------------------------- */

/* True when the key was free (and is now taken by seq). */
static bool key_acquire(bl_ctopic *ct, const char *key, uint64_t seq)
{
    if (!key) return true;
    keystate *ks = strmap_get(&ct->keys, key);
    if (!ks) {
        ks = calloc(1, sizeof(*ks));
        if (!ks || strmap_put(&ct->keys, key, ks) < 0) {
            free(ks);
            return true; /* out of memory: ordering is best effort then */
        }
    }
    if (!ks->busy) {
        ks->busy = true;
        return true;
    }
    return seqq_push(&ks->held, seq, false) < 0; /* no memory: deliver out of turn */
}

/* The key's current event is settled: its next held event becomes ready. */
static void key_release(bl_ctopic *ct, const char *key)
{
    if (!key) return;
    keystate *ks = strmap_get(&ct->keys, key);
    if (!ks) return;
    while (ks->held.n) {
        uint64_t seq = seqq_pop(&ks->held);
        slot *s = bl_slot(ct, seq);
        if (s && s->state == S_HELD) {
            s->state = S_READY;
            ready_push(ct, seq, false);
            return; /* the key stays busy for it */
        }
    }
    strmap_del(&ct->keys, key);
    seqq_free(&ks->held);
    free(ks);
}

/* ---- reading and delivering ------------------------------------------------ */

/* 0 read; -1 gone (removed by retention or a DLQ drop); -2 damaged in the
 * store (logged): never delivered, never taken for gone. */
static int read_event(bl *b, MDB_txn *txn, bl_ctopic *ct, uint64_t seq, MDB_val *v, bl_event *e)
{
    uint8_t key[12];
    bl_event_key(key, ct->t->id, seq);
    MDB_val k = {12, key};
    int rc = mdb_get(txn, store_dbi(b->st, STORE_DB_EVENTS), &k, v);
    if (rc == MDB_NOTFOUND) return -1;
    if (rc) {
        log_error("store", "database bus.events: reading topic %s offset %llu: %s", ct->t->name,
                  (unsigned long long)seq, mdb_strerror(rc));
        return -2;
    }
    return bl_event_read(&k, v, ct->t->name, e) < 0 ? -2 : 0;
}

/* A damaged event waits, read again now and then, never delivered nor
 * settled; its key, if known, stays busy meanwhile. The way on is a
 * restored store (docs/operations.md, "Damaged store"). */
static void park_damaged(bl_ctopic *ct, slot *s)
{
    s->state = S_RETRY;
    s->due_ms = ah_mono_ms() + BL_DAMAGED_RETRY_MS;
    ct->retrying++;
}

static void clear_suspect(bl_ctopic *ct, slot *s)
{
    if (!s->suspect) return;
    s->suspect = false;
    ct->suspects--;
    ct->c->suspects--;
}

static void settle_done(bl_ctopic *ct, uint64_t seq, slot *s)
{
    clear_suspect(ct, s);
    char *key = s->key;
    s->key = NULL;
    s->state = S_DONE;
    key_release(ct, key);
    free(key);
    advance_floor(ct);
}

/* Returns 1 delivered, 0 settled without delivery (gone), -1 refused. */
static int deliver(bl_ctopic *ct, uint64_t seq, MDB_txn *txn)
{
    bl_consumer *c = ct->c;
    bl *b = c->b;
    slot *s = bl_slot(ct, seq);
    MDB_val v;
    bl_event e;
    if (!s) return 0;
    int r = read_event(b, txn, ct, seq, &v, &e);
    if (r == -1) {
        settle_done(ct, seq, s); /* removed by retention or a DLQ drop */
        return 0;
    }
    if (r < 0) {
        park_damaged(ct, s);
        return 0;
    }
    bool text = c->ops.text; /* the consumer splices the stored text: nothing parsed */
    json_t *headers = !text && e.headers_len ? json_loadb(e.headers, e.headers_len, 0, NULL) : NULL;
    json_t *body = text ? NULL : json_loadb(e.body, e.body_len, JSON_DECODE_ANY, NULL);
    char idh[33];
    bl_id_hex(e.id, idh);
    uint64_t id = ++b->next_delivery;
    bus_delivery d = {.id = id,
                      .topic = ct->t->name,
                      .offset = seq,
                      .event_id = idh,
                      .key = s->key,
                      .time_ms = e.time_ms,
                      .attempt = s->attempts + 1,
                      .headers = text      ? NULL
                                 : headers ? headers
                                           : json_object(),
                      .body = text   ? NULL
                              : body ? body
                                     : json_null(),
                      .headers_json = e.headers_len ? e.headers : NULL,
                      .headers_json_len = e.headers_len,
                      .body_json = e.body,
                      .body_json_len = e.body_len};
    int rc = c->ops.deliver(c->ud, &d);
    json_decref((json_t *)d.headers);
    json_decref((json_t *)d.body);
    if (rc != 0) {
        s->state = S_READY;
        ready_push(ct, seq, true);
        return -1;
    }
    bl_delivery *ref = malloc(sizeof(*ref));
    if (!ref || ah_idmap_put(&b->deliveries, id, ref) < 0) {
        free(ref);
        /* Cannot track it: treat as a failed attempt at the next timer check. */
        s->attempts++;
        s->state = S_RETRY;
        s->due_ms = ah_mono_ms() + 100;
        ct->retrying++;
        return 1;
    }
    AH_FAULT("bus.after_deliver");
    ref->ct = ct;
    ref->seq = seq;
    s->attempts++;
    s->state = S_INFLIGHT;
    s->delivery_id = id;
    s->due_ms = ah_mono_ms() + c->ack_timeout_ms;
    ct->inflight++;
    c->inflight++;
    c->delivered++;
    return 1;
}

/* One step on one topic: 1 if something happened, 0 if idle, -1 if the
 * target refused (stop pumping this consumer). */
static int step(bl_ctopic *ct, MDB_txn **txn)
{
    bl *b = ct->c->b;
    if (!*txn && store_lmdb_read_begin(b->st, txn) != 0) {
        *txn = NULL;
        return 0;
    }
    if (ct->c->suspects) {
        /* Isolation after a crash: only suspects, one at a time. */
        for (size_t n = ct->ready.n; n > 0; n--) {
            uint64_t seq = ready_pop(ct);
            slot *s = bl_slot(ct, seq);
            if (!s || s->state != S_READY) continue;
            if (s->suspect) return deliver(ct, seq, *txn) < 0 ? -1 : 1;
            ready_push(ct, seq, false);
        }
        return 0;
    }
    if (ct->ready.n) {
        uint64_t seq = ready_pop(ct);
        slot *s = bl_slot(ct, seq);
        if (!s || s->state != S_READY) return 1;
        return deliver(ct, seq, *txn) < 0 ? -1 : 1;
    }
    if (ct->read_pos > bl_topic_head(ct->t) || ct->read_pos > ct->floor + ct->cap) return 0;
    uint64_t seq = ct->read_pos++;
    slot *s = bl_slot(ct, seq);
    MDB_val v;
    bl_event e;
    int r = s->settled ? -1 : read_event(b, *txn, ct, seq, &v, &e);
    if (r == -1) {
        s->state = S_DONE; /* dead-lettered before a restart, or gone */
        advance_floor(ct);
        return 1;
    }
    if (r < 0) {
        park_damaged(ct, s);
        return 1;
    }
    if (e.key) {
        s->key = strndup(e.key, e.key_len);
        if (!key_acquire(ct, s->key, seq)) {
            s->state = S_HELD;
            return 1;
        }
    }
    s->state = S_READY;
    return deliver(ct, seq, *txn) < 0 ? -1 : 1;
}

void bl_pump(bl_consumer *c)
{
    if (!c->attached || c->b->closing || !c->ntopics) return;
    MDB_txn *txn = NULL;
    size_t idle = 0;
    uint32_t limit = c->suspects ? 1 : c->max_in_flight;
    while (c->inflight < limit && idle < c->ntopics) {
        bl_ctopic *ct = c->topics[c->rr % c->ntopics];
        int r = step(ct, &txn);
        if (r < 0) break;
        if (r == 0) {
            idle++;
            c->rr++;
        } else {
            idle = 0;
        }
    }
    if (txn) store_lmdb_read_end(c->b->st, txn);
}

void bl_pump_topic(bl *b, bl_topic *t)
{
    for (size_t i = 0; i < t->nsubs; i++)
        bl_pump(t->subs[i]->c);
    (void)b;
}

/* ---- settling ------------------------------------------------------------------ */

void bl_record_failure(bl_ctopic *ct, uint64_t seq, uint32_t attempts, const char *error);

static uint64_t backoff_ms(bl *b, uint32_t attempts)
{
    uint64_t d = b->o.backoff_ms ? b->o.backoff_ms : 500;
    uint64_t cap = b->o.max_backoff_ms ? b->o.max_backoff_ms : 60000;
    for (uint32_t i = 1; i < attempts && d < cap; i++)
        d *= 2;
    if (d > cap) d = cap;
    /* Jitter of +-20% spreads retries of many events apart. */
    uint64_t j = d / 5;
    return j ? d - j + randombytes_uniform((uint32_t)(2 * j + 1)) : d;
}

static void fail(bl_ctopic *ct, uint64_t seq, slot *s, const char *error, uint32_t retry_after)
{
    bl_consumer *c = ct->c;
    if (s->state == S_INFLIGHT) {
        ct->inflight--;
        c->inflight--;
    }
    c->nacked++;
    free(s->error);
    s->error = strdup(error ? error : "failed");
    if (s->attempts >= c->max_attempts) {
        s->state = S_DEAD;
        if (bl_dead_letter(ct, seq, s->error) != 0) {
            s->state = S_RETRY; /* the store refused: try the move later */
            s->due_ms = ah_mono_ms() + backoff_ms(c->b, s->attempts);
            ct->retrying++;
        }
        return;
    }
    s->state = S_RETRY;
    s->due_ms = ah_mono_ms() + (retry_after ? retry_after : backoff_ms(c->b, s->attempts));
    ct->retrying++;
    bl_record_failure(ct, seq, s->attempts, s->error);
}

/* A dead letter committed (status 0) or failed. */
void bl_dead_letter_done(bl_ctopic *ct, uint64_t seq, int status)
{
    slot *s = bl_slot(ct, seq);
    if (!s || s->state != S_DEAD) return;
    if (status != 0) {
        s->state = S_RETRY;
        s->due_ms = ah_mono_ms() + backoff_ms(ct->c->b, s->attempts);
        ct->retrying++;
        return;
    }
    ct->c->dead++;
    json_t *f =
        json_pack("{s:s,s:s,s:I,s:i,s:s}", "consumer", ct->c->name, "topic", ct->t->name, "offset",
                  (json_int_t)seq, "attempts", (int)s->attempts, "error", s->error ? s->error : "");
    log_write("events", LOG_WARN, "bus", NULL, f,
              "event %s:%llu moved to $dlq.%s after %u attempts", ct->t->name,
              (unsigned long long)seq, ct->t->name, s->attempts);
    json_decref(f);
    settle_done(ct, seq, s);
    bl_pump(ct->c);
}

static slot *take_delivery(bl *b, uint64_t id, bl_ctopic **ct, uint64_t *seq)
{
    bl_delivery *ref = ah_idmap_take(&b->deliveries, id);
    if (!ref) return NULL;
    *ct = ref->ct;
    *seq = ref->seq;
    free(ref);
    slot *s = bl_slot(*ct, *seq);
    return s && s->state == S_INFLIGHT && s->delivery_id == id ? s : NULL;
}

int bl_ack(bus *bb, uint64_t delivery_id)
{
    bl *b = bl_of(bb);
    bl_ctopic *ct;
    uint64_t seq;
    slot *s = take_delivery(b, delivery_id, &ct, &seq);
    if (!s) return AH_ENOTFOUND;
    ct->inflight--;
    ct->c->inflight--;
    ct->c->acked++;
    settle_done(ct, seq, s);
    bl_pump(ct->c);
    return 0;
}

/* ---- a delivery settled in the commit of what it caused --------------------- */

typedef struct commit_op {
    bl *b;
    bl_ctopic *ct; /* the settled delivery's, or NULL */
    uint64_t seq;
    uint8_t key[160]; /* its settled record, or its consumer's position */
    size_t klen;
    uint8_t val[8];
    bool pos;       /* key and val are the position (be64), not a settled record */
    uint64_t floor; /* that position */
    uint32_t seeks; /* the topic's seeks when queued */
    store_apply_fn apply;
    void *apply_arg;
    bus_publish_cb cb;
    void *ud;
} commit_op;

static int apply_commit(store_txn *stx, void *arg)
{
    commit_op *op = arg;
    if (op->klen) {
        MDB_val k = {op->klen, op->key}, v = {op->pos ? 8 : 5, op->val};
        store_db db = op->pos ? STORE_DB_CONSUMERS : STORE_DB_PENDING;
        int rc = mdb_put(store_lmdb_txn(stx), store_dbi(op->b->st, db), &k, &v, 0);
        if (rc) return store_txn_fail(stx, rc);
    }
    return op->apply ? op->apply(stx, op->apply_arg) : 0;
}

/* The slot waited in S_DEAD (a settling write in flight: no timeout, no
 * redelivery); it is now settled, or back to a retry. */
static void committed(void *ud, int status, const uint64_t *offsets, const bool *dup, size_t n)
{
    commit_op *op = ud;
    if (status == 0 && op->pos) AH_FAULT("bus.after_settling_commit");
    bl_ctopic *ct = op->ct;
    bool current = ct && ct->seeks == op->seeks && !op->b->closing;
    if (current && op->pos) {
        /* The position is the commit's: durable with it, or (failed) for
         * the tick's position write again. */
        ct->commit_pos_set = false;
        if (status == 0 && (ct->durable_floor == (uint64_t)-1 || op->floor > ct->durable_floor))
            ct->durable_floor = op->floor;
        if (status != 0 && ct->floor != ct->durable_floor) mark_dirty(ct);
    }
    slot *s = current ? bl_slot(ct, op->seq) : NULL;
    if (s && s->state == S_DEAD) {
        if (status == 0) {
            op->ct->c->acked++;
            settle_done(op->ct, op->seq, s);
        } else {
            s->state = S_RETRY;
            s->due_ms = ah_mono_ms() + backoff_ms(op->b, s->attempts);
            op->ct->retrying++;
        }
        bl_pump(op->ct->c);
    }
    if (op->cb) op->cb(op->ud, status, offsets, dup, n);
    free(op);
}

/* How the commit settles its delivery. When every event before it is
 * settled (it is the first past the floor) and the consumer has no failure
 * records on this topic, the commit writes the consumer's position itself,
 * up to the last settled event after it: the input, what it caused and the
 * position in one write, with no position write of its own to follow
 * (ADR 0057). Otherwise a settled record, which the next position write
 * prunes. */
static void commit_settles(commit_op *op)
{
    bl_ctopic *ct = op->ct;
    op->seeks = ct->seeks;
    if (ct->has_pending || op->seq != ct->floor + 1 || ct->c->deleted) {
        op->klen = bl_settled_record(ct, op->seq, op->key, sizeof(op->key), op->val);
        return;
    }
    uint64_t f = op->seq;
    while (f + 1 < ct->read_pos) {
        slot *n = bl_slot(ct, f + 1);
        if (!n || n->state != S_DONE) break;
        f++;
    }
    op->klen = bl_pos_key(op->key, sizeof(op->key), ct->c->name, ct->t->id);
    if (!op->klen) {
        op->klen = bl_settled_record(ct, op->seq, op->key, sizeof(op->key), op->val);
        return;
    }
    op->pos = true;
    op->floor = f;
    store_be64(op->val, f);
}

int bl_commit(bus *bb, const bus_commit_req *r, bus_publish_cb cb, void *ud, char *err,
              size_t errlen)
{
    bl *b = bl_of(bb);
    commit_op *op = calloc(1, sizeof(*op));
    if (!op) {
        snprintf(err, errlen, "out of memory");
        return AH_ENOMEM;
    }
    *op = (commit_op){.b = b, .apply = r->apply, .apply_arg = r->apply_arg, .cb = cb, .ud = ud};
    slot *s = NULL;
    if (r->settle) {
        bl_delivery *ref = ah_idmap_get(&b->deliveries, r->settle);
        s = ref ? bl_slot(ref->ct, ref->seq) : NULL;
        if (!s || s->state != S_INFLIGHT || s->delivery_id != r->settle) {
            free(op);
            snprintf(err, errlen,
                     "no delivery %llu in flight (settled, or timed out and "
                     "delivered again)",
                     (unsigned long long)r->settle);
            return AH_ENOTFOUND;
        }
        op->ct = ref->ct;
        op->seq = ref->seq;
        commit_settles(op);
    }
    bl_extra x = {.apply = apply_commit, .arg = op};
    int rc = bl_publish_ex(b, r->msgs, r->n, false, NULL, &x, committed, op, err, errlen);
    if (rc) {
        free(op);
        return rc;
    }
    if (s) { /* the delivery is the commit's now */
        slot *t = take_delivery(b, r->settle, &op->ct, &op->seq);
        (void)t;
        op->ct->inflight--;
        op->ct->c->inflight--;
        s->state = S_DEAD;
        if (op->pos) {
            op->ct->commit_pos_set = true;
            op->ct->commit_pos = op->floor;
        }
    }
    return 0;
}

int bl_nack(bus *bb, uint64_t delivery_id, const char *error, uint32_t retry_after_ms)
{
    bl *b = bl_of(bb);
    bl_ctopic *ct;
    uint64_t seq;
    slot *s = take_delivery(b, delivery_id, &ct, &seq);
    if (!s) return AH_ENOTFOUND;
    fail(ct, seq, s, error ? error : "nacked", retry_after_ms);
    bl_pump(ct->c);
    return 0;
}

/* ---- timers, attach, detach, seek -------------------------------------------------- */

/* Put an in-flight event back, as if never delivered (a graceful stop). */
static void release(bl_ctopic *ct, uint64_t seq, slot *s)
{
    ct->inflight--;
    ct->c->inflight--;
    if (s->attempts) s->attempts--;
    s->state = S_READY;
    ready_push(ct, seq, true);
}

static void scan(bl_ctopic *ct, uint64_t now, bool fail_all, const char *reason)
{
    bl *b = ct->c->b;
    char why[128];
    uint64_t span = ct->read_pos - ct->floor - 1;
    for (uint64_t i = 0; i < span; i++) {
        uint64_t seq = ct->floor + 1 + i;
        slot *s = bl_slot(ct, seq);
        if (!s) break;
        if (s->state == S_INFLIGHT && (fail_all || now > s->due_ms)) {
            free(ah_idmap_take(&b->deliveries, s->delivery_id));
            if (fail_all && !reason) {
                release(ct, seq, s);
            } else if (fail_all) {
                fail(ct, seq, s, reason, 0);
            } else {
                snprintf(why, sizeof(why), "not acknowledged within %u ms", ct->c->ack_timeout_ms);
                fail(ct, seq, s, why, 0);
            }
        } else if (s->state == S_RETRY && !fail_all && now >= s->due_ms) {
            s->state = S_READY;
            ct->retrying--;
            ready_push(ct, seq, false);
        }
    }
}

void bl_check_timers(bl *b, uint64_t now)
{
    size_t pos = 0;
    const char *name;
    void *v;
    while (strmap_next(&b->consumers, &pos, &name, &v)) {
        bl_consumer *c = v;
        bool any = false;
        for (size_t i = 0; i < c->ntopics; i++) {
            bl_ctopic *ct = c->topics[i];
            if (ct->inflight || ct->retrying) {
                scan(ct, now, false, NULL);
                any = true;
            }
        }
        if (any) bl_pump(c);
    }
}

void bl_consumer_attach(bus_consumer *bc)
{
    bl_consumer *c = (bl_consumer *)bc;
    c->attached = true;
    bl_pump(c);
}

/* Mark every in-flight event a suspect and put it back uncharged. */
static void suspect_all(bl_ctopic *ct)
{
    uint64_t span = ct->read_pos - ct->floor - 1;
    for (uint64_t i = 0; i < span; i++) {
        uint64_t seq = ct->floor + 1 + i;
        slot *s = bl_slot(ct, seq);
        if (!s || s->state != S_INFLIGHT) continue;
        free(ah_idmap_take(&ct->c->b->deliveries, s->delivery_id));
        if (!s->suspect) {
            s->suspect = true;
            ct->suspects++;
            ct->c->suspects++;
        }
        release(ct, seq, s);
    }
}

void bl_consumer_detach(bus_consumer *bc, const char *reason)
{
    bl_consumer *c = (bl_consumer *)bc;
    c->attached = false;
    /* A crash with one event in flight is charged to that event. With
     * several, the culprit is unknown: none is charged, and they are
     * redelivered one at a time until each is settled, so a later crash
     * is charged to exactly the event that caused it. */
    bool exact = c->inflight <= 1;
    for (size_t i = 0; i < c->ntopics; i++) {
        bl_ctopic *ct = c->topics[i];
        if (!ct->inflight) continue;
        if (reason && !exact)
            suspect_all(ct);
        else
            scan(ct, ah_mono_ms(), true, reason);
    }
}

int bl_consumer_seek(bus_consumer *bc, const char *topic, bus_start where, uint64_t value,
                     char *err, size_t errlen)
{
    bl_consumer *c = (bl_consumer *)bc;
    bl_ctopic *ct = NULL;
    for (size_t i = 0; i < c->ntopics && !ct; i++)
        if (!strcmp(c->topics[i]->t->name, topic)) ct = c->topics[i];
    if (!ct) {
        snprintf(err, errlen, "consumer %s does not read topic %s", c->name, topic);
        return AH_ENOTFOUND;
    }
    bl_topic *t = ct->t;
    uint64_t floor;
    switch (where) {
    case BUS_START_EARLIEST:
        floor = t->rec.first_seq - 1;
        break;
    case BUS_START_OFFSET:
        floor = value > t->rec.first_seq ? value - 1 : t->rec.first_seq - 1;
        break;
    case BUS_START_TIME: {
        uint64_t off;
        if (bl_offset_at(c->b->bus, topic, (int64_t)value, &off) != 0) return AH_ENOTFOUND;
        floor = off - 1;
        break;
    }
    default:
        floor = bl_topic_head(t);
    }
    /* Forget the window: deliveries still out are stale from now on. */
    for (size_t s = 0; s < ct->cap; s++) {
        if (ct->ring[s].state == S_INFLIGHT)
            free(ah_idmap_take(&c->b->deliveries, ct->ring[s].delivery_id));
        clear_slot(&ct->ring[s]);
    }
    size_t pos = 0;
    const char *k;
    void *v;
    while (strmap_next(&ct->keys, &pos, &k, &v)) {
        seqq_free(&((keystate *)v)->held);
        free(v);
    }
    strmap_free(&ct->keys);
    strmap_init(&ct->keys);
    c->inflight -= ct->inflight;
    c->suspects -= ct->suspects;
    ct->inflight = ct->retrying = ct->suspects = 0;
    ct->ready.n = ct->ready.head = 0;
    ct->head = 0;
    ct->floor = floor;
    ct->read_pos = floor + 1;
    ct->seeks++; /* a commit in flight writes its position first; this one follows */
    ct->commit_pos_set = false;
    mark_dirty(ct);
    bl_pump(c);
    return 0;
}
