/*
 * store_writer.c - group commit on a writer thread (ADR 0004) with one
 * flush per commit under load (ADR 0022).
 *
 * The environment is opened with MDB_NOMETASYNC: mdb_txn_commit writes the
 * dirty pages, fdatasyncs them, then writes the meta page without a flush.
 * A commit is durable once a later flush returns: the next commit's data
 * fdatasync, or an explicit mdb_env_sync when the writer finds no next
 * batch waiting. Until then its writes are "held": their done callbacks
 * wait, and the loop keeps reading the last durable snapshot (a read
 * transaction begun right after that commit), so nothing that could still
 * be undone by a power loss is answered, delivered or read.
 */
#include "store_priv.h"

#include "core/fault.h"
#include "core/log.h"
#include "core/util.h"
#include "store_guard.h"

#include <agenthost/plugin.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

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

/* Append all of b to a (b emptied); swaps when a is empty. -1: no memory
 * (nothing moved). */
static int vec_move(op_vec *a, op_vec *b)
{
    if (a->n == 0) {
        op_vec t = *a;
        *a = *b;
        *b = t;
        return 0;
    }
    if (a->n + b->n > a->cap) {
        size_t cap = a->cap;
        while (cap < a->n + b->n)
            cap *= 2;
        write_op *nv = realloc(a->v, cap * sizeof(*nv));
        if (!nv) return -1;
        a->v = nv;
        a->cap = cap;
    }
    memcpy(a->v + a->n, b->v, b->n * sizeof(*b->v));
    a->n += b->n;
    b->n = 0;
    return 0;
}

/* Move the first n of b to the end of a, the rest of b staying in order;
 * -1: no memory (nothing moved). */
static int vec_take(op_vec *a, op_vec *b, size_t n)
{
    if (n == b->n) return vec_move(a, b);
    if (a->n + n > a->cap) {
        size_t cap = a->cap ? a->cap : 64;
        while (cap < a->n + n)
            cap *= 2;
        write_op *nv = realloc(a->v, cap * sizeof(*nv));
        if (!nv) return -1;
        a->v = nv;
        a->cap = cap;
    }
    memcpy(a->v + a->n, b->v, n * sizeof(*b->v));
    a->n += n;
    memmove(b->v, b->v + n, (b->n - n) * sizeof(*b->v));
    b->n -= n;
    return 0;
}

/* ---- durable snapshots ----------------------------------------------------- */

/* A read transaction of the newest commit, for publishing once durable. */
static MDB_txn *snapshot_now(store *s)
{
    MDB_txn *t = NULL;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t) != 0) return NULL;
    return t;
}

/* Offer t (durable) to the loop; a snapshot it never took is older. */
static void publish_snap(store *s, MDB_txn *t)
{
    if (!t) return;
    MDB_txn *old = atomic_exchange(&s->next_snap, t);
    if (old) mdb_txn_abort(old);
}

/* The loop takes the newest durable snapshot offered (maplock held shared,
 * no read in progress): the one it had is let go, so a snapshot pins old
 * pages only until the next answer even when the loop reads nothing. */
static void take_next_snap(store *s)
{
    MDB_txn *n = atomic_exchange(&s->next_snap, NULL);
    if (!n) return;
    if (s->snap && mdb_txn_id(s->snap) > mdb_txn_id(n)) {
        mdb_txn_abort(n); /* the loop adopted a newer commit of another process */
        return;
    }
    if (s->snap) mdb_txn_abort(s->snap);
    s->snap = n;
}

void store_take_next_snap(store *s)
{
    take_next_snap(s);
}

void store_snapshots_drop(store *s)
{
    MDB_txn *n = atomic_exchange(&s->next_snap, NULL);
    if (n) mdb_txn_abort(n);
    if (s->snap) mdb_txn_abort(s->snap);
    s->snap = NULL;
    if (s->held_snap) mdb_txn_abort(s->held_snap);
    s->held_snap = NULL;
}

/* ---- the held commit --------------------------------------------------------- */

static void answer(store *s, op_vec *ops)
{
    if (ops->n == 0) return;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < ops->n; i++)
        vec_push(&s->done, ops->v[i]);
    pthread_cond_signal(&s->done_cv);
    if (s->async) uv_async_send(s->async);
    pthread_mutex_unlock(&s->mu);
    ops->n = 0;
}

