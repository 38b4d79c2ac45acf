/*
 * fake_telegram_member.c - membership updates as Telegram sends them
 * (my_chat_member, chat_member; the shapes of the recorded samples in
 * tests/fixtures/telegram/updates_samples.json), and what they change in
 * the fake: a person who blocks the bot (my_chat_member to "kicked" in a
 * private chat) gets 403 from then on, one who unblocks it does not.
 */
#include "fake_telegram.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BOT_ID 7000000001LL

static json_t *user(json_int_t id, bool bot)
{
    return bot ? json_pack("{s:I,s:b,s:s,s:s}", "id", id, "is_bot", 1, "first_name",
                           "Agenthost Test", "username", "agenthost_test_bot")
               : json_pack("{s:I,s:b,s:s,s:s,s:s}", "id", id, "is_bot", 0, "first_name", "Anna",
                           "last_name", "Petrova", "username", "anna_p");
}

json_t *member_update(const json_t *a)
{
    const char *kind = json_string_value(json_object_get(a, "kind"));
    bool self = !kind || !strcmp(kind, "my_chat_member");
    json_int_t chat = json_integer_value(json_object_get(a, "chat_id"));
    json_int_t from =
        json_object_get(a, "from_id") ? json_integer_value(json_object_get(a, "from_id")) : chat;
    json_int_t who = self ? BOT_ID
                     : json_object_get(a, "user_id")
                         ? json_integer_value(json_object_get(a, "user_id"))
                         : from;
    const char *type = json_string_value(json_object_get(a, "chat_type"));
    const char *old = json_string_value(json_object_get(a, "old"));
    const char *now = json_string_value(json_object_get(a, "new"));
    json_t *ch = json_pack("{s:I,s:s}", "id", chat, "type", type ? type : "private");
    if (type && strcmp(type, "private"))
        json_object_set_new(ch, "title", json_string("Test group"));
    else {
        json_object_set_new(ch, "first_name", json_string("Anna"));
        json_object_set_new(ch, "username", json_string("anna_p"));
    }
    json_t *body =
        json_pack("{s:o,s:o,s:I,s:{s:s,s:o},s:{s:s,s:o}}", "chat", ch, "from", user(from, false),
                  "date", (json_int_t)time(NULL), "old_chat_member", "status", old ? old : "member",
                  "user", user(who, self), "new_chat_member", "status", now ? now : "member",
                  "user", user(who, self));
    if (self && (!type || !strcmp(type, "private"))) {
        char id[32];
        snprintf(id, sizeof(id), "%lld", (long long)chat);
        if (now && !strcmp(now, "kicked"))
            json_object_set_new(F.blocked, id, json_true());
        else
            json_object_del(F.blocked, id);
    }
    return json_pack("{s:o}", self ? "my_chat_member" : "chat_member", body);
}
