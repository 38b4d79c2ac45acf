/*
 * The crm-amocrm plugin's sync of linked contacts (sync.c, ADR 0039),
 * against the SDK's fake host (agenthost/testing.h: its KV store, timers
 * on a clock that moves only when told, canned HTTP answers):
 * contact.updated events for a contact linked to this instance, with the
 * profile the host adds, make ONE PATCH per debounce window with the
 * latest values; each event is acked once its values are kept (the bus
 * hands over a contact's next change only then) and a start writes what
 * was left pending; a redelivered event, or values equal to those last
 * written or created with, write nothing; a failed write stays pending
 * and is written later; events naming another instance, or no profile,
 * are acked without a call.
 */
#include <agenthost/testing.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

extern const ah_plugin agenthost_plugin;

#define BASE "https://acme.amocrm.ru"
#define PATCH_77 BASE "/api/v4/contacts/77"

static aht *start(void)
{
    aht *t = aht_new(&agenthost_plugin, "amo");
    aht_secret(t, "long_lived_token", "llt-test-token");
    assert_int_equal(aht_init(t, "{\"base_url\": \"" BASE "\", \"sync_debounce_ms\": 1000}"),
                     AH_OK);
    aht_run(t);
    return t;
}

/* contact.updated for the platform contact linked to CRM contact `crm` of
 * `instance`, with the profile the host adds (NULL: none). */
static void updated(aht *t, const char *instance, const char *crm, const char *profile)
{
    char body[1000];
    snprintf(body, sizeof(body),
             "{\"type\": \"contact.updated\", \"event_version\": 1, \"at\": "
             "\"2026-12-07T00:00:00Z\", \"contact_id\": \"con_01KKNSVWNRV0GKSJE6Z8QP9GHA\", "
             "\"revision\": 3, \"changed\": [\"profile\"], \"by\": \"engine\", \"links\": "
             "[{\"plugin\": \"crm-amocrm\", \"instance\": \"%s\", \"id\": \"%s\"}]%s%s}",
             instance, crm, profile ? ", \"profile\": " : "", profile ? profile : "");
    assert_true(aht_event(t, "platform.contact", body, "con_01KKNSVWNRV0GKSJE6Z8QP9GHA") > 0);
    aht_run(t);
}

/* The PATCHes sent so far, and the last one's body (a new reference). */
static size_t patches(aht *t, json_t **last)
{
    size_t n = 0, i;
    const json_t *r;
    if (last) *last = NULL;
    json_array_foreach(aht_http_requests(t), i, r)
    {
        if (strcmp(json_string_value(json_object_get(r, "method")), "PATCH")) continue;
        n++;
        if (last) {
            json_decref(*last);
            *last = json_loads(json_string_value(json_object_get(r, "body")), 0, NULL);
        }
    }
    return n;
}

/* A multitext value of a PATCH body. */
static const char *field(const json_t *body, const char *code)
{
    size_t i;
    const json_t *f;
    json_array_foreach(json_object_get(body, "custom_fields_values"), i, f)
    {
        if (!strcmp(json_string_value(json_object_get(f, "field_code")), code))
            return json_string_value(
                json_object_get(json_array_get(json_object_get(f, "values"), 0), "value"));
    }
    return NULL;
}

static void test_changes_within_the_window_make_one_write_of_the_latest_values(void **s)
{
    (void)s;
    aht *t = start();
    aht_http_answer(t, "PATCH", PATCH_77, 200, "{\"id\": 77, \"updated_at\": 1}", 1);
    updated(t, "amo", "77", "{\"name\": \"Olga\", \"phone\": \"8 (912) 345-67-89\"}");
    aht_advance(t, 400);
    updated(
        t, "amo", "77",
        "{\"name\": \"Olga\", \"phone\": \"8 (912) 345-67-89\", \"email\": \"olga@example.com\"}");
    aht_advance(t, 400);
    assert_int_equal(patches(t, NULL), 0); /* the window is still open */
    assert_int_equal(aht_acked(t), 2);     /* each acked once kept */
    assert_non_null(json_object_get(aht_kv(t), "pending:77"));
    aht_advance(t, 300);
    json_t *body;
    assert_int_equal(patches(t, &body), 1);
    assert_string_equal(json_string_value(json_object_get(body, "name")), "Olga");
    assert_string_equal(field(body, "PHONE"), "+79123456789");
    assert_string_equal(field(body, "EMAIL"), "olga@example.com");
    json_decref(body);
    assert_int_equal(aht_acked(t), 2);
    assert_int_equal(aht_nacked(t), 0);
    assert_non_null(json_object_get(aht_kv(t), "sync:77"));
    assert_null(json_object_get(aht_kv(t), "pending:77")); /* the latest written */
    aht_free(t);
}

