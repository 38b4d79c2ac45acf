/*
 * echo - the reference plugin. It answers calls with what it was given,
 * republishes events from echo.in to echo.out, and exercises every host
 * service (KV, secrets, timers, logs, metrics). With the config flag
 * "diagnostics" it also misbehaves on request (crash, spin, ignore a call,
 * exit), which the supervisor's tests use.
 */
#include <agenthost/plugin.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct echo {
    const ah_host *host;
    const json_t *config;
    int diagnostics;
    volatile int health_hangs; /* diagnostics: the next health check never returns */
    long calls;
} echo;

static echo E;

static int echo_init(ah_ctx *ctx, const ah_host *host, const json_t *config)
{
    E.host = host;
    E.config = config;
    E.diagnostics = json_is_true(json_object_get(config, "diagnostics"));
    host->set_userdata(ctx, &E);
    host->log(ctx, AH_LOG_INFO, "echo ready (instance %s)", host->instance_id(ctx));
    return AH_OK;
}

/* Completion of kv.put / kv.delete: answer the call that asked. */
static void kv_done(ah_ctx *ctx, int status, void *ud)
{
    ah_call *call = ud;
    if (status)
        E.host->reply_error(call, "kv_failed", ah_strerror(status));
    else
        E.host->reply(call, json_pack("{s:b}", "ok", 1));
    (void)ctx;
}

static void kv_got(ah_ctx *ctx, int status, const json_t *value, void *ud)
{
    ah_call *call = ud;
    if (status == AH_ENOTFOUND)
        E.host->reply(call, json_pack("{s:b}", "found", 0));
    else if (status)
        E.host->reply_error(call, "kv_failed", ah_strerror(status));
    else
        E.host->reply(call, json_pack("{s:b,s:O}", "found", 1, "value", value));
    (void)ctx;
}

static void kv_scanned(ah_ctx *ctx, int status, const ah_kv_item *items, size_t n, const char *next,
                       void *ud)
{
    ah_call *call = ud;
    if (status) {
        E.host->reply_error(call, "kv_failed", ah_strerror(status));
        return;
    }
    json_t *keys = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(keys, json_string(items[i].key));
    E.host->reply(call, json_pack("{s:o,s:s?}", "keys", keys, "next", next));
    (void)ctx;
}

static void published(ah_ctx *ctx, int status, uint64_t offset, void *ud)
{
    ah_call *call = ud;
    if (status)
        E.host->reply_error(call, "publish_failed", ah_strerror(status));
    else
        E.host->reply(call, json_pack("{s:I}", "offset", (json_int_t)offset));
    (void)ctx;
}

static void batch_published(ah_ctx *ctx, int status, const uint64_t *offsets, size_t n, void *ud)
{
    (void)ctx;
    if (status) {
        E.host->reply_error(ud, "publish_failed", ah_strerror(status));
        return;
    }
    json_t *o = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(o, json_integer((json_int_t)offsets[i]));
    E.host->reply(ud, json_pack("{s:o}", "offsets", o));
}

/* publish_batch: every body to `topic` (and one more to extra_topic, if
 * given), all or nothing. */
