#include "tokens.h"

#include "core/util.h"

#include <agenthost/plugin.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX TOKEN_PREFIX

/* A role's name is checked by its caller (auth knows the roles); here only
 * that it fits the record. */
static bool role_fits(const char *role)
{
    return role && ah_valid_id(role) && strlen(role) < sizeof(((principal *)0)->role);
}

static void hash_secret(const char *secret_hex, char out[65])
{
    unsigned char h[32];
    crypto_generichash(h, sizeof(h), (const unsigned char *)secret_hex, strlen(secret_hex),
                       (const unsigned char *)"agenthost-token/1", 17);
    sodium_bin2hex(out, 65, h, sizeof(h));
}

typedef struct put_arg {
    const char *id;
    const char *json;
} put_arg;

static int apply_put(store_txn *txn, void *arg)
{
    put_arg *a = arg;
    return store_insert(txn, STORE_DB_TOKENS, a->id, strlen(a->id), a->json, strlen(a->json));
}

int tokens_create(store *st, const char *name, const char *role, char *token)
{
    if (sodium_init() < 0) return AH_EIO;
    if (!ah_valid_id(name) || !role_fits(role)) return AH_EINVAL;
    unsigned char id[6], secret[24];
    randombytes_buf(id, sizeof(id));
    randombytes_buf(secret, sizeof(secret));
    char idh[13], sech[49], hash[65], t[40];
    sodium_bin2hex(idh, sizeof(idh), id, sizeof(id));
    sodium_bin2hex(sech, sizeof(sech), secret, sizeof(secret));
    hash_secret(sech, hash);
    ah_rfc3339_ms(ah_now_ms(), t, sizeof(t));
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:s}", "name", name, "role", role, "hash", hash, "created_at", t);
    char *js = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!js) return AH_ENOMEM;
    put_arg a = {.id = idh, .json = js};
    int rc = store_write_now(st, apply_put, &a);
    free(js);
    if (rc) return rc == AH_EEXIST ? AH_EIO : rc; /* 48 random bits collided */
    snprintf(token, TOKEN_LEN + 1, PREFIX "%s%s", idh, sech);
    sodium_memzero(sech, sizeof(sech));
    sodium_memzero(secret, sizeof(secret));
    return 0;
}

int tokens_verify(store *st, const char *token, principal *who)
{
    if (!token || strlen(token) != TOKEN_LEN || strncmp(token, PREFIX, 4) != 0) return AH_EDENIED;
    char idh[13], sech[49], hash[65];
    memcpy(idh, token + 4, 12);
    idh[12] = 0;
    memcpy(sech, token + 16, 48);
    sech[48] = 0;
    for (int i = 0; i < 12; i++)
        if (!strchr("0123456789abcdef", idh[i])) return AH_EDENIED;
    hash_secret(sech, hash);
    store_txn *txn;
    if (store_read_begin(st, &txn) != 0) return AH_EIO;
    store_val v;
    int rc = store_get(txn, STORE_DB_TOKENS, idh, 12, &v);
    json_t *o = rc == 0 ? json_loadb(v.data, v.len, 0, NULL) : NULL;
    store_read_end(st, txn);
    if (!o) return AH_EDENIED;
    const char *stored = json_string_value(json_object_get(o, "hash"));
    int ok = stored && strlen(stored) == 64 && sodium_memcmp(stored, hash, 64) == 0;
    if (ok && who) {
        snprintf(who->id, sizeof(who->id), "%s", idh);
        snprintf(who->name, sizeof(who->name), "%s",
                 json_string_value(json_object_get(o, "name")) ?: "");
        snprintf(who->role, sizeof(who->role), "%s",
                 json_string_value(json_object_get(o, "role")) ?: "");
        snprintf(who->kind, sizeof(who->kind), "token");
        who->session_id[0] = 0;
    }
    json_decref(o);
    return ok ? 0 : AH_EDENIED;
}

static int list_one(void *ud, store_val k, store_val v)
{
    json_t *o = json_loadb(v.data, v.len, 0, NULL);
    if (!o) return 0;
    json_object_del(o, "hash");
    json_object_set_new(o, "id", json_stringn(k.data, k.len));
    json_array_append_new(ud, o);
    return 0;
}

json_t *tokens_list(store *st)
{
    json_t *arr = json_array();
    store_txn *txn;
    if (store_read_begin(st, &txn) != 0) return arr;
    store_scan(txn, STORE_DB_TOKENS, NULL, 0, NULL, 0, 0, list_one, arr);
    store_read_end(st, txn);
    return arr;
}

typedef struct revoke_arg {
    const char *what;
    json_t *ids; /* the tokens to delete: by id, or by name */
} revoke_arg;

static int match_one(void *ud, store_val k, store_val v)
{
    revoke_arg *a = ud;
    bool hit = k.len == strlen(a->what) && !memcmp(k.data, a->what, k.len);
    if (!hit) {
        json_t *o = json_loadb(v.data, v.len, 0, NULL);
        const char *name = json_string_value(json_object_get(o, "name"));
        hit = name && !strcmp(name, a->what);
        json_decref(o);
    }
    if (hit && json_array_append_new(a->ids, json_stringn(k.data, k.len))) return AH_ENOMEM;
    return 0;
}

static int apply_revoke(store_txn *txn, void *arg)
{
    revoke_arg *a = arg;
    json_array_clear(a->ids);
    int rc = store_scan(txn, STORE_DB_TOKENS, NULL, 0, NULL, 0, 0, match_one, a);
    size_t i;
    json_t *id;
    json_array_foreach(a->ids, i, id)
    {
        if (rc) break;
        rc = store_del(txn, STORE_DB_TOKENS, json_string_value(id), json_string_length(id));
    }
    return rc;
}

int tokens_revoke(store *st, const char *id_or_name)
{
    revoke_arg a = {.what = id_or_name, .ids = json_array()};
    if (!a.ids) return AH_ENOMEM;
    int rc = store_write_now(st, apply_revoke, &a);
    int n = (int)json_array_size(a.ids);
    json_decref(a.ids);
    return rc ? rc : n;
}

bool tokens_any(store *st)
{
    store_txn *txn;
    if (store_read_begin(st, &txn) != 0) return false;
    size_t n = 0;
    bool any = store_count(txn, STORE_DB_TOKENS, &n) == 0 && n > 0;
    store_read_end(st, txn);
    return any;
}
