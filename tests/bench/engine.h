/*
 * engine.h - the scenario engine's benchmark (issue 12), run by
 * bench_engine:
 *   bench_engine.c  the driver: starts the fake OpenAI server, runs one
 *                   fresh host process per store size, prints the table
 *   engine_host.c   the host inside such a process, assembled from the
 *                   host's modules as host/app/app.c does (store, documents,
 *                   bus, supervisor, broker, services, the jq pool, the
 *                   llm-openai instance, the runtime), over a store first
 *                   filled with generated conversations
 *   engine_load.c   the closed loops on that host: turns through the engine,
 *                   the bus's own floor, and the plugin call alone
 */
#ifndef AH_BENCH_ENGINE_H
#define AH_BENCH_ENGINE_H

#include "bench.h"

#include "broker/broker.h"
#include "bus/bus.h"
#include "core/loop.h"
#include "expr/expr.h"
#include "model/docs.h"
#include "plugin/supervisor.h"
#include "runtime/runtime.h"
#include "services/egress_service.h"
#include "services/metrics_service.h"
#include "store/store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* The channel instance the bench agent is bound to, and its question. */
#define EB_INSTANCE "tg-bench"
#define EB_ASK_TEXT "What is your question?"
#define EB_QUESTION "How do I reset my password?"

typedef struct eb_host {
    char dir[512]; /* temporary: the store, keys and logs */
    ah_loop *loop;
    store *st;
    keystore *keys;
    docs *d;
    bus *bus;
    supervisor *sup;
    broker *egress;
    egress_service *egress_svc;
    metrics_service *metrics_svc;
    expr_pool *expr;
    runtime *rt;
    instance *llm;
    char agent_id[64];
    double load_s; /* seconds to load the stored conversations */
} eb_host;

/* Open a host in a new temporary directory: the store filled with `stored`
 * generated conversations (and stored / 4 contacts), the bench agent and
 * its scenario, then the bus, plugins (llm-openai against the fake on
 * fake_port, the jq pool) and the runtime, started and ready. 0 or -1
 * (reported on stderr). */
int eb_host_open(eb_host *h, long stored, int fake_port, uint32_t max_in_flight);
void eb_host_close(eb_host *h);
/* Run the loop until cond(arg) holds; false after timeout_ms. */
bool eb_run_until(eb_host *h, bool (*cond)(void *), void *arg, int timeout_ms);

/* One measured round at one concurrency: `conc` chats each with one input
 * in flight, for round_ms. */
typedef enum eb_kind { EB_TURNS, EB_FLOOR, EB_CALLS } eb_kind;

typedef struct eb_round {
    long done;         /* completed in the window */
    double per_s;      /* done / window */
    bench_lat lat;     /* per completion, when asked for */
    long failed;       /* inputs refused, calls failed */
    double wall_s;     /* the round, its drain included */
    double loop_cpu_s; /* the loop thread's CPU over wall_s */
    double proc_cpu_s; /* the host process's (every thread) */
} eb_round;

typedef struct eb_load eb_load;

/* The drivers over h (their bus consumers opened). NULL on failure. */
eb_load *eb_load_new(eb_host *h);
void eb_load_free(eb_load *l);
/* Start `conc` conversations of the engine (their first turn: the
 * question asked), as chats "<tag>_<i>". 0 or -1. */
int eb_warm(eb_load *l, const char *tag, int conc);
/* One round of kind at concurrency conc (chats of tag, warmed for
 * EB_TURNS); latencies kept when lat is true. 0 or -1 (something broke). */
int eb_round_run(eb_load *l, eb_kind kind, const char *tag, int conc, int round_ms, bool lat,
                 eb_round *out);

#endif
