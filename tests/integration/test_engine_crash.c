/*
 * The engine's one-transaction commit, proved by killing the host: people
 * talk to an echoing agent over the REST channel (each message with its
 * own Idempotency-Key; a message whose answer never came is sent again
 * after the restart, as a client would), while the host is killed with
 * SIGKILL at the named fault points between deciding a turn and committing
 * it (engine.before_commit), right after committing it (engine.after_commit,
 * and bus.after_settling_commit before the bus takes the commit's answer),
 * before a durable batch is answered (store.before_done) and before a
 * tick's position write (bus.before_position_write), each asserted reached,
 * and at 20 random moments.
 *
 * Afterwards every message was answered exactly once: one "got <nonce>"
 * on message.out for each, none lost, none twice.
 */
#include "../support/th.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_NONCE 20000
#define THREADS 4

static th_host H;
static char AGENT[64];
static unsigned char tried[MAX_NONCE]; /* sent */
static unsigned char taken[MAX_NONCE]; /* answered 200 or 202: it is on message.in */
static int next_nonce = 1;
static pthread_mutex_t nonce_mu = PTHREAD_MUTEX_INITIALIZER;

/* Echoes every answer, forever: one "got X" for each message X. */
static const char *scenario =
    "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": [\"en\"],"
    " \"variables\": {\"said\": {\"type\": \"string\"}}, \"start\": \"listen\","
    " \"steps\": {\"listen\": {\"kind\": \"ask\", \"text\": {\"en\": \"?\"}, \"var\": \"said\","
    "                         \"next\": \"echo\"},"
    "            \"echo\": {\"kind\": \"say\", \"text\": {\"en\": \"got {{ vars.said }}\"},"
    "                       \"next\": \"listen\"}}}";

static int setup(void **s)
{
    (void)s;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (th_init(&H, "engcrash") ||
        th_config(&H, "{\"bus\": {\"backoff_ms\": 20, \"max_backoff_ms\": 200},"
                      " \"engine\": {\"flood_per_minute\": 1000000}, \"instances\": []}") ||
        th_start(&H, NULL, 15000))
        return -1;
    if (th_make_agent(&H, "Echo", scenario, NULL, AGENT, sizeof(AGENT)) != 0) return -1;
    json_t *o = NULL;
    /* Each user's conversation started, its question asked: from now on
     * every message is an answer. */
    for (int t = 0; t < THREADS; t++) {
        char p[200], b[100];
        snprintf(p, sizeof(p), "/api/v1/agents/%s/messages", AGENT);
        snprintf(b, sizeof(b), "{\"user\": \"u%d\", \"text\": \"hello\"}", t);
        if (th_http(&H, "POST", p, b, NULL, &o) != 200) return -1;
        json_decref(o);
    }
    return th_stop_clean(&H, 10000) == 0 ? 0 : -1;
}

static int teardown(void **s)
{
    (void)s;
    th_kill(&H);
    th_cleanup(&H);
    curl_global_cleanup();
    return 0;
}

/* ---- people writing ----------------------------------------------------------------- */

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p, (void)u;
    return s * n;
}

/* Send nonce as user over the REST channel: the status, 0 when no answer came. */
static int send_one(CURL *c, int port, int user, int nonce)
{
    char url[200], body[160], auth[200], idem[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/agents/%s/messages", port, AGENT);
    snprintf(body, sizeof(body), "{\"user\": \"u%d\", \"text\": \"n-%06d\", \"wait_ms\": 3000}",
             user, nonce);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", H.token);
    snprintf(idem, sizeof(idem), "Idempotency-Key: n-%06d", nonce);
    struct curl_slist *hl = curl_slist_append(NULL, auth);
    hl = curl_slist_append(hl, idem);
    hl = curl_slist_append(hl, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hl);
    return (int)status;
}

static int user_of[MAX_NONCE];

typedef struct writer {
    volatile int stop;
    int user;
} writer;

static void *writing(void *arg)
{
    writer *w = arg;
    CURL *c = curl_easy_init();
    while (!w->stop) {
        pthread_mutex_lock(&nonce_mu);
        int nonce = next_nonce < MAX_NONCE ? next_nonce++ : 0;
        pthread_mutex_unlock(&nonce_mu);
        if (!nonce) break;
        tried[nonce] = 1;
        user_of[nonce] = w->user;
        int st = send_one(c, H.port, w->user, nonce);
        if (st == 200 || st == 202)
            taken[nonce] = 1;
        else
            break; /* the host went away: whether it took the message is unknown */
    }
    curl_easy_cleanup(c);
    return NULL;
}

typedef struct load {
    writer w[THREADS];
    pthread_t th[THREADS];
} load;

static void load_start(load *l)
{
    for (int t = 0; t < THREADS; t++) {
        l->w[t] = (writer){.user = t};
        pthread_create(&l->th[t], NULL, writing, &l->w[t]);
    }
}

static void load_stop(load *l)
{
    for (int t = 0; t < THREADS; t++)
        l->w[t].stop = 1;
    for (int t = 0; t < THREADS; t++)
        pthread_join(l->th[t], NULL);
}

/* What a client does after an outage: send again every message whose
 * answer never came, with the same Idempotency-Key. */
static void resend_unknown(void)
{
    CURL *c = curl_easy_init();
    for (int n = 1; n < next_nonce; n++)
        if (tried[n] && !taken[n]) {
            int st = send_one(c, H.port, user_of[n], n);
            if (st != 200 && st != 202) fail_msg("resending n-%06d answered %d", n, st);
            taken[n] = 1;
        }
    curl_easy_cleanup(c);
}

/* ---- what the agent said ---------------------------------------------------------- */

static json_int_t engine_lag(void)
{
    json_t *o = NULL;
    json_int_t lag = -1;
    if (th_http(&H, "GET", "/api/v1/consumers", NULL, NULL, &o) == 200) {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(o, "consumers"), i, c)
        {
            const char *name = json_string_value(json_object_get(c, "name"));
            if (name && !strcmp(name, "engine"))
                lag = json_integer_value(json_object_get(c, "lag")) +
                      json_integer_value(json_object_get(c, "in_flight"));
        }
    }
    json_decref(o);
    return lag;
}

