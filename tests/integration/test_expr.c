/*
 * The expression pool against real jq workers: the real runner confining
 * the real jq plugin, driven through host/expr/ the way the scenario engine
 * will (from inside the host, no HTTP). Conditions and mappings on a
 * conversation's context, compile errors, and every hostile case (a
 * runaway loop, memory, deep recursion, a crash, huge output) failing the
 * way it should while the pool keeps answering. The real binary (the
 * workers as instances, /ready, hostile calls through the API) is
 * test_expr_host.c.
 */
#include "../support/th.h"
#include "core/log.h"
#include "core/loop.h"
#include "expr/expr.h"
#include "plugin/manifest.h"
#include "plugin/supervisor.h"

#include <agenthost/plugin.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define GUARD_MS 120000 /* only against a hang: no outcome depends on it */
#define LONG_MS 10000   /* a deadline the memory and output cases stay far within */

typedef struct world {
    char dir[600];
    ah_loop *loop;
    supervisor *sup;
    manifest *m;
    expr_pool *pool;
} world;

static world W;

typedef struct outcome {
    bool done;
    char error[32]; /* "" on success */
    char message[4096];
    json_t *outputs;
} outcome;

static void on_result(void *ud, const expr_result *r)
{
    outcome *o = ud;
    o->done = true;
    snprintf(o->error, sizeof(o->error), "%s", r->error ? r->error : "");
    snprintf(o->message, sizeof(o->message), "%s", r->message ? r->message : "");
    o->outputs = r->outputs ? json_deep_copy(r->outputs) : NULL;
}

