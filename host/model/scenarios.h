/*
 * scenarios.h - what every writer of scenario versions shares (the API's
 * save, the example agent of a first start): the content's hash, and the
 * version document that makes content a scenario's next version.
 */
#ifndef AH_MODEL_SCENARIOS_H
#define AH_MODEL_SCENARIOS_H

#include "model/docs.h"

#include <jansson.h>
#include <stddef.h>

/* BLAKE2b-256 of the content's canonical JSON (keys sorted, compact), in
 * hex, and that JSON's size. 0, or AH_ENOMEM. */
int scenario_content_hash(const json_t *content, char hex[65], size_t *size);

/* Write content (borrowed) as version number of scenario_id, by author,
 * with message (may be NULL): 0 with *out (the version document, a new
 * reference) and *rev; or doc_put's code (out of memory: AH_ENOMEM). The
 * scenario's latest_version is the caller's to set. */
int scenario_version_put(doc_txn *t, const char *scenario_id, json_int_t number,
                         const json_t *content, const char *message, const char *author,
                         json_t **out, uint64_t *rev);

#endif
