/*
 * Grants per agent group through the real binary: a viewer whose team
 * grants the editor role on the sales agents' group sees only those agents,
 * their conversations and contacts in lists; reads and writes of another
 * agent, its conversations and contacts are refused with 403 naming the
 * agent (before any handler: nothing is written); a create or a change
 * that would leave the group is refused; routes about no agent still need
 * the permission outright; GET /api/v1/auth/me reports the grants.
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
static char sa_id[64], group[64], sales[64], support[64], c_sales[64], c_support[64], cv_sales[64],
    cv_support[64], trg_support[64];

static th_session sa; /* Dan's */

/* POST as the admin; the new document's id into id (64 bytes). */
static int make(const char *path, const char *body, char *id)
{
    json_t *o = NULL;
    int st = th_http(&H, "POST", path, body, NULL, &o);
    if (st != 201) {
        char *t = o ? json_dumps(o, 0) : NULL;
        fprintf(stderr, "POST %s: %d %s\n", path, st, t ? t : "");
        free(t);
    }
    if (st == 201) snprintf(id, 64, "%s", json_string_value(json_object_get(o, "id")));
    json_decref(o);
    return st == 201 ? 0 : -1;
}

static int setup(void **s)
{
    (void)s;
    char body[512];
    if (th_init(&H, "auth-grants") || th_config(&H, "{\"instances\": []}") || th_make_token(&H) ||
        th_make_user(&H, "dan@example.com", "viewer", PW, sa_id, sizeof(sa_id)) ||
        th_start(&H, NULL, 15000))
        return -1;
    /* Dan's own role reaches no agent: what he does to agents, the grant gives. */
    char role[64], upath[128];
    json_t *o = NULL;
    snprintf(upath, sizeof(upath), "/api/v1/users/%s", sa_id);
    if (make("/api/v1/roles", "{\"name\": \"desk\", \"permissions\": [\"account:self\"]}", role) ||
        th_http(&H, "PATCH", upath, "{\"role\": \"desk\"}", NULL, &o) != 200)
        return -1;
    json_decref(o);
    if (make("/api/v1/agent-groups", "{\"name\": \"Sales\"}", group)) return -1;
    snprintf(body, sizeof(body), "{\"name\": \"Sales bot\", \"group_id\": \"%s\"}", group);
    if (make("/api/v1/agents", body, sales) ||
        make("/api/v1/agents", "{\"name\": \"Support bot\"}", support) ||
        make("/api/v1/contacts", "{\"tags\": [\"buyer\"]}", c_sales) ||
        make("/api/v1/contacts", "{\"tags\": [\"caller\"]}", c_support))
        return -1;
    snprintf(body, sizeof(body), "{\"agent_id\": \"%s\", \"contact_id\": \"%s\"}", sales, c_sales);
    if (make("/api/v1/conversations", body, cv_sales)) return -1;
    snprintf(body, sizeof(body), "{\"agent_id\": \"%s\", \"contact_id\": \"%s\"}", support,
             c_support);
    if (make("/api/v1/conversations", body, cv_support)) return -1;
    snprintf(
        body, sizeof(body),
        "{\"agent_id\": \"%s\", \"kind\": \"on_command\", \"command\": {\"name\": \"/support\"}}",
        support);
    if (make("/api/v1/triggers", body, trg_support)) return -1;
    char team[64];
    snprintf(body, sizeof(body),
             "{\"name\": \"Sales desk\", \"members\": [\"%s\"], \"grants\": [{\"role\": "
             "\"editor\", \"agent_group_id\": \"%s\"}]}",
             sa_id, group);
    if (make("/api/v1/teams", body, team)) return -1;
    return th_login(&H, "dan@example.com", PW, &sa, NULL) == 200 ? 0 : -1;
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    return rc ? -1 : 0;
}

static int as_sa(const char *method, const char *path, const char *json, json_t **out)
{
    return th_session_json(&H, &sa, method, path, json, out);
}

/* The ids of a list's items, as one string "id,id,". */
static void ids_of(json_t *o, char *out, size_t n)
{
    size_t i, at = 0;
    json_t *v;
    out[0] = 0;
    json_array_foreach(json_object_get(o, "items"), i, v)
    {
        at += (size_t)snprintf(out + at, n - at, "%s,",
                               json_string_value(json_object_get(v, "id")) ?: "?");
        if (at >= n) break;
    }
}

