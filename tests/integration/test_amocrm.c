/*
 * The crm-amocrm plugin through the real binary, against the fake amoCRM
 * (tests/fakes/fake_amocrm): the instance is authorised through the OAuth
 * redirect at /hooks/amo/oauth; the lead-capture scenario with the crm.*
 * steps collects a name and a phone, and the contact (phone in E.164),
 * the lead (with the contact, in the named status), a note and a task
 * appear in the CRM; a second capture with the same number finds the
 * contact; concurrent calls after the token expired make ONE refresh and
 * never present a retired refresh token; 429s are waited out; amoCRM's
 * webhooks become events, a wrong URL token is refused; a revoked grant
 * puts the instance in "needs re-authorisation" (calls fail at once, the
 * instance keeps running) until a new code arrives. The sync (ADR 0039):
 * the capture links the platform contact to the CRM contact; the linking
 * turn's own profile writes nothing more; an e-mail set later through the
 * contacts API reaches the CRM contact in exactly one write; a change of
 * something else (tags) writes nothing.
 */
#include "../fakes/fake_proc.h"
#include "../support/th.h"
#include "core/jsonschema.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAKE_BIN TH_BUILD_DIR "/tests/fakes/fake_amocrm"
#define CLIENT_ID "3f1c9a52-7e0b-4d7a-9c1e-amo-test-client"
#define CLIENT_SECRET "amo-test-secret-Qx7Lr2Vn9Tb4"
#define HOOK_TOKEN "wh-Rk29fLq8ZtV3"

static th_host H;
static fake_proc AMO;

static json_t *fake(const char *method, const char *path, const char *body)
{
    th_host x = {.port = AMO.port};
    json_t *o = NULL;
    int st = th_http(&x, method, path, body, "", &o);
    if (st != 200) fail_msg("fake %s %s: %d", method, path, st);
    return o;
}

static long long stat_of(const char *name)
{
    json_t *o = fake("GET", "/_fake/stats", NULL);
    long long v = json_integer_value(json_object_get(o, name));
    json_decref(o);
    return v;
}

/* An action of the instance "amo": its result (status into *st). */
static json_t *call(const char *action, const char *args, int *st)
{
    json_t *o = NULL;
    *st = th_call(&H, "amo", action, args, &o);
    return o;
}

static json_t *call_ok(const char *action, const char *args)
{
    int st;
    json_t *o = call(action, args, &st);
    if (st != 200) {
        char *d = json_dumps(o, 0);
        fail_msg("%s %s: %d %s", action, args, st, d ? d : "");
    }
    return o;
}

/* The OAuth dance: oauth.url's state, a code from the fake, the redirect. */
static bool authorise(void)
{
    json_t *u = call_ok("oauth.url", "{}");
    char state[64];
    snprintf(state, sizeof(state), "%s", json_string_value(th_get(u, "result.state")));
    json_decref(u);
    json_t *c = fake("POST", "/_fake/code", "{}");
    char path[300];
    snprintf(path, sizeof(path), "/hooks/amo/oauth?code=%s&state=%s&referer=testaccount.amocrm.ru",
             json_string_value(json_object_get(c, "code")), state);
    json_decref(c);
    json_t *o = NULL;
    if (th_http(&H, "GET", path, NULL, "", &o) != 200) return false;
    json_decref(o);
    for (long long end = th_now_ms() + 10000; th_now_ms() < end; th_sleep_ms(50)) {
        json_t *s = call_ok("status", "{}");
        bool ok = json_is_true(th_get(s, "result.authorized"));
        json_decref(s);
        if (ok) return true;
    }
    return false;
}

