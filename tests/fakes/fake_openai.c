/*
 * fake_openai - a protocol-faithful fake of the OpenAI API (and of
 * OpenRouter's quirks) over real HTTP on loopback, for the integration
 * tests and the benchmarks.
 *
 *   fake_openai [--port N] [--samples DIR] [--port-file PATH]
 *
 * Normal answers are the real recorded exchanges in tests/fixtures/openai
 * (byte-exact SSE streams with text, tool-call argument fragments, the
 * final usage chunk and [DONE]; whole JSON completions). Error bodies are
 * constructed from the OpenAI error schema and OpenRouter's documented
 * shape (no recorded ones exist). The request's "model" picks the case,
 * written NAME or NAME:PARAM:
 *
 *   (anything else)    normal answer (streamed if "stream": true; the tool-call
 *                      exchange when the request has tools; JSON content when it
 *                      has a response_format)
 *   fail-401           401 invalid_api_key          fail-402  402 (OpenRouter credits)
 *   rate-429:S         429, Retry-After: S          fail-500  500 server_error
 *   fail-502           502 (OpenRouter)             fail-503:S 503 (Retry-After: S if given)
 *   flaky-503:N        503 (Retry-After: 0) for the first N requests of this exact
 *                      model string, then normal;   flaky-500:N the same with 500
 *   slow:MS            answer after MS milliseconds
 *   stall-stream:MS    stream one event, then stay silent for MS before the rest
 *   pause-stream:MS    stream three events (the role, then tokens), then pause MS
 *   openrouter         stream with ": OPENROUTER PROCESSING" comment lines
 *   midstream-error    HTTP 200 stream whose fourth event is an error (OpenRouter)
 *   cut-stream         stream four events, then close the connection
 *   invalid-json       200 with a truncated JSON body
 *   bad-sse            200 text/event-stream of lines that are not JSON
 *   empty-choices      200 with "choices": []
 *   huge:BYTES         200 with a body of about BYTES bytes
 *   redirect           302 to http://127.0.0.1:8080/v1/chat/completions
 *   redirect-local     307 to /ok/v1/chat/completions on this server (served normally)
 *   ngram*             embeddings: hashed character trigrams, words sharing a stem near
 *                      each other (ngram_embed.h; other models: a random vector per text)
 *
 * A chat request whose response_format is the json_schema "passage_relevance"
 * (the RAG plugin's re-ranking, plugins/rag/rerank.c) is answered with the
 * passages' scores by query-word overlap (rerank_score.h); its own cases:
 *
 *   rerank-garbage     200 whose content is prose, not the JSON asked for
 *   rerank-missing     the scores with the last passage left out
 *   rerank-invent      the scores plus ids the prompt does not hold
 *
 * Control: GET /_fake/stats, GET /_fake/last?model=M (the last request of
 * that model: headers and body), POST /_fake/reset, POST
 * /_fake/embeddings?fail_after=N (N more embedding requests are answered,
 * then every one fails with 500 until fail_after=-1: a provider failing in
 * the middle of an ingestion). stats' embedding_batches lists the sizes of
 * the embedding requests answered.
 */
#include "fake_http.h"
#include "ngram_embed.h"
#include "rerank_score.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FAKE_SAMPLES_DIR
#define FAKE_SAMPLES_DIR "tests/fixtures/openai"
#endif

static struct {
    char *stream_text, *stream_tool;
    json_t *final_answer, *tool_answer;
    json_t *counts, *last, *batches;
    long total;
    long emb_fail_after; /* embedding requests left to answer before failing; -1: never fail */
    fh_server *srv;
} F;

/* ---- samples ----------------------------------------------------------------- */

static char *read_file(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    if (b) b[n] = 0;
    fclose(f);
    return b;
}

static int load_samples(const char *dir)
{
    F.stream_text = read_file(dir, "stream_text_turn2.sse");
    F.stream_tool = read_file(dir, "stream_tool_call_turn1.sse");
    char path[1024];
    snprintf(path, sizeof(path), "%s/exchanges.json", dir);
    json_t *ex = json_load_file(path, 0, NULL);
    size_t i;
    json_t *e;
    json_array_foreach(ex, i, e)
    {
        const char *name = json_string_value(json_object_get(e, "name"));
        json_t *body = json_object_get(json_object_get(e, "response"), "body");
        if (name && !strcmp(name, "nonstream_tool_call")) F.tool_answer = json_incref(body);
        if (name && !strcmp(name, "nonstream_final_answer")) F.final_answer = json_incref(body);
    }
    json_decref(ex);
    return F.stream_text && F.stream_tool && F.final_answer && F.tool_answer ? 0 : -1;
}

