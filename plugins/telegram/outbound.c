/*
 * outbound.c - message.out to Telegram. A delivery addressed to another
 * instance is acked at once. Ours is sent idempotently: its record
 * "out:MSG_ID" in the instance's KV says "sending" (with how many of its
 * calls are done) before each call and "sent" (with Telegram's message
 * ids) after the last; a redelivery of a sent one is acked without
 * sending; one found "sending" (a crash or a lost answer in mid-call) is
 * sent on from the call in doubt: a possible duplicate, counted
 * (telegram_possible_duplicates) and logged, never hidden.
 *
 * Failures: 429 holds the chat for retry_after (other chats go on) and
 * nacks with that delay; 403 (blocked, deactivated, kicked) marks the chat
 * unreachable and acks; other 4xx are permanent: recorded "failed" and
 * nacked with the reason, so the bus dead-letters them after its attempts;
 * network errors and 5xx are nacked for the bus's backoff.
 */
#include "text.h"
#include "tg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct job {
    tg *t;
    const ah_event *ev; /* the delivery, or NULL for the action send */
    ah_call *call;      /* the action send's call, or NULL */
    bool durable;       /* records in KV (every delivery; send with an idempotency_key) */
    json_t *own;        /* the message the action made */
    const json_t *msg;  /* the event's body (valid until settled) or own */
    char id[96], chat[64], key[128];
    json_t *plan;     /* [{method, params}] */
    json_t *ids;      /* Telegram's message ids, in order */
    json_t *file_ids; /* the file_ids Telegram gave uploaded files, or NULL */
    size_t done;
    json_int_t edit_target; /* the Telegram message an edit changes, or 0 */
    bool migrated;          /* sent on to the supergroup a group became */
    const char *outcome;    /* "sent" (default) or "blocked", for on_done */
    bool permanent;         /* a nack that retrying cannot help */
    tg_done_cb on_done;     /* a broadcast's recipient: told instead of ack/nack */
    void *done_ud;
} job;

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void finish(job *j)
{
    json_decref(j->own);
    json_decref(j->plan);
    json_decref(j->ids);
    json_decref(j->file_ids);
    free(j);
}

static void ack(job *j)
{
    tg_typing_stop(j->t, j->chat); /* the answer is out (or will never be) */
    if (j->on_done)
        j->on_done(j->t, j->done_ud, j->outcome ? j->outcome : "sent", 0, NULL);
    else if (j->call)
        j->t->host->reply(j->call,
                          json_pack("{s:s,s:O,s:s,s:O*}", "chat_id", j->chat, "message_ids", j->ids,
                                    "outcome", j->outcome ? j->outcome : "sent", "file_ids",
                                    j->file_ids));
    else
        j->t->host->ack(j->t->ctx, j->ev);
    finish(j);
}

static void nack(job *j, const char *why, uint32_t after_ms)
{
    if (j->on_done)
        j->on_done(j->t, j->done_ud,
                   after_ms       ? "held"
                   : j->permanent ? "failed"
                                  : "retry",
                   after_ms, why);
    else if (j->call)
        j->t->host->reply_error(j->call, after_ms ? "rate_limited" : "send_failed", why);
    else
        j->t->host->nack(j->t->ctx, j->ev, why, after_ms);
    finish(j);
}

/* ---- the plan: the calls a message makes --------------------------------------------- */

/* A chat id as Telegram takes it: a number, or an @channel name. */
static json_t *chat_id(const char *s)
{
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    return end && *end == 0 && end != s ? json_integer(v) : json_string(s);
}

static json_t *button(const json_t *b, bool inline_kb)
{
    json_t *o = json_pack("{s:O}", "text", json_object_get(b, "text"));
    if (inline_kb) {
        if (str(b, "url"))
            json_object_set(o, "url", json_object_get(b, "url"));
        else
            json_object_set(o, "callback_data",
                            str(b, "action") ? json_object_get(b, "action")
                                             : json_object_get(b, "text"));
    } else if (str(b, "request")) {
        json_object_set_new(
            o, !strcmp(str(b, "request"), "location") ? "request_location" : "request_contact",
            json_true());
    }
    return o;
}

