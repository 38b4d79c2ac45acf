/*
 * map.c - a Telegram Update as the unified message. See map.h and
 * docs/channels.md for the table this follows.
 */
#include "map.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* A Telegram id (a number, or already a string) as a string, or NULL. */
static json_t *id_of(const json_t *v)
{
    char b[32];
    if (json_is_integer(v)) {
        snprintf(b, sizeof(b), "%lld", (long long)json_integer_value(v));
        return json_string(b);
    }
    if (json_is_string(v)) return json_incref((json_t *)v);
    return NULL;
}

static void set_id(json_t *o, const char *k, const json_t *v)
{
    json_t *s = id_of(v);
    if (s) json_object_set_new(o, k, s);
}

void tg_rfc3339(int64_t unix_s, int ms, char *out, size_t outlen)
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    if (ms >= 0)
        snprintf(out, outlen, "%s.%03dZ", base, ms);
    else
        snprintf(out, outlen, "%sZ", base);
}

int tg_language(const char *code, char *out, size_t outlen)
{
    if (!code || !isalpha((unsigned char)code[0]) || !isalpha((unsigned char)code[1])) return 0;
    size_t lang = 2;
    while (isalpha((unsigned char)code[lang]) && lang < 3)
        lang++;
    if (code[lang] && code[lang] != '-' && code[lang] != '_') return 0;
    char l[4] = {0};
    for (size_t i = 0; i < lang; i++)
        l[i] = (char)tolower((unsigned char)code[i]);
    const char *rest = code[lang] ? code + lang + 1 : "";
    size_t rl = strlen(rest);
    if (rl == 2 && isalpha((unsigned char)rest[0]) && isalpha((unsigned char)rest[1]))
        snprintf(out, outlen, "%s-%c%c", l, toupper((unsigned char)rest[0]),
                 toupper((unsigned char)rest[1]));
    else
        snprintf(out, outlen, "%s", l); /* a script (zh-hans) or nothing: the language alone */
    return 1;
}

/* Bytes of the first `units` UTF-16 code units of s. */
static size_t utf16_bytes(const char *s, size_t units)
{
    size_t i = 0, u = 0;
    while (s[i] && u < units) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        u += n == 4 ? 2 : 1;
        for (size_t k = 0; k < n && s[i]; k++)
            i++;
    }
    return i;
}

/* ---- who and where ------------------------------------------------------------------ */

static json_t *chat_of(const json_t *c, const json_t *msg)
{
    json_t *o = json_object();
    set_id(o, "id", json_object_get(c, "id"));
    const char *t = str(c, "type");
    if (t) {
        const char *m = !strcmp(t, "supergroup") || !strcmp(t, "group") ? "group" : t;
        if (!strcmp(m, "private") || !strcmp(m, "group") || !strcmp(m, "channel"))
            json_object_set_new(o, "type", json_string(m));
    }
    if (str(c, "title")) json_object_set(o, "title", json_object_get(c, "title"));
    if (msg && json_is_true(json_object_get(msg, "is_topic_message")))
        set_id(o, "thread_id", json_object_get(msg, "message_thread_id"));
    return o;
}

static json_t *person_of(const json_t *u)
{
    json_t *o = json_object();
    set_id(o, "id", json_object_get(u, "id"));
    json_object_set_new(o, "type",
                        json_string(json_is_true(json_object_get(u, "is_bot")) ? "bot" : "user"));
    const char *first = str(u, "first_name"), *last = str(u, "last_name");
    char name[512];
    if (first || last) {
        snprintf(name, sizeof(name), "%s%s%s", first ? first : "", first && last ? " " : "",
                 last ? last : "");
        json_object_set_new(o, "name", json_string(name));
    }
    if (str(u, "username")) json_object_set(o, "username", json_object_get(u, "username"));
    return o;
}

