/*
 * The OpenAPI document and the router agree, both ways (routes and the
 * permission each needs, x-permission), and every
 * documented operation, called as its x-test says, answers with a
 * documented status and a body matching the documented schema.
 */
#include "../support/th.h"
#include "core/jsonschema.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static th_host H;
static json_t *DOC;
static char dlq_first[40], dlq_second[40];

#define HOOK_SECRET "openapi-hook-secret"

static int setup(void **s)
{
    (void)s;
    /* Two dead letters for the DLQ operations, and an event that flows. */
    if (th_start_echo_with_dead_letters(&H, "openapi", HOOK_SECRET) != 0) return -1;
    json_t *o;
    if (th_http(&H, "POST", "/api/v1/topics/echo.in/events", "[{\"body\":{\"n\":1}}]", NULL, &o) !=
        201)
        return -1;
    json_decref(o);
    if (th_http(&H, "GET", "/api/v1/topics/echo.in/dlq", NULL, NULL, &o) != 200) return -1;
    snprintf(dlq_first, sizeof(dlq_first), "%s", json_string_value(th_get(o, "events.0.id")) ?: "");
    snprintf(dlq_second, sizeof(dlq_second), "%s",
             json_string_value(th_get(o, "events.1.id")) ?: "");
    json_decref(o);
    if (!dlq_first[0] || !dlq_second[0] || !th_wait_state(&H, "echo", "ready", 10000)) return -1;
    if (th_http(&H, "GET", "/api/v1/openapi.json", NULL, "", NULL) != 401) return -1;
    if (th_http(&H, "GET", "/api/v1/openapi.json", NULL, NULL, &DOC) != 200 || !DOC) return -1;
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    json_decref(DOC);
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    return rc ? -1 : 0;
}

/* "{rest...}" in the router is "{rest}" in OpenAPI. */
static void normalize(const char *in, char *out, size_t n)
{
    snprintf(out, n, "%s", in);
    char *dots;
    while ((dots = strstr(out, "...}")) != NULL)
        memmove(dots, dots + 3, strlen(dots + 3) + 1);
}

static json_t *router_routes(void)
{
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "%s/agenthost routes --json", TH_BUILD_DIR);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    json_error_t je;
    json_t *r = json_loadf(p, 0, &je);
    pclose(p);
    assert_non_null(r);
    return r;
}

static void test_document_and_router_list_the_same_routes(void **s)
{
    (void)s;
    json_t *routes = router_routes();
    json_t *paths = json_object_get(DOC, "paths");
    size_t i;
    json_t *r;
    int n_router = 0;
    json_array_foreach(routes, i, r)
    {
        char path[512], method[16];
        normalize(json_string_value(json_object_get(r, "path")), path, sizeof(path));
        const char *m = json_string_value(json_object_get(r, "method"));
        for (size_t k = 0; m[k] && k < sizeof(method) - 1; k++)
            method[k] = (char)(m[k] + 32), method[k + 1] = 0;
        json_t *op = json_object_get(json_object_get(paths, path), method);
        if (!op) fail_msg("router has %s %s, the document does not", m, path);
        /* The permission the document lists is the route table's. */
        const char *want = json_string_value(json_object_get(r, "permission"));
        const char *doc_perm = json_string_value(json_object_get(op, "x-permission"));
        if (!doc_perm || strcmp(doc_perm, want))
            fail_msg("%s %s: x-permission is %s, the route table says %s", m, path,
                     doc_perm ? doc_perm : "missing", want);
        n_router++;
    }
    int n_doc = 0;
    const char *path;
    json_t *item;
    json_object_foreach(paths, path, item)
    {
        const char *method;
        json_t *op;
        json_object_foreach(item, method, op)
        {
            bool found = false;
            json_array_foreach(routes, i, r)
            {
                char rp[512];
                normalize(json_string_value(json_object_get(r, "path")), rp, sizeof(rp));
                if (!strcmp(rp, path) &&
                    !strcasecmp(json_string_value(json_object_get(r, "method")), method))
                    found = true;
            }
            if (!found) fail_msg("the document has %s %s, the router does not", method, path);
            n_doc++;
        }
    }
    assert_int_equal(n_doc, n_router);
    json_decref(routes);
}