/* ---- helpers ------------------------------------------------------------------ */

static void respond_json(fh_conn *c, int status, const char *extra, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    fh_respond(c, status, "application/json", extra, s, strlen(s));
    free(s);
}

static void openai_error(fh_conn *c, int status, const char *extra, const char *msg,
                         const char *type, const char *code)
{
    respond_json(c, status, extra,
                 json_pack("{s:{s:s,s:s,s:n,s:s?}}", "error", "message", msg, "type", type, "param",
                           "code", code));
}

static void openrouter_error(fh_conn *c, int status, const char *extra, const char *msg)
{
    respond_json(c, status, extra,
                 json_pack("{s:{s:i,s:s,s:{s:s}}}", "error", "code", status, "message", msg,
                           "metadata", "provider_name", "FakeProvider"));
}

/* Split an SSE body into its events (each ending in a blank line). */
static size_t sse_events(const char *body, const char **starts, size_t *lens, size_t max)
{
    size_t n = 0;
    const char *p = body;
    while (*p && n < max) {
        const char *end = strstr(p, "\n\n");
        size_t len = end ? (size_t)(end - p) + 2 : strlen(p);
        starts[n] = p;
        lens[n++] = len;
        p += len;
    }
    return n;
}

static bool wants_usage(const json_t *req)
{
    return json_is_true(json_object_get(json_object_get(req, "stream_options"), "include_usage"));
}

static bool is_usage_event(const char *e, size_t len)
{
    char tmp[64];
    (void)len;
    snprintf(tmp, sizeof(tmp), "\"choices\":[]");
    return memmem(e, len, tmp, strlen(tmp)) != NULL;
}

/* JSON-mode answers are constructed: the recordings have none. */
static const char *json_content = "{\"city\":\"London\",\"country\":\"UK\"}";

static json_t *answer_with(const char *content)
{
    json_t *a = json_deep_copy(F.final_answer);
    json_t *msg = json_object_get(json_array_get(json_object_get(a, "choices"), 0), "message");
    json_object_set_new(msg, "content", json_string(content));
    return a;
}

static json_t *json_mode_answer(void)
{
    return answer_with(json_content);
}

/* The user message of a re-ranking request (passage_relevance), or NULL. */
static const char *rerank_prompt(const json_t *req)
{
    const json_t *rf = json_object_get(req, "response_format");
    const char *name =
        json_string_value(json_object_get(json_object_get(rf, "json_schema"), "name"));
    if (!name || strcmp(name, "passage_relevance") != 0) return NULL;
    size_t i;
    const json_t *m;
    json_array_foreach(json_object_get(req, "messages"), i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        if (role && !strcmp(role, "user")) return json_string_value(json_object_get(m, "content"));
    }
    return NULL;
}

/* The re-ranker's answer (rerank_score.h) in a whole completion. */
static json_t *rerank_answer(const json_t *req, int variant)
{
    const char *prompt = rerank_prompt(req);
    char *scores = prompt ? rerank_score(prompt, variant) : NULL;
    json_t *a = answer_with(scores ? scores : "{\"scores\": []}");
    free(scores);
    return a;
}

/* ---- streams --------------------------------------------------------------------- */

typedef struct stream_opts {
    bool comments;     /* OpenRouter keep-alive comments */
    int error_at;      /* replace event n with an error (-1: none) */
    int cut_after;     /* close after n events (-1: none) */
    int stall_after;   /* pause after event n ... */
    uint32_t stall_ms; /* ... for this long */
} stream_opts;

/* The JSON-mode stream is constructed (the recordings have none): the
 * recorded text stream's framing with the answer's text replaced. */
