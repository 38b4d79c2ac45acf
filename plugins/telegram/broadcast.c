/*
 * broadcast.c - one message to many chats as a durable job: the actions
 * broadcast.start (a list of chat ids, up to 100,000, and the message),
 * .status, .pause, .resume and .cancel. The definition is stored once
 * ("bc:ID"), the progress after each recipient ("bcp:ID": state, next,
 * sent, failed, blocked); recipients are sent one after another through
 * the same idempotent path as message.out (record "out:bc:ID:CHAT"), so a
 * restart resumes where it stopped and nobody gets a second copy except a
 * call cut in mid-flight (counted as a possible duplicate). The send
 * scheduler paces it; a 429 waits and tries the same recipient again.
 * Segments (by agent, tag, attribute, last activity) are chosen by the
 * caller: the contacts API lists them, this takes their chat ids.
 */
#include "tg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bc {
    tg *t;
    char id[80];
    json_t *def;  /* {chat_ids, message} */
    json_t *prog; /* {state, next, sent, failed, blocked} */
    bool busy;    /* a recipient is in flight */
} bc;

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static json_t *status_of(const bc *b)
{
    json_int_t total = (json_int_t)json_array_size(json_object_get(b->def, "chat_ids"));
    json_int_t next = json_integer_value(json_object_get(b->prog, "next"));
    json_t *o = json_deep_copy(b->prog);
    json_object_set_new(o, "id", json_string(b->id));
    json_object_set_new(o, "total", json_integer(total));
    json_object_set_new(o, "remaining", json_integer(total - next));
    return o;
}

static void step(bc *b);

static void later(ah_ctx *ctx, ah_timer *timer, void *ud)
{
    (void)ctx;
    (void)timer;
    step(ud);
}

static void progress_stored(ah_ctx *ctx, int status, void *ud)
{
    (void)ctx;
    bc *b = ud;
    b->busy = false;
    if (status) {
        b->t->host->log(b->t->ctx, AH_LOG_WARN, "broadcast %s: storing progress: %s", b->id,
                        ah_strerror(status));
        b->t->host->timer_start(b->t->ctx, 1000, 0, later, b);
        return;
    }
    step(b);
}

static void store_progress(bc *b, ah_done_cb cb)
{
    char key[100];
    snprintf(key, sizeof(key), "bcp:%s", b->id);
    if (b->t->host->kv_put(b->t->ctx, key, b->prog, cb, b) && cb) cb(b->t->ctx, AH_EIO, b);
}

static void bump(bc *b, const char *field)
{
    json_object_set_new(b->prog, field,
                        json_integer(json_integer_value(json_object_get(b->prog, field)) + 1));
}

static void recipient_done(tg *t, void *ud, const char *outcome, uint32_t retry_ms, const char *why)
{
    bc *b = ud;
    if (!strcmp(outcome, "held") || !strcmp(outcome, "retry")) {
        b->busy = false;
        t->host->timer_start(t->ctx, retry_ms ? retry_ms : 1000, 0, later, b);
        return;
    }
    if (!strcmp(outcome, "failed"))
        t->host->log(t->ctx, AH_LOG_WARN, "broadcast %s: recipient %lld: %s", b->id,
                     (long long)json_integer_value(json_object_get(b->prog, "next")),
                     why ? why : "failed");
    bump(b, !strcmp(outcome, "sent") ? "sent" : !strcmp(outcome, "blocked") ? "blocked" : "failed");
    json_object_set_new(b->prog, "next",
                        json_integer(json_integer_value(json_object_get(b->prog, "next")) + 1));
    if (json_integer_value(json_object_get(b->prog, "next")) >=
        (json_int_t)json_array_size(json_object_get(b->def, "chat_ids")))
        json_object_set_new(b->prog, "state", json_string("done"));
    store_progress(b, progress_stored);
}

