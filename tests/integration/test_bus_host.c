/*
 * The bus through the real host: publishing over HTTP, plugin publish
 * permissions, webhook ingress with a shared secret, a poisoned event that
 * crashes its consumer ending in the DLQ while the rest flows, DLQ
 * operations over HTTP, backups taken under load.
 */
#include "../support/th.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

static th_host H;

#define HOOK_SECRET "hook-secret-31337"

static const char *config_json =
    "{\"supervisor\": {\"ping_interval_ms\": 500},"
    " \"bus\": {\"max_attempts\": 3, \"backoff_ms\": 20, \"max_backoff_ms\": 100},"
    " \"instances\": ["
    "  {\"id\": \"echo-a\", \"plugin\": \"echo\", \"config\": {\"diagnostics\": true},"
    "   \"restart\": {\"backoff_ms\": 20, \"max_crashes\": 20}, \"consumer\": {\"start\": "
    "\"earliest\"}},"
    "  {\"id\": \"echo-b\", \"plugin\": \"echo\"}"
    "]}";

static int setup(void **state)
{
    (void)state;
    if (th_init(&H, "bus") || th_install_plugin(&H, "echo") || th_config(&H, config_json))
        return -1;
    if (th_cli(&H, HOOK_SECRET, NULL, 0, "secret", "set", "echo-a", "webhook_secret", NULL) != 0)
        return -1;
    if (th_start(&H, NULL, 10000) != 0 || !th_wait_state(&H, "echo-a", "ready", 10000) ||
        !th_wait_state(&H, "echo-b", "ready", 10000))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    return rc ? -1 : 0;
}

static void test_http_publish_is_consumed_and_republished_by_the_plugin(void **s)
{
    (void)s;
    json_t *o;
    assert_int_equal(
        th_http(&H, "POST", "/api/v1/topics/echo.in/events",
                "[{\"body\":{\"n\":1},\"key\":\"c1\"},{\"body\":{\"n\":2},\"key\":\"c1\"}]", NULL,
                &o),
        201);
    assert_int_equal(json_array_size(json_object_get(o, "offsets")), 2);
    json_decref(o);
    /* Both instances subscribe to echo.in and republish: 4 events. */
    assert_true(th_wait_depth(&H, "echo.out", 4, 5000));
    assert_int_equal(
        th_http(&H, "GET", "/api/v1/topics/echo.out/events?key=c1&limit=10", NULL, NULL, &o), 200);
    assert_int_equal(json_array_size(json_object_get(o, "events")), 4);
    json_decref(o);
    /* after=N is exclusive (the offset of the last event read); an unknown
     * parameter is refused by name rather than read as "no filter". */
    assert_int_equal(th_http(&H, "GET", "/api/v1/topics/echo.out/events?after=3", NULL, NULL, &o),
                     200);
    assert_int_equal(json_array_size(json_object_get(o, "events")), 1);
    assert_int_equal(json_integer_value(th_get(o, "events.0.offset")), 4);
    json_decref(o);
    assert_int_equal(th_http(&H, "GET", "/api/v1/topics/echo.out/events?afterr=3", NULL, NULL, &o),
                     422);
    assert_string_equal(json_string_value(th_get(o, "error.field")), "afterr");
    json_decref(o);
    assert_int_equal(
        th_http(&H, "GET", "/api/v1/topics/echo.out/events?after=1&from=1", NULL, NULL, &o), 422);
    json_decref(o);
    assert_int_equal(th_http(&H, "GET", "/api/v1/consumers", NULL, NULL, &o), 200);
    char *dump = json_dumps(o, JSON_COMPACT);
    assert_non_null(strstr(dump, "\"name\":\"instance:echo-a\""));
    json_decref(o);
    free(dump);
}

/* The host hands a plugin the stored event's text as it is (not decoded
 * and encoded again): the body and key echo republishes come out equal to
 * what was published, escapes, non-ASCII and numbers included. */
