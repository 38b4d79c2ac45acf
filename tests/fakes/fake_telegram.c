/*
 * fake_telegram - a protocol-faithful fake of the Telegram Bot API over
 * real HTTP on loopback, for the integration tests and the benchmarks.
 *
 *   fake_telegram [--port N] [--port-file PATH] [--token TOKEN]
 *
 * The Bot API as core.telegram.org/bots/api describes it and as the
 * recorded exchanges in tests/fixtures/telegram show it: every call is
 * /bot<token>/<method> with JSON, form or query parameters, answered with
 * {"ok": true, "result": ...} or {"ok": false, "error_code",
 * "description", "parameters"?}. A wrong token is 401 "Unauthorized".
 *
 *   getMe                 the bot (@agenthost_test_bot)
 *   getUpdates            long poll: waits up to `timeout` s for an update
 *                         with an id >= offset; asking with an offset confirms
 *                         (forgets) every earlier one; 409 while a webhook is set
 *   setWebhook            url, secret_token (checked: 1-256 of A-Z a-z 0-9 _ -),
 *                         drop_pending_updates; then every update is POSTed to
 *                         the url (40 connections, one update per chat at a time,
 *                         in order within a chat), with the header
 *                         X-Telegram-Bot-Api-Secret-Token, and sent again after a
 *                         non-2xx answer (as Telegram does)
 *   deleteWebhook, getWebhookInfo
 *   sendMessage           chat_id, text (<= 4096 characters after entity parsing),
 *                         parse_mode HTML (tags and entities checked) or
 *                         MarkdownV2 (reserved characters must be escaped),
 *                         reply_markup (callback_data <= 64 bytes); answers the Message
 *   getFile, and the file at /file/bot<token>/<file_path>
 *   uploads: any method's parameters as multipart/form-data (fake_telegram_upload.c);
 *                         a file part answers with its new file_id
 *   editMessageText, editMessageReplyMarkup (the message must exist),
 *   sendPhoto, sendDocument, ..., sendChatAction, answerCallbackQuery (the
 *                         query must exist and be unanswered)
 *
 * A chat marked blocked answers 403 "Forbidden: bot was blocked by the
 * user"; a chat given a rate limit answers its next N sends with 429 and
 * parameters.retry_after.
 *
 * Control (for tests):
 *   POST /_fake/updates     an Update or an array of them (update_id given if absent)
 *   POST /_fake/text        {"chat_id", "text", "from_id"?, "chat_type"?, "title"?}: a
 *                           message update in the real shape (bot_command entity for a
 *                           leading /command)
 *   POST /_fake/texts       {"first_chat", "count", "text"}: one text update for each of
 *                           count chats (for load)
 *   POST /_fake/press       {"chat_id", "data", "message_id"}: a callback_query update
 *   POST /_fake/member      {"kind": "my_chat_member" | "chat_member", "chat_id", "chat_type"?,
 *                           "from_id"?, "user_id"?, "old", "new"}: a membership update;
 *                           the bot blocked ("kicked") in a private chat answers 403 from
 *                           then on, unblocked it does not
 *   POST /_fake/block       {"chat_id"}: 403 from now on
 *   POST /_fake/rate_limit  {"chat_id", "count", "retry_after"}: its next sends get 429
 *   POST /_fake/file        {"file_id", "file_path", "content"}: a file getFile finds and
 *                           /file/bot<token>/<file_path> serves
 *   POST /_fake/migrate     {"chat_id", "to"}: the group became supergroup `to`; sends to
 *                           the old id get 400 with parameters.migrate_to_chat_id
 *   POST /_fake/enforce     {"per_chat_per_second": N}: Telegram's flood control, 429
 *                           retry_after 1 past N sends to one chat within a second (0: off)
 *   GET  /_fake/sent        [?chat_id=X] what the bot sent: {method, chat_id, params,
 *                           message_id}
 *   GET  /_fake/latencies   ms from each update's injection to the first sendMessage to
 *                           its chat
 *   GET  /_fake/stats, POST /_fake/reset
 */
#include "fake_telegram.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define BOT_ID 7000000001LL
#define BOT_USERNAME "agenthost_test_bot"

fake_tg F;

/* ---- helpers ------------------------------------------------------------------------- */

static void respond_json(fh_conn *c, int status, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    fh_respond(c, status, "application/json", NULL, s, strlen(s));
    free(s);
}

static void ok(fh_conn *c, json_t *result)
{
    respond_json(c, 200, json_pack("{s:b,s:o}", "ok", 1, "result", result));
}

