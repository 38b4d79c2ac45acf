/*
 * The bus when things go wrong: every acknowledged publish synced before
 * its answer left (proved from outside by an LD_PRELOAD shim, with a
 * negative control), SIGKILL at named fault points and at random moments
 * under publish and consume, a full disk, corrupt files at start.
 *
 * After each restart: every acknowledged event is present exactly once,
 * and all are eventually delivered and acknowledged by the consumer, whose
 * republish (with its settle, in one commit) is in echo.out exactly once.
 */
#include "../support/th.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_NONCE 200000
#define THREADS 4

static th_host H;
static unsigned char acked[MAX_NONCE];  /* a 2xx answer arrived */
static unsigned char tried[MAX_NONCE];  /* sent, answer unknown */
static unsigned char hooked[MAX_NONCE]; /* sent as a webhook (topic hooks.echo-a) */
static int next_nonce = 1;
static pthread_mutex_t nonce_mu = PTHREAD_MUTEX_INITIALIZER;

#define HOOK_SECRET "hook-secret-5150"

static const char *config_json =
    "{\"supervisor\": {\"ping_interval_ms\": 500, \"shutdown_grace_ms\": 1000},"
    " \"bus\": {\"backoff_ms\": 20, \"max_backoff_ms\": 200, \"ack_timeout_ms\": 2000},"
    " \"instances\": [{\"id\": \"echo-a\", \"plugin\": \"echo\","
    "   \"restart\": {\"backoff_ms\": 20, \"max_crashes\": 100},"
    "   \"consumer\": {\"start\": \"earliest\"}}]}";

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (th_init(&H, "crash") || th_install_plugin(&H, "echo") || th_config(&H, config_json))
        return -1;
    if (th_cli(&H, HOOK_SECRET "\n", NULL, 0, "secret", "set", "echo-a", "webhook_secret", NULL))
        return -1;
    return th_make_token(&H);
}

static int teardown(void **state)
{
    (void)state;
    th_kill(&H);
    th_cleanup(&H);
    return 0;
}

/* ---- publishing load --------------------------------------------------------- */

typedef struct loader {
    volatile int stop;
    int port;
    bool hooks; /* publish as webhooks to echo-a instead of to the topic API */
} loader;

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

static int publish_one(CURL *c, int port, int nonce, bool hook)
{
    char url[128], body[160], auth[200], idem[64];
    struct curl_slist *hl = NULL;
    if (hook) {
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/hooks/echo-a/updates", port);
        snprintf(body, sizeof(body), "{\"nonce\":\"nonce-%012d\"}", nonce);
        snprintf(idem, sizeof(idem), "Idempotency-Key: nonce-%012d", nonce);
        hl = curl_slist_append(hl, "X-Agenthost-Secret: " HOOK_SECRET);
        hl = curl_slist_append(hl, idem);
    } else {
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/topics/echo.in/events", port);
        snprintf(body, sizeof(body),
                 "{\"body\":{\"nonce\":\"nonce-%012d\"},\"key\":\"k%d\",\"idempotency_"
                 "key\":\"nonce-%012d\"}",
                 nonce, nonce % 16, nonce);
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", H.token);
        hl = curl_slist_append(hl, auth);
    }
    hl = curl_slist_append(hl, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hl);
    return (int)status;
}

static void *publisher(void *arg)
{
    loader *l = arg;
    CURL *c = curl_easy_init();
    while (!l->stop) {
        pthread_mutex_lock(&nonce_mu);
        int nonce = next_nonce < MAX_NONCE ? next_nonce++ : 0;
        pthread_mutex_unlock(&nonce_mu);
        if (!nonce) break;
        tried[nonce] = 1;
        hooked[nonce] = l->hooks;
        int st = publish_one(c, l->port, nonce, l->hooks);
        if (st == 200 || st == 201) {
            acked[nonce] = 1;
        } else {
            break; /* the host went away: the answer is unknown */
        }
    }
    curl_easy_cleanup(c);
    return NULL;
}

