#include "secrets.h"

#include "core/log.h"
#include "core/redact.h"
#include "secrets_priv.h"
#include "core/util.h"

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
    secrets_cache_free(s->cache);
    sodium_free(s->key);
    free(s);
}

typedef struct put_op {
    char key[200];
    size_t klen;
    unsigned char *val; /* NULL: delete */
    size_t vlen;
    void (*done)(int, void *);
    void *ud;
} put_op;

static int apply_put(store_txn *txn, void *arg)
{
    put_op *op = arg;
    if (!op->val) return store_del(txn, STORE_DB_SECRETS, op->key, op->klen);
    return store_put(txn, STORE_DB_SECRETS, op->key, op->klen, op->val, op->vlen);
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
    op->done = done;
    op->ud = ud;
    op->klen = make_key(op->key, sizeof(op->key), instance, name);
    return op;
}

int secrets_set(secrets *s, const char *instance, const char *name, const void *value, size_t len,
                void (*done)(int status, void *ud), void *ud)
{
    if (!valid_names(instance, name) || len < SECRET_MIN_BYTES || memchr(value, 0, len))
        return AH_EINVAL;
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
    size_t klen = make_key(key, sizeof(key), instance, name);
    store_val v;
    store_txn *txn;
    int rc = store_read_begin(s->st, &txn);
    if (rc) return rc;
    rc = store_get(txn, STORE_DB_SECRETS, key, klen, &v);
    if (rc == 0 && v.len < NONCE + ABYTES) rc = AH_EIO;
    if (rc) {
        store_read_end(s->st, txn);
        return rc;
    }
    char *plain;
    size_t n;
    rc = secrets_unseal(s, key, klen, v.data, v.len, &plain, &n);
    store_read_end(s->st, txn);
    if (rc) return rc;
    /* A value the logger cannot mask is not handed out. */
    if (!redact_add(plain, n)) {
        sodium_memzero(plain, n);
        free(plain);
        return AH_ENOMEM;
    }
    *out = plain;
    *len = n;
    return 0;
}

int secrets_derive_key(const secrets *s, const char ctx[8], uint8_t *out32)
{
    if (!s->has_key) return AH_EDENIED;
    crypto_kdf_derive_from_key(out32, 32, 1, ctx, s->key);
    return 0;
}

void secrets_free_value(char *v, size_t len)
{
    if (!v) return;
    sodium_memzero(v, len);
    free(v);
}

/* Keys are "<instance>\0<name>". */
static int list_one(void *ud, store_val k, store_val v)
{
    (void)v;
    const char *inst = k.data;
    size_t ilen = strnlen(inst, k.len);
    if (ilen >= k.len) return 0;
    json_array_append_new(ud, json_pack("{s:s%,s:s%}", "instance", inst, ilen, "name",
                                        inst + ilen + 1, k.len - ilen - 1));
    return 0;
}

json_t *secrets_list(secrets *s, const char *instance)
{
    json_t *arr = json_array();
    store_txn *txn;
    if (store_read_begin(s->st, &txn) != 0) return arr;
    /* One instance's secrets are one range of keys: "<instance>\0...". */
    size_t plen = instance ? strlen(instance) + 1 : 0;
    store_scan(txn, STORE_DB_SECRETS, instance, plen, NULL, 0, 0, list_one, arr);
    store_read_end(s->st, txn);
    return arr;
}
