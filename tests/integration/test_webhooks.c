/*
 * Outgoing webhooks through the real binary, to a subscriber on loopback
 * (tests/fakes/fake_webhook): signed deliveries the subscriber verifies;
 * a subscriber down for a while that then gets every event once, in order
 * per conversation; one that never answers, whose events go dead (and are
 * sent again by hand) without delaying another; a restart in the middle
 * of retries that loses nothing; a jq filter; and bad subscriptions
 * refused with the field named.
 */
#include "../fakes/fake_proc.h"
#include "../support/th.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_BIN TH_BUILD_DIR "/tests/fakes/fake_webhook"
#define SECRET "whsec_test_0123456789abcdef" /* the fake's */

static th_host H;
static fake_proc F;

static int setup(void **s)
{
    (void)s;
    if (fake_start(&F, FAKE_BIN, 5000)) return -1;
    char cfg[600];
    /* A timeout well past a loaded machine's slowest answer: one that fires
     * on an answer already on its way delivers that event twice, as it
     * must (at least once), and the exactly-once cases would fail on it. */
    snprintf(cfg, sizeof(cfg),
             "{\"webhooks\": {\"allow\": [{\"scheme\": \"http\", \"host\": \"127.0.0.1\", "
             "\"port\": %d, \"private\": true}], \"max_attempts\": 6, \"backoff_ms\": 20, "
             "\"max_backoff_ms\": 100, \"timeout_ms\": 2000}}",
             F.port);
    if (th_init(&H, "webhooks") || th_install_plugin(&H, "jq") || th_config(&H, cfg) ||
        th_start(&H, NULL, 15000) || !th_wait_state(&H, "jq-1", "ready", 10000))
        return -1;
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    fake_stop(&F);
    return rc ? -1 : 0;
}

/* ---- the fake ---------------------------------------------------------------- */

static json_t *fake(const char *method, const char *path)
{
    th_host f = {.port = F.port};
    json_t *o = NULL;
    int st = th_http(&f, method, path, NULL, "", &o);
    if (st != 200) fail_msg("fake %s %s: %d", method, path, st);
    return o;
}

static json_t *received(const char *name)
{
    char path[200];
    snprintf(path, sizeof(path), "/_fake/received?name=%s", name);
    return fake("GET", path);
}

static void mode(const char *name, const char *what)
{
    char path[200];
    snprintf(path, sizeof(path), "/_fake/mode?name=%s&%s", name, what);
    json_decref(fake("POST", path));
}

/* Wait until name has received n events (bounded); its record. */
static json_t *wait_received(const char *name, size_t n, int timeout_ms)
{
    long long until = th_now_ms() + timeout_ms;
    for (;;) {
        json_t *r = received(name);
        size_t have = json_array_size(json_object_get(r, "events"));
        if (have >= n || th_now_ms() > until) return r;
        json_decref(r);
        th_sleep_ms(20);
    }
}

/* ---- the host ---------------------------------------------------------------- */

/* A subscription to /r/NAME: its id into id. extra: more fields ("" or ", ..."). */
static void subscribe(const char *name, const char *events, const char *extra, char *id, size_t n)
{
    char body[1200];
    snprintf(body, sizeof(body),
             "{\"name\": \"%s\", \"url\": \"http://127.0.0.1:%d/r/%s\", \"events\": %s, "
             "\"secret\": \"" SECRET "\"%s}",
             name, F.port, name, events, extra);
    json_t *o = NULL;
    int st = th_http(&H, "POST", "/api/v1/webhooks", body, NULL, &o);
    if (st != 201) fail_msg("subscribe %s: %d %s", name, st, json_dumps(o, 0));
    snprintf(id, n, "%s", json_string_value(json_object_get(o, "id")));
    json_decref(o);
}

/* Publish events n = from .. to - 1 of conversation key, of type. */
static void publish(const char *type, const char *key, int from, int to)
{
    json_t *batch = json_array();
    for (int i = from; i < to; i++)
        json_array_append_new(batch,
                              json_pack("{s:s,s:{s:s,s:i,s:s,s:i}}", "key", key, "body", "type",
                                        type, "event_version", 1, "conversation_id", key, "n", i));
    char *body = json_dumps(batch, JSON_COMPACT);
    json_t *o = NULL;
    assert_int_equal(
        th_http(&H, "POST", "/api/v1/topics/platform.conversation/events", body, NULL, &o), 201);
    json_decref(o);
    free(body);
    json_decref(batch);
}

