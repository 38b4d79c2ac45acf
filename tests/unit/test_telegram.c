/*
 * The Telegram channel's pure parts (plugins/telegram/map.c, text.c):
 * every recorded Update (nutgram's current ones and Illemius's 2017 ones)
 * either maps to a message that passes docs/schemas/message.json, with the
 * whole update kept in raw, or is named as not a message; the documented
 * examples map field for field; commands for another bot are dropped;
 * my_chat_member says blocked or admitted; MarkdownV2 and HTML escaping
 * over every special character; markdown rendered as Telegram HTML; long
 * texts split at paragraph, line, sentence and word boundaries within
 * 4,096 UTF-16 units, never inside a character.
 */
#include "cmocka_pre.h"

#include "core/jsonschema.h"

#include "../../plugins/telegram/map.h"
#include "../../plugins/telegram/text.h"
#include "../../plugins/telegram/tg.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIX TH_SOURCE_DIR "/tests/fixtures"

static json_t *load(const char *path)
{
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!j) fail_msg("%s: %s", path, e.text);
    return j;
}

/* Samples that are not messages, by name: each must say why. */
static const char *const NOT_MESSAGES[] = {"my_chat_member",
                                           "chat_member",
                                           "chat_join_request",
                                           "new_chat_members",
                                           "left_chat_member",
                                           "group_chat_created",
                                           "supergroup_chat_created",
                                           "migrate_to_chat_id",
                                           "migrate_from_chat_id",
                                           "pinned_message",
                                           "inline_query",
                                           "chosen_inline_result",
                                           "poll",
                                           "poll_answer",
                                           "message_reaction",
                                           "pre_checkout_query",
                                           "successful_payment"};

static bool expected_not_message(const char *name)
{
    for (size_t i = 0; i < sizeof(NOT_MESSAGES) / sizeof(NOT_MESSAGES[0]); i++)
        if (!strcmp(name, NOT_MESSAGES[i])) return true;
    return false;
}

static void check_samples(const char *file, size_t *mapped, size_t *skipped)
{
    json_t *schema = load(TH_SOURCE_DIR "/docs/schemas/message.json");
    json_t *all = load(file);
    size_t i;
    json_t *s;
    json_array_foreach(all, i, s)
    {
        const char *name = json_string_value(json_object_get(s, "name"));
        const json_t *u = json_object_get(s, "update");
        char why[200] = "", err[400];
        json_t *m = tg_map_update(u, "tg-main", "foo_bot", 1584984712480LL, why, sizeof(why));
        if (!m) {
            if (!expected_not_message(name)) fail_msg("%s did not map: %s", name, why);
            assert_true(why[0] != 0);
            (*skipped)++;
            continue;
        }
        if (expected_not_message(name)) fail_msg("%s mapped but is not a message", name);
        if (jsonschema_validate(schema, m, err, sizeof(err)) != 0)
            fail_msg("%s: %s\n%s", name, err, json_dumps(m, JSON_COMPACT));
        assert_true(json_equal(json_object_get(m, "raw"), (json_t *)u));
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(m, "channel"), "instance")),
            "tg-main");
        (*mapped)++;
        json_decref(m);
    }
    json_decref(all);
    json_decref(schema);
}

static void test_every_recorded_update_maps_to_a_valid_message_or_says_why_not(void **st)
{
    (void)st;
    size_t mapped = 0, skipped = 0;
    check_samples(FIX "/telegram/updates_samples.json", &mapped, &skipped);
    check_samples(FIX "/telegram/updates_illemius_2017.json", &mapped, &skipped);
    assert_int_equal(mapped + skipped, 58);
    assert_true(mapped >= 25);
}

