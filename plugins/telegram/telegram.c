/*
 * telegram - the Telegram channel: one instance per bot. Updates arrive by
 * long polling (getUpdates through the broker) or by the host's webhook
 * ingress (hooks.INSTANCE, its secret header checked by the host) and are
 * published on message.in in the unified message model; message.out
 * deliveries addressed to this instance are sent with sendMessage (and
 * friends), idempotently. See docs/channels/telegram.md.
 *
 * This file: start-up (the token, getMe, the mode), the event dispatch,
 * health, the actions, and the per-chat "blocked" record.
 */
#include "tg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static tg T;

int64_t tg_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void got_me(tg *t, const tg_result *r, void *ud);

static void ask_me(ah_ctx *ctx, ah_timer *timer, void *ud)
{
    (void)ctx;
    (void)timer;
    tg *t = ud;
    if (t->stopping) return;
    if (tg_call(t, "getMe", NULL, 30000, got_me, NULL) != 0)
        t->host->timer_start(t->ctx, 1000, 0, ask_me, t);
}

static void got_me(tg *t, const tg_result *r, void *ud)
{
    (void)ud;
    if (t->stopping) return;
    if (r->ok) {
        const char *u = json_string_value(json_object_get(r->result, "username"));
        snprintf(t->bot, sizeof(t->bot), "%s", u ? u : "");
        t->host->log(t->ctx, AH_LOG_INFO, "bot @%s ready (%s mode)", t->bot,
                     t->mode == TG_WEBHOOK ? "webhook" : "polling");
        t->backoff_ms = 0;
        tg_inbound_start(t);
        return;
    }
    if (r->error_code == 401 || r->error_code == 404) {
        /* Telegram answers 401 (and 404 for a malformed one) to a bad token. */
        t->failed = true;
        t->host->log(t->ctx, AH_LOG_ERROR,
                     "getMe: Telegram refused the bot token (%d %s); set the right one with "
                     "`agenthost secret set %s token` (from @BotFather) and restart the instance",
                     r->error_code, r->description, t->instance);
        t->host->metric(t->ctx, "telegram_token_refused", AH_METRIC_COUNTER, 1, NULL);
        return;
    }
    t->backoff_ms = t->backoff_ms ? t->backoff_ms * 2 : 500;
    if (t->backoff_ms > 30000) t->backoff_ms = 30000;
    t->host->log(t->ctx, AH_LOG_WARN, "getMe failed (%s); again in %u ms", r->description,
                 t->backoff_ms);
    t->host->timer_start(t->ctx, t->backoff_ms, 0, ask_me, t);
}

/* Telegram's secret_token: 1-256 characters of A-Z a-z 0-9 _ -. */
static bool secret_token_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 256) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
            return false;
    return true;
}

static int tg_init(ah_ctx *ctx, const ah_host *host, const json_t *config)
{
    tg *t = &T;
    *t = (tg){.host = host, .ctx = ctx, .config = config, .holds = json_object()};
    host->set_userdata(ctx, t);
    snprintf(t->instance, sizeof(t->instance), "%s", host->instance_id(ctx));
    if (!AH_HOST_HAS(host, publish_batch)) {
        host->log(ctx, AH_LOG_ERROR, "this host is too old: the telegram plugin needs ABI 1.2");
        return AH_EUNSUPPORTED;
    }
    t->token = host->secret(ctx, "token");
    if (!t->token || !*t->token) {
        host->log(ctx, AH_LOG_ERROR,
                  "no bot token: set it with `agenthost secret set %s token` (from @BotFather)",
                  t->instance);
        return AH_EINVAL;
    }
    const char *base = json_string_value(json_object_get(config, "api_base_url"));
    snprintf(t->base, sizeof(t->base), "%s", base ? base : "https://api.telegram.org");
    size_t n = strlen(t->base);
    while (n && t->base[n - 1] == '/')
        t->base[--n] = 0;
    const char *mode = json_string_value(json_object_get(config, "mode"));
    t->mode = mode && !strcmp(mode, "webhook") ? TG_WEBHOOK : TG_POLLING;
    json_int_t pt = json_integer_value(json_object_get(config, "poll_timeout_s"));
    t->poll_timeout_s = json_object_get(config, "poll_timeout_s") ? (uint32_t)pt : 25;
    if (t->mode == TG_WEBHOOK) {
        if (!json_string_value(json_object_get(config, "webhook_url"))) {
            host->log(ctx, AH_LOG_ERROR,
                      "webhook mode needs config.webhook_url: the public https URL of "
                      "/hooks/%s/telegram on this host",
                      t->instance);
            return AH_EINVAL;
        }
        if (!secret_token_ok(host->secret(ctx, "webhook_secret"))) {
            host->log(ctx, AH_LOG_ERROR,
                      "webhook mode needs the secret webhook_secret (1-256 characters of A-Z, "
                      "a-z, 0-9, _ and -): `agenthost secret set %s webhook_secret`",
                      t->instance);
            return AH_EINVAL;
        }
    }
    ask_me(ctx, NULL, t);
    return AH_OK;
}

/* Held, not nacked: a nack would spend one of the bus's attempts on
 * nothing but a slow start. */
static bool wait_for_ready(tg *t, const ah_event *ev)
{
    if (t->ready || t->failed) return false;
    if (t->nwaiting == t->capwaiting) {
        size_t cap = t->capwaiting ? t->capwaiting * 2 : 64;
        const ah_event **v = realloc(t->waiting, cap * sizeof(*v));
        if (!v) return false; /* nacked below as before */
        t->waiting = v;
        t->capwaiting = cap;
    }
    t->waiting[t->nwaiting++] = ev;
    return true;
}

