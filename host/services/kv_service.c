/*
 * kv_service.c - the KV service. See kv_service.h.
 */
#include "kv_service.h"

#include "core/util.h"

#include <agenthost/plugin.h>

#include "sdk/ipc/frame.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kv_service {
    store *st;
};

/* ---- stored values ------------------------------------------------------------ */

typedef struct kv_val {
    uint64_t rev;       /* 0: absent */
    int64_t expires_ms; /* 0: never */
    const char *json;   /* into the map, valid for the transaction */
    size_t len;
} kv_val;

static void wr64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* A stored value: the envelope, or a bare JSON text from before it (read
 * as revision 1, never expiring). false when the envelope is truncated. */
static bool kv_decode(store_val raw, kv_val *out)
{
    const uint8_t *p = raw.data;
    if (raw.len == 0 || p[0] != KV_ENVELOPE) {
        *out = (kv_val){.rev = 1, .json = raw.data, .len = raw.len};
        return true;
    }
    if (raw.len < KV_ENVELOPE_LEN) return false;
    *out = (kv_val){.rev = rd64(p + 1),
                    .expires_ms = (int64_t)rd64(p + 9),
                    .json = (const char *)p + KV_ENVELOPE_LEN,
                    .len = raw.len - KV_ENVELOPE_LEN};
    return true;
}

static bool expired(const kv_val *v, int64_t now)
{
    return v->expires_ms > 0 && v->expires_ms <= now;
}

/* The value under k as of now: 0 (*v set; rev 0 when absent or expired,
 * stored_rev the revision to continue from), or AH_EIO. */
static int kv_read(store_txn *txn, const char *k, size_t klen, int64_t now, kv_val *v,
                   uint64_t *stored_rev)
{
    store_val raw;
    int rc = store_get(txn, STORE_DB_KV, k, klen, &raw);
    *v = (kv_val){0};
    if (stored_rev) *stored_rev = 0;
    if (rc == AH_ENOTFOUND) return 0;
    if (rc) return rc;
    if (!kv_decode(raw, v)) return AH_EIO;
    if (stored_rev) *stored_rev = v->rev;
    if (expired(v, now)) *v = (kv_val){0};
    return 0;
}

static int kv_write(store_txn *txn, const char *k, size_t klen, uint64_t rev, int64_t expires,
                    const char *json)
{
    size_t n = strlen(json);
    uint8_t *buf = malloc(KV_ENVELOPE_LEN + n);
    if (!buf) return AH_ENOMEM;
    buf[0] = KV_ENVELOPE;
    wr64(buf + 1, rev);
    wr64(buf + 9, (uint64_t)expires);
    memcpy(buf + KV_ENVELOPE_LEN, json, n);
    int rc = store_put(txn, STORE_DB_KV, k, klen, buf, KV_ENVELOPE_LEN + n);
    free(buf);
    return rc;
}

/* ---- requests ----------------------------------------------------------------- */

static char *ns_key(const char *inst_id, const char *key, size_t *len)
{
    size_t a = strlen(inst_id), b = strlen(key);
    char *k = malloc(a + b + 2);
    if (!k) return NULL;
    memcpy(k, inst_id, a);
    k[a] = 0;
    memcpy(k + a + 1, key, b + 1);
    *len = a + 1 + b;
    return k;
}

static const char *key_of(const json_t *k)
{
    const char *key = json_string_value(k);
    if (!key || !*key || json_string_length(k) > KV_KEY_MAX || strlen(key) != json_string_length(k))
        return NULL;
    return key;
}

static const char *check_key(const json_t *body, inst_req req)
{
    const char *key = key_of(json_object_get(body, "key"));
    if (!key)
        instance_answer_error(req, AH_EINVAL, "invalid_key",
                              "a key is 1-512 bytes of UTF-8 without NUL");
    return key;
}