/* The examples under tests/fixtures/messages/valid/telegram-real-*.json. */
static void test_the_documented_examples_map_field_for_field(void **st)
{
    (void)st;
    DIR *d = opendir(FIX "/messages/valid");
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "telegram-real-", 14) != 0) continue;
        char path[600], why[200];
        snprintf(path, sizeof(path), FIX "/messages/valid/%s", e->d_name);
        json_t *fx = load(path);
        const json_t *want = json_object_get(fx, "body");
        json_t *got = tg_map_update(json_object_get(want, "raw"), "tg-main", NULL, 1584984712480LL,
                                    why, sizeof(why));
        if (!got) fail_msg("%s: %s", e->d_name, why);
        if (!json_equal(got, (json_t *)want)) {
            json_object_del(got, "raw");
            fail_msg("%s maps to %s", e->d_name, json_dumps(got, JSON_COMPACT));
        }
        json_decref(got);
        json_decref(fx);
        n++;
    }
    closedir(d);
    assert_int_equal(n, 5);
}

static json_t *sample(const char *file, const char *name)
{
    json_t *all = load(file);
    size_t i;
    json_t *s;
    json_array_foreach(all, i, s) if (!strcmp(json_string_value(json_object_get(s, "name")), name))
    {
        json_t *u = json_incref(json_object_get(s, "update"));
        json_decref(all);
        return u;
    }
    fail_msg("no sample %s", name);
    return NULL;
}

static void test_a_command_addressed_to_another_bot_is_not_for_this_instance(void **st)
{
    (void)st;
    json_t *u = sample(FIX "/telegram/updates_samples.json", "command_tag_valid");
    char why[200];
    assert_null(tg_map_update(u, "tg", "my_shop_bot", 0, why, sizeof(why)));
    assert_non_null(strstr(why, "another bot (@foo_bot)"));
    json_t *m = tg_map_update(u, "tg", "FOO_bot", 0, why, sizeof(why)); /* names are not cased */
    assert_non_null(m);
    json_decref(m);
    json_decref(u);
    u = sample(FIX "/telegram/updates_samples.json", "command_with_parameters");
    m = tg_map_update(u, "tg", "foo_bot", 0, why, sizeof(why));
    const json_t *cmd = json_object_get(m, "command");
    assert_non_null(json_string_value(json_object_get(cmd, "args")));
    assert_null(json_object_get(cmd, "bot"));
    json_decref(m);
    json_decref(u);
}

static void test_a_2017_update_reads_like_a_current_one(void **st)
{
    (void)st;
    json_t *u = sample(FIX "/telegram/updates_illemius_2017.json", "illemius_message");
    char why[200];
    json_t *m = tg_map_update(u, "tg", NULL, 0, why, sizeof(why));
    assert_non_null(m);
    assert_string_equal(json_string_value(json_object_get(m, "text")), "Hi, world!");
    assert_string_equal(json_string_value(json_object_get(m, "language")), "ru");
    assert_string_equal(json_string_value(json_object_get(json_object_get(m, "from"), "name")),
                        "FirstName LastName");
    assert_string_equal(json_string_value(json_object_get(json_object_get(m, "chat"), "id")),
                        "12345678");
    assert_string_equal(json_string_value(json_object_get(m, "at")), "2017-10-22T22:01:51Z");
    json_decref(m);
    json_decref(u);
}

static void test_my_chat_member_says_whether_the_bot_was_blocked(void **st)
{
    (void)st;
    char chat[64];
    json_t *u =
        json_loads("{\"update_id\": 1, \"my_chat_member\": {\"chat\": {\"id\": 42, \"type\": "
                   "\"private\"}, \"from\": {\"id\": 42}, \"date\": 1, "
                   "\"old_chat_member\": {\"status\": \"member\"}, \"new_chat_member\": "
                   "{\"status\": \"kicked\"}}}",
                   0, NULL);
    assert_int_equal(tg_member_change(u, chat, sizeof(chat)), 1);
    assert_string_equal(chat, "42");
    json_object_set_new(json_object_get(json_object_get(u, "my_chat_member"), "new_chat_member"),
                        "status", json_string("member"));
    assert_int_equal(tg_member_change(u, chat, sizeof(chat)), 0);
    json_decref(u);
    json_t *t = sample(FIX "/telegram/updates_samples.json", "text");
    assert_int_equal(tg_member_change(t, chat, sizeof(chat)), -1);
    json_decref(t);
}

/* The recorded my_chat_member and chat_member updates become the platform
 * events their schemas describe; a private chat's block and unblock are
 * named so, a group's join and leave too; anything else publishes none. */
