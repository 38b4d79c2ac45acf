/*
 * test_exports.c - typed exports (sdk/runtime/exports.c): plain C
 * functions of every supported type, found by symbol and called through
 * libffi with JSON arguments, as the plugin runtime does inside the
 * sandboxed process; and the runtime's own argument checks, which name the
 * argument (the host checks against the schema first; these hold when a
 * schema is looser than the signature).
 */
#include "cmocka_pre.h"

#include "../../sdk/runtime/exports.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORTED __attribute__((visibility("default"), used))

EXPORTED int64_t tx_add(int64_t a, int64_t b)
{
    return a + b;
}

EXPORTED double tx_scale(double x, int32_t k)
{
    return x * k;
}

EXPORTED bool tx_not(bool b)
{
    return !b;
}

EXPORTED const char *tx_greet(const char *who)
{
    static char buf[64];
    snprintf(buf, sizeof(buf), "hello, %s", who);
    return buf;
}

EXPORTED json_t *tx_wrap(json_t *v, int32_t n)
{
    return json_pack("{s:O,s:i}", "value", v, "n", n);
}

static int g_touched;
EXPORTED void tx_touch(void)
{
    g_touched++;
}

static int setup(void **s)
{
    (void)s;
    json_t *list = json_pack(
        "[{s:s,s:s,s:s},{s:s,s:s,s:s},{s:s,s:s,s:s},{s:s,s:s,s:s},{s:s,s:s,s:s},{s:s,s:s,s:s}]",
        "name", "add", "symbol", "tx_add", "signature", "int64 (int64 a, int64 b)", "name", "scale",
        "symbol", "tx_scale", "signature", "double (double x, int32 k)", "name", "not", "symbol",
        "tx_not", "signature", "bool (bool b)", "name", "greet", "symbol", "tx_greet", "signature",
        "string (string who)", "name", "wrap", "symbol", "tx_wrap", "signature",
        "json (json v, int32 n)", "name", "touch", "symbol", "tx_touch", "signature", "void ()");
    void *self = dlopen(NULL, RTLD_NOW);
    int rc = ah_exports_prepare(self, list);
    json_decref(list);
    if (rc < 0) fprintf(stderr, "%s\n", ah_exports_error());
    return rc;
}

/* Call and return the result as compact JSON text (caller frees), or the
 * error prefixed with "!". */
static char *call(const char *action, const char *args)
{
    json_t *a = json_loads(args, JSON_DECODE_ANY, NULL), *res = NULL;
    char err[256] = "";
    int rc = ah_exports_call(action, a, &res, err, sizeof(err));
    json_decref(a);
    char *out;
    if (rc == 1) {
        out = json_dumps(res, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(res);
    } else if (rc == 0) {
        out = strdup("(not an export)");
    } else {
        size_t n = strlen(err) + 2;
        out = malloc(n);
        snprintf(out, n, "!%s", err);
    }
    return out;
}

static void expect(const char *action, const char *args, const char *want)
{
    char *got = call(action, args);
    assert_string_equal(got, want);
    free(got);
}

static void test_every_type_is_passed_and_returned_through_libffi(void **s)
{
    (void)s;
    expect("add", "{\"a\": 40, \"b\": 2}", "42");
    expect("add", "{\"a\": -9007199254740993, \"b\": 0}", "-9007199254740993");
    expect("scale", "{\"x\": 1.5, \"k\": 3}", "4.5");
    expect("scale", "{\"x\": 2, \"k\": -1}", "-2.0"); /* an integer is a fine double */
    expect("not", "{\"b\": true}", "false");
    expect("greet", "{\"who\": \"Анна\"}", "\"hello, Анна\"");
    expect("wrap", "{\"v\": [1, {\"k\": null}], \"n\": 7}", "{\"n\":7,\"value\":[1,{\"k\":null}]}");
    g_touched = 0;
    expect("touch", "{}", "null");
    assert_int_equal(g_touched, 1);
    expect("chat", "{}", "(not an export)");
}

static void test_wrong_arguments_are_refused_naming_the_argument(void **s)
{
    (void)s;
    expect("add", "{\"a\": 1, \"b\": \"two\"}", "!argument b: expected integer, got \"two\"");
    expect("add", "{\"a\": 1.5, \"b\": 2}", "!argument a: expected integer, got 1.5");
    expect("add", "{\"a\": 1}", "!argument b: missing");
    expect("add", "{\"a\": 1, \"b\": 2, \"c\": 3}", "!argument c: unknown");
    expect("scale", "{\"x\": \"1\", \"k\": 1}", "!argument x: expected number, got \"1\"");
    expect("scale", "{\"x\": 1, \"k\": 4294967296}",
           "!argument k: 4294967296 is out of the 32-bit range");
    expect("not", "{\"b\": 1}", "!argument b: expected boolean, got 1");
    expect("greet", "{\"who\": null}", "!argument who: expected string, got null");
    expect("add", "[1, 2]", "!arguments must be an object");
}

static void test_a_missing_symbol_or_bad_signature_fails_preparation(void **s)
{
    (void)s;
    void *self = dlopen(NULL, RTLD_NOW);
    json_t *bad = json_pack("[{s:s,s:s,s:s}]", "name", "ghost", "symbol", "tx_nowhere", "signature",
                            "void ()");
    assert_int_equal(ah_exports_prepare(self, bad), -1);
    assert_string_equal(ah_exports_error(),
                        "action ghost: the library exports no symbol tx_nowhere");
    json_decref(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_type_is_passed_and_returned_through_libffi),
        cmocka_unit_test(test_wrong_arguments_are_refused_naming_the_argument),
        cmocka_unit_test(test_a_missing_symbol_or_bad_signature_fails_preparation),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
