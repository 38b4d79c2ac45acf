/*
 * api_priv.h - what the route families share with api.c. Not a public
 * header.
 */
#ifndef AH_API_PRIV_H
#define AH_API_PRIV_H

#include "core/throttle.h"
#include "model/docs.h"
#include "store/tokens.h"
#include "api.h"

#include <jansson.h>
#include <stdbool.h>

/* The routes being gathered, each with its family's context. */
typedef struct api_table api_table;

/* Add n routes whose handlers get ctx. 0 or AH_ENOMEM. */
int api_table_add(api_table *t, const route *routes, size_t n, void *ctx);
/* Hand a family's context to the API: fn(ctx) runs when it stops (after
 * the server has stopped). 0, or AH_ENOMEM (fn has then run already). */
int api_table_own(api_table *t, void *ctx, void (*fn)(void *ctx));

/* fn(ctx) runs when the API stops, before the server stops (streams still
 * open end then). 0, or AH_ENOMEM. */
int api_table_before_stop(api_table *t, void *ctx, void (*fn)(void *ctx));

/* A route family: registers its routes. With deps NULL only the routes are
 * wanted (listing them): handlers then get a NULL context and nothing may
 * be started. 0, or a negative AH_E* code (AH_ENOMEM, the only one the
 * families return today). */
typedef int (*api_family_fn)(api_table *t, const api_deps *deps);
int api_system_routes(api_table *t, const api_deps *deps);
int api_instances_routes(api_table *t, const api_deps *deps);
int api_bots_routes(api_table *t, const api_deps *deps);
int api_bus_routes(api_table *t, const api_deps *deps);
int api_hooks_routes(api_table *t, const api_deps *deps);
int api_agents_routes(api_table *t, const api_deps *deps);
int api_scenarios_routes(api_table *t, const api_deps *deps);
int api_contacts_routes(api_table *t, const api_deps *deps);
int api_broadcasts_routes(api_table *t, const api_deps *deps);
int api_conversations_routes(api_table *t, const api_deps *deps);
int api_audit_routes(api_table *t, const api_deps *deps);
int api_integrations_routes(api_table *t, const api_deps *deps);
int api_engine_routes(api_table *t, const api_deps *deps);
int api_triggers_routes(api_table *t, const api_deps *deps);
int api_trigger_hooks_routes(api_table *t, const api_deps *deps);
int api_texts_routes(api_table *t, const api_deps *deps);
int api_versions_routes(api_table *t, const api_deps *deps);
int api_experiments_routes(api_table *t, const api_deps *deps);
int api_replay_routes(api_table *t, const api_deps *deps);
int api_simulate_routes(api_table *t, const api_deps *deps);
int api_events_routes(api_table *t, const api_deps *deps);
int api_webhooks_routes(api_table *t, const api_deps *deps);
int api_widgets_routes(api_table *t, const api_deps *deps);
int api_webchat_routes(api_table *t, const api_deps *deps);
int api_users_routes(api_table *t, const api_deps *deps);
int api_roles_routes(api_table *t, const api_deps *deps);
int api_auth_routes(api_table *t, const api_deps *deps);
int api_password_routes(api_table *t, const api_deps *deps);
int api_templates_routes(api_table *t, const api_deps *deps);
int api_migrate_routes(api_table *t, const api_deps *deps);
int api_2fa_routes(api_table *t, const api_deps *deps);
int api_invites_routes(api_table *t, const api_deps *deps);
int api_oidc_routes(api_table *t, const api_deps *deps);

/* A request with the web session cookie (api_auth.c): 1 with *who filled
 * (the user's current role); 0 when it carries no session cookie; -1 when
 * it was answered: 401 (unknown, expired or ended session: logout, password
 * change, deactivation) or 403 (a state-changing request without the
 * session's X-CSRF-Token). */
int api_session_principal(auth_sessions *s, docs *d, http_req *req, principal *who);

