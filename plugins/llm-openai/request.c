/*
 * request.c - request bodies, headers and error codes. See request.h.
 */
#include "request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const json_t *arg_or_config(const json_t *args, const json_t *config, const char *key)
{
    const json_t *v = json_object_get(args, key);
    return v && !json_is_null(v) ? v : json_object_get(config, key);
}

static bool valid_role(const char *r)
{
    static const char *const roles[] = {"system", "developer", "user", "assistant", "tool"};
    for (size_t i = 0; r && i < sizeof(roles) / sizeof(roles[0]); i++)
        if (!strcmp(r, roles[i])) return true;
    return false;
}

static int add_messages(json_t *out, const json_t *list, const char *what, char *err, size_t n)
{
    size_t i;
    const json_t *m;
    json_array_foreach(list, i, m)
    {
        if (!json_is_object(m) || !valid_role(json_string_value(json_object_get(m, "role")))) {
            snprintf(err, n,
                     "%s[%zu]: a message is an object with a role (system, developer, "
                     "user, assistant or tool)",
                     what, i);
            return -1;
        }
        json_array_append(out, (json_t *)m);
    }
    return 0;
}

/* {"name", "description", "parameters"} or the OpenAI shape. */
static json_t *tool_of(const json_t *t, size_t i, char *err, size_t n)
{
    if (json_is_object(json_object_get(t, "function"))) {
        if (!json_string_value(json_object_get(json_object_get(t, "function"), "name"))) {
            snprintf(err, n, "tools[%zu].function.name is missing", i);
            return NULL;
        }
        return json_incref((json_t *)t);
    }
    const char *name = json_string_value(json_object_get(t, "name"));
    if (!name) {
        snprintf(err, n, "tools[%zu]: a tool needs a name", i);
        return NULL;
    }
    json_t *f = json_pack("{s:s}", "name", name);
    const json_t *d = json_object_get(t, "description");
    const json_t *p = json_object_get(t, "parameters");
    if (json_is_string(d)) json_object_set(f, "description", (json_t *)d);
    json_object_set(f, "parameters",
                    json_is_object(p) ? (json_t *)p
                                      : json_pack("{s:s,s:{}}", "type", "object", "properties"));
    if (json_is_boolean(json_object_get(t, "strict")))
        json_object_set(f, "strict", json_object_get(t, "strict"));
    return json_pack("{s:s,s:o}", "type", "function", "function", f);
}

int llm_json_mode(const json_t *args)
{
    if (json_is_object(json_object_get(args, "json_schema"))) return 2;
    return json_is_true(json_object_get(args, "json")) ? 1 : 0;
}

json_t *llm_chat_body(const json_t *args, const json_t *config, const char *model, bool stream,
                      char *err, size_t errlen)
{
    json_t *msgs = json_array();
    json_t *body = json_pack("{s:s,s:o}", "model", model, "messages", msgs);
    const json_t *given = json_object_get(args, "messages");
    const json_t *history = json_object_get(args, "history");
    const char *prompt = json_string_value(json_object_get(args, "prompt"));
    const char *system = json_string_value(arg_or_config(args, config, "system_prompt"));
    const char *first_role =
        json_string_value(json_object_get(json_array_get(given ? given : history, 0), "role"));
    bool has_system =
        first_role && (!strcmp(first_role, "system") || !strcmp(first_role, "developer"));
    if (system && *system && !has_system)
        json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "system", "content", system));
    if (add_messages(msgs, history, "history", err, errlen) < 0 ||
        add_messages(msgs, given, "messages", err, errlen) < 0)
        goto fail;
    if (prompt)
        json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "user", "content", prompt));
    if (json_array_size(msgs) == 0 ||
        !strcmp(json_string_value(
                    json_object_get(json_array_get(msgs, json_array_size(msgs) - 1), "role"))
                    ?: "",
                "system")) {
        snprintf(err, errlen, "nothing to answer: give messages, or a prompt");
        goto fail;
    }
    const json_t *t = arg_or_config(args, config, "temperature");
    if (json_is_number(t)) json_object_set(body, "temperature", (json_t *)t);
    const json_t *mt = arg_or_config(args, config, "max_tokens");
    if (json_is_integer(mt)) {
        const char *key = json_string_value(json_object_get(config, "max_tokens_param"));
        json_object_set(body, key ? key : "max_tokens", (json_t *)mt);
    }
    const json_t *stop = json_object_get(args, "stop");
    if (json_is_string(stop) || json_is_array(stop)) json_object_set(body, "stop", (json_t *)stop);
    for (const char *const *k = (const char *const[]){"seed", "top_p", "user", "presence_penalty",
                                                      "frequency_penalty", NULL};
         *k; k++) {
        const json_t *v = json_object_get(args, *k);
        if (v && !json_is_null(v)) json_object_set(body, *k, (json_t *)v);
    }
    int jm = llm_json_mode(args);
    if (jm == 1) {
        json_object_set_new(body, "response_format", json_pack("{s:s}", "type", "json_object"));
    } else if (jm == 2) {
        const json_t *js = json_object_get(args, "json_schema");
        const json_t *schema = json_object_get(js, "schema");
        if (!json_is_object(schema)) {
            snprintf(err, errlen, "json_schema.schema must be a JSON Schema object");
            goto fail;
        }
        json_t *strict = json_object_get(js, "strict");
        json_object_set_new(
            body, "response_format",
            json_pack("{s:s,s:{s:s,s:O,s:b}}", "type", "json_schema", "json_schema", "name",
                      json_string_value(json_object_get(js, "name")) ?: "answer", "schema", schema,
                      "strict", strict ? json_is_true(strict) : 1));
    }
    const json_t *tools = json_object_get(args, "tools");
    if (json_array_size(tools)) {
        json_t *tl = json_array();
        json_object_set_new(body, "tools", tl);
        size_t i;
        const json_t *tool;
        json_array_foreach(tools, i, tool)
        {
            json_t *x = tool_of(tool, i, err, errlen);
            if (!x) goto fail;
            json_array_append_new(tl, x);
        }
        const json_t *choice = json_object_get(args, "tool_choice");
        if (json_is_string(choice) && strcmp(json_string_value(choice), "auto") &&
            strcmp(json_string_value(choice), "none") &&
            strcmp(json_string_value(choice), "required"))
            json_object_set_new(
                body, "tool_choice",
                json_pack("{s:s,s:{s:O}}", "type", "function", "function", "name", choice));
        else if (choice)
            json_object_set(body, "tool_choice", (json_t *)choice);
    }
    const json_t *extra = json_object_get(config, "extra_body");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)extra, key, v)
    {
        if (!json_object_get(body, key)) json_object_set(body, key, v);
    }
    if (stream) {
        json_object_set_new(body, "stream", json_true());
        if (!json_is_false(json_object_get(config, "include_usage")))
            json_object_set_new(body, "stream_options", json_pack("{s:b}", "include_usage", 1));
    }
    return body;
