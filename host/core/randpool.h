/*
 * randpool.h - random bytes for ids, drawn many at a time.
 *
 * A hot path that needs a fresh random id per item (an event, a request)
 * takes it from a pool instead of a getrandom system call each: the pool
 * is ChaCha20's stream under a fresh 32-byte key from the kernel, so one
 * getrandom serves 4 KiB of ids. (libsodium asks getrandom for at most
 * 256 bytes at a time: a 4 KiB pool drawn straight from the kernel would
 * cost 16 calls.) Every byte is handed out once. For ids, not for keys:
 * the pool lives in ordinary memory. One thread per pool.
 */
#ifndef AH_RANDPOOL_H
#define AH_RANDPOOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct ah_randpool {
    uint8_t bytes[4096];
    size_t left; /* bytes not yet handed out, from the end; 0: draw first */
} ah_randpool;

/* n (<= 4096) random bytes into out. A zeroed pool is ready. */
void ah_randpool_take(ah_randpool *p, void *out, size_t n);

#endif
