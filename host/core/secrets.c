#include "secrets.h"

#include "log.h"
#include "secrets_priv.h"
#include "util.h"

#include <agenthost/plugin.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AD_PREFIX "agenthost-secret/1"
#define NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define ABYTES crypto_aead_xchacha20poly1305_ietf_ABYTES

/* "<instance>\0<name>" */
static size_t make_key(char *buf, size_t len, const char *instance, const char *name)
{
    size_t a = strlen(instance), b = strlen(name);
    if (a + b + 1 > len) return 0;
    memcpy(buf, instance, a);
    buf[a] = 0;
    memcpy(buf + a + 1, name, b);
    return a + 1 + b;
}

static size_t make_ad(unsigned char *buf, size_t len, const char *instance, const char *name)
{
    int n = snprintf((char *)buf, len, "%s%c%s%c%s", AD_PREFIX, 0, instance, 0, name);
    return n < 0 || (size_t)n >= len ? 0 : (size_t)n;
}

int secrets_open(secrets **out, store *st, const char *key_path, secrets_key_mode mode, char *err,
                 size_t errlen)
{
    *out = NULL;
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium failed to initialise");
        return AH_EIO;
    }
    secrets *s = calloc(1, sizeof(*s));
    if (!s) return AH_ENOMEM;
    s->st = st;
    s->key = sodium_malloc(MASTER_KEY_BYTES);
    if (!s->key) {
        free(s);
        return AH_ENOMEM;
    }
    int rc = mode == SECRETS_KEY_NONE ? 0 : secrets_take_key(s, key_path, mode, err, errlen);
    if (rc) {
        secrets_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

const char *secrets_key_id(const secrets *s)
{
    return s->has_key ? s->key_id : "";
}

void secrets_close(secrets *s)
{
    if (!s) return;
    sodium_free(s->key);
    free(s);
}

typedef struct put_op {
    store *st;
    char key[200];
    size_t klen;
    unsigned char *val; /* NULL: delete */
    size_t vlen;
    void (*done)(int, void *);
    void *ud;
} put_op;

static int apply_put(MDB_txn *txn, void *arg)
{
    put_op *op = arg;
    MDB_val k = {op->klen, op->key};
    if (!op->val) {
        int rc = mdb_del(txn, store_dbi(op->st, STORE_DB_SECRETS), &k, NULL);
        return rc == MDB_NOTFOUND ? AH_ENOTFOUND : rc;
    }
    MDB_val v = {op->vlen, op->val};
    return mdb_put(txn, store_dbi(op->st, STORE_DB_SECRETS), &k, &v, 0);
}

static void done_put(int status, void *arg)
{
    put_op *op = arg;
    if (op->done) op->done(status, op->ud);
    free(op->val);
    free(op);
}

static int valid_names(const char *instance, const char *name)
{
    return ah_valid_id(instance) && ah_valid_id(name);
}

/* A write of one secret (value set later for a put; NULL deletes). */
static put_op *new_op(secrets *s, const char *instance, const char *name,
                      void (*done)(int status, void *ud), void *ud)
{
    put_op *op = calloc(1, sizeof(*op));
    if (!op) return NULL;
    op->st = s->st;
    op->done = done;
    op->ud = ud;
    op->klen = make_key(op->key, sizeof(op->key), instance, name);
    return op;
}

int secrets_set(secrets *s, const char *instance, const char *name, const void *value, size_t len,
                void (*done)(int status, void *ud), void *ud)
{
    if (!valid_names(instance, name)) return AH_EINVAL;
    if (len > SECRET_MAX_BYTES) return AH_ETOOBIG;
    if (!s->has_key) return AH_EDENIED;
    put_op *op = new_op(s, instance, name, done, ud);
    if (!op) return AH_ENOMEM;
    unsigned char ad[200];
    size_t adlen = make_ad(ad, sizeof(ad), instance, name);
    op->vlen = NONCE + len + ABYTES;
    op->val = malloc(op->vlen);
    if (!op->klen || !adlen || !op->val) {
        free(op->val);
        free(op);
        return AH_ENOMEM;
    }
    randombytes_buf(op->val, NONCE);
    unsigned long long clen;
    crypto_aead_xchacha20poly1305_ietf_encrypt(op->val + NONCE, &clen, value, len, ad, adlen, NULL,
                                               op->val, s->key);
    return store_write(s->st, apply_put, done_put, op);
}

int secrets_delete(secrets *s, const char *instance, const char *name,
                   void (*done)(int status, void *ud), void *ud)
{
    if (!valid_names(instance, name)) return AH_EINVAL;
    put_op *op = new_op(s, instance, name, done, ud);
    return op ? store_write(s->st, apply_put, done_put, op) : AH_ENOMEM;
}

int secrets_unseal(const secrets *s, const char *skey, size_t klen, const uint8_t *sealed,
                   size_t slen, char **plain, size_t *n)
{
    *plain = NULL;
    size_t ilen = strnlen(skey, klen);
    if (ilen >= klen || slen < NONCE + ABYTES) return AH_EIO;
    unsigned char ad[200];
    int adn = snprintf((char *)ad, sizeof(ad), "%s%c%.*s%c%.*s", AD_PREFIX, 0, (int)ilen, skey, 0,
                       (int)(klen - ilen - 1), skey + ilen + 1);
    if (adn < 0 || (size_t)adn >= sizeof(ad)) return AH_EIO;
    char *p = malloc(slen - NONCE - ABYTES + 1);
    if (!p) return AH_ENOMEM;
    unsigned long long got = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt((unsigned char *)p, &got, NULL, sealed + NONCE,
                                                   slen - NONCE, ad, (size_t)adn, sealed,
                                                   s->key) != 0) {
        free(p);
        return AH_EIO;
    }
    p[got] = 0;
    *plain = p;
    *n = (size_t)got;
    return 0;
}