static json_t *sender_of(const json_t *msg)
{
    const json_t *sc = json_object_get(msg, "sender_chat");
    if (!json_is_object(sc) && !json_is_object(json_object_get(msg, "from")))
        sc = json_object_get(msg, "chat"); /* a channel post of old */
    if (json_is_object(sc)) {
        json_t *o = json_pack("{s:s}", "type", "chat");
        set_id(o, "id", json_object_get(sc, "id"));
        const char *t = str(sc, "title");
        if (t) json_object_set_new(o, "name", json_string(t));
        if (str(sc, "username")) json_object_set(o, "username", json_object_get(sc, "username"));
        return o;
    }
    return person_of(json_object_get(msg, "from"));
}

static void set_language(json_t *m, const json_t *user)
{
    char lang[16];
    if (tg_language(str(user, "language_code"), lang, sizeof(lang)))
        json_object_set_new(m, "language", json_string(lang));
}

/* ---- what it carries ------------------------------------------------------------------ */

static void copy_num(json_t *dst, const char *to, const json_t *src, const char *from)
{
    const json_t *v = json_object_get(src, from);
    if (json_is_number(v)) json_object_set(dst, to, (json_t *)v);
}

static json_t *file_att(const char *kind, const json_t *f)
{
    const char *fid = str(f, "file_id");
    if (!fid) return NULL;
    char ref[400];
    snprintf(ref, sizeof(ref), "telegram:%s", fid);
    json_t *a = json_pack("{s:s,s:s}", "kind", kind, "ref", ref);
    if (str(f, "file_name")) json_object_set(a, "name", json_object_get(f, "file_name"));
    if (str(f, "mime_type")) json_object_set(a, "mime_type", json_object_get(f, "mime_type"));
    copy_num(a, "size", f, "file_size");
    copy_num(a, "width", f, "width");
    copy_num(a, "height", f, "height");
    copy_num(a, "duration_s", f, "duration");
    if (str(f, "emoji")) json_object_set(a, "emoji", json_object_get(f, "emoji"));
    return a;
}

/* The largest photo size by area, then by bytes. */
static json_t *photo_att(const json_t *sizes)
{
    const json_t *best = NULL, *p;
    long long ba = -1, bb = -1;
    size_t i;
    json_array_foreach(sizes, i, p)
    {
        long long a = json_integer_value(json_object_get(p, "width")) *
                      json_integer_value(json_object_get(p, "height"));
        long long b = json_integer_value(json_object_get(p, "file_size"));
        if (a > ba || (a == ba && b > bb)) {
            best = p;
            ba = a;
            bb = b;
        }
    }
    json_t *a = best ? file_att("image", best) : NULL;
    if (a) json_object_set_new(a, "mime_type", json_string("image/jpeg"));
    return a;
}

static json_t *attachments_of(const json_t *msg)
{
    json_t *list = json_array();
    if (json_array_size(json_object_get(msg, "photo")))
        json_array_append_new(list, photo_att(json_object_get(msg, "photo")));
    static const char *const files[] = {"document",   "audio",     "voice",  "video",
                                        "video_note", "animation", "sticker"};
    bool animation = json_is_object(json_object_get(msg, "animation"));
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        /* An animation comes with a document copy of itself: one attachment. */
        if (animation && !strcmp(files[i], "document")) continue;
        const json_t *f = json_object_get(msg, files[i]);
        json_t *a = json_is_object(f) ? file_att(files[i], f) : NULL;
        if (a) json_array_append_new(list, a);
    }
    const json_t *venue = json_object_get(msg, "venue");
    const json_t *loc = json_is_object(venue) ? json_object_get(venue, "location")
                                              : json_object_get(msg, "location");
    if (json_is_object(loc)) {
        json_t *a = json_pack("{s:s}", "kind", "location");
        copy_num(a, "latitude", loc, "latitude");
        copy_num(a, "longitude", loc, "longitude");
        if (str(venue, "title")) json_object_set(a, "title", json_object_get(venue, "title"));
        if (str(venue, "address")) json_object_set(a, "address", json_object_get(venue, "address"));
        json_array_append_new(list, a);
    }
    const json_t *ct = json_object_get(msg, "contact");
    if (json_is_object(ct) && str(ct, "phone_number")) {
        json_t *a =
            json_pack("{s:s,s:O}", "kind", "contact", "phone", json_object_get(ct, "phone_number"));
        json_t *p = person_of(ct);
        if (json_object_get(p, "name")) json_object_set(a, "name", json_object_get(p, "name"));
        json_decref(p);
        if (str(ct, "vcard")) json_object_set(a, "vcard", json_object_get(ct, "vcard"));
        json_array_append_new(list, a);
    }
    static const char *const others[] = {"dice", "poll", "game", "story", "invoice"};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        if (json_object_get(msg, others[i]))
            json_array_append_new(list, json_pack("{s:s,s:s}", "kind", "other", "name", others[i]));
    return list;
}