static void test_a_delivered_event_reaches_the_plugin_as_stored(void **s)
{
    (void)s;
    static const char body[] = "{\"text\":\"q\\\"uote \\\\ \\n\\t \\u0001 \u00e9 \u2603\","
                               "\"n\":[1,-2.5,1e300,null,true,{}],\"empty\":\"\"}";
    char req[512];
    snprintf(req, sizeof(req), "[{\"body\":%s,\"key\":\"k\\\"\u00e9\"}]", body);
    long long before = th_topic_depth(&H, "echo.out");
    json_t *o;
    assert_int_equal(th_http(&H, "POST", "/api/v1/topics/echo.in/events", req, NULL, &o), 201);
    json_decref(o);
    assert_true(th_wait_depth(&H, "echo.out", before + 2, 5000)); /* echo-a and echo-b */
    assert_int_equal(th_http(&H, "GET", "/api/v1/topics/echo.out/events?key=k%22%C3%A9&limit=10",
                             NULL, NULL, &o),
                     200);
    json_t *want = json_loads(body, 0, NULL);
    assert_non_null(want);
    assert_int_equal(json_array_size(json_object_get(o, "events")), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *e = json_array_get(json_object_get(o, "events"), i);
        assert_string_equal(json_string_value(json_object_get(e, "key")), "k\"\u00e9");
        assert_true(json_equal(json_object_get(e, "body"), want));
    }
    json_decref(want);
    json_decref(o);
}

static void test_plugin_publish_to_an_undeclared_topic_is_refused_and_logged(void **s)
{
    (void)s;
    json_t *o;
    assert_int_equal(th_call(&H, "echo-b", "publish", "{\"topic\":\"crm.lead\",\"body\":1}", &o),
                     502);
    assert_string_equal(json_string_value(th_get(o, "error.code")), "publish_failed");
    json_decref(o);
    assert_true(th_wait_file(&H, "logs/security.log", "publish to undeclared topic", 3000));
    assert_int_equal(th_topic_depth(&H, "crm.lead"), -1);
    /* A declared one works, with an idempotency key. */
    assert_int_equal(th_call(&H, "echo-b", "publish",
                             "{\"topic\":\"echo.extra\",\"body\":1,\"idempotency_key\":\"x1\"}",
                             &o),
                     200);
    json_int_t off = json_integer_value(th_get(o, "result.offset"));
    json_decref(o);
    assert_int_equal(th_call(&H, "echo-b", "publish",
                             "{\"topic\":\"echo.extra\",\"body\":2,\"idempotency_key\":\"x1\"}",
                             &o),
                     200);
    assert_int_equal(json_integer_value(th_get(o, "result.offset")), off);
    json_decref(o);
    assert_int_equal(th_topic_depth(&H, "echo.extra"), 1);
}

/* A plugin publishes a batch in one commit (ABI 1.2), all or nothing: one
 * undeclared topic refuses the whole batch, stores nothing, and is logged. */
static void test_plugin_batch_publish_is_all_or_nothing(void **s)
{
    (void)s;
    json_t *o = NULL;
    assert_int_equal(
        th_call(&H, "echo-b", "publish_batch",
                "{\"topic\":\"echo.batch\",\"bodies\":[{\"n\":1},{\"n\":2},{\"n\":3}]}", &o),
        200);
    json_t *offs = th_get(o, "result.offsets");
    assert_int_equal(json_array_size(offs), 3);
    for (size_t i = 1; i < 3; i++)
        assert_int_equal(json_integer_value(json_array_get(offs, i)),
                         json_integer_value(json_array_get(offs, 0)) + (json_int_t)i);
    json_decref(o);
    assert_int_equal(th_topic_depth(&H, "echo.batch"), 3);
    assert_int_equal(th_call(&H, "echo-b", "publish_batch",
                             "{\"topic\":\"echo.batch\",\"bodies\":[{\"n\":4},{\"n\":5}],"
                             "\"extra_topic\":\"billing.charge\"}",
                             &o),
                     502);
    assert_string_equal(json_string_value(th_get(o, "error.message")), "refused by policy");
    json_decref(o);
    assert_int_equal(th_topic_depth(&H, "echo.batch"), 3);
    assert_true(th_file_contains(&H, "logs/security.log", "billing.charge\\\" refused"));
}

