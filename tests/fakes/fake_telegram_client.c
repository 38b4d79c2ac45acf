#include "fake_telegram_client.h"

#include "../support/th.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *ftg_call(const fake_proc *f, const char *method, const char *path, const char *body)
{
    th_host x = {.port = f->port};
    json_t *o = NULL;
    int st = th_http(&x, method, path, body, "", &o);
    if (st != 200) fail_msg("%s %s: %d", method, path, st);
    return o;
}

void ftg_say(const fake_proc *f, long long chat, const char *text)
{
    json_t *b = json_pack("{s:I,s:s}", "chat_id", (json_int_t)chat, "text", text);
    char *s = json_dumps(b, 0);
    json_decref(ftg_call(f, "POST", "/_fake/text", s));
    free(s);
    json_decref(b);
}

json_t *ftg_calls_to(const fake_proc *f, long long chat)
{
    char path[100];
    snprintf(path, sizeof(path), "/_fake/sent?chat_id=%lld", chat);
    json_t *o = ftg_call(f, "GET", path, NULL);
    json_t *out = json_incref(json_object_get(o, "sent"));
    json_decref(o);
    return out;
}

/* sendMessage calls to chat (their text alone when texts), once at least n. */
static json_t *wait_messages(const fake_proc *f, long long chat, size_t n, bool texts)
{
    long long deadline = th_now_ms() + 30000;
    for (;;) {
        json_t *calls = ftg_calls_to(f, chat), *out = json_array();
        size_t i;
        json_t *c;
        json_array_foreach(calls, i, c)
        {
            if (!strcmp(json_string_value(json_object_get(c, "method")) ?: "", "sendMessage"))
                json_array_append(out, texts ? th_get(c, "params.text") : c);
        }
        json_decref(calls);
        if (json_array_size(out) >= n) return out;
        if (th_now_ms() > deadline) {
            char *d = json_dumps(out, JSON_COMPACT);
            fail_msg("chat %lld: %zu of %zu messages after 30 s: %s", chat, json_array_size(out), n,
                     d);
        }
        json_decref(out);
        th_sleep_ms(50);
    }
}

json_t *ftg_wait_sent(const fake_proc *f, long long chat, size_t n)
{
    return wait_messages(f, chat, n, false);
}

json_t *ftg_wait_texts(const fake_proc *f, long long chat, size_t n)
{
    return wait_messages(f, chat, n, true);
}

const char *ftg_text_of(const json_t *sent, size_t i)
{
    return json_string_value(th_get((json_t *)json_array_get(sent, i), "params.text"));
}

long long ftg_stat(const fake_proc *f, const char *name)
{
    json_t *o = ftg_call(f, "GET", "/_fake/stats", NULL);
    long long v = json_integer_value(json_object_get(o, name));
    json_decref(o);
    return v;
}
