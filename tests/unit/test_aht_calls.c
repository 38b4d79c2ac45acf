/*
 * The SDK's fake host answers calls to other instances (host->call, ABI
 * 1.4): computed by aht_on_call, else canned by aht_call_answer, else
 * not_found; every call listed by aht_calls_made. Driven through the relay
 * fixture, which calls what it is told and answers what came back.
 */
#include <agenthost/testing.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <string.h>

extern const ah_plugin agenthost_plugin;

static json_t *doubler(void *ud, const char *instance, const char *action, const json_t *args)
{
    (*(int *)ud)++;
    if (strcmp(action, "double") != 0) return NULL; /* fall back to the canned answers */
    return json_pack("{s:{s:I}}", "result", "n",
                     2 * json_integer_value(json_object_get(args, "n")) + (instance[0] == 'x'));
}

static void calls_are_answered_computed_canned_or_not_found(void **s)
{
    (void)s;
    aht *t = aht_new(&agenthost_plugin, "relay-test");
    assert_int_equal(aht_init(t, NULL), AH_OK);
    int asked = 0;
    aht_on_call(t, doubler, &asked);
    assert_int_equal(
        aht_call_answer(t, "llm", "embed", "{\"result\": {\"embeddings\": [[1, 0]]}}", 0), AH_OK);
    assert_int_equal(
        aht_call_answer(t, "llm", "chat",
                        "{\"error\": {\"code\": \"rate_limited\", \"message\": \"slow down\"}}", 1),
        AH_OK);
    assert_int_equal(aht_call_answer(t, "llm", "chat", "not json", 0), AH_EINVAL);

    const json_t *a = aht_call(
        t, "relay", "{\"instance\": \"calc\", \"action\": \"double\", \"args\": {\"n\": 21}}");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(a, "result"), "result"), "n")),
                     42);
    a = aht_call(t, "relay",
                 "{\"instance\": \"llm\", \"action\": \"embed\", \"args\": {\"input\": \"x\"}}");
    assert_int_equal(json_array_size(json_object_get(
                         json_object_get(json_object_get(a, "result"), "result"), "embeddings")),
                     1);
    /* A canned answer without repeat is used once. */
    a = aht_call(t, "relay", "{\"instance\": \"llm\", \"action\": \"embed\"}");
    const json_t *f = json_object_get(json_object_get(a, "result"), "failed");
    assert_string_equal(json_string_value(json_object_get(f, "code")), "not_found");
    assert_int_equal(json_integer_value(json_object_get(f, "status")), AH_ENOTFOUND);
    /* An error answer: status AH_EIO, the target's code. */
    for (int i = 0; i < 2; i++) {
        a = aht_call(t, "relay", "{\"instance\": \"llm\", \"action\": \"chat\"}");
        f = json_object_get(json_object_get(a, "result"), "failed");
        assert_string_equal(json_string_value(json_object_get(f, "code")), "rate_limited");
        assert_int_equal(json_integer_value(json_object_get(f, "status")), AH_EIO);
    }
    const json_t *made = aht_calls_made(t);
    assert_int_equal(json_array_size(made), 5);
    assert_string_equal(json_string_value(json_object_get(json_array_get(made, 0), "instance")),
                        "calc");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(json_array_get(made, 0), "args"), "n")),
        21);
    assert_int_equal(asked, 5); /* the function is asked first, every time */
    aht_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(calls_are_answered_computed_canned_or_not_found),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