static void fail(fh_conn *c, int code, const char *description)
{
    respond_json(
        c, code,
        json_pack("{s:b,s:i,s:s}", "ok", 0, "error_code", code, "description", description));
}

static int hex(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static char *urldecode(const char *s, size_t n)
{
    char *o = malloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            o[k++] = ' ';
        } else if (s[i] == '%' && i + 2 < n && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
            o[k++] = (char)(hex(s[i + 1]) * 16 + hex(s[i + 2]));
            i += 2;
        } else {
            o[k++] = s[i];
        }
    }
    o[k] = 0;
    return o;
}

/* a=b&c=d into o; values that parse as JSON (numbers, objects) are taken as such. */
static void form_into(json_t *o, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != '&')
            j++;
        const char *eq = memchr(s + i, '=', j - i);
        if (eq) {
            char *k = urldecode(s + i, (size_t)(eq - s - i));
            char *v = urldecode(eq + 1, (size_t)(s + j - eq - 1));
            json_t *parsed = json_loads(v, JSON_DECODE_ANY, NULL);
            json_object_set_new(o, k, parsed ? parsed : json_string(v));
            free(k), free(v);
        }
        i = j + 1;
    }
}

static json_t *params_of(const fh_req *r)
{
    json_t *p = json_object();
    form_into(p, r->query, strlen(r->query));
    const char *ct = json_string_value(json_object_get(r->headers, "content-type"));
    if (r->body_len && ct && !strncmp(ct, "application/json", 16)) {
        json_t *b = json_loadb(r->body, r->body_len, 0, NULL);
        if (json_is_object(b)) json_object_update(p, b);
        json_decref(b);
    } else if (r->body_len && !(ct && !strncasecmp(ct, "multipart/form-data", 19))) {
        form_into(p, r->body, r->body_len);
    }
    return p;
}

/* A chat id parameter as a string ("" when absent). */
static void chat_of(const json_t *p, char *out, size_t n)
{
    const json_t *v = json_object_get(p, "chat_id");
    if (json_is_integer(v))
        snprintf(out, n, "%lld", (long long)json_integer_value(v));
    else
        snprintf(out, n, "%s", json_string_value(v) ? json_string_value(v) : "");
}

static size_t utf16_units(const char *s, size_t n)
{
    size_t u = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c & 0xC0) == 0x80) continue;
        u += c >= 0xF0 ? 2 : 1;
    }
    return u;
}

/* HTML: the visible length, or -1 with why (Telegram's wording). */
static long html_length(const char *s, char *why, size_t n)
{
    static const char *const tags[] = {
        "b",   "strong", "i",   "em", "u",          "ins",  "s",          "strike",
        "del", "code",   "pre", "a",  "tg-spoiler", "span", "blockquote", "tg-emoji"};
    long len = 0;
    for (size_t i = 0; s[i];) {
        if (s[i] == '<') {
            const char *end = strchr(s + i, '>');
            size_t k = i + 1 + (s[i + 1] == '/');
            char name[32] = "";
            size_t m = 0;
            while (s[k] && s[k] != '>' && s[k] != ' ' && m < sizeof(name) - 1)
                name[m++] = s[k++];
            name[m] = 0;
            bool known = false;
            for (size_t t = 0; t < sizeof(tags) / sizeof(tags[0]); t++)
                known |= !strcmp(name, tags[t]);
            if (!end || !known) {
                snprintf(why, n,
                         "Bad Request: can't parse entities: Unsupported start tag \"%s\" "
                         "at byte offset %zu",
                         name, i);
                return -1;
            }
            i = (size_t)(end - s) + 1;
        } else if (s[i] == '&') {
            static const char *const ents[] = {"&lt;", "&gt;", "&amp;", "&quot;"};
            size_t skip = 0;
            for (size_t t = 0; t < 4; t++)
                if (!strncmp(s + i, ents[t], strlen(ents[t]))) skip = strlen(ents[t]);
            if (!skip) {
                snprintf(why, n,
                         "Bad Request: can't parse entities: Character '&' is reserved "
                         "and must be escaped as &amp; at byte offset %zu",
                         i);
                return -1;
            }
            len++;
            i += skip;
        } else {
            size_t start = i++;
            while ((s[i] & 0xC0) == 0x80)
                i++;
            len += (long)utf16_units(s + start, i - start);
        }
    }
    return len;
}

