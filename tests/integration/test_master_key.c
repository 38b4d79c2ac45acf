/*
 * The master key and the secrets it seals, through the real binary: a
 * backup says the key is not in it and where it is; a restore says
 * whether the target holds the matching key; serve (and the secret
 * commands) never make a new key while the store holds secrets, and
 * refuse a missing or wrong key naming the key's path and the secrets it
 * cannot open; with the right key everything works; a secret that cannot
 * be opened (damaged in the store) makes its webhook answer 503
 * not_configured, is logged as an error when the host starts, and makes
 * its instance fail with the reason: never a "wrong secret" the sender
 * cannot mend, nor a plugin running without it.
 */
#include "../support/kit.h"
#include "../support/th.h"

#include <fcntl.h>
#include <lmdb.h>
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

#define HOOK_SECRET "master-key-hook-secret"
#define CONFIG "{\"instances\": [{\"id\": \"echo\", \"plugin\": \"echo\"}]}"

static th_host A;          /* the original host, whose store is backed up */
static char backup[700];   /* its backup */
static kit_out backup_run; /* what `agenthost backup` said */

static int ah(kit_out *r, th_host *h, const char *const *args)
{
    const char *argv[16];
    int n = 0;
    argv[n++] = KIT_AGENTHOST;
    for (; *args && n < 13; args++)
        argv[n++] = *args;
    argv[n++] = "--data";
    argv[n++] = h->data;
    argv[n] = NULL;
    return kit_run(r, NULL, NULL, argv);
}

static int setup(void **s)
{
    (void)s;
    if (th_init(&A, "mkey") || th_install_plugin(&A, "echo") || th_config(&A, CONFIG) ||
        th_cli(&A, HOOK_SECRET, NULL, 0, "secret", "set", "echo", "webhook_secret", NULL) ||
        th_start(&A, NULL, 15000) || !th_wait_state(&A, "echo", "ready", 10000))
        return -1;
    snprintf(backup, sizeof(backup), "%s/backup.mdb", A.dir);
    const char *b[] = {"backup", "--to", backup, NULL};
    return ah(&backup_run, &A, b) == 0 ? 0 : -1;
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&A, 10000);
    kit_out_free(&backup_run);
    th_cleanup(&A);
    return rc == 0 ? 0 : -1;
}

/* A fresh data directory with the echo plugin and the backup restored;
 * key_text, when not NULL, is written as its master.key first. What
 * restore said is left in r. */
static void restore_into(th_host *h, const char *name, const char *key_text, kit_out *r)
{
    assert_int_equal(th_init(h, name), 0);
    assert_int_equal(th_install_plugin(h, "echo"), 0);
    assert_int_equal(th_config(h, CONFIG), 0);
    if (key_text) {
        char path[700];
        snprintf(path, sizeof(path), "%s/master.key", h->data);
        mkdir(h->data, 0700);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, key_text, strlen(key_text)), (ssize_t)strlen(key_text));
        close(fd);
    }
    const char *args[] = {"restore", "--from", backup, NULL};
    assert_int_equal(ah(r, h, args), 0);
}

static char *key_of(th_host *h)
{
    char *k = th_read(h, "var/master.key");
    assert_non_null(k);
    return k;
}

/* serve must exit 1 without listening, saying `why` in its error log. */
static void expect_serve_refused(th_host *h, const char *why)
{
    assert_true(th_spawn_serve(h, NULL) > 0);
    assert_int_equal(th_wait_exit(h, 15000), 1);
    char *log = th_read(h, "logs/errors.log");
    if (!log || !strstr(log, why))
        fail_msg("serve did not refuse with \"%s\"; errors.log:\n%s", why, log ? log : "(none)");
    free(log);
}

static void test_backup_says_the_master_key_is_not_in_it_and_where_it_is(void **s)
{
    (void)s;
    char want[800];
    snprintf(want, sizeof(want), "%s/master.key", A.data);
    if (!strstr(backup_run.err, "the master key is NOT in this backup") ||
        !strstr(backup_run.err, want) || !strstr(backup_run.err, "1 secret"))
        fail_msg("backup said:\n%s", backup_run.err);
}

static void test_restore_without_the_key_warns_and_serve_refuses_to_start(void **s)
{
    (void)s;
    th_host R;
    kit_out r;
    restore_into(&R, "mkey-none", NULL, &r);
    char key[800];
    snprintf(key, sizeof(key), "%s/master.key", R.data);
    if (!strstr(r.err, "warning:") || !strstr(r.err, key) || !strstr(r.err, "is missing"))
        fail_msg("restore said:\n%s", r.err);
    kit_out_free(&r);

    char why[1000];
    snprintf(why, sizeof(why), "the master key %s is missing, but the store holds 1 secret", key);
    expect_serve_refused(&R, why);
    assert_true(th_logs_contain(&R, "(instances: echo)"));
    /* Nor do the secret commands make a key. */
    const char *set[] = {"secret", "set", "echo", "other_secret", NULL};
    assert_int_equal(ah(&r, &R, set), 1);
    assert_non_null(strstr(r.err, why));
    kit_out_free(&r);
    struct stat st;
    assert_int_equal(stat(key, &st), -1);
    /* Listing names needs no key. */
    const char *list[] = {"secret", "list", NULL};
    assert_int_equal(ah(&r, &R, list), 0);
    assert_non_null(strstr(r.out, "echo webhook_secret"));
    kit_out_free(&r);
    th_cleanup(&R);
}

