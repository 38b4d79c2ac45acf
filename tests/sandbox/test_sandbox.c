/*
 * test_sandbox.c - hostile plugins against the real host, each attack made
 * once in the plugin's constructor (before the host has even heard from
 * it) and once in a call (after init, under the second filter). Every case
 * checks that the attack had no effect, that security.log names what was
 * refused, and that a well-behaved neighbour still answers.
 *
 * ctest runs this twice: confined, and with AGENTHOST_TEST_NO_SANDBOX=1,
 * where every case must instead be noticed as a breach (hostile_case.h).
 */
#include "hostile_case.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define SPIN_LIMITS "{\"cpu_s\": 1, \"stall_ms\": 20000}"
#define SHORT_STALL "{\"stall_ms\": 2000}"

#define TRAP(fn, attack, ctor, syscall)                                                            \
    static void fn(void **state)                                                                   \
    {                                                                                              \
        (void)state;                                                                               \
        hc_run(&(hc_case){attack, ctor, HC_TRAP, syscall, false, NULL});                           \
    }
#define CASE(fn, attack, ctor, expect, what, host_defence, limits)                                 \
    static void fn(void **state)                                                                   \
    {                                                                                              \
        (void)state;                                                                               \
        hc_run(&(hc_case){attack, ctor, expect, what, host_defence, limits});                      \
    }

/* Files. Before the plugin is loaded, files may be opened read-only (the
 * loader must): what is not there cannot be read. After init, no open. */
TRAP(test_constructor_opening_a_file_for_writing_traps_openat, "write_file", true, "openat")
TRAP(test_call_opening_a_file_for_writing_traps_openat, "write_file", false, "openat")
CASE(test_constructor_cannot_read_etc_shadow, "read_shadow", true, HC_REFUSED,
     "/etc/shadow:", false, NULL)
TRAP(test_call_reading_etc_shadow_traps_openat, "read_shadow", false, "openat")
CASE(test_constructor_cannot_read_the_hosts_data_directory, "read_data_dir", true, HC_REFUSED,
     "master.key:", false, NULL)
TRAP(test_call_reading_the_hosts_data_directory_traps_openat, "read_data_dir", false, "openat")
CASE(test_constructor_cannot_read_the_hosts_environ, "proc_environ", true, HC_REFUSED,
     "/environ:", false, NULL)
TRAP(test_call_reading_the_hosts_environ_traps_openat, "proc_environ", false, "openat")
CASE(test_constructor_cannot_read_the_hosts_memory, "proc_mem", true, HC_REFUSED, "/maps:", false,
     NULL)
TRAP(test_call_reading_the_hosts_memory_traps_openat, "proc_mem", false, "openat")
CASE(test_constructor_cannot_open_the_hosts_descriptors, "proc_fd", true, HC_REFUSED, "/fd:", false,
     NULL)
TRAP(test_call_opening_the_hosts_descriptors_traps_openat, "proc_fd", false, "openat")

/* Processes, network, kernel. */
TRAP(test_constructor_socket_to_a_local_listener_traps_socket, "connect", true, "socket")
TRAP(test_call_socket_to_a_local_listener_traps_socket, "connect", false, "socket")
TRAP(test_constructor_exec_of_a_shell_traps_execve, "exec_shell", true, "execve")
TRAP(test_call_exec_of_a_shell_traps_execve, "exec_shell", false, "execve")
TRAP(test_constructor_fork_traps_clone, "fork", true, "clone")
TRAP(test_call_fork_traps_clone, "fork", false, "clone")
TRAP(test_constructor_ptrace_of_the_host_traps_ptrace, "ptrace_host", true, "ptrace")
TRAP(test_call_ptrace_of_the_host_traps_ptrace, "ptrace_host", false, "ptrace")
TRAP(test_constructor_kill_of_the_parent_traps_kill, "kill_parent", true, "kill")
TRAP(test_call_kill_of_the_parent_traps_kill, "kill_parent", false, "kill")
TRAP(test_constructor_kill_of_every_process_traps_kill, "kill_all", true, "kill")
TRAP(test_call_kill_of_every_process_traps_kill, "kill_all", false, "kill")
TRAP(test_constructor_mount_traps_mount, "mount", true, "mount")
TRAP(test_call_mount_traps_mount, "mount", false, "mount")
TRAP(test_constructor_loading_a_kernel_module_traps_init_module, "load_module", true, "init_module")
TRAP(test_call_loading_a_kernel_module_traps_init_module, "load_module", false, "init_module")
TRAP(test_constructor_stacking_its_own_filter_traps_seccomp, "own_filter", true, "seccomp")
TRAP(test_call_stacking_its_own_filter_traps_seccomp, "own_filter", false, "seccomp")
TRAP(test_constructor_io_uring_setup_traps, "io_uring", true, "io_uring_setup")
TRAP(test_call_io_uring_setup_traps, "io_uring", false, "io_uring_setup")
TRAP(test_constructor_bpf_traps, "bpf", true, "bpf")
TRAP(test_call_bpf_traps, "bpf", false, "bpf")
TRAP(test_constructor_perf_event_open_traps, "perf_event", true, "perf_event_open")
TRAP(test_call_perf_event_open_traps, "perf_event", false, "perf_event_open")
TRAP(test_constructor_reading_the_hosts_memory_with_process_vm_readv_traps, "process_vm", true,
     "process_vm_readv")
