/*
 * docs.c - documents: transactions, reads and writes with their indexes,
 * counts, checksums and sealed fields. Queries are in query.c, migrations
 * in migrate.c.
 */
#include "docs_priv.h"

#include "core/jsonschema.h"
#include "core/log.h"
#include "core/util.h"
#include "index_key.h"
#include "ids.h"

#include <agenthost/plugin.h>

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 511

/* ---- opening ------------------------------------------------------------- */

int docs_open(docs **out, store *st, keystore *keys, const uint8_t *key32, char *err, size_t errlen)
{
    size_t n;
    const doc_collection *colls = collections_all(&n);
    return docs_open_with(out, st, keys, key32, colls, n, err, errlen);
}

int docs_open_with(docs **out, store *st, keystore *keys, const uint8_t *key32,
                   const doc_collection *colls, size_t ncolls, char *err, size_t errlen)
{
    *out = NULL;
    docs *d = calloc(1, sizeof(*d));
    if (!d || sodium_init() < 0) {
        free(d);
        snprintf(err, errlen, "out of memory");
        return AH_ENOMEM;
    }
    d->st = st;
    d->keys_db = keys;
    d->colls = colls;
    d->ncolls = ncolls;
    d->schemas = calloc(d->ncolls, sizeof(*d->schemas));
    d->keys = sodium_malloc(64);
    if (!d->schemas || !d->keys) {
        docs_close(d);
        snprintf(err, errlen, "out of memory");
        return AH_ENOMEM;
    }
    /* Two keys derived from the master key: one never serves the other.
     * Without one (a command writing audit entries), both are random:
     * nothing sealed or hashed with them is ever read back. */
    if (key32) {
        crypto_kdf_derive_from_key(d->keys, 32, 1, "ahpdkeys", key32);
        crypto_kdf_derive_from_key(d->keys + 32, 32, 2, "ahidhash", key32);
    } else {
        randombytes_buf(d->keys, 64);
        d->keys_db = NULL;
    }
    for (size_t i = 0; i < d->ncolls; i++) {
        json_error_t je;
        d->schemas[i] = json_loads(d->colls[i].schema_json, 0, &je);
        char serr[256];
        if (!d->schemas[i] || jsonschema_check(d->schemas[i], serr, sizeof(serr)) < 0) {
            snprintf(err, errlen, "the schema of %s is unusable: %s", d->colls[i].name,
                     d->schemas[i] ? serr : je.text);
            docs_close(d);
            return AH_EINVAL;
        }
    }
    *out = d;
    return 0;
}

void docs_close(docs *d)
{
    if (!d) return;
    for (size_t i = 0; d->schemas && i < d->ncolls; i++)
        json_decref(d->schemas[i]);
    free(d->schemas);
    if (d->keys) sodium_free(d->keys);
    free(d);
}

store *docs_store(docs *d)
{
    return d->st;
}

const doc_collection *docs_collection(const docs *d, const char *name)
{
    for (size_t i = 0; name && i < d->ncolls; i++)
        if (!strcmp(d->colls[i].name, name)) return &d->colls[i];
    return NULL;
}

const json_t *docs_collection_schema(const docs *d, const char *name)
{
    const doc_collection *c = docs_collection(d, name);
    return c ? docs_schema(d, c) : NULL;
}

const json_t *docs_schema(const docs *d, const doc_collection *c)
{
    return d->schemas[c - d->colls];
}

const uint8_t *docs_identity_key(const docs *d)
{
    return d->keys + 32;
}

const doc_index_def *docs_index(const doc_collection *c, const char *name)
{
    for (size_t i = 0; name && i < c->nindexes; i++)
        if (!strcmp(c->indexes[i].name, name)) return &c->indexes[i];
    return NULL;
}

/* ---- errors and deferred work --------------------------------------------- */

