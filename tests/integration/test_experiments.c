/*
 * A/B tests through the real binary: an agent's split among two versions
 * of its scenario (refused, naming the field, unless it sums to 100 over
 * distinct versions that exist) starts an experiment; scripted
 * conversations over the REST channel land in sticky variants and the
 * experiment's statistics count exactly what they did (starts, completions
 * by outcome, drop-off per step, mean time to completion, the z-test with
 * its sample sizes), the same after a restart, counted once when the host
 * is killed before or after a turn's commit; stopping the test makes the
 * chosen version the agent's, audited, and new conversations run it.
 */
#include "../support/th.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USERS 16

static th_host H;
static char SCN[64], AGENT[64];

/* Version 1: the name, then the end. */
static const char V1[] =
    "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": [\"en\"],"
    " \"variables\": {\"name\": {\"type\": \"string\"}}, \"start\": \"q1\", \"steps\": {"
    " \"q1\": {\"kind\": \"ask\", \"text\": {\"en\": \"Name?\"}, \"var\": \"name\", \"next\": "
    "\"done\"},"
    " \"done\": {\"kind\": \"end\", \"text\": {\"en\": \"Thanks\"}, \"outcome\": \"completed\"}}}";
/* Version 2: the name, then a yes or no (no: declined). */
static const char V2[] =
    "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": [\"en\"],"
    " \"variables\": {\"name\": {\"type\": \"string\"}, \"ok\": {\"type\": \"string\"}},"
    " \"start\": \"q1\", \"steps\": {"
    " \"q1\": {\"kind\": \"ask\", \"text\": {\"en\": \"Name?\"}, \"var\": \"name\", \"next\": "
    "\"q2\"},"
    " \"q2\": {\"kind\": \"choice\", \"text\": {\"en\": \"Sure?\"}, \"var\": \"ok\", \"options\": ["
    "   {\"id\": \"yes\", \"label\": {\"en\": \"Yes\"}, \"next\": \"done\"},"
    "   {\"id\": \"no\", \"label\": {\"en\": \"No\"}, \"next\": \"declined\"}]},"
    " \"done\": {\"kind\": \"end\", \"text\": {\"en\": \"Thanks\"}, \"outcome\": \"completed\"},"
    " \"declined\": {\"kind\": \"end\", \"outcome\": \"declined\"}}}";

static int save(const char *content)
{
    return th_save_version(&H, SCN, content);
}

static int setup(void **s)
{
    (void)s;
    if (th_init(&H, "experiments") || th_config(&H, "{}") || th_start(&H, NULL, 15000)) return -1;
    json_t *o = NULL;
    if (th_http(&H, "POST", "/api/v1/scenarios", "{\"name\": \"Signup\"}", NULL, &o) != 201)
        return -1;
    snprintf(SCN, sizeof(SCN), "%s", json_string_value(json_object_get(o, "id")));
    json_decref(o);
    if (save(V1) != 201 || save(V2) != 201) return -1;
    char body[300];
    snprintf(body, sizeof(body),
             "{\"name\": \"Signup bot\", \"scenario\": {\"scenario_id\": \"%s\", \"version\": 1}}",
             SCN);
    if (th_http(&H, "POST", "/api/v1/agents", body, NULL, &o) != 201) return -1;
    snprintf(AGENT, sizeof(AGENT), "%s", json_string_value(json_object_get(o, "id")));
    json_decref(o);
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    return rc ? -1 : 0;
}

static int set_split(const char *split, json_t **out)
{
    char path[200], body[600];
    snprintf(path, sizeof(path), "/api/v1/agents/%s", AGENT);
    snprintf(body, sizeof(body), "{\"scenario\": {\"scenario_id\": \"%s\", \"split\": %s}}", SCN,
             split);
    return th_http(&H, "PATCH", path, body, NULL, out);
}

static json_t *say(const char *user, const char *text)
{
    char path[200], body[300];
    snprintf(path, sizeof(path), "/api/v1/agents/%s/messages", AGENT);
    snprintf(body, sizeof(body), "{\"user\": \"%s\", \"text\": \"%s\"}", user, text);
    json_t *o = NULL;
    int st = th_http(&H, "POST", path, body, NULL, &o);
    if (st != 200) fail_msg("POST %s %s: %d", path, text, st);
    return o;
}

static json_t *experiment(const char *which, int expect)
{
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/agents/%s/experiments/%s", AGENT, which);
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), expect);
    return o;
}