static void test_membership_updates_become_valid_platform_events(void **st)
{
    (void)st;
    static const struct {
        const char *sample, *schema, *type;
    } rec[] = {{"my_chat_member", "chat.bot_status_changed", "chat.bot_status_changed"},
               {"chat_member", "chat.member_changed", "chat.member_changed"}};
    char err[400], path[300];
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), TH_SOURCE_DIR "/docs/schemas/events/%s.json", rec[i].schema);
        json_t *schema = load(path);
        json_t *u = sample(FIX "/telegram/updates_samples.json", rec[i].sample);
        json_t *e = tg_member_event(u, "tg-main");
        assert_non_null(e);
        if (jsonschema_validate(schema, e, err, sizeof(err)) != 0)
            fail_msg("%s: %s\n%s", rec[i].sample, err, json_dumps(e, JSON_COMPACT));
        assert_string_equal(json_string_value(json_object_get(e, "type")), rec[i].type);
        assert_string_equal(json_string_value(json_object_get(e, "external_id")), "123456789");
        assert_string_equal(json_string_value(json_object_get(json_object_get(e, "chat"), "id")),
                            "987654321");
        json_decref(e);
        /* Recast: the bot blocked, unblocked; a member who joins, leaves. */
        json_t *cm = json_object_get(u, rec[i].sample);
        json_object_set_new(json_object_get(cm, "old_chat_member"), "status",
                            json_string(i ? "left" : "member"));
        json_object_set_new(json_object_get(cm, "new_chat_member"), "status",
                            json_string(i ? "member" : "kicked"));
        if (i) json_object_set_new(json_object_get(cm, "chat"), "type", json_string("supergroup"));
        e = tg_member_event(u, "tg-main");
        assert_string_equal(json_string_value(json_object_get(e, "change")),
                            i ? "joined" : "blocked");
        if (i)
            assert_string_equal(
                json_string_value(json_object_get(json_object_get(e, "chat"), "type")), "group");
        assert_int_equal(jsonschema_validate(schema, e, err, sizeof(err)), 0);
        json_decref(e);
        json_object_set_new(json_object_get(cm, "old_chat_member"), "status",
                            json_string(i ? "member" : "kicked"));
        json_object_set_new(json_object_get(cm, "new_chat_member"), "status",
                            json_string(i ? "left" : "member"));
        e = tg_member_event(u, "tg-main");
        assert_string_equal(json_string_value(json_object_get(e, "change")),
                            i ? "left" : "unblocked");
        json_decref(e);
        json_decref(u);
        json_decref(schema);
    }
    json_t *t = sample(FIX "/telegram/updates_samples.json", "text");
    assert_null(tg_member_event(t, "tg-main"));
    json_decref(t);
}

static void test_language_codes_become_bcp47(void **st)
{
    (void)st;
    char l[16];
    assert_true(tg_language("pt-br", l, sizeof(l)));
    assert_string_equal(l, "pt-BR");
    assert_true(tg_language("zh-hans", l, sizeof(l)));
    assert_string_equal(l, "zh");
    assert_true(tg_language("it", l, sizeof(l)));
    assert_string_equal(l, "it");
    assert_false(tg_language("1x", l, sizeof(l)));
    assert_false(tg_language(NULL, l, sizeof(l)));
}

/* ---- escaping ------------------------------------------------------------------------- */

static void test_markdown_v2_escapes_every_special_character(void **st)
{
    (void)st;
    static const char special[] = "_*[]()~`>#+-=|{}.!\\";
    for (const char *c = special; *c; c++) {
        char in[8], want[8];
        snprintf(in, sizeof(in), "a%cb", *c);
        snprintf(want, sizeof(want), "a\\%cb", *c);
        char *got = tg_escape_markdown_v2(in);
        assert_string_equal(got, want);
        free(got);
    }
    char *plain = tg_escape_markdown_v2("Привет, world 42 😀 & <ok");
    assert_string_equal(plain, "Привет, world 42 😀 & <ok");
    free(plain);
}

