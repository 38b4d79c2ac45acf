/*
 * Agents at work over REST (host/runtime/runtime.h): the REST channel
 * (POST /api/v1/agents/{id}/messages: write to an agent as a person and
 * get its answer; GET to read what it said since), running an agent with
 * input variables (POST /api/v1/agents/{id}/run), and resuming a
 * conversation handed off to a person (POST /api/v1/conversations/{id}/resume).
 */
#include "core/util.h"
#include "model/collections.h"
#include "model/ids.h"
#include "runtime/runtime.h"
#include "api_priv.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_DEFAULT_MS 10000
#define WAIT_MAX_MS 60000

typedef struct eng_ctx {
    runtime *rt;
    docs *d;
} eng_ctx;

typedef struct eng_req {
    http_req *req;
    char agent[40];
    char user[260];
    int created; /* the status of a success: 200, or 201 for a run */
} eng_req;

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* What an agent sent, as the client sees it. */
static json_t *replies(const json_t *sent)
{
    json_t *out = json_array();
    size_t i;
    const json_t *m;
    json_array_foreach(sent, i, m)
    {
        json_t *r = json_object();
        static const char *const keep[] = {"id", "at", "text", "keyboard", "attachments"};
        for (size_t k = 0; k < sizeof(keep) / sizeof(keep[0]); k++)
            if (json_object_get(m, keep[k]))
                json_object_set(r, keep[k], json_object_get(m, keep[k]));
        json_array_append_new(out, r);
    }
    return out;
}

static void respond_unavailable(http_req *req, const char *code, const char *message)
{
    static const char *const retry[] = {"Retry-After: 1", NULL};
    http_respond_error_h(req, 503, code, message, NULL, retry);
}

static void answer_error(http_req *req, const runtime_outcome *o)
{
    static const struct {
        const char *code;
        int status;
    } map[] = {{"not_found", 404}, {"paused", 409},  {"conflict", 409},
               {"busy", 503},      {"dropped", 404}, {"unavailable", 503}};
    int status = 500;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (o->error && !strcmp(o->error, map[i].code)) status = map[i].status;
    if (o->error && !strcmp(o->error, "flooded")) { /* the chat's minute is spent */
        static const char *const wait[] = {"Retry-After: 60", NULL};
        http_respond_error_h(req, 429, "flooded", o->message ? o->message : "too many messages",
                             NULL, wait);
        return;
    }
    if (status == 503) {
        respond_unavailable(req, o->error, o->message ? o->message : o->error);
        return;
    }
    http_respond_error(req, status, o->error ? o->error : "failed",
                       o->message ? o->message : "the turn failed", NULL);
}

static void turn_answered(void *ud, const runtime_outcome *o)
{
    eng_req *a = ud;
    if (o->status == AH_ETIMEDOUT) {
        char poll[400];
        snprintf(poll, sizeof(poll), "/api/v1/agents/%s/messages?user=%s", a->agent, a->user);
        http_respond_json(a->req, 202,
                          json_pack("{s:s,s:s,s:s}", "status", "pending", "message",
                                    o->message ? o->message : "", "poll", poll));
    } else if (o->status) {
        answer_error(a->req, o);
    } else {
        json_t *body =
            json_pack("{s:s?,s:s?,s:s?,s:o}", "conversation_id", o->conversation_id, "contact_id",
                      o->contact_id, "state", o->state, "messages", replies(o->messages));
        if (o->state && !strcmp(o->state, "ended"))
            json_object_set(body, "outcome", json_object_get(o->conversation, "outcome"));
        http_respond_json(a->req, a->created, body);
    }
    free(a);
}

static eng_req *req_new(http_req *req, const route_params *p, int created)
{
    eng_req *a = calloc(1, sizeof(*a));
    if (!a) {
        http_respond_error(req, 503, "unavailable", "out of memory", NULL);
        return NULL;
    }
    a->req = req;
    a->created = created;
    const char *id = route_param(p, "id");
    snprintf(a->agent, sizeof(a->agent), "%s", id ? id : "");
    return a;
}