static size_t json_mode_events(char **out, size_t max, bool usage)
{
    static const char *const parts[] = {"{\\\"city\\\":\\\"Lon", "don\\\",\\\"country",
                                        "\\\":\\\"UK\\\"}"};
    const char *head = "data: {\"id\":\"chatcmpl-json\",\"object\":\"chat.completion.chunk\","
                       "\"created\":1782955818,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":";
    size_t n = 0;
    n += asprintf(&out[n],
                  "%s[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                  "\"finish_reason\":null}],\"usage\":null}\n\n",
                  head) > 0;
    for (int k = 0; k < 3 && n < max; k++)
        n += asprintf(&out[n],
                      "%s[{\"index\":0,\"delta\":{\"content\":\"%s\"},"
                      "\"finish_reason\":null}],\"usage\":null}\n\n",
                      head, parts[k]) > 0;
    n += asprintf(&out[n],
                  "%s[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
                  "\"usage\":null}\n\n",
                  head) > 0;
    if (usage)
        n += asprintf(&out[n],
                      "%s[],\"usage\":{\"prompt_tokens\":40,\"completion_tokens\":12,"
                      "\"total_tokens\":52}}\n\n",
                      head) > 0;
    n += asprintf(&out[n], "data: [DONE]\n\n") > 0;
    return n;
}

static void play_stream(fh_conn *c, const json_t *req, const stream_opts *o)
{
    bool tools = json_array_size(json_object_get(req, "tools")) > 0;
    bool json_mode = json_object_get(req, "response_format") != NULL && !tools;
    char *ev[64];
    size_t n = 0;
    if (json_mode) {
        n = json_mode_events(ev, 64, wants_usage(req));
    } else {
        const char *st[64];
        size_t len[64];
        size_t m = sse_events(tools ? F.stream_tool : F.stream_text, st, len, 64);
        for (size_t i = 0; i < m; i++) {
            if (is_usage_event(st[i], len[i]) && !wants_usage(req)) continue;
            ev[n] = strndup(st[i], len[i]);
            n += ev[n] != NULL;
        }
    }
    fh_script s = {0};
    if (o->comments) fh_script_add(&s, 1, ": OPENROUTER PROCESSING\n\n", 25);
    uint32_t delay = 1;
    for (size_t i = 0; i < n; i++) {
        if (o->cut_after >= 0 && (int)i == o->cut_after) {
            s.cut = 1;
            break;
        }
        if ((int)i == o->error_at) {
            const char *err =
                "data: {\"id\":\"gen-fake\",\"object\":\"chat.completion.chunk\",\"created\":"
                "1782955818,\"model\":\"fake\",\"provider\":\"FakeProvider\",\"error\":{\"code\":"
                "502,\"message\":\"Provider disconnected unexpectedly\"},\"choices\":[{\"index\":0,"
                "\"delta\":{\"content\":\"\"},\"finish_reason\":\"error\"}]}\n\n";
            fh_script_add(&s, delay, err, strlen(err));
            fh_script_add(&s, 1, "data: [DONE]\n\n", 14);
            break;
        }
        /* Each event in two pieces, split mid-line: readers must reassemble. */
        size_t len = strlen(ev[i]), half = len / 2;
        fh_script_add(&s, delay, ev[i], half);
        fh_script_add(&s, 0, ev[i] + half, len - half);
        delay = o->stall_ms && (int)i == o->stall_after ? o->stall_ms : 1;
        if (o->comments && i % 3 == 2) fh_script_add(&s, 1, ": OPENROUTER PROCESSING\n\n", 25);
    }
    for (size_t i = 0; i < n; i++)
        free(ev[i]);
    const char *extra = o->comments ? "X-Generation-Id: gen-fake-123\r\n" : NULL;
    fh_play(c, 200, "text/event-stream; charset=utf-8", extra, &s);
}

static void answer_normal(fh_conn *c, const json_t *req, bool openrouter)
{
    if (json_is_true(json_object_get(req, "stream"))) {
        stream_opts o = {
            .comments = openrouter, .error_at = -1, .cut_after = -1, .stall_after = -1};
        play_stream(c, req, &o);
        return;
    }
    json_t *a;
    if (json_array_size(json_object_get(req, "tools")))
        a = json_incref(F.tool_answer);
    else if (rerank_prompt(req))
        a = rerank_answer(req, RERANK_NORMAL);
    else if (json_object_get(req, "response_format"))
        a = json_mode_answer();
    else
        a = json_incref(F.final_answer);
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    if (openrouter) {
        /* OpenRouter pads a slow non-streamed answer with whitespace. */
        char *padded = NULL;
        if (asprintf(&padded, "\n\n\n%s", s) > 0) {
            free(s);
            s = padded;
        }
    }
    fh_respond(c, 200, "application/json", "openai-version: 2020-10-01\r\n", s, strlen(s));
    free(s);
}