/* The next recipient, if the broadcast runs and none is in flight. */
static void step(bc *b)
{
    tg *t = b->t;
    if (b->busy || t->stopping || strcmp(str(b->prog, "state"), "running")) return;
    json_int_t next = json_integer_value(json_object_get(b->prog, "next"));
    const json_t *to = json_array_get(json_object_get(b->def, "chat_ids"), (size_t)next);
    if (!to) return;
    char chat[64], key[160];
    if (json_is_integer(to))
        snprintf(chat, sizeof(chat), "%lld", (long long)json_integer_value(to));
    else
        snprintf(chat, sizeof(chat), "%s", json_string_value(to) ? json_string_value(to) : "");
    json_t *msg = json_deep_copy(json_object_get(b->def, "message"));
    json_object_set_new(msg, "kind", json_string("message"));
    json_object_set_new(msg, "chat", json_pack("{s:s}", "id", chat));
    snprintf(key, sizeof(key), "out:bc:%s:%s", b->id, chat);
    b->busy = true;
    tg_send_one(t, msg, key, recipient_done, b);
}

static bc *find(tg *t, const char *id)
{
    json_t *p = json_object_get(t->broadcasts, id);
    return p ? (bc *)(uintptr_t)json_integer_value(p) : NULL;
}

static bc *adopt(tg *t, const char *id, json_t *def, json_t *prog)
{
    bc *b = calloc(1, sizeof(*b));
    if (!b) return NULL;
    *b = (bc){.t = t, .def = def, .prog = prog};
    snprintf(b->id, sizeof(b->id), "%s", id);
    if (!t->broadcasts) t->broadcasts = json_object();
    json_object_set_new(t->broadcasts, id, json_integer((json_int_t)(uintptr_t)b));
    return b;
}

typedef struct start {
    tg *t;
    ah_call *call;
    bc *b;
} start;

static void started(ah_ctx *ctx, int status, void *ud)
{
    (void)ctx;
    start *s = ud;
    if (status) {
        s->t->host->reply_error(s->call, "store_failed", ah_strerror(status));
    } else {
        s->t->host->reply(s->call, status_of(s->b));
        s->b->busy = false;
        step(s->b);
    }
    free(s);
}

static void def_stored(ah_ctx *ctx, int status, void *ud)
{
    start *s = ud;
    if (status) {
        started(ctx, status, s);
        return;
    }
    char key[100];
    snprintf(key, sizeof(key), "bcp:%s", s->b->id);
    int rc = s->t->host->kv_put(s->t->ctx, key, s->b->prog, started, s);
    if (rc) started(ctx, rc, s);
}

static void begin(tg *t, ah_call *call, const json_t *args)
{
    const char *id = str(args, "id");
    bc *b = find(t, id);
    if (b) { /* the same id again: where it stands */
        t->host->reply(call, status_of(b));
        return;
    }
    size_t ai;
    const json_t *a;
    json_array_foreach(json_object_get(args, "attachments"), ai,
                       a) if (json_object_get(a, "content_b64"))
    {
        char why[200];
        snprintf(why, sizeof(why),
                 "attachments[%zu].content_b64: upload the file once with the action send (to "
                 "any chat) and give the broadcast its file_ids[0] as ref",
                 ai);
        t->host->reply_error(call, "invalid", why);
        return;
    }
    json_t *message = json_object();
    static const char *const kept[] = {"text", "format", "keyboard", "attachments", "options"};
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
        if (json_object_get(args, kept[i]))
            json_object_set(message, kept[i], json_object_get(args, kept[i]));
    json_t *def =
        json_pack("{s:O,s:o}", "chat_ids", json_object_get(args, "chat_ids"), "message", message);
    json_t *prog = json_pack("{s:s,s:i,s:i,s:i,s:i}", "state", "running", "next", 0, "sent", 0,
                             "failed", 0, "blocked", 0);
    start *s = calloc(1, sizeof(*s));
    b = s ? adopt(t, id, def, prog) : NULL;
    if (!b) {
        free(s);
        json_decref(def);
        json_decref(prog);
        t->host->reply_error(call, "no_memory", "out of memory");
        return;
    }
    *s = (start){.t = t, .call = call, .b = b};
    b->busy = true; /* nothing goes out before the definition is durable */
    char key[100];
    snprintf(key, sizeof(key), "bc:%s", id);
    if (t->host->kv_put(t->ctx, key, def, def_stored, s)) started(t->ctx, AH_EIO, s);
}