#define HOOK_BODY "{\"update_id\":1,\"message\":{\"text\":\"/start\"}}"

/* POST a Telegram-like update to a webhook path; the status, and the
 * answer's body in *rb (or freed when rb is NULL). */
static int post_hook(const char *path, const char *const *headers, char **rb)
{
    char *body = NULL;
    int st = th_http_raw(&H, "POST", path, "application/json", HOOK_BODY, strlen(HOOK_BODY),
                         headers, NULL, &body);
    if (rb)
        *rb = body;
    else
        free(body);
    return st;
}

static void test_webhook_needs_the_shared_secret_and_is_answered_once_committed(void **s)
{
    (void)s;
    const char *wrong[] = {"X-Agenthost-Secret: nope", NULL};
    const char *right[] = {"X-Agenthost-Secret: " HOOK_SECRET, NULL};
    char *rb = NULL;
    assert_int_equal(post_hook("/hooks/echo-a/telegram", wrong, NULL), 403);
    assert_int_equal(post_hook("/hooks/echo-a/telegram", NULL, NULL), 403);
    assert_int_equal(th_topic_depth(&H, "hooks.echo-a"), -1); /* nothing stored */
    assert_true(th_file_contains(&H, "logs/security.log", "wrong or missing secret header"));
    /* echo-b has no webhook secret set: refused, nothing stored. */
    assert_int_equal(post_hook("/hooks/echo-b/x", right, NULL), 503);
    assert_int_equal(post_hook("/hooks/nobody/x", right, NULL), 404);
    assert_int_equal(post_hook("/hooks/echo-a/telegram?x=1", right, &rb), 200);
    json_t *o = json_loads(rb, 0, NULL);
    free(rb);
    assert_int_equal(json_integer_value(json_object_get(o, "offset")), 1);
    json_decref(o);
    assert_int_equal(th_http(&H, "GET", "/api/v1/topics/hooks.echo-a/events", NULL, NULL, &o), 200);
    json_t *ev = th_get(o, "events.0.body");
    assert_string_equal(json_string_value(json_object_get(ev, "path")), "telegram");
    assert_string_equal(json_string_value(th_get(ev, "query.x")), "1");
    assert_int_equal(json_integer_value(th_get(ev, "body.update_id")), 1);
    assert_null(th_get(ev, "headers.x-agenthost-secret")); /* never stored */
    json_decref(o);
    assert_false(th_logs_contain(&H, HOOK_SECRET));
}

static void test_poisoned_event_ends_in_the_dlq_while_the_rest_flows(void **s)
{
    (void)s;
    long long before = th_topic_depth(&H, "echo.out");
    json_t *o;
    assert_int_equal(th_http(&H, "POST", "/api/v1/topics/echo.in/events",
                             "[{\"body\":{\"crash\":true},\"key\":\"p\"},"
                             "{\"body\":{\"after\":1},\"key\":\"p\"},"
                             "{\"body\":{\"other\":1},\"key\":\"q\"}]",
                             NULL, &o),
                     201);
    json_decref(o);
    /* echo-b (no diagnostics) republishes all three; echo-a crashes three
     * times on the poison, which then moves to the DLQ and the rest flow. */
    assert_true(th_wait_depth(&H, "$dlq.echo.in", 1, 20000));
    assert_true(th_wait_depth(&H, "echo.out", before + 3 + 2, 20000));
    assert_int_equal(th_http(&H, "GET", "/api/v1/topics/echo.in/dlq", NULL, NULL, &o), 200);
    json_t *h = th_get(o, "events.0.headers");
    assert_string_equal(json_string_value(json_object_get(h, "x-dlq-attempts")), "3");
    assert_string_equal(json_string_value(json_object_get(h, "x-dlq-consumer")), "instance:echo-a");
    assert_non_null(strstr(json_string_value(json_object_get(h, "x-dlq-error")), "went away"));
    char id[64];
    snprintf(id, sizeof(id), "%s", json_string_value(th_get(o, "events.0.id")));
    json_decref(o);
    assert_true(th_wait_state(&H, "echo-a", "ready", 5000));
    /* Drop it over HTTP. */
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/topics/echo.in/dlq/%s", id);
    assert_int_equal(th_http(&H, "DELETE", path, NULL, NULL, NULL), 204);
    assert_int_equal(th_http(&H, "DELETE", path, NULL, NULL, NULL), 404);
    /* The move is in events.log; the operator's drop in audit.log. */
    assert_true(th_file_contains(&H, "logs/events.log", "moved to $dlq.echo.in after"));
    assert_true(th_file_contains(&H, "logs/audit.log",
                                 "\"action\":\"DELETE\",\"route\":"
                                 "\"/api/v1/topics/{topic}/dlq/{id}\","
                                 "\"status\":204"));
    assert_int_equal(th_topic_depth(&H, "$dlq.echo.in"), 0);
}

