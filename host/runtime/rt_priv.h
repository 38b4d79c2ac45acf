/*
 * rt_priv.h - the runtime's internals, shared by its files:
 *   runtime.c   jobs: one turn each, one at a time per conversation
 *   rt_load.c   what a turn needs, read from the documents
 *   rt_commit.c the turn's outcome as one transaction (bus_commit)
 *   rt_env.c    what steps reach outside (run_env): jq, plugins, HTTP
 *   rt_record.c what a turn did, recorded on the bus for its replay
 *   rt_inbox.c  message.in and engine.start, the REST channel, timers
 *   rt_triggers.c schedules; rt_events.c on_event triggers' consumers
 *   simulate.c  simulations (simulate.h): turns over a conversation in memory
 *   sim_env.c   a simulation's run_env: real jq, canned plugins and HTTP
 */
#ifndef AH_RUNTIME_PRIV_H
#define AH_RUNTIME_PRIV_H

#include "broker/policy.h"
#include "core/strmap.h"
#include "engine/run.h"
#include "runtime/runtime.h"

#include <uv.h>

typedef enum rt_kind {
    JOB_MESSAGE, /* a person wrote (message.in) */
    JOB_START,   /* start an agent (the API's run, engine.start) */
    JOB_TIMER,   /* a waiting step's timer is due */
    JOB_RESUME,  /* an operator resumes a conversation handed off */
    JOB_DROP,    /* an input no turn takes: acknowledged, logged (error says why) */
} rt_kind;

/* Everything of the runtime's that the loop may still call back (a timer,
 * a job running): listed, so that runtime_free closes or frees what is
 * left and nothing fires into a runtime that is gone. */
typedef struct rt_link {
    struct rt_link *prev, *next;
    uv_timer_t *timer;              /* closed by runtime_free, or NULL (a job) */
    void (*closed)(uv_handle_t *h); /* frees the owner, calling nothing */
} rt_link;

void rt_link_add(runtime *rt, rt_link *l);
void rt_link_del(rt_link *l);
/* Run fn(ud) on the next loop pass, out of the caller's callback (a bus
 * delivery is registered only after its deliver callback returns); when
 * the runtime is freed first, drop(ud) runs instead. 0, or -1 (no memory:
 * neither runs). */
int rt_soon(runtime *rt, void (*fn)(void *ud), void (*drop)(void *ud), void *ud);

typedef struct rt_job rt_job;
struct rt_job {
    rt_link link; /* while it runs */
    runtime *rt;
    rt_kind kind;
    uint64_t delivery; /* the bus delivery to settle, or 0 */
    json_t *msg;       /* JOB_MESSAGE: the message.in body */
    json_t *input;     /* the turn's input: {text, payload, attachments, command} */
    json_t *identity;  /* who: {"channel", "id", "instance"?, "name"?, "language"?} */
    json_t *vars;      /* JOB_START: input variables */
    json_t *trigger;   /* how the conversation started (conversation.started) */
    json_t *ended;     /* an on_command restart: the open conversation, ended with it */
    json_t *exp_base, *ended_exp_base; /* their "experiment" before the turn (rt_commit.c) */
    json_t *last_vars;                 /* the variables as the last step left them (rt_record.c) */
    uint64_t ended_rev;
    char agent_id[40];
    char conv_id[40];
    char contact_id[40];
    char rest_request[40]; /* a REST channel waiter to answer */
    char from_conv[40];    /* JOB_START by a trigger step: the conversation it ran in */

    /* Loaded (rt_load.c). */
    json_t *agent, *contact, *conv, *scenario;
    uint64_t contact_rev, conv_rev;
    bool new_contact, new_conv;
    bool profile_changed; /* the turn set profile fields (contact.*) that differ */
    bool links_changed;   /* a step linked the contact to an outside record (contact.links) */
    bool ran;             /* its turn ran: it holds its conversation */
    bool link_turn;       /* a link code linked the sender (rt_link.c): no scenario step runs */
    /* Why the turn is tried again: a call refused for a while only (its
     * instance starting or restarting, rt_env.c); nothing of it is committed,
     * its input comes back from the bus. */
    char retry[200];
    json_t *unlinked; /* the contact the linked identity moved from, or NULL */
    uint64_t unlinked_rev;

