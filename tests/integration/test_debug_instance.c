/*
 * One instance run without its sandbox, for a debugger, through the real
 * binary: `serve --debug-instance ID` is refused (and nothing is started)
 * unless the config sets supervisor.allow_debug_unconfined; allowed, that
 * one instance runs with no seccomp filter of its own (the kernel's count
 * in its /proc status, and a socket() and an open() the filters kill
 * succeed), as the host's uid, logged to security.log and the host log at
 * every start, while the other instance of the same plugin stays confined
 * (the same calls kill it); --debug-wrapper starts it under gdb.
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
#include <unistd.h>

#define BUILT TH_BUILD_DIR "/tests/plugins"
#define TWO_INSTANCES                                                                              \
    "\"instances\": [{\"id\": \"dbg\", \"plugin\": \"sysprobe\"},"                                 \
    " {\"id\": \"conf\", \"plugin\": \"sysprobe\"}]"

#define ALLOWED "\"supervisor\": {\"allow_debug_unconfined\": true}, "

/* A host with sysprobe installed and config, started as `serve ... args`:
 * th_start's result (-1 when it exited, with h->exit_status). */
static int start_with(th_host *h, const char *name, const char *config, const char *const *args)
{
    if (th_init(h, name) || th_install_dir(h, BUILT "/sysprobe", "sysprobe") ||
        th_config(h, config))
        return -2;
    h->serve_args = args;
    return th_start(h, NULL, 30000);
}

/* A field of /proc/<pid>/status (pid 0: this process), or -1. */
static long proc_status(int pid, const char *field)
{
    char path[64], buf[4096], key[48];
    if (pid > 0)
        snprintf(path, sizeof(path), "/proc/%d/status", pid);
    else
        snprintf(path, sizeof(path), "/proc/self/status");
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    snprintf(key, sizeof(key), "\n%s:", field);
    const char *at = strstr(buf, key);
    return at ? strtol(at + strlen(key), NULL, 10) : -1;
}

/* How many times needle occurs in a file under the root. */
static int occurrences(th_host *h, const char *rel, const char *needle)
{
    char *text = th_read(h, rel);
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(text);
    return n;
}

