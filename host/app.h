/*
 * app.h - the composition root of `agenthost serve`: it owns every module
 * of a running host and wires them together.
 */
#ifndef AH_APP_H
#define AH_APP_H

#include "bus/bus.h"
#include "bus/bus_plugins.h"
#include "core/config.h"
#include "core/loop.h"
#include "core/secrets.h"
#include "core/store.h"
#include "plugin/kv.h"
#include "plugin/registry.h"
#include "plugin/supervisor.h"

#include <stdbool.h>

typedef struct api api;
typedef struct broker broker;
typedef struct pmetrics pmetrics;

typedef struct app {
    config *cfg;
    ah_loop *loop;
    store *st;
    secrets *sec;
    registry *reg;
    supervisor *sup;
    kv_service *kv;
    broker *egress;
    pmetrics *pmetrics;
    bus *bus;
    bus_plugins *busp;
    api *http;
    int lock_fd;
    int signals; /* termination signals received */
    int exit_code;
} app;

/* Run the host until SIGINT/SIGTERM; returns the process exit status. */
int app_run(config *cfg);

#endif
