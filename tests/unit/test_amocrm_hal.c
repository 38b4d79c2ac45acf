/*
 * The crm-amocrm plugin's readers of outside input (plugins/crm-amocrm/hal.c):
 * phone numbers to E.164 as people type them, amoCRM's HAL bodies and
 * errors, and webhook forms with bracketed keys.
 */
#include "../../plugins/crm-amocrm/amo.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

static const char *e164(const char *in, const char *cc)
{
    static char out[24];
    return amo_phone_e164(in, cc, out, sizeof(out)) ? NULL : out;
}

static void test_phones_typed_in_many_ways_become_one_e164_number(void **s)
{
    (void)s;
    assert_string_equal(e164("+7 912 345-67-89", "7"), "+79123456789");
    assert_string_equal(e164("8 (912) 345-67-89", "7"), "+79123456789");
    assert_string_equal(e164("9123456789", "7"), "+79123456789");
    assert_string_equal(e164("0049 30 1234567", "7"), "+49301234567");
    assert_string_equal(e164("+44 20 7946 0958", "7"), "+442079460958");
    assert_string_equal(e164("(020) 7946.0958", "44"), "+442079460958");
    assert_string_equal(e164("+1-202-555-0143", "7"), "+12025550143");
}

static void test_what_is_not_a_phone_number_is_refused(void **s)
{
    (void)s;
    assert_null(e164("call me", "7"));
    assert_null(e164("12", "7"));
    assert_null(e164("+0123456789", "7"));
    assert_null(e164("+1234567890123456", "7"));
    assert_null(e164("+7 912 345 67 89 ext 5", "7"));
    assert_null(e164("", "7"));
    assert_null(e164(NULL, "7"));
}

static void test_hal_lists_and_next_links_are_read_tolerantly(void **s)
{
    (void)s;
    json_t *b = json_loads("{\"_page\":1,\"_links\":{\"self\":{\"href\":\"x\"},\"next\":{\"href\":"
                           "\"http://a/api/v4/contacts?page=2\"}},\"_embedded\":{\"contacts\":"
                           "[{\"id\":1},{\"id\":2}]}}",
                           0, NULL);
    assert_int_equal(json_array_size(amo_hal_items(b, "contacts")), 2);
    assert_null(amo_hal_items(b, "leads"));
    assert_string_equal(amo_hal_next(b), "http://a/api/v4/contacts?page=2");
    json_decref(b);
    b = json_loads("{\"_embedded\":{\"contacts\":{\"id\":1}},\"_links\":[]}", 0, NULL);
    assert_null(amo_hal_items(b, "contacts")); /* not a list */
    assert_null(amo_hal_next(b));
    json_decref(b);
    assert_null(amo_hal_items(NULL, "contacts"));
}

static void test_errors_say_the_field_and_the_reason(void **s)
{
    (void)s;
    char why[200];
    json_t *b = json_loads("{\"title\":\"Bad Request\",\"status\":400,\"validation-errors\":[{"
                           "\"request_id\":\"0\",\"errors\":[{\"code\":\"NotSupportedChoice\","
                           "\"path\":\"status_id\",\"detail\":\"not in the pipeline\"}]}]}",
                           0, NULL);
    amo_problem_text(b, why, sizeof(why));
    assert_string_equal(why, "status_id: not in the pipeline");
    json_decref(b);
    b = json_loads("{\"hint\":\"Token has been revoked\",\"title\":\"x\"}", 0, NULL);
    amo_problem_text(b, why, sizeof(why));
    assert_string_equal(why, "Token has been revoked");
    json_decref(b);
    amo_problem_text(NULL, why, sizeof(why));
    assert_string_equal(why, "no details");
}

static void test_a_webhook_form_becomes_nested_objects(void **s)
{
    (void)s;
    static const char f[] = "leads%5Bstatus%5D%5B0%5D%5Bid%5D=25399013&leads[status][0][status_id]"
                            "=142&account[subdomain]=test+acc&leads[note][0][note][text]=Hi%21";
    json_t *o = amo_form_parse(f, strlen(f));
    assert_non_null(o);
    const json_t *st = json_object_get(json_object_get(json_object_get(o, "leads"), "status"), "0");
    assert_string_equal(json_string_value(json_object_get(st, "id")), "25399013");
    assert_string_equal(json_string_value(json_object_get(st, "status_id")), "142");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(o, "account"), "subdomain")), "test acc");
    json_decref(o);
}

static void test_malformed_forms_are_refused(void **s)
{
    (void)s;
    static const char *bad[] = {"a[b=1",      "[x]=1",      "a[b]c=1",
                                "a=1&a[b]=2", "a[b]=1&a=2", "a[1][2][3][4][5][6][7][8][9]=deep",
                                "%FF=1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_null(amo_form_parse(bad[i], strlen(bad[i])));
    json_t *o = amo_form_parse("", 0);
    assert_int_equal(json_object_size(o), 0);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phones_typed_in_many_ways_become_one_e164_number),
        cmocka_unit_test(test_what_is_not_a_phone_number_is_refused),
        cmocka_unit_test(test_hal_lists_and_next_links_are_read_tolerantly),
        cmocka_unit_test(test_errors_say_the_field_and_the_reason),
        cmocka_unit_test(test_a_webhook_form_becomes_nested_objects),
        cmocka_unit_test(test_malformed_forms_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