/* The held commit is durable (status 0: a flush that began after its meta
 * page was written has returned) or its flush failed: answer its writes. */
static void settle_held(store *s, int status)
{
    if (status) {
        for (size_t i = 0; i < s->held.n; i++)
            if (!s->held.v[i].status) s->held.v[i].status = status;
        if (s->held_snap) mdb_txn_abort(s->held_snap);
    } else {
        publish_snap(s, s->held_snap);
    }
    s->held_snap = NULL;
    answer(s, &s->held);
}

/* Flush the meta page of the newest commit now; settle what is held. */
static int sync_held(store *s)
{
    if (s->held.n == 0 && !s->held_snap) return 0;
    AH_FAULT("store.before_meta_sync");
    int rc = mdb_env_sync(s->env, 1);
    s->syncs++;
    int code = rc ? store_map_error(rc) : 0;
    /* Flushed with commit_mu held: the newest commit is durable now. */
    if (!code && !s->held_snap && s->loop) s->held_snap = snapshot_now(s);
    if (code) {
        s->health = code;
        log_error("store", "flush of %s/data.mdb failed: %s", s->dir, strerror(rc));
    }
    settle_held(s, code);
    return code;
}

/* ---- committing ------------------------------------------------------------- */

/* Drop the snapshots, change the map or the environment (fn), then offer
 * the loop a snapshot of the result: everything committed is durable by
 * then (sync_held ran), so the newest commit is the one to read. */
static int under_maplock(store *s, int (*fn)(store *s, void *arg), void *arg)
{
    pthread_rwlock_wrlock(&s->maplock);
    MDB_txn *n = atomic_exchange(&s->next_snap, NULL);
    if (n) mdb_txn_abort(n);
    if (s->snap) mdb_txn_abort(s->snap);
    s->snap = NULL;
    int rc = fn(s, arg);
    if (s->env && s->loop) publish_snap(s, snapshot_now(s));
    pthread_rwlock_unlock(&s->maplock);
    return rc;
}

static int set_mapsize(store *s, void *arg)
{
    return mdb_env_set_mapsize(s->env, *(size_t *)arg);
}

static int grow_map(store *s, char *why, size_t whylen)
{
    if (s->map_size >= s->max_map) {
        snprintf(why, whylen, "store map full (%zu MiB, the configured maximum)", s->max_map >> 20);
        return AH_ENOSPC;
    }
    size_t want = s->map_size * 2 > s->max_map ? s->max_map : s->map_size * 2;
    sync_held(s);
    int rc = under_maplock(s, set_mapsize, &want);
    if (rc) {
        snprintf(why, whylen, "cannot grow the store map to %zu MiB: %s", want >> 20,
                 mdb_strerror(rc));
        return store_map_error(rc);
    }
    log_info("store", "map grown to %zu MiB", want >> 20);
    s->map_size = want;
    return 0;
}

static int reopen(store *s, void *arg)
{
    mdb_env_close(s->env);
    s->env = NULL;
    return store_env_open(s, arg, 512);
}

/* After a failed commit LMDB may mark the environment unusable (MDB_PANIC);
 * reopen it so writing works again once the cause (a full disk) is gone. */
static int reopen_env(store *s, char *why, size_t whylen)
{
    char err[512];
    int rc = under_maplock(s, reopen, err);
    if (rc) snprintf(why, whylen, "store reopen failed: %s", err);
    return rc;
}

/* One write transaction of the writer: begun, its writes applied (maybe
 * in several parts, while the loop still queues the rest: ADR 0056), then
 * committed. On every failure it is aborted and what it claimed given back. */
typedef struct wtxn {
    MDB_txn *txn; /* NULL: none open */
    store_txn t;
    size_t id, ours_before;
    /* A part that failed (the batch is run again from scratch when sealed):
     * run_batch_once's result, failed_op/failed_code for -1000, why. */
    bool failed;
    int rc;
    size_t failed_op;
    int failed_code;
    char why[256];
} wtxn;

