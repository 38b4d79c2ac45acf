/*
 * bench_model - the data model's figures: document writes and reads
 * against raw LMDB (part "crud"), and list pages, loading, bytes on disk
 * and memory over 10k, 100k and 1M conversations and contacts (part
 * "scale"). See model.h and docs/benchmarks.md.
 *
 *   bench_model --smoke | --full
 *   bench_model --probe-rss DIR N NMAX QUERIES   (run by the scale part: a
 *       fresh process that opens the store in DIR read-only as the host
 *       does, runs QUERIES list queries and prints its RSS as JSON)
 */
#include "model.h"

#include "core/log.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the in-process host ---------------------------------------------------- */

static bool g_deadline;

static void on_deadline(uv_timer_t *t)
{
    (void)t;
    g_deadline = true;
}

bool mb_run_until(mb_world *w, bool (*cond)(void *), void *arg, int timeout_ms)
{
    if (cond(arg)) return true;
    uv_timer_t t;
    uv_timer_init(loop_uv(w->loop), &t);
    g_deadline = false;
    uv_timer_start(&t, on_deadline, (uint64_t)timeout_ms, 0);
    while (!cond(arg) && !g_deadline)
        uv_run(loop_uv(w->loop), UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop_uv(w->loop), UV_RUN_NOWAIT);
    return cond(arg);
}

int mb_keys_open(keystore **out, const char *data, char *err, size_t errlen)
{
    char dir[700];
    const char *slash = strrchr(data, '/');
    int n = slash ? (int)(slash - data) : 1;
    snprintf(dir, sizeof(dir), "%.*s/keys", n, slash ? data : ".");
    return keystore_open(out, dir, err, errlen) == 0 ? 0 : -1;
}

int mb_open(mb_world *w, bench *b, const char *tag, size_t map_size)
{
    memset(w, 0, sizeof(*w));
    if (bench_tmpdir(w->dir, sizeof(w->dir), tag) < 0) {
        bench_fail(b, "cannot make a temporary directory");
        return -1;
    }
    snprintf(w->data, sizeof(w->data), "%s/var", w->dir);
    char err[512] = "";
    store_opts so = {.dir = w->data, .map_size = map_size};
    size_t migrated = 0;
    if (loop_new(&w->loop) < 0 || store_open(&w->st, w->loop, &so, err, sizeof(err)) != 0 ||
        mb_keys_open(&w->keys, w->data, err, sizeof(err)) != 0 ||
        docs_open(&w->d, w->st, w->keys, mb_key, err, sizeof(err)) != 0 ||
        docs_migrate(w->d, &migrated, err, sizeof(err)) != 0) {
        bench_fail(b, "cannot open the store and its documents: %s", err);
        return -1;
    }
    return 0;
}

void mb_close(mb_world *w)
{
    if (w->d) docs_close(w->d);
    if (w->st) store_close(w->st);
    if (w->keys) keystore_close(w->keys);
    if (w->loop) loop_free(w->loop);
    if (w->dir[0]) bench_rmdir(w->dir);
    memset(w, 0, sizeof(*w));
}

int main(int argc, char **argv)
{
    log_opts lo = {.to_stderr = false, .min_level = LOG_ERROR};
    log_init(&lo);
    if (argc == 6 && !strcmp(argv[1], "--probe-rss")) {
        int rc = mb_probe_rss(argv[2], atol(argv[3]), atol(argv[4]), atol(argv[5]));
        log_shutdown();
        return rc;
    }
    bench b;
    bench_init(&b, "model", argc, argv);
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self[n > 0 ? n : 0] = 0;
    if (bench_want(&b, "crud")) bench_model_crud(&b);
    if (bench_want(&b, "scale")) bench_model_scale(&b, self);
    log_shutdown();
    return bench_finish(&b);
}