static int setup(void **s)
{
    (void)s;
    if (fake_start(&AMO, FAKE_BIN, 5000)) return -1;
    char *cfg = NULL;
    if (asprintf(&cfg,
                 "{\"listen\": \"127.0.0.1:0\", \"expressions\": {\"workers\": 1},"
                 " \"instances\": ["
                 "  {\"id\": \"amo\", \"plugin\": \"crm-amocrm\", \"config\": {\"base_url\": "
                 "   \"http://127.0.0.1:%d\", \"account_id\": 31337, \"redirect_uri\": "
                 "   \"https://bot.example.com/hooks/amo/oauth\", \"contact_fields\": {\"source\": "
                 "   \"Source\"}, \"sync_debounce_ms\": 300},"
                 "   \"egress\": [{\"scheme\": \"http\", \"host\": \"127.0.0.1\", \"port\": %d,"
                 "                \"private\": true}]}]}",
                 AMO.port, AMO.port) < 0)
        return -1;
    int rc =
        th_init(&H, "amocrm") || th_install_plugin(&H, "jq") ||
        th_install_plugin(&H, "crm-amocrm") || th_config(&H, cfg) ||
        th_cli(&H, CLIENT_ID "\n", NULL, 0, "secret", "set", "amo", "client_id", NULL) ||
        th_cli(&H, CLIENT_SECRET "\n", NULL, 0, "secret", "set", "amo", "client_secret", NULL) ||
        th_cli(&H, HOOK_TOKEN "\n", NULL, 0, "secret", "set", "amo", "webhook_token", NULL) ||
        th_start(&H, NULL, 15000) || !th_wait_state(&H, "jq-1", "ready", 15000) ||
        !th_wait_state(&H, "amo", "ready", 15000) || !authorise();
    free(cfg);
    return rc ? -1 : 0;
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    fake_stop(&AMO);
    return rc ? -1 : 0;
}

/* ---- the tests ------------------------------------------------------------------------- */

static json_t *say(const char *agent, const char *user, const char *text)
{
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/agents/%s/messages", agent);
    json_t *b = json_pack("{s:s,s:s}", "user", user, "text", text), *o = NULL;
    char *body = json_dumps(b, 0);
    json_decref(b);
    int st = th_http(&H, "POST", path, body, NULL, &o);
    free(body);
    if (st != 200) fail_msg("POST %s %s: %d", path, text, st);
    return o;
}

/* Whether one of the turn's replies contains text. */
static bool replied(json_t *turn, const char *text)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(turn, "messages"), i, m)
    {
        const char *t = json_string_value(json_object_get(m, "text"));
        if (t && strstr(t, text)) return true;
    }
    return false;
}

/* body is what the catalogue's schema of its type says. */
static void assert_conforms(const json_t *body, const char *type)
{
    char path[120], err[300];
    snprintf(path, sizeof(path), "docs/schemas/events/%s.json", type);
    char *text = th_read_source(path);
    json_t *schema = json_loads(text, 0, NULL);
    free(text);
    if (jsonschema_validate(schema, body, err, sizeof(err)) != 0) fail_msg("%s: %s", type, err);
    json_decref(schema);
}

/* The crm.create_lead step declares emits lead.created: the host published
 * it on platform.lead, keyed by the contact, in the turn's commit, as the
 * catalogue's schema says. */
static void lead_created_was_published(const char *lead_id)
{
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "GET", "/api/v1/topics/platform.lead/events", NULL, NULL, &o),
                     200);
    assert_int_equal(json_array_size(json_object_get(o, "events")), 1);
    json_t *ev = th_get(o, "events.0");
    json_t *body = json_object_get(ev, "body");
    assert_string_equal(json_string_value(json_object_get(body, "type")), "lead.created");
    assert_string_equal(json_string_value(json_object_get(ev, "key")),
                        json_string_value(json_object_get(body, "contact_id")));
    assert_string_equal(json_string_value(th_get(body, "lead.id")), lead_id);
    assert_string_equal(json_string_value(th_get(body, "lead.status_id")), "6002");
    assert_string_equal(json_string_value(th_get(body, "crm.kind")), "crm-amocrm");
    assert_string_equal(json_string_value(th_get(body, "crm.instance")), "amo");
    char url[200];
    snprintf(url, sizeof(url), "/leads/detail/%s", lead_id);
    assert_non_null(strstr(json_string_value(th_get(body, "lead.url")), url));
    assert_non_null(json_object_get(body, "conversation_id"));
    assert_conforms(body, "lead.created");
    json_decref(o);
}

