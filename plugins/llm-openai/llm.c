/*
 * llm-openai - Chat Completions and Embeddings against any
 * OpenAI-compatible endpoint (OpenAI, OpenRouter, Ollama, vLLM, LM Studio),
 * through the host's egress broker.
 *
 * Action "chat": a fallback chain per call (the model, then the fallback
 * models, then a canned answer if one is configured), each step logged to
 * logs/llm.log; streamed upstream when the caller asks for a stream, the
 * tokens forwarded as partial results as they arrive; tool calls returned,
 * never executed. Action "embed": batched embeddings. Errors carry stable
 * codes: auth, rate_limited, timeout, provider_error, bad_response,
 * circuit_open, refused, invalid_request. See docs/plugins/llm-openai.md.
 */
#include "chat.h"
#include "request.h"
#include "sse.h"

#include <agenthost/plugin.h>

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SSE_MAX (1u << 20)
#define EMBED_PARALLEL 4

static struct {
    const ah_host *host;
    ah_ctx *ctx;
    const json_t *config;
    const char *api_key;
} L;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- logs and metrics --------------------------------------------------------- */

/* A label value safe inside "k=v,k=v". */
static void label(char *out, size_t n, const char *v)
{
    snprintf(out, n, "%s", v && *v ? v : "none");
    for (char *p = out; *p; p++)
        if (*p == ',' || *p == '=') *p = '_';
}