static json_t *reply_markup(const json_t *kb)
{
    if (!json_is_object(kb)) return NULL;
    const char *type = str(kb, "type") ? str(kb, "type") : "inline";
    if (!strcmp(type, "remove")) return json_pack("{s:b}", "remove_keyboard", 1);
    bool inl = !strcmp(type, "inline");
    json_t *rows = json_array();
    size_t i, k;
    const json_t *row, *b;
    json_array_foreach(json_object_get(kb, "rows"), i, row)
    {
        json_t *r = json_array();
        json_array_foreach(row, k, b) json_array_append_new(r, button(b, inl));
        json_array_append_new(rows, r);
    }
    if (inl) return json_pack("{s:o}", "inline_keyboard", rows);
    json_t *o = json_pack("{s:o,s:b}", "keyboard", rows, "resize_keyboard", 1);
    if (json_is_true(json_object_get(kb, "one_time")))
        json_object_set_new(o, "one_time_keyboard", json_true());
    if (str(kb, "placeholder"))
        json_object_set(o, "input_field_placeholder", json_object_get(kb, "placeholder"));
    return o;
}

/* The fields every call of this message shares. */
static json_t *base_params(const job *j)
{
    const json_t *m = j->msg;
    json_t *p = json_pack("{s:o}", "chat_id", chat_id(j->chat));
    const char *thread = str(json_object_get(m, "chat"), "thread_id");
    if (thread) json_object_set_new(p, "message_thread_id", json_integer(atoll(thread)));
    const json_t *opts = json_object_get(m, "options");
    if (json_is_object(opts)) json_object_update(p, (json_t *)opts);
    return p;
}

static void add_text(json_t *p, const char *field, const char *text, bool html)
{
    if (!html) {
        json_object_set_new(p, field, json_string(text));
        return;
    }
    char *h = tg_markdown_to_html(text);
    json_object_set_new(p, field, json_string(h));
    json_object_set_new(p, "parse_mode", json_string("HTML"));
    free(h);
}

static void plan_add(json_t *plan, const char *method, json_t *params)
{
    json_array_append_new(plan, json_pack("{s:s,s:o}", "method", method, "params", params));
}

static const char *send_method(const char *kind, const char **field)
{
    static const struct {
        const char *kind, *method, *field;
    } map[] = {{"image", "sendPhoto", "photo"},
               {"video", "sendVideo", "video"},
               {"audio", "sendAudio", "audio"},
               {"voice", "sendVoice", "voice"},
               {"animation", "sendAnimation", "animation"},
               {"sticker", "sendSticker", "sticker"},
               {"video_note", "sendVideoNote", "video_note"}};
    for (size_t i = 0; kind && i < sizeof(map) / sizeof(map[0]); i++)
        if (!strcmp(kind, map[i].kind)) {
            *field = map[i].field;
            return map[i].method;
        }
    *field = "document";
    return "sendDocument";
}

/* Files by URL, by this bot's own file_id ("telegram:FILE_ID"), or as
 * bytes (content_b64: uploaded as multipart/form-data, upload.c). */
static void plan_attachments(const job *j, json_t *plan, const char *caption, bool html)
{
    size_t i;
    const json_t *a;
    json_array_foreach(json_object_get(j->msg, "attachments"), i, a)
    {
        const char *src = str(a, "url");
        const char *ref = str(a, "ref");
        if (!src && ref && !strncmp(ref, "telegram:", 9)) src = ref + 9;
        if (!src && str(a, "content_b64")) {
            const char *field;
            const char *method = send_method(str(a, "kind"), &field);
            json_t *p = base_params(j);
            if (caption && i == 0) add_text(p, "caption", caption, html);
            plan_add(plan, method, p);
            json_t *c = json_array_get(plan, json_array_size(plan) - 1);
            json_object_set_new(c, "upload_field", json_string(field));
            json_object_set(c, "upload", (json_t *)a);
            continue;
        }
        if (!src) continue;
        const char *field;
        const char *method = send_method(str(a, "kind"), &field);
        if (str(a, "kind") && !strcmp(str(a, "kind"), "location")) continue;
        json_t *p = base_params(j);
        json_object_set_new(p, field, json_string(src));
        if (caption && i == 0) add_text(p, "caption", caption, html);
        plan_add(plan, method, p);
    }
}