static void test_a_wrong_key_is_refused_naming_the_secrets_it_cannot_open(void **s)
{
    (void)s;
    th_host R;
    kit_out r;
    restore_into(&R, "mkey-wrong",
                 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", &r);
    if (!strstr(r.err, "warning:") || !strstr(r.err, "is not the key"))
        fail_msg("restore said:\n%s", r.err);
    kit_out_free(&r);
    expect_serve_refused(&R, "is not the key this store's secrets were sealed with");
    assert_true(th_logs_contain(&R, "it cannot open 1 secret (instances: echo)"));
    const char *set[] = {"secret", "set", "echo", "other_secret", NULL};
    assert_int_equal(ah(&r, &R, set), 1);
    assert_non_null(strstr(r.err, "is not the key this store's secrets were sealed with"));
    kit_out_free(&r);
    th_cleanup(&R);
}

static void test_the_right_key_serves_the_restored_secrets(void **s)
{
    (void)s;
    th_host R;
    kit_out r;
    char *key = key_of(&A);
    restore_into(&R, "mkey-right", key, &r);
    free(key);
    assert_null(strstr(r.err, "warning:"));
    assert_non_null(strstr(r.err, "matches"));
    kit_out_free(&r);
    assert_int_equal(th_start(&R, NULL, 15000), 0);
    assert_true(th_wait_state(&R, "echo", "ready", 10000));
    const char *ok[] = {"X-Agenthost-Secret: " HOOK_SECRET, NULL};
    const char *bad[] = {"X-Agenthost-Secret: not-the-secret", NULL};
    assert_int_equal(
        th_http_raw(&R, "POST", "/hooks/echo/in", "application/json", "{}", 2, ok, NULL, NULL),
        200);
    assert_int_equal(
        th_http_raw(&R, "POST", "/hooks/echo/in", "application/json", "{}", 2, bad, NULL, NULL),
        403);
    assert_int_equal(th_stop_clean(&R, 10000), 0);
    th_cleanup(&R);
}

/* Damage the stored value of echo's webhook_secret (its authentication
 * tag), as a disk or a hand in the store would, while the host runs. */
static void damage_the_stored_secret(th_host *h)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
    assert_int_equal(mdb_env_open(env, h->data, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "secrets", 0, &dbi), 0);
    static const char k[] = "echo\0webhook_secret";
    MDB_val key = {sizeof(k) - 1, (void *)k}, val;
    assert_int_equal(mdb_get(txn, dbi, &key, &val), 0);
    uint8_t copy[512];
    assert_true(val.mv_size <= sizeof(copy));
    memcpy(copy, val.mv_data, val.mv_size);
    copy[val.mv_size - 1] ^= 0x01;
    MDB_val nv = {val.mv_size, copy};
    assert_int_equal(mdb_put(txn, dbi, &key, &nv, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static void
test_a_secret_that_cannot_be_opened_is_503_not_configured_and_fails_its_instance(void **s)
{
    (void)s;
    th_host R;
    kit_out r;
    char *key = key_of(&A);
    restore_into(&R, "mkey-damaged", key, &r);
    free(key);
    kit_out_free(&r);
    assert_int_equal(th_start(&R, NULL, 15000), 0);
    assert_true(th_wait_state(&R, "echo", "ready", 10000));
    damage_the_stored_secret(&R);

    const char *ok[] = {"X-Agenthost-Secret: " HOOK_SECRET, NULL};
    char *body = NULL;
    assert_int_equal(
        th_http_raw(&R, "POST", "/hooks/echo/in", "application/json", "{}", 2, ok, NULL, &body),
        503);
    json_t *o = json_loads(body, 0, NULL);
    free(body);
    assert_string_equal(json_string_value(th_get(o, "error.code")), "not_configured");
    json_decref(o);
    assert_true(th_wait_file(&R, "logs/errors.log", "webhook_secret_unreadable", 5000));

    /* Restarted, the instance does not run without its secret: it fails,
     * saying which secret and how to mend it. */
    json_t *res = NULL;
    assert_int_equal(th_http(&R, "POST", "/api/v1/instances/echo/restart", "{}", NULL, &res), 202);
    json_decref(res);
    assert_true(th_wait_state(&R, "echo", "failed", 10000));
    assert_true(th_wait_file(&R, "logs/errors.log",
                             "secret webhook_secret cannot be opened with the master key", 5000));
    /* Started again, the host says so at once, and the instance fails. */
    assert_int_equal(th_stop_clean(&R, 10000), 0);
    assert_int_equal(th_start(&R, NULL, 15000), 0);
    assert_true(th_wait_file(&R, "logs/errors.log",
                             "secret webhook_secret of instance echo cannot be opened with the "
                             "master key (id ",
                             5000));
    assert_true(th_wait_state(&R, "echo", "failed", 10000));
    /* Set again, it works again. */
    assert_int_equal(
        th_cli(&R, HOOK_SECRET, NULL, 0, "secret", "set", "echo", "webhook_secret", NULL), 0);
    assert_int_equal(th_http(&R, "POST", "/api/v1/instances/echo/restart", "{}", NULL, &res), 202);
    json_decref(res);
    assert_true(th_wait_state(&R, "echo", "ready", 10000));
    assert_int_equal(
        th_http_raw(&R, "POST", "/hooks/echo/in", "application/json", "{}", 2, ok, NULL, NULL),
        200);
    assert_int_equal(th_stop_clean(&R, 10000), 0);
    th_cleanup(&R);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backup_says_the_master_key_is_not_in_it_and_where_it_is),
        cmocka_unit_test(test_restore_without_the_key_warns_and_serve_refuses_to_start),
        cmocka_unit_test(test_a_wrong_key_is_refused_naming_the_secrets_it_cannot_open),
        cmocka_unit_test(test_the_right_key_serves_the_restored_secrets),
        cmocka_unit_test(
            test_a_secret_that_cannot_be_opened_is_503_not_configured_and_fails_its_instance),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