static void record(ah_log_level lvl, json_t *fields, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void record(ah_log_level lvl, json_t *fields, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (AH_HOST_HAS(L.host, log_record))
        L.host->log_record(L.ctx, "llm", lvl, fields, msg);
    else
        L.host->log(L.ctx, lvl, "%s", msg);
    json_decref(fields);
}

static void measure(const char *model, const char *outcome, double seconds, const json_t *usage)
{
    char m[130], labels[300];
    label(m, sizeof(m), model);
    snprintf(labels, sizeof(labels), "model=%s,outcome=%s", m, outcome);
    L.host->metric(L.ctx, "llm_requests_total", AH_METRIC_COUNTER, 1, labels);
    snprintf(labels, sizeof(labels), "model=%s", m);
    L.host->metric(L.ctx, "llm_request_seconds", AH_METRIC_HISTOGRAM, seconds, labels);
    static const char *const kinds[] = {"prompt_tokens", "completion_tokens"};
    for (int i = 0; i < 2; i++) {
        const json_t *v = json_object_get(usage, kinds[i]);
        if (json_is_integer(v)) {
            snprintf(labels, sizeof(labels), "model=%s,kind=%.*s", m, i ? 10 : 6, kinds[i]);
            L.host->metric(L.ctx, "llm_tokens_total", AH_METRIC_COUNTER,
                           (double)json_integer_value(v), labels);
        }
    }
}

/* ---- chat --------------------------------------------------------------------- */

typedef struct chat_call {
    ah_call *call;
    json_t *args;
    json_t *steps; /* model names */
    size_t step;
    json_t *attempts;
    bool stream;
    bool partials;
    int json_mode;
    uint64_t start_ms, step_ms, ttft_ms;
    sse_parser sse;
    chat_acc acc;
    bool bad_stream;
} chat_call;

static void run_step(chat_call *cc);

static void chat_free(chat_call *cc)
{
    sse_free(&cc->sse);
    chat_acc_free(&cc->acc);
    json_decref(cc->args);
    json_decref(cc->steps);
    json_decref(cc->attempts);
    free(cc);
}

static const char *step_model(chat_call *cc)
{
    return json_string_value(json_array_get(cc->steps, cc->step));
}

static void step_log(chat_call *cc, const char *outcome, const json_t *usage, uint32_t retries,
                     const char *message)
{
    uint64_t t = now_ms();
    double secs = (double)(t - cc->step_ms) / 1000.0;
    json_t *f = json_pack("{s:s,s:s,s:s,s:I,s:i,s:b,s:i}", "event", "chat", "model", step_model(cc),
                          "outcome", outcome, "latency_ms", (json_int_t)(t - cc->step_ms), "step",
                          (int)cc->step, "stream", cc->stream, "retries", (int)retries);
    if (cc->stream && cc->ttft_ms)
        json_object_set_new(f, "ttft_ms", json_integer((json_int_t)(cc->ttft_ms - cc->step_ms)));
    /* Nested: the logger masks top-level fields named like credentials ("token"). */
    if (json_is_object(usage)) {
        json_t *u = json_object();
        static const char *const keys[] = {"prompt_tokens", "completion_tokens", "total_tokens"};
        for (int i = 0; i < 3; i++) {
            const json_t *v = json_object_get(usage, keys[i]);
            if (json_is_integer(v)) json_object_set(u, keys[i], (json_t *)v);
        }
        json_object_set_new(f, "usage", u);
    }
    if (message) json_object_set_new(f, "error_message", json_string(message));
    record(strcmp(outcome, "ok") ? AH_LOG_WARN : AH_LOG_INFO, f, "chat %s: %s", step_model(cc),
           outcome);
    measure(step_model(cc), outcome, secs, usage);
}

static void reply_canned_or_error(chat_call *cc, const char *code, const char *msg)
{
    const json_t *canned = json_object_get(cc->args, "fallback_answer");
    if (!json_is_string(canned)) canned = json_object_get(L.config, "fallback_answer");
    if (json_is_string(canned)) {
        record(AH_LOG_WARN,
               json_pack("{s:s,s:s,s:I}", "event", "fallback", "to", "canned", "steps",
                         (json_int_t)json_array_size(cc->steps)),
               "every model failed (last: %s): answering with the canned answer", code);
        L.host->reply(cc->call,
                      json_pack("{s:O,s:[],s:s,s:n,s:b,s:O,s:I}", "content", canned, "tool_calls",
                                "finish_reason", "fallback", "model", "canned", 1, "attempts",
                                cc->attempts, "latency_ms", (json_int_t)(now_ms() - cc->start_ms)));
    } else {
        char full[700];
        snprintf(full, sizeof(full), "%s%s", msg,
                 json_array_size(cc->steps) > 1 ? " (every model of the fallback chain failed)"
                                                : "");
        L.host->reply_error(cc->call, code, full);
    }
    chat_free(cc);
}

static void step_failed(chat_call *cc, const char *code, const char *msg, uint32_t retries)
{
    step_log(cc, code, NULL, retries, msg);
    json_array_append_new(cc->attempts, json_pack("{s:s,s:s,s:s}", "model", step_model(cc), "error",
                                                  code, "message", msg));
    if (cc->step + 1 >= json_array_size(cc->steps)) {
        reply_canned_or_error(cc, code, msg);
        return;
    }
    const char *next = json_string_value(json_array_get(cc->steps, cc->step + 1));
    record(AH_LOG_WARN,
           json_pack("{s:s,s:s,s:s,s:s}", "event", "fallback", "from", step_model(cc), "to", next,
                     "error", code),
           "model %s failed (%s): falling back to %s", step_model(cc), code, next);
    if (cc->partials && AH_HOST_HAS(L.host, reply_partial)) {
        /* The caller saw tokens of the failed answer: tell it to start over. */
        json_t *p = json_pack("{s:b,s:s,s:s}", "restart", 1, "model", next, "reason", code);
        L.host->reply_partial(cc->call, p);
        json_decref(p);
    }
    cc->step++;
    run_step(cc);
}

static void step_succeeded(chat_call *cc, json_t *result, uint32_t retries)
{
    if (cc->json_mode) {
        const char *content = json_string_value(json_object_get(result, "content"));
        json_t *parsed = content ? json_loads(content, JSON_DECODE_ANY, NULL) : NULL;
        if (!parsed) {
            json_decref(result);
            step_failed(cc, "bad_response", "JSON mode answer is not valid JSON", retries);
            return;
        }
        json_object_set_new(result, "json", parsed);
    }
    step_log(cc, "ok", json_object_get(result, "usage"), retries, NULL);
    json_object_set_new(result, "requested_model", json_string(step_model(cc)));
    json_object_set_new(result, "latency_ms", json_integer((json_int_t)(now_ms() - cc->start_ms)));
    if (cc->stream && cc->ttft_ms)
        json_object_set_new(result, "ttft_ms",
                            json_integer((json_int_t)(cc->ttft_ms - cc->start_ms)));
    json_object_set(result, "attempts", cc->attempts);
    json_object_set_new(result, "canned", json_false());
    L.host->reply(cc->call, result);
    chat_free(cc);
}

static void on_delta(void *ud, const json_t *partial)
{
    chat_call *cc = ud;
    if (!AH_HOST_HAS(L.host, reply_partial)) return;
    L.host->reply_partial(cc->call, partial);
    cc->partials = true;
}

static int on_sse_event(void *ud, const char *event, const char *data, size_t len)
{
    chat_call *cc = ud;
    (void)event;
    int rc = chat_acc_event(&cc->acc, data, len, cc->stream ? on_delta : NULL, cc);
    if (rc < 0) cc->bad_stream = true;
    return rc; /* stop on a bad event or a provider error */
}

static void on_chunk(ah_ctx *ctx, const void *data, size_t len, void *ud)
{
    (void)ctx;
    chat_call *cc = ud;
    if (!cc->ttft_ms) cc->ttft_ms = now_ms();
    if (cc->bad_stream || cc->acc.error) return;
    if (sse_feed(&cc->sse, data, len, on_sse_event, cc) < 0 && !cc->bad_stream) {
        cc->bad_stream = true;
        snprintf(cc->acc.why, sizeof(cc->acc.why), "stream line or event over %u bytes", SSE_MAX);
    }
}

static void on_chat_done(ah_ctx *ctx, const ah_http_response *resp, void *ud)
{
    (void)ctx;
    chat_call *cc = ud;
    char msg[600];
    const char *code = NULL;
    json_t *result = NULL;
    bool ok_status = resp->status >= 200 && resp->status < 300;
    if (cc->stream && cc->acc.error) {
        code = llm_code_for_error(cc->acc.error);
        llm_error_message(NULL, 0, cc->acc.error, msg, sizeof(msg));
    } else if (resp->error_code) {
        code = llm_code_for_broker(resp->error_code);
        snprintf(msg, sizeof(msg), "%s", resp->error_message ? resp->error_message : "");
    } else if (!ok_status) {
        code = llm_code_for_status(resp->status);
        char detail[400];
        llm_error_message(resp->body, resp->body_len, NULL, detail, sizeof(detail));
        snprintf(msg, sizeof(msg), "HTTP %d: %s", resp->status, detail);
    } else if (cc->stream) {
        result = cc->bad_stream ? NULL : chat_acc_result(&cc->acc);
        if (!result) {
            code = "bad_response";
            snprintf(msg, sizeof(msg), "%s", cc->acc.why);
        }
    } else {
        json_t *err = NULL;
        char why[300] = "";
        result = chat_parse(resp->body, resp->body_len, &err, why, sizeof(why));
        if (err) {
            code = llm_code_for_error(err);
            llm_error_message(NULL, 0, err, msg, sizeof(msg));
            json_decref(err);
        } else if (!result) {
            code = "bad_response";
            snprintf(msg, sizeof(msg), "%s", why);
        }
    }
    if (code)
        step_failed(cc, code, msg, resp->retries);
    else
        step_succeeded(cc, result, resp->retries);
}

/* POST body (stolen) as JSON to the provider's endpoint through the host.
 * A completion or an embedding has no side effect but its cost: safe to
 * repeat. Returns the host's AH_* answer (AH_ENOMEM if it could not be
 * built). */
static int post_json(const char *endpoint, json_t *body, bool stream, uint32_t timeout_ms,
                     void (*on_chunk_cb)(ah_ctx *, const void *, size_t, void *), ah_http_cb cb,
                     void *ud)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    char *url = llm_url(L.config, endpoint);
    char **headers = llm_headers(L.config, L.api_key, stream);
    ah_http_request req = {
        .size = sizeof(req),
        .method = "POST",
        .url = url,
        .headers = (const char *const *)headers,
        .body = text,
        .body_len = text ? strlen(text) : 0,
        .timeout_ms = timeout_ms,
        .flags = AH_HTTP_IDEMPOTENT | (stream ? AH_HTTP_STREAM : 0),
        .on_chunk = on_chunk_cb,
        .idle_timeout_ms =
            stream ? (uint32_t)json_integer_value(json_object_get(L.config, "stream_idle_ms")) : 0,
    };
    int rc = text && url && headers ? L.host->http(L.ctx, &req, cb, ud) : AH_ENOMEM;
    free(text);
    free(url);
    llm_headers_free(headers);
    return rc;
}

