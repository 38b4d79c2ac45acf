/*
 * The real agenthost binary with several echo instances: calls, typed
 * exports, KV, secrets, a SIGSEGV and its restart, a stall, an unanswered
 * call or ping, a quarantine after growing backoffs, a stop past its grace
 * period, readiness, a bad manifest beside good ones, an ABI refusal, and
 * a clean shutdown.
 */
#include "../support/th.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static th_host H;

static const char *config_json =
    "{\"supervisor\": {\"ping_interval_ms\": 200, \"shutdown_grace_ms\": 3000},"
    " \"instances\": ["
    "  {\"id\": \"echo-a\", \"plugin\": \"echo\"},"
    "  {\"id\": \"echo-b\", \"plugin\": \"echo\", \"config\": {\"diagnostics\": true},"
    "   \"limits\": {\"stall_ms\": 1000}, \"restart\": {\"backoff_ms\": 50}},"
    "  {\"id\": \"echo-q\", \"plugin\": \"echo\", \"config\": {\"diagnostics\": true},"
    "   \"restart\": {\"max_crashes\": 3, \"window_s\": 60, \"backoff_ms\": 20,"
    "                \"max_backoff_ms\": 100}},"
    "  {\"id\": \"echo-s\", \"plugin\": \"echo\","
    "   \"config\": {\"diagnostics\": true, \"shutdown_delay_ms\": 400}},"
    "  {\"id\": \"echo-g\", \"plugin\": \"echo\","
    "   \"config\": {\"diagnostics\": true, \"shutdown_delay_ms\": 10000}},"
    "  {\"id\": \"echo-x\", \"plugin\": \"echo\"},"
    "  {\"id\": \"abi2\", \"plugin\": \"abi2\", \"required\": false},"
    "  {\"id\": \"ghost\", \"plugin\": \"not-installed\"}"
    "]}";

#define SECRET_VALUE "s3cr3t-value-4242"
#define UNDECLARED_VALUE "undeclared-secret-9999"
/* Secrets holding what JSON escapes, and a line break (as set on stdin). */
#define HOSTILE_TOKEN                                                                              \
    "Qu\"ote\\Back\tTab\x01"                                                                       \
    "Ctl_999"
#define HOSTILE_TOKEN_JSON "Qu\\\"ote\\\\Back\\tTab\\u0001Ctl_999"
#define HOSTILE_HOOK "first-line-abc\nsecond-line-def"
#define HOSTILE_HOOK_JSON "first-line-abc\\nsecond-line-def"

static int setup(void **state)
{
    (void)state;
    if (th_init(&H, "host") || th_install_plugin(&H, "echo") ||
        th_install_dir(&H, TH_SOURCE_DIR "/tests/fixtures/plugins/bad-memory", "bad-memory") ||
        th_install_dir(&H, TH_BUILD_DIR "/tests/plugins/abi2", "abi2") ||
        th_config(&H, config_json))
        return -1;
    if (th_cli(&H, SECRET_VALUE "\n", NULL, 0, "secret", "set", "echo-a", "token", NULL) != 0 ||
        th_cli(&H, UNDECLARED_VALUE, NULL, 0, "secret", "set", "echo-a", "other", NULL) != 0 ||
        th_cli(&H, HOSTILE_TOKEN, NULL, 0, "secret", "set", "echo-x", "token", NULL) != 0 ||
        th_cli(&H, HOSTILE_HOOK, NULL, 0, "secret", "set", "echo-x", "webhook_secret", NULL) != 0)
        return -1;
    if (th_start(&H, NULL, 10000) != 0) return -1;
    if (!th_wait_state(&H, "echo-a", "ready", 10000) ||
        !th_wait_state(&H, "echo-b", "ready", 15000) || !th_wait_state(&H, "echo-q", "ready", 5000))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_cleanup(&H);
    return 0;
}

static void test_call_round_trip_returns_the_arguments(void **state)
{
    (void)state;
    json_t *o;
    assert_int_equal(th_call(&H, "echo-a", "echo", "{\"text\":\"привет\",\"n\":[1,2,3]}", &o), 200);
    assert_string_equal(json_string_value(th_get(o, "result.text")), "привет");
    assert_int_equal(json_integer_value(th_get(o, "result.n.2")), 3);
    json_decref(o);
}

/* The host's root is a private 0700 directory (as root's home is): a
 * runner started as root still reaches the plugin, plans the minimal root
 * before it becomes the unprivileged user, and confines fully. */
