/*
 * webchat_sse.h - the web chat's live side: the SSE streams and long polls
 * of the sessions, fed after each committed turn (runtime_watch) with the
 * conversation's new messages, numbered by their seq in the conversation
 * (the SSE event ids): a client that reconnects with Last-Event-ID gets
 * every message after it from the stored conversation, none twice.
 * Non-durable frames (typing, streamed tokens) go only to the streams
 * open at the time. Everything runs on the loop thread. Not a public
 * header.
 */
#ifndef AH_API_WEBCHAT_SSE_H
#define AH_API_WEBCHAT_SSE_H

#include "core/loop.h"
#include "http/server.h"
#include "model/docs.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct wc_hub wc_hub;

typedef struct wc_hub_opts {
    uint32_t keepalive_ms; /* a comment line this often on every stream; 0: 15000 */
    uint32_t per_ip;       /* streams and polls open from one address; 0: 50 */
    uint32_t per_session;  /* streams and polls open for one session; 0: 5 */
} wc_hub_opts;

/* NULL when out of memory. */
wc_hub *wc_hub_new(ah_loop *loop, docs *d, const wc_hub_opts *o);
/* End every stream and answer every poll (the host stops), before the
 * HTTP server stops. */
void wc_hub_close(wc_hub *h);
/* Free, after the HTTP server has stopped (its requests are gone). */
void wc_hub_free(wc_hub *h);

/* Who a stream or poll is for. */
typedef struct wc_who {
    const char *widget, *agent, *session;
    const char *const *headers; /* extra answer headers (CORS), NULL-terminated */
} wc_who;

/* The session's conversation messages after seq `after`, at most limit
 * (0: all kept), as the protocol's message objects: 0 with *msgs (a new
 * array, empty when there is no conversation yet) and *last (the newest
 * seq the conversation has, or `after`); or an AH_E* code. */
int wc_read(wc_hub *h, const char *agent, const char *session, int64_t after, size_t limit,
            json_t **msgs, int64_t *last);

/* Hold req open as an SSE stream, first replaying the messages after
 * `after`. 0; 1 when a bound is reached (not answered: the caller answers
 * 429); or an AH_E* code (not answered). */
int wc_hub_stream(wc_hub *h, http_req *req, const wc_who *who, int64_t after);
/* A long poll: answered now when messages after `after` exist, else when
 * one comes or after wait_ms with none. Return codes as wc_hub_stream. */
int wc_hub_poll(wc_hub *h, http_req *req, const wc_who *who, int64_t after, uint32_t wait_ms);

/* A non-durable frame to the session's open streams: "typing" or "token". */
void wc_hub_event(wc_hub *h, const char *widget, const char *session, const char *event,
                  json_t *data /* stolen */);

/* runtime_watch_partials' callback: an LLM token for a chat, sent as a
 * "token" frame {"stream", "delta"} (or {"stream", "restart": true}). */
void wc_hub_partial(void *ud, const char *widget, const char *session, const char *stream,
                    const json_t *partial);

/* runtime_watch's callback: a conversation committed. */
void wc_hub_committed(void *ud, const char *conv_id, const json_t *conv);

/* Open streams and polls (metrics, tests). */
size_t wc_hub_count(const wc_hub *h);

#endif