static void run_step(chat_call *cc)
{
    char err[300];
    const char *model = step_model(cc);
    json_t *body = llm_chat_body(cc->args, L.config, model, cc->stream, err, sizeof(err));
    if (!body) {
        L.host->reply_error(cc->call, "invalid_request", err);
        chat_free(cc);
        return;
    }
    sse_free(&cc->sse);
    sse_init(&cc->sse, SSE_MAX);
    chat_acc_free(&cc->acc);
    chat_acc_init(&cc->acc);
    cc->bad_stream = false;
    cc->partials = false;
    cc->ttft_ms = 0;
    cc->step_ms = now_ms();
    json_int_t timeout = json_integer_value(json_object_get(cc->args, "timeout_ms"));
    if (!timeout) timeout = json_integer_value(json_object_get(L.config, "timeout_ms"));
    int rc = post_json("chat/completions", body, cc->stream, (uint32_t)timeout,
                       cc->stream ? on_chunk : NULL, on_chat_done, cc);
    if (rc != AH_OK) {
        char m[200];
        snprintf(m, sizeof(m), "the host refused the request: %s", ah_strerror(rc));
        step_failed(cc, rc == AH_EBUSY ? "rate_limited" : "provider_error", m, 0);
    }
}

static void add_step(json_t *steps, const json_t *m)
{
    if (!json_is_string(m) || !json_string_length(m)) return;
    size_t i;
    json_t *s;
    json_array_foreach(steps, i, s) if (json_equal(s, m)) return;
    json_array_append(steps, (json_t *)m);
}

