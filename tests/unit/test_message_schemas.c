/*
 * The unified message model and the platform events (docs/channels.md):
 * every schema is usable and versioned; every valid example passes its
 * schema and the topic, key and idempotency rules; every invalid one is
 * refused with the error it names; the personal fields are exactly the
 * sealable ones and seal as host/model/pd.h seals them; the real
 * Telegram updates among the examples map as the document says; and the
 * document's own whole examples pass their schemas.
 */
#include "cmocka_pre.h"

#include "bus/bus.h"
#include "core/jsonschema.h"
#include "core/topic.h"
#include "model/pd.h"

#include <dirent.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SCHEMAS TH_SOURCE_DIR "/docs/schemas"
#define FIXTURES TH_SOURCE_DIR "/tests/fixtures/messages"
#define MAX_FILES 128

static const char *const event_types[] = {
    "contact.created",         "contact.updated",     "conversation.started", "step.completed",
    "integration.called",      "handoff.requested",   "conversation.ended",   "lead.created",
    "chat.bot_status_changed", "chat.member_changed",
};
#define N_EVENTS (sizeof(event_types) / sizeof(event_types[0]))

/* ---- loading ---------------------------------------------------------------- */

static json_t *load(const char *path)
{
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!j) fail_msg("%s:%d: %s", path, e.line, e.text);
    return j;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The .json files of a directory, sorted: names into out, their count. */
static size_t list_json(const char *dir, char **out)
{
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s", dir);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 5 && !strcmp(e->d_name + len - 5, ".json")) {
            if (n == MAX_FILES) fail_msg("more than %d files in %s", MAX_FILES, dir);
            out[n++] = strdup(e->d_name);
        }
    }
    closedir(d);
    qsort(out, n, sizeof(out[0]), by_name);
    return n;
}

static void free_list(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
}

/* A schema by its path under docs/schemas ("message.json"). */
static json_t *schema(const char *rel)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", SCHEMAS, rel);
    return load(path);
}

static json_t *fixture(const char *kind, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s/%s", FIXTURES, kind, name);
    return load(path);
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* "" when valid, else the validator's error. */
static const char *validate(const json_t *s, const json_t *v)
{
    static char err[512];
    if (jsonschema_validate(s, v, err, sizeof(err)) == 0) err[0] = 0;
    return err;
}

/* ---- the schemas -------------------------------------------------------------- */

static void check_versioned(const char *rel, const json_t *s, const char *id_prefix)
{
    char err[512], want[200];
    if (jsonschema_check(s, err, sizeof(err)) != 0) fail_msg("%s: %s", rel, err);
    assert_string_equal(str(s, "$schema"), "https://json-schema.org/draft/2020-12/schema");
    const json_t *ver = json_object_get(
        json_object_get(json_object_get(s, "properties"), "event_version"), "const");
    if (!json_is_integer(ver)) fail_msg("%s: event_version is not a const integer", rel);
    snprintf(want, sizeof(want), "%s:%lld", id_prefix, (long long)json_integer_value(ver));
    if (!str(s, "$id") || strcmp(str(s, "$id"), want) != 0)
        fail_msg("%s: $id is %s, not %s", rel, str(s, "$id"), want);
    const json_t *req = json_object_get(s, "required");
    size_t i;
    const json_t *r;
    bool has = false;
    json_array_foreach(req, i, r) has |= !strcmp(json_string_value(r), "event_version");
    if (!has) fail_msg("%s: event_version is not required", rel);
}

static void test_every_schema_is_usable_and_versioned(void **st)
{
    (void)st;
    json_t *m = schema("message.json");
    check_versioned("message.json", m, "urn:agenthost:schema:message");
    json_decref(m);
    char *names[MAX_FILES];
    size_t n = list_json(SCHEMAS "/events", names);
    assert_int_equal(n, N_EVENTS);
    for (size_t i = 0; i < N_EVENTS; i++) {
        char rel[200], id[200];
        snprintf(rel, sizeof(rel), "events/%s.json", event_types[i]);
        snprintf(id, sizeof(id), "urn:agenthost:schema:event:%s", event_types[i]);
        json_t *s = schema(rel);
        check_versioned(rel, s, id);
        const json_t *props = json_object_get(s, "properties");
        assert_string_equal(str(json_object_get(props, "type"), "const"), event_types[i]);
        const char *topic = str(s, "x-topic");
        bool contact = !strncmp(event_types[i], "contact.", 8);
        bool lead = !strncmp(event_types[i], "lead.", 5);
        bool chat = !strncmp(event_types[i], "chat.", 5);
        assert_string_equal(topic, lead      ? "platform.lead"
                                   : contact ? "platform.contact"
                                   : chat    ? "platform.chat"
                                             : "platform.conversation");
        const char *key = str(s, "x-key");
        assert_string_equal(key, chat              ? "channel.instance:chat.id"
                                 : contact || lead ? "contact_id"
                                                   : "conversation_id");
        json_decref(s);
    }
    free_list(names, n);
}

/* ---- the examples ------------------------------------------------------------ */

/* The schema of an example, and (for valid ones) the topic rule. */
static json_t *schema_of(const char *name, const json_t *fx)
{
    const char *rel = str(fx, "schema");
    if (!rel) fail_msg("%s: no schema named", name);
    return schema(rel);
}

static void check_topic(const char *name, const json_t *fx, const json_t *s)
{
    const json_t *body = json_object_get(fx, "body");
    const char *topic = str(fx, "topic");
    char want[64];
    if (str(s, "x-topic"))
        snprintf(want, sizeof(want), "%s", str(s, "x-topic"));
    else
        snprintf(want, sizeof(want), "message.%s", str(body, "direction"));
    if (!topic || strcmp(topic, want) != 0) fail_msg("%s: topic %s, not %s", name, topic, want);
    assert_true(topic_valid(topic, false));
}

static void test_every_valid_example_passes_its_schema(void **st)
{
    (void)st;
    char *names[MAX_FILES];
    size_t n = list_json(FIXTURES "/valid", names);
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++) {
        json_t *fx = fixture("valid", names[i]);
        json_t *s = schema_of(names[i], fx);
        const char *err = validate(s, json_object_get(fx, "body"));
        if (err[0]) fail_msg("%s: %s", names[i], err);
        check_topic(names[i], fx, s);
        json_decref(s);
        json_decref(fx);
    }
    free_list(names, n);
}