static json_t *deliveries(const char *hook, const char *status)
{
    char path[300];
    snprintf(path, sizeof(path), "/api/v1/webhook-deliveries?webhook_id=%s%s%s&limit=100", hook,
             status ? "&status=" : "", status ? status : "");
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    return o;
}

static size_t wait_deliveries(const char *hook, const char *status, size_t n, int timeout_ms)
{
    long long until = th_now_ms() + timeout_ms;
    for (;;) {
        json_t *o = deliveries(hook, status);
        size_t have = json_array_size(json_object_get(o, "items"));
        json_decref(o);
        if (have >= n || th_now_ms() > until) return have;
        th_sleep_ms(20);
    }
}

/* Every key's events arrived once each, n in increasing order; how many. */
static size_t check_once_in_order(const json_t *events)
{
    json_t *last = json_object();
    size_t i;
    const json_t *e;
    json_array_foreach(events, i, e)
    {
        const char *key = json_string_value(json_object_get(e, "key"));
        json_int_t n = json_integer_value(json_object_get(e, "n"));
        const json_t *before = json_object_get(last, key);
        if (before && json_integer_value(before) + 1 != n)
            fail_msg("%s: %lld after %lld", key, (long long)n,
                     (long long)json_integer_value(before));
        if (!before && n != 0) fail_msg("%s: starts at %lld", key, (long long)n);
        json_object_set_new(last, key, json_integer(n));
    }
    json_decref(last);
    return json_array_size(events);
}

/* ---- the tests ------------------------------------------------------------- */

static void test_the_catalogue_lists_every_event_type_with_its_schema(void **s)
{
    (void)s;
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "GET", "/api/v1/events/types", NULL, NULL, &o), 200);
    static const char *const want[] = {
        "conversation.started", "step.completed",    "conversation.ended", "contact.created",
        "contact.updated",      "handoff.requested", "lead.created",       "message.in"};
    for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
        bool found = false;
        size_t i;
        const json_t *t;
        json_array_foreach(json_object_get(o, "types"), i, t)
        {
            if (strcmp(json_string_value(json_object_get(t, "type")), want[w]) != 0) continue;
            found = true;
            assert_true(json_is_object(json_object_get(t, "schema")));
            assert_true(json_integer_value(json_object_get(t, "version")) >= 1);
        }
        if (!found) fail_msg("%s is not in the catalogue", want[w]);
    }
    json_decref(o);
}

static void test_a_subscriber_receives_signed_events_of_its_types_only(void **s)
{
    (void)s;
    char id[64];
    subscribe("signed", "[\"step.completed\"]", "", id, sizeof(id));
    publish("conversation.ended", "cnv_signed", 0, 1); /* not subscribed */
    publish("step.completed", "cnv_signed", 0, 3);
    json_t *r = wait_received("signed", 3, 30000);
    const json_t *ev = json_object_get(r, "events");
    assert_int_equal(check_once_in_order(ev), 3);
    size_t i;
    const json_t *e;
    json_array_foreach(ev, i, e)
    {
        assert_true(json_is_true(json_object_get(e, "signed")));
        assert_string_equal(json_string_value(json_object_get(e, "type")), "step.completed");
    }
    assert_int_equal(json_integer_value(json_object_get(r, "bad_signatures")), 0);
    json_decref(r);
    /* The log: each delivered, at the first attempt, with its latency. */
    assert_int_equal(wait_deliveries(id, "delivered", 3, 10000), 3);
    json_t *log = deliveries(id, NULL);
    assert_int_equal(json_array_size(json_object_get(log, "items")), 3);
    json_t *d = json_array_get(json_object_get(log, "items"), 0);
    assert_int_equal(json_integer_value(json_object_get(d, "attempts")), 1);
    assert_int_equal(json_integer_value(json_object_get(d, "http_status")), 200);
    assert_true(json_is_integer(json_object_get(d, "latency_ms")));
    json_decref(log);
    /* The secret is never shown. */
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/webhooks/%s", id);
    json_t *w = NULL;
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &w), 200);
    assert_null(json_object_get(w, "secret"));
    assert_null(json_object_get(w, "secret_sealed"));
    assert_true(json_is_true(json_object_get(w, "secret_set")));
    json_decref(w);
}

