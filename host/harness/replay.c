#include "replay.h"

#include "sdk/ipc/b64.h"
#include "core/util.h"
#include "jsonl.h"

#include <agenthost/plugin.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct entry {
    int line;
    char method[1008]; /* an HTTP method, or an IMAP command line (ADR 0034) */
    char *url;
    json_t *headers; /* request constraints {name: value}, or NULL */
    char *body;      /* exact request body, or NULL */
    size_t body_len;
    json_t *json;     /* request body as JSON, or NULL */
    json_t *response; /* {"status", "headers", body} or NULL with error */
    json_t *error;    /* {"code", "message"} or NULL */
    bool repeat;
    bool used;
    uint32_t delay_ms;
} entry;

struct replay {
    entry *v;
    size_t n;
};

void replay_free(replay *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) {
        entry *e = &r->v[i];
        free(e->url);
        free(e->body);
        json_decref(e->headers);
        json_decref(e->json);
        json_decref(e->response);
        json_decref(e->error);
    }
    free(r->v);
    free(r);
}

static bool strings_object(const json_t *o)
{
    const char *k;
    const json_t *v;
    if (!json_is_object(o)) return false;
    json_object_foreach((json_t *)o, k, v)
    {
        if (!json_is_string(v)) return false;
    }
    return true;
}

static int parse_request(const char *path, int line, const json_t *q, entry *e, char *err,
                         size_t errlen)
{
    static const char *const keys[] = {"method", "url", "headers", "body", "json", NULL};
    const char *bad;
    if (!json_is_object(q))
        return jsonl_fail(err, errlen, path, line, "request: expected an object");
    if (!jsonl_only_keys(q, keys, &bad))
        return jsonl_fail(err, errlen, path, line, "request.%s: unknown field", bad);
    const json_t *m = json_object_get(q, "method");
    if (m && (!json_is_string(m) || json_string_length(m) == 0 ||
              json_string_length(m) >= sizeof(e->method)))
        return jsonl_fail(err, errlen, path, line, "request.method: expected a method name");
    snprintf(e->method, sizeof(e->method), "%s", m ? json_string_value(m) : "GET");
    const char *url = json_string_value(json_object_get(q, "url"));
    if (!url || !*url)
        return jsonl_fail(err, errlen, path, line, "request.url: required (a string)");
    e->url = strdup(url);
    const json_t *h = json_object_get(q, "headers");
    if (h && !strings_object(h))
        return jsonl_fail(err, errlen, path, line,
                          "request.headers: expected an object of strings");
    e->headers = json_incref((json_t *)h);
    const json_t *b = json_object_get(q, "body"), *j = json_object_get(q, "json");
    if (b && j)
        return jsonl_fail(err, errlen, path, line,
                          "request: \"body\" and \"json\" exclude each other");
    if (b && !json_is_string(b))
        return jsonl_fail(err, errlen, path, line, "request.body: expected a string");
    if (b) {
        e->body_len = json_string_length(b);
        e->body = malloc(e->body_len + 1);
        if (e->body) memcpy(e->body, json_string_value(b), e->body_len + 1);
    }
    e->json = json_incref((json_t *)j);
    if (!e->url || (b && !e->body)) return jsonl_fail(err, errlen, path, line, "out of memory");
    return 0;
}