static json_t *make_plan(job *j)
{
    const json_t *m = j->msg;
    json_t *plan = json_array();
    const char *text = str(m, "text");
    bool html = str(m, "format") && !strcmp(str(m, "format"), "markdown");
    json_t *markup = reply_markup(json_object_get(m, "keyboard"));
    if (str(m, "kind") && !strcmp(str(m, "kind"), "edit")) {
        json_t *p = base_params(j);
        json_object_set_new(p, "message_id", json_integer(j->edit_target));
        if (text) add_text(p, "text", text, html);
        if (markup && json_object_get(markup, "inline_keyboard"))
            json_object_set(p, "reply_markup", markup);
        plan_add(plan, text ? "editMessageText" : "editMessageReplyMarkup", p);
        json_decref(markup);
        return plan;
    }
    bool files = json_array_size(json_object_get(m, "attachments")) > 0;
    const char *caption = files && text && tg_utf16_len(text) <= TG_CAPTION_MAX ? text : NULL;
    if (text && *text && !caption) {
        json_t *parts = tg_split(text, TG_TEXT_MAX);
        size_t i;
        const json_t *part;
        json_array_foreach(parts, i, part)
        {
            json_t *p = base_params(j);
            add_text(p, "text", json_string_value(part), html);
            plan_add(plan, "sendMessage", p);
        }
        json_decref(parts);
    }
    if (files) plan_attachments(j, plan, caption, html);
    const char *reply = str(json_object_get(m, "reply_to"), "external_id");
    json_t *first = json_object_get(json_array_get(plan, 0), "params");
    if (reply && first)
        json_object_set_new(first, "reply_parameters",
                            json_pack("{s:I,s:b}", "message_id", (json_int_t)atoll(reply),
                                      "allow_sending_without_reply", 1));
    json_t *last = json_object_get(json_array_get(plan, json_array_size(plan) - 1), "params");
    if (markup && last) json_object_set(last, "reply_markup", markup);
    json_decref(markup);
    return plan;
}

/* ---- the sending ---------------------------------------------------------------------- */

static void next_call(job *j);

static json_t *record(const job *j, const char *state)
{
    return json_pack("{s:s,s:s,s:I,s:O}", "state", state, "chat", j->chat, "done",
                     (json_int_t)j->done, "ids", j->ids);
}

static void put_then(job *j, const char *state, ah_done_cb cb)
{
    if (!j->durable) {
        cb(j->t->ctx, 0, j);
        return;
    }
    json_t *r = record(j, state);
    int rc = j->t->host->kv_put(j->t->ctx, j->key, r, cb, j);
    json_decref(r);
    if (rc) nack(j, ah_strerror(rc), 0);
}

static void sent_recorded(ah_ctx *ctx, int status, void *ud)
{
    (void)ctx;
    job *j = ud;
    if (status) { /* sent, not recorded: a redelivery would send again */
        nack(j, ah_strerror(status), 0);
        return;
    }
    j->t->host->metric(j->t->ctx, "telegram_messages_sent", AH_METRIC_COUNTER, 1, NULL);
    ack(j);
}

static void failed_published(ah_ctx *ctx, int status, uint64_t offset, void *ud)
{
    (void)ctx, (void)offset;
    job *j = ud;
    if (status) { /* not durable: delivered again, the blocked record answers at once */
        nack(j, "publishing message.failed", 0);
        return;
    }
    ack(j);
}