/* MarkdownV2: reserved characters outside formatting must be escaped. */
static long mdv2_length(const char *s, char *why, size_t n)
{
    long len = 0;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == '\\' && s[i + 1]) {
            i++;
            len++;
            continue;
        }
        if (strchr("[]()>#+-=|{}.!", s[i])) {
            snprintf(why, n,
                     "Bad Request: can't parse entities: Character '%c' is reserved and "
                     "must be escaped with the preceding '\\'",
                     s[i]);
            return -1;
        }
        if (strchr("_*~`", s[i])) continue; /* formatting */
        if ((s[i] & 0xC0) != 0x80) len += ((unsigned char)s[i] >= 0xF0) ? 2 : 1;
    }
    return len;
}

static bool markup_ok(const json_t *p, char *why, size_t n)
{
    const json_t *m = json_object_get(p, "reply_markup");
    if (json_is_string(m)) m = NULL; /* a form parameter: not checked */
    size_t i, k;
    const json_t *row, *b;
    json_array_foreach(json_object_get(m, "inline_keyboard"), i, row)
    {
        json_array_foreach(row, k, b)
        {
            const char *d = json_string_value(json_object_get(b, "callback_data"));
            if (!json_string_value(json_object_get(b, "text")) || (d && (!*d || strlen(d) > 64)) ||
                (!d && !json_object_get(b, "url"))) {
                snprintf(why, n, "Bad Request: BUTTON_DATA_INVALID");
                return false;
            }
        }
    }
    return true;
}

static json_t *bot_user(void)
{
    return json_pack("{s:I,s:b,s:s,s:s}", "id", (json_int_t)BOT_ID, "is_bot", 1, "first_name",
                     "Agenthost Test", "username", BOT_USERNAME);
}

static json_t *chat_json(const char *chat)
{
    long long id = atoll(chat);
    return json_pack("{s:I,s:s}", "id", (json_int_t)id, "type", id < 0 ? "supergroup" : "private");
}

/* ---- the methods ------------------------------------------------------------------------ */

/* 403 or 429 for this chat, answered here; or false. */
/* Telegram's own flood control, when enforced: a chat sent more than
 * per_chat_per_s in the last second gets 429 retry_after 1. */
static bool over_rate(const char *chat)
{
    if (F.per_chat_per_s <= 0) return false;
    json_t *r = json_object_get(F.recent, chat);
    if (!r) json_object_set_new(F.recent, chat, r = json_array());
    int64_t now = now_ms();
    while (json_array_size(r) && now - json_integer_value(json_array_get(r, 0)) >= 1000)
        json_array_remove(r, 0);
    if ((long)json_array_size(r) >= F.per_chat_per_s) return true;
    json_array_append_new(r, json_integer(now));
    return false;
}

static bool refused(fh_conn *c, const char *chat)
{
    const json_t *to = json_object_get(F.migrated, chat);
    if (to) {
        count("migrated");
        respond_json(c, 400,
                     json_pack("{s:b,s:i,s:s,s:{s:O}}", "ok", 0, "error_code", 400, "description",
                               "Bad Request: group chat was upgraded to a supergroup chat",
                               "parameters", "migrate_to_chat_id", to));
        return true;
    }
    if (json_is_true(json_object_get(F.blocked, chat))) {
        count("forbidden");
        fail(c, 403, "Forbidden: bot was blocked by the user");
        return true;
    }
    json_t *l = json_object_get(F.limits, chat);
    json_int_t left = json_integer_value(json_object_get(l, "count"));
    bool flood = over_rate(chat);
    if (left > 0 || flood) {
        if (left > 0) json_object_set_new(l, "count", json_integer(left - 1));
        json_int_t ra = flood ? 1 : json_integer_value(json_object_get(l, "retry_after"));
        char d[100];
        snprintf(d, sizeof(d), "Too Many Requests: retry after %lld", (long long)ra);
        count("rate_limited");
        respond_json(c, 429,
                     json_pack("{s:b,s:i,s:s,s:{s:I}}", "ok", 0, "error_code", 429, "description",
                               d, "parameters", "retry_after", ra));
        return true;
    }
    return false;
}

static void record(const char *method, const char *chat, const json_t *p, json_int_t mid)
{
    json_t *t0 = json_object_get(F.injected, chat);
    if (t0 && !strcmp(method, "sendMessage")) {
        json_array_append_new(F.latencies, json_integer(now_ms() - json_integer_value(t0)));
        json_object_del(F.injected, chat);
    }
    json_array_append_new(F.sent, json_pack("{s:s,s:s,s:O,s:I}", "method", method, "chat_id", chat,
                                            "params", p, "message_id", mid));
    count(method);
}

