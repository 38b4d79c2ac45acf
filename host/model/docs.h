/*
 * docs.h - collections of JSON documents in the store: the data model's
 * foundation (agents, scenarios, contacts, conversations, audit).
 *
 * A document is a JSON object with an "id" ("agt_01J..."), kept in the
 * store's docs database under "<collection>\0<id>" as a revisioned record
 * (store_put_rev): every write gives it the next revision, exposed over
 * HTTP as its ETag, and a write may require the revision it read (a stale
 * one is AH_ECONFLICT: two editors never overwrite each other silently).
 * Each record carries a checksum of its bytes, verified on every read (a
 * damaged record is AH_EIO and logged naming it, never served).
 *
 * Every document carries "schema_version"; documents of an older version
 * are migrated when the host starts (docs_migrate). Fields this version
 * does not know are kept as they are.
 *
 * Secondary indexes are declared per collection (unique or not, over one
 * or more fields, an array field giving one entry per element) and kept in
 * the same transaction as the document, so a list query is an index range
 * scan, never a scan of the collection.
 *
 * Fields a collection declares personal ("sealed": a contact's profile, a
 * conversation's messages and variables) are stored encrypted with a key
 * of their contact's own (pd.h); erasing the contact destroys the key, and
 * with it every copy, in backups too.
 *
 * Reads and writes happen inside a doc_txn: docs_read for a consistent
 * snapshot on the loop thread, docs_write for a change committed with the
 * store's group commit and answered after it is durable. A write's
 * function may run more than once and must give the same result each time.
 */
#ifndef AH_MODEL_DOCS_H
#define AH_MODEL_DOCS_H

#include "store/store.h"
#include "store/store_keys.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct docs docs;
typedef struct doc_txn doc_txn;

#define DOC_INDEX_UNIQUE 1u /* one document per value: a second is AH_EEXIST */
#define DOC_INDEX_FOLD 2u   /* strings compare case-insensitively (Latin, Cyrillic) */
#define DOC_INDEX_SPARSE 4u /* documents whose first field is absent or null are left out */
#define DOC_INDEX_MAX_FIELDS 4

typedef struct doc_collection doc_collection;

/* An index: fields are dotted paths ("channel.instance"); a path ending in
 * "[]" ("tags[]") is an array giving one entry per element, and
 * "identities[].id" one per element's member. `extract`, when set,
 * replaces the fields: it appends to `tuples` one array of values per
 * entry (the contacts' identity index holds keyed hashes, not identities). */
typedef struct doc_index_def {
    const char *name;
    const char *fields[DOC_INDEX_MAX_FIELDS + 1]; /* NULL-terminated */
    unsigned flags;
    int (*extract)(const docs *d, const json_t *doc, json_t *tuples);
} doc_index_def;

/* Bring a document of version v to v + 1, in place. 0 or AH_E*. */
typedef int (*doc_migrate_fn)(json_t *doc);

struct doc_collection {
    const char *name;                 /* "agents": in keys, URLs and errors */
    const char *id_prefix;            /* "agt" */
    const char *schema_json;          /* its JSON Schema (the entity's fields) */
    uint32_t version;                 /* the current schema_version */
    const doc_migrate_fn *migrations; /* [v - 1] takes version v to v + 1 */
    size_t max_bytes;                 /* a larger document is AH_ETOOBIG */
    const doc_index_def *indexes;
    size_t nindexes;
    const char *const *sealed; /* top-level fields kept encrypted (NULL-terminated) */
    const char *contact_field; /* whose key seals them: "contact_id", or "id" */
    /* Rules beyond the schema (a field that must be one of another's):
     * 0, or doc_fail's code naming the field. May be NULL. */
    int (*check)(doc_txn *t, const json_t *doc);
};

/* What went wrong with a write, for an answer that names the field. */
typedef struct doc_error {
    int code;        /* AH_E* */
    char field[128]; /* "languages[2]", "name" (a unique index's field), or "" */
    char message[384];
    char collection[32]; /* the document's */
    char id[64];
} doc_error;

