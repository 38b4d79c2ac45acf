/*
 * hello - a template plugin for agenthost. Copy this directory, rename the
 * plugin (here, manifest.json and the two build files), and change what
 * the callbacks do.
 *
 * It shows the shape every plugin has:
 *  - one descriptor, AH_PLUGIN(...), with the callbacks;
 *  - the host's services reached only through the `ah_host` table kept
 *    from init;
 *  - asynchronous work as a chain of completion callbacks carrying a small
 *    malloc'd state (callbacks never block);
 *  - borrowed arguments copied when they must outlive the callback.
 *
 * Actions:  greet {who}  -> counts greetings per person in the KV store,
 *                           publishes greetings.sent, replies with the text
 *           weather {city} -> asks an HTTP API (through the host's egress
 *                           broker) with the api_key secret
 * Events:   greetings.requested {who} -> publishes greetings.sent, then acks
 */
#include <agenthost/plugin.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const ah_host *H;
static char greeting[64] = "Hello";

static int hello_init(ah_ctx *ctx, const ah_host *host, const json_t *config)
{
    H = host; /* valid for the life of the process */
    const char *g = json_string_value(json_object_get(config, "greeting"));
    if (g) snprintf(greeting, sizeof(greeting), "%s", g);
    if (!host->secret(ctx, "api_key"))
        host->log(ctx, AH_LOG_WARN, "no api_key secret: the weather action will fail");
    host->log(ctx, AH_LOG_INFO, "hello ready (instance %s)", host->instance_id(ctx));
    return AH_OK;
}

/* ---- greet: KV get -> KV put -> publish -> reply ------------------------- */

typedef struct greet_op {
    ah_call *call;
    char who[64];
    char key[80];
    long count;
} greet_op;

static json_t *greeting_text(const char *who)
{
    char text[160];
    snprintf(text, sizeof(text), "%s, %s!", greeting, who);
    return json_string(text);
}

static void greet_published(ah_ctx *ctx, int status, uint64_t offset, void *ud)
{
    greet_op *op = ud;
    (void)ctx;
    (void)offset;
    if (status)
        H->reply_error(op->call, "publish_failed", ah_strerror(status));
    else
        H->reply(op->call, json_pack("{s:o,s:I}", "text", greeting_text(op->who), "count",
                                     (json_int_t)op->count));
    free(op);
}

static void greet_stored(ah_ctx *ctx, int status, void *ud)
{
    greet_op *op = ud;
    json_t *body = json_pack("{s:s,s:o}", "who", op->who, "text", greeting_text(op->who));
    int rc = status ? status : H->publish(ctx, "greetings.sent", body, NULL, greet_published, op);
    json_decref(body); /* publish borrows the body */
    if (rc) {
        H->reply_error(op->call, "greet_failed", ah_strerror(rc));
        free(op);
    }
}

static void greet_counted(ah_ctx *ctx, int status, const json_t *value, void *ud)
{
    greet_op *op = ud;
    if (status && status != AH_ENOTFOUND) {
        H->reply_error(op->call, "kv_failed", ah_strerror(status));
        free(op);
        return;
    }
    op->count = (long)json_integer_value(value) + 1; /* value is NULL when absent */
    json_t *n = json_integer(op->count);
    int rc = H->kv_put(ctx, op->key, n, greet_stored, op);
    json_decref(n);
    if (rc) {
        H->reply_error(op->call, "kv_failed", ah_strerror(rc));
        free(op);
    }
}

static void greet(ah_ctx *ctx, ah_call *call, const json_t *args)
{
    greet_op *op = calloc(1, sizeof(*op));
    if (!op) {
        H->reply_error(call, "no_memory", "out of memory");
        return;
    }
    op->call = call;
    /* args is borrowed for this callback only: copy what the chain needs. */
    const char *who = json_string_value(json_object_get(args, "who"));
    snprintf(op->who, sizeof(op->who), "%s", who ? who : "world");
    snprintf(op->key, sizeof(op->key), "count:%s", op->who);
    int rc = H->kv_get(ctx, op->key, greet_counted, op);
    if (rc) {
        H->reply_error(call, "kv_failed", ah_strerror(rc));
        free(op);
    }
}

