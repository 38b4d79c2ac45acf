/*
 * Triggers through the real binary: schedules refused with the field
 * named (cron, time zone, cron and at together), their next run computed
 * on save; a one-off schedule that fires once, on time, starting its
 * agent with the trigger's variables and then has no next run; a command
 * (/start with a deep-link payload) that ends the chat's open conversation
 * and starts a new one with the payload in a variable; a trigger fired
 * by hand; and webhooks (on_webhook) proved by an HMAC signature or a
 * token, mapped into variables with jq, deduplicated by Idempotency-Key,
 * refused with a wrong proof or a rotated secret; and events (on_event):
 * a jq filter and map refused at save naming the field, an event on the
 * topic starting the agent when the filter holds and not otherwise, the
 * trigger's bus consumer made with it and deleted with it (or when it is
 * disabled), and a hostile filter cut by the workers' deadline and its
 * event dead-lettered, never starting anything.
 */
#include "../support/th.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static th_host H;
static char AGENT[64];

/* The wall clock in Unix ms (th_now_ms is monotonic). */
static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *SCENARIO =
    "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": [\"en\"],"
    " \"variables\": {\"ref\": {\"type\": \"string\", \"default\": \"none\"},"
    "                 \"plan\": {\"type\": \"string\", \"default\": \"free\"},"
    "                 \"name\": {\"type\": \"string\"}},"
    " \"start\": \"hello\","
    " \"steps\": {\"hello\": {\"kind\": \"say\", \"text\": {\"en\": \"Hi ({{ vars.ref }}, {{ "
    "vars.plan }})\"},"
    "                        \"next\": \"ask\"},"
    "            \"ask\": {\"kind\": \"ask\", \"text\": {\"en\": \"Name?\"}, \"var\": \"name\", "
    "\"next\": \"bye\"},"
    "            \"bye\": {\"kind\": \"end\", \"outcome\": \"named\"}}}";

static int setup(void **s)
{
    (void)s;
    /* jq: the expression workers that run a webhook's map. */
    if (th_init(&H, "triggers") || th_install_plugin(&H, "jq") ||
        th_config(&H, "{\"engine\": {\"timer_scan_ms\": 50},"
                      " \"bus\": {\"backoff_ms\": 20, \"max_backoff_ms\": 100}}") ||
        th_start(&H, NULL, 15000) || !th_wait_state(&H, "jq-1", "ready", 15000))
        return -1;
    return th_make_agent(&H, "Greeter", SCENARIO, NULL, AGENT, sizeof(AGENT));
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    return rc ? -1 : 0;
}

/* POST a trigger (body's "%s" is the agent): the status; *out the answer. */
static int make(const char *fmt, json_t **out)
{
    char *body = NULL;
    assert_true(asprintf(&body, fmt, AGENT) > 0);
    int st = th_http(&H, "POST", "/api/v1/triggers", body, NULL, out);
    free(body);
    return st;
}

static void refused(const char *fmt, const char *field, const char *why)
{
    json_t *o = NULL;
    int st = make(fmt, &o);
    const char *f = json_string_value(th_get(o, "error.field"));
    const char *m = json_string_value(th_get(o, "error.message"));
    if (st != 422 || !f || strcmp(f, field) || !m || !strstr(m, why))
        fail_msg("%s: %d %s %s", fmt, st, f ? f : "-", m ? m : "-");
    json_decref(o);
}

static void test_bad_schedules_and_commands_are_refused_naming_the_field(void **s)
{
    (void)s;
    refused("{\"agent_id\": \"%s\", \"kind\": \"on_schedule\", \"schedule\": {\"cron\": \"0 25 * * "
            "*\"}}",
            "schedule.cron", "field 2 (hour): 25 is out of 0-23");
    refused(
        "{\"agent_id\": \"%s\", \"kind\": \"on_schedule\", \"schedule\": {\"cron\": \"0 9 * * *\","
        " \"timezone\": \"Mars/Olympus\"}}",
        "schedule.timezone", "no time zone Mars/Olympus");
    refused("{\"agent_id\": \"%s\", \"kind\": \"on_schedule\", \"schedule\": {\"cron\": \"@daily\","
            " \"at\": \"2030-01-01T00:00:00Z\"}}",
            "schedule", "cron or at, not both");
    refused(
        "{\"agent_id\": \"%s\", \"kind\": \"on_schedule\", \"schedule\": {\"at\": \"tomorrow\"}}",
        "schedule.at", "RFC 3339");
    refused("{\"agent_id\": \"%s\", \"kind\": \"on_command\"}", "command", "names its command");
    refused("{\"agent_id\": \"%s\", \"kind\": \"on_command\", \"command\": {\"name\": \"start\"}}",
            "command.name", "");
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "POST", "/api/v1/triggers",
                             "{\"agent_id\": \"agt_00000000000000000000000000\", \"kind\": "
                             "\"on_internal\"}",
                             NULL, &o),
                     422);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "agent_id");
    json_decref(o);
}

