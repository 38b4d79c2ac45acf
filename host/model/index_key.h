/*
 * index_key.h - how a document's index entries are spelled as store keys,
 * so that byte order is the order a list is sorted by. Internal to the
 * model.
 *
 * A key is "<collection>\0<index>\0", then each value, then (in a
 * non-unique index) the document's id. Values are tagged so that every
 * JSON type sorts after the ones before it and among its own kind:
 * null (or absent) < false < true < numbers (IEEE 754 order) < strings
 * (bytewise, NUL escaped; folded to lower case in a DOC_INDEX_FOLD index;
 * past 128 bytes cut and completed by a hash, so a unique index stays
 * exact) < objects and arrays (their compact JSON, as a string).
 */
#ifndef AH_MODEL_INDEX_KEY_H
#define AH_MODEL_INDEX_KEY_H

#include "docs.h"

#define IKEY_MAX 511

/* The tuples of values doc holds for index ix: a new array of arrays (one
 * per entry; none when a sparse index's first field is absent), or NULL
 * when out of memory. */
json_t *ikey_tuples(const docs *d, const doc_index_def *ix, const json_t *doc);

/* Spell "<coll>\0<index>\0" and the first n values of tuple into buf.
 * Returns the length, or 0 when it does not fit. */
size_t ikey_encode(uint8_t *buf, size_t cap, const char *coll, const doc_index_def *ix,
                   const json_t *tuple, size_t n);

/* Lower-case UTF-8 (ASCII, Latin-1 letters, Cyrillic, Greek) into a new
 * string; other characters are kept. NULL when out of memory. */
char *ikey_fold(const char *s, size_t len, size_t *outlen);

#endif