static void test_lead_capture_files_the_contact_lead_note_and_task_in_amocrm(void **s)
{
    (void)s;
    char *content = th_read_source("tests/fixtures/amocrm/lead-capture-amocrm.json");
    assert_non_null(content);
    char agent[64];
    assert_int_equal(th_make_agent(&H, "Leads", content, NULL, agent, sizeof(agent)), 0);
    free(content);
    json_decref(say(agent, "olga", "Hello"));
    json_decref(say(agent, "olga", "Olga"));
    json_t *o = say(agent, "olga", "8 (912) 345-67-89");
    assert_true(replied(o, "Thank you, Olga! Your request number is 1"));
    assert_string_equal(json_string_value(json_object_get(o, "state")), "ended");
    json_decref(o);

    json_t *st = fake("GET", "/_fake/state", NULL);
    json_t *contact = json_array_get(json_object_get(st, "contacts"), 0);
    assert_string_equal(json_string_value(th_get(contact, "name")), "Olga");
    assert_string_equal(json_string_value(th_get(contact, "custom_fields_values.0.values.0.value")),
                        "+79123456789");
    json_t *lead = json_array_get(json_object_get(st, "leads"), 0);
    assert_int_equal(json_integer_value(th_get(lead, "_embedded.contacts.0.id")),
                     json_integer_value(json_object_get(contact, "id")));
    assert_int_equal(json_integer_value(json_object_get(lead, "status_id")), 6002);
    json_t *note = json_array_get(json_object_get(st, "notes"), 0);
    assert_int_equal(json_integer_value(json_object_get(note, "entity_id")),
                     json_integer_value(json_object_get(lead, "id")));
    assert_non_null(strstr(json_string_value(th_get(note, "params.text")), "Olga"));
    assert_int_equal(json_array_size(json_object_get(st, "tasks")), 1);
    char lead_id[24];
    snprintf(lead_id, sizeof(lead_id), "%lld",
             (long long)json_integer_value(json_object_get(lead, "id")));
    json_decref(st);
    lead_created_was_published(lead_id);

    /* The same person again, typed another way: the contact is found. */
    o = call_ok("contact.find_or_create", "{\"name\": \"Olga\", \"phone\": \"+7 912 345 67 89\"}");
    assert_false(json_is_true(th_get(o, "result.created")));
    json_decref(o);
    st = fake("GET", "/_fake/state", NULL);
    assert_int_equal(json_array_size(json_object_get(st, "contacts")), 1);
    json_decref(st);
    /* No personal data in the integration log without debug. */
    assert_true(th_file_contains(&H, "logs/crm_integration.log", "amoCRM call"));
    /* (The phone's digits as amoCRM is asked for them, and as typed: a bare
     * "345" also turns up in a timestamp's milliseconds or a call's ms.) */
    assert_false(th_file_contains(&H, "logs/crm_integration.log", "9123456789"));
    assert_false(th_file_contains(&H, "logs/crm_integration.log", "345-67-89"));
    assert_false(th_file_contains(&H, "logs/crm_integration.log", "Olga"));
}

/* ---- the sync of linked contacts (ADR 0039) ---------------------------------------------- */

/* The last contact.updated on platform.contact (a new reference), as stored. */
static json_t *last_contact_updated(void)
{
    json_t *o = NULL, *last = NULL;
    assert_int_equal(
        th_http(&H, "GET", "/api/v1/topics/platform.contact/events?limit=100", NULL, NULL, &o),
        200);
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(o, "events"), i, ev)
    {
        json_t *b = json_object_get(ev, "body");
        if (!strcmp(json_string_value(json_object_get(b, "type")) ?: "", "contact.updated"))
            last = b;
    }
    json_incref(last);
    json_decref(o);
    return last;
}

static long long amo_status(const char *field)
{
    json_t *st = call_ok("status", "{}");
    char path[80];
    snprintf(path, sizeof(path), "result.%s", field);
    long long v = json_integer_value(th_get(st, path));
    json_decref(st);
    return v;
}

