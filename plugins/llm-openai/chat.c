/*
 * chat.c - streamed and whole Chat Completions answers. See chat.h.
 */
#include "chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void chat_acc_init(chat_acc *a)
{
    memset(a, 0, sizeof(*a));
    a->tools = json_array();
}

void chat_acc_free(chat_acc *a)
{
    free(a->content);
    json_decref(a->tools);
    json_decref(a->usage);
    json_decref(a->error);
    memset(a, 0, sizeof(*a));
}

static int append(chat_acc *a, const char *s, size_t n)
{
    if (a->clen + n + 1 > CHAT_TEXT_MAX) {
        snprintf(a->why, sizeof(a->why), "answer longer than %u bytes", CHAT_TEXT_MAX);
        return -1;
    }
    if (a->clen + n + 1 > a->ccap) {
        size_t c = a->ccap ? a->ccap : 256;
        while (c < a->clen + n + 1)
            c *= 2;
        char *nb = realloc(a->content, c);
        if (!nb) return -1;
        a->content = nb;
        a->ccap = c;
    }
    memcpy(a->content + a->clen, s, n);
    a->clen += n;
    a->content[a->clen] = 0;
    a->has_content = true;
    return 0;
}

static void copy_str(char *dst, size_t len, const json_t *v)
{
    const char *s = json_string_value(v);
    if (s && !dst[0]) snprintf(dst, len, "%s", s);
}

/* A tool-call delta: {index, id?, type?, function: {name?, arguments?}}. */
static int tool_delta(chat_acc *a, const json_t *tc, chat_delta_fn fn, void *ud)
{
    json_int_t idx = json_integer_value(json_object_get(tc, "index"));
    if (!json_is_integer(json_object_get(tc, "index")))
        idx = (json_int_t)json_array_size(a->tools); /* some servers omit it: one per delta */
    if (idx < 0 || idx >= CHAT_TOOLS_MAX) {
        snprintf(a->why, sizeof(a->why), "tool call index %lld out of range", (long long)idx);
        return -1;
    }
    while (json_array_size(a->tools) <= (size_t)idx)
        json_array_append_new(a->tools, json_pack("{s:n,s:n,s:s}", "id", "name", "arguments", ""));
    json_t *cur = json_array_get(a->tools, (size_t)idx);
    const json_t *f = json_object_get(tc, "function");
    const json_t *id = json_object_get(tc, "id");
    const json_t *name = json_object_get(f, "name");
    const json_t *args = json_object_get(f, "arguments");
    if (json_is_string(id) && json_string_length(id)) json_object_set(cur, "id", (json_t *)id);
    if (json_is_string(name) && json_string_length(name))
        json_object_set(cur, "name", (json_t *)name);
    if (json_is_string(args) && json_string_length(args)) {
        const char *old = json_string_value(json_object_get(cur, "arguments"));
        size_t ol = strlen(old), nl = json_string_length(args);
        if (ol + nl > CHAT_TEXT_MAX) {
            snprintf(a->why, sizeof(a->why), "tool call arguments longer than %u bytes",
                     CHAT_TEXT_MAX);
            return -1;
        }
        char *joined = malloc(ol + nl + 1);
        if (!joined) return -1;
        memcpy(joined, old, ol);
        memcpy(joined + ol, json_string_value(args), nl + 1);
        json_object_set_new(cur, "arguments", json_stringn(joined, ol + nl));
        free(joined);
    }
    if (fn) {
        json_t *p = json_pack("{s:{s:I,s:s%}}", "tool_call", "index", idx, "arguments",
                              json_is_string(args) ? json_string_value(args) : "",
                              json_is_string(args) ? json_string_length(args) : (size_t)0);
        json_t *inner = json_object_get(p, "tool_call");
        if (json_is_string(id)) json_object_set(inner, "id", (json_t *)id);
        if (json_is_string(name)) json_object_set(inner, "name", (json_t *)name);
        fn(ud, p);
        json_decref(p);
    }
    return 0;
}

