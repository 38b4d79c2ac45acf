/*
 * map.h - a Telegram Update as the platform's unified message
 * (docs/channels.md, "Channel mappings: Telegram"). Pure functions: no
 * host, no I/O, so the unit tests run them over every recorded update.
 */
#ifndef TG_MAP_H
#define TG_MAP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The message.in body an Update maps to (a new reference), or NULL when it
 * is not a message (a service message, my_chat_member, a poll answer, a
 * command addressed to another bot...): then `why` says what it was.
 * instance: this bot's instance id; bot: its username from getMe (NULL
 * when unknown: commands for any bot are taken); now_ms: the time given
 * to what Telegram sends without a date (a callback query). The whole
 * Update is kept in `raw`. Old shapes (2017: no file_unique_id,
 * forward_from) and new ones are read alike. */
json_t *tg_map_update(const json_t *update, const char *instance, const char *bot, int64_t now_ms,
                      char *why, size_t whylen);

/* What a non-message Update says of the bot's standing in a chat: for a
 * my_chat_member update, 1 when the bot was blocked or removed ("kicked",
 * "left"), 0 when it was (re)admitted, -1 for anything else. The chat's id
 * into chat. */
int tg_member_change(const json_t *update, char *chat, size_t chatlen);

/* A my_chat_member or chat_member update as the platform event it
 * publishes on platform.chat (docs/channels/telegram.md, "Membership"):
 * chat.bot_status_changed (the bot blocked, unblocked, added, removed...)
 * or chat.member_changed (someone joined, left...), a new reference; NULL
 * for any other update or one missing its chat, status or user. */
json_t *tg_member_event(const json_t *update, const char *instance);

/* A Telegram language_code as BCP 47 the way the model wants it ("pt-br"
 * -> "pt-BR", "zh-hans" -> "zh", "en" -> "en"), into out; false when it
 * is not one. */
int tg_language(const char *code, char *out, size_t outlen);

/* Unix seconds (plus milliseconds) as RFC 3339 UTC: "2021-02-28T23:35:05Z",
 * or with ms >= 0 "2020-03-23T17:31:52.480Z". */
void tg_rfc3339(int64_t unix_s, int ms, char *out, size_t outlen);

#endif
