/*
 * pace.c - the per-bot send scheduler: Telegram's limits kept before it
 * has to answer 429. Three leaky buckets (the generic cell rate
 * algorithm): the bot as a whole (about 30 messages a second), each chat
 * (about one a second, a short burst allowed), each group (20 a minute).
 * A call reserves its slot in every bucket it belongs to and waits for
 * the latest; nothing is dropped, later calls queue behind earlier ones.
 */
#include "tg.h"

#include <stdlib.h>
#include <string.h>

/* Reserve one slot: the ms to wait, with tat the bucket's theoretical
 * arrival time (ms), interval ms per message, burst messages at once. */
static double reserve(double *tat, double now, double interval, double burst)
{
    if (*tat < now) *tat = now;
    double wait = *tat - now - (burst - 1) * interval;
    *tat += interval;
    return wait > 0 ? wait : 0;
}

static double cfg(const tg *t, const char *k, double def)
{
    const json_t *v = json_object_get(json_object_get(t->config, "send_limits"), k);
    return json_is_number(v) && json_number_value(v) > 0 ? json_number_value(v) : def;
}

/* A chat's bucket, kept in t->pace as chat -> tat. */
static double chat_slot(tg *t, const char *chat, double now, double interval, double burst)
{
    double tat = json_number_value(json_object_get(t->pace, chat));
    double wait = reserve(&tat, now, interval, burst);
    json_object_set_new(t->pace, chat, json_real(tat));
    return wait;
}

/* Forget chats whose buckets are empty again, now and then. */
static void prune(tg *t, double now)
{
    if (json_object_size(t->pace) < 10000) return;
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(t->pace, tmp, k, v) if (json_number_value(v) < now)
        json_object_del(t->pace, k);
}

uint32_t tg_pace(tg *t, const char *chat)
{
    if (!t->pace) t->pace = json_object();
    double now = (double)tg_now_ms();
    prune(t, now);
    double wait = reserve(&t->bot_tat, now, 1000.0 / cfg(t, "per_second", 30), cfg(t, "burst", 30));
    bool group = chat[0] == '-';
    double w = group ? chat_slot(t, chat, now, 60000.0 / cfg(t, "per_group_per_minute", 20),
                                 cfg(t, "group_burst", 5))
                     : chat_slot(t, chat, now, 1000.0 / cfg(t, "per_chat_per_second", 1),
                                 cfg(t, "chat_burst", 3));
    if (w > wait) wait = w;
    return (uint32_t)(wait + 0.5);
}