static void later_answer(fh_conn *c, void *ud)
{
    answer_normal(c, ud, false);
}

static void decref_ud(void *ud)
{
    json_decref(ud);
}

static void respond_huge(fh_conn *c, long bytes)
{
    size_t n = bytes > 0 ? (size_t)bytes : 1;
    char *pad = malloc(n + 200);
    int h = snprintf(pad, 200,
                     "{\"id\":\"chatcmpl-huge\",\"object\":\"chat.completion\","
                     "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                     "\"content\":\"");
    memset(pad + h, 'x', n);
    int t = snprintf(pad + h + n, 200, "\"},\"finish_reason\":\"stop\"}]}");
    fh_respond(c, 200, "application/json", NULL, pad, (size_t)h + n + (size_t)t);
    free(pad);
}

/* ---- chat completions ------------------------------------------------------------ */

static void chat(fh_conn *c, const fh_req *r, json_t *req, const char *model)
{
    char name[64] = "", param[64] = "";
    sscanf(model, "%63[^:]:%63s", name, param);
    long p = atol(param);
    long count = (long)json_integer_value(json_object_get(F.counts, model));
    char extra[128];
    if (!strncmp(r->path, "/ok/", 4)) {
        answer_normal(c, req, false);
    } else if (!strcmp(name, "fail-401")) {
        openai_error(c, 401, NULL,
                     "Incorrect API key provided: sk-test***. You can find your API key at "
                     "https://platform.openai.com/account/api-keys.",
                     "invalid_request_error", "invalid_api_key");
    } else if (!strcmp(name, "fail-402")) {
        openrouter_error(c, 402, NULL,
                         "Insufficient credits. Add more using https://openrouter.ai/credits");
    } else if (!strcmp(name, "rate-429")) {
        snprintf(extra, sizeof(extra), "Retry-After: %ld\r\n", param[0] ? p : 1);
        openai_error(c, 429, extra,
                     "Rate limit reached for gpt-4o-mini in organization org-fake on requests per "
                     "min (RPM): Limit 3, Used 3, Requested 1.",
                     "requests", "rate_limit_exceeded");
    } else if (!strcmp(name, "fail-500")) {
        openai_error(c, 500, NULL,
                     "The server had an error while processing your request. Sorry about that!",
                     "server_error", NULL);
    } else if (!strcmp(name, "fail-502")) {
        openrouter_error(c, 502, NULL, "Provider returned error");
    } else if (!strcmp(name, "fail-503")) {
        snprintf(extra, sizeof(extra), "Retry-After: %ld\r\n", p);
        openai_error(c, 503, param[0] ? extra : NULL,
                     "The engine is currently overloaded, please try again later.", "server_error",
                     NULL);
    } else if (!strcmp(name, "flaky-503") && count <= p) {
        openai_error(c, 503, "Retry-After: 0\r\n", "The engine is currently overloaded.",
                     "server_error", NULL);
    } else if (!strcmp(name, "flaky-500") && count <= p) {
        openai_error(c, 500, NULL, "The server had an error while processing your request.",
                     "server_error", NULL);
    } else if (!strcmp(name, "slow")) {
        fh_later(c, (uint32_t)p, later_answer, json_incref(req), decref_ud);
    } else if (!strcmp(name, "stall-stream")) {
        stream_opts o = {
            .error_at = -1, .cut_after = -1, .stall_after = 0, .stall_ms = (uint32_t)p};
        play_stream(c, req, &o);
    } else if (!strcmp(name, "pause-stream")) {
        stream_opts o = {
            .error_at = -1, .cut_after = -1, .stall_after = 2, .stall_ms = (uint32_t)p};
        play_stream(c, req, &o);
    } else if (!strcmp(name, "openrouter")) {
        answer_normal(c, req, true);
    } else if (!strcmp(name, "midstream-error")) {
        stream_opts o = {.comments = true, .error_at = 3, .cut_after = -1, .stall_after = -1};
        play_stream(c, req, &o);
    } else if (!strcmp(name, "cut-stream")) {
        stream_opts o = {.error_at = -1, .cut_after = 4, .stall_after = -1};
        play_stream(c, req, &o);
    } else if (!strcmp(name, "invalid-json")) {
        const char *b = "{\"id\":\"chatcmpl-broken\",\"object\":\"chat.completion\",\"choices\":[{";
        fh_respond(c, 200, "application/json", NULL, b, strlen(b));
    } else if (!strcmp(name, "bad-sse")) {
        fh_script s = {0};
        fh_script_add(&s, 1, "data: this is not json\n\n", 24);
        fh_script_add(&s, 1, "data: [DONE]\n\n", 14);
        fh_play(c, 200, "text/event-stream", NULL, &s);
    } else if (!strcmp(name, "empty-choices")) {
        respond_json(c, 200, NULL,
                     json_pack("{s:s,s:s,s:[]}", "id", "chatcmpl-empty", "object",
                               "chat.completion", "choices"));
    } else if (!strcmp(name, "huge")) {
        respond_huge(c, p);
    } else if (!strcmp(name, "rerank-garbage")) {
        json_t *a = answer_with("Passage 2 answers the query best, then passage 1.");
        respond_json(c, 200, NULL, a);
    } else if (!strcmp(name, "rerank-missing") || !strcmp(name, "rerank-invent")) {
        respond_json(
            c, 200, NULL,
            rerank_answer(req, !strcmp(name, "rerank-missing") ? RERANK_MISSING : RERANK_INVENT));
    } else if (!strcmp(name, "redirect")) {
        fh_respond(c, 302, "text/plain", "Location: http://127.0.0.1:8080/v1/chat/completions\r\n",
                   "moved", 5);
    } else if (!strcmp(name, "redirect-local")) {
        fh_respond(c, 307, "text/plain", "Location: /ok/v1/chat/completions\r\n", "moved", 5);
    } else {
        answer_normal(c, req, false);
    }
}

