/*
 * signature.h - the C signature of a typed export, as a manifest writes it:
 * "int64 (int64 a, int64 b)". Parsed by the plugin runtime (to call the
 * function through libffi) and by the host (to check the manifest and
 * derive the action's argument schema). Internal to agenthost.
 */
#ifndef AH_SIGNATURE_H
#define AH_SIGNATURE_H

#include <stddef.h>

#define AH_EXPORT_MAX_ARGS 16

typedef enum ah_ctype {
    AH_T_VOID,
    AH_T_INT64,
    AH_T_INT32,
    AH_T_DOUBLE,
    AH_T_BOOL,
    AH_T_STRING,
    AH_T_JSON
} ah_ctype;

typedef struct ah_signature {
    ah_ctype ret;
    int nargs;
    ah_ctype types[AH_EXPORT_MAX_ARGS];
    char names[AH_EXPORT_MAX_ARGS][64];
} ah_signature;

/* Parse a signature; 0, or -1 with a reason in err. */
int ah_signature_parse(const char *text, ah_signature *out, char *err, size_t errlen);
/* "int64", "double", ... */
const char *ah_ctype_name(ah_ctype t);
/* The JSON Schema "type" a value of t has ("integer", "number",
 * "boolean", "string"), or NULL for json (any value) and void. */
const char *ah_ctype_json_type(ah_ctype t);

#endif
