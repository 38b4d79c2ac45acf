/*
 * redact.h - the secret values that must never reach a log line.
 *
 * The host registers every secret value it reads (secrets_get); the
 * logger and the plugin harness mask them before anything is written.
 * Masking works on the raw bytes, before a record is encoded: a value
 * holding '"', '\', a TAB, a control byte or a newline is found as it is,
 * not as JSON escapes it. The encoded line is then searched again for the
 * raw and the JSON-escaped form of every value of REDACT_LINE_MIN bytes or
 * more (a value could still be spelled out across two fields). A value
 * holding line breaks is also masked piece by piece, as a plugin's stderr
 * reaches the log one line at a time.
 *
 * Values of any length are masked in strings. New secrets shorter than
 * SECRET_MIN_BYTES are refused where they are set (secrets.h); shorter
 * ones stored before that rule are still masked, everywhere.
 *
 * Thread-safe: one lock, held while a string is searched.
 */
#ifndef AH_REDACT_H
#define AH_REDACT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define REDACTED "[REDACTED]"
/* The shortest value searched for in an encoded line (shorter ones could
 * match the line's own syntax). */
#define REDACT_LINE_MIN 4

/* Register a value (copied; "" is ignored). Returns false if it could not
 * be registered (out of memory or the registry is full), so the caller can
 * refuse to hand the value out. */
bool redact_add(const char *value, size_t len);
/* Forget every value (host shutdown, tests). */
void redact_clear(void);
/* Whether any value is registered (cheap). */
bool redact_active(void);

/* A copy of s[0..len) with every registered value replaced by REDACTED,
 * NUL-terminated; *outlen (may be NULL) gets its length. NULL when out of
 * memory. */
char *redact_str(const char *s, size_t len, size_t *outlen);

/* Mask every string in v, object keys included, recursively (in place;
 * v is borrowed). Returns 0, or AH_ENOMEM (v may then be partly masked
 * and must not be written). */
int redact_json(json_t *v);

/* The second pass over an encoded line: a copy with the raw and escaped
 * forms of every value of REDACT_LINE_MIN bytes or more replaced. NULL
 * when out of memory. */
char *redact_line(const char *line);

#endif
