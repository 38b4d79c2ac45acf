/*
 * Private storage (ABI 1.5, docs/adr/0051-plugin-private-storage.md) in a
 * real host: the pstore fixture writes, fsyncs, renames and reads files
 * beneath host->storage_dir and keeps an LMDB environment there, all
 * under the second seccomp filter, and finds both again after a restart;
 * it is refused (a clear errno, no kill) writing anywhere else and
 * reaching another instance's directory; one file cannot grow past
 * max_mb (EFBIG); removing the instance over the API deletes its
 * directory. The directory's total is held to max_mb as well (ADR 0055):
 * many files under the per-file limit fill it, then writes fail with
 * EFBIG while reads and deletions work, and writes work again once files
 * are deleted. `agenthost backup` copies the directories (a busy LMDB
 * writer paused while copied) and `agenthost restore` puts them back.
 *
 * With AGENTHOST_TEST_NO_SANDBOX=1 (test builds: the runners start with
 * --no-sandbox) the same escapes must *succeed*, which proves that the
 * checks notice a sandbox that does not confine the storage.
 */
#include "../support/th.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static th_host H;
static bool unconfined;

static int setup(void **s)
{
    (void)s;
    const char *e = getenv("AGENTHOST_TEST_NO_SANDBOX");
    unconfined = e && !strcmp(e, "1");
    const char *cfg =
        "{\"listen\":\"127.0.0.1:0\",\"instances\":["
        "{\"id\":\"s1\",\"plugin\":\"pstore\"},{\"id\":\"s2\",\"plugin\":\"pstore\"}]}";
    if (th_init(&H, "private-storage") ||
        th_install_dir(&H, TH_BUILD_DIR "/tests/plugins/pstore", "pstore") || th_config(&H, cfg) ||
        th_start(&H, NULL, 15000))
        return -1;
    return th_wait_state(&H, "s1", "ready", 15000) && th_wait_state(&H, "s2", "ready", 15000) ? 0
                                                                                              : -1;
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 15000);
    th_cleanup(&H);
    return rc ? -1 : 0;
}

static json_t *call(const char *id, const char *action, const char *args)
{
    json_t *o = NULL;
    int st = th_call(&H, id, action, args, &o);
    if (st != 200) {
        char *d = json_dumps(o, JSON_COMPACT);
        fail_msg("%s %s %s: %d %s", id, action, args, st, d ? d : "");
    }
    return o;
}

static int call_errno(const char *id, const char *action, const char *args)
{
    json_t *o = call(id, action, args);
    int e = (int)json_integer_value(th_get(o, "result.errno"));
    json_decref(o);
    return e;
}

static void storage_dir(const char *id, char *out, size_t n)
{
    snprintf(out, n, "%s/plugin-data/%s", H.data, id);
}

static void a_file_written_fsynced_and_renamed_is_on_the_host_in_a_0700_directory(void **s)
{
    (void)s;
    json_t *o = call("s1", "where", "{}");
    char dir[700];
    storage_dir("s1", dir, sizeof(dir));
    /* Confined, the plugin sees its storage at /data; unconfined, where it is. */
    assert_string_equal(json_string_value(th_get(o, "result.dir")), unconfined ? dir : "/data");
    json_decref(o);
    assert_int_equal(call_errno("s1", "put", "{\"name\":\"a.txt\",\"text\":\"привет, s1\"}"), 0);
    o = call("s1", "get", "{\"name\":\"a.txt\"}");
    assert_string_equal(json_string_value(th_get(o, "result.text")), "привет, s1");
    json_decref(o);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    char rel[64];
    snprintf(rel, sizeof(rel), "var/plugin-data/s1/a.txt");
    assert_true(th_file_contains(&H, rel, "привет, s1"));
    /* The rename left no temporary file behind. */
    char tmp[800];
    snprintf(tmp, sizeof(tmp), "%s/a.txt.tmp", dir);
    assert_int_equal(access(tmp, F_OK), -1);
}

