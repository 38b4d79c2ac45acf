/*
 * kv.c - the runtime's side of the KV services: requests to the host's KV
 * service (host/services/kv_service.c) and their answers.
 */
#include "rt_priv.h"

#include "../ipc/frame.h"

#include <stdlib.h>

#define KV_MANY_MAX 1000

int rt_kv_get(ah_ctx *c, const char *key, ah_kv_get_cb cb, void *ud)
{
    if (!key || !cb) return AH_EINVAL;
    return rt_request(c, AH_MSG_KV_GET, json_pack("{s:s}", "key", key), REQ_KV_GET, (void *)cb, ud);
}

int rt_kv_put(ah_ctx *c, const char *key, const json_t *value, ah_done_cb cb, void *ud)
{
    if (!key || !value) return AH_EINVAL;
    return rt_request(c, AH_MSG_KV_PUT, json_pack("{s:s,s:O}", "key", key, "value", value),
                      REQ_KV_DONE, (void *)cb, ud);
}

int rt_kv_delete(ah_ctx *c, const char *key, ah_done_cb cb, void *ud)
{
    if (!key) return AH_EINVAL;
    return rt_request(c, AH_MSG_KV_DEL, json_pack("{s:s}", "key", key), REQ_KV_DONE, (void *)cb,
                      ud);
}

int rt_kv_scan(ah_ctx *c, const char *prefix, const char *after, uint32_t limit, ah_kv_scan_cb cb,
               void *ud)
{
    if (!cb) return AH_EINVAL;
    json_t *o = json_pack("{s:s,s:I}", "prefix", prefix ? prefix : "", "limit",
                          (json_int_t)(limit ? limit : 100));
    if (o && after) json_object_set_new(o, "after", json_string(after));
    return rt_request(c, AH_MSG_KV_SCAN, o, REQ_KV_SCAN, (void *)cb, ud);
}

int rt_kv_get_rev(ah_ctx *c, const char *key, ah_kv_get_rev_cb cb, void *ud)
{
    if (!key || !cb) return AH_EINVAL;
    return rt_request(c, AH_MSG_KV_GET, json_pack("{s:s}", "key", key), REQ_KV_GET_REV, (void *)cb,
                      ud);
}

/* Options read only as far as the plugin's struct goes (its size). */
static json_t *put_json(const char *key, const json_t *value, const ah_kv_put_opts *opts)
{
    json_t *o = json_pack("{s:s,s:O}", "key", key, "value", value);
    if (!o || !opts) return o;
    if (opts->size >= offsetof(ah_kv_put_opts, if_rev) + sizeof(opts->if_rev) &&
        (opts->flags & AH_KV_IF_REV))
        json_object_set_new(o, "if_rev", json_integer((json_int_t)opts->if_rev));
    if (opts->size >= offsetof(ah_kv_put_opts, ttl_ms) + sizeof(opts->ttl_ms) && opts->ttl_ms)
        json_object_set_new(o, "ttl_ms", json_integer((json_int_t)opts->ttl_ms));
    return o;
}

int rt_kv_put_ex(ah_ctx *c, const char *key, const json_t *value, const ah_kv_put_opts *opts,
                 ah_kv_rev_cb cb, void *ud)
{
    if (!key || !value || (opts && opts->size < sizeof(uint64_t))) return AH_EINVAL;
    return rt_request(c, AH_MSG_KV_PUT, put_json(key, value, opts), REQ_KV_REV, (void *)cb, ud);
}

int rt_kv_incr(ah_ctx *c, const char *key, int64_t delta, ah_kv_incr_cb cb, void *ud)
{
    if (!key) return AH_EINVAL;
    return rt_request(c, AH_MSG_KV_INCR,
                      json_pack("{s:s,s:I}", "key", key, "delta", (json_int_t)delta), REQ_KV_INCR,
                      (void *)cb, ud);
}