typedef struct op {
    const char *path, *method;
    json_t *def;
    json_int_t order;
} op;

static int by_order(const void *a, const void *b)
{
    json_int_t x = ((const op *)a)->order, y = ((const op *)b)->order;
    return x < y ? -1 : x > y;
}

/* Values saved from earlier answers (x-test "save": {"var": "field"}), for
 * later operations' "{var}" placeholders: ids of the documents created. */
static json_t *saved;

static void fill(const char *in, json_t *params, char *out, size_t n)
{
    /* Replace {name} by params[name], then placeholders by test values. */
    size_t o = 0;
    for (const char *p = in; *p && o + 1 < n;) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            char name[64];
            snprintf(name, sizeof(name), "%.*s", (int)(close - p - 1), p + 1);
            const char *v = json_string_value(json_object_get(params, name));
            if (!v) v = json_string_value(json_object_get(saved, name));
            if (!v && !strcmp(name, "dlq_first")) v = dlq_first;
            if (!v && !strcmp(name, "dlq_second")) v = dlq_second;
            if (!v && !strcmp(name, "hook_secret")) v = HOOK_SECRET;
            if (v) {
                char sub[512];
                fill(v, params, sub, sizeof(sub));
                o += (size_t)snprintf(out + o, n - o, "%s", sub);
                p = close + 1;
                continue;
            }
        }
        out[o++] = *p++;
    }
    out[o < n ? o : n - 1] = 0;
}

/* Keep what x-test "save" asks for from an answer's body. */
static void save_from(const json_t *xt, const char *body)
{
    json_t *got = body ? json_loads(body, 0, NULL) : NULL;
    const char *var;
    json_t *field;
    json_object_foreach(json_object_get(xt, "save"), var, field)
    {
        json_t *v = th_get(got, json_string_value(field));
        if (!json_is_string(v))
            fail_msg("cannot save %s: the answer has no string %s", var, json_string_value(field));
        json_object_set(saved, var, v);
    }
    json_decref(got);
}

/* x-test "setup": requests made first (with the token), each with its own
 * "save". */
static void run_setup(const json_t *xt)
{
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(xt, "setup"), i, st)
    {
        char path[512], auth[256], body[4096] = "";
        fill(json_string_value(json_object_get(st, "path")), NULL, path, sizeof(path));
        json_t *jb = json_object_get(st, "body");
        char *raw = jb ? json_dumps(jb, JSON_COMPACT) : NULL;
        if (raw) fill(raw, NULL, body, sizeof(body));
        free(raw);
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", H.token);
        const char *hs[] = {auth, NULL};
        char *rb = NULL;
        int status = th_http_raw(&H, json_string_value(json_object_get(st, "method")), path,
                                 jb ? "application/json" : NULL, jb ? body : NULL,
                                 jb ? strlen(body) : 0, hs, NULL, &rb);
        if (status >= 300) fail_msg("setup %s answered %d: %s", path, status, rb ? rb : "");
        save_from(st, rb);
        free(rb);
    }
}

