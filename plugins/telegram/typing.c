/*
 * typing.c - "typing..." in a chat while an LLM step works on its answer.
 * The host's runtime calls the action typing ({chat_id, on: true}) when a
 * conversation's llm.chat call starts and ({on: false}) when it answers;
 * the instance sends sendChatAction "typing" at once and again every
 * typing_interval_ms (Telegram shows it for 5 s at most, or until the bot
 * sends a message) until then, until a message goes out to the chat, or
 * for TYPING_MAX_MS at most (an "off" lost with a restart). Best effort:
 * nothing is recorded, a failed call is logged at debug and not retried.
 */
#include "tg.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TYPING_MAX_MS 120000

typedef struct typing {
    tg *t;
    ah_timer *timer;
    int64_t until_ms;
    char chat[64];
} typing;

static void no_answer(tg *t, const tg_result *r, void *ud)
{
    (void)ud;
    if (!r->ok) t->host->log(t->ctx, AH_LOG_DEBUG, "sendChatAction: %s", r->description);
}

static json_t *chat_param(const char *chat)
{
    char *end = NULL;
    long long v = strtoll(chat, &end, 10);
    return end && *end == 0 && end != chat ? json_integer(v) : json_string(chat);
}

static void send_typing(typing *y)
{
    json_t *p = json_pack("{s:o,s:s}", "chat_id", chat_param(y->chat), "action", "typing");
    tg_call(y->t, "sendChatAction", p, 10000, no_answer, NULL);
    json_decref(p);
    y->t->host->metric(y->t->ctx, "telegram_typing_sent", AH_METRIC_COUNTER, 1, NULL);
}

static typing *find(tg *t, const char *chat)
{
    json_t *p = json_object_get(t->typing, chat);
    return p ? (typing *)(uintptr_t)json_integer_value(p) : NULL;
}

static void drop(typing *y)
{
    tg *t = y->t;
    if (y->timer) t->host->timer_stop(t->ctx, y->timer);
    json_object_del(t->typing, y->chat);
    free(y);
}

static void tick(ah_ctx *ctx, ah_timer *timer, void *ud)
{
    (void)ctx;
    (void)timer;
    typing *y = ud;
    if (y->t->stopping || tg_now_ms() >= y->until_ms) {
        drop(y);
        return;
    }
    send_typing(y);
}

void tg_typing_stop(tg *t, const char *chat)
{
    typing *y = chat ? find(t, chat) : NULL;
    if (y) drop(y);
}

static uint32_t interval(const tg *t)
{
    const json_t *v = json_object_get(t->config, "typing_interval_ms");
    return json_is_integer(v) && json_integer_value(v) >= 500 ? (uint32_t)json_integer_value(v)
                                                              : 4500;
}

void tg_typing_action(tg *t, ah_call *call, const json_t *args)
{
    const json_t *cid = json_object_get(args, "chat_id");
    char chat[64];
    if (json_is_integer(cid))
        snprintf(chat, sizeof(chat), "%lld", (long long)json_integer_value(cid));
    else
        snprintf(chat, sizeof(chat), "%s", json_string_value(cid) ? json_string_value(cid) : "");
    bool on = json_is_true(json_object_get(args, "on"));
    bool enabled = !json_is_false(json_object_get(t->config, "typing"));
    if (!*chat) {
        t->host->reply_error(call, "invalid", "chat_id is needed");
        return;
    }
    if (!on || !enabled || !t->ready) {
        tg_typing_stop(t, chat);
        t->host->reply(call, json_pack("{s:s,s:b}", "chat_id", chat, "typing", 0));
        return;
    }
    typing *y = find(t, chat);
    if (!y) {
        y = calloc(1, sizeof(*y));
        if (!y) {
            t->host->reply_error(call, "no_memory", "out of memory");
            return;
        }
        *y = (typing){.t = t};
        snprintf(y->chat, sizeof(y->chat), "%s", chat);
        if (!t->typing) t->typing = json_object();
        json_object_set_new(t->typing, chat, json_integer((json_int_t)(uintptr_t)y));
        uint32_t every = interval(t);
        y->timer = t->host->timer_start(t->ctx, every, every, tick, y);
        send_typing(y);
    }
    y->until_ms = tg_now_ms() + TYPING_MAX_MS;
    t->host->reply(call, json_pack("{s:s,s:b}", "chat_id", chat, "typing", 1));
}

size_t tg_typing_count(const tg *t)
{
    return json_object_size(t->typing);
}

void tg_typing_free_all(tg *t)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(t->typing, tmp, k, v)
    {
        drop((typing *)(uintptr_t)json_integer_value(v));
    }
    json_decref(t->typing);
    t->typing = NULL;
}