static void publish_batch(ah_ctx *ctx, ah_call *call, const json_t *args)
{
    if (!AH_HOST_HAS(E.host, publish_batch)) {
        E.host->reply_error(call, "unsupported", "this host has no publish_batch (ABI < 1.2)");
        return;
    }
    const json_t *bodies = json_object_get(args, "bodies");
    const char *extra = json_string_value(json_object_get(args, "extra_topic"));
    size_t n = json_array_size(bodies);
    ah_publish_item *items = calloc(n + 1, sizeof(*items));
    if (!items) {
        E.host->reply_error(call, "no_memory", "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++)
        items[i] = (ah_publish_item){.topic = json_string_value(json_object_get(args, "topic")),
                                     .body = json_array_get(bodies, i)};
    if (extra) items[n++] = (ah_publish_item){.topic = extra, .body = json_array_get(bodies, 0)};
    int rc = E.host->publish_batch(ctx, items, n, batch_published, call);
    free(items);
    if (rc) E.host->reply_error(call, "publish_failed", ah_strerror(rc));
}

static void delayed_reply(ah_ctx *ctx, ah_timer *t, void *ud)
{
    E.host->reply(ud, json_pack("{s:b}", "slept", 1));
    (void)ctx;
    (void)t;
}

static int diagnostic(ah_ctx *ctx, ah_call *call, const char *action, const json_t *args)
{
    if (!strcmp(action, "crash")) {
        raise(SIGSEGV);
        return 1;
    }
    if (!strcmp(action, "spin")) {
        for (volatile unsigned long i = 0;; i++)
            ;
    }
    if (!strcmp(action, "ignore")) return 1; /* never answered: the host's deadline must catch it */
    if (!strcmp(action, "hang_health")) {
        E.health_hangs = 1; /* answered now; only the next ping goes unanswered */
        E.host->reply(call, json_pack("{s:b}", "hang_health", 1));
        return 1;
    }
    if (!strcmp(action, "exit")) {
        _exit((int)json_integer_value(json_object_get(args, "code")));
    }
    (void)ctx;
    (void)call;
    return 0;
}

/* A scenario hook: digit runs of 6 or more become ***. */
static json_t *redact(const json_t *args)
{
    const char *text = json_string_value(json_object_get(json_object_get(args, "input"), "text"));
    if (!text) return json_object();
    size_t n = strlen(text), o = 0, runs = 0;
    char *out = malloc(n + 1);
    if (!out) return NULL;
    for (size_t i = 0; i < n;) {
        size_t d = 0;
        while (i + d < n && text[i + d] >= '0' && text[i + d] <= '9')
            d++;
        if (d >= 6) {
            memcpy(out + o, "***", 3); /* never longer: d >= 6 > 3 */
            o += 3, i += d, runs++;
        } else if (d) {
            memcpy(out + o, text + i, d);
            o += d, i += d;
        } else {
            out[o++] = text[i++];
        }
    }
    out[o] = 0;
    json_t *r = json_pack("{s:{s:s},s:{s:I}}", "input", "text", out, "vars", "redactions",
                          (json_int_t)runs);
    free(out);
    return r;
}

static void echo_call(ah_ctx *ctx, ah_call *call, const char *action, const json_t *args)
{
    const ah_host *h = E.host;
    E.calls++;
    if (!strcmp(action, "echo")) {
        h->reply(call, json_deep_copy(args));
    } else if (!strcmp(action, "redact")) {
        h->reply(call, redact(args));
    } else if (!strcmp(action, "kv.put")) {
        int rc = h->kv_put(ctx, json_string_value(json_object_get(args, "key")),
                           json_object_get(args, "value"), kv_done, call);
        if (rc) h->reply_error(call, "kv_failed", ah_strerror(rc));
    } else if (!strcmp(action, "kv.get")) {
        int rc = h->kv_get(ctx, json_string_value(json_object_get(args, "key")), kv_got, call);
        if (rc) h->reply_error(call, "kv_failed", ah_strerror(rc));
    } else if (!strcmp(action, "kv.delete")) {
        int rc = h->kv_delete(ctx, json_string_value(json_object_get(args, "key")), kv_done, call);
        if (rc) h->reply_error(call, "kv_failed", ah_strerror(rc));
    } else if (!strcmp(action, "kv.scan")) {
        int rc = h->kv_scan(ctx, json_string_value(json_object_get(args, "prefix")),
                            json_string_value(json_object_get(args, "after")),
                            (uint32_t)json_integer_value(json_object_get(args, "limit")),
                            kv_scanned, call);
        if (rc) h->reply_error(call, "kv_failed", ah_strerror(rc));
    } else if (!strcmp(action, "secret.check")) {
        /* Says whether a secret arrived and equals the expected value,
         * without ever echoing it. */
        const char *v = h->secret(ctx, json_string_value(json_object_get(args, "name")));
        const char *want = json_string_value(json_object_get(args, "equals"));
        h->reply(call, json_pack("{s:b,s:b}", "present", v != NULL, "equals",
                                 v && want && !strcmp(v, want)));
    } else if (!strcmp(action, "publish")) {
        ah_publish_opts o = {.size = sizeof(o),
                             .key = json_string_value(json_object_get(args, "key")),
                             .idempotency_key =
                                 json_string_value(json_object_get(args, "idempotency_key"))};
        int rc = h->publish(ctx, json_string_value(json_object_get(args, "topic")),
                            json_object_get(args, "body"), &o, published, call);
        if (rc) h->reply_error(call, "publish_failed", ah_strerror(rc));
    } else if (!strcmp(action, "publish_batch")) {
        publish_batch(ctx, call, args);
    } else if (!strcmp(action, "sleep")) {
        uint64_t ms = (uint64_t)json_integer_value(json_object_get(args, "ms"));
        if (!h->timer_start(ctx, ms, 0, delayed_reply, call))
            h->reply_error(call, "timer_failed", "could not start a timer");
    } else if (!strcmp(action, "log")) {
        const char *msg = json_string_value(json_object_get(args, "message"));
        h->log(ctx, AH_LOG_INFO, "%s", msg ? msg : "");
        fprintf(stderr, "stderr: %s\n", msg ? msg : "");
        h->reply(call, NULL);
    } else if (!strcmp(action, "big")) {
        size_t n = (size_t)json_integer_value(json_object_get(args, "bytes"));
        char *s = malloc(n + 1);
        if (!s) {
            h->reply_error(call, "no_memory", "cannot allocate");
            return;
        }
        memset(s, 'x', n);
        s[n] = 0;
        h->reply(call, json_pack("{s:s%}", "data", s, n));
        free(s);
    } else if (E.diagnostics && diagnostic(ctx, call, action, args)) {
        /* handled (or never returns) */
    } else {
        h->reply_error(call, "unknown_action", action);
    }
}

/* The republish is durable: only now is the event done. Acking before
 * (when the publish was merely sent) would lose it if the host refused or
 * lost the publish. */
static void republished(ah_ctx *ctx, int status, uint64_t offset, void *ud)
{
    const ah_event *ev = ud;
    (void)offset;
    if (status == AH_OK)
        E.host->ack(ctx, ev);
    else
        E.host->nack(ctx, ev, ah_strerror(status), 0);
}

/* ABI 1.6: the republish and the settle were one commit; on failure
 * nothing was published and the event comes again by itself. */
static void committed(ah_ctx *ctx, int status, const uint64_t *offsets, size_t n, void *ud)
{
    const ah_event *ev = ud;
    if (status)
        E.host->log(ctx, AH_LOG_WARN, "republish of %s failed (%s); it comes again", ev->id,
                    ah_strerror(status));
    (void)offsets;
    (void)n;
}

/* Diagnostics: an event asking for a chosen commit ({"commit_topic": T,
 * "commit_count": N}) publishes N events with its settle, the first to T,
 * the others to echo.out (N 0: the settle alone). */
static int hostile_commit(ah_ctx *ctx, const ah_event *ev)
{
    const char *topic = json_string_value(json_object_get(ev->body, "commit_topic"));
    json_int_t count = json_integer_value(json_object_get(ev->body, "commit_count"));
    if (!topic || count < 0 || count > 100000) return AH_EINVAL;
    ah_publish_item *items = calloc(count ? (size_t)count : 1, sizeof(*items));
    if (!items) return AH_ENOMEM;
    for (json_int_t i = 0; i < count; i++)
        items[i] = (ah_publish_item){.topic = i ? "echo.out" : topic, .body = ev->body};
    int rc = E.host->commit(ctx, ev, items, (size_t)count, committed, (void *)ev);
    free(items);
    return rc;
}

static void echo_event(ah_ctx *ctx, const ah_event *ev)
{
    /* A poisoned event (diagnostics only) crashes the plugin every time. */
    if (E.diagnostics && json_is_true(json_object_get(ev->body, "crash"))) raise(SIGSEGV);
    /* Republish what arrives (echo.in, or this instance's webhooks) to echo.out. */
    ah_publish_opts o = {.size = sizeof(o), .key = ev->key};
    int rc;
    if (AH_HOST_HAS(E.host, commit)) { /* the republish and the ack in one commit */
        ah_publish_item it = {.topic = "echo.out", .body = ev->body, .opts = &o};
        rc = E.diagnostics && json_object_get(ev->body, "commit_topic")
                 ? hostile_commit(ctx, ev)
                 : E.host->commit(ctx, ev, &it, 1, committed, (void *)ev);
    } else {
        rc = E.host->publish(ctx, "echo.out", ev->body, &o, republished, (void *)ev);
    }
    if (rc != AH_OK) E.host->nack(ctx, ev, ah_strerror(rc), 0);
}

static int echo_health(ah_ctx *ctx)
{
    (void)ctx;
    while (E.health_hangs) /* diagnostics: an idle instance that stops answering pings */
        ;
    return AH_OK;
}

static void echo_shutdown(ah_ctx *ctx)
{
    E.host->log(ctx, AH_LOG_INFO, "echo stopping after %ld calls", E.calls);
    /* Diagnostics: a slow stop (a clock loop: the sandbox allows clocks). */
    json_int_t ms = json_integer_value(json_object_get(E.config, "shutdown_delay_ms"));
    if (E.diagnostics && ms > 0) {
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do
            clock_gettime(CLOCK_MONOTONIC, &t);
        while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
    }
}

AH_PLUGIN(.name = "echo", .version = "1.0.0", .init = echo_init, .on_event = echo_event,
          .call = echo_call, .health = echo_health, .shutdown = echo_shutdown);

/* A typed export: the manifest's "add" action calls it through libffi. */
AH_EXPORT int64_t echo_add(int64_t a, int64_t b)
{
    return a + b;
}

/* "scale": no args schema in the manifest; the host derives it. */
AH_EXPORT double echo_scale(double x, double k)
{
    return x * k;
}
