/*
 * Custom roles and teams through the real binary: a custom role is a set
 * of known permissions (an unknown one refused naming the field, a built-in
 * name refused, its name fixed, deletion refused while held); a team gives
 * its members its roles on their next request and takes them away when
 * they leave; GET /api/v1/auth/me reports the effective permissions.
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

#define PW "a-Long-enough-pass-2026"

static th_host H;
static char viewer_id[64];

static int setup(void **s)
{
    (void)s;
    if (th_init(&H, "auth-teams") || th_config(&H, "{\"instances\": []}") || th_make_token(&H))
        return -1;
    if (th_make_user(&H, "vi@example.com", "viewer", PW, viewer_id, sizeof(viewer_id))) return -1;
    return th_start(&H, NULL, 15000);
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    return rc ? -1 : 0;
}

/* The 4xx answer's error.field, checked; o is freed. */
static void assert_field(json_t *o, const char *field)
{
    const char *f = json_string_value(th_get(o, "error.field"));
    if (!f || strcmp(f, field)) fail_msg("the error names %s, not %s", f ? f : "nothing", field);
    json_decref(o);
}

static bool has(const json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v) && !strcmp(json_string_value(v), s)) return true;
    }
    return false;
}

static void test_a_custom_role_with_an_unknown_permission_is_refused_naming_the_field(void **s)
{
    (void)s;
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "POST", "/api/v1/roles",
                             "{\"name\": \"flyer\", \"permissions\": [\"agents:read\", "
                             "\"agents:fly\"]}",
                             NULL, &o),
                     422);
    assert_field(o, "permissions[1]");
    /* Nothing was written. */
    assert_int_equal(th_http(&H, "GET", "/api/v1/roles?q=flyer", NULL, NULL, &o), 200);
    assert_int_equal(json_array_size(json_object_get(o, "items")), 0);
    json_decref(o);
}

static void test_the_built_in_roles_cannot_be_replaced_and_a_role_keeps_its_name(void **s)
{
    (void)s;
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "POST", "/api/v1/roles",
                             "{\"name\": \"admin\", \"permissions\": [\"agents:read\"]}", NULL, &o),
                     409);
    assert_field(o, "name");
    assert_int_equal(th_http(&H, "POST", "/api/v1/roles",
                             "{\"name\": \"reader\", \"permissions\": [\"agents:read\"]}", NULL,
                             &o),
                     201);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/roles/%s", json_string_value(th_get(o, "id")));
    json_decref(o);
    assert_int_equal(th_http(&H, "PATCH", path, "{\"name\": \"writer\"}", NULL, &o), 422);
    assert_field(o, "name");
    assert_int_equal(th_http(&H, "DELETE", path, NULL, NULL, &o), 204);
    json_decref(o);
}