/* ---- the REST channel ------------------------------------------------------------ */

static void h_message(void *ctx, http_req *req, const route_params *p)
{
    eng_ctx *x = ctx;
    if (!id_valid(route_param(p, "id"), "agt")) {
        api_respond_not_found(req, "agent", route_param(p, "id"));
        return;
    }
    json_t *body;
    if (api_body_json(req, &body, NULL) < 0) return;
    const char *field = NULL, *why = NULL;
    const json_t *wait = json_object_get(body, "wait_ms");
    if (!json_is_object(body))
        why = "send a JSON object: {\"user\": \"...\", \"text\": \"...\"}";
    else if (wait && (!json_is_integer(wait) || json_integer_value(wait) < 0 ||
                      json_integer_value(wait) > WAIT_MAX_MS))
        why = "wait_ms: an integer from 0 to 60000", field = "wait_ms";
    const char *k;
    json_t *v;
    if (!why) json_object_foreach(body, k, v)
        {
            static const char *const known[] = {"user", "text",     "payload",
                                                "name", "language", "wait_ms"};
            bool ok = false;
            for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
                ok |= !strcmp(k, known[i]);
            if (!ok) {
                why = "unknown field", field = k;
                break;
            }
            if (strcmp(k, "wait_ms") != 0 && !json_is_string(v)) {
                why = "expected a string", field = k;
                break;
            }
        }
    if (why) {
        http_respond_error(req, 422, "invalid", why, field);
        json_decref(body);
        return;
    }
    eng_req *a = req_new(req, p, 200);
    if (!a) {
        json_decref(body);
        return;
    }
    snprintf(a->user, sizeof(a->user), "%s", str_of(body, "user") ? str_of(body, "user") : "");
    uint32_t wait_ms = wait ? (uint32_t)json_integer_value(wait) : WAIT_DEFAULT_MS;
    char err[300] = "";
    int rc = runtime_rest_message(x->rt, a->agent, body, http_req_header(req, "Idempotency-Key"),
                                  wait_ms, turn_answered, a, err, sizeof(err));
    json_decref(body);
    if (rc) {
        free(a);
        if (rc == AH_EINVAL)
            http_respond_error(req, 422, "invalid", err, strncmp(err, "text", 4) ? "user" : "text");
        else
            respond_unavailable(req, "unavailable", err);
    }
}

typedef struct poll_arg {
    const char *agent, *user, *after;
    json_t *out;
} poll_arg;

static int read_poll(doc_txn *t, void *ud)
{
    poll_arg *a = ud;
    char hex[65], contact[64] = "", conv_id[64] = "";
    contact_identity_hash(doc_txn_docs(t), "rest", a->user, hex);
    json_t *v = json_pack("[s]", hex);
    int rc = doc_find(t, COLL_CONTACTS, "by_identity", v, contact, sizeof(contact));
    json_decref(v);
    if (rc) return doc_fail(t, rc, "user", "no conversation with user %s", a->user);
    v = json_pack("[s,s]", a->agent, contact);
    rc = doc_first_id(t, COLL_CONVERSATIONS, "by_agent_contact", v, true, conv_id, sizeof(conv_id));
    json_decref(v);
    if (rc == AH_ENOTFOUND)
        return doc_fail(t, AH_ENOTFOUND, "user", "no conversation with this agent");
    if (rc) return rc;
    json_t *conv = NULL;
    rc = doc_get(t, COLL_CONVERSATIONS, conv_id, &conv, NULL);
    if (rc) return rc;
    json_t *msgs = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(conv, "messages"), i, m)
    {
        const char *at = str_of(m, "at");
        if (a->after && at && strcmp(at, a->after) <= 0) continue;
        json_array_append(msgs, m);
    }
    a->out = json_pack("{s:s,s:s,s:O?,s:o}", "conversation_id", conv_id, "contact_id", contact,
                       "state", json_object_get(conv, "state"), "messages", msgs);
    json_decref(conv);
    return 0;
}