/* A delivery the chat will never take (the bot blocked): message.failed
 * tells the host, which sends the answer on another channel of the
 * contact (docs/channels.md, Cross-channel), then the delivery is acked. */
static void blocked_ack(job *j, const char *why)
{
    j->outcome = "blocked";
    const json_t *b = j->msg;
    if (!j->ev || j->on_done || !str(b, "conversation_id")) {
        ack(j);
        return;
    }
    json_t *ev = json_pack("{s:s,s:i,s:s,s:s,s:s?,s:s?,s:{s:s,s:s},s:s,s:s,s:b}", "type",
                           "message.failed", "event_version", 1, "message_id", j->id,
                           "conversation_id", str(b, "conversation_id"), "contact_id",
                           str(b, "contact_id"), "agent_id", str(b, "agent_id"), "channel", "kind",
                           "telegram", "instance", j->t->instance, "reason", "blocked",
                           "description", why ? why : "the bot was blocked", "permanent", 1);
    char idem[128];
    snprintf(idem, sizeof(idem), "%s:failed", j->id);
    ah_publish_opts o = {
        .size = sizeof(o), .key = str(b, "conversation_id"), .idempotency_key = idem};
    int rc = j->t->host->publish(j->t->ctx, "message.failed", ev, &o, failed_published, j);
    json_decref(ev);
    if (rc) nack(j, "publishing message.failed", 0);
}

static void settled_recorded(ah_ctx *ctx, int status, void *ud)
{
    (void)ctx;
    (void)status;
    blocked_ack(ud, "403: the bot was blocked");
}

static void failed_recorded(ah_ctx *ctx, int status, void *ud)
{
    (void)ctx;
    (void)status;
    job *j = ud;
    char why[300];
    const char *e = str(json_object_get(json_array_get(j->plan, j->done), "params"), "$error");
    snprintf(why, sizeof(why), "%s", e ? e : "refused");
    nack(j, why, 0);
}

/* 429s of up to this long are waited out in the process. */
#define HOLD_IN_PROCESS_MS 10000

static void call_now(ah_ctx *ctx, int status, void *ud);

static void call_again(ah_ctx *ctx, ah_timer *timer, void *ud)
{
    (void)timer;
    call_now(ctx, 0, ud);
}

static void answered(tg *t, const tg_result *r, void *ud)
{
    job *j = ud;
    const char *method = str(json_array_get(j->plan, j->done), "method");
    bool unchanged = r->description && strstr(r->description, "message is not modified");
    if (r->ok || unchanged) {
        json_t *mid = json_object_get(r->result, "message_id");
        json_array_append_new(j->ids, json_is_integer(mid) ? json_incref(mid) : json_null());
        const char *fid = json_object_get(json_array_get(j->plan, j->done), "upload")
                              ? tg_uploaded_file_id(r->result)
                              : NULL;
        if (fid) {
            if (!j->file_ids) j->file_ids = json_array();
            json_array_append_new(j->file_ids, json_sprintf("telegram:%s", fid));
        }
        j->done++;
        if (j->done < json_array_size(j->plan))
            next_call(j);
        else
            put_then(j, "sent", sent_recorded);
        return;
    }
    if (r->migrate_to && !j->migrated) {
        /* A group became a supergroup: the same calls to its new id. */
        char to[32];
        snprintf(to, sizeof(to), "%lld", (long long)r->migrate_to);
        t->host->log(t->ctx, AH_LOG_INFO, "chat %s is now supergroup %s: sending there", j->chat,
                     to);
        snprintf(j->chat, sizeof(j->chat), "%s", to);
        size_t i;
        json_t *c;
        json_array_foreach(j->plan, i, c) json_object_set_new(
            json_object_get(c, "params"), "chat_id", json_integer(r->migrate_to));
        j->migrated = true;
        next_call(j);
        return;
    }
    if (r->error_code == 429) {
        uint32_t ms = (uint32_t)(r->retry_after > 0 ? r->retry_after : 1) * 1000u;
        json_object_set_new(t->holds, j->chat, json_integer(tg_now_ms() + ms));
        t->host->metric(t->ctx, "telegram_rate_limited", AH_METRIC_COUNTER, 1, NULL);
        t->host->log(t->ctx, AH_LOG_INFO, "%s to chat %s: 429, held for %u ms", method, j->chat,
                     ms);
        /* A short wait is waited here, the delivery kept: a nack would spend
         * one of the bus's attempts. A long one goes back to the bus. */
        if (ms <= HOLD_IN_PROCESS_MS && t->host->timer_start(t->ctx, ms, 0, call_again, j)) return;
        nack(j, "429 Too Many Requests", ms);
        return;
    }
    if (r->error_code == 403) {
        tg_set_blocked(t, j->chat, true, r->description);
        put_then(j, "blocked", settled_recorded);
        return;
    }
    if (tg_permanent(r)) {
        t->host->log(t->ctx, AH_LOG_ERROR,
                     "%s of %s to chat %s: %d %s (dead-lettered after the "
                     "bus's attempts)",
                     method, j->id, j->chat, r->error_code, r->description);
        t->host->metric(t->ctx, "telegram_send_failed", AH_METRIC_COUNTER, 1, NULL);
        char why[300];
        snprintf(why, sizeof(why), "%d %s", r->error_code, r->description);
        json_object_set_new(json_object_get(json_array_get(j->plan, j->done), "params"), "$error",
                            json_string(why));
        j->permanent = true;
        put_then(j, "failed", failed_recorded);
        return;
    }
    t->host->log(t->ctx, AH_LOG_WARN, "%s to chat %s: %s; retried", method, j->chat,
                 r->description);
    nack(j, r->description, 0);
}

