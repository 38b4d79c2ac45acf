#include "cmocka_pre.h"

#include "core/secrets.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char dir[256], keyfile[300];
static store *st;

static void done(int status, void *ud)
{
    *(int *)ud = status;
}

static int setup(void **s)
{
    (void)s;
    snprintf(dir, sizeof(dir), "/tmp/ah-sec-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(keyfile, sizeof(keyfile), "%s/master.key", dir);
    char err[256];
    store_opts o = {.dir = dir};
    return store_open(&st, NULL, &o, err, sizeof(err));
}

static int teardown(void **s)
{
    (void)s;
    store_close(st);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

static void test_set_get_list_delete(void **s)
{
    (void)s;
    secrets *sec;
    char err[256];
    assert_int_equal(secrets_open(&sec, st, keyfile, true, err, sizeof(err)), 0);
    struct stat kst;
    stat(keyfile, &kst);
    assert_int_equal(kst.st_mode & 0777, 0600);
    int status = -99;
    assert_int_equal(secrets_set(sec, "tg-1", "bot_token", "123:ABC-token", 13, done, &status), 0);
    assert_int_equal(status, 0);
    char *v;
    size_t n;
    assert_int_equal(secrets_get(sec, "tg-1", "bot_token", &v, &n), 0);
    assert_int_equal(n, 13);
    assert_string_equal(v, "123:ABC-token");
    secrets_free_value(v, n);
    assert_int_equal(secrets_get(sec, "tg-1", "missing", &v, &n), AH_ENOTFOUND);
    json_t *l = secrets_list(sec, "tg-1");
    assert_int_equal(json_array_size(l), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "name")),
                        "bot_token");
    json_decref(l);
    assert_int_equal(secrets_delete(sec, "tg-1", "bot_token", done, &status), 0);
    assert_int_equal(status, 0);
    assert_int_equal(secrets_get(sec, "tg-1", "bot_token", &v, &n), AH_ENOTFOUND);
    secrets_close(sec);
}

/* A value shorter than SECRET_MIN_BYTES, or holding a NUL byte, is refused
 * and nothing is stored: one could not be masked in logs, the other would
 * reach a plugin cut short. */
static void test_short_and_nul_holding_values_are_refused(void **s)
{
    (void)s;
    secrets *sec;
    char err[256];
    assert_int_equal(secrets_open(&sec, st, keyfile, true, err, sizeof(err)), 0);
    int status = 0;
    assert_int_equal(secrets_set(sec, "tg-1", "pin", "1234567", 7, done, &status), AH_EINVAL);
    assert_int_equal(secrets_set(sec, "tg-1", "pin",
                                 "1234\0"
                                 "5678",
                                 9, done, &status),
                     AH_EINVAL);
    assert_int_equal(secrets_set(sec, "tg-1", "pin", "12345678", 8, done, &status), 0);
    json_t *l = secrets_list(sec, "tg-1");
    assert_int_equal(json_array_size(l), 1);
    json_decref(l);
    assert_int_equal(secrets_delete(sec, "tg-1", "pin", done, &status), 0);
    secrets_close(sec);
}

static int copy_sealed(store_txn *txn, void *arg)
{
    (void)arg;
    store_val v;
    int rc = store_get(txn, STORE_DB_SECRETS, "a\0key", 5, &v);
    if (rc) return rc;
    void *copy = malloc(v.len);
    memcpy(copy, v.data, v.len);
    rc = store_put(txn, STORE_DB_SECRETS, "b\0key", 5, copy, v.len);
    free(copy);
    return rc;
}

/* A sealed value copied under another name does not open. */
static void test_sealed_value_is_bound_to_its_name(void **s)
{
    (void)s;
    secrets *sec;
    char err[256];
    assert_int_equal(secrets_open(&sec, st, keyfile, true, err, sizeof(err)), 0);
    int status;
    secrets_set(sec, "a", "key", "value-of-a", 10, done, &status);
    /* Copy the raw sealed bytes to b/key. */
    assert_int_equal(store_write_now(st, copy_sealed, NULL), 0);
    char *out;
    size_t n;
    assert_int_equal(secrets_get(sec, "b", "key", &out, &n), AH_EIO);
    secrets_close(sec);
}

static void test_wrong_key_and_loose_permissions_are_refused(void **s)
{
    (void)s;
    secrets *sec;
    char err[256], other[320];
    snprintf(other, sizeof(other), "%s/other.key", dir);
    assert_int_equal(secrets_open(&sec, st, other, true, err, sizeof(err)), 0);
    char *out;
    size_t n;
    assert_int_equal(secrets_get(sec, "a", "key", &out, &n), AH_EIO);
    secrets_close(sec);
    chmod(other, 0644);
    assert_true(secrets_open(&sec, st, other, false, err, sizeof(err)) != 0);
    assert_non_null(strstr(err, "chmod 600"));
    char missing[320];
    snprintf(missing, sizeof(missing), "%s/missing.key", dir);
    assert_true(secrets_open(&sec, st, missing, false, err, sizeof(err)) != 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_get_list_delete),
        cmocka_unit_test(test_short_and_nul_holding_values_are_refused),
        cmocka_unit_test(test_sealed_value_is_bound_to_its_name),
        cmocka_unit_test(test_wrong_key_and_loose_permissions_are_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