/* Open the layer over st with the product's collections (collections.h).
 * keys: the key store of personal data (store_keys.h; borrowed, may be
 * NULL: then sealed fields can be neither written nor read, AH_EDENIED);
 * key32: a 32-byte root key derived from the master key (for personal
 * data and identity hashes; copied into locked memory), or NULL with keys
 * NULL for a layer that never touches personal data (a command writing
 * audit entries). 0; or, with err: AH_ENOMEM, AH_EINVAL (a collection's
 * schema is unusable). */
int docs_open(docs **out, store *st, keystore *keys, const uint8_t *key32, char *err,
              size_t errlen);
/* The same over another table of collections (borrowed; tests, tools). */
int docs_open_with(docs **out, store *st, keystore *keys, const uint8_t *key32,
                   const doc_collection *colls, size_t ncolls, char *err, size_t errlen);
void docs_close(docs *d);

store *docs_store(docs *d);
const doc_collection *docs_collection(const docs *d, const char *name);
/* The collection's JSON Schema (borrowed), or NULL. */
const json_t *docs_collection_schema(const docs *d, const char *name);

/* Migrate every document of an older schema_version, in batches, before
 * the host serves (synchronous: startup and CLI only). *migrated gets how
 * many. 0, or the code of the read or write that failed (docs_read,
 * docs_write_now) with err naming the document. */
int docs_migrate(docs *d, size_t *migrated, char *err, size_t errlen);

/* ---- transactions ------------------------------------------------------ */

typedef int (*doc_txn_fn)(doc_txn *t, void *ud);
/* done runs on the loop after the commit (status 0) or the failure, with
 * the error (status != 0; borrowed for the call). */
typedef void (*doc_done_fn)(int status, const doc_error *err, void *ud);

/* Run fn in a read-only snapshot. Returns fn's result, or store_read_begin's
 * code (err says so) when no snapshot can be taken. */
int docs_read(docs *d, doc_txn_fn fn, void *ud, doc_error *err);
/* Queue fn as one store write: fn's changes commit together or not at
 * all. 0 (done will run) or AH_E* (it will not). */
int docs_write(docs *d, doc_txn_fn fn, void *ud, doc_done_fn done);
/* The same, committed before returning (startup, CLI): 0, fn's code or the
 * commit's (err says which), or AH_ENOMEM. */
int docs_write_now(docs *d, doc_txn_fn fn, void *ud, doc_error *err);

/* Document writes inside a store write that someone else runs (the
 * engine's bus_commit, whose delivery, events and documents commit as one):
 * docs_op_new makes the op, docs_op_apply is the store_apply_fn to hand over
 * with the op as its arg (it runs fn, perhaps more than once), and
 * docs_op_finish, once the write has committed (status 0) or failed, runs
 * what fn deferred, fills err (may be NULL) and frees the op. NULL from
 * docs_op_new: out of memory. */
typedef struct doc_op doc_op;
doc_op *docs_op_new(docs *d, doc_txn_fn fn, void *ud);
int docs_op_apply(store_txn *st, void *op);
void docs_op_finish(doc_op *op, int status, doc_error *err);