/* A text starting with a bot_command entity: {name, bot, args}. */
static json_t *command_of(const char *text, const json_t *entities)
{
    const json_t *e = json_array_get(entities, 0);
    if (!text || text[0] != '/') return NULL;
    size_t len;
    if (e) {
        if (json_integer_value(json_object_get(e, "offset")) != 0 || !str(e, "type") ||
            strcmp(str(e, "type"), "bot_command"))
            return NULL;
        len = utf16_bytes(text, (size_t)json_integer_value(json_object_get(e, "length")));
    } else { /* no entities (a hand-made update): the command's own characters */
        len = 1;
        while (isalnum((unsigned char)text[len]) || text[len] == '_' || text[len] == '@')
            len++;
        if (len == 1) return NULL;
    }
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "%.*s", (int)(len > 1 ? len - 1 : 0), text + 1);
    char *at = strchr(cmd, '@');
    if (at) *at++ = 0;
    for (char *p = cmd; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    json_t *c = json_pack("{s:s}", "name", cmd);
    if (at && *at) json_object_set_new(c, "bot", json_string(at));
    const char *args = text + len;
    while (*args == ' ' || *args == '\n')
        args++;
    if (*args) json_object_set_new(c, "args", json_string(args));
    return c;
}

/* ---- the update ------------------------------------------------------------------------- */

static json_t *envelope(const char *kind, const char *instance)
{
    return json_pack("{s:i,s:s,s:s,s:{s:s,s:s}}", "event_version", 1, "direction", "in", "kind",
                     kind, "channel", "kind", "telegram", "instance", instance);
}

static json_t *from_callback(const json_t *cq, const char *instance, int64_t now_ms)
{
    json_t *m = envelope("action", instance);
    char at[40];
    tg_rfc3339(now_ms / 1000, (int)(now_ms % 1000), at, sizeof(at));
    json_object_set_new(m, "at", json_string(at));
    set_language(m, json_object_get(cq, "from"));
    const json_t *msg = json_object_get(cq, "message");
    if (json_is_object(json_object_get(msg, "chat")))
        json_object_set_new(m, "chat", chat_of(json_object_get(msg, "chat"), msg));
    else
        json_object_set_new(m, "chat", json_pack("{s:s}", "type", "private"));
    if (!json_object_get(json_object_get(m, "chat"), "id"))
        set_id(json_object_get(m, "chat"), "id",
               json_object_get(json_object_get(cq, "from"), "id"));
    json_object_set_new(m, "from", person_of(json_object_get(cq, "from")));
    json_t *a = json_object();
    if (str(cq, "data")) json_object_set(a, "data", json_object_get(cq, "data"));
    if (str(cq, "game_short_name") && !str(cq, "data"))
        json_object_set(a, "data", json_object_get(cq, "game_short_name"));
    if (json_is_object(msg)) {
        json_t *ext = id_of(json_object_get(msg, "message_id"));
        if (ext) json_object_set_new(a, "message", json_pack("{s:o}", "external_id", ext));
    }
    set_id(a, "query_id", json_object_get(cq, "id"));
    json_object_set_new(m, "action", a);
    return m;
}

