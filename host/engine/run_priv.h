/*
 * run_priv.h - the interpreter's internals, shared by run.c (the turn:
 * moving from step to step, errors, retries, waits, the end),
 * run_input.c (an answer to ask, choice or wait) and run_action.c (steps
 * that call out: plugins, llm.chat and its tools, http.request,
 * call_agent, and jq mappings).
 */
#ifndef AH_ENGINE_RUN_PRIV_H
#define AH_ENGINE_RUN_PRIV_H

#include "engine/run.h"

#include <stdarg.h>

/* What a step's handler leaves the turn to do. */
typedef enum st_rc {
    ST_NEXT,  /* go on with t->st->cur (NULL: the scenario ends there) */
    ST_ASYNC, /* a callback goes on later (run_resume) */
    ST_STOP,  /* the turn stopped (done has run) */
} st_rc;

/* What runs when a list of jq mappings is evaluated (run_map). */
typedef st_rc (*run_kont)(run_turn *t);

struct run_state {
    const char *cur;    /* the step to run next (a key of scenario.steps) */
    const json_t *step; /* the step running */
    int steps;          /* steps run this turn */
    int attempt;        /* of the running step, from 1 */
    int64_t started_ns; /* when the running step began */
    bool entry_open;    /* the path's last entry is not closed yet */
    json_t *result;     /* the last action's answer (context .result) */
    json_t *ctx;        /* the context an expression in flight reads */
    json_t *map_keys;   /* run_map: [[name, program], ...] */
    size_t map_i;
    json_t *mapped;     /* run_map's values so far */
    run_kont kont;      /* run_map's continuation */
    json_t *chat;       /* llm.chat: the messages so far */
    json_t *chat_args;  /* llm.chat: the arguments (with tools) */
    int tool_calls;     /* llm.chat: tool calls made */
    json_t *tool_queue; /* llm.chat: calls still to make */
    size_t tool_i;
    json_t *loaded;   /* call_agent: the scenario loaded */
    json_t *scenario; /* the reference t->scenario points at */
    bool stopped;
    /* hooks (run_hooks.c) */
    const char *hook_point; /* running: "on_message", "before_step", "after_step" */
    size_t hook_i;          /* the agent's hook being called */
    run_kont hook_kont;     /* what runs when the point's hooks are done */
    json_t *hook_args;      /* what they are told */
    int64_t hook_ns;        /* when the hook was called */
    json_t *input;          /* the input as an on_message hook changed it (t->input) */
    json_t *closed;         /* after_step: the steps closed, not told yet */
    bool before_told;       /* the running step's before_step hooks were called */
    bool message_told;      /* the on_message hooks were called */
    run_stop stop;          /* a turn stopping once the after_step hooks are told */
    char *stop_error;
};

/* ---- run.c ---------------------------------------------------------------- */

const json_t *run_step_of(const run_turn *t, const char *id);
uint64_t run_mono_ns(void); /* CLOCK_MONOTONIC in ns */
json_t *run_vars(run_turn *t);
json_t *run_engine_field(run_turn *t); /* conv.engine, made when missing */
const char *run_lang(const run_turn *t);
/* The step's timeout for a call out (timeout_ms, settings, default). */
uint32_t run_step_timeout(const run_turn *t, const json_t *step);
/* Fail the running step: retry, its on_error, or the fallback. */
st_rc run_fail(run_turn *t, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Leave the running step for next (NULL: the scenario ends). */
st_rc run_go(run_turn *t, const char *next);
/* A callback's outcome: ST_NEXT goes on with the turn. */
void run_resume(run_turn *t, st_rc rc);
/* Pick and render a text in the conversation's language; NULL with the
 * step failed (*rc) when it cannot be rendered. what names it in errors. */
char *run_render(run_turn *t, const json_t *text, const char *what, st_rc *rc);
/* Render every string leaf of v (args, an HTTP body): a new value, or
 * NULL with the step failed. */
json_t *run_render_leaves(run_turn *t, const json_t *v, const char *what, st_rc *rc);
/* Send a message (text owned, may be NULL; buttons and attachments new
 * references, may be NULL). */
void run_say(run_turn *t, char *text, json_t *buttons, json_t *attachments);
/* The continue_in step (run_continue.c). */
st_rc run_continue_in(run_turn *t, const json_t *step);
/* Append a message (stolen) to the conversation's, numbered (message_seq),
 * the last RUN_MESSAGES_KEPT kept. */
void run_keep_message(run_turn *t, json_t *m);
/* The step's buttons, rendered: a new array, NULL with none or on failure
 * (*rc set to the failure; ST_NEXT otherwise). */
json_t *run_buttons(run_turn *t, const json_t *buttons, st_rc *rc);
/* Wait at the running step (state "waiting"), with a timer due at due_ms
 * (0: none) of kind ("wait", "timeout"). Stops the turn. */
st_rc run_wait(run_turn *t, int64_t due_ms, const char *kind);
/* Set a variable (its value is taken). */
/* Store value (stolen) into a variable, or into the contact's profile for
 * a contact.* target (run_profile_set): 0, or -1 with why. */
int run_set_var(run_turn *t, const char *name, json_t *value, char *why, size_t n);

/* An outside record's id as a string: a string of 1 to 64 characters as
 * it is, an integer in decimal; else NULL. A new reference. */
json_t *run_id_string(const json_t *v);

/* run_profile.c: set a contact.* target (scenario_profile_target) into
 * t->profile, checked as the contact's schema checks it (value stolen): 0,
 * or -1 with why. */
int run_profile_set(run_turn *t, const char *name, json_t *value, char *why, size_t n);
/* Add an event to publish (body taken). */
void run_event(run_turn *t, const char *topic, json_t *body);
/* An event of the conversation's stream, its common fields filled in. */
json_t *run_conv_event(run_turn *t, const char *type);
/* End the scenario (or return to the agent that called it). */
st_rc run_end(run_turn *t, const char *outcome, const char *reason);

/* ---- run_hooks.c: the agent's hooks ---------------------------------------- */

/* Whether a hook of the agent is called at point. */
bool run_hooks_want(const run_turn *t, const char *point);
/* Call the hooks at point, one by one, telling each args (taken; NULL: {})
 * with the point, the agent, the conversation, the input and the
 * variables; then kont. ST_ASYNC. */
st_rc run_hooks(run_turn *t, const char *point, json_t *args, run_kont kont);

/* ---- run_input.c: an answer to the step waiting ------------------------------- */

/* Handle t->input at the waiting step (ask, choice, wait for input). */
st_rc run_answer(run_turn *t, const json_t *step);
/* Send an ask's or a choice's question and wait. */
st_rc run_ask(run_turn *t, const json_t *step);

/* ---- run_action.c: steps that call out ------------------------------------- */

/* switch, set, wait (until), trigger, call_agent, http.request, llm.chat,
 * plugin steps: ST_ASYNC, or a failure. */
st_rc run_action(run_turn *t, const json_t *step, const char *kind);
/* Evaluate mapping ({name: program}) over the context one by one into
 * t->st->mapped, then run kont. */
st_rc run_map(run_turn *t, const json_t *mapping, run_kont kont);
/* Leave a sub-scenario for its caller (call_agent), mapping its output. */
st_rc run_return(run_turn *t);
/* The truth of a jq result: its first output is neither false nor null. */
bool run_truthy(const json_t *outputs);

#endif