static void call_paced(ah_ctx *ctx, ah_timer *timer, void *ud)
{
    (void)ctx;
    (void)timer;
    job *j = ud;
    const json_t *c = json_array_get(j->plan, j->done);
    const json_t *up = json_object_get(c, "upload");
    int rc = up ? tg_call_upload(j->t, str(c, "method"), json_object_get(c, "params"),
                                 str(c, "upload_field"), up, 120000, answered, j)
                : tg_call(j->t, str(c, "method"), json_object_get(c, "params"), 30000, answered, j);
    if (rc) nack(j, "the host refused the request", 0);
}

/* Once "sending" is durable: the call, when the scheduler lets it go. */
static void call_now(ah_ctx *ctx, int status, void *ud)
{
    job *j = ud;
    if (status) {
        nack(j, ah_strerror(status), 0);
        return;
    }
    uint32_t wait = tg_pace(j->t, j->chat);
    if (wait && j->t->host->timer_start(ctx, wait, 0, call_paced, j)) return;
    call_paced(ctx, NULL, j);
}

/* Record "sending" (with what is done), then make the next call. */
static void next_call(job *j)
{
    if (!j->durable) {
        call_now(j->t->ctx, 0, j);
        return;
    }
    json_t *r = record(j, "sending");
    int rc = j->t->host->kv_put(j->t->ctx, j->key, r, call_now, j);
    json_decref(r);
    if (rc) nack(j, ah_strerror(rc), 0);
}

static void start_plan(job *j)
{
    j->plan = make_plan(j);
    if (!json_array_size(j->plan)) {
        j->t->host->log(j->t->ctx, AH_LOG_WARN, "%s: nothing Telegram can send; acked", j->id);
        ack(j);
        return;
    }
    if (j->done >= json_array_size(j->plan)) {
        put_then(j, "sent", sent_recorded);
        return;
    }
    next_call(j);
}

static void got_target(ah_ctx *ctx, int status, const json_t *value, void *ud)
{
    (void)ctx;
    job *j = ud;
    const json_t *ids = json_object_get(value, "ids");
    const json_t *last = json_array_get(ids, json_array_size(ids) ? json_array_size(ids) - 1 : 0);
    if (status || !json_is_integer(last)) {
        j->t->host->log(j->t->ctx, AH_LOG_WARN, "%s edits a message this bot never sent; acked",
                        j->id);
        ack(j);
        return;
    }
    j->edit_target = json_integer_value(last);
    start_plan(j);
}

