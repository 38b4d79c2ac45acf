/*
 * runtime.h - agents at work: the engine that runs every conversation.
 *
 * It consumes message.in (a person wrote: the agent bound to the channel
 * instance answers) and engine.start (a trigger step started an agent),
 * reads the topics of on_event triggers (each through its own consumer),
 * fires the timers of waiting steps, and runs the turns the API asks for
 * (an agent run with input variables, a conversation resumed after a
 * handoff, the REST channel). Each turn (host/engine/run.h) works on
 * copies; its outcome commits as ONE transaction through bus_commit: the
 * input settled, the conversation's new state and a new contact written,
 * the replies (message.out) and the platform's events (platform.conversation)
 * published. A crash before the commit leaves everything as it was (the
 * input is delivered again); after it, nothing is delivered again.
 *
 * Turns of one conversation run one at a time, in order; different
 * conversations in parallel. Everything runs on the loop thread.
 */
#ifndef AH_RUNTIME_H
#define AH_RUNTIME_H

#include "broker/broker.h"
#include "bus/bus.h"
#include "core/loop.h"
#include "expr/expr.h"
#include "model/docs.h"
#include "plugin/supervisor.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct runtime runtime;

typedef struct runtime_opts {
    uint32_t max_in_flight;    /* inputs handled at once (bus consumer); 0: 64 */
    uint32_t queue_per_conv;   /* turns waiting behind a busy conversation; 0: 100 */
    uint32_t flood_per_minute; /* inputs one conversation takes a minute; 0: 60 */
    uint32_t timer_scan_ms;    /* how often due timers are looked for; 0: 250 */
    uint32_t turn_timeout_ms;  /* a whole turn's bound (the ack timeout); 0: 300000 */
    const json_t *http_allow;  /* engine.http_allow: egress entries for http.request */
    uint32_t sim_sessions;     /* simulation sessions kept at once; 0: 100 */
    uint32_t sim_idle_ms;      /* a session unused this long is gone; 0: 1800000 */
} runtime_opts;

typedef struct runtime_deps {
    ah_loop *loop;
    bus *bus;
    docs *docs;
    supervisor *sup;
    expr_pool *expr; /* NULL: expressions fail as unavailable */
    broker *egress;  /* NULL: http.request fails as unavailable */
} runtime_deps;

/* Every committed turn is recorded on this topic, keyed by its
 * conversation, as a "turn.recorded" event: its input, the steps it ran
 * (each with the plugin calls and HTTP requests it made and their answers,
 * and the variables after it when it changed them), the messages it sent,
 * where the conversation stood after it. GET
 * /api/v1/conversations/{id}/replay reads them back. */
#define RUNTIME_TURNS_TOPIC "engine.turns"

/* 0; or AH_ENOMEM, AH_EINVAL (an http_allow entry that is not valid) with
 * err. Nothing runs until runtime_start. */
int runtime_new(runtime **out, const runtime_deps *deps, const runtime_opts *o, char *err,
                size_t errlen);
/* Open the consumers and start the timers: 0, or bus_consumer_open's code
 * with err. */
int runtime_start(runtime *rt, char *err, size_t errlen);
/* Stop taking work (turns running are left to finish or be redelivered). */
void runtime_stop(runtime *rt);
/* Free (after runtime_stop, once the loop no longer runs its callbacks). */
void runtime_free(runtime *rt);

/* What a turn the API asked for came to. */
typedef struct runtime_outcome {
    int status;        /* 0, or AH_E*: error/message say why */
    const char *error; /* a code: "not_found", "conflict", "failed", ... */
    const char *message;
    const char *conversation_id; /* the conversation, when one was found or made */
    const char *contact_id;
    const char *state;      /* the conversation's state after the turn */
    const char *stop;       /* why the turn stopped: "waiting", "ended", "idle" (nothing to do) */
    const json_t *messages; /* what the agent sent: [{"id", "text", ...}] */
    const json_t *conversation; /* the conversation document after the turn */
} runtime_outcome;

typedef void (*runtime_cb)(void *ud, const runtime_outcome *o);

/* Start agent_id's scenario in a new conversation with vars (an object of
 * input variables, borrowed; may be NULL) for a contact: {"contact_id"}, or
 * an identity {"channel", "id"} found or created, or NULL (a contact made
 * for the run). cb runs once, later. 0, or AH_EINVAL with err. */
int runtime_run(runtime *rt, const char *agent_id, const json_t *contact, const json_t *vars,
                runtime_cb cb, void *ud, char *err, size_t errlen);

/* Resume a conversation handed off to a person (at its handoff step's
 * next). cb runs once, later. 0, or AH_EINVAL with err. */
int runtime_resume(runtime *rt, const char *conversation_id, runtime_cb cb, void *ud, char *err,
                   size_t errlen);

/* The REST channel: msg {"user", "text"?, "payload"?, "name"?, "language"?}
 * from a person to agent_id, published durably on message.in (with
 * idempotency_key, may be NULL) and handled like any channel's. cb runs
 * once: when the agent has answered, or after wait_ms with status
 * AH_ETIMEDOUT (the message is in; the answer comes later: read it from the
 * conversation), or with the publish's failure. 0, or AH_EINVAL with err. */
int runtime_rest_message(runtime *rt, const char *agent_id, const json_t *msg,
                         const char *idempotency_key, uint32_t wait_ms, runtime_cb cb, void *ud,
                         char *err, size_t errlen);

/* A channel served by the host itself (the web chat): msg {"user",
 * "text"?, "payload"?, "name"?, "language"?, "attachments"?} from a
 * person to agent_id, published durably on message.in as channel kind
 * and instance (with idempotency_key, may be NULL). cb runs once, after
 * the publish's commit: status 0 (stop "accepted"; the agent answers
 * later: runtime_watch), or the failure. 0, or AH_EINVAL with err. */
int runtime_channel_message(runtime *rt, const char *kind, const char *inst, const char *agent_id,
                            const json_t *msg, const char *idempotency_key, runtime_cb cb, void *ud,
                            char *err, size_t errlen);

/* After each turn's commit: the conversation as written (borrowed). */
typedef void (*runtime_watch_fn)(void *ud, const char *conv_id, const json_t *conv);
/* One watcher (the web chat); fn NULL stops watching. */
void runtime_watch(runtime *rt, runtime_watch_fn fn, void *ud);

/* While a turn of a conversation on a channel of kind `kind` runs: a
 * streamed partial of an LLM call ({"delta": "..."}, or {"restart": true}
 * when the model failed and another starts over), for instance and chat
 * (the conversation's channel), stream naming the call. Only channels
 * whose kind is watched stream: LLM chat calls of their conversations ask
 * the plugin for a stream. */
typedef void (*runtime_partial_fn)(void *ud, const char *instance, const char *chat,
                                   const char *stream, const json_t *partial);
/* One watcher, for one channel kind (the web chat); fn NULL stops it. */
void runtime_watch_partials(runtime *rt, const char *kind, runtime_partial_fn fn, void *ud);

/* A trigger was written or deleted (after its commit): an on_event
 * trigger's consumer is opened, kept, or deleted (rt_events.c). */
void runtime_trigger_changed(runtime *rt, const char *trigger_id);

/* A new object for /ready and the API: {"running", "queued", "timers"}. */
json_t *runtime_status(const runtime *rt);

#endif