static void h_poll(void *ctx, http_req *req, const route_params *p)
{
    eng_ctx *x = ctx;
    poll_arg a = {.agent = route_param(p, "id"),
                  .user = http_req_query(req, "user"),
                  .after = http_req_query(req, "after")};
    if (!a.user || !*a.user) {
        http_respond_error(req, 422, "invalid", "user: required (the REST channel's user)", "user");
        return;
    }
    doc_error e;
    int rc = docs_read(x->d, read_poll, &a, &e);
    if (rc == AH_ENOTFOUND) {
        http_respond_error(req, 404, "not_found", e.message, e.field[0] ? e.field : NULL);
        return;
    }
    if (rc) {
        http_respond_error(req, 503, "unavailable", e.message, NULL);
        return;
    }
    http_respond_json(req, 200, a.out);
}

/* ---- running and resuming ------------------------------------------------------------ */

static void h_run(void *ctx, http_req *req, const route_params *p)
{
    eng_ctx *x = ctx;
    json_t *body;
    if (api_body_json(req, &body, json_object()) < 0) return;
    const char *field = NULL, *why = NULL;
    const json_t *vars = json_object_get(body, "variables");
    const json_t *contact = json_object_get(body, "contact");
    if (!json_is_object(body))
        why = "send a JSON object: {\"variables\": {...}}";
    else if (vars && !json_is_object(vars))
        why = "expected an object", field = "variables";
    else if (contact &&
             !(json_is_object(contact) && (str_of(contact, "contact_id") ||
                                           (str_of(contact, "channel") && str_of(contact, "id")))))
        why = "expected {\"contact_id\"} or an identity {\"channel\", \"id\"}", field = "contact";
    const char *k;
    json_t *v;
    if (!why) json_object_foreach(body, k, v) if (strcmp(k, "variables") && strcmp(k, "contact"))
        {
            why = "unknown field", field = k;
            break;
        }
    if (why) {
        http_respond_error(req, 422, "invalid", why, field);
        json_decref(body);
        return;
    }
    eng_req *a = req_new(req, p, 201);
    char err[300] = "";
    if (a && runtime_run(x->rt, a->agent, contact, vars, turn_answered, a, err, sizeof(err))) {
        free(a);
        http_respond_error(req, 422, "invalid", err, NULL);
    }
    json_decref(body);
}

/* ---- firing a trigger (on_internal, or any by hand) ---------------------------------- */

static int read_trigger(doc_txn *t, void *ud)
{
    json_t **out = ud;
    const char *id = json_string_value(json_object_get(*out, "id"));
    json_t *doc = NULL;
    int rc = doc_get(t, COLL_TRIGGERS, id, &doc, NULL);
    if (rc == AH_ENOTFOUND) return doc_fail(t, rc, NULL, "no trigger %s", id);
    if (rc) return rc;
    json_decref(*out);
    *out = doc;
    return 0;
}