static void lmdb_opened_beneath_the_storage_works_under_the_filter(void **s)
{
    (void)s;
    json_t *o = call("s1", "lmdb_put", "{\"key\":\"k1\",\"value\":\"v1\"}");
    assert_true(json_is_true(th_get(o, "result.ok")));
    json_decref(o);
    o = call("s1", "lmdb_get", "{\"key\":\"k1\"}");
    assert_string_equal(json_string_value(th_get(o, "result.value")), "v1");
    json_decref(o);
    assert_string_equal(th_state(&H, "s1"), "ready");
    assert_false(th_file_contains(&H, "logs/security.log", "\"instance\":\"s1\""));
}

/* errno of a refused escape: the read-only root (EROFS), Landlock
 * (EACCES), or a path the minimal root does not hold (ENOENT). */
static bool refused(int e)
{
    return e == EROFS || e == EACCES || e == ENOENT || e == EPERM;
}

static void writing_anywhere_else_is_refused_with_an_errno(void **s)
{
    (void)s;
    char args[1200];
    const char *targets[3];
    char beside_data[800], in_tmp[800];
    /* Beside the host's data directory (reachable by path on the host). */
    snprintf(beside_data, sizeof(beside_data), "%s/escaped.txt", H.dir);
    /* The plugin's own directory (in the minimal root, read-only). */
    snprintf(in_tmp, sizeof(in_tmp), "%s/pstore/escaped.txt", H.plugins);
    targets[0] = beside_data;
    targets[1] = in_tmp;
    targets[2] = "/data/../escaped.txt";
    int escaped = 0;
    for (size_t i = 0; i < 3; i++) {
        snprintf(args, sizeof(args), "{\"path\":\"%s\"}", targets[i]);
        int e = call_errno("s1", "try_write", args);
        if (unconfined) {
            escaped += e == 0;
            continue;
        }
        if (!refused(e)) fail_msg("writing %s: errno %d (%s)", targets[i], e, strerror(e));
    }
    for (size_t i = 0; i < 2; i++)
        if (access(targets[i], F_OK) == 0) {
            assert_true(unconfined);
            unlink(targets[i]);
        }
    if (unconfined) assert_true(escaped >= 2); /* the checks notice an open sandbox */
    /* Refused softly: no violation, the instance runs on. */
    assert_string_equal(th_state(&H, "s1"), "ready");
    assert_false(th_file_contains(&H, "logs/security.log", "\"instance\":\"s1\""));
}

static void another_instances_directory_cannot_be_seen(void **s)
{
    (void)s;
    assert_int_equal(call_errno("s2", "put", "{\"name\":\"mine.txt\",\"text\":\"s2 only\"}"), 0);
    char other[800], args[1000];
    storage_dir("s2", other, sizeof(other));
    const char *paths[] = {other, "/data/../plugin-data/s2", NULL};
    char file[900];
    snprintf(file, sizeof(file), "%s/mine.txt", other);
    paths[2] = file;
    int seen = 0;
    for (size_t i = 0; i < 3; i++) {
        snprintf(args, sizeof(args), "{\"path\":\"%s\"}", paths[i]);
        int e = call_errno("s1", "try_read", args);
        if (unconfined)
            seen += e == 0;
        else if (!refused(e))
            fail_msg("s1 reading %s: errno %d (%s)", paths[i], e, strerror(e));
    }
    if (unconfined) assert_true(seen >= 2);
    /* s2 keeps its own. */
    json_t *o = call("s2", "get", "{\"name\":\"mine.txt\"}");
    assert_string_equal(json_string_value(th_get(o, "result.text")), "s2 only");
    json_decref(o);
}

static void a_file_past_max_mb_is_refused_with_efbig(void **s)
{
    (void)s;
    json_t *o = call("s1", "big", "{\"mb\":3}");
    if (unconfined) { /* no RLIMIT_FSIZE: the 3 MiB are written */
        assert_int_equal(json_integer_value(th_get(o, "result.written")), 3 << 20);
    } else {
        assert_int_equal(json_integer_value(th_get(o, "result.errno")), EFBIG);
        assert_int_equal(json_integer_value(th_get(o, "result.written")), 2 << 20);
    }
    json_decref(o);
    assert_string_equal(th_state(&H, "s1"), "ready");
}