static void test_a_cron_schedule_knows_its_next_run_in_its_time_zone(void **s)
{
    (void)s;
    json_t *o = NULL;
    assert_int_equal(
        make("{\"agent_id\": \"%s\", \"kind\": \"on_schedule\", \"name\": \"Morning\","
             " \"schedule\": {\"cron\": \"0 9 * * *\", \"timezone\": \"Europe/Moscow\"}}",
             &o),
        201);
    json_int_t next = json_integer_value(json_object_get(o, "next_run_at"));
    /* 09:00 in Moscow is 06:00 UTC: a whole number of days after an epoch 06:00. */
    assert_true(next > wall_ms());
    assert_true(next - wall_ms() <= 86400000);
    assert_int_equal((next / 1000) % 86400, 6 * 3600);
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/triggers/%s",
             json_string_value(json_object_get(o, "id")));
    json_decref(o);
    /* Disabled: no next run. */
    assert_int_equal(th_http(&H, "PATCH", path, "{\"enabled\": false}", NULL, &o), 200);
    assert_true(json_is_null(json_object_get(o, "next_run_at")));
    json_decref(o);
    assert_int_equal(th_http(&H, "DELETE", path, NULL, NULL, NULL), 204);
}

static long long conversations_of_agent(void)
{
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/conversations?agent_id=%s&limit=500", AGENT);
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    long long n = (long long)json_array_size(json_object_get(o, "items"));
    json_decref(o);
    return n;
}

static void test_a_one_off_schedule_fires_once_with_its_variables(void **s)
{
    (void)s;
    long long before = conversations_of_agent();
    char at[40], *body = NULL;
    long long due = wall_ms() + 1200;
    time_t secs = (time_t)(due / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%S", &tm);
    assert_true(asprintf(&body,
                         "{\"agent_id\": \"%%s\", \"kind\": \"on_schedule\", \"name\": \"Once\","
                         " \"schedule\": {\"at\": \"%s.%03lldZ\"}, \"variables\": {\"plan\": "
                         "\"pro\"}}",
                         at, due % 1000) > 0);
    json_t *o = NULL;
    assert_int_equal(make(body, &o), 201);
    free(body);
    assert_int_equal(json_integer_value(json_object_get(o, "next_run_at")), due);
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/triggers/%s",
             json_string_value(json_object_get(o, "id")));
    json_decref(o);
    for (int i = 0; i < 100 && conversations_of_agent() == before; i++)
        th_sleep_ms(100);
    assert_int_equal(conversations_of_agent(), before + 1);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    assert_int_equal(json_integer_value(json_object_get(o, "runs")), 1);
    assert_true(json_is_null(json_object_get(o, "next_run_at")));
    assert_non_null(json_object_get(o, "last_run_at"));
    json_decref(o);
    th_sleep_ms(500); /* and never again */
    assert_int_equal(conversations_of_agent(), before + 1);
    assert_true(th_wait_file(&H, "logs/agent_launch.log", "schedule fired", 5000));
}