static void h_fire(void *ctx, http_req *req, const route_params *p)
{
    eng_ctx *x = ctx;
    const char *id = route_param(p, "id");
    if (!id_valid(id, "trg")) {
        api_respond_not_found(req, "trigger", id);
        return;
    }
    json_t *body;
    if (api_body_json(req, &body, json_object()) < 0) return;
    const json_t *vars = json_object_get(body, "variables");
    const char *k;
    json_t *v;
    const char *bad = json_is_object(body) ? NULL : "send a JSON object: {\"variables\": {...}}";
    if (!bad && vars && !json_is_object(vars)) bad = "variables: expected an object";
    if (!bad) json_object_foreach(body, k, v) if (strcmp(k, "variables")) bad = "unknown field";
    if (bad) {
        http_respond_error(req, 422, "invalid", bad,
                           vars && !json_is_object(vars) ? "variables" : NULL);
        json_decref(body);
        return;
    }
    json_t *trg = json_pack("{s:s}", "id", id);
    doc_error e;
    int rc = docs_read(x->d, read_trigger, &trg, &e);
    if (rc) {
        json_decref(trg);
        json_decref(body);
        http_respond_error(req, rc == AH_ENOTFOUND ? 404 : 503,
                           rc == AH_ENOTFOUND ? "not_found" : "unavailable", e.message, NULL);
        return;
    }
    if (json_is_false(json_object_get(trg, "enabled"))) {
        json_decref(trg);
        json_decref(body);
        http_respond_error(req, 409, "disabled", "the trigger is disabled", "enabled");
        return;
    }
    /* The trigger's variables, then the call's over them. */
    json_t *all = json_deep_copy(json_object_get(trg, "variables"));
    if (!all) all = json_object();
    json_object_update(all, vars ? (json_t *)vars : json_object());
    json_t *contact = str_of(trg, "contact_id")
                          ? json_pack("{s:s}", "contact_id", str_of(trg, "contact_id"))
                          : NULL;
    eng_req *a = req_new(req, p, 201);
    char err[300] = "";
    if (a) snprintf(a->agent, sizeof(a->agent), "%s", str_of(trg, "agent_id"));
    if (a && runtime_run(x->rt, a->agent, contact, all, turn_answered, a, err, sizeof(err))) {
        free(a);
        http_respond_error(req, 422, "invalid", err, NULL);
    }
    json_decref(contact);
    json_decref(all);
    json_decref(trg);
    json_decref(body);
}

static void resumed(void *ud, const runtime_outcome *o)
{
    eng_req *a = ud;
    if (!o->status && o->stop && !strcmp(o->stop, "idle")) {
        http_respond_error(a->req, 409, "not_handed_off",
                           "the conversation is not handed off to a person", NULL);
        free(a);
        return;
    }
    turn_answered(ud, o);
}

static void h_resume(void *ctx, http_req *req, const route_params *p)
{
    eng_ctx *x = ctx;
    if (!id_valid(route_param(p, "id"), "cnv")) {
        api_respond_not_found(req, "conversation", route_param(p, "id"));
        return;
    }
    eng_req *a = req_new(req, p, 200);
    char err[300] = "";
    if (a && runtime_resume(x->rt, route_param(p, "id"), resumed, a, err, sizeof(err))) {
        free(a);
        http_respond_error(req, 422, "invalid", err, NULL);
    }
}

static const route routes[] = {
    {"POST", "/api/v1/agents/{id}/messages", h_message, "agents:run",
     "The REST channel: write to an agent as a person and get its answer"},
    {"GET", "/api/v1/agents/{id}/messages", h_poll, "agents:run",
     "The REST channel: what a person and the agent said (?user=, ?after=)"},
    {"POST", "/api/v1/agents/{id}/run", h_run, "agents:run",
     "Start an agent's scenario in a new conversation with input variables"},
    {"POST", "/api/v1/conversations/{id}/resume", h_resume, "conversations:write",
     "Resume a conversation handed off to a person"},
    {"POST", "/api/v1/triggers/{id}/fire", h_fire, "agents:run",
     "Start a trigger's agent now, with its variables and the call's"},
};

int api_engine_routes(api_table *t, const api_deps *deps)
{
    eng_ctx *x = NULL;
    if (deps) {
        if (!deps->rt) return 0; /* no engine: no routes (tools listing them pass NULL deps) */
        if (!(x = calloc(1, sizeof(*x)))) return AH_ENOMEM;
        x->rt = deps->rt;
        x->d = deps->docs;
        int rc = api_table_own(t, x, free);
        if (rc) return rc;
    }
    return api_table_add(t, routes, sizeof(routes) / sizeof(routes[0]), x);
}
