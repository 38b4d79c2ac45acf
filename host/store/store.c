#include "store_priv.h"

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

int store_env_open(store *s, char *err, size_t errlen)
{
    int rc = mdb_env_create(&s->env);
    if (rc) {
        snprintf(err, errlen, "lmdb: %s", mdb_strerror(rc));
        return AH_ENOMEM;
    }
    mdb_env_set_maxdbs(s->env, STORE_DB_COUNT + 8);
    mdb_env_set_maxreaders(s->env, 256);
    if (!s->read_only) mdb_env_set_mapsize(s->env, s->map_size);
    /* MDB_NOMETASYNC: a commit flushes its pages, then writes its meta
     * page unflushed; the writer answers it only after a later flush
     * (store_writer.c, ADR 0022). Without a loop (CLI commands) commits
     * stay synchronous, so another process never sees one undurable. */
    unsigned flags = MDB_NOTLS | (s->read_only ? MDB_RDONLY : s->loop ? MDB_NOMETASYNC : 0);
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
    /* A process killed before flushing its last meta page left it in the
     * page cache: flush it before anything here is read as durable. */
    if (!rc && s->loop && !s->read_only && (rc = mdb_env_sync(s->env, 1)) != 0) {
        snprintf(err, errlen, "%s/data.mdb: cannot flush: %s", s->dir, mdb_strerror(rc));
        rc = AH_EIO;
    }
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
    pthread_mutex_init(&s->commit_mu, NULL);
    pthread_rwlock_init(&s->maplock, NULL);

    int rc = 0;
    if (!o->read_only && ah_mkdir_p(s->dir, 0700) < 0) {
        snprintf(err, errlen, "%s: cannot create the data directory: %s", s->dir, strerror(errno));
        rc = AH_EIO;
    }
    if (!rc) rc = precheck_files(s->dir, err, errlen);
    if (rc == 1) rc = o->read_only ? 0 : create_store(s, err, errlen);
    s->loop = loop;
    if (!rc) rc = store_env_open(s, err, errlen);
    if (!rc && loop) {
        rc = store_writer_start(s, err, errlen);
        if (rc) mdb_env_close(s->env);
    }
    if (rc) {
        pthread_mutex_destroy(&s->commit_mu);
        pthread_rwlock_destroy(&s->maplock);
        pthread_cond_destroy(&s->cv);
        pthread_cond_destroy(&s->done_cv);
        pthread_mutex_destroy(&s->mu);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void store_close(store *s)
{
    if (!s) return;
    store_writer_stop(s);
    store_snapshots_drop(s);
    if (s->env) mdb_env_close(s->env);
    free(s->pending.v);
    free(s->handoff.v);
    free(s->done.v);
    free(s->held.v);
    pthread_mutex_destroy(&s->commit_mu);
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
    st->syncs = s->syncs;
    MDB_envinfo info;
    MDB_stat ms;
    pthread_rwlock_rdlock(&s->maplock);
    if (s->env && mdb_env_info(s->env, &info) == 0 && mdb_env_stat(s->env, &ms) == 0) {
        st->map_size = info.me_mapsize;
        st->used_bytes = (uint64_t)(info.me_last_pgno + 1) * ms.ms_psize;
    }
    pthread_rwlock_unlock(&s->maplock);
}
