/*
 * supervisor.c - the set of plugin instances: restart policy, quarantine,
 * operator actions, status. Calls to instances and their requests:
 * sup_calls.c.
 */
#include "core/jsonschema.h"
#include "core/log.h"
#include "core/util.h"
#include "supervisor_priv.h"

#include <agenthost/plugin.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define TICK_MS 100
#define RSS_EVERY_MS 2000 /* a pass over /proc measures every instance's memory */

static const char *const state_names[] = {
    [INST_STOPPED] = "stopped",   [INST_STARTING] = "starting", [INST_READY] = "ready",
    [INST_STOPPING] = "stopping", [INST_BACKOFF] = "backoff",   [INST_QUARANTINED] = "quarantined",
    [INST_FAILED] = "failed",     [INST_DISABLED] = "disabled",
};

const char *instance_state_name(instance_state s)
{
    return s <= INST_DISABLED ? state_names[s] : "unknown";
}

static void ilog(instance *inst, log_level lvl, const char *fmt, const char *a, const char *b)
{
    log_ctx c = {.plugin = inst->m->name, .instance = inst->id};
    char msg[700];
    snprintf(msg, sizeof(msg), fmt, a ? a : "", b ? b : "");
    log_write("host", lvl, "supervisor", &c, NULL, "%s", msg);
}

/* ---- persisted state (for `agenthost instance list` and restarts) --------- */

typedef struct persist_op {
    char id[72];
    char *json;
} persist_op;

static int apply_persist(store_txn *txn, void *arg)
{
    persist_op *op = arg;
    return store_put(txn, STORE_DB_INSTANCES, op->id, strlen(op->id), op->json, strlen(op->json));
}

static void done_persist(int status, void *arg)
{
    (void)status;
    persist_op *op = arg;
    free(op->json);
    free(op);
}

void sup_persist_state(instance *inst)
{
    if (!inst->sup->st || inst->removed) return;
    json_t *st = instance_status(inst);
    json_object_set_new(st, "updated_at_ms", json_integer(ah_now_ms()));
    persist_op *op = calloc(1, sizeof(*op));
    if (!op) {
        json_decref(st);
        return;
    }
    snprintf(op->id, sizeof(op->id), "%s", inst->id);
    op->json = json_dumps(st, JSON_COMPACT);
    json_decref(st);
    if (!op->json || store_write(inst->sup->st, apply_persist, done_persist, op) != 0) {
        free(op->json);
        free(op);
    }
}

static void set_state(instance *inst, instance_state s)
{
    if (inst->state == s) return;
    inst->state = s;
    sup_persist_state(inst);
}

/* ---- starting and stopping ------------------------------------------------ */

void sup_start_instance(instance *inst)
{
    char err[300];
    inst->stop_requested = false;
    set_state(inst, INST_STARTING);
    if (run_start(inst, err, sizeof(err)) != 0) {
        snprintf(inst->last_error, sizeof(inst->last_error), "%s", err);
        ilog(inst, LOG_ERROR, "instance %s: %s", inst->id, err);
        sup_on_exit(inst, -1, err);
    }
}

static void on_restart_timer(uv_timer_t *t)
{
    instance *inst = t->data;
    if (inst->state == INST_BACKOFF && !inst->sup->stopping_all) {
        inst->restarts++;
        sup_start_instance(inst);
    }
}

static void on_kill_timer(uv_timer_t *t)
{
    instance *inst = t->data;
    if (inst->cur) run_kill(inst->cur, "did not stop within its grace period");
}

void sup_stop_instance(instance *inst)
{
    if (!inst->cur) {
        return;
    }
    inst->stop_requested = true;
    set_state(inst, INST_STOPPING);
    run_send(inst->cur, AH_MSG_SHUTDOWN, 0, NULL);
    uv_timer_start(&inst->kill_timer, on_kill_timer, inst->sup->opts.shutdown_grace_ms, 0);
}

static unsigned crashes_in_window(instance *inst, uint64_t now)
{
    unsigned n = 0;
    uint64_t window = (uint64_t)inst->restart.window_s * 1000u;
    unsigned total = inst->ncrashes < MAX_CRASH_RING ? inst->ncrashes : MAX_CRASH_RING;
    for (unsigned i = 0; i < total; i++)
        if (now - inst->crash_times[i] <= window) n++;
    return n;
}

