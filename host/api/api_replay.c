/*
 * A past conversation's path, rebuilt from the bus, and run again against
 * another version:
 *
 *   GET  /api/v1/conversations/{id}/replay    its turns as recorded (runtime.h,
 *        RUNTIME_TURNS_TOPIC): input, steps with their calls and answers and
 *        the variables after each, messages sent; paged (?from=, ?limit=)
 *   POST /api/v1/conversations/{id}/what-if   its person's messages (and the
 *        timers and resumes between them) run in a simulation of another
 *        version or a draft, the recorded plugin and HTTP answers canned;
 *        both paths, and the first step where they part
 */
#include "bus/bus.h"
#include "model/collections.h"
#include "model/ids.h"
#include "runtime/runtime.h"
#include "runtime/simulate.h"
#include "api_docs.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLAY_PAGE 50       /* turns a page holds by default */
#define REPLAY_PAGE_MAX 200  /* ... at most */
#define WHATIF_TURNS_MAX 500 /* turns a what-if reads (its messages: SIM_MAX_MESSAGES) */

typedef struct replay_ctx {
    bus *bus;
    docs *d;
    api_sim_ctx sim;
} replay_ctx;

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* ---- reading --------------------------------------------------------------------- */

typedef struct conv_read {
    const char *id;
    json_t *conv;
} conv_read;

static int read_conv(doc_txn *t, void *ud)
{
    conv_read *r = ud;
    int rc = doc_get(t, COLL_CONVERSATIONS, r->id, &r->conv, NULL);
    if (rc == AH_ENOTFOUND) return doc_fail(t, rc, NULL, "no conversation %s", r->id);
    return rc;
}

/* The conversation (a new reference), or NULL after answering. */
static json_t *conversation(replay_ctx *x, http_req *req, const char *id)
{
    if (!id_valid(id, "cnv")) {
        api_respond_not_found(req, "conversation", id);
        return NULL;
    }
    conv_read r = {.id = id};
    doc_error e = {0};
    int rc = docs_read(x->d, read_conv, &r, &e);
    if (rc) res_respond_error(req, rc, &e);
    return rc ? NULL : r.conv;
}

/* Up to limit turns of conversation id from offset from: [{"offset", ...the
 * record}] into *out; *next: the offset after them, 0 when there are no
 * more. 0, or bus_read's code with err. */
static int read_turns(bus *b, const char *id, uint64_t from, size_t limit, json_t **out,
                      uint64_t *next, char *err, size_t errlen)
{
    json_t *events = NULL;
    uint64_t after = 0;
    *out = json_array();
    *next = 0;
    int rc = bus_read(b, RUNTIME_TURNS_TOPIC, from, limit, id, &events, &after, err, errlen);
    if (rc == AH_ENOTFOUND) return 0; /* no turn recorded anywhere yet */
    if (rc) return rc;
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e)
    {
        json_t *body = json_deep_copy(json_object_get(e, "body"));
        if (!json_is_object(body)) {
            json_decref(body);
            continue;
        }
        static const char *const drop[] = {"type", "event_version", "conversation_id", "agent_id",
                                           "contact_id"};
        for (size_t k = 0; k < sizeof(drop) / sizeof(drop[0]); k++)
            json_object_del(body, drop[k]);
        json_object_set(body, "offset", json_object_get(e, "offset"));
        json_array_append_new(*out, body);
        *next = (uint64_t)json_integer_value(json_object_get(e, "offset")) + 1;
    }
    if (json_array_size(events) < limit) *next = 0;
    json_decref(events);
    return 0;
}

static bool number_param(http_req *req, const char *name, uint64_t dflt, uint64_t max,
                         uint64_t *out)
{
    const char *v = http_req_query(req, name);
    *out = dflt;
    if (!v) return true;
    char *end = NULL;
    unsigned long long n = strtoull(v, &end, 10);
    if (!*v || *end || *v == '-' || (max && (n < 1 || n > max))) {
        char msg[120];
        snprintf(msg, sizeof(msg), "%s: a whole number%s", name,
                 max ? " from 1 to the page's maximum" : "");
        http_respond_error(req, 422, "invalid", msg, name);
        return false;
    }
    *out = n;
    return true;
}

