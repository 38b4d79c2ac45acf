#include "retention.h"

#include "core/log.h"
#include "core/util.h"
#include "audit.h"

#include <agenthost/plugin.h>

#include <stdlib.h>

#define BATCH 1000
#define DAY_MS (24ull * 3600 * 1000)

struct audit_retention {
    docs *d;
    uv_timer_t timer;
    retention_opts o;
    bool sweeping;
    bool stopped, closed; /* freed once closed and no sweep is in flight */
    size_t swept;         /* this pass */
};

static void maybe_free(audit_retention *r)
{
    if (r->closed && !r->sweeping) free(r);
}

static void sweep(audit_retention *r);

static void swept(void *ud, int status, size_t deleted)
{
    audit_retention *r = ud;
    r->swept += deleted;
    if (status == 0 && deleted == BATCH && !r->stopped) {
        sweep(r); /* more left: the next batch, as its own write */
        return;
    }
    r->sweeping = false;
    if (status)
        log_warn("audit", "removing audit entries past retention failed: %s", ah_strerror(status));
    else if (r->swept)
        log_info("audit", "removed %zu audit entries older than %u days", r->swept,
                 r->o.audit_days);
    maybe_free(r);
}

static void sweep(audit_retention *r)
{
    int64_t cutoff = ah_now_ms() - (int64_t)(r->o.audit_days * DAY_MS);
    r->sweeping = audit_sweep(r->d, cutoff, BATCH, swept, r) == 0;
}

static void on_timer(uv_timer_t *t)
{
    audit_retention *r = t->data;
    if (r->sweeping) return;
    r->swept = 0;
    sweep(r);
}

int audit_retention_start(audit_retention **out, docs *d, ah_loop *loop, const retention_opts *o)
{
    *out = NULL;
    if (!o->audit_days) return 0;
    audit_retention *r = calloc(1, sizeof(*r));
    if (!r) return AH_ENOMEM;
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
    audit_retention *r = h->data;
    r->closed = true;
    maybe_free(r);
}

void audit_retention_stop(audit_retention *r)
{
    if (!r) return;
    r->stopped = true;
    uv_timer_stop(&r->timer);
    /* A sweep in flight is answered when the store closes: r stays until
     * then, and until its timer handle has closed. */
    uv_close((uv_handle_t *)&r->timer, on_close);
}
