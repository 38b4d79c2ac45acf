#include "tokens.h"

#include "util.h"

#include <agenthost/plugin.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX TOKEN_PREFIX

bool tokens_valid_role(const char *role)
{
    return tokens_role_rank(role) > 0;
}

int tokens_role_rank(const char *role)
{
    if (!role) return 0;
    if (!strcmp(role, "viewer")) return 1;
    if (!strcmp(role, "editor")) return 2;
    if (!strcmp(role, "admin")) return 3;
    return 0;
}

static void hash_secret(const char *secret_hex, char out[65])
{
    unsigned char h[32];
    crypto_generichash(h, sizeof(h), (const unsigned char *)secret_hex, strlen(secret_hex),
                       (const unsigned char *)"agenthost-token/1", 17);
    sodium_bin2hex(out, 65, h, sizeof(h));
}

typedef struct put_arg {
    store *st;
    const char *id;
    const char *json;
} put_arg;

static int apply_put(MDB_txn *txn, void *arg)
{
    put_arg *a = arg;
    MDB_val k = {strlen(a->id), (void *)a->id}, v = {strlen(a->json), (void *)a->json};
    return mdb_put(txn, store_dbi(a->st, STORE_DB_TOKENS), &k, &v, MDB_NOOVERWRITE);
}

int tokens_create(store *st, const char *name, const char *role, char *token)
{
    if (sodium_init() < 0) return AH_EIO;
    if (!ah_valid_id(name) || !tokens_valid_role(role)) return AH_EINVAL;
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
    put_arg a = {.st = st, .id = idh, .json = js};
    int rc = store_write_now(st, apply_put, &a);
    free(js);
    if (rc) return rc == MDB_KEYEXIST ? AH_EIO : rc;
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
    MDB_txn *txn;
    if (store_read_begin(st, &txn) != 0) return AH_EIO;
    MDB_val k = {12, idh}, v;
    int rc = mdb_get(txn, store_dbi(st, STORE_DB_TOKENS), &k, &v);
    json_t *o = rc == 0 ? json_loadb(v.mv_data, v.mv_size, 0, NULL) : NULL;
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
    }
    json_decref(o);
    return ok ? 0 : AH_EDENIED;
}

json_t *tokens_list(store *st)
{
    json_t *arr = json_array();
    MDB_txn *txn;
    if (store_read_begin(st, &txn) != 0) return arr;
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, store_dbi(st, STORE_DB_TOKENS), &cur) == 0) {
        MDB_val k, v;
        for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            json_t *o = json_loadb(v.mv_data, v.mv_size, 0, NULL);
            if (!o) continue;
            json_object_del(o, "hash");
            json_object_set_new(o, "id", json_stringn(k.mv_data, k.mv_size));
            json_array_append_new(arr, o);
        }
        mdb_cursor_close(cur);
    }
    store_read_end(st, txn);
    return arr;
}

typedef struct revoke_arg {
    store *st;
    const char *what;
    int count;
} revoke_arg;

static int apply_revoke(MDB_txn *txn, void *arg)
{
    revoke_arg *a = arg;
    a->count = 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, store_dbi(a->st, STORE_DB_TOKENS), &cur);
    if (rc) return rc;
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        bool hit = k.mv_size == strlen(a->what) && !memcmp(k.mv_data, a->what, k.mv_size);
        if (!hit) {
            json_t *o = json_loadb(v.mv_data, v.mv_size, 0, NULL);
            const char *name = json_string_value(json_object_get(o, "name"));
            hit = name && !strcmp(name, a->what);
            json_decref(o);
        }
        if (hit) {
            rc = mdb_cursor_del(cur, 0);
            if (rc) break;
            a->count++;
        }
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int tokens_revoke(store *st, const char *id_or_name)
{
    revoke_arg a = {.st = st, .what = id_or_name};
    int rc = store_write_now(st, apply_revoke, &a);
    return rc ? rc : a.count;
}

bool tokens_any(store *st)
{
    MDB_txn *txn;
    if (store_read_begin(st, &txn) != 0) return false;
    MDB_stat ms;
    bool any = mdb_stat(txn, store_dbi(st, STORE_DB_TOKENS), &ms) == 0 && ms.ms_entries > 0;
    store_read_end(st, txn);
    return any;
}