static bool starts_with(const char *s, const char *prefix)
{
    return s && !strncmp(s, prefix, strlen(prefix));
}

/* message.in: keyed by instance:chat as a channel publishes it, by the
 * contact once attached; message.out: by conversation, its id the
 * idempotency key; platform events: by their entity, "ID:rREV:N". */
static void check_keys(const char *name, const json_t *fx)
{
    const json_t *body = json_object_get(fx, "body");
    const char *topic = str(fx, "topic"), *key = str(fx, "key"), *idem = str(fx, "idempotency_key");
    if (!key || !idem) fail_msg("%s: no key or idempotency key", name);
    assert_true(strlen(key) <= BUS_KEY_MAX && strlen(idem) <= BUS_IDEMPOTENCY_KEY_MAX);
    const char *instance = str(json_object_get(body, "channel"), "instance");
    char want[600];
    if (!strcmp(topic, "message.in")) {
        if (json_object_get(body, "contact_id"))
            snprintf(want, sizeof(want), "%s", str(body, "contact_id"));
        else
            snprintf(want, sizeof(want), "%s:%s", instance,
                     str(json_object_get(body, "chat"), "id"));
        char pfx[80];
        snprintf(pfx, sizeof(pfx), "%s:", instance);
        if (!starts_with(idem, pfx))
            fail_msg("%s: idempotency key %s is not %s...", name, idem, pfx);
    } else if (!strcmp(topic, "message.out")) {
        snprintf(want, sizeof(want), "%s", str(body, "conversation_id"));
        if (strcmp(idem, str(body, "id")) != 0)
            fail_msg("%s: idempotency key %s is not the message id", name, idem);
    } else if (!strcmp(topic, "platform.chat")) {
        /* A channel's event: keyed by its chat, idempotent by its update. */
        snprintf(want, sizeof(want), "%s:%s", instance, str(json_object_get(body, "chat"), "id"));
        char pfx[80];
        snprintf(pfx, sizeof(pfx), "%s:", instance);
        if (!starts_with(idem, pfx))
            fail_msg("%s: idempotency key %s is not %s...", name, idem, pfx);
    } else {
        bool by_contact = !strcmp(topic, "platform.contact") || !strcmp(topic, "platform.lead");
        const char *field = by_contact ? "contact_id" : "conversation_id";
        snprintf(want, sizeof(want), "%s", str(body, field));
        char pfx[80];
        snprintf(pfx, sizeof(pfx), "%s:r", want);
        if (!starts_with(idem, pfx))
            fail_msg("%s: idempotency key %s is not %s...", name, idem, pfx);
    }
    if (strcmp(key, want) != 0) fail_msg("%s: key %s, not %s", name, key, want);
}