/* ---- backup under load -------------------------------------------------------- */

static volatile int load_running;
static json_int_t acked_before_backup;

static void *publisher(void *arg)
{
    (void)arg;
    for (int i = 0; load_running && i < 100000; i++) {
        json_t *o = NULL;
        char body[64];
        snprintf(body, sizeof(body), "{\"body\":%d}", i);
        if (th_http(&H, "POST", "/api/v1/topics/load.t/events", body, NULL, &o) == 201)
            __atomic_store_n(&acked_before_backup,
                             json_integer_value(json_array_get(json_object_get(o, "offsets"), 0)),
                             __ATOMIC_SEQ_CST);
        json_decref(o);
    }
    return NULL;
}

/* An instance's consumer may start at an offset or a time the first time
 * it runs: echo-x from offset 3 republishes events 3-5 only, echo-y from a
 * time after them republishes nothing; a start without its value is a
 * clear error in the logs (the host goes on with the others). */
static void test_instance_consumers_start_at_an_offset_or_a_time(void **s)
{
    (void)s;
    th_host T;
    assert_int_equal(th_init(&T, "start"), 0);
    assert_int_equal(th_install_plugin(&T, "echo"), 0);
    assert_int_equal(th_config(&T, "{\"instances\": []}"), 0);
    assert_int_equal(th_start(&T, NULL, 15000), 0);
    assert_int_equal(th_http(&T, "POST", "/api/v1/topics/echo.in/events",
                             "[{\"body\":{\"n\":1}},{\"body\":{\"n\":2}},{\"body\":{\"n\":3}},"
                             "{\"body\":{\"n\":4}},{\"body\":{\"n\":5}}]",
                             NULL, NULL),
                     201);
    assert_int_equal(th_stop(&T, 10000), 0);
    assert_int_equal(th_config(&T, "{\"instances\": ["
                                   "{\"id\": \"echo-x\", \"plugin\": \"echo\","
                                   " \"consumer\": {\"start\": \"offset\", \"start_offset\": 3}},"
                                   "{\"id\": \"echo-y\", \"plugin\": \"echo\","
                                   " \"consumer\": {\"start\": \"time\", \"start_time\": "
                                   "\"2100-01-01T00:00:00Z\"}}]}"),
                     0);
    assert_int_equal(th_start(&T, NULL, 15000), 0);
    assert_true(th_wait_depth(&T, "echo.out", 3, 10000));
    th_sleep_ms(300);
    json_t *o = NULL;
    assert_int_equal(
        th_http(&T, "GET", "/api/v1/topics/echo.out/events?from=1&limit=10", NULL, NULL, &o), 200);
    assert_int_equal(json_array_size(json_object_get(o, "events")), 3);
    for (int i = 0; i < 3; i++) {
        char path[32];
        snprintf(path, sizeof(path), "events.%d.body.n", i);
        assert_int_equal(json_integer_value(th_get(o, path)), 3 + i);
    }
    json_decref(o);
    assert_int_equal(th_stop(&T, 10000), 0);
    assert_int_equal(th_config(&T, "{\"instances\": [{\"id\": \"echo-z\", \"plugin\": "
                                   "\"echo\", \"consumer\": {\"start\": \"time\"}}]}"),
                     0);
    assert_int_equal(th_start(&T, NULL, 15000), 0);
    assert_true(th_file_contains(&T, "logs/errors.log",
                                 "instance echo-z: consumer.start_time: needed with start"));
    assert_int_equal(th_stop(&T, 10000), 0);
    th_cleanup(&T);
}