    run_turn turn;
    run_stop stop;
    char error[600];
    json_t *sent; /* the message.out bodies, in order */
    doc_op *op;
    uint64_t started_ns;

    runtime_cb cb; /* the API's, or NULL */
    void *cb_ud;
    rt_job *next; /* in a conversation's queue */
};

/* A conversation some job holds: the jobs waiting behind it. */
typedef struct rt_busy {
    rt_job *head, *tail;
    size_t n;
} rt_busy;

/* Inputs a conversation took in the current minute. */
typedef struct rt_flood {
    int64_t minute;
    uint32_t n;
} rt_flood;

/* A REST channel request waiting for its answer. */
typedef struct rt_waiter {
    runtime *rt;
    char id[40];
    runtime_cb cb;
    void *ud;
    uv_timer_t timer;
    bool answered;
} rt_waiter;

struct runtime {
    runtime_deps d;
    runtime_opts o;
    run_env env;
    bus_consumer *inbox;
    strmap busy;      /* conversation id -> rt_busy */
    strmap waiters;   /* REST request id -> rt_waiter */
    strmap flood;     /* conversation id -> rt_flood */
    strmap firing;    /* trigger id -> its id (malloc'd): a schedule's run being committed */
    strmap evtrgs;    /* on_event trigger id -> its consumer (rt_events.c) */
    strmap scenarios; /* "scn_id:version" -> content (json_t *) */
    size_t nscenarios;
    strmap told;     /* missing translations already logged: "path@lang" */
    rt_link handles; /* the list's head */
    egress_policy http_pol;
    egress_client http_client;
    uv_timer_t scan;
    bool scan_open, stopped;
    size_t running, queued;
    struct sim *sims;       /* every simulation alive (simulate.c) */
    strmap sessions;        /* simulation session id -> sim */
    runtime_watch_fn watch; /* runtime_watch's */
    void *watch_ud;
    runtime_partial_fn partials; /* runtime_watch_partials' */
    void *partials_ud;
    char partials_kind[32];
    uint64_t streams;       /* streamed calls made, for their names */
    bus_consumer *failover; /* message.failed (rt_failover.c) */
};

/* ---- runtime.c ---- */

rt_job *rt_job_new(runtime *rt, rt_kind kind);
void rt_job_free(rt_job *j);
/* Run j: load, wait for its conversation, run the turn, commit. Whatever
 * happens, j ends (its delivery settled or retried, its cb told). */
void rt_submit(rt_job *j);
/* End j with a failure before or instead of a turn (code, message). The
 * delivery is acknowledged (drop: nothing to do for it) or retried. */
