/*
 * /api/v1/conversations: an agent talking with a contact on a channel, and
 * its context (variables, language, current step) read and changed on its
 * own. Variables and messages are sealed with the contact's key.
 */
#include "core/util.h"
#include "model/collections.h"
#include "model/experiments.h"
#include "model/ids.h"
#include "api_docs.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MESSAGES_KEPT 50 /* the last messages a conversation keeps */

/* What this family uses. */
typedef struct conv_ctx {
    docs *d;
} conv_ctx;

static int must_exist(doc_txn *t, const char *coll, const char *id, const char *field,
                      const char *noun)
{
    json_t *d = NULL;
    int rc = id ? doc_get(t, coll, id, &d, NULL) : AH_ENOTFOUND;
    json_decref(d);
    if (rc == AH_ENOTFOUND) return doc_fail(t, AH_EINVAL, field, "no %s %s", noun, id ? id : "");
    return rc;
}

/* An agent and a contact that exist; times kept; the last messages only. */
static int conversation_prepare(res_change *c)
{
    json_t *doc = c->doc;
    const char *agent = json_string_value(json_object_get(doc, "agent_id"));
    const char *contact = json_string_value(json_object_get(doc, "contact_id"));
    int rc = 0;
    if (!c->old ||
        !json_equal(json_object_get(c->old, "agent_id"), json_object_get(doc, "agent_id")))
        rc = must_exist(c->t, COLL_AGENTS, agent, "agent_id", "agent");
    if (!rc && (!c->old || !json_equal(json_object_get(c->old, "contact_id"),
                                       json_object_get(doc, "contact_id"))))
        rc = must_exist(c->t, COLL_CONTACTS, contact, "contact_id", "contact");
    char now[40];
    ah_rfc3339_ms(doc_txn_now(c->t), now, sizeof(now));
    if (!c->old && !json_object_get(doc, "started_at"))
        json_object_set_new(doc, "started_at", json_string(now));
    json_object_set_new(doc, "last_activity_at", json_string(now));
    const char *state = json_string_value(json_object_get(doc, "state"));
    if (state && !strcmp(state, "ended") && !json_is_string(json_object_get(doc, "ended_at")))
        json_object_set_new(doc, "ended_at", json_string(now));
    json_t *msgs = json_object_get(doc, "messages");
    while (json_array_size(msgs) > MESSAGES_KEPT)
        json_array_remove(msgs, 0);
    /* Ended here rather than by a turn: its A/B test counts the end too. */
    const char *was = json_string_value(json_object_get(c->old, "state"));
    if (!rc && c->old && json_object_get(c->old, "experiment") && state &&
        !strcmp(state, "ended") && !(was && !strcmp(was, "ended")))
        rc = experiment_count_turn(c->t, json_object_get(c->old, "experiment"), doc, false, NULL);
    return rc;
}

static const res_filter conv_filters[] = {{"agent_id", "agent_id"},
                                          {"contact_id", "contact_id"},
                                          {"state", "state"},
                                          {"channel", "channel.instance"},
                                          {NULL, NULL}};
static const res_range conv_ranges[] = {
    {"last_activity", "last_activity_at"}, {"started", "started_at"}, {NULL, NULL}};
static const char *const conv_sorts[] = {"last_activity_at", "started_at", NULL};

/* The engine's own fields: what it keeps to run the conversation. */
static const char *const conv_read_only[] = {"engine", "wake_at", "experiment", NULL};

static const resource conversations_res = {
    .coll = COLL_CONVERSATIONS,
    .read_only = conv_read_only,
    .noun = "conversation",
    .plural = "conversations",
    .base = "/api/v1/conversations",
    .item = "/api/v1/conversations/{id}",
    .filters = conv_filters,
    .ranges = conv_ranges,
    .sorts = conv_sorts,
    .default_sort = "-last_activity_at",
    .defaults = "{\"state\": \"active\", \"variables\": {}, \"messages\": []}",
    .prepare = conversation_prepare,
    .audit_reads = true, /* the transcript */
};

/* ---- the context ------------------------------------------------------------------- */

typedef struct ctx_arg {
    conv_ctx *x;
    http_req *req;
    char id[ID_MAX];
    json_t *patch; /* NULL: read */
    uint64_t expect;
    json_t *result;
    uint64_t rev;
} ctx_arg;

/* What the context shows; an absent field is null, not missing. */
static json_t *context_of(const json_t *conv)
{
    static const char *const fields[] = {"variables", "state", "current_step", "language"};
    json_t *out = json_object();
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        json_t *v = json_object_get(conv, fields[i]);
        if (!v && !i)
            v = json_object();
        else if (!v)
            v = json_null();
        else
            json_incref(v);
        json_object_set_new(out, fields[i], v);
    }
    return out;
}

/* RFC 7386 over the variables: null removes one. */
static void merge_vars(json_t *vars, const json_t *patch)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)patch, k, v)
    {
        if (json_is_null(v))
            json_object_del(vars, k);
        else if (json_is_object(v) && json_is_object(json_object_get(vars, k)))
            merge_vars(json_object_get(vars, k), v);
        else
            json_object_set(vars, k, v);
    }
}

