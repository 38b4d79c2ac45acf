/*
 * Simulations over REST (host/runtime/simulate.h): an agent's scenario, a
 * saved version or an unsaved draft, walked with canned plugin and HTTP
 * answers, writing nothing. POST /api/v1/agents/{id}/simulate runs a list
 * of messages and answers the whole walk; a session (POST
 * /api/v1/agents/{id}/simulations, then POST /api/v1/simulations/{id}/messages,
 * GET, DELETE) keeps one between requests for the admin UI, visible only
 * to the token that made it.
 */
#include "engine/scenario_yaml.h"
#include "model/ids.h"
#include "runtime/simulate.h"
#include "api_priv.h"
#include "scenario_check.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef api_sim_ctx sim_ctx;

/* One request: what it asked, until the simulation answers. */
typedef struct sim_req {
    sim_ctx *x;
    http_req *req;
    json_t *body;
    json_t *draft; /* the unsaved scenario, or NULL */
    char agent[48];
    char owner[16];
    bool session;          /* a session's start (201, kept) */
    bool one_shot;         /* /simulate: freed once answered */
    size_t from;           /* the first turn to answer */
    api_sim_finish finish; /* api_simulate_run's: answers instead */
    void *finish_ud;
    void (*finish_free)(void *ud);
} sim_req;

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void owner_of(http_req *req, char *out, size_t n)
{
    const principal *who = http_req_user(req);
    snprintf(out, n, "%s", who ? who->id : "");
}

static void req_free(sim_req *r)
{
    if (r->finish_free) r->finish_free(r->finish_ud);
    json_decref(r->body);
    json_decref(r->draft);
    free(r);
}

static void respond_code(http_req *req, int rc, const char *err)
{
    switch (rc) {
    case AH_ENOTFOUND:
        http_respond_error(req, 404, "not_found", err, NULL);
        return;
    case AH_EINVAL: {
        char field[80] = "";
        size_t n = strcspn(err, ":");
        if (err[n] == ':' && n < sizeof(field)) {
            memcpy(field, err, n);
            field[n] = '\0';
        }
        http_respond_error(req, 422, "invalid", err, field[0] ? field : NULL);
        return;
    }
    case AH_EBUSY:
        http_respond_error(req, 409, "busy", err, NULL);
        return;
    case AH_ETOOBIG:
        http_respond_error(req, 409, "too_many_turns", err, NULL);
        return;
    default: {
        static const char *const retry[] = {"Retry-After: 1", NULL};
        http_respond_error_h(req, 503, "unavailable", err, NULL, retry);
    }
    }
}

/* ---- the body ------------------------------------------------------------------ */

static const char *const START_FIELDS[] = {"version",   "scenario", "messages", "answers",
                                           "variables", "language", NULL};

static bool known(const char *k, const char *const *fields)
{
    for (size_t i = 0; fields[i]; i++)
        if (!strcmp(k, fields[i])) return true;
    return false;
}

/* Why a start's body is not valid (and its field), or NULL. */
static const char *check_start(const json_t *b, const char **field)
{
    if (!json_is_object(b)) return "send a JSON object: {\"messages\": [{\"text\": \"hi\"}]}";
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)b, k, v) if (!known(k, START_FIELDS))
    {
        *field = k;
        return "unknown field";
    }
    const json_t *ver = json_object_get(b, "version");
    const json_t *scn = json_object_get(b, "scenario");
    const json_t *lang = json_object_get(b, "language");
    if (ver && (!json_is_integer(ver) || json_integer_value(ver) < 1))
        return *field = "version", "a version number (1 or more)";
    if (scn && !json_is_object(scn) && !json_is_string(scn))
        return *field = "scenario", "the scenario's content: an object, or YAML as a string";
    if (scn && ver) return *field = "version", "give a version or a scenario (a draft), not both";
    if (lang && (!json_is_string(lang) || json_string_length(lang) > 35))
        return *field = "language", "a language tag (\"en\", \"ru\")";
    return NULL;
}

/* ---- answering --------------------------------------------------------------------- */

