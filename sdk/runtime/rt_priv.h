/*
 * rt_priv.h - what the runtime's files share (internal to the runtime):
 * the kinds of requests awaiting a RESULT, the way to send one, the KV
 * services (kv.c), which answer their own kinds of results, calls to other
 * instances (call.c) and the loop's timers (timers.c).
 */
#ifndef AH_RT_PRIV_H
#define AH_RT_PRIV_H

#include <agenthost/plugin.h>
#include <jansson.h>

typedef enum req_kind {
    REQ_PUBLISH,
    REQ_PUBLISH_BATCH,
    REQ_HTTP,
    REQ_KV_GET,
    REQ_KV_DONE,
    REQ_KV_SCAN,
    REQ_KV_GET_REV,
    REQ_KV_REV,
    REQ_KV_INCR,
    REQ_KV_MANY,
    REQ_CALL_OUT,
    REQ_COMMIT,
} req_kind;

/* Register a request and send it (body stolen); on failure nothing stays
 * registered and the callback will not run. */
int rt_request(ah_ctx *c, uint16_t type, json_t *body, req_kind kind, void *cb, void *ud);

/* kv.c: the ah_host KV members, and the RESULT of a REQ_KV_* request. */
int rt_kv_get(ah_ctx *c, const char *key, ah_kv_get_cb cb, void *ud);
int rt_kv_put(ah_ctx *c, const char *key, const json_t *value, ah_done_cb cb, void *ud);
int rt_kv_delete(ah_ctx *c, const char *key, ah_done_cb cb, void *ud);
int rt_kv_scan(ah_ctx *c, const char *prefix, const char *after, uint32_t limit, ah_kv_scan_cb cb,
               void *ud);
int rt_kv_get_rev(ah_ctx *c, const char *key, ah_kv_get_rev_cb cb, void *ud);
int rt_kv_put_ex(ah_ctx *c, const char *key, const json_t *value, const ah_kv_put_opts *opts,
                 ah_kv_rev_cb cb, void *ud);
int rt_kv_incr(ah_ctx *c, const char *key, int64_t delta, ah_kv_incr_cb cb, void *ud);
int rt_kv_get_many(ah_ctx *c, const char *const *keys, size_t n, ah_kv_many_cb cb, void *ud);
int rt_kv_put_many(ah_ctx *c, const ah_kv_entry *items, size_t n, ah_done_cb cb, void *ud);
void rt_kv_result(ah_ctx *c, req_kind kind, void *cb, void *ud, int status, const json_t *msg);

/* Tag a message (returned) with the call being served, if any. */
json_t *rt_traced(ah_ctx *c, json_t *o);

/* Timers of the loop (the ah_host members). */
ah_timer *rt_timer_start(ah_ctx *c, uint64_t after_ms, uint64_t repeat_ms, ah_timer_cb cb,
                         void *ud);
void rt_timer_stop(ah_ctx *c, ah_timer *t);

/* timers.c: the loop's timers, a binary min-heap on due time. */
typedef struct rt_timers {
    ah_timer **heap;
    size_t n, cap;
} rt_timers;
/* A timer due after_ms from now, then every repeat_ms (0: once), its
 * callbacks tagged with call; NULL without cb or memory. */
ah_timer *rt_timers_add(rt_timers *h, uint64_t after_ms, uint64_t repeat_ms, ah_timer_cb cb,
                        void *ud, uint64_t call);
/* Stop t (NULL: nothing): freed now, or when its running callback returns. */
void rt_timers_remove(rt_timers *h, ah_timer *t);
/* poll's timeout: -1 with no timer, else the ms to the first due (0: due
 * now), at most 60 s. */
int rt_timers_timeout(const rt_timers *h);
/* Run the due timers on c, *cur_call set to each one's call meanwhile. */
void rt_timers_run(rt_timers *h, ah_ctx *c, uint64_t *cur_call);

/* call.c: the ah_host call member (ABI 1.4), and the RESULT of a REQ_CALL_OUT. */
int rt_call(ah_ctx *c, const char *instance, const char *action, const json_t *args,
            uint32_t timeout_ms, ah_call_cb cb, void *ud);
void rt_call_result(ah_ctx *c, void *ud, int status, const json_t *msg);

#endif