static const char *field_of(json_t *o)
{
    return json_string_value(th_get(o, "error.field"));
}

/* ---- the tests ------------------------------------------------------------------------ */

static void test_a_split_not_summing_to_100_is_refused_naming_the_field(void **s)
{
    (void)s;
    json_t *o = NULL;
    assert_int_equal(
        set_split("[{\"version\": 1, \"percent\": 50}, {\"version\": 2, \"percent\": 40}]", &o),
        422);
    assert_string_equal(field_of(o), "scenario.split");
    assert_non_null(strstr(json_string_value(th_get(o, "error.message")), "sum to 90, not 100"));
    json_decref(o);
    assert_int_equal(
        set_split("[{\"version\": 1, \"percent\": 50}, {\"version\": 7, \"percent\": 50}]", &o),
        422);
    assert_string_equal(field_of(o), "scenario.split[1].version");
    json_decref(o);
    assert_int_equal(
        set_split("[{\"version\": 2, \"percent\": 50}, {\"version\": 2, \"percent\": 50}]", &o),
        422);
    assert_string_equal(field_of(o), "scenario.split[1].version");
    json_decref(o);
    assert_int_equal(set_split("[{\"version\": 2, \"percent\": 100}]", &o), 422);
    assert_string_equal(field_of(o), "scenario.split");
    json_decref(o);
    /* Nothing refused started anything. */
    o = experiment("current", 404);
    json_decref(o);
}

/* The variant each user landed in, from their conversation. */
static json_int_t variant_of(const char *user)
{
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/agents/%s/messages?user=%s", AGENT, user);
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    char cpath[200];
    snprintf(cpath, sizeof(cpath), "/api/v1/conversations/%s",
             json_string_value(json_object_get(o, "conversation_id")));
    json_decref(o);
    assert_int_equal(th_http(&H, "GET", cpath, NULL, NULL, &o), 200);
    json_int_t v = json_integer_value(th_get(o, "experiment.version"));
    assert_int_equal(v, json_integer_value(th_get(o, "scenario.version")));
    json_decref(o);
    return v;
}

static json_t *variant_stats(json_t *e, json_int_t version)
{
    size_t i;
    json_t *v;
    json_array_foreach(th_get(e, "stats.variants"), i,
                       v) if (json_integer_value(json_object_get(v, "version")) ==
                              version) return v;
    fail_msg("no variant %lld", (long long)version);
    return NULL;
}

static json_int_t stopped_at(json_t *v, const char *step, const char *what)
{
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(v, "drop_off"), i,
                       d) if (!strcmp(json_string_value(json_object_get(d, "step")),
                                      step)) return json_integer_value(json_object_get(d, what));
    return 0;
}

/* What the script below leaves, counted from the users' variants. */
typedef struct expect {
    json_int_t starts, completed, declined, at_q1, at_q2, reached_q2;
} expect;

static void check_stats(json_t *e, const expect *x)
{
    for (int v = 1; v <= 2; v++) {
        json_t *st = variant_stats(e, v);
        const expect *w = &x[v - 1];
        assert_int_equal(json_integer_value(json_object_get(st, "starts")), w->starts);
        assert_int_equal(json_integer_value(json_object_get(st, "completed")), w->completed);
        assert_int_equal(json_integer_value(th_get(st, "outcomes.completed")), w->completed);
        assert_int_equal(json_integer_value(th_get(st, "outcomes.declined")), w->declined);
        assert_int_equal(json_integer_value(json_object_get(st, "ended")),
                         w->completed + w->declined);
        assert_int_equal(stopped_at(st, "q1", "stopped"), w->at_q1);
        assert_int_equal(stopped_at(st, "q1", "reached"), w->starts);
        assert_int_equal(stopped_at(st, "q2", "stopped"), w->at_q2);
        assert_int_equal(stopped_at(st, "q2", "reached"), w->reached_q2);
        assert_int_equal(json_integer_value(json_object_get(st, "errors")), 0);
        if (w->completed)
            assert_true(json_real_value(json_object_get(st, "mean_completion_ms")) >= 0);
        else
            assert_true(json_is_null(json_object_get(st, "mean_completion_ms")));
    }
    /* The z-test, as computed by hand from the same counts. */
    json_t *c = th_get(e, "stats.comparisons.0");
    assert_int_equal(json_integer_value(json_object_get(c, "n_control")), x[0].starts);
    assert_int_equal(json_integer_value(json_object_get(c, "n_variant")), x[1].starts);
    double n1 = (double)x[0].starts, n2 = (double)x[1].starts;
    double p1 = x[0].completed / n1, p2 = x[1].completed / n2;
    double p = (x[0].completed + x[1].completed) / (n1 + n2);
    double se = sqrt(p * (1 - p) * (1 / n1 + 1 / n2));
    double z = se > 0 ? (p2 - p1) / se : 0, pv = se > 0 ? erfc(fabs(z) / sqrt(2.0)) : 1;
    assert_true(fabs(json_real_value(json_object_get(c, "z")) - z) < 1e-9);
    assert_true(fabs(json_real_value(json_object_get(c, "p_value")) - pv) < 1e-9);
}

