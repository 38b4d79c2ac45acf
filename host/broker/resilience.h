/*
 * resilience.h - retry timing and circuit breakers for egress.
 *
 * Backoff: attempt n (1 = the first retry) waits a random time in
 * [d/2, d] where d = min(max, base * 2^(n-1)) ("equal jitter"), so
 * clients that failed together do not retry together.
 *
 * Breakers, one per destination (host:port): closed until `threshold`
 * consecutive failures, then open for `cooldown_ms` (requests fail fast
 * with circuit_open), then half-open: one request goes through as a probe
 * while the others still fail fast; the probe's success closes the
 * breaker, its failure opens it again. Pure data; the caller passes the
 * time, so the logic is testable without waiting.
 */
#ifndef AH_BROKER_RESILIENCE_H
#define AH_BROKER_RESILIENCE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Delay before retry number `n` (>= 1); rnd is a uniform random 32-bit value. */
uint32_t backoff_delay_ms(uint32_t n, uint32_t base_ms, uint32_t max_ms, uint32_t rnd);

/* Retry-After: delta-seconds or an HTTP-date. Returns milliseconds to wait
 * (0 if the date has passed), or -1 if the value is absent or malformed.
 * now_unix_ms is the wall clock. */
int64_t retry_after_ms(const char *value, int64_t now_unix_ms);

typedef enum breaker_state {
    BREAKER_CLOSED = 0,
    BREAKER_HALF_OPEN = 1,
    BREAKER_OPEN = 2
} breaker_state;

typedef struct breaker_table breaker_table;

typedef enum breaker_verdict {
    BREAKER_ALLOW,       /* closed: go */
    BREAKER_ALLOW_PROBE, /* half-open: this request is the probe */
    BREAKER_DENY,        /* open, or half-open with the probe under way */
} breaker_verdict;

/* Called when a breaker changes state (for logs and metrics). */
typedef void (*breaker_change_fn)(void *ud, const char *key, breaker_state from, breaker_state to,
                                  uint32_t failures);

breaker_table *breaker_table_new(uint32_t threshold, uint32_t cooldown_ms, breaker_change_fn fn,
                                 void *ud);
void breaker_table_free(breaker_table *t);

/* May a request to `key` go now? With DENY, *retry_in_ms (may be NULL) says
 * when the breaker will let a probe through. */
breaker_verdict breaker_allow(breaker_table *t, const char *key, uint64_t now_ms,
                              uint64_t *retry_in_ms);
/* Report an attempt's outcome. probe: the attempt was the half-open probe
 * (a probe abandoned without an outcome must be reported with
 * breaker_abandon so another probe may go). */
void breaker_success(breaker_table *t, const char *key, bool probe);
void breaker_failure(breaker_table *t, const char *key, bool probe, uint64_t now_ms);
void breaker_abandon(breaker_table *t, const char *key, bool probe);

breaker_state breaker_get(breaker_table *t, const char *key);
const char *breaker_state_name(breaker_state s);

/* A new object: {"host:port": {"state": ..., "failures": n, "retry_in_ms": m}} for
 * every destination seen. */
json_t *breaker_table_json(breaker_table *t, uint64_t now_ms);

#endif
