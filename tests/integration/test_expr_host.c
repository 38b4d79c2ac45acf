/*
 * The expression pool in the real binary: the jq workers run as instances
 * of their own (jq-1, ...), /ready waits for them, and an editor's hostile
 * calls to a worker through the API are charged to the call, never
 * quarantining it. The pool from inside the host is test_expr.c.
 */
#include "../support/th.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static json_t *wait_ready(th_host *h)
{
    long long deadline = th_now_ms() + 30000;
    json_t *body = NULL;
    while (th_now_ms() < deadline) {
        json_decref(body);
        body = NULL;
        if (th_http(h, "GET", "/ready", NULL, "", &body) == 200) return body;
        th_sleep_ms(50);
    }
    return body;
}

static void test_the_host_runs_its_workers_as_instances_and_ready_waits_for_them(void **state)
{
    (void)state;
    th_host h;
    assert_int_equal(th_init(&h, "expr"), 0);
    assert_int_equal(th_install_plugin(&h, "jq"), 0);
    assert_int_equal(th_install_plugin(&h, "echo"), 0);
    /* No instances listed: one per plugin, but none for jq: the pool runs it. */
    assert_int_equal(th_config(&h, "{\"expressions\": {\"workers\": 2}}"), 0);
    assert_int_equal(th_start(&h, NULL, 15000), 0);
    json_t *ready = wait_ready(&h);
    assert_non_null(ready);
    assert_true(json_is_true(th_get(ready, "checks.expressions.ok")));
    assert_int_equal(json_integer_value(th_get(ready, "checks.expressions.workers")), 2);
    assert_non_null(th_get(ready, "checks.instances.jq-1"));
    assert_false(json_is_true(th_get(ready, "checks.instances.jq-1.required")));
    assert_non_null(th_get(ready, "checks.instances.echo"));
    assert_null(th_get(ready, "checks.instances.jq"));
    json_decref(ready);
    assert_true(th_wait_state(&h, "jq-1", "ready", 20000));

    json_t *out = NULL;
    assert_int_equal(
        th_call(&h, "jq-1", "eval", "{\"program\": \".a + 1\", \"input\": {\"a\": 41}}", &out),
        200);
    assert_int_equal(json_integer_value(th_get(out, "result.outputs.0")), 42);
    json_decref(out);

    /* An editor's hostile call to a worker is charged to the call as well:
     * more than restart.max_crashes of them leave it ready. */
    for (int i = 0; i < 7; i++) {
        out = NULL;
        int st = th_http(&h, "POST", "/api/v1/instances/jq-1/actions/eval?timeout_ms=200",
                         "{\"program\": \"until(false; .)\"}", NULL, &out);
        assert_true(st >= 500);
        json_decref(out);
        assert_true(th_wait_state(&h, "jq-1", "ready", 20000));
    }
    out = NULL;
    assert_int_equal(th_http(&h, "GET", "/api/v1/instances/jq-1", NULL, NULL, &out), 200);
    assert_int_equal(json_integer_value(th_get(out, "crashes")), 0);
    assert_true(json_integer_value(th_get(out, "restarts")) >= 7);
    json_decref(out);
    assert_true(th_file_contains(&h, "logs/host.log", "charged to the call"));
    assert_int_equal(th_stop_clean(&h, 20000), 0);
    th_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_host_runs_its_workers_as_instances_and_ready_waits_for_them),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