fail:
    json_decref(body);
    return NULL;
}

char **llm_headers(const json_t *config, const char *api_key, bool stream)
{
    size_t n = 0, cap = 8 + json_object_size(json_object_get(config, "headers"));
    char **h = calloc(cap + 1, sizeof(char *));
    if (!h) return NULL;
    if (asprintf(&h[n], "Content-Type: application/json") > 0) n++;
    if (asprintf(&h[n], "Accept: %s", stream ? "text/event-stream" : "application/json") > 0) n++;
    if (api_key && *api_key && asprintf(&h[n], "Authorization: Bearer %s", api_key) > 0) n++;
    const json_t * or = json_object_get(config, "openrouter");
    const char *referer = json_string_value(json_object_get(or, "referer"));
    const char *title = json_string_value(json_object_get(or, "title"));
    if (referer && asprintf(&h[n], "HTTP-Referer: %s", referer) > 0) n++;
    if (title && asprintf(&h[n], "X-Title: %s", title) > 0) n++;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)json_object_get(config, "headers"), k, v)
    {
        if (n < cap && json_is_string(v) && asprintf(&h[n], "%s: %s", k, json_string_value(v)) > 0)
            n++;
    }
    h[n] = NULL;
    return h;
}

void llm_headers_free(char **h)
{
    for (char **p = h; p && *p; p++) {
        memset(*p, 0, strlen(*p)); /* one holds the key */
        free(*p);
    }
    free(h);
}

char *llm_url(const json_t *config, const char *path)
{
    const char *base = json_string_value(json_object_get(config, "base_url"));
    size_t bl = base ? strlen(base) : 0;
    while (bl && base[bl - 1] == '/')
        bl--;
    char *u = NULL;
    if (asprintf(&u, "%.*s/%s", (int)bl, base ? base : "", path) < 0) return NULL;
    return u;
}

const char *llm_code_for_status(int status)
{
    if (status == 401 || status == 403) return "auth";
    if (status == 429) return "rate_limited";
    if (status == 408 || status == 504 || status == 524) return "timeout";
    if (status == 400 || status == 404 || status == 413 || status == 422) return "invalid_request";
    return "provider_error"; /* 402 (no credits), 5xx, anything unexpected */
}

const char *llm_code_for_broker(const char *c)
{
    if (!c) return "provider_error";
    if (!strcmp(c, "refused")) return "refused";
    if (!strcmp(c, "timeout")) return "timeout";
    if (!strcmp(c, "circuit_open")) return "circuit_open";
    if (!strcmp(c, "too_large")) return "bad_response";
    if (!strcmp(c, "busy")) return "rate_limited";
    if (!strcmp(c, "invalid")) return "invalid_request";
    return "provider_error"; /* connect, network, tls, redirects */
}

const char *llm_code_for_error(const json_t *error)
{
    const json_t *code = json_object_get(error, "code");
    if (json_is_integer(code)) return llm_code_for_status((int)json_integer_value(code));
    const char *s = json_string_value(code);
    const char *type = json_string_value(json_object_get(error, "type"));
    if ((s && strstr(s, "rate_limit")) || (type && strstr(type, "rate_limit")))
        return "rate_limited";
    if (s && (strstr(s, "api_key") || strstr(s, "auth"))) return "auth";
    return "provider_error";
}

/* Replace control bytes and invalid UTF-8 (a cut sequence included) by '?'. */
static void sanitize(char *s)
{
    size_t n = strlen(s), i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xE0) == 0xC0 ? 2
                     : (c & 0xF0) == 0xE0 ? 3
                     : (c & 0xF8) == 0xF0 ? 4
                                          : 0;
        bool ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++)
            ok = ((unsigned char)s[i + k] & 0xC0) == 0x80;
        if (!ok || c < 0x20) {
            s[i++] = '?';
            continue;
        }
        i += len;
    }
}

void llm_error_message(const char *body, size_t len, const json_t *error, char *out, size_t n)
{
    json_t *o = NULL;
    if (!error && body && len) {
        o = json_loadb(body, len, 0, NULL);
        error = json_object_get(o, "error");
    }
    const char *m = json_string_value(json_object_get(error, "message"));
    if (!m && json_is_string(error)) m = json_string_value(error);
    if (m)
        snprintf(out, n, "%s", m);
    else if (body && len)
        snprintf(out, n, "%.*s", (int)(len < 200 ? len : 200), body);
    else
        snprintf(out, n, "no details");
    sanitize(out);
    json_decref(o);
}
