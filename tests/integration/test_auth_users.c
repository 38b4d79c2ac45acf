/*
 * Accounts through the real binary: the first admin comes from the CLI
 * with a password read from stdin (never a default), weak passwords are
 * refused, users are managed over REST by users:manage only, and no answer
 * ever carries a password or its hash.
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

static th_host H;
static char editor[128];
/* The CLI runs before the host starts: a write made by another process
 * while the host runs is not always seen by it (a known store issue, as
 * test_api's token made while the host runs). */
static int refused[4], made, taken;
static char made_out[256];

static void run_cli(void)
{
    char out[256];
    const char *e = "root@example.com";
    refused[0] =
        th_cli(&H, "", out, sizeof(out), "user", "create", "--email", e, "--role", "admin", NULL);
    refused[1] = th_cli(&H, "short\n", out, sizeof(out), "user", "create", "--email", e, "--role",
                        "admin", NULL);
    refused[2] = th_cli(&H, "password1234\n", out, sizeof(out), "user", "create", "--email", e,
                        "--role", "admin", NULL);
    refused[3] = th_cli(&H, "a-Long-enough-pass-2026\n", out, sizeof(out), "user", "create",
                        "--email", e, "--role", "root", NULL);
    made = th_cli(&H, "a-Long-enough-pass-2026\n", made_out, sizeof(made_out), "user", "create",
                  "--email", e, "--name", "Root", "--role", "admin", NULL);
    taken = th_cli(&H, "b-Long-enough-pass-2026\n", out, sizeof(out), "user", "create", "--email",
                   "ROOT@example.com", "--role", "viewer", NULL);
}

static int setup(void **s)
{
    (void)s;
    if (th_init(&H, "auth-users") || th_config(&H, "{\"instances\": []}") || th_make_token(&H))
        return -1;
    if (th_cli(&H, NULL, editor, sizeof(editor), "token", "create", "--name", "ed", "--role",
               "editor", NULL) != 0)
        return -1;
    editor[strcspn(editor, "\n")] = 0;
    run_cli();
    return th_start(&H, NULL, 15000);
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    return rc ? -1 : 0;
}

static void test_the_cli_refuses_weak_or_missing_passwords(void **s)
{
    (void)s;
    for (int i = 0; i < 4; i++)
        assert_int_not_equal(refused[i], 0); /* none, short, common, unknown role */
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "GET", "/api/v1/users", NULL, NULL, &o), 200);
    assert_int_equal(json_array_size(json_object_get(o, "items")), 1); /* the admin only */
    json_decref(o);
}

static void test_the_first_admin_is_made_by_the_cli_and_shows_no_hash(void **s)
{
    (void)s;
    assert_int_equal(made, 0);
    assert_int_equal(strncmp(made_out, "usr_", 4), 0);
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "GET", "/api/v1/users?role=admin", NULL, NULL, &o), 200);
    assert_non_null(th_get(o, "items.0.email"));
    assert_string_equal(json_string_value(th_get(o, "items.0.email")), "root@example.com");
    assert_true(json_is_true(th_get(o, "items.0.password_set")));
    char *dump = json_dumps(o, 0);
    assert_null(strstr(dump, "argon2"));
    assert_null(strstr(dump, "password_hash"));
    free(dump);
    json_decref(o);
    assert_false(th_logs_contain(&H, "a-Long-enough-pass-2026"));
    assert_int_not_equal(taken, 0); /* the same e-mail, any case, is taken */
}

static void test_users_are_managed_over_rest_by_users_manage_only(void **s)
{
    (void)s;
    json_t *o = NULL;
    const char *ann = "{\"email\": \"ann@example.com\", \"name\": \"Ann\", \"role\": \"analyst\"}";
    assert_int_equal(th_http(&H, "POST", "/api/v1/users", ann, editor, &o), 403);
    assert_string_equal(json_string_value(th_get(o, "error.permission")), "users:manage");
    json_decref(o);
    /* A hash cannot be slipped in. */
    assert_int_equal(th_http(&H, "POST", "/api/v1/users",
                             "{\"email\": \"eve@example.com\", \"role\": \"admin\","
                             " \"password_hash\": \"$argon2id$x\"}",
                             NULL, &o),
                     422);
    json_decref(o);
    assert_int_equal(th_http(&H, "POST", "/api/v1/users",
                             "{\"email\": \"bob@example.com\", \"role\": \"root\"}", NULL, &o),
                     422);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "role");
    json_decref(o);
    assert_int_equal(th_http(&H, "POST", "/api/v1/users", ann, NULL, &o), 201);
    assert_string_equal(json_string_value(th_get(o, "status")), "invited");
    assert_true(json_is_false(th_get(o, "password_set")));
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/users/%s", json_string_value(th_get(o, "id")));
    json_decref(o);
    assert_int_equal(th_http(&H, "PATCH", path, "{\"status\": \"disabled\"}", NULL, &o), 200);
    assert_string_equal(json_string_value(th_get(o, "status")), "disabled");
    json_decref(o);
    assert_int_equal(th_http(&H, "DELETE", path, NULL, NULL, &o), 204);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_cli_refuses_weak_or_missing_passwords),
        cmocka_unit_test(test_the_first_admin_is_made_by_the_cli_and_shows_no_hash),
        cmocka_unit_test(test_users_are_managed_over_rest_by_users_manage_only),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