TRAP(test_call_reading_the_hosts_memory_with_process_vm_readv_traps, "process_vm", false,
     "process_vm_readv")
TRAP(test_constructor_keyctl_traps, "keyctl", true, "keyctl")
TRAP(test_call_keyctl_traps, "keyctl", false, "keyctl")
TRAP(test_constructor_userfaultfd_traps, "userfaultfd", true, "userfaultfd")
TRAP(test_call_userfaultfd_traps, "userfaultfd", false, "userfaultfd")

/* Memory and time. Executable mappings are the loader's until lockdown. */
TRAP(test_call_mapping_executable_memory_traps_mmap, "exec_mmap", false, "mmap")
TRAP(test_call_making_memory_executable_traps_mprotect, "exec_mprotect", false, "mprotect")
CASE(test_constructor_cannot_allocate_past_memory_mb, "allocate", true, HC_REFUSED, "refused",
     false, NULL)
CASE(test_call_cannot_allocate_past_memory_mb, "allocate", false, HC_REFUSED, "refused", false,
     NULL)
CASE(test_constructor_spinning_forever_is_killed_at_its_cpu_limit, "spin", true, HC_SIGNALLED,
     "signal 24", false, SPIN_LIMITS)
CASE(test_call_spinning_forever_is_killed_at_its_cpu_limit, "spin", false, HC_SIGNALLED,
     "signal 24", false, SPIN_LIMITS)
CASE(test_constructor_crash_with_sigsegv_leaves_no_core, "crash", true, HC_SIGNALLED, "signal 11",
     false, NULL)
CASE(test_call_crash_with_sigsegv_leaves_no_core, "crash", false, HC_SIGNALLED, "signal 11", false,
     NULL)

/* The violation channel itself. */
TRAP(test_constructor_rearming_sigsys_traps_rt_sigaction, "rearm_sigsys", true, "rt_sigaction")
TRAP(test_call_rearming_sigsys_traps_rt_sigaction, "rearm_sigsys", false, "rt_sigaction")
TRAP(test_constructor_blocking_sigsys_still_ends_in_a_logged_violation, "block_sigsys", true,
     "unknown")
TRAP(test_call_blocking_sigsys_still_ends_in_a_logged_violation, "block_sigsys", false, "unknown")
TRAP(test_constructor_forging_a_report_on_the_violation_pipe_traps_write, "touch_violation_fd",
     true, "write")
TRAP(test_call_looking_for_the_violation_pipe_traps_newfstatat, "touch_violation_fd", false,
     "newfstatat")
CASE(test_constructor_openat2_and_clone3_answer_enosys, "enosys", true, HC_REFUSED,
     "clone3=ENOSYS openat2=ENOSYS", false, NULL)
TRAP(test_call_openat2_traps_after_lockdown, "enosys", false, "openat2")

/* The protocol and the host's deadlines (the host's own defences). */
CASE(test_constructor_never_answering_is_stopped_at_the_handshake_deadline, "never_answer", true,
     HC_STALLED, "handshake", true, SHORT_STALL)
CASE(test_call_never_answered_is_stopped_at_its_deadline, "never_answer", false, HC_STALLED,
     "unanswered", true, NULL)
CASE(test_constructor_garbage_frame_is_a_protocol_violation, "garbage", true, HC_PROTOCOL,
     "protocol violation", true, NULL)