int rt_kv_get_many(ah_ctx *c, const char *const *keys, size_t n, ah_kv_many_cb cb, void *ud)
{
    if (!keys || !cb || n == 0 || n > KV_MANY_MAX) return AH_EINVAL;
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (!keys[i] || json_array_append_new(a, json_string(keys[i])) < 0) {
            json_decref(a);
            return AH_EINVAL;
        }
    return rt_request(c, AH_MSG_KV_MANY, json_pack("{s:o}", "get", a), REQ_KV_MANY, (void *)cb, ud);
}

int rt_kv_put_many(ah_ctx *c, const ah_kv_entry *items, size_t n, ah_done_cb cb, void *ud)
{
    if (!items || n == 0 || n > KV_MANY_MAX) return AH_EINVAL;
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        json_t *o = items[i].key ? json_pack("{s:s}", "key", items[i].key) : NULL;
        if (!o) {
            json_decref(a);
            return AH_EINVAL;
        }
        if (items[i].value) json_object_set(o, "value", (json_t *)items[i].value);
        if (items[i].ttl_ms)
            json_object_set_new(o, "ttl_ms", json_integer((json_int_t)items[i].ttl_ms));
        json_array_append_new(a, o);
    }
    return rt_request(c, AH_MSG_KV_MANY, json_pack("{s:o}", "put", a), REQ_KV_DONE, (void *)cb, ud);
}

static uint64_t rev_of(const json_t *o)
{
    return (uint64_t)json_integer_value(json_object_get(o, "rev"));
}

static void scan_result(ah_ctx *c, ah_kv_scan_cb cb, void *ud, int status, const json_t *msg)
{
    const json_t *items = json_object_get(msg, "items");
    size_t n = json_array_size(items);
    ah_kv_item *v = calloc(n ? n : 1, sizeof(*v));
    size_t i;
    const json_t *it;
    json_array_foreach(items, i, it)
    {
        if (!v) break;
        v[i].key = json_string_value(json_object_get(it, "key"));
        v[i].value = json_object_get(it, "value");
    }
    cb(c, v ? status : AH_ENOMEM, v, v ? n : 0, json_string_value(json_object_get(msg, "next")),
       ud);
    free(v);
}

static void many_result(ah_ctx *c, ah_kv_many_cb cb, void *ud, int status, const json_t *msg)
{
    const json_t *items = json_object_get(msg, "items");
    size_t n = status ? 0 : json_array_size(items);
    ah_kv_entry *v = calloc(n ? n : 1, sizeof(*v));
    for (size_t i = 0; v && i < n; i++) {
        const json_t *it = json_array_get(items, i);
        v[i].key = json_string_value(json_object_get(it, "key"));
        v[i].value = json_object_get(it, "value");
        v[i].rev = rev_of(it);
    }
    cb(c, v ? status : AH_ENOMEM, v, v ? n : 0, ud);
    free(v);
}

void rt_kv_result(ah_ctx *c, req_kind kind, void *cb, void *ud, int status, const json_t *msg)
{
    const json_t *value = status ? NULL : json_object_get(msg, "value");
    switch (kind) {
    case REQ_KV_GET:
        ((ah_kv_get_cb)cb)(c, status, value, ud);
        break;
    case REQ_KV_GET_REV:
        ((ah_kv_get_rev_cb)cb)(c, status, value, status ? 0 : rev_of(msg), ud);
        break;
    case REQ_KV_DONE:
        if (cb) ((ah_done_cb)cb)(c, status, ud);
        break;
    case REQ_KV_REV:
        if (cb) ((ah_kv_rev_cb)cb)(c, status, status ? 0 : rev_of(msg), ud);
        break;
    case REQ_KV_INCR:
        if (cb) ((ah_kv_incr_cb)cb)(c, status, status ? 0 : (int64_t)json_integer_value(value), ud);
        break;
    case REQ_KV_SCAN:
        scan_result(c, (ah_kv_scan_cb)cb, ud, status, msg);
        break;
    case REQ_KV_MANY:
        many_result(c, (ah_kv_many_cb)cb, ud, status, msg);
        break;
    default:
        break;
    }
}
