#include "ids.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void id_new(const char *prefix, int64_t ms, char *out, size_t outlen)
{
    uint8_t raw[16] = {0}; /* 128 bits: 48 of time, 80 random, in 26 digits of 5 bits */
    uint64_t t = ms < 0 ? 0 : (uint64_t)ms;
    for (int i = 5; i >= 0; i--, t >>= 8)
        raw[i] = (uint8_t)t;
    randombytes_buf(raw + 6, 10);
    char body[ID_BODY_LEN + 1];
    /* 130 bits of digits for 128 of data: the first digit holds 3. */
    for (int d = 0; d < ID_BODY_LEN; d++) {
        int bit = d * 5 - 2, v = 0;
        for (int b = 0; b < 5; b++, bit++) {
            int on = bit >= 0 && (raw[bit / 8] >> (7 - bit % 8)) & 1;
            v = v << 1 | on;
        }
        body[d] = alphabet[v];
    }
    body[ID_BODY_LEN] = 0;
    snprintf(out, outlen, "%s_%s", prefix, body);
}

static const char *body_of(const char *s, const char *prefix)
{
    const char *us = strchr(s, '_');
    if (!us || us == s || us - s > 8) return NULL;
    if (prefix && ((size_t)(us - s) != strlen(prefix) || strncmp(s, prefix, (size_t)(us - s))))
        return NULL;
    for (const char *p = s; p < us; p++)
        if (*p < 'a' || *p > 'z') return NULL;
    return us + 1;
}

bool id_valid(const char *s, const char *prefix)
{
    const char *b = s ? body_of(s, prefix) : NULL;
    if (!b || strlen(b) != ID_BODY_LEN || b[0] > '7') return false;
    for (const char *p = b; *p; p++)
        if (!strchr(alphabet, *p)) return false;
    return true;
}

int64_t id_time_ms(const char *s)
{
    if (!id_valid(s, NULL)) return -1;
    const char *b = strchr(s, '_') + 1;
    uint64_t v = 0;
    /* The first 10 digits hold 50 bits: 2 of padding, then the 48 of time. */
    for (int d = 0; d < 10; d++)
        v = v << 5 | (uint64_t)(strchr(alphabet, b[d]) - alphabet);
    return (int64_t)v;
}