/* Republish every event whose answer never came (same idempotency key). */
static void republish_unknown(void)
{
    CURL *c = curl_easy_init();
    for (int n = 1; n < next_nonce; n++)
        if (tried[n] && !acked[n]) {
            int st = publish_one(c, H.port, n, hooked[n]);
            assert_true(st == 200 || st == 201);
            acked[n] = 1;
        }
    curl_easy_cleanup(c);
}

/* ---- checking what is on the bus ----------------------------------------------- */

static void count_topic(const char *topic, int *counts)
{
    memset(counts, 0, sizeof(int) * MAX_NONCE);
    json_int_t from = 1;
    for (;;) {
        char path[256];
        snprintf(path, sizeof(path), "/api/v1/topics/%s/events?from=%lld&limit=1000", topic,
                 (long long)from);
        json_t *o = NULL;
        int st = th_http(&H, "GET", path, NULL, NULL, &o);
        if (st == 404) {
            json_decref(o);
            return;
        }
        assert_int_equal(st, 200);
        json_t *events = json_object_get(o, "events");
        size_t i;
        json_t *e;
        json_array_foreach(events, i, e)
        {
            const char *n = json_string_value(json_object_get(json_object_get(e, "body"), "nonce"));
            if (n && strlen(n) == 18) counts[atoi(n + 6)]++;
        }
        json_int_t next = json_integer_value(json_object_get(o, "next"));
        size_t got = json_array_size(events);
        json_decref(o);
        if (!got) return;
        from = next;
    }
}

static json_int_t consumer_lag(void)
{
    json_t *o = NULL;
    json_int_t lag = -1;
    if (th_http(&H, "GET", "/api/v1/consumers", NULL, NULL, &o) == 200) {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(o, "consumers"), i, c)
        {
            if (!strcmp(json_string_value(json_object_get(c, "name")), "instance:echo-a"))
                lag = json_integer_value(json_object_get(c, "lag")) +
                      json_integer_value(json_object_get(c, "in_flight"));
        }
    }
    json_decref(o);
    return lag;
}

static int counts_in[MAX_NONCE], counts_out[MAX_NONCE];

/* Exactly once in echo.in; exactly once in echo.out once the consumer is
 * caught up. */
static void verify(void)
{
    count_topic("echo.in", counts_in);
    int n_acked = 0;
    for (int n = 1; n < next_nonce; n++) {
        if (hooked[n]) continue; /* on hooks.echo-a, not echo.in */
        if (acked[n]) {
            n_acked++;
            if (counts_in[n] != 1)
                fail_msg("nonce %d acknowledged but present %d times", n, counts_in[n]);
        }
        assert_true(counts_in[n] <= 1);
    }
    assert_true(n_acked > 0);
    long long end = th_now_ms() + 60000;
    while (consumer_lag() != 0 && th_now_ms() < end)
        th_sleep_ms(50);
    assert_int_equal(consumer_lag(), 0);
    count_topic("echo.out", counts_out);
    /* Echo republishes and settles in one commit (host->commit, ADR 0059):
     * an event is either settled with its republish or comes again with
     * none, so each is in echo.out exactly once, webhooks too. */
    for (int n = 1; n < next_nonce; n++)
        if (counts_in[n] && counts_out[n] != 1)
            fail_msg("nonce %d is in echo.out %d times, not once", n, counts_out[n]);
    count_topic("hooks.echo-a", counts_in);
    for (int n = 1; n < next_nonce; n++)
        if (hooked[n] && counts_in[n] && counts_out[n] != 1)
            fail_msg("webhook nonce %d is in echo.out %d times, not once", n, counts_out[n]);
}

static void load_until_dead(int max_ms)
{
    loader l = {.port = H.port};
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, publisher, &l);
    int status = th_wait_exit(&H, max_ms);
    l.stop = 1;
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    if (status == -1) th_kill(&H);
}

/* ---- durability --------------------------------------------------------------------- */

static char *shim_log_path(char *buf, size_t n)
{
    snprintf(buf, n, "%s/syncshim.log", H.dir);
    return buf;
}

