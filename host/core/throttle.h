/*
 * throttle.h - failures counted per key (a client address; an address and
 * an instance) in a fixed window: once a key has `limit` failures within
 * window_ms of its first, it is throttled until that window ends, then
 * starts afresh. The table has a fixed number of slots; when every slot is
 * in use, the key whose window started first gives its slot up. For one
 * thread (the host's loop).
 */
#ifndef AH_THROTTLE_H
#define AH_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

#define THROTTLE_KEY_MAX 127 /* longer keys are cut */

typedef struct throttle throttle;

/* A table of `slots` keys. NULL when out of memory. */
throttle *throttle_new(size_t slots, unsigned limit, uint64_t window_ms);
void throttle_free(throttle *t);

/* 0 when key may go on; else the whole seconds (at least 1) until its
 * window ends, for Retry-After. */
unsigned throttle_wait_s(throttle *t, const char *key, uint64_t now_ms);

/* Count one failure of key; returns its failures in the current window
 * (the limit-th one is the failure that throttles it). */
unsigned throttle_fail(throttle *t, const char *key, uint64_t now_ms);

#endif