static void test_a_team_gives_its_members_its_roles_and_takes_them_back(void **s)
{
    (void)s;
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "POST", "/api/v1/roles",
                             "{\"name\": \"agent-maker\", \"permissions\": [\"agents:read\", "
                             "\"agents:write\"]}",
                             NULL, &o),
                     201);
    json_decref(o);
    th_session vi;
    assert_int_equal(th_login(&H, "vi@example.com", PW, &vi, NULL), 200);
    /* A viewer alone makes no agent. */
    assert_int_equal(
        th_session_json(&H, &vi, "POST", "/api/v1/agents", "{\"name\": \"By team\"}", &o), 403);
    assert_string_equal(json_string_value(th_get(o, "error.permission")), "agents:write");
    json_decref(o);
    char body[256], path[128];
    snprintf(body, sizeof(body),
             "{\"name\": \"Makers\", \"members\": [\"%s\"], \"roles\": [\"agent-maker\"]}",
             viewer_id);
    assert_int_equal(th_http(&H, "POST", "/api/v1/teams", body, NULL, &o), 201);
    snprintf(path, sizeof(path), "/api/v1/teams/%s", json_string_value(th_get(o, "id")));
    json_decref(o);
    /* The same session, the next request: the team's role counts. */
    assert_int_equal(
        th_session_json(&H, &vi, "POST", "/api/v1/agents", "{\"name\": \"By team\"}", &o), 201);
    json_decref(o);
    assert_int_equal(th_session_json(&H, &vi, "GET", "/api/v1/auth/me", NULL, &o), 200);
    assert_string_equal(json_string_value(th_get(o, "role")), "viewer");
    assert_string_equal(json_string_value(th_get(o, "teams.0.name")), "Makers");
    assert_true(has(json_object_get(o, "permissions"), "agents:write"));
    assert_true(has(json_object_get(o, "permissions"), "plugins:read")); /* the viewer's own */
    assert_false(has(json_object_get(o, "permissions"), "users:manage"));
    json_decref(o);
    /* A role a team holds cannot be deleted. */
    assert_int_equal(th_http(&H, "GET", "/api/v1/roles?q=agent-maker", NULL, NULL, &o), 200);
    char rpath[128];
    snprintf(rpath, sizeof(rpath), "/api/v1/roles/%s", json_string_value(th_get(o, "items.0.id")));
    json_decref(o);
    assert_int_equal(th_http(&H, "DELETE", rpath, NULL, NULL, &o), 409);
    assert_string_equal(json_string_value(th_get(o, "error.code")), "in_use");
    json_decref(o);
    /* Out of the team, out of its roles. */
    assert_int_equal(th_http(&H, "PATCH", path, "{\"members\": []}", NULL, &o), 200);
    json_decref(o);
    assert_int_equal(
        th_session_json(&H, &vi, "POST", "/api/v1/agents", "{\"name\": \"By team 2\"}", &o), 403);
    json_decref(o);
    assert_int_equal(th_session_json(&H, &vi, "GET", "/api/v1/auth/me", NULL, &o), 200);
    assert_false(has(json_object_get(o, "permissions"), "agents:write"));
    assert_int_equal(json_array_size(json_object_get(o, "teams")), 0);
    json_decref(o);
}

static void test_a_team_or_user_naming_no_such_user_or_role_is_refused_naming_the_field(void **s)
{
    (void)s;
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "POST", "/api/v1/teams",
                             "{\"name\": \"Ghosts\", \"members\": "
                             "[\"usr_01J0000000000000000000000Z\"]}",
                             NULL, &o),
                     422);
    assert_field(o, "members[0]");
    assert_int_equal(th_http(&H, "POST", "/api/v1/teams",
                             "{\"name\": \"Ghosts\", \"roles\": [\"viewer\", \"nope\"]}", NULL, &o),
                     422);
    assert_field(o, "roles[1]");
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/users/%s", viewer_id);
    assert_int_equal(th_http(&H, "PATCH", path, "{\"role\": \"nope\"}", NULL, &o), 422);
    assert_field(o, "role");
}

static void test_a_user_holding_a_custom_role_gets_its_permissions(void **s)
{
    (void)s;
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "POST", "/api/v1/roles",
                             "{\"name\": \"auditor\", \"permissions\": [\"audit:read\"]}", NULL,
                             &o),
                     201);
    json_decref(o);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/users/%s", viewer_id);
    assert_int_equal(th_http(&H, "PATCH", path, "{\"role\": \"auditor\"}", NULL, &o), 200);
    json_decref(o);
    th_session vi;
    assert_int_equal(th_login(&H, "vi@example.com", PW, &vi, NULL), 200);
    assert_int_equal(th_session_json(&H, &vi, "GET", "/api/v1/audit?limit=1", NULL, &o), 200);
    json_decref(o);
    /* The custom role holds only audit:read: agents are now out of reach. */
    assert_int_equal(th_session_json(&H, &vi, "GET", "/api/v1/agents", NULL, &o), 403);
    json_decref(o);
    assert_int_equal(th_http(&H, "PATCH", path, "{\"role\": \"viewer\"}", NULL, &o), 200);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_custom_role_with_an_unknown_permission_is_refused_naming_the_field),
        cmocka_unit_test(test_the_built_in_roles_cannot_be_replaced_and_a_role_keeps_its_name),
        cmocka_unit_test(test_a_team_gives_its_members_its_roles_and_takes_them_back),
        cmocka_unit_test(
            test_a_team_or_user_naming_no_such_user_or_role_is_refused_naming_the_field),
        cmocka_unit_test(test_a_user_holding_a_custom_role_gets_its_permissions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
