/*
 * engine_load.c - closed loops on the bench host: `conc` chats, each with
 * one input in flight, sending the next as soon as the last is answered.
 *
 *  - turns (EB_TURNS): the input is published on message.in as a channel
 *    plugin's bus service publishes it (bus_publish on the host's loop; the
 *    message shape of docs/channels.md, channel instance EB_INSTANCE); the
 *    runtime runs the turn (the answer to ask, llm.chat through the plugin
 *    and the fake, say, ask again) and commits it; the turn counts when its
 *    last reply, the question asked again, reaches the channel's consumer
 *    of message.out (which acks what it reads, as a channel does).
 *  - floor (EB_FLOOR): the same input on floor.in; a consumer commits, per
 *    delivery, in one bus_commit: the delivery settled, one event published
 *    on floor.out and one state write (2 KiB under the chat's key, about a
 *    conversation record); it counts when floor.out reaches its consumer.
 *  - calls (EB_CALLS): the llm.chat call alone, instance_call of the
 *    llm-openai instance with the arguments the scenario's step sends.
 */
#include "engine.h"

#include "core/util.h"
#include "model/ids.h"

#include <agenthost/plugin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATE_BYTES 2048
#define DRAIN_MS 120000

typedef struct fjob {
    uint64_t id;
    int chat;
} fjob;

typedef struct chat {
    bool busy;
    uint64_t sent_ns;
} chat;

struct eb_load {
    eb_host *h;
    bus_consumer *out_c, *fin_c, *fout_c;
    uv_idle_t idle;
    bool idle_on;
    uint64_t *acks;
    size_t nacks, capacks;
    fjob *fjobs;
    size_t nf, capf;
    /* the round */
    eb_kind kind;
    char tag[32];
    int conc;
    chat *chats;
    bool issuing, counting;
    long done, failed, inflight;
    bench_lat *lat;
    uv_timer_t timer;
    json_t *call_args;
    uint64_t seq;
};

static char g_state[STATE_BYTES];

/* ---- deferred work: acks and the floor's commits, on the next loop pass ----------- */

static void on_idle(uv_idle_t *h);

static void wake(eb_load *l)
{
    if (!l->idle_on) {
        l->idle_on = true;
        uv_idle_start(&l->idle, on_idle);
    }
}

static void push_ack(eb_load *l, uint64_t id)
{
    if (l->nacks == l->capacks) {
        l->capacks = l->capacks ? l->capacks * 2 : 1024;
        l->acks = realloc(l->acks, l->capacks * sizeof(*l->acks));
    }
    l->acks[l->nacks++] = id;
    wake(l);
}

static void push_fjob(eb_load *l, uint64_t id, int i)
{
    if (l->nf == l->capf) {
        l->capf = l->capf ? l->capf * 2 : 1024;
        l->fjobs = realloc(l->fjobs, l->capf * sizeof(*l->fjobs));
    }
    l->fjobs[l->nf++] = (fjob){id, i};
    wake(l);
}

/* The floor's state write: on the store's writer thread, read-only data. */
typedef struct fstate {
    eb_load *l;
    char key[64];
    size_t klen;
} fstate;

static int apply_state(store_txn *txn, void *arg)
{
    fstate *s = arg;
    return store_put(txn, STORE_DB_KV, s->key, s->klen, g_state, sizeof(g_state));
}

static void floor_committed(void *ud, int status, const uint64_t *off, const bool *dup, size_t n)
{
    (void)off, (void)dup, (void)n;
    fstate *s = ud;
    if (status) s->l->failed++;
    free(s);
}

static json_t *input_body(eb_load *l, int i, const char *text);

