/*
 * /api/v1/bots - Telegram bots over the API (ADR 0041): one telegram
 * instance per bot, made and removed through instances_def.h, its token a
 * secret, bound to an agent through the agent's channels.
 *
 * Adding a bot answers once the plugin says it is ready (getMe passed, the
 * webhook set or deleted) or that Telegram refused the token (the bot is
 * removed again: 422 naming `token`), within BOT_READY_WAIT_MS.
 */
#include "core/log.h"
#include "core/util.h"
#include "model/audit.h"
#include "model/collections.h"
#include "model/docs.h"
#include "plugin/instances_def.h"
#include "plugin/registry.h"
#include "plugin/supervisor.h"
#include "api_docs.h"
#include "api_priv.h"

#include <agenthost/plugin.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define BOT_PLUGIN "telegram"
#define BOT_READY_WAIT_MS 20000
#define BOT_POLL_MS 100
#define BOT_CALL_MS 5000

typedef struct bots_ctx {
    registry *reg;
    supervisor *sup;
    store *st;
    secrets *sec;
    docs *d;
    ah_loop *loop;
} bots_ctx;

/* The telegram instance id names, or NULL. */
static instance *bot_instance(bots_ctx *x, const char *id)
{
    instance *inst = id ? supervisor_find(x->sup, id) : NULL;
    return inst && !strcmp(instance_manifest(inst)->name, BOT_PLUGIN) ? inst : NULL;
}

/* ---- the agent a bot is bound to ---------------------------------------------------------- */

typedef struct find_arg {
    const char *instance;
    char agent[64];
} find_arg;

static int run_find(doc_txn *t, void *ud)
{
    find_arg *a = ud;
    json_t *v = json_pack("[s]", a->instance);
    int rc = doc_find(t, COLL_AGENTS, "by_channel", v, a->agent, sizeof(a->agent));
    json_decref(v);
    if (rc) a->agent[0] = 0;
    return 0;
}

typedef struct bind_arg {
    const char *instance;
    const char *agent; /* bind to it; NULL: unbind from whichever */
    http_req *req;
    void *owner; /* what the write's done callback needs */
} bind_arg;

/* Add {"instance"} to the agent's channels, or take it out of the agent
 * that has it; with an audit entry in the same commit. */
static int run_bind(doc_txn *t, void *ud)
{
    bind_arg *a = ud;
    char found[64] = "";
    const char *agent = a->agent;
    if (!agent) {
        json_t *v = json_pack("[s]", a->instance);
        int rc = doc_find(t, COLL_AGENTS, "by_channel", v, found, sizeof(found));
        json_decref(v);
        if (rc == AH_ENOTFOUND) return 0;
        if (rc) return rc;
        agent = found;
    }
    json_t *doc = NULL;
    uint64_t rev;
    int rc = doc_get(t, COLL_AGENTS, agent, &doc, &rev);
    if (rc == AH_ENOTFOUND) return doc_fail(t, AH_EINVAL, "agent_id", "no agent %s", agent);
    if (rc) return rc;
    json_t *before = json_deep_copy(doc);
    json_t *chans = json_object_get(doc, "channels");
    if (!json_is_array(chans)) {
        chans = json_array();
        json_object_set_new(doc, "channels", chans);
    }
    size_t i;
    json_t *c;
    bool had = false;
    json_array_foreach(chans, i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "instance")) ?: "", a->instance)) continue;
        had = true;
        if (!a->agent) {
            json_array_remove(chans, i);
            break;
        }
    }
    if (a->agent && !had) json_array_append_new(chans, json_pack("{s:s}", "instance", a->instance));
    if (had == !!a->agent) { /* nothing to change */
        json_decref(doc);
        json_decref(before);
        return 0;
    }
    res_stamp(doc, a->req, doc_txn_now(t), false);
    rc = doc_put(t, COLL_AGENTS, doc, rev, NULL);
    audit_actor who = res_actor(a->req);
    if (!rc)
        rc = audit_record(t, &who, http_req_id(a->req), "agent.update", COLL_AGENTS, agent, before,
                          doc);
    json_decref(doc);
    json_decref(before);
    return rc;
}