static void chat(ah_call *call, const json_t *args)
{
    chat_call *cc = calloc(1, sizeof(*cc));
    if (!cc) {
        L.host->reply_error(call, "provider_error", "out of memory");
        return;
    }
    cc->call = call;
    cc->args = json_deep_copy(args);
    cc->steps = json_array();
    cc->attempts = json_array();
    const json_t *model = json_object_get(args, "model");
    add_step(cc->steps, json_is_string(model) ? model : json_object_get(L.config, "model"));
    const json_t *fb = json_object_get(args, "fallback_models");
    if (!json_is_array(fb)) fb = json_object_get(L.config, "fallback_models");
    size_t i;
    const json_t *m;
    json_array_foreach(fb, i, m) add_step(cc->steps, m);
    cc->stream = json_is_true(json_object_get(args, "stream"));
    cc->json_mode = llm_json_mode(args);
    cc->start_ms = now_ms();
    sse_init(&cc->sse, SSE_MAX);
    chat_acc_init(&cc->acc);
    if (!json_array_size(cc->steps)) {
        L.host->reply_error(call, "invalid_request", "no model: set config.model or pass one");
        chat_free(cc);
        return;
    }
    run_step(cc);
}

/* ---- embeddings ------------------------------------------------------------------ */

typedef struct embed_call {
    ah_call *call;
    json_t *inputs, *vectors, *model;
    size_t batch, next, pending, total;
    json_int_t prompt_tokens, total_tokens;
    char code[32];
    char msg[500];
    json_t *dims;
    uint64_t start_ms;
    uint32_t retries;
    json_int_t dimensions; /* asked for, or 0 */
    char provider_model[128];
} embed_call;

typedef struct embed_batch {
    embed_call *ec;
    size_t first, count;
} embed_batch;

static void embed_send(embed_call *ec);