int doc_fail(doc_txn *t, int code, const char *field, const char *fmt, ...)
{
    if (t->err && !t->err->code) {
        t->err->code = code;
        snprintf(t->err->field, sizeof(t->err->field), "%s", field ? field : "");
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->err->message, sizeof(t->err->message), fmt, ap);
        va_end(ap);
    }
    return code;
}

static void fail_ids(doc_txn *t, const doc_collection *c, const char *id)
{
    if (t->err && t->err->code && !t->err->collection[0]) {
        snprintf(t->err->collection, sizeof(t->err->collection), "%s", c->name);
        snprintf(t->err->id, sizeof(t->err->id), "%s", id ? id : "");
    }
}

const doc_collection *docs_coll(doc_txn *t, const char *name)
{
    const doc_collection *c = docs_collection(t->d, name);
    if (!c) doc_fail(t, AH_EINVAL, NULL, "no collection named %s", name ? name : "(null)");
    return c;
}

int doc_txn_defer(doc_txn *t, void (*fn)(void *ud, int status), void *ud, bool free_ud)
{
    if (t->dn == t->dcap) {
        size_t cap = t->dcap ? t->dcap * 2 : 4;
        deferred *nv = realloc(t->dv, cap * sizeof(*nv));
        if (!nv) {
            if (free_ud) free(ud);
            return doc_fail(t, AH_ENOMEM, NULL, "out of memory");
        }
        t->dv = nv;
        t->dcap = cap;
    }
    t->dv[t->dn++] = (deferred){fn, ud, free_ud};
    return 0;
}

/* Run (status >= 0: after the write, with it) or drop (run false: the
 * write's function runs again) the deferred work. A dropped run is told
 * AH_ECONFLICT, so that it lets go of what it holds (an audit entry's
 * line) without acting. */
static void deferred_finish(doc_txn *t, bool run, int status)
{
    for (size_t i = 0; i < t->dn; i++) {
        t->dv[i].fn(t->dv[i].ud, run ? status : AH_ECONFLICT);
        if (t->dv[i].free_ud) free(t->dv[i].ud);
    }
    t->dn = 0;
}

docs *doc_txn_docs(doc_txn *t)
{
    return t->d;
}

int64_t doc_txn_now(doc_txn *t)
{
    return t->now;
}

store_txn *doc_txn_store(doc_txn *t)
{
    return t->st;
}

/* ---- records ---------------------------------------------------------------- */

static size_t doc_key(uint8_t *k, const doc_collection *c, const char *id)
{
    size_t cl = strlen(c->name), il = strlen(id);
    if (cl + 1 + il > KEY_MAX) return 0;
    memcpy(k, c->name, cl + 1);
    memcpy(k + cl + 1, id, il);
    return cl + 1 + il;
}

/* Seal or open the collection's personal fields in doc, in place. With
 * seal, the contact's key is made if it has none. */
static int crypt_fields(doc_txn *t, const doc_collection *c, json_t *doc, bool seal)
{
    if (!c->sealed || !c->sealed[0]) return 0;
    const char *cid = json_string_value(json_object_get(doc, c->contact_field));
    bool any = false;
    for (size_t i = 0; c->sealed[i]; i++)
        any |= json_object_get(doc, c->sealed[i]) != NULL;
    if (!any) return 0;
    if (!cid) return doc_fail(t, AH_EINVAL, c->contact_field, "personal data needs a contact");
    uint8_t key[PD_KEY_BYTES];
    if (!t->d->keys_db) return doc_fail(t, AH_EDENIED, NULL, "no key store for personal data");
    int rc = pd_key(t->d->keys_db, t->d->keys, cid, seal && t->write, key);
    if (rc && rc != AH_ENOTFOUND)
        return doc_fail(t, rc, NULL, "the key of %s: %s", cid, ah_strerror(rc));
    for (size_t i = 0; c->sealed[i]; i++) {
        json_t *v = json_object_get(doc, c->sealed[i]);
        if (!v || json_is_null(v) || pd_is_sealed(v) == seal) continue;
        json_t *nv = rc     ? json_null() /* erased: gone for good */
                     : seal ? pd_seal(key, cid, v)
                            : pd_open(key, cid, v);
        if (!nv) {
            sodium_memzero(key, sizeof(key));
            return doc_fail(t, seal ? AH_ENOMEM : AH_EIO, c->sealed[i], "%s of %s does not %s",
                            c->sealed[i], cid, seal ? "seal" : "open");
        }
        json_object_set_new(doc, c->sealed[i], nv);
    }
    sodium_memzero(key, sizeof(key));
    return 0;
}