static void describe_exit(int status, const char *reason, char *buf, size_t len)
{
    if (reason)
        snprintf(buf, len, "%s", reason);
    else if (status < 0)
        snprintf(buf, len, "could not start");
    else if (WIFEXITED(status))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
                 sigabbrev_np(WTERMSIG(status)) ?: "?");
    else
        snprintf(buf, len, "ended (status %d)", status);
}

static void maybe_finish_stop_all(supervisor *s)
{
    if (!s->stopping_all || !s->stop_done) return;
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i]->cur) return;
    void (*done)(void *) = s->stop_done;
    s->stop_done = NULL;
    done(s->stop_ud);
}

static void fail_calls(instance *inst, const char *code, const char *msg)
{
    size_t pos = 0;
    uint64_t id;
    void *v;
    /* Collect first: callbacks may start new calls. */
    size_t n = inst->calls.n, k = 0;
    pending_call **list = calloc(n ? n : 1, sizeof(*list));
    while (list && ah_idmap_next(&inst->calls, &pos, &id, &v))
        list[k++] = v;
    for (size_t i = 0; i < k; i++)
        ah_idmap_take(&inst->calls, list[i]->id);
    for (size_t i = 0; i < k; i++) {
        list[i]->cb(list[i]->ud, NULL, code, msg);
        free(list[i]);
    }
    free(list);
}

void sup_on_exit(instance *inst, int status, const char *reason)
{
    supervisor *s = inst->sup;
    char why[400];
    describe_exit(status, reason, why, sizeof(why));
    inst->pid = 0;
    inst->last_exit_status = status;
    uv_timer_stop(&inst->kill_timer);
    bool asked = inst->stop_requested;
    bool charged = inst->charge_calls && inst->calls.n > 0; /* before fail_calls empties them */
    fail_calls(inst, asked ? "instance_stopped" : "instance_crashed", why);
    for (size_t i = 0; i < s->nlisteners; i++)
        if (s->listeners[i].on_down) s->listeners[i].on_down(s->listener_uds[i], inst);
    if (inst->removed) {
        ilog(inst, LOG_INFO, "instance %s removed (%s)", inst->id, why);
        sup_forget(inst);
        maybe_finish_stop_all(s);
        return;
    }

    if (asked) {
        inst->stop_requested = false;
        ilog(inst, LOG_INFO, "instance %s stopped (%s)", inst->id, why);
        set_state(inst, inst->enabled ? INST_STOPPED : INST_DISABLED);
        if (inst->restart_requested && !s->stopping_all) {
            inst->restart_requested = false;
            inst->restarts++;
            sup_start_instance(inst);
        }
        maybe_finish_stop_all(s);
        return;
    }
    snprintf(inst->last_error, sizeof(inst->last_error), "%s", why);
    if (inst->permanent_failure) {
        ilog(inst, LOG_ERROR, "instance %s cannot run: %s", inst->id, why);
        set_state(inst, INST_FAILED);
        maybe_finish_stop_all(s);
        return;
    }
    bool clean = status >= 0 && !reason && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    const manifest_restart *rp = &inst->restart;
    if (s->stopping_all || rp->policy == RESTART_NEVER ||
        (clean && rp->policy == RESTART_ON_FAILURE)) {
        ilog(inst, clean ? LOG_INFO : LOG_ERROR, "instance %s ended: %s", inst->id, why);
        set_state(inst, clean || s->stopping_all ? INST_STOPPED : INST_FAILED);
        maybe_finish_stop_all(s);
        return;
    }
    if (charged) {
        /* The call's doing, not the plugin's: no crash counted, no backoff. */
        log_ctx c = {.plugin = inst->m->name, .instance = inst->id};
        log_write("host", LOG_WARN, "supervisor", &c, NULL,
                  "instance %s ended while serving a call, charged to the call: %s; restarting now",
                  inst->id, why);
        set_state(inst, INST_BACKOFF);
        uv_timer_start(&inst->restart_timer, on_restart_timer, 0, 0);
        return;
    }
    uint64_t now = ah_mono_ms();
    inst->crash_times[inst->ncrashes % MAX_CRASH_RING] = now;
    inst->ncrashes++;
    unsigned recent = crashes_in_window(inst, now);
    if (recent >= rp->max_crashes) {
        char msg[600];
        snprintf(msg, sizeof(msg), "instance %s quarantined after %u crashes in %u s; last: %s",
                 inst->id, recent, rp->window_s, why);
        ilog(inst, LOG_ERROR, "%s%s", msg, NULL);
        log_ctx c = {.plugin = inst->m->name, .instance = inst->id};
        json_t *f = json_pack("{s:s,s:i}", "event", "quarantined", "crashes", (int)recent);
        log_write("security", LOG_WARN, "supervisor", &c, f, "%s", msg);
        json_decref(f);
        set_state(inst, INST_QUARANTINED);
        return;
    }
    uint64_t delay = rp->backoff_ms;
    for (unsigned i = 0; i < inst->consecutive && delay < rp->max_backoff_ms; i++)
        delay *= 2;
    if (delay > rp->max_backoff_ms) delay = rp->max_backoff_ms;
    inst->consecutive++;
    log_ctx c = {.plugin = inst->m->name, .instance = inst->id};
    log_write("host", LOG_ERROR, "supervisor", &c, NULL,
              "instance %s crashed: %s; restarting in %llu ms", inst->id, why,
              (unsigned long long)delay);
    set_state(inst, INST_BACKOFF);
    uv_timer_start(&inst->restart_timer, on_restart_timer, delay, 0);
}