static void wtxn_abort(store *s, wtxn *w)
{
    store_txn_drop_state(&w->t);
    mdb_txn_abort(w->txn);
    w->txn = NULL;
    s->ours_max = w->ours_before;
}

static int wtxn_begin(store *s, wtxn *w, char *why, size_t whylen)
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
    /* Claimed before the commit, so that the loop never takes our commit
     * for another process's; given back when no commit gets this id (an
     * abort, or a commit that wrote nothing): LMDB then hands it to the
     * next commit, which may be another process's. */
    w->txn = txn;
    w->id = mdb_txn_id(txn);
    w->ours_before = s->ours_max;
    s->ours_max = w->id;
    w->t = (store_txn){.txn = txn, .st = s};
    return 0;
}

/* Apply ops[from..to) in w. 0, or (w aborted) -1000: ops[*failed_op]
 * refused itself, or LMDB's code. */
static int wtxn_apply(store *s, wtxn *w, write_op *ops, size_t from, size_t to, size_t *failed_op,
                      int *failed_code, char *why, size_t whylen)
{
    for (size_t i = from; i < to; i++) {
        if (ops[i].status) continue;
        int rc = ops[i].apply(&w->t, ops[i].arg);
        if (w->t.err) rc = w->t.err; /* a failure of the environment, even if ignored */
        if (rc < 0 && rc >= -99) {
            *failed_op = i;
            *failed_code = rc;
            wtxn_abort(s, w);
            return -1000; /* retry without this write */
        }
        if (rc) {
            snprintf(why, whylen, "write failed: %s", mdb_strerror(rc));
            wtxn_abort(s, w);
            return rc;
        }
    }
    return 0;
}

/* Write the attached state, commit w (ended either way). 0: committed and
 * its pages flushed (*wrote: a meta page was written); else the code. */
static int wtxn_commit(store *s, wtxn *w, bool *wrote, char *why, size_t whylen)
{
    /* What the writes left in the transaction's state (the bus's topic
     * records) is written once, after the last of them. */
    int rc = store_txn_flush_state(&w->t);
    store_txn_drop_state(&w->t);
    if (rc) {
        snprintf(why, whylen, "write failed: %s",
                 rc < 0 && rc >= -99 ? ah_strerror(rc) : mdb_strerror(rc));
        wtxn_abort(s, w);
        return rc;
    }
    AH_FAULT("store.before_commit");
    uint64_t t0 = ah_mono_ns();
    MDB_txn *txn = w->txn;
    w->txn = NULL;
    rc = mdb_txn_commit(txn);
    s->commit_ns += ah_mono_ns() - t0;
    if (rc) {
        snprintf(why, whylen, "commit failed: %s", mdb_strerror(rc));
        s->ours_max = w->ours_before;
        return rc;
    }
    /* A transaction that changed nothing writes no page and no meta. */
    MDB_envinfo info;
    *wrote = mdb_env_info(s->env, &info) == 0 && info.me_last_txnid == w->id;
    if (!*wrote) s->ours_max = w->ours_before;
    AH_FAULT("store.after_commit"); /* data flushed, meta page not: nobody told */
    return 0;
}

/* 0: committed and its pages flushed (*wrote: a meta page was written, so
 * the flush ran); -1000: ops[*failed_op] refused itself; else LMDB's code. */
static int run_batch_once(store *s, write_op *ops, size_t n, size_t *failed_op, int *failed_code,
                          bool *wrote, char *why, size_t whylen)
{
    wtxn w = {0};
    int rc = wtxn_begin(s, &w, why, whylen);
    if (!rc) rc = wtxn_apply(s, &w, ops, 0, n, failed_op, failed_code, why, whylen);
    if (!rc) rc = wtxn_commit(s, &w, wrote, why, whylen);
    return rc;
}

static bool disk_nearly_full(const char *dir)
{
    struct statvfs vs;
    return statvfs(dir, &vs) == 0 && (uint64_t)vs.f_bavail * vs.f_frsize < (4u << 20);
}

/* Commit b under commit_mu. 0: committed (*wrote as run_batch_once);
 * else the batch failed and every write of it has its status. The held
 * commit is settled whenever a flush made it durable or failed. pre, if
 * not NULL, is the first attempt, made while b arrived: open with all of
 * b applied (committed here), or failed (its result taken as the first
 * attempt's; every later attempt starts from scratch, as always). */
