/*
 * The sign-in state the API keeps in memory, kept in the store as well so
 * that a restart neither voids a pending second-factor sign-in (nor resets
 * its tries) nor lifts an address block: meta records
 * "auth.challenge/<hash>" (the token's BLAKE2b hash, never the token) and
 * "auth.block/<address>" ({"until_ms"}), written after each change
 * (asynchronously: a crash may lose the last one) and read back at start,
 * where expired ones are dropped.
 */
#include "auth/sessions.h"
#include "core/log.h"
#include "core/util.h"
#include "api_priv.h"

#include <agenthost/plugin.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHALLENGE_PREFIX "auth.challenge/"
#define BLOCK_PREFIX "auth.block/"

typedef struct meta_write {
    char key[160];
    char *val; /* NULL: delete */
} meta_write;

static int apply_meta(store_txn *txn, void *arg)
{
    meta_write *w = arg;
    if (w->val)
        return store_put(txn, STORE_DB_META, w->key, strlen(w->key), w->val, strlen(w->val));
    int rc = store_del(txn, STORE_DB_META, w->key, strlen(w->key));
    return rc == AH_ENOTFOUND ? 0 : rc;
}

static void meta_done(int status, void *arg)
{
    meta_write *w = arg;
    if (status)
        log_warn("api", "cannot keep the sign-in state %s in the store: %s", w->key,
                 ah_strerror(status));
    free(w->val);
    free(w);
}

/* Write (val a JSON object, stolen) or delete (val NULL) a meta record. */
static void meta_put(store *st, const char *key, json_t *val)
{
    meta_write *w = st ? calloc(1, sizeof(*w)) : NULL;
    if (w) {
        snprintf(w->key, sizeof(w->key), "%s", key);
        w->val = val ? json_dumps(val, JSON_COMPACT) : NULL;
    }
    json_decref(val);
    if (w && (val && !w->val)) {
        free(w);
        return;
    }
    if (w && store_write(st, apply_meta, meta_done, w) != 0) {
        free(w->val);
        free(w);
    }
}

/* ---- pending second-factor sign-ins ------------------------------------------------- */

static void challenge_key(const auth_challenge *c, char *key, size_t n)
{
    char hex[65];
    sodium_bin2hex(hex, sizeof(hex), c->key_hash, sizeof(c->key_hash));
    snprintf(key, n, CHALLENGE_PREFIX "%s", hex);
}

static void on_challenge(void *ud, const auth_challenge *c, bool gone)
{
    char key[160];
    challenge_key(c, key, sizeof(key));
    meta_put(ud, key,
             gone ? NULL
                  : json_pack("{s:s,s:s,s:I,s:I,s:i}", "user_id", c->user_id, "email", c->email,
                              "epoch", (json_int_t)c->epoch, "created_ms",
                              (json_int_t)c->created_ms, "tries", c->tries));
}

typedef struct restore_arg {
    auth_sessions *s;
    api_block *b;
    int64_t now_ms;
    json_t *drop; /* keys of expired records */
    size_t kept;
} restore_arg;

static int restore_challenge(void *ud, store_val key, store_val val)
{
    restore_arg *a = ud;
    char k[160], hex[65];
    snprintf(k, sizeof(k), "%.*s", (int)(key.len < 159 ? key.len : 159), (const char *)key.data);
    json_t *o = json_loadb(val.data, val.len, 0, NULL);
    auth_challenge c = {0};
    snprintf(hex, sizeof(hex), "%s", k + strlen(CHALLENGE_PREFIX));
    size_t got = 0;
    bool ok = o && strlen(hex) == 64 &&
              !sodium_hex2bin(c.key_hash, sizeof(c.key_hash), hex, 64, NULL, &got, NULL) &&
              got == 32;
    if (ok) {
        snprintf(c.user_id, sizeof(c.user_id), "%s",
                 json_string_value(json_object_get(o, "user_id")) ?: "");
        snprintf(c.email, sizeof(c.email), "%s",
                 json_string_value(json_object_get(o, "email")) ?: "");
        c.epoch = json_integer_value(json_object_get(o, "epoch"));
        c.created_ms = json_integer_value(json_object_get(o, "created_ms"));
        c.tries = (int)json_integer_value(json_object_get(o, "tries"));
        ok = sessions_challenge_restore(a->s, &c, a->now_ms);
    }
    json_decref(o);
    if (ok)
        a->kept++;
    else
        json_array_append_new(a->drop, json_string(k));
    return 0;
}

static void drop_all(store *st, json_t *keys)
{
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k) meta_put(st, json_string_value(k), NULL);
}

void api_keep_challenges(store *st, auth_sessions *s)
{
    if (!st || !s) return;
    store_txn *txn = NULL;
    restore_arg a = {.s = s, .now_ms = ah_now_ms(), .drop = json_array()};
    if (store_read_begin(st, &txn) == 0) {
        store_scan(txn, STORE_DB_META, CHALLENGE_PREFIX, strlen(CHALLENGE_PREFIX), NULL, 0, 0,
                   restore_challenge, &a);
        store_read_end(st, txn);
    }
    sessions_on_challenge(s, on_challenge, st);
    drop_all(st, a.drop);
    json_decref(a.drop);
    if (a.kept) log_info("api", "%zu pending second-factor sign-ins kept from before", a.kept);
}

/* ---- blocked addresses --------------------------------------------------------------- */

void api_persist_block(store *st, const char *ip, int64_t until_ms)
{
    char key[160];
    snprintf(key, sizeof(key), BLOCK_PREFIX "%s", ip);
    meta_put(st, key, json_pack("{s:I}", "until_ms", (json_int_t)until_ms));
}

static int restore_block(void *ud, store_val key, store_val val)
{
    restore_arg *a = ud;
    char k[160];
    snprintf(k, sizeof(k), "%.*s", (int)(key.len < 159 ? key.len : 159), (const char *)key.data);
    json_t *o = json_loadb(val.data, val.len, 0, NULL);
    int64_t until = o ? json_integer_value(json_object_get(o, "until_ms")) : 0;
    json_decref(o);
    if (until > a->now_ms && api_block_restore(a->b, k + strlen(BLOCK_PREFIX), until - a->now_ms))
        a->kept++;
    else
        json_array_append_new(a->drop, json_string(k));
    return 0;
}

void api_keep_blocks(store *st, api_block *b)
{
    if (!st || !b) return;
    store_txn *txn = NULL;
    restore_arg a = {.b = b, .now_ms = ah_now_ms(), .drop = json_array()};
    if (store_read_begin(st, &txn) == 0) {
        store_scan(txn, STORE_DB_META, BLOCK_PREFIX, strlen(BLOCK_PREFIX), NULL, 0, 0,
                   restore_block, &a);
        store_read_end(st, txn);
    }
    drop_all(st, a.drop);
    json_decref(a.drop);
    if (a.kept) log_info("api", "%zu blocked addresses kept from before", a.kept);
}