static void test_valid_examples_follow_the_key_and_idempotency_rules(void **st)
{
    (void)st;
    char *names[MAX_FILES];
    size_t n = list_json(FIXTURES "/valid", names);
    for (size_t i = 0; i < n; i++) {
        json_t *fx = fixture("valid", names[i]);
        check_keys(names[i], fx);
        json_decref(fx);
    }
    free_list(names, n);
}

static void test_every_invalid_example_is_refused_naming_the_field(void **st)
{
    (void)st;
    char *names[MAX_FILES];
    size_t n = list_json(FIXTURES "/invalid", names), wrong = 0;
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++) {
        json_t *fx = fixture("invalid", names[i]);
        const char *want = str(fx, "error");
        json_t *s = schema_of(names[i], fx);
        const char *err = validate(s, json_object_get(fx, "body"));
        if (!want || starts_with(want, "(root)")) {
            print_error("%s: the expected error must name a field\n", names[i]);
            wrong++;
        } else if (strcmp(err, want) != 0) {
            print_error("%s: refused with \"%s\", expected \"%s\"\n", names[i], err, want);
            wrong++;
        }
        json_decref(s);
        json_decref(fx);
    }
    free_list(names, n);
    assert_int_equal(wrong, 0);
}

/* Every channel kind has a valid inbound and outbound example, every event
 * type a valid and an invalid one. */
static void test_the_examples_cover_every_channel_and_every_event(void **st)
{
    (void)st;
    static const char *const kinds[] = {"telegram", "webchat", "email", "rest"};
    unsigned in[4] = {0}, out[4] = {0}, ev_ok[N_EVENTS] = {0}, ev_bad[N_EVENTS] = {0};
    static const char *const sets[] = {"valid", "invalid"};
    for (int set = 0; set < 2; set++) {
        char dir[300], *names[MAX_FILES];
        snprintf(dir, sizeof(dir), "%s/%s", FIXTURES, sets[set]);
        size_t n = list_json(dir, names);
        for (size_t i = 0; i < n; i++) {
            json_t *fx = fixture(sets[set], names[i]);
            const json_t *body = json_object_get(fx, "body");
            const char *kind = str(json_object_get(body, "channel"), "kind");
            for (size_t k = 0; set == 0 && kind && k < 4; k++)
                if (!strcmp(kind, kinds[k]) && !strcmp(str(fx, "schema"), "message.json"))
                    (!strcmp(str(body, "direction"), "in") ? in : out)[k]++;
            for (size_t e = 0; e < N_EVENTS; e++) {
                char rel[200];
                snprintf(rel, sizeof(rel), "events/%s.json", event_types[e]);
                if (!strcmp(str(fx, "schema"), rel)) (set == 0 ? ev_ok : ev_bad)[e]++;
            }
            json_decref(fx);
        }
        free_list(names, n);
    }
    for (size_t k = 0; k < 4; k++)
        if (!in[k] || !out[k])
            fail_msg("%s: %u inbound, %u outbound examples", kinds[k], in[k], out[k]);
    for (size_t e = 0; e < N_EVENTS; e++)
        if (!ev_ok[e] || !ev_bad[e])
            fail_msg("%s: %u valid, %u invalid examples", event_types[e], ev_ok[e], ev_bad[e]);
}

/* ---- personal data ------------------------------------------------------------- */

#define CONTACT "con_01KKNSVWNRANBSPNBRJV8CW5V4"

static uint8_t pd_key_bytes[PD_KEY_BYTES];

static int setup(void **st)
{
    (void)st;
    if (sodium_init() < 0) return -1;
    randombytes_buf(pd_key_bytes, sizeof(pd_key_bytes));
    return 0;
}