static void test_scripted_conversations_are_counted_per_variant_and_survive_a_restart(void **s)
{
    (void)s;
    json_t *o = NULL;
    assert_int_equal(
        set_split("[{\"version\": 1, \"percent\": 50}, {\"version\": 2, \"percent\": 50}]", &o),
        200);
    json_decref(o);
    json_t *e = experiment("current", 200);
    assert_string_equal(json_string_value(json_object_get(e, "state")), "running");
    char id[64];
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(e, "id")));
    json_decref(e);
    /* Every user starts; the first twelve give their name; of those in
     * version 2, the even ones say yes, the odd ones no, except 10 and 11
     * who stop at the question. */
    expect x[2] = {{0}, {0}};
    for (int i = 0; i < USERS; i++) {
        char user[32];
        snprintf(user, sizeof(user), "user-%02d", i);
        json_decref(say(user, "hi"));
        json_int_t v = variant_of(user);
        assert_true(v == 1 || v == 2);
        /* Sticky: the same user, the same variant. */
        assert_int_equal(variant_of(user), v);
        expect *w = &x[v - 1];
        w->starts++;
        if (i >= 12) {
            w->at_q1++;
            continue;
        }
        json_decref(say(user, "Ann"));
        if (v == 1) {
            w->completed++;
            continue;
        }
        w->reached_q2++;
        if (i >= 10) {
            w->at_q2++;
            continue;
        }
        json_decref(say(user, i % 2 ? "No" : "Yes"));
        if (i % 2)
            w->declined++;
        else
            w->completed++;
    }
    assert_true(x[0].starts > 0 && x[1].starts > 0); /* both variants used */
    e = experiment("current", 200);
    check_stats(e, x);
    json_decref(e);
    /* Counted in the store, not in memory: the same after a restart. */
    assert_int_equal(th_stop(&H, 10000), 0);
    assert_int_equal(th_start(&H, NULL, 15000), 0);
    e = experiment(id, 200);
    check_stats(e, x);
    json_decref(e);
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/agents/%s/experiments", AGENT);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    assert_int_equal(json_array_size(json_object_get(o, "experiments")), 1);
    json_decref(o);
}

static json_int_t total_starts(void)
{
    json_t *e = experiment("current", 200);
    json_int_t n = 0;
    size_t i;
    json_t *v;
    json_array_foreach(th_get(e, "stats.variants"), i, v) n +=
        json_integer_value(json_object_get(v, "starts"));
    json_decref(e);
    return n;
}

/* The host killed at a fault point of the first turn's commit (a new
 * user's first message), then started again. */
static void crash_at(const char *point, const char *user)
{
    assert_int_equal(th_stop(&H, 10000), 0);
    char e1[128], e2[800];
    snprintf(e1, sizeof(e1), "AGENTHOST_FAULT=%s", point);
    snprintf(e2, sizeof(e2), "AGENTHOST_FAULT_MARK=%s/fault.mark", H.dir);
    const char *env[] = {e1, e2, NULL};
    assert_int_equal(th_start(&H, env, 15000), 0);
    char path[200], body[200];
    snprintf(path, sizeof(path), "/api/v1/agents/%s/messages", AGENT);
    snprintf(body, sizeof(body), "{\"user\": \"%s\", \"text\": \"hi\"}", user);
    json_t *o = NULL;
    th_http(&H, "POST", path, body, NULL, &o); /* no answer: the host dies */
    json_decref(o);
    if (th_wait_exit(&H, 30000) == -1) th_kill(&H);
    char *m = th_read(&H, "fault.mark");
    if (!m || !strstr(m, point)) fail_msg("fault point %s was not reached", point);
    free(m);
    assert_int_equal(th_start(&H, NULL, 15000), 0);
}