static void test_every_documented_operation_answers_as_documented(void **s)
{
    (void)s;
    saved = json_object();
    op ops[256];
    size_t nops = 0;
    const char *path;
    json_t *item;
    json_object_foreach(json_object_get(DOC, "paths"), path, item)
    {
        const char *method;
        json_t *def;
        json_object_foreach(item, method, def)
        {
            json_t *xt = json_object_get(def, "x-test");
            if (!xt) fail_msg("%s %s has no x-test", method, path);
            if (nops == sizeof(ops) / sizeof(ops[0]))
                fail_msg("more operations than the test holds");
            ops[nops++] = (op){path, method, def, json_integer_value(json_object_get(xt, "order"))};
        }
    }
    qsort(ops, nops, sizeof(ops[0]), by_order);
    for (size_t i = 0; i < nops; i++) {
        json_t *xt = json_object_get(ops[i].def, "x-test");
        json_t *params = json_object_get(xt, "params");
        run_setup(xt);
        char url[1024], filled[900];
        fill(ops[i].path, params, filled, sizeof(filled));
        const char *q = json_string_value(json_object_get(xt, "query"));
        snprintf(url, sizeof(url), "%s%s%s", filled, q ? "?" : "", q ? q : "");
        const char *headers[8] = {0};
        char hbuf[6][256], auth[256];
        int nh = 0;
        size_t k;
        json_t *h;
        json_array_foreach(json_object_get(xt, "headers"), k, h)
        {
            fill(json_string_value(h), params, hbuf[nh], sizeof(hbuf[nh]));
            headers[nh] = hbuf[nh];
            nh++;
        }
        bool secured = !json_is_array(json_object_get(ops[i].def, "security")) ||
                       json_array_size(json_object_get(ops[i].def, "security")) > 0;
        char method[16];
        for (k = 0; ops[i].method[k] && k < sizeof(method) - 1; k++)
            method[k] = (char)(ops[i].method[k] - 32), method[k + 1] = 0;
        json_t *jb = json_object_get(xt, "body");
        char *rawbody = jb ? json_dumps(jb, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        char *body = rawbody ? malloc(strlen(rawbody) + 4096) : NULL;
        if (body) fill(rawbody, params, body, strlen(rawbody) + 4096);
        free(rawbody);
        if (secured) {
            /* Without a token: 401 in the documented error shape. */
            char *rb = NULL;
            int st = th_http_raw(&H, method, url, body ? "application/json" : NULL, body,
                                 body ? strlen(body) : 0, headers, NULL, &rb);
            if (st != 401) fail_msg("%s %s without a token answered %d", method, url, st);
            json_t *err = json_loads(rb, 0, NULL);
            assert_non_null(json_object_get(err, "error"));
            json_decref(err);
            free(rb);
            snprintf(auth, sizeof(auth), "Authorization: Bearer %s", H.token);
            headers[nh++] = auth;
        }
        char *rh = NULL, *rb = NULL;
        int st = th_http_raw(&H, method, url, body ? "application/json" : NULL, body,
                             body ? strlen(body) : 0, headers, &rh, &rb);
        free(body);
        int want = (int)json_integer_value(json_object_get(xt, "status"));
        if (st != want)
            fail_msg("%s %s answered %d, x-test expects %d: %s", method, url, st, want,
                     rb ? rb : "");
        char code[8];
        snprintf(code, sizeof(code), "%d", st);
        json_t *resp = json_object_get(json_object_get(ops[i].def, "responses"), code);
        if (!resp) fail_msg("%s %s answered %d, which the document does not list", method, url, st);
        json_t *ref = json_object_get(resp, "$ref");
        if (ref) {
            /* "#/components/responses/Error" */
            const char *name = strrchr(json_string_value(ref), '/') + 1;
            resp = json_object_get(json_object_get(json_object_get(DOC, "components"), "responses"),
                                   name);
        }
        json_t *schema = json_object_get(
            json_object_get(json_object_get(resp, "content"), "application/json"), "schema");
        if (schema) {
            json_t *got = rb ? json_loads(rb, JSON_DECODE_ANY, NULL) : NULL;
            char err[512];
            if (!got || jsonschema_validate_in(DOC, schema, got, err, sizeof(err)) != 0)
                fail_msg("%s %s: the body does not match the documented schema: %s", method, url,
                         got ? err : "not JSON");
            json_decref(got);
        }
        save_from(xt, rb);
        free(rh);
        free(rb);
        if (!strcmp(ops[i].path, "/api/v1/instances/{id}/restart") ||
            !strcmp(ops[i].path, "/api/v1/instances/{id}/enable"))
            th_wait_state(&H, "echo", "ready", 10000);
        if (!strcmp(ops[i].path, "/api/v1/instances/{id}/disable"))
            th_wait_state(&H, "echo", "disabled", 10000);
    }
    json_decref(saved);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_document_and_router_list_the_same_routes),
        cmocka_unit_test(test_every_documented_operation_answers_as_documented),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
