#include "app.h"
#include "app/example.h"
#include "app/linked_profile.h"

#include "api/api.h"
#include "broker/broker.h"
#include "core/log.h"
#include "core/metrics.h"
#include "store/store_guard.h"
#include "store/tokens.h"
#include "core/util.h"
#include "store/store_keys.h"
#include "model/docs.h"
#include "model/retention.h"
#include "expr/expr.h"
#include "runtime/runtime.h"
#include "plugin/instances_def.h"
#include "services/bus_service.h"
#include "services/call_service.h"
#include "services/egress_service.h"
#include "services/kv_service.h"
#include "services/metrics_service.h"

#include <agenthost/plugin.h>

#include <errno.h>
#include <sodium.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static int lock_data_dir(app *a, char *err, size_t errlen)
{
    char path[1100];
    snprintf(path, sizeof(path), "%s/agenthost.lock", a->cfg->data_dir);
    a->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (a->lock_fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(a->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        char pid[32] = "";
        ssize_t n = pread(a->lock_fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = 0;
        pid[strcspn(pid, "\n")] = 0;
        snprintf(err, errlen, "another agenthost (pid %s) is serving %s", pid[0] ? pid : "?",
                 a->cfg->data_dir);
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    if (ftruncate(a->lock_fd, 0) == 0 && pwrite(a->lock_fd, pid, (size_t)n, 0) != n)
        log_warn("host", "cannot write the pid into %s", path);
    return 0;
}

static void add_config_instances(app *a);

/* Instances from the config (or one per installed plugin), then those
 * made over the API (instances_def.h). A bad instance is reported and
 * skipped; the host goes on with the others. */
static void add_instances(app *a)
{
    add_config_instances(a);
    size_t n = instances_def_load(a->sup, a->st, a->reg);
    if (n) log_info("host", "%zu instances made over the API", n);
}

static void add_config_instances(app *a)
{
    char err[1024];
    const json_t *list = a->opts->instances;
    if (!list) {
        for (size_t i = 0; i < registry_count(a->reg); i++) {
            const manifest *m = registry_at(a->reg, i);
            if (json_is_false(json_object_get(m->json, "default_instance"))) continue;
            if (supervisor_add(a->sup, m->name, m, NULL, NULL, true, err, sizeof(err)) < 0)
                log_error("host", "%s", err);
        }
        return;
    }
    size_t i;
    const json_t *it;
    json_array_foreach(list, i, it)
    {
        const char *id = json_string_value(json_object_get(it, "id"));
        const char *plugin = json_string_value(json_object_get(it, "plugin"));
        const manifest *m = registry_find(a->reg, plugin);
        if (!m) {
            log_error("host", "instance %s: plugin \"%s\" is not installed in %s", id, plugin,
                      registry_dir(a->reg));
            continue;
        }
        bool enabled = !json_is_false(json_object_get(it, "enabled"));
        if (supervisor_add(a->sup, id, m, json_object_get(it, "config"), it, enabled, err,
                           sizeof(err)) < 0)
            log_error("host", "%s", err);
    }
}

static void on_all_stopped(void *ud)
{
    app *a = ud;
    log_info("host", "all instances stopped");
    loop_stop(a->loop);
}

static void on_signal(int signum, void *ud)
{
    app *a = ud;
    if (++a->signals > 1) {
        log_warn("host", "second %s: stopping now", sigabbrev_np(signum));
        loop_stop(a->loop);
        return;
    }
    log_info("host", "SIG%s received: stopping (again to force)", sigabbrev_np(signum));
    runtime_stop(a->rt); /* turns in flight are left: their inputs come back after a restart */
    supervisor_stop_all(a->sup, on_all_stopped, a);
}

/* SIGHUP: the TLS certificate and key read again (renewed by an ACME
 * client, say); a pair that cannot be used leaves the old one served. */
static void on_hangup(int signum, void *ud)
{
    (void)signum;
    app *a = ud;
    char err[600] = "";
    int rc = api_reload_tls(a->http, err, sizeof(err));
    if (rc == 0)
        log_info("http", "SIGHUP: TLS certificate and key reloaded from %s and %s",
                 a->opts->http.tls_cert, a->opts->http.tls_key);
    else if (rc > 0)
        log_info("http", "SIGHUP: nothing to reload (the API does not serve TLS)");
    else
        log_error("http", "SIGHUP: TLS reload failed, the previous certificate is still served: %s",
                  err);
}

/* Secrets the key does not open (damaged or altered in the store): said at
 * start, each; their instances fail when they start, saying the same. */
static void report_unreadable_secrets(secrets *sec)
{
    json_t *bad = secrets_unreadable(sec);
    size_t i;
    json_t *e;
    json_array_foreach(bad, i, e)
    {
        const char *inst = json_string_value(json_object_get(e, "instance"));
        const char *name = json_string_value(json_object_get(e, "name"));
        log_error("secrets",
                  "secret %s of instance %s cannot be opened with the master key (id %s): it was "
                  "damaged or altered in the store; the instance fails to start until it is set "
                  "again (agenthost secret set %s %s)",
                  name, inst, secrets_key_id(sec), inst, name);
    }
    json_decref(bad);
}

/* The data model, its documents migrated before anything is served. */
static int open_model(app *a, char *err, size_t errlen)
{
    char keys[1100];
    snprintf(keys, sizeof(keys), "%s/keys", a->cfg->data_dir);
    uint8_t root[32];
    int rc = keystore_open(&a->keys, keys, err, errlen);
    if (!rc) rc = secrets_derive_key(a->sec, "ahmodel1", root);
    if (!rc) rc = docs_open(&a->docs, a->st, a->keys, root, err, errlen);
    sodium_memzero(root, sizeof(root));
    size_t migrated = 0;
    if (!rc) rc = docs_migrate(a->docs, &migrated, err, errlen);
    if (!rc &&
        (rc = doc_retention_start(&a->retention, a->docs, a->loop, &a->opts->retention)) != 0)
        snprintf(err, errlen, "out of memory");
    return rc ? -1 : 0;
}

/* The host's first start: its first admin token, shown once on the
 * terminal (never in a log file), and the example agent to talk to. */
static int first_start(app *a, const config *c, char *err, size_t errlen)
{
    char token[TOKEN_LEN + 1];
    int rc = tokens_create(a->st, "admin", "admin", token);
    if (rc) {
        snprintf(err, errlen, "cannot create the first admin token: %s", ah_strerror(rc));
        return -1;
    }
    fprintf(stderr,
            "\nagenthost: first start: this is the admin API token; it is shown once, "
            "store it now:\n\n    %s\n\n"
            "Use it as \"Authorization: Bearer <token>\". Create more with "
            "`agenthost token create`.\n\n",
            token);
    log_info("host", "created the first admin API token (shown once on the terminal)");
    if (!a->opts->example_agent) return 0;
    char agent[64], widget[64];
    if (example_agent_create(a->docs, agent, widget, err, errlen) != 0) return -1;
    log_info("engine", "made the example agent %s (%s) and its web chat widget %s",
             EXAMPLE_AGENT_NAME, agent, widget);
    fprintf(stderr,
            "agenthost: the example agent \"%s\" is ready. Talk to it over the REST "
            "channel:\n\n"
            "    curl -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \\\n"
            "         -d '{\"user\": \"me\", \"text\": \"hi\"}' "
            "http://%s/api/v1/agents/%s/messages\n\n"
            "or in a browser, in the web chat's demo page:\n\n"
            "    http://%s/chat/%s/demo\n\n",
            EXAMPLE_AGENT_NAME, token, c->listen, agent, c->listen, widget);
    return 0;
}

/* Every open connection is a descriptor: take the hard limit on open
 * files (a shell's soft one is often 1,024, fewer than http.max_connections
 * allows), and say so when even that is too few. Plugins are unaffected:
 * the sandbox sets their own limit. */
static void raise_open_files(const http_opts *ho)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0) return;
    if (r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &r) != 0) getrlimit(RLIMIT_NOFILE, &r);
    }
    uint64_t want = (uint64_t)ho->max_connections + 256; /* the store, logs, plugins */
    if (r.rlim_cur != RLIM_INFINITY && r.rlim_cur < want)
        log_write("host", LOG_WARN, "http", NULL, NULL,
                  "open files limit %llu is below http.max_connections %u and the host's own "
                  "files (%llu): raise it (ulimit -n, systemd LimitNOFILE=)",
                  (unsigned long long)r.rlim_cur, (unsigned)ho->max_connections,
                  (unsigned long long)want);
}