static void control_stored(ah_ctx *ctx, int status, void *ud)
{
    (void)ctx;
    (void)status;
    step(ud);
}

void tg_broadcast_action(tg *t, ah_call *call, const char *action, const json_t *args)
{
    const char *id = str(args, "id");
    if (!t->ready || !id) {
        t->host->reply_error(call, t->ready ? "invalid" : "not_ready",
                             t->ready ? "id is needed" : "the bot is not ready yet");
        return;
    }
    if (!strcmp(action, "broadcast.start")) {
        begin(t, call, args);
        return;
    }
    bc *b = find(t, id);
    if (!b) {
        t->host->reply_error(call, "not_found", "no such broadcast");
        return;
    }
    const char *state = str(b->prog, "state");
    const char *to = !strcmp(action, "broadcast.pause")    ? "paused"
                     : !strcmp(action, "broadcast.resume") ? "running"
                     : !strcmp(action, "broadcast.cancel") ? "cancelled"
                                                           : NULL;
    if (to && strcmp(state, "done") && strcmp(state, "cancelled")) {
        json_object_set_new(b->prog, "state", json_string(to));
        store_progress(b, control_stored);
    }
    t->host->reply(call, status_of(b));
}

/* ---- after a restart ---------------------------------------------------------------------- */

typedef struct resume {
    tg *t;
    char id[80];
    json_t *def;
} resume;

static void got_progress(ah_ctx *ctx, int status, const json_t *value, void *ud)
{
    (void)ctx;
    resume *r = ud;
    if (!status && json_is_object(value) && !find(r->t, r->id)) {
        bc *b = adopt(r->t, r->id, r->def, json_deep_copy(value));
        if (b) {
            r->t->host->log(r->t->ctx, AH_LOG_INFO, "broadcast %s: resumed at %lld (%s)", b->id,
                            (long long)json_integer_value(json_object_get(value, "next")),
                            str(value, "state"));
            step(b);
            r->def = NULL;
        }
    }
    json_decref(r->def);
    free(r);
}

static void scanned(ah_ctx *ctx, int status, const ah_kv_item *items, size_t n, const char *next,
                    void *ud)
{
    (void)ctx;
    tg *t = ud;
    if (status) return;
    for (size_t i = 0; i < n; i++) {
        resume *r = calloc(1, sizeof(*r));
        if (!r) return;
        r->t = t;
        snprintf(r->id, sizeof(r->id), "%s", items[i].key + 3);
        r->def = json_deep_copy(items[i].value);
        char key[100];
        snprintf(key, sizeof(key), "bcp:%s", r->id);
        if (t->host->kv_get(t->ctx, key, got_progress, r)) {
            json_decref(r->def);
            free(r);
        }
    }
    if (next) t->host->kv_scan(t->ctx, "bc:", next, 100, scanned, t);
}

void tg_broadcast_resume_all(tg *t)
{
    t->host->kv_scan(t->ctx, "bc:", NULL, 100, scanned, t);
}

void tg_broadcast_free_all(tg *t)
{
    const char *k;
    json_t *v;
    json_object_foreach(t->broadcasts, k, v)
    {
        bc *b = (bc *)(uintptr_t)json_integer_value(v);
        json_decref(b->def);
        json_decref(b->prog);
        free(b);
    }
    json_decref(t->broadcasts);
    t->broadcasts = NULL;
}
