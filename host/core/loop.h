/*
 * loop.h - the host's single event loop (libuv; see docs/adr/0001).
 *
 * Modules watch fds (uv_poll_t), run timers (uv_timer_t) and take thread
 * wakeups (uv_async_t) on loop_uv(). On top of libuv this module adds:
 * tick hooks, run once per iteration after all callbacks of the iteration
 * and before the loop waits for I/O (the store flushes its group commit
 * there); signal handlers; and a clean stop.
 *
 * Nothing on the loop may block: no fsync, no DNS, no waiting on a plugin.
 */
#ifndef AH_LOOP_H
#define AH_LOOP_H

#include <uv.h>

typedef struct ah_loop ah_loop;
typedef void (*loop_tick_fn)(void *ud);
typedef void (*loop_signal_fn)(int signum, void *ud);

/* 0; AH_ENOMEM; AH_EIO when libuv cannot make a loop. */
int loop_new(ah_loop **out);
uv_loop_t *loop_uv(ah_loop *l);

/* Register a tick hook. Hooks run in registration order. 0, or AH_ETOOBIG
 * when 16 are registered already. */
int loop_on_tick(ah_loop *l, loop_tick_fn fn, void *ud);
/* The same for a hook that runs before every hook registered with
 * loop_on_tick (early hooks in their own registration order): for work
 * that a later hook hands on in the same pass, such as the bus's consumer
 * positions, queued before the store hands the pass's writes to its
 * writer, so they share that commit (ADR 0057). */
int loop_on_tick_early(ah_loop *l, loop_tick_fn fn, void *ud);

/* Remove a tick hook (before freeing what ud points to). */
void loop_remove_tick(ah_loop *l, loop_tick_fn fn, void *ud);

/* Handle a signal on the loop (not in signal context). 0; AH_ETOOBIG (8
 * handled already); AH_ENOMEM; AH_EINVAL (not a signal libuv can watch). */
int loop_on_signal(ah_loop *l, int signum, loop_signal_fn fn, void *ud);

/* Run until loop_stop; returns 0. */
int loop_run(ah_loop *l);
void loop_stop(ah_loop *l);

/* Close the loop's own handles, drain closing callbacks of everyone's
 * handles, and free it. Modules close their handles first. */
void loop_free(ah_loop *l);

#endif
