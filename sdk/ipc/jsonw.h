/*
 * jsonw.h - a fast compact JSON encoder for jansson values.
 *
 * ah_json_dumps(v) returns the same bytes as
 * json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY): the same key order
 * (insertion), the same escapes (\" \\ \b \f \n \r \t, \u00XX for other
 * control characters, UTF-8 passed through), the same numbers. It exists
 * because json_dumps is slow on the paths every event and call takes: per
 * dump it builds a hashtable of parents keyed by a printf'd pointer, and
 * per character it decodes UTF-8 and may call back into a string buffer.
 * Measured with callgrind on a 256-byte event body: about 20,000
 * instructions per json_dumps (see docs/benchmarks.md).
 */
#ifndef AH_IPC_JSONW_H
#define AH_IPC_JSONW_H

#include <jansson.h>
#include <stddef.h>

#define AH_JSONW_MAX_DEPTH 2048

/* malloc'd, NUL-terminated; *len (may be NULL) gets the length. NULL when
 * a string is not valid UTF-8 (json_dumps fails there too), nesting is
 * deeper than AH_JSONW_MAX_DEPTH (which also stops a value that contains
 * itself, where json_dumps fails as well), or memory runs out. The caller
 * frees the text. */
char *ah_json_dumps(const json_t *v, size_t *len);

/* The same text after prefix bytes the caller fills (a record's header
 * before its body: one buffer, no copy): the buffer holds prefix + *len
 * bytes and a NUL; *len (may be NULL) is the text's length alone. */
char *ah_json_dumps_after(const json_t *v, size_t prefix, size_t *len);

#endif
