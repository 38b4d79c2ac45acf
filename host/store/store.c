#include "store.h"

#include "store_lmdb.h"

#include "core/fault.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "store_file.h"
#include "store_guard.h"
#include "core/util.h"

#include <agenthost/plugin.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define DEFAULT_MAP (64ull << 20)
#define DEFAULT_MAX_MAP (64ull << 30)

static const char *const db_names[STORE_DB_COUNT] = {
    [STORE_DB_META] = "meta",
    [STORE_DB_KV] = "kv",
    [STORE_DB_SECRETS] = "secrets",
    [STORE_DB_INSTANCES] = "instances",
    [STORE_DB_TOKENS] = "tokens",
    [STORE_DB_TOPICS] = "bus.topics",
    [STORE_DB_EVENTS] = "bus.events",
    [STORE_DB_CONSUMERS] = "bus.consumers",
    [STORE_DB_PENDING] = "bus.pending",
    [STORE_DB_IDEMPOTENCY] = "bus.idempotency",
    [STORE_DB_KEYS] = "bus.keys",
    [STORE_DB_DOCS] = "docs",
    [STORE_DB_DOC_INDEX] = "docs.index",

};

typedef struct write_op {
    store_apply_fn apply;
    store_done_fn done;
    void *arg;
    int status; /* set by the writer */
} write_op;

typedef struct op_vec {
    write_op *v;
    size_t n, cap;
} op_vec;

struct store {
    MDB_env *env;
    MDB_dbi dbi[STORE_DB_COUNT];
    char dir[2048];
    bool read_only;
    size_t map_size, max_map;

    /* Loop side. */
    ah_loop *loop;
    uv_async_t *async; /* heap: it outlives the store until its close callback */
    op_vec pending;    /* queued this tick */
    bool busy;         /* the writer holds a batch */
    MDB_txn *rtxn;     /* cached read transaction, reset between uses */
    bool rtxn_in_use;
    store_txn rwrap; /* the face of rtxn */
    char last_error[256];

    /* Shared with the writer, under mu. */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* work for the writer */
    pthread_cond_t done_cv; /* a batch finished (used when closing) */
    op_vec handoff;
    op_vec done;
    bool stop;
    char writer_error[256];

    /* Readers hold it shared; the writer takes it exclusive to resize or
     * reopen the map (LMDB needs no live transaction in the process then). */
    pthread_rwlock_t maplock;

    _Atomic int health;
    _Atomic uint64_t commits, writes, failed, commit_ns;
};

int store_map_error(int rc)
{
    switch (rc) {
    case 0:
        return 0;
    case MDB_MAP_FULL:
    case ENOSPC:
    case EDQUOT:
        return AH_ENOSPC;
    case MDB_NOTFOUND:
        return AH_ENOTFOUND;
    case ENOMEM:
        return AH_ENOMEM;
    case MDB_BAD_VALSIZE:
        return AH_ETOOBIG;
    default:
        return rc < 0 && rc >= -99 ? rc : AH_EIO;
    }
}

static int vec_push(op_vec *v, write_op op)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        write_op *nv = realloc(v->v, cap * sizeof(*nv));
        if (!nv) return -1;
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = op;
    return 0;
}

static void vec_swap(op_vec *a, op_vec *b)
{
    op_vec t = *a;
    *a = *b;
    *b = t;
}

/* ---- opening --------------------------------------------------------- */

/* LMDB's list of databases must read whole: with a damaged page there,
 * databases would look absent, and opening them would make empty ones. */
static int walk_catalogue(store *s, MDB_txn *txn, char *err, size_t errlen)
{
    MDB_dbi main_db;
    MDB_stat st;
    MDB_cursor *cur;
    MDB_val k, v;
    size_t n = 0;
    int rc = mdb_dbi_open(txn, NULL, 0, &main_db);
    if (!rc) rc = mdb_stat(txn, main_db, &st);
    if (!rc) rc = mdb_cursor_open(txn, main_db, &cur);
    if (rc) goto out;
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0)
        n++;
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND) rc = n == st.ms_entries ? 0 : MDB_CORRUPTED;
out:
    if (rc)
        snprintf(err, errlen,
                 "%s/data.mdb: its list of databases is damaged (%s); refusing to use it: run "
                 "`agenthost check --data %s` and restore a backup",
                 s->dir, mdb_strerror(rc), s->dir);
    return rc ? AH_EINVAL : 0;
}