int docs_load(doc_txn *t, const doc_collection *c, const char *id, json_t **out, uint64_t *rev)
{
    *out = NULL;
    uint8_t k[KEY_MAX];
    size_t kl = id ? doc_key(k, c, id) : 0;
    if (!kl) return AH_ENOTFOUND;
    store_val v;
    uint64_t r = 0;
    /* A record that fails its checksum is logged by the store, never read. */
    int rc = store_get_rev(t->st, STORE_DB_DOCS, k, kl, &v, &r);
    if (rc == AH_EIO) return doc_fail(t, AH_EIO, NULL, "document %s/%s is damaged", c->name, id);
    if (rc) return rc;
    json_t *doc = json_loadb(v.data, v.len, 0, NULL);
    if (!doc) return doc_fail(t, AH_EIO, NULL, "document %s/%s is not JSON", c->name, id);
    if ((rc = crypt_fields(t, c, doc, false)) != 0) {
        json_decref(doc);
        return rc;
    }
    *out = doc;
    if (rev) *rev = r;
    return 0;
}

int doc_get(doc_txn *t, const char *coll, const char *id, json_t **out, uint64_t *rev)
{
    const doc_collection *c = docs_coll(t, coll);
    if (!c) return AH_EINVAL;
    return docs_load(t, c, id, out, rev);
}

/* ---- counts ------------------------------------------------------------------ */

static size_t count_key(char *k, const doc_collection *c)
{
    return (size_t)snprintf(k, 96, "docs.count%c%s", 0, c->name);
}

int doc_count(doc_txn *t, const char *coll, uint64_t *n)
{
    *n = 0;
    const doc_collection *c = docs_coll(t, coll);
    if (!c) return AH_EINVAL;
    char k[96];
    store_val v;
    int rc = store_get(t->st, STORE_DB_META, k, count_key(k, c), &v);
    if (rc == 0 && v.len == 8) *n = store_rd64(v.data);
    return rc == AH_ENOTFOUND ? 0 : rc;
}

static int count_add(doc_txn *t, const doc_collection *c, int delta)
{
    uint64_t n = 0;
    int rc = doc_count(t, c->name, &n);
    if (rc) return rc;
    n = delta < 0 && n == 0 ? 0 : n + (uint64_t)(int64_t)delta;
    char k[96];
    uint8_t be[8];
    store_be64(be, n);
    return store_put(t->st, STORE_DB_META, k, count_key(k, c), be, 8);
}

/* ---- indexes ------------------------------------------------------------------- */

/* The keys of doc's entries in ix (a new array of base64-free byte strings
 * held as JSON strings via stringn: keys may hold any byte but NUL runs are
 * fine for jansson's counted strings). */
static json_t *entry_keys(doc_txn *t, const doc_collection *c, const doc_index_def *ix,
                          const json_t *doc)
{
    json_t *keys = json_array();
    json_t *tuples = doc ? ikey_tuples(t->d, ix, doc) : json_array();
    if (!keys || !tuples) {
        json_decref(keys);
        json_decref(tuples);
        return NULL;
    }
    const char *id = json_string_value(json_object_get(doc, "id"));
    size_t i;
    json_t *tu;
    json_array_foreach(tuples, i, tu)
    {
        uint8_t k[KEY_MAX];
        size_t n = ikey_encode(k, sizeof(k), c->name, ix, tu, json_array_size(tu));
        size_t il = id ? strlen(id) : 0;
        if (!(ix->flags & DOC_INDEX_UNIQUE) && n && n + il <= sizeof(k)) {
            memcpy(k + n, id, il);
            n += il;
        } else if (!(ix->flags & DOC_INDEX_UNIQUE)) {
            n = 0;
        }
        if (!n) { /* a value too long even cut: cannot be indexed */
            json_decref(keys);
            json_decref(tuples);
            doc_fail(t, AH_ETOOBIG, ix->fields[0], "too long to be indexed");
            return NULL;
        }
        json_array_append_new(keys, json_stringn_nocheck((const char *)k, n));
    }
    json_decref(tuples);
    return keys;
}

