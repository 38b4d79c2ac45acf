/*
 * Fuzz target: scenarios in YAML (host/engine/scenario_yaml.h). The input
 * is YAML text: imported; when it imports, exported, the export imported
 * again and exported again. Beyond the sanitizers, it traps when a promise
 * breaks: an error without its message or with a value, an export that
 * fails or does not import, a value that changes on the way (key order
 * included), or a second export that differs from the first.
 */
#include "engine/scenario_yaml.h"

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
    json_t *v = (json_t *)1;
    char err[256] = "";
    int rc = scenario_yaml_import((const char *)data, size, &v, err, sizeof(err));
    if (rc) {
        if (v || !err[0] || (rc != AH_EINVAL && rc != AH_ETOOBIG && rc != AH_ENOMEM))
            __builtin_trap();
        return 0;
    }
    char *y1 = NULL, *y2 = NULL;
    size_t n1 = 0, n2 = 0;
    if (scenario_yaml_export(v, &y1, &n1) != 0 || strlen(y1) != n1) __builtin_trap();
    json_t *back = NULL;
    if (scenario_yaml_import(y1, n1, &back, err, sizeof(err)) != 0) __builtin_trap();
    if (!same(v, back)) __builtin_trap();
    if (scenario_yaml_export(back, &y2, &n2) != 0 || n1 != n2 || memcmp(y1, y2, n1))
        __builtin_trap();
    free(y1);
    free(y2);
    json_decref(back);
    json_decref(v);
    return 0;
}
