/*
 * driver.c - curl multi on libuv. See driver.h.
 */
#include "driver.h"

#include <stdlib.h>

typedef struct sock_watch {
    uv_poll_t poll;
    curl_socket_t fd;
    driver *d;
    struct sock_watch *prev, *next; /* the driver's open watches */
} sock_watch;

struct driver {
    uv_loop_t *uv;
    CURLM *multi;
    uv_timer_t timer;
    driver_done_fn done;
    void *ud;
    sock_watch *watches;
    int closing;
};

static void unlink_watch(sock_watch *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        w->d->watches = w->next;
    if (w->next) w->next->prev = w->prev;
    w->prev = w->next = NULL;
}

static void on_watch_closed(uv_handle_t *h);

static void close_watch(sock_watch *w)
{
    unlink_watch(w);
    uv_poll_stop(&w->poll);
    uv_close((uv_handle_t *)&w->poll, on_watch_closed);
}

static void check_done(driver *d)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(d->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE) continue;
        CURL *easy = m->easy_handle;
        CURLcode rc = m->data.result;
        curl_multi_remove_handle(d->multi, easy);
        d->done(d->ud, easy, rc);
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    sock_watch *w = h->data;
    driver *d = w->d;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    }
    int running;
    curl_multi_socket_action(d->multi, w->fd, flags, &running);
    check_done(d);
}

static void on_watch_closed(uv_handle_t *h)
{
    sock_watch *w = h->data;
    w->d->closing--;
    free(w);
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    driver *d = userp;
    sock_watch *w = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (w) {
            d->closing++;
            close_watch(w);
            curl_multi_assign(d->multi, s, NULL);
        }
        return 0;
    }
    if (!w) {
        w = calloc(1, sizeof(*w));
        if (!w) return -1;
        w->fd = s;
        w->d = d;
        if (uv_poll_init_socket(d->uv, &w->poll, s) != 0) {
            free(w);
            return -1;
        }
        w->poll.data = w;
        w->next = d->watches;
        if (w->next) w->next->prev = w;
        d->watches = w;
        curl_multi_assign(d->multi, s, w);
    }
    int ev = 0;
    if (what & CURL_POLL_IN) ev |= UV_READABLE;
    if (what & CURL_POLL_OUT) ev |= UV_WRITABLE;
    uv_poll_start(&w->poll, ev, on_poll);
    return 0;
}

static void on_timeout(uv_timer_t *t)
{
    driver *d = t->data;
    int running;
    curl_multi_socket_action(d->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(d);
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    driver *d = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&d->timer);
    else
        uv_timer_start(&d->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

int driver_new(driver **out, uv_loop_t *uv, driver_done_fn done, void *ud)
{
    driver *d = calloc(1, sizeof(*d));
    if (!d) return -1;
    d->uv = uv;
    d->done = done;
    d->ud = ud;
    d->multi = curl_multi_init();
    if (!d->multi) {
        free(d);
        return -1;
    }
    uv_timer_init(uv, &d->timer);
    d->timer.data = d;
    curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, d);
    curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, d);
    *out = d;
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    driver *d = h->data;
    d->closing--;
}

void driver_free(driver *d)
{
    if (!d) return;
    /* Callers removed their transfers; cleanup closes curl's cached
     * connections, then any watch curl did not remove is closed here. */
    curl_multi_cleanup(d->multi);
    while (d->watches) {
        d->closing++;
        close_watch(d->watches);
    }
    d->closing++;
    uv_close((uv_handle_t *)&d->timer, on_timer_closed);
    while (d->closing > 0)
        uv_run(d->uv, UV_RUN_NOWAIT);
    free(d);
}

int driver_add(driver *d, CURL *easy)
{
    return curl_multi_add_handle(d->multi, easy) == CURLM_OK ? 0 : -1;
}

void driver_remove(driver *d, CURL *easy)
{
    curl_multi_remove_handle(d->multi, easy);
}

CURLM *driver_multi(driver *d)
{
    return d->multi;
}