int chat_acc_event(chat_acc *a, const char *data, size_t len, chat_delta_fn fn, void *ud)
{
    if (len == 6 && !memcmp(data, "[DONE]", 6)) {
        a->done = true;
        return 0;
    }
    json_error_t je;
    json_t *o = json_loadb(data, len, 0, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        snprintf(a->why, sizeof(a->why), "stream event is not a JSON object: %s", je.text);
        return -1;
    }
    a->any = true;
    json_t *err = json_object_get(o, "error");
    if (err && !json_is_null(err)) {
        json_decref(a->error);
        a->error = json_incref(err);
        json_decref(o);
        return 1;
    }
    copy_str(a->id, sizeof(a->id), json_object_get(o, "id"));
    copy_str(a->model, sizeof(a->model), json_object_get(o, "model"));
    json_t *usage = json_object_get(o, "usage");
    if (json_is_object(usage)) {
        json_decref(a->usage);
        a->usage = json_incref(usage);
    }
    int rc = 0;
    size_t i;
    json_t *ch;
    json_array_foreach(json_object_get(o, "choices"), i, ch)
    {
        if (json_integer_value(json_object_get(ch, "index")) != 0)
            continue; /* n > 1 is not asked for */
        json_t *delta = json_object_get(ch, "delta");
        const json_t *text = json_object_get(delta, "content");
        if (json_is_string(text) && json_string_length(text)) {
            if (append(a, json_string_value(text), json_string_length(text)) < 0) {
                rc = -1;
                break;
            }
            if (fn) {
                json_t *p = json_pack("{s:O}", "delta", text);
                fn(ud, p);
                json_decref(p);
            }
        } else if (json_is_string(text)) {
            a->has_content = true;
        }
        size_t k;
        json_t *tc;
        json_array_foreach(json_object_get(delta, "tool_calls"), k, tc)
        {
            if (tool_delta(a, tc, fn, ud) < 0) {
                rc = -1;
                break;
            }
        }
        const char *fr = json_string_value(json_object_get(ch, "finish_reason"));
        if (fr) snprintf(a->finish, sizeof(a->finish), "%s", fr);
    }
    json_decref(o);
    return rc;
}

/* arguments_json beside arguments: parsed when it is JSON. */
static json_t *finish_tools(const json_t *tools)
{
    json_t *out = json_array();
    size_t i;
    const json_t *t;
    json_array_foreach(tools, i, t)
    {
        const char *args = json_string_value(json_object_get(t, "arguments"));
        json_t *parsed = args && *args ? json_loads(args, JSON_DECODE_ANY, NULL) : NULL;
        json_array_append_new(out,
                              json_pack("{s:O,s:O,s:s,s:o}", "id", json_object_get(t, "id"), "name",
                                        json_object_get(t, "name"), "arguments", args ? args : "",
                                        "arguments_json", parsed ? parsed : json_null()));
    }
    return out;
}

json_t *chat_acc_result(chat_acc *a)
{
    if (a->error) return NULL;
    if (!a->any) {
        snprintf(a->why, sizeof(a->why), "the stream ended without any answer");
        return NULL;
    }
    if (!a->has_content && json_array_size(a->tools) == 0 && !a->finish[0]) {
        snprintf(a->why, sizeof(a->why), "the stream ended before the answer began");
        return NULL;
    }
    if (!a->done && !a->finish[0]) {
        snprintf(a->why, sizeof(a->why),
                 "the stream ended mid-answer (no finish_reason, no [DONE])");
        return NULL;
    }
    return json_pack("{s:s,s:s,s:o,s:o,s:s?,s:O}", "id", a->id, "model", a->model, "content",
                     a->has_content ? json_stringn(a->content ? a->content : "", a->clen)
                                    : json_null(),
                     "tool_calls", finish_tools(a->tools), "finish_reason",
                     a->finish[0] ? a->finish : NULL, "usage", a->usage ? a->usage : json_null());
}

json_t *chat_parse(const char *body, size_t len, json_t **error, char *why, size_t whylen)
{
    *error = NULL;
    json_error_t je;
    json_t *o = json_loadb(body, len, 0, &je);
    if (!json_is_object(o)) {
        snprintf(why, whylen, "answer is not a JSON object: %s (line %d)", je.text, je.line);
        json_decref(o);
        return NULL;
    }
    json_t *err = json_object_get(o, "error");
    if (err && !json_is_null(err)) {
        *error = json_incref(err);
        json_decref(o);
        return NULL;
    }
    json_t *choice = json_array_get(json_object_get(o, "choices"), 0);
    json_t *msg = json_object_get(choice, "message");
    if (!json_is_object(msg)) {
        snprintf(why, whylen, "answer has no choices[0].message");
        json_decref(o);
        return NULL;
    }
    json_t *content = json_object_get(msg, "content");
    json_t *tools = json_array();
    size_t i;
    json_t *tc;
    json_array_foreach(json_object_get(msg, "tool_calls"), i, tc)
    {
        json_t *f = json_object_get(tc, "function");
        json_array_append_new(
            tools, json_pack("{s:O,s:O,s:s}", "id", json_object_get(tc, "id") ?: json_null(),
                             "name", json_object_get(f, "name") ?: json_null(), "arguments",
                             json_string_value(json_object_get(f, "arguments")) ?: ""));
    }
    json_t *usage = json_object_get(o, "usage");
    json_t *r = json_pack(
        "{s:s,s:s,s:O,s:o,s:O,s:O}", "id", json_string_value(json_object_get(o, "id")) ?: "",
        "model", json_string_value(json_object_get(o, "model")) ?: "", "content",
        json_is_string(content) ? content : json_null(), "tool_calls", finish_tools(tools),
        "finish_reason", json_object_get(choice, "finish_reason") ?: json_null(), "usage",
        json_is_object(usage) ? usage : json_null());
    json_decref(tools);
    json_decref(o);
    if (!r) snprintf(why, whylen, "answer has fields of the wrong type");
    return r;
}
