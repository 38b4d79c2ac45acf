/*
 * scenario_check.h - a scenario's content checked before it is saved, as
 * the versions route does it: scenario_validate (every problem the host can
 * see: the schema, step kinds against the installed plugins and the
 * configured instances, targets, reachability, loops, languages,
 * templates, variables), then every jq program compiled by the expression
 * pool (expr_check), each distinct program once, a few at a time. All the
 * problems come back together, validation's first, then the expressions'
 * in the content's order, each {"path", "message"}.
 *
 * What an expression's check can answer:
 *   compiles                      nothing
 *   "compile" (jq's message)      a problem of the content: "jq: ..."
 *   timeout, memory, output,      a problem of the content too (compiling
 *   crashed, invalid, too_large   it misbehaved): "jq could not compile
 *                                 it: timeout: ..."
 *   busy, unavailable, or no      the expression was not checked: "not
 *   pool at all (no jq plugin,    checked: ..."; a scenario is saved only
 *   expressions.workers 0)        when all of its expressions were
 * The outcome (scn_outcome) is SCN_INVALID when the content has a problem
 * (422), SCN_UNCHECKED when its only problems are expressions not checked
 * (503: try again when the pool serves), SCN_VALID when it has none.
 */
#ifndef AH_API_SCENARIO_CHECK_H
#define AH_API_SCENARIO_CHECK_H

#include <jansson.h>

typedef struct registry registry;
typedef struct supervisor supervisor;
typedef struct expr_pool expr_pool;

typedef enum scn_outcome { SCN_VALID = 0, SCN_INVALID, SCN_UNCHECKED } scn_outcome;

/* Runs exactly once: with the problems (an array, borrowed for the call). */
typedef void (*scn_checked_fn)(void *ud, scn_outcome outcome, const json_t *errors);

/* Expression checks running at once for one save. */
#define SCN_CHECK_WINDOW 4

/* Check content (borrowed; kept unchanged until done runs). reg, sup and
 * pool may be NULL (no plugins, no instances, no pool). done runs later,
 * from the loop, or before this returns when there is no expression to
 * check. 0, or AH_ENOMEM (done never runs). */
int scenario_check(const json_t *content, const registry *reg, supervisor *sup, expr_pool *pool,
                   scn_checked_fn done, void *ud);

/* Answer a check's problems: 422 invalid_scenario (SCN_INVALID) or 503
 * expressions_unavailable with Retry-After (SCN_UNCHECKED), the body
 * {"error": {"code", "message": "N problems", "errors": [...]}}. */
typedef struct http_req http_req;

void scenario_respond_problems(http_req *req, scn_outcome outcome, const json_t *errors);

#endif
