/*
 * scenario_diff.h - what changed between two versions of a scenario, as
 * JSON an admin can render: the scenario's own fields changed, steps
 * added, removed and changed (which fields; for texts, which languages).
 */
#ifndef AH_ENGINE_SCENARIO_DIFF_H
#define AH_ENGINE_SCENARIO_DIFF_H

#include <jansson.h>

/* The changes from a to b (contents, borrowed), a new object:
 *   {"fields": ["start", "variables", ...],
 *    "steps": {"added": [id, ...], "removed": [id, ...],
 *              "changed": {id: {"fields": [...], "texts": {field: [lang, ...]}}}},
 *    "same": bool}
 * Fields and ids in sorted order. A text is an object of language ->
 * string; its languages whose strings differ are listed. */
json_t *scenario_diff(const json_t *a, const json_t *b);

#endif