/* ---- what a bot looks like ------------------------------------------------------------------ */

static json_t *bot_json(bots_ctx *x, instance *inst)
{
    const json_t *cfg = instance_config(inst);
    const char *id = instance_id(inst);
    find_arg fa = {.instance = id};
    doc_error e;
    docs_read(x->d, run_find, &fa, &e);
    json_t *o = json_pack("{s:s,s:s,s:s,s:o,s:b}", "id", id, "mode",
                          json_string_value(json_object_get(cfg, "mode")) ?: "polling", "state",
                          instance_state_name(instance_get_state(inst)), "agent_id",
                          fa.agent[0] ? json_string(fa.agent) : json_null(), "managed",
                          instances_def_exists(x->st, id));
    const json_t *url = json_object_get(cfg, "webhook_url");
    if (url) json_object_set(o, "webhook_url", (json_t *)url);
    json_object_set_new(o, "username", json_null());
    json_object_set_new(o, "ready", json_false());
    json_object_set_new(o, "token_refused", json_false());
    return o;
}

/* Fill username, ready and token_refused from the plugin's status. */
static void merge_status(json_t *bot, const json_t *st)
{
    const char *u = json_string_value(json_object_get(st, "bot"));
    if (u && *u) json_object_set_new(bot, "username", json_string(u));
    json_object_set_new(bot, "ready", json_boolean(json_is_true(json_object_get(st, "ready"))));
    json_object_set_new(bot, "token_refused",
                        json_boolean(json_is_true(json_object_get(st, "token_refused"))));
}

/* Answer body (stolen) with a strong ETag of its bytes; 304 when the
 * client holds it already. */
static void respond_tagged(http_req *req, int status, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    unsigned char h[16];
    crypto_generichash(h, sizeof(h), (const unsigned char *)(s ? s : ""), s ? strlen(s) : 0, NULL,
                       0);
    free(s);
    char etag[40] = "\"";
    for (size_t i = 0; i < sizeof(h); i++)
        snprintf(etag + 1 + 2 * i, 3, "%02x", h[i]);
    strcat(etag, "\"");
    char et[64];
    snprintf(et, sizeof(et), "ETag: %s", etag);
    const char *hs[] = {et, NULL};
    const char *inm = http_req_header(req, "If-None-Match");
    if (status == 200 && inm && (!strcmp(inm, etag) || !strcmp(inm, "*"))) {
        json_decref(body);
        http_respond(req, 304, NULL, NULL, 0, hs);
        return;
    }
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    http_respond(req, status, "application/json", text ? text : "{}", text ? strlen(text) : 2, hs);
    free(text);
}

/* ---- reading: the plugins' status, asked of every ready bot at once ---------------------------
 */

typedef struct gather {
    http_req *req;
    json_t *body;  /* the answer */
    json_t *items; /* bots to fill (borrowed from body) */
    size_t pending;
} gather;

typedef struct gather_item {
    gather *g;
    json_t *bot;
} gather_item;

static void gather_done(gather *g)
{
    if (--g->pending > 0) return;
    respond_tagged(g->req, 200, g->body);
    free(g);
}

static void got_status(void *ud, const json_t *result, const char *err_code, const char *message)
{
    (void)message;
    gather_item *gi = ud;
    if (!err_code) merge_status(gi->bot, result);
    gather *g = gi->g;
    free(gi);
    gather_done(g);
}