/* The request as dan answers 403 naming the agent. */
static void assert_refused_naming(const char *method, const char *path, const char *json,
                                  const char *agent)
{
    json_t *o = NULL;
    int st = as_sa(method, path, json, &o);
    if (st != 403) fail_msg("%s %s answered %d, not 403", method, path, st);
    const char *named = json_string_value(th_get(o, "error.agent_id"));
    if (!named) named = json_string_value(th_get(o, "error.message"));
    if (!named || !strstr(named, agent)) fail_msg("the 403 does not name %s", agent);
    json_decref(o);
}

static void test_lists_show_only_the_granted_agents_and_what_is_theirs(void **s)
{
    (void)s;
    json_t *o = NULL;
    char got[1024], want[256];
    assert_int_equal(as_sa("GET", "/api/v1/agents", NULL, &o), 200);
    ids_of(o, got, sizeof(got));
    snprintf(want, sizeof(want), "%s,", sales);
    assert_string_equal(got, want);
    assert_true(json_is_null(json_object_get(o, "total"))); /* a filtered page has no total */
    json_decref(o);
    assert_int_equal(as_sa("GET", "/api/v1/conversations", NULL, &o), 200);
    ids_of(o, got, sizeof(got));
    snprintf(want, sizeof(want), "%s,", cv_sales);
    assert_string_equal(got, want);
    json_decref(o);
    assert_int_equal(as_sa("GET", "/api/v1/contacts", NULL, &o), 200);
    ids_of(o, got, sizeof(got));
    snprintf(want, sizeof(want), "%s,", c_sales);
    assert_string_equal(got, want);
    json_decref(o);
    assert_int_equal(as_sa("GET", "/api/v1/triggers", NULL, &o), 200);
    assert_int_equal(json_array_size(json_object_get(o, "items")), 0);
    json_decref(o);
    /* The admin sees them all: the filter is the caller's. */
    assert_int_equal(th_http(&H, "GET", "/api/v1/agents", NULL, NULL, &o), 200);
    assert_int_equal(json_array_size(json_object_get(o, "items")), 2);
    json_decref(o);
}

static void test_reads_of_another_agents_things_are_refused_naming_the_agent(void **s)
{
    (void)s;
    json_t *o = NULL;
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/conversations/%s", cv_support);
    assert_refused_naming("GET", path, NULL, support);
    snprintf(path, sizeof(path), "/api/v1/conversations/%s/context", cv_support);
    assert_refused_naming("GET", path, NULL, support);
    snprintf(path, sizeof(path), "/api/v1/agents/%s", support);
    assert_refused_naming("GET", path, NULL, support);
    snprintf(path, sizeof(path), "/api/v1/contacts/%s", c_support);
    assert_refused_naming("GET", path, NULL, support);
    snprintf(path, sizeof(path), "/api/v1/triggers/%s", trg_support);
    assert_refused_naming("GET", path, NULL, support);
    /* Their own are open. */
    snprintf(path, sizeof(path), "/api/v1/conversations/%s", cv_sales);
    assert_int_equal(as_sa("GET", path, NULL, &o), 200);
    json_decref(o);
    snprintf(path, sizeof(path), "/api/v1/contacts/%s", c_sales);
    assert_int_equal(as_sa("GET", path, NULL, &o), 200);
    json_decref(o);
    assert_true(th_wait_file(&H, "logs/security.log", support, 3000));
}

static void test_writes_to_another_agent_are_refused_and_change_nothing(void **s)
{
    (void)s;
    json_t *o = NULL;
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/agents/%s", support);
    assert_refused_naming("PATCH", path, "{\"description\": \"Mine now\"}", support);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    assert_null(json_object_get(o, "description"));
    json_decref(o);
    assert_refused_naming("DELETE", path, NULL, support);
    /* The granted agent is theirs to edit. */
    snprintf(path, sizeof(path), "/api/v1/agents/%s", sales);
    assert_int_equal(as_sa("PATCH", path, "{\"description\": \"Sells\"}", &o), 200);
    json_decref(o);
}