/* Every property that takes a sealed value is marked x-personal, and every
 * one marked takes it: the mark is what the host seals, and the docs list. */
static void check_personal_marks(const char *rel, const json_t *s)
{
    json_t *plain = json_pack("{s:s}", "text", "Ciao");
    json_t *sealed = pd_seal(pd_key_bytes, CONTACT, plain);
    const char *k;
    const json_t *ps;
    char err[512];
    json_object_foreach((json_t *)json_object_get(s, "properties"), k, ps)
    {
        bool marked = json_is_true(json_object_get(ps, "x-personal"));
        bool takes = jsonschema_validate_in(s, ps, sealed, err, sizeof(err)) == 0;
        if (marked != takes)
            fail_msg("%s: %s is %smarked personal but %s a sealed value", rel, k,
                     marked ? "" : "not ", takes ? "takes" : "refuses");
    }
    json_decref(sealed);
    json_decref(plain);
}

static void test_personal_fields_are_exactly_the_sealable_ones(void **st)
{
    (void)st;
    json_t *m = schema("message.json");
    check_personal_marks("message.json", m);
    json_decref(m);
    for (size_t i = 0; i < N_EVENTS; i++) {
        char rel[200];
        snprintf(rel, sizeof(rel), "events/%s.json", event_types[i]);
        json_t *s = schema(rel);
        check_personal_marks(rel, s);
        json_decref(s);
    }
}

/* Seal every clear personal field of an example with pd_seal: the body
 * stays valid, each field opens back to what it was, and without its
 * contact it is refused naming contact_id. */
static void check_sealing(const char *name, const json_t *s, const json_t *body)
{
    json_t *b = json_deep_copy(body);
    /* A channel's own events (platform.chat) hold ids only, no contact. */
    bool has_contact = json_object_get(json_object_get(s, "properties"), "contact_id") != NULL;
    if (!json_object_get(b, "contact_id") && has_contact)
        json_object_set_new(b, "contact_id", json_string(CONTACT));
    const char *cid = str(b, "contact_id") ? str(b, "contact_id") : CONTACT;
    if (!json_object_get(b, "id") && json_object_get(json_object_get(s, "properties"), "direction"))
        json_object_set_new(b, "id", json_string("msg_01KKNSVWNRANBSPNBRJV8CW5V4"));
    const char *k;
    const json_t *ps;
    size_t sealed = 0;
    json_object_foreach((json_t *)json_object_get(s, "properties"), k, ps)
    {
        const json_t *v = json_object_get(b, k);
        if (!json_is_true(json_object_get(ps, "x-personal")) || !v || pd_is_sealed(v)) continue;
        json_t *box = pd_seal(pd_key_bytes, cid, v);
        assert_non_null(box);
        json_t *back = pd_open(pd_key_bytes, cid, box);
        if (!json_equal(back, v)) fail_msg("%s: %s does not open back", name, k);
        json_decref(back);
        json_object_set_new(b, k, box);
        sealed++;
    }
    const char *err = validate(s, b);
    if (err[0]) fail_msg("%s sealed: %s", name, err);
    if (sealed) {
        json_object_del(b, "contact_id");
        err = validate(s, b);
        if (strcmp(err, "contact_id: required field missing") != 0)
            fail_msg("%s sealed, without its contact: \"%s\"", name, err);
    }
    json_decref(b);
}

static void test_sealing_the_personal_fields_keeps_every_example_valid(void **st)
{
    (void)st;
    char *names[MAX_FILES];
    size_t n = list_json(FIXTURES "/valid", names);
    for (size_t i = 0; i < n; i++) {
        json_t *fx = fixture("valid", names[i]);
        json_t *s = schema_of(names[i], fx);
        check_sealing(names[i], s, json_object_get(fx, "body"));
        json_decref(s);
        json_decref(fx);
    }
    free_list(names, n);
}

/* ---- the real Telegram updates ---------------------------------------------- */

/* A JSON integer as the model writes ids: a decimal string. */
static void id_string(const json_t *v, char *out, size_t len)
{
    snprintf(out, len, "%lld", (long long)json_integer_value(v));
}