/* Ask the status of every ready bot in g->items, then answer. */
static void gather_run(bots_ctx *x, gather *g)
{
    g->pending = 1;
    size_t i;
    json_t *bot;
    json_array_foreach(g->items, i, bot)
    {
        instance *inst = bot_instance(x, json_string_value(json_object_get(bot, "id")));
        if (!inst || instance_get_state(inst) != INST_READY) continue;
        gather_item *gi = calloc(1, sizeof(*gi));
        if (!gi) continue;
        *gi = (gather_item){.g = g, .bot = bot};
        json_t *args = json_object();
        char err[300];
        g->pending++;
        if (instance_call(inst, "status", args, BOT_CALL_MS, got_status, gi, err, sizeof(err)) !=
            0) {
            g->pending--;
            free(gi);
        }
        json_decref(args);
    }
    gather_done(g);
}

static int cmp_ids(const void *a, const void *b)
{
    return strcmp(instance_id(*(instance *const *)a), instance_id(*(instance *const *)b));
}

static void h_bots(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    bots_ctx *x = ctx;
    long limit = 50;
    const char *q = http_req_query(req, "limit");
    if (q) {
        char *end;
        limit = strtol(q, &end, 10);
        if (*end || limit < 1 || limit > 500) {
            http_respond_error(req, 422, "invalid_query", "limit must be 1 to 500", "limit");
            return;
        }
    }
    const char *cursor = http_req_query(req, "cursor");
    size_t n = supervisor_count(x->sup), k = 0;
    instance **v = calloc(n ? n : 1, sizeof(*v));
    if (!v) {
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        instance *inst = supervisor_at(x->sup, i);
        if (!strcmp(instance_manifest(inst)->name, BOT_PLUGIN)) v[k++] = inst;
    }
    qsort(v, k, sizeof(*v), cmp_ids);
    json_t *items = json_array();
    const char *next = NULL;
    for (size_t i = 0; i < k; i++) {
        if (cursor && strcmp(instance_id(v[i]), cursor) <= 0) continue;
        if (json_array_size(items) == (size_t)limit) {
            next = instance_id(json_array_size(items) ? v[i - 1] : v[i]);
            break;
        }
        json_array_append_new(items, bot_json(x, v[i]));
    }
    gather *g = calloc(1, sizeof(*g));
    json_t *body = json_pack("{s:o,s:o,s:I}", "items", items, "next",
                             next ? json_string(next) : json_null(), "total", (json_int_t)k);
    free(v);
    if (!g) {
        json_decref(body);
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        return;
    }
    *g = (gather){.req = req, .body = body, .items = items};
    gather_run(x, g);
}

static void h_bot(void *ctx, http_req *req, const route_params *p)
{
    bots_ctx *x = ctx;
    const char *id = route_param(p, "id");
    instance *inst = bot_instance(x, id);
    if (!inst) {
        api_respond_not_found(req, "bot", id);
        return;
    }
    gather *g = calloc(1, sizeof(*g));
    if (!g) {
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        return;
    }
    json_t *bot = bot_json(x, inst);
    *g = (gather){.req = req, .body = bot, .items = json_pack("[O]", bot)};
    json_t *items = g->items;
    gather_run(x, g); /* may answer and free g */
    json_decref(items);
}

/* ---- adding --------------------------------------------------------------------------------- */

typedef struct adding {
    bots_ctx *x;
    http_req *req;
    char id[72];
    char agent[64];
    uv_timer_t timer;
    uint64_t deadline_ms;
    json_t *status; /* the plugin's last status */
    bind_arg bind;  /* the agent's binding, while it is written */
    int fail_status;
    char fail_field[32];
    char fail_msg[400];
} adding;

static void adding_closed(uv_handle_t *h)
{
    adding *a = h->data;
    json_decref(a->status);
    free(a);
}

static void adding_end(adding *a)
{
    uv_close((uv_handle_t *)&a->timer, adding_closed);
}

/* The bot is removed again; the refusal is answered once that is done. */
static void undone(void *ud, int status, const char *field, const char *message, instance *inst)
{
    (void)status, (void)field, (void)message, (void)inst;
    adding *a = ud;
    int st = a->fail_status == AH_EINVAL ? 422 : a->fail_status == AH_ETIMEDOUT ? 504 : 502;
    const char *code = st == 422 ? "invalid" : st == 504 ? "timeout" : "bad_gateway";
    http_respond_error(a->req, st, code, a->fail_msg, a->fail_field[0] ? a->fail_field : NULL);
    adding_end(a);
}

