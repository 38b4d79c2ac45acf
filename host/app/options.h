/*
 * options.h - the host's options, declared once (options.c): every setting
 * of the configuration file below the top-level paths (config.h declares
 * those), each with its key, type, unit, default, range and doc, and the
 * field of the modules' own option structs it fills. The JSON Schema that
 * validates the file, the values the modules receive (units converted) and
 * the table in docs/operations.md all come from that one declaration.
 */
#ifndef AH_OPTIONS_H
#define AH_OPTIONS_H

#include "api/api.h"
#include "broker/broker.h"
#include "bus/bus.h"
#include "core/config.h"
#include "core/log.h"
#include "core/optmap.h"
#include "expr/expr.h"
#include "model/retention.h"
#include "store/store.h"
#include "http/server.h"
#include "plugin/supervisor.h"
#include "runtime/runtime.h"
#include "webhooks/webhooks.h"

/* The modules' options as the file sets them. Fields no option fills stay
 * zero for the caller to set: log.dir, store.dir and read_only,
 * supervisor.runner, no_sandbox, debug_instance and debug_wrapper, http.listen, bus.now_ms,
 * broker.listen and max_header_bytes. Strings and JSON values (http.tls_cert, tls_key,
 * bus.topic_overrides, engine.http_allow, instances) are borrowed from the config's JSON: valid
 * until config_free. */
typedef struct host_settings {
    log_opts log;
    store_opts store;
    supervisor_opts supervisor;
    http_opts http;
    api_opts api;
    bus_opts bus;
    broker_opts broker;
    expr_opts expr;
    retention_opts retention;
    runtime_opts engine;
    webhooks_opts webhooks;  /* webhooks.allow is borrowed like engine.http_allow */
    bool example_agent;      /* engine.example_agent: offered on a first start (app/example.h) */
    const json_t *instances; /* the "instances" array, or NULL: one per installed plugin */
} host_settings;

/* The declarations (ended by {0}), into host_settings. */
extern const opt_decl host_options[];

/* Every option a configuration file holds, in the docs' order:
 * config_options, then host_options; ended by NULL. */
extern const opt_decl *const host_option_tables[];

/* The defaults alone, as a file without them gives. 0, or AH_EINVAL with the
 * option in err if a declaration's default does not fit its field (a bug the
 * unit tests rule out). */
int host_settings_defaults(host_settings *s, char *err, size_t errlen);

/* config_finalize with the host's options: the whole file validated and the
 * settings written into s (NULL: validated only). Returns what config_finalize
 * returns. */
int host_config_finalize(config *c, host_settings *s, const char *path, char *err, size_t errlen);

#endif
