/*
 * core.h - the host-core benchmarks (issue 2), run by bench_core:
 *   core_calls.c  call round trip through the supervisor and an echo
 *                 instance, against a bare SOCK_SEQPACKET ping-pong
 *   core_spawn.c  spawn-to-ready (1 and 20 instances), RSS of the real
 *                 host with 1 and 20 idle instances and of one instance
 *   core_store.c  KV puts through store_write against raw LMDB at the
 *                 same batch sizes
 */
#ifndef AH_BENCH_CORE_H
#define AH_BENCH_CORE_H

#include "bench.h"

#include "core/loop.h"
#include "store/store.h"
#include "plugin/manifest.h"
#include "plugin/supervisor.h"

/* An in-process host: loop, store, supervisor, the echo manifest. */
typedef struct core_world {
    char dir[512];
    ah_loop *loop;
    store *st;
    supervisor *sup;
    manifest *echo;
    /* readiness, counted by the supervisor listener */
    unsigned ready_events;
    uint64_t first_ready_ns; /* reset by whoever measures */
    uint64_t last_ready_ns;
} core_world;

int core_open(core_world *w, bench *b);
void core_close(core_world *w);

/* Run the loop until cond(arg) holds; false after timeout_ms. */
bool core_run_until(core_world *w, bool (*cond)(void *), void *arg, int timeout_ms);

/* Add an echo instance (disabled: it starts with instance_enable). */
instance *core_add_echo(core_world *w, bench *b, const char *id, bool enabled);
pid_t core_pid(const instance *inst);

void bench_core_calls(bench *b, core_world *w);
void bench_core_spawn(bench *b, core_world *w);
void bench_core_rss(bench *b);
void bench_core_store(bench *b);

#endif