/* creating: a new environment of create_store, the only one that gets
 * databases and the format marker; any other file must have them. */
static int open_dbis(store *s, bool creating, char *err, size_t errlen)
{
    MDB_txn *txn;
    unsigned flags = s->read_only ? MDB_RDONLY : 0;
    int rc = mdb_txn_begin(s->env, NULL, flags, &txn);
    if (rc) {
        snprintf(err, errlen, "%s: cannot begin transaction: %s", s->dir, mdb_strerror(rc));
        return store_map_error(rc);
    }
    store_guard_mark("(the list of databases)");
    if ((rc = walk_catalogue(s, txn, err, errlen)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    /* The marker tells an agenthost store from a foreign LMDB file. */
    MDB_dbi meta;
    rc = mdb_dbi_open(txn, db_names[STORE_DB_META], 0, &meta);
    if (rc == MDB_NOTFOUND) {
        MDB_stat st;
        MDB_dbi main_db;
        mdb_dbi_open(txn, NULL, 0, &main_db);
        mdb_stat(txn, main_db, &st);
        if (st.ms_entries != 0 || !creating) {
            snprintf(err, errlen,
                     "%s/data.mdb is not an agenthost store (an LMDB file without the "
                     "agenthost format marker); refusing to touch it",
                     s->dir);
            mdb_txn_abort(txn);
            return AH_EINVAL;
        }
    } else if (rc) {
        snprintf(err, errlen, "%s/data.mdb is unreadable: %s", s->dir, mdb_strerror(rc));
        mdb_txn_abort(txn);
        return AH_EIO;
    }
    for (int i = 0; i < STORE_DB_COUNT; i++) {
        rc = mdb_dbi_open(txn, db_names[i], s->read_only ? 0 : MDB_CREATE, &s->dbi[i]);
        if (rc == MDB_NOTFOUND && s->read_only) {
            s->dbi[i] = 0; /* absent in an older store: reads see nothing */
            continue;
        }
        if (rc) {
            snprintf(err, errlen, "%s/data.mdb: cannot open database %s: %s", s->dir, db_names[i],
                     mdb_strerror(rc));
            mdb_txn_abort(txn);
            return store_map_error(rc);
        }
    }
    MDB_val k = {strlen(STORE_FORMAT_KEY), (void *)STORE_FORMAT_KEY}, v;
    rc = mdb_get(txn, s->dbi[STORE_DB_META], &k, &v);
    if (rc == MDB_NOTFOUND && !creating) {
        snprintf(err, errlen,
                 "%s/data.mdb has lost its agenthost format marker (damaged); refusing to touch "
                 "it: run `agenthost check --data %s`",
                 s->dir, s->dir);
        mdb_txn_abort(txn);
        return AH_EINVAL;
    }
    if (rc == MDB_NOTFOUND) {
        v.mv_data = (void *)STORE_FORMAT;
        v.mv_size = strlen(STORE_FORMAT);
        rc = mdb_put(txn, s->dbi[STORE_DB_META], &k, &v, 0);
    } else if (rc == 0 &&
               (v.mv_size != strlen(STORE_FORMAT) || memcmp(v.mv_data, STORE_FORMAT, v.mv_size))) {
        snprintf(err, errlen, "%s/data.mdb has store format \"%.*s\"; this host reads \"%s\"",
                 s->dir, (int)(v.mv_size > 64 ? 64 : v.mv_size), (const char *)v.mv_data,
                 STORE_FORMAT);
        mdb_txn_abort(txn);
        return AH_EINVAL;
    }
    if (rc && rc != MDB_NOTFOUND) {
        snprintf(err, errlen, "%s/data.mdb: %s", s->dir, mdb_strerror(rc));
        mdb_txn_abort(txn);
        return store_map_error(rc);
    }
    /* Committing (even a read-only transaction) keeps the dbi handles. */
    rc = mdb_txn_commit(txn);
    if (rc) {
        snprintf(err, errlen, "%s: cannot initialise the store: %s", s->dir, mdb_strerror(rc));
        return store_map_error(rc);
    }
    return 0;
}

static int env_open(store *s, char *err, size_t errlen)
{
    int rc = mdb_env_create(&s->env);
    if (rc) {
        snprintf(err, errlen, "lmdb: %s", mdb_strerror(rc));
        return AH_ENOMEM;
    }
    mdb_env_set_maxdbs(s->env, STORE_DB_COUNT + 8);
    mdb_env_set_maxreaders(s->env, 256);
    if (!s->read_only) mdb_env_set_mapsize(s->env, s->map_size);
    unsigned flags = MDB_NOTLS | (s->read_only ? MDB_RDONLY : 0);
    rc = mdb_env_open(s->env, s->dir, flags, 0600);
    if (rc) {
        const char *why = rc == MDB_INVALID            ? "not an LMDB file (corrupt or foreign)"
                          : rc == MDB_VERSION_MISMATCH ? "written by an incompatible LMDB version"
                          : rc == MDB_CORRUPTED        ? "corrupt"
                                                       : mdb_strerror(rc);
        snprintf(err, errlen, "%s/data.mdb: %s", s->dir, why);
        mdb_env_close(s->env);
        s->env = NULL;
        return rc == ENOENT || rc == EACCES ? AH_EIO : AH_EINVAL;
    }
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    if (info.me_mapsize > s->map_size)
        s->map_size = info.me_mapsize; /* the file is bigger than our default */
    rc = open_dbis(s, false, err, errlen);
    store_guard_mark(NULL);
    if (rc) {
        mdb_env_close(s->env);
        s->env = NULL;
    }
    return rc;
}

/* Look before LMDB maps the file (store_file.h): an empty, truncated or
 * damaged data.mdb is refused, never initialised. 0 when it can be opened,
 * 1 when there is none (a first start), or AH_E* with err. */
static int precheck_files(const char *dir, char *err, size_t errlen)
{
    char path[2200];
    store_file_info info;
    ah_fmt(path, sizeof(path), "%s/data.mdb", dir);
    int rc = store_file_check(path, dir, &info, err, errlen);
    return rc == AH_ENOTFOUND ? 1 : rc;
}

/* A first start makes the store under a temporary name, with its format
 * marker committed, and links it into place: data.mdb never exists half
 * made, so an empty one is always damage. A second process starting at the
 * same moment finds the link taken and uses the store that won. */
static int create_store(store *s, char *err, size_t errlen)
{
    char path[2200], tmp[2200], lock[2300];
    ah_fmt(path, sizeof(path), "%s/data.mdb", s->dir);
    if (ah_fmt(tmp, sizeof(tmp), "%s/data.mdb.creating-%d", s->dir, (int)getpid()) < 0 ||
        ah_fmt(lock, sizeof(lock), "%s-lock", tmp) < 0) {
        snprintf(err, errlen, "data directory path too long");
        return AH_EINVAL;
    }
    unlink(tmp);
    unlink(lock);
    int rc = mdb_env_create(&s->env);
    if (rc) {
        snprintf(err, errlen, "lmdb: %s", mdb_strerror(rc));
        return AH_ENOMEM;
    }
    mdb_env_set_maxdbs(s->env, STORE_DB_COUNT + 8);
    mdb_env_set_mapsize(s->env, s->map_size);
    rc = mdb_env_open(s->env, tmp, MDB_NOSUBDIR | MDB_NOTLS, 0600);
    if (rc) {
        snprintf(err, errlen, "%s: cannot create the store: %s", tmp, mdb_strerror(rc));
        rc = store_map_error(rc);
    } else {
        rc = open_dbis(s, true, err, errlen); /* commits the marker, fsynced */
        store_guard_mark(NULL);
    }
    mdb_env_close(s->env);
    s->env = NULL;
    if (!rc && link(tmp, path) < 0 && errno != EEXIST) {
        /* No hard links on this file system: rename, which would replace a
         * store another process made in the same instant. */
        if (errno != EPERM && errno != ENOTSUP && errno != EOPNOTSUPP) {
            snprintf(err, errlen, "%s: cannot create the store: %s", path, strerror(errno));
            rc = AH_EIO;
        } else if (rename(tmp, path) < 0) {
            snprintf(err, errlen, "%s: cannot create the store: %s", path, strerror(errno));
            rc = AH_EIO;
        }
    }
    unlink(tmp);
    unlink(lock);
    if (!rc && fs_fsync_dir(s->dir) < 0) {
        snprintf(err, errlen, "%s: cannot sync the directory: %s", s->dir, strerror(errno));
        rc = AH_EIO;
    }
    return rc;
}

/* ---- the writer ------------------------------------------------------- */

static int grow_map(store *s, char *why, size_t whylen)
{
    if (s->map_size >= s->max_map) {
        snprintf(why, whylen, "store map full (%zu MiB, the configured maximum)", s->max_map >> 20);
        return AH_ENOSPC;
    }
    size_t want = s->map_size * 2 > s->max_map ? s->max_map : s->map_size * 2;
    pthread_rwlock_wrlock(&s->maplock);
    int rc = mdb_env_set_mapsize(s->env, want);
    pthread_rwlock_unlock(&s->maplock);
    if (rc) {
        snprintf(why, whylen, "cannot grow the store map to %zu MiB: %s", want >> 20,
                 mdb_strerror(rc));
        return store_map_error(rc);
    }
    log_info("store", "map grown to %zu MiB", want >> 20);
    s->map_size = want;
    return 0;
}

/* After a failed commit LMDB may mark the environment unusable (MDB_PANIC);
 * reopen it so writing works again once the cause (a full disk) is gone. */
static int reopen_env(store *s, char *why, size_t whylen)
{
    pthread_rwlock_wrlock(&s->maplock);
    if (s->rtxn) {
        mdb_txn_abort(s->rtxn);
        s->rtxn = NULL;
    }
    mdb_env_close(s->env);
    s->env = NULL;
    char err[512];
    int rc = env_open(s, err, sizeof(err));
    pthread_rwlock_unlock(&s->maplock);
    if (rc) snprintf(why, whylen, "store reopen failed: %s", err);
    return rc;
}

static int run_batch_once(store *s, write_op *ops, size_t n, size_t *failed_op, int *failed_code,
                          char *why, size_t whylen)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc == MDB_MAP_RESIZED) {
        pthread_rwlock_wrlock(&s->maplock);
        mdb_env_set_mapsize(s->env, 0);
        pthread_rwlock_unlock(&s->maplock);
        rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    }
    if (rc) {
        snprintf(why, whylen, "cannot begin a write: %s", mdb_strerror(rc));
        return rc;
    }
    store_txn t = {.txn = txn, .st = s};
    for (size_t i = 0; i < n; i++) {
        if (ops[i].status) continue;
        rc = ops[i].apply(&t, ops[i].arg);
        if (t.err) rc = t.err; /* a failure of the environment, even if ignored */
        if (rc < 0 && rc >= -99) {
            *failed_op = i;
            *failed_code = rc;
            mdb_txn_abort(txn);
            return -1000; /* retry without this write */
        }
        if (rc) {
            snprintf(why, whylen, "write failed: %s", mdb_strerror(rc));
            mdb_txn_abort(txn);
            return rc;
        }
    }
    AH_FAULT("store.before_commit");
    uint64_t t0 = ah_mono_ns();
    rc = mdb_txn_commit(txn);
    s->commit_ns += ah_mono_ns() - t0;
    if (rc) {
        snprintf(why, whylen, "commit failed: %s", mdb_strerror(rc));
        return rc;
    }
    AH_FAULT("store.after_commit");
    return 0;
}

