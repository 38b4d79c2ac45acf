/*
 * harness.c - the composition root of `agenthost plugin run`: a loop, a
 * temporary store with its bus, KV and secrets, a supervisor with one
 * instance; the driver that feeds it the script; the summary (see
 * harness.h; the plugin's requests are served in harness_io.c).
 */
#include "app/options.h"
#include "core/fsutil.h"
#include "core/util.h"
#include "harness_priv.h"

#include <agenthost/plugin.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define INPUT_MAX_BYTES (1u << 20)

/* ---- driving the script ---------------------------------------------------- */

static void advance(hx *h);

static void on_kick(uv_timer_t *t)
{
    advance(t->data);
}

static void kick(hx *h)
{
    uv_timer_start(&h->kick, on_kick, 0, 0);
}

void hx_settle(slot *s, int state)
{
    if (s->state != PENDING) return;
    s->state = state;
    s->h->outstanding--;
    if ((long)s->i == s->h->waiting || s->h->end_wait) kick(s->h);
}

static void on_stopped(void *ud)
{
    hx *h = ud;
    h->stopped = true;
    loop_stop(h->loop);
}

static void finish(hx *h)
{
    if (h->finishing) return;
    h->finishing = true;
    h->waiting = -1;
    uv_timer_stop(&h->timer);
    for (size_t i = 0; i < h->sc.n; i++) {
        slot *s = &h->slots[i];
        if (!s->started || s->state != PENDING || h->sc.items[i].kind != SCRIPT_EVENT) continue;
        hx_emit(h, json_pack("{s:s,s:i,s:s}", "type", "unsettled", "line", h->sc.items[i].line,
                             "msg", "the plugin neither acked nor nacked this event"));
        h->n.unsettled++;
        s->state = TIMED_OUT;
        h->outstanding--;
    }
    supervisor_stop_all(h->sup, on_stopped, h);
}

static uint32_t settle_timeout(hx *h)
{
    return h->o->timeout_ms ? h->o->timeout_ms : h->m->limits.stall_ms;
}

static void on_timer(uv_timer_t *t)
{
    hx *h = t->data;
    if (h->end_wait) {
        finish(h);
        return;
    }
    if (h->waiting < 0) return;
    slot *s = &h->slots[h->waiting];
    const script_item *it = &h->sc.items[h->waiting];
    if (it->kind == SCRIPT_EVENT && s->state == PENDING) {
        char msg[160];
        snprintf(msg, sizeof(msg), "event neither acked nor nacked within %u ms (--timeout)",
                 settle_timeout(h));
        hx_emit(h, json_pack("{s:s,s:i,s:s}", "type", "timeout", "line", it->line, "msg", msg));
        h->n.unsettled++;
    }
    hx_settle(s, it->kind == SCRIPT_EVENT ? TIMED_OUT : DONE);
}

static void on_call_done(void *ud, const json_t *result, const char *err_code, const char *message)
{
    slot *s = ud;
    hx *h = s->h;
    const script_item *it = &h->sc.items[s->i];
    json_t *o = hx_record(h, "reply", it->line);
    json_object_set_new(o, "action", json_string(it->action));
    if (err_code) {
        json_object_set_new(
            o, "error",
            json_pack("{s:s,s:s}", "code", err_code, "message", message ? message : ""));
        if (!strcmp(err_code, "instance_crashed") || !strcmp(err_code, "instance_stopped"))
            h->n.unanswered++;
        else
            h->n.replied++;
    } else {
        json_object_set(o, "result", (json_t *)result);
        h->n.replied++;
    }
    hx_emit(h, o);
    hx_settle(s, DONE);
}

static void on_call_partial(void *ud, const json_t *partial)
{
    slot *s = ud;
    const script_item *it = &s->h->sc.items[s->i];
    json_t *o = hx_record(s->h, "partial", it->line);
    json_object_set_new(o, "action", json_string(it->action));
    json_object_set(o, "partial", (json_t *)partial);
    hx_emit(s->h, o);
}

static void start_item(hx *h, size_t i)
{
    slot *s = &h->slots[i];
    const script_item *it = &h->sc.items[i];
    char err[700];
    s->started = true;
    h->outstanding++;
    switch (it->kind) {
    case SCRIPT_SLEEP:
        uv_timer_start(&h->timer, on_timer, it->sleep_ms, 0);
        return;
    case SCRIPT_CALL:
        h->n.calls++;
        if (instance_call_streamed(h->inst, it->action, it->args, it->timeout_ms, NULL,
                                   on_call_partial, on_call_done, s, err, sizeof(err)) < 0) {
            /* Refused before reaching the plugin: "code: message". */
            char *colon = strstr(err, ": ");
            if (colon) *colon = 0;
            on_call_done(s, NULL, err, colon ? colon + 2 : "");
        }
        return;
    case SCRIPT_EVENT: {
        h->n.events++;
        uint64_t id = ++h->next_delivery;
        if (ah_idmap_put(&h->deliveries, id, s) < 0 ||
            instance_deliver(h->inst, id, it->event) < 0) {
            ah_idmap_take(&h->deliveries, id);
            hx_emit(h, json_pack("{s:s,s:i,s:s}", "type", "unsettled", "line", it->line, "msg",
                                 "the instance could not take the event"));
            h->n.unsettled++;
            hx_settle(s, TIMED_OUT);
            return;
        }
        if (!it->async) uv_timer_start(&h->timer, on_timer, settle_timeout(h), 0);
        return;
    }
    }
}

