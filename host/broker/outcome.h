/*
 * outcome.h - what the end of one attempt means: an answer, an error code
 * for the caller, whether the attempt may be repeated, and what the
 * destination's circuit breaker counts. Shared by every request kind
 * (http, smtp, imap); not a public header.
 */
#ifndef AH_BROKER_OUTCOME_H
#define AH_BROKER_OUTCOME_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct outcome {
    const char *code; /* NULL: a complete response */
    char msg[400];
    bool retry_any;  /* safe to repeat whatever the method */
    bool retry_idem; /* safe to repeat an idempotent request */
    int breaker;     /* 1 success, -1 failure, 0 neither */
} outcome;

/* How an attempt ended, as the transfer saw it. */
typedef struct attempt_end {
    CURLcode rc;
    int status;         /* HTTP status, SMTP reply code, or 0 */
    const char *errbuf; /* curl's error buffer ("" or NULL: none) */
    const char *abort;  /* why a callback stopped it: too_large, idle, or NULL */
    bool refused;       /* the address check refused a connection */
    bool streaming;     /* a 2xx body was being streamed */
    size_t size_cap;    /* the cap that applied (for the message) */
    uint32_t idle_ms;   /* the stream's idle timeout (for the message) */
    bool mail;          /* smtp(s) or imap(s): no HTTP status to judge */
} attempt_end;

void outcome_classify(const attempt_end *e, outcome *o);

#endif
