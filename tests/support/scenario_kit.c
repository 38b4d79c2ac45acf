/*
 * scenario_kit.c - what the tests of scenario checking share: the format
 * document's example scenario, the installed steps and instances they are
 * checked against, and checks of the errors by path.
 */
#include "../unit/cmocka_pre.h"

#include "scenario_kit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The format document's example. */
const char BASE[] =
    "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\","
    " \"languages\": [\"en\", \"ru\"],"
    " \"variables\": {\"name\": {\"type\": \"string\"}, \"age\": {\"type\": \"integer\", "
    "\"default\": 0}},"
    " \"start\": \"hello\","
    " \"fallback\": {\"en\": \"Sorry.\", \"ru\": \"Извините.\"},"
    " \"steps\": {"
    "  \"hello\": {\"kind\": \"say\", \"text\": {\"en\": \"Hi!\", \"ru\": \"Привет!\"}, \"next\": "
    "\"ask_name\"},"
    "  \"ask_name\": {\"kind\": \"ask\", \"text\": {\"en\": \"Name?\", \"ru\": \"Имя?\"},"
    "   \"var\": \"name\", \"validate\": {\"type\": \"text\", \"min_length\": 2},"
    "   \"retries\": 2, \"reprompt\": {\"en\": \"Please.\", \"ru\": \"Пожалуйста.\"},"
    "   \"on_invalid\": \"bye\", \"next\": \"greet\"},"
    "  \"greet\": {\"kind\": \"say\", \"text\": {\"en\": \"Hi, {{ vars.name }}!\", \"ru\": "
    "\"Привет, {{ vars.name }}!\"}, \"next\": \"bye\"},"
    "  \"bye\": {\"kind\": \"end\", \"outcome\": \"completed\"}}}";

const scenario_plugin_step STEPS[] = {
    {"llm.chat", "llm-openai", "chat"},
    {"crm.create_lead", "crm-amo", "create_lead"},
};

json_t *g_llm_actions;

scenario_instance INSTANCES[] = {
    {"llm", "llm-openai", NULL},
    {"amo", "crm-amo", NULL},
    {"amo2", "crm-amo", NULL},
    {"echo", "echo", NULL},
};

const scenario_check_env ENV = {STEPS, 2, INSTANCES, 4};

json_t *parse(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
    if (!j) fail_msg("bad test JSON (%d:%d): %s", je.line, je.column, je.text);
    return j;
}

/* Set the value at a dotted path (keys only) of c to the JSON text v
 * (NULL: delete it). */
void put(json_t *c, const char *path, const char *v)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *at = c;
    char *key = buf, *dot;
    while ((dot = strchr(key, '.')) != NULL) {
        *dot = 0;
        json_t *next = json_object_get(at, key);
        if (!next) json_object_set_new(at, key, next = json_object());
        at = next;
        key = dot + 1;
    }
    if (v)
        json_object_set_new(at, key, parse(v));
    else
        json_object_del(at, key);
}

json_t *run_env(const json_t *c, const scenario_check_env *env, json_t **expressions)
{
    json_t *errors = json_array(), *ex = json_array();
    assert_int_equal(scenario_validate(c, env, errors, ex), 0);
    if (expressions)
        *expressions = ex;
    else
        json_decref(ex);
    return errors;
}

json_t *run(const json_t *c)
{
    return run_env(c, &ENV, NULL);
}

/* An error at path saying part (a path may have two: a step in a loop). */
void expect_error(const json_t *errors, const char *path, const char *part)
{
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e)
    {
        const char *m = json_string_value(json_object_get(e, "message"));
        if (!strcmp(json_string_value(json_object_get(e, "path")), path) && strstr(m, part)) return;
    }
    {
        char *all = json_dumps(errors, JSON_INDENT(1));
        fail_msg("no error at %s saying \"%s\"; the errors: %s", path, part, all);
    }
}

void expect_count(const json_t *errors, size_t n)
{
    if (json_array_size(errors) != n) {
        char *all = json_dumps(errors, JSON_INDENT(1));
        fail_msg("%zu errors, expected %zu: %s", json_array_size(errors), n, all);
    }
}

void expect_valid(const json_t *c)
{
    json_t *e = run(c);
    expect_count(e, 0);
    json_decref(e);
}

/* BASE with one change is valid. */
void expect_valid_with(const char *at, const char *value)
{
    json_t *c = parse(BASE);
    put(c, at, value);
    expect_valid(c);
    json_decref(c);
}

/* One change to BASE makes exactly one error, at path, saying part. */
void one_error(const char *at, const char *value, const char *path, const char *part)
{
    json_t *c = parse(BASE);
    put(c, at, value);
    json_t *e = run(c);
    expect_error(e, path, part);
    expect_count(e, 1);
    json_decref(e);
    json_decref(c);
}

int scenario_kit_setup(void **s)
{
    (void)s;
    g_llm_actions = parse("[{\"name\": \"chat\"}, {\"name\": \"embed\"}]");
    return 0;
}

int scenario_kit_teardown(void **s)
{
    (void)s;
    json_decref(g_llm_actions);
    return 0;
}