static void report_crash(hx *h)
{
    json_t *st = instance_status(h->inst);
    const char *why = json_string_value(json_object_get(st, "last_error"));
    hx_emit(h, json_pack("{s:s,s:s}", "type", h->ready ? "crash" : "failed", "reason",
                         why ? why : "the instance stopped"));
    json_decref(st);
}

static void advance(hx *h)
{
    if (h->finishing) return;
    if (h->crashed) {
        report_crash(h);
        finish(h);
        return;
    }
    if (!h->ready) return;
    if (h->waiting >= 0 && h->slots[h->waiting].state == PENDING) return;
    h->waiting = -1;
    uv_timer_stop(&h->timer);
    while (h->cursor < h->sc.n) {
        size_t i = h->cursor++;
        h->waiting = (long)i;
        start_item(h, i);
        if (h->crashed || h->finishing) return;
        bool sync = !h->sc.items[i].async || h->sc.items[i].kind == SCRIPT_SLEEP;
        if (sync && h->slots[i].state == PENDING) return;
        h->waiting = -1;
    }
    if (h->outstanding == 0) {
        finish(h);
    } else if (!h->end_wait) {
        h->end_wait = true;
        uv_timer_start(&h->timer, on_timer, settle_timeout(h), 0);
    }
}

static void on_ready(void *ud, instance *inst)
{
    hx *h = ud;
    if (inst != h->inst || h->ready) return;
    h->ready = true;
    const manifest *m = instance_manifest(inst);
    hx_emit(h, json_pack("{s:s,s:s,s:s,s:s}", "type", "ready", "plugin", m->name, "version",
                         m->version, "instance", h->instance_id));
    kick(h);
}

static void on_down(void *ud, instance *inst)
{
    hx *h = ud;
    if (inst != h->inst || h->finishing) return;
    h->crashed = true;
    kick(h); /* the reason is recorded after the listeners ran */
}

/* ---- inputs ---------------------------------------------------------------- */