static void embed_finish(embed_call *ec)
{
    double secs = (double)(now_ms() - ec->start_ms) / 1000.0;
    const char *model = json_string_value(ec->model);
    json_t *usage = json_pack("{s:I,s:I}", "prompt_tokens", ec->prompt_tokens, "total_tokens",
                              ec->total_tokens);
    measure(model, ec->code[0] ? ec->code : "ok", secs, usage);
    record(ec->code[0] ? AH_LOG_WARN : AH_LOG_INFO,
           json_pack("{s:s,s:s,s:s,s:I,s:I,s:{s:I},s:I}", "event", "embed", "model", model,
                     "outcome", ec->code[0] ? ec->code : "ok", "inputs", (json_int_t)ec->total,
                     "batches", (json_int_t)((ec->total + ec->batch - 1) / ec->batch), "usage",
                     "prompt_tokens", ec->prompt_tokens, "latency_ms",
                     (json_int_t)(now_ms() - ec->start_ms)),
           "embed %s: %zu inputs: %s", model, ec->total, ec->code[0] ? ec->code : "ok");
    if (ec->code[0])
        L.host->reply_error(ec->call, ec->code, ec->msg);
    else
        L.host->reply(ec->call,
                      json_pack("{s:O,s:s,s:O,s:o,s:I,s:I}", "embeddings", ec->vectors, "model",
                                ec->provider_model[0] ? ec->provider_model : model, "dimensions",
                                ec->dims ? ec->dims : json_null(), "usage", usage, "batches",
                                (json_int_t)((ec->total + ec->batch - 1) / ec->batch), "retries",
                                (json_int_t)ec->retries));
    if (ec->code[0]) json_decref(usage);
    json_decref(ec->inputs);
    json_decref(ec->vectors);
    json_decref(ec->model);
    json_decref(ec->dims);
    free(ec);
}

static void embed_fail(embed_call *ec, const char *code, const char *msg)
{
    if (!ec->code[0]) {
        snprintf(ec->code, sizeof(ec->code), "%s", code);
        snprintf(ec->msg, sizeof(ec->msg), "%s", msg);
    }
}

static void on_embed_done(ah_ctx *ctx, const ah_http_response *resp, void *ud)
{
    (void)ctx;
    embed_batch *b = ud;
    embed_call *ec = b->ec;
    ec->pending--;
    ec->retries += resp->retries;
    char msg[500];
    if (resp->error_code) {
        embed_fail(ec, llm_code_for_broker(resp->error_code), resp->error_message ?: "");
    } else if (resp->status < 200 || resp->status >= 300) {
        char detail[400];
        llm_error_message(resp->body, resp->body_len, NULL, detail, sizeof(detail));
        snprintf(msg, sizeof(msg), "HTTP %d: %s", resp->status, detail);
        embed_fail(ec, llm_code_for_status(resp->status), msg);
    } else {
        json_t *o = json_loadb(resp->body, resp->body_len, 0, NULL);
        json_t *data = json_object_get(o, "data");
        if (json_array_size(data) != b->count) {
            snprintf(msg, sizeof(msg), "embeddings answer has %zu vectors for %zu inputs",
                     json_array_size(data), b->count);
            embed_fail(ec, "bad_response", msg);
        }
        size_t i;
        json_t *d;
        json_array_foreach(data, i, d)
        {
            json_int_t idx = json_integer_value(json_object_get(d, "index"));
            json_t *vec = json_object_get(d, "embedding");
            if (idx < 0 || (size_t)idx >= b->count || !json_is_array(vec) ||
                !json_array_size(vec) || !json_is_number(json_array_get(vec, 0))) {
                embed_fail(ec, "bad_response", "embeddings answer has a malformed vector");
                break;
            }
            if (!ec->dims) ec->dims = json_integer((json_int_t)json_array_size(vec));
            json_array_set(ec->vectors, b->first + (size_t)idx, vec);
        }
        json_t *u = json_object_get(o, "usage");
        ec->prompt_tokens += json_integer_value(json_object_get(u, "prompt_tokens"));
        ec->total_tokens += json_integer_value(json_object_get(u, "total_tokens"));
        const char *pm = json_string_value(json_object_get(o, "model"));
        if (pm && !ec->provider_model[0])
            snprintf(ec->provider_model, sizeof(ec->provider_model), "%s", pm);
        if (!o) embed_fail(ec, "bad_response", "embeddings answer is not JSON");
        json_decref(o);
    }
    free(b);
    if (!ec->code[0] && ec->next < ec->total)
        embed_send(ec);
    else if (ec->pending == 0)
        embed_finish(ec);
}

