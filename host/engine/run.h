/*
 * run.h - one turn of a conversation: the scenario's steps run from where
 * the conversation stands until one waits (for an answer, a time, a
 * human) or the conversation ends.
 *
 * A turn works on copies held in memory: the conversation document (its
 * state, variables, current step), what it sends (messages), the events
 * it publishes, and the timers it sets or cancels. Nothing is written:
 * the caller commits the outcome as one transaction (the live engine with
 * bus_commit, settling the input in the same commit), or shows it (the
 * simulator). A turn that fails part-way leaves the committed state as it
 * was; running it again gives the same outcome.
 *
 * What the engine keeps in the conversation for itself is its "engine"
 * field: the timer a waiting step set ({"step", "due_ms", "kind": "wait"
 * or "timeout"}), the count of invalid answers to the step waiting
 * ("attempts"), and, inside an agent called by call_agent, the callers
 * ("stack": [{"agent_id", "scenario", "step", "vars"}]) and the scenario
 * running ("active": {"agent_id", "scenario"}).
 *
 * Everything a step needs from outside comes through a run_env: jq
 * expressions, plugin actions, HTTP requests, delays. Every callback runs
 * later, from the loop, exactly once.
 */
#ifndef AH_ENGINE_RUN_H
#define AH_ENGINE_RUN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct run_turn run_turn;

/* An outcome from outside: result on success (borrowed for the call), or
 * an error code and message. */
typedef void (*run_cb)(run_turn *t, const json_t *result, const char *error, const char *message);

typedef struct run_env {
    void *ud;
    /* The outputs of a jq program over input (kept unchanged until cb):
     * result is the array of outputs. */
    void (*eval)(void *ud, run_turn *t, const char *program, const json_t *input, run_cb cb);
    /* A plugin's action. A step kind ("rag.search") names the action its
     * plugin declares for it; with kind NULL, action is named (a tool).
     * instance may be NULL: the one instance of the plugin. */
    void (*call)(void *ud, run_turn *t, const char *kind, const char *instance, const char *action,
                 const json_t *args, uint32_t timeout_ms, run_cb cb);
    /* The function definitions ({name, description, parameters}) of
     * llm.chat's tools ([{instance, action}]): a new array, one for each
     * in their order, or NULL with err (an instance or action that does
     * not exist). */
    json_t *(*tools)(void *ud, run_turn *t, const json_t *tools, char *err, size_t errlen);
    /* An HTTP request {method, url, headers: {...}, body}: result is
     * {status, headers, body}. */
    void (*http)(void *ud, run_turn *t, const json_t *request, uint32_t timeout_ms, run_cb cb);
    /* A scenario to run: {"agent": ID or name} (call_agent) or
     * {"scenario_id", "version"} (back to a caller): result is {"agent_id",
     * "scenario": {"scenario_id", "version"}, "content"}. */
    void (*load)(void *ud, run_turn *t, const json_t *ref, run_cb cb);
    /* Call cb (with no result) after ms: a retry's backoff. */
    void (*delay)(void *ud, run_turn *t, uint32_t ms, run_cb cb);
    /* Told of each step run (events.log) and of each text sent in the
     * default language for want of the conversation's (locale_errors.log);
     * may be NULL. */
    void (*log_step)(void *ud, run_turn *t, const json_t *entry);
    void (*missing_text)(void *ud, run_turn *t, const char *path, const char *lang);
} run_env;

/* Why a turn stopped. */
typedef enum run_stop {
    RUN_WAITING = 0, /* a step waits: for an answer, a time, an operator */
    RUN_ENDED,       /* the conversation ended (its outcome is set) */
    RUN_IDLE,        /* nothing to do: a message to a conversation handed off */
} run_stop;

/* What wakes the conversation this turn. */
typedef enum run_wake {
    RUN_WAKE_START = 0, /* a new conversation, from the scenario's start */
    RUN_WAKE_MESSAGE,   /* input: a message from the contact */
    RUN_WAKE_TIMER,     /* timer: a wait or a timeout is due */
    RUN_WAKE_RESUME,    /* an operator resumes a conversation handed off */
} run_wake;