static void test_html_escapes_every_special_character(void **st)
{
    (void)st;
    char *got = tg_escape_html("a & b < c > d \"e\" _*[]()~`#+-=|{}.!\\ 😀");
    assert_string_equal(got, "a &amp; b &lt; c &gt; d &quot;e&quot; _*[]()~`#+-=|{}.!\\ 😀");
    free(got);
}

static void test_markdown_renders_as_telegram_html(void **st)
{
    (void)st;
    char *h = tg_markdown_to_html(
        "Order **5512** < 6 & *soon*: `a<b` [track](https://x.example/?a=1&b=2) ~~old~~");
    assert_string_equal(h, "Order <b>5512</b> &lt; 6 &amp; <i>soon</i>: <code>a&lt;b</code> "
                           "<a href=\"https://x.example/?a=1&amp;b=2\">track</a> <s>old</s>");
    free(h);
    h = tg_markdown_to_html("2 * 3 = 6, **unclosed and_snake_case");
    assert_string_equal(h, "2 * 3 = 6, **unclosed and<i>snake</i>case");
    free(h);
}

/* ---- splitting ------------------------------------------------------------------------- */

static void assert_parts_fit(const json_t *parts, size_t limit)
{
    size_t i;
    const json_t *p;
    json_array_foreach(parts, i, p)
    {
        assert_true(tg_utf16_len(json_string_value(p)) <= limit);
        assert_true(json_string_length(p) > 0);
    }
}

static char *repeat(const char *unit, size_t times)
{
    size_t n = strlen(unit);
    char *s = malloc(n * times + 1);
    for (size_t i = 0; i < times; i++)
        memcpy(s + i * n, unit, n);
    s[n * times] = 0;
    return s;
}

static void test_a_short_text_is_one_part(void **st)
{
    (void)st;
    json_t *p = tg_split("Hello.", TG_TEXT_MAX);
    assert_int_equal(json_array_size(p), 1);
    json_decref(p);
    char *exact = repeat("x", TG_TEXT_MAX);
    p = tg_split(exact, TG_TEXT_MAX);
    assert_int_equal(json_array_size(p), 1);
    json_decref(p);
    free(exact);
}

static void test_a_long_text_splits_at_paragraphs_first(void **st)
{
    (void)st;
    char *para = repeat("Word word word. ", 150); /* 2,400 characters */
    char *text = NULL;
    assert_true(asprintf(&text, "%s\n\n%s\n\n%s", para, para, para) > 0);
    json_t *parts = tg_split(text, TG_TEXT_MAX);
    assert_int_equal(json_array_size(parts), 3);
    assert_parts_fit(parts, TG_TEXT_MAX);
    char *trimmed = strdup(para);
    trimmed[strlen(trimmed) - 1] = 0;
    assert_string_equal(json_string_value(json_array_get(parts, 0)), trimmed);
    free(trimmed);
    json_decref(parts);
    free(text);
    free(para);
}

static void test_without_paragraphs_it_splits_at_sentences_then_words(void **st)
{
    (void)st;
    char *text = repeat("This is one sentence. ", 400); /* 8,800 characters */
    text[strlen(text) - 1] = 0;
    json_t *parts = tg_split(text, TG_TEXT_MAX);
    assert_int_equal(json_array_size(parts), 3);
    assert_parts_fit(parts, TG_TEXT_MAX);
    size_t i;
    const json_t *p;
    json_array_foreach(parts, i, p)
    {
        const char *s = json_string_value(p);
        assert_int_equal(s[strlen(s) - 1], '.'); /* each part ends a sentence */
    }
    json_decref(parts);
    free(text);
    text = repeat("word ", 2000);
    text[strlen(text) - 1] = 0;
    parts = tg_split(text, TG_TEXT_MAX);
    assert_parts_fit(parts, TG_TEXT_MAX);
    json_array_foreach(parts, i, p)
    {
        const char *s = json_string_value(p);
        assert_true(!strncmp(s + strlen(s) - 4, "word", 4));
    }
    json_decref(parts);
    free(text);
}

