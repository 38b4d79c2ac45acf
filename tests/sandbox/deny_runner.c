/*
 * deny_runner - the real agenthost-runner, started where the kernel
 * refuses it one feature, to show what the sandbox does without it. What
 * is refused is the name it is started under (tests link it so):
 *
 *   runner-without-userns    clone/unshare of a user namespace: EPERM
 *   runner-without-landlock  landlock_*: ENOSYS
 *   runner-without-seccomp   seccomp(2) and prctl(PR_SET_SECCOMP): EPERM
 *   runner-without-setuid    setuid/setresuid/setgid/setresgid: EPERM
 *   runner-without-close-range   close_range: EPERM
 *   runner-without-rlimits   setting a resource limit (prlimit64 with a new
 *                            value, setrlimit): EPERM
 *   runner-without-no-new-privs  prctl(PR_SET_NO_NEW_PRIVS): EPERM
 *   runner-without-capset    capset: EPERM
 *   runner-with-silenced-seccomp
 *                            seccomp(2) and prctl(PR_SET_SECCOMP) answer 0
 *                            and install nothing
 *
 * runner-without-userns and runner-without-landlock refuse best-effort
 * layers (reported, the runner goes on); the others refuse mandatory steps
 * (the runner must refuse to start), and runner-with-silenced-seccomp
 * deceives the runner into reporting filters it does not have (the host
 * must catch it). All but runner-without-landlock also refuse the user
 * namespace, so that no relay process exists whose own failure would end
 * the instance first: what is shown is the plugin process's own refusal.
 */
#include <errno.h>
#include <libgen.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#ifndef REAL_RUNNER
#error "REAL_RUNNER must be defined by the build"
#endif

#define DENY(f, err, name, ...)                                                                    \
    ok = ok && seccomp_rule_add(f, SCMP_ACT_ERRNO(err), SCMP_SYS(name), __VA_ARGS__) == 0

int main(int argc, char **argv)
{
    (void)argc;
    char self[4096];
    snprintf(self, sizeof(self), "%s", argv[0]);
    const char *name = basename(self);
    scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);
    int ok = f != NULL;
    /* Every variant but the Landlock one also goes without a user namespace
     * (see the top of this file). */
    if (strcmp(name, "runner-without-landlock") != 0) {
        DENY(f, EPERM, clone, 1, SCMP_CMP(0, SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER));
        DENY(f, EPERM, unshare, 1, SCMP_CMP(0, SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER));
    }
    if (!strcmp(name, "runner-without-userns")) {
        /* only that */
    } else if (!strcmp(name, "runner-without-landlock")) {
        DENY(f, ENOSYS, landlock_create_ruleset, 0);
        DENY(f, ENOSYS, landlock_add_rule, 0);
        DENY(f, ENOSYS, landlock_restrict_self, 0);
    } else if (!strcmp(name, "runner-without-seccomp")) {
        /* This filter is loaded first; the runner's own loads then fail. */
        DENY(f, EPERM, seccomp, 0);
        DENY(f, EPERM, prctl, 1, SCMP_CMP(0, SCMP_CMP_EQ, PR_SET_SECCOMP, 0));
    } else if (!strcmp(name, "runner-with-silenced-seccomp")) {
        /* Real loads only: libseccomp probes flags with a NULL program. */
        DENY(f, 0, seccomp, 2, SCMP_CMP(0, SCMP_CMP_EQ, SECCOMP_SET_MODE_FILTER, 0),
             SCMP_CMP(2, SCMP_CMP_NE, 0, 0));
        DENY(f, 0, prctl, 1, SCMP_CMP(0, SCMP_CMP_EQ, PR_SET_SECCOMP, 0));
    } else if (!strcmp(name, "runner-without-close-range")) {
        DENY(f, EPERM, close_range, 0);
    } else if (!strcmp(name, "runner-without-rlimits")) {
        DENY(f, EPERM, prlimit64, 1, SCMP_CMP(2, SCMP_CMP_NE, 0, 0));
        DENY(f, EPERM, setrlimit, 0);
    } else if (!strcmp(name, "runner-without-no-new-privs")) {
        DENY(f, EPERM, prctl, 1, SCMP_CMP(0, SCMP_CMP_EQ, PR_SET_NO_NEW_PRIVS, 0));
    } else if (!strcmp(name, "runner-without-capset")) {
        DENY(f, EPERM, capset, 0);
    } else if (!strcmp(name, "runner-without-setuid")) {
        DENY(f, EPERM, setuid, 0);
        DENY(f, EPERM, setresuid, 0);
        DENY(f, EPERM, setgid, 0);
        DENY(f, EPERM, setresgid, 0);
    } else {
        fprintf(stderr, "deny_runner: unknown name %s\n", name);
        return 64;
    }
    if (!ok || seccomp_load(f) < 0) {
        fprintf(stderr, "deny_runner: cannot load its filter\n");
        return 70;
    }
    seccomp_release(f);
    argv[0] = (char *)REAL_RUNNER;
    execv(REAL_RUNNER, argv);
    fprintf(stderr, "deny_runner: %s: %s\n", REAL_RUNNER, strerror(errno));
    return 70;
}