static void send_message(fh_conn *c, const char *method, const json_t *p)
{
    char chat[64], why[300];
    chat_of(p, chat, sizeof(chat));
    if (!*chat) return fail(c, 400, "Bad Request: chat_id is empty");
    bool is_text = !strcmp(method, "sendMessage");
    const char *text = json_string_value(json_object_get(p, is_text ? "text" : "caption"));
    if (is_text && (!text || !*text)) return fail(c, 400, "Bad Request: message text is empty");
    const char *pm = json_string_value(json_object_get(p, "parse_mode"));
    long len = 0;
    if (text)
        len = pm && !strcasecmp(pm, "HTML")         ? html_length(text, why, sizeof(why))
              : pm && !strcasecmp(pm, "MarkdownV2") ? mdv2_length(text, why, sizeof(why))
                                                    : (long)utf16_units(text, strlen(text));
    if (len < 0) return fail(c, 400, why);
    if (len > (is_text ? 4096 : 1024))
        return fail(c, 400,
                    is_text ? "Bad Request: message is too long"
                            : "Bad Request: message caption is too long");
    if (!markup_ok(p, why, sizeof(why))) return fail(c, 400, why);
    const char *field = is_text ? NULL : method + 4; /* sendPhoto -> Photo */
    char media[32] = "";
    for (size_t i = 0; field && field[i] && i < sizeof(media) - 1; i++)
        media[i] = (char)(i ? field[i] : field[i] - 'A' + 'a');
    const json_t *file = *media ? json_object_get(p, media) : NULL;
    if (*media && !file) {
        snprintf(why, sizeof(why), "Bad Request: there is no %s in the request", media);
        return fail(c, 400, why);
    }
    if (refused(c, chat)) return;
    json_int_t mid = F.next_message_id++;
    record(method, chat, p, mid);
    json_t *m = json_pack("{s:I,s:o,s:o,s:I}", "message_id", mid, "from", bot_user(), "chat",
                          chat_json(chat), "date", (json_int_t)time(NULL));
    if (text) json_object_set_new(m, is_text ? "text" : "caption", json_string(text));
    if (json_is_object(json_object_get(p, "reply_markup")))
        json_object_set(m, "reply_markup", json_object_get(p, "reply_markup"));
    if (json_is_true(json_object_get(file, "upload"))) { /* a new file: its file_id */
        char fid[64];
        snprintf(fid, sizeof(fid), "AgACAgIAAxkBfakeupload%lld", (long long)mid);
        json_t *f = json_pack("{s:s,s:s,s:O}", "file_id", fid, "file_unique_id", fid + 10,
                              "file_size", json_object_get(file, "size"));
        if (!strcmp(media, "photo")) {
            json_object_set_new(f, "width", json_integer(90));
            json_object_set_new(f, "height", json_integer(90));
            json_object_set_new(m, "photo", json_pack("[o]", f));
        } else {
            json_object_set(f, "file_name", json_object_get(file, "filename"));
            json_object_set(f, "mime_type", json_object_get(file, "content_type"));
            json_object_set_new(m, media, f);
        }
    }
    ok(c, m);
}

static bool sent_exists(const char *chat, json_int_t mid)
{
    size_t i;
    const json_t *s;
    json_array_foreach(
        F.sent, i, s) if (!strcmp(json_string_value(json_object_get(s, "chat_id")), chat) &&
                          json_integer_value(json_object_get(s, "message_id")) == mid) return true;
    return false;
}

static void edit_message(fh_conn *c, const char *method, const json_t *p)
{
    char chat[64];
    chat_of(p, chat, sizeof(chat));
    json_int_t mid = json_integer_value(json_object_get(p, "message_id"));
    if (!sent_exists(chat, mid)) return fail(c, 400, "Bad Request: message to edit not found");
    if (refused(c, chat)) return;
    record(method, chat, p, mid);
    ok(c, json_pack("{s:I,s:o,s:o,s:I,s:I}", "message_id", mid, "from", bot_user(), "chat",
                    chat_json(chat), "date", (json_int_t)time(NULL), "edit_date",
                    (json_int_t)time(NULL)));
}

static bool secret_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 256) return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", s[i]))
            return false;
    return true;
}