static int replies[MAX_NONCE];

static void count_replies(void)
{
    memset(replies, 0, sizeof(replies));
    json_int_t from = 1;
    for (;;) {
        char path[256];
        snprintf(path, sizeof(path), "/api/v1/topics/message.out/events?from=%lld&limit=1000",
                 (long long)from);
        json_t *o = NULL;
        assert_int_equal(th_http(&H, "GET", path, NULL, NULL, &o), 200);
        json_t *events = json_object_get(o, "events");
        size_t i;
        json_t *e;
        json_array_foreach(events, i, e)
        {
            const char *text =
                json_string_value(json_object_get(json_object_get(e, "body"), "text"));
            if (text && !strncmp(text, "got n-", 6)) replies[atoi(text + 6)]++;
        }
        json_int_t next = json_integer_value(json_object_get(o, "next"));
        size_t got = json_array_size(events);
        json_decref(o);
        if (!got) return;
        from = next;
    }
}

/* Every message sent was answered exactly once. */
static void verify(void)
{
    resend_unknown();
    long long end = th_now_ms() + 60000;
    while (engine_lag() != 0 && th_now_ms() < end)
        th_sleep_ms(50);
    assert_int_equal(engine_lag(), 0);
    count_replies();
    int answered = 0;
    for (int n = 1; n < next_nonce; n++) {
        if (!tried[n]) continue;
        if (replies[n] != 1) fail_msg("n-%06d was answered %d times", n, replies[n]);
        answered++;
    }
    assert_true(answered > 0);
}

/* ---- the tests --------------------------------------------------------------------- */

static void test_killed_before_and_after_a_turn_commits_no_reply_is_lost_or_sent_twice(void **s)
{
    (void)s;
    /* bus.after_settling_commit: a turn's commit, with the position past
     * its input (ADR 0057), is on disk and the host has not seen its
     * answer; store.before_done: answers of a durable batch not yet run;
     * bus.before_position_write: a tick's position write of the other
     * consumers, which no longer carries the engine's. */
    static const char *points[] = {"engine.before_commit", "engine.after_commit",
                                   "bus.after_settling_commit", "store.before_done",
                                   "bus.before_position_write"};
    char mark[700];
    snprintf(mark, sizeof(mark), "%s/fault.mark", H.dir);
    for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
        char e1[128], e2[800];
        snprintf(e1, sizeof(e1), "AGENTHOST_FAULT=%s", points[i]);
        snprintf(e2, sizeof(e2), "AGENTHOST_FAULT_MARK=%s", mark);
        const char *env[] = {e1, e2, "AGENTHOST_FAULT_SKIP=20", NULL};
        unlink(mark);
        assert_int_equal(th_start(&H, env, 15000), 0);
        load l;
        load_start(&l);
        int status = th_wait_exit(&H, 60000);
        load_stop(&l);
        if (status == -1) th_kill(&H);
        char *m = th_read(&H, "fault.mark");
        if (!m || !strstr(m, points[i])) fail_msg("fault point %s was not reached", points[i]);
        free(m);
        assert_int_equal(th_start(&H, NULL, 15000), 0);
        verify();
        assert_int_equal(th_stop(&H, 10000), 0);
    }
}

static void test_twenty_random_kills_while_people_write_lose_no_reply_and_send_none_twice(void **s)
{
    (void)s;
    srand(4242);
    for (int round = 0; round < 20; round++) {
        assert_int_equal(th_start(&H, NULL, 15000), 0);
        load l;
        load_start(&l);
        th_sleep_ms(150 + rand() % 500);
        kill(H.pid, SIGKILL);
        th_wait_exit(&H, 10000);
        load_stop(&l);
    }
    assert_int_equal(th_start(&H, NULL, 15000), 0);
    verify();
    assert_int_equal(th_stop(&H, 10000), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_killed_before_and_after_a_turn_commits_no_reply_is_lost_or_sent_twice),
        cmocka_unit_test(
            test_twenty_random_kills_while_people_write_lose_no_reply_and_send_none_twice),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
