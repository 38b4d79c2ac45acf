/*
 * bench_auth: what signing in and the permission check cost (issue 17).
 *
 *   argon2id  hashes and verifies/s in this process with the host's
 *             parameters (opslimit 2, 64 MiB), beside the BLAKE2b hash an
 *             API token's check costs (the floor)
 *   login     POST /api/v1/auth/login through the real binary (sequential)
 *   check     GET /api/v1/agents with an admin token on two hosts of the
 *             same build, one started without the permission check
 *             (AGENTHOST_BENCH_NO_PERM_CHECK, test builds only), in
 *             alternating rounds of the same run
 *
 *   bench_auth --smoke | --full
 */
#include "../support/th.h"
#include "auth/password.h"
#include "bench.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define PW "a-Long-enough-pass-2026"

static void argon2(bench *b)
{
    int n = (int)bench_pick(b, 3, 20);
    char h[AUTH_PW_HASH_MAX];
    uint64_t t0 = bench_now_ns();
    for (int i = 0; i < n; i++)
        if (auth_password_hash(PW, h)) bench_fail(b, "argon2id hash failed");
    double hash_s = (double)(bench_now_ns() - t0) / 1e9;
    t0 = bench_now_ns();
    for (int i = 0; i < n; i++)
        if (!auth_password_verify(h, PW)) bench_fail(b, "argon2id verify failed");
    double verify_s = (double)(bench_now_ns() - t0) / 1e9;
    long floor_n = bench_pick(b, 100000, 1000000);
    unsigned char out[32];
    t0 = bench_now_ns();
    for (long i = 0; i < floor_n; i++)
        crypto_generichash(out, 32, (const unsigned char *)h, 48, (const unsigned char *)PW, 16);
    double floor_s = (double)(bench_now_ns() - t0) / 1e9;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    bench_section(b, "argon2id", "argon2id with the host's parameters (t=2, m=64 MiB, p=1)");
    bench_row(b, "argon2id", "hash", n / hash_s, "/s", "%.1f ms each", 1e3 * hash_s / n);
    bench_row(b, "argon2id", "verify", n / verify_s, "/s", "%.1f ms each, one core",
              1e3 * verify_s / n);
    bench_row(b, "argon2id", "floor: BLAKE2b (an API token's check)", floor_n / floor_s, "/s",
              NULL);
    bench_row(b, "argon2id", "memory per hash in flight", AUTH_PW_MEMLIMIT / 1048576.0, "MiB",
              "process peak RSS %.0f MiB", ru.ru_maxrss / 1024.0);
}

static int start(bench *b, th_host *h, const char *name, const char *const *env)
{
    if (th_init(h, name) || th_config(h, "{\"log\": {\"stderr\": false}, \"instances\": []}") ||
        th_make_token(h) ||
        th_cli(h, PW "\n", NULL, 0, "user", "create", "--email", "root@example.com", "--role",
               "admin", NULL) ||
        th_start(h, env, 15000)) {
        bench_fail(b, "cannot start the host %s", name);
        return -1;
    }
    return 0;
}

static void login(bench *b, th_host *h)
{
    int n = (int)bench_pick(b, 3, 30);
    const char *body = "{\"email\": \"root@example.com\", \"password\": \"" PW "\"}";
    uint64_t t0 = bench_now_ns();
    for (int i = 0; i < n; i++)
        if (th_http_raw(h, "POST", "/api/v1/auth/login", "application/json", body, strlen(body),
                        NULL, NULL, NULL) != 200)
            bench_fail(b, "a login failed");
    double s = (double)(bench_now_ns() - t0) / 1e9;
    bench_section(b, "login", "POST /api/v1/auth/login through the real binary, one at a time");
    bench_row(b, "login", "logins", n / s, "/s", "%.1f ms each", 1e3 * s / n);
}

/* Requests/s of GET /api/v1/agents on h over n requests. */
static double rate(bench *b, th_host *h, int n)
{
    uint64_t t0 = bench_now_ns();
    for (int i = 0; i < n; i++)
        if (th_http(h, "GET", "/api/v1/agents", NULL, NULL, NULL) != 200)
            bench_fail(b, "a request failed");
    return n / ((double)(bench_now_ns() - t0) / 1e9);
}

static void check(bench *b, th_host *with, th_host *without)
{
    int rounds = (int)bench_pick(b, 2, 7), n = (int)bench_pick(b, 100, 2000);
    double on[8], off[8], ratio[8];
    for (int r = 0; r < rounds; r++) {
        on[r] = rate(b, with, n);
        off[r] = rate(b, without, n);
        ratio[r] = on[r] / off[r];
    }
    bench_section(b, "check", "GET /api/v1/agents (admin token), with and without the check");
    bench_row(b, "check", "with the permission check", bench_median(on, rounds), "req/s",
              "median of %d rounds of %d", rounds, n);
    bench_row(b, "check", "without (same build)", bench_median(off, rounds), "req/s", NULL);
    bench_row(b, "check", "with / without", bench_median(ratio, rounds), "x",
              "one connection per request");
}

int main(int argc, char **argv)
{
    bench b;
    bench_init(&b, "auth", argc, argv);
    argon2(&b);
    th_host with, without;
    const char *env[] = {"AGENTHOST_BENCH_NO_PERM_CHECK=1", NULL};
    if (!start(&b, &with, "bench-auth", NULL) && !start(&b, &without, "bench-auth-nocheck", env)) {
        login(&b, &with);
        check(&b, &with, &without);
        th_stop(&without, 10000);
        th_cleanup(&without);
    }
    th_stop(&with, 10000);
    th_cleanup(&with);
    return bench_finish(&b);
}
