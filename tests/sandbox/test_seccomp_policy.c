/*
 * test_seccomp_policy.c - the seccomp policies (sandbox/policy.c) as libseccomp's
 * PFC text, compared with the reviewed files in tests/sandbox/golden/
 * <arch>/: any change to a policy shows up as a diff of those files.
 * AH_UPDATE_GOLDEN=1 rewrites them instead of comparing. And, whatever the
 * golden files say, no policy may allow what the issue forbids.
 */
#include "../../sandbox/policy.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

/* Fixed inputs, so the text is the same on every run. */
static policy_params params(void)
{
    policy_params p = {.own_pid = 2,
                       .ipc_fd = 3,
                       .violation_fd = 63,
                       .cookie = 0x0123456789abcdefULL,
                       .held_fds = {0, 1, 2, 3},
                       .n_held = 4,
                       .status_fd = 5,
                       .second_filter = 0x7f0000001000ULL};
    return p;
}

static const char *arch_dir(void)
{
    switch (seccomp_arch_native()) {
    case SCMP_ARCH_X86_64:
        return "x86_64";
    case SCMP_ARCH_AARCH64:
        return "aarch64";
    default:
        return "other";
    }
}

static char *export_pfc(scmp_filter_ctx f)
{
    int fd = memfd_create("pfc", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(seccomp_export_pfc(f, fd), 0);
    off_t n = lseek(fd, 0, SEEK_END);
    char *text = calloc(1, (size_t)n + 1);
    assert_non_null(text);
    assert_int_equal(pread(fd, text, (size_t)n, 0), n);
    close(fd);
    return text;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *t = calloc(1, (size_t)n + 1);
    if (t && fread(t, 1, (size_t)n, f) != (size_t)n) {
        free(t);
        t = NULL;
    }
    fclose(f);
    return t;
}

static void compare_with_golden(const char *name, scmp_filter_ctx f)
{
    assert_non_null(f);
    char *text = export_pfc(f);
    seccomp_release(f);
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s/%s.pfc", GOLDEN_DIR, arch_dir(), name);
    const char *update = getenv("AH_UPDATE_GOLDEN");
    if (update && !strcmp(update, "1")) {
        FILE *out = fopen(path, "w");
        assert_non_null(out);
        fputs(text, out);
        fclose(out);
        fprintf(stderr, "    wrote %s\n", path);
        free(text);
        return;
    }
    char *want = read_file(path);
    if (!want)
        fail_msg("%s is missing: run this test with AH_UPDATE_GOLDEN=1 and review the file", path);
    if (strcmp(text, want) != 0) {
        char got[1100];
        snprintf(got, sizeof(got), "%s.new", path);
        FILE *out = fopen(got, "w");
        if (out) {
            fputs(text, out);
            fclose(out);
        }
        fail_msg("the %s policy differs from %s; see `diff %s %s`, and if the change is meant, "
                 "rerun with AH_UPDATE_GOLDEN=1 and have the diff reviewed",
                 name, path, path, got);
    }
    free(want);
    free(text);
}

static void test_preload_filter_matches_its_golden_file(void **state)
{
    (void)state;
    policy_params p = params();
    compare_with_golden("preload", policy_preload(&p));
}

static void test_postload_filter_matches_its_golden_file(void **state)
{
    (void)state;
    policy_params p = params();
    compare_with_golden("postload", policy_postload(&p));
}

static void test_postload_filter_of_sanitizer_builds_matches_its_golden_file(void **state)
{
    (void)state;
    policy_params p = params();
    p.sanitizer_runtime = true;
    compare_with_golden("postload-sanitizer", policy_postload(&p));
}

static void test_filters_with_private_storage_match_their_golden_files(void **state)
{
    (void)state;
    policy_params p = params();
    p.private_storage = true;
    compare_with_golden("postload-storage", policy_postload(&p));
    /* Filters stack: the first allows what the second does. */
    compare_with_golden("preload-storage", policy_preload(&p));
}

static void test_relay_filter_matches_its_golden_file(void **state)
{
    (void)state;
    policy_params p = params();
    compare_with_golden("relay", policy_relay(&p));
}

/* PFC names every syscall a rule mentions, as `"name"`. */
static bool mentions(const char *pfc, const char *syscall)
{
    char quoted[64];
    snprintf(quoted, sizeof(quoted), "\"%s\"", syscall);
    return strstr(pfc, quoted) != NULL;
}

static const char *const never_allowed[] = {
    "socket",
    "socketpair",
    "connect",
    "bind",
    "listen",
    "accept",
    "accept4",
    "execve",
    "execveat",
    "fork",
    "vfork",
    "ptrace",
    "mount",
    "umount2",
    "fsopen",
    "fsmount",
    "move_mount",
    "open_tree",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "init_module",
    "finit_module",
    "delete_module",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "userfaultfd",
    "bpf",
    "perf_event_open",
    "process_vm_readv",
    "process_vm_writev",
    "keyctl",
    "add_key",
    "request_key",
    "kexec_load",
    "kexec_file_load",
    "open_by_handle_at",
    "name_to_handle_at",
    "pidfd_open",
    "pidfd_getfd",
    "memfd_create",
    "mknod",
    "mknodat",
    "setuid",
    "setresuid",
    "capset",
    "sigaltstack",
    "close_range",
    "creat",
    "unlink",
    "unlinkat",
    "rename",
    "renameat2",
    "mkdir",
    "mkdirat",
    "chmod",
    "fchmodat",
    "truncate",
};

static void assert_forbids_all(const char *name, scmp_filter_ctx f)
{
    assert_non_null(f);
    char *pfc = export_pfc(f);
    seccomp_release(f);
    for (size_t i = 0; i < sizeof(never_allowed) / sizeof(never_allowed[0]); i++)
        if (mentions(pfc, never_allowed[i]))
            fail_msg("the %s policy has a rule for %s", name, never_allowed[i]);
    free(pfc);
}

static void test_no_policy_has_a_rule_for_a_forbidden_syscall(void **state)
{
    (void)state;
    policy_params p = params();
    assert_forbids_all("preload", policy_preload(&p));
    assert_forbids_all("postload", policy_postload(&p));
    assert_forbids_all("relay", policy_relay(&p));
}

/* What private storage opens (docs/adr/0051-plugin-private-storage.md). */
static const char *const storage_calls[] = {
    "openat", "pwrite64", "fsync",  "fdatasync", "ftruncate", "fallocate", "flock",
    "rename", "renameat", "unlink", "unlinkat",  "mkdir",     "mkdirat",   "rmdir"};

static bool is_storage_call(const char *name)
{
    for (size_t i = 0; i < sizeof(storage_calls) / sizeof(storage_calls[0]); i++)
        if (!strcmp(storage_calls[i], name)) return true;
    return false;
}

static void test_only_private_storage_opens_the_file_writing_calls(void **state)
{
    (void)state;
    policy_params p = params();
    scmp_filter_ctx f = policy_postload(&p);
    assert_non_null(f);
    char *pfc = export_pfc(f);
    seccomp_release(f);
    for (size_t i = 0; i < sizeof(storage_calls) / sizeof(storage_calls[0]); i++)
        if (mentions(pfc, storage_calls[i]))
            fail_msg("postload without storage has a rule for %s", storage_calls[i]);
    free(pfc);
    p.private_storage = true;
    f = policy_postload(&p);
    assert_non_null(f);
    pfc = export_pfc(f);
    seccomp_release(f);
    for (size_t i = 0; i < sizeof(storage_calls) / sizeof(storage_calls[0]); i++)
        if (!mentions(pfc, storage_calls[i]))
            fail_msg("postload with storage has no rule for %s", storage_calls[i]);
    /* Everything else the issue forbids stays forbidden. */
    for (size_t i = 0; i < sizeof(never_allowed) / sizeof(never_allowed[0]); i++)
        if (!is_storage_call(never_allowed[i]) && mentions(pfc, never_allowed[i]))
            fail_msg("postload with storage has a rule for %s", never_allowed[i]);
    free(pfc);
}

static void test_postload_has_no_open_and_no_exec_mapping(void **state)
{
    (void)state;
    policy_params p = params();
    scmp_filter_ctx f = policy_postload(&p);
    assert_non_null(f);
    char *pfc = export_pfc(f);
    seccomp_release(f);
    assert_false(mentions(pfc, "open"));
    assert_false(mentions(pfc, "openat"));
    assert_false(mentions(pfc, "openat2"));
    assert_false(mentions(pfc, "pkey_mprotect"));
    free(pfc);
}

static void test_openat2_and_clone3_answer_enosys_before_lockdown(void **state)
{
    (void)state;
    policy_params p = params();
    scmp_filter_ctx f = policy_preload(&p);
    assert_non_null(f);
    char *pfc = export_pfc(f);
    seccomp_release(f);
    char want[64];
    snprintf(want, sizeof(want), "action ERRNO(%d);", ENOSYS);
    for (const char *const *s = (const char *const[]){"openat2", "clone3", NULL}; *s; s++) {
        char quoted[32];
        snprintf(quoted, sizeof(quoted), "\"%s\"", *s);
        const char *at = strstr(pfc, quoted);
        assert_non_null(at);
        const char *act = strstr(at, "action ");
        assert_non_null(act);
        assert_int_equal(strncmp(act, want, strlen(want)), 0);
    }
    free(pfc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preload_filter_matches_its_golden_file),
        cmocka_unit_test(test_postload_filter_matches_its_golden_file),
        cmocka_unit_test(test_postload_filter_of_sanitizer_builds_matches_its_golden_file),
        cmocka_unit_test(test_filters_with_private_storage_match_their_golden_files),
        cmocka_unit_test(test_relay_filter_matches_its_golden_file),
        cmocka_unit_test(test_no_policy_has_a_rule_for_a_forbidden_syscall),
        cmocka_unit_test(test_postload_has_no_open_and_no_exec_mapping),
        cmocka_unit_test(test_openat2_and_clone3_answer_enosys_before_lockdown),
        cmocka_unit_test(test_only_private_storage_opens_the_file_writing_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