static json_t *load_object(const char *path, const char *what, char *err, size_t errlen)
{
    size_t len;
    char *text = ah_read_file(path, INPUT_MAX_BYTES, &len);
    if (!text) {
        snprintf(err, errlen, "%s: %s", path,
                 errno == EFBIG ? "larger than 1 MiB" : strerror(errno));
        return NULL;
    }
    json_error_t je;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!o) {
        snprintf(err, errlen, "%s: invalid JSON: line %d, column %d: %s", path, je.line, je.column,
                 je.text);
        return NULL;
    }
    if (!json_is_object(o)) {
        snprintf(err, errlen, "%s: expected a JSON object (%s)", path, what);
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Seal the secrets file's values into the temporary store, as
 * `agenthost secret set` would. */
static int seed_secrets(hx *h, const char *data, const char *key, char *err, size_t errlen)
{
    json_t *vals = load_object(h->o->secrets, "secret name -> value", err, errlen);
    if (!vals) return -1;
    store *st = NULL;
    secrets *sec = NULL;
    store_opts so = {.dir = data};
    int rc = -1;
    if (store_open(&st, NULL, &so, err, errlen) != 0 ||
        secrets_open(&sec, st, key, SECRETS_KEY_CREATE, err, errlen) != 0)
        goto out;
    const char *name;
    json_t *v;
    json_object_foreach(vals, name, v)
    {
        if (!json_is_string(v) || json_string_length(v) < SECRET_MIN_BYTES ||
            json_string_length(v) > SECRET_MAX_BYTES) {
            snprintf(err, errlen, "%s: %s: expected a string of %u to %u bytes, as the host stores",
                     h->o->secrets, name, SECRET_MIN_BYTES, SECRET_MAX_BYTES);
            goto out;
        }
        if (!manifest_declares_secret(h->m, name))
            fprintf(stderr,
                    "agenthost: %s: \"%s\" is not declared in the manifest's secrets; the plugin "
                    "will not receive it\n",
                    h->o->secrets, name);
        int r = secrets_set(sec, h->instance_id, name, json_string_value(v), json_string_length(v),
                            NULL, NULL);
        if (r) {
            snprintf(err, errlen, "%s: %s: cannot store: %s", h->o->secrets, name, ah_strerror(r));
            goto out;
        }
    }
    rc = 0;
out:
    secrets_close(sec);
    store_close(st);
    json_decref(vals);
    return rc;
}

static int open_modules(hx *h, char *err, size_t errlen)
{
    const harness_opts *o = h->o;
    char data[PATH_MAX + 16], key[PATH_MAX + 16];
    if (o->store_dir) {
        /* A store kept from one run to the next (its KV, bus and offsets). */
        if (ah_mkdir_p(o->store_dir, 0700) < 0) {
            snprintf(err, errlen, "--store %s: %s", o->store_dir, strerror(errno));
            return -1;
        }
        snprintf(data, sizeof(data), "%s/data", o->store_dir);
        snprintf(key, sizeof(key), "%s/master.key", o->store_dir);
    } else if (fs_make_temp_dir(NULL, "agenthost-run-", 0700, h->tmp, sizeof(h->tmp)) < 0) {
        snprintf(err, errlen, "cannot create a temporary directory: %s", strerror(errno));
        return -1;
    } else {
        snprintf(data, sizeof(data), "%s/data", h->tmp);
        snprintf(key, sizeof(key), "%s/master.key", h->tmp);
    }
    if (o->secrets && seed_secrets(h, data, key, err, errlen) < 0) return -1;
    if (loop_new(&h->loop) < 0) {
        snprintf(err, errlen, "cannot create the event loop");
        return -1;
    }
    store_opts so = {.dir = data};
    if (store_open(&h->st, h->loop, &so, err, errlen) != 0 ||
        secrets_open(&h->sec, h->st, key, SECRETS_KEY_CREATE, err, errlen) != 0)
        return -1;
    /* The bus as the host configures it by default. */
    host_settings defaults;
    if (host_settings_defaults(&defaults, err, errlen) < 0) return -1;
    bus_opts bo = defaults.bus;
    if (bus_open(&h->bus, h->loop, h->st, &bo, err, errlen) != 0) return -1;
    /* Private storage (ADR 0051) beside the store: plugin-data/<instance>/
     * under --store DIR (kept) or the temporary directory (removed). */
    supervisor_opts sv = {.runner = o->runner,
                          .shutdown_grace_ms = 2000,
                          .no_sandbox = o->no_sandbox,
                          .data_dir = o->store_dir ? o->store_dir : h->tmp};
    if (supervisor_new(&h->sup, h->loop, h->st, h->sec, &sv) != 0 ||
        kv_service_attach(&h->kv, h->sup, h->st) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (o->kv_seed) {
        json_t *seed = load_object(o->kv_seed, "key -> JSON value", err, errlen);
        char serr[300];
        int src = seed ? kv_service_seed(h->st, h->instance_id, seed, serr, sizeof(serr)) : -1;
        json_decref(seed);
        if (src < 0) {
            if (seed) snprintf(err, errlen, "%s: %s", o->kv_seed, serr);
            return -1;
        }
    }
    json_t *cfg = NULL;
    if (o->config && !(cfg = load_object(o->config, "the instance's configuration", err, errlen)))
        return -1;
    /* A crash ends the run: no restarts. */
    json_t *over = json_pack("{s:{s:s}}", "restart", "policy", "never");
    char aerr[700];
    int rc = supervisor_add(h->sup, h->instance_id, h->m, cfg, over, true, aerr, sizeof(aerr));
    json_decref(over);
    json_decref(cfg);
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", o->config ? o->config : o->manifest, aerr);
        return -1;
    }
    h->inst = supervisor_find(h->sup, h->instance_id);
    hx_attach_requests(h);
    /* The allowlist the broker would build for this instance. */
    char perr[260];
    h->egress_ok = policy_compile(&h->egress, manifest_egress(h->m), h->m->dir,
                                  instance_config(h->inst), NULL, perr, sizeof(perr)) == 0;
    if (!h->egress_ok)
        snprintf(h->egress_err, sizeof(h->egress_err), "allowlist unusable: %s", perr);
    sup_listener l = {.on_ready = on_ready, .on_down = on_down};
    supervisor_add_listener(h->sup, &l, h); /* the only one: cannot be full */
    uv_timer_init(loop_uv(h->loop), &h->timer);
    uv_timer_init(loop_uv(h->loop), &h->kick);
    h->timer.data = h->kick.data = h;
    h->timer_open = h->kick_open = true;
    return 0;
}

static void close_modules(hx *h)
{
    hx_detach_requests(h);
    if (h->egress_ok) policy_free(&h->egress);
    if (h->timer_open) uv_close((uv_handle_t *)&h->timer, NULL);
    if (h->kick_open) uv_close((uv_handle_t *)&h->kick, NULL);
    if (h->bus) bus_close(h->bus);
    if (h->st) store_close(h->st);
    bus_free(h->bus);
    if (h->sup) supervisor_free(h->sup);
    kv_service_detach(h->kv);
    secrets_close(h->sec);
    if (h->loop) loop_free(h->loop);
}

static void summary(hx *h, bool ok)
{
    const counts *n = &h->n;
    json_t *o =
        json_pack("{s:s,s:b,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i}", "type", "summary",
                  "ok", ok, "events", n->events, "acked", n->acked, "nacked", n->nacked,
                  "unsettled", n->unsettled, "calls", n->calls, "replied", n->replied, "unanswered",
                  n->unanswered, "publishes", n->publishes, "denied", n->denied, "http", n->http,
                  "unmatched", n->unmatched, "protocol_errors", n->protocol);
    json_object_set_new(o, "refused", json_integer(n->refused));
    json_object_set_new(o, "calls_out", json_integer(n->outcalls));
    json_object_set_new(o, "calls_out_failed", json_integer(n->outcalls_failed));
    /* A refusal to start (an ABI or name mismatch, a failing init) is not a
     * crash: "started" says whether the instance ever became ready. */
    json_object_set_new(o, "started", json_boolean(h->ready));
    json_object_set_new(o, "crashed", json_boolean(h->crashed && h->ready));
    json_t *unused = replay_unused(h->rp);
    if (json_array_size(unused))
        json_object_set_new(o, "unused_responses", unused);
    else
        json_decref(unused);
    h->waiting = -1;
    hx_emit(h, o);
}

/* --kv-dump: the instance's keys at the end, one JSON object. */
static int dump_kv(hx *h)
{
    json_t *kv = kv_service_dump(h->st, h->instance_id);
    int rc = kv ? json_dump_file(kv, h->o->kv_dump, JSON_INDENT(2) | JSON_SORT_KEYS) : -1;
    json_decref(kv);
    if (rc < 0) hx_emit(h, json_pack("{s:s,s:s}", "type", "kv_dump_failed", "file", h->o->kv_dump));
    return rc;
}

int harness_run(const harness_opts *o, char *err, size_t errlen)
{
    hx hstore, *h = &hstore;
    memset(h, 0, sizeof(*h));
    h->o = o;
    h->waiting = -1;
    pthread_mutex_init(&h->out_mu, NULL);
    ah_idmap_init(&h->deliveries);
    int rc = 2;
    if (manifest_load(o->manifest, true, &h->m, err, errlen) < 0) goto out;
    snprintf(h->instance_id, sizeof(h->instance_id), "%s", o->instance ? o->instance : h->m->name);
    if (!ah_valid_id(h->instance_id)) {
        snprintf(err, errlen, "instance id \"%s\": 1-64 characters of a-z, 0-9, '-', '_', '.'",
                 h->instance_id);
        goto out;
    }
    if (script_load(o->events, h->m, h->instance_id, &h->sc, err, errlen) < 0) goto out;
    if (o->http && replay_load(o->http, &h->rp, err, errlen) < 0) goto out;
    if (o->calls && outcalls_load(o->calls, &h->oc, err, errlen) < 0) goto out;
    h->slots = calloc(h->sc.n ? h->sc.n : 1, sizeof(*h->slots));
    if (!h->slots) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < h->sc.n; i++)
        h->slots[i] = (slot){.h = h, .i = i};
    log_opts lo = {.dir = NULL, .to_stderr = false, .min_level = LOG_DEBUG};
    log_init(&lo);
    log_set_tap(hx_on_log_line, h);
    if (open_modules(h, err, errlen) < 0) goto out;
    supervisor_start_all(h->sup);
    loop_run(h->loop);
    if (!h->stopped) {
        /* The loop ran dry (nothing left to wait for): stop what is left. */
        finish(h);
        while (!h->stopped && uv_run(loop_uv(h->loop), UV_RUN_ONCE))
            ;
    }
    bool ok = h->ready && !h->crashed && !h->n.unsettled && !h->n.unanswered && !h->n.unmatched &&
              !h->n.refused && !h->n.denied && !h->n.protocol && !h->n.outcalls_failed;
    if (o->kv_dump && dump_kv(h) < 0) ok = false;
    summary(h, ok);
    rc = ok ? 0 : 1;
out:
    close_modules(h);
    log_set_tap(NULL, NULL);
    if (h->tmp[0]) fs_remove_tree(h->tmp);
    ah_idmap_free(&h->deliveries);
    free(h->slots);
    script_free(&h->sc);
    replay_free(h->rp);
    outcalls_free(h->oc);
    manifest_free(h->m);
    pthread_mutex_destroy(&h->out_mu);
    return rc;
}
