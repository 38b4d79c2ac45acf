/*
 * POST /api/v1/instances/{id}/broadcasts: a broadcast to a segment of the
 * people a channel instance (a Telegram bot) talks to. The segment is
 * resolved here, from the documents, and the chats it matched are handed
 * to the instance's action broadcast.start, which sends (durably, paced,
 * once per chat). A plugin cannot read contacts or conversations, and
 * must not: the host keeps personal data (ADR 0042).
 *
 * A chat is in the segment when a conversation on this instance (its
 * channel.instance) has it as channel.chat_id and matches every condition
 * given: agent_id (the conversation's agent), tag (its contact's tags),
 * attribute {name, value} (its contact's profile.attributes.NAME, or a
 * profile field such as language; sealed, opened here),
 * active_since / active_before (its last_activity_at); contacts whose
 * consent.marketing is false are left out. Each chat once, in the order
 * found.
 */
#include "core/util.h"
#include "model/collections.h"
#include "model/docs.h"
#include "plugin/supervisor.h"
#include "api_priv.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEGMENT_MAX 100000

typedef struct bc_ctx {
    supervisor *sup;
    docs *d;
} bc_ctx;

typedef struct seg {
    const char *instance, *agent, *tag, *attr;
    const json_t *value;
    const char *since, *before; /* as last_activity_at is written (ah_rfc3339_ms) */
    char since_buf[40], before_buf[40];
    doc_txn *t;
    json_t *chats;    /* chat id -> true, in the order found */
    json_t *contacts; /* contact id -> in the segment (true/false), each read once */
    int rc;
} seg;

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static bool contact_in(seg *s, const char *id)
{
    const json_t *known = json_object_get(s->contacts, id);
    if (known) return json_is_true(known);
    json_t *c = NULL;
    uint64_t rev;
    bool in = id && doc_get(s->t, COLL_CONTACTS, id, &c, &rev) == 0;
    if (in && json_is_false(json_object_get(json_object_get(c, "consent"), "marketing")))
        in = false;
    if (in && s->tag) {
        bool has = false;
        size_t i;
        const json_t *tg;
        json_array_foreach(json_object_get(c, "tags"), i, tg) has |=
            json_is_string(tg) && !strcmp(json_string_value(tg), s->tag);
        in = has;
    }
    if (in && s->attr) { /* profile.attributes.NAME, or a profile field (language...) */
        const json_t *pr = json_object_get(c, "profile");
        const json_t *v = json_object_get(json_object_get(pr, "attributes"), s->attr);
        in = json_equal(v ? v : json_object_get(pr, s->attr), s->value);
    }
    json_decref(c);
    if (id) json_object_set_new(s->contacts, id, json_boolean(in));
    return in;
}

static int visit(void *ud, const char *id)
{
    seg *s = ud;
    json_t *cv = NULL;
    uint64_t rev;
    if (doc_get(s->t, COLL_CONVERSATIONS, id, &cv, &rev) != 0) return 0;
    const json_t *ch = json_object_get(cv, "channel");
    const char *inst = str_of(ch, "instance"), *chat = str_of(ch, "chat_id");
    const char *last = str_of(cv, "last_activity_at");
    bool in = inst && chat && !strcmp(inst, s->instance) && !json_object_get(s->chats, chat);
    if (in && s->agent) in = str_of(cv, "agent_id") && !strcmp(str_of(cv, "agent_id"), s->agent);
    if (in && s->since) in = last && strcmp(last, s->since) >= 0;
    if (in && s->before) in = last && strcmp(last, s->before) < 0;
    if (in) in = contact_in(s, str_of(cv, "contact_id"));
    if (in) json_object_set_new(s->chats, chat, json_true());
    json_decref(cv);
    return json_object_size(s->chats) > SEGMENT_MAX ? 1 : 0;
}

static int resolve(doc_txn *t, void *ud)
{
    seg *s = ud;
    s->t = t;
    json_t *v = json_pack("[s]", s->instance);
    s->rc = doc_scan_ids(t, COLL_CONVERSATIONS, "by_channel", v, true, visit, s);
    json_decref(v);
    return s->rc < 0 ? s->rc : 0;
}

