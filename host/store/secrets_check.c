/* Holding a master key against the store before any secret is read or
 * written (see secrets_open in secrets.h): the store's record of its key's
 * id, a census of its secrets, and the refusals that name them. */
#include "core/log.h"
#include "secrets_priv.h"
#include "core/util.h"

#include <agenthost/plugin.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOST_KEY_HINT                                                                              \
    "if that key is lost for good, delete those secrets (agenthost secret delete INSTANCE "        \
    "NAME) and set them again"

typedef struct census {
    const secrets *trial; /* open every value with this key; NULL: count only */
    size_t count;         /* secret records */
    size_t bad;           /* with trial: those that do not open */
    json_t *bad_list;     /* their {"instance", "name"} */
    json_t *instances;    /* a set: every secret's instance, or with trial the bad ones' */
    char key_id[MASTER_KEY_ID_HEX + 1]; /* recorded in the store, or "" */
} census;

static int census_init(census *c, const secrets *trial)
{
    memset(c, 0, sizeof(*c));
    c->trial = trial;
    c->bad_list = json_array();
    c->instances = json_object();
    return c->bad_list && c->instances ? 0 : AH_ENOMEM;
}

static void census_free(census *c)
{
    json_decref(c->bad_list);
    json_decref(c->instances);
}

/* One record "<instance>\0<name>" -> sealed value. */
static int count_one(void *ud, store_val k, store_val v)
{
    census *c = ud;
    const char *inst = k.data;
    size_t ilen = strnlen(inst, k.len);
    if (ilen >= k.len) return 0; /* not a secret's key */
    c->count++;
    if (c->trial) {
        char *plain;
        size_t n;
        int rc = secrets_unseal(c->trial, inst, k.len, v.data, v.len, &plain, &n);
        if (rc == 0) {
            secrets_free_value(plain, n);
            return 0;
        }
        if (rc == AH_ENOMEM) return rc;
        c->bad++;
        json_array_append_new(c->bad_list, json_pack("{s:s%,s:s%}", "instance", inst, ilen, "name",
                                                     inst + ilen + 1, k.len - ilen - 1));
    }
    char name[80];
    snprintf(name, sizeof(name), "%.*s", (int)(ilen < 79 ? ilen : 79), inst);
    json_object_set_new(c->instances, name, json_true());
    return 0;
}

static int take_census(store *st, census *c)
{
    store_txn *txn;
    if (store_read_begin(st, &txn) != 0) return AH_EIO;
    static const char id_key[] = SECRETS_META_KEY_ID;
    store_val v;
    if (store_get(txn, STORE_DB_META, id_key, sizeof(id_key) - 1, &v) == 0 &&
        v.len == MASTER_KEY_ID_HEX) {
        memcpy(c->key_id, v.data, MASTER_KEY_ID_HEX);
        c->key_id[MASTER_KEY_ID_HEX] = 0;
    }
    /* A read-only store older than the secrets database scans as empty. */
    int rc = store_scan(txn, STORE_DB_SECRETS, NULL, 0, NULL, 0, 0, count_one, c);
    store_read_end(st, txn);
    return rc;
}

/* "a, b, c and 4 more" */
static void summary(const json_t *set, char *buf, size_t len)
{
    size_t n = json_object_size(set), shown = 0;
    const char *key;
    json_t *val;
    buf[0] = 0;
    json_object_foreach((json_t *)set, key, val)
    {
        if (shown == 6 && n > 7) break;
        size_t used = strlen(buf);
        snprintf(buf + used, len - used, "%s%s", shown ? ", " : "", key);
        shown++;
    }
    if (shown < n) {
        size_t used = strlen(buf);
        snprintf(buf + used, len - used, " and %zu more", n - shown);
    }
}

static const char *plural(size_t n)
{
    return n == 1 ? "" : "s";
}

static int apply_key_id(store_txn *txn, void *arg)
{
    secrets *s = arg;
    static const char id_key[] = SECRETS_META_KEY_ID;
    return store_put(txn, STORE_DB_META, id_key, sizeof(id_key) - 1, s->key_id, MASTER_KEY_ID_HEX);
}

static int record_key_id(secrets *s, char *err, size_t errlen)
{
    int rc = store_write_now(s->st, apply_key_id, s);
    if (rc)
        snprintf(err, errlen, "cannot record the master key's id in the store: %s",
                 ah_strerror(rc));
    return rc;
}