static void sent(void *ud, sim *s, int status, const char *code, const char *message)
{
    sim_req *r = ud;
    if (status) {
        static const char *const retry[] = {"Retry-After: 1", NULL};
        http_respond_error_h(r->req, 503, code ? code : "unavailable",
                             message ? message : "the simulation stopped", NULL, retry);
    } else {
        json_t *report = sim_report(s, r->from);
        if (!r->session) json_object_del(report, "id");
        if (r->finish)
            r->finish(r->finish_ud, r->req, report);
        else
            http_respond_json(r->req, r->session ? 201 : 200, report);
    }
    if (r->one_shot) sim_free(s);
    req_free(r);
}

/* Make the simulation (the draft checked already) and run the messages. */
static void start(sim_req *r)
{
    sim_opts o = {.agent_id = r->agent,
                  .version = json_integer_value(json_object_get(r->body, "version")),
                  .draft = r->draft,
                  .answers = json_object_get(r->body, "answers"),
                  .variables = json_object_get(r->body, "variables"),
                  .language = str_of(r->body, "language")};
    char err[400] = "";
    sim *s = NULL;
    int rc = sim_new(r->x->rt, &o, &s, err, sizeof(err));
    if (rc) {
        respond_code(r->req, rc, err);
        req_free(r);
        return;
    }
    const json_t *msgs = json_object_get(r->body, "messages");
    if (r->session && (rc = sim_session_add(r->x->rt, s, r->owner, err, sizeof(err)))) {
        sim_free(s);
        if (rc == AH_EBUSY)
            api_respond_throttled(r->req, 60, err);
        else
            respond_code(r->req, rc, err);
        req_free(r);
        return;
    }
    rc = sim_send(s, msgs, sent, r, err, sizeof(err));
    if (rc) {
        if (r->session)
            sim_session_del(r->x->rt, sim_id(s), r->owner);
        else
            sim_free(s);
        respond_code(r->req, rc, err);
        req_free(r);
    }
}

static void checked(void *ud, scn_outcome outcome, const json_t *errors)
{
    sim_req *r = ud;
    if (outcome != SCN_VALID) {
        scenario_respond_problems(r->req, outcome, errors);
        req_free(r);
        return;
    }
    start(r);
}

/* The draft as content: the object given, or its YAML read. NULL after
 * answering. */
static json_t *draft_of(http_req *req, const json_t *scn)
{
    if (json_is_object(scn)) return json_incref((json_t *)scn);
    json_t *content = NULL;
    char err[300];
    const char *text = json_string_value(scn);
    int rc = scenario_yaml_import(text, strlen(text), &content, err, sizeof(err));
    if (rc) {
        char msg[400];
        snprintf(msg, sizeof(msg), "malformed YAML at %s", err);
        http_respond_error(req, rc == AH_ENOMEM ? 503 : 422,
                           rc == AH_ENOMEM ? "no_memory" : "malformed_yaml", msg, "scenario");
        return NULL;
    }
    return content;
}

/* Check body (taken) and run it; finish (may be NULL) answers instead. */
static void run_body(sim_ctx *x, http_req *req, const char *agent, json_t *body, bool session,
                     api_sim_finish finish, void *ud, void (*ud_free)(void *ud))
{
    const char *field = NULL, *why = check_start(body, &field);
    sim_req *r = why ? NULL : calloc(1, sizeof(*r));
    if (!r) {
        if (why)
            http_respond_error(req, 422, "invalid", why, field);
        else
            http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        json_decref(body);
        if (ud_free) ud_free(ud);
        return;
    }
    *r = (sim_req){.x = x,
                   .req = req,
                   .body = body,
                   .session = session,
                   .one_shot = !session,
                   .finish = finish,
                   .finish_ud = ud,
                   .finish_free = ud_free};
    snprintf(r->agent, sizeof(r->agent), "%s", agent);
    owner_of(req, r->owner, sizeof(r->owner));
    const json_t *scn = json_object_get(body, "scenario");
    if (!scn) {
        start(r);
        return;
    }
    if (!(r->draft = draft_of(req, scn))) {
        req_free(r);
        return;
    }
    if (scenario_check(r->draft, x->reg, x->sup, x->expr, checked, r)) {
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        req_free(r);
    }
}

