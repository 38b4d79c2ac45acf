/* b64.h - standard base64 (RFC 4648) for binary bodies in JSON frames. */
#ifndef AH_B64_H
#define AH_B64_H

#include <stdbool.h>
#include <stddef.h>

/* Encode n bytes; returns a malloc'd NUL-terminated string or NULL. */
char *ah_b64_encode(const void *data, size_t n);
/* Decode; returns malloc'd bytes (NUL-terminated for convenience) with
 * *out_len, or NULL on bad input. */
unsigned char *ah_b64_decode(const char *s, size_t *out_len);
/* True when s[0..n) is valid UTF-8 without NUL bytes (safe as a JSON string). */
bool ah_utf8_valid(const void *s, size_t n);
/* The length of the well-formed UTF-8 character at s[0..n) (NUL is one;
 * no overlong form, surrogate or code point past U+10FFFF), or 0. */
size_t ah_utf8_char(const void *s, size_t n);

#endif