static void test_shim_detects_an_answer_sent_before_the_sync(void **s)
{
    (void)s;
    char log[700], cmd[2200];
    shim_log_path(log, sizeof(log));
    snprintf(cmd, sizeof(cmd),
             "AH_SYNCSHIM_LOG=%s LD_PRELOAD=%s/tests/libsyncshim.so %s/tests/shim_selftest %s", log,
             TH_BUILD_DIR, TH_BUILD_DIR, H.dir);
    assert_int_equal(system(cmd), 0);
    char *text = th_read(&H, "syncshim.log");
    assert_non_null(text);
    assert_non_null(strstr(text, "VIOLATION 1 answered before a synced commit"));
    assert_non_null(strstr(text, "ACK 2"));
    free(text);
    unlink(log);
}

/* Topic publishes and webhooks alike. */
static void test_every_acknowledged_publish_was_synced_before_its_answer(void **s)
{
    (void)s;
    th_kill(&H); /* a failed test before must not leave its host running */
    char log[700], env_log[800], env_pre[800];
    shim_log_path(log, sizeof(log));
    snprintf(env_log, sizeof(env_log), "AH_SYNCSHIM_LOG=%s", log);
    snprintf(env_pre, sizeof(env_pre), "LD_PRELOAD=%s/tests/libsyncshim.so", TH_BUILD_DIR);
    const char *env[] = {env_log, env_pre, "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0",
                         NULL};
    assert_int_equal(th_start(&H, env, 15000), 0);
    int first = next_nonce;
    /* Half through the topic API, half as webhooks: both answer 2xx only
     * once the event is on disk. */
    loader l = {.port = H.port}, lh = {.port = H.port, .hooks = true};
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, publisher, i % 2 ? &lh : &l);
    while (next_nonce < first + 400)
        th_sleep_ms(20);
    l.stop = lh.stop = 1;
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(th_stop(&H, 10000), 0);
    char *text = th_read(&H, "syncshim.log");
    assert_non_null(text);
    assert_null(strstr(text, "VIOLATION"));
    assert_null(strstr(text, "MSYNC"));
    /* Never a write through O_DSYNC: a meta page rides the next commit's
     * flush, or one of its own when none follows (ADR 0022). */
    const char *c = strstr(text, "COUNTS ");
    assert_non_null(c);
    unsigned long long syncs = 0, dsync = 1, metas = 0;
    assert_int_equal(sscanf(c, "COUNTS syncs=%llu dsync=%llu metas=%llu", &syncs, &dsync, &metas),
                     3);
    assert_int_equal(dsync, 0);
    assert_true(metas > 0 && syncs <= 2 * metas + 1);
    print_message("%llu flushes for %llu commits\n", syncs, metas);
    int acks = 0;
    for (int n = first; n < next_nonce; n++) {
        char line[40];
        snprintf(line, sizeof(line), "ACK %d\n", n);
        if (acked[n]) {
            if (!strstr(text, line))
                fail_msg("nonce %d was acknowledged but the shim saw no checked answer", n);
            acks++;
        }
    }
    assert_true(acks >= 400 - THREADS);
    free(text);
}

/* ---- kill -9 ---------------------------------------------------------------------------- */

static void test_fault_points_kill_at_the_named_moment_and_lose_nothing(void **s)
{
    (void)s;
    th_kill(&H); /* a failed test before must not leave its host running */
    static const char *points[] = {"store.before_commit",         "store.after_commit",
                                   "store.before_meta_sync",      "store.before_done",
                                   "bus.after_commit_before_ack", "bus.after_deliver",
                                   "bus.before_position_write",   "bus.after_settling_commit",
                                   "plugin.before_commit",        "plugin.after_commit"};
    char mark[700];
    snprintf(mark, sizeof(mark), "%s/fault.mark", H.dir);
    for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
        char e1[128], e2[800];
        snprintf(e1, sizeof(e1), "AGENTHOST_FAULT=%s", points[i]);
        snprintf(e2, sizeof(e2), "AGENTHOST_FAULT_MARK=%s", mark);
        /* bus.after_settling_commit: echo's commit (its republish and its
         * position) is durable, nobody answered yet. plugin.before_commit:
         * echo's commit checked, nothing written (the event comes again,
         * nothing of it published); plugin.after_commit: durable, echo not
         * answered (settled, its republish there once). */
        const char *env[] = {e1, e2, "AGENTHOST_FAULT_SKIP=30", NULL};
        unlink(mark);
        assert_int_equal(th_start(&H, env, 15000), 0);
        load_until_dead(30000);
        char *m = th_read(&H, "fault.mark");
        if (!m || !strstr(m, points[i])) fail_msg("fault point %s was not reached", points[i]);
        free(m);
        assert_int_equal(th_start(&H, NULL, 15000), 0);
        republish_unknown();
        verify();
        assert_int_equal(th_stop(&H, 10000), 0);
    }
}