void api_simulate_run(api_sim_ctx *x, http_req *req, const char *agent, json_t *body,
                      api_sim_finish finish, void *ud, void (*ud_free)(void *ud))
{
    run_body(x, req, agent, body, false, finish, ud, ud_free);
}

static void begin(sim_ctx *x, http_req *req, const route_params *p, bool session)
{
    const char *agent = route_param(p, "id");
    if (!id_valid(agent, "agt")) {
        api_respond_not_found(req, "agent", agent);
        return;
    }
    json_t *body;
    if (api_body_json(req, &body, json_object()) < 0) return;
    run_body(x, req, agent, body, session, NULL, NULL, NULL);
}

static void h_simulate(void *ctx, http_req *req, const route_params *p)
{
    begin(ctx, req, p, false);
}

static void h_session_new(void *ctx, http_req *req, const route_params *p)
{
    begin(ctx, req, p, true);
}

/* ---- a session ------------------------------------------------------------------- */

static sim *session_of(sim_ctx *x, http_req *req, const route_params *p)
{
    char owner[16];
    owner_of(req, owner, sizeof(owner));
    sim *s = sim_session_get(x->rt, route_param(p, "id"), owner);
    if (!s) api_respond_not_found(req, "simulation", route_param(p, "id"));
    return s;
}

static void h_session_send(void *ctx, http_req *req, const route_params *p)
{
    sim_ctx *x = ctx;
    sim *s = session_of(x, req, p);
    if (!s) return;
    json_t *body;
    if (api_body_json(req, &body, NULL) < 0) return;
    /* {"messages": [...]}, or one message. */
    json_t *msgs = json_object_get(body, "messages");
    if (json_is_object(body) && msgs && json_object_size(body) == 1)
        json_incref(msgs);
    else
        msgs = json_pack("[O]", body);
    sim_req *r = calloc(1, sizeof(*r));
    if (!r) {
        json_decref(body);
        json_decref(msgs);
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        return;
    }
    *r = (sim_req){.x = x, .req = req, .body = body, .from = sim_turn_count(s)};
    char err[400] = "";
    int rc = sim_send(s, msgs, sent, r, err, sizeof(err));
    json_decref(msgs);
    if (rc) {
        respond_code(req, rc, err);
        req_free(r);
    }
}

static void h_session_get(void *ctx, http_req *req, const route_params *p)
{
    sim *s = session_of(ctx, req, p);
    if (s) http_respond_json(req, 200, sim_report(s, 0));
}

static void h_session_del(void *ctx, http_req *req, const route_params *p)
{
    sim_ctx *x = ctx;
    char owner[16];
    owner_of(req, owner, sizeof(owner));
    if (sim_session_del(x->rt, route_param(p, "id"), owner) != 0) {
        api_respond_not_found(req, "simulation", route_param(p, "id"));
        return;
    }
    http_respond(req, 204, NULL, NULL, 0, NULL);
}

static const route routes[] = {
    {"POST", "/api/v1/agents/{id}/simulate", h_simulate, "scenarios:simulate",
     "Walk an agent's scenario (a version or a draft) with canned answers: nothing is written"},
    {"POST", "/api/v1/agents/{id}/simulations", h_session_new, "scenarios:simulate",
     "Start a simulation session (kept in memory) for walking a scenario step by step"},
    {"POST", "/api/v1/simulations/{id}/messages", h_session_send, "scenarios:simulate",
     "Send messages to a simulation session: the turns they ran"},
    {"GET", "/api/v1/simulations/{id}", h_session_get, "scenarios:simulate",
     "A simulation session: its transcript, turns and variables"},
    {"DELETE", "/api/v1/simulations/{id}", h_session_del, "scenarios:simulate",
     "End a simulation session"},
};

int api_simulate_routes(api_table *t, const api_deps *deps)
{
    sim_ctx *x = NULL;
    if (deps) {
        if (!deps->rt) return 0; /* no engine: no routes */
        if (!(x = calloc(1, sizeof(*x)))) return AH_ENOMEM;
        *x = (sim_ctx){.rt = deps->rt, .reg = deps->reg, .sup = deps->sup, .expr = deps->expr};
        int rc = api_table_own(t, x, free);
        if (rc) return rc;
    }
    return api_table_add(t, routes, sizeof(routes) / sizeof(routes[0]), x);
}
