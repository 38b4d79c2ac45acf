/*
 * egress_log.h - what the broker tells operators: one line per request in
 * logs/integration.log, refusals in logs/security.log, breaker changes in
 * both, and the agenthost_egress_* metrics (by instance and host).
 *
 * Never logged: header values (Authorization, API keys), bodies, query
 * strings (they often carry keys), fragments and user info.
 */
#ifndef AH_BROKER_EGRESS_LOG_H
#define AH_BROKER_EGRESS_LOG_H

#include "resilience.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct egress_report {
    const char *plugin, *instance;
    const char *request_id; /* the API request behind it, or NULL */
    const char *method, *scheme, *host;
    int port;
    const char *path;       /* without query */
    int status;             /* 0 if no response */
    const char *error_code; /* NULL on a complete response */
    const char *error_message;
    uint64_t bytes_in, bytes_out;
    double latency_ms;
    uint32_t retries, redirects;
    bool stream;
} egress_report;

void egress_log_init(void);
void egress_log_request(const egress_report *r);
/* A refused destination or address: security.log (and integration.log via
 * the request's own line). address may be NULL. */
void egress_log_refused(const char *plugin, const char *instance, const char *method,
                        const char *scheme, const char *host, int port, const char *path,
                        const char *reason, const char *address);
void egress_log_breaker(const char *key, breaker_state from, breaker_state to, uint32_t failures);
void egress_log_in_flight(const char *instance, long n);
void egress_log_retry(const char *instance, const char *host, uint32_t attempt, uint32_t delay_ms,
                      const char *why);

/* Strip the query, fragment and user info from a URL's path part into out. */
void egress_log_path(const char *url, char *out, size_t len);

#endif
