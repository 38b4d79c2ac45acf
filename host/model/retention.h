/*
 * retention.h - audit entries older than their retention removed, in the
 * background: once at start, then every hour, at most a batch a write.
 */
#ifndef AH_MODEL_RETENTION_H
#define AH_MODEL_RETENTION_H

#include "core/loop.h"
#include "docs.h"

#include <stdint.h>

typedef struct audit_retention audit_retention;

typedef struct retention_opts {
    uint32_t audit_days;  /* entries older are removed; 0: kept forever */
    uint32_t interval_ms; /* between sweeps; 0: an hour */
} retention_opts;

/* Start sweeping (nothing when audit_days is 0: *out is then NULL). 0 or
 * AH_ENOMEM. */
int audit_retention_start(audit_retention **out, docs *d, ah_loop *loop, const retention_opts *o);
void audit_retention_stop(audit_retention *r);

#endif
