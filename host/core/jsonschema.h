/*
 * jsonschema.h - a JSON Schema (2020-12 subset) validator.
 *
 * Supported: type (incl. arrays of types), enum, const, properties,
 * required, additionalProperties, items, minItems, maxItems, uniqueItems,
 * minProperties, maxProperties, minLength, maxLength (code points), pattern
 * (POSIX extended regex: write patterns in the common ERE/ECMA subset),
 * minimum, maximum, exclusiveMinimum, exclusiveMaximum, anyOf, oneOf, allOf,
 * not, $ref to "#" or any JSON pointer in the document ("#/$defs/NAME",
 * "#/components/schemas/NAME"). Annotations
 * (title, description, default, examples, format, ...) are accepted and not
 * enforced; other unknown keywords are ignored, as the standard says.
 *
 * Errors name the path of the offending value: "limits.memory_mb: expected
 * integer, got \"lots\"", "actions[2].name: required field missing".
 */
#ifndef AH_JSONSCHEMA_H
#define AH_JSONSCHEMA_H

#include <jansson.h>
#include <stddef.h>

/* 0 when instance is valid against schema; otherwise -1 with the first
 * error in err ("path: message"; the root path is written as "(root)"). */
int jsonschema_validate(const json_t *schema, const json_t *instance, char *err, size_t errlen);

/* The same (0, or -1 with err), with "$ref"s resolved as JSON pointers in
 * `root` (a document holding schemas, such as an OpenAPI document's
 * components). */
int jsonschema_validate_in(const json_t *root, const json_t *schema, const json_t *instance,
                           char *err, size_t errlen);

/* Check that a schema is usable: an object (or boolean) whose known
 * keywords have the right types and whose patterns compile. 0, or -1 with
 * the first problem in err, as above. */
int jsonschema_check(const json_t *schema, char *err, size_t errlen);

/* Fill in absent object members that the schema gives a default for
 * (recursively through properties). instance is modified in place. */
void jsonschema_apply_defaults(const json_t *schema, json_t *instance);

/* Describe a JSON value for an error message ("\"lots\"", "3", "object"). */
void jsonschema_describe(const json_t *v, char *buf, size_t len);

#endif