static bool has_key(const json_t *keys, const json_t *k)
{
    size_t i;
    json_t *e;
    json_array_foreach(keys, i, e) if (json_equal(e, k)) return true;
    return false;
}

/* Bring ix from old's entries to new's (either may be NULL). */
static int reindex(doc_txn *t, const doc_collection *c, const doc_index_def *ix, const json_t *old,
                   const json_t *new_doc)
{
    json_t *ok = entry_keys(t, c, ix, old), *nk = entry_keys(t, c, ix, new_doc);
    int rc = ok && nk ? 0 : (t->err && t->err->code ? t->err->code : AH_ENOMEM);
    size_t i;
    json_t *k;
    json_array_foreach(ok, i, k)
    {
        if (rc || has_key(nk, k)) continue;
        rc = store_del(t->st, STORE_DB_DOC_INDEX, json_string_value(k), json_string_length(k));
        if (rc == AH_ENOTFOUND) rc = 0;
    }
    const char *id = json_string_value(json_object_get(new_doc, "id"));
    json_array_foreach(nk, i, k)
    {
        if (rc || has_key(ok, k)) continue;
        rc = store_insert(t->st, STORE_DB_DOC_INDEX, json_string_value(k), json_string_length(k),
                          id, strlen(id));
        if (rc == AH_EEXIST) {
            char field[64];
            snprintf(field, sizeof(field), "%.*s", (int)strcspn(ix->fields[0], "[."),
                     ix->fields[0]);
            rc = doc_fail(t, AH_EEXIST, field, "another of the %s has this %s", c->name, field);
        }
    }
    json_decref(ok);
    json_decref(nk);
    return rc;
}

static int reindex_all(doc_txn *t, const doc_collection *c, const json_t *old,
                       const json_t *new_doc)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < c->nindexes; i++)
        rc = reindex(t, c, &c->indexes[i], old, new_doc);
    return rc;
}

/* ---- writes --------------------------------------------------------------------- */

/* Check doc against the collection's schema, leaving out the top-level
 * fields the schema does not know (kept from a newer version). */
static int check_schema(doc_txn *t, const doc_collection *c, const json_t *doc)
{
    const json_t *schema = docs_schema(t->d, c);
    const json_t *props = json_object_get(schema, "properties");
    json_t *known = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)doc, k, v) if (json_object_get(props, k))
        json_object_set(known, k, v);
    char verr[384];
    int rc = jsonschema_validate(schema, known, verr, sizeof(verr));
    json_decref(known);
    if (rc == 0) return 0;
    const char *sep = strstr(verr, ": ");
    char field[128] = "";
    if (sep && (size_t)(sep - verr) < sizeof(field) && strncmp(verr, "(root)", 6) != 0)
        snprintf(field, sizeof(field), "%.*s", (int)(sep - verr), verr);
    return doc_fail(t, AH_EINVAL, field, "%s", sep && field[0] ? sep + 2 : verr);
}