void sup_on_hello_ok(instance *inst)
{
    sup_storage_started(inst);
}

void sup_on_ready(instance *inst)
{
    supervisor *s = inst->sup;
    if (inst->removed) return; /* stopping for good: nobody is told */
    inst->ready_since_ms = ah_mono_ms();
    if (inst->cur) inst->cur->next_ping_ms = inst->ready_since_ms + s->opts.ping_interval_ms;
    log_ctx c = {.plugin = inst->m->name, .instance = inst->id};
    log_write("host", LOG_INFO, "supervisor", &c, NULL, "instance %s ready (pid %d)", inst->id,
              inst->pid);
    s->rss_at_ms = 0; /* measure the new process at the next tick */
    set_state(inst, INST_READY);
    for (size_t i = 0; i < s->nlisteners; i++)
        if (s->listeners[i].on_ready) s->listeners[i].on_ready(s->listener_uds[i], inst);
}

/* One pass over /proc for every running instance, not one per request. */
static void measure_memory(supervisor *s, uint64_t now)
{
    if (now - s->rss_at_ms < RSS_EVERY_MS || !s->n) return;
    s->rss_at_ms = now;
    pid_t *pids = calloc(s->n, sizeof(*pids));
    unsigned long long *rss = calloc(s->n, sizeof(*rss));
    size_t k = 0;
    for (size_t i = 0; pids && rss && i < s->n; i++)
        if (s->v[i]->pid > 0) pids[k++] = s->v[i]->pid;
    if (k) proc_rss_trees(pids, k, rss);
    for (size_t i = 0, j = 0; pids && rss && i < s->n; i++)
        s->v[i]->rss_bytes = s->v[i]->pid > 0 && j < k ? rss[j++] : 0;
    free(pids);
    free(rss);
}

static void on_tick(uv_timer_t *t)
{
    supervisor *s = t->data;
    uint64_t now = ah_mono_ms();
    measure_memory(s, now);
    sup_storage_check(s, now);
    for (size_t i = 0; i < s->n; i++) {
        instance *inst = s->v[i];
        if (inst->cur) run_check_deadlines(inst->cur, now);
        /* A stable run forgives earlier crashes' backoff. */
        if (inst->state == INST_READY && inst->consecutive &&
            now - inst->ready_since_ms > (uint64_t)inst->restart.window_s * 1000u)
            inst->consecutive = 0;
    }
}

/* ---- the collection ------------------------------------------------------- */

int supervisor_new(supervisor **out, ah_loop *loop, store *st, secrets *sec,
                   const supervisor_opts *o)
{
    supervisor *s = calloc(1, sizeof(*s));
    if (!s) return AH_ENOMEM;
    s->loop = loop;
    s->st = st;
    s->sec = sec;
    s->opts = *o;
    s->own_filters = proc_seccomp_filters(0); /* inherited by every runner */
    if (!s->opts.ping_interval_ms) s->opts.ping_interval_ms = 5000;
    if (!s->opts.shutdown_grace_ms) s->opts.shutdown_grace_ms = 5000;
    uv_timer_init(loop_uv(loop), &s->tick);
    s->tick.data = s;
    uv_timer_start(&s->tick, on_tick, TICK_MS, TICK_MS);
    uv_unref((uv_handle_t *)&s->tick);
    *out = s;
    return 0;
}