/* Which of an Update's fields holds a message, and the kind it makes. */
static const json_t *message_in(const json_t *u, const char **kind)
{
    static const struct {
        const char *field, *kind;
    } fields[] = {{"message", "message"},          {"edited_message", "edit"},
                  {"channel_post", "message"},     {"edited_channel_post", "edit"},
                  {"business_message", "message"}, {"edited_business_message", "edit"}};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const json_t *m = json_object_get(u, fields[i].field);
        if (json_is_object(m)) {
            *kind = fields[i].kind;
            return m;
        }
    }
    return NULL;
}

static void set_reply_to(json_t *m, const json_t *msg)
{
    const json_t *r = json_object_get(msg, "reply_to_message");
    if (!json_is_object(r)) return;
    /* In a forum topic every message "replies" to the topic's creation. */
    if (json_object_get(r, "forum_topic_created")) return;
    json_t *ext = id_of(json_object_get(r, "message_id"));
    if (ext) json_object_set_new(m, "reply_to", json_pack("{s:o}", "external_id", ext));
}

static void set_content(json_t *m, const json_t *msg, json_t *att)
{
    const char *text = str(msg, "text");
    const json_t *ents = json_object_get(msg, "entities");
    if (!text) {
        text = str(msg, "caption");
        ents = json_object_get(msg, "caption_entities");
    }
    if (text) json_object_set_new(m, "text", json_string(text));
    if (json_array_size(ents)) json_object_set(m, "entities", (json_t *)ents);
    if (json_array_size(att)) json_object_set(m, "attachments", att);
}

/* Service messages: what happened in the chat, not what someone wrote. */
static const char *const SERVICE[] = {"new_chat_members",
                                      "left_chat_member",
                                      "new_chat_title",
                                      "new_chat_photo",
                                      "delete_chat_photo",
                                      "group_chat_created",
                                      "supergroup_chat_created",
                                      "channel_chat_created",
                                      "message_auto_delete_timer_changed",
                                      "migrate_to_chat_id",
                                      "migrate_from_chat_id",
                                      "pinned_message",
                                      "successful_payment",
                                      "refunded_payment",
                                      "users_shared",
                                      "chat_shared",
                                      "connected_website",
                                      "write_access_allowed",
                                      "passport_data",
                                      "proximity_alert_triggered",
                                      "boost_added",
                                      "chat_background_set",
                                      "forum_topic_created",
                                      "forum_topic_edited",
                                      "forum_topic_closed",
                                      "forum_topic_reopened",
                                      "general_forum_topic_hidden",
                                      "general_forum_topic_unhidden",
                                      "giveaway_created",
                                      "giveaway_completed",
                                      "video_chat_scheduled",
                                      "video_chat_started",
                                      "video_chat_ended",
                                      "video_chat_participants_invited"};

/* The fields every message may carry beside its content. */
static const char *const ENVELOPE[] = {"message_id",
                                       "from",
                                       "chat",
                                       "date",
                                       "sender_chat",
                                       "message_thread_id",
                                       "is_topic_message",
                                       "reply_to_message",
                                       "forward_origin",
                                       "forward_from",
                                       "forward_from_chat",
                                       "forward_from_message_id",
                                       "forward_signature",
                                       "forward_sender_name",
                                       "forward_date",
                                       "via_bot",
                                       "edit_date",
                                       "has_protected_content",
                                       "is_automatic_forward",
                                       "author_signature",
                                       "media_group_id",
                                       "entities",
                                       "caption_entities",
                                       "link_preview_options",
                                       "reply_markup",
                                       "business_connection_id",
                                       "sender_boost_count",
                                       "sender_business_bot",
                                       "quote",
                                       "external_reply",
                                       "reply_to_story",
                                       "is_from_offline",
                                       "effect_id",
                                       "show_caption_above_media",
                                       "has_media_spoiler",
                                       "text",
                                       "caption"};

static bool listed(const char *k, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(k, list[i])) return true;
    return false;
}