static void test_start_with_a_payload_restarts_the_chat_with_it(void **s)
{
    (void)s;
    json_t *o = NULL;
    assert_int_equal(
        make("{\"agent_id\": \"%s\", \"kind\": \"on_command\", \"name\": \"Deep link\","
             " \"command\": {\"name\": \"/start\", \"var\": \"ref\"},"
             " \"variables\": {\"plan\": \"trial\"}}",
             &o),
        201);
    json_decref(o);
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/agents/%s/messages", AGENT);
    assert_int_equal(
        th_http(&H, "POST", path, "{\"user\": \"ivan\", \"text\": \"hello\"}", NULL, &o), 200);
    char first[64];
    snprintf(first, sizeof(first), "%s", json_string_value(json_object_get(o, "conversation_id")));
    assert_string_equal(json_string_value(th_get(o, "messages.0.text")), "Hi (none, free)");
    json_decref(o);
    assert_int_equal(th_http(&H, "POST", path,
                             "{\"user\": \"ivan\", \"text\": \"/start@greeter_bot promo42\"}", NULL,
                             &o),
                     200);
    assert_string_not_equal(json_string_value(json_object_get(o, "conversation_id")), first);
    assert_string_equal(json_string_value(th_get(o, "messages.0.text")), "Hi (promo42, trial)");
    json_decref(o);
    snprintf(path, sizeof(path), "/api/v1/conversations/%s", first);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "ended");
    assert_string_equal(json_string_value(json_object_get(o, "outcome")), "restarted");
    json_decref(o);
    /* Another command is just text to the question waiting. */
    snprintf(path, sizeof(path), "/api/v1/agents/%s/messages", AGENT);
    assert_int_equal(
        th_http(&H, "POST", path, "{\"user\": \"ivan\", \"text\": \"/help\"}", NULL, &o), 200);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "ended");
    json_decref(o);
}

static void test_a_trigger_fired_by_hand_starts_its_agent(void **s)
{
    (void)s;
    json_t *o = NULL;
    assert_int_equal(
        make("{\"agent_id\": \"%s\", \"kind\": \"on_internal\", \"name\": \"CRM hook\","
             " \"variables\": {\"ref\": \"crm\"}}",
             &o),
        201);
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/triggers/%s/fire",
             json_string_value(json_object_get(o, "id")));
    json_decref(o);
    assert_int_equal(th_http(&H, "POST", path, "{\"variables\": {\"plan\": \"vip\"}}", NULL, &o),
                     201);
    assert_string_equal(json_string_value(th_get(o, "messages.0.text")), "Hi (crm, vip)");
    json_decref(o);
    assert_int_equal(
        th_http(&H, "POST", "/api/v1/triggers/trg_00000000000000000000000000/fire", NULL, NULL, &o),
        404);
    json_decref(o);
}

/* The newest conversation of the agent: a new reference. */
static json_t *newest_conversation(void)
{
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/conversations?agent_id=%s&sort=-started_at&limit=1",
             AGENT);
    json_t *o = NULL;
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    snprintf(path, sizeof(path), "/api/v1/conversations/%s",
             json_string_value(th_get(o, "items.0.id")));
    json_decref(o);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
    return o;
}

/* POST body to a trigger's webhook with extra headers: the status. */
static int hook(const char *path, const char *body, const char *h1, const char *h2, json_t **out)
{
    const char *hs[] = {h1, h2, NULL};
    char *rh = NULL, *rb = NULL;
    int st = th_http_raw(&H, "POST", path, "application/json", body, strlen(body), h1 ? hs : NULL,
                         &rh, &rb);
    if (out) *out = rb ? json_loads(rb, 0, NULL) : NULL;
    free(rh);
    free(rb);
    return st;
}

