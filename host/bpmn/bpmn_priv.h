/*
 * bpmn_priv.h - what the BPMN export and import share: the namespaces, the
 * BPMN element each step kind becomes, the targets of a step (the fields
 * a sequence flow stands for), JSON written so that XML can hold it.
 */
#ifndef AH_BPMN_BPMN_PRIV_H
#define AH_BPMN_BPMN_PRIV_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define NS_BPMN "http://www.omg.org/spec/BPMN/20100524/MODEL"
#define NS_BPMNDI "http://www.omg.org/spec/BPMN/20100524/DI"
#define NS_DC "http://www.omg.org/spec/DD/20100524/DC"
#define NS_DI "http://www.omg.org/spec/DD/20100524/DI"
#define NS_XSI "http://www.w3.org/2001/XMLSchema-instance"

#define BPMN_MAX_TARGETS 256 /* flows drawn per step: more stay in its JSON only */

/* One target of a step: the field ("next", "options[2].next",
 * "cases[0].next", "default", "on_invalid", "on_timeout", "on_error") and
 * the step it names (borrowed from the step). */
typedef struct bpmn_target {
    char field[40];
    const char *to;
} bpmn_target;

/* The BPMN element a step of this kind becomes ("sendTask", ...). */
const char *bpmn_element_of(const char *kind);

/* The step's targets, in a fixed order; at most max. */
size_t bpmn_step_targets(const json_t *step, bpmn_target *t, size_t max);

/* Set the target field (as bpmn_step_targets names it) of step to the
 * step id to. false when the field is no target this step has. */
bool bpmn_set_target(json_t *step, const char *field, const char *to);

/* v as compact JSON, key order kept, with U+FFFE and U+FFFF (not XML
 * characters) escaped: malloc'd, NULL when out of memory. */
char *bpmn_json_text(const json_t *v);

#endif