static void h_replay(void *ctx, http_req *req, const route_params *p)
{
    replay_ctx *x = ctx;
    const char *id = route_param(p, "id");
    uint64_t from, limit;
    if (!number_param(req, "from", 0, 0, &from) ||
        !number_param(req, "limit", REPLAY_PAGE, REPLAY_PAGE_MAX, &limit))
        return;
    json_t *conv = conversation(x, req, id);
    if (!conv) return;
    json_t *turns = NULL;
    uint64_t next = 0;
    char err[300] = "";
    int rc = read_turns(x->bus, id, from, (size_t)limit, &turns, &next, err, sizeof(err));
    if (rc) {
        json_decref(turns);
        json_decref(conv);
        http_respond_error(req, 503, "store_error", err, NULL);
        return;
    }
    /* From its start: the first turn recorded is the start (older turns,
     * recorded before retention dropped them or before turns were, are not). */
    const json_t *first = json_array_get(turns, 0);
    bool whole = from > 0 || (first && !strcmp(str_of(first, "wake") ?: "", "start"));
    json_t *o = json_pack(
        "{s:s,s:O?,s:O?,s:O?,s:O?,s:O?,s:o,s:b}", "conversation_id", id, "agent_id",
        json_object_get(conv, "agent_id"), "scenario", json_object_get(conv, "scenario"), "state",
        json_object_get(conv, "state"), "outcome", json_object_get(conv, "outcome"), "started_at",
        json_object_get(conv, "started_at"), "turns", turns, "from_start", whole);
    json_object_set_new(o, "next", next ? json_integer((json_int_t)next) : json_null());
    json_decref(conv);
    api_audit_read(x->d, req, "conversation.replay_read", COLL_CONVERSATIONS, id, NULL);
    http_respond_json(req, 200, o);
}

/* ---- what-if ------------------------------------------------------------------------- */

/* The person's side of the recorded turns, as a simulation's messages. */
static json_t *messages_of(const json_t *turns, bool *cut)
{
    json_t *msgs = json_array();
    size_t i;
    const json_t *t;
    json_array_foreach(turns, i, t)
    {
        const char *wake = str_of(t, "wake");
        json_t *m = NULL;
        if (!strcmp(wake, "message")) {
            const json_t *in = json_object_get(t, "input");
            m = json_pack("{s:s}", "text", str_of(in, "text") ? str_of(in, "text") : "");
            if (str_of(in, "payload"))
                json_object_set(m, "payload", json_object_get(in, "payload"));
        } else if (!strcmp(wake, "timer")) {
            m = json_pack("{s:b}", "timer", 1);
        } else if (!strcmp(wake, "resume")) {
            m = json_pack("{s:b}", "resume", 1);
        }
        if (!m) continue; /* the start: the simulation starts by itself */
        if (json_array_size(msgs) >= SIM_MAX_MESSAGES) {
            json_decref(m);
            *cut = true;
            break;
        }
        json_array_append_new(msgs, m);
    }
    return msgs;
}

/* The recorded answers of plugin calls and HTTP requests, in order, as
 * canned answers by the simulator's keys; given ones win. */
static json_t *answers_of(const json_t *turns, const json_t *given)
{
    json_t *a = json_object();
    size_t i, k, c;
    const json_t *t, *e, *call;
    json_array_foreach(turns, i, t) json_array_foreach(json_object_get(t, "path"), k, e)
        json_array_foreach(json_object_get(e, "calls"), c, call)
    {
        const char *key = str_of(call, "key");
        if (!key) continue;
        json_t *list = json_object_get(a, key);
        if (!list) json_object_set_new(a, key, list = json_array());
        const json_t *err = json_object_get(call, "error");
        json_array_append_new(list, err ? json_pack("{s:O}", "error", err)
                                        : json_deep_copy(json_object_get(call, "result")));
    }
    if (json_is_object(given)) json_object_update(a, (json_t *)given);
    return a;
}

static json_t *steps_of(const json_t *path)
{
    json_t *s = json_array();
    size_t i;
    const json_t *e;
    json_array_foreach(path, i, e) json_array_append(s, json_object_get(e, "step"));
    return s;
}

/* Where the paths part: the first turn and step that differ, or null. */
static json_t *parting(const json_t *orig, const json_t *other)
{
    size_t n = json_array_size(orig), m = json_array_size(other);
    for (size_t i = 0; i < n || i < m; i++) {
        json_t *a = steps_of(json_object_get(json_array_get(orig, i), "path"));
        json_t *b = steps_of(json_object_get(json_array_get(other, i), "path"));
        size_t k = 0;
        while (k < json_array_size(a) && k < json_array_size(b) &&
               json_equal(json_array_get(a, k), json_array_get(b, k)))
            k++;
        bool same = k == json_array_size(a) && k == json_array_size(b) && i < n && i < m;
        json_t *d = NULL;
        if (!same)
            d = json_pack("{s:I,s:I,s:O?,s:O?,s:o,s:o}", "turn", (json_int_t)i, "index",
                          (json_int_t)k, "original", json_array_get(a, k), "what_if",
                          json_array_get(b, k), "original_steps", json_incref(a), "what_if_steps",
                          json_incref(b));
        json_decref(a);
        json_decref(b);
        if (d) return d;
    }
    return json_null();
}

typedef struct whatif {
    char id[ID_MAX];
    json_t *turns; /* the recorded ones */
    json_t *against;
    bool cut;
} whatif;

static void whatif_free(void *ud)
{
    whatif *w = ud;
    json_decref(w->turns);
    json_decref(w->against);
    free(w);
}