static void test_twenty_random_kills_under_publish_and_consume(void **s)
{
    (void)s;
    th_kill(&H); /* a failed test before must not leave its host running */
    srand(12345);
    for (int round = 0; round < 20; round++) {
        assert_int_equal(th_start(&H, NULL, 15000), 0);
        loader l = {.port = H.port};
        pthread_t th[THREADS];
        for (int i = 0; i < THREADS; i++)
            pthread_create(&th[i], NULL, publisher, &l);
        th_sleep_ms(100 + rand() % 400);
        kill(H.pid, SIGKILL);
        th_wait_exit(&H, 10000);
        l.stop = 1;
        for (int i = 0; i < THREADS; i++)
            pthread_join(th[i], NULL);
    }
    assert_int_equal(th_start(&H, NULL, 15000), 0);
    republish_unknown();
    verify();
    assert_int_equal(th_stop(&H, 10000), 0);
}

/* ---- a power cut between the data flush and the deferred meta flush ---------------------- */

/* Undo, newest first, every write to data.mdb the shim saw unflushed when
 * the host was killed (AH_SYNCSHIM_UNDO): the file as a power cut at that
 * moment can leave it, every write no completed flush covered lost.
 * Returns how many of the undone writes were to a meta page, or -1. */
static int power_cut(const char *undo_path, const char *data_path)
{
    FILE *f = fopen(undo_path, "rb");
    if (!f) return -1;
    enum { MAXREC = 4096 };
    long *pos = calloc(MAXREC, sizeof(long));
    int n = 0, metas = 0;
    unsigned long long hdr[3], first_size = 0;
    while (n < MAXREC && fread(hdr, sizeof(hdr), 1, f) == 1) {
        pos[n] = ftell(f) - (long)sizeof(hdr);
        if (n == 0) first_size = hdr[2];
        if (fseek(f, (long)hdr[1], SEEK_CUR) != 0) break;
        n++;
    }
    int fd = open(data_path, O_WRONLY);
    for (int i = n - 1; fd >= 0 && i >= 0; i--) {
        fseek(f, pos[i], SEEK_SET);
        if (fread(hdr, sizeof(hdr), 1, f) != 1) break;
        char *old = malloc(hdr[1] ? hdr[1] : 1);
        if (fread(old, 1, hdr[1], f) == hdr[1] && hdr[0] < hdr[2]) {
            size_t keep = hdr[0] + hdr[1] > hdr[2] ? hdr[2] - hdr[0] : hdr[1];
            assert_int_equal(pwrite(fd, old, keep, (off_t)hdr[0]), (ssize_t)keep);
        }
        if (hdr[0] < 2 * 4096) metas++;
        free(old);
    }
    struct stat st;
    if (fd >= 0 && n > 0 && fstat(fd, &st) == 0 && (unsigned long long)st.st_size > first_size)
        assert_int_equal(ftruncate(fd, (off_t)first_size), 0);
    if (fd >= 0) close(fd);
    fclose(f);
    free(pos);
    return fd < 0 ? -1 : metas;
}

/* Kill the host (at a fault point, or at a random moment when point is
 * NULL) under publish load with the shim keeping its undo file, undo every
 * unflushed write (a power cut at that moment), restart: every event
 * acknowledged before the cut is there exactly once. Returns how many meta
 * pages the cut undid. */
