/*
 * Permissions through the real binary: every route, called with a token
 * of every built-in role and of a custom role (a set of permissions made
 * through /api/v1/roles), is allowed or refused exactly as the route
 * table (each route's permission) and the roles (host/auth/perm.h) say;
 * a refusal is 403 naming the missing permission, comes before the
 * handler runs, and is written to logs/security.log.
 */
#include "../support/th.h"
#include "api/api.h"
#include "auth/perm.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static th_host H;
#define NROLES 5
/* The built-in roles' tokens, then the custom role's. */
static char tokens[NROLES + 1][128];
#define CUSTOM NROLES
/* Not any built-in role's set: a reader of agents and audit who writes
 * scenarios but cannot read them. */
static const char *const custom_perms[] = {"agents:read", "scenarios:write", "conversations:read",
                                           "audit:read",  "webhooks:read",   NULL};

static bool custom_allows(const char *perm)
{
    for (int i = 0; custom_perms[i]; i++)
        if (!strcmp(custom_perms[i], perm)) return true;
    return false;
}

static bool role_allows(int k, const char *perm)
{
    if (k == CUSTOM) return custom_allows(perm);
    int p = auth_perm_parse(perm);
    return p >= 0 && auth_role_allows(auth_roles()[k], (auth_perm)p);
}

static const char *role_name(int k)
{
    return k == CUSTOM ? "walker" : auth_roles()[k];
}

/* The custom role made through the API; its token made by the CLI (the
 * host stopped), as an operator would. */
static int make_custom_role(void)
{
    json_t *perms = json_array();
    for (int i = 0; custom_perms[i]; i++)
        json_array_append_new(perms, json_string(custom_perms[i]));
    json_t *body = json_pack("{s:s,s:o}", "name", "walker", "permissions", perms);
    char *text = json_dumps(body, 0);
    json_decref(body);
    json_t *o = NULL;
    int st = th_http(&H, "POST", "/api/v1/roles", text, NULL, &o);
    free(text);
    json_decref(o);
    if (st != 201 || th_stop_clean(&H, 10000)) return -1;
    if (th_cli(&H, NULL, tokens[CUSTOM], sizeof(tokens[CUSTOM]), "token", "create", "--name",
               "walker", "--role", "walker", NULL) != 0)
        return -1;
    tokens[CUSTOM][strcspn(tokens[CUSTOM], "\n")] = 0;
    return th_start(&H, NULL, 15000);
}

static int setup(void **s)
{
    (void)s;
    if (th_init(&H, "auth-roles") || th_install_plugin(&H, "echo") ||
        th_config(&H, "{\"instances\": [{\"id\": \"echo\", \"plugin\": \"echo\"}]}") ||
        th_make_token(&H))
        return -1;
    const char *const *roles = auth_roles();
    for (int i = 0; i < NROLES; i++) {
        if (!roles[i] || th_cli(&H, NULL, tokens[i], sizeof(tokens[i]), "token", "create", "--name",
                                roles[i], "--role", roles[i], NULL) != 0)
            return -1;
        tokens[i][strcspn(tokens[i], "\n")] = 0;
    }
    if (th_start(&H, NULL, 15000) || make_custom_role() ||
        !th_wait_state(&H, "echo", "ready", 10000))
        return -1;
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    return rc ? -1 : 0;
}

/* "/api/v1/agents/{id}" -> "/api/v1/agents/none-such"; "{path...}" -> "x". */
static void fill(const char *pattern, char *out, size_t n)
{
    size_t o = 0;
    for (const char *p = pattern; *p && o + 16 < n;) {
        if (*p == '{') {
            o += (size_t)snprintf(out + o, n - o, "none-such");
            p = strchr(p, '}') + 1;
            continue;
        }
        out[o++] = *p++;
    }
    out[o] = 0;
}

