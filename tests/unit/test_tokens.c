#include "cmocka_pre.h"

#include "store/tokens.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_tokens_are_verified_by_hash_and_revocable(void **s)
{
    (void)s;
    char dir[] = "/tmp/ah-tok-XXXXXX";
    assert_non_null(mkdtemp(dir));
    store *st;
    char err[256];
    store_opts o = {.dir = dir};
    assert_int_equal(store_open(&st, NULL, &o, err, sizeof(err)), 0);
    assert_false(tokens_any(st));
    char t[TOKEN_LEN + 1], t2[TOKEN_LEN + 1];
    assert_int_equal(tokens_create(st, "ci", "viewer", t), 0);
    assert_int_equal(tokens_create(st, "ops", "admin", t2), 0);
    assert_int_equal(strlen(t), TOKEN_LEN);
    assert_true(tokens_any(st));
    principal who;
    assert_int_equal(tokens_verify(st, t, &who), 0);
    assert_string_equal(who.name, "ci");
    assert_string_equal(who.role, "viewer");
    /* One changed character, a truncated token, garbage: all denied. */
    char bad[TOKEN_LEN + 1];
    strcpy(bad, t);
    bad[TOKEN_LEN - 1] = bad[TOKEN_LEN - 1] == 'a' ? 'b' : 'a';
    assert_int_equal(tokens_verify(st, bad, &who), AH_EDENIED);
    bad[10] = 0;
    assert_int_equal(tokens_verify(st, bad, &who), AH_EDENIED);
    assert_int_equal(tokens_verify(st, "Bearer nonsense", &who), AH_EDENIED);
    /* Only hashes are stored. */
    json_t *l = tokens_list(st);
    char *dump = json_dumps(l, 0);
    assert_null(strstr(dump, t + 16));
    free(dump);
    json_decref(l);
    assert_int_equal(tokens_revoke(st, "ci"), 1);
    assert_int_equal(tokens_verify(st, t, &who), AH_EDENIED);
    assert_int_equal(tokens_verify(st, t2, &who), 0);
    assert_int_equal(tokens_revoke(st, "nobody"), 0);
    assert_int_equal(tokens_create(st, "x", "", t), AH_EINVAL);
    assert_int_equal(tokens_create(st, "x", "a-role-name-too-long", t), AH_EINVAL);
    store_close(st);
    char cmd[100];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens_are_verified_by_hash_and_revocable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