/* Why the segment is not one (naming the field), or NULL. */
static const char *check(const json_t *sg, seg *s, const char **field)
{
    static const char *const known[] = {"agent_id",     "tag",           "attribute",
                                        "active_since", "active_before", NULL};
    const char *k;
    const json_t *v;
    *field = "segment";
    if (!json_is_object(sg))
        return "segment: an object of agent_id, tag, attribute, active_since, active_before";
    json_object_foreach((json_t *)sg, k, v)
    {
        bool ok = false;
        for (size_t i = 0; known[i]; i++)
            ok |= !strcmp(k, known[i]);
        if (!ok) return "segment: only agent_id, tag, attribute, active_since and active_before";
    }
    s->agent = str_of(sg, "agent_id");
    s->tag = str_of(sg, "tag");
    const char *since = str_of(sg, "active_since"), *before = str_of(sg, "active_before");
    const json_t *a = json_object_get(sg, "attribute");
    if (a) {
        s->attr = str_of(a, "name");
        s->value = json_object_get(a, "value");
        *field = "segment.attribute";
        if (!s->attr || !s->value || json_object_size(a) != 2)
            return "segment.attribute: {\"name\": a profile field, \"value\": what it must equal}";
    }
    int64_t ms;
    if (json_object_get(sg, "active_since")) {
        *field = "segment.active_since";
        if (!since || !ah_parse_time(since, &ms))
            return "segment.active_since: an RFC 3339 time (2026-03-01T00:00:00Z)";
        ah_rfc3339_ms(ms, s->since_buf, sizeof(s->since_buf));
        s->since = s->since_buf;
    }
    if (json_object_get(sg, "active_before")) {
        *field = "segment.active_before";
        if (!before || !ah_parse_time(before, &ms))
            return "segment.active_before: an RFC 3339 time (2026-03-01T00:00:00Z)";
        ah_rfc3339_ms(ms, s->before_buf, sizeof(s->before_buf));
        s->before = s->before_buf;
    }
    if ((json_object_get(sg, "agent_id") && !s->agent) || (json_object_get(sg, "tag") && !s->tag)) {
        *field = s->agent ? "segment.tag" : "segment.agent_id";
        return "segment.agent_id and segment.tag are strings";
    }
    return NULL;
}

typedef struct started {
    http_req *req;
    json_int_t matched;
} started;

static void started_done(void *ud, const json_t *result, const char *err_code, const char *msg)
{
    started *s = ud;
    if (!err_code) {
        json_t *r = json_deep_copy(result);
        json_object_set_new(r, "matched", json_integer(s->matched));
        http_respond_json(s->req, 200, json_pack("{s:o}", "result", r));
    } else {
        int status = !strcmp(err_code, "invalid")     ? 422
                     : !strcmp(err_code, "not_ready") ? 503
                                                      : 502;
        http_respond_error(s->req, status, err_code, msg ? msg : err_code, NULL);
    }
    free(s);
}

static void h_broadcast(void *ctx, http_req *req, const route_params *p)
{
    bc_ctx *x = ctx;
    const char *name = route_param(p, "id");
    instance *in = name ? supervisor_find(x->sup, name) : NULL;
    if (!in) {
        api_respond_not_found(req, "instance", name);
        return;
    }
    json_t *body;
    if (api_body_json(req, &body, NULL) < 0) return;
    seg s = {.instance = name, .chats = json_object(), .contacts = json_object()};
    const char *field = NULL;
    const char *why = json_is_object(body) ? check(json_object_get(body, "segment"), &s, &field)
                                           : "send {\"id\", \"segment\", \"text\", ...}";
    if (!why && json_object_get(body, "chat_ids")) {
        why = "chat_ids: give a segment here, or the chat ids to the action broadcast.start";
        field = "chat_ids";
    }
    doc_error e = {0};
    if (!why && docs_read(x->d, resolve, &s, &e) != 0) {
        http_respond_error(req, 503, "store_error", e.message[0] ? e.message : "store", NULL);
        goto out;
    }
    if (!why && !json_object_size(s.chats)) {
        why = "segment: it matches no chat on this instance";
        field = "segment";
    }
    if (!why && json_object_size(s.chats) > SEGMENT_MAX) {
        why = "segment: more than 100,000 chats; narrow it";
        field = "segment";
    }
    if (why) {
        http_respond_error(req, 422, "invalid", why, field);
        goto out;
    }
    json_t *args = json_deep_copy(body);
    json_object_del(args, "segment");
    json_t *ids = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(s.chats, k, v) json_array_append_new(ids, json_string(k));
    json_object_set_new(args, "chat_ids", ids);
    started *st = calloc(1, sizeof(*st));
    char err[600];
    if (st) *st = (started){.req = req, .matched = (json_int_t)json_object_size(s.chats)};
    if (!st || instance_call(in, "broadcast.start", args, 0, started_done, st, err, sizeof(err))) {
        free(st);
        char *colon = strchr(err, ':');
        if (colon) *colon = 0;
        const char *msg = st && colon ? colon + 2 : "the instance refused the call";
        if (!strcmp(err, "unknown_action"))
            http_respond_error(req, 422, "unsupported", "this instance takes no broadcasts", NULL);
        else if (!strcmp(err, "invalid_args"))
            api_respond_invalid(req, "invalid_args", msg);
        else
            http_respond_error(req, 503, "not_ready", msg, NULL);
    }
    json_decref(args);
out:
    json_decref(s.chats);
    json_decref(s.contacts);
    json_decref(body);
}

static const route routes[] = {
    {"POST", "/api/v1/instances/{id}/broadcasts", h_broadcast, "actions:call",
     "A broadcast to a segment (agent, tag, attribute, last activity) of the instance's chats"},
};

int api_broadcasts_routes(api_table *t, const api_deps *deps)
{
    bc_ctx *c = NULL;
    if (deps) {
        if (!(c = calloc(1, sizeof(*c)))) return AH_ENOMEM;
        *c = (bc_ctx){.sup = deps->sup, .d = deps->docs};
        int rc = api_table_own(t, c, free);
        if (rc) return rc;
    }
    return api_table_add(t, routes, sizeof(routes) / sizeof(routes[0]), c);
}
