/*
 * fake_telegram.h - the fake Bot API's state, shared by its two files:
 * fake_telegram.c (the methods and the control endpoints) and
 * fake_telegram_hook.c (webhook deliveries, from a pool of threads).
 * Everything runs on the one libuv loop but the senders' POSTs.
 */
#ifndef FAKE_TELEGRAM_H
#define FAKE_TELEGRAM_H

#include "fake_http.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fake_tg {
    const char *token;
    json_t *pending; /* updates not yet confirmed, in order */
    json_int_t next_update_id, next_message_id;
    char *webhook_url, *webhook_secret;
    json_t *in_flight;  /* update id -> its chat, while POSTed */
    json_t *chats_busy; /* chat -> true while one of its updates is POSTed */
    int64_t hold_until_ms;
    json_t *injected;    /* chat -> when its last update was injected (ms) */
    json_t *latencies;   /* ms from an update's injection to the first sendMessage to its chat */
    json_t *sent;        /* [{method, chat_id, params, message_id}] */
    json_t *callbacks;   /* query id -> answered */
    json_t *blocked;     /* chat id -> true */
    json_t *files;       /* file_id -> {file_path, content} */
    json_t *migrated;    /* old group chat id -> its supergroup's id */
    json_t *limits;      /* chat id -> {count, retry_after} */
    long per_chat_per_s; /* enforced like Telegram when > 0: more in a second is 429 */
    json_t *recent;      /* chat id -> [send times, ms] within the last second */
    json_t *stats;
    uv_loop_t *uv;
    uv_async_t async;
    uv_timer_t retry;
    fh_server *srv;
} fake_tg;

extern fake_tg F;

#define SENDERS 40 /* webhook connections at once: Telegram's default max_connections */

/* A counter in /_fake/stats. */
void count(const char *what);
/* Monotonic milliseconds. */
int64_t now_ms(void);
/* The chat an update is about ("" when none). */
void update_chat(const json_t *u, char *out, size_t n);

/* A my_chat_member or chat_member update (fake_telegram_member.c) from
 * {"kind", "chat_id", "chat_type"?, "from_id"?, "user_id"?, "old", "new"};
 * blocking or unblocking the bot in a private chat changes its 403s. */
json_t *member_update(const json_t *args);

/* A multipart/form-data body (content type ct) into params: 0, or -1 with
 * Telegram's kind of 400 description in why (fake_telegram_upload.c). */
int multipart_into(json_t *params, const char *ct, const char *body, size_t len, char *why,
                   size_t whyn);

/* Webhook deliveries: start the sender threads (and the loop's handles),
 * send what is pending, stop the threads. */
int hooks_start(pthread_t *threads);
void pump(void);
void hooks_stop(pthread_t *threads);

#endif
