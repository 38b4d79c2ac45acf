#include "th.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int th_chat_http(th_host *h, const char *method, const char *path, const char *body,
                 const char *token, json_t **out)
{
    char auth[400];
    const char *hs[2] = {0};
    if (token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        hs[0] = auth;
    }
    char *rb = NULL, *rh = NULL;
    int st = th_http_raw(h, method, path, body ? "application/json" : NULL, body,
                         body ? strlen(body) : 0, hs, &rh, &rb);
    if (out) *out = rb ? json_loads(rb, 0, NULL) : NULL;
    free(rh);
    free(rb);
    return st;
}

int th_chat_session(th_host *h, const char *widget, char *tok, size_t n)
{
    char path[200];
    snprintf(path, sizeof(path), "/chat/%s/sessions", widget);
    json_t *o = NULL;
    int st = th_chat_http(h, "POST", path, "{}", NULL, &o);
    snprintf(tok, n, "%s", json_string_value(json_object_get(o, "token")) ?: "");
    json_decref(o);
    return st;
}

int th_chat_say(th_host *h, const char *widget, const char *tok, const char *text)
{
    char path[200];
    snprintf(path, sizeof(path), "/chat/%s/messages", widget);
    json_t *b = json_pack("{s:s}", "text", text);
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    int st = th_chat_http(h, "POST", path, body, tok, NULL);
    free(body);
    return st;
}

bool th_chat_has_text(const json_t *msgs, const char *want)
{
    size_t i;
    const json_t *m;
    json_array_foreach(msgs, i, m)
    {
        const char *t = json_string_value(json_object_get(m, "text"));
        if (t && !strcmp(t, want)) return true;
    }
    return false;
}

json_t *th_chat_history(th_host *h, const char *widget, const char *tok, const char *want)
{
    char path[200];
    snprintf(path, sizeof(path), "/chat/%s/history", widget);
    long long deadline = th_now_ms() + 30000;
    for (;;) {
        json_t *o = NULL;
        int st = th_chat_http(h, "GET", path, NULL, tok, &o);
        json_t *msgs = json_incref(json_object_get(o, "messages"));
        json_decref(o);
        if (st == 200 && th_chat_has_text(msgs, want)) return msgs;
        json_decref(msgs);
        if (th_now_ms() > deadline) {
            fprintf(stderr, "th_chat_history: the web chat never showed \"%s\"\n", want);
            return NULL;
        }
        th_sleep_ms(50);
    }
}

json_t *th_chat_conversation(th_host *h, const char *widget, const char *tok)
{
    char path[200];
    snprintf(path, sizeof(path), "/chat/%s/sessions", widget);
    json_t *o = NULL;
    if (th_chat_http(h, "POST", path, "{}", tok, &o) != 200) {
        json_decref(o);
        return NULL;
    }
    snprintf(path, sizeof(path), "/api/v1/conversations/%s",
             json_string_value(json_object_get(o, "conversation_id")) ?: "");
    json_decref(o);
    if (th_http(h, "GET", path, NULL, NULL, &o) != 200) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int th_make_widget(th_host *h, const char *name, const char *agent, char *id, size_t n)
{
    json_t *b = json_pack("{s:s,s:s}", "name", name, "agent_id", agent), *o = NULL;
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    int st = th_http(h, "POST", "/api/v1/widgets", body, NULL, &o);
    free(body);
    snprintf(id, n, "%s", json_string_value(json_object_get(o, "id")) ?: "");
    json_decref(o);
    return st;
}