static void test_a_change_left_pending_by_a_stop_is_written_at_the_next_start(void **s)
{
    (void)s;
    aht *t = aht_new(&agenthost_plugin, "amo");
    aht_secret(t, "long_lived_token", "llt-test-token");
    json_object_set_new(
        aht_kv(t), "pending:77",
        json_pack("{s:{s:s,s:s}}", "values", "name", "Olga", "email", "olga@example.com"));
    aht_http_answer(t, "PATCH", PATCH_77, 200, "{\"id\": 77, \"updated_at\": 1}", 1);
    assert_int_equal(aht_init(t, "{\"base_url\": \"" BASE "\", \"sync_debounce_ms\": 1000}"),
                     AH_OK);
    aht_run(t);
    aht_advance(t, 1000);
    json_t *body;
    assert_int_equal(patches(t, &body), 1);
    assert_string_equal(field(body, "EMAIL"), "olga@example.com");
    json_decref(body);
    assert_null(json_object_get(aht_kv(t), "pending:77"));
    aht_free(t);
}

static void test_a_redelivered_event_or_the_same_values_write_nothing_again(void **s)
{
    (void)s;
    aht *t = start();
    aht_http_answer(t, "PATCH", PATCH_77, 200, "{\"id\": 77, \"updated_at\": 1}", 1);
    const char *p = "{\"name\": \"Olga\", \"email\": \"olga@example.com\", \"language\": \"en\"}";
    updated(t, "amo", "77", p);
    aht_advance(t, 1000);
    assert_int_equal(patches(t, NULL), 1);
    /* The same event again (delivered again after a crash), and a change
     * of something the CRM does not hold (the language): no call. */
    updated(t, "amo", "77", p);
    aht_advance(t, 1000);
    updated(t, "amo", "77",
            "{\"name\": \"Olga\", \"email\": \"olga@example.com\", \"language\": \"ru\"}");
    aht_advance(t, 1000);
    assert_int_equal(patches(t, NULL), 1);
    assert_int_equal(aht_acked(t), 3);
    /* A real change afterwards is written. */
    updated(t, "amo", "77", "{\"name\": \"Olga K\", \"email\": \"olga@example.com\"}");
    aht_advance(t, 1000);
    json_t *body;
    assert_int_equal(patches(t, &body), 2);
    assert_string_equal(json_string_value(json_object_get(body, "name")), "Olga K");
    json_decref(body);
    aht_free(t);
}

static void test_a_contact_created_by_find_or_create_is_not_written_back_unchanged(void **s)
{
    (void)s;
    aht *t = start();
    aht_http_answer(t, "GET", BASE "/api/v4/contacts?query=9123456789&limit=50", 204, "", 0);
    aht_http_answer(t, "POST", BASE "/api/v4/contacts", 200,
                    "{\"_embedded\": {\"contacts\": [{\"id\": 77, \"request_id\": \"0\"}]}}", 0);
    const json_t *r = aht_call(t, "contact.find_or_create",
                               "{\"name\": \"Olga\", \"phone\": \"+7 912 345 67 89\"}");
    assert_non_null(r);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(r, "result"), "contact_id")), 77);
    /* The turn that linked it set the same name and phone (typed another way). */
    updated(t, "amo", "77", "{\"name\": \"Olga\", \"phone\": \"8 912 345-67-89\"}");
    aht_advance(t, 1000);
    assert_int_equal(patches(t, NULL), 0);
    assert_int_equal(aht_acked(t), 1);
    aht_free(t);
}

static void test_a_failed_write_stays_pending_and_is_written_later(void **s)
{
    (void)s;
    aht *t = start();
    aht_http_answer(t, "PATCH", PATCH_77, 400,
                    "{\"title\": \"Bad Request\", \"status\": 400, \"detail\": \"invalid\"}", 0);
    updated(t, "amo", "77", "{\"name\": \"Olga\"}");
    aht_advance(t, 1000);
    assert_int_equal(patches(t, NULL), 1);
    assert_int_equal(aht_acked(t), 1);
    assert_null(json_object_get(aht_kv(t), "sync:77")); /* nothing recorded as written */
    assert_non_null(json_object_get(aht_kv(t), "pending:77"));
    aht_http_answer(t, "PATCH", PATCH_77, 200, "{\"id\": 77, \"updated_at\": 1}", 0);
    aht_advance(t, 4900);
    assert_int_equal(patches(t, NULL), 1); /* backing off: 5 s */
    aht_advance(t, 100);
    assert_int_equal(patches(t, NULL), 2);
    assert_non_null(json_object_get(aht_kv(t), "sync:77"));
    assert_null(json_object_get(aht_kv(t), "pending:77"));
    aht_free(t);
}

static void test_events_for_another_instance_or_without_a_profile_are_acked_without_a_call(void **s)
{
    (void)s;
    aht *t = start();
    updated(t, "amo-other", "77", "{\"name\": \"Olga\"}");
    updated(t, "amo", "77", NULL); /* as stored on the bus: the host added nothing */
    aht_advance(t, 2000);
    assert_int_equal(json_array_size(aht_http_requests(t)), 0);
    assert_int_equal(aht_acked(t), 2);
    aht_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_changes_within_the_window_make_one_write_of_the_latest_values),
        cmocka_unit_test(test_a_redelivered_event_or_the_same_values_write_nothing_again),
        cmocka_unit_test(test_a_contact_created_by_find_or_create_is_not_written_back_unchanged),
        cmocka_unit_test(test_a_failed_write_stays_pending_and_is_written_later),
        cmocka_unit_test(test_a_change_left_pending_by_a_stop_is_written_at_the_next_start),
        cmocka_unit_test(
            test_events_for_another_instance_or_without_a_profile_are_acked_without_a_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
