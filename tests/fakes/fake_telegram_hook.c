/*
 * fake_telegram_hook.c - the fake's webhook deliveries: up to SENDERS POSTs
 * at once from a pool of threads, one update per chat at a time and in
 * order within a chat (as Telegram delivers), each with the secret header;
 * a refused or failed one is sent again after a pause. See fake_telegram.c.
 */
#include "fake_telegram.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ---- the webhook sender: a pool of connections, one update per chat at a time ------- */

typedef struct wjob {
    struct wjob *next;
    json_int_t update_id;
    char *url, *secret, *body;
    int status;
} wjob;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    wjob *todo, *done; /* FIFO in, any order out */
    bool quit;
} W = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* POST body to an http:// URL; the HTTP status, or 0. */
static int post(const char *url, const char *secret, const char *body)
{
    char host[256], path[1024] = "/";
    int port = 80;
    if (strncmp(url, "http://", 7) != 0) return 0; /* the fake speaks plain HTTP only */
    const char *h = url + 7, *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    if (hl >= sizeof(host)) return 0;
    memcpy(host, h, hl);
    host[hl] = 0;
    if (slash) snprintf(path, sizeof(path), "%s", slash);
    char *colon = strchr(host, ':');
    if (colon) {
        *colon = 0;
        port = atoi(colon + 1);
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) return 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int status = 0;
    char *req = NULL;
    int n =
        asprintf(&req,
                 "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\n%s%s%sConnection: close\r\n\r\n%s",
                 path, host, port, strlen(body), secret ? "X-Telegram-Bot-Api-Secret-Token: " : "",
                 secret ? secret : "", secret ? "\r\n" : "", body);
    if (n > 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
        size_t off = 0;
        while (off < (size_t)n) {
            ssize_t w = write(fd, req + off, (size_t)n - off);
            if (w <= 0) break;
            off += (size_t)w;
        }
        char resp[64] = {0};
        size_t got = 0;
        while (got < sizeof(resp) - 1) {
            ssize_t r = read(fd, resp + got, sizeof(resp) - 1 - got);
            if (r <= 0) break;
            got += (size_t)r;
        }
        if (got > 12 && !strncmp(resp, "HTTP/1.", 7)) status = atoi(resp + 9);
    }
    free(req);
    close(fd);
    return status;
}

static void *sender(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&W.mu);
    while (!W.quit) {
        wjob *j = W.todo;
        if (!j) {
            pthread_cond_wait(&W.cv, &W.mu);
            continue;
        }
        W.todo = j->next;
        pthread_mutex_unlock(&W.mu);
        j->status = post(j->url, j->secret, j->body);
        pthread_mutex_lock(&W.mu);
        j->next = W.done;
        W.done = j;
        uv_async_send(&F.async);
    }
    pthread_mutex_unlock(&W.mu);
    return NULL;
}

void count(const char *what)
{
    json_object_set_new(F.stats, what,
                        json_integer(json_integer_value(json_object_get(F.stats, what)) + 1));
}

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The chat an update is about, for ordering ("" when none). */
void update_chat(const json_t *u, char *out, size_t n)
{
    const json_t *m = json_object_get(u, "message");
    if (!m) m = json_object_get(u, "edited_message");
    if (!m) m = json_object_get(json_object_get(u, "callback_query"), "message");
    if (!m) m = json_object_get(u, "my_chat_member");
    if (!m) m = json_object_get(u, "chat_member");
    json_int_t id = json_integer_value(json_object_get(json_object_get(m, "chat"), "id"));
    if (!id)
        id = json_integer_value(
            json_object_get(json_object_get(json_object_get(u, "callback_query"), "from"), "id"));
    if (id)
        snprintf(out, n, "%lld", (long long)id);
    else if (n)
        out[0] = 0;
}

/* Send pending updates to the webhook: up to SENDERS at once, one per chat
 * at a time, in order within a chat (as Telegram does). */
void pump(void)
{
    if (!F.webhook_url || now_ms() < F.hold_until_ms) return;
    size_t i;
    json_t *u;
    wjob *head = NULL, **tail = &head;
    json_array_foreach(F.pending, i, u)
    {
        if (json_object_size(F.in_flight) >= SENDERS) break;
        char id[32], chat[32];
        snprintf(id, sizeof(id), "%lld",
                 (long long)json_integer_value(json_object_get(u, "update_id")));
        update_chat(u, chat, sizeof(chat));
        if (json_object_get(F.in_flight, id) || (*chat && json_object_get(F.chats_busy, chat)))
            continue;
        json_object_set_new(F.in_flight, id, json_string(chat));
        if (*chat) json_object_set_new(F.chats_busy, chat, json_true());
        wjob *j = calloc(1, sizeof(*j));
        j->update_id = json_integer_value(json_object_get(u, "update_id"));
        j->url = strdup(F.webhook_url);
        j->secret = F.webhook_secret ? strdup(F.webhook_secret) : NULL;
        j->body = json_dumps(u, JSON_COMPACT);
        *tail = j;
        tail = &j->next;
    }
    if (!head) return;
    pthread_mutex_lock(&W.mu);
    wjob **end = &W.todo;
    while (*end)
        end = &(*end)->next;
    *end = head;
    pthread_cond_broadcast(&W.cv);
    pthread_mutex_unlock(&W.mu);
}

static void on_retry(uv_timer_t *t)
{
    (void)t;
    pump();
}

static void forget_pending(json_int_t id)
{
    size_t i;
    json_t *u;
    json_array_foreach(F.pending, i,
                       u) if (json_integer_value(json_object_get(u, "update_id")) == id)
    {
        json_array_remove(F.pending, i);
        return;
    }
}

static void on_posted(uv_async_t *a)
{
    (void)a;
    pthread_mutex_lock(&W.mu);
    wjob *j = W.done;
    W.done = NULL;
    pthread_mutex_unlock(&W.mu);
    while (j) {
        wjob *next = j->next;
        char id[32];
        snprintf(id, sizeof(id), "%lld", (long long)j->update_id);
        const char *chat = json_string_value(json_object_get(F.in_flight, id));
        if (chat && *chat) json_object_del(F.chats_busy, chat);
        json_object_del(F.in_flight, id);
        if (j->status >= 200 && j->status < 300) {
            count("webhook_delivered");
            forget_pending(j->update_id);
        } else {
            count(j->status ? "webhook_refused" : "webhook_failed");
            F.hold_until_ms = now_ms() + 200; /* Telegram backs off too */
            uv_timer_start(&F.retry, on_retry, 200, 0);
        }
        free(j->url), free(j->secret), free(j->body), free(j);
        j = next;
    }
    pump();
}

int hooks_start(pthread_t *threads)
{
    uv_async_init(F.uv, &F.async, on_posted);
    uv_timer_init(F.uv, &F.retry);
    for (int i = 0; i < SENDERS; i++)
        if (pthread_create(&threads[i], NULL, sender, NULL)) return -1;
    return 0;
}

void hooks_stop(pthread_t *threads)
{
    pthread_mutex_lock(&W.mu);
    W.quit = true;
    pthread_cond_broadcast(&W.cv);
    pthread_mutex_unlock(&W.mu);
    for (int i = 0; i < SENDERS; i++)
        pthread_join(threads[i], NULL);
}