static void got_blocked(ah_ctx *ctx, int status, const json_t *value, void *ud)
{
    (void)ctx;
    (void)value;
    job *j = ud;
    if (status == 0) {
        j->t->host->metric(j->t->ctx, "telegram_out_to_blocked", AH_METRIC_COUNTER, 1, NULL);
        j->t->host->log(j->t->ctx, AH_LOG_INFO, "%s: chat %s blocked the bot; not sent", j->id,
                        j->chat);
        blocked_ack(j, "the chat blocked the bot");
        return;
    }
    const json_t *edit = json_object_get(j->msg, "edit_of");
    if (str(j->msg, "kind") && !strcmp(str(j->msg, "kind"), "edit")) {
        if (str(edit, "external_id")) {
            j->edit_target = atoll(str(edit, "external_id"));
        } else if (str(edit, "id")) {
            char key[128];
            snprintf(key, sizeof(key), "out:%s", str(edit, "id"));
            if (j->t->host->kv_get(j->t->ctx, key, got_target, j)) nack(j, "kv", 0);
            return;
        }
    }
    start_plan(j);
}

static void got_record(ah_ctx *ctx, int status, const json_t *value, void *ud)
{
    (void)ctx;
    job *j = ud;
    tg *t = j->t;
    if (status && status != AH_ENOTFOUND) {
        nack(j, ah_strerror(status), 0);
        return;
    }
    const char *state = str(value, "state");
    if (state && (!strcmp(state, "sent") || !strcmp(state, "blocked"))) {
        j->outcome = !strcmp(state, "blocked") ? "blocked" : "sent";
        json_array_extend(j->ids, json_object_get(value, "ids")); /* the action's answer */
        t->host->metric(t->ctx, "telegram_redelivered_settled", AH_METRIC_COUNTER, 1, NULL);
        if (!strcmp(state, "blocked")) /* its message.failed again: a repeat stores nothing */
            blocked_ack(j, "403: the bot was blocked");
        else
            ack(j);
        return;
    }
    if (state) {
        j->done = (size_t)json_integer_value(json_object_get(value, "done"));
        json_array_extend(j->ids, json_object_get(value, "ids"));
    }
    if (state && !strcmp(state, "sending")) {
        t->host->metric(t->ctx, "telegram_possible_duplicates", AH_METRIC_COUNTER, 1, NULL);
        t->host->log(t->ctx, AH_LOG_WARN,
                     "%s was in mid-call to chat %s (attempt %u): sending call %zu again, which "
                     "Telegram may already have delivered (a possible duplicate)",
                     j->id, j->chat, j->ev ? j->ev->attempt : 0, j->done + 1);
    }
    char key[160];
    snprintf(key, sizeof(key), "blocked:%s", j->chat);
    if (t->host->kv_get(t->ctx, key, got_blocked, j)) nack(j, "kv", 0);
}

void tg_on_out(tg *t, const ah_event *ev)
{
    const json_t *b = ev->body;
    const json_t *ch = json_object_get(b, "channel");
    if (!str(ch, "kind") || strcmp(str(ch, "kind"), "telegram") || !str(ch, "instance") ||
        strcmp(str(ch, "instance"), t->instance)) {
        t->host->ack(t->ctx, ev); /* another instance's */
        return;
    }
    const char *id = str(b, "id"), *chat = str(json_object_get(b, "chat"), "id");
    if (!id || !chat || strlen(id) >= 96 || strlen(chat) >= 64) {
        t->host->log(t->ctx, AH_LOG_WARN, "message.out %s: no id or chat.id; dropped", ev->id);
        t->host->ack(t->ctx, ev);
        return;
    }
    if (!t->ready) {
        t->host->nack(t->ctx, ev, "the bot is not ready", 1000);
        return;
    }
    int64_t until = json_integer_value(json_object_get(t->holds, chat)), now = tg_now_ms();
    if (until > now) {
        t->host->nack(t->ctx, ev, "429: the chat is held", (uint32_t)(until - now));
        return;
    }
    json_object_del(t->holds, chat);
    job *j = calloc(1, sizeof(*j));
    if (!j) {
        t->host->nack(t->ctx, ev, "out of memory", 0);
        return;
    }
    *j = (job){.t = t, .ev = ev, .durable = true, .msg = b, .ids = json_array()};
    snprintf(j->id, sizeof(j->id), "%s", id);
    snprintf(j->chat, sizeof(j->chat), "%s", chat);
    snprintf(j->key, sizeof(j->key), "out:%s", id);
    if (t->host->kv_get(t->ctx, j->key, got_record, j)) nack(j, "kv", 0);
}