static void set_webhook(fh_conn *c, const json_t *p)
{
    const char *url = json_string_value(json_object_get(p, "url"));
    const char *secret = json_string_value(json_object_get(p, "secret_token"));
    if (secret && !secret_ok(secret))
        return fail(c, 400, "Bad Request: secret token contains unallowed characters");
    free(F.webhook_url), free(F.webhook_secret);
    F.webhook_url = url && *url ? strdup(url) : NULL;
    F.webhook_secret = secret && url && *url ? strdup(secret) : NULL;
    if (json_is_true(json_object_get(p, "drop_pending_updates"))) json_array_clear(F.pending);
    count("setWebhook");
    respond_json(c, 200,
                 json_pack("{s:b,s:b,s:s}", "ok", 1, "result", 1, "description",
                           F.webhook_url ? "Webhook was set" : "Webhook was deleted"));
    pump();
}

/* ---- getUpdates, long-polled -------------------------------------------------------------- */

typedef struct poll {
    json_int_t offset;
    long limit;
    int64_t deadline_ms;
} poll_t;

static void confirm(json_int_t offset)
{
    while (json_array_size(F.pending) &&
           json_integer_value(json_object_get(json_array_get(F.pending, 0), "update_id")) < offset)
        json_array_remove(F.pending, 0);
}

static void poll_check(fh_conn *c, void *ud)
{
    poll_t *q = ud;
    if (F.webhook_url)
        return fail(c, 409,
                    "Conflict: can't use getUpdates method while webhook is active; use "
                    "deleteWebhook to delete the webhook first");
    json_t *out = json_array();
    size_t i;
    json_t *u;
    json_array_foreach(F.pending, i, u)
    {
        if (json_integer_value(json_object_get(u, "update_id")) < q->offset) continue;
        if ((long)json_array_size(out) >= q->limit) break;
        json_array_append(out, u);
    }
    if (json_array_size(out) || now_ms() >= q->deadline_ms) {
        ok(c, out);
        return;
    }
    json_decref(out);
    poll_t *again = malloc(sizeof(*again));
    *again = *q;
    fh_later(c, 20, poll_check, again, free);
}

static void get_updates(fh_conn *c, const json_t *p)
{
    count("getUpdates");
    poll_t q = {.offset = json_integer_value(json_object_get(p, "offset")), .limit = 100};
    if (q.offset > 0) confirm(q.offset);
    json_int_t lim = json_integer_value(json_object_get(p, "limit"));
    if (lim >= 1 && lim <= 100) q.limit = (long)lim;
    q.deadline_ms = now_ms() + 1000 * json_integer_value(json_object_get(p, "timeout"));
    poll_check(c, &q);
}

static void answer_callback(fh_conn *c, const json_t *p)
{
    const char *id = json_string_value(json_object_get(p, "callback_query_id"));
    json_t *st = id ? json_object_get(F.callbacks, id) : NULL;
    if (!st || json_is_true(st))
        return fail(c, 400,
                    "Bad Request: query is too old and response timeout expired or query "
                    "ID is invalid");
    json_object_set_new(F.callbacks, id, json_true());
    record("answerCallbackQuery", "", p, 0);
    ok(c, json_true());
}

