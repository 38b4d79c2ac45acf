/*
 * One plugin calling another instance's action (host->call, ABI 1.4, ADR
 * 0047) in a real host: the relay fixture calls echo and other relays. What
 * the manifest's calls declare goes through and comes back; an undeclared
 * action and an unknown instance are refused; a chain that comes back to an
 * instance in it is refused as a cycle, one longer than 4 instances as too
 * deep; the caller's deadline answers it while the target still works; an
 * answer over 8 MiB is refused.
 */
#include "../support/th.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static th_host H;

static int setup(void **s)
{
    (void)s;
    const char *cfg = "{\"listen\":\"127.0.0.1:0\",\"instances\":["
                      "{\"id\":\"e1\",\"plugin\":\"echo\"},"
                      "{\"id\":\"r1\",\"plugin\":\"relay\"},{\"id\":\"r2\",\"plugin\":\"relay\"},"
                      "{\"id\":\"r3\",\"plugin\":\"relay\"},{\"id\":\"r4\",\"plugin\":\"relay\"}]}";
    if (th_init(&H, "plugin-calls") || th_install_plugin(&H, "echo") ||
        th_install_dir(&H, TH_BUILD_DIR "/tests/plugins/relay", "relay") || th_config(&H, cfg) ||
        th_start(&H, NULL, 15000))
        return -1;
    const char *ids[] = {"e1", "r1", "r2", "r3", "r4"};
    for (size_t i = 0; i < 5; i++)
        if (!th_wait_state(&H, ids[i], "ready", 15000)) return -1;
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 15000);
    th_cleanup(&H);
    return rc ? -1 : 0;
}

/* r1's answer to relay(args); the caller owns it. */
static json_t *relay(const char *args)
{
    json_t *o = NULL;
    assert_int_equal(th_call(&H, "r1", "relay", args, &o), 200);
    return o;
}

static void assert_failed(json_t *o, const char *path, const char *code)
{
    const char *got = json_string_value(th_get(o, path));
    if (!got || strcmp(got, code) != 0) {
        char d[2000];
        json_dumpb(o, d, sizeof(d) - 1, JSON_COMPACT);
        d[sizeof(d) - 1] = 0;
        fail_msg("expected %s = %s in %.1900s", path, code, d);
    }
}

static void a_declared_action_is_called_and_answers(void **s)
{
    (void)s;
    json_t *o = relay("{\"instance\":\"e1\",\"action\":\"echo\",\"args\":{\"x\":[1,\"два\"]}}");
    assert_int_equal(json_integer_value(th_get(o, "result.result.x.0")), 1);
    assert_string_equal(json_string_value(th_get(o, "result.result.x.1")), "два");
    json_decref(o);
}

static void undeclared_actions_and_unknown_instances_are_refused(void **s)
{
    (void)s;
    /* echo has kv.get, but relay's manifest does not declare it. */
    json_t *o = relay("{\"instance\":\"e1\",\"action\":\"kv.get\",\"args\":{\"key\":\"a\"}}");
    assert_failed(o, "result.failed.code", "denied");
    assert_int_equal(json_integer_value(th_get(o, "result.failed.status")), -4); /* AH_EDENIED */
    json_decref(o);
    o = relay("{\"instance\":\"nobody\",\"action\":\"echo\"}");
    assert_failed(o, "result.failed.code", "not_found");
    json_decref(o);
    /* Declared, but the target's schema refuses the arguments. */
    o = relay("{\"instance\":\"e1\",\"action\":\"sleep\",\"args\":{}}");
    assert_failed(o, "result.failed.code", "invalid_args");
    json_decref(o);
    assert_true(th_logs_contain(&H, "call refused"));
}

static void a_call_back_into_the_chain_is_a_cycle(void **s)
{
    (void)s;
    /* r1 -> r2 -> r1: r2's call is refused; r2 answers r1 with the refusal. */
    json_t *o = relay("{\"instance\":\"r2\",\"action\":\"relay\",\"args\":"
                      "{\"instance\":\"r1\",\"action\":\"relay\",\"args\":"
                      "{\"instance\":\"e1\",\"action\":\"echo\"}}}");
    assert_failed(o, "result.result.failed.code", "cycle");
    json_decref(o);
    /* A relay calling itself is the shortest cycle. */
    o = relay("{\"instance\":\"r1\",\"action\":\"relay\",\"args\":{}}");
    assert_failed(o, "result.failed.code", "cycle");
    json_decref(o);
}

static void four_instances_deep_go_through_five_are_refused(void **s)
{
    (void)s;
    /* r1 -> r2 -> r3 -> e1: four instances. */
    json_t *o = relay("{\"instance\":\"r2\",\"action\":\"relay\",\"args\":"
                      "{\"instance\":\"r3\",\"action\":\"relay\",\"args\":"
                      "{\"instance\":\"e1\",\"action\":\"echo\",\"args\":{\"deep\":3}}}}");
    assert_int_equal(json_integer_value(th_get(o, "result.result.result.result.deep")), 3);
    json_decref(o);
    /* r1 -> r2 -> r3 -> r4 -> e1: r4's call would be the fifth. */
    o = relay("{\"instance\":\"r2\",\"action\":\"relay\",\"args\":"
              "{\"instance\":\"r3\",\"action\":\"relay\",\"args\":"
              "{\"instance\":\"r4\",\"action\":\"relay\",\"args\":"
              "{\"instance\":\"e1\",\"action\":\"echo\"}}}}");
    assert_failed(o, "result.result.result.result.failed.code", "depth");
    json_decref(o);
}

static void the_callers_deadline_answers_it_and_the_late_answer_is_dropped(void **s)
{
    (void)s;
    /* echo answers after 60 s; the caller gave it 100 ms. */
    json_t *o = relay("{\"instance\":\"e1\",\"action\":\"sleep\",\"args\":{\"ms\":60000},"
                      "\"timeout_ms\":100}");
    assert_failed(o, "result.failed.code", "timeout");
    assert_int_equal(json_integer_value(th_get(o, "result.failed.status")), -6);
    json_decref(o);
    /* Both instances still serve. */
    o = relay("{\"instance\":\"e1\",\"action\":\"echo\",\"args\":{\"after\":1}}");
    assert_int_equal(json_integer_value(th_get(o, "result.result.after")), 1);
    json_decref(o);
}

static void an_answer_over_8_mib_is_refused(void **s)
{
    (void)s;
    json_t *o = relay("{\"instance\":\"e1\",\"action\":\"big\",\"args\":{\"bytes\":9000000}}");
    assert_failed(o, "result.failed.code", "too_large");
    json_decref(o);
    o = relay("{\"instance\":\"e1\",\"action\":\"big\",\"args\":{\"bytes\":1000}}");
    assert_int_equal(json_string_length(th_get(o, "result.result.data")), 1000);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_declared_action_is_called_and_answers),
        cmocka_unit_test(undeclared_actions_and_unknown_instances_are_refused),
        cmocka_unit_test(a_call_back_into_the_chain_is_a_cycle),
        cmocka_unit_test(four_instances_deep_go_through_five_are_refused),
        cmocka_unit_test(the_callers_deadline_answers_it_and_the_late_answer_is_dropped),
        cmocka_unit_test(an_answer_over_8_mib_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