void rt_fail(rt_job *j, bool retry, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* After the commit (or its failure): tell, log, free, start the next. */
void rt_finish(rt_job *j, int status, const char *code, const char *message);
bool rt_busy_has(runtime *rt, const char *conv_id);

/* ---- rt_load.c ---- */

/* Read what j needs (agent, contact, conversation, scenario): 0, or an
 * AH_E* code with j failed (rt_fail has run). */
int rt_load(rt_job *j);
/* The content of a scenario version (*version; 0: the latest, then set),
 * cached and borrowed from the cache until the next call; or NULL with err. */
const json_t *rt_scenario(runtime *rt, const char *scenario_id, json_int_t *version, char *err,
                          size_t errlen);

/* ---- rt_commit.c ---- */

/* Commit j's turn (run_turn's outputs in j->turn). */
void rt_commit(rt_job *j);

/* ---- rt_record.c: what a turn did, for its replay ---- */

#define RT_TURNS_TOPIC RUNTIME_TURNS_TOPIC
#define RT_RECORD_VALUE_MAX 8192        /* bytes of one recorded value (args, result, variables) */
#define RT_RECORD_CALLS_MAX 20          /* calls recorded per step */
#define RT_RECORD_TURN_MAX (256u << 10) /* bytes of a turn's record (then reduced) */

/* Note a call out of the running step in its path entry: {key (the
 * simulator's canned-answer key), instance, action, args}. A new reference
 * to the record for rt_record_answer, or NULL (no step open: not kept). */
json_t *rt_record_call(run_turn *t, const char *key, const char *inst, const char *action,
                       const json_t *args);
/* Its answer: result, or error and message; how long. rec (may be NULL)
 * is released. */
void rt_record_answer(json_t *rec, const json_t *result, const char *error, const char *message,
                      int64_t ms);
/* A step closed (its path entry): the variables after it, when changed. */
void rt_record_vars(rt_job *j, json_t *entry);
/* The turn as a turn.recorded event (a new object). */
json_t *rt_record_turn(rt_job *j, const char *at);

/* ---- rt_env.c ---- */

void rt_env_init(runtime *rt);
/* Tell t's cb later, from the loop (result taken; error NULL on success). */
void rt_tell_later(runtime *rt, run_turn *t, run_cb cb, json_t *result, const char *error,
                   const char *message);
/* run_env.load's answer, read now: {"agent_id", "scenario", "content"} (a
 * new reference), or NULL with err. Reads only. */
json_t *rt_load_ref(runtime *rt, const json_t *ref, char *err, size_t errlen);

/* ---- simulate.c ---- */

/* runtime_stop: simulations running are told the engine stops. */
void rt_sims_stop(runtime *rt);
/* runtime_free: every simulation freed. */
void rt_sims_free(runtime *rt);

/* ---- rt_inbox.c ---- */

int rt_inbox_open(runtime *rt, char *err, size_t errlen);
void rt_inbox_close(runtime *rt);
/* A REST channel request's answer, when j carried one. */
void rt_waiter_answer(rt_job *j, const runtime_outcome *o);
void rt_timers_start(runtime *rt);

/* ---- rt_link.c: cross-channel identity links ---------------------------------------- */

/* A message carrying a link code (docs/channels.md, Cross-channel): when
 * the code is valid for the message's channel instance, the sender's
 * identity moves to the code's contact (j->contact, j->unlinked), the code
 * is spent, and the code's conversation, when still open with this agent,
 * continues on this chat (j->conv, j->link_turn). 1 linked, 0 no code or a
 * code refused (logged to security.log; the message goes on as any
 * other), or an AH_E* code (the store failed). */
int rt_link_try(doc_txn *t, rt_job *j);
/* The turn's new link codes (run_turn's link_codes) into the contact
 * (contact.link_codes: the expired dropped, at most RT_LINK_CODES_MAX kept,
 * the newest). true when it changed. */
#define RT_LINK_CODES_MAX 5
bool rt_link_codes_apply(json_t *contact, const json_t *codes, const char *conv_id, int64_t now);
/* Whether chat {instance, chat_id} is one of the conversation's chats
 * (conversation.channels: those it moved across). */
bool rt_conv_on_chat(const json_t *conv, const char *inst, const char *chat);
/* Move the conversation to chat channel {kind, instance, chat_id}: its
 * channel, and the chat added to its channels. */
void rt_conv_move(json_t *conv, const json_t *channel);
/* The link turn: the agent's last message said again on the new chat. */
void rt_link_turn(rt_job *j);

/* ---- rt_commit.c, shared ---- */

/* A message the agent sent (a turn's, or one kept in the conversation) as
 * message.out on the conversation's channel, or m's own "channel". */
json_t *rt_outbound(const json_t *conv, const char *agent_id, const char *contact_id,
                    const json_t *m, const char *id, const char *at);
/* One line of logs/messages.log (extra fields may be NULL). */
void rt_log_message(const json_t *m, const char *direction, const char *agent_id,
                    const char *conv_id, const char *contact_id, const json_t *extra);

/* ---- rt_failover.c: message.failed ---------------------------------------------------- */

int rt_failover_open(runtime *rt, char *err, size_t errlen);
void rt_failover_close(runtime *rt);

/* ---- rt_triggers.c: schedules ------------------------------------------------------ */

/* Fire the on_schedule triggers that are due (called by the timer scan). */
void rt_triggers_scan(runtime *rt);

/* ---- rt_events.c: on_event triggers ------------------------------------------------ */

/* Open the consumers of the on_event triggers; delete those of triggers
 * gone. 0, or AH_E* with err (the triggers cannot be read). */
int rt_events_start(runtime *rt, char *err, size_t errlen);
/* Detach them (deliveries under way come again later). */
void rt_events_stop(runtime *rt);
void rt_events_free(runtime *rt);

#endif
