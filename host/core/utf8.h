/*
 * utf8.h - text from outside, made fit for JSON: every byte that does not
 * belong to a valid UTF-8 sequence (a stray continuation byte, a truncated
 * or overlong sequence, a surrogate, a code point past U+10FFFF) becomes
 * U+FFFD, the replacement character; valid text is left as it is. JSON
 * (and jansson, which refuses such strings) needs UTF-8: a request path,
 * query or header quoted in an answer or a log line goes through here.
 */
#ifndef AH_UTF8_H
#define AH_UTF8_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define UTF8_REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

/* The length of the valid UTF-8 sequence at s[0..n), or 0 when s starts
 * with a byte that is not one (n == 0 included). NUL counts as valid. */
size_t utf8_seq_len(const unsigned char *s, size_t n);

/* s[0..n) with each invalid byte replaced: a malloc'd NUL-terminated copy,
 * or NULL when out of memory. */
char *utf8_lossy(const char *s, size_t n);

/* The NUL-terminated s as a JSON string (new reference), invalid bytes
 * replaced; NULL when s is NULL or out of memory. */
json_t *utf8_json_string(const char *s);

#endif