/* ---- the action send ------------------------------------------------------------------- */

void tg_send_action(tg *t, ah_call *call, const json_t *args)
{
    const json_t *cid = json_object_get(args, "chat_id");
    char chat[64];
    if (json_is_integer(cid))
        snprintf(chat, sizeof(chat), "%lld", (long long)json_integer_value(cid));
    else
        snprintf(chat, sizeof(chat), "%s", json_string_value(cid) ? json_string_value(cid) : "");
    if (!t->ready || !*chat) {
        t->host->reply_error(call, t->ready ? "invalid" : "not_ready",
                             t->ready ? "chat_id is needed" : "the bot is not ready yet");
        return;
    }
    size_t ai;
    const json_t *a;
    char why[300];
    json_array_foreach(json_object_get(args, "attachments"), ai, a)
    {
        if (!str(a, "content_b64")) continue;
        if (tg_upload_check(a, ai, why, sizeof(why))) {
            t->host->reply_error(call, strstr(why, " MB is over") ? "too_large" : "invalid", why);
            return;
        }
    }
    job *j = calloc(1, sizeof(*j));
    if (!j) {
        t->host->reply_error(call, "no_memory", "out of memory");
        return;
    }
    const char *idem = str(args, "idempotency_key");
    *j = (job){.t = t, .call = call, .durable = idem != NULL, .ids = json_array()};
    j->own = json_pack("{s:s,s:{s:s}}", "kind", "message", "chat", "id", chat);
    static const char *const kept[] = {"text", "format", "keyboard", "attachments", "options"};
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
        if (json_object_get(args, kept[i]))
            json_object_set(j->own, kept[i], json_object_get(args, kept[i]));
    j->msg = j->own;
    snprintf(j->chat, sizeof(j->chat), "%s", chat);
    snprintf(j->id, sizeof(j->id), "send:%.80s", idem ? idem : "-");
    snprintf(j->key, sizeof(j->key), "out:send:%.100s", idem ? idem : "-");
    if (!j->durable) {
        start_plan(j);
        return;
    }
    if (t->host->kv_get(t->ctx, j->key, got_record, j)) nack(j, "kv", 0);
}

/* ---- a broadcast's recipient ---------------------------------------------------------------- */

void tg_send_one(tg *t, json_t *msg, const char *key, tg_done_cb cb, void *ud)
{
    job *j = calloc(1, sizeof(*j));
    const char *chat = str(json_object_get(msg, "chat"), "id");
    if (!j || !chat) {
        free(j);
        json_decref(msg);
        cb(t, ud, "failed", 0, "out of memory or no chat");
        return;
    }
    *j = (job){.t = t,
               .durable = true,
               .own = msg,
               .msg = msg,
               .ids = json_array(),
               .on_done = cb,
               .done_ud = ud};
    snprintf(j->chat, sizeof(j->chat), "%s", chat);
    snprintf(j->id, sizeof(j->id), "%.95s", key);
    snprintf(j->key, sizeof(j->key), "%.127s", key);
    if (t->host->kv_get(t->ctx, j->key, got_record, j)) nack(j, "kv", 1000);
}
