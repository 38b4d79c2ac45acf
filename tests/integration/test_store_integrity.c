/*
 * A damaged store through the real binary: an empty or truncated data.mdb
 * refused at start, `agenthost check` on intact, damaged and crashing
 * stores, a damaged event never served nor delivered, backup reporting and
 * restore refusing a damaged copy, a store written before checksums, and a
 * fault inside the store named.
 *
 * One source store (events published over HTTP, host stopped) is made
 * once; each test damages its own copy.
 */
#include "../support/th.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TOPIC "audit.trail"
#define EVENTS 60

static th_host S; /* the source store */

static const char *config_json = "{\"instances\": []}";

/* Run `agenthost ARGS` with stdout and stderr into out; the exit status. */
static int run(char *out, size_t outlen, const char *fmt, ...)
{
    char args[2048], cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof(cmd), "%s/agenthost %s 2>&1", TH_BUILD_DIR, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int setup(void **state)
{
    (void)state;
    if (th_init(&S, "integrity-src") || th_config(&S, config_json) || th_start(&S, NULL, 15000))
        return -1;
    for (int i = 1; i <= EVENTS; i++) {
        char body[128];
        snprintf(body, sizeof(body), "{\"body\": {\"text\": \"needle-%04d\"}, \"key\": \"k%d\"}", i,
                 i % 4);
        if (th_http(&S, "POST", "/api/v1/topics/" TOPIC "/events", body, NULL, NULL) != 201)
            return -1;
    }
    return th_stop_clean(&S, 10000) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    th_cleanup(&S);
    return 0;
}

static void copy_file(const char *from, const char *to)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
    assert_int_equal(system(cmd), 0);
}

/* A host whose data directory holds a copy of the source store. */
static void host_with_copy(th_host *h, const char *name)
{
    char from[1024], to[1024];
    assert_int_equal(th_init(h, name), 0);
    assert_int_equal(th_config(h, config_json), 0);
    assert_int_equal(mkdir(h->data, 0700), 0);
    const char *files[] = {"data.mdb", "master.key"};
    for (int i = 0; i < 2; i++) {
        snprintf(from, sizeof(from), "%s/%s", S.data, files[i]);
        snprintf(to, sizeof(to), "%s/%s", h->data, files[i]);
        copy_file(from, to);
    }
    snprintf(h->token, sizeof(h->token), "%s", S.token);
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* Where in the file LMDB keeps the event at offset seq of topic: the page
 * holding its record (a page begins with its own number; the map is
 * page-aligned) and its place in that page. */
static long event_offset(const char *file, const char *topic, uint64_t seq)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi topics, events;
    MDB_stat st;
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 32);
    assert_int_equal(mdb_env_open(env, file, MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "bus.topics", 0, &topics), 0);
    assert_int_equal(mdb_dbi_open(txn, "bus.events", 0, &events), 0);
    MDB_val tk = {strlen(topic), (void *)topic}, tv, v;
    assert_int_equal(mdb_get(txn, topics, &tk, &tv), 0);
    uint8_t key[12];
    memcpy(key, (const uint8_t *)tv.mv_data + 4, 4); /* the topic id, big-endian */
    for (int i = 0; i < 8; i++)
        key[4 + i] = (uint8_t)(seq >> (56 - 8 * i));
    MDB_val k = {12, key};
    assert_int_equal(mdb_get(txn, events, &k, &v), 0);
    mdb_env_stat(env, &st);
    uintptr_t at = (uintptr_t)v.mv_data, page = at & ~(uintptr_t)(st.ms_psize - 1);
    size_t pgno;
    memcpy(&pgno, (const void *)page, sizeof(pgno));
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return (long)(pgno * st.ms_psize + (at - page));
}

static void overwrite(const char *file, long off, const void *bytes, size_t n)
{
    int fd = open(file, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, bytes, n, off), (ssize_t)n);
    close(fd);
}

/* Change "needle" in the body of event seq of topic to "NEEDLE": still a
 * well-formed event with valid JSON; only its checksum can tell. */
static void damage_event(const char *file, const char *topic, uint64_t seq)
{
    long off = event_offset(file, topic, seq);
    char rec[512];
    int fd = open(file, O_RDONLY);
    ssize_t n = pread(fd, rec, sizeof(rec), off);
    close(fd);
    assert_true(n > 64);
    char *at = memmem(rec, (size_t)n, "needle", 6);
    assert_non_null(at);
    overwrite(file, off + (at - rec), "NEEDLE", 6);
}

static void damage_body(const char *file, uint64_t seq)
{
    damage_event(file, TOPIC, seq);
}