static int run_batch(store *s, op_vec *b, wtxn *pre, bool *wrote, char *why, size_t whylen)
{
    for (size_t i = 0; i < b->n; i++)
        b->v[i].status = 0;
    why[0] = 0;
    *wrote = false;
    for (;;) {
        size_t failed_op = 0;
        int failed_code = 0, rc;
        if (pre && pre->txn) {
            rc = wtxn_commit(s, pre, wrote, why, whylen);
        } else if (pre && pre->failed) {
            rc = pre->rc;
            failed_op = pre->failed_op;
            failed_code = pre->failed_code;
            snprintf(why, whylen, "%s", pre->why);
        } else {
            rc = run_batch_once(s, b->v, b->n, &failed_op, &failed_code, wrote, why, whylen);
        }
        if (pre) *pre = (wtxn){0};
        pre = NULL;
        store_guard_mark(NULL);
        if (rc == -1000) {
            /* One write refused itself: answer it and commit the rest. */
            b->v[failed_op].status = failed_code;
            continue;
        }
        if (rc == 0) {
            s->commits++;
            s->health = 0;
            return 0;
        }
        /* Whether the failed commit flushed or not, flush the held one
         * explicitly before anything else happens to the environment. */
        sync_held(s);
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
        return code;
    }
}

/* The writer's step for one batch (under commit_mu): commit it; its data
 * flush made the held commit durable, so answer that one; hold this one
 * until the next flush. A batch that wrote nothing waits with the held
 * one (what it read may be in it). */
static bool commit_step(store *s, op_vec *batch, wtxn *pre, char *why, size_t whylen)
{
    bool wrote, answered = false;
    if (run_batch(s, batch, pre, &wrote, why, whylen) != 0) {
        answer(s, batch);
        return false;
    }
    if (!wrote && s->held.n == 0) {
        answer(s, batch); /* nothing written, nothing undurable read */
        return false;
    }
    if (wrote) {
        answered = s->held.n > 0;
        settle_held(s, 0);
        s->held_snap = snapshot_now(s);
    }
    if (vec_move(&s->held, batch) < 0) {
        /* No memory to hold it: flush now and answer both. */
        sync_held(s);
        answer(s, batch);
        return false;
    }
    if (wrote && !s->held_snap) sync_held(s); /* no snapshot to publish: do not defer */
    return answered;
}

/* How long the writer waits for the reactions to a commit's answers before
 * flushing its held commit alone: about one flush on the machines measured
 * (docs/benchmarks.md); never waited after a commit that answered nothing,
 * so a lone publisher, or a closed loop answered by explicit flushes, never
 * waits. */
#define REACTION_WAIT_US 1000

/* Writes queued in one pass of the loop are handed to the writer in parts
 * of this many (the last part at the pass's end), so that the writer
 * applies them while the loop still prepares the rest (ADR 0056). */
#define STREAM_PART 64

/* Apply what arrived of the open batch (ops[from..]) while the loop still
 * queues the rest (ADR 0056): the transaction is begun by its first part
 * and stays open until the batch is sealed. A part that fails ends it; the
 * whole batch is then run again when sealed (run_batch), as any batch. */
static void apply_part(store *s, wtxn *w, op_vec *batch, size_t from)
{
    if (w->failed) return;
    int rc = 0;
    if (!w->txn) rc = wtxn_begin(s, w, w->why, sizeof(w->why));
    if (!rc)
        rc = wtxn_apply(s, w, batch->v, from, batch->n, &w->failed_op, &w->failed_code, w->why,
                        sizeof(w->why));
    store_guard_mark(NULL);
    if (rc) {
        w->failed = true;
        w->rc = rc;
    }
}

