/*
 * scenario_bpmn.h - scenarios as BPMN 2.0 XML (libxml2), to and from the
 * canonical JSON (docs/scenario-format.md, "BPMN").
 *
 * Export writes one bpmn:process: a start event leading to the scenario's
 * start step, one BPMN element per step (say: sendTask; ask, choice:
 * userTask; handoff: manualTask; set: scriptTask; switch: exclusiveGateway
 * with conditional flows and its default; wait: intermediateCatchEvent
 * with a timer or a message definition; goto: a none intermediate throw
 * event; trigger: an intermediate throw event with a signal definition;
 * call_agent: callActivity; end: endEvent; http.request and plugin steps:
 * serviceTask), one sequence flow per target (next, an option's or a
 * case's next, default, on_invalid, on_timeout, on_error), and the
 * diagram (BPMNDiagram, shapes and edges, a layered layout: a column per
 * step of breadth-first depth from the start). Each step's JSON is kept in
 * bpmn:extensionElements as <ah:step id="...">JSON</ah:step>, the rest of
 * the scenario in the process's <ah:scenario>, namespace SCENARIO_BPMN_NS,
 * so that import(export(s)) is s, key order included.
 *
 * Import reads the process back: a step with its ah:step is that step,
 * except that a sequence flow carrying ah:field (the target it stands
 * for) sets that target from its targetRef, so a flow reconnected in a
 * modeller moves the target. An element drawn elsewhere (no ah:step) is
 * mapped when it can be: a task of any kind becomes a say step with its
 * name as text, a receive task a wait for input, an exclusive gateway a
 * switch (every outgoing flow conditional, or the default), a choice (its
 * flows' names as options) or a goto (one outgoing flow), a timer catch
 * event with a duration a wait, a message catch event a wait for input, a
 * call activity a call_agent, an end event an end (its name as outcome).
 * Whatever cannot be mapped (parallel, inclusive and event-based gateways,
 * sub-processes, boundary events, a second process with steps, a task with
 * two outgoing flows, ...) is named in problems with its id and why.
 *
 * The parser never touches the network (XML_PARSE_NONET), never expands
 * entities or loads a DTD: a document with a DOCTYPE is refused as soon as
 * the parser meets it, so external entities and entity bombs never run.
 */
#ifndef AH_BPMN_SCENARIO_BPMN_H
#define AH_BPMN_SCENARIO_BPMN_H

#include <jansson.h>
#include <stddef.h>

#define SCENARIO_BPMN_NS "urn:agenthost:scenario:bpmn:1"
#define SCENARIO_BPMN_MAX_BYTES (8u << 20) /* the largest document read */

/* Read text[0..len) as BPMN 2.0 into scenario content: *out a new
 * reference on success, NULL otherwise. problems (an array) gets one
 * {"element", "type", "message"} per element that cannot be mapped
 * ("element": its id, "type": its BPMN type, "exclusiveGateway"); the
 * import is all or nothing: *out is set only when problems stays empty.
 * Errors:
 *   AH_EINVAL   not well-formed XML, a DOCTYPE (err says where), not BPMN
 *               2.0 (no bpmn:definitions, no process), or elements that
 *               cannot be mapped (each in problems; err says how many);
 *               problems is not an array
 *   AH_ETOOBIG  longer than SCENARIO_BPMN_MAX_BYTES
 *   AH_ENOMEM   out of memory */
int scenario_bpmn_import(const char *text, size_t len, json_t **out, json_t *problems, char *err,
                         size_t errlen);

/* Write content (borrowed; a JSON object with "steps", an object) as a
 * BPMN 2.0 document with its diagram: *out a malloc'd NUL-terminated text
 * (free()), *len its length. Content that does not validate exports too
 * (targets naming no step get no flow; the step's JSON keeps them).
 * Errors: AH_EINVAL (content is not an object, or its steps not an
 * object), AH_ENOMEM. */
int scenario_bpmn_export(const json_t *content, char **out, size_t *len);

#endif
