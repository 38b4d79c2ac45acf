/*
 * simulate.h - a scenario walked through with nobody real on the other
 * side: the interpreter's turns (host/engine/run.h) over a conversation
 * held in memory, for an editor to see what an agent would say, which
 * steps it would take and what its variables would hold.
 *
 * What a simulation reaches (its run_env, sim_env.c):
 *   jq            the real expression workers: a hostile expression is cut
 *                 by their deadline and reported as its step's error
 *   plugin steps  canned answers by step kind ("llm.chat"), tools by
 *   and tools     "instance.action" or the action's name: a result object,
 *                 a list of them used in order, or {"error": {"code",
 *                 "message"}} to fail; with none, the call fails with
 *                 "no canned answer for X" (the step's on_error runs)
 *   http.request  canned answers by "METHOD url", else "http.request":
 *                 {"status" (200), "headers", "body"}
 *   tools' specs  the real manifests for instances that exist, else
 *                 answers.tools["instance.action"] ({description, parameters})
 *   call_agent    other agents' saved scenarios, read only
 *   delays        none: a retry's backoff is immediate
 * Nothing is written: no conversation, contact, bus event, engine log
 * (events.log, agent_launch.log, locale_errors.log) or metric; no plugin
 * is called and no request leaves the host.
 *
 * A simulation keeps its own clock, starting at the real time: a wait or
 * a question's timeout sets a timer that fires when a message advances
 * the clock past it ({"advance_ms": N}) or asks for it ({"timer": true}).
 *
 * Messages, as sim_send takes them (each its own turn):
 *   {"text", "payload"?}   the person writes (or presses a button)
 *   {"advance_ms": N}      the clock moves on N ms; a timer now due fires
 *   {"timer": true}        the clock moves to the timer set, which fires
 *   {"resume": true}       an operator resumes a conversation handed off
 * The conversation starts, as an agent run does, before the first message:
 * the agent speaks first.
 *
 * Sessions: a simulation kept by the runtime between requests (for an
 * admin UI walking a scenario step by step), owned by the token that made
 * it, at most runtime_opts.sim_sessions at once, gone after sim_idle_ms
 * unused. Everything runs on the loop thread.
 */
#ifndef AH_RUNTIME_SIMULATE_H
#define AH_RUNTIME_SIMULATE_H

#include "runtime/runtime.h"

#include <jansson.h>
#include <stdint.h>

typedef struct sim sim;

#define SIM_MAX_MESSAGES 100  /* in one sim_send */
#define SIM_MAX_TURNS 500     /* in one simulation */
#define SIM_DEADLINE_MS 30000 /* one sim_send's turns: the rest are left, said so */
#define SIM_MAX_TEXT 16384    /* bytes of a message's text or payload */
#define SIM_DRAFT_ID "draft"  /* the scenario_id a draft runs as */

typedef struct sim_opts {
    const char *agent_id;    /* required: the agent simulated */
    json_int_t version;      /* its scenario's version; 0: the agent's own */
    const json_t *draft;     /* unsaved content (checked by the caller), or NULL */
    const json_t *answers;   /* canned answers, or NULL (none) */
    const json_t *variables; /* input variables, or NULL */
    const char *language;    /* NULL: the agent's default, else the scenario's */
} sim_opts;

/* A new simulation of o's agent (everything in o is copied). 0; or with
 * err: AH_ENOTFOUND (no agent, no such version), AH_EINVAL (answers or
 * variables not valid: err starts with the field), AH_ECLOSED (the engine
 * stops), AH_ENOMEM. */
int sim_new(runtime *rt, const sim_opts *o, sim **out, char *err, size_t errlen);

/* Runs once a sim_send's turns are done (status 0: read sim_report), or
 * with AH_ECLOSED ("unavailable") when the engine stops meanwhile. */
typedef void (*sim_cb)(void *ud, sim *s, int status, const char *code, const char *message);

/* Run messages (an array, borrowed; may be empty: the start alone), each
 * a turn, in order; cb runs once, later. 0; or with err: AH_EINVAL (a
 * message not valid: "messages[2]: ..."), AH_EBUSY (a send is running),
 * AH_ETOOBIG (past SIM_MAX_TURNS), AH_ECLOSED. */
int sim_send(sim *s, const json_t *messages, sim_cb cb, void *ud, char *err, size_t errlen);

/* What the simulation came to, from turn `from` on (a new object):
 * {"transcript": [{"from": "user"|"agent", "text", ...}], "turns": [{"input",
 * "wake", "path", "calls", "variables", "state", "step", "stop", "error"?,
 * "timer"?, "events"}], "events", "state", "step", "outcome", "variables",
 * "clock_ms", "incomplete"?}. */
json_t *sim_report(const sim *s, size_t from);
size_t sim_turn_count(const sim *s);
const char *sim_id(const sim *s);

/* Free s: now, or when its send ends (its cb runs first). */
void sim_free(sim *s);

/* Keep s as a session owned by owner (a token id): 0, or AH_EBUSY (the
 * sessions are all taken, err says so). The runtime owns s from then on. */
int sim_session_add(runtime *rt, sim *s, const char *owner, char *err, size_t errlen);
/* owner's session id, its idle time restarted; NULL when there is none
 * (ended, expired, or another owner's). */
sim *sim_session_get(runtime *rt, const char *id, const char *owner);
/* End owner's session id: 0, or AH_ENOTFOUND. */
int sim_session_del(runtime *rt, const char *id, const char *owner);

#endif