static void on_inst_handle_closed(uv_handle_t *h)
{
    instance *inst = h->data;
    if (--inst->pending_closes > 0) return;
    json_decref(inst->config);
    json_decref(inst->egress);
    json_decref(inst->confinement);
    ah_idmap_free(&inst->calls);
    inst->sup->pending_closes--;
    free(inst);
}

static void on_tick_closed(uv_handle_t *h)
{
    supervisor *s = h->data;
    s->pending_closes--;
}

void sup_forget(instance *inst)
{
    supervisor *s = inst->sup;
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i] == inst) {
            memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
            s->n--;
            break;
        }
    instance **nv = realloc(s->gone, (s->ngone + 1) * sizeof(*nv));
    if (nv) {
        s->gone = nv;
        s->gone[s->ngone++] = inst;
    } else {
        s->v[s->n++] = inst; /* out of memory: it stays hidden in the set (v had room) */
    }
    void (*done)(void *) = inst->removed_done;
    void *ud = inst->removed_ud;
    inst->removed_done = NULL;
    fail_calls(inst, "instance_stopped", "instance removed");
    if (done) done(ud);
}

void supervisor_free(supervisor *s)
{
    if (!s) return;
    s->pending_closes = 1;
    uv_close((uv_handle_t *)&s->tick, on_tick_closed);
    for (size_t i = 0; i < s->n; i++) {
        instance *inst = s->v[i];
        fail_calls(inst, "instance_stopped", "host shutting down");
        inst->pending_closes = 2;
        s->pending_closes++;
        uv_close((uv_handle_t *)&inst->restart_timer, on_inst_handle_closed);
        uv_close((uv_handle_t *)&inst->kill_timer, on_inst_handle_closed);
    }
    for (size_t i = 0; i < s->ngone; i++) {
        instance *inst = s->gone[i];
        inst->pending_closes = 2;
        s->pending_closes++;
        uv_close((uv_handle_t *)&inst->restart_timer, on_inst_handle_closed);
        uv_close((uv_handle_t *)&inst->kill_timer, on_inst_handle_closed);
    }
    while (s->pending_closes > 0)
        uv_run(loop_uv(s->loop), UV_RUN_NOWAIT);
    free(s->v);
    free(s->gone);
    free(s);
}

int supervisor_add(supervisor *s, const char *id, const manifest *m, const json_t *config,
                   const json_t *overrides, bool enabled, char *err, size_t errlen)
{
    if (!ah_valid_id(id)) {
        snprintf(err, errlen,
                 "instance id \"%s\" must be 1-64 characters of a-z, 0-9, '-', '_' and '.'", id);
        return -1;
    }
    if (supervisor_find(s, id)) {
        snprintf(err, errlen, "instance %s is defined twice", id);
        return -1;
    }
    json_t *cfg = config ? json_deep_copy(config) : json_object();
    const json_t *schema = manifest_config_schema(m);
    char verr[512];
    if (schema) {
        jsonschema_apply_defaults(schema, cfg);
        if (jsonschema_validate(schema, cfg, verr, sizeof(verr)) < 0) {
            snprintf(err, errlen, "instance %s: config: %s", id, verr);
            json_decref(cfg);
            return -1;
        }
    }
    const json_t *props = json_object_get(manifest_schema(), "properties");
    static const char *const parts[] = {"limits", "restart", "egress"};
    for (int i = 0; i < 3; i++) {
        const json_t *o = json_object_get(overrides, parts[i]);
        if (o && jsonschema_validate(json_object_get(props, parts[i]), o, verr, sizeof(verr)) < 0) {
            snprintf(err, errlen, "instance %s: %s: %s", id, parts[i], verr);
            json_decref(cfg);
            return -1;
        }
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        instance **nv = realloc(s->v, cap * sizeof(*nv));
        if (!nv) {
            json_decref(cfg);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        s->v = nv;
        s->cap = cap;
    }
    instance *inst = calloc(1, sizeof(*inst));
    if (!inst) {
        json_decref(cfg);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    inst->sup = s;
    snprintf(inst->id, sizeof(inst->id), "%s", id);
    inst->m = m;
    inst->config = cfg;
    inst->egress = json_deep_copy(json_object_get(overrides, "egress"));
    manifest_layer_limits(json_object_get(overrides, "limits"), &m->limits, &inst->limits);
    manifest_layer_restart(json_object_get(overrides, "restart"), &m->restart, &inst->restart);
    inst->enabled = enabled;
    inst->required = !json_is_false(json_object_get(overrides, "required"));
    inst->last_exit_status = -1;
    inst->state = enabled ? INST_STOPPED : INST_DISABLED;
    ah_idmap_init(&inst->calls);
    uv_timer_init(loop_uv(s->loop), &inst->restart_timer);
    uv_timer_init(loop_uv(s->loop), &inst->kill_timer);
    inst->restart_timer.data = inst->kill_timer.data = inst;
    s->v[s->n++] = inst;
    return 0;
}

void supervisor_start_all(supervisor *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i]->enabled && s->v[i]->state == INST_STOPPED) sup_start_instance(s->v[i]);
}