static void tg_on_event(ah_ctx *ctx, const ah_event *ev);

void tg_became_ready(tg *t)
{
    t->ready = true;
    tg_broadcast_resume_all(t);
    const ah_event **v = t->waiting;
    size_t n = t->nwaiting;
    t->waiting = NULL;
    t->nwaiting = t->capwaiting = 0;
    for (size_t i = 0; i < n; i++)
        tg_on_event(t->ctx, v[i]);
    free(v);
}

static void tg_on_event(ah_ctx *ctx, const ah_event *ev)
{
    tg *t = &T;
    if (wait_for_ready(t, ev)) return;
    if (!strcmp(ev->topic, "message.out")) {
        tg_on_out(t, ev);
        return;
    }
    if (!strncmp(ev->topic, "hooks.", 6)) {
        tg_on_hook(t, ev);
        return;
    }
    t->host->ack(ctx, ev); /* nothing else is subscribed */
}

/* ---- blocked chats ------------------------------------------------------------------ */

static void put_done(ah_ctx *ctx, int status, void *ud)
{
    (void)ud;
    if (status && status != AH_ENOTFOUND)
        T.host->log(ctx, AH_LOG_WARN, "recording a chat's state: %s", ah_strerror(status));
}

static void cleared(ah_ctx *ctx, int status, void *ud)
{
    char *chat = ud;
    if (status == 0)
        T.host->log(ctx, AH_LOG_INFO, "chat %s can be reached on this bot again", chat);
    else
        put_done(ctx, status, NULL);
    free(chat);
}

/* The mark, if there is one, is deleted (and that logged). */
static void got_mark(ah_ctx *ctx, int status, const json_t *value, void *ud)
{
    (void)value;
    char *chat = ud, key[160];
    snprintf(key, sizeof(key), "blocked:%s", chat);
    if (status || T.host->kv_delete(ctx, key, cleared, chat)) free(chat);
}

void tg_set_blocked(tg *t, const char *chat, bool blocked, const char *why)
{
    char key[160];
    snprintf(key, sizeof(key), "blocked:%s", chat);
    if (!blocked) {
        /* Unblocking clears what a 403 (or a block) set. */
        char *c = strdup(chat);
        if (c && t->host->kv_get(t->ctx, key, got_mark, c)) free(c);
        return;
    }
    json_t *v = json_pack("{s:I,s:s}", "at_ms", (json_int_t)tg_now_ms(), "reason", why ? why : "");
    t->host->kv_put(t->ctx, key, v, put_done, NULL);
    json_decref(v);
    t->host->metric(t->ctx, "telegram_chats_blocked", AH_METRIC_COUNTER, 1, NULL);
    t->host->log(t->ctx, AH_LOG_WARN,
                 "chat %s is unreachable on this bot (%s): nothing more is "
                 "sent to it until the person unblocks the bot",
                 chat, why ? why : "blocked");
}

/* ---- actions ----------------------------------------------------------------------- */

static void webhook_gone(tg *t, const tg_result *r, void *ud)
{
    ah_call *call = ud;
    if (r->ok) {
        t->webhook_removed = true; /* not set again by this process */
        t->host->log(t->ctx, AH_LOG_INFO, "webhook deleted (the bot is being removed)");
        t->host->reply(call, json_pack("{s:b}", "deleted", 1));
    } else {
        t->host->reply_error(call, "telegram_error", r->description ? r->description : "failed");
    }
}

static void tg_call_action(ah_ctx *ctx, ah_call *call, const char *action, const json_t *args)
{
    (void)ctx;
    tg *t = &T;
    if (!strcmp(action, "status")) {
        t->host->reply(call,
                       json_pack("{s:s,s:s,s:b,s:b,s:I,s:I}", "bot", t->bot, "mode",
                                 t->mode == TG_WEBHOOK ? "webhook" : "polling", "ready", t->ready,
                                 "token_refused", t->failed, "offset", (json_int_t)t->offset,
                                 "typing_chats", (json_int_t)tg_typing_count(t)));
        return;
    }
    if (!strcmp(action, "typing")) {
        tg_typing_action(t, call, args);
        return;
    }
    if (!strcmp(action, "webhook.delete")) {
        if (tg_call(t, "deleteWebhook", NULL, 30000, webhook_gone, call) != 0)
            t->host->reply_error(call, "unavailable", "cannot call deleteWebhook now");
        return;
    }
    if (!strcmp(action, "attachment.fetch")) {
        tg_fetch_action(t, call, args);
        return;
    }
    if (!strncmp(action, "broadcast.", 10)) {
        tg_broadcast_action(t, call, action, args);
        return;
    }
    if (!strcmp(action, "send")) {
        tg_send_action(t, call, args);
        return;
    }
    t->host->reply_error(call, "unknown_action", action);
}

static int tg_health(ah_ctx *ctx)
{
    (void)ctx;
    return T.failed ? AH_EDENIED : AH_OK;
}

static void tg_shutdown(ah_ctx *ctx)
{
    (void)ctx;
    T.stopping = true;
    json_decref(T.holds);
    T.holds = NULL;
    json_decref(T.pace);
    T.pace = NULL;
    tg_broadcast_free_all(&T);
    tg_typing_free_all(&T);
    free(T.waiting);
    T.waiting = NULL;
}

AH_PLUGIN(.name = "telegram", .version = "1.0.0", .init = tg_init, .on_event = tg_on_event,
          .call = tg_call_action, .health = tg_health, .shutdown = tg_shutdown);