static void *writer_main(void *arg)
{
    store *s = arg;
    op_vec batch = {0}; /* the open batch: taken, applied, not yet committed */
    wtxn w = {0};
    char why[256];
    bool reactions = false; /* the last commit answered writes: more may follow */
    pthread_mutex_lock(&s->mu);
    for (;;) {
        /* Work: more of a batch, its seal, or a held commit to flush. */
        for (;;) {
            if (s->handoff.n || s->sealed || s->stop) break;
            if (batch.n == 0 && s->held.n) {
                if (!reactions) break;
                /* The commit that just returned answered writes: their
                 * callbacks (a publisher's next event, a consumer's
                 * position) are likely on their way, and one of them can
                 * carry this commit's meta page. Wait for them, briefly,
                 * before paying a flush of its own (ADR 0022). */
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += REACTION_WAIT_US * 1000L;
                if (ts.tv_nsec >= 1000000000) {
                    ts.tv_sec++;
                    ts.tv_nsec -= 1000000000;
                }
                pthread_cond_timedwait(&s->cv, &s->mu, &ts);
                reactions = false;
                continue;
            }
            pthread_cond_wait(&s->cv, &s->mu);
        }
        if (s->stop && s->handoff.n == 0 && batch.n == 0 && s->held.n == 0) break;
        reactions = false;
        /* Sealed: the loop's pass that queued the first seal_n ended;
         * commit them, and no more (a later pass's first part waits for
         * its own batch: one pass, one commit). With no memory to take
         * more, commit what is taken. */
        size_t from = batch.n;
        bool sealed = s->sealed;
        bool moved = vec_take(&batch, &s->handoff, sealed ? s->seal_n : s->handoff.n) == 0;
        bool seal = sealed || s->stop || !moved;
        if (moved && sealed) {
            s->sealed = false;
            s->seal_n = 0;
        }
        pthread_mutex_unlock(&s->mu);
        why[0] = 0;
        /* Held from a batch's first part to its commit: whoever else
         * commits (store_write_now) seals the open batch first. */
        if (from == 0) pthread_mutex_lock(&s->commit_mu);
        if (batch.n == 0) {
            sync_held(s); /* no next commit to carry the meta page: flush it now */
        } else {
            if (batch.n > from) apply_part(s, &w, &batch, from);
            if (seal) {
                reactions = commit_step(s, &batch, &w, why, sizeof(why));
                batch.n = 0;
            }
        }
        if (batch.n == 0) pthread_mutex_unlock(&s->commit_mu);
        pthread_mutex_lock(&s->mu);
        if (why[0]) snprintf(s->writer_error, sizeof(s->writer_error), "%s", why);
    }
    pthread_mutex_unlock(&s->mu);
    free(batch.v);
    return NULL;
}

/* ---- loop side -------------------------------------------------------------- */

/* The async handle is referenced while writes are queued or in flight, so
 * the loop keeps running until every writer has been answered. */
static void update_ref(store *s)
{
    if (s->inflight || s->pending.n)
        uv_ref((uv_handle_t *)s->async);
    else
        uv_unref((uv_handle_t *)s->async);
}

/* Every tick: what was queued goes to the writer, which takes all that
 * waits when it starts its next commit (while it commits, the next batch
 * gathers there, ready to carry this commit's meta page to disk). The
 * hand-off seals the batch: the writer commits once it has applied it. */
