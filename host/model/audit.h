/*
 * audit.h - who changed what, and when.
 *
 * Every change made through the API or the command line records an entry
 * in the same transaction as the change (so there is no change without its
 * entry, and no entry of a change that did not commit) and, once
 * committed, a line in logs/audit.log. Entries are documents of the
 * "audit" collection: no route changes or deletes them; only the retention
 * sweep removes the oldest. Personal data is never copied into an entry:
 * a sealed field's change is recorded as {"changed": true}.
 */
#ifndef AH_MODEL_AUDIT_H
#define AH_MODEL_AUDIT_H

#include "docs.h"

typedef struct audit_actor {
    const char *kind; /* "token", "user", "cli", "host" */
    const char *id;   /* may be NULL */
    const char *name; /* may be NULL */
    const char *role; /* may be NULL */
} audit_actor;

/* Record that `action` ("agent.update") was done to coll/id by who, with
 * the fields that differ between before and after (either may be NULL:
 * created, deleted; both borrowed). 0, AH_ENOMEM, or doc_put's code (the
 * write then fails). */
int audit_record(doc_txn *t, const audit_actor *who, const char *request_id, const char *action,
                 const char *coll, const char *id, const json_t *before, const json_t *after);

/* The changed top-level fields: {"name": {"from": "a", "to": "b"}}, where
 * a field of sealed (NULL-terminated, may be NULL) shows only that it
 * changed. A new object. */
json_t *audit_diff(const json_t *before, const json_t *after, const char *const *sealed);

#endif