static void test_a_subscriber_down_for_a_while_gets_every_event_once_in_order(void **s)
{
    (void)s;
    char id[64];
    mode("flaky", "fail=4");
    subscribe("flaky", "[\"step.completed\"]", "", id, sizeof(id));
    publish("step.completed", "cnv_a", 0, 3);
    publish("step.completed", "cnv_b", 0, 2);
    publish("step.completed", "cnv_a", 3, 6);
    publish("step.completed", "cnv_b", 2, 4);
    json_t *r = wait_received("flaky", 10, 60000);
    assert_int_equal(json_integer_value(json_object_get(r, "failed")), 4);
    assert_int_equal(check_once_in_order(json_object_get(r, "events")), 10);
    json_decref(r);
    assert_int_equal(wait_deliveries(id, "delivered", 10, 10000), 10);
    th_sleep_ms(300); /* nothing more comes */
    r = received("flaky");
    assert_int_equal(json_array_size(json_object_get(r, "events")), 10);
    json_decref(r);
}

static void test_a_subscriber_that_never_answers_goes_dead_without_delaying_another(void **s)
{
    (void)s;
    char hung[64], fast[64];
    mode("hung", "hang=1");
    subscribe("hung", "[\"step.completed\"]", "", hung, sizeof(hung));
    subscribe("fast", "[\"step.completed\"]", "", fast, sizeof(fast));
    publish("step.completed", "cnv_h1", 0, 1);
    publish("step.completed", "cnv_h2", 0, 1);
    json_t *r = wait_received("fast", 2, 30000);
    assert_int_equal(json_array_size(json_object_get(r, "events")), 2);
    json_decref(r);
    /* The fast one had both before the hung one's first attempt could end. */
    json_t *dead = deliveries(hung, "dead");
    assert_int_equal(json_array_size(json_object_get(dead, "items")), 0);
    json_decref(dead);
    assert_int_equal(wait_deliveries(hung, "dead", 2, 60000), 2);
    dead = deliveries(hung, "dead");
    json_t *d = json_array_get(json_object_get(dead, "items"), 0);
    assert_int_equal(json_integer_value(json_object_get(d, "attempts")), 6);
    const char *why = json_string_value(json_object_get(d, "error"));
    if (!why || !strstr(why, "timeout")) fail_msg("dead for %s, not a timeout", why);
    assert_true(json_is_object(json_object_get(d, "payload")));
    /* Sent again by hand once the subscriber is back. */
    mode("hung", "hang=0");
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/webhook-deliveries/%s/redeliver",
             json_string_value(json_object_get(d, "id")));
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "POST", path, NULL, NULL, &o), 200);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "redelivered");
    json_decref(o);
    r = received("hung");
    assert_int_equal(json_array_size(json_object_get(r, "events")), 1);
    assert_true(json_is_true(th_get(r, "events.0.signed")));
    json_decref(r);
    /* Only a dead one goes again. */
    assert_int_equal(th_http(&H, "POST", path, NULL, NULL, &o), 409);
    json_decref(o);
    json_decref(dead);
}

static void test_a_restart_in_the_middle_of_retries_loses_nothing(void **s)
{
    (void)s;
    char id[64];
    mode("restart", "fail=1000000");
    subscribe("restart", "[\"step.completed\"]", "", id, sizeof(id));
    publish("step.completed", "cnv_r", 0, 3);
    long long until = th_now_ms() + 10000;
    json_t *r = NULL;
    do { /* failing: attempts are being made */
        json_decref(r);
        th_sleep_ms(20);
        r = received("restart");
    } while (json_integer_value(json_object_get(r, "failed")) < 2 && th_now_ms() < until);
    json_decref(r);
    assert_int_equal(th_stop(&H, 10000), 0);
    mode("restart", "fail=0");
    assert_int_equal(th_start(&H, NULL, 15000), 0);
    r = wait_received("restart", 3, 60000);
    assert_int_equal(check_once_in_order(json_object_get(r, "events")), 3);
    json_decref(r);
    assert_true(th_wait_state(&H, "jq-1", "ready", 10000));
}