static void expect_id(const char *name, const char *what, const char *got, const json_t *raw_id)
{
    char want[32];
    id_string(raw_id, want, sizeof(want));
    if (!got || strcmp(got, want) != 0) fail_msg("%s: %s is %s, not %s", name, what, got, want);
}

static void expect_time(const char *name, const char *what, const char *got, const json_t *unix_s)
{
    char want[32];
    time_t t = (time_t)json_integer_value(unix_s);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!got || strcmp(got, want) != 0) fail_msg("%s: %s is %s, not %s", name, what, got, want);
}

/* The Telegram message an update carries, and the field it came in. */
static const json_t *tg_message(const json_t *update, const char **field)
{
    static const char *const fields[] = {"message", "edited_message", "channel_post",
                                         "edited_channel_post"};
    for (size_t i = 0; i < 4; i++)
        if (json_object_get(update, fields[i])) {
            *field = fields[i];
            return json_object_get(update, fields[i]);
        }
    *field = "callback_query";
    return json_object_get(json_object_get(update, "callback_query"), "message");
}

/* The largest photo size (by area, then bytes), as the mapping takes. */
static const json_t *largest_photo(const json_t *sizes)
{
    const json_t *best = NULL, *p;
    size_t i;
    json_int_t best_area = -1, best_bytes = -1;
    json_array_foreach(sizes, i, p)
    {
        json_int_t area = json_integer_value(json_object_get(p, "width")) *
                          json_integer_value(json_object_get(p, "height"));
        json_int_t bytes = json_integer_value(json_object_get(p, "file_size"));
        if (area > best_area || (area == best_area && bytes > best_bytes)) {
            best = p;
            best_area = area;
            best_bytes = bytes;
        }
    }
    return best;
}

static void check_telegram_content(const char *name, const json_t *body, const json_t *msg)
{
    const json_t *text = json_object_get(msg, "text") ? json_object_get(msg, "text")
                                                      : json_object_get(msg, "caption");
    if (text && !json_equal(json_object_get(body, "text"), text))
        fail_msg("%s: text is not the update's text or caption", name);
    if (json_object_get(msg, "entities") &&
        !json_equal(json_object_get(body, "entities"), json_object_get(msg, "entities")))
        fail_msg("%s: entities are not the update's", name);
    const json_t *photo = json_object_get(msg, "photo");
    if (photo) {
        const json_t *a = json_array_get(json_object_get(body, "attachments"), 0);
        const json_t *big = largest_photo(photo);
        char ref[300];
        snprintf(ref, sizeof(ref), "telegram:%s", str(big, "file_id"));
        assert_string_equal(str(a, "kind"), "image");
        assert_string_equal(str(a, "ref"), ref);
        assert_true(json_equal(json_object_get(a, "size"), json_object_get(big, "file_size")));
    }
    if (json_is_string(text) && json_string_value(text)[0] == '/') {
        /* "/name@bot args": the command, as the document splits it. */
        char line[300], want_name[64] = "", want_bot[64] = "";
        snprintf(line, sizeof(line), "%s", json_string_value(text) + 1);
        line[strcspn(line, " ")] = 0;
        char *at = strchr(line, '@');
        if (at) {
            *at = 0;
            snprintf(want_bot, sizeof(want_bot), "%s", at + 1);
        }
        snprintf(want_name, sizeof(want_name), "%s", line);
        const json_t *cmd = json_object_get(body, "command");
        assert_string_equal(str(cmd, "name"), want_name);
        assert_string_equal(str(cmd, "bot") ? str(cmd, "bot") : "", want_bot);
    }
}