static void test_backup_under_load_restores_every_acknowledged_event(void **s)
{
    (void)s;
    load_running = 1;
    pthread_t th;
    pthread_create(&th, NULL, publisher, NULL);
    assert_true(th_wait_depth(&H, "load.t", 50, 10000));
    json_int_t acked = __atomic_load_n(&acked_before_backup, __ATOMIC_SEQ_CST);
    char file[700];
    snprintf(file, sizeof(file), "%s/backup.mdb", H.dir);
    assert_int_equal(th_cli(&H, NULL, NULL, 0, "backup", "--to", file, NULL), 0);
    load_running = 0;
    pthread_join(th, NULL);
    /* Restore into a fresh data directory and read it with a second host. */
    th_host R;
    assert_int_equal(th_init(&R, "restore"), 0);
    assert_int_equal(th_install_plugin(&R, "echo"), 0);
    assert_int_equal(th_config(&R, "{\"instances\": []}"), 0);
    assert_int_equal(th_cli(&R, NULL, NULL, 0, "restore", "--from", file, NULL), 0);
    /* The backup holds a secret: its master key goes along, as the
     * operator copies it (it is never in a backup). */
    char *key = th_read(&H, "var/master.key");
    assert_non_null(key);
    char keyfile[700];
    snprintf(keyfile, sizeof(keyfile), "%s/master.key", R.data);
    int kfd = open(keyfile, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(kfd >= 0);
    assert_int_equal(write(kfd, key, strlen(key)), (ssize_t)strlen(key));
    close(kfd);
    free(key);
    /* A second restore over it is refused without --force. */
    assert_int_equal(th_cli(&R, NULL, NULL, 0, "restore", "--from", file, NULL), 1);
    assert_int_equal(
        th_cli(&R, NULL, NULL, 0, "restore", "--from", "/etc/hostname", "--force", NULL), 1);
    assert_int_equal(th_start(&R, NULL, 10000), 0);
    /* Every event acknowledged before the backup began is there, once, in
     * order, with its body (publish i was body i, offset i + 1); read page
     * by page. */
    json_int_t expect = 1;
    for (json_int_t from = 1; expect <= acked;) {
        json_t *o = NULL;
        char path[128];
        snprintf(path, sizeof(path), "/api/v1/topics/load.t/events?from=%lld&limit=20",
                 (long long)from);
        assert_int_equal(th_http(&R, "GET", path, NULL, NULL, &o), 200);
        json_t *events = json_object_get(o, "events");
        size_t i;
        json_t *e;
        json_array_foreach(events, i, e)
        {
            json_int_t off = json_integer_value(json_object_get(e, "offset"));
            if (off > acked) break;
            assert_int_equal(off, expect);
            assert_int_equal(json_integer_value(json_object_get(e, "body")), off - 1);
            expect++;
        }
        bool empty = json_array_size(events) == 0;
        from = json_integer_value(json_object_get(o, "next"));
        json_decref(o);
        if (empty) break;
    }
    assert_int_equal(expect, acked + 1);
    assert_int_equal(th_stop_clean(&R, 10000), 0);
    th_cleanup(&R);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_publish_is_consumed_and_republished_by_the_plugin),
        cmocka_unit_test(test_a_delivered_event_reaches_the_plugin_as_stored),
        cmocka_unit_test(test_plugin_publish_to_an_undeclared_topic_is_refused_and_logged),
        cmocka_unit_test(test_plugin_batch_publish_is_all_or_nothing),
        cmocka_unit_test(test_webhook_needs_the_shared_secret_and_is_answered_once_committed),
        cmocka_unit_test(test_poisoned_event_ends_in_the_dlq_while_the_rest_flows),
        cmocka_unit_test(test_instance_consumers_start_at_an_offset_or_a_time),
        cmocka_unit_test(test_backup_under_load_restores_every_acknowledged_event),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