CASE(test_call_garbage_frame_is_a_protocol_violation, "garbage", false, HC_PROTOCOL,
     "protocol violation", true, NULL)
CASE(test_constructor_oversized_frame_is_a_protocol_violation, "oversized", true, HC_PROTOCOL,
     "larger than 64 KiB", true, NULL)
CASE(test_call_oversized_frame_is_a_protocol_violation, "oversized", false, HC_PROTOCOL,
     "larger than 64 KiB", true, NULL)
CASE(test_constructor_frame_carrying_a_descriptor_is_a_protocol_violation, "send_fd", true,
     HC_PROTOCOL, "file descriptor", true, NULL)
CASE(test_call_frame_carrying_a_descriptor_is_a_protocol_violation, "send_fd", false, HC_PROTOCOL,
     "file descriptor", true, NULL)
CASE(test_constructor_exiting_at_once_is_noticed, "exit", true, HC_EXITED, "exited with status 0",
     true, NULL)
CASE(test_call_exiting_at_once_is_noticed, "exit", false, HC_EXITED, "exited with status 3", true,
     NULL)

static int teardown(void **state)
{
    (void)state;
    hc_stop();
    return 0;
}

#define T(fn) cmocka_unit_test_teardown(fn, teardown)

static const struct CMUnitTest hostile[] = {
    T(test_constructor_opening_a_file_for_writing_traps_openat),
    T(test_call_opening_a_file_for_writing_traps_openat),
    T(test_constructor_cannot_read_etc_shadow),
    T(test_call_reading_etc_shadow_traps_openat),
    T(test_constructor_cannot_read_the_hosts_data_directory),
    T(test_call_reading_the_hosts_data_directory_traps_openat),
    T(test_constructor_cannot_read_the_hosts_environ),
    T(test_call_reading_the_hosts_environ_traps_openat),
    T(test_constructor_cannot_read_the_hosts_memory),
    T(test_call_reading_the_hosts_memory_traps_openat),
    T(test_constructor_cannot_open_the_hosts_descriptors),
    T(test_call_opening_the_hosts_descriptors_traps_openat),
    T(test_constructor_socket_to_a_local_listener_traps_socket),
    T(test_call_socket_to_a_local_listener_traps_socket),
    T(test_constructor_exec_of_a_shell_traps_execve),
    T(test_call_exec_of_a_shell_traps_execve),
    T(test_constructor_fork_traps_clone),
    T(test_call_fork_traps_clone),
    T(test_constructor_ptrace_of_the_host_traps_ptrace),
    T(test_call_ptrace_of_the_host_traps_ptrace),
    T(test_constructor_kill_of_the_parent_traps_kill),
    T(test_call_kill_of_the_parent_traps_kill),
    T(test_constructor_kill_of_every_process_traps_kill),
    T(test_call_kill_of_every_process_traps_kill),
    T(test_constructor_mount_traps_mount),
    T(test_call_mount_traps_mount),
    T(test_constructor_loading_a_kernel_module_traps_init_module),
    T(test_call_loading_a_kernel_module_traps_init_module),
    T(test_constructor_stacking_its_own_filter_traps_seccomp),
    T(test_call_stacking_its_own_filter_traps_seccomp),
    T(test_constructor_io_uring_setup_traps),
    T(test_call_io_uring_setup_traps),
    T(test_constructor_bpf_traps),
    T(test_call_bpf_traps),
    T(test_constructor_perf_event_open_traps),
    T(test_call_perf_event_open_traps),
    T(test_constructor_reading_the_hosts_memory_with_process_vm_readv_traps),
    T(test_call_reading_the_hosts_memory_with_process_vm_readv_traps),
    T(test_constructor_keyctl_traps),
    T(test_call_keyctl_traps),
    T(test_constructor_userfaultfd_traps),
    T(test_call_userfaultfd_traps),
    T(test_call_mapping_executable_memory_traps_mmap),
    T(test_call_making_memory_executable_traps_mprotect),
    T(test_constructor_cannot_allocate_past_memory_mb),
    T(test_call_cannot_allocate_past_memory_mb),
    T(test_constructor_spinning_forever_is_killed_at_its_cpu_limit),
    T(test_call_spinning_forever_is_killed_at_its_cpu_limit),
    T(test_constructor_crash_with_sigsegv_leaves_no_core),
    T(test_call_crash_with_sigsegv_leaves_no_core),
    T(test_constructor_rearming_sigsys_traps_rt_sigaction),
    T(test_call_rearming_sigsys_traps_rt_sigaction),
    T(test_constructor_blocking_sigsys_still_ends_in_a_logged_violation),
    T(test_call_blocking_sigsys_still_ends_in_a_logged_violation),
    T(test_constructor_forging_a_report_on_the_violation_pipe_traps_write),
    T(test_call_looking_for_the_violation_pipe_traps_newfstatat),
    T(test_constructor_openat2_and_clone3_answer_enosys),
    T(test_call_openat2_traps_after_lockdown),
    T(test_constructor_never_answering_is_stopped_at_the_handshake_deadline),
    T(test_call_never_answered_is_stopped_at_its_deadline),
    T(test_constructor_garbage_frame_is_a_protocol_violation),
    T(test_call_garbage_frame_is_a_protocol_violation),
    T(test_constructor_oversized_frame_is_a_protocol_violation),
    T(test_call_oversized_frame_is_a_protocol_violation),
    T(test_constructor_frame_carrying_a_descriptor_is_a_protocol_violation),
    T(test_call_frame_carrying_a_descriptor_is_a_protocol_violation),
    T(test_constructor_exiting_at_once_is_noticed),
    T(test_call_exiting_at_once_is_noticed),
};