/* "X-Agenthost-Signature: sha256=<hex>" of body keyed with secret. */
static void sign(const char *secret, const char *body, char *out, size_t len)
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, strlen(body));
    crypto_auth_hmacsha256_final(&st, mac);
    char hex[2 * sizeof(mac) + 1];
    sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
    snprintf(out, len, "X-Agenthost-Signature: sha256=%s", hex);
}

static void test_a_signed_webhook_starts_its_agent_with_mapped_variables(void **s)
{
    (void)s;
    json_t *o = NULL;
    assert_int_equal(
        make("{\"agent_id\": \"%s\", \"kind\": \"on_webhook\", \"name\": \"Site form\","
             " \"variables\": {\"plan\": \"free\"},"
             " \"webhook\": {\"map\": \"{ref: .body.lead.source, plan: .query.plan}\"}}",
             &o),
        201);
    char cfg[200], path[200], rotate[220];
    snprintf(cfg, sizeof(cfg), "/api/v1/triggers/%s/webhook",
             json_string_value(json_object_get(o, "id")));
    snprintf(path, sizeof(path), "%s?plan=gold", cfg);
    snprintf(rotate, sizeof(rotate), "%s/rotate", cfg);
    json_decref(o);
    assert_int_equal(th_http(&H, "GET", cfg, NULL, NULL, &o), 200);
    char secret[80];
    snprintf(secret, sizeof(secret), "%s", json_string_value(json_object_get(o, "secret")));
    assert_int_equal(strlen(secret), 64);
    assert_string_equal(json_string_value(json_object_get(o, "header")), "X-Agenthost-Signature");
    json_decref(o);
    /* The configuration is the editor's: no token, no secret. */
    assert_int_equal(th_http(&H, "GET", cfg, NULL, "", &o), 401);
    json_decref(o);

    const char *body = "{\"lead\": {\"source\": \"web\"}}";
    char sig[120];
    sign(secret, body, sig, sizeof(sig));
    long long before = conversations_of_agent();
    assert_int_equal(hook(path, body, NULL, NULL, NULL), 403);
    assert_int_equal(hook(path, "{\"lead\": {\"source\": \"forged\"}}", sig, NULL, NULL), 403);
    assert_int_equal(conversations_of_agent(), before);
    assert_true(th_wait_file(&H, "logs/security.log", "webhook_proof_mismatch", 5000));

    assert_int_equal(hook(path, body, sig, "Idempotency-Key: form-1", &o), 202);
    assert_false(json_is_true(json_object_get(o, "duplicate")));
    json_decref(o);
    for (int i = 0; i < 100 && conversations_of_agent() == before; i++)
        th_sleep_ms(50);
    assert_int_equal(conversations_of_agent(), before + 1);
    o = newest_conversation();
    assert_string_equal(json_string_value(th_get(o, "variables.ref")), "web");
    assert_string_equal(json_string_value(th_get(o, "variables.plan")), "gold");
    json_decref(o);
    assert_true(th_wait_file(&H, "logs/agent_launch.log", "on_webhook", 5000));
    /* The sender's retry with the same key starts nothing new. */
    assert_int_equal(hook(path, body, sig, "Idempotency-Key: form-1", &o), 202);
    assert_true(json_is_true(json_object_get(o, "duplicate")));
    json_decref(o);

    /* A rotated secret: the old signature stops working at once. */
    assert_int_equal(th_http(&H, "POST", rotate, NULL, NULL, &o), 200);
    assert_string_not_equal(json_string_value(json_object_get(o, "secret")), secret);
    snprintf(secret, sizeof(secret), "%s", json_string_value(json_object_get(o, "secret")));
    json_decref(o);
    assert_int_equal(hook(path, body, sig, NULL, NULL), 403);
    sign(secret, body, sig, sizeof(sig));
    assert_int_equal(hook(path, body, sig, NULL, NULL), 202);
    /* A map that gives no object is the trigger's fault, named. */
    snprintf(path, sizeof(path), "/api/v1/triggers/%s", cfg + strlen("/api/v1/triggers/"));
    *strrchr(path, '/') = 0;
    assert_int_equal(
        th_http(&H, "PATCH", path, "{\"webhook\": {\"map\": \".body.lead.source\"}}", NULL, &o),
        200);
    json_decref(o);
    assert_int_equal(hook(cfg, body, sig, NULL, &o), 422);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "webhook.map");
    json_decref(o);
}