static void bot_method(fh_conn *c, const fh_req *r)
{
    const char *rest = r->path + 4, *slash = strchr(rest, '/');
    if (!slash || strlen(F.token) != (size_t)(slash - rest) ||
        strncmp(rest, F.token, (size_t)(slash - rest)) != 0) {
        count("unauthorized");
        return fail(c, 401, "Unauthorized");
    }
    const char *m = slash + 1;
    json_t *p = params_of(r);
    const char *ct = json_string_value(json_object_get(r->headers, "content-type"));
    char why[200];
    if (ct && !strncasecmp(ct, "multipart/form-data", 19) &&
        multipart_into(p, ct, r->body, r->body_len, why, sizeof(why))) {
        count("multipart_refused");
        json_decref(p);
        return fail(c, 400, why);
    }
    if (!strcmp(m, "getMe")) {
        json_t *me = bot_user();
        json_object_set_new(me, "can_join_groups", json_true());
        json_object_set_new(me, "can_read_all_group_messages", json_false());
        json_object_set_new(me, "supports_inline_queries", json_false());
        ok(c, me);
    } else if (!strcmp(m, "getUpdates")) {
        get_updates(c, p);
    } else if (!strcmp(m, "setWebhook")) {
        set_webhook(c, p);
    } else if (!strcmp(m, "deleteWebhook")) {
        free(F.webhook_url), free(F.webhook_secret);
        F.webhook_url = F.webhook_secret = NULL;
        if (json_is_true(json_object_get(p, "drop_pending_updates"))) json_array_clear(F.pending);
        respond_json(
            c, 200,
            json_pack("{s:b,s:b,s:s}", "ok", 1, "result", 1, "description", "Webhook was deleted"));
    } else if (!strcmp(m, "getWebhookInfo")) {
        ok(c, json_pack("{s:s,s:b,s:I}", "url", F.webhook_url ? F.webhook_url : "",
                        "has_custom_certificate", 0, "pending_update_count",
                        (json_int_t)json_array_size(F.pending)));
    } else if (!strcmp(m, "sendMessage") || !strcmp(m, "sendPhoto") || !strcmp(m, "sendDocument") ||
               !strcmp(m, "sendVideo") || !strcmp(m, "sendAudio") || !strcmp(m, "sendVoice") ||
               !strcmp(m, "sendAnimation") || !strcmp(m, "sendSticker")) {
        send_message(c, m, p);
    } else if (!strcmp(m, "editMessageText") || !strcmp(m, "editMessageReplyMarkup")) {
        edit_message(c, m, p);
    } else if (!strcmp(m, "answerCallbackQuery")) {
        answer_callback(c, p);
    } else if (!strcmp(m, "getFile")) {
        const char *id = json_string_value(json_object_get(p, "file_id"));
        const json_t *f = id ? json_object_get(F.files, id) : NULL;
        if (!f)
            fail(c, 400, "Bad Request: wrong file_id or the file is temporarily unavailable");
        else
            ok(c, json_pack("{s:s,s:s,s:I,s:O}", "file_id", id, "file_unique_id", "AgADfake",
                            "file_size",
                            (json_int_t)strlen(json_string_value(json_object_get(f, "content"))),
                            "file_path", json_object_get(f, "file_path")));
    } else if (!strcmp(m, "sendChatAction")) {
        static const char *const actions[] = {
            "typing",        "upload_photo",      "record_video",     "upload_video",
            "record_voice",  "upload_voice",      "upload_document",  "choose_sticker",
            "find_location", "record_video_note", "upload_video_note"};
        const char *a = json_string_value(json_object_get(p, "action"));
        bool known = false;
        for (size_t i = 0; a && i < sizeof(actions) / sizeof(actions[0]); i++)
            known |= !strcmp(a, actions[i]);
        char chat[64];
        chat_of(p, chat, sizeof(chat));
        if (!*chat)
            fail(c, 400, "Bad Request: chat_id is empty");
        else if (!known)
            fail(c, 400, "Bad Request: wrong parameter action in request");
        else if (json_is_true(json_object_get(F.blocked, chat)))
            fail(c, 403, "Forbidden: bot was blocked by the user");
        else {
            record("sendChatAction", chat, p, 0);
            ok(c, json_true());
        }
    } else {
        fail(c, 404, "Not Found");
    }
    json_decref(p);
}

/* ---- control ------------------------------------------------------------------------------- */

static json_int_t add_update(json_t *u)
{
    if (!json_is_integer(json_object_get(u, "update_id")))
        json_object_set_new(u, "update_id", json_integer(F.next_update_id++));
    const char *q = json_string_value(json_object_get(json_object_get(u, "callback_query"), "id"));
    if (q) json_object_set_new(F.callbacks, q, json_false());
    char chat[32];
    update_chat(u, chat, sizeof(chat));
    if (*chat) json_object_set_new(F.injected, chat, json_integer(now_ms()));
    json_array_append(F.pending, u);
    pump();
    return json_integer_value(json_object_get(u, "update_id"));
}

/* A person as the real updates show one. */
static json_t *person(json_int_t id)
{
    return json_pack("{s:I,s:b,s:s,s:s,s:s,s:s}", "id", id, "is_bot", 0, "first_name", "Anna",
                     "last_name", "Petrova", "username", "anna_p", "language_code", "en");
}