static void test_a_jq_filter_picks_the_events_sent(void **s)
{
    (void)s;
    char id[64];
    subscribe("filtered", "[\"step.completed\"]", ", \"filter\": \".data.n >= 2\"", id, sizeof(id));
    publish("step.completed", "cnv_f", 0, 4);
    json_t *r = wait_received("filtered", 2, 30000);
    const json_t *ev = json_object_get(r, "events");
    assert_int_equal(json_array_size(ev), 2);
    assert_int_equal(json_integer_value(th_get(r, "events.0.n")), 2);
    assert_int_equal(json_integer_value(th_get(r, "events.1.n")), 3);
    json_decref(r);
}

/* Whether the bus lists a consumer of that name. */
static bool has_consumer(const char *name)
{
    json_t *o = NULL, *v;
    bool found = false;
    assert_int_equal(th_http(&H, "GET", "/api/v1/consumers", NULL, NULL, &o), 200);
    size_t i;
    json_array_foreach(json_object_get(o, "consumers"), i, v)
    {
        found |= !strcmp(json_string_value(json_object_get(v, "name")), name);
    }
    json_decref(o);
    return found;
}

/* Wait until the bus lists the consumer (want) or no longer does. */
static void wait_consumer(const char *name, bool want)
{
    for (int i = 0; i < 100 && has_consumer(name) != want; i++)
        th_sleep_ms(50);
    assert_true(has_consumer(name) == want);
}

/* A deleted subscription's consumer is deleted with it: it no longer holds
 * the platform's topics back from retention. */
static void test_a_deleted_subscription_takes_its_consumer_with_it(void **s)
{
    (void)s;
    char id[64], name[100], path[120];
    subscribe("leaving", "[\"step.completed\"]", "", id, sizeof(id));
    snprintf(name, sizeof(name), "webhook:%s", id);
    snprintf(path, sizeof(path), "/api/v1/webhooks/%s", id);
    wait_consumer(name, true);
    publish("step.completed", "cnv_leave", 0, 2);
    assert_int_equal(wait_deliveries(id, "delivered", 2, 30000), 2);
    assert_int_equal(th_http(&H, "DELETE", path, NULL, NULL, NULL), 204);
    wait_consumer(name, false);
    /* Nothing more reaches it. */
    publish("step.completed", "cnv_leave", 2, 3);
    th_sleep_ms(300);
    json_t *r = received("leaving");
    assert_int_equal(json_array_size(json_object_get(r, "events")), 2);
    json_decref(r);
}

/* The subscription's deletion commits, the host dies before its
 * consumer's deletion is queued: the next start deletes the consumer left
 * behind (it would hold the platform's topics back from retention). */
static void test_a_consumer_left_by_a_crash_is_deleted_at_the_next_start(void **s)
{
    (void)s;
    assert_int_equal(th_stop(&H, 10000), 0);
    assert_int_equal(th_start_fault(&H, "webhooks.before_consumer_delete", 15000), 0);
    char id[64], name[100], path[120];
    subscribe("crashing", "[\"step.completed\"]", "", id, sizeof(id));
    snprintf(name, sizeof(name), "webhook:%s", id);
    snprintf(path, sizeof(path), "/api/v1/webhooks/%s", id);
    wait_consumer(name, true);
    th_http(&H, "DELETE", path, NULL, NULL, NULL); /* the host dies on the way */
    assert_true(th_died_at(&H, "webhooks.before_consumer_delete", 10000));
    assert_int_equal(th_start(&H, NULL, 15000), 0);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, NULL), 404); /* the deletion held */
    wait_consumer(name, false);
    assert_true(th_wait_state(&H, "jq-1", "ready", 10000));
}

/* A contact made and changed through the API: contact.created, then
 * contact.updated naming what changed, committed with each change. */