/* ---- embeddings ------------------------------------------------------------------ */

static void embed_one(const char *text, int dims, json_t *out)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *s = text; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    double v[4096], norm = 0;
    for (int i = 0; i < dims; i++) {
        h = h * 6364136223846793005ull + 1442695040888963407ull;
        v[i] = (double)(h >> 11) / (double)(1ull << 53) - 0.5;
        norm += v[i] * v[i];
    }
    for (int i = 0; i < dims; i++)
        json_array_append_new(out, json_real(v[i] / (norm > 0 ? __builtin_sqrt(norm) : 1)));
}

/* Models named ngram-*: hashed character trigrams, words sharing a stem
 * near each other (ngram_embed.h). */
static void ngram_one(const char *text, int dims, json_t *out)
{
    float v[4096];
    ngram_embed(text, strlen(text), v, dims);
    for (int i = 0; i < dims; i++)
        json_array_append_new(out, json_real(v[i]));
}

static void embeddings(fh_conn *c, json_t *req, const char *model)
{
    if (!strncmp(model, "fail-", 5) || !strncmp(model, "rate-", 5)) {
        chat(c, &(fh_req){.path = "/v1/embeddings"}, req, model);
        return;
    }
    if (F.emb_fail_after == 0) {
        openai_error(c, 500, NULL, "The server had an error while processing your request.",
                     "server_error", NULL);
        return;
    }
    if (F.emb_fail_after > 0) F.emb_fail_after--;
    json_t *input = json_object_get(req, "input");
    json_t *list = json_is_string(input) ? json_pack("[O]", input) : json_incref(input);
    if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > 2048) {
        json_decref(list);
        openai_error(c, 400, NULL, "'input' must be a string or an array of 1 to 2048 strings",
                     "invalid_request_error", NULL);
        return;
    }
    int dims = (int)json_integer_value(json_object_get(req, "dimensions"));
    if (dims <= 0 || dims > 4096) dims = 8;
    json_array_append_new(F.batches, json_integer((json_int_t)json_array_size(list)));
    json_t *data = json_array();
    long tokens = 0;
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t)
    {
        const char *text = json_string_value(t);
        json_t *vec = json_array();
        if (!strncmp(model, "ngram", 5)) /* semantic stand-in (issue 18) */
            ngram_one(text ? text : "", dims, vec);
        else
            embed_one(text ? text : "", dims, vec);
        json_array_append_new(data, json_pack("{s:s,s:I,s:o}", "object", "embedding", "index",
                                              (json_int_t)i, "embedding", vec));
        for (const char *s = text ? text : ""; *s; s++)
            tokens += *s == ' ';
        tokens++;
    }
    json_decref(list);
    respond_json(c, 200, NULL,
                 json_pack("{s:s,s:o,s:s,s:{s:I,s:I}}", "object", "list", "data", data, "model",
                           model, "usage", "prompt_tokens", (json_int_t)tokens, "total_tokens",
                           (json_int_t)tokens));
}