static void test_plugins_below_a_private_directory_run_fully_confined(void **state)
{
    (void)state;
    struct stat st;
    assert_int_equal(stat(H.dir, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "GET", "/api/v1/instances/echo-a", NULL, NULL, &o), 200);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "ready");
    json_t *c = json_object_get(o, "confinement");
    assert_int_equal(json_integer_value(json_object_get(c, "seccomp_filters")), 2);
    if (geteuid() == 0) assert_true(json_is_true(json_object_get(c, "uid_drop")));
    if (getenv("CI") && !strcmp(getenv("CI"), "true")) {
        assert_true(json_is_true(th_get(c, "namespaces.mount")));
        assert_int_equal(json_array_size(json_object_get(c, "fallbacks")), 0);
    }
    json_decref(o);
}

/* Requests by method, route and status (the counter and the latency
 * histogram alike); instances by state. */
static void test_metrics_label_requests_by_route_and_status_and_instances_by_state(void **state)
{
    (void)state;
    assert_int_equal(th_http(&H, "GET", "/api/v1/instances/echo-a", NULL, NULL, NULL), 200);
    assert_int_equal(th_http(&H, "GET", "/api/v1/instances/nobody", NULL, NULL, NULL), 404);
    char *text = NULL, auth[256];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", H.token);
    const char *hdrs[] = {auth, NULL};
    assert_int_equal(th_http_raw(&H, "GET", "/metrics", NULL, NULL, 0, hdrs, NULL, &text), 200);
    static const char *want[] = {
        "agenthost_http_requests_total{method=\"GET\",route=\"/api/v1/instances/{id}\","
        "status=\"200\"}",
        "agenthost_http_requests_total{method=\"GET\",route=\"/api/v1/instances/{id}\","
        "status=\"404\"}",
        "agenthost_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/v1/"
        "instances/{id}\",status=\"404\",le=",
        "agenthost_instance_state{instance=\"echo-a\",plugin=\"echo\",state=\"ready\"} 1",
        "agenthost_instance_state{instance=\"echo-a\",plugin=\"echo\",state=\"stopped\"} 0",
        "agenthost_instance_up{instance=\"echo-a\",plugin=\"echo\"} 1",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!strstr(text, want[i])) fail_msg("/metrics lacks %s", want[i]);
    free(text);
}

static void test_typed_c_export_is_called_through_libffi(void **state)
{
    (void)state;
    json_t *o;
    assert_int_equal(th_call(&H, "echo-a", "add", "{\"a\":40,\"b\":2}", &o), 200);
    assert_int_equal(json_integer_value(th_get(o, "result")), 42);
    json_decref(o);
    /* "scale" has no args schema in the manifest: derived from
     * "double (double x, double k)", it is checked in the host. */
    assert_int_equal(th_call(&H, "echo-a", "scale", "{\"x\":1.5,\"k\":3}", &o), 200);
    assert_true(json_real_value(th_get(o, "result")) == 4.5);
    json_decref(o);
    assert_int_equal(th_call(&H, "echo-a", "scale", "{\"x\":\"1.5\",\"k\":3}", &o), 422);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "x");
    json_decref(o);
    assert_int_equal(th_call(&H, "echo-a", "scale", "{\"x\":1,\"k\":3,\"z\":0}", &o), 422);
    json_decref(o);
}

static void test_invalid_arguments_are_422_naming_the_field(void **state)
{
    (void)state;
    json_t *o;
    assert_int_equal(th_call(&H, "echo-a", "add", "{\"a\":40,\"b\":\"two\"}", &o), 422);
    assert_string_equal(json_string_value(th_get(o, "error.code")), "invalid_args");
    assert_string_equal(json_string_value(th_get(o, "error.field")), "b");
    json_decref(o);
}

static void test_unknown_action_and_unknown_instance_are_404(void **state)
{
    (void)state;
    json_t *o;
    assert_int_equal(th_call(&H, "echo-a", "no.such.action", "{}", &o), 404);
    assert_string_equal(json_string_value(th_get(o, "error.code")), "unknown_action");
    json_decref(o);
    assert_int_equal(th_call(&H, "nobody", "echo", "{}", &o), 404);
    json_decref(o);
}

