/*
 * Fuzz target: checking a scenario on save (host/engine/scenario.h). The
 * input is JSON text; when it parses, it is checked against a fixed set
 * of installed plugins and instances. Beyond the sanitizers, it traps when
 * the check breaks its promises: a code other than 0, an error without a
 * path or a message, more than SCENARIO_MAX_ERRORS + 1 errors, an
 * expression without its path or program, a different answer the second
 * time, or content it finds valid that the schema validator refuses.
 */
#include "core/jsonschema.h"
#include "engine/scenario.h"

#include <agenthost/plugin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
    return "halt_on_error=1:print_stacktrace=1";
}

static const scenario_plugin_step STEPS[] = {
    {"llm.chat", "llm-openai", "chat"},
    {"crm.create_lead", "crm-amo", "create_lead"},
};

static json_t *g_actions;

static void check_list(const json_t *list, const char *a, const char *b, size_t max)
{
    if (!json_is_array(list) || json_array_size(list) > max) __builtin_trap();
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        if (json_object_size(e) != 2 || !json_is_string(json_object_get(e, a)) ||
            !json_is_string(json_object_get(e, b)))
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_actions && !(g_actions = json_loads("[{\"name\": \"chat\"}]", 0, NULL)))
        __builtin_trap();
    scenario_instance insts[] = {
        {"llm", "llm-openai", g_actions}, {"amo", "crm-amo", NULL}, {"amo2", "crm-amo", NULL}};
    scenario_check_env env = {STEPS, 2, insts, 3};
    json_t *content = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!content) return 0;
    json_t *errors = json_array(), *ex = json_array();
    if (scenario_validate(content, &env, errors, ex) != 0) __builtin_trap();
    check_list(errors, "path", "message", SCENARIO_MAX_ERRORS + 1);
    check_list(ex, "path", "program", SIZE_MAX);
    json_t *again = json_array();
    if (scenario_validate(content, &env, again, NULL) != 0 || !json_equal(errors, again))
        __builtin_trap();
    if (json_array_size(errors) == 0) {
        char err[512];
        if (jsonschema_validate(scenario_schema(), content, err, sizeof(err)) != 0)
            __builtin_trap();
    }
    json_decref(again);
    json_decref(errors);
    json_decref(ex);
    json_decref(content);
    return 0;
}