void supervisor_stop_all(supervisor *s, void (*done)(void *ud), void *ud)
{
    s->stopping_all = true;
    s->stop_done = done;
    s->stop_ud = ud;
    for (size_t i = 0; i < s->n; i++) {
        instance *inst = s->v[i];
        uv_timer_stop(&inst->restart_timer);
        if (inst->state == INST_BACKOFF) set_state(inst, INST_STOPPED);
        if (inst->cur && inst->state != INST_STOPPING) sup_stop_instance(inst);
    }
    maybe_finish_stop_all(s);
}

bool supervisor_stopping(const supervisor *s)
{
    return s->stopping_all;
}

/* Removed instances still stopping stay in s->v, out of sight. */
instance *supervisor_find(supervisor *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (!s->v[i]->removed && !strcmp(s->v[i]->id, id)) return s->v[i];
    return NULL;
}

size_t supervisor_count(supervisor *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += !s->v[i]->removed;
    return n;
}

instance *supervisor_at(supervisor *s, size_t i)
{
    for (size_t k = 0; k < s->n; k++)
        if (!s->v[k]->removed && i-- == 0) return s->v[k];
    return NULL;
}

void supervisor_set_handler(supervisor *s, uint16_t msg_type, instance_req_fn fn, void *ud)
{
    if (msg_type < MAX_HANDLERS) {
        s->handlers[msg_type].fn = fn;
        s->handlers[msg_type].ud = ud;
    }
}

int supervisor_add_listener(supervisor *s, const sup_listener *l, void *ud)
{
    if (s->nlisteners == SUP_MAX_LISTENERS) return AH_EBUSY;
    s->listeners[s->nlisteners] = *l;
    s->listener_uds[s->nlisteners++] = ud;
    return 0;
}

/* ---- operator actions --------------------------------------------------------- */

int instance_restart(instance *inst, char *err, size_t errlen)
{
    switch (inst->state) {
    case INST_DISABLED:
        snprintf(err, errlen, "instance %s is disabled; enable it first", inst->id);
        return -1;
    case INST_STARTING:
    case INST_READY:
        inst->restart_requested = true;
        sup_stop_instance(inst);
        return 0;
    case INST_STOPPING:
        inst->restart_requested = true;
        return 0;
    case INST_BACKOFF:
        uv_timer_stop(&inst->restart_timer);
        /* fall through */
    case INST_STOPPED:
    case INST_QUARANTINED:
    case INST_FAILED:
        inst->ncrashes = 0;
        inst->consecutive = 0;
        inst->permanent_failure = false;
        inst->restarts++;
        sup_start_instance(inst);
        return 0;
    }
    return 0;
}

int instance_enable(instance *inst, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    if (inst->enabled) return 0;
    inst->enabled = true;
    inst->ncrashes = inst->consecutive = 0;
    inst->permanent_failure = false;
    if (inst->state == INST_DISABLED) {
        set_state(inst, INST_STOPPED);
        sup_start_instance(inst);
    } else if (inst->state == INST_STOPPING) {
        inst->restart_requested = true; /* a disable still stopping it: start once down */
    }
    return 0;
}

int instance_disable(instance *inst, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    inst->enabled = false;
    inst->restart_requested = false;
    uv_timer_stop(&inst->restart_timer);
    if (inst->cur) {
        if (inst->state != INST_STOPPING) sup_stop_instance(inst);
    } else {
        set_state(inst, INST_DISABLED);
    }
    return 0;
}
