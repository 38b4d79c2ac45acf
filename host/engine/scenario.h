/*
 * scenario.h - checking a scenario's content when it is saved
 * (docs/scenario-format.md; its schema docs/schemas/scenario-content.json,
 * embedded in the binary).
 *
 * scenario_validate reports EVERY problem it finds, each as
 * {"path", "message"}: the path names the value in the content the way
 * the schema's errors do ("steps.ask_email.validate.pattern",
 * "steps.route.cases[0].next", "steps.greet.text.ru"; "" is the content
 * itself), at most one problem per path (the first found; a step in a
 * loop may have one more), at most SCENARIO_MAX_ERRORS in all. What it
 * checks:
 *   - the schema, value by value (the schema validator stops at its first
 *     error: the check walks objects and arrays itself so that every
 *     field's problem is reported), each step against its kind's schema;
 *   - step ids ([a-z][a-z0-9_]{0,63}), variable names
 *     ([A-Za-z][A-Za-z0-9_]{0,63}), each variable's default of its type,
 *     default_language among languages;
 *   - step kinds: a built-in kind, or one an installed plugin declares
 *     (env); a plugin step's instance is a configured instance of that
 *     plugin, or, without one, the plugin has exactly one; llm.chat's
 *     tools name configured instances and actions their plugins declare;
 *   - targets (next, on_error, on_invalid, on_timeout, default, an
 *     option's next, a case's next) and start name steps that exist;
 *   - every step is reachable from start (through any target);
 *   - no loop runs without waiting: a cycle of steps none of which waits
 *     for input (ask, choice, wait with "for": "input", handoff) is an
 *     error at its first step in the content's order;
 *   - texts: an object text has exactly the declared languages (a missing
 *     one is "steps.greet.text.ru"; an undeclared one too); every text
 *     and template (URLs, header values, string leaves of an HTTP body or
 *     of a plugin step's args) compiles (tmpl_check: "1:27: unknown
 *     filter ..."), and reads no undeclared variable (vars.NAME);
 *   - variables a step stores into (ask, choice and wait's var; the keys
 *     of result and call_agent's output) are declared in "variables" or
 *     assigned by some set step: an undeclared one is an error, not a
 *     warning (the engine lets steps set declared variables only);
 *   - what a schema cannot say: validate.pattern compiles (POSIX extended
 *     regex), min_length <= max_length, min <= max, a "choice" validation
 *     has choices; option ids are unique; a wait for a duration has
 *     duration_ms or until (not both), a wait for input neither; a
 *     trigger has agent or event (not both); an http.request url starts
 *     with http:// or https:// (or with a template tag).
 * jq programs are not compiled here (the host never links libjq): each is
 * appended to `expressions` as {"path", "program"} for the caller to check
 * with expr_check (steps.route.cases[0].if, steps.calc.set.total, ...).
 */
#ifndef AH_SCENARIO_H
#define AH_SCENARIO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define SCENARIO_FORMAT "agenthost.scenario/1"
#define SCENARIO_MAX_ERRORS 1000 /* then one more: "more problems not listed" */
#define SCENARIO_MAX_STEPS 1000
#define SCENARIO_MAX_DEPTH 64 /* nesting of an HTTP body or of args */

/* A step kind an installed plugin's manifest declares ("steps"). */
typedef struct scenario_plugin_step {
    const char *kind;   /* "llm.chat" */
    const char *plugin; /* the plugin declaring it: "llm-openai" */
    const char *action; /* the action it calls: "chat" */
} scenario_plugin_step;

/* A configured plugin instance. */
typedef struct scenario_instance {
    const char *id;        /* "llm" */
    const char *plugin;    /* "llm-openai" */
    const json_t *actions; /* its manifest's actions ([{"name"}]), borrowed; NULL: not checked */
} scenario_instance;

/* What is installed and configured, for plugin steps. All borrowed. */
typedef struct scenario_check_env {
    const scenario_plugin_step *steps;
    size_t nsteps;
    const scenario_instance *instances;
    size_t ninstances;
} scenario_check_env;

/* Check content (borrowed) against the format. Every problem is appended
 * to errors (an array) as {"path", "message"}; every jq program to
 * expressions (an array, or NULL) as {"path", "program"}. env NULL: no
 * plugin is installed. The content is valid when errors stays empty and
 * every expression compiles.
 * Returns 0 (whether or not problems were found), AH_EINVAL (errors is not
 * an array, or expressions neither NULL nor an array) or AH_ENOMEM. */
int scenario_validate(const json_t *content, const scenario_check_env *env, json_t *errors,
                      json_t *expressions);

/* Every text of content (borrowed) that a person may be sent, appended to
 * texts (an array) as {"path", "text"} in the order of the check (the
 * fallback, then the steps): "steps.ask.buttons[0].label", and the text a
 * string (the same in every language) or an object of language -> text.
 * 0, AH_EINVAL (texts not an array) or AH_ENOMEM. */
int scenario_texts(const json_t *content, json_t *texts);

/* Whether a name may be stored into: a variable name, a field of the
 * contact's profile (scenario_profile_target) or conversation.language
 * (the conversation's texts switch to that language). */
bool scenario_target(const char *name);

/* Whether a stored-into name is a field of the contact's profile:
 * contact.name, contact.phone, contact.email, contact.language or
 * contact.attributes.KEY (a set key, ask's var, a result mapping). */
bool scenario_profile_target(const char *name);

/* The content schema (docs/schemas/scenario-content.json), parsed once;
 * borrowed, never NULL unless out of memory. */
const json_t *scenario_schema(void);

#endif