static void embed_send(embed_call *ec)
{
    while (ec->next < ec->total && ec->pending < EMBED_PARALLEL && !ec->code[0]) {
        embed_batch *b = calloc(1, sizeof(*b));
        if (!b) {
            embed_fail(ec, "provider_error", "out of memory");
            break;
        }
        b->ec = ec;
        b->first = ec->next;
        b->count = ec->total - ec->next < ec->batch ? ec->total - ec->next : ec->batch;
        ec->next += b->count;
        json_t *slice = json_array();
        for (size_t i = 0; i < b->count; i++)
            json_array_append(slice, json_array_get(ec->inputs, b->first + i));
        json_t *body = json_pack("{s:O,s:o}", "model", ec->model, "input", slice);
        if (ec->dimensions) json_object_set_new(body, "dimensions", json_integer(ec->dimensions));
        int rc = post_json("embeddings", body, false,
                           (uint32_t)json_integer_value(json_object_get(L.config, "timeout_ms")),
                           NULL, on_embed_done, b);
        if (rc != AH_OK) {
            free(b);
            embed_fail(ec, rc == AH_EBUSY ? "rate_limited" : "provider_error", ah_strerror(rc));
            break;
        }
        ec->pending++;
    }
    if (ec->pending == 0) embed_finish(ec);
}

static void embed(ah_call *call, const json_t *args)
{
    const json_t *in = json_object_get(args, "input");
    json_t *inputs = json_is_string(in) ? json_pack("[O]", in) : json_incref((json_t *)in);
    if (!json_is_array(inputs) || !json_array_size(inputs)) {
        json_decref(inputs);
        L.host->reply_error(call, "invalid_request",
                            "input: a string or a non-empty array of strings");
        return;
    }
    size_t i;
    json_t *s;
    json_array_foreach(inputs, i, s) if (!json_is_string(s))
    {
        json_decref(inputs);
        L.host->reply_error(call, "invalid_request", "input: every item must be a string");
        return;
    }
    embed_call *ec = calloc(1, sizeof(*ec));
    if (!ec) {
        json_decref(inputs);
        L.host->reply_error(call, "provider_error", "out of memory");
        return;
    }
    ec->call = call;
    ec->inputs = inputs;
    ec->total = json_array_size(inputs);
    ec->vectors = json_array();
    for (i = 0; i < ec->total; i++)
        json_array_append_new(ec->vectors, json_null());
    const json_t *m = json_object_get(args, "model");
    ec->model =
        json_incref(json_is_string(m) ? (json_t *)m : json_object_get(L.config, "embedding_model"));
    json_int_t bs = json_integer_value(json_object_get(args, "batch_size"));
    if (bs <= 0) bs = json_integer_value(json_object_get(L.config, "embedding_batch"));
    ec->batch = bs > 0 ? (size_t)bs : 96;
    ec->dimensions = json_integer_value(json_object_get(args, "dimensions"));
    ec->start_ms = now_ms();
    embed_send(ec);
}

/* ---- the descriptor ------------------------------------------------------------- */

static int llm_init(ah_ctx *ctx, const ah_host *host, const json_t *config)
{
    L.host = host;
    L.ctx = ctx;
    L.config = config;
    L.api_key = host->secret(ctx, "api_key");
    if (!AH_HOST_HAS(host, reply_partial))
        host->log(ctx, AH_LOG_WARN, "this host cannot forward streamed tokens (ABI < 1.1)");
    host->log(ctx, AH_LOG_INFO, "llm-openai ready: %s, model %s%s",
              json_string_value(json_object_get(config, "base_url")),
              json_string_value(json_object_get(config, "model")),
              L.api_key ? "" : " (no api_key secret set)");
    return AH_OK;
}

static void llm_call(ah_ctx *ctx, ah_call *call, const char *action, const json_t *args)
{
    (void)ctx;
    if (!strcmp(action, "chat"))
        chat(call, args);
    else if (!strcmp(action, "embed"))
        embed(call, args);
    else
        L.host->reply_error(call, "unknown_action", action);
}

AH_PLUGIN(.name = "llm-openai", .version = "1.0.0", .init = llm_init, .call = llm_call);