static void test_an_empty_data_file_is_refused_at_start_and_no_first_start_token_printed(void **s)
{
    (void)s;
    th_host H;
    char path[1024], lock[1024];
    host_with_copy(&H, "integrity-empty");
    snprintf(path, sizeof(path), "%s/data.mdb", H.data);
    snprintf(lock, sizeof(lock), "%s/lock.mdb", H.data);
    assert_int_equal(truncate(path, 0), 0);
    /* With a lock file beside it (as a host leaves it), then alone. */
    int fd = open(lock, O_WRONLY | O_CREAT, 0600);
    close(fd);
    for (int alone = 0; alone < 2; alone++) {
        if (alone) assert_int_equal(unlink(lock), 0);
        assert_true(th_spawn_serve(&H, NULL) > 0);
        assert_int_equal(th_wait_exit(&H, 15000), 1);
        assert_true(th_file_contains(&H, "stderr.txt",
                                     "var/data.mdb is empty: refusing to initialise over it; "
                                     "restore from a backup or move it away"));
        assert_false(th_file_contains(&H, "stderr.txt", "first start"));
        assert_int_equal(file_size(path), 0);
    }
    th_cleanup(&H);
}

static void test_a_truncated_data_file_is_refused_at_start_naming_both_sizes(void **s)
{
    (void)s;
    th_host H;
    char path[1024], want[128];
    host_with_copy(&H, "integrity-truncated");
    snprintf(path, sizeof(path), "%s/data.mdb", H.data);
    long long half = file_size(path) / 2;
    assert_int_equal(truncate(path, half), 0);
    assert_true(th_spawn_serve(&H, NULL) > 0);
    assert_int_equal(th_wait_exit(&H, 15000), 1); /* an exit with a reason, not a SIGBUS */
    assert_true(th_file_contains(&H, "stderr.txt", "var/data.mdb is truncated"));
    snprintf(want, sizeof(want), "it holds %lld bytes, its pages in use need", half);
    assert_true(th_file_contains(&H, "stderr.txt", want));
    assert_int_equal(file_size(path), half);
    th_cleanup(&H);
}

static void test_check_passes_an_intact_store_and_names_the_database_of_a_damaged_record(void **s)
{
    (void)s;
    th_host H;
    char path[1024], out[16384];
    host_with_copy(&H, "integrity-check");
    assert_int_equal(run(out, sizeof(out), "check --data %s", H.data), 0);
    assert_non_null(strstr(out, "bus.events"));
    assert_non_null(strstr(out, "60 checksums verified"));
    assert_non_null(strstr(out, "the store is intact"));
    snprintf(path, sizeof(path), "%s/data.mdb", H.data);
    damage_body(path, 17);
    assert_int_equal(run(out, sizeof(out), "check --data %s", H.data), 1);
    assert_non_null(strstr(out, "bus.events"));
    assert_non_null(strstr(out, "DAMAGED"));
    assert_non_null(strstr(out, "offset 17: fails its checksum"));
    assert_non_null(strstr(out, "is damaged: stop the host and restore a backup"));
    th_cleanup(&H);
}

static void test_a_damaged_event_is_never_served_and_its_offset_is_named(void **s)
{
    (void)s;
    th_host H;
    char path[1024];
    json_t *o;
    host_with_copy(&H, "integrity-serve");
    snprintf(path, sizeof(path), "%s/data.mdb", H.data);
    damage_body(path, 17);
    assert_int_equal(th_start(&H, NULL, 15000), 0);
    assert_int_equal(
        th_http(&H, "GET", "/api/v1/topics/" TOPIC "/events?from=1&limit=100", NULL, NULL, &o),
        503);
    assert_non_null(strstr(json_string_value(th_get(o, "error.message")), "offset 17"));
    json_decref(o);
    /* The events before and after it are there. */
    assert_int_equal(
        th_http(&H, "GET", "/api/v1/topics/" TOPIC "/events?from=18&limit=100", NULL, NULL, &o),
        200);
    assert_int_equal(json_array_size(json_object_get(o, "events")), EVENTS - 17);
    json_decref(o);
    assert_int_equal(
        th_http(&H, "GET", "/api/v1/topics/" TOPIC "/events?from=1&limit=16", NULL, NULL, &o), 200);
    assert_int_equal(json_array_size(json_object_get(o, "events")), 16);
    json_decref(o);
    assert_true(th_logs_contain(&H, "damaged record in database bus.events"));
    assert_int_equal(th_stop_clean(&H, 10000), 0);
    th_cleanup(&H);
}

static json_t *consumer_of(th_host *h, const char *topic)
{
    char path[256];
    json_t *o;
    snprintf(path, sizeof(path), "/api/v1/topics/%s", topic);
    if (th_http(h, "GET", path, NULL, NULL, &o) != 200) return NULL;
    json_t *c = json_incref(json_array_get(json_object_get(o, "consumers"), 0));
    json_decref(o);
    return c;
}

