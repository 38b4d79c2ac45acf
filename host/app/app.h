/*
 * app.h - the composition root of `agenthost serve`: it owns every module
 * of a running host and wires them together.
 */
#ifndef AH_APP_H
#define AH_APP_H

#include "bus/bus.h"
#include "core/config.h"
#include "core/loop.h"
#include "store/secrets.h"
#include "store/store.h"
#include "options.h"
#include "plugin/registry.h"
#include "plugin/supervisor.h"

#include <stdbool.h>

typedef struct api api;
typedef struct broker broker;
typedef struct kv_service kv_service;
typedef struct bus_service bus_service;
typedef struct egress_service egress_service;
typedef struct metrics_service metrics_service;
typedef struct call_service call_service;
typedef struct docs docs;
typedef struct keystore keystore;
typedef struct doc_retention doc_retention;
typedef struct expr_pool expr_pool;
typedef struct runtime runtime;

typedef struct app {
    config *cfg;
    const host_settings *opts; /* the modules' options, from cfg */
    ah_loop *loop;
    store *st;
    secrets *sec;
    registry *reg;
    supervisor *sup;
    broker *egress;
    bus *bus;
    docs *docs;
    keystore *keys; /* personal-data keys (DATA_DIR/keys) */
    doc_retention *retention;
    /* the plugin services table, served from host/services/ */
    kv_service *kv_svc;
    egress_service *egress_svc;
    metrics_service *metrics_svc;
    call_service *call_svc;
    bus_service *bus_svc;
    expr_pool *expr; /* jq expressions, for the scenario engine (ADR 0016) */
    runtime *rt;     /* the engine: agents at work */
    webhooks *hooks; /* outgoing webhooks */
    api *http;
    int lock_fd;
    int signals; /* termination signals received */
    int exit_code;
} app;

/* Run the host until SIGINT/SIGTERM; returns the process exit status.
 * opts: the settings host_config_finalize wrote from cfg. */
int app_run(config *cfg, const host_settings *opts);

#endif
