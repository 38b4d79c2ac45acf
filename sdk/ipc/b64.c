#include "b64.h"

#include <agenthost/base64.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

char *ah_b64_encode(const void *data, size_t n)
{
    return ah_base64_encode(data, n); /* the SDK's, as plugins have it */
}

static int dec(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

unsigned char *ah_b64_decode(const char *s, size_t *out_len)
{
    size_t n = strlen(s);
    if (n % 4) return NULL;
    unsigned char *out = malloc(n / 4 * 3 + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i += 4) {
        int a = dec(s[i]), b = dec(s[i + 1]);
        int c = s[i + 2] == '=' ? -2 : dec(s[i + 2]);
        int d = s[i + 3] == '=' ? -2 : dec(s[i + 3]);
        bool last = i + 4 == n;
        if (a < 0 || b < 0 || c == -1 || d == -1 || (c == -2 && d != -2) ||
            ((c == -2 || d == -2) && !last)) {
            free(out);
            return NULL;
        }
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)(c < 0 ? 0 : c) << 6 |
                     (uint32_t)(d < 0 ? 0 : d);
        *o++ = (unsigned char)(v >> 16);
        if (c >= 0) *o++ = (unsigned char)(v >> 8);
        if (d >= 0) *o++ = (unsigned char)v;
    }
    *o = 0;
    *out_len = (size_t)(o - out);
    return out;
}

size_t ah_utf8_char(const void *data, size_t n)
{
    const unsigned char *s = data;
    if (n == 0) return 0;
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
        len = 2;
        cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3;
        cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0; /* a continuation byte, or 0xF8-0xFF */
    }
    if (len > n) return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[k] & 0x3F);
    }
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < least[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

bool ah_utf8_valid(const void *data, size_t n)
{
    const unsigned char *s = data;
    for (size_t i = 0, len; i < n; i += len)
        if (!s[i] || (len = ah_utf8_char(s + i, n - i)) == 0) return false;
    return true;
}