static void test_a_token_webhook_takes_its_body_as_variables(void **s)
{
    (void)s;
    json_t *o = NULL;
    assert_int_equal(make("{\"agent_id\": \"%s\", \"kind\": \"on_webhook\", \"name\": \"Token\","
                          " \"webhook\": {\"auth\": \"token\"}}",
                          &o),
                     201);
    char cfg[200], tok[120];
    snprintf(cfg, sizeof(cfg), "/api/v1/triggers/%s/webhook",
             json_string_value(json_object_get(o, "id")));
    json_decref(o);
    assert_int_equal(th_http(&H, "GET", cfg, NULL, NULL, &o), 200);
    snprintf(tok, sizeof(tok), "X-Agenthost-Token: %s",
             json_string_value(json_object_get(o, "secret")));
    json_decref(o);
    long long before = conversations_of_agent();
    assert_int_equal(hook(cfg, "{\"ref\": \"zap\"}", "X-Agenthost-Token: nope", NULL, NULL), 403);
    assert_int_equal(hook(cfg, "{\"ref\": \"zap\"}", tok, NULL, NULL), 202);
    for (int i = 0; i < 100 && conversations_of_agent() == before; i++)
        th_sleep_ms(50);
    o = newest_conversation();
    assert_string_equal(json_string_value(th_get(o, "variables.ref")), "zap");
    json_decref(o);
    /* Not a webhook trigger, or none: 404 alike. */
    assert_int_equal(
        hook("/api/v1/triggers/trg_00000000000000000000000000/webhook", "{}", tok, NULL, NULL),
        404);
}

/* ---- on_event ------------------------------------------------------------------------------ */

/* The consumer named, as GET /api/v1/consumers lists it (a new reference),
 * or NULL. */
static json_t *consumer(const char *name)
{
    json_t *o = NULL, *v, *found = NULL;
    assert_int_equal(th_http(&H, "GET", "/api/v1/consumers", NULL, NULL, &o), 200);
    size_t i;
    json_array_foreach(json_object_get(o, "consumers"), i, v)
    {
        if (!strcmp(json_string_value(json_object_get(v, "name")), name)) found = json_incref(v);
    }
    json_decref(o);
    return found;
}

/* Wait until the consumer is there (want) or gone (!want). */
static void wait_consumer(const char *name, bool want)
{
    bool there = !want;
    for (int i = 0; i < 100 && there != want; i++) {
        json_t *c = consumer(name);
        there = c != NULL;
        json_decref(c);
        if (there != want) th_sleep_ms(50);
    }
    if (there != want) fail_msg("consumer %s %s", name, want ? "never came" : "never went");
}

/* Wait until the consumer has settled everything on its topic (lag 0). */
static void wait_settled(const char *name)
{
    json_int_t lag = -1;
    for (int i = 0; i < 200 && lag != 0; i++) {
        json_t *c = consumer(name);
        lag = c ? json_integer_value(json_object_get(c, "lag")) : -1;
        json_decref(c);
        if (lag) th_sleep_ms(50);
    }
    assert_int_equal(lag, 0);
}

static void publish(const char *topic, const char *body)
{
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/topics/%s/events", topic);
    assert_int_equal(th_http(&H, "POST", path, body, NULL, NULL), 201);
}

/* POST an on_event trigger (fmt as make's): its path and its consumer's
 * name (200 bytes each), once the consumer is there. */
