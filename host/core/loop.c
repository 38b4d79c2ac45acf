#include "loop.h"

#include <agenthost/plugin.h>

#include <stdlib.h>

#define MAX_HOOKS 16
#define MAX_SIGNALS 8

typedef struct sig_entry {
    uv_signal_t h;
    loop_signal_fn fn;
    void *ud;
} sig_entry;

struct ah_loop {
    uv_loop_t uv;
    uv_prepare_t prepare;
    struct {
        loop_tick_fn fn;
        void *ud;
    } hooks[MAX_HOOKS];
    int nhooks;
    int nearly; /* hooks[0 .. nearly) are early hooks */
    sig_entry *sigs[MAX_SIGNALS];
    int nsigs;
};

static void on_prepare(uv_prepare_t *h)
{
    ah_loop *l = h->data;
    for (int i = 0; i < l->nhooks; i++)
        l->hooks[i].fn(l->hooks[i].ud);
}

int loop_new(ah_loop **out)
{
    ah_loop *l = calloc(1, sizeof(*l));
    if (!l) return AH_ENOMEM;
    if (uv_loop_init(&l->uv) != 0) {
        free(l);
        return AH_EIO;
    }
    uv_prepare_init(&l->uv, &l->prepare);
    l->prepare.data = l;
    uv_prepare_start(&l->prepare, on_prepare);
    uv_unref((uv_handle_t *)&l->prepare);
    *out = l;
    return 0;
}

uv_loop_t *loop_uv(ah_loop *l)
{
    return &l->uv;
}

int loop_on_tick(ah_loop *l, loop_tick_fn fn, void *ud)
{
    if (l->nhooks == MAX_HOOKS) return AH_ETOOBIG;
    l->hooks[l->nhooks].fn = fn;
    l->hooks[l->nhooks].ud = ud;
    l->nhooks++;
    return 0;
}

int loop_on_tick_early(ah_loop *l, loop_tick_fn fn, void *ud)
{
    if (l->nhooks == MAX_HOOKS) return AH_ETOOBIG;
    for (int k = l->nhooks; k > l->nearly; k--)
        l->hooks[k] = l->hooks[k - 1];
    l->hooks[l->nearly].fn = fn;
    l->hooks[l->nearly].ud = ud;
    l->nearly++;
    l->nhooks++;
    return 0;
}

void loop_remove_tick(ah_loop *l, loop_tick_fn fn, void *ud)
{
    for (int i = 0; i < l->nhooks; i++) {
        if (l->hooks[i].fn == fn && l->hooks[i].ud == ud) {
            for (int k = i; k + 1 < l->nhooks; k++)
                l->hooks[k] = l->hooks[k + 1];
            if (i < l->nearly) l->nearly--;
            l->nhooks--;
            return;
        }
    }
}

static void on_signal(uv_signal_t *h, int signum)
{
    sig_entry *e = h->data;
    e->fn(signum, e->ud);
}

int loop_on_signal(ah_loop *l, int signum, loop_signal_fn fn, void *ud)
{
    if (l->nsigs == MAX_SIGNALS) return AH_ETOOBIG;
    sig_entry *e = calloc(1, sizeof(*e));
    if (!e) return AH_ENOMEM;
    e->fn = fn;
    e->ud = ud;
    uv_signal_init(&l->uv, &e->h);
    e->h.data = e;
    int rc = uv_signal_start(&e->h, on_signal, signum);
    if (rc != 0) {
        uv_close((uv_handle_t *)&e->h, NULL);
        uv_run(&l->uv, UV_RUN_NOWAIT);
        free(e);
        return AH_EINVAL; /* libuv's only refusal: not a signal it can watch */
    }
    l->sigs[l->nsigs++] = e; /* referenced: a serving loop lives until stopped */
    return 0;
}

int loop_run(ah_loop *l)
{
    uv_run(&l->uv, UV_RUN_DEFAULT);
    return 0;
}

void loop_stop(ah_loop *l)
{
    uv_stop(&l->uv);
}

static void free_sig(uv_handle_t *h)
{
    free(h->data);
}

static void close_stray(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

void loop_free(ah_loop *l)
{
    if (!l) return;
    uv_prepare_stop(&l->prepare);
    uv_close((uv_handle_t *)&l->prepare, NULL);
    for (int i = 0; i < l->nsigs; i++)
        uv_close((uv_handle_t *)&l->sigs[i]->h, free_sig);
    /* Drain close callbacks of every handle, ours and the modules'; a
     * handle a module forgot is closed here rather than hanging the exit. */
    for (int tries = 0; uv_loop_close(&l->uv) == UV_EBUSY; tries++) {
        if (tries == 8) uv_walk(&l->uv, close_stray, NULL);
        uv_run(&l->uv, UV_RUN_NOWAIT);
    }
    free(l);
}