/* ---- routing ------------------------------------------------------------------------ */

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static void handle(void *ud, fh_conn *c, const fh_req *r)
{
    (void)ud;
    if (!strcmp(r->path, "/_fake/stats")) {
        respond_json(c, 200, NULL,
                     json_pack("{s:I,s:O,s:O,s:I,s:I}", "total", (json_int_t)F.total, "counts",
                               F.counts, "embedding_batches", F.batches, "open_connections",
                               (json_int_t)fh_open_connections(F.srv), "max_connections",
                               (json_int_t)fh_max_connections(F.srv)));
        return;
    }
    if (!strcmp(r->path, "/_fake/last")) {
        const char *m = strncmp(r->query, "model=", 6) == 0 ? r->query + 6 : "";
        json_t *l = json_object_get(F.last, m);
        respond_json(c, l ? 200 : 404, NULL, l ? json_incref(l) : json_object());
        return;
    }
    if (!strcmp(r->path, "/_fake/embeddings")) {
        F.emb_fail_after = strncmp(r->query, "fail_after=", 11) == 0 ? atol(r->query + 11) : -1;
        respond_json(c, 200, NULL, json_pack("{s:I}", "fail_after", (json_int_t)F.emb_fail_after));
        return;
    }
    if (!strcmp(r->path, "/_fake/reset")) {
        F.emb_fail_after = -1;
        json_object_clear(F.counts);
        json_object_clear(F.last);
        json_array_clear(F.batches);
        F.total = 0;
        respond_json(c, 200, NULL, json_object());
        return;
    }
    if (!strcmp(r->method, "GET") && ends_with(r->path, "/models")) {
        respond_json(c, 200, NULL,
                     json_pack("{s:s,s:[{s:s,s:s}]}", "object", "list", "data", "id", "gpt-4o-mini",
                               "object", "model"));
        return;
    }
    bool is_chat = ends_with(r->path, "/chat/completions");
    bool is_emb = ends_with(r->path, "/embeddings");
    if (strcmp(r->method, "POST") != 0 || (!is_chat && !is_emb)) {
        openai_error(c, 404, NULL, "Unknown request URL", "invalid_request_error", "unknown_url");
        return;
    }
    json_error_t je;
    json_t *req = json_loadb(r->body, r->body_len, 0, &je);
    const char *model = json_string_value(json_object_get(req, "model"));
    if (!json_is_object(req) || !model) {
        json_decref(req);
        openai_error(c, 400, NULL, "We could not parse the JSON body of your request.",
                     "invalid_request_error", NULL);
        return;
    }
    F.total++;
    json_object_set_new(F.counts, model,
                        json_integer(json_integer_value(json_object_get(F.counts, model)) + 1));
    json_object_set_new(
        F.last, model,
        json_pack("{s:O,s:O,s:s}", "headers", r->headers, "body", req, "path", r->path));
    if (is_chat)
        chat(c, r, req, model);
    else
        embeddings(c, req, model);
    json_decref(req);
}

int main(int argc, char **argv)
{
    int port = 0;
    const char *samples = FAKE_SAMPLES_DIR, *port_file = NULL;
    F.emb_fail_after = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--samples") && i + 1 < argc)
            samples = argv[++i];
        else if (!strcmp(argv[i], "--port-file") && i + 1 < argc)
            port_file = argv[++i];
        else {
            fprintf(stderr, "usage: fake_openai [--port N] [--samples DIR] [--port-file PATH]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    if (load_samples(samples) < 0) {
        fprintf(stderr, "fake_openai: cannot read the samples in %s\n", samples);
        return 1;
    }
    F.counts = json_object();
    F.last = json_object();
    F.batches = json_array();
    uv_loop_t *uv = uv_default_loop();
    return fh_serve(uv, &F.srv, "fake_openai", port, port_file, handle, NULL);
}
