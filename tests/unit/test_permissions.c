/*
 * The permission table: every route names a permission the roles know,
 * and the built-in roles nest as documented (viewer within analyst and
 * operator, those within editor, everything for admin).
 */
#include "api/api.h"
#include "auth/perm.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

static void test_every_route_declares_a_known_permission(void **s)
{
    (void)s;
    size_t n;
    char err[512] = "";
    const route *r = api_routes(&n, err, sizeof(err));
    if (!r) fail_msg("%s", err);
    for (size_t i = 0; i < n; i++)
        if (strcmp(r[i].perm, AUTH_PUBLIC) && auth_perm_parse(r[i].perm) < 0)
            fail_msg("%s %s: unknown permission %s", r[i].method, r[i].pattern, r[i].perm);
}

/* Public routes carry their own credential (a webhook's secret, a web chat
 * session's token, a password at login) or none at all (health). */
static bool public_by_design(const route *r)
{
    static const char *const prefixes[] = {"/hooks/", "/api/v1/auth/", "/chat/", NULL};
    static const char *const exact[] = {"/health", "/ready", "/metrics", NULL};
    for (const char *const *p = prefixes; *p; p++)
        if (!strncmp(r->pattern, *p, strlen(*p))) return true;
    for (const char *const *p = exact; *p; p++)
        if (!strcmp(r->pattern, *p)) return true;
    /* on_webhook triggers' ingress: the trigger's secret proves the sender */
    return !strcmp(r->method, "POST") && !strcmp(r->pattern, "/api/v1/triggers/{id}/webhook");
}

static void test_only_health_webhooks_login_and_web_chat_are_public(void **s)
{
    (void)s;
    size_t n;
    char err[512];
    const route *r = api_routes(&n, err, sizeof(err));
    assert_non_null(r);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(r[i].perm, AUTH_PUBLIC) && !public_by_design(&r[i]))
            fail_msg("%s %s is public", r[i].method, r[i].pattern);
}

static bool subset(const char *a, const char *b)
{
    auth_perms pa, pb;
    assert_true(auth_role_perms(a, &pa) && auth_role_perms(b, &pb));
    return (pa & ~pb) == 0 && pa != pb;
}

static void test_the_built_in_roles_nest(void **s)
{
    (void)s;
    assert_true(subset("viewer", "analyst"));
    assert_true(subset("viewer", "operator"));
    assert_true(subset("analyst", "editor"));
    assert_true(subset("operator", "editor"));
    assert_true(subset("editor", "admin"));
    for (int p = 0; p < PERM_COUNT; p++)
        assert_true(auth_role_allows("admin", (auth_perm)p));
    assert_false(auth_role_allows("editor", PERM_USERS_MANAGE));
    assert_false(auth_role_allows("editor", PERM_CONTACTS_ERASE));
    assert_false(auth_role_allows("analyst", PERM_CONVERSATIONS_WRITE));
    assert_true(auth_role_allows("operator", PERM_CONVERSATIONS_REPLY));
    assert_false(auth_role_allows("root", PERM_AGENTS_READ));
    assert_int_equal(auth_perm_parse("agents:read"), PERM_AGENTS_READ);
    assert_int_equal(auth_perm_parse("agents:reed"), -1);
    assert_int_equal(auth_perm_parse(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_route_declares_a_known_permission),
        cmocka_unit_test(test_only_health_webhooks_login_and_web_chat_are_public),
        cmocka_unit_test(test_the_built_in_roles_nest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
