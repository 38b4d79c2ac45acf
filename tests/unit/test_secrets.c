#include "cmocka_pre.h"

#include "store/secrets.h"

#include <agenthost/plugin.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    assert_int_equal(secrets_open(&sec, st, keyfile, SECRETS_KEY_CREATE, err, sizeof(err)), 0);
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
    assert_int_equal(secrets_open(&sec, st, keyfile, SECRETS_KEY_REQUIRED, err, sizeof(err)), 0);
    int status;
    secrets_set(sec, "a", "key", "value-of-a", 10, done, &status);
    /* Copy the raw sealed bytes to b/key. */
    assert_int_equal(store_write_now(st, copy_sealed, NULL), 0);
    char *out;
    size_t n;
    assert_int_equal(secrets_get(sec, "b", "key", &out, &n), AH_EIO);
    secrets_close(sec);
}

static void write_key(const char *path, const char *hex)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", hex);
    fclose(f);
    chmod(path, 0600);
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* The store now holds a/key (opens) and b/key (sealed for a/key: does not). */
static void test_no_key_is_made_while_the_store_holds_secrets(void **s)
{
    (void)s;
    secrets *sec;
    char err[1024], missing[320];
    snprintf(missing, sizeof(missing), "%s/missing.key", dir);
    assert_int_equal(secrets_open(&sec, st, missing, SECRETS_KEY_CREATE, err, sizeof(err)),
                     AH_ENOTFOUND);
    assert_false(exists(missing));
    assert_non_null(strstr(err, "is missing, but the store holds 2 secrets (instances: a, b) "
                                "sealed with master key id "));
    assert_non_null(strstr(err, "put that key file back at"));
    assert_int_equal(secrets_open(&sec, st, missing, SECRETS_KEY_REQUIRED, err, sizeof(err)),
                     AH_ENOTFOUND);
    /* Names are listed and deleted without a key; values are not read. */
    assert_int_equal(secrets_open(&sec, st, missing, SECRETS_KEY_NONE, err, sizeof(err)), 0);
    json_t *l = secrets_list(sec, NULL);
    assert_int_equal(json_array_size(l), 2);
    json_decref(l);
    char *v;
    size_t n;
    assert_int_equal(secrets_get(sec, "a", "key", &v, &n), AH_EDENIED);
    int status;
    assert_int_equal(secrets_set(sec, "a", "new", "value-12345", 11, done, &status), AH_EDENIED);
    assert_string_equal(secrets_key_id(sec), "");
    secrets_close(sec);
}

static void test_a_wrong_key_is_refused_naming_both_ids(void **s)
{
    (void)s;
    secrets *sec;
    char err[1024], other[320];
    snprintf(other, sizeof(other), "%s/other.key", dir);
    write_key(other, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    assert_int_equal(secrets_open(&sec, st, other, SECRETS_KEY_CREATE, err, sizeof(err)), AH_EIO);
    assert_non_null(strstr(err, "is not the key this store's secrets were sealed with (id "));
    assert_non_null(strstr(err, "it cannot open 2 secrets (instances: a, b)"));
    chmod(other, 0644);
    assert_int_equal(secrets_open(&sec, st, other, SECRETS_KEY_REQUIRED, err, sizeof(err)),
                     AH_EDENIED);
    assert_non_null(strstr(err, "chmod 600"));
}

static int del_key_id(store_txn *txn, void *arg)
{
    (void)arg;
    return store_del(txn, STORE_DB_META, SECRETS_META_KEY_ID, strlen(SECRETS_META_KEY_ID));
}

static void unrecord_key_id(void)
{
    assert_int_equal(store_write_now(st, del_key_id, NULL), 0);
}

/* Flip a bit of a/key's sealed value, as damage in the store would. */
static int damage_a_key(store_txn *txn, void *arg)
{
    (void)arg;
    store_val v;
    int rc = store_get(txn, STORE_DB_SECRETS, "a\0key", 5, &v);
    if (rc) return rc;
    uint8_t copy[256];
    memcpy(copy, v.data, v.len);
    copy[v.len - 1] ^= 1;
    return store_put(txn, STORE_DB_SECRETS, "a\0key", 5, copy, v.len);
}

/* Without a recorded id (a store from before ids), every secret is tried. */
static void test_a_store_without_a_key_id_is_checked_secret_by_secret(void **s)
{
    (void)s;
    secrets *sec;
    char err[1024], other[320];
    unrecord_key_id();
    snprintf(other, sizeof(other), "%s/other.key", dir);
    chmod(other, 0600);
    assert_int_equal(secrets_open(&sec, st, other, SECRETS_KEY_REQUIRED, err, sizeof(err)), AH_EIO);
    assert_non_null(strstr(err, "cannot open 2 of the store's 2 secrets (instances: a, b)"));
    /* The right key opens a/key, not b/key (bound to another name). */
    assert_int_equal(secrets_open(&sec, st, keyfile, SECRETS_KEY_REQUIRED, err, sizeof(err)),
                     AH_EIO);
    assert_non_null(strstr(err, "cannot open 1 of the store's 2 secrets (instances: b)"));
    /* b/key deleted, the key opens everything, and its id is recorded. */
    int status = -99;
    assert_int_equal(secrets_open(&sec, st, keyfile, SECRETS_KEY_NONE, err, sizeof(err)), 0);
    assert_int_equal(secrets_delete(sec, "b", "key", done, &status), 0);
    assert_int_equal(status, 0);
    secrets_close(sec);
    assert_int_equal(secrets_open(&sec, st, keyfile, SECRETS_KEY_REQUIRED, err, sizeof(err)), 0);
    secrets_survey sv;
    assert_int_equal(secrets_survey_store(st, &sv), 0);
    assert_int_equal(sv.count, 1);
    assert_string_equal(sv.key_id, secrets_key_id(sec));
    assert_string_equal(sv.instances, "a");
    json_t *bad = secrets_unreadable(sec);
    assert_int_equal(json_array_size(bad), 0);
    json_decref(bad);
    secrets_close(sec);
}

/* A damaged value is named; the key stays the store's. */
static void test_damaged_secrets_are_listed_as_unreadable(void **s)
{
    (void)s;
    assert_int_equal(store_write_now(st, damage_a_key, NULL), 0);
    secrets *sec;
    char err[1024];
    assert_int_equal(secrets_open(&sec, st, keyfile, SECRETS_KEY_REQUIRED, err, sizeof(err)), 0);
    json_t *bad = secrets_unreadable(sec);
    assert_int_equal(json_array_size(bad), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(bad, 0), "name")), "key");
    json_decref(bad);
    char *out;
    size_t n;
    assert_int_equal(secrets_get(sec, "a", "key", &out, &n), AH_EIO);
    secrets_close(sec);
}