static int run_context(doc_txn *t, void *ud)
{
    ctx_arg *a = ud;
    json_t *conv = NULL;
    uint64_t have;
    int rc = doc_get(t, COLL_CONVERSATIONS, a->id, &conv, &have);
    if (rc == AH_ENOTFOUND) rc = doc_fail(t, rc, NULL, "no conversation %s", a->id);
    if (!rc && a->patch && a->expect && a->expect != have)
        rc = doc_fail(t, AH_ECONFLICT, NULL, "conversation %s is at revision %llu, not %llu", a->id,
                      (unsigned long long)have, (unsigned long long)a->expect);
    a->rev = have;
    if (!rc && a->patch) {
        json_t *before = json_deep_copy(conv);
        json_t *vars = json_object_get(conv, "variables");
        if (!json_is_object(vars)) json_object_set_new(conv, "variables", vars = json_object());
        merge_vars(vars, json_object_get(a->patch, "variables"));
        json_t *lang = json_object_get(a->patch, "language");
        if (json_is_null(lang))
            json_object_del(conv, "language");
        else if (lang)
            json_object_set(conv, "language", lang);
        res_stamp(conv, a->req, doc_txn_now(t), false);
        rc = doc_put(t, COLL_CONVERSATIONS, conv, have, &a->rev);
        audit_actor who = res_actor(a->req);
        if (!rc)
            rc = audit_record(t, &who, http_req_id(a->req), "conversation.context",
                              COLL_CONVERSATIONS, a->id, before, conv);
        json_decref(before);
    }
    json_decref(a->result);
    a->result = rc ? NULL : context_of(conv);
    json_decref(conv);
    return rc;
}

static void context_done(int status, const doc_error *e, void *ud)
{
    ctx_arg *a = ud;
    if (status)
        res_respond_error(a->req, status, e);
    else
        res_respond_doc(a->req, 200, json_incref(a->result), a->rev, NULL);
    json_decref(a->result);
    json_decref(a->patch);
    free(a);
}

static ctx_arg *ctx_arg_new(conv_ctx *x, http_req *req, const route_params *p)
{
    ctx_arg *a = calloc(1, sizeof(*a));
    if (!a) {
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        return NULL;
    }
    a->x = x;
    a->req = req;
    snprintf(a->id, sizeof(a->id), "%s", route_param(p, "id"));
    return a;
}

static void h_context(void *ctx, http_req *req, const route_params *p)
{
    ctx_arg *a = ctx_arg_new(ctx, req, p);
    if (!a) return;
    doc_error e;
    int rc = docs_read(a->x->d, run_context, a, &e);
    if (!rc)
        api_audit_read(a->x->d, req, "conversation.context_read", COLL_CONVERSATIONS, a->id, NULL);
    context_done(rc, &e, a);
}

/* {"variables": {merge patch}, "language": "ru" | null}. */
static const char *check_context_patch(const json_t *body, const char **field)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)body, k, v)
    {
        *field = k;
        if (!strcmp(k, "variables") && !json_is_object(v)) return "variables is an object";
        if (!strcmp(k, "language") && !json_is_null(v) && !json_is_string(v))
            return "language is a language tag such as \"ru\", or null";
        if (strcmp(k, "variables") && strcmp(k, "language"))
            return "the context takes variables and language (the engine sets the rest)";
    }
    return NULL;
}

static void h_context_patch(void *ctx, http_req *req, const route_params *p)
{
    json_t *body;
    if (api_body_json(req, &body, NULL) < 0) return;
    const char *field = NULL, *why = json_is_object(body)
                                         ? check_context_patch(body, &field)
                                         : "send a JSON object: {\"variables\": {...}}";
    if (why) {
        json_decref(body);
        http_respond_error(req, 422, "invalid", why, field);
        return;
    }
    uint64_t expect;
    if (res_if_match(req, &expect) < 0) {
        json_decref(body);
        return;
    }
    ctx_arg *a = ctx_arg_new(ctx, req, p);
    if (!a) {
        json_decref(body);
        return;
    }
    a->patch = body;
    a->expect = expect;
    int rc = docs_write(a->x->d, run_context, a, context_done);
    if (rc) {
        doc_error e = {.code = rc};
        snprintf(e.message, sizeof(e.message), "%s", ah_strerror(rc));
        context_done(rc, &e, a);
    }
}

static const route extra[] = {
    {"GET", "/api/v1/conversations/{id}/context", h_context, "conversations:read",
     "A conversation's variables, language, state and step (ETag)"},
    {"PATCH", "/api/v1/conversations/{id}/context", h_context_patch, "conversations:write",
     "Change a conversation's variables (merge patch) or language (If-Match)"},
};

int api_conversations_routes(api_table *t, const api_deps *deps)
{
    conv_ctx *x = NULL;
    if (deps) {
        if (!(x = calloc(1, sizeof(*x)))) return AH_ENOMEM;
        x->d = deps->docs;
        int rc = api_table_own(t, x, free);
        if (rc) return rc;
    }
    int rc = res_register(t, &conversations_res, deps ? deps->docs : NULL, x, "conversations:read",
                          "conversations:write");
    if (!rc) rc = api_table_add(t, extra, sizeof(extra) / sizeof(extra[0]), x);
    return rc;
}