static void whatif_done(void *ud, http_req *req, json_t *report)
{
    whatif *w = ud;
    json_t *orig = json_array();
    size_t i;
    const json_t *t;
    json_array_foreach(w->turns, i, t)
    {
        json_t *o =
            json_pack("{s:O?,s:O?,s:O?,s:O?,s:O?}", "wake", json_object_get(t, "wake"), "input",
                      json_object_get(t, "input"), "path", json_object_get(t, "path"), "messages",
                      json_object_get(t, "messages"), "state", json_object_get(t, "state"));
        json_array_append_new(orig, o);
    }
    json_t *d = parting(orig, json_object_get(report, "turns"));
    json_t *o =
        json_pack("{s:s,s:O,s:b,s:o,s:o,s:o}", "conversation_id", w->id, "against", w->against,
                  "truncated", w->cut, "diverged", d, "original", orig, "what_if", report);
    http_respond_json(req, 200, o);
}

static const char *const WHATIF_FIELDS[] = {"version", "scenario", "answers", NULL};

static void h_whatif(void *ctx, http_req *req, const route_params *p)
{
    replay_ctx *x = ctx;
    const char *id = route_param(p, "id");
    json_t *body;
    if (api_body_json(req, &body, NULL) < 0) return;
    const char *k, *bad = json_is_object(body) ? NULL : "";
    json_t *v;
    json_object_foreach(body, k, v)
    {
        bool ok = false;
        for (size_t i = 0; WHATIF_FIELDS[i]; i++)
            ok |= !strcmp(k, WHATIF_FIELDS[i]);
        if (!ok) bad = k;
    }
    if (bad || (!json_object_get(body, "version") && !json_object_get(body, "scenario"))) {
        http_respond_error(req, 422, "invalid",
                           "send {\"version\": N} or {\"scenario\": a draft}, and optionally "
                           "\"answers\" (canned, over the recorded ones)",
                           bad && *bad ? bad : "version");
        json_decref(body);
        return;
    }
    json_t *conv = conversation(x, req, id);
    if (!conv) {
        json_decref(body);
        return;
    }
    whatif *w = calloc(1, sizeof(*w));
    json_t *turns = NULL;
    uint64_t next = 0;
    char err[300] = "";
    int rc = w ? read_turns(x->bus, id, 0, WHATIF_TURNS_MAX, &turns, &next, err, sizeof(err))
               : AH_ENOMEM;
    if (rc || !json_array_size(turns)) {
        http_respond_error(req, rc ? 503 : 409, rc ? "store_error" : "not_recorded",
                           rc ? err : "no turn of this conversation is recorded", NULL);
        json_decref(turns);
        json_decref(conv);
        json_decref(body);
        free(w);
        return;
    }
    snprintf(w->id, sizeof(w->id), "%s", id);
    w->turns = turns;
    w->cut = next != 0;
    json_t *ver = json_object_get(body, "version");
    w->against = ver ? json_pack("{s:O}", "version", ver) : json_pack("{s:s}", "version", "draft");
    json_t *sb = json_pack("{s:o,s:o}", "messages", messages_of(turns, &w->cut), "answers",
                           answers_of(turns, json_object_get(body, "answers")));
    if (ver) json_object_set(sb, "version", ver);
    if (json_object_get(body, "scenario"))
        json_object_set(sb, "scenario", json_object_get(body, "scenario"));
    const json_t *first = json_array_get(turns, 0);
    if (json_is_object(json_object_get(first, "variables_in")))
        json_object_set(sb, "variables", json_object_get(first, "variables_in"));
    if (str_of(conv, "language"))
        json_object_set(sb, "language", json_object_get(conv, "language"));
    char agent[ID_MAX];
    snprintf(agent, sizeof(agent), "%s", str_of(conv, "agent_id") ?: "");
    json_decref(conv);
    json_decref(body);
    api_simulate_run(&x->sim, req, agent, sb, whatif_done, w, whatif_free);
}

static const route routes[] = {
    {"GET", "/api/v1/conversations/{id}/replay", h_replay, "conversations:read",
     "A conversation's path rebuilt from the bus: each turn's input, steps, calls and answers, "
     "variables and messages"},
    {"POST", "/api/v1/conversations/{id}/what-if", h_whatif, "scenarios:simulate",
     "Run a past conversation's messages against another version or a draft: where the paths part"},
};

int api_replay_routes(api_table *t, const api_deps *deps)
{
    replay_ctx *x = NULL;
    if (deps) {
        if (!deps->rt) return 0; /* no engine: no routes */
        if (!(x = calloc(1, sizeof(*x)))) return AH_ENOMEM;
        *x = (replay_ctx){
            .bus = deps->bus,
            .d = deps->docs,
            .sim = {.rt = deps->rt, .reg = deps->reg, .sup = deps->sup, .expr = deps->expr}};
        int rc = api_table_own(t, x, free);
        if (rc) return rc;
    }
    return api_table_add(t, routes, sizeof(routes) / sizeof(routes[0]), x);
}
