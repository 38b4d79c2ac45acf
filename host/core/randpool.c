#include "randpool.h"

#include <sodium.h>
#include <string.h>

void ah_randpool_take(ah_randpool *p, void *out, size_t n)
{
    if (p->left < n) {
        /* sodium_init (idempotent) has libsodium pick its SIMD ChaCha20:
         * about 50 instructions per 16 bytes, against about 300 for the
         * reference code, which still serves should it fail. */
        if (sodium_init() < 0) {
            /* the reference code serves */
        }
        uint8_t seed[randombytes_SEEDBYTES];
        randombytes_buf(seed, sizeof(seed));
        randombytes_buf_deterministic(p->bytes, sizeof(p->bytes), seed);
        sodium_memzero(seed, sizeof(seed));
        p->left = sizeof(p->bytes);
    }
    p->left -= n;
    memcpy(out, p->bytes + p->left, n);
}