/* ---- weather: an HTTP request through the host ------------------------- */

static void weather_answered(ah_ctx *ctx, const ah_http_response *resp, void *ud)
{
    ah_call *call = ud;
    (void)ctx;
    if (resp->error) {
        H->reply_error(call, "upstream", resp->error_message ? resp->error_message : "failed");
        return;
    }
    json_t *doc = json_loadb(resp->body, resp->body_len, 0, NULL);
    if (resp->status != 200 || !json_is_number(json_object_get(doc, "temp_c"))) {
        char msg[64];
        snprintf(msg, sizeof(msg), "weather API answered %d", resp->status);
        H->reply_error(call, "upstream", msg);
    } else {
        H->reply(call, json_pack("{s:O,s:O}", "city", json_object_get(doc, "city"), "temp_c",
                                 json_object_get(doc, "temp_c")));
    }
    json_decref(doc);
}

static void weather(ah_ctx *ctx, ah_call *call, const json_t *args)
{
    const char *city = json_string_value(json_object_get(args, "city"));
    const char *key = H->secret(ctx, "api_key");
    char url[256], auth[160];
    size_t n = (size_t)snprintf(url, sizeof(url), "https://api.example.com/v1/weather?city=");
    for (const char *p = city ? city : ""; *p && n + 4 < sizeof(url); p++)
        n += (size_t)(*p == ' ' ? snprintf(url + n, 4, "%%20") : snprintf(url + n, 2, "%c", *p));
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key ? key : "");
    const char *headers[] = {auth, "Accept: application/json", NULL};
    ah_http_request req = {.size = sizeof(req),
                           .method = "GET",
                           .url = url,
                           .headers = headers,
                           .timeout_ms = 5000,
                           .flags = AH_HTTP_IDEMPOTENT};
    int rc = H->http(ctx, &req, weather_answered, call);
    if (rc) H->reply_error(call, "http_refused", ah_strerror(rc));
}

static void hello_call(ah_ctx *ctx, ah_call *call, const char *action, const json_t *args)
{
    if (!strcmp(action, "greet"))
        greet(ctx, call, args);
    else if (!strcmp(action, "weather"))
        weather(ctx, call, args);
    else
        H->reply_error(call, "unknown_action", action);
}

/* ---- events: publish, then settle ---------------------------------------- */

static void event_published(ah_ctx *ctx, int status, uint64_t offset, void *ud)
{
    const ah_event *ev = ud; /* valid until acked or nacked */
    (void)offset;
    if (status)
        H->nack(ctx, ev, ah_strerror(status), 0); /* redelivered later */
    else
        H->ack(ctx, ev);
}

static void hello_event(ah_ctx *ctx, const ah_event *ev)
{
    const char *who = json_string_value(json_object_get(ev->body, "who"));
    json_t *body = json_pack("{s:s,s:o}", "who", who ? who : "world", "text",
                             greeting_text(who ? who : "world"));
    /* The event id as idempotency key: a redelivery publishes nothing new. */
    ah_publish_opts o = {.size = sizeof(o), .key = ev->key, .idempotency_key = ev->id};
    int rc = H->publish(ctx, "greetings.sent", body, &o, event_published, (void *)ev);
    json_decref(body);
    if (rc) H->nack(ctx, ev, ah_strerror(rc), 1000);
}

static void hello_shutdown(ah_ctx *ctx)
{
    H->log(ctx, AH_LOG_INFO, "hello stopping");
}

AH_PLUGIN(.name = "hello", .version = "1.0.0", .init = hello_init, .on_event = hello_event,
          .call = hello_call, .shutdown = hello_shutdown);