static int cut_power(const char *point)
{
    char mark[700], undo[700], data[800], log[700];
    snprintf(mark, sizeof(mark), "%s/fault.mark", H.dir);
    snprintf(undo, sizeof(undo), "%s/undo.bin", H.dir);
    snprintf(data, sizeof(data), "%s/data.mdb", H.data);
    shim_log_path(log, sizeof(log));
    char e1[128], e2[800], e3[800], e4[800], e5[800];
    snprintf(e1, sizeof(e1), "AGENTHOST_FAULT=%s", point ? point : "none");
    snprintf(e2, sizeof(e2), "AGENTHOST_FAULT_MARK=%s", mark);
    snprintf(e3, sizeof(e3), "AH_SYNCSHIM_UNDO=%s", undo);
    snprintf(e4, sizeof(e4), "LD_PRELOAD=%s/tests/libsyncshim.so", TH_BUILD_DIR);
    snprintf(e5, sizeof(e5), "AH_SYNCSHIM_LOG=%s", log);
    const char *env[] = {e1,
                         e2,
                         e3,
                         e4,
                         e5,
                         "AGENTHOST_FAULT_SKIP=30",
                         "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0",
                         NULL};
    unlink(mark);
    unlink(log);
    assert_int_equal(th_start(&H, env, 15000), 0);
    int first = next_nonce;
    if (point) {
        load_until_dead(30000);
        char *m = th_read(&H, "fault.mark");
        if (!m || !strstr(m, point)) fail_msg("fault point %s was not reached", point);
        free(m);
    } else {
        loader l = {.port = H.port};
        pthread_t th[THREADS];
        for (int i = 0; i < THREADS; i++)
            pthread_create(&th[i], NULL, publisher, &l);
        th_sleep_ms(200 + rand() % 600);
        kill(H.pid, SIGKILL);
        th_wait_exit(&H, 10000);
        l.stop = 1;
        for (int i = 0; i < THREADS; i++)
            pthread_join(th[i], NULL);
    }
    /* Before the cut, every answer the host gave was durable. */
    char *text = th_read(&H, "syncshim.log");
    assert_non_null(text);
    assert_null(strstr(text, "VIOLATION"));
    free(text);
    int metas = power_cut(undo, data);
    assert_true(metas >= 0);
    assert_int_equal(th_start(&H, NULL, 15000), 0);
    count_topic("echo.in", counts_in);
    for (int n = first; n < next_nonce; n++)
        if (acked[n] && !hooked[n] && counts_in[n] != 1)
            fail_msg("nonce %d acknowledged but present %d times after the cut", n, counts_in[n]);
    republish_unknown();
    verify();
    assert_int_equal(th_stop(&H, 10000), 0);
    return metas;
}

/* Killed where a commit's pages are flushed and its meta page written but
 * not flushed (after a commit, a next batch perhaps waiting to carry it;
 * or idle, about to flush it), then every unflushed write undone: that
 * commit is gone, nobody had been told of it, and every acknowledged
 * event is there exactly once. Then the same at five random moments. */
static void test_a_power_cut_before_the_meta_flush_loses_only_unanswered_writes(void **s)
{
    (void)s;
    th_kill(&H); /* a failed test before must not leave its host running */
    static const char *points[] = {"store.after_commit", "store.before_meta_sync"};
    for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++)
        if (cut_power(points[i]) < 1)
            fail_msg("at %s no unflushed meta page was there to lose", points[i]);
    srand(4242);
    for (int round = 0; round < 5; round++)
        cut_power(NULL);
}

/* ---- bad storage ------------------------------------------------------------------------- */