/* No secret left: a missing key is made anew, replacing the recorded id. */
static void test_a_key_is_made_only_for_a_store_without_secrets(void **s)
{
    (void)s;
    secrets *sec;
    char err[1024];
    int status = -99;
    assert_int_equal(secrets_open(&sec, st, keyfile, SECRETS_KEY_NONE, err, sizeof(err)), 0);
    assert_int_equal(secrets_delete(sec, "a", "key", done, &status), 0);
    assert_int_equal(status, 0);
    secrets_close(sec);
    secrets_survey before;
    assert_int_equal(secrets_survey_store(st, &before), 0);
    unlink(keyfile);
    assert_int_equal(secrets_open(&sec, st, keyfile, SECRETS_KEY_REQUIRED, err, sizeof(err)),
                     AH_ENOTFOUND);
    assert_false(exists(keyfile));
    assert_int_equal(secrets_open(&sec, st, keyfile, SECRETS_KEY_CREATE, err, sizeof(err)), 0);
    assert_true(exists(keyfile));
    secrets_survey after;
    assert_int_equal(secrets_survey_store(st, &after), 0);
    assert_string_equal(after.key_id, secrets_key_id(sec));
    assert_string_not_equal(after.key_id, before.key_id);
    secrets_close(sec);
}

/* secrets_equal (a webhook's secret checked per request) keeps the opened
 * value, and sees every change of the stored record at once: a value set
 * again through another handle (as a CLI command in another process does)
 * is the one compared next, and a deleted secret is not found. */
static void test_equal_follows_the_stored_secret_through_changes_elsewhere(void **s)
{
    (void)s;
    secrets *sec, *cli;
    char err[256];
    int status = -99;
    bool m = true;
    assert_int_equal(secrets_open(&sec, st, keyfile, SECRETS_KEY_CREATE, err, sizeof(err)), 0);
    assert_int_equal(secrets_open(&cli, st, keyfile, SECRETS_KEY_REQUIRED, err, sizeof(err)), 0);
    assert_int_equal(secrets_equal(sec, "wh-1", "hook", "first-value", 11, &m), AH_ENOTFOUND);
    assert_false(m);
    assert_int_equal(secrets_set(cli, "wh-1", "hook", "first-value", 11, done, &status), 0);
    assert_int_equal(secrets_equal(sec, "wh-1", "hook", "first-value", 11, &m), 0);
    assert_true(m);
    assert_int_equal(secrets_equal(sec, "wh-1", "hook", "first-valuX", 11, &m), 0);
    assert_false(m);
    assert_int_equal(secrets_equal(sec, "wh-1", "hook", "first-value!", 12, &m), 0);
    assert_false(m);
    assert_int_equal(secrets_equal(sec, "wh-1", "hook", NULL, 0, &m), 0);
    assert_false(m);
    assert_int_equal(secrets_set(cli, "wh-1", "hook", "second-value", 12, done, &status), 0);
    assert_int_equal(status, 0);
    assert_int_equal(secrets_equal(sec, "wh-1", "hook", "first-value", 11, &m), 0);
    assert_false(m);
    assert_int_equal(secrets_equal(sec, "wh-1", "hook", "second-value", 12, &m), 0);
    assert_true(m);
    assert_int_equal(secrets_delete(cli, "wh-1", "hook", done, &status), 0);
    assert_int_equal(secrets_equal(sec, "wh-1", "hook", "second-value", 12, &m), AH_ENOTFOUND);
    assert_false(m);
    assert_int_equal(secrets_equal(sec, "wh-1", "bad name", "x", 1, &m), AH_EINVAL);
    secrets_close(cli);
    secrets_close(sec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_get_list_delete),
        cmocka_unit_test(test_short_and_nul_holding_values_are_refused),
        cmocka_unit_test(test_sealed_value_is_bound_to_its_name),
        cmocka_unit_test(test_no_key_is_made_while_the_store_holds_secrets),
        cmocka_unit_test(test_a_wrong_key_is_refused_naming_both_ids),
        cmocka_unit_test(test_a_store_without_a_key_id_is_checked_secret_by_secret),
        cmocka_unit_test(test_damaged_secrets_are_listed_as_unreadable),
        cmocka_unit_test(test_a_key_is_made_only_for_a_store_without_secrets),
        cmocka_unit_test(test_equal_follows_the_stored_secret_through_changes_elsewhere),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
