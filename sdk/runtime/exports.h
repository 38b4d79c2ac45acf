/*
 * exports.h - plain C functions exported as actions, called through libffi
 * inside the sandboxed plugin process (never in the host).
 *
 * A manifest action with "export": {"symbol": "add", "signature":
 * "int64 (int64 a, int64 b)"} becomes callable with {"a": 1, "b": 2}.
 * Types: int64, int32, double, bool, string (const char *), json (json_t *;
 * arguments borrowed, a returned json_t * is a new reference the runtime
 * takes), and void as a return type. A returned string is copied, not
 * freed. Internal to agenthost.
 */
#ifndef AH_EXPORTS_H
#define AH_EXPORTS_H

#include "signature.h"

#include <jansson.h>
#include <stddef.h>

/* Resolve the exports listed (array of {name, symbol, signature}) in the
 * library handle. 0 or -1 (ah_exports_error() says why). */
int ah_exports_prepare(void *dl, const json_t *exports);
const char *ah_exports_error(void);

/* Call the export named `action` if there is one: returns 0 when no such
 * export (the plugin's call callback handles it), 1 with *result on
 * success, -1 with err naming the offending argument. */
int ah_exports_call(const char *action, const json_t *args, json_t **result, char *err,
                    size_t errlen);

#endif
