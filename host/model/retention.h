/*
 * retention.h - documents older than their collection's retention removed
 * in the background: audit entries (audit.retention_days) and the
 * webhooks' delivery log (webhooks.log_retention_days). Once at start,
 * then every interval, oldest first, at most a batch a write.
 */
#ifndef AH_MODEL_RETENTION_H
#define AH_MODEL_RETENTION_H

#include "core/loop.h"
#include "docs.h"

#include <stdint.h>

typedef struct doc_retention doc_retention;

typedef struct retention_opts {
    uint32_t audit_days;       /* audit entries older are removed; 0: kept forever */
    uint32_t webhook_log_days; /* delivery-log entries older are removed; 0: kept forever */
    uint32_t interval_ms;      /* between sweeps; 0: an hour */
} retention_opts;

/* Start sweeping (nothing when every retention is 0: *out is then NULL).
 * 0 or AH_ENOMEM. */
int doc_retention_start(doc_retention **out, docs *d, ah_loop *loop, const retention_opts *o);
void doc_retention_stop(doc_retention *r);

/* Delete, in one write, up to max documents of coll created before
 * cutoff_ms (by their ids' time: ids sort by creation, model/ids.h),
 * oldest first. done (may be NULL) gets the write's status and how many
 * went. 0, or AH_ENOMEM / docs_write's code (done will not run). */
int doc_sweep_older(docs *d, const char *coll, int64_t cutoff_ms, size_t max,
                    void (*done)(void *ud, int status, size_t deleted), void *ud);

#endif
