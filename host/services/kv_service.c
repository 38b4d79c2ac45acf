/*
 * kv_service.c - the KV service. See kv_service.h.
 */
#include "kv_service.h"

#include <agenthost/plugin.h>

#include "sdk/ipc/frame.h"

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
    store_txn *txn;
    int rc = k ? store_read_begin(kv->st, &txn) : AH_ENOMEM;
    if (rc) {
        free(k);
        instance_answer_error(req, rc, "store", ah_strerror(rc));
        return;
    }
    store_val v;
    rc = store_get(txn, STORE_DB_KV, k, klen, &v);
    json_t *value = NULL;
    if (rc == 0) value = json_loadb(v.data, v.len, JSON_DECODE_ANY, NULL);
    store_read_end(kv->st, txn);
    free(k);
    if (rc == AH_ENOTFOUND)
        instance_answer_error(req, AH_ENOTFOUND, "not_found", "no such key");
    else if (!value)
        instance_answer_error(req, AH_EIO, "store", "stored value unreadable");
    else
        instance_answer(req, json_pack("{s:o}", "value", value));
}

static int apply_write(store_txn *txn, void *arg)
{
    kv_op *op = arg;
    if (!op->val) {
        int rc = store_del(txn, STORE_DB_KV, op->key, op->klen);
        return rc == AH_ENOTFOUND ? 0 : rc;
    }
    return store_put(txn, STORE_DB_KV, op->key, op->klen, op->val, strlen(op->val));
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

typedef struct scan_page {
    size_t nslen; /* "<instance>\0" before each key */
    json_int_t limit;
    json_t *items, *next;
} scan_page;

static int scan_one(void *ud, store_val k, store_val v)
{
    scan_page *pg = ud;
    if ((json_int_t)json_array_size(pg->items) == pg->limit) {
        /* One more exists: the page's last key is where the next begins. */
        json_t *last = json_array_get(pg->items, json_array_size(pg->items) - 1);
        pg->next = json_incref(json_object_get(last, "key"));
        return 1;
    }
    json_t *val = json_loadb(v.data, v.len, JSON_DECODE_ANY, NULL);
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
                    .items = json_array(),
                    .next = NULL};
    store_scan(txn, STORE_DB_KV, pk, plen, ak, ak ? alen : 0, 0, scan_one, &pg);
    store_read_end(kv->st, txn);
    free(pk);
    free(ak);
    instance_answer(
        req, json_pack("{s:o,s:o}", "items", pg.items, "next", pg.next ? pg.next : json_null()));
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