static void test_five_megabyte_reply_crosses_many_frames(void **state)
{
    (void)state;
    json_t *o;
    assert_int_equal(th_call(&H, "echo-a", "big", "{\"bytes\":5000000}", &o), 200);
    assert_int_equal(strlen(json_string_value(th_get(o, "result.data"))), 5000000);
    json_decref(o);
    /* And a large request the other way. */
    size_t n = 3 * 1024 * 1024;
    char *args = malloc(n + 32);
    memcpy(args, "{\"blob\":\"", 9);
    memset(args + 9, 'y', n);
    strcpy(args + 9 + n, "\"}");
    assert_int_equal(th_call(&H, "echo-a", "echo", args, &o), 200);
    assert_int_equal(strlen(json_string_value(th_get(o, "result.blob"))), n);
    json_decref(o);
    free(args);
}

static void test_kv_is_durable_scannable_and_namespaced(void **state)
{
    (void)state;
    json_t *o;
    assert_int_equal(
        th_call(&H, "echo-a", "kv.put", "{\"key\":\"conv:1\",\"value\":{\"step\":2}}", &o), 200);
    json_decref(o);
    assert_int_equal(th_call(&H, "echo-a", "kv.put", "{\"key\":\"conv:2\",\"value\":[true]}", &o),
                     200);
    json_decref(o);
    assert_int_equal(th_call(&H, "echo-a", "kv.put", "{\"key\":\"other\",\"value\":1}", &o), 200);
    json_decref(o);
    assert_int_equal(th_call(&H, "echo-a", "kv.get", "{\"key\":\"conv:1\"}", &o), 200);
    assert_true(json_is_true(th_get(o, "result.found")));
    assert_int_equal(json_integer_value(th_get(o, "result.value.step")), 2);
    json_decref(o);
    /* Scan by prefix, one item per page. */
    assert_int_equal(th_call(&H, "echo-a", "kv.scan", "{\"prefix\":\"conv:\",\"limit\":1}", &o),
                     200);
    assert_int_equal(json_array_size(th_get(o, "result.keys")), 1);
    assert_string_equal(json_string_value(th_get(o, "result.keys.0")), "conv:1");
    assert_string_equal(json_string_value(th_get(o, "result.next")), "conv:1");
    json_decref(o);
    assert_int_equal(th_call(&H, "echo-a", "kv.scan",
                             "{\"prefix\":\"conv:\",\"after\":\"conv:1\",\"limit\":5}", &o),
                     200);
    assert_int_equal(json_array_size(th_get(o, "result.keys")), 1);
    assert_string_equal(json_string_value(th_get(o, "result.keys.0")), "conv:2");
    json_decref(o);
    /* Another instance of the same plugin sees nothing of echo-a's. */
    assert_int_equal(th_call(&H, "echo-b", "kv.get", "{\"key\":\"conv:1\"}", &o), 200);
    assert_true(json_is_false(th_get(o, "result.found")));
    json_decref(o);
    assert_int_equal(th_call(&H, "echo-a", "kv.delete", "{\"key\":\"conv:1\"}", &o), 200);
    json_decref(o);
    assert_int_equal(th_call(&H, "echo-a", "kv.get", "{\"key\":\"conv:1\"}", &o), 200);
    assert_true(json_is_false(th_get(o, "result.found")));
    json_decref(o);
}

static void test_instance_gets_only_declared_secrets_and_none_are_logged(void **state)
{
    (void)state;
    json_t *o;
    assert_int_equal(th_call(&H, "echo-a", "secret.check",
                             "{\"name\":\"token\",\"equals\":\"" SECRET_VALUE "\"}", &o),
                     200);
    assert_true(json_is_true(th_get(o, "result.present")));
    assert_true(json_is_true(th_get(o, "result.equals")));
    json_decref(o);
    /* "other" is set for echo-a, but the manifest does not declare it. */
    assert_int_equal(th_call(&H, "echo-a", "secret.check", "{\"name\":\"other\"}", &o), 200);
    assert_true(json_is_false(th_get(o, "result.present")));
    json_decref(o);
    /* A plugin that logs the secret has it redacted. */
    assert_int_equal(th_call(&H, "echo-a", "log", "{\"message\":\"leak " SECRET_VALUE "\"}", &o),
                     200);
    json_decref(o);
    assert_true(th_wait_file(&H, "logs/plugins/echo-a.log", "leak [REDACTED]", 3000));
    assert_false(th_logs_contain(&H, SECRET_VALUE));
    assert_false(th_logs_contain(&H, UNDECLARED_VALUE));
    /* The master key is not readable by others. */
    char *mk = th_read(&H, "var/master.key");
    assert_non_null(mk);
    free(mk);
}