static bool disk_nearly_full(const char *dir)
{
    struct statvfs vs;
    return statvfs(dir, &vs) == 0 && (uint64_t)vs.f_bavail * vs.f_frsize < (4u << 20);
}

static void run_batch(store *s, op_vec *b, char *why, size_t whylen)
{
    for (size_t i = 0; i < b->n; i++)
        b->v[i].status = 0;
    why[0] = 0;
    for (;;) {
        size_t failed_op = 0;
        int failed_code = 0;
        int rc = run_batch_once(s, b->v, b->n, &failed_op, &failed_code, why, whylen);
        store_guard_mark(NULL);
        if (rc == -1000) {
            /* One write refused itself: answer it and commit the rest. */
            b->v[failed_op].status = failed_code;
            continue;
        }
        if (rc == 0) {
            s->commits++;
            s->health = 0;
            return;
        }
        if (rc == MDB_MAP_FULL) {
            int g = grow_map(s, why, whylen);
            if (g == 0) continue;
            rc = g;
        } else if (rc == MDB_TXN_FULL) {
            snprintf(why, whylen, "batch too large for one transaction");
        }
        /* LMDB reports a short write (a filling disk) as EIO: look. */
        if (rc == EIO && disk_nearly_full(s->dir)) rc = ENOSPC;
        int code = store_map_error(rc);
        if (rc == ENOSPC || rc == EDQUOT) snprintf(why, whylen, "disk full: %s", strerror(rc));
        for (size_t i = 0; i < b->n; i++)
            if (!b->v[i].status) b->v[i].status = code;
        s->health = code;
        if (rc == MDB_PANIC || rc == EIO || rc == ENOSPC || rc == EDQUOT) {
            char rwhy[256];
            if (reopen_env(s, rwhy, sizeof(rwhy)) != 0) log_error("store", "%s", rwhy);
        }
        return;
    }
}