static json_t *from_message(const json_t *msg, const char *kind, const char *instance,
                            const char *bot, char *why, size_t whylen)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)msg, k,
                        v) if (listed(k, SERVICE, sizeof(SERVICE) / sizeof(*SERVICE)))
    {
        snprintf(why, whylen, "a service message (%s), not a message", k);
        return NULL;
    }
    json_t *att = attachments_of(msg);
    const json_t *wad = json_object_get(msg, "web_app_data");
    if (!str(msg, "text") && !str(msg, "caption") && !json_array_size(att) &&
        !json_is_object(wad)) {
        /* Content this mapping does not know: named, so that it is not silence. */
        const char *what = NULL;
        json_object_foreach((json_t *)msg, k,
                            v) if (!listed(k, ENVELOPE, sizeof(ENVELOPE) / sizeof(*ENVELOPE)))
        {
            what = k;
            break;
        }
        if (!what) {
            snprintf(why, whylen, "a message with nothing in it");
            json_decref(att);
            return NULL;
        }
        json_array_append_new(att, json_pack("{s:s,s:s}", "kind", "other", "name", what));
    }
    json_t *m = envelope(json_is_object(wad) ? "action" : kind, instance);
    set_id(m, "external_id", json_object_get(msg, "message_id"));
    char at[40];
    tg_rfc3339(json_integer_value(json_object_get(msg, "date")), -1, at, sizeof(at));
    json_object_set_new(m, "at", json_string(at));
    if (json_is_integer(json_object_get(msg, "edit_date")) && !strcmp(kind, "edit")) {
        tg_rfc3339(json_integer_value(json_object_get(msg, "edit_date")), -1, at, sizeof(at));
        json_object_set_new(m, "edited_at", json_string(at));
    }
    set_language(m, json_object_get(msg, "from"));
    json_object_set_new(m, "chat", chat_of(json_object_get(msg, "chat"), msg));
    json_object_set_new(m, "from", sender_of(msg));
    if (!strcmp(kind, "edit") && !json_is_object(wad))
        json_object_set_new(m, "edit_of",
                            json_pack("{s:O}", "external_id", json_object_get(m, "external_id")));
    set_reply_to(m, msg);
    if (json_is_object(wad)) {
        json_t *a = json_object();
        if (str(wad, "data")) json_object_set(a, "data", json_object_get(wad, "data"));
        if (str(wad, "button_text"))
            json_object_set(a, "text", json_object_get(wad, "button_text"));
        json_object_set_new(m, "action", a);
        json_decref(att);
        return m;
    }
    set_content(m, msg, att);
    json_decref(att);
    json_t *cmd = command_of(str(m, "text"), json_object_get(m, "entities"));
    const char *to = str(cmd, "bot");
    if (cmd && to && bot && strcasecmp(to, bot) != 0) {
        snprintf(why, whylen, "a command for another bot (@%s)", to);
        json_decref(cmd);
        json_decref(m);
        return NULL;
    }
    if (cmd) json_object_set_new(m, "command", cmd);
    return m;
}

json_t *tg_map_update(const json_t *u, const char *instance, const char *bot, int64_t now_ms,
                      char *why, size_t whylen)
{
    if (!json_is_object(u)) {
        snprintf(why, whylen, "not an Update (not an object)");
        return NULL;
    }
    const char *kind = NULL;
    const json_t *msg = message_in(u, &kind);
    json_t *m = NULL;
    if (msg) {
        m = from_message(msg, kind, instance, bot, why, whylen);
    } else if (json_is_object(json_object_get(u, "callback_query"))) {
        m = from_callback(json_object_get(u, "callback_query"), instance, now_ms);
    } else {
        const char *k;
        json_t *v;
        snprintf(why, whylen, "an update that is not a message");
        json_object_foreach((json_t *)u, k, v) if (strcmp(k, "update_id"))
        {
            snprintf(why, whylen, "%s, not a message", k);
            break;
        }
        return NULL;
    }
    if (!m) return NULL;
    if (!str(json_object_get(m, "chat"), "id") || !str(json_object_get(m, "from"), "id")) {
        snprintf(why, whylen, "a message without a chat or a sender");
        json_decref(m);
        return NULL;
    }
    json_object_set(m, "raw", (json_t *)u);
    return m;
}