static int parse_response(const char *path, int line, const json_t *r, entry *e, char *err,
                          size_t errlen)
{
    static const char *const keys[] = {"status",   "headers", "body", "json",
                                       "body_b64", "chunks",  NULL};
    const char *bad;
    if (!json_is_object(r))
        return jsonl_fail(err, errlen, path, line, "response: expected an object");
    if (!jsonl_only_keys(r, keys, &bad))
        return jsonl_fail(err, errlen, path, line, "response.%s: unknown field", bad);
    const json_t *st = json_object_get(r, "status");
    /* IMAP answers carry no status: 0 (ADR 0034). */
    bool imap = e->url && !strncasecmp(e->url, "imap", 4);
    if (!json_is_integer(st) ||
        (json_integer_value(st) < 100 && !(imap && json_integer_value(st) == 0)) ||
        json_integer_value(st) > 599)
        return jsonl_fail(err, errlen, path, line,
                          "response.status: required, 100..599 (0 for an imap URL)");
    const json_t *h = json_object_get(r, "headers");
    if (h && !strings_object(h))
        return jsonl_fail(err, errlen, path, line,
                          "response.headers: expected an object of strings");
    int bodies = !!json_object_get(r, "body") + !!json_object_get(r, "json") +
                 !!json_object_get(r, "body_b64") + !!json_object_get(r, "chunks");
    if (bodies > 1)
        return jsonl_fail(err, errlen, path, line,
                          "response: at most one of body, json, body_b64, chunks");
    const json_t *body = json_object_get(r, "body");
    if (body && !json_is_string(body))
        return jsonl_fail(err, errlen, path, line, "response.body: expected a string");
    const json_t *b64 = json_object_get(r, "body_b64");
    if (b64) {
        size_t n;
        unsigned char *raw = json_is_string(b64) ? ah_b64_decode(json_string_value(b64), &n) : NULL;
        if (!raw) return jsonl_fail(err, errlen, path, line, "response.body_b64: expected base64");
        free(raw);
    }
    const json_t *chunks = json_object_get(r, "chunks");
    if (chunks) {
        size_t i;
        const json_t *c;
        if (!json_is_array(chunks))
            return jsonl_fail(err, errlen, path, line,
                              "response.chunks: expected an array of strings");
        json_array_foreach(chunks, i, c)
        {
            if (!json_is_string(c))
                return jsonl_fail(err, errlen, path, line,
                                  "response.chunks[%zu]: expected a string", i);
        }
    }
    e->response = json_incref((json_t *)r);
    return 0;
}

static int parse_error(const char *path, int line, const json_t *x, entry *e, char *err,
                       size_t errlen)
{
    static const char *const keys[] = {"code", "message", NULL};
    const char *bad;
    if (!json_is_object(x)) return jsonl_fail(err, errlen, path, line, "error: expected an object");
    if (!jsonl_only_keys(x, keys, &bad))
        return jsonl_fail(err, errlen, path, line, "error.%s: unknown field", bad);
    const json_t *code = json_object_get(x, "code");
    if (!json_is_string(code) || !json_string_length(code))
        return jsonl_fail(err, errlen, path, line,
                          "error.code: required (\"timeout\", \"connect\", ...)");
    const json_t *msg = json_object_get(x, "message");
    if (msg && !json_is_string(msg))
        return jsonl_fail(err, errlen, path, line, "error.message: expected a string");
    e->error = json_incref((json_t *)x);
    return 0;
}

static int parse_entry(const char *path, int line, const char *text, size_t len, entry *e,
                       char *err, size_t errlen)
{
    json_error_t je;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!o)
        return jsonl_fail(err, errlen, path, line, "invalid JSON: column %d: %s", je.column,
                          je.text);
    static const char *const keys[] = {"request", "response", "error", "repeat", "delay_ms", NULL};
    const char *bad;
    int rc = -1;
    const json_t *resp = json_object_get(o, "response"), *x = json_object_get(o, "error");
    const json_t *rep = json_object_get(o, "repeat"), *delay = json_object_get(o, "delay_ms");
    e->line = line;
    if (!json_is_object(o))
        jsonl_fail(err, errlen, path, line, "expected an object with \"request\" and \"response\"");
    else if (!jsonl_only_keys(o, keys, &bad))
        jsonl_fail(err, errlen, path, line, "%s: unknown field", bad);
    else if (!json_object_get(o, "request"))
        jsonl_fail(err, errlen, path, line, "request: required");
    else if (!!resp == !!x)
        jsonl_fail(err, errlen, path, line, "exactly one of \"response\" and \"error\"");
    else if (rep && !json_is_boolean(rep))
        jsonl_fail(err, errlen, path, line, "repeat: expected true or false");
    else if (delay && (!json_is_integer(delay) || json_integer_value(delay) < 0 ||
                       json_integer_value(delay) > 600000))
        jsonl_fail(err, errlen, path, line, "delay_ms: expected 0..600000");
    else if (parse_request(path, line, json_object_get(o, "request"), e, err, errlen) == 0 &&
             (resp ? parse_response(path, line, resp, e, err, errlen)
                   : parse_error(path, line, x, e, err, errlen)) == 0)
        rc = 0;
    if (rc == 0) {
        e->repeat = json_is_true(rep);
        e->delay_ms = delay ? (uint32_t)json_integer_value(delay) : 0;
    }
    json_decref(o);
    return rc;
}