static json_t *instance_storage(const char *id)
{
    char path[128];
    json_t *o = NULL;
    snprintf(path, sizeof(path), "/api/v1/instances/%s", id);
    if (th_http(&H, "GET", path, NULL, NULL, &o) != 200) fail_msg("GET %s", path);
    json_t *st = json_incref(th_get(o, "storage"));
    json_decref(o);
    return st;
}

/* Bounded wait for the supervisor's next measurement to say `over`. */
static bool wait_over_quota(const char *id, bool over)
{
    for (int i = 0; i < 300; i++) {
        json_t *st = instance_storage(id);
        bool now = json_is_true(json_object_get(st, "over_quota"));
        json_decref(st);
        if (now == over) return true;
        th_sleep_ms(50);
    }
    return false;
}

static int fill_errno(const char *id, const char *name, int kb)
{
    char args[200];
    snprintf(args, sizeof(args), "{\"name\":\"%s\",\"kb\":%d}", name, kb);
    return call_errno(id, "fill", args);
}

static void filling_past_the_total_with_files_under_the_per_file_limit_is_stopped(void **s)
{
    (void)s;
    json_t *o = NULL;
    assert_int_equal(
        th_http(&H, "POST", "/api/v1/instances", "{\"id\":\"s4\",\"plugin\":\"pstore\"}", NULL, &o),
        201);
    json_decref(o);
    assert_true(th_wait_state(&H, "s4", "ready", 15000));
    json_t *st = instance_storage("s4");
    assert_int_equal(json_integer_value(json_object_get(st, "max_mb")), 2);
    assert_false(json_is_true(json_object_get(st, "over_quota")));
    json_decref(st);
    /* Six files of 512 KiB, each a quarter of max_mb (2 MiB): 3 MiB in all
     * (a write may already fail once the total is past max_mb). */
    char name[32];
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof(name), "f%d", i);
        int e = fill_errno("s4", name, 512);
        if (e && !(e == EFBIG && i >= 4)) fail_msg("fill %s: errno %d (%s)", name, e, strerror(e));
    }
    assert_true(wait_over_quota("s4", true));
    /* Over: no write adds a byte, the plugin gets an errno, nothing is killed. */
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof(name), "g%d", i);
        assert_int_equal(fill_errno("s4", name, 4), EFBIG);
    }
    /* An LMDB commit fails cleanly too (the plugin answers its error). */
    o = NULL;
    int st_put = th_call(&H, "s4", "lmdb_put", "{\"key\":\"k\",\"value\":\"v\"}", &o);
    assert_true(st_put != 200 || !json_is_true(th_get(o, "result.ok")));
    json_decref(o);
    assert_string_equal(th_state(&H, "s4"), "ready");
    st = instance_storage("s4");
    assert_true(json_integer_value(json_object_get(st, "used_bytes")) > (2 << 20));
    assert_true(json_integer_value(json_object_get(st, "used_bytes")) < (4 << 20));
    json_decref(st);
    /* A plugin that raises its own limit back is stopped; its next
     * process starts with the limit lowered again. */
    assert_int_equal(call_errno("s4", "raise_fsize", "{}"), 0);
    bool stopped = false;
    for (int i = 0; i < 300 && !stopped; i++) {
        o = NULL;
        th_http(&H, "GET", "/api/v1/instances/s4", NULL, NULL, &o);
        const char *e = json_string_value(th_get(o, "last_error"));
        stopped = e && strstr(e, "raised its own file size limit");
        json_decref(o);
        if (!stopped) th_sleep_ms(50);
    }
    assert_true(stopped);
    assert_true(th_wait_state(&H, "s4", "ready", 15000));
    assert_int_equal(fill_errno("s4", "g9", 4), EFBIG);
    /* It can read, and delete. */
    o = call("s4", "get", "{\"name\":\"f0\"}");
    assert_int_equal(strncmp(json_string_value(th_get(o, "result.text")), "xxxx", 4), 0);
    json_decref(o);
    for (int i = 0; i < 6; i++) {
        char args[64];
        snprintf(args, sizeof(args), "{\"name\":\"f%d\"}", i);
        int e = call_errno("s4", "remove", args);
        assert_true(e == 0 || e == ENOENT);
    }
    /* Under again: writes work. */
    assert_true(wait_over_quota("s4", false));
    assert_int_equal(fill_errno("s4", "after", 512), 0);
    assert_string_equal(th_state(&H, "s4"), "ready");
    assert_true(
        th_wait_file(&H, "logs/host.log", "instance s4: private storage over its quota", 15000));
    assert_true(th_wait_file(&H, "logs/host.log",
                             "instance s4: private storage under its quota again", 15000));
    assert_int_equal(th_http(&H, "DELETE", "/api/v1/instances/s4", NULL, NULL, NULL), 204);
}

