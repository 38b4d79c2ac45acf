/*
 * agenthost/base64.h - base64 (RFC 4648) for plugins: the bytes that JSON
 * carries as text (attachments, documents, files fetched). From
 * libagenthost-sdk, and from the fake host of agenthost/testing.h.
 *
 * The decoder takes what senders write: the standard alphabet or the
 * URL-safe one ('-' and '_'), white space (space, tab, CR, LF) anywhere,
 * and '=' padding or none. It refuses, as not base64, any other character
 * (NUL included), data after '=', padding that does not complete the last
 * group of four, and a lone last character (six bits, no byte).
 */
#ifndef AGENTHOST_BASE64_H
#define AGENTHOST_BASE64_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The size s[0..n) decodes to, in *size, without decoding it: AH_OK, or
 * AH_EINVAL when s is not base64 (as above). */
int ah_base64_size(const char *s, size_t n, size_t *size);

/* Decode s[0..n): AH_OK with *out a new buffer (free() it; a NUL follows
 * its bytes) of *out_len bytes; AH_EINVAL when s is not base64, AH_ETOOBIG
 * when it decodes to more than max bytes (found before anything is
 * allocated), AH_ENOMEM. On failure *out is NULL and *out_len 0. */
int ah_base64_decode(const char *s, size_t n, size_t max, unsigned char **out, size_t *out_len);

/* Encode n bytes, standard alphabet with padding: a new NUL-terminated
 * string (free() it), or NULL when out of memory. */
char *ah_base64_encode(const void *data, size_t n);

#ifdef __cplusplus
}
#endif
#endif