int replay_parse(const char *path, const char *text, size_t len, replay **out, char *err,
                 size_t errlen)
{
    *out = NULL;
    if (len > REPLAY_MAX_BYTES) {
        snprintf(err, errlen, "%s: larger than %u MiB", path, REPLAY_MAX_BYTES >> 20);
        return -1;
    }
    replay *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t cap = 0;
    int line = 0;
    size_t pos = 0, n;
    for (const char *start; (start = ah_next_line(text, len, &pos, &line, &n));) {
        if (r->n == REPLAY_MAX_ENTRIES) {
            replay_free(r);
            return jsonl_fail(err, errlen, path, line, "more than %d entries", REPLAY_MAX_ENTRIES);
        }
        if (r->n == cap) {
            cap = cap ? cap * 2 : 16;
            entry *nv = realloc(r->v, cap * sizeof(*nv));
            if (!nv) {
                replay_free(r);
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            r->v = nv;
        }
        memset(&r->v[r->n], 0, sizeof(entry));
        r->n++; /* counted now so replay_free releases a half-parsed entry */
        if (parse_entry(path, line, start, n, &r->v[r->n - 1], err, errlen) < 0) {
            replay_free(r);
            return -1;
        }
    }
    *out = r;
    return 0;
}

int replay_load(const char *path, replay **out, char *err, size_t errlen)
{
    size_t len;
    char *text = ah_read_file(path, REPLAY_MAX_BYTES, &len);
    if (!text) {
        *out = NULL;
        snprintf(err, errlen, "%s: %s", path,
                 errno == EFBIG ? "larger than 64 MiB" : strerror(errno));
        return -1;
    }
    int rc = replay_parse(path, text, len, out, err, errlen);
    free(text);
    return rc;
}

/* The value of header `name` in the request's ["Name: value"] list. */
static const char *request_header(const json_t *list, const char *name, size_t *vlen)
{
    size_t i, nlen = strlen(name);
    const json_t *h;
    json_array_foreach(list, i, h)
    {
        const char *s = json_string_value(h);
        if (!s || strncasecmp(s, name, nlen) != 0 || s[nlen] != ':') continue;
        const char *v = s + nlen + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        *vlen = strlen(v);
        while (*vlen && (v[*vlen - 1] == ' ' || v[*vlen - 1] == '\t'))
            (*vlen)--;
        return v;
    }
    return NULL;
}

/* The request's body bytes (malloc'd) or NULL when it has none. */
static unsigned char *request_body(const json_t *q, size_t *len)
{
    const json_t *b = json_object_get(q, "body"), *b64 = json_object_get(q, "body_b64");
    if (json_is_string(b)) {
        *len = json_string_length(b);
        unsigned char *p = malloc(*len + 1);
        if (p) memcpy(p, json_string_value(b), *len + 1);
        return p;
    }
    if (json_is_string(b64)) return ah_b64_decode(json_string_value(b64), len);
    *len = 0;
    return NULL;
}

static bool matches(const entry *e, const json_t *q)
{
    const char *method = json_string_value(json_object_get(q, "method"));
    const char *url = json_string_value(json_object_get(q, "url"));
    if (!method || !url || strcasecmp(method, e->method) != 0 || strcmp(url, e->url) != 0)
        return false;
    const char *name;
    const json_t *want;
    json_object_foreach(e->headers, name, want)
    {
        size_t vlen;
        const char *v = request_header(json_object_get(q, "headers"), name, &vlen);
        if (!v || vlen != json_string_length(want) || memcmp(v, json_string_value(want), vlen) != 0)
            return false;
    }
    if (!e->body && !e->json) return true;
    size_t len;
    unsigned char *body = request_body(q, &len);
    bool ok = false;
    if (e->body) {
        ok = body ? len == e->body_len && memcmp(body, e->body, len) == 0 : e->body_len == 0;
    } else if (body) {
        json_t *got = json_loadb((const char *)body, len, 0, NULL);
        ok = got && json_equal(got, e->json);
        json_decref(got);
    }
    free(body);
    return ok;
}

int replay_match(replay *r, const json_t *request)
{
    for (size_t i = 0; r && i < r->n; i++) {
        entry *e = &r->v[i];
        if ((e->used && !e->repeat) || !matches(e, request)) continue;
        e->used = true;
        return (int)i;
    }
    return -1;
}

static int errno_of(const char *code)
{
    static const struct {
        const char *code;
        int err;
    } map[] = {{"timeout", AH_ETIMEDOUT}, {"refused", AH_EDENIED},
               {"too_large", AH_ETOOBIG}, {"busy", AH_EBUSY},
               {"invalid", AH_EINVAL},    {"unsupported", AH_EUNSUPPORTED}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (!strcmp(map[i].code, code)) return map[i].err;
    return AH_EIO;
}

/* A chunk or body as a frame field: "data" when UTF-8, else "data_b64". */
static json_t *bytes_field(const char *text_key, const char *b64_key, const void *p, size_t n)
{
    if (ah_utf8_valid(p, n)) return json_pack("{s:s%}", text_key, (const char *)p, n);
    char *b = ah_b64_encode(p, n);
    json_t *o = b ? json_pack("{s:s}", b64_key, b) : NULL;
    free(b);
    return o;
}

json_t *replay_answer(const replay *r, int i, bool stream, json_t **chunks)
{
    *chunks = NULL;
    const entry *e = &r->v[i];
    if (e->error) {
        const char *code = json_string_value(json_object_get(e->error, "code"));
        const char *msg = json_string_value(json_object_get(e->error, "message"));
        return json_pack("{s:i,s:I,s:{s:i,s:s,s:s}}", "status", 0, "retries", (json_int_t)0,
                         "error", "errno", errno_of(code), "code", code, "message",
                         msg ? msg : code);
    }
    const json_t *resp = e->response;
    json_t *headers = json_object();
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)json_object_get(resp, "headers"), k, v)
    {
        char low[256];
        size_t n = 0;
        for (; k[n] && n < sizeof(low) - 1; n++)
            low[n] = (char)(k[n] >= 'A' && k[n] <= 'Z' ? k[n] + 32 : k[n]);
        low[n] = 0;
        json_object_set(headers, low, (json_t *)v);
    }
    json_int_t status = json_integer_value(json_object_get(resp, "status"));
    json_t *out =
        json_pack("{s:I,s:o,s:I}", "status", status, "headers", headers, "retries", (json_int_t)0);
    if (!out) return NULL;
    /* As the broker does: only a 2xx body is streamed. */
    stream = stream && status >= 200 && status < 300;
    /* The whole body as bytes. */
    char *body = NULL;
    size_t blen = 0;
    const json_t *b = json_object_get(resp, "body"), *j = json_object_get(resp, "json"),
                 *b64 = json_object_get(resp, "body_b64"), *cs = json_object_get(resp, "chunks");
    if (b) {
        blen = json_string_length(b);
        body = malloc(blen + 1);
        if (body) memcpy(body, json_string_value(b), blen + 1);
    } else if (j) {
        body = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        blen = body ? strlen(body) : 0;
    } else if (b64) {
        body = (char *)ah_b64_decode(json_string_value(b64), &blen);
    }
    if (stream) {
        json_t *list = json_array();
        if (cs) {
            size_t ci;
            const json_t *c;
            json_array_foreach(cs, ci, c) json_array_append_new(
                list, bytes_field("data", "data_b64", json_string_value(c), json_string_length(c)));
        } else if (blen) {
            json_array_append_new(list, bytes_field("data", "data_b64", body, blen));
        }
        *chunks = list;
    } else if (cs) {
        size_t ci, total = 0;
        const json_t *c;
        json_array_foreach(cs, ci, c) total += json_string_length(c);
        body = malloc(total + 1);
        if (body) {
            json_array_foreach(cs, ci, c)
            {
                memcpy(body + blen, json_string_value(c), json_string_length(c));
                blen += json_string_length(c);
            }
        }
    }
    if (!stream && body && blen) {
        json_t *f = bytes_field("body", "body_b64", body, blen);
        json_object_update(out, f);
        json_decref(f);
    }
    free(body);
    return out;
}

json_t *replay_unmatched(const json_t *request)
{
    char msg[700];
    snprintf(msg, sizeof(msg), "no recorded response for %.16s %.600s",
             json_string_value(json_object_get(request, "method")) ?: "?",
             json_string_value(json_object_get(request, "url")) ?: "?");
    return json_pack("{s:i,s:I,s:{s:i,s:s,s:s}}", "status", 0, "retries", (json_int_t)0, "error",
                     "errno", AH_ENOTFOUND, "code", "unmatched", "message", msg);
}

uint32_t replay_delay_ms(const replay *r, int i)
{
    return r->v[i].delay_ms;
}

int replay_line(const replay *r, int i)
{
    return r->v[i].line;
}

json_t *replay_unused(const replay *r)
{
    json_t *a = json_array();
    for (size_t i = 0; r && i < r->n; i++)
        if (!r->v[i].used && !r->v[i].repeat) json_array_append_new(a, json_integer(r->v[i].line));
    return a;
}