static void test_a_damaged_event_is_never_delivered_nor_taken_for_settled(void **s)
{
    (void)s;
    th_host H;
    char path[1024];
    json_t *o;
    assert_int_equal(th_init(&H, "integrity-deliver"), 0);
    assert_int_equal(th_install_plugin(&H, "echo"), 0);
    assert_int_equal(th_config(&H, config_json), 0);
    assert_int_equal(th_start(&H, NULL, 15000), 0);
    for (int i = 1; i <= 3; i++) {
        char body[64];
        snprintf(body, sizeof(body), "{\"body\": {\"text\": \"needle-%d\"}}", i);
        assert_int_equal(th_http(&H, "POST", "/api/v1/topics/echo.in/events", body, NULL, NULL),
                         201);
    }
    assert_int_equal(th_stop_clean(&H, 10000), 0);
    snprintf(path, sizeof(path), "%s/data.mdb", H.data);
    damage_event(path, "echo.in", 2);
    /* Now an echo instance reads echo.in from the start and republishes. */
    assert_int_equal(th_config(&H, "{\"instances\": [{\"id\": \"echo\", \"plugin\": \"echo\","
                                   " \"consumer\": {\"start\": \"earliest\"}}]}"),
                     0);
    assert_int_equal(th_start(&H, NULL, 15000), 0);
    assert_true(th_wait_depth(&H, "echo.out", 2, 15000));
    /* Event 1 is settled; event 2 waits, retrying, and holds the position. */
    json_t *c = NULL;
    for (int i = 0; i < 500; i++) {
        json_decref(c);
        c = consumer_of(&H, "echo.in");
        if (c && json_integer_value(json_object_get(c, "position")) == 1) break;
        th_sleep_ms(20);
    }
    assert_non_null(c);
    assert_int_equal(json_integer_value(json_object_get(c, "position")), 1);
    assert_int_equal(json_integer_value(json_object_get(c, "retrying")), 1);
    json_decref(c);
    assert_int_equal(
        th_http(&H, "GET", "/api/v1/topics/echo.out/events?from=1&limit=10", NULL, NULL, &o), 200);
    json_t *ev = json_object_get(o, "events");
    assert_int_equal(json_array_size(ev), 2);
    assert_string_equal(json_string_value(th_get(o, "events.0.body.text")), "needle-1");
    assert_string_equal(json_string_value(th_get(o, "events.1.body.text")), "needle-3");
    json_decref(o);
    assert_true(th_logs_contain(&H, "damaged record in database bus.events: topic echo.in"));
    assert_int_equal(th_stop_clean(&H, 10000), 0);
    th_cleanup(&H);
}

static void test_check_reports_a_page_that_crashes_its_walk_and_carries_on(void **s)
{
    (void)s;
    th_host H;
    char path[1024], out[16384];
    host_with_copy(&H, "integrity-page");
    snprintf(path, sizeof(path), "%s/data.mdb", H.data);
    uint8_t junk[64];
    memset(junk, 0xff, sizeof(junk));
    overwrite(path, event_offset(path, TOPIC, 30) / 4096 * 4096, junk, sizeof(junk));
    assert_int_equal(run(out, sizeof(out), "check --data %s", H.data), 1);
    assert_non_null(strstr(out, "DAMAGED"));
    assert_non_null(strstr(out, "the store is DAMAGED: bus.events"));
    /* The databases after it were checked all the same. */
    assert_non_null(strstr(out, "docs"));
    th_cleanup(&H);
}

static void test_restore_refuses_a_damaged_backup_and_changes_nothing(void **s)
{
    (void)s;
    th_host H, R;
    char backup[1024], out[16384], path[1024];
    host_with_copy(&H, "integrity-backup");
    snprintf(backup, sizeof(backup), "%s/backup.mdb", H.dir);
    assert_int_equal(run(out, sizeof(out), "backup --to %s --data %s", backup, H.data), 0);
    damage_body(backup, 40);
    assert_int_equal(th_init(&R, "integrity-restore"), 0);
    assert_int_equal(run(out, sizeof(out), "restore --from %s --data %s", backup, R.data), 1);
    assert_non_null(strstr(out, "offset 40: fails its checksum"));
    assert_non_null(strstr(out, "is damaged: refusing to restore it; nothing was changed"));
    snprintf(path, sizeof(path), "%s/data.mdb", R.data);
    assert_int_equal(file_size(path), -1);
    /* Nor over an existing store with --force. */
    assert_int_equal(run(out, sizeof(out), "restore --from %s --data %s --force", backup, H.data),
                     1);
    assert_int_equal(run(out, sizeof(out), "check --data %s", H.data), 0);
    th_cleanup(&R);
    th_cleanup(&H);
}