static json_t *status_of(th_host *h, const char *id)
{
    char path[96];
    snprintf(path, sizeof(path), "/api/v1/instances/%s", id);
    json_t *o = NULL;
    if (th_http(h, "GET", path, NULL, NULL, &o) != 200) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static void test_serve_refuses_a_debug_instance_the_config_does_not_allow(void **state)
{
    (void)state;
    th_host h;
    const char *args[] = {"--debug-instance", "dbg", NULL};
    assert_int_equal(start_with(&h, "dbg-refused", "{" TWO_INSTANCES "}", args), -1);
    assert_int_not_equal(h.exit_status, 0);
    assert_true(th_file_contains(&h, "stderr.txt", "supervisor.allow_debug_unconfined") ||
                th_file_contains(&h, "stderr.txt", "allow_debug_unconfined"));
    assert_true(th_file_contains(&h, "logs/security.log", "debug_unconfined_refused"));
    /* Nothing was started: no runner wrote a plugin log. */
    char *log = th_read(&h, "logs/plugins/dbg.log");
    assert_null(log);
    log = th_read(&h, "logs/plugins/conf.log");
    assert_null(log);
    assert_false(th_file_contains(&h, "logs/security.log", "started UNCONFINED"));
    th_cleanup(&h);

    /* Allowed, but no such instance: refused too. */
    const char *nosuch[] = {"--debug-instance", "nosuch", NULL};
    assert_int_equal(start_with(&h, "dbg-nosuch", "{" ALLOWED TWO_INSTANCES "}", nosuch), -1);
    assert_true(th_file_contains(&h, "stderr.txt", "nosuch: no such instance"));
    th_cleanup(&h);
}

static void
test_the_allowed_debug_instance_runs_unconfined_and_logged_the_others_confined(void **state)
{
    (void)state;
    th_host h;
    const char *args[] = {"--debug-instance", "dbg", NULL};
    assert_int_equal(start_with(&h, "dbg-allowed", "{" ALLOWED TWO_INSTANCES "}", args), 0);
    assert_true(th_wait_state(&h, "dbg", "ready", 20000));
    assert_true(th_wait_state(&h, "conf", "ready", 20000));

    /* Loudly: allowed at start, and this start, in both logs. */
    assert_true(th_file_contains(&h, "logs/security.log", "debug_unconfined_allowed"));
    assert_int_equal(occurrences(&h, "logs/security.log", "started UNCONFINED"), 1);
    assert_int_equal(occurrences(&h, "logs/host.log", "started UNCONFINED"), 1);
    assert_true(th_file_contains(&h, "logs/plugins/dbg.log", "RUNNING UNCONFINED"));
    assert_false(th_file_contains(&h, "logs/plugins/conf.log", "RUNNING UNCONFINED"));

    json_t *d = status_of(&h, "dbg"), *c = status_of(&h, "conf");
    assert_non_null(d);
    assert_non_null(c);
    assert_true(json_is_true(th_get(d, "confinement.debug_unconfined")));
    assert_true(json_is_false(th_get(d, "confinement.sandbox")));
    assert_int_equal(json_integer_value(th_get(c, "confinement.seccomp_filters")), 2);
    int dpid = (int)json_integer_value(json_object_get(d, "pid"));
    json_decref(d);
    json_decref(c);

    /* The kernel's view: the debug instance holds no filter beyond what
     * this test (and so the host) runs under. */
    long own = proc_status(0, "Seccomp_filters");
    assert_true(own >= 0);
    assert_int_equal(proc_status(dpid, "Seccomp_filters"), own);

    /* Calls the filters kill succeed there, as the host's uid... */
    json_t *o = NULL;
    assert_int_equal(th_call(&h, "dbg", "probe", "{}", &o), 200);
    assert_true(json_is_true(th_get(o, "result.socket")));
    assert_true(json_is_true(th_get(o, "result.open")));
    assert_int_equal(json_integer_value(th_get(o, "result.seccomp_filters")), own);
    assert_int_equal(json_integer_value(th_get(o, "result.uid")), (json_int_t)geteuid());
    json_decref(o);
    /* ...and kill the confined one, named in security.log. */
    o = NULL;
    assert_int_not_equal(th_call(&h, "conf", "probe", "{}", &o), 200);
    json_decref(o);
    assert_true(th_wait_file(&h, "logs/security.log", "forbidden system call socket", 10000));
    assert_true(th_file_contains(&h, "logs/security.log", "\"instance\":\"conf\""));

    /* Every start is logged. */
    assert_int_equal(th_http(&h, "POST", "/api/v1/instances/dbg/restart", "", NULL, &o), 202);
    json_decref(o);
    for (int i = 0; i < 200 && occurrences(&h, "logs/security.log", "started UNCONFINED") < 2; i++)
        th_sleep_ms(50);
    assert_int_equal(occurrences(&h, "logs/security.log", "started UNCONFINED"), 2);
    assert_int_equal(occurrences(&h, "logs/host.log", "started UNCONFINED"), 2);
    assert_int_equal(th_stop_clean(&h, 15000), 0);
    th_cleanup(&h);
}

static void test_the_debug_instance_runs_under_the_wrapper_given(void **state)
{
    (void)state;
    th_host h;
    const char *args[] = {"--debug-instance", "dbg", "--debug-wrapper",
                          "gdb -q -nx -batch -ex run -ex bt --args", NULL};
    assert_int_equal(start_with(&h, "dbg-gdb",
                                "{" ALLOWED
                                "\"instances\": [{\"id\": \"dbg\", \"plugin\": \"sysprobe\"}]}",
                                args),
                     0);
    assert_true(th_wait_state(&h, "dbg", "ready", 60000));
    assert_true(th_file_contains(&h, "logs/security.log", "under gdb -q -nx -batch"));
    json_t *d = status_of(&h, "dbg");
    assert_non_null(d);
    int pid = (int)json_integer_value(json_object_get(d, "pid"));
    json_decref(d);
    /* The process the host started is the debugger; the plugin answers
     * from below it, unconfined. */
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/comm", pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char comm[32] = "";
    assert_non_null(fgets(comm, sizeof(comm), f));
    fclose(f);
    assert_string_equal(comm, "gdb\n");
    json_t *o = NULL;
    assert_int_equal(th_call(&h, "dbg", "probe", "{}", &o), 200);
    assert_true(json_is_true(th_get(o, "result.socket")));
    assert_int_not_equal(json_integer_value(th_get(o, "result.pid")), pid);
    json_decref(o);
    assert_int_equal(th_stop_clean(&h, 20000), 0);
    th_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serve_refuses_a_debug_instance_the_config_does_not_allow),
        cmocka_unit_test(
            test_the_allowed_debug_instance_runs_unconfined_and_logged_the_others_confined),
        cmocka_unit_test(test_the_debug_instance_runs_under_the_wrapper_given),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