static void make_event_trigger(const char *fmt, char *path, char *name)
{
    json_t *o = NULL;
    assert_int_equal(make(fmt, &o), 201);
    const char *id = json_string_value(json_object_get(o, "id"));
    snprintf(path, 200, "/api/v1/triggers/%s", id);
    snprintf(name, 200, "trigger:%s", id);
    json_decref(o);
    wait_consumer(name, true); /* made with the trigger */
}

static void test_bad_event_triggers_are_refused_naming_the_field(void **s)
{
    (void)s;
    refused("{\"agent_id\": \"%s\", \"kind\": \"on_event\"}", "event", "names its topic");
    refused("{\"agent_id\": \"%s\", \"kind\": \"on_event\", \"event\": {\"topic\": \"crm.>\"}}",
            "event.topic", "");
    refused("{\"agent_id\": \"%s\", \"kind\": \"on_event\", \"event\": {\"topic\": "
            "\"engine.start\"}}",
            "event.topic", "each start would start another");
    refused("{\"agent_id\": \"%s\", \"kind\": \"on_event\", \"event\": {\"topic\": \"crm.lead\","
            " \"filter\": \".body.status ==\"}}",
            "event.filter", "");
    refused("{\"agent_id\": \"%s\", \"kind\": \"on_event\", \"event\": {\"topic\": \"crm.lead\","
            " \"filter\": \"true\", \"map\": \"{ref: }\"}}",
            "event.map", "");
}

static void test_an_event_trigger_starts_its_agent_only_when_its_filter_holds(void **s)
{
    (void)s;
    char path[200], name[200];
    make_event_trigger(
        "{\"agent_id\": \"%s\", \"kind\": \"on_event\", \"name\": \"Won deals\","
        " \"variables\": {\"plan\": \"free\"},"
        " \"event\": {\"topic\": \"crm.deal\", \"filter\": \".body.status == \\\"won\\\"\","
        " \"map\": \"{ref: .body.source, plan: .body.plan}\"}}",
        path, name);
    long long before = conversations_of_agent();
    publish("crm.deal", "{\"body\": {\"status\": \"lost\", \"source\": \"cold\"}}");
    wait_settled(name); /* filtered out and acknowledged */
    assert_int_equal(conversations_of_agent(), before);
    publish("crm.deal",
            "{\"body\": {\"status\": \"won\", \"source\": \"fair\", \"plan\": \"gold\"}}");
    for (int i = 0; i < 100 && conversations_of_agent() == before; i++)
        th_sleep_ms(50);
    assert_int_equal(conversations_of_agent(), before + 1);
    json_t *o = newest_conversation();
    assert_string_equal(json_string_value(th_get(o, "variables.ref")), "fair");
    assert_string_equal(json_string_value(th_get(o, "variables.plan")), "gold");
    json_decref(o);
    assert_true(th_wait_file(&H, "logs/agent_launch.log", "on_event", 5000));
    assert_true(th_wait_file(&H, "logs/agent_launch.log", "event matched", 5000));

    /* Disabled: its consumer goes; enabled again: it is back. */
    assert_int_equal(th_http(&H, "PATCH", path, "{\"enabled\": false}", NULL, NULL), 200);
    wait_consumer(name, false);
    assert_int_equal(th_http(&H, "PATCH", path, "{\"enabled\": true}", NULL, NULL), 200);
    wait_consumer(name, true);
    /* Disabled and enabled again at once (the deletion still under way when
     * the trigger wants its consumer back): it comes back, and works. */
    assert_int_equal(th_http(&H, "PATCH", path, "{\"enabled\": false}", NULL, NULL), 200);
    assert_int_equal(th_http(&H, "PATCH", path, "{\"enabled\": true}", NULL, NULL), 200);
    wait_consumer(name, true);
    publish("crm.deal", "{\"body\": {\"status\": \"won\", \"source\": \"again\"}}");
    for (int i = 0; i < 100 && conversations_of_agent() == before + 1; i++)
        th_sleep_ms(50);
    assert_int_equal(conversations_of_agent(), before + 2);

    /* Deleted: its consumer goes, and no event starts anything. */
    assert_int_equal(th_http(&H, "DELETE", path, NULL, NULL, NULL), 204);
    wait_consumer(name, false);
    publish("crm.deal", "{\"body\": {\"status\": \"won\", \"source\": \"late\"}}");
    th_sleep_ms(500);
    assert_int_equal(conversations_of_agent(), before + 2);
}