static void test_full_disk_fails_clearly_and_recovers_once_space_is_freed(void **s)
{
    (void)s;
    if (geteuid() != 0) skip(); /* needs a private tmpfs mount */
    th_host D;
    assert_int_equal(th_init(&D, "full"), 0);
    assert_int_equal(th_install_plugin(&D, "echo"), 0);
    assert_int_equal(th_config(&D, "{\"instances\": []}"), 0);
    assert_int_equal(mkdir(D.data, 0700), 0);
    assert_int_equal(unshare(CLONE_NEWNS), 0);
    assert_int_equal(mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
    assert_int_equal(mount("tmpfs", D.data, "tmpfs", 0, "size=6m,mode=0700"), 0);
    /* A filler to delete later, so the disk can be made free again. */
    char filler[700];
    snprintf(filler, sizeof(filler), "%s/filler", D.data);
    int fd = open(filler, O_WRONLY | O_CREAT, 0600);
    static char mb[1 << 20];
    for (int i = 0; i < 2; i++)
        assert_int_equal(write(fd, mb, sizeof(mb)), (ssize_t)sizeof(mb));
    close(fd);
    assert_int_equal(th_start(&D, NULL, 15000), 0);
    char body[8300];
    int n = snprintf(body, sizeof(body), "{\"body\":\"");
    memset(body + n, 'z', 8000);
    strcpy(body + n + 8000, "\"}");
    int st = 0, ok = 0;
    json_t *o = NULL;
    for (int i = 0; i < 2000; i++) {
        json_decref(o);
        o = NULL;
        st = th_http(&D, "POST", "/api/v1/topics/fill.t/events", body, NULL, &o);
        if (st != 201) break;
        ok++;
    }
    assert_int_equal(st, 503);
    assert_string_equal(json_string_value(th_get(o, "error.code")), "store_full");
    json_decref(o);
    assert_true(ok > 10);
    /* What was written is intact and readable; the host says it is not ready. */
    assert_int_equal(th_http(&D, "GET", "/api/v1/topics/fill.t", NULL, NULL, &o), 200);
    assert_int_equal(json_integer_value(json_object_get(o, "depth")), ok);
    json_decref(o);
    assert_int_equal(th_http(&D, "GET", "/ready", NULL, "", &o), 503);
    json_decref(o);
    assert_true(th_file_contains(&D, "logs/errors.log", "disk full"));
    /* Free space: publishing works again. */
    unlink(filler);
    assert_int_equal(th_http(&D, "POST", "/api/v1/topics/fill.t/events", body, NULL, NULL), 201);
    assert_int_equal(th_http(&D, "GET", "/ready", NULL, "", NULL), 200);
    assert_int_equal(th_stop(&D, 10000), 0);
    umount2(D.data, MNT_DETACH);
    th_cleanup(&D);
}

static void test_corrupt_data_directory_is_a_clear_error_at_start(void **s)
{
    (void)s;
    th_host C;
    assert_int_equal(th_init(&C, "corrupt"), 0);
    assert_int_equal(th_config(&C, "{\"instances\": []}"), 0);
    assert_int_equal(th_make_token(&C), 0); /* creates a real store */
    /* Scribble over the first page, where LMDB's meta pages live. */
    char path[700];
    snprintf(path, sizeof(path), "%s/data.mdb", C.data);
    int fd = open(path, O_WRONLY);
    char junk[4096];
    memset(junk, 0x5a, sizeof(junk));
    assert_int_equal(pwrite(fd, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
    assert_int_equal(pwrite(fd, junk, sizeof(junk), 4096), (ssize_t)sizeof(junk));
    close(fd);
    assert_true(th_spawn_serve(&C, NULL) > 0);
    assert_int_equal(th_wait_exit(&C, 15000), 1);
    assert_true(th_file_contains(&C, "stderr.txt", "data.mdb"));
    /* Nothing was reinitialised: the scribble is still there. */
    char *d = th_read(&C, "var/data.mdb");
    assert_non_null(d);
    assert_int_equal(d[0], 0x5a);
    free(d);
    th_cleanup(&C);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shim_detects_an_answer_sent_before_the_sync),
        cmocka_unit_test(test_every_acknowledged_publish_was_synced_before_its_answer),
        cmocka_unit_test(test_fault_points_kill_at_the_named_moment_and_lose_nothing),
        cmocka_unit_test(test_twenty_random_kills_under_publish_and_consume),
        cmocka_unit_test(test_a_power_cut_before_the_meta_flush_loses_only_unanswered_writes),
        cmocka_unit_test(test_full_disk_fails_clearly_and_recovers_once_space_is_freed),
        cmocka_unit_test(test_corrupt_data_directory_is_a_clear_error_at_start),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