static void hand_off(store *s)
{
    if (s->pending.n == 0 && !s->streamed) return;
    pthread_mutex_lock(&s->mu);
    size_t n = s->pending.n;
    bool moved = vec_move(&s->handoff, &s->pending) == 0;
    if (moved) s->inflight += n;
    if (moved || s->streamed) {
        /* (not moved: no memory; what was streamed is committed, the
         * rest waits for the next tick) */
        s->sealed = true;
        s->seal_n = s->handoff.n;
        s->streamed = false;
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
}

/* A part of this pass's writes, handed over before the pass ends: the
 * writer applies it while the loop prepares the rest (ADR 0056). */
static void stream_part(store *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->pending.n;
    if (vec_move(&s->handoff, &s->pending) == 0) {
        s->inflight += n;
        s->streamed = true;
        pthread_cond_signal(&s->cv);
    }
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
    op_vec t = done;
    done = s->done;
    s->done = t;
    s->inflight -= done.n;
    if (s->writer_error[0]) {
        snprintf(s->last_error, sizeof(s->last_error), "%s", s->writer_error);
        s->writer_error[0] = 0;
    }
    pthread_mutex_unlock(&s->mu);
    if (s->snap_depth == 0) {
        pthread_rwlock_rdlock(&s->maplock);
        take_next_snap(s);
        pthread_rwlock_unlock(&s->maplock);
    }
    AH_FAULT("store.before_done");
    bool failed = false;
    for (size_t i = 0; i < done.n && !failed; i++)
        failed = done.v[i].status != 0;
    if (failed && s->last_error[0]) /* else a write refused itself: its own answer */
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

int store_writer_start(store *s, char *err, size_t errlen)
{
    s->async = malloc(sizeof(*s->async));
    if (!s->async) {
        snprintf(err, errlen, "out of memory");
        return AH_ENOMEM;
    }
    /* The loop's first snapshot: opening flushed, so the newest is durable. */
    s->snap = snapshot_now(s);
    uv_async_init(loop_uv(s->loop), s->async, on_async);
    s->async->data = s;
    uv_unref((uv_handle_t *)s->async);
    loop_on_tick(s->loop, on_tick, s);
    if (pthread_create(&s->thread, NULL, writer_main, s) != 0) {
        snprintf(err, errlen, "cannot start the store writer thread");
        loop_remove_tick(s->loop, on_tick, s);
        uv_close((uv_handle_t *)s->async, free_handle);
        s->async = NULL;
        return AH_ENOMEM;
    }
    s->thread_started = true;
    return 0;
}

void store_writer_stop(store *s)
{
    if (!s->thread_started) return;
    /* Drain: hand off what is queued and wait until every write is
     * answered; done callbacks may queue more, so repeat until quiet. */
    for (;;) {
        hand_off(s);
        if (s->inflight == 0) break;
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
    s->thread_started = false;
}

/* No snapshot could be made for the loop (maplock held shared): flush
 * whatever is held, so that the newest commit is durable, and make one of
 * that (the writer's order: commit_mu, then maplock). */
int store_snap_fallback(store *s)
{
    pthread_rwlock_unlock(&s->maplock);
    if (s->streamed) hand_off(s); /* the writer holds commit_mu meanwhile */
    pthread_mutex_lock(&s->commit_mu);
    pthread_rwlock_rdlock(&s->maplock);
    sync_held(s);
    int rc = s->snap ? 0 : mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->snap);
    pthread_mutex_unlock(&s->commit_mu);
    return rc;
}

/* ---- writes ------------------------------------------------------------------ */

int store_write(store *s, store_apply_fn apply, store_done_fn done, void *arg)
{
    if (s->read_only) return AH_EINVAL;
    write_op op = {.apply = apply, .done = done, .arg = arg};
    if (!s->loop) {
        /* Synchronous mode for CLI commands. */
        op.status = store_write_now(s, apply, arg);
        if (op.status)
            s->failed++;
        else
            s->writes++;
        if (done) done(op.status, arg);
        return 0;
    }
    if (vec_push(&s->pending, op) < 0) return AH_ENOMEM;
    if (s->pending.n == 1) update_ref(s);
    if (s->pending.n >= STREAM_PART) stream_part(s);
    return 0;
}

int store_write_now(store *s, store_apply_fn apply, void *arg)
{
    if (s->read_only) return AH_EINVAL;
    write_op op = {.apply = apply, .arg = arg};
    op_vec b = {.v = &op, .n = 1, .cap = 1};
    char why[256];
    bool wrote;
    /* The writer holds commit_mu (and LMDB's write lock) while a batch
     * is open: end it first. */
    if (s->loop && s->streamed) hand_off(s);
    pthread_mutex_lock(&s->commit_mu);
    if (run_batch(s, &b, NULL, &wrote, why, sizeof(why)) == 0 && s->loop) {
        /* Flush now; it makes the writer's held commit durable too. */
        int rc = mdb_env_sync(s->env, 1);
        s->syncs++;
        if (rc) {
            op.status = store_map_error(rc);
            s->health = op.status;
            settle_held(s, op.status);
        } else {
            settle_held(s, 0);
            if (s->loop) publish_snap(s, snapshot_now(s));
        }
    } else if (!s->loop && op.status) {
        snprintf(s->last_error, sizeof(s->last_error), "%s", why);
    }
    pthread_mutex_unlock(&s->commit_mu);
    return op.status;
}