static void on_get(void *ud, inst_req req, json_t *body)
{
    kv_service *kv = ud;
    const char *key = check_key(body, req);
    if (!key) return;
    size_t klen;
    char *k = ns_key(instance_id(req.inst), key, &klen);
    store_txn *txn;
    int rc = k ? store_read_begin(kv->st, &txn) : AH_ENOMEM;
    if (rc) {
        free(k);
        instance_answer_error(req, rc, "store", ah_strerror(rc));
        return;
    }
    kv_val v;
    rc = kv_read(txn, k, klen, ah_now_ms(), &v, NULL);
    json_t *value = rc == 0 && v.rev ? json_loadb(v.json, v.len, JSON_DECODE_ANY, NULL) : NULL;
    store_read_end(kv->st, txn);
    free(k);
    if (rc == 0 && !v.rev)
        instance_answer_error(req, AH_ENOTFOUND, "not_found", "no such key");
    else if (!value)
        instance_answer_error(req, AH_EIO, "store", "stored value unreadable");
    else
        instance_answer(req, json_pack("{s:o,s:I}", "value", value, "rev", (json_int_t)v.rev));
}

/* One key's write in a batch: a value (NULL: delete), conditions, TTL. */
typedef struct kv_item {
    char *key; /* "<instance>\0<key>" */
    size_t klen;
    char *val; /* compact JSON, or NULL to delete */
    bool if_rev;
    uint64_t expect;
    int64_t expires_ms;
    uint64_t rev; /* written (answer) */
} kv_item;

typedef enum op_kind { OP_WRITE, OP_INCR } op_kind;

typedef struct kv_op {
    inst_req req;
    op_kind kind;
    int64_t now, delta, result;
    kv_item *items;
    size_t n;
    bool answer_rev; /* a single put: answer {rev} */
} kv_op;

static void op_free(kv_op *op)
{
    for (size_t i = 0; i < op->n; i++) {
        free(op->items[i].key);
        free(op->items[i].val);
    }
    free(op->items);
    free(op);
}

static int apply_incr(store_txn *txn, kv_op *op)
{
    kv_item *it = &op->items[0];
    kv_val v;
    uint64_t stored;
    int rc = kv_read(txn, it->key, it->klen, op->now, &v, &stored);
    if (rc) return rc;
    json_int_t cur = 0;
    if (v.rev) {
        json_t *j = json_loadb(v.json, v.len, JSON_DECODE_ANY, NULL);
        bool ok = json_is_integer(j);
        cur = json_integer_value(j);
        json_decref(j);
        if (!ok) return AH_EINVAL;
    }
    if (__builtin_add_overflow((int64_t)cur, op->delta, &op->result)) return AH_EINVAL;
    char num[32];
    snprintf(num, sizeof(num), "%lld", (long long)op->result);
    it->rev = stored + 1;
    return kv_write(txn, it->key, it->klen, it->rev, v.rev ? v.expires_ms : 0, num);
}

static int apply(store_txn *txn, void *arg)
{
    kv_op *op = arg;
    if (op->kind == OP_INCR) return apply_incr(txn, op);
    for (size_t i = 0; i < op->n; i++) {
        kv_item *it = &op->items[i];
        kv_val v;
        uint64_t stored;
        int rc = kv_read(txn, it->key, it->klen, op->now, &v, &stored);
        if (rc) return rc;
        if (it->if_rev && v.rev != it->expect) return AH_ECONFLICT;
        if (!it->val) {
            rc = store_del(txn, STORE_DB_KV, it->key, it->klen);
            if (rc && rc != AH_ENOTFOUND) return rc;
            it->rev = 0;
            continue;
        }
        it->rev = stored + 1;
        rc = kv_write(txn, it->key, it->klen, it->rev, it->expires_ms, it->val);
        if (rc) return rc;
    }
    return 0;
}

static void done(int status, void *arg)
{
    kv_op *op = arg;
    if (status == AH_ECONFLICT)
        instance_answer_error(op->req, status, "conflict",
                              "the key's revision is not the one given: nothing written");
    else if (status == AH_EINVAL)
        instance_answer_error(op->req, status, "not_an_integer",
                              "the value is not an integer, or the sum overflows");
    else if (status)
        instance_answer_error(op->req, status, "store", ah_strerror(status));
    else if (op->kind == OP_INCR)
        instance_answer(op->req, json_pack("{s:I,s:I}", "value", (json_int_t)op->result, "rev",
                                           (json_int_t)op->items[0].rev));
    else if (op->answer_rev)
        instance_answer(op->req, json_pack("{s:I}", "rev", (json_int_t)op->items[0].rev));
    else
        instance_answer(op->req, NULL);
    op_free(op);
}

/* Fill item from {key, value, if_rev, ttl_ms} (value absent: delete when
 * allowed). NULL, or the error's code with *msg. */
