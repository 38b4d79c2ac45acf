/*
 * agent_template.h - the template library: agents ready to adapt, shipped
 * inside the host (templates/<id>.json, built in; docs/templates.md).
 *
 * A template is
 *   {"id", "name": {lang: text}, "description": {lang: text}, "languages",
 *    "requires": {"plugins": [name, ...]},
 *    "variables": {NAME: {"type": "string|integer|number", "required",
 *                          "default", "description": {lang: text},
 *                          "pattern", "max_length", "min", "max"}},
 *    "agent": {agent fields: "default_language", "languages", ...},
 *    "triggers": [trigger without agent_id, ...],
 *    "scenario": scenario content}
 * where "variables" are what its user fills in, and "${NAME}" in any string
 * of "agent", "triggers" and "scenario" stands for one: a string that is exactly "${NAME}" becomes
 * the value itself (an integer stays an integer), one holding it among other text gets the value's
 * text. Only strings are filled, never keys.
 */
#ifndef AH_ENGINE_AGENT_TEMPLATE_H
#define AH_ENGINE_AGENT_TEMPLATE_H

#include <jansson.h>
#include <stddef.h>

/* The built-in templates, parsed: a new array in id order; NULL with err
 * when one does not parse or lacks a field (a build's mistake, which
 * tests/unit/test_agent_template.c catches). */
json_t *atpl_catalogue_new(char *err, size_t errlen);

/* The template with id in catalogue (borrowed), or NULL. */
const json_t *atpl_find(const json_t *catalogue, const char *id);

/* What a listing shows of tmpl (borrowed): everything but the scenario,
 * with "steps" (their count). A new object. */
json_t *atpl_summary(const json_t *tmpl);

/* Fill tmpl (borrowed) with values (borrowed; may be NULL: the defaults):
 * 0 with *out = {"agent", "triggers", "scenario", "values"} (a new object;
 * values: every variable's value used); AH_EINVAL with *problems (a new
 * array of {"path": "variables.NAME", "message"}) when a value is missing,
 * of the wrong type, out of its bounds or not declared, or when the
 * template names a variable it does not declare; AH_ENOMEM. */
int atpl_fill(const json_t *tmpl, const json_t *values, json_t **out, json_t **problems);

#endif