/* Wait until the instance's counter passes was (the event was handled). */
static bool counter_passes(const char *field, long long was)
{
    for (long long end = th_now_ms() + 15000; th_now_ms() < end; th_sleep_ms(50))
        if (amo_status(field) > was) return true;
    return false;
}

/* The fake CRM contact with this id (a new reference). */
static json_t *crm_contact(json_int_t id)
{
    json_t *st = fake("GET", "/_fake/state", NULL), *found = NULL;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(st, "contacts"), i, c)
    {
        if (json_integer_value(json_object_get(c, "id")) == id) found = json_incref(c);
    }
    json_decref(st);
    return found;
}

/* A multitext value (PHONE, EMAIL) of a CRM contact, or NULL. */
static const char *crm_field(const json_t *c, const char *code)
{
    size_t i;
    const json_t *f;
    json_array_foreach(json_object_get(c, "custom_fields_values"), i, f)
    {
        if (!strcmp(json_string_value(json_object_get(f, "field_code")) ?: "", code))
            return json_string_value(th_get((json_t *)f, "values.0.value"));
    }
    return NULL;
}

static void patch_contact(const char *id, const char *body)
{
    char path[120];
    snprintf(path, sizeof(path), "/api/v1/contacts/%s", id);
    json_t *o = NULL;
    int st = th_http(&H, "PATCH", path, body, NULL, &o);
    if (st != 200) fail_msg("PATCH %s %s: %d", path, body, st);
    json_decref(o);
}

static void test_a_linked_contacts_profile_change_reaches_amocrm_exactly_once(void **s)
{
    (void)s;
    char *content = th_read_source("tests/fixtures/amocrm/lead-capture-amocrm.json");
    char agent[64];
    assert_int_equal(th_make_agent(&H, "Sync leads", content, NULL, agent, sizeof(agent)), 0);
    free(content);
    long long unchanged = amo_status("sync_unchanged"), synced = amo_status("synced");
    json_decref(say(agent, "ivan", "Hello"));
    json_decref(say(agent, "ivan", "Ivan"));
    json_t *o = say(agent, "ivan", "+7 903 111-22-33");
    assert_true(replied(o, "Thank you, Ivan!"));
    json_decref(o);

    /* The linking turn's contact.updated names the link (ids only): on the
     * bus it carries no profile, and it is what the catalogue says. */
    json_t *ev = last_contact_updated();
    assert_non_null(ev);
    assert_null(json_object_get(ev, "profile"));
    assert_string_equal(json_string_value(th_get(ev, "links.0.instance")), "amo");
    assert_string_equal(json_string_value(th_get(ev, "links.0.plugin")), "crm-amocrm");
    char crm[32];
    assert_non_null(json_string_value(th_get(ev, "links.0.id")));
    snprintf(crm, sizeof(crm), "%s", json_string_value(th_get(ev, "links.0.id")));
    json_int_t crm_id = strtoll(crm, NULL, 10);
    assert_conforms(ev, "contact.updated");
    char contact[64];
    snprintf(contact, sizeof(contact), "%s", json_string_value(json_object_get(ev, "contact_id")));
    json_decref(ev);

    /* The platform contact keeps the link. */
    char path[120];
    snprintf(path, sizeof(path), "/api/v1/contacts/%s", contact);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    assert_string_equal(json_string_value(th_get(o, "links.0.instance")), "amo");
    assert_string_equal(json_string_value(th_get(o, "links.0.id")), crm);
    json_decref(o);

    /* The instance got the event with the profile it created the contact
     * with (the same name and phone): nothing written. */
    long long edits = stat_of("contact_edits");
    assert_true(counter_passes("sync_unchanged", unchanged));
    assert_int_equal(stat_of("contact_edits"), edits);

    /* An e-mail set later reaches the CRM contact: one write, with the
     * name and phone kept. */
    patch_contact(contact, "{\"profile\": {\"email\": \"ivan@example.com\"}}");
    assert_true(counter_passes("synced", synced));
    json_t *c = crm_contact(crm_id);
    assert_non_null(c);
    assert_string_equal(crm_field(c, "EMAIL"), "ivan@example.com");
    assert_string_equal(crm_field(c, "PHONE"), "+79031112233");
    assert_string_equal(json_string_value(json_object_get(c, "name")), "Ivan");
    json_decref(c);
    assert_int_equal(stat_of("contact_edits"), edits + 1);

    /* A change of something else comes with the same values: nothing is
     * written again. */
    unchanged = amo_status("sync_unchanged");
    patch_contact(contact, "{\"tags\": [\"vip\"]}");
    assert_true(counter_passes("sync_unchanged", unchanged));
    assert_int_equal(stat_of("contact_edits"), edits + 1);
    assert_int_equal(amo_status("synced"), synced + 1);
}

