/*
 * fake_amocrm.h - the fake amoCRM's state, shared by its two files:
 * fake_amocrm.c (OAuth, the rate limit, the control endpoints, main) and
 * fake_amocrm_api.c (the v4 entities: contacts, leads, notes, tasks,
 * pipelines, custom fields). One libuv loop, one thread.
 */
#ifndef FAKE_AMOCRM_H
#define FAKE_AMOCRM_H

#include "fake_http.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct fake_amo {
    const char *client_id, *client_secret;
    json_t *codes;   /* authorization code -> true while unused */
    json_t *access;  /* access token -> expiry (ms, monotonic) */
    json_t *refresh; /* refresh token -> true while valid (rotated: false once used) */
    long access_ttl_s;
    long rps;               /* requests a second before 429 (0: unlimited) */
    json_t *recent;         /* API request times (ms) within the last second */
    const char *long_lived; /* a long-lived token, or NULL */
    int fail_status;        /* answer the next fail_count API calls with this */
    long fail_count;
    long refresh_delay_ms;                    /* the token endpoint answers after this long */
    json_t *contacts, *leads, *notes, *tasks; /* arrays, in creation order */
    json_int_t next_id;
    json_t *stats;
    uv_loop_t *uv;
    fh_server *srv;
} fake_amo;

extern fake_amo F;

void count(const char *what);
void count_max(const char *what, long v);
int64_t now_ms(void);
/* Answer JSON (steals o) with a content type. */
void respond(fh_conn *c, int status, const char *type, json_t *o);
/* amoCRM's problem+json error. */
void problem(fh_conn *c, int status, const char *title, const char *detail);
/* The value of a query parameter, decoded (malloc'd), or NULL. */
char *query_param(const char *query, const char *name);

/* An authorised /api/v4 request: answered. */
void api_v4(fh_conn *c, const fh_req *req);

#endif
