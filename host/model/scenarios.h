/*
 * scenarios.h - what every writer of scenario versions shares (the API's
 * save, the example agent of a first start): the content's hash, and the
 * version document that makes content a scenario's next version.
 */
#ifndef AH_MODEL_SCENARIOS_H
#define AH_MODEL_SCENARIOS_H

#include "model/docs.h"

#include <jansson.h>
#include <stdbool.h>
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

/* Save content (borrowed) as the next version of scenario s (its document,
 * changed in place: latest_version), by author with message (may be NULL),
 * unless it is what the latest version holds: 0 with *out (a new reference:
 * the new version, or the latest), *rev and *created; or the code of the
 * read or write that failed. The caller writes s (stamped, audited). */
int scenario_version_next(doc_txn *t, json_t *s, const json_t *content, const char *message,
                          const char *author, json_t **out, uint64_t *rev, bool *created);

/* Version number of scenario_id: 0 with *out (a new reference) and *rev;
 * AH_ENOTFOUND (doc_fail'd: "scenario X has no version N"), or a read's
 * code. */
int scenario_version_get(doc_txn *t, const char *scenario_id, json_int_t number, json_t **out,
                         uint64_t *rev);

#endif