static json_t *text_update(const json_t *a)
{
    json_int_t chat = json_integer_value(json_object_get(a, "chat_id"));
    json_int_t from =
        json_object_get(a, "from_id") ? json_integer_value(json_object_get(a, "from_id")) : chat;
    const char *text = json_string_value(json_object_get(a, "text"));
    const char *type = json_string_value(json_object_get(a, "chat_type"));
    json_t *ch = json_pack("{s:I,s:s}", "id", chat, "type", type ? type : "private");
    if (type && strcmp(type, "private"))
        json_object_set_new(ch, "title",
                            json_string(json_string_value(json_object_get(a, "title"))
                                            ? json_string_value(json_object_get(a, "title"))
                                            : "Test group"));
    else {
        json_t *who = json_pack("{s:s,s:s,s:s}", "first_name", "Anna", "last_name", "Petrova",
                                "username", "anna_p");
        json_object_update(ch, who);
        json_decref(who);
    }
    json_t *m =
        json_pack("{s:I,s:o,s:o,s:I,s:s}", "message_id", F.next_message_id++, "from", person(from),
                  "chat", ch, "date", (json_int_t)time(NULL), "text", text ? text : "");
    if (text && text[0] == '/') {
        size_t n = strcspn(text, " \n");
        json_object_set_new(m, "entities",
                            json_pack("[{s:i,s:i,s:s}]", "offset", 0, "length",
                                      (int)utf16_units(text, n), "type", "bot_command"));
    }
    return json_pack("{s:o}", "message", m);
}

static json_t *press_update(const json_t *a)
{
    json_int_t chat = json_integer_value(json_object_get(a, "chat_id"));
    char qid[40];
    snprintf(qid, sizeof(qid), "%lld%06lld", (long long)chat, (long long)F.next_update_id);
    json_t *msg = json_pack("{s:I,s:o,s:{s:I,s:s,s:s},s:I,s:s}", "message_id",
                            json_integer_value(json_object_get(a, "message_id")), "from",
                            bot_user(), "chat", "id", chat, "type", "private", "first_name", "Anna",
                            "date", (json_int_t)time(NULL), "text", "(the question)");
    return json_pack("{s:{s:s,s:o,s:o,s:s,s:O}}", "callback_query", "id", qid, "from", person(chat),
                     "message", msg, "chat_instance", "-4242424242424242", "data",
                     json_object_get(a, "data"));
}

static void control(fh_conn *c, const fh_req *r)
{
    json_t *a = r->body_len ? json_loadb(r->body, r->body_len, JSON_DECODE_ANY, NULL) : NULL;
    char chat[64] = "";
    if (json_is_object(a)) chat_of(a, chat, sizeof(chat));
    if (!strcmp(r->path, "/_fake/updates") && (json_is_object(a) || json_is_array(a))) {
        json_t *ids = json_array();
        if (json_is_object(a)) json_array_append_new(ids, json_integer(add_update(a)));
        size_t i;
        json_t *u;
        json_array_foreach(json_is_array(a) ? a : NULL, i, u)
            json_array_append_new(ids, json_integer(add_update(u)));
        respond_json(c, 200, json_pack("{s:o}", "update_ids", ids));
    } else if (!strcmp(r->path, "/_fake/text") || !strcmp(r->path, "/_fake/press") ||
               !strcmp(r->path, "/_fake/member")) {
        json_t *u = !strcmp(r->path, "/_fake/text")    ? text_update(a)
                    : !strcmp(r->path, "/_fake/press") ? press_update(a)
                                                       : member_update(a);
        json_int_t id = add_update(u);
        respond_json(c, 200, json_pack("{s:I,s:o}", "update_id", id, "update", u));
    } else if (!strcmp(r->path, "/_fake/texts")) {
        json_int_t first = json_integer_value(json_object_get(a, "first_chat"));
        json_int_t n = json_integer_value(json_object_get(a, "count"));
        for (json_int_t i = 0; i < n; i++) {
            json_t *one =
                json_pack("{s:I,s:O}", "chat_id", first + i, "text", json_object_get(a, "text"));
            json_t *u = text_update(one);
            add_update(u);
            json_decref(u);
            json_decref(one);
        }
        respond_json(c, 200, json_pack("{s:I}", "added", n));
    } else if (!strcmp(r->path, "/_fake/latencies")) {
        respond_json(c, 200, json_pack("{s:O}", "ms", F.latencies));
    } else if (!strcmp(r->path, "/_fake/file")) {
        json_object_set_new(F.files, json_string_value(json_object_get(a, "file_id")),
                            json_pack("{s:O,s:O}", "file_path", json_object_get(a, "file_path"),
                                      "content", json_object_get(a, "content")));
        respond_json(c, 200, json_object());
    } else if (!strcmp(r->path, "/_fake/migrate")) {
        json_object_set(F.migrated, chat, json_object_get(a, "to"));
        respond_json(c, 200, json_object());
    } else if (!strcmp(r->path, "/_fake/enforce")) {
        F.per_chat_per_s = (long)json_integer_value(json_object_get(a, "per_chat_per_second"));
        respond_json(c, 200, json_object());
    } else if (!strcmp(r->path, "/_fake/block")) {
        json_object_set_new(F.blocked, chat, json_true());
        respond_json(c, 200, json_object());
    } else if (!strcmp(r->path, "/_fake/rate_limit")) {
        json_object_set_new(F.limits, chat,
                            json_pack("{s:O,s:O}", "count", json_object_get(a, "count"),
                                      "retry_after", json_object_get(a, "retry_after")));
        respond_json(c, 200, json_object());
    } else if (!strcmp(r->path, "/_fake/sent")) {
        const char *want = !strncmp(r->query, "chat_id=", 8) ? r->query + 8 : NULL;
        json_t *out = json_array();
        size_t i;
        json_t *s;
        json_array_foreach(F.sent, i,
                           s) if (!want ||
                                  !strcmp(want, json_string_value(json_object_get(s, "chat_id"))))
            json_array_append(out, s);
        respond_json(c, 200, json_pack("{s:o}", "sent", out));
    } else if (!strcmp(r->path, "/_fake/stats")) {
        json_t *st = json_deep_copy(F.stats);
        json_object_set_new(st, "pending", json_integer((json_int_t)json_array_size(F.pending)));
        json_object_set_new(st, "webhook_url", json_string(F.webhook_url ? F.webhook_url : ""));
        respond_json(c, 200, st);
    } else if (!strcmp(r->path, "/_fake/reset")) {
        json_array_clear(F.sent);
        json_object_clear(F.stats);
        json_object_clear(F.blocked);
        json_object_clear(F.limits);
        json_array_clear(F.latencies);
        json_object_clear(F.injected);
        respond_json(c, 200, json_object());
    } else {
        respond_json(c, 404, json_pack("{s:s}", "error", "no such control"));
    }
    json_decref(a);
}