int tg_member_change(const json_t *u, char *chat, size_t chatlen)
{
    const json_t *mcm = json_object_get(u, "my_chat_member");
    if (!json_is_object(mcm)) return -1;
    json_t *id = id_of(json_object_get(json_object_get(mcm, "chat"), "id"));
    if (!id) return -1;
    snprintf(chat, chatlen, "%s", json_string_value(id));
    json_decref(id);
    const char *st = str(json_object_get(mcm, "new_chat_member"), "status");
    if (!st) return -1;
    if (!strcmp(st, "kicked") || !strcmp(st, "left")) return 1;
    return 0;
}

/* ---- membership: platform events ------------------------------------------------------ */

static bool status_in(const char *s)
{
    return s && (!strcmp(s, "member") || !strcmp(s, "administrator") || !strcmp(s, "creator") ||
                 !strcmp(s, "restricted"));
}

static bool status_out(const char *s)
{
    return s && (!strcmp(s, "left") || !strcmp(s, "kicked"));
}

/* What a change of status means, for the bot itself (self) or a member. */
static const char *change_of(const char *chat_type, const char *old, const char *now, bool self)
{
    bool private_chat = chat_type && !strcmp(chat_type, "private");
    if (self && private_chat) {
        if (now && !strcmp(now, "kicked")) return "blocked";
        if (old && !strcmp(old, "kicked") && status_in(now)) return "unblocked";
    }
    if (status_out(old) && status_in(now)) return self ? "added" : "joined";
    if (status_in(old) && now && !strcmp(now, "kicked")) return self ? "removed" : "banned";
    if (status_in(old) && now && !strcmp(now, "left")) return self ? "removed" : "left";
    if (old && now && strcmp(old, "administrator") && strcmp(old, "creator") &&
        (!strcmp(now, "administrator") || !strcmp(now, "creator")))
        return "promoted";
    if (old && now && (!strcmp(old, "administrator") || !strcmp(old, "creator")) &&
        !strcmp(now, "member"))
        return "demoted";
    if (now && !strcmp(now, "restricted")) return "restricted";
    return "other";
}

json_t *tg_member_event(const json_t *u, const char *instance)
{
    const char *field = json_is_object(json_object_get(u, "my_chat_member")) ? "my_chat_member"
                        : json_is_object(json_object_get(u, "chat_member"))  ? "chat_member"
                                                                             : NULL;
    if (!field) return NULL;
    bool self = !strcmp(field, "my_chat_member");
    const json_t *cm = json_object_get(u, field);
    const json_t *oldm = json_object_get(cm, "old_chat_member");
    const json_t *newm = json_object_get(cm, "new_chat_member");
    const char *old = str(oldm, "status"), *now = str(newm, "status");
    json_t *chat = chat_of(json_object_get(cm, "chat"), NULL);
    json_object_del(chat, "title");
    json_t *user = id_of(json_object_get(json_object_get(newm, "user"), "id"));
    if (!str(chat, "id") || !str(chat, "type") || !now || !user) {
        json_decref(chat);
        json_decref(user);
        return NULL;
    }
    const char *ctype = str(json_object_get(cm, "chat"), "type");
    char at[40], upd[32];
    tg_rfc3339(json_integer_value(json_object_get(cm, "date")), 0, at, sizeof(at));
    snprintf(upd, sizeof(upd), "%lld",
             (long long)json_integer_value(json_object_get(u, "update_id")));
    json_t *e = json_pack("{s:s,s:i,s:s,s:{s:s,s:s},s:o,s:s,s:{s:s,s:s},s:o,s:s}", "type",
                          self ? "chat.bot_status_changed" : "chat.member_changed", "event_version",
                          1, "at", at, "channel", "kind", "telegram", "instance", instance, "chat",
                          chat, "change", change_of(ctype, old, now, self), "status", "old",
                          old ? old : "unknown", "new", now, "user_id", user, "external_id", upd);
    set_id(e, "by_id", json_object_get(json_object_get(cm, "from"), "id"));
    if (!self && json_is_true(json_object_get(json_object_get(newm, "user"), "is_bot")))
        json_object_set_new(e, "user_is_bot", json_true());
    return e;
}