/* Secrets holding a quote, a backslash, a TAB, a control byte or a line
 * break are masked too, in what the plugin logs through the host and in
 * what it writes to stderr (a line at a time), raw and JSON-escaped; and
 * a viewer cannot read a plugin's log at all. */
static void test_secrets_with_escaped_bytes_are_masked_in_every_plugin_log(void **state)
{
    (void)state;
    json_t *o;
    assert_int_equal(
        th_call(&H, "echo-x", "log",
                "{\"message\":\"leak " HOSTILE_TOKEN_JSON " and " HOSTILE_HOOK_JSON " end\"}", &o),
        200);
    json_decref(o);
    assert_true(th_wait_file(&H, "logs/plugins/echo-x.log",
                             "\"msg\":\"leak [REDACTED] and [REDACTED] end\"", 3000));
    assert_true(th_wait_file(&H, "logs/plugins/echo-x.log",
                             "stderr: leak [REDACTED] and [REDACTED]", 3000));
    assert_true(th_wait_file(&H, "logs/plugins/echo-x.log", "\"msg\":\"[REDACTED] end\"", 3000));
    static const char *const spellings[] = {HOSTILE_TOKEN,     HOSTILE_TOKEN_JSON, HOSTILE_HOOK,
                                            HOSTILE_HOOK_JSON, "Ctl_999",          "line-abc",
                                            "second-line"};
    for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++)
        if (th_logs_contain(&H, spellings[i])) fail_msg("logs hold %s", spellings[i]);
    char viewer[128] = "";
    assert_int_equal(th_cli(&H, NULL, viewer, sizeof(viewer), "token", "create", "--name",
                            "log-reader", "--role", "viewer", NULL),
                     0);
    viewer[strcspn(viewer, "\n")] = 0;
    assert_int_equal(th_http(&H, "GET", "/api/v1/instances/echo-x/log", NULL, viewer, &o), 403);
    json_decref(o);
}

/* What a plugin logs while serving a call carries the API request's id;
 * what it logs on its own (at start) carries none. */
static void test_plugin_log_lines_of_a_call_carry_its_request_id(void **state)
{
    (void)state;
    assert_int_equal(th_call_traced(&H, "echo-a", "log", "{\"message\":\"logged inside the call\"}",
                                    "trace-echo-42"),
                     200);
    assert_true(th_wait_file(&H, "logs/plugins/echo-a.log",
                             "\"msg\":\"logged inside the call\",\"plugin\":\"echo\","
                             "\"instance\":\"echo-a\",\"request_id\":\"trace-echo-42\"",
                             3000));
    char *text = th_read(&H, "logs/plugins/echo-a.log");
    const char *ready = strstr(text, "echo ready");
    assert_non_null(ready);
    const char *eol = strchr(ready, '\n');
    assert_null(memmem(ready, eol ? (size_t)(eol - ready) : strlen(ready), "request_id", 10));
    free(text);
}

static void test_plugin_stderr_reaches_its_log_file(void **state)
{
    (void)state;
    json_t *o;
    assert_int_equal(th_call(&H, "echo-a", "log", "{\"message\":\"hello from stderr\"}", &o), 200);
    json_decref(o);
    assert_true(th_wait_file(&H, "logs/plugins/echo-a.log", "stderr: hello from stderr", 3000));
    assert_int_equal(th_http(&H, "GET", "/api/v1/instances/echo-a/log?lines=5", NULL, NULL, &o),
                     200);
    assert_true(json_array_size(th_get(o, "lines")) >= 1);
    json_decref(o);
}

static void test_timer_answers_later(void **state)
{
    (void)state;
    json_t *o;
    long long t0 = th_now_ms();
    assert_int_equal(th_call(&H, "echo-a", "sleep", "{\"ms\":150}", &o), 200);
    assert_true(th_now_ms() - t0 >= 140);
    assert_true(json_is_true(th_get(o, "result.slept")));
    json_decref(o);
}

static int restarts_of(const char *id)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/instances/%s", id);
    json_t *o;
    th_http(&H, "GET", path, NULL, NULL, &o);
    int n = (int)json_integer_value(json_object_get(o, "restarts"));
    json_decref(o);
    return n;
}