static void on_guard(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

/* Run the loop until *flag or the guard. */
static bool run_until(bool *flag)
{
    bool expired = false;
    uv_timer_t guard;
    uv_timer_init(loop_uv(W.loop), &guard);
    guard.data = &expired;
    uv_timer_start(&guard, on_guard, GUARD_MS, 0);
    while (!*flag && !expired)
        uv_run(loop_uv(W.loop), UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(loop_uv(W.loop), UV_RUN_NOWAIT);
    return *flag;
}

static json_t *parse(const char *text)
{
    if (!text) return NULL;
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    assert_non_null(j);
    return j;
}

static outcome eval_with(const char *program, const char *input, const char *vars,
                         uint32_t timeout_ms, uint32_t max_outputs)
{
    outcome o = {.done = false};
    json_t *in = parse(input), *v = parse(vars);
    expr_eval_opts eo = {.timeout_ms = timeout_ms, .max_outputs = max_outputs};
    char err[300];
    int rc = expr_eval(W.pool, program, in, v, &eo, on_result, &o, err, sizeof(err));
    if (rc) fail_msg("expr_eval %s: %d %s", program, rc, err);
    assert_true(run_until(&o.done));
    json_decref(in);
    json_decref(v);
    return o;
}

/* An ordinary evaluation: no outcome should depend on a deadline. */
static outcome eval(const char *program, const char *input, const char *vars)
{
    return eval_with(program, input, vars, LONG_MS, 0);
}

static void assert_outputs(outcome *o, const char *expected)
{
    if (o->error[0]) fail_msg("expected %s, got %s: %s", expected, o->error, o->message);
    json_t *want = parse(expected);
    char *got = json_dumps(o->outputs, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!json_equal(want, o->outputs)) fail_msg("expected %s, got %s", expected, got);
    free(got);
    json_decref(want);
    json_decref(o->outputs);
    o->outputs = NULL;
}

static void assert_error(outcome *o, const char *code, const char *needle)
{
    if (strcmp(o->error, code) != 0) {
        char *got = o->outputs ? json_dumps(o->outputs, JSON_COMPACT) : NULL;
        fail_msg("expected %s, got \"%s\": %s %s", code, o->error, o->message, got ? got : "");
    }
    if (needle && !strstr(o->message, needle))
        fail_msg("%s: message lacks \"%s\": %s", code, needle, o->message);
    json_decref(o->outputs);
    o->outputs = NULL;
}

static json_int_t status_int(const char *id, const char *field)
{
    json_t *st = instance_status(supervisor_find(W.sup, id));
    json_int_t v = json_integer_value(json_object_get(st, field));
    json_decref(st);
    return v;
}

static bool all_ready(void *unused)
{
    (void)unused;
    for (int i = 1; i <= 2; i++) {
        char id[16];
        snprintf(id, sizeof(id), "jq-%d", i);
        if (instance_get_state(supervisor_find(W.sup, id)) != INST_READY) return false;
    }
    return true;
}

static void on_poll(uv_timer_t *t)
{
    bool *flag = t->data;
    *flag = all_ready(NULL);
}

/* Both workers ready again (a worker restarts after a hostile call). */
static void wait_all_ready(void)
{
    bool ready = all_ready(NULL);
    uv_timer_t poll;
    uv_timer_init(loop_uv(W.loop), &poll);
    poll.data = &ready;
    uv_timer_start(&poll, on_poll, 5, 5);
    assert_true(run_until(&ready));
    uv_close((uv_handle_t *)&poll, NULL);
    uv_run(loop_uv(W.loop), UV_RUN_NOWAIT);
}

/* The same program, one after another, with the pool answering the next
 * ordinary evaluation each time. */
static void assert_pool_answers(void)
{
    outcome o = eval(".variables.age + 1", "{\"variables\": {\"age\": 41}}", NULL);
    assert_outputs(&o, "[42]");
}

static const expr_opts test_opts = {
    .workers = 2,
    .timeout_ms = 200, /* the default deadline, as shipped */
    .compile_timeout_ms = LONG_MS,
    /* Small, so that [range(1e9)] runs out within a second or two. */
    .memory_mb = 128,
    .queue = 64,
    .queue_timeout_ms = 60000,
    .max_outputs = 100,
    .max_output_kb = 1024,
    .cache_entries = 64,
};

static int setup(void **state)
{
    (void)state;
    snprintf(W.dir, sizeof(W.dir), "/tmp/ah-test-expr-XXXXXX");
    if (!mkdtemp(W.dir)) return -1;
    char logs[700], err[600];
    snprintf(logs, sizeof(logs), "%s/logs", W.dir);
    log_opts lo = {.dir = logs, .to_stderr = false, .min_level = LOG_INFO};
    if (log_init(&lo) < 0 || loop_new(&W.loop) < 0) return -1;
    supervisor_opts so = {.runner = TH_BUILD_DIR "/agenthost-runner", .shutdown_grace_ms = 500};
    if (supervisor_new(&W.sup, W.loop, NULL, NULL, &so) != 0) return -1;
    if (manifest_load(TH_BUILD_DIR "/plugins/jq/manifest.json", true, &W.m, err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    if (expr_pool_attach(&W.pool, W.loop, W.sup, W.m, &test_opts) != 0) return -1;
    supervisor_start_all(W.sup);
    wait_all_ready();
    return 0;
}

static void on_stopped(void *ud)
{
    *(bool *)ud = true;
}

static int teardown(void **state)
{
    (void)state;
    bool stopped = false;
    supervisor_stop_all(W.sup, on_stopped, &stopped);
    run_until(&stopped);
    supervisor_free(W.sup);
    expr_pool_detach(W.pool);
    manifest_free(W.m);
    loop_free(W.loop);
    log_shutdown();
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", W.dir);
    if (!getenv("TH_KEEP") && system(cmd) != 0) return -1;
    return stopped ? 0 : -1;
}

#define CONTEXT                                                                                    \
    "{\"conversation\": \"c-1\", \"variables\": {\"age\": 34, \"plan\": \"pro\"},"                 \
    " \"contact\": {\"name\": \"Ann Lee\", \"email\": \"ann@example.com\","                        \
    " \"phone\": \"+44 20 7946 0018\"},"                                                           \
    " \"items\": [{\"id\": 1, \"qty\": 2}, {\"id\": 2, \"qty\": 0}, {\"id\": 3, \"qty\": 5}]}"

static void test_conditions_and_mappings_evaluate_on_a_conversation_context(void **state)
{
    (void)state;
    outcome o = eval(".variables.age >= 18", CONTEXT, NULL);
    assert_outputs(&o, "[true]");
    o = eval("{name: .contact.name | ascii_upcase}", CONTEXT, NULL);
    assert_outputs(&o, "[{\"name\": \"ANN LEE\"}]");
    o = eval(".variables.age >= $min and .variables.plan == $plan", CONTEXT,
             "{\"min\": 40, \"plan\": \"pro\"}");
    assert_outputs(&o, "[false]");
    /* The same program, other values: variables are read at run time. */
    o = eval(".variables.age >= $min and .variables.plan == $plan", CONTEXT,
             "{\"min\": 21, \"plan\": \"pro\"}");
    assert_outputs(&o, "[true]");
    o = eval(".items[] | select(.qty > 0) | .id", CONTEXT, NULL);
    assert_outputs(&o, "[1, 3]");
    o = eval("empty", CONTEXT, NULL);
    assert_outputs(&o, "[]");
    o = eval("{total: ([.items[].qty] | add), first: .items[0].id, who: $who}", CONTEXT,
             "{\"who\": {\"id\": 7}}");
    assert_outputs(&o, "[{\"total\": 7, \"first\": 1, \"who\": {\"id\": 7}}]");
    o = eval("[1.5, 1e300, nan, infinite, -0, 9007199254740993] | .[]", "null", NULL);
    assert_outputs(&o, "[1.5, 1e300, null, 1.7976931348623157e308, 0, 9007199254740992.0]");
    o = eval("error(\"no plan for \\(.contact.name)\")", CONTEXT, NULL);
    assert_error(&o, "runtime", "no plan for Ann Lee");
    o = eval(".variables.age | ascii_downcase", CONTEXT, NULL);
    assert_error(&o, "runtime", "must be a string");
    o = eval("\"stop\" | halt_error", CONTEXT, NULL);
    assert_error(&o, "runtime", "halt_error: stop");
    /* A program that halted runs again, halting or not (jq 1.6 cannot
     * restart a halted state: the worker compiles it afresh). */
    static const char *const runs[] = {"\"stop\"", "\"go\"", "\"go\"", "\"stop\"", "\"go\""};
    for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
        o = eval("if . == \"stop\" then \"bye\" | halt_error else . end", runs[i], NULL);
        if (runs[i][1] == 's')
            assert_error(&o, "runtime", "halt_error: bye");
        else
            assert_outputs(&o, "[\"go\"]");
    }
    for (int i = 0; i < 2; i++) {
        o = eval("1, halt, 2", "null", NULL);
        assert_outputs(&o, "[1]");
    }
}

static void test_regex_time_and_locale_work_inside_the_real_sandbox(void **state)
{
    (void)state;
    /* The workers are confined: the proof below is made in the sandbox. */
    json_t *st = instance_status(supervisor_find(W.sup, "jq-1"));
    json_t *conf = json_object_get(st, "confinement");
    assert_true(json_is_true(json_object_get(conf, "sandbox")));
    assert_int_equal(json_integer_value(json_object_get(conf, "seccomp_filters")), 2);
    json_decref(st);

    outcome o = eval(".contact.email | test(\"^[^@]+@example\\\\.com$\")", CONTEXT, NULL);
    assert_outputs(&o, "[true]");
    o = eval("[.contact.phone | match(\"\\\\d+\"; \"g\") | .string]", CONTEXT, NULL);
    assert_outputs(&o, "[[\"44\", \"20\", \"7946\", \"0018\"]]");
    o = eval(".contact.name | capture(\"(?<first>\\\\w+) (?<last>\\\\w+)\")", CONTEXT, NULL);
    assert_outputs(&o, "[{\"first\": \"Ann\", \"last\": \"Lee\"}]");
    o = eval(".contact.name | sub(\"Ann\"; \"Anna\"), gsub(\"[aeiou]\"; \"_\"; \"i\")", CONTEXT,
             NULL);
    assert_outputs(&o, "[\"Anna Lee\", \"_nn L__\"]");
    o = eval("[.contact.phone | splits(\" +\")] | length", CONTEXT, NULL);
    assert_outputs(&o, "[4]");
    o = eval("\"Ёлка\" | test(\"ёлка\"; \"i\"), ascii_downcase", "null", NULL);
    assert_outputs(&o, "[true, \"Ёлка\"]");
    o = eval("\"x\" | test(\"(\")", "null", NULL); /* oniguruma's own error */
    assert_error(&o, "runtime", "Regex failure");
    o = eval("0 | todate, (gmtime | mktime), (\"2026-11-24T09:00:00Z\" | fromdate), "
             "(86400 | strftime(\"%A %d %B %Y\")), (0 | localtime | mktime | type), "
             "(now | type)",
             "null", NULL);
    assert_outputs(&o, "[\"1970-01-01T00:00:00Z\", 0, 1795510800, \"Friday 02 January 1970\","
                       " \"number\", \"number\"]");
}

static void test_builtins_that_reach_outside_fail_cleanly_without_a_violation(void **state)
{
    (void)state;
    json_int_t restarts = status_int("jq-1", "restarts") + status_int("jq-2", "restarts");
    outcome o = eval("\"mod\" | modulemeta", "null", NULL);
    assert_error(&o, "runtime", "modules");
    o = eval("input", "null", NULL);
    assert_error(&o, "runtime", "No more inputs");
    o = eval("[inputs]", "null", NULL);
    assert_outputs(&o, "[[]]");
    o = eval("\"to the log\" | stderr, debug | ascii_upcase", "null", NULL);
    assert_outputs(&o, "[\"TO THE LOG\", \"TO THE LOG\"]");
    o = eval("$ENV | has(\"HOME\")", "null", NULL);
    assert_outputs(&o, "[false]");
    o = eval("import \"a\" as a; .", "null", NULL);
    assert_error(&o, "compile", "unexpected import");
    o = eval("include \"a\"; .", "null", NULL);
    assert_error(&o, "compile", "unexpected include");
    /* None of them cost a worker, and the sandbox saw nothing forbidden. */
    assert_int_equal(status_int("jq-1", "restarts") + status_int("jq-2", "restarts"), restarts);
    char path[700];
    snprintf(path, sizeof(path), "%s/logs/security.log", W.dir);
    FILE *f = fopen(path, "r");
    if (f) {
        char line[4096];
        while (fgets(line, sizeof(line), f))
            assert_null(strstr(line, "seccomp_violation"));
        fclose(f);
    }
    snprintf(path, sizeof(path), "%s/logs/plugins/jq-1.log", W.dir);
    f = fopen(path, "r");
    if (f) {
        char line[4096];
        while (fgets(line, sizeof(line), f))
            assert_null(strstr(line, "to the log"));
        fclose(f);
    }
}

static void test_compile_errors_are_reported_with_jqs_message_and_line(void **state)
{
    (void)state;
    outcome o = {.done = false};
    char err[300];
    assert_int_equal(expr_check(W.pool, ".a |||", NULL, on_result, &o, err, sizeof(err)), 0);
    assert_true(run_until(&o.done));
    assert_error(&o, "compile", "syntax error, unexpected '|'");
    assert_non_null(strstr(o.message, "at <top-level>, line 1:\n.a |||"));

    o = (outcome){.done = false};
    assert_int_equal(
        expr_check(W.pool, "def f: 1;\n\n.a | foo(1)", NULL, on_result, &o, err, sizeof(err)), 0);
    assert_true(run_until(&o.done));
    assert_error(&o, "compile", "foo/1 is not defined at <top-level>, line 3:\n.a | foo(1)");

    json_t *names = json_pack("[s]", "min");
    o = (outcome){.done = false};
    assert_int_equal(
        expr_check(W.pool, ".variables.age >= $min", names, on_result, &o, err, sizeof(err)), 0);
    assert_true(run_until(&o.done));
    assert_outputs(&o, "[]");
    o = (outcome){.done = false};
    assert_int_equal(
        expr_check(W.pool, ".variables.age >= $max", names, on_result, &o, err, sizeof(err)), 0);
    assert_true(run_until(&o.done));
    assert_error(&o, "compile", "$max is not defined");
    json_decref(names);

    o = eval("{name: .contact.name", CONTEXT, NULL);
    assert_error(&o, "compile", "syntax error");
    o = eval(".a | $undefined", CONTEXT, NULL);
    assert_error(&o, "compile", "$undefined is not defined");
}

static void test_arguments_the_pool_cannot_use_are_refused_at_once(void **state)
{
    (void)state;
    outcome o = {.done = false};
    char err[300];
    json_t *vars = json_pack("{s:i}", "__ah_in", 1);
    assert_int_equal(expr_eval(W.pool, "  \n", NULL, NULL, NULL, on_result, &o, err, sizeof(err)),
                     AH_EINVAL);
    assert_int_equal(
        expr_eval(W.pool, "$__ah_in", NULL, vars, NULL, on_result, &o, err, sizeof(err)),
        AH_EINVAL);
    json_decref(vars);
    static const char *const bad[] = {"if", "a-b", "1a", "", "reduce"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        vars = json_pack("{s:i}", bad[i], 1);
        assert_int_equal(expr_eval(W.pool, ".", NULL, vars, NULL, on_result, &o, err, sizeof(err)),
                         AH_EINVAL);
        json_decref(vars);
    }
    json_t *arr = json_pack("[i]", 1);
    assert_int_equal(expr_eval(W.pool, ".", NULL, arr, NULL, on_result, &o, err, sizeof(err)),
                     AH_EINVAL);
    json_decref(arr);
    char *big = malloc(EXPR_MAX_PROGRAM_BYTES + 2);
    memset(big, '.', EXPR_MAX_PROGRAM_BYTES + 1);
    big[EXPR_MAX_PROGRAM_BYTES + 1] = 0;
    assert_int_equal(expr_eval(W.pool, big, NULL, NULL, NULL, on_result, &o, err, sizeof(err)),
                     AH_EINVAL);
    free(big);
    /* An input past the 16 MiB message. */
    json_t *huge = json_object();
    char *s = malloc(17u << 20);
    memset(s, 'x', (17u << 20) - 1);
    s[(17u << 20) - 1] = 0;
    json_object_set_new(huge, "text", json_string(s));
    free(s);
    assert_int_equal(
        expr_eval(W.pool, ".text | length", huge, NULL, NULL, on_result, &o, err, sizeof(err)),
        AH_ETOOBIG);
    json_decref(huge);
    assert_false(o.done);
}

static void test_a_runaway_expression_is_cut_at_its_deadline_and_never_quarantines(void **state)
{
    (void)state;
    /* More than restart.max_crashes (5) times on each worker. */
    for (int i = 0; i < 12; i++) {
        outcome o = eval_with("until(false; .)", "null", NULL, 0, 0); /* the 200 ms default */
        assert_error(&o, "timeout", "ran past its 200 ms deadline");
        assert_pool_answers();
    }
    wait_all_ready();
    assert_int_equal(status_int("jq-1", "crashes") + status_int("jq-2", "crashes"), 0);
    assert_true(status_int("jq-1", "restarts") + status_int("jq-2", "restarts") >= 12);
    outcome o = eval_with("last(range(1e12))", "null", NULL, 300, 0);
    assert_error(&o, "timeout", "300 ms deadline");
    assert_pool_answers();
}

/* Send sig to a process and its descendants (a confined worker is three
 * processes; the jq one is the deepest). */
static void signal_tree(long pid, int sig)
{
    char path[96];
    snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", pid, pid);
    FILE *f = fopen(path, "r");
    long child;
    while (f && fscanf(f, "%ld", &child) == 1)
        signal_tree(child, sig);
    if (f) fclose(f);
    kill((pid_t)pid, sig);
}

static void on_continue(uv_timer_t *t)
{
    for (int i = 1; i <= 2; i++) {
        char id[8];
        snprintf(id, sizeof(id), "jq-%d", i);
        signal_tree((long)status_int(id, "pid"), SIGCONT);
    }
    (void)t;
}

/* A machine too busy to give the worker a core for longer than the
 * deadline (here: the workers stopped for 800 ms around a 200 ms call)
 * does not cut a quick expression: the deadline is CPU the worker spends.
 * With a wall-clock deadline this call fails as "timeout". */
static void test_a_worker_kept_from_running_past_the_deadline_is_not_cut(void **state)
{
    (void)state;
    wait_all_ready();
    json_int_t restarts = status_int("jq-1", "restarts") + status_int("jq-2", "restarts");
    for (int i = 1; i <= 2; i++) {
        char id[8];
        snprintf(id, sizeof(id), "jq-%d", i);
        assert_true(status_int(id, "pid") > 0);
        signal_tree((long)status_int(id, "pid"), SIGSTOP);
    }
    uv_timer_t cont;
    uv_timer_init(loop_uv(W.loop), &cont);
    uv_timer_start(&cont, on_continue, 800, 0);
    outcome o = eval_with(".a + 1", "{\"a\": 1}", NULL, 200, 0);
    uv_close((uv_handle_t *)&cont, NULL);
    uv_run(loop_uv(W.loop), UV_RUN_NOWAIT);
    assert_outputs(&o, "[2]");
    assert_int_equal(status_int("jq-1", "restarts") + status_int("jq-2", "restarts"), restarts);
}

static void test_memory_exhaustion_fails_as_memory_and_the_pool_recovers(void **state)
{
    (void)state;
    outcome o = eval_with("[range(1e9)]", "null", NULL, LONG_MS, 0);
    assert_error(&o, "memory", "exhausted its worker's memory (128 MB");
    assert_pool_answers();
    /* Building this output takes about 340 MB: cut before it is an output. */
    o = eval_with("[range(1e7)] | tostring", "null", NULL, LONG_MS, 0);
    assert_error(&o, "memory", NULL);
    assert_pool_answers();
    wait_all_ready();
    assert_int_equal(status_int("jq-1", "crashes") + status_int("jq-2", "crashes"), 0);
}

static void test_deep_recursion_is_cut(void **state)
{
    (void)state;
    /* jq's own stack is on the heap: the recursion runs out of memory. */
    outcome o = eval_with("def f: [f]; f", "null", NULL, LONG_MS, 0);
    assert_error(&o, "memory", NULL);
    assert_pool_answers();
    /* A value nested a million deep overflows libjq's C stack when freed. */
    o = eval_with("reduce range(1000000) as $i (null; [.]) | 1", "null", NULL, LONG_MS, 0);
    assert_error(&o, "crashed", "signal 11");
    assert_pool_answers();
    /* Nested deeper than the outputs may be: refused, not sent. */
    o = eval("reduce range(600) as $i (0; [.])", "null", NULL);
    assert_error(&o, "output", "nested deeper than 512");
    o = eval("reduce range(500) as $i (0; [.]) | flatten", "null", NULL);
    assert_outputs(&o, "[[0]]");
    wait_all_ready();
    assert_int_equal(status_int("jq-1", "crashes") + status_int("jq-2", "crashes"), 0);
}

static void test_huge_output_is_refused_by_the_output_bound(void **state)
{
    (void)state;
    outcome o = eval_with("[range(1e6)] | tostring", "null", NULL, LONG_MS, 0); /* 6.9 MB */
    assert_error(&o, "output", "exceed max_output_bytes (1048576 bytes)");
    o = eval("[range(200000)]", "null", NULL);
    assert_error(&o, "output", "max_output_bytes");
    o = eval_with("range(1000)", "null", NULL, LONG_MS, 10);
    assert_error(&o, "output", "more than 10 outputs");
    o = eval("range(101)", "null", NULL); /* expressions.max_outputs, 100 */
    assert_error(&o, "output", "more than 100 outputs");
    o = eval("range(100)", "null", NULL);
    assert_int_equal(json_array_size(o.outputs), 100);
    json_decref(o.outputs);
    /* Just under the bound passes: 1 MiB less the brackets and quotes. */
    o = eval("\"x\" * (1048576 - 4)", "null", NULL);
    assert_string_equal(o.error, "");
    assert_int_equal(json_string_length(json_array_get(o.outputs, 0)), 1048576 - 4);
    json_decref(o.outputs);
    o = eval("\"x\" * (1048576 - 3)", "null", NULL);
    assert_error(&o, "output", NULL);
    assert_pool_answers();
}

/* Many at once: two workers, one call each, the rest queued and served. */
static void test_calls_beyond_the_workers_wait_in_the_queue_and_are_all_answered(void **state)
{
    (void)state;
    enum { N = 40 };
    outcome o[N];
    char err[300], prog[64];
    json_t *in = parse(CONTEXT);
    for (int i = 0; i < N; i++) {
        o[i] = (outcome){.done = false};
        snprintf(prog, sizeof(prog), ".variables.age + %d", i);
        expr_eval_opts eo = {.timeout_ms = LONG_MS};
        assert_int_equal(expr_eval(W.pool, prog, in, NULL, &eo, on_result, &o[i], err, sizeof(err)),
                         0);
    }
    json_decref(in);
    for (int i = 0; i < N; i++) {
        assert_true(run_until(&o[i].done));
        char want[32];
        snprintf(want, sizeof(want), "[%d]", 34 + i);
        assert_outputs(&o[i], want);
    }
    json_t *st = expr_pool_status(W.pool);
    assert_int_equal(json_integer_value(json_object_get(st, "queued")), 0);
    assert_true(json_is_true(json_object_get(st, "ok")));
    json_decref(st);
}

/* A hostile call in flight only takes its own worker down: the others'
 * calls are answered meanwhile. */
static void test_a_hostile_call_takes_down_no_other_call(void **state)
{
    (void)state;
    outcome bad = {.done = false}, good[10];
    char err[300];
    expr_eval_opts eo = {.timeout_ms = 1500};
    assert_int_equal(
        expr_eval(W.pool, "until(false; .)", NULL, NULL, &eo, on_result, &bad, err, sizeof(err)),
        0);
    json_t *in = parse(CONTEXT);
    expr_eval_opts long_eo = {.timeout_ms = LONG_MS};
    for (int i = 0; i < 10; i++) {
        good[i] = (outcome){.done = false};
        assert_int_equal(expr_eval(W.pool, ".contact.name", in, NULL, &long_eo, on_result, &good[i],
                                   err, sizeof(err)),
                         0);
    }
    json_decref(in);
    for (int i = 0; i < 10; i++) {
        assert_true(run_until(&good[i].done));
        assert_outputs(&good[i], "[\"Ann Lee\"]");
    }
    assert_true(run_until(&bad.done));
    assert_error(&bad, "timeout", NULL);
    assert_pool_answers();
}

static void test_a_pool_without_the_plugin_refuses_every_call(void **state)
{
    (void)state;
    expr_pool *none;
    expr_opts eo = test_opts;
    assert_int_equal(expr_pool_attach(&none, W.loop, W.sup, NULL, &eo), 0);
    outcome o = {.done = false};
    char err[300];
    assert_int_equal(expr_eval(none, ".", NULL, NULL, NULL, on_result, &o, err, sizeof(err)),
                     AH_ECLOSED);
    assert_non_null(strstr(err, "no jq worker"));
    json_t *st = expr_pool_status(none);
    assert_int_equal(json_integer_value(json_object_get(st, "workers")), 0);
    assert_true(json_is_true(json_object_get(st, "ok")));
    json_decref(st);
    expr_pool_detach(none);
    assert_false(o.done);
}

static void on_stopped_flag(void *ud)
{
    *(bool *)ud = true;
}

static bool one_ready(void *arg)
{
    return instance_get_state(arg) == INST_READY;
}

static void on_poll_one(uv_timer_t *t)
{
    bool **flag_and_inst = t->data;
    *flag_and_inst[0] = one_ready(flag_and_inst[1]);
}

/* A pool of one worker and a queue of one: the next call is refused at
 * once, and the queued one fails as busy when no worker frees in time. */
static void test_a_full_queue_refuses_and_a_long_wait_fails_as_busy(void **state)
{
    (void)state;
    supervisor *sup;
    expr_pool *pool;
    supervisor_opts so = {.runner = TH_BUILD_DIR "/agenthost-runner", .shutdown_grace_ms = 500};
    assert_int_equal(supervisor_new(&sup, W.loop, NULL, NULL, &so), 0);
    expr_opts o = test_opts;
    o.workers = 1;
    o.queue = 1;
    o.queue_timeout_ms = 300; /* the worker stays busy for 3 s */
    assert_int_equal(expr_pool_attach(&pool, W.loop, sup, W.m, &o), 0);
    supervisor_start_all(sup);
    instance *only = supervisor_find(sup, "jq-1");
    bool ready = one_ready(only);
    void *poll_data[2] = {&ready, only};
    uv_timer_t poll;
    uv_timer_init(loop_uv(W.loop), &poll);
    poll.data = poll_data;
    uv_timer_start(&poll, on_poll_one, 5, 5);
    assert_true(run_until(&ready));
    uv_close((uv_handle_t *)&poll, NULL);

    outcome hostile = {.done = false}, waiting = {.done = false}, refused = {.done = false};
    char err[300];
    expr_eval_opts slow = {.timeout_ms = 3000};
    assert_int_equal(expr_eval(pool, "until(false; .)", NULL, NULL, &slow, on_result, &hostile, err,
                               sizeof(err)),
                     0);
    assert_int_equal(expr_eval(pool, ".", NULL, NULL, NULL, on_result, &waiting, err, sizeof(err)),
                     0);
    assert_int_equal(expr_eval(pool, ".", NULL, NULL, NULL, on_result, &refused, err, sizeof(err)),
                     AH_EBUSY);
    assert_non_null(strstr(err, "expressions.queue"));
    assert_true(run_until(&waiting.done));
    assert_error(&waiting, "busy", "expressions.queue_timeout_ms");
    assert_false(hostile.done);
    assert_true(run_until(&hostile.done));
    assert_error(&hostile, "timeout", "3000 ms");
    assert_false(refused.done);

    bool stopped = false;
    supervisor_stop_all(sup, on_stopped_flag, &stopped);
    assert_true(run_until(&stopped));
    supervisor_free(sup);
    expr_pool_detach(pool);
}

/* Last of the in-process tests: it stops the workers for good. */
static void test_once_the_host_stops_no_call_is_sent_and_queued_ones_fail(void **state)
{
    (void)state;
    wait_all_ready(); /* the test before restarted one */
    outcome busy[2], queued = {.done = false}, later = {.done = false};
    char err[300];
    expr_eval_opts eo = {.timeout_ms = LONG_MS};
    for (int i = 0; i < 2; i++) {
        busy[i] = (outcome){.done = false};
        assert_int_equal(expr_eval(W.pool, i ? "until(false; 1)" : "until(false; .)", NULL, NULL,
                                   &eo, on_result, &busy[i], err, sizeof(err)),
                         0);
    }
    assert_int_equal(expr_eval(W.pool, ".", NULL, NULL, &eo, on_result, &queued, err, sizeof(err)),
                     0);
    json_t *st = expr_pool_status(W.pool);
    assert_int_equal(json_integer_value(json_object_get(st, "queued")), 1);
    json_decref(st);
    bool stopped = false;
    supervisor_stop_all(W.sup, on_stopped_flag, &stopped);
    assert_int_equal(expr_eval(W.pool, ".", NULL, NULL, &eo, on_result, &later, err, sizeof(err)),
                     AH_ECLOSED);
    assert_non_null(strstr(err, "shutting down"));
    assert_true(run_until(&stopped));
    for (int i = 0; i < 2; i++) {
        assert_true(busy[i].done);
        assert_error(&busy[i], "unavailable", "instance_stopped");
    }
    assert_true(queued.done);
    assert_error(&queued, "unavailable", "shutting down");
    assert_false(later.done);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conditions_and_mappings_evaluate_on_a_conversation_context),
        cmocka_unit_test(test_regex_time_and_locale_work_inside_the_real_sandbox),
        cmocka_unit_test(test_builtins_that_reach_outside_fail_cleanly_without_a_violation),
        cmocka_unit_test(test_compile_errors_are_reported_with_jqs_message_and_line),
        cmocka_unit_test(test_arguments_the_pool_cannot_use_are_refused_at_once),
        cmocka_unit_test(test_a_runaway_expression_is_cut_at_its_deadline_and_never_quarantines),
        cmocka_unit_test(test_a_worker_kept_from_running_past_the_deadline_is_not_cut),
        cmocka_unit_test(test_memory_exhaustion_fails_as_memory_and_the_pool_recovers),
        cmocka_unit_test(test_deep_recursion_is_cut),
        cmocka_unit_test(test_huge_output_is_refused_by_the_output_bound),
        cmocka_unit_test(test_calls_beyond_the_workers_wait_in_the_queue_and_are_all_answered),
        cmocka_unit_test(test_a_hostile_call_takes_down_no_other_call),
        cmocka_unit_test(test_a_pool_without_the_plugin_refuses_every_call),
        cmocka_unit_test(test_a_full_queue_refuses_and_a_long_wait_fails_as_busy),
        cmocka_unit_test(test_once_the_host_stops_no_call_is_sent_and_queued_ones_fail),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
