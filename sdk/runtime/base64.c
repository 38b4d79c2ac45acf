/*
 * base64.c - base64 for plugins (agenthost/base64.h): one pass checks and
 * sizes the text, so a bad or oversize one is refused before anything is
 * allocated, and a second decodes it.
 */
#include <agenthost/base64.h>
#include <agenthost/plugin.h>

#include <stdint.h>
#include <stdlib.h>

static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The six bits of c in either alphabet, -1 for '=' and white space (not
 * data), -2 for anything else. */
static int sextet(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    if (c == '=' || c == ' ' || c == '\t' || c == '\r' || c == '\n') return -1;
    return -2;
}

int ah_base64_size(const char *s, size_t n, size_t *size)
{
    size_t data = 0, pad = 0;
    *size = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int v = sextet(c);
        if (v == -2) return AH_EINVAL;
        if (c == '=')
            pad++;
        else if (v >= 0) {
            if (pad) return AH_EINVAL; /* data after padding */
            data++;
        }
    }
    size_t rest = data % 4;
    if (rest == 1) return AH_EINVAL;                             /* six bits: no byte */
    if (pad && (rest == 0 || pad != 4 - rest)) return AH_EINVAL; /* only a short group pads */
    *size = data / 4 * 3 + (rest ? rest - 1 : 0);
    return AH_OK;
}

int ah_base64_decode(const char *s, size_t n, size_t max, unsigned char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    size_t size;
    int rc = ah_base64_size(s, n, &size);
    if (rc != AH_OK) return rc;
    if (size > max) return AH_ETOOBIG;
    unsigned char *o = malloc(size + 1);
    if (!o) return AH_ENOMEM;
    size_t w = 0;
    unsigned acc = 0, bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = sextet((unsigned char)s[i]);
        if (v < 0) continue;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[w++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    o[w] = 0;
    *out = o;
    *out_len = w;
    return AH_OK;
}

char *ah_base64_encode(const void *data, size_t n)
{
    const unsigned char *p = data;
    if (n > (SIZE_MAX - 1) / 4 * 3) return NULL;
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        *o++ = ALPHABET[v >> 18];
        *o++ = ALPHABET[(v >> 12) & 63];
        *o++ = i + 1 < n ? ALPHABET[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? ALPHABET[v & 63] : '=';
    }
    *o = 0;
    return out;
}