static void give_up(adding *a, int status, const char *field, const char *fmt, const char *arg)
{
    a->fail_status = status;
    snprintf(a->fail_field, sizeof(a->fail_field), "%s", field ? field : "");
    snprintf(a->fail_msg, sizeof(a->fail_msg), fmt, arg);
    log_warn("api", "bot %s not added: %s", a->id, a->fail_msg);
    char err[300];
    if (instances_def_remove(a->x->sup, a->x->st, a->id, undone, a, err, sizeof(err)) != 0)
        undone(a, 0, NULL, NULL, NULL);
}

static void bound(int status, const doc_error *e, void *ud)
{
    adding *a = ((bind_arg *)ud)->owner;
    if (status) {
        give_up(a, AH_EINVAL, e && e->field[0] ? e->field : "agent_id", "%s",
                e && e->message[0] ? e->message : ah_strerror(status));
        return;
    }
    instance *inst = bot_instance(a->x, a->id);
    if (!inst) {
        http_respond_error(a->req, 409, "conflict", "the bot was removed meanwhile", NULL);
        adding_end(a);
        return;
    }
    json_t *bot = bot_json(a->x, inst);
    merge_status(bot, a->status);
    log_info("api", "bot %s (@%s) added, %s mode", a->id,
             json_string_value(json_object_get(bot, "username")) ?: "?",
             json_string_value(json_object_get(bot, "mode")));
    respond_tagged(a->req, 201, bot);
    adding_end(a);
}

static void bind_now(adding *a)
{
    a->bind = (bind_arg){.instance = a->id, .agent = a->agent, .req = a->req, .owner = a};
    if (!a->agent[0]) {
        bound(0, NULL, &a->bind);
        return;
    }
    if (docs_write(a->x->d, run_bind, &a->bind, bound) != 0) bound(AH_ENOMEM, NULL, &a->bind);
}

static void poll_again(adding *a);

static void got_ready(void *ud, const json_t *result, const char *err_code, const char *message)
{
    (void)message;
    adding *a = ud;
    if (!err_code) {
        json_decref(a->status);
        a->status = json_deep_copy(result);
        if (json_is_true(json_object_get(result, "token_refused"))) {
            give_up(a, AH_EINVAL, "token",
                    "Telegram refused the bot token (getMe): check it with @BotFather%s", "");
            return;
        }
        if (json_is_true(json_object_get(result, "ready"))) {
            bind_now(a);
            return;
        }
    }
    poll_again(a);
}

static void on_poll(uv_timer_t *t)
{
    adding *a = t->data;
    instance *inst = bot_instance(a->x, a->id);
    if (!inst) {
        http_respond_error(a->req, 409, "conflict", "the bot was removed meanwhile", NULL);
        adding_end(a);
        return;
    }
    instance_state s = instance_get_state(inst);
    if (s == INST_FAILED || s == INST_QUARANTINED) {
        json_t *st = instance_status(inst);
        char why[300];
        snprintf(why, sizeof(why), "%s",
                 json_string_value(json_object_get(st, "last_error")) ?: "it failed");
        json_decref(st);
        give_up(a, AH_EIO, NULL, "the bot's instance cannot run: %s", why);
        return;
    }
    if (ah_mono_ms() > a->deadline_ms) {
        give_up(a, AH_ETIMEDOUT, NULL,
                "the bot did not get ready within 20 s (getMe, then setWebhook or "
                "deleteWebhook): is the Bot API reachable%s?",
                "");
        return;
    }
    char err[300];
    json_t *args = json_object();
    int rc = s == INST_READY
                 ? instance_call(inst, "status", args, BOT_CALL_MS, got_ready, a, err, sizeof(err))
                 : -1;
    json_decref(args);
    if (rc != 0) poll_again(a);
}

