#include "utf8.h"

#include "sdk/ipc/b64.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    return ah_utf8_char(s, n);
}

char *utf8_lossy(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t bad = 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq_len(u + i, n - i);
        bad += k == 0;
        i += k ? k : 1;
    }
    /* Each bad byte grows by two (one byte becomes three). */
    char *out = malloc(n + 2 * bad + 1);
    if (!out) return NULL;
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq_len(u + i, n - i);
        if (k) {
            memcpy(out + w, s + i, k);
            w += k;
            i += k;
        } else {
            memcpy(out + w, UTF8_REPLACEMENT, 3);
            w += 3;
            i++;
        }
    }
    out[w] = 0;
    return out;
}

json_t *utf8_json_string(const char *s)
{
    if (!s) return NULL;
    json_t *j = json_string(s);
    if (j) return j; /* valid already: the common case, no copy */
    char *clean = utf8_lossy(s, strlen(s));
    j = clean ? json_string(clean) : NULL;
    free(clean);
    return j;
}
