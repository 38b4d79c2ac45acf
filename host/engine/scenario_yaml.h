/*
 * scenario_yaml.h - scenarios in YAML: imported into the canonical JSON,
 * exported from it, losslessly: import(export(v)) equals v for every JSON
 * value v nested at most SCENARIO_YAML_MAX_DEPTH deep (key order kept).
 *
 * Import reads one YAML document (libyaml) and resolves plain scalars by
 * the YAML 1.2 core schema: null (~, null, Null, NULL, empty), booleans
 * (true, True, TRUE, false, ...), integers (123, -7, +7, 0o17, 0x1F),
 * floats (1.5, .5, 1e3, 1.; .inf and .nan are refused: JSON has neither);
 * everything else, and every quoted or block scalar, is a string ("yes",
 * "on" and "off" are strings, as in YAML 1.2). Explicit tags !!str,
 * !!int, !!float, !!bool, !!null, !!map, !!seq and the non-specific "!"
 * are understood; any other tag is refused. Anchors and aliases are
 * expanded (copied), within a budget (SCENARIO_YAML_MAX_EXPANDED).
 *
 * Export writes block mappings and sequences (empty ones as {} and []),
 * keys in the object's order, UTF-8 as it is (but libyaml writes a
 * string holding a character past U+FFFF, an emoji, double-quoted with
 * that character as a \U escape), no line
 * folding; a string that a plain scalar would read back as something else
 * ("123", "true", "null", "", "0x1F") is quoted, and so is one that
 * YAML 1.1 readers would take for something else ("yes", "off", "1_000"),
 * so that other tools read the file alike; a string with line breaks
 * is a literal block (|) unless only a quoted form keeps it exactly (lines
 * ending in blanks, a carriage return); numbers are written so that they
 * read back the same (an integer as an integer, a real with a "." or an
 * exponent, in the fewest digits that give the same double).
 */
#ifndef AH_SCENARIO_YAML_H
#define AH_SCENARIO_YAML_H

#include <jansson.h>
#include <stddef.h>

#define SCENARIO_YAML_MAX_DEPTH 128           /* mappings and sequences inside each other */
#define SCENARIO_YAML_MAX_EXPANDED (8u << 20) /* values and string bytes, aliases expanded */

/* Parse text[0..len) (UTF-8, or UTF-16 with a byte order mark) into a JSON
 * value: *out a new reference on success, NULL otherwise. Errors, with err
 * saying what and where ("3:7: duplicate key \"next\""):
 *   AH_EINVAL   not YAML, no document or more than one, a key that is not
 *               a scalar (or is an alias), a duplicate key, an unknown alias
 *               or tag, a value JSON cannot hold (.inf, .nan, an integer
 *               beyond 64 bits, a NUL character)
 *   AH_ETOOBIG  nested deeper than SCENARIO_YAML_MAX_DEPTH, or aliases
 *               expanding past SCENARIO_YAML_MAX_EXPANDED
 *   AH_ENOMEM   out of memory */
int scenario_yaml_import(const char *text, size_t len, json_t **out, char *err, size_t errlen);

/* Write v (borrowed) as a YAML document: *out a malloc'd NUL-terminated
 * text (free()), *len its length. Errors: AH_EINVAL (v is NULL), AH_ETOOBIG
 * (nested deeper than SCENARIO_YAML_MAX_DEPTH), AH_ENOMEM. */
int scenario_yaml_export(const json_t *v, char **out, size_t *len);

#endif
