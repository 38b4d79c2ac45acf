/*
 * hostile_case.h - one hostile plugin against the real host: a fresh host
 * with the hostile instance and a well-behaved neighbour (echo), the
 * attack made in the constructor or in a call, and every check that the
 * attack achieved nothing.
 *
 * Two modes. Confined (the default): every check must hold. Unconfined
 * (AGENTHOST_TEST_NO_SANDBOX=1, test builds: the runners start with
 * --no-sandbox): the same checks run, and every case must be *noticed*
 * by at least one check of its own (a side effect, a leak, a missing
 * security.log entry, a wrong outcome); that proves the checks can fail.
 * Cases the host defends by itself (protocol, deadlines), which no
 * sandbox changes, are noticed there by the confinement record alone.
 */
#ifndef HOSTILE_CASE_H
#define HOSTILE_CASE_H

#include "../support/th.h"

#include <stdbool.h>

typedef enum hc_expect {
    HC_TRAP,      /* SIGSYS: security.log names `what`, the instance is killed */
    HC_REFUSED,   /* the call fails softly (errno, NULL); the plugin runs on */
    HC_SIGNALLED, /* the instance dies of a signal: its last error has `what` */
    HC_STALLED,   /* the host's deadline kills it */
    HC_PROTOCOL,  /* the host's framing rejects it */
    HC_EXITED,    /* it exits; the host notices */
} hc_expect;

typedef struct hc_case {
    const char *attack; /* as tests/sandbox/hostile/hostile.c names it */
    bool in_ctor;       /* in the constructor, else in the "attack" call */
    hc_expect expect;
    const char *what;   /* HC_TRAP: the syscall; others: text of the outcome */
    bool host_defence;  /* defended by the host itself, not the sandbox */
    const char *limits; /* the hostile instance's limits (JSON), or NULL */
} hc_case;

/* Once per process: the mode, the secrets to look for, the SIGURG count. */
void hc_global_setup(void);
bool hc_unconfined(void);
bool hc_ci(void);

/* Run a case; fails the current cmocka test if a check fails (or, in
 * unconfined mode, if nothing noticed the attack). */
void hc_run(const hc_case *c);

/* The same host with the hostile plugin idle, for tests of what keeps
 * working under the sandbox. hc_stop ends it (also after hc_run). */
th_host *hc_start_idle(void);
void hc_stop(void);
/* The host with runner=<tmp>/<runner>, a link to tests/sandbox/deny_runner
 * (runner-without-userns, ...), and the hostile plugin set to `attack`. */
th_host *hc_start_with_runner(const char *runner, const char *attack, bool in_ctor);

/* security.log: a seccomp violation of `instance` naming `syscall`
 * (NULL: any). */
bool hc_violation_logged(th_host *h, const char *instance, const char *syscall);
/* Every "confinement before loading the plugin" record in the instance's
 * log shows the mandatory steps (and under CI=true every best-effort one);
 * at least one record. *why says what is missing. */
bool hc_attested(th_host *h, const char *instance, const char **why);

#endif