static const char *item_of(kv_op *op, kv_item *it, const json_t *o, bool need_value,
                           const char **msg)
{
    const char *key = key_of(json_object_get(o, "key"));
    if (!key) {
        *msg = "a key is 1-512 bytes of UTF-8 without NUL";
        return "invalid_key";
    }
    it->key = ns_key(instance_id(op->req.inst), key, &it->klen);
    const json_t *v = json_object_get(o, "value");
    if (v) it->val = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!it->key || (v && !it->val)) {
        *msg = "out of memory";
        return "no_memory";
    }
    if (need_value && !v) {
        *msg = "kv_put needs a value";
        return "invalid_value";
    }
    if (it->val && strlen(it->val) > KV_VALUE_MAX) {
        *msg = "a value is at most 1 MiB";
        return "too_large";
    }
    const json_t *r = json_object_get(o, "if_rev"), *ttl = json_object_get(o, "ttl_ms");
    if ((r && (!json_is_integer(r) || json_integer_value(r) < 0)) ||
        (ttl && (!json_is_integer(ttl) || json_integer_value(ttl) < 0))) {
        *msg = "if_rev and ttl_ms are integers, 0 or more";
        return "invalid_value";
    }
    it->if_rev = r != NULL;
    it->expect = (uint64_t)json_integer_value(r);
    json_int_t t = json_integer_value(ttl);
    it->expires_ms = t > 0 ? op->now + (t > INT32_MAX * 1000LL ? INT32_MAX * 1000LL : t) : 0;
    return NULL;
}

static kv_op *op_new(inst_req req, op_kind kind, size_t n)
{
    kv_op *op = calloc(1, sizeof(*op));
    if (op) op->items = calloc(n ? n : 1, sizeof(*op->items));
    if (!op || !op->items) {
        free(op);
        instance_answer_error(req, AH_ENOMEM, "no_memory", "out of memory");
        return NULL;
    }
    *op = (kv_op){.req = req, .kind = kind, .now = ah_now_ms(), .items = op->items};
    return op;
}

static void submit(kv_service *kv, kv_op *op)
{
    int rc = store_write(kv->st, apply, done, op);
    if (rc) {
        instance_answer_error(op->req, rc, "store", ah_strerror(rc));
        op_free(op);
    }
}

static void on_one(kv_service *kv, inst_req req, json_t *body, bool del)
{
    kv_op *op = op_new(req, OP_WRITE, 1);
    if (!op) return;
    op->n = 1;
    op->answer_rev = !del;
    const char *msg, *code = item_of(op, &op->items[0], body, !del, &msg);
    if (del) {
        free(op->items[0].val);
        op->items[0].val = NULL;
    }
    if (code) {
        instance_answer_error(req, !strcmp(code, "too_large") ? AH_ETOOBIG : AH_EINVAL, code, msg);
        op_free(op);
        return;
    }
    submit(kv, op);
}

static void on_put(void *ud, inst_req req, json_t *body)
{
    on_one(ud, req, body, false);
}

static void on_del(void *ud, inst_req req, json_t *body)
{
    on_one(ud, req, body, true);
}

static void on_incr(void *ud, inst_req req, json_t *body)
{
    const json_t *d = json_object_get(body, "delta");
    if (!json_is_integer(d)) {
        instance_answer_error(req, AH_EINVAL, "invalid_value", "delta must be an integer");
        return;
    }
    kv_op *op = op_new(req, OP_INCR, 1);
    if (!op) return;
    op->n = 1;
    op->delta = json_integer_value(d);
    json_t *k = json_pack("{s:O}", "key", json_object_get(body, "key"));
    const char *msg, *code = k ? item_of(op, &op->items[0], k, false, &msg) : "no_memory";
    json_decref(k);
    if (code) {
        instance_answer_error(req, AH_EINVAL, code, k ? msg : "out of memory");
        op_free(op);
        return;
    }
    submit(ud, op);
}