int secrets_get(secrets *s, const char *instance, const char *name, char **out, size_t *len)
{
    *out = NULL;
    if (!valid_names(instance, name)) return AH_EINVAL;
    if (!s->has_key) return AH_EDENIED;
    char key[200];
    MDB_val k = {make_key(key, sizeof(key), instance, name), key}, v;
    MDB_txn *txn;
    int rc = store_read_begin(s->st, &txn);
    if (rc) return rc;
    rc = mdb_get(txn, store_dbi(s->st, STORE_DB_SECRETS), &k, &v);
    if (rc) {
        store_read_end(s->st, txn);
        return rc == MDB_NOTFOUND ? AH_ENOTFOUND : AH_EIO;
    }
    char *plain;
    size_t n;
    rc = secrets_unseal(s, key, k.mv_size, v.mv_data, v.mv_size, &plain, &n);
    store_read_end(s->st, txn);
    if (rc) return rc;
    log_redact_add(plain);
    *out = plain;
    *len = n;
    return 0;
}

void secrets_free_value(char *v, size_t len)
{
    if (!v) return;
    sodium_memzero(v, len);
    free(v);
}

json_t *secrets_list(secrets *s, const char *instance)
{
    json_t *arr = json_array();
    MDB_txn *txn;
    if (store_read_begin(s->st, &txn) != 0) return arr;
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, store_dbi(s->st, STORE_DB_SECRETS), &cur) == 0) {
        MDB_val k, v;
        int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            const char *inst = k.mv_data;
            size_t ilen = strnlen(inst, k.mv_size);
            if (ilen >= k.mv_size) continue;
            if (instance && (strlen(instance) != ilen || memcmp(instance, inst, ilen))) continue;
            json_array_append_new(arr, json_pack("{s:s%,s:s%}", "instance", inst, ilen, "name",
                                                 inst + ilen + 1, k.mv_size - ilen - 1));
        }
        mdb_cursor_close(cur);
    }
    store_read_end(s->st, txn);
    return arr;
}
