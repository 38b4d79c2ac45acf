/*
 * kv_service.c - the KV service. See kv_service.h.
 */
#include "kv_service.h"

#include <agenthost/plugin.h>

#include "../../sdk/ipc/frame.h"

#include <stdlib.h>
#include <string.h>

struct kv_service {
    store *st;
};

typedef struct kv_op {
    kv_service *kv;
    inst_req req;
    char *key; /* "<instance>\0<key>" */
    size_t klen;
    char *val; /* NULL for delete */
} kv_op;

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

static const char *check_key(const json_t *body, inst_req req)
{
    const json_t *k = json_object_get(body, "key");
    const char *key = json_string_value(k);
    if (!key || !*key || json_string_length(k) > KV_KEY_MAX ||
        strlen(key) != json_string_length(k)) {
        instance_answer_error(req, AH_EINVAL, "invalid_key",
                              "a key is 1-512 bytes of UTF-8 without NUL");
        return NULL;
    }
    return key;
}

static void on_get(void *ud, inst_req req, json_t *body)
{
    kv_service *kv = ud;
    const char *key = check_key(body, req);
    if (!key) return;
    size_t klen;
    char *k = ns_key(instance_id(req.inst), key, &klen);
    MDB_txn *txn;
    int rc = k ? store_read_begin(kv->st, &txn) : AH_ENOMEM;
    if (rc) {
        free(k);
        instance_answer_error(req, rc, "store", ah_strerror(rc));
        return;
    }
    MDB_val mk = {klen, k}, mv;
    rc = mdb_get(txn, store_dbi(kv->st, STORE_DB_KV), &mk, &mv);
    json_t *value = NULL;
    if (rc == 0) value = json_loadb(mv.mv_data, mv.mv_size, JSON_DECODE_ANY, NULL);
    store_read_end(kv->st, txn);
    free(k);
    if (rc == MDB_NOTFOUND)
        instance_answer_error(req, AH_ENOTFOUND, "not_found", "no such key");
    else if (!value)
        instance_answer_error(req, AH_EIO, "store", "stored value unreadable");
    else
        instance_answer(req, json_pack("{s:o}", "value", value));
}

static int apply_write(MDB_txn *txn, void *arg)
{
    kv_op *op = arg;
    MDB_val k = {op->klen, op->key};
    MDB_dbi dbi = store_dbi(op->kv->st, STORE_DB_KV);
    if (!op->val) {
        int rc = mdb_del(txn, dbi, &k, NULL);
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    MDB_val v = {strlen(op->val), op->val};
    return mdb_put(txn, dbi, &k, &v, 0);
}

static void done_write(int status, void *arg)
{
    kv_op *op = arg;
    if (status)
        instance_answer_error(op->req, status, "store", ah_strerror(status));
    else
        instance_answer(op->req, NULL);
    free(op->key);
    free(op->val);
    free(op);
}

static void on_write(kv_service *kv, inst_req req, json_t *body, bool del)
{
    const char *key = check_key(body, req);
    if (!key) return;
    kv_op *op = calloc(1, sizeof(*op));
    if (!op) {
        instance_answer_error(req, AH_ENOMEM, "no_memory", "out of memory");
        return;
    }
    op->kv = kv;
    op->req = req;
    op->key = ns_key(instance_id(req.inst), key, &op->klen);
    if (!del) {
        const json_t *v = json_object_get(body, "value");
        op->val = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        if (!op->val) {
            free(op->key);
            free(op);
            instance_answer_error(req, AH_EINVAL, "invalid_value", "kv_put needs a value");
            return;
        }
        if (strlen(op->val) > KV_VALUE_MAX) {
            free(op->key);
            free(op->val);
            free(op);
            instance_answer_error(req, AH_ETOOBIG, "too_large", "a value is at most 1 MiB");
            return;
        }
    }
    int rc = op->key ? store_write(kv->st, apply_write, done_write, op) : AH_ENOMEM;
    if (rc) {
        free(op->key);
        free(op->val);
        free(op);
        instance_answer_error(req, rc, "store", ah_strerror(rc));
    }
}

static void on_put(void *ud, inst_req req, json_t *body)
{
    on_write(ud, req, body, false);
}

static void on_del(void *ud, inst_req req, json_t *body)
{
    on_write(ud, req, body, true);
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
    size_t plen = 0, slen = 0; /* set by ns_key; -O3 cannot see it (-Wmaybe-uninitialized) */
    char *pk = ns_key(instance_id(req.inst), prefix, &plen);
    char *sk =
        ns_key(instance_id(req.inst), after && strcmp(after, prefix) > 0 ? after : prefix, &slen);
    MDB_txn *txn;
    int rc = pk && sk ? store_read_begin(kv->st, &txn) : AH_ENOMEM;
    if (rc) {
        free(pk);
        free(sk);
        instance_answer_error(req, rc, "store", ah_strerror(rc));
        return;
    }
    json_t *items = json_array();
    json_t *next = json_null();
    MDB_cursor *cur;
    size_t nslen = strlen(instance_id(req.inst)) + 1;
    if (mdb_cursor_open(txn, store_dbi(kv->st, STORE_DB_KV), &cur) == 0) {
        MDB_val k = {slen, sk}, v;
        int r = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (r == 0 && after && k.mv_size == slen && !memcmp(k.mv_data, sk, slen))
            r = mdb_cursor_get(cur, &k, &v, MDB_NEXT); /* exclusive of `after` */
        for (; r == 0; r = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            if (k.mv_size < plen || memcmp(k.mv_data, pk, plen) != 0) break;
            if ((json_int_t)json_array_size(items) == limit) {
                json_t *last =
                    json_object_get(json_array_get(items, json_array_size(items) - 1), "key");
                json_decref(next);
                next = json_incref(last);
                break;
            }
            json_t *val = json_loadb(v.mv_data, v.mv_size, JSON_DECODE_ANY, NULL);
            json_t *key = json_stringn((const char *)k.mv_data + nslen, k.mv_size - nslen);
            if (val && key)
                json_array_append_new(items, json_pack("{s:o,s:o}", "key", key, "value", val));
            else {
                json_decref(val);
                json_decref(key);
            }
        }
        mdb_cursor_close(cur);
    }
    store_read_end(kv->st, txn);
    free(pk);
    free(sk);
    instance_answer(req, json_pack("{s:o,s:o}", "items", items, "next", next));
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
    *out = kv;
    return 0;
}

void kv_service_detach(kv_service *kv)
{
    free(kv);
}