/* amoCRM's query matches text anywhere: the exact contact may be on a
 * later page (_links.next), and is found there rather than created twice. */
static void test_a_contact_on_a_later_page_is_found_not_created_again(void **s)
{
    (void)s;
    json_t *seed = json_array();
    for (int i = 0; i < 60; i++) {
        char email[64];
        snprintf(email, sizeof(email), "p%d-zz@example.org", i);
        if (i == 59) snprintf(email, sizeof(email), "zz@example.org");
        json_array_append_new(seed, json_pack("{s:s,s:[{s:s,s:[{s:s}]}]}", "name", "Seeded",
                                              "custom_fields_values", "field_code", "EMAIL",
                                              "values", "value", email));
    }
    char *body = json_dumps(seed, 0);
    json_decref(seed);
    json_decref(fake("POST", "/_fake/contacts", body));
    free(body);
    json_t *o = call_ok("contact.find_or_create", "{\"email\": \"ZZ@example.org\"}");
    assert_false(json_is_true(th_get(o, "result.created")));
    json_decref(o);
}

static void test_a_lead_moves_between_statuses_by_name_and_a_wrong_status_is_named(void **s)
{
    (void)s;
    json_t *o = call_ok("lead.create", "{\"name\": \"Move me\", \"price\": 1500}");
    long long id = json_integer_value(th_get(o, "result.lead_id"));
    json_decref(o);
    char args[200];
    snprintf(args, sizeof(args),
             "{\"lead_id\": %lld, \"status\": \"Negotiation\", \"price\": 2500}", id);
    o = call_ok("lead.move", args);
    assert_int_equal(json_integer_value(th_get(o, "result.status_id")), 6003);
    json_decref(o);
    snprintf(args, sizeof(args), "{\"lead_id\": %lld, \"status\": \"Nowhere\"}", id);
    int st;
    o = call("lead.move", args, &st);
    assert_int_not_equal(st, 200);
    char *d = json_dumps(o, 0);
    assert_non_null(strstr(d, "status"));
    free(d);
    json_decref(o);
}

typedef struct worker {
    int status;
    char args[100];
} worker;

static void *one_call(void *ud)
{
    worker *w = ud;
    th_host x = H;
    json_t *o = NULL;
    w->status = th_call(&x, "amo", "note.add", w->args, &o);
    json_decref(o);
    return NULL;
}

