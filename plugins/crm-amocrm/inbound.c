/*
 * inbound.c - what reaches the instance at /hooks/INSTANCE/...:
 *  - GET  .../oauth?code=...&state=...  the OAuth redirect: the state must be
 *    the last oauth.url's, then the code is exchanged for tokens;
 *  - POST .../amocrm/TOKEN  amoCRM's webhooks (x-www-form-urlencoded, with
 *    bracketed keys). amoCRM signs nothing, so the URL carries a secret
 *    (the instance's secret webhook_token, compared in constant time) and
 *    the account's id, when the config names it, must match. Lead status
 *    changes are published on crm.lead.status_changed and added notes on
 *    crm.note.added (one event each, keyed by the lead or entity id), then
 *    the delivery is acked; a refused one is logged and acked (amoCRM
 *    would only send it again).
 */
#include "amo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EVENTS 200 /* in one delivery */

typedef struct hook {
    amo *a;
    const ah_event *ev;
} hook;

static void settle(amo *a, const ah_event *ev, ah_log_level level, const char *msg)
{
    json_t *f = json_pack("{s:s}", "path", "hook");
    amo_log(a, level, f, msg);
    json_decref(f);
    a->host->ack(a->ctx, ev);
}

/* ---- the OAuth redirect ---------------------------------------------------------------- */

static void authorised(amo *a, bool ok, const char *why, void *ud)
{
    const ah_event *ev = ud;
    if (ok) a->host->log(a->ctx, AH_LOG_INFO, "amoCRM authorised this instance");
    settle(a, ev, ok ? AH_LOG_INFO : AH_LOG_WARN, ok ? "OAuth code exchanged" : why);
}

static void on_redirect(amo *a, const ah_event *ev, const json_t *q)
{
    const char *code = json_string_value(json_object_get(q, "code"));
    const char *state = json_string_value(json_object_get(q, "state"));
    if (!code || !state) {
        settle(a, ev, AH_LOG_WARN, "OAuth redirect without code and state (access denied?)");
        return;
    }
    amo_auth_exchange(a, code, state, authorised, (void *)ev);
}

/* ---- amoCRM's webhooks ------------------------------------------------------------------ */

static void published(ah_ctx *ctx, int status, const uint64_t *offsets, size_t n, void *ud)
{
    (void)ctx;
    (void)offsets;
    hook *h = ud;
    if (status) {
        h->a->host->nack(h->a->ctx, h->ev, ah_strerror(status), 0);
    } else {
        json_t *f = json_pack("{s:s,s:i}", "path", "webhook", "events", (int)n);
        amo_log(h->a, AH_LOG_INFO, f, "amoCRM webhook published");
        json_decref(f);
        h->a->host->ack(h->a->ctx, h->ev);
    }
    free(h);
}

static json_t *as_int(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? json_integer(strtoll(s, NULL, 10)) : json_null();
}

/* The events of one form: status changes and notes. New array. */
static json_t *events_of(const json_t *form)
{
    json_t *out = json_array();
    const char *k, *ent;
    const json_t *v, *per;
    json_object_foreach((json_t *)json_object_get(json_object_get(form, "leads"), "status"), k, v)
    {
        json_array_append_new(out, json_pack("{s:s,s:{s:o,s:o,s:o,s:o,s:o}}", "topic",
                                             "crm.lead.status_changed", "body", "lead_id",
                                             as_int(v, "id"), "status_id", as_int(v, "status_id"),
                                             "pipeline_id", as_int(v, "pipeline_id"),
                                             "old_status_id", as_int(v, "old_status_id"),
                                             "old_pipeline_id", as_int(v, "old_pipeline_id")));
    }
    json_object_foreach((json_t *)form, ent, per)
    {
        json_object_foreach((json_t *)json_object_get(per, "note"), k, v)
        {
            const json_t *n = json_object_get(v, "note");
            if (!n) n = v;
            const json_t *eid = json_object_get(n, "element_id");
            json_array_append_new(
                out,
                json_pack("{s:s,s:{s:s,s:o,s:o,s:o,s:O*}}", "topic", "crm.note.added", "body",
                          "entity_type", ent, "entity_id",
                          as_int(n, eid ? "element_id" : "entity_id"), "note_id", as_int(n, "id"),
                          "note_type", as_int(n, "note_type"), "text", json_object_get(n, "text")));
        }
    }
    return out;
}

static void on_webhook(amo *a, const ah_event *ev, const char *token, const json_t *b)
{
    const char *want = a->host->secret(a->ctx, "webhook_token");
    if (!want || !*want || !amo_same(token, want)) {
        settle(a, ev, AH_LOG_WARN, "amoCRM webhook refused: wrong or unset webhook_token");
        return;
    }
    const char *body = json_string_value(json_object_get(b, "body"));
    json_t *form = body ? amo_form_parse(body, strlen(body)) : NULL;
    json_int_t account = json_integer_value(json_object_get(a->config, "account_id"));
    const char *got = json_string_value(json_object_get(json_object_get(form, "account"), "id"));
    if (!form || (account && (!got || strtoll(got, NULL, 10) != account))) {
        json_decref(form);
        settle(a, ev, AH_LOG_WARN, "amoCRM webhook refused: not a form of this account");
        return;
    }
    json_t *evs = events_of(form);
    json_decref(form);
    size_t n = json_array_size(evs);
    if (!n || n > MAX_EVENTS) {
        json_decref(evs);
        settle(a, ev, AH_LOG_INFO, "amoCRM webhook with no event this plugin publishes");
        return;
    }
    ah_publish_item items[MAX_EVENTS];
    ah_publish_opts opts[MAX_EVENTS];
    char keys[MAX_EVENTS][24];
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(evs, i);
        const json_t *body_i = json_object_get(e, "body");
        json_int_t id = json_integer_value(json_object_get(body_i, "lead_id"));
        if (!id) id = json_integer_value(json_object_get(body_i, "entity_id"));
        snprintf(keys[i], sizeof(keys[i]), "%lld", (long long)id);
        opts[i] = (ah_publish_opts){.size = sizeof(opts[i]), .key = keys[i]};
        items[i] = (ah_publish_item){.topic = json_string_value(json_object_get(e, "topic")),
                                     .body = body_i,
                                     .opts = &opts[i]};
    }
    hook *h = calloc(1, sizeof(*h));
    if (h) *h = (hook){.a = a, .ev = ev};
    if (!h || a->host->publish_batch(a->ctx, items, n, published, h)) {
        free(h);
        a->host->nack(a->ctx, ev, "publish refused", 1000);
    }
    json_decref(evs);
}

void amo_on_hook(amo *a, const ah_event *ev)
{
    const json_t *b = ev->body;
    const char *path = json_string_value(json_object_get(b, "path"));
    if (path && !strcmp(path, "oauth")) {
        on_redirect(a, ev, json_object_get(b, "query"));
    } else if (path && !strncmp(path, "amocrm/", 7)) {
        on_webhook(a, ev, path + 7, b);
    } else {
        settle(a, ev, AH_LOG_WARN, "a request to an unknown hook path was dropped");
    }
}