/* GET /file/bot<token>/<file_path>: the bytes getFile pointed at. */
static void file_download(fh_conn *c, const fh_req *r)
{
    const char *rest = r->path + 9, *slash = strchr(rest, '/');
    if (!slash || strlen(F.token) != (size_t)(slash - rest) ||
        strncmp(rest, F.token, (size_t)(slash - rest)) != 0)
        return fail(c, 401, "Unauthorized");
    const char *k;
    json_t *f;
    json_object_foreach(F.files, k, f)
    {
        if (strcmp(json_string_value(json_object_get(f, "file_path")), slash + 1)) continue;
        const char *body = json_string_value(json_object_get(f, "content"));
        fh_respond(c, 200, "application/octet-stream", NULL, body, strlen(body));
        count("file_downloads");
        return;
    }
    fail(c, 404, "Not Found");
}

static void handle(void *ud, fh_conn *c, const fh_req *r)
{
    (void)ud;
    if (!strncmp(r->path, "/_fake/", 7))
        control(c, r);
    else if (!strncmp(r->path, "/bot", 4))
        bot_method(c, r);
    else if (!strncmp(r->path, "/file/bot", 9))
        file_download(c, r);
    else
        fail(c, 404, "Not Found");
}

int main(int argc, char **argv)
{
    int port = 0;
    const char *port_file = NULL;
    F.token = "7000000001:AAH-fake-token_for-tests";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--port-file") && i + 1 < argc)
            port_file = argv[++i];
        else if (!strcmp(argv[i], "--token") && i + 1 < argc)
            F.token = argv[++i];
        else {
            fprintf(stderr, "usage: fake_telegram [--port N] [--port-file PATH] [--token T]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    F.pending = json_array();
    F.sent = json_array();
    F.callbacks = json_object();
    F.blocked = json_object();
    F.limits = json_object();
    F.stats = json_object();
    F.in_flight = json_object();
    F.chats_busy = json_object();
    F.injected = json_object();
    F.latencies = json_array();
    F.recent = json_object();
    F.files = json_object();
    F.migrated = json_object();
    F.next_update_id = 500000001;
    F.next_message_id = 1001;
    F.uv = uv_default_loop();
    pthread_t th[SENDERS];
    if (hooks_start(th)) {
        fprintf(stderr, "fake_telegram: cannot start the webhook senders\n");
        return 1;
    }
    int rc = fh_serve(F.uv, &F.srv, "fake_telegram", port, port_file, handle, NULL);
    hooks_stop(th);
    return rc;
}