/* ---- what must keep working under the sandbox (confined mode only) ---------- */

static void test_instance_state_reports_both_filters_and_every_layer(void **state)
{
    (void)state;
    th_host *h = hc_start_idle();
    json_t *o = NULL;
    assert_int_equal(th_http(h, "GET", "/api/v1/instances/hostile", NULL, NULL, &o), 200);
    json_t *c = json_object_get(o, "confinement");
    assert_true(json_is_true(json_object_get(c, "sandbox")));
    assert_int_equal(json_integer_value(json_object_get(c, "seccomp_filters")), 2);
    assert_int_equal(json_integer_value(th_get(c, "rlimits.nproc")), 0);
    assert_int_equal(json_integer_value(th_get(c, "rlimits.as_mb")), 64);
    size_t nfb = json_array_size(json_object_get(c, "fallbacks"));
    if (nfb) {
        char *fb = json_dumps(json_object_get(c, "fallbacks"), JSON_COMPACT);
        fprintf(stderr, "    best-effort fallbacks on this machine: %s\n", fb);
        free(fb);
    }
    if (hc_ci()) {
        assert_int_equal(nfb, 0);
        const char *ns[] = {"user", "pid", "net", "ipc", "mount"};
        for (size_t i = 0; i < 5; i++)
            assert_true(json_is_true(json_object_get(json_object_get(c, "namespaces"), ns[i])));
        assert_true(json_integer_value(json_object_get(c, "landlock")) > 0);
    }
    json_decref(o);
}

static void test_preloaded_iconv_charset_converts_after_lockdown(void **state)
{
    (void)state;
    th_host *h = hc_start_idle();
    json_t *o = NULL;
    assert_int_equal(th_call(h, "hostile", "compat", "{\"what\":\"iconv\"}", &o), 200);
    assert_true(json_is_true(th_get(o, "result.ok")));
    assert_int_equal(json_integer_value(th_get(o, "result.bytes")), 6); /* one byte a letter */
    json_decref(o);
    assert_false(hc_violation_logged(h, "hostile", NULL));
}

static void test_libc_messages_work_after_lockdown(void **state)
{
    (void)state;
    /* strerror's first use looks up a message catalog: done before lockdown. */
    th_host *h = hc_start_idle();
    json_t *o = NULL;
    assert_int_equal(th_call(h, "hostile", "compat", "{\"what\":\"strerror\"}", &o), 200);
    assert_string_equal(json_string_value(th_get(o, "result.text")), "No such file or directory");
    json_decref(o);
    assert_false(hc_violation_logged(h, "hostile", NULL));
}

static void test_abort_in_the_plugin_ends_it_with_sigabrt(void **state)
{
    (void)state;
    /* The plugin process is pid 2 of its namespace, not 1: raise() works. */
    th_host *h = hc_start_idle();
    json_t *o = NULL;
    assert_int_equal(th_call(h, "hostile", "compat", "{\"what\":\"abort\"}", &o), 503);
    assert_non_null(strstr(json_string_value(th_get(o, "error.message")) ?: "", "signal 6"));
    json_decref(o);
    assert_false(hc_violation_logged(h, "hostile", NULL));
}

