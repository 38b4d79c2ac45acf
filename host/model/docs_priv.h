/*
 * docs_priv.h - what the model's files share. Not a public header.
 */
#ifndef AH_MODEL_DOCS_PRIV_H
#define AH_MODEL_DOCS_PRIV_H

#include "collections.h"
#include "docs.h"
#include "pd.h"

typedef struct deferred {
    void (*fn)(void *ud, int status);
    void *ud;
    bool free_ud;
} deferred;

struct docs {
    store *st;
    keystore *keys_db; /* personal-data keys (NULL: no personal data can be written or read) */
    uint8_t *keys;     /* locked: [0, 32) seals contacts' keys, [32, 64) keys identity hashes */
    const doc_collection *colls;
    size_t ncolls;
    json_t **schemas; /* parsed, one per collection */
};

struct doc_txn {
    docs *d;
    store_txn *st;
    bool write;
    int64_t now;
    doc_error *err;
    deferred *dv;
    size_t dn, dcap;
};

/* The collection, or NULL after failing t with AH_EINVAL. */
const doc_collection *docs_coll(doc_txn *t, const char *name);
const doc_index_def *docs_index(const doc_collection *c, const char *name);
const json_t *docs_schema(const docs *d, const doc_collection *c);

/* Load a document by its key and open its sealed fields: doc_get's
 * results but for the unknown collection. */
int docs_load(doc_txn *t, const doc_collection *c, const char *id, json_t **out, uint64_t *rev);

/* The key used to hash identities (32 bytes). */
const uint8_t *docs_identity_key(const docs *d);

#endif