static void poll_again(adding *a)
{
    uv_timer_start(&a->timer, on_poll, BOT_POLL_MS, 0);
}

static void created(void *ud, int status, const char *field, const char *message, instance *inst)
{
    (void)inst;
    adding *a = ud;
    if (status) {
        http_respond_error(a->req, status == AH_EINVAL ? 422 : 503,
                           status == AH_EINVAL ? "invalid" : "unavailable", message, field);
        adding_end(a);
        return;
    }
    a->deadline_ms = ah_mono_ms() + BOT_READY_WAIT_MS;
    poll_again(a);
}

static bool token_ok(const char *s)
{
    const char *colon = s ? strchr(s, ':') : NULL;
    if (!colon || colon == s || colon - s > 20 || strlen(colon + 1) < 20 || strlen(colon + 1) > 100)
        return false;
    for (const char *c = s; c < colon; c++)
        if (*c < '0' || *c > '9') return false;
    for (const char *c = colon + 1; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '-'))
            return false;
    return true;
}

typedef struct agent_arg {
    const char *id;
    bool found;
} agent_arg;

static int run_agent_exists(doc_txn *t, void *ud)
{
    agent_arg *a = ud;
    json_t *doc = NULL;
    a->found = doc_get(t, COLL_AGENTS, a->id, &doc, NULL) == 0;
    json_decref(doc);
    return 0;
}

/* The bot's instance definition from the request; NULL after answering. */
static json_t *definition(bots_ctx *x, http_req *req, const json_t *body, char *agent,
                          size_t agentlen)
{
    static const char *const known[] = {"id",         "token",    "mode",   "webhook_url",
                                        "public_url", "agent_id", "config", "api_base_url",
                                        "egress",     NULL};
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)body, k, v)
    {
        bool ok = false;
        for (size_t i = 0; known[i]; i++)
            ok = ok || !strcmp(k, known[i]);
        if (!ok) {
            http_respond_error(req, 422, "invalid", "unknown field", k);
            return NULL;
        }
    }
    const char *id = json_string_value(json_object_get(body, "id"));
    const char *token = json_string_value(json_object_get(body, "token"));
    const char *mode = json_string_value(json_object_get(body, "mode")) ?: "polling";
    const char *hook = json_string_value(json_object_get(body, "webhook_url"));
    const char *pub = json_string_value(json_object_get(body, "public_url"));
    const char *ag = json_string_value(json_object_get(body, "agent_id"));
    const json_t *cfg = json_object_get(body, "config");
    const char *bad = NULL, *why = NULL;
    if (!id || !ah_valid_id(id))
        bad = "id", why = "1-64 characters of a-z, 0-9, '-', '_' and '.'";
    else if (!token_ok(token))
        bad = "token", why = "a bot token from @BotFather: digits, ':', then 20-100 of A-Z a-z "
                             "0-9 _ -";
    else if (strcmp(mode, "polling") && strcmp(mode, "webhook"))
        bad = "mode", why = "polling or webhook";
    else if (!strcmp(mode, "webhook") && !hook && !pub)
        bad = "public_url", why = "webhook mode needs the host's public https URL (public_url) "
                                  "or the full webhook_url";
    else if (json_object_get(body, "agent_id") && !ag)
        bad = "agent_id", why = "an agent's id";
    else if (cfg && !json_is_object(cfg))
        bad = "config", why = "must be an object (the telegram plugin's other options)";
    if (bad) {
        http_respond_error(req, 422, "invalid", why, bad);
        return NULL;
    }
    if (ag) {
        agent_arg aa = {.id = ag};
        doc_error e;
        if (docs_read(x->d, run_agent_exists, &aa, &e) != 0 || !aa.found) {
            http_respond_error(req, 422, "invalid", "no such agent", "agent_id");
            return NULL;
        }
        snprintf(agent, agentlen, "%s", ag);
    }
    json_t *c = cfg ? json_deep_copy(cfg) : json_object();
    json_object_set_new(c, "mode", json_string(mode));
    if (json_object_get(body, "api_base_url"))
        json_object_set(c, "api_base_url", json_object_get(body, "api_base_url"));
    json_t *secs = json_pack("{s:s}", "token", token);
    if (!strcmp(mode, "webhook")) {
        char url[1100];
        if (!hook) {
            size_t n = strlen(pub);
            while (n && pub[n - 1] == '/')
                n--;
            snprintf(url, sizeof(url), "%.*s/hooks/%s/telegram", (int)n, pub, id);
            hook = url;
        }
        json_object_set_new(c, "webhook_url", json_string(hook));
        /* Telegram's secret_token, checked by the host's webhook ingress. */
        unsigned char r[24];
        randombytes_buf(r, sizeof(r));
        char sec[sizeof(r) * 2 + 1];
        sodium_bin2hex(sec, sizeof(sec), r, sizeof(r));
        sodium_memzero(r, sizeof(r));
        json_object_set_new(secs, "webhook_secret", json_string(sec));
        sodium_memzero(sec, sizeof(sec));
    }
    json_t *def = json_pack("{s:s,s:s,s:o,s:o}", "id", id, "plugin", BOT_PLUGIN, "config", c,
                            "secrets", secs);
    if (json_object_get(body, "egress"))
        json_object_set(def, "egress", json_object_get(body, "egress"));
    return def;
}