static int open_modules(app *a, char *err, size_t errlen)
{
    config *c = a->cfg;
    /* 0700 even when it existed before: plugins run as another user. */
    if (ah_mkdir_p(c->data_dir, 0700) < 0 || chmod(c->data_dir, 0700) < 0) {
        snprintf(err, errlen, "%s: cannot create the data directory: %s", c->data_dir,
                 strerror(errno));
        return -1;
    }
    if (lock_data_dir(a, err, errlen) < 0) return -1;
    if (loop_new(&a->loop) < 0) {
        snprintf(err, errlen, "cannot create the event loop");
        return -1;
    }
    store_opts so = a->opts->store;
    so.dir = c->data_dir;
    if (store_open(&a->st, a->loop, &so, err, errlen) != 0) return -1;
    store_guard_install(c->data_dir);
    if (secrets_open(&a->sec, a->st, c->master_key, SECRETS_KEY_CREATE, err, errlen) != 0)
        return -1;
    report_unreadable_secrets(a->sec);
    if (open_model(a, err, errlen) != 0) return -1;
    if (bus_open(&a->bus, a->loop, a->st, &a->opts->bus, err, errlen) != 0) return -1;
    if (registry_scan(&a->reg, c->plugins_dir, err, errlen) < 0) return -1;
    supervisor_opts sv = a->opts->supervisor;
    sv.runner = c->runner;
    sv.data_dir = c->data_dir;
#ifdef AH_TEST_NO_SANDBOX
    sv.no_sandbox =
        getenv("AGENTHOST_TEST_NO_SANDBOX") && !strcmp(getenv("AGENTHOST_TEST_NO_SANDBOX"), "1");
#endif
    if (access(c->runner, X_OK) < 0) {
        snprintf(err, errlen, "%s: the sandbox runner is missing or not executable", c->runner);
        return -1;
    }
    if (supervisor_new(&a->sup, a->loop, a->st, a->sec, &sv) != 0 ||
        kv_service_attach(&a->kv_svc, a->sup, a->st) != 0 ||
        metrics_service_attach(&a->metrics_svc, a->sup) != 0 ||
        call_service_attach(&a->call_svc, a->sup) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    broker_opts eo = a->opts->broker;
    eo.listen = c->listen;
    if (broker_new(&a->egress, a->loop, &eo, err, errlen) != 0) return -1;
    if (egress_service_attach(&a->egress_svc, a->sup, a->egress) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    add_instances(a);
    if (expr_pool_attach(&a->expr, a->loop, a->sup, registry_find(a->reg, EXPR_PLUGIN),
                         &a->opts->expr) != 0) {
        snprintf(err, errlen, "cannot start the expression pool");
        return -1;
    }
    /* Every instance is known now (the expression pool's too), none started. */
    if (supervisor_check_debug(a->sup, err, errlen) != 0) return -1;
    if (bus_service_attach(&a->bus_svc, a->bus, a->sup, a->opts->instances, err, errlen) != 0)
        return -1;
    bus_service_set_enrich(a->bus_svc, LINKED_PROFILE_TOPIC, linked_profile_enrich, a->docs);
    runtime_deps rd = {.loop = a->loop,
                       .bus = a->bus,
                       .docs = a->docs,
                       .sup = a->sup,
                       .expr = a->expr,
                       .egress = a->egress};
    if (runtime_new(&a->rt, &rd, &a->opts->engine, err, errlen) != 0 ||
        runtime_start(a->rt, err, errlen) != 0)
        return -1;
    webhooks_deps wd = {.loop = a->loop,
                        .bus = a->bus,
                        .docs = a->docs,
                        .egress = a->egress,
                        .expr = a->expr,
                        .sec = a->sec};
    if (webhooks_new(&a->hooks, &wd, &a->opts->webhooks, err, errlen) != 0 ||
        webhooks_start(a->hooks, err, errlen) != 0)
        return -1;
    if (!tokens_any(a->st) && first_start(a, c, err, errlen) != 0) return -1;
    http_opts ho = a->opts->http;
    ho.listen = c->listen;
    ho.request_id_refused = TOKEN_PREFIX; /* a token sent as a request id stays out of logs */
    raise_open_files(&ho);
    api_deps deps = {.st = a->st,
                     .sec = a->sec,
                     .reg = a->reg,
                     .sup = a->sup,
                     .bus = a->bus,
                     .egress = a->egress,
                     .docs = a->docs,
                     .expr = a->expr,
                     .rt = a->rt,
                     .webhooks = a->hooks,
                     .logs_dir = c->logs_dir,
                     .data_dir = c->data_dir,
                     .loop = a->loop};
    api_opts ao = a->opts->api;
    if (!ao.webchat_script) ao.webchat_script = AH_WEBCHAT_SCRIPT; /* as make widget builds it */
#ifdef AH_FAULTS
    /* Test builds only (bench_auth): the same host without the permission
     * check, to measure what the check costs. */
    ao.skip_perm_check = getenv("AGENTHOST_BENCH_NO_PERM_CHECK") != NULL;
#endif
    if (api_start(&a->http, a->loop, &ho, &ao, &deps, err, errlen) < 0) return -1;
    broker_set_listen_port(a->egress, api_port(a->http)); /* "HOST:0" binds any port */
    metrics_add_collector(metrics_process_collector, NULL);
    return 0;
}

static void close_modules(app *a)
{
    metrics_remove_collector(metrics_process_collector, NULL);
    runtime_stop(a->rt);
    webhooks_stop(a->hooks);
    doc_retention_stop(a->retention);
    a->retention = NULL;
    api_stop(a->http);
    a->http = NULL;
    broker_free(a->egress); /* running requests are dropped unanswered */
    a->egress = NULL;
    egress_service_detach(a->egress_svc);
    bus_close(a->bus);
    if (a->st) store_close(a->st); /* answers pending writes; instances and bus still exist */
    a->st = NULL;
    bus_free(a->bus);
    bus_service_detach(a->bus_svc);
    if (a->sup) supervisor_free(a->sup);
    expr_pool_detach(a->expr); /* after the supervisor: its failing calls come through it */
    runtime_free(a->rt);       /* after everything that could still answer one of its calls */
    webhooks_free(a->hooks);   /* after the broker and the store: nothing of theirs comes back */
    kv_service_detach(a->kv_svc);
    metrics_service_detach(a->metrics_svc);
    call_service_detach(a->call_svc);
    registry_free(a->reg);
    docs_close(a->docs);
    keystore_close(a->keys);
    secrets_close(a->sec);
    loop_free(a->loop);
    if (a->lock_fd >= 0) close(a->lock_fd);
}

int app_run(config *cfg, const host_settings *opts)
{
    app a = {.cfg = cfg, .opts = opts, .lock_fd = -1};
    char err[1024] = "";
    /* No core dumps or ptrace of the host by other users' processes: it
     * holds the master key and every decrypted secret. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) {
        log_error("host", "cannot make the host non-dumpable: %s", strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    if (open_modules(&a, err, sizeof(err)) < 0) {
        log_error("host", "%s", err);
        close_modules(&a);
        return 1;
    }
    loop_on_signal(a.loop, SIGINT, on_signal, &a);
    loop_on_signal(a.loop, SIGTERM, on_signal, &a);
    loop_on_signal(a.loop, SIGHUP, on_hangup, &a);
    json_t *f = json_pack("{s:i,s:s}", "port", api_port(a.http), "version", AH_VERSION);
    log_write("host", LOG_INFO, "host", NULL, f,
              "agenthost %s listening on http://%s (port %d): data %s, logs %s, %zu plugins, "
              "%zu instances",
              AH_VERSION, cfg->listen, api_port(a.http), cfg->data_dir, cfg->logs_dir,
              registry_count(a.reg), supervisor_count(a.sup));
    json_decref(f);
    supervisor_start_all(a.sup);
    loop_run(a.loop);
    if (a.signals > 1) {
        /* Forced: kill what is left without waiting. */
        for (size_t i = 0; i < supervisor_count(a.sup); i++) {
            json_t *st = instance_status(supervisor_at(a.sup, i));
            json_int_t pid = json_integer_value(json_object_get(st, "pid"));
            if (pid > 0) kill((pid_t)pid, SIGKILL);
            json_decref(st);
        }
    }
    close_modules(&a);
    log_info("host", "stopped");
    return a.exit_code;
}