/* Start a web session for a user who has proven who they are: 200 with
 * the cookie and {user, session_id, csrf_token,
 * two_factor_enrolment_required}, logged and audited (api_auth.c). */
void api_login_session(auth_sessions *s, docs *d, http_req *req, bool tls, const json_t *user,
                       const char *user_id, const char *email, int64_t epoch);

/* The same for a user signed in through single sign-on (api_oidc.c): the
 * session is marked so (the provider's MFA stands for the second factor),
 * and the answer is 303 to location with the cookie. what (stolen, may be
 * NULL) goes into the audit entry. */
void api_sso_session(auth_sessions *s, docs *d, http_req *req, bool tls, const char *user_id,
                     const char *email, int64_t epoch, const char *location, json_t *what);

/* Automatic blocking of client addresses (api_block.c). NULL from
 * api_block_new when after is 0 (off) or out of memory; every function
 * takes NULL (nothing blocked). */
typedef struct api_block api_block;
api_block *api_block_new(unsigned after, unsigned window_s, unsigned for_s);
void api_block_free(api_block *b);
/* Count an unauthorised request from req's address; the after-th within
 * the window blocks it (logged to security.log, and kept in st when set:
 * api_block_keep). */
void api_block_note(api_block *b, http_req *req);
/* Keep blocks in st (api_persist.c): those stored before, still running,
 * are restored. */
void api_block_keep(api_block *b, store *st);
/* Block ip for remaining_ms more (a block kept from before a restart):
 * true, or false when it cannot be held. */
bool api_block_restore(api_block *b, const char *ip, int64_t remaining_ms);

/* Keeping sign-in state across restarts (api_persist.c): pending
 * second-factor sign-ins (restored now, each change stored from now on),
 * blocks (a block made now, until until_ms; restored). */
void api_keep_challenges(store *st, auth_sessions *s);
void api_persist_block(store *st, const char *ip, int64_t until_ms);
void api_keep_blocks(store *st, api_block *b);
/* When req's address is blocked: answered 403 address_blocked with
 * Retry-After, and true. */
bool api_block_refuse(api_block *b, http_req *req);

/* A line of logs/security.log from the sign-in routes: {event,
 * client_ip, user} and msg (api_access_audit.c). */
void api_security_log(http_req *req, int level, const char *event, const char *user,
                      const char *msg);

/* An access event ("auth.login_failed", "auth.denied") as an audit entry,
 * written with the next commit (api_access_audit.c): who (may be NULL:
 * then email names the account tried), what (stolen, may be NULL; the
 * client address is added). d NULL: nothing. */
void api_audit_access(docs *d, http_req *req, const char *action, const principal *who,
                      const char *email, json_t *what);

/* A read of personal data ("contact.read", "conversation.list") as an
 * audit entry naming who read what (coll and target: the document, or
 * "-" for a list; what, stolen, may be NULL: the client address is
 * added), written with the next commit (api_access_audit.c). d NULL:
 * nothing. */
void api_audit_read(docs *d, http_req *req, const char *action, const char *coll,
                    const char *target, json_t *what);
/* ---- grants per agent (api_scope.c) ---- */

/* Before the handler, for a caller holding the route's permission (perm)
 * only through grants: 1 when the route may run (an item of an agent the
 * grants cover, a missing item, a list to be filtered, a create to be
 * checked), 0 when the route is about no agent (refuse as usual), -1 when
 * answered (403 naming the agent, or 503). */
int api_scope_route(docs *d, http_req *req, const char *method, const char *pattern,
                    const route_params *p, const principal *who, int perm);
/* In a write of doc to coll: 0, or doc_fail's AH_EDENIED when the caller
 * holds the route's permission only through grants that do not cover the
 * agent the document is about (its agent_id; an agent's group_id). */
int api_scope_doc(doc_txn *t, http_req *req, const char *coll, const json_t *doc);
/* Drop from items (a list's page of coll) what the caller's grants do not
 * cover; true when the list was filtered (its total no longer holds). */