static void *writer_main(void *arg)
{
    store *s = arg;
    op_vec batch = {0};
    char why[256];
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->stop && s->handoff.n == 0)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->handoff.n == 0 && s->stop) break;
        vec_swap(&batch, &s->handoff);
        pthread_mutex_unlock(&s->mu);

        run_batch(s, &batch, why, sizeof(why));

        pthread_mutex_lock(&s->mu);
        if (why[0]) snprintf(s->writer_error, sizeof(s->writer_error), "%s", why);
        for (size_t i = 0; i < batch.n; i++)
            vec_push(&s->done, batch.v[i]);
        batch.n = 0;
        pthread_cond_signal(&s->done_cv);
        uv_async_send(s->async);
    }
    pthread_mutex_unlock(&s->mu);
    free(batch.v);
    return NULL;
}

/* ---- loop side -------------------------------------------------------- */

/* The async handle is referenced while writes are queued or in flight, so
 * the loop keeps running until every writer has been answered. */
static void update_ref(store *s)
{
    if (s->busy || s->pending.n)
        uv_ref((uv_handle_t *)s->async);
    else
        uv_unref((uv_handle_t *)s->async);
}

static void hand_off(store *s)
{
    if (s->busy || s->pending.n == 0) return;
    pthread_mutex_lock(&s->mu);
    vec_swap(&s->handoff, &s->pending);
    s->busy = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void on_tick(void *ud)
{
    hand_off(ud);
}

static void finish(store *s, op_vec *done)
{
    for (size_t i = 0; i < done->n; i++) {
        write_op *op = &done->v[i];
        if (op->status)
            s->failed++;
        else
            s->writes++;
        if (op->done) op->done(op->status, op->arg);
    }
    done->n = 0;
}

static void on_async(uv_async_t *h)
{
    store *s = h->data;
    op_vec done = {0};
    pthread_mutex_lock(&s->mu);
    if (s->done.n == 0) {
        pthread_mutex_unlock(&s->mu);
        return;
    }
    vec_swap(&done, &s->done);
    if (s->writer_error[0]) {
        snprintf(s->last_error, sizeof(s->last_error), "%s", s->writer_error);
        s->writer_error[0] = 0;
    }
    s->busy = false;
    pthread_mutex_unlock(&s->mu);
    AH_FAULT("store.before_done");
    bool failed = false;
    for (size_t i = 0; i < done.n && !failed; i++)
        failed = done.v[i].status != 0;
    if (failed)
        log_error("store", "write failed: %s", s->last_error);
    else
        s->last_error[0] = 0;
    finish(s, &done);
    free(done.v);
    hand_off(s);
    update_ref(s);
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

int store_open(store **out, ah_loop *loop, const store_opts *o, char *err, size_t errlen)
{
    *out = NULL;
    err[0] = 0;
    store *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return AH_ENOMEM;
    }
    if (ah_fmt(s->dir, sizeof(s->dir), "%s", o->dir) < 0) {
        snprintf(err, errlen, "data directory path too long");
        free(s);
        return AH_EINVAL;
    }
    s->read_only = o->read_only;
    s->map_size = o->map_size ? o->map_size : DEFAULT_MAP;
    s->max_map = o->max_map_size ? o->max_map_size : DEFAULT_MAX_MAP;
    if (s->max_map < s->map_size) s->max_map = s->map_size;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_cond_init(&s->done_cv, NULL);
    pthread_rwlock_init(&s->maplock, NULL);

    int rc = 0;
    if (!o->read_only && ah_mkdir_p(s->dir, 0700) < 0) {
        snprintf(err, errlen, "%s: cannot create the data directory: %s", s->dir, strerror(errno));
        rc = AH_EIO;
    }
    if (!rc) rc = precheck_files(s->dir, err, errlen);
    if (rc == 1) rc = o->read_only ? 0 : create_store(s, err, errlen);
    if (!rc) rc = env_open(s, err, errlen);
    if (rc) {
        pthread_rwlock_destroy(&s->maplock);
        pthread_cond_destroy(&s->cv);
        pthread_cond_destroy(&s->done_cv);
        pthread_mutex_destroy(&s->mu);
        free(s);
        return rc;
    }
    if (loop) {
        s->loop = loop;
        s->async = malloc(sizeof(*s->async));
        if (!s->async) {
            snprintf(err, errlen, "out of memory");
            mdb_env_close(s->env);
            free(s);
            return AH_ENOMEM;
        }
        uv_async_init(loop_uv(loop), s->async, on_async);
        s->async->data = s;
        uv_unref((uv_handle_t *)s->async);
        loop_on_tick(loop, on_tick, s);
        if (pthread_create(&s->thread, NULL, writer_main, s) != 0) {
            snprintf(err, errlen, "cannot start the store writer thread");
            uv_close((uv_handle_t *)s->async, free_handle);
            mdb_env_close(s->env);
            free(s);
            return AH_ENOMEM;
        }
        s->thread_started = true;
    }
    *out = s;
    return 0;
}

void store_close(store *s)
{
    if (!s) return;
    if (s->thread_started) {
        /* Drain: hand off what is queued and wait for every batch; done
         * callbacks may queue more writes, so repeat until quiet. */
        for (;;) {
            hand_off(s);
            if (!s->busy) break;
            pthread_mutex_lock(&s->mu);
            while (s->done.n == 0)
                pthread_cond_wait(&s->done_cv, &s->mu);
            pthread_mutex_unlock(&s->mu);
            on_async(s->async);
        }
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
        loop_remove_tick(s->loop, on_tick, s);
        uv_close((uv_handle_t *)s->async, free_handle);
    }
    if (s->rtxn) mdb_txn_abort(s->rtxn);
    if (s->env) mdb_env_close(s->env);
    free(s->pending.v);
    free(s->handoff.v);
    free(s->done.v);
    pthread_rwlock_destroy(&s->maplock);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->done_cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

MDB_env *store_env(store *s)
{
    return s->env;
}

MDB_dbi store_dbi(store *s, store_db db)
{
    store_guard_mark(db_names[db]);
    return s->dbi[db];
}

const char *store_db_name(store_db db)
{
    return db >= 0 && db < STORE_DB_COUNT ? db_names[db] : NULL;
}

int store_lmdb_read_begin(store *s, MDB_txn **txn)
{
    pthread_rwlock_rdlock(&s->maplock);
    int rc;
    if (s->rtxn && !s->rtxn_in_use) {
        rc = mdb_txn_renew(s->rtxn);
        if (rc == 0) {
            s->rtxn_in_use = true;
            *txn = s->rtxn;
            return 0;
        }
        mdb_txn_abort(s->rtxn);
        s->rtxn = NULL;
    }
    rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
    if (rc) {
        pthread_rwlock_unlock(&s->maplock);
        if (rc == MDB_MAP_RESIZED)
            log_warn("store", "map resized by another process; reads resume after the "
                              "next write");
        return store_map_error(rc);
    }
    if (!s->rtxn) {
        s->rtxn = *txn;
        s->rtxn_in_use = true;
    }
    return 0;
}

void store_lmdb_read_end(store *s, MDB_txn *txn)
{
    store_guard_mark(NULL);
    if (txn == s->rtxn) {
        mdb_txn_reset(txn);
        s->rtxn_in_use = false;
    } else {
        mdb_txn_abort(txn);
    }
    pthread_rwlock_unlock(&s->maplock);
}

int store_read_begin(store *s, store_txn **out)
{
    MDB_txn *txn;
    int rc = store_lmdb_read_begin(s, &txn);
    if (rc) return rc;
    store_txn *t = txn == s->rtxn ? &s->rwrap : malloc(sizeof(*t)); /* nested: its own */
    if (!t) {
        store_lmdb_read_end(s, txn);
        return AH_ENOMEM;
    }
    *t = (store_txn){.txn = txn, .st = s, .read_only = true};
    *out = t;
    return 0;
}

void store_read_end(store *s, store_txn *t)
{
    MDB_txn *txn = t->txn;
    if (t != &s->rwrap) free(t);
    store_lmdb_read_end(s, txn);
}

int store_write(store *s, store_apply_fn apply, store_done_fn done, void *arg)
{
    if (s->read_only) return AH_EINVAL;
    write_op op = {.apply = apply, .done = done, .arg = arg};
    if (!s->loop) {
        /* Synchronous mode for CLI commands. */
        op_vec b = {.v = &op, .n = 1, .cap = 1};
        run_batch(s, &b, s->last_error, sizeof(s->last_error));
        if (op.status)
            s->failed++;
        else
            s->writes++;
        if (done) done(op.status, arg);
        return 0;
    }
    if (vec_push(&s->pending, op) < 0) return AH_ENOMEM;
    if (s->pending.n == 1) update_ref(s);
    return 0;
}

int store_write_now(store *s, store_apply_fn apply, void *arg)
{
    if (s->read_only) return AH_EINVAL;
    write_op op = {.apply = apply, .arg = arg};
    op_vec b = {.v = &op, .n = 1, .cap = 1};
    char why[256];
    /* LMDB serialises writers; the writer thread may hold the lock a while. */
    run_batch(s, &b, why, sizeof(why));
    return op.status;
}

int store_health(store *s)
{
    return s->health;
}

const char *store_last_error(store *s)
{
    return s->last_error;
}

void store_get_stats(store *s, store_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->commits = s->commits;
    st->writes = s->writes;
    st->failed_writes = s->failed;
    st->commit_ns_sum = s->commit_ns;
    MDB_envinfo info;
    MDB_stat ms;
    pthread_rwlock_rdlock(&s->maplock);
    if (s->env && mdb_env_info(s->env, &info) == 0 && mdb_env_stat(s->env, &ms) == 0) {
        st->map_size = info.me_mapsize;
        st->used_bytes = (uint64_t)(info.me_last_pgno + 1) * ms.ms_psize;
    }
    pthread_rwlock_unlock(&s->maplock);
}
