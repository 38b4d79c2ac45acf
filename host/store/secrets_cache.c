/* secrets_cache.c - checking a given value against a secret per request (a
 * webhook's shared secret) without opening the sealed record each time:
 * the opened value is kept, beside a copy of the sealed record it came
 * from, and opened again only when the record in the store differs (set
 * again or deleted, by this process or a CLI command). See secrets.h. */
#include "core/redact.h"
#include "secrets_priv.h"
#include "core/util.h"

#include <agenthost/plugin.h>

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_SLOTS 64
#define SKEY_MAX 200

typedef struct cslot {
    char key[SKEY_MAX]; /* "<instance>\0<name>" */
    size_t klen;        /* 0: empty */
    uint8_t *sealed;    /* the record the value was opened from */
    size_t slen;
    char *plain; /* sodium_malloc'd: locked, wiped when freed */
    size_t n;
} cslot;

struct secrets_cache {
    cslot slot[CACHE_SLOTS];
    size_t next; /* the slot a new entry takes when none is free */
};

static void drop(cslot *c)
{
    free(c->sealed);
    if (c->plain) sodium_free(c->plain);
    memset(c, 0, sizeof(*c));
}

void secrets_cache_free(struct secrets_cache *c)
{
    if (!c) return;
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        drop(&c->slot[i]);
    free(c);
}

static cslot *find(struct secrets_cache *c, const char *key, size_t klen)
{
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        if (c->slot[i].klen == klen && memcmp(c->slot[i].key, key, klen) == 0) return &c->slot[i];
    return NULL;
}

/* Open the record and keep it in a slot: 0, or secrets_unseal's codes. */
static int refill(secrets *s, cslot *c, const char *key, size_t klen, store_val v)
{
    char *plain;
    size_t n;
    int rc = secrets_unseal(s, key, klen, v.data, v.len, &plain, &n);
    if (rc) return rc;
    /* As secrets_get: a value the logger cannot mask is not used. */
    char *locked = redact_add(plain, n) ? sodium_malloc(n + 1) : NULL;
    uint8_t *sealed = locked ? malloc(v.len) : NULL;
    if (!sealed) {
        if (locked) sodium_free(locked);
        sodium_memzero(plain, n);
        free(plain);
        return AH_ENOMEM;
    }
    memcpy(locked, plain, n + 1);
    sodium_memzero(plain, n);
    free(plain);
    memcpy(sealed, v.data, v.len);
    drop(c);
    memcpy(c->key, key, klen);
    c->klen = klen;
    c->sealed = sealed;
    c->slen = v.len;
    c->plain = locked;
    c->n = n;
    return 0;
}

int secrets_equal(secrets *s, const char *instance, const char *name, const char *given,
                  size_t glen, bool *match)
{
    *match = false;
    if (!ah_valid_id(instance) || !ah_valid_id(name)) return AH_EINVAL;
    if (!s->has_key) return AH_EDENIED;
    size_t a = strlen(instance), b = strlen(name);
    if (a + 1 + b > SKEY_MAX) return AH_EINVAL;
    char key[SKEY_MAX];
    memcpy(key, instance, a);
    key[a] = 0;
    memcpy(key + a + 1, name, b);
    size_t klen = a + 1 + b;
    if (!s->cache && !(s->cache = calloc(1, sizeof(*s->cache)))) return AH_ENOMEM;
    struct secrets_cache *cc = s->cache;
    store_txn *txn;
    int rc = store_read_begin(s->st, &txn);
    if (rc) return rc;
    store_val v;
    rc = store_get(txn, STORE_DB_SECRETS, key, klen, &v);
    cslot *c = find(cc, key, klen);
    if (rc) {
        if (c) drop(c); /* deleted: forget the value */
    } else if (!c || c->slen != v.len || memcmp(c->sealed, v.data, v.len) != 0) {
        if (!c) {
            for (size_t i = 0; i < CACHE_SLOTS && !c; i++)
                if (!cc->slot[i].klen) c = &cc->slot[i];
            if (!c) {
                c = &cc->slot[cc->next];
                cc->next = (cc->next + 1) % CACHE_SLOTS;
            }
        }
        rc = refill(s, c, key, klen, v);
        if (rc) drop(c);
    }
    store_read_end(s->st, txn);
    if (rc) return rc;
    *match = given && glen == c->n && sodium_memcmp(given, c->plain, glen) == 0;
    return 0;
}