static void test_every_route_with_every_role_is_allowed_or_refused_as_the_table_says(void **s)
{
    (void)s;
    size_t n;
    char err[512];
    const route *r = api_routes(&n, err, sizeof(err));
    assert_non_null(r);
    int checked = 0, denied = 0, custom_allowed = 0, custom_denied = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(r[i].perm, AUTH_PUBLIC)) continue;
        int perm = auth_perm_parse(r[i].perm);
        assert_true(perm >= 0);
        char path[1024];
        fill(r[i].pattern, path, sizeof(path));
        for (int k = 0; k <= CUSTOM; k++) {
            char auth[200], *rb = NULL;
            snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tokens[k]);
            const char *hs[] = {auth, NULL};
            int st = th_http_raw(&H, r[i].method, path, NULL, NULL, 0, hs, NULL, &rb);
            bool allowed = role_allows(k, r[i].perm);
            if (k == CUSTOM && allowed) custom_allowed++;
            if (k == CUSTOM && !allowed) custom_denied++;
            if (allowed && (st == 401 || st == 403))
                fail_msg("%s %s as %s (%s allowed) answered %d: %s", r[i].method, path,
                         role_name(k), r[i].perm, st, rb ? rb : "");
            if (!allowed) {
                if (st != 403)
                    fail_msg("%s %s as %s (no %s) answered %d, not 403", r[i].method, path,
                             role_name(k), r[i].perm, st);
                json_t *e = json_loads(rb, 0, NULL);
                const char *named = json_string_value(th_get(e, "error.permission"));
                if (!named || strcmp(named, r[i].perm))
                    fail_msg("%s %s as %s: the 403 names %s, not %s", r[i].method, path,
                             role_name(k), named ? named : "nothing", r[i].perm);
                assert_string_equal(json_string_value(th_get(e, "error.code")), "forbidden");
                json_decref(e);
                denied++;
            }
            free(rb);
            checked++;
        }
    }
    assert_true(checked >= 6 * 60); /* every route, not a handful */
    assert_true(denied > 0);
    /* The custom role was walked both ways: its set, not all or nothing. */
    assert_true(custom_allowed >= 5);
    assert_true(custom_denied > custom_allowed);
    assert_true(th_wait_file(&H, "logs/security.log", "permission_denied", 3000));
}

static void test_a_refused_request_never_reaches_its_handler(void **s)
{
    (void)s;
    /* A viewer's well-formed create is refused before anything is written. */
    json_t *o = NULL;
    assert_int_equal(
        th_http(&H, "POST", "/api/v1/agents", "{\"name\": \"Refused\"}", tokens[NROLES - 1], &o),
        403);
    json_decref(o);
    assert_int_equal(th_http(&H, "GET", "/api/v1/agents?q=Refused", NULL, NULL, &o), 200);
    assert_int_equal(json_array_size(json_object_get(o, "items")), 0);
    json_decref(o);
    /* The editor may create it: the refusal was the permission, not the body. */
    assert_int_equal(
        th_http(&H, "POST", "/api/v1/agents", "{\"name\": \"Refused\"}", tokens[1], &o), 201);
    json_decref(o);
}

static void test_the_denial_in_security_log_names_actor_role_and_permission(void **s)
{
    (void)s;
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "GET", "/api/v1/audit", NULL, tokens[2], &o), 403);
    json_decref(o);
    assert_true(th_wait_file(&H, "logs/security.log", "\"permission\":\"audit:read\"", 3000));
    assert_true(th_file_contains(&H, "logs/security.log", "\"role\":\"operator\""));
}

static void test_the_cli_refuses_a_token_with_an_unknown_role(void **s)
{
    (void)s;
    char out[256];
    assert_int_not_equal(th_cli(&H, NULL, out, sizeof(out), "token", "create", "--name", "x",
                                "--role", "root", NULL),
                         0);
}

static char *slurp(FILE *f)
{
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    size_t got;
    while (b && (got = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) b = realloc(b, cap *= 2);
    }
    if (b) b[n] = 0;
    return b;
}

static void test_the_permissions_table_in_the_docs_is_the_route_tables(void **s)
{
    (void)s;
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "%s/agenthost routes --markdown", TH_BUILD_DIR);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *table = slurp(p);
    assert_int_equal(pclose(p), 0);
    FILE *f = fopen(TH_SOURCE_DIR "/docs/security-model.md", "r");
    assert_non_null(f);
    char *doc = slurp(f);
    fclose(f);
    const char *begin = "<!-- permissions:begin -->\n", *end = "<!-- permissions:end -->\n";
    char *b = strstr(doc, begin), *e = strstr(doc, end);
    if (!b || !e) fail_msg("docs/security-model.md: no %s ... %s markers", begin, end);
    b += strlen(begin);
    if ((size_t)(e - b) != strlen(table) || memcmp(b, table, strlen(table)))
        fail_msg("docs/security-model.md: the permissions table differs from the route table; "
                 "run scripts/permissions-doc.sh build-test/agenthost");
    free(table);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_route_with_every_role_is_allowed_or_refused_as_the_table_says),
        cmocka_unit_test(test_a_refused_request_never_reaches_its_handler),
        cmocka_unit_test(test_the_denial_in_security_log_names_actor_role_and_permission),
        cmocka_unit_test(test_the_cli_refuses_a_token_with_an_unknown_role),
        cmocka_unit_test(test_the_permissions_table_in_the_docs_is_the_route_tables),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