static int create_status(int rc)
{
    return rc == AH_EINVAL ? 422 : rc == AH_EEXIST ? 409 : rc == AH_ENOTFOUND ? 404 : 503;
}

static const char *create_code(int rc)
{
    return rc == AH_EINVAL      ? "invalid"
           : rc == AH_EEXIST    ? "exists"
           : rc == AH_ENOTFOUND ? "not_found"
                                : "unavailable";
}

/* Add a bot: its telegram instance made and started, getMe checked, the
 * webhook set (or deleted), the agent bound; answered when it is ready. */
static void h_bot_create(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    bots_ctx *x = ctx;
    json_t *body;
    if (api_body_json(req, &body, NULL) < 0) return;
    if (!json_is_object(body)) {
        json_decref(body);
        http_respond_error(req, 422, "invalid", "the body must be an object", NULL);
        return;
    }
    char agent[64] = "";
    json_t *def = definition(x, req, body, agent, sizeof(agent));
    json_decref(body);
    if (!def) return;
    if (!registry_find(x->reg, BOT_PLUGIN)) {
        json_decref(def);
        http_respond_error(req, 503, "unavailable", "the telegram plugin is not installed", NULL);
        return;
    }
    adding *a = calloc(1, sizeof(*a));
    if (!a) {
        json_decref(def);
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        return;
    }
    a->x = x;
    a->req = req;
    snprintf(a->id, sizeof(a->id), "%s", json_string_value(json_object_get(def, "id")));
    snprintf(a->agent, sizeof(a->agent), "%s", agent);
    uv_timer_init(loop_uv(x->loop), &a->timer);
    a->timer.data = a;
    char field[160], err[700];
    int rc = instances_def_create(x->sup, x->st, x->sec, x->reg, def, created, a, field,
                                  sizeof(field), err, sizeof(err));
    json_decref(def);
    if (rc) {
        const char *f = !strncmp(field, "secrets.", 8) ? field + 8 : field;
        http_respond_error(req, create_status(rc), create_code(rc), err, f[0] ? f : NULL);
        adding_end(a);
    }
}

/* ---- removing ------------------------------------------------------------------------------- */

typedef struct removing {
    bots_ctx *x;
    http_req *req;
    char id[72];
    bind_arg bind;
} removing;

static void bot_removed(void *ud, int status, const char *field, const char *message,
                        instance *inst)
{
    (void)inst;
    removing *r = ud;
    if (status)
        http_respond_error(r->req, 503, "unavailable", message, field);
    else
        http_respond(r->req, 204, NULL, "", 0, NULL);
    free(r);
}