static void test_sigsegv_is_reported_and_the_instance_restarts(void **state)
{
    (void)state;
    int before = restarts_of("echo-b");
    json_t *o;
    assert_int_equal(th_call(&H, "echo-b", "crash", "{}", &o), 503);
    assert_string_equal(json_string_value(th_get(o, "error.code")), "instance_crashed");
    assert_non_null(strstr(json_string_value(th_get(o, "error.message")), "signal 11"));
    json_decref(o);
    assert_true(th_wait_state(&H, "echo-b", "ready", 15000));
    assert_int_equal(restarts_of("echo-b"), before + 1);
    assert_true(th_file_contains(&H, "logs/errors.log", "instance echo-b crashed"));
    /* The others never noticed. */
    assert_int_equal(th_call(&H, "echo-a", "echo", "{}", &o), 200);
    json_decref(o);
}

static void test_spinning_instance_is_killed_as_stalled(void **state)
{
    (void)state;
    json_t *o;
    long long t0 = th_now_ms();
    assert_int_equal(th_call(&H, "echo-b", "spin", "{}", &o), 503);
    assert_non_null(strstr(json_string_value(th_get(o, "error.message")), "stalled"));
    json_decref(o);
    assert_true(th_now_ms() - t0 < 5000);
    assert_true(th_wait_state(&H, "echo-b", "ready", 15000));
}

/* An idle instance with no call outstanding that stops answering health
 * pings: only the ping deadline (stall_ms 1000) can catch it. */
static void test_idle_instance_not_answering_pings_is_killed_as_stalled(void **state)
{
    (void)state;
    json_t *o;
    assert_true(th_wait_state(&H, "echo-b", "ready", 15000));
    assert_int_equal(th_call(&H, "echo-b", "hang_health", "{}", &o), 200);
    json_decref(o);
    assert_true(th_wait_file(&H, "logs/host.log", "ping unanswered after 1000 ms", 10000));
    assert_true(th_wait_state(&H, "echo-b", "ready", 10000));
}

/* A plugin that takes longer to stop than the grace period is killed at
 * its end (echo-g takes 10 s; the grace is 3 s). */
static void test_stop_past_the_grace_period_is_a_kill(void **state)
{
    (void)state;
    json_t *o;
    assert_true(th_wait_state(&H, "echo-g", "ready", 15000));
    long long t0 = th_now_ms();
    assert_int_equal(th_http(&H, "POST", "/api/v1/instances/echo-g/disable", "", NULL, &o), 202);
    json_decref(o);
    assert_true(th_wait_state(&H, "echo-g", "disabled", 9000));
    assert_true(th_now_ms() - t0 < 9000); /* well before its own 10 s */
    assert_true(th_file_contains(&H, "logs/host.log", "did not stop within its grace period"));
    /* A disabled instance cannot be restarted: 409, saying what to do. */
    assert_int_equal(th_http(&H, "POST", "/api/v1/instances/echo-g/restart", "", NULL, &o), 409);
    assert_string_equal(json_string_value(th_get(o, "error.code")), "conflict");
    assert_non_null(strstr(json_string_value(th_get(o, "error.message")), "enable it first"));
    json_decref(o);
}

static void test_unanswered_call_is_caught_at_its_deadline(void **state)
{
    (void)state;
    json_t *o;
    assert_int_equal(th_http(&H, "POST", "/api/v1/instances/echo-b/actions/ignore?timeout_ms=300",
                             "{}", NULL, &o),
                     503);
    assert_non_null(strstr(json_string_value(th_get(o, "error.message")), "unanswered"));
    json_decref(o);
    assert_true(th_wait_state(&H, "echo-b", "ready", 15000));
}