bool api_scope_filter(docs *d, http_req *req, const char *coll, json_t *items);
/* The caller's grants: [{"agent_id"|"agent_group_id", "permissions"}]. */
json_t *api_scope_grants_json(const principal *who);

/* The gauges /metrics refreshes from the modules, read through d (kept
 * by the caller until api_metrics_stop). */
void api_metrics_start(const api_deps *d);
void api_metrics_stop(const api_deps *d);

/* The webhook ingress publishes each request to "hooks.<instance>"; these
 * topics take no event from anywhere else (the topics API refuses them). */
#define API_HOOK_TOPIC_PREFIX "hooks."
/* Wrong webhook secrets: this many from one address for one instance
 * within the window, and that address waits (429) for that instance. */
#define API_HOOK_FAIL_LIMIT 10
#define API_HOOK_FAIL_WINDOW_MS 60000u

/* ---- helpers for handlers ---------------------------------------------------- */

/* Parse the request body as JSON. On failure the request is answered (400
 * with line and column, or 415 when a body comes without a Content-Type of
 * application/json) and -1 returned. An empty body gives `empty` (a new
 * reference) when not NULL, else 400; it needs no Content-Type. */
int api_body_json(http_req *req, json_t **out, json_t *empty);
/* True when a Content-Type is exactly application/json (any case, with or
 * without parameters such as "; charset=utf-8"). */
bool api_is_json_type(const char *content_type);
/* Whether content_type is exactly type (any case), parameters aside. */
bool api_is_media_type(const char *content_type, const char *type);
/* 429 too_many_requests with Retry-After: wait_s. */
void api_respond_throttled(http_req *req, unsigned wait_s, const char *message);

/* A request as JSON for an event: {"method", "path", "query", "headers",
 * "body"} (body: parsed when the Content-Type is JSON and it parses, else
 * the text, or "body_b64" for bytes that are not UTF-8; null when empty).
 * The Authorization and Cookie headers and credential_header (may be NULL)
 * are left out. A new reference, or NULL when out of memory. */
json_t *api_request_json(http_req *req, const char *path, const char *credential_header);

/* What checking and saving a scenario's content needs. */
typedef struct api_scenario_env {
    docs *d;
    const registry *reg;
    supervisor *sup;
    expr_pool *expr;
} api_scenario_env;

/* Check content (stolen) as a save is and write it as the next version of
 * scenario_id with message, audited as action ("scenario.rollback"); the
 * request is answered: 201 with the new version, 200 with the latest when
 * nothing changed, 422/503 with the problems (api_versions.c). */
void api_version_save(const api_scenario_env *env, http_req *req, const char *scenario_id,
                      json_t *content, const char *message, const char *action);
/* Add rs (n routes) with an api_scenario_env from deps as their context
 * (deps NULL: only listed). 0 or AH_ENOMEM. */
int api_scenario_env_routes(api_table *t, const api_deps *deps, const route *rs, size_t n);

/* What a simulation over REST needs (api_simulate.c). */
typedef struct api_sim_ctx {
    runtime *rt;
    const registry *reg;
    supervisor *sup;
    expr_pool *expr;
} api_sim_ctx;
/* What a simulation came to (report taken), for a caller that answers
 * the request itself. */
typedef void (*api_sim_finish)(void *ud, http_req *req, json_t *report);
/* Run a one-shot simulation of agent from body (POST .../simulate's,
 * taken): checked (a draft as a save is), run, then finish(ud, req,
 * report); failures are answered here. ud_free(ud) (may be NULL) runs
 * once the request is done with, whatever happened. */
void api_simulate_run(api_sim_ctx *x, http_req *req, const char *agent, json_t *body,
                      api_sim_finish finish, void *ud, void (*ud_free)(void *ud));

/* Answer 422 from a validator message "path: message". */
void api_respond_invalid(http_req *req, const char *code, const char *verr);

/* 404 naming what is missing ("no instance \"x\""). */
void api_respond_not_found(http_req *req, const char *what, const char *id);

#endif
