#include "cmocka_pre.h"

#include "http/router.h"

#include <string.h>

static void fn(void *c, http_req *r, const route_params *p)
{
    (void)c;
    (void)r;
    (void)p;
}

static const route R[] = {
    {"GET", "/health", fn, "public", ""},
    {"GET", "/api/v1/instances/{id}", fn, "plugins:read", ""},
    {"POST", "/api/v1/instances/{id}/restart", fn, "plugins:manage", ""},
    {"GET", "/api/v1/topics/{topic}/events", fn, "plugins:read", ""},
    {"POST", "/api/v1/topics/{topic}/events", fn, "bus:write", ""},
    {"POST", "/hooks/{instance}/{path...}", fn, "public", ""},
};
#define N (sizeof(R) / sizeof(R[0]))

static void test_routes_match_with_parameters(void **s)
{
    (void)s;
    const route *rt;
    route_params p;
    char allow[64];
    assert_int_equal(router_match(R, N, "GET", "/api/v1/instances/echo-1", &rt, &p, allow, 64),
                     ROUTER_MATCH);
    assert_ptr_equal(rt, &R[1]);
    assert_string_equal(route_param(&p, "id"), "echo-1");
    assert_int_equal(
        router_match(R, N, "GET", "/api/v1/topics/message.in/events", &rt, &p, allow, 64),
        ROUTER_MATCH);
    assert_string_equal(route_param(&p, "topic"), "message.in");
    assert_int_equal(router_match(R, N, "POST", "/hooks/tg/update/a/b", &rt, &p, allow, 64),
                     ROUTER_MATCH);
    assert_string_equal(route_param(&p, "instance"), "tg");
    assert_string_equal(route_param(&p, "path"), "update/a/b");
    assert_int_equal(router_match(R, N, "POST", "/hooks/tg", &rt, &p, allow, 64), ROUTER_MATCH);
    assert_string_equal(route_param(&p, "path"), "");
    assert_int_equal(router_match(R, N, "HEAD", "/health", &rt, &p, allow, 64), ROUTER_MATCH);
}

static void test_wrong_method_lists_what_is_allowed(void **s)
{
    (void)s;
    const route *rt;
    route_params p;
    char allow[64];
    assert_int_equal(router_match(R, N, "DELETE", "/api/v1/topics/x/events", &rt, &p, allow, 64),
                     ROUTER_BAD_METHOD);
    assert_string_equal(allow, "GET, POST, HEAD");
    assert_int_equal(router_match(R, N, "GET", "/api/v1/nothing", &rt, &p, allow, 64),
                     ROUTER_NOT_FOUND);
    assert_int_equal(router_match(R, N, "GET", "/api/v1/instances/", &rt, &p, allow, 64),
                     ROUTER_NOT_FOUND);
}

static void test_traversal_and_control_characters_are_bad_paths(void **s)
{
    (void)s;
    const route *rt;
    route_params p;
    const char *bad[] = {
        "/api/v1/instances/../../etc", "/api/v1/./instances/x", "//health", "health",
        "/api/v1/instances/a\x01",     "/hooks/x/..",           "/a\\b",    ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(router_match(R, N, "GET", bad[i], &rt, &p, NULL, 0), ROUTER_BAD_PATH);
}

static void test_route_list_is_complete(void **s)
{
    (void)s;
    json_t *l = router_list(R, N);
    assert_int_equal(json_array_size(l), N);
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 2), "permission")),
                        "plugins:manage");
    json_decref(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes_match_with_parameters),
        cmocka_unit_test(test_wrong_method_lists_what_is_allowed),
        cmocka_unit_test(test_traversal_and_control_characters_are_bad_paths),
        cmocka_unit_test(test_route_list_is_complete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