static int check_revision(doc_txn *t, const doc_collection *c, const char *id, bool exists,
                          uint64_t have, uint64_t expect)
{
    if (expect == STORE_REV_ANY) return 0;
    if (expect == 0 && exists)
        return doc_fail(t, AH_EEXIST, "id", "%s %s exists already", c->name, id);
    if (expect > 0 && !exists) return doc_fail(t, AH_ENOTFOUND, NULL, "no %s %s", c->name, id);
    if (exists && have != expect)
        return doc_fail(t, AH_ECONFLICT, NULL,
                        "%s %s is at revision %llu, not %llu: it changed since it was read",
                        c->name, id, (unsigned long long)have, (unsigned long long)expect);
    return 0;
}

static int put_checked(doc_txn *t, const doc_collection *c, const char *id, json_t *work,
                       uint64_t expect, uint64_t *rev)
{
    int rc = check_schema(t, c, work);
    if (!rc && c->check) rc = c->check(t, work);
    if (rc) return rc;
    json_t *old = NULL;
    uint64_t have = 0;
    rc = docs_load(t, c, id, &old, &have);
    if (rc && rc != AH_ENOTFOUND) return rc;
    bool exists = rc == 0;
    if ((rc = check_revision(t, c, id, exists, have, expect)) != 0 ||
        (rc = reindex_all(t, c, old, work)) != 0 || (rc = crypt_fields(t, c, work, true)) != 0) {
        json_decref(old);
        return rc;
    }
    json_decref(old);
    char *rec = json_dumps(work, JSON_COMPACT);
    if (!rec) return doc_fail(t, AH_ENOMEM, NULL, "out of memory");
    size_t len = strlen(rec);
    if (len > c->max_bytes) {
        free(rec);
        return doc_fail(t, AH_ETOOBIG, NULL, "a document of %s is at most %zu bytes", c->name,
                        c->max_bytes);
    }
    uint8_t k[KEY_MAX];
    size_t kl = doc_key(k, c, id);
    rc = store_put_rev(t->st, STORE_DB_DOCS, k, kl, rec, len, STORE_REV_ANY, rev);
    free(rec);
    if (!rc && !exists) rc = count_add(t, c, +1);
    return rc;
}

int doc_put(doc_txn *t, const char *coll, const json_t *doc, uint64_t expect, uint64_t *rev)
{
    const doc_collection *c = docs_coll(t, coll);
    if (!c) return AH_EINVAL;
    if (!t->write) return doc_fail(t, AH_EINVAL, NULL, "a read cannot write");
    const char *id = json_string_value(json_object_get(doc, "id"));
    if (!id_valid(id, c->id_prefix))
        return doc_fail(t, AH_EINVAL, "id", "not an id of %s", c->name);
    json_t *work = json_deep_copy(doc);
    if (!work) return doc_fail(t, AH_ENOMEM, NULL, "out of memory");
    json_object_set_new(work, "schema_version", json_integer(c->version));
    uint64_t r = 0;
    int rc = put_checked(t, c, id, work, expect, &r);
    json_decref(work);
    if (rc) fail_ids(t, c, id);
    if (!rc && rev) *rev = r;
    return rc;
}

int doc_delete(doc_txn *t, const char *coll, const char *id, uint64_t expect)
{
    const doc_collection *c = docs_coll(t, coll);
    if (!c) return AH_EINVAL;
    if (!t->write) return doc_fail(t, AH_EINVAL, NULL, "a read cannot write");
    json_t *old = NULL;
    uint64_t have = 0;
    int rc = docs_load(t, c, id, &old, &have);
    if (rc == AH_ENOTFOUND) rc = doc_fail(t, AH_ENOTFOUND, NULL, "no %s %s", c->name, id);
    if (!rc) rc = check_revision(t, c, id, true, have, expect);
    if (!rc) rc = reindex_all(t, c, old, NULL);
    uint8_t k[KEY_MAX];
    if (!rc) rc = store_del(t->st, STORE_DB_DOCS, k, doc_key(k, c, id));
    if (!rc) rc = count_add(t, c, -1);
    json_decref(old);
    if (rc) fail_ids(t, c, id);
    return rc;
}