static void
test_concurrent_calls_after_expiry_make_one_refresh_and_never_reuse_the_old_token(void **s)
{
    (void)s;
    json_t *o = call_ok("lead.create", "{\"name\": \"Notes\"}");
    long long lead = json_integer_value(th_get(o, "result.lead_id"));
    json_decref(o);
    json_decref(fake("POST", "/_fake/config", "{\"refresh_delay_ms\": 400}"));
    json_decref(fake("POST", "/_fake/expire", "{}"));
    long long refreshes = stat_of("token_refresh"), notes = stat_of("notes");
    enum { N = 12 };
    worker w[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        snprintf(w[i].args, sizeof(w[i].args), "{\"entity_id\": %lld, \"text\": \"note %d\"}", lead,
                 i);
        assert_int_equal(pthread_create(&th[i], NULL, one_call, &w[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].status, 200);
    }
    assert_int_equal(stat_of("token_refresh"), refreshes + 1);
    assert_int_equal(stat_of("refresh_reused"), 0);
    assert_int_equal(stat_of("429"), 0);
    /* Notes waiting together went in shared requests. */
    assert_true(stat_of("notes") < notes + N);
    json_decref(fake("POST", "/_fake/config", "{\"refresh_delay_ms\": 0}"));
}

static void test_429_and_504_are_waited_out_and_the_call_succeeds(void **s)
{
    (void)s;
    json_decref(fake("POST", "/_fake/fail", "{\"status\": 504, \"count\": 3}"));
    json_t *o = call_ok("task.create", "{\"text\": \"Call back\", \"due_in_s\": 3600}");
    assert_true(json_integer_value(th_get(o, "result.task_id")) > 0);
    json_decref(o);
    assert_int_equal(stat_of("injected"), 3);
}

static void test_a_burst_of_calls_stays_within_seven_a_second(void **s)
{
    (void)s;
    long long before = stat_of("429");
    for (int i = 0; i < 20; i++) {
        json_t *o = call_ok("contact.find", "{\"email\": \"nobody@example.com\"}");
        json_decref(o);
    }
    assert_int_equal(stat_of("429"), before);
    assert_true(stat_of("max_rps_seen") <= 7);
}

static void test_amocrm_webhooks_become_events_and_wrong_tokens_or_accounts_are_refused(void **s)
{
    (void)s;
    long long before = th_topic_depth(&H, "crm.lead.status_changed");
    if (before < 0) before = 0; /* no such topic yet */
    static const char form[] =
        "leads%5Bstatus%5D%5B0%5D%5Bid%5D=1000123&leads%5Bstatus%5D%5B0%5D%5Bstatus_id%5D=142&"
        "leads%5Bstatus%5D%5B0%5D%5Bpipeline_id%5D=5001&leads%5Bstatus%5D%5B0%5D%5Bold_status_id"
        "%5D=6003&account%5Bid%5D=31337&account%5Bsubdomain%5D=testaccount";
    static const char *const hdr[] = {NULL};
    char *rh = NULL, *rb = NULL;
    int st = th_http_raw(&H, "POST", "/hooks/amo/amocrm/wrong-token",
                         "application/x-www-form-urlencoded", form, strlen(form), hdr, &rh, &rb);
    assert_int_equal(st, 200);
    free(rh), free(rb);
    st = th_http_raw(&H, "POST", "/hooks/amo/amocrm/" HOOK_TOKEN,
                     "application/x-www-form-urlencoded", form, strlen(form), hdr, &rh, &rb);
    assert_int_equal(st, 200);
    free(rh), free(rb);
    assert_true(th_wait_depth(&H, "crm.lead.status_changed", before + 1, 10000));
    th_sleep_ms(300);
    assert_int_equal(th_topic_depth(&H, "crm.lead.status_changed"), before + 1);
    assert_true(th_wait_file(&H, "logs/crm_integration.log", "wrong or unset webhook_token", 5000));

    /* A note added to a lead. */
    long long notes = th_topic_depth(&H, "crm.note.added");
    if (notes < 0) notes = 0;
    static const char note[] =
        "leads%5Bnote%5D%5B0%5D%5Bnote%5D%5Bid%5D=77&leads%5Bnote%5D%5B0%5D%5Bnote%5D%5Belement_id"
        "%5D=1000123&leads%5Bnote%5D%5B0%5D%5Bnote%5D%5Bnote_type%5D=4&leads%5Bnote%5D%5B0%5D%5B"
        "note%5D%5Btext%5D=Called+back&account%5Bid%5D=31337";
    st = th_http_raw(&H, "POST", "/hooks/amo/amocrm/" HOOK_TOKEN,
                     "application/x-www-form-urlencoded", note, strlen(note), hdr, &rh, &rb);
    assert_int_equal(st, 200);
    free(rh), free(rb);
    assert_true(th_wait_depth(&H, "crm.note.added", notes + 1, 10000));
    /* Another account's form is refused. */
    static const char other[] = "leads%5Bstatus%5D%5B0%5D%5Bid%5D=5&account%5Bid%5D=999";
    st = th_http_raw(&H, "POST", "/hooks/amo/amocrm/" HOOK_TOKEN,
                     "application/x-www-form-urlencoded", other, strlen(other), hdr, &rh, &rb);
    assert_int_equal(st, 200);
    free(rh), free(rb);
    assert_true(th_wait_file(&H, "logs/crm_integration.log", "not a form of this account", 5000));
    assert_int_equal(th_topic_depth(&H, "crm.lead.status_changed"), before + 1);
}

/* A token about to expire is refreshed ahead of time, with no call
 * waiting for it (a short lifetime from the fake makes it due at once). */
static void test_a_token_is_refreshed_before_it_expires_without_a_call(void **s)
{
    (void)s;
    json_decref(fake("POST", "/_fake/config", "{\"access_ttl_s\": 3}"));
    json_decref(fake("POST", "/_fake/expire", "{}"));
    json_decref(call_ok("contact.find", "{\"email\": \"ahead@example.com\"}")); /* a 3 s token */
    json_decref(fake("POST", "/_fake/config", "{\"access_ttl_s\": 86400}"));
    long long refreshes = stat_of("token_refresh"), calls = stat_of("requests");
    for (long long end = th_now_ms() + 10000;
         stat_of("token_refresh") == refreshes && th_now_ms() < end;)
        th_sleep_ms(100);
    assert_true(stat_of("token_refresh") > refreshes);
    assert_int_equal(stat_of("requests"), calls); /* no call made it */
    assert_int_equal(stat_of("refresh_reused"), 0);
}

static void test_a_revoked_grant_needs_reauthorisation_without_a_crash_loop(void **s)
{
    (void)s;
    json_decref(fake("POST", "/_fake/revoke", "{}"));
    int st;
    json_t *o = call("contact.find", "{\"phone\": \"+79123456789\"}", &st);
    assert_int_not_equal(st, 200);
    json_decref(o);
    o = call_ok("status", "{}");
    assert_true(json_is_true(th_get(o, "result.needs_reauthorization")));
    json_decref(o);
    long long refused = stat_of("refresh_unknown") + stat_of("refresh_reused");
    /* Calls now fail at once, without asking amoCRM again. */
    o = call("contact.find", "{\"phone\": \"+79123456789\"}", &st);
    char *d = json_dumps(o, 0);
    assert_non_null(strstr(d, "needs_reauthorization"));
    free(d);
    json_decref(o);
    assert_int_equal(stat_of("refresh_unknown") + stat_of("refresh_reused"), refused);
    assert_string_equal(th_state(&H, "amo"), "ready");
    /* A new code puts it right. */
    assert_true(authorise());
    json_decref(call_ok("contact.find", "{\"phone\": \"+79123456789\"}"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lead_capture_files_the_contact_lead_note_and_task_in_amocrm),
        cmocka_unit_test(test_a_linked_contacts_profile_change_reaches_amocrm_exactly_once),
        cmocka_unit_test(test_a_contact_on_a_later_page_is_found_not_created_again),
        cmocka_unit_test(test_a_lead_moves_between_statuses_by_name_and_a_wrong_status_is_named),
        cmocka_unit_test(
            test_concurrent_calls_after_expiry_make_one_refresh_and_never_reuse_the_old_token),
        cmocka_unit_test(test_429_and_504_are_waited_out_and_the_call_succeeds),
        cmocka_unit_test(test_a_burst_of_calls_stays_within_seven_a_second),
        cmocka_unit_test(
            test_amocrm_webhooks_become_events_and_wrong_tokens_or_accounts_are_refused),
        cmocka_unit_test(test_a_token_is_refreshed_before_it_expires_without_a_call),
        cmocka_unit_test(test_a_revoked_grant_needs_reauthorisation_without_a_crash_loop),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