static void test_repeated_crashes_quarantine_until_an_operator_restarts(void **state)
{
    (void)state;
    json_t *o;
    for (int i = 0; i < 3; i++) {
        assert_true(th_wait_state(&H, "echo-q", "ready", 15000));
        assert_int_equal(th_call(&H, "echo-q", "crash", "{}", &o), 503);
        json_decref(o);
    }
    assert_true(th_wait_state(&H, "echo-q", "quarantined", 5000));
    /* Each restart waited twice as long as the one before (backoff 20 ms). */
    assert_true(th_file_contains(&H, "logs/host.log",
                                 "echo-q crashed: killed by signal 11 "
                                 "(SEGV); restarting in 20 ms"));
    assert_true(th_file_contains(&H, "logs/host.log",
                                 "echo-q crashed: killed by signal 11 "
                                 "(SEGV); restarting in 40 ms"));
    th_sleep_ms(300); /* it stays quarantined: no restart by itself */
    assert_string_equal(th_state(&H, "echo-q"), "quarantined");
    assert_true(th_file_contains(&H, "logs/security.log", "quarantined"));
    /* A required instance down: the host is not ready, and says which. */
    assert_int_equal(th_http(&H, "GET", "/ready", NULL, NULL, &o), 503);
    assert_true(json_is_false(th_get(o, "checks.instances.echo-q.ok")));
    json_decref(o);
    assert_int_equal(th_http(&H, "POST", "/api/v1/instances/echo-q/restart", "", NULL, &o), 202);
    json_decref(o);
    assert_true(th_wait_state(&H, "echo-q", "ready", 15000));
    assert_int_equal(th_http(&H, "GET", "/ready", NULL, NULL, &o), 200);
    json_decref(o);
}

/* Ready: store, bus and every required instance; abi2, which can never
 * start, is marked optional and does not hold it back. */
static void test_ready_counts_the_bus_and_required_instances_only(void **state)
{
    (void)state;
    json_t *o;
    assert_true(th_wait_state(&H, "echo-s", "ready", 15000));
    assert_true(th_wait_state(&H, "echo-g", "ready", 15000));
    assert_int_equal(th_http(&H, "GET", "/ready", NULL, NULL, &o), 200);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "ready");
    assert_true(json_is_true(th_get(o, "checks.store.ok")));
    assert_true(json_is_true(th_get(o, "checks.bus.ok")));
    assert_string_equal(json_string_value(th_get(o, "checks.bus.backend")), "lmdb");
    assert_true(json_is_true(th_get(o, "checks.instances.echo-a.required")));
    assert_true(json_is_false(th_get(o, "checks.instances.abi2.ok")));
    assert_true(json_is_false(th_get(o, "checks.instances.abi2.required")));
    json_decref(o);
}

static void test_bad_manifest_is_reported_and_the_others_run(void **state)
{
    (void)state;
    json_t *o;
    assert_int_equal(th_http(&H, "GET", "/api/v1/plugins", NULL, NULL, &o), 200);
    const char *err = json_string_value(th_get(o, "errors.0"));
    assert_non_null(err);
    assert_non_null(
        strstr(err, "bad-memory/manifest.json: limits.memory_mb: expected integer, got \"lots\""));
    json_decref(o);
    assert_true(th_file_contains(&H, "logs/errors.log", "limits.memory_mb: expected integer"));
    assert_true(
        th_file_contains(&H, "logs/errors.log", "plugin \\\"not-installed\\\" is not installed"));
}

static void test_other_abi_major_is_refused_naming_both_versions(void **state)
{
    (void)state;
    assert_true(th_wait_state(&H, "abi2", "failed", 5000));
    json_t *o;
    assert_int_equal(th_http(&H, "GET", "/api/v1/instances/abi2", NULL, NULL, &o), 200);
    const char *e = json_string_value(json_object_get(o, "last_error"));
    assert_non_null(e);
    assert_non_null(strstr(e, "built for ABI 2.0; this host runs ABI 1.6"));
    json_decref(o);
}

static void test_disable_stops_and_enable_starts(void **state)
{
    (void)state;
    json_t *o;
    assert_int_equal(th_http(&H, "POST", "/api/v1/instances/echo-q/disable", "", NULL, &o), 202);
    json_decref(o);
    assert_true(th_wait_state(&H, "echo-q", "disabled", 5000));
    assert_int_equal(th_call(&H, "echo-q", "echo", "{}", &o), 503);
    json_decref(o);
    assert_int_equal(th_http(&H, "POST", "/api/v1/instances/echo-q/enable", "", NULL, &o), 202);
    json_decref(o);
    assert_true(th_wait_state(&H, "echo-q", "ready", 15000));
}