int doc_erase_key(doc_txn *t, const char *contact_id)
{
    if (!t->write) return doc_fail(t, AH_EINVAL, NULL, "a read cannot write");
    if (!t->d->keys_db) return 0; /* without a key store no key was ever made */
    int rc = pd_erase(t->d->keys_db, contact_id);
    return rc == AH_ENOTFOUND ? 0 : rc;
}

/* ---- index lookups ------------------------------------------------------------- */

int doc_find(doc_txn *t, const char *coll, const char *index, const json_t *values, char *id,
             size_t idlen)
{
    const doc_collection *c = docs_coll(t, coll);
    const doc_index_def *ix = c ? docs_index(c, index) : NULL;
    if (!ix || !(ix->flags & DOC_INDEX_UNIQUE)) return AH_EINVAL;
    uint8_t k[KEY_MAX];
    size_t n = ikey_encode(k, sizeof(k), c->name, ix, values, json_array_size(values));
    store_val v;
    int rc = n ? store_get(t->st, STORE_DB_DOC_INDEX, k, n, &v) : AH_ENOTFOUND;
    if (rc) return rc;
    if (v.len >= idlen) return AH_EIO;
    memcpy(id, v.data, v.len);
    id[v.len] = 0;
    return 0;
}

typedef struct id_scan {
    doc_id_fn fn;
    void *ud;
} id_scan;

static int scan_id(void *ud, store_val k, store_val v)
{
    (void)k;
    id_scan *s = ud;
    char id[ID_MAX];
    if (v.len >= sizeof(id)) return 0;
    memcpy(id, v.data, v.len);
    id[v.len] = 0;
    return s->fn(s->ud, id);
}

int doc_scan_ids(doc_txn *t, const char *coll, const char *index, const json_t *values,
                 bool reverse, doc_id_fn fn, void *ud)
{
    const doc_collection *c = docs_coll(t, coll);
    const doc_index_def *ix = c ? docs_index(c, index) : NULL;
    if (!ix) return AH_EINVAL;
    uint8_t k[KEY_MAX];
    size_t n = ikey_encode(k, sizeof(k), c->name, ix, values, json_array_size(values));
    if (!n) return AH_EINVAL;
    id_scan s = {fn, ud};
    return store_scan(t->st, STORE_DB_DOC_INDEX, k, n, NULL, 0, reverse ? STORE_SCAN_REVERSE : 0,
                      scan_id, &s);
}

typedef struct first_hit {
    char *id;
    size_t len;
    int rc;
} first_hit;

static int take_first(void *ud, const char *id)
{
    first_hit *f = ud;
    size_t n = strlen(id);
    f->rc = n < f->len ? 0 : AH_EIO;
    if (!f->rc) memcpy(f->id, id, n + 1);
    return 1;
}

int doc_first_id(doc_txn *t, const char *coll, const char *index, const json_t *values,
                 bool reverse, char *id, size_t idlen)
{
    first_hit f = {id, idlen, AH_ENOTFOUND};
    int rc = doc_scan_ids(t, coll, index, values, reverse, take_first, &f);
    return rc < 0 ? rc : f.rc;
}

typedef struct id_list {
    json_t *ids;
    size_t max;
} id_list;

static int collect_id(void *ud, const char *id)
{
    id_list *l = ud;
    if (json_array_size(l->ids) >= l->max) return 1;
    return json_array_append_new(l->ids, json_string(id)) ? AH_ENOMEM : 0;
}

int doc_list_ids(doc_txn *t, const char *coll, const char *index, const json_t *values,
                 bool reverse, size_t max, json_t **ids)
{
    id_list l = {json_array(), max};
    *ids = l.ids;
    if (!l.ids) return AH_ENOMEM;
    int rc = doc_scan_ids(t, coll, index, values, reverse, collect_id, &l);
    return rc < 0 ? rc : 0;
}

int doc_ids_by(doc_txn *t, const char *coll, const char *index, const char *value, bool reverse,
               size_t max, json_t **ids)
{
    json_t *v = json_pack("[s]", value);
    int rc = v ? doc_list_ids(t, coll, index, v, reverse, max, ids) : AH_ENOMEM;
    json_decref(v);
    if (rc) {
        if (v) json_decref(*ids);
        *ids = NULL;
    }
    return rc;
}