static bool has_conversation(const char *user)
{
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/agents/%s/messages?user=%s", AGENT, user);
    json_t *o = NULL;
    int st = th_http(&H, "GET", path, NULL, NULL, &o);
    json_decref(o);
    return st == 200;
}

static void test_a_turn_killed_before_or_after_its_commit_is_counted_once(void **s)
{
    (void)s;
    json_int_t before = total_starts();
    /* Killed before: nothing written; the input comes back and the turn
     * runs again, counted then. */
    crash_at("engine.before_commit", "crash-before");
    long long end = th_now_ms() + 30000;
    while (!has_conversation("crash-before") && th_now_ms() < end)
        th_sleep_ms(50);
    assert_true(has_conversation("crash-before"));
    assert_int_equal(total_starts(), before + 1);
    /* Killed after: written and counted with the turn; nothing runs again. */
    crash_at("engine.after_commit", "crash-after");
    assert_true(has_conversation("crash-after"));
    assert_int_equal(total_starts(), before + 2);
}

static json_int_t total_of(const char *field)
{
    json_t *e = experiment("current", 200);
    json_int_t n = 0;
    size_t i;
    json_t *v;
    json_array_foreach(th_get(e, "stats.variants"), i, v) n += json_integer_value(th_get(v, field));
    json_decref(e);
    return n;
}

static void test_a_conversation_ended_over_rest_is_counted_as_ended(void **s)
{
    (void)s;
    json_int_t ended = total_of("ended");
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/agents/%s/messages?user=crash-before", AGENT);
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    snprintf(path, sizeof(path), "/api/v1/conversations/%s",
             json_string_value(json_object_get(o, "conversation_id")));
    json_decref(o);
    assert_int_equal(
        th_http(&H, "PATCH", path, "{\"state\": \"ended\", \"outcome\": \"abandoned\"}", NULL, &o),
        200);
    json_decref(o);
    assert_int_equal(total_of("ended"), ended + 1);
    assert_int_equal(total_of("outcomes.abandoned"), 1);
    /* Ending it again changes nothing. */
    assert_int_equal(th_http(&H, "PATCH", path, "{\"outcome\": \"abandoned\"}", NULL, &o), 200);
    json_decref(o);
    assert_int_equal(total_of("ended"), ended + 1);
}

static void test_stopping_makes_the_chosen_version_active_and_is_audited(void **s)
{
    (void)s;
    json_t *e = experiment("current", 200), *o = NULL;
    char path[300];
    snprintf(path, sizeof(path), "/api/v1/agents/%s/experiments/%s/stop", AGENT,
             json_string_value(json_object_get(e, "id")));
    json_decref(e);
    assert_int_equal(th_http(&H, "POST", path, "{\"version\": 3}", NULL, &o), 422);
    assert_string_equal(field_of(o), "version");
    json_decref(o);
    assert_int_equal(th_http(&H, "POST", path, "{\"version\": 2}", NULL, &o), 200);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "stopped");
    assert_int_equal(json_integer_value(json_object_get(o, "chosen_version")), 2);
    json_decref(o);
    assert_int_equal(th_http(&H, "POST", path, "{\"version\": 2}", NULL, &o), 409);
    json_decref(o);
    char apath[200];
    snprintf(apath, sizeof(apath), "/api/v1/agents/%s", AGENT);
    assert_int_equal(th_http(&H, "GET", apath, NULL, NULL, &o), 200);
    assert_int_equal(json_integer_value(th_get(o, "scenario.version")), 2);
    assert_null(th_get(o, "scenario.split"));
    json_decref(o);
    assert_int_equal(th_http(&H, "GET", "/api/v1/audit?action=experiment.stop", NULL, NULL, &o),
                     200);
    assert_int_equal(json_array_size(json_object_get(o, "items")), 1);
    json_decref(o);
    e = experiment("current", 404);
    json_decref(e);
    /* A new person now runs version 2, in no experiment. */
    json_decref(say("newcomer", "hi"));
    json_t *r = say("newcomer", "Bob");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(r, "messages"), 0), "text")),
                        "Sure?");
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_split_not_summing_to_100_is_refused_naming_the_field),
        cmocka_unit_test(test_scripted_conversations_are_counted_per_variant_and_survive_a_restart),
        cmocka_unit_test(test_a_turn_killed_before_or_after_its_commit_is_counted_once),
        cmocka_unit_test(test_a_conversation_ended_over_rest_is_counted_as_ended),
        cmocka_unit_test(test_stopping_makes_the_chosen_version_active_and_is_audited),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