struct run_turn {
    /* Given by the caller (borrowed unless said otherwise). */
    json_t *scenario;      /* the active scenario's content (a reference is taken) */
    json_t *conv;          /* the conversation: changed in place */
    const json_t *contact; /* the contact ({id, profile}), or NULL */
    const json_t *agent;   /* the agent, or NULL */
    run_wake wake;
    const json_t *input;    /* RUN_WAKE_MESSAGE: {text, payload, attachments, command} */
    const char *timer_step; /* RUN_WAKE_TIMER: the step whose timer is due */
    int64_t now_ms;
    const run_env *env;
    /* Runs once when the turn stops. error: why the conversation failed
     * (it was then sent the fallback and ended), else NULL. */
    void (*done)(run_turn *t, run_stop stop, const char *error);
    void *ud;

    /* What the turn leaves (owned by the turn, freed by run_turn_clear). */
    json_t *messages;   /* sent: [{"text", "buttons"?, "attachments"?, "step"}] */
    json_t *events;     /* to publish: [{"topic", "key"?, "body"}] */
    json_t *path;       /* the steps run: [{"step", "kind", "ms", "attempt", "error"?}] */
    json_t *profile;    /* the contact's profile fields set (contact.* targets), NULL if none:
                           {"phone": "+7...", "attributes": {"k": v}}; null removes a field */
    json_t *links;      /* the contact's links to outside records made (run_turn_link), NULL if
                           none: [{"plugin", "instance", "id"}] */
    json_t *link_codes; /* codes a continue_in step offered, NULL if none: [{"hash" (hex of
                           the code's BLAKE2b), "channel", "instance", "expires_ms"}] */

    struct run_state *st; /* internal */
};

/* Run the turn; done runs once, later (or before this returns, when no step
 * had to wait on anything outside). t's outputs are reset first. */
void run_turn_start(run_turn *t);
/* Free what the turn holds (not what the caller gave). */
void run_turn_clear(run_turn *t);

/* Apply a turn's profile changes (run_turn's profile) to a contact's
 * profile object in place: attributes merged key by key, null removes. */
void run_profile_apply(json_t *profile, const json_t *changes);

/* The context expressions and templates see (a new object): vars,
 * contact, conversation, input, result, now. */
json_t *run_context(const run_turn *t);

/* Tell the turn a plugin action it asked for (its env's call) has been
 * answered: an integration.called event of the running step (none when no
 * step runs, as for an on_message hook) with the instance and action
 * called, result "ok", "error", "timeout" or "refused", how long it took,
 * and for an error its code and message. Committed with the turn. */
void run_turn_integration(run_turn *t, const char *instance, const char *action, const char *result,
                          int64_t ms, const char *code, const char *message);

/* Tell the turn a plugin step whose manifest declares `emits` has been
 * answered with result: the catalogue event it causes, committed with the
 * turn. Only "lead.created" (on platform.lead, keyed by the contact): its
 * lead is the result's lead_id, pipeline_id, status_id, price and url (the
 * step's price argument when the result has none); the crm, the plugin's
 * name and the instance. Nothing when the result has no lead_id. */
void run_turn_emit(run_turn *t, const char *type, const char *plugin, const char *instance,
                   const json_t *result);

/* Tell the turn a plugin step whose manifest declares `links_contact`
 * has been answered with result: the platform contact is linked to the
 * record result[field] names in that instance (a CRM contact's id, an
 * integer or a string of at most 64 characters), recorded with the turn
 * (contact.links: one link per instance, the latest kept). Nothing when
 * the result has no such id or the conversation has no contact. */
void run_turn_link(run_turn *t, const char *plugin, const char *instance, const char *field,
                   const json_t *result);
/* Apply a turn's links (run_turn's links) to a contact document in
 * place: one link per instance. true when the contact's links changed. */
bool run_links_apply(json_t *contact, const json_t *links);

/* ---- cross-channel continuation (run_continue.c) ---- */

/* A link code: "L", the contact id's 26 characters after "con_", and 22 of
 * base64url (16 random bytes): 49 characters of [A-Za-z0-9_-], as a
 * Telegram /start parameter must be. */
#define RUN_LINK_CODE_LEN 49
/* The code's hash as stored (contact.link_codes[].hash): 32 hex digits. */
void run_link_code_hash(const char *code, char hex[33]);
/* The first link code in text (a word of it), copied to out; false if none. */
bool run_link_code_find(const char *text, char out[RUN_LINK_CODE_LEN + 1]);

#define RUN_MAX_STEPS_PER_TURN 100 /* settings.max_steps_per_turn's default */
#define RUN_STEP_TIMEOUT_MS 30000  /* settings.step_timeout_ms's default */
#define RUN_MESSAGES_KEPT 50       /* the conversation's messages: the last ones */

#endif