static void test_a_hostile_filter_is_cut_and_its_event_dead_lettered(void **s)
{
    (void)s;
    char path[200], name[200];
    make_event_trigger("{\"agent_id\": \"%s\", \"kind\": \"on_event\", \"name\": \"Loop\","
                       " \"event\": {\"topic\": \"crm.loop\", \"filter\": \"def f: f; f\"}}",
                       path, name);
    long long before = conversations_of_agent();
    publish("crm.loop", "{\"body\": {\"status\": \"won\"}}");
    /* Each attempt is cut at the workers' deadline; after the last the
     * event is in $dlq.crm.loop and the topic flows on. */
    size_t dead = 0;
    for (int i = 0; i < 300 && !dead; i++) {
        json_t *o = NULL;
        assert_int_equal(th_http(&H, "GET", "/api/v1/topics/crm.loop/dlq", NULL, NULL, &o), 200);
        dead = json_array_size(json_object_get(o, "events"));
        json_decref(o);
        if (!dead) th_sleep_ms(100);
    }
    assert_int_equal(dead, 1);
    assert_true(th_wait_file(&H, "logs/errors.log", "its filter failed", 5000));
    assert_int_equal(conversations_of_agent(), before);
    assert_int_equal(th_http(&H, "DELETE", path, NULL, NULL, NULL), 204);
    wait_consumer(name, false);
}

/* The trigger's deletion commits, the host dies before its consumer's
 * deletion is queued: the next start deletes the consumer left behind. */
static void test_a_consumer_left_by_a_crash_is_deleted_at_the_next_start(void **s)
{
    (void)s;
    assert_int_equal(th_stop(&H, 10000), 0);
    assert_int_equal(th_start_fault(&H, "triggers.before_consumer_delete", 15000), 0);
    char path[200], name[200];
    make_event_trigger("{\"agent_id\": \"%s\", \"kind\": \"on_event\", \"name\": \"Crash\","
                       " \"event\": {\"topic\": \"crm.crash\"}}",
                       path, name);
    th_http(&H, "DELETE", path, NULL, NULL, NULL); /* the host dies on the way */
    assert_true(th_died_at(&H, "triggers.before_consumer_delete", 10000));
    assert_int_equal(th_start(&H, NULL, 15000), 0);
    assert_int_equal(th_http(&H, "GET", path, NULL, NULL, NULL), 404); /* the deletion held */
    wait_consumer(name, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_schedules_and_commands_are_refused_naming_the_field),
        cmocka_unit_test(test_a_cron_schedule_knows_its_next_run_in_its_time_zone),
        cmocka_unit_test(test_a_one_off_schedule_fires_once_with_its_variables),
        cmocka_unit_test(test_start_with_a_payload_restarts_the_chat_with_it),
        cmocka_unit_test(test_a_trigger_fired_by_hand_starts_its_agent),
        cmocka_unit_test(test_a_signed_webhook_starts_its_agent_with_mapped_variables),
        cmocka_unit_test(test_a_token_webhook_takes_its_body_as_variables),
        cmocka_unit_test(test_bad_event_triggers_are_refused_naming_the_field),
        cmocka_unit_test(test_an_event_trigger_starts_its_agent_only_when_its_filter_holds),
        cmocka_unit_test(test_a_hostile_filter_is_cut_and_its_event_dead_lettered),
        cmocka_unit_test(test_a_consumer_left_by_a_crash_is_deleted_at_the_next_start),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
