#include "retention.h"

#include "core/log.h"
#include "core/util.h"
#include "store/store.h"
#include "collections.h"
#include "ids.h"

#include <agenthost/plugin.h>

#include <stdlib.h>
#include <string.h>

#define BATCH 1000
#define DAY_MS (24ull * 3600 * 1000)

/* ---- one batch of one collection ------------------------------------------------- */

typedef struct sweep {
    const char *coll;
    int64_t cutoff_ms;
    size_t max;
    json_t *ids;
    void (*done)(void *ud, int status, size_t deleted);
    void *ud;
} sweep;

static int old_one(void *ud, store_val key, store_val val)
{
    (void)val;
    sweep *s = ud;
    size_t plen = strlen(s->coll) + 1;
    char id[ID_MAX];
    if (key.len <= plen || key.len - plen >= sizeof(id)) return 0;
    memcpy(id, (const char *)key.data + plen, key.len - plen);
    id[key.len - plen] = 0;
    if (id_time_ms(id) >= s->cutoff_ms || json_array_size(s->ids) >= s->max) return 1;
    json_array_append_new(s->ids, json_string(id));
    return 0;
}

static int sweep_batch(doc_txn *t, void *ud)
{
    sweep *s = ud;
    json_array_clear(s->ids); /* this may run again: from the start */
    /* Oldest first: the primary key "<collection>\0<id>" is creation order. */
    int rc = store_scan(doc_txn_store(t), STORE_DB_DOCS, s->coll, strlen(s->coll) + 1, NULL, 0, 0,
                        old_one, s);
    size_t i;
    json_t *id;
    json_array_foreach(s->ids, i, id)
    {
        if (rc) break;
        rc = doc_delete(t, s->coll, json_string_value(id), STORE_REV_ANY);
    }
    return rc;
}

static void swept_batch(int status, const doc_error *err, void *ud)
{
    (void)err;
    sweep *s = ud;
    if (s->done) s->done(s->ud, status, status ? 0 : json_array_size(s->ids));
    json_decref(s->ids);
    free(s);
}

int doc_sweep_older(docs *d, const char *coll, int64_t cutoff_ms, size_t max,
                    void (*done)(void *ud, int status, size_t deleted), void *ud)
{
    sweep *s = calloc(1, sizeof(*s));
    if (!s) return AH_ENOMEM;
    *s = (sweep){.coll = coll,
                 .cutoff_ms = cutoff_ms,
                 .max = max,
                 .ids = json_array(),
                 .done = done,
                 .ud = ud};
    int rc = s->ids ? docs_write(d, sweep_batch, s, swept_batch) : AH_ENOMEM;
    if (rc) {
        json_decref(s->ids);
        free(s);
    }
    return rc;
}

/* ---- the background sweeps -------------------------------------------------------- */

typedef struct target {
    const char *coll;
    const char *what; /* for the log */
    uint32_t days;
} target;

struct doc_retention {
    docs *d;
    uv_timer_t timer;
    retention_opts o;
    target targets[2];
    size_t ntargets, cur; /* the collection being swept */
    bool sweeping;
    bool stopped, closed; /* freed once closed and no sweep is in flight */
    size_t swept;         /* this collection, this pass */
};

static void maybe_free(doc_retention *r)
{
    if (r->closed && !r->sweeping) free(r);
}

static void sweep_next(doc_retention *r);

static void swept(void *ud, int status, size_t deleted)
{
    doc_retention *r = ud;
    const target *t = &r->targets[r->cur];
    r->swept += deleted;
    if (status == 0 && deleted == BATCH && !r->stopped) {
        sweep_next(r); /* more left: the next batch, as its own write */
        return;
    }
    if (status)
        log_warn("retention", "removing %s past retention failed: %s", t->what,
                 ah_strerror(status));
    else if (r->swept)
        log_info("retention", "removed %zu %s older than %u days", r->swept, t->what, t->days);
    r->swept = 0;
    r->cur++;
    if (r->cur < r->ntargets && !r->stopped && !status) {
        sweep_next(r);
        return;
    }
    r->sweeping = false;
    maybe_free(r);
}

static void sweep_next(doc_retention *r)
{
    const target *t = &r->targets[r->cur];
    int64_t cutoff = ah_now_ms() - (int64_t)(t->days * DAY_MS);
    r->sweeping = doc_sweep_older(r->d, t->coll, cutoff, BATCH, swept, r) == 0;
}

static void on_timer(uv_timer_t *t)
{
    doc_retention *r = t->data;
    if (r->sweeping) return;
    r->swept = 0;
    r->cur = 0;
    sweep_next(r);
}

int doc_retention_start(doc_retention **out, docs *d, ah_loop *loop, const retention_opts *o)
{
    *out = NULL;
    target all[] = {{COLL_AUDIT, "audit entries", o->audit_days},
                    {COLL_WEBHOOK_DELIVERIES, "webhook delivery-log entries", o->webhook_log_days}};
    doc_retention *r = calloc(1, sizeof(*r));
    if (!r) return AH_ENOMEM;
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (all[i].days) r->targets[r->ntargets++] = all[i];
    if (!r->ntargets) {
        free(r);
        return 0;
    }
    r->d = d;
    r->o = *o;
    if (!r->o.interval_ms) r->o.interval_ms = 3600u * 1000u;
    uv_timer_init(loop_uv(loop), &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, on_timer, 0, r->o.interval_ms);
    *out = r;
    return 0;
}

static void on_close(uv_handle_t *h)
{
    doc_retention *r = h->data;
    r->closed = true;
    maybe_free(r);
}

void doc_retention_stop(doc_retention *r)
{
    if (!r) return;
    r->stopped = true;
    uv_timer_stop(&r->timer);
    /* A sweep in flight is answered when the store closes: r stays until
     * then, and until its timer handle has closed. */
    uv_close((uv_handle_t *)&r->timer, on_close);
}