/* Runner processes whose command line names this host's pid. */
static void test_restart_disable_enable_in_quick_succession_ends_ready(void **state)
{
    (void)state;
    /* echo-s takes 400 ms to stop: disable and enable arrive while it stops. */
    assert_true(th_wait_state(&H, "echo-s", "ready", 10000));
    assert_int_equal(th_http(&H, "POST", "/api/v1/instances/echo-s/restart", "", NULL, NULL), 202);
    assert_int_equal(th_http(&H, "POST", "/api/v1/instances/echo-s/disable", "", NULL, NULL), 202);
    assert_int_equal(th_http(&H, "POST", "/api/v1/instances/echo-s/enable", "", NULL, NULL), 202);
    assert_true(th_wait_state(&H, "echo-s", "ready", 10000));
    th_sleep_ms(300);
    assert_string_equal(th_state(&H, "echo-s"), "ready");
    /* And a disable that arrives last wins. */
    assert_int_equal(th_http(&H, "POST", "/api/v1/instances/echo-s/restart", "", NULL, NULL), 202);
    assert_int_equal(th_http(&H, "POST", "/api/v1/instances/echo-s/disable", "", NULL, NULL), 202);
    assert_true(th_wait_state(&H, "echo-s", "disabled", 10000));
    assert_int_equal(th_http(&H, "POST", "/api/v1/instances/echo-s/enable", "", NULL, NULL), 202);
    assert_true(th_wait_state(&H, "echo-s", "ready", 10000));
}

static int runners_alive(pid_t host)
{
    char marker[64];
    snprintf(marker, sizeof(marker), "--host-pid %d", (int)host);
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char path[300], buf[4096];
        snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t k = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        for (size_t i = 0; i < k; i++)
            if (!buf[i]) buf[i] = ' ';
        buf[k] = 0;
        if (strstr(buf, "agenthost-runner") && strstr(buf, marker)) n++;
    }
    if (d) closedir(d);
    return n;
}

static void test_clean_shutdown_stops_every_instance(void **state)
{
    (void)state;
    pid_t host = H.pid;
    assert_true(runners_alive(host) >= 3);
    assert_int_equal(th_stop(&H, 10000), 0);
    assert_int_equal(runners_alive(host), 0);
    assert_true(th_file_contains(&H, "logs/plugins/echo-a.log", "echo stopping after"));
    assert_true(th_file_contains(&H, "logs/host.log", "all instances stopped"));
    char out[4096];
    assert_int_equal(th_cli(&H, NULL, out, sizeof(out), "instance", "list", NULL), 0);
    assert_non_null(strstr(out, "echo-a"));
    assert_non_null(strstr(out, "stopped"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_call_round_trip_returns_the_arguments),
        cmocka_unit_test(test_plugins_below_a_private_directory_run_fully_confined),
        cmocka_unit_test(test_ready_counts_the_bus_and_required_instances_only),
        cmocka_unit_test(test_metrics_label_requests_by_route_and_status_and_instances_by_state),
        cmocka_unit_test(test_typed_c_export_is_called_through_libffi),
        cmocka_unit_test(test_invalid_arguments_are_422_naming_the_field),
        cmocka_unit_test(test_unknown_action_and_unknown_instance_are_404),
        cmocka_unit_test(test_five_megabyte_reply_crosses_many_frames),
        cmocka_unit_test(test_kv_is_durable_scannable_and_namespaced),
        cmocka_unit_test(test_instance_gets_only_declared_secrets_and_none_are_logged),
        cmocka_unit_test(test_secrets_with_escaped_bytes_are_masked_in_every_plugin_log),
        cmocka_unit_test(test_plugin_log_lines_of_a_call_carry_its_request_id),
        cmocka_unit_test(test_plugin_stderr_reaches_its_log_file),
        cmocka_unit_test(test_timer_answers_later),
        cmocka_unit_test(test_sigsegv_is_reported_and_the_instance_restarts),
        cmocka_unit_test(test_spinning_instance_is_killed_as_stalled),
        cmocka_unit_test(test_idle_instance_not_answering_pings_is_killed_as_stalled),
        cmocka_unit_test(test_stop_past_the_grace_period_is_a_kill),
        cmocka_unit_test(test_unanswered_call_is_caught_at_its_deadline),
        cmocka_unit_test(test_repeated_crashes_quarantine_until_an_operator_restarts),
        cmocka_unit_test(test_bad_manifest_is_reported_and_the_others_run),
        cmocka_unit_test(test_other_abi_major_is_refused_naming_both_versions),
        cmocka_unit_test(test_disable_stops_and_enable_starts),
        cmocka_unit_test(test_restart_disable_enable_in_quick_succession_ends_ready),
        cmocka_unit_test(test_clean_shutdown_stops_every_instance),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