static void files_and_lmdb_are_found_again_after_a_restart(void **s)
{
    (void)s;
    assert_int_equal(th_stop(&H, 15000), 0);
    assert_int_equal(th_start(&H, NULL, 15000), 0);
    assert_true(th_wait_state(&H, "s1", "ready", 15000));
    json_t *o = call("s1", "get", "{\"name\":\"a.txt\"}");
    assert_string_equal(json_string_value(th_get(o, "result.text")), "привет, s1");
    json_decref(o);
    o = call("s1", "lmdb_get", "{\"key\":\"k1\"}");
    assert_string_equal(json_string_value(th_get(o, "result.value")), "v1");
    json_decref(o);
}

static void *churn_thread(void *arg)
{
    json_t **out = arg;
    if (th_call(&H, "s1", "churn", "{}", out) != 200) {
        json_decref(*out);
        *out = NULL;
    }
    return NULL;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void wipe(const char *path)
{
    if (access(path, F_OK) == 0) assert_int_equal(nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* root's tree from the kernel's children lists into out: how many. */
static size_t tree_of(int root, int *out, size_t max)
{
    size_t n = 0;
    out[n++] = root;
    for (size_t t = 0; t < n; t++) {
        char path[96], buf[512];
        snprintf(path, sizeof(path), "/proc/%d/task/%d/children", out[t], out[t]);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t k = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[k] = 0;
        for (char *p = buf, *end; n < max; p = end) {
            long c = strtol(p, &end, 10);
            if (end == p) break;
            out[n++] = (int)c;
        }
    }
    return n;
}

static char proc_state(int pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return '?';
    size_t k = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[k] = 0;
    const char *p = strrchr(buf, ')');
    return p && p[1] ? p[2] : '?';
}

static void a_backup_pauses_an_instance_while_it_copies_its_directory(void **s)
{
    (void)s;
    /* The backup dies (a fault point) just after pausing the first running
     * instance it copies: that instance's processes are all stopped. */
    char to[700], mark[700];
    snprintf(to, sizeof(to), "%s/killed-backup.mdb", H.dir);
    snprintf(mark, sizeof(mark), "%s/backup-fault.mark", H.dir);
    setenv("AGENTHOST_FAULT", "backup.instance_paused", 1);
    setenv("AGENTHOST_FAULT_MARK", mark, 1);
    int rc = th_cli(&H, NULL, NULL, 0, "backup", "--to", to, NULL);
    unsetenv("AGENTHOST_FAULT");
    unsetenv("AGENTHOST_FAULT_MARK");
    assert_int_not_equal(rc, 0);
    assert_true(th_file_contains(&H, "backup-fault.mark", "backup.instance_paused"));
    int stopped_trees = 0;
    const char *ids[] = {"s1", "s2"};
    for (size_t i = 0; i < 2; i++) {
        char rel[64];
        snprintf(rel, sizeof(rel), "var/plugin-pids/%s", ids[i]);
        char *line = th_read(&H, rel);
        assert_non_null(line);
        int pid = atoi(line);
        free(line);
        int tree[16];
        size_t n = tree_of(pid, tree, 16);
        size_t stopped = 0;
        for (size_t k = 0; k < n; k++)
            stopped += proc_state(tree[k]) == 'T';
        stopped_trees += stopped == n;
        for (size_t k = 0; k < n; k++)
            kill(tree[k], SIGCONT);
    }
    assert_int_equal(stopped_trees, 1);
    /* Resumed, both answer. */
    json_t *o = call("s1", "where", "{}");
    json_decref(o);
    o = call("s2", "where", "{}");
    json_decref(o);
}

static void a_backup_of_a_busy_instance_restores_its_files_and_an_openable_lmdb(void **s)
{
    (void)s;
    /* A writer committing LMDB transactions while the backup is taken. */
    json_t *res = NULL;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, churn_thread, &res), 0);
    assert_true(th_wait_file(&H, "var/plugin-data/s1/churn.started", "1", 15000));
    /* The host names the process to pause for backups. */
    assert_true(th_file_contains(&H, "var/plugin-pids/s1", " "));
    char to[700], stop[800];
    snprintf(to, sizeof(to), "%s/backup.mdb", H.dir);
    assert_int_equal(th_cli(&H, NULL, NULL, 0, "backup", "--to", to, NULL), 0);
    snprintf(stop, sizeof(stop), "%s/plugin-data/s1/churn.stop", H.data);
    FILE *f = fopen(stop, "w");
    assert_non_null(f);
    fclose(f);
    pthread_join(t, NULL);
    assert_non_null(res);
    /* The backup was taken while it wrote: it stopped on the file, not the bound. */
    assert_true(json_is_true(th_get(res, "result.stopped")));
    long long commits = json_integer_value(th_get(res, "result.commits"));
    json_decref(res);
    assert_true(commits > 1);
    unlink(stop);

    /* Wipe the store; a restore over the private storage still there is
     * refused without --force, and changes nothing. */
    assert_int_equal(th_stop(&H, 15000), 0);
    char path[800];
    snprintf(path, sizeof(path), "%s/data.mdb", H.data);
    unlink(path);
    snprintf(path, sizeof(path), "%s/lock.mdb", H.data);
    unlink(path);
    assert_int_equal(th_cli(&H, NULL, NULL, 0, "restore", "--from", to, NULL), 1);
    snprintf(path, sizeof(path), "%s/data.mdb", H.data);
    assert_int_equal(access(path, F_OK), -1);
    /* Wipe every instance's files too; restore both. */
    snprintf(path, sizeof(path), "%s/plugin-data", H.data);
    wipe(path);
    assert_int_equal(th_cli(&H, NULL, NULL, 0, "restore", "--from", to, NULL), 0);
    struct stat st;
    char dir[700];
    storage_dir("s1", dir, sizeof(dir));
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(th_start(&H, NULL, 15000), 0);
    assert_true(th_wait_state(&H, "s1", "ready", 15000));
    assert_true(th_wait_state(&H, "s2", "ready", 15000));

    /* The plain files of both instances, the earlier LMDB record, and the
     * busy environment at one committed transaction (a and b together). */
    json_t *o = call("s1", "get", "{\"name\":\"a.txt\"}");
    assert_string_equal(json_string_value(th_get(o, "result.text")), "привет, s1");
    json_decref(o);
    o = call("s2", "get", "{\"name\":\"mine.txt\"}");
    assert_string_equal(json_string_value(th_get(o, "result.text")), "s2 only");
    json_decref(o);
    o = call("s1", "lmdb_get", "{\"key\":\"k1\"}");
    assert_string_equal(json_string_value(th_get(o, "result.value")), "v1");
    json_decref(o);
    o = call("s1", "lmdb_pair", "{}");
    const char *a = json_string_value(th_get(o, "result.a"));
    const char *b = json_string_value(th_get(o, "result.b"));
    if (!a || !b) fail_msg("the restored LMDB: %s", json_dumps(o, JSON_COMPACT));
    assert_string_equal(a, b);
    assert_true(atoll(a) >= 1 && atoll(a) <= commits);
    json_decref(o);
    /* And it takes writes again. */
    o = call("s1", "lmdb_put", "{\"key\":\"k2\",\"value\":\"v2\"}");
    assert_true(json_is_true(th_get(o, "result.ok")));
    json_decref(o);

    /* A backup without its plugin-data beside, over private storage still
     * here: refused without --force (the files would not match the store),
     * taken with it, keeping the files. */
    assert_int_equal(th_stop(&H, 15000), 0);
    char bare[800];
    snprintf(bare, sizeof(bare), "%s/bare.mdb", H.dir);
    assert_int_equal(link(to, bare), 0);
    snprintf(path, sizeof(path), "%s/data.mdb", H.data);
    unlink(path);
    assert_int_equal(th_cli(&H, NULL, NULL, 0, "restore", "--from", bare, NULL), 1);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(th_cli(&H, NULL, NULL, 0, "restore", "--from", bare, "--force", NULL), 0);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(th_start(&H, NULL, 15000), 0);
    assert_true(th_wait_state(&H, "s1", "ready", 15000));
    o = call("s1", "lmdb_get", "{\"key\":\"k2\"}");
    assert_string_equal(json_string_value(th_get(o, "result.value")), "v2");
    json_decref(o);
}

static void removing_an_instance_over_the_api_deletes_its_directory(void **s)
{
    (void)s;
    json_t *o = NULL;
    assert_int_equal(
        th_http(&H, "POST", "/api/v1/instances", "{\"id\":\"s3\",\"plugin\":\"pstore\"}", NULL, &o),
        201);
    json_decref(o);
    assert_true(th_wait_state(&H, "s3", "ready", 15000));
    assert_int_equal(call_errno("s3", "put", "{\"name\":\"x.txt\",\"text\":\"gone soon\"}"), 0);
    o = call("s3", "lmdb_put", "{\"key\":\"a\",\"value\":\"b\"}");
    json_decref(o);
    char dir[700];
    storage_dir("s3", dir, sizeof(dir));
    assert_int_equal(access(dir, F_OK), 0);
    assert_int_equal(th_http(&H, "DELETE", "/api/v1/instances/s3", NULL, NULL, NULL), 204);
    /* The deletion completes once the process is gone: bounded wait. */
    for (int i = 0; i < 200 && access(dir, F_OK) == 0; i++)
        th_sleep_ms(50);
    assert_int_equal(access(dir, F_OK), -1);
    assert_true(th_wait_file(&H, "logs/host.log",
                             "s3 removed with its record, KV, secrets "
                             "and private storage",
                             15000));
    /* Its neighbours keep theirs. */
    storage_dir("s1", dir, sizeof(dir));
    assert_int_equal(access(dir, F_OK), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_file_written_fsynced_and_renamed_is_on_the_host_in_a_0700_directory),
        cmocka_unit_test(lmdb_opened_beneath_the_storage_works_under_the_filter),
        cmocka_unit_test(writing_anywhere_else_is_refused_with_an_errno),
        cmocka_unit_test(another_instances_directory_cannot_be_seen),
        cmocka_unit_test(a_file_past_max_mb_is_refused_with_efbig),
        cmocka_unit_test(filling_past_the_total_with_files_under_the_per_file_limit_is_stopped),
        cmocka_unit_test(files_and_lmdb_are_found_again_after_a_restart),
        cmocka_unit_test(a_backup_pauses_an_instance_while_it_copies_its_directory),
        cmocka_unit_test(a_backup_of_a_busy_instance_restores_its_files_and_an_openable_lmdb),
        cmocka_unit_test(removing_an_instance_over_the_api_deletes_its_directory),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