static void test_a_text_without_boundaries_is_cut_between_characters(void **st)
{
    (void)st;
    char *text = repeat("😀", 3000); /* 6,000 UTF-16 units, 12,000 bytes */
    json_t *parts = tg_split(text, TG_TEXT_MAX);
    assert_int_equal(json_array_size(parts), 2);
    assert_parts_fit(parts, TG_TEXT_MAX);
    assert_int_equal(tg_utf16_len(json_string_value(json_array_get(parts, 0))), 4096);
    assert_int_equal(json_string_length(json_array_get(parts, 0)) +
                         json_string_length(json_array_get(parts, 1)),
                     strlen(text));
    json_decref(parts);
    free(text);
}

/* ---- uploads (upload.c) ---------------------------------------------------------------- */

/* tg_post as upload.c calls it: the body and its type kept here. */
static char *posted, posted_type[200], posted_method[40];
static size_t posted_len;

int tg_post(tg *t, const char *method, const char *content_type, const void *body, size_t len,
            uint32_t timeout_ms, tg_api_cb cb, void *ud)
{
    (void)t, (void)timeout_ms, (void)cb, (void)ud;
    free(posted);
    posted = malloc(len + 1);
    memcpy(posted, body, len);
    posted[len] = 0;
    posted_len = len;
    snprintf(posted_type, sizeof(posted_type), "%s", content_type);
    snprintf(posted_method, sizeof(posted_method), "%s", method);
    return 0;
}

/* An attachment of `bytes` decoded bytes ("A" repeated: zeros). */
static json_t *sized(const char *kind, size_t bytes)
{
    size_t n = (bytes + 2) / 3 * 4;
    char *b = malloc(n + 1);
    memset(b, 'A', n);
    size_t pad = (3 - bytes % 3) % 3;
    for (size_t i = 0; i < pad; i++)
        b[n - 1 - i] = '=';
    b[n] = 0;
    json_t *a = json_pack("{s:s,s:s}", "kind", kind, "content_b64", b);
    free(b);
    return a;
}

static void test_uploads_over_telegrams_limits_are_refused_naming_the_field(void **st)
{
    (void)st;
    char why[300];
    json_t *a = sized("image", TG_PHOTO_MAX);
    assert_null(tg_upload_check(a, 0, why, sizeof(why)));
    json_decref(a);
    a = sized("image", TG_PHOTO_MAX + 1);
    assert_non_null(tg_upload_check(a, 2, why, sizeof(why)));
    assert_non_null(strstr(why, "attachments[2].content_b64: "));
    assert_non_null(strstr(why, "over Telegram's 10 MB for a photo"));
    json_decref(a);
    a = sized("document", TG_PHOTO_MAX + 1); /* a document may be larger */
    assert_null(tg_upload_check(a, 0, why, sizeof(why)));
    json_decref(a);
    a = sized("document", TG_UPLOAD_MAX + 1);
    assert_non_null(tg_upload_check(a, 0, why, sizeof(why)));
    assert_non_null(strstr(why, "over Telegram's 50 MB for a file"));
    json_decref(a);
    a = json_pack("{s:s,s:s}", "kind", "document", "content_b64", "not*base64");
    assert_non_null(tg_upload_check(a, 0, why, sizeof(why)));
    assert_string_equal(why, "attachments[0].content_b64: not base64");
    json_decref(a);
    /* '=' is padding only at the end: in the middle the check refuses what
     * the encoder could not decode. */
    a = json_pack("{s:s,s:s}", "kind", "document", "content_b64", "aG=k");
    assert_non_null(tg_upload_check(a, 0, why, sizeof(why)));
    assert_string_equal(why, "attachments[0].content_b64: not base64");
    json_decref(a);
    /* Line breaks (MIME-style base64, every 76 characters) are not bytes: a
     * photo just at the limit is still accepted. */
    a = sized("image", TG_PHOTO_MAX);
    const char *flat = json_string_value(json_object_get(a, "content_b64"));
    size_t fl = strlen(flat);
    char *wrapped = malloc(fl + fl / 76 * 2 + 1), *w = wrapped;
    for (size_t i = 0; i < fl; i++) {
        *w++ = flat[i];
        if (i % 76 == 75) *w++ = '\r', *w++ = '\n';
    }
    *w = 0;
    json_object_set_new(a, "content_b64", json_string(wrapped));
    free(wrapped);
    assert_null(tg_upload_check(a, 0, why, sizeof(why)));
    json_decref(a);
    a = json_pack("{s:s,s:s,s:s}", "kind", "document", "content_b64", "aGk=", "name", "a\"b.pdf");
    assert_non_null(tg_upload_check(a, 1, why, sizeof(why)));
    assert_non_null(strstr(why, "attachments[1].name"));
    json_decref(a);
}