/* ---- running transactions -------------------------------------------------------- */

int docs_read(docs *d, doc_txn_fn fn, void *ud, doc_error *err)
{
    doc_error local = {0};
    doc_txn t = {.d = d, .now = ah_now_ms(), .err = err ? err : &local};
    if (err) memset(err, 0, sizeof(*err));
    int rc = store_read_begin(d->st, &t.st);
    if (rc) return doc_fail(&t, rc, NULL, "the store cannot be read: %s", ah_strerror(rc));
    rc = fn(&t, ud);
    store_read_end(d->st, t.st);
    deferred_finish(&t, true, rc);
    free(t.dv);
    return rc;
}

typedef struct write_op {
    docs *d;
    doc_txn_fn fn;
    void *ud;
    doc_done_fn done;
    int64_t now;
    doc_txn t;
    doc_error err;
} write_op;

static int apply_write(store_txn *st, void *arg)
{
    write_op *op = arg;
    deferred_finish(&op->t, false, 0); /* a run before this one: its work is void */
    memset(&op->err, 0, sizeof(op->err));
    op->t.d = op->d;
    op->t.st = st;
    op->t.write = true;
    op->t.now = op->now;
    op->t.err = &op->err;
    int rc = op->fn(&op->t, op->ud);
    if (rc && rc >= -99 && !op->err.code) doc_fail(&op->t, rc, NULL, "%s", ah_strerror(rc));
    return rc;
}

static void done_write(int status, void *arg)
{
    write_op *op = arg;
    if (status && !op->err.code) doc_fail(&op->t, status, NULL, "%s", ah_strerror(status));
    deferred_finish(&op->t, true, status);
    if (op->done) op->done(status, status ? &op->err : NULL, op->ud);
    free(op->t.dv);
    free(op);
}

struct doc_op {
    write_op w;
};

doc_op *docs_op_new(docs *d, doc_txn_fn fn, void *ud)
{
    doc_op *op = calloc(1, sizeof(*op));
    if (!op) return NULL;
    op->w = (write_op){.d = d, .fn = fn, .ud = ud, .now = ah_now_ms()};
    op->w.t.err = &op->w.err;
    return op;
}

int docs_op_apply(store_txn *st, void *op)
{
    return apply_write(st, &((doc_op *)op)->w);
}

void docs_op_finish(doc_op *op, int status, doc_error *err)
{
    write_op *w = &op->w;
    if (status && !w->err.code) doc_fail(&w->t, status, NULL, "%s", ah_strerror(status));
    deferred_finish(&w->t, true, status);
    if (err) *err = w->err;
    free(w->t.dv);
    free(op);
}

int docs_write(docs *d, doc_txn_fn fn, void *ud, doc_done_fn done)
{
    write_op *op = calloc(1, sizeof(*op));
    if (!op) return AH_ENOMEM;
    *op = (write_op){.d = d, .fn = fn, .ud = ud, .done = done, .now = ah_now_ms()};
    op->t.err = &op->err;
    int rc = store_write(d->st, apply_write, done_write, op);
    if (rc) free(op);
    return rc;
}

int docs_write_now(docs *d, doc_txn_fn fn, void *ud, doc_error *err)
{
    write_op *op = calloc(1, sizeof(*op));
    if (!op) return AH_ENOMEM;
    *op = (write_op){.d = d, .fn = fn, .ud = ud, .now = ah_now_ms()};
    op->t.err = &op->err;
    int status = store_write_now(d->st, apply_write, op);
    if (status && !op->err.code) doc_fail(&op->t, status, NULL, "%s", ah_strerror(status));
    deferred_finish(&op->t, true, status);
    if (err) *err = op->err;
    free(op->t.dv);
    free(op);
    return status;
}