static void test_instance_memory_counts_the_plugin_process_not_only_the_runner(void **state)
{
    (void)state;
    /* The host's pid is the runner's (a relay); the plugin is its grandchild. */
    th_host *h = hc_start_idle();
    json_t *o = NULL;
    assert_int_equal(th_call(h, "hostile", "compat", "{\"what\":\"hold\"}", &o), 200);
    assert_true(json_is_true(th_get(o, "result.held")));
    json_decref(o);
    /* The host measures memory every 2 s: wait for a measurement. */
    json_int_t rss = 0;
    for (long long end = th_now_ms() + 10000; rss < (24 << 20) && th_now_ms() < end;) {
        assert_int_equal(th_http(h, "GET", "/api/v1/instances/hostile", NULL, NULL, &o), 200);
        rss = json_integer_value(json_object_get(o, "rss_bytes"));
        json_decref(o);
        if (rss < (24 << 20)) th_sleep_ms(100);
    }
    assert_true(rss >= (24 << 20));
}

#ifdef AH_SANITIZE
static void test_undefined_behaviour_is_reported_by_ubsan_not_as_a_violation(void **state)
{
    (void)state;
    th_host *h = hc_start_idle();
    json_t *o = NULL;
    assert_int_equal(th_call(h, "hostile", "compat", "{\"what\":\"ub\"}", &o), 503);
    json_decref(o);
    assert_true(th_wait_file(h, "logs/plugins/hostile.log", "signed integer overflow", 5000));
    assert_false(hc_violation_logged(h, "hostile", NULL));
}
#endif

/* ---- a layer missing: best effort is reported, mandatory fails closed ------- */

static json_t *confinement_of(th_host *h, const char *id)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/instances/%s", id);
    json_t *o = NULL;
    assert_int_equal(th_http(h, "GET", path, NULL, NULL, &o), 200);
    json_t *c = json_incref(json_object_get(o, "confinement"));
    json_decref(o);
    return c;
}

static bool fallback_mentions(json_t *c, const char *what)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(c, "fallbacks"), i, f)
    {
        if (strstr(json_string_value(f) ?: "", what)) return true;
    }
    return false;
}

static void test_without_user_namespaces_the_rest_still_confines_and_says_so(void **state)
{
    (void)state;
    th_host *h = hc_start_with_runner("runner-without-userns", "read_shadow", true);
    assert_true(th_wait_state(h, "hostile", "ready", 10000));
    json_t *c = confinement_of(h, "hostile");
    json_t *ns = json_object_get(c, "namespaces");
    const char *names[] = {"user", "pid", "net", "ipc", "mount"};
    for (size_t i = 0; i < 5; i++)
        assert_true(json_is_false(json_object_get(ns, names[i])));
    assert_true(fallback_mentions(c, "user and pid namespaces"));
    /* As the kernel counts them: deny_runner's own filter and the two. */
    assert_int_equal(json_integer_value(json_object_get(c, "seccomp_filters")), 3);
    assert_true(json_integer_value(json_object_get(c, "landlock")) > 0);
    if (geteuid() == 0) assert_true(json_is_true(json_object_get(c, "uid_drop")));
    json_decref(c);
    /* /etc/shadow is there to see without a mount namespace: the
     * unprivileged uid and Landlock still refuse it. */
    assert_true(
        th_wait_file(h, "logs/plugins/hostile.log", "HOSTILE read_shadow done: breach=0", 5000));
    assert_false(th_logs_contain(h, "BREACH"));
}

static void test_without_landlock_it_is_reported_as_a_fallback(void **state)
{
    (void)state;
    th_host *h = hc_start_with_runner("runner-without-landlock", "none", true);
    assert_true(th_wait_state(h, "hostile", "ready", 10000));
    json_t *c = confinement_of(h, "hostile");
    assert_int_equal(json_integer_value(json_object_get(c, "landlock")), 0);
    assert_true(fallback_mentions(c, "landlock"));
    assert_int_equal(json_integer_value(json_object_get(c, "seccomp_filters")), 3);
    json_decref(c);
}