static void test_a_create_or_change_leaving_the_grants_is_refused(void **s)
{
    (void)s;
    json_t *o = NULL;
    char body[256], path[160];
    /* An agent outside any granted group, or a conversation of another agent. */
    assert_int_equal(as_sa("POST", "/api/v1/agents", "{\"name\": \"Rogue\"}", &o), 403);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "group_id");
    json_decref(o);
    snprintf(body, sizeof(body), "{\"agent_id\": \"%s\", \"contact_id\": \"%s\"}", support,
             c_sales);
    assert_refused_naming("POST", "/api/v1/conversations", body, support);
    /* Nor with another agent's contact, which it would then show. */
    snprintf(body, sizeof(body), "{\"agent_id\": \"%s\", \"contact_id\": \"%s\"}", sales,
             c_support);
    assert_int_equal(as_sa("POST", "/api/v1/conversations", body, &o), 403);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "contact_id");
    json_decref(o);
    char cpath[160];
    snprintf(cpath, sizeof(cpath), "/api/v1/contacts/%s/link", c_sales);
    snprintf(body, sizeof(body), "{\"contact_id\": \"%s\"}", c_support);
    assert_int_equal(as_sa("POST", cpath, body, &o), 403);
    json_decref(o);
    /* In the group: allowed. */
    snprintf(body, sizeof(body), "{\"name\": \"Sales bot 2\", \"group_id\": \"%s\"}", group);
    assert_int_equal(as_sa("POST", "/api/v1/agents", body, &o), 201);
    json_decref(o);
    /* Moving the granted agent out of its group would lose it: refused. */
    snprintf(path, sizeof(path), "/api/v1/agents/%s", sales);
    assert_int_equal(as_sa("PATCH", path, "{\"group_id\": null}", &o), 403);
    json_decref(o);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    assert_string_equal(json_string_value(json_object_get(o, "group_id")), group);
    json_decref(o);
}

static void test_routes_about_no_agent_still_need_the_permission_outright(void **s)
{
    (void)s;
    json_t *o = NULL;
    /* The editor role's bus and contact lookups are not granted per agent. */
    assert_int_equal(as_sa("GET", "/api/v1/topics", NULL, &o), 403);
    json_decref(o);
    assert_int_equal(as_sa("GET", "/api/v1/contacts/lookup?channel=telegram&id=1", NULL, &o), 403);
    assert_string_equal(json_string_value(th_get(o, "error.permission")), "contacts:read");
    json_decref(o);
    assert_int_equal(as_sa("POST", "/api/v1/contacts", "{}", &o), 403);
    json_decref(o);
    assert_int_equal(as_sa("GET", "/api/v1/agent-groups", NULL, &o), 403);
    json_decref(o);
}

static void test_me_reports_the_grants_beside_the_permissions(void **s)
{
    (void)s;
    json_t *o = NULL;
    assert_int_equal(as_sa("GET", "/api/v1/auth/me", NULL, &o), 200);
    const char *g = json_string_value(th_get(o, "grants.0.agent_group_id"));
    if (!g || strcmp(g, group)) {
        char *t = json_dumps(o, 0);
        fail_msg("/auth/me: %s", t ? t : "");
    }
    json_t *gp = th_get(o, "grants.0.permissions");
    bool write = false, bus = false;
    size_t i;
    json_t *v;
    json_array_foreach(gp, i, v)
    {
        write |= !strcmp(json_string_value(v), "agents:write");
        bus |= !strcmp(json_string_value(v), "bus:read");
    }
    assert_true(write);
    assert_false(bus); /* a grant gives only what is about agents */
    json_array_foreach(json_object_get(o, "permissions"), i, v)
        assert_string_not_equal(json_string_value(v), "agents:write");
    json_decref(o);
}

static void test_a_grant_naming_no_such_agent_is_refused_naming_the_field(void **s)
{
    (void)s;
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "POST", "/api/v1/teams",
                             "{\"name\": \"Ghost desk\", \"grants\": [{\"role\": \"editor\", "
                             "\"agent_id\": \"agt_01J00000000000000000000000\"}]}",
                             NULL, &o),
                     422);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "grants[0].agent_id");
    json_decref(o);
    char body[256];
    snprintf(body, sizeof(body),
             "{\"grants\": [{\"role\": \"editor\", \"agent_id\": \"%s\", \"agent_group_id\": "
             "\"%s\"}]}",
             sales, group);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/users/%s", sa_id);
    assert_int_equal(th_http(&H, "PATCH", path, body, NULL, &o), 422);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "grants[0]");
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lists_show_only_the_granted_agents_and_what_is_theirs),
        cmocka_unit_test(test_reads_of_another_agents_things_are_refused_naming_the_agent),
        cmocka_unit_test(test_writes_to_another_agent_are_refused_and_change_nothing),
        cmocka_unit_test(test_a_create_or_change_leaving_the_grants_is_refused),
        cmocka_unit_test(test_routes_about_no_agent_still_need_the_permission_outright),
        cmocka_unit_test(test_me_reports_the_grants_beside_the_permissions),
        cmocka_unit_test(test_a_grant_naming_no_such_agent_is_refused_naming_the_field),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