static void get_many(kv_service *kv, inst_req req, const json_t *keys)
{
    size_t n = json_array_size(keys), klen;
    store_txn *txn;
    int rc = store_read_begin(kv->st, &txn);
    if (rc) {
        instance_answer_error(req, rc, "store", ah_strerror(rc));
        return;
    }
    int64_t now = ah_now_ms();
    json_t *items = json_array();
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *key = key_of(json_array_get(keys, i));
        char *k = key ? ns_key(instance_id(req.inst), key, &klen) : NULL;
        kv_val v = {0};
        rc = !key ? AH_EINVAL : !k ? AH_ENOMEM : kv_read(txn, k, klen, now, &v, NULL);
        free(k);
        json_t *o = json_pack("{s:s,s:I}", "key", key ? key : "", "rev", (json_int_t)v.rev);
        json_t *val = v.rev ? json_loadb(v.json, v.len, JSON_DECODE_ANY, NULL) : NULL;
        if (val) json_object_set_new(o, "value", val);
        json_array_append_new(items, o);
    }
    store_read_end(kv->st, txn);
    if (rc) {
        json_decref(items);
        instance_answer_error(req, rc, rc == AH_EINVAL ? "invalid_key" : "store",
                              rc == AH_EINVAL ? "a key is 1-512 bytes of UTF-8 without NUL"
                                              : ah_strerror(rc));
        return;
    }
    instance_answer(req, json_pack("{s:o}", "items", items));
}

static void on_many(void *ud, inst_req req, json_t *body)
{
    const json_t *get = json_object_get(body, "get"), *put = json_object_get(body, "put");
    const json_t *list = get ? get : put;
    size_t n = json_array_size(list);
    if (n == 0 || n > KV_MANY_MAX) {
        instance_answer_error(req, AH_EINVAL, "invalid_value", "1 to 1000 keys");
        return;
    }
    if (get) {
        get_many(ud, req, get);
        return;
    }
    kv_op *op = op_new(req, OP_WRITE, n);
    if (!op) return;
    for (size_t i = 0; i < n; i++) {
        op->n = i + 1;
        const char *msg, *code = item_of(op, &op->items[i], json_array_get(put, i), false, &msg);
        if (code) {
            instance_answer_error(req, !strcmp(code, "too_large") ? AH_ETOOBIG : AH_EINVAL, code,
                                  msg);
            op_free(op);
            return;
        }
    }
    submit(ud, op);
}

typedef struct scan_page {
    size_t nslen; /* "<instance>\0" before each key */
    json_int_t limit;
    int64_t now;
    json_t *items, *next;
} scan_page;

static int scan_one(void *ud, store_val k, store_val v)
{
    scan_page *pg = ud;
    kv_val kvv;
    if (!kv_decode(v, &kvv) || expired(&kvv, pg->now)) return 0;
    if ((json_int_t)json_array_size(pg->items) == pg->limit) {
        /* One more exists: the page's last key is where the next begins. */
        json_t *last = json_array_get(pg->items, json_array_size(pg->items) - 1);
        pg->next = json_incref(json_object_get(last, "key"));
        return 1;
    }
    json_t *val = json_loadb(kvv.json, kvv.len, JSON_DECODE_ANY, NULL);
    json_t *key = json_stringn((const char *)k.data + pg->nslen, k.len - pg->nslen);
    if (val && key)
        json_array_append_new(pg->items, json_pack("{s:o,s:o}", "key", key, "value", val));
    else {
        json_decref(val);
        json_decref(key);
    }
    return 0;
}

static void on_scan(void *ud, inst_req req, json_t *body)
{
    kv_service *kv = ud;
    const char *prefix = json_string_value(json_object_get(body, "prefix"));
    const char *after = json_string_value(json_object_get(body, "after"));
    json_int_t limit = json_integer_value(json_object_get(body, "limit"));
    if (!prefix) prefix = "";
    if (limit <= 0 || limit > KV_SCAN_MAX) limit = limit <= 0 ? 100 : KV_SCAN_MAX;
    if (strlen(prefix) > KV_KEY_MAX || (after && strlen(after) > KV_KEY_MAX)) {
        instance_answer_error(req, AH_EINVAL, "invalid_key", "prefix or after too long");
        return;
    }
    size_t plen = 0, alen = 0; /* set by ns_key; -O3 cannot see it (-Wmaybe-uninitialized) */
    char *pk = ns_key(instance_id(req.inst), prefix, &plen);
    char *ak = after ? ns_key(instance_id(req.inst), after, &alen) : NULL;
    store_txn *txn;
    int rc = pk && (ak || !after) ? store_read_begin(kv->st, &txn) : AH_ENOMEM;
    if (rc) {
        free(pk);
        free(ak);
        instance_answer_error(req, rc, "store", ah_strerror(rc));
        return;
    }
    scan_page pg = {.nslen = strlen(instance_id(req.inst)) + 1,
                    .limit = limit,
                    .now = ah_now_ms(),
                    .items = json_array(),
                    .next = NULL};
    store_scan(txn, STORE_DB_KV, pk, plen, ak, ak ? alen : 0, 0, scan_one, &pg);
    store_read_end(kv->st, txn);
    free(pk);
    free(ak);
    instance_answer(
        req, json_pack("{s:o,s:o}", "items", pg.items, "next", pg.next ? pg.next : json_null()));
}