static void unbound(int status, const doc_error *e, void *ud)
{
    removing *r = ((bind_arg *)ud)->owner;
    char err[300];
    if (status) {
        http_respond_error(r->req, 503, "unavailable",
                           e && e->message[0] ? e->message : ah_strerror(status), NULL);
        free(r);
        return;
    }
    int rc = instances_def_remove(r->x->sup, r->x->st, r->id, bot_removed, r, err, sizeof(err));
    if (rc) {
        http_respond_error(r->req, rc == AH_ENOTFOUND ? 404 : 409,
                           rc == AH_ENOTFOUND ? "not_found" : "conflict", err, NULL);
        free(r);
    }
}

static void unbind(removing *r)
{
    r->bind = (bind_arg){.instance = r->id, .req = r->req, .owner = r};
    if (docs_write(r->x->d, run_bind, &r->bind, unbound) != 0) unbound(AH_ENOMEM, NULL, &r->bind);
}

static void hook_deleted(void *ud, const json_t *result, const char *err_code, const char *message)
{
    (void)result;
    removing *r = ud;
    if (err_code)
        log_warn("api",
                 "bot %s: deleteWebhook failed (%s: %s); removing it anyway (Telegram may call "
                 "its URL until it gives up)",
                 r->id, err_code, message ? message : "");
    unbind(r);
}

/* Remove a bot made over the API: deleteWebhook (webhook mode), the
 * agent unbound, the instance stopped and deleted with its token. */
static void h_bot_delete(void *ctx, http_req *req, const route_params *p)
{
    bots_ctx *x = ctx;
    const char *id = route_param(p, "id");
    instance *inst = bot_instance(x, id);
    if (!inst) {
        api_respond_not_found(req, "bot", id);
        return;
    }
    if (!instances_def_exists(x->st, id)) {
        http_respond_error(req, 409, "conflict",
                           "this bot's instance comes from the config file: remove it there and "
                           "restart the host",
                           NULL);
        return;
    }
    removing *r = calloc(1, sizeof(*r));
    if (!r) {
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        return;
    }
    *r = (removing){.x = x, .req = req};
    snprintf(r->id, sizeof(r->id), "%s", id);
    const char *mode = json_string_value(json_object_get(instance_config(inst), "mode"));
    char err[300];
    json_t *args = json_object();
    int rc =
        mode && !strcmp(mode, "webhook") && instance_get_state(inst) == INST_READY
            ? instance_call(inst, "webhook.delete", args, 35000, hook_deleted, r, err, sizeof(err))
            : 1;
    json_decref(args);
    if (rc < 0)
        hook_deleted(r, NULL, "unavailable", err);
    else if (rc > 0)
        unbind(r);
}

static const route routes[] = {
    {"GET", "/api/v1/bots", h_bots, "plugins:read",
     "Telegram bots with their state (username, mode, agent)"},
    {"POST", "/api/v1/bots", h_bot_create, "plugins:manage",
     "Add a Telegram bot: its instance, getMe, the webhook, the agent"},
    {"GET", "/api/v1/bots/{id}", h_bot, "plugins:read", "One Telegram bot (ETag)"},
    {"DELETE", "/api/v1/bots/{id}", h_bot_delete, "plugins:manage",
     "Remove a Telegram bot (deleteWebhook, stop, delete its token)"},
};

int api_bots_routes(api_table *t, const api_deps *deps)
{
    bots_ctx *c = NULL;
    if (deps) {
        if (!(c = calloc(1, sizeof(*c)))) return AH_ENOMEM;
        *c = (bots_ctx){.reg = deps->reg,
                        .sup = deps->sup,
                        .st = deps->st,
                        .sec = deps->sec,
                        .d = deps->docs,
                        .loop = deps->loop};
        int rc = api_table_own(t, c, free);
        if (rc) return rc;
    }
    return api_table_add(t, routes, sizeof(routes) / sizeof(routes[0]), c);
}