docs *doc_txn_docs(doc_txn *t);
/* Set the transaction's error and return code (for fn's own refusals). */
int doc_fail(doc_txn *t, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Run after the commit (status 0) or after the write failed, on the loop;
 * runs are reset when fn runs again (the dropped ones are called with
 * AH_ECONFLICT, on the writer's thread: they only let go of ud). ud is freed by fn if free_ud. 0,
 * or AH_ENOMEM (t's error set; ud freed if free_ud). */
int doc_txn_defer(doc_txn *t, void (*fn)(void *ud, int status), void *ud, bool free_ud);

/* The time of the write (ms), one for the whole transaction. */
int64_t doc_txn_now(doc_txn *t);

/* 0 with *out (a new reference: sealed fields opened, "id" set) and *rev;
 * AH_ENOTFOUND; AH_EIO for a damaged record or sealed fields that do not
 * open; AH_EINVAL for a collection that is not one, or sealed fields
 * without a contact. */
int doc_get(doc_txn *t, const char *coll, const char *id, json_t **out, uint64_t *rev);

/* Write doc (borrowed; its "id" names it) at revision `expect` (0: create
 * it; STORE_REV_ANY: whatever is there). "schema_version" is set; the
 * document is checked against the collection's schema (fields it does not
 * know, kept from a newer version, are not checked), its size, and its
 * unique indexes. 0 with *rev; AH_EINVAL (schema: field named),
 * AH_ETOOBIG, AH_ECONFLICT, AH_ENOTFOUND, AH_EEXIST (a unique index:
 * field named), or a store code. */
int doc_put(doc_txn *t, const char *coll, const json_t *doc, uint64_t expect, uint64_t *rev);

/* Delete at revision expect (STORE_REV_ANY: any). 0, AH_ENOTFOUND,
 * AH_ECONFLICT, or a store code. */
int doc_delete(doc_txn *t, const char *coll, const char *id, uint64_t expect);

/* The id of the document whose unique index `index` holds `values` (an
 * array, one per field: borrowed). 0 with id; AH_ENOTFOUND; AH_EINVAL (no
 * such collection, or `index` is not one of its unique indexes); AH_EIO
 * (the store cannot be read, or the id stored does not fit idlen). */
int doc_find(doc_txn *t, const char *coll, const char *index, const json_t *values, char *id,
             size_t idlen);

/* Visit the ids under an index whose leading fields equal `values` (an
 * array, borrowed; may be empty), in index order (reverse: descending).
 * fn returns 0 to go on, 1 to stop, < 0 to stop with it. 0, fn's code,
 * AH_EINVAL (no such collection or index, or values that make no key), or
 * AH_EIO (store_scan). */
typedef int (*doc_id_fn)(void *ud, const char *id);
int doc_scan_ids(doc_txn *t, const char *coll, const char *index, const json_t *values,
                 bool reverse, doc_id_fn fn, void *ud);

/* The first id doc_scan_ids visits under index (reverse: the last): 0 with
 * id; AH_ENOTFOUND when there is none; AH_EIO when it does not fit idlen;
 * or doc_scan_ids' error. */
int doc_first_id(doc_txn *t, const char *coll, const char *index, const json_t *values,
                 bool reverse, char *id, size_t idlen);

/* The ids doc_scan_ids visits under index, at most max (SIZE_MAX: all), in
 * *ids: a new array, of those read so far when it fails. 0, AH_ENOMEM, or
 * doc_scan_ids' error. */
int doc_list_ids(doc_txn *t, const char *coll, const char *index, const json_t *values,
                 bool reverse, size_t max, json_t **ids);
/* doc_list_ids under index for the one value `value` of its first field,
 * all or nothing: on failure *ids is NULL (a partial list would have its
 * caller act on some of the ids only). */
int doc_ids_by(doc_txn *t, const char *coll, const char *index, const char *value, bool reverse,
               size_t max, json_t **ids);

/* Documents in a collection (kept with every write: exact, cheap). 0,
 * AH_EINVAL (no such collection), or AH_EIO (the store cannot be read). */
int doc_count(doc_txn *t, const char *coll, uint64_t *n);

/* Destroy a contact's personal-data key (the erasure of pd.h): done at
 * once, synced, before the write commits: even if the write then fails,
 * what was sealed with it stays unreadable. 0 or AH_EIO. */
int doc_erase_key(doc_txn *t, const char *contact_id);

/* The store transaction under t (for other tables written in the same
 * commit, such as the bus's). */
store_txn *doc_txn_store(doc_txn *t);

#endif