/* ---- seeding and dumping (the harness) ---------------------------------------- */

typedef struct seed {
    const char *inst;
    const json_t *obj;
    int64_t now;
    const char *bad;
} seed;

static int apply_seed(store_txn *txn, void *arg)
{
    seed *sd = arg;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)sd->obj, key, v)
    {
        size_t klen;
        char *k;
        if (!*key || strlen(key) > KV_KEY_MAX) {
            sd->bad = key;
            return AH_EINVAL;
        }
        k = ns_key(sd->inst, key, &klen);
        char *val = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        kv_val cur;
        uint64_t stored = 0;
        int rc = !k || !val ? AH_ENOMEM : kv_read(txn, k, klen, sd->now, &cur, &stored);
        if (rc == 0) rc = kv_write(txn, k, klen, stored + 1, 0, val);
        free(k);
        free(val);
        if (rc) return rc;
    }
    return 0;
}

int kv_service_seed(store *st, const char *inst_id, const json_t *obj, char *err, size_t errlen)
{
    seed sd = {.inst = inst_id, .obj = obj, .now = ah_now_ms()};
    int rc = store_write_now(st, apply_seed, &sd);
    if (rc && sd.bad)
        snprintf(err, errlen, "key \"%.64s\": a key is 1-512 bytes", sd.bad);
    else if (rc)
        snprintf(err, errlen, "cannot write the store: %s", ah_strerror(rc));
    return rc ? -1 : 0;
}

typedef struct dump {
    size_t nslen;
    int64_t now;
    json_t *obj;
} dump;

static int dump_one(void *ud, store_val k, store_val v)
{
    dump *d = ud;
    kv_val kvv;
    if (!kv_decode(v, &kvv) || expired(&kvv, d->now)) return 0;
    json_t *val = json_loadb(kvv.json, kvv.len, JSON_DECODE_ANY, NULL);
    size_t n = k.len - d->nslen;
    char *key = malloc(n + 1);
    if (key) {
        memcpy(key, (const char *)k.data + d->nslen, n);
        key[n] = 0;
    }
    if (val && key)
        json_object_set_new(d->obj, key, val);
    else
        json_decref(val);
    free(key);
    return 0;
}

json_t *kv_service_dump(store *st, const char *inst_id)
{
    size_t plen;
    char *pk = ns_key(inst_id, "", &plen);
    store_txn *txn;
    if (!pk || store_read_begin(st, &txn)) {
        free(pk);
        return NULL;
    }
    dump d = {.nslen = plen, .now = ah_now_ms(), .obj = json_object()};
    store_scan(txn, STORE_DB_KV, pk, plen, NULL, 0, 0, dump_one, &d);
    store_read_end(st, txn);
    free(pk);
    return d.obj;
}

int kv_service_attach(kv_service **out, supervisor *sup, store *st)
{
    kv_service *kv = calloc(1, sizeof(*kv));
    if (!kv) return AH_ENOMEM;
    kv->st = st;
    supervisor_set_handler(sup, AH_MSG_KV_GET, on_get, kv);
    supervisor_set_handler(sup, AH_MSG_KV_PUT, on_put, kv);
    supervisor_set_handler(sup, AH_MSG_KV_DEL, on_del, kv);
    supervisor_set_handler(sup, AH_MSG_KV_SCAN, on_scan, kv);
    supervisor_set_handler(sup, AH_MSG_KV_INCR, on_incr, kv);
    supervisor_set_handler(sup, AH_MSG_KV_MANY, on_many, kv);
    *out = kv;
    return 0;
}

void kv_service_detach(kv_service *kv)
{
    free(kv);
}
