/*
 * @NAME@ - an agenthost plugin, scaffolded by `agenthost plugin new`.
 *
 * What it does (change it): each event on "@NAME@.in" with a body
 * {"text": "..."} has its words counted; the running total is kept in the
 * KV store with an atomic increment (events arrive concurrently: a
 * kv_get then kv_put would lose updates), the count is published on
 * "@NAME@.counted", and the event is acked once that publish is durable.
 * The action "total" answers the running total.
 *
 * The shape every plugin has: one descriptor (AH_PLUGIN at the end), the
 * host's services reached only through the table kept from init, and work
 * as a chain of completion callbacks (a callback never blocks).
 * See docs/plugin-guide.md of the SDK.
 */
#include <agenthost/plugin.h>

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const ah_host *H;

static int plugin_init(ah_ctx *ctx, const ah_host *host, const json_t *config)
{
    (void)config;
    H = host;                                                /* valid for the life of the process */
    if (!AH_HOST_HAS(host, kv_incr)) return AH_EUNSUPPORTED; /* a host older than ABI 1.3 */
    host->log(ctx, AH_LOG_INFO, "@NAME@ ready (instance %s)", host->instance_id(ctx));
    return AH_OK;
}

/* Words: runs of letters and digits. */
size_t count_words(const char *text)
{
    size_t n = 0;
    for (int in = 0; text && *text; text++) {
        int w = isalnum((unsigned char)*text);
        n += w && !in;
        in = w;
    }
    return n;
}

/* ---- an event: kv_incr -> publish -> ack ---------------------------------- */

typedef struct counted {
    const ah_event *ev;
    json_int_t words;
} counted;

static void published(ah_ctx *ctx, int status, uint64_t offset, void *ud)
{
    (void)offset;
    counted *c = ud;
    if (status)
        H->nack(ctx, c->ev, ah_strerror(status), 0); /* delivered again later */
    else
        H->ack(ctx, c->ev);
    free(c);
}

static void added(ah_ctx *ctx, int status, int64_t total, void *ud)
{
    counted *c = ud;
    if (status) {
        H->nack(ctx, c->ev, ah_strerror(status), 0);
        free(c);
        return;
    }
    json_t *body = json_pack("{s:I,s:I}", "words", c->words, "total", (json_int_t)total);
    /* The event's id as idempotency key: a redelivered event publishes once. */
    ah_publish_opts o = {.size = sizeof(o), .idempotency_key = c->ev->id};
    int rc = H->publish(ctx, "@NAME@.counted", body, &o, published, c);
    json_decref(body);
    if (rc) {
        H->nack(ctx, c->ev, ah_strerror(rc), 0);
        free(c);
    }
}

static void plugin_event(ah_ctx *ctx, const ah_event *ev)
{
    counted *c = malloc(sizeof(*c));
    if (!c) {
        H->nack(ctx, ev, "out of memory", 0);
        return;
    }
    c->ev = ev; /* valid until acked or nacked */
    c->words = (json_int_t)count_words(json_string_value(json_object_get(ev->body, "text")));
    int rc = H->kv_incr(ctx, "words", c->words, added, c);
    if (rc) {
        H->nack(ctx, ev, ah_strerror(rc), 0);
        free(c);
    }
}

/* ---- an action: total ------------------------------------------------------ */

static void got_total(ah_ctx *ctx, int status, const json_t *value, uint64_t rev, void *ud)
{
    (void)ctx;
    (void)rev;
    if (status && status != AH_ENOTFOUND)
        H->reply_error(ud, "kv", ah_strerror(status));
    else
        H->reply(ud, json_pack("{s:I}", "total", status ? 0 : json_integer_value(value)));
}

static void plugin_call(ah_ctx *ctx, ah_call *call, const char *action, const json_t *args)
{
    (void)args;
    int rc = AH_OK;
    if (!strcmp(action, "total"))
        rc = H->kv_get_rev(ctx, "words", got_total, call);
    else
        H->reply_error(call, "unknown_action", action);
    if (rc) H->reply_error(call, "kv", ah_strerror(rc));
}

AH_PLUGIN(.name = "@NAME@", .version = "0.1.0", .init = plugin_init, .on_event = plugin_event,
          .call = plugin_call);