static void check_telegram(const char *name, const json_t *fx)
{
    const json_t *body = json_object_get(fx, "body");
    const json_t *raw = json_object_get(body, "raw");
    const char *field;
    const json_t *msg = tg_message(raw, &field);
    char idem[64];
    snprintf(idem, sizeof(idem), "tg-main:%lld",
             (long long)json_integer_value(json_object_get(raw, "update_id")));
    assert_string_equal(str(fx, "idempotency_key"), idem);
    const json_t *chat = json_object_get(body, "chat"), *from = json_object_get(body, "from");
    expect_id(name, "chat.id", str(chat, "id"),
              json_object_get(json_object_get(msg, "chat"), "id"));
    const json_t *sender = !strcmp(field, "callback_query")
                               ? json_object_get(json_object_get(raw, field), "from")
                               : json_object_get(msg, "from");
    expect_id(name, "from.id", str(from, "id"), json_object_get(sender, "id"));
    assert_string_equal(str(body, "language"), str(sender, "language_code"));
    if (!strcmp(field, "callback_query")) {
        const json_t *q = json_object_get(raw, field), *act = json_object_get(body, "action");
        assert_string_equal(str(body, "kind"), "action");
        assert_string_equal(str(act, "data"), str(q, "data"));
        assert_string_equal(str(act, "query_id"), str(q, "id"));
        expect_id(name, "action.message.external_id",
                  str(json_object_get(act, "message"), "external_id"),
                  json_object_get(msg, "message_id"));
        return;
    }
    expect_id(name, "external_id", str(body, "external_id"), json_object_get(msg, "message_id"));
    expect_time(name, "at", str(body, "at"), json_object_get(msg, "date"));
    assert_string_equal(str(body, "kind"), !strncmp(field, "edited_", 7) ? "edit" : "message");
    if (json_object_get(msg, "edit_date"))
        expect_time(name, "edited_at", str(body, "edited_at"), json_object_get(msg, "edit_date"));
    if (json_object_get(msg, "message_thread_id"))
        expect_id(name, "chat.thread_id", str(chat, "thread_id"),
                  json_object_get(msg, "message_thread_id"));
    check_telegram_content(name, body, msg);
}

static void test_real_telegram_updates_map_as_documented(void **st)
{
    (void)st;
    char *names[MAX_FILES];
    size_t n = list_json(FIXTURES "/valid", names), real = 0;
    for (size_t i = 0; i < n; i++) {
        if (!starts_with(names[i], "telegram-real-")) continue;
        json_t *fx = fixture("valid", names[i]);
        assert_non_null(json_object_get(fx, "source"));
        check_telegram(names[i], fx);
        real++;
        json_decref(fx);
    }
    free_list(names, n);
    assert_true(real >= 3);
}

/* ---- the document's examples ---------------------------------------------- */

/* Every ```json block of docs/channels.md that is not abridged (no "...")
 * passes its schema: the message's, or its event type's. */
static void test_the_documents_whole_examples_pass_their_schemas(void **st)
{
    (void)st;
    FILE *f = fopen(TH_SOURCE_DIR "/docs/channels.md", "r");
    assert_non_null(f);
    static char doc[1 << 17];
    size_t len = fread(doc, 1, sizeof(doc) - 1, f);
    fclose(f);
    assert_true(len < sizeof(doc) - 1);
    doc[len] = 0;
    size_t whole = 0;
    for (char *p = doc; (p = strstr(p, "```json\n")) != NULL;) {
        p += 8;
        char *end = strstr(p, "```");
        assert_non_null(end);
        *end = 0;
        if (!strstr(p, "...")) {
            json_error_t e;
            json_t *body = json_loads(p, 0, &e);
            if (!body) fail_msg("docs/channels.md: an example is not JSON: %s", e.text);
            char rel[200];
            if (str(body, "direction"))
                snprintf(rel, sizeof(rel), "message.json");
            else
                snprintf(rel, sizeof(rel), "events/%s.json", str(body, "type"));
            json_t *s = schema(rel);
            const char *err = validate(s, body);
            if (err[0]) fail_msg("docs/channels.md: an example (%s): %s", rel, err);
            json_decref(s);
            json_decref(body);
            whole++;
        }
        p = end + 3;
    }
    assert_true(whole >= 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_schema_is_usable_and_versioned),
        cmocka_unit_test(test_every_valid_example_passes_its_schema),
        cmocka_unit_test(test_valid_examples_follow_the_key_and_idempotency_rules),
        cmocka_unit_test(test_every_invalid_example_is_refused_naming_the_field),
        cmocka_unit_test(test_the_examples_cover_every_channel_and_every_event),
        cmocka_unit_test(test_personal_fields_are_exactly_the_sealable_ones),
        cmocka_unit_test(test_sealing_the_personal_fields_keeps_every_example_valid),
        cmocka_unit_test(test_real_telegram_updates_map_as_documented),
        cmocka_unit_test(test_the_documents_whole_examples_pass_their_schemas),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