static int refuse_missing(const census *c, const char *path, char *err, size_t errlen)
{
    char who[200], sealed[64] = "";
    summary(c->instances, who, sizeof(who));
    if (c->key_id[0]) snprintf(sealed, sizeof(sealed), " sealed with master key id %s", c->key_id);
    snprintf(err, errlen,
             "the master key %s is missing, but the store holds %zu secret%s (instances: %s)%s: "
             "put that key file back at %s (mode 0600; backups do not contain it) and start "
             "again. A new key is made only for a store without secrets; " LOST_KEY_HINT,
             path, c->count, plural(c->count), who, sealed, path);
    return AH_ENOTFOUND;
}

/* The key is s's; the store holds c. */
static int hold(secrets *s, const census *c, const char *path, char *err, size_t errlen)
{
    if (c->key_id[0] && !strcmp(c->key_id, s->key_id)) return 0;
    if (c->count == 0) {
        if (c->key_id[0])
            log_warn("secrets",
                     "the store recorded master key id %s but holds no secret: it now records "
                     "%s (%s)",
                     c->key_id, s->key_id, path);
        return record_key_id(s, err, errlen);
    }
    char who[200];
    if (c->key_id[0]) {
        summary(c->instances, who, sizeof(who));
        snprintf(err, errlen,
                 "the master key %s (id %s) is not the key this store's secrets were sealed with "
                 "(id %s): it cannot open %zu secret%s (instances: %s). Put the right key file at "
                 "%s (mode 0600) and start again; " LOST_KEY_HINT,
                 path, s->key_id, c->key_id, c->count, plural(c->count), who, path);
        return AH_EIO;
    }
    /* A store from before key ids: the key must open every secret. */
    census t;
    int rc = census_init(&t, s);
    if (rc == 0) rc = take_census(s->st, &t);
    if (rc) {
        snprintf(err, errlen, "cannot read the store's secrets: %s", ah_strerror(rc));
    } else if (t.bad) {
        summary(t.instances, who, sizeof(who));
        snprintf(err, errlen,
                 "the master key %s (id %s) cannot open %zu of the store's %zu secret%s "
                 "(instances: %s): they were sealed with another key, or altered. Put the right "
                 "key file at %s (mode 0600) and start again; " LOST_KEY_HINT,
                 path, s->key_id, t.bad, t.count, plural(t.count), who, path);
        rc = AH_EIO;
    } else {
        rc = record_key_id(s, err, errlen);
    }
    census_free(&t);
    return rc;
}

int secrets_take_key(secrets *s, const char *key_path, secrets_key_mode mode, char *err,
                     size_t errlen)
{
    census c;
    int rc = census_init(&c, NULL);
    if (rc == 0 && (rc = take_census(s->st, &c)) != 0)
        snprintf(err, errlen, "cannot read the store's secrets: %s", ah_strerror(rc));
    bool made = false;
    if (rc == 0) rc = master_key_read(key_path, s->key, err, errlen);
    if (rc == AH_ENOTFOUND && c.count == 0 && mode == SECRETS_KEY_CREATE) {
        rc = master_key_create(key_path, s->key, err, errlen);
        made = rc == 0;
    }
    if (rc == AH_ENOTFOUND && c.count) rc = refuse_missing(&c, key_path, err, errlen);
    if (rc == 0) {
        master_key_id(s->key, s->key_id);
        s->has_key = true;
        if (made) log_info("secrets", "created master key %s (id %s)", key_path, s->key_id);
        rc = hold(s, &c, key_path, err, errlen);
    }
    if (rc) {
        sodium_memzero(s->key, MASTER_KEY_BYTES);
        s->has_key = false;
    }
    census_free(&c);
    return rc;
}

int secrets_survey_store(store *st, secrets_survey *out)
{
    memset(out, 0, sizeof(*out));
    census c;
    int rc = census_init(&c, NULL);
    if (rc == 0) rc = take_census(st, &c);
    if (rc == 0) {
        out->count = c.count;
        memcpy(out->key_id, c.key_id, sizeof(out->key_id));
        summary(c.instances, out->instances, sizeof(out->instances));
    }
    census_free(&c);
    return rc ? AH_EIO : 0;
}

json_t *secrets_unreadable(secrets *s)
{
    if (!s->has_key) return NULL;
    census c;
    json_t *bad = NULL;
    if (census_init(&c, s) == 0 && take_census(s->st, &c) == 0) bad = json_incref(c.bad_list);
    census_free(&c);
    return bad;
}