static void test_a_backup_of_a_damaged_store_is_written_and_reported_damaged(void **s)
{
    (void)s;
    th_host H;
    char backup[1024], out[16384], path[1024];
    host_with_copy(&H, "integrity-backup-damaged");
    snprintf(backup, sizeof(backup), "%s/backup.mdb", H.dir);
    assert_int_equal(run(out, sizeof(out), "backup --to %s --data %s", backup, H.data), 0);
    assert_non_null(strstr(out, "backup written and verified"));
    snprintf(path, sizeof(path), "%s/data.mdb", H.data);
    damage_body(path, 25);
    assert_int_equal(run(out, sizeof(out), "backup --to %s --data %s", backup, H.data), 1);
    assert_non_null(strstr(out, "offset 25: fails its checksum"));
    assert_non_null(strstr(out, "the store it was taken from is damaged"));
    assert_true(file_size(backup) > 0); /* kept: it may still be the best copy there is */
    th_cleanup(&H);
}

static void test_a_store_written_before_checksums_opens_serves_and_passes_check(void **s)
{
    (void)s;
    th_host H;
    char out[16384];
    json_t *o;
    assert_int_equal(th_init(&H, "integrity-v1"), 0);
    assert_int_equal(th_config(&H, config_json), 0);
    assert_int_equal(run(out, sizeof(out),
                         "restore --from %s/tests/fixtures/store-v1/store.mdb "
                         "--data %s",
                         TH_SOURCE_DIR, H.data),
                     0);
    assert_int_equal(run(out, sizeof(out), "check --data %s", H.data), 0);
    assert_non_null(strstr(out, "0 checksums verified, 12 records predate checksums"));
    assert_int_equal(th_make_token(&H), 0);
    assert_int_equal(th_start(&H, NULL, 15000), 0);
    assert_int_equal(
        th_http(&H, "GET", "/api/v1/topics/legacy.events/events?from=1&limit=100", NULL, NULL, &o),
        200);
    json_t *events = json_object_get(o, "events");
    assert_int_equal(json_array_size(events), 12);
    assert_string_equal(json_string_value(th_get(o, "events.11.body.text")), "legacy event 12");
    json_decref(o);
    assert_int_equal(th_http(&H, "POST", "/api/v1/topics/legacy.events/events",
                             "{\"body\": {\"text\": \"new\"}}", NULL, NULL),
                     201);
    assert_int_equal(th_stop_clean(&H, 10000), 0);
    assert_int_equal(run(out, sizeof(out), "check --data %s", H.data), 0);
    assert_non_null(strstr(out, "1 checksums verified, 12 records predate checksums"));
    th_cleanup(&H);
}

static void test_a_fault_reading_the_store_names_the_database_and_what_to_do(void **s)
{
    (void)s;
    th_host H;
    char path[1024];
    host_with_copy(&H, "integrity-fault");
    assert_int_equal(th_start(&H, NULL, 15000), 0);
    /* Cut the file short under the running host: the next read of a page
     * past the end faults (SIGBUS). */
    snprintf(path, sizeof(path), "%s/data.mdb", H.data);
    assert_int_equal(truncate(path, 2 * 4096), 0);
    th_http(&H, "GET", "/api/v1/topics/" TOPIC "/events?from=1&limit=100", NULL, NULL, NULL);
    int st = th_wait_exit(&H, 15000);
    assert_true(st != 0 && st != -1);
    assert_true(th_file_contains(&H, "stderr.txt", "while the store was reading database "));
    assert_true(th_file_contains(&H, "stderr.txt", "data.mdb: the store is damaged or was cut"));
    assert_true(th_file_contains(&H, "stderr.txt", "run `agenthost check --data "));
    th_cleanup(&H);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_an_empty_data_file_is_refused_at_start_and_no_first_start_token_printed),
        cmocka_unit_test(test_a_truncated_data_file_is_refused_at_start_naming_both_sizes),
        cmocka_unit_test(
            test_check_passes_an_intact_store_and_names_the_database_of_a_damaged_record),
        cmocka_unit_test(test_a_damaged_event_is_never_served_and_its_offset_is_named),
        cmocka_unit_test(test_a_damaged_event_is_never_delivered_nor_taken_for_settled),
        cmocka_unit_test(test_check_reports_a_page_that_crashes_its_walk_and_carries_on),
        cmocka_unit_test(test_restore_refuses_a_damaged_backup_and_changes_nothing),
        cmocka_unit_test(test_a_backup_of_a_damaged_store_is_written_and_reported_damaged),
        cmocka_unit_test(test_a_store_written_before_checksums_opens_serves_and_passes_check),
        cmocka_unit_test(test_a_fault_reading_the_store_names_the_database_and_what_to_do),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