static void floor_commit(eb_load *l, const fjob *j)
{
    fstate *s = malloc(sizeof(*s));
    s->l = l;
    int n = snprintf(s->key, sizeof(s->key), "bench%c%s_%d", 0, l->tag, j->chat);
    s->klen = (size_t)n;
    char key[64];
    snprintf(key, sizeof(key), "%s_%d", l->tag, j->chat);
    json_t *body = input_body(l, j->chat, "The answer, said back as the engine would.");
    json_object_set_new(body, "direction", json_string("out"));
    bus_msg m = {.topic = "floor.out", .key = key, .body = body};
    bus_commit_req r = {.settle = j->id, .msgs = &m, .n = 1, .apply = apply_state, .apply_arg = s};
    char err[300];
    if (bus_commit(l->h->bus, &r, floor_committed, s, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench_engine: floor commit: %s\n", err);
        l->failed++;
        free(s);
    }
    json_decref(body);
}

static void on_idle(uv_idle_t *h)
{
    eb_load *l = h->data;
    /* Acks and commits may deliver more, which queue more: take the batch. */
    uint64_t *acks = l->acks;
    size_t na = l->nacks;
    fjob *jobs = l->fjobs;
    size_t nf = l->nf;
    l->acks = NULL;
    l->nacks = l->capacks = 0;
    l->fjobs = NULL;
    l->nf = l->capf = 0;
    for (size_t i = 0; i < na; i++)
        bus_ack(l->h->bus, acks[i]);
    for (size_t i = 0; i < nf; i++)
        floor_commit(l, &jobs[i]);
    free(acks);
    free(jobs);
    if (!l->nacks && !l->nf) {
        l->idle_on = false;
        uv_idle_stop(&l->idle);
    }
}

/* ---- inputs and completions --------------------------------------------------------- */

static json_t *input_body(eb_load *l, int i, const char *text)
{
    char who[64], ext[40], at[40];
    snprintf(who, sizeof(who), "%s_%d", l->tag, i);
    snprintf(ext, sizeof(ext), "%llu", (unsigned long long)++l->seq);
    ah_rfc3339_ms(ah_now_ms(), at, sizeof(at));
    return json_pack("{s:i,s:s,s:s,s:{s:s,s:s},s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:s},s:s}",
                     "event_version", 1, "direction", "in", "kind", "message", "channel", "kind",
                     "telegram", "instance", EB_INSTANCE, "external_id", ext, "at", at, "chat",
                     "id", who, "type", "private", "from", "id", who, "type", "user", "name",
                     "Bench User", "text", text);
}

static void send_input(eb_load *l, int i);

static void complete(eb_load *l, int i)
{
    chat *c = &l->chats[i];
    if (!c->busy) return;
    c->busy = false;
    l->inflight--;
    if (l->counting) {
        l->done++;
        if (l->lat) bench_lat_add(l->lat, bench_now_ns() - c->sent_ns);
    }
    if (l->issuing) send_input(l, i);
}

static void published(void *ud, int status, const uint64_t *off, const bool *dup, size_t n)
{
    (void)off, (void)dup, (void)n;
    eb_load *l = ud;
    if (status) {
        l->failed++;
        fprintf(stderr, "bench_engine: publish: %s\n", ah_strerror(status));
    }
}

static void call_done(void *ud, const json_t *result, const char *err_code, const char *message);

typedef struct call_ud {
    eb_load *l;
    int i;
} call_ud;

static void send_input(eb_load *l, int i)
{
    chat *c = &l->chats[i];
    c->busy = true;
    c->sent_ns = bench_now_ns();
    l->inflight++;
    char err[300] = "";
    if (l->kind == EB_CALLS) {
        call_ud *u = malloc(sizeof(*u));
        *u = (call_ud){l, i};
        if (instance_call(l->h->llm, "chat", l->call_args, 0, call_done, u, err, sizeof(err)) == 0)
            return;
        free(u);
    } else {
        char key[96];
        snprintf(key, sizeof(key), EB_INSTANCE ":%s_%d", l->tag, i);
        json_t *body = input_body(l, i, EB_QUESTION);
        bus_msg m = {
            .topic = l->kind == EB_TURNS ? "message.in" : "floor.in", .key = key, .body = body};
        int rc = bus_publish(l->h->bus, &m, 1, false, published, l, err, sizeof(err));
        json_decref(body);
        if (rc == 0) return;
    }
    fprintf(stderr, "bench_engine: sending: %s\n", err);
    l->failed++;
    c->busy = false;
    l->inflight--;
}

static void call_done(void *ud, const json_t *result, const char *err_code, const char *message)
{
    call_ud *u = ud;
    eb_load *l = u->l;
    if (err_code || !json_string_value(json_object_get(result, "content"))) {
        if (l->failed++ < 3)
            fprintf(stderr, "bench_engine: call: %s: %s\n", err_code ? err_code : "no content",
                    message ? message : "");
    }
    complete(l, u->i);
    free(u);
}

/* "<tag>_<i>" of this round, or -1. */
static int chat_of(eb_load *l, const json_t *body)
{
    const char *id = json_string_value(json_object_get(json_object_get(body, "chat"), "id"));
    size_t n = strlen(l->tag);
    if (!id || strncmp(id, l->tag, n) != 0 || id[n] != '_') return -1;
    char *end;
    long i = strtol(id + n + 1, &end, 10);
    return *end || i < 0 || i >= l->conc ? -1 : (int)i;
}

static int deliver_out(void *ud, const bus_delivery *d)
{
    eb_load *l = ud;
    push_ack(l, d->id);
    const char *text = json_string_value(json_object_get(d->body, "text"));
    int i = l->chats && l->kind == EB_TURNS ? chat_of(l, d->body) : -1;
    if (i >= 0 && text && !strcmp(text, EB_ASK_TEXT)) complete(l, i);
    return 0;
}

static int deliver_fin(void *ud, const bus_delivery *d)
{
    eb_load *l = ud;
    int i = l->chats && l->kind == EB_FLOOR ? chat_of(l, d->body) : -1;
    if (i < 0) {
        push_ack(l, d->id);
        return 0;
    }
    push_fjob(l, d->id, i);
    return 0;
}

static int deliver_fout(void *ud, const bus_delivery *d)
{
    eb_load *l = ud;
    push_ack(l, d->id);
    int i = l->chats && l->kind == EB_FLOOR ? chat_of(l, d->body) : -1;
    if (i >= 0) complete(l, i);
    return 0;
}

/* ---- the drivers --------------------------------------------------------------------- */

static const bus_consumer_ops OUT_OPS = {.deliver = deliver_out},
                              FIN_OPS = {.deliver = deliver_fin},
                              FOUT_OPS = {.deliver = deliver_fout};

static int open_consumer(eb_load *l, const char *name, const char *topic,
                         const bus_consumer_ops *ops, bus_consumer **out)
{
    const char *patterns[] = {topic};
    bus_consumer_opts o = {.name = name,
                           .patterns = patterns,
                           .npatterns = 1,
                           .start = BUS_START_LATEST,
                           .max_in_flight = 65536,
                           .ack_timeout_ms = 600000};
    char err[300];
    if (bus_consumer_open(l->h->bus, &o, ops, l, out, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench_engine: consumer %s: %s\n", name, err);
        return -1;
    }
    bus_consumer_attach(*out);
    return 0;
}

eb_load *eb_load_new(eb_host *h)
{
    eb_load *l = calloc(1, sizeof(*l));
    l->h = h;
    memset(g_state, 'x', sizeof(g_state));
    uv_idle_init(loop_uv(h->loop), &l->idle);
    l->idle.data = l;
    uv_timer_init(loop_uv(h->loop), &l->timer);
    l->timer.data = l;
    l->call_args = json_pack("{s:[{s:s,s:s}]}", "messages", "role", "user", "content", EB_QUESTION);
    if (open_consumer(l, "bench-channel", "message.out", &OUT_OPS, &l->out_c) < 0 ||
        open_consumer(l, "bench-floor", "floor.in", &FIN_OPS, &l->fin_c) < 0 ||
        open_consumer(l, "bench-floor-channel", "floor.out", &FOUT_OPS, &l->fout_c) < 0) {
        eb_load_free(l);
        return NULL;
    }
    return l;
}

void eb_load_free(eb_load *l)
{
    if (!l) return;
    if (l->out_c) bus_consumer_detach(l->out_c, NULL);
    if (l->fin_c) bus_consumer_detach(l->fin_c, NULL);
    if (l->fout_c) bus_consumer_detach(l->fout_c, NULL);
    uv_close((uv_handle_t *)&l->idle, NULL);
    uv_close((uv_handle_t *)&l->timer, NULL);
    uv_run(loop_uv(l->h->loop), UV_RUN_NOWAIT);
    json_decref(l->call_args);
    free(l->acks);
    free(l->fjobs);
    free(l->chats);
    free(l);
}

static bool drained(void *arg)
{
    eb_load *l = arg;
    return l->inflight == 0 && !l->idle_on;
}

/* No new inputs after the window; those in flight still count: with
 * thousands in flight a turn takes longer than a window, and the rate is
 * every completion over the time they took. */
static void round_over(uv_timer_t *t)
{
    eb_load *l = t->data;
    l->issuing = false;
}

static void begin(eb_load *l, eb_kind kind, const char *tag, int conc)
{
    l->kind = kind;
    snprintf(l->tag, sizeof(l->tag), "%s", tag);
    l->conc = conc;
    free(l->chats);
    l->chats = calloc((size_t)conc, sizeof(*l->chats));
    l->done = l->failed = l->inflight = 0;
}

/* Wait for what is in flight; -1 (reported) if it does not come back. */
static int drain(eb_load *l, const char *what)
{
    if (eb_run_until(l->h, drained, l, DRAIN_MS)) return 0;
    fprintf(stderr, "bench_engine: %s: %ld of %d chats still waiting after %d s\n", what,
            l->inflight, l->conc, DRAIN_MS / 1000);
    return -1;
}

int eb_warm(eb_load *l, const char *tag, int conc)
{
    begin(l, EB_TURNS, tag, conc);
    l->issuing = l->counting = false;
    for (int i = 0; i < conc; i++)
        send_input(l, i);
    int rc = drain(l, "starting conversations");
    return rc || l->failed ? -1 : 0;
}

int eb_round_run(eb_load *l, eb_kind kind, const char *tag, int conc, int round_ms, bool lat,
                 eb_round *out)
{
    memset(out, 0, sizeof(*out));
    begin(l, kind, tag, conc);
    l->lat = lat ? &out->lat : NULL;
    l->issuing = l->counting = true;
    uint64_t w0 = bench_now_ns(), c0 = bench_cpu_thread_ns(), p0 = bench_cpu_pid_ns(getpid());
    uv_timer_start(&l->timer, round_over, (uint64_t)round_ms, 0);
    for (int i = 0; i < conc; i++)
        send_input(l, i);
    int rc = drain(l, kind == EB_TURNS ? "turns" : kind == EB_FLOOR ? "floor" : "calls");
    out->wall_s = (double)(bench_now_ns() - w0) / 1e9;
    out->loop_cpu_s = (double)(bench_cpu_thread_ns() - c0) / 1e9;
    out->proc_cpu_s = (double)(bench_cpu_pid_ns(getpid()) - p0) / 1e9;
    out->done = l->done;
    out->per_s = out->wall_s > 0 ? (double)l->done / out->wall_s : 0;
    out->failed = l->failed;
    l->lat = NULL;
    return rc;
}
