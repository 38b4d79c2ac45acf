/*
 * The template library's files and their filling (engine/agent_template.h):
 * every built-in template parses, has its fields and both languages, and
 * fills with its defaults and the required values given, leaving no
 * "${...}" behind; a value standing alone keeps its type; a missing
 * required value, a wrong type, a value out of bounds or off its pattern,
 * and an unknown variable are each refused, named by path, all at once.
 */
#include "engine/agent_template.h"

#include <agenthost/plugin.h>

#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *catalogue(void)
{
    char err[300] = "";
    json_t *c = atpl_catalogue_new(err, sizeof(err));
    if (!c) fail_msg("catalogue: %s", err);
    return c;
}

/* Values for every required variable without a default, of its type. */
static json_t *required_values(const json_t *t)
{
    json_t *v = json_object();
    const char *k;
    json_t *spec;
    json_object_foreach(json_object_get(t, "variables"), k, spec)
    {
        if (json_object_get(spec, "default")) continue;
        const char *type = json_string_value(json_object_get(spec, "type"));
        if (!strcmp(type, "integer"))
            json_object_set_new(v, k, json_integer(7));
        else if (strstr(k, "phone"))
            json_object_set_new(v, k, json_string("+7 495 123-45-67"));
        else
            json_object_set_new(v, k, json_string("Acme"));
    }
    return v;
}

static bool has_placeholder(const json_t *v)
{
    if (json_is_string(v)) return strstr(json_string_value(v), "${") != NULL;
    size_t i;
    const char *k;
    json_t *e;
    if (json_is_array(v)) json_array_foreach(v, i, e) if (has_placeholder(e)) return true;
    if (json_is_object(v))
        json_object_foreach((json_t *)v, k, e) if (has_placeholder(e)) return true;
    return false;
}

static void test_the_six_templates_are_built_in_with_their_fields_in_english_and_russian(void **s)
{
    (void)s;
    json_t *c = catalogue();
    static const char *const ids[] = {"appointment-booking", "faq-knowledge-base",
                                      "lead-capture-amocrm", "nps-feedback",
                                      "onboarding-survey",   "troubleshooting"};
    assert_int_equal(json_array_size(c), 6);
    for (size_t i = 0; i < 6; i++) {
        const json_t *t = atpl_find(c, ids[i]);
        assert_non_null(t);
        assert_string_equal(json_string_value(json_object_get(json_array_get(c, i), "id")), ids[i]);
        for (const char *const *f = (const char *const[]){"name", "description", NULL}; *f; f++) {
            assert_non_null(json_string_value(json_object_get(json_object_get(t, *f), "en")));
            assert_non_null(json_string_value(json_object_get(json_object_get(t, *f), "ru")));
        }
        const char *k;
        json_t *spec;
        json_object_foreach(json_object_get(t, "variables"), k, spec)
        {
            assert_non_null(
                json_string_value(json_object_get(json_object_get(spec, "description"), "ru")));
        }
        json_t *sum = atpl_summary(t);
        assert_null(json_object_get(sum, "scenario"));
        assert_true(json_integer_value(json_object_get(sum, "steps")) > 5);
        json_decref(sum);
    }
    assert_null(atpl_find(c, "nope"));
    json_decref(c);
}

static void test_each_template_fills_with_its_defaults_and_leaves_no_placeholder(void **s)
{
    (void)s;
    json_t *c = catalogue();
    size_t i;
    json_t *t;
    json_array_foreach(c, i, t)
    {
        json_t *v = required_values(t), *out = NULL, *problems = NULL;
        int rc = atpl_fill(t, v, &out, &problems);
        if (rc) {
            char *d = json_dumps(problems, 0);
            fail_msg("%s: %s", json_string_value(json_object_get(t, "id")), d);
        }
        assert_false(has_placeholder(json_object_get(out, "scenario")));
        assert_false(has_placeholder(json_object_get(out, "triggers")));
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(out, "scenario"), "format")),
            "agenthost.scenario/1");
        json_decref(out);
        json_decref(v);
    }
    json_decref(c);
}

static void test_a_value_standing_alone_keeps_its_type_and_text_gets_its_digits(void **s)
{
    (void)s;
    json_t *c = catalogue(), *out = NULL, *problems = NULL;
    const json_t *t = atpl_find(c, "lead-capture-amocrm");
    json_t *v = json_pack("{s:s,s:i,s:i}", "company", "Рога и копыта", "pipeline_id", 4242,
                          "status_id", 17);
    assert_int_equal(atpl_fill(t, v, &out, &problems), 0);
    const json_t *args = json_object_get(
        json_object_get(json_object_get(json_object_get(out, "scenario"), "steps"), "create_lead"),
        "args");
    assert_true(json_is_integer(json_object_get(args, "pipeline")));
    assert_int_equal(json_integer_value(json_object_get(args, "pipeline")), 4242);
    assert_string_equal(json_string_value(json_object_get(args, "name")),
                        "Chat request: {{ vars.name }}");
    const json_t *intro = json_object_get(
        json_object_get(json_object_get(json_object_get(out, "scenario"), "steps"), "intro"),
        "text");
    assert_non_null(
        strstr(json_string_value(json_object_get(intro, "ru")), "менеджер Рога и копыта"));
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(out, "values"), "pipeline_id")), 4242);
    json_decref(out);
    json_decref(v);
    json_decref(c);
}

static void test_bad_values_are_refused_all_at_once_each_named(void **s)
{
    (void)s;
    json_t *c = catalogue(), *out = NULL, *problems = NULL;
    const json_t *t = atpl_find(c, "troubleshooting");
    /* product missing, support_phone off its pattern, queue not a string,
     * colour not a variable of this template */
    json_t *v = json_pack("{s:s,s:i,s:s}", "support_phone", "call us", "queue", 5, "colour", "red");
    assert_int_equal(atpl_fill(t, v, &out, &problems), AH_EINVAL);
    assert_null(out);
    char *d = json_dumps(problems, JSON_SORT_KEYS);
    assert_int_equal(json_array_size(problems), 4);
    assert_non_null(strstr(d, "\"variables.product\""));
    assert_non_null(strstr(d, "\"variables.support_phone\""));
    assert_non_null(strstr(d, "\"variables.queue\""));
    assert_non_null(strstr(d, "\"variables.colour\""));
    assert_non_null(strstr(d, "expected a string"));
    assert_non_null(strstr(d, "no such variable"));
    free(d);
    json_decref(problems);
    json_decref(v);
    /* an integer out of its bounds */
    t = atpl_find(c, "appointment-booking");
    v = json_pack("{s:s,s:s,s:i}", "place", "Clinic", "phone", "+7 495 000-00-00",
                  "remind_hours_before", 0);
    assert_int_equal(atpl_fill(t, v, &out, &problems), AH_EINVAL);
    d = json_dumps(problems, 0);
    assert_non_null(strstr(d, "variables.remind_hours_before"));
    assert_non_null(strstr(d, "at least 1"));
    free(d);
    json_decref(problems);
    json_decref(v);
    json_decref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_the_six_templates_are_built_in_with_their_fields_in_english_and_russian),
        cmocka_unit_test(test_each_template_fills_with_its_defaults_and_leaves_no_placeholder),
        cmocka_unit_test(test_a_value_standing_alone_keeps_its_type_and_text_gets_its_digits),
        cmocka_unit_test(test_bad_values_are_refused_all_at_once_each_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