static void test_contact_changes_through_the_api_are_events(void **s)
{
    (void)s;
    char id[64];
    subscribe("contacts", "[\"contact.created\", \"contact.updated\"]", "", id, sizeof(id));
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "POST", "/api/v1/contacts",
                             "{\"profile\": {\"name\": \"Anna\"}, \"tags\": [\"lead\"]}", NULL, &o),
                     201);
    char contact[64], path[200];
    snprintf(contact, sizeof(contact), "%s", json_string_value(json_object_get(o, "id")));
    json_decref(o);
    snprintf(path, sizeof(path), "/api/v1/contacts/%s", contact);
    assert_int_equal(th_http(&H, "PATCH", path, "{\"tags\": [\"lead\", \"vip\"]}", NULL, &o), 200);
    json_decref(o);
    assert_int_equal(th_http(&H, "PATCH", path, "{\"tags\": [\"lead\", \"vip\"]}", NULL, &o),
                     200); /* nothing changed: no event */
    json_decref(o);
    json_t *r = wait_received("contacts", 2, 30000);
    assert_int_equal(json_array_size(json_object_get(r, "events")), 2);
    assert_string_equal(json_string_value(th_get(r, "events.0.type")), "contact.created");
    assert_string_equal(json_string_value(th_get(r, "events.0.key")), contact);
    assert_string_equal(json_string_value(th_get(r, "events.1.type")), "contact.updated");
    json_decref(r);
    /* On the bus: what changed, and the revision it made. */
    char q[200];
    snprintf(q, sizeof(q), "/api/v1/topics/platform.contact/events?key=%s", contact);
    assert_int_equal(th_http(&H, "GET", q, NULL, NULL, &o), 200);
    json_t *up = th_get(o, "events.1.body");
    assert_string_equal(json_string_value(json_object_get(up, "type")), "contact.updated");
    assert_string_equal(json_string_value(th_get(up, "changed.0")), "tags");
    assert_int_equal(json_integer_value(json_object_get(up, "revision")), 2);
    assert_null(th_get(o, "events.2"));
    json_decref(o);
}

static void refused(const char *body, const char *field)
{
    json_t *o = NULL;
    int st = th_http(&H, "POST", "/api/v1/webhooks", body, NULL, &o);
    const char *f = json_string_value(th_get(o, "error.field"));
    if (st != 422 || !f || strcmp(f, field) != 0)
        fail_msg("%s: %d, field %s, not %s", body, st, f ? f : "-", field);
    json_decref(o);
}

static void test_bad_subscriptions_are_refused_naming_the_field(void **s)
{
    (void)s;
    char b[3000], big[400];
    memset(big, 'x', 300);
    big[300] = 0;
#define OK_URL "\"http://127.0.0.1:%d/r/x\""
    refused("{\"url\": \"ftp://127.0.0.1/x\", \"events\": [\"step.completed\"], \"secret\": "
            "\"" SECRET "\"}",
            "url");
    refused("{\"url\": \"http://example.com/hook\", \"events\": [\"step.completed\"], "
            "\"secret\": \"" SECRET "\"}",
            "url");
    snprintf(b, sizeof(b),
             "{\"url\": " OK_URL ", \"events\": [\"step.completed\", \"lead.won\"], \"secret\": "
             "\"" SECRET "\"}",
             F.port);
    refused(b, "events[1]");
    snprintf(b, sizeof(b), "{\"url\": " OK_URL ", \"events\": [], \"secret\": \"" SECRET "\"}",
             F.port);
    refused(b, "events");
    snprintf(b, sizeof(b), "{\"url\": " OK_URL ", \"events\": [\"step.completed\"]}", F.port);
    refused(b, "secret");
    snprintf(b, sizeof(b),
             "{\"url\": " OK_URL ", \"events\": [\"step.completed\"], \"secret\": \"%s\"}", F.port,
             big);
    refused(b, "secret");
    snprintf(b, sizeof(b),
             "{\"url\": " OK_URL ", \"events\": [\"step.completed\"], \"secret\": \"" SECRET
             "\", \"filter\": \".data | [\"}",
             F.port);
    refused(b, "filter");
#undef OK_URL
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_catalogue_lists_every_event_type_with_its_schema),
        cmocka_unit_test(test_a_subscriber_receives_signed_events_of_its_types_only),
        cmocka_unit_test(test_a_subscriber_down_for_a_while_gets_every_event_once_in_order),
        cmocka_unit_test(test_a_subscriber_that_never_answers_goes_dead_without_delaying_another),
        cmocka_unit_test(test_a_jq_filter_picks_the_events_sent),
        cmocka_unit_test(test_a_deleted_subscription_takes_its_consumer_with_it),
        cmocka_unit_test(test_contact_changes_through_the_api_are_events),
        cmocka_unit_test(test_bad_subscriptions_are_refused_naming_the_field),
        cmocka_unit_test(test_a_restart_in_the_middle_of_retries_loses_nothing),
        cmocka_unit_test(test_a_consumer_left_by_a_crash_is_deleted_at_the_next_start),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
