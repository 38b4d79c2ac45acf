/*
 * scenario_kit.h - what the tests of scenario checking (test_scenario*.c)
 * share: the format document's example scenario, the installed steps and
 * instances they are checked against, and checks of the errors by path.
 */
#ifndef AH_TEST_SCENARIO_KIT_H
#define AH_TEST_SCENARIO_KIT_H

#include "engine/scenario.h"

#include <jansson.h>
#include <stddef.h>

/* The format document's example. */
extern const char BASE[];
/* The installed plugin steps (llm.chat, crm.create_lead), the instances
 * (llm, amo, amo2, echo; tests may set their actions) and both together. */
extern const scenario_plugin_step STEPS[];
extern scenario_instance INSTANCES[];
extern const scenario_check_env ENV;
/* The actions of llm-openai ([{"name": "chat"}, {"name": "embed"}]), made
 * by scenario_kit_setup. */
extern json_t *g_llm_actions;

/* JSON text parsed; fails the test when bad. */
json_t *parse(const char *text);
/* Set the value at a dotted path (keys only) of c to the JSON text v
 * (NULL: delete it). */
void put(json_t *c, const char *path, const char *v);
/* The errors of checking c against env; its expressions in *expressions
 * when asked. */
json_t *run_env(const json_t *c, const scenario_check_env *env, json_t **expressions);
/* The errors of checking c against ENV. */
json_t *run(const json_t *c);
/* An error at path saying part (a path may have two: a step in a loop). */
void expect_error(const json_t *errors, const char *path, const char *part);
void expect_count(const json_t *errors, size_t n);
void expect_valid(const json_t *c);
/* BASE with one change is valid. */
void expect_valid_with(const char *at, const char *value);
/* One change to BASE makes exactly one error, at path, saying part. */
void one_error(const char *at, const char *value, const char *path, const char *part);

/* The group's setup and teardown (g_llm_actions). */
int scenario_kit_setup(void **s);
int scenario_kit_teardown(void **s);

#endif
