/*
 * Fuzz target: scenarios as BPMN 2.0 (host/bpmn/scenario_bpmn.h). The
 * input is XML: imported; when it imports, exported, the export imported
 * again and exported again. Beyond the sanitizers (and libxml2 itself
 * reading hostile XML: no network, no DTD, no entities), it traps when a
 * promise breaks: a refusal without its message, with a value, or with an
 * unexpected code; problems without a refusal or without an element's
 * message; an export that fails or does not import; a value that changes
 * on the way (key order included); a second export that differs.
 */
#include "bpmn/scenario_bpmn.h"

#include <agenthost/plugin.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
    return "halt_on_error=1:print_stacktrace=1";
}

/* Equal, and every object's keys in the same order. */
static bool same(const json_t *a, const json_t *b)
{
    if (!json_equal(a, b) || json_typeof(a) != json_typeof(b)) return false;
    if (json_is_object(a)) {
        void *ia = json_object_iter((json_t *)a), *ib = json_object_iter((json_t *)b);
        for (; ia && ib; ia = json_object_iter_next((json_t *)a, ia),
                         ib = json_object_iter_next((json_t *)b, ib))
            if (strcmp(json_object_iter_key(ia), json_object_iter_key(ib)) ||
                !same(json_object_iter_value(ia), json_object_iter_value(ib)))
                return false;
        return !ia && !ib;
    }
    for (size_t i = 0; json_is_array(a) && i < json_array_size(a); i++)
        if (!same(json_array_get(a, i), json_array_get(b, i))) return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *v = (json_t *)1, *problems = json_array();
    char err[300] = "";
    int rc = scenario_bpmn_import((const char *)data, size, &v, problems, err, sizeof(err));
    if (rc) {
        if (v || !err[0] || (rc != AH_EINVAL && rc != AH_ETOOBIG && rc != AH_ENOMEM))
            __builtin_trap();
        for (size_t i = 0; i < json_array_size(problems); i++)
            if (!json_string_length(json_object_get(json_array_get(problems, i), "message")))
                __builtin_trap();
        json_decref(problems);
        return 0;
    }
    if (json_array_size(problems) || !json_is_object(v)) __builtin_trap();
    char *x1 = NULL, *x2 = NULL;
    size_t n1 = 0, n2 = 0;
    if (scenario_bpmn_export(v, &x1, &n1) != 0 || strlen(x1) != n1) __builtin_trap();
    json_t *back = NULL;
    if (scenario_bpmn_import(x1, n1, &back, problems, err, sizeof(err)) != 0) __builtin_trap();
    if (!same(v, back)) __builtin_trap();
    if (scenario_bpmn_export(back, &x2, &n2) != 0 || n1 != n2 || memcmp(x1, x2, n1))
        __builtin_trap();
    free(x1);
    free(x2);
    json_decref(back);
    json_decref(v);
    json_decref(problems);
    return 0;
}
