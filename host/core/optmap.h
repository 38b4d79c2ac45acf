/*
 * optmap.h - options declared once, as a table (a config map, Fluent Bit's
 * way): for each option its key, type, unit, default, range, a one-line
 * doc, and the field of a settings struct its value goes to (offsetof).
 * From the one table come the JSON Schema that validates the file, the
 * values written into the struct (defaults applied, units converted, paths
 * resolved) and the documentation's table, so none of them can drift.
 *
 * Declare each option with designated initializers and one of the OPT_*
 * destination macros below, which set its type and take the field by name:
 * a misspelt field, or a field of a type the option cannot fill, fails to
 * compile.
 *
 *   {.section = "bus", .name = "max_event_kb", OPT_KIB(host_settings, bus.max_event_bytes),
 *    .def = 1024, .min = 1, .max = 65536, .doc = "Largest event: key, headers and body."},
 *
 * A table ends with an entry whose name is NULL ({0}).
 */
#ifndef AH_OPTMAP_H
#define AH_OPTMAP_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum opt_type {
    OPT_T_INT = 1, /* an integer */
    OPT_T_BOOL,
    OPT_T_STRING,
    OPT_T_PATH,     /* a non-empty string, resolved against the working directory */
    OPT_T_ENUM,     /* one name of .values, stored as its value */
    OPT_T_SIZE,     /* an integer in .unit (KiB, MiB), stored in bytes */
    OPT_T_DURATION, /* an integer in .unit (ms, s), stored as .scale says */
    OPT_T_OBJECT,   /* structured: its schema is the caller's (etc/config.schema.json) */
    OPT_T_ARRAY,    /* the same, an array */
} opt_type;

/* The C type of the destination field (set by the OPT_* macros). */
typedef enum opt_field {
    OPT_F_BOOL = 1, /* bool */
    OPT_F_INT,      /* int */
    OPT_F_UINT,     /* unsigned int (uint32_t, and the enums of this codebase) */
    OPT_F_ULONG,    /* unsigned long (size_t, uint64_t on LP64) */
    OPT_F_ULLONG,   /* unsigned long long */
    OPT_F_CSTR,     /* const char *, borrowed from the JSON the values came from */
    OPT_F_BUF,      /* char[N], a copy */
    OPT_F_JSON,     /* const json_t *, borrowed like OPT_F_CSTR */
} opt_field;

typedef struct opt_enum {
    const char *name;
    int value;
} opt_enum;

#define OPT_NO_MAX LLONG_MAX /* .max of an integer with no maximum but its field's */

typedef struct opt_decl {
    const char *section; /* NULL: a top-level key */
    const char *name;
    opt_type type;
    const char *doc; /* one line, for the schema's description and the docs */
    /* The default: .def for integers (in .unit) and booleans (0, 1); .def_str
     * for strings, paths and enums (NULL: none, the field is left NULL or
     * empty). .def_doc says it in the docs when the caller computes it
     * ("beside the binary"). */
    long long def;
    const char *def_str;
    const char *def_doc;
    long long min, max;     /* integers, inclusive; omitted .min is 0, .max must be given */
    const char *unit;       /* sizes and durations: the unit in the file ("KiB", "s") */
    unsigned long scale;    /* field value = file value * scale (1 when 0) */
    const opt_enum *values; /* enums: ended by {NULL, 0} */
    size_t offset, size;    /* the field in the settings struct */
    opt_field field;
} opt_decl;

/* ---- destinations: T is the settings struct, m the field (may be nested: http.max_body) ---- */
#define OPT_AT_(T, m) .offset = offsetof(T, m), .size = sizeof(((T *)0)->m)
#define OPT_INTEGER_(T, m)                                                                         \
    OPT_AT_(T, m), .field = _Generic(((T *)0)->m, int                                              \
                                     : OPT_F_INT, unsigned                                         \
                                     : OPT_F_UINT, unsigned long                                   \
                                     : OPT_F_ULONG, unsigned long long                             \
                                     : OPT_F_ULLONG)

#define OPT_INT(T, m) .type = OPT_T_INT, .scale = 1, OPT_INTEGER_(T, m)
#define OPT_KIB(T, m) .type = OPT_T_SIZE, .unit = "KiB", .scale = 1ul << 10, OPT_INTEGER_(T, m)
#define OPT_MIB(T, m) .type = OPT_T_SIZE, .unit = "MiB", .scale = 1ul << 20, OPT_INTEGER_(T, m)
#define OPT_MS(T, m) .type = OPT_T_DURATION, .unit = "ms", .scale = 1, OPT_INTEGER_(T, m)
#define OPT_S(T, m) .type = OPT_T_DURATION, .unit = "s", .scale = 1, OPT_INTEGER_(T, m)
#define OPT_S_AS_MS(T, m) .type = OPT_T_DURATION, .unit = "s", .scale = 1000, OPT_INTEGER_(T, m)
#define OPT_ENUM(T, m, vals) .type = OPT_T_ENUM, .values = (vals), OPT_INTEGER_(T, m)
#define OPT_BOOL(T, m)                                                                             \
    .type = OPT_T_BOOL, OPT_AT_(T, m), .field = _Generic(((T *)0)->m, bool : OPT_F_BOOL)
#define OPT_STRING(T, m)                                                                           \
    .type = OPT_T_STRING, OPT_AT_(T, m), .field = _Generic(((T *)0)->m, const char * : OPT_F_CSTR)
#define OPT_PATH(T, m)                                                                             \
    .type = OPT_T_PATH, OPT_AT_(T, m), .field = _Generic(((T *)0)->m, char * : OPT_F_BUF)
#define OPT_JSON_(T, m) OPT_AT_(T, m), .field = _Generic(((T *)0)->m, const json_t * : OPT_F_JSON)
#define OPT_OBJECT(T, m) .type = OPT_T_OBJECT, OPT_JSON_(T, m)
#define OPT_ARRAY(T, m) .type = OPT_T_ARRAY, OPT_JSON_(T, m)

/* The option's key as the file and the docs write it: "bus.max_attempts". */
void optmap_key(const opt_decl *d, char *buf, size_t len);

/* Add the tables' options to a JSON Schema (modified in place): each one a
 * property of its section (an object with additionalProperties false and
 * default {}, made when absent) or of the root, with its type, default,
 * range or enum, minLength 1 for paths, and its doc as the description.
 * An object or array option keeps the schema it has there (only its
 * description is added when it has none). tables ends with NULL. 0, or
 * AH_ENOMEM. */
int optmap_schema_add(const opt_decl *const *tables, json_t *schema);

/* Write every option of t into the struct at base: its value in root (an
 * object holding the sections; borrowed, and OPT_F_CSTR fields point into
 * it, so it must outlive them), or its default when absent. Returns 0, or
 * AH_EINVAL with "KEY: reason" in err when a value has the wrong type,
 * lies outside the option's range or enum, does not fit its field once
 * converted, or is a path too long for its buffer. root may be NULL: every
 * option takes its default. */
int optmap_apply(const opt_decl *t, const json_t *root, void *base, char *err, size_t errlen);

/* The documentation's table (Markdown, one row per option, ending in a
 * newline): key, type, default, range and doc. New string to free(), or NULL
 * (out of memory). */
char *optmap_markdown(const opt_decl *const *tables);

/* The same for a terminal: one aligned line per option. */
char *optmap_text(const opt_decl *const *tables);

/* The same as JSON: an array of {key, type, unit, default, minimum,
 * maximum, values, doc}, members absent where they do not apply. New
 * reference, or NULL (out of memory). */
json_t *optmap_json(const opt_decl *const *tables);

#endif
