/*
 * crm-amocrm - amoCRM (API v4), one instance per account: contacts found
 * by phone or e-mail and created, leads created and moved through the
 * pipelines, notes and tasks, from scenario steps (crm.*) or actions;
 * amoCRM's webhooks published as events; linked contacts' profile changes
 * written back (sync.c). See docs/plugins/amocrm.md.
 *
 * This file: start-up, the action dispatch, health, the log record.
 */
#include "amo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static amo A;

int64_t amo_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t amo_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool amo_same(const char *x, const char *y)
{
    size_t n = strlen(x);
    if (n != strlen(y)) return false;
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(x[i] ^ y[i]);
    return d == 0;
}

void amo_log(amo *a, ah_log_level level, const json_t *fields, const char *msg)
{
    if (AH_HOST_HAS(a->host, log_record))
        a->host->log_record(a->ctx, "crm_integration", level, fields, msg);
}

static int amo_init(ah_ctx *ctx, const ah_host *host, const json_t *config)
{
    amo *a = &A;
    *a = (amo){.host = host, .ctx = ctx, .config = config};
    host->set_userdata(ctx, a);
    snprintf(a->instance, sizeof(a->instance), "%s", host->instance_id(ctx));
    if (!AH_HOST_HAS(host, publish_batch)) {
        host->log(ctx, AH_LOG_ERROR, "this host is too old: crm-amocrm needs ABI 1.2");
        return AH_EUNSUPPORTED;
    }
    const char *base = json_string_value(json_object_get(config, "base_url"));
    if (!base) {
        host->log(ctx, AH_LOG_ERROR,
                  "config.base_url is required: the account's address, "
                  "https://SUBDOMAIN.amocrm.ru (or .kommo.com)");
        return AH_EINVAL;
    }
    snprintf(a->base, sizeof(a->base), "%s", base);
    size_t n = strlen(a->base);
    while (n && a->base[n - 1] == '/')
        a->base[--n] = 0;
    const char *cc = json_string_value(json_object_get(config, "default_country_code"));
    snprintf(a->country, sizeof(a->country), "%s", cc ? cc : "7");
    a->debug = json_is_true(json_object_get(config, "debug"));
    json_int_t rps = json_integer_value(json_object_get(config, "rate_per_second"));
    a->rps = rps > 0 && rps <= AMO_MAX_RPS ? (int)rps : 7;
    const json_t *deb = json_object_get(config, "sync_debounce_ms");
    a->sync_debounce_ms = json_is_integer(deb) ? (int)json_integer_value(deb) : 2000;
    if (json_is_false(json_object_get(config, "sync"))) a->sync_debounce_ms = -1;
    a->long_lived = host->secret(ctx, "long_lived_token");
    if (a->long_lived && !*a->long_lived) a->long_lived = NULL;
    a->client_id = host->secret(ctx, "client_id");
    a->client_secret = host->secret(ctx, "client_secret");
    if (!a->long_lived && (!a->client_id || !a->client_secret)) {
        host->log(ctx, AH_LOG_ERROR,
                  "no credentials: set the secrets client_id and client_secret (OAuth), or "
                  "long_lived_token, with `agenthost secret set %s NAME`",
                  a->instance);
        return AH_EINVAL;
    }
    amo_auth_start(a);
    amo_sync_start(a);
    return AH_OK;
}

static void amo_on_event(ah_ctx *ctx, const ah_event *ev)
{
    if (!strncmp(ev->topic, "hooks.", 6)) {
        amo_on_hook(&A, ev);
        return;
    }
    if (!strcmp(ev->topic, "platform.contact")) {
        amo_sync_event(&A, ev);
        return;
    }
    A.host->ack(ctx, ev);
}

static void exchanged(amo *a, bool ok, const char *why, void *ud)
{
    ah_call *call = ud;
    if (ok)
        a->host->reply(call, amo_auth_status(a));
    else
        a->host->reply_error(call, "oauth_refused", why);
}

static void amo_call(ah_ctx *ctx, ah_call *call, const char *action, const json_t *args)
{
    (void)ctx;
    amo *a = &A;
    if (!strcmp(action, "status")) {
        json_t *s = amo_auth_status(a);
        json_object_set_new(s, "queued", json_integer((json_int_t)a->queued));
        json_object_set_new(s, "calls", json_integer(a->calls));
        json_object_set_new(s, "retries", json_integer(a->retries));
        json_object_set_new(s, "batched", json_integer(a->batched));
        json_object_set_new(s, "failures", json_integer(a->failures));
        json_object_set_new(s, "synced", json_integer(a->calls_synced));
        json_object_set_new(s, "sync_unchanged", json_integer(a->sync_unchanged));
        json_object_set_new(s, "rate_per_second", json_integer(a->rps));
        a->host->reply(call, s);
        return;
    }
    if (!strcmp(action, "oauth.url")) {
        char url[1000];
        amo_auth_url(a, url, sizeof(url));
        a->host->reply(call, json_pack("{s:s,s:s}", "url", url, "state", a->state));
        return;
    }
    if (!strcmp(action, "oauth.exchange")) {
        const char *code = json_string_value(json_object_get(args, "code"));
        if (!code) {
            a->host->reply_error(call, "invalid_argument", "code: required");
            return;
        }
        amo_auth_exchange(a, code, NULL, exchanged, call);
        return;
    }
    if (amo_action(a, call, action, args)) return;
    a->host->reply_error(call, "unknown_action", action);
}

static int amo_health(ah_ctx *ctx)
{
    (void)ctx;
    return A.needs_reauth ? AH_EDENIED : AH_OK;
}

static void amo_shutdown(ah_ctx *ctx)
{
    (void)ctx;
    amo *a = &A;
    a->stopping = true;
    amo_fail_all(a, "unavailable", "the instance is stopping");
    amo_sync_stop(a);
    if (a->pump_timer) a->host->timer_stop(a->ctx, a->pump_timer);
    a->pump_timer = NULL;
    amo_auth_stop(a);
    json_decref(a->pipelines);
    json_decref(a->contact_fields);
    json_decref(a->lead_fields);
    a->pipelines = a->contact_fields = a->lead_fields = NULL;
}

AH_PLUGIN(.name = "crm-amocrm", .version = "1.0.0", .init = amo_init, .on_event = amo_on_event,
          .call = amo_call, .health = amo_health, .shutdown = amo_shutdown);