/* A runner that cannot complete a mandatory step never loads the plugin. */
static void assert_fails_closed(const char *runner)
{
    th_host *h = hc_start_with_runner(runner, "write_file", true);
    assert_true(th_wait_file(h, "logs/plugins/hostile.log", "sandbox:", 10000));
    long long deadline = th_now_ms() + 10000;
    while (th_now_ms() < deadline && !strcmp(th_state(h, "hostile"), "starting"))
        th_sleep_ms(50);
    assert_string_not_equal(th_state(h, "hostile"), "ready");
    assert_false(th_file_contains(h, "logs/plugins/hostile.log", "confinement before loading"));
    assert_false(th_file_contains(h, "logs/plugins/hostile.log", "HOSTILE"));
    char *written = th_read(h, "breach/written");
    assert_null(written);
}

static void test_a_runner_that_cannot_load_seccomp_refuses_to_start(void **state)
{
    (void)state;
    assert_fails_closed("runner-without-seccomp");
}

/* A runner whose seccomp loads answer 0 and install nothing (as a
 * constructor that patched it, or stacked a filter of its own, would
 * leave it): it reports two filters; the host counts them in /proc,
 * refuses the instance before sending it anything, and says why. */
static void test_filters_missing_despite_the_runners_report_are_caught_by_the_host(void **state)
{
    (void)state;
    th_host *h = hc_start_with_runner("runner-with-silenced-seccomp", "none", true);
    assert_true(th_wait_file(h, "logs/security.log", "seccomp_missing", 10000));
    assert_true(th_file_contains(h, "logs/security.log", "of its 2 seccomp filters"));
    assert_string_not_equal(th_state(h, "hostile"), "ready");
    /* Refused at the handshake: no config or secret was sent. */
    assert_false(th_file_contains(h, "logs/plugins/hostile.log", "HOSTILE init"));
}

static void test_a_runner_that_cannot_close_inherited_descriptors_refuses_to_start(void **state)
{
    (void)state;
    assert_fails_closed("runner-without-close-range");
}

static void test_a_runner_that_cannot_set_resource_limits_refuses_to_start(void **state)
{
    (void)state;
    assert_fails_closed("runner-without-rlimits");
}

static void test_a_runner_that_cannot_set_no_new_privs_refuses_to_start(void **state)
{
    (void)state;
    assert_fails_closed("runner-without-no-new-privs");
}

static void test_a_runner_that_cannot_drop_capabilities_refuses_to_start(void **state)
{
    (void)state;
    if (geteuid() != 0) skip(); /* an unprivileged runner has no capabilities to drop */
    assert_fails_closed("runner-without-capset");
}

static void test_a_runner_that_cannot_drop_root_refuses_to_start(void **state)
{
    (void)state;
    if (geteuid() != 0) skip(); /* not started as root: there is no root to drop */
    assert_fails_closed("runner-without-setuid");
}

static const struct CMUnitTest compat[] = {
    T(test_instance_state_reports_both_filters_and_every_layer),
    T(test_preloaded_iconv_charset_converts_after_lockdown),
    T(test_libc_messages_work_after_lockdown),
    T(test_abort_in_the_plugin_ends_it_with_sigabrt),
    T(test_instance_memory_counts_the_plugin_process_not_only_the_runner),
    T(test_without_user_namespaces_the_rest_still_confines_and_says_so),
    T(test_without_landlock_it_is_reported_as_a_fallback),
    T(test_a_runner_that_cannot_load_seccomp_refuses_to_start),
    T(test_a_runner_that_cannot_drop_root_refuses_to_start),
    T(test_a_runner_that_cannot_close_inherited_descriptors_refuses_to_start),
    T(test_a_runner_that_cannot_set_resource_limits_refuses_to_start),
    T(test_a_runner_that_cannot_set_no_new_privs_refuses_to_start),
    T(test_a_runner_that_cannot_drop_capabilities_refuses_to_start),
    T(test_filters_missing_despite_the_runners_report_are_caught_by_the_host),
#ifdef AH_SANITIZE
    T(test_undefined_behaviour_is_reported_by_ubsan_not_as_a_violation),
#endif
};

int main(void)
{
    hc_global_setup();
    /* Run some cases only: TEST_FILTER='test_call_*' (cmocka's pattern). */
    if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
    int failed = cmocka_run_group_tests_name(
        hc_unconfined() ? "hostile plugins, sandbox off: each must be noticed"
                        : "hostile plugins, confined",
        hostile, NULL, NULL);
    if (!hc_unconfined())
        failed += cmocka_run_group_tests_name("what keeps working confined", compat, NULL, NULL);
    return failed ? 1 : 0;
}