static void test_an_upload_is_multipart_with_a_fresh_random_boundary(void **st)
{
    (void)st;
    /* "%PDF hi\r\n--" as bytes: a file may hold what looks like a delimiter. */
    json_t *a = json_pack("{s:s,s:s,s:s,s:s}", "kind", "document", "name", "invoice.pdf",
                          "mime_type", "application/pdf", "content_b64", "JVBERiBoaQ0KLS0=");
    json_t *p = json_pack("{s:I,s:s,s:{s:[[{s:s,s:s}]]}}", "chat_id", (json_int_t)42, "caption",
                          "Your invoice", "reply_markup", "inline_keyboard", "text", "Paid",
                          "callback_data", "paid");
    tg t = {0};
    assert_int_equal(tg_call_upload(&t, "sendDocument", p, "document", a, 0, NULL, NULL), 0);
    assert_string_equal(posted_method, "sendDocument");
    const char *bd = strstr(posted_type, "multipart/form-data; boundary=");
    assert_non_null(bd);
    char first[100];
    snprintf(first, sizeof(first), "%s", bd + 30);
    assert_true(strlen(first) >= 26); /* "agenthost-" and 128 random bits */
    char want[600];
    snprintf(want, sizeof(want),
             "--%s\r\nContent-Disposition: form-data; name=\"chat_id\"\r\n\r\n42\r\n"
             "--%s\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\nYour invoice\r\n"
             "--%s\r\nContent-Disposition: form-data; name=\"reply_markup\"\r\n\r\n"
             "{\"inline_keyboard\":[[{\"text\":\"Paid\",\"callback_data\":\"paid\"}]]}\r\n"
             "--%s\r\nContent-Disposition: form-data; name=\"document\"; "
             "filename=\"invoice.pdf\"\r\nContent-Type: application/pdf\r\n\r\n"
             "%%PDF hi\r\n--\r\n--%s--\r\n",
             first, first, first, first, first);
    assert_int_equal(posted_len, strlen(want));
    assert_memory_equal(posted, want, posted_len);
    /* The next upload has another boundary. */
    assert_int_equal(tg_call_upload(&t, "sendDocument", p, "document", a, 0, NULL, NULL), 0);
    assert_string_not_equal(strstr(posted_type, "boundary=") + 9, first);
    free(posted);
    posted = NULL;
    json_decref(p);
    json_decref(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_recorded_update_maps_to_a_valid_message_or_says_why_not),
        cmocka_unit_test(test_the_documented_examples_map_field_for_field),
        cmocka_unit_test(test_a_command_addressed_to_another_bot_is_not_for_this_instance),
        cmocka_unit_test(test_a_2017_update_reads_like_a_current_one),
        cmocka_unit_test(test_my_chat_member_says_whether_the_bot_was_blocked),
        cmocka_unit_test(test_membership_updates_become_valid_platform_events),
        cmocka_unit_test(test_uploads_over_telegrams_limits_are_refused_naming_the_field),
        cmocka_unit_test(test_an_upload_is_multipart_with_a_fresh_random_boundary),
        cmocka_unit_test(test_language_codes_become_bcp47),
        cmocka_unit_test(test_markdown_v2_escapes_every_special_character),
        cmocka_unit_test(test_html_escapes_every_special_character),
        cmocka_unit_test(test_markdown_renders_as_telegram_html),
        cmocka_unit_test(test_a_short_text_is_one_part),
        cmocka_unit_test(test_a_long_text_splits_at_paragraphs_first),
        cmocka_unit_test(test_without_paragraphs_it_splits_at_sentences_then_words),
        cmocka_unit_test(test_a_text_without_boundaries_is_cut_between_characters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
