/*
 * timers.c - the plugin loop's timers (rt_priv.h): a binary min-heap on
 * due time, on the monotonic clock. A timer stopped from its own callback
 * is freed when the callback returns.
 */
#include "rt_priv.h"

#include <stdlib.h>
#include <time.h>

struct ah_timer {
    uint64_t due_ms, repeat_ms;
    ah_timer_cb cb;
    void *ud;
    uint64_t call; /* the call being served when it was started */
    size_t heap_index;
    int in_callback, stopped;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void heap_swap(rt_timers *h, size_t a, size_t b)
{
    ah_timer *t = h->heap[a];
    h->heap[a] = h->heap[b];
    h->heap[b] = t;
    h->heap[a]->heap_index = a;
    h->heap[b]->heap_index = b;
}

static void heap_up(rt_timers *h, size_t i)
{
    while (i > 0 && h->heap[(i - 1) / 2]->due_ms > h->heap[i]->due_ms) {
        heap_swap(h, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(rt_timers *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && h->heap[l]->due_ms < h->heap[m]->due_ms) m = l;
        if (r < h->n && h->heap[r]->due_ms < h->heap[m]->due_ms) m = r;
        if (m == i) return;
        heap_swap(h, i, m);
        i = m;
    }
}

static int heap_push(rt_timers *h, ah_timer *t)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        ah_timer **nh = realloc(h->heap, cap * sizeof(*nh));
        if (!nh) return -1;
        h->heap = nh;
        h->cap = cap;
    }
    t->heap_index = h->n;
    h->heap[h->n++] = t;
    heap_up(h, t->heap_index);
    return 0;
}

static void heap_remove(rt_timers *h, ah_timer *t)
{
    size_t i = t->heap_index;
    if (i >= h->n || h->heap[i] != t) return;
    h->n--;
    if (i != h->n) {
        heap_swap(h, i, h->n);
        heap_up(h, i);
        heap_down(h, i);
    }
    t->heap_index = (size_t)-1;
}

ah_timer *rt_timers_add(rt_timers *h, uint64_t after_ms, uint64_t repeat_ms, ah_timer_cb cb,
                        void *ud, uint64_t call)
{
    if (!cb) return NULL;
    ah_timer *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->due_ms = now_ms() + after_ms;
    t->repeat_ms = repeat_ms;
    t->call = call;
    t->cb = cb;
    t->ud = ud;
    if (heap_push(h, t) < 0) {
        free(t);
        return NULL;
    }
    return t;
}

void rt_timers_remove(rt_timers *h, ah_timer *t)
{
    if (!t) return;
    heap_remove(h, t);
    if (t->in_callback)
        t->stopped = 1; /* freed when its callback returns */
    else
        free(t);
}

int rt_timers_timeout(const rt_timers *h)
{
    if (!h->n) return -1;
    uint64_t now = now_ms(), due = h->heap[0]->due_ms;
    return due <= now ? 0 : (due - now > 60000 ? 60000 : (int)(due - now));
}

void rt_timers_run(rt_timers *h, ah_ctx *c, uint64_t *cur_call)
{
    uint64_t now = now_ms();
    while (h->n && h->heap[0]->due_ms <= now) {
        ah_timer *t = h->heap[0];
        heap_remove(h, t);
        t->in_callback = 1;
        uint64_t outer = *cur_call;
        *cur_call = t->call;
        t->cb(c, t, t->ud);
        *cur_call = outer;
        t->in_callback = 0;
        if (t->stopped || !t->repeat_ms) {
            free(t);
        } else {
            t->due_ms = now + t->repeat_ms;
            if (heap_push(h, t) < 0) free(t);
        }
    }
}
