/* bus_nats.c - the scale-out peer: Debian's nats-server -js on loopback
 * with a file-store stream, 256-byte messages published with a reply
 * subject (JetStream answers each with its stream sequence), up to
 * `window` unanswered, over the plain NATS text protocol.
 *
 * Weaker durability, by its default: JetStream acknowledges once the
 * message is in its file store's write buffers and fsyncs on a timer
 * (sync_interval, 2 minutes by default; nats-server 2.9 has no setting to
 * sync every write). An acknowledged message can be lost on power loss. */
#include "bus.h"

#include "netbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STREAM "BENCH"
#define ACK_SUBJECT "_INBOX.bench.ack"
#define API_SUBJECT "_INBOX.bench.api"

struct nats_peer {
    bench *b;
    bench_server srv;
    netbuf nb;
    unsigned runs;
    long total; /* messages acknowledged over all runs */
    char pub_head[96];
    char value[EVENT_BYTES];
};

typedef struct nats_msg {
    const char *subject; /* valid until the next read */
    const char *body;
    size_t len;
} nats_msg;

/* Parse one server message: 1 a MSG/HMSG (into m), 2 anything else
 * handled (PING answered, PONG, +OK), 0 incomplete, -1 an -ERR. */
static int read_msg(nats_peer *n, nats_msg *m)
{
    netbuf *nb = &n->nb;
    size_t mark = nb_mark(nb);
    char *line = nb_line(nb);
    if (!line) return 0;
    if (!strncmp(line, "MSG ", 4) || !strncmp(line, "HMSG ", 5)) {
        char *tok[6];
        int nt = 0;
        for (char *save = NULL, *t = strtok_r(line, " ", &save); t && nt < 6;
             t = strtok_r(NULL, " ", &save))
            tok[nt++] = t;
        if (nt < 4) {
            bench_fail(n->b, "nats: malformed message line");
            return -1;
        }
        size_t total = strtoul(tok[nt - 1], NULL, 10);
        char *body = nb_body(nb, total);
        if (!body) {
            nb_rewind(nb, mark);
            return 0;
        }
        m->subject = tok[1];
        size_t hdr = line[0] == 'H' ? strtoul(tok[nt - 2], NULL, 10) : 0;
        m->body = body + hdr;
        m->len = total - hdr;
        return 1;
    }
    if (!strcmp(line, "PING"))
        nb_printf(nb, "PONG\r\n");
    else if (!strncmp(line, "-ERR", 4)) {
        bench_fail(n->b, "nats: %s", line);
        return -1;
    }
    return 2;
}

/* A request to the JetStream API; the reply's JSON (new reference). */
static json_t *api(nats_peer *n, const char *subject, const char *payload)
{
    nb_printf(&n->nb, "PUB %s %s %zu\r\n", subject, API_SUBJECT, strlen(payload));
    nb_write(&n->nb, payload, strlen(payload));
    nb_write(&n->nb, "\r\n", 2);
    if (nb_flush(&n->nb) < 0) return NULL;
    for (;;) {
        nats_msg m;
        int rc;
        while ((rc = read_msg(n, &m)) == 2)
            ;
        if (rc < 0) return NULL;
        if (rc == 1 && !strcmp(m.subject, API_SUBJECT)) return json_loadb(m.body, m.len, 0, NULL);
        if (rc == 0 && (nb_flush(&n->nb) < 0 || nb_fill(&n->nb) <= 0)) return NULL;
    }
}

nats_peer *nats_start(bench *b)
{
    if (!bench_have("nats-server")) {
        bench_fail(b, "nats-server is not installed (scripts/deps.sh --bench installs it)");
        return NULL;
    }
    nats_peer *n = calloc(1, sizeof(*n));
    n->b = b;
    n->nb.fd = -1;
    memset(n->value, 'e', sizeof(n->value));
    if (bench_tmpdir(n->srv.dir, sizeof(n->srv.dir), "nats") < 0) {
        free(n);
        bench_fail(b, "cannot make a temporary directory");
        return NULL;
    }
    n->srv.port = bench_free_port();
    char port[16];
    snprintf(port, sizeof(port), "%d", n->srv.port);
    char *argv[] = {"nats-server", "-js", "-a", "127.0.0.1", "-p", port, "-sd", n->srv.dir, NULL};
    int fd = -1;
    if (bench_server_start(&n->srv, argv, 10000) < 0 || (fd = bench_connect(n->srv.port)) < 0) {
        bench_fail(b, "nats-server did not start");
        bench_server_stop(&n->srv, 2000);
        free(n);
        return NULL;
    }
    nb_init(&n->nb, fd);
    /* INFO first, then CONNECT; PONG proves the server took it. */
    char *line = NULL;
    while (!(line = nb_line(&n->nb)))
        if (nb_fill(&n->nb) <= 0) break;
    nb_printf(&n->nb, "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,"
                      "\"no_responders\":true,\"lang\":\"c\",\"version\":\"bench\"}\r\n"
                      "SUB _INBOX.bench.* 1\r\nPING\r\n");
    bool pong = false;
    if (line && !strncmp(line, "INFO", 4) && nb_flush(&n->nb) == 0) {
        while (!pong) {
            char *l = nb_line(&n->nb);
            if (l) {
                pong = !strcmp(l, "PONG");
                continue;
            }
            if (nb_fill(&n->nb) <= 0) break;
        }
    }
    json_t *rep = pong ? api(n, "$JS.API.STREAM.CREATE." STREAM,
                             "{\"name\":\"" STREAM "\",\"subjects\":[\"bench.>\"],"
                             "\"storage\":\"file\",\"retention\":\"limits\"}")
                       : NULL;
    if (!rep || json_object_get(rep, "error")) {
        char *s = rep ? json_dumps(rep, JSON_COMPACT) : NULL;
        bench_fail(b, "nats: cannot create the stream: %s", s ? s : "no answer");
        free(s);
        json_decref(rep);
        nats_stop(n);
        return NULL;
    }
    json_decref(rep);
    return n;
}

void nats_stop(nats_peer *n)
{
    if (!n) return;
    if (n->nb.fd >= 0) nb_free(&n->nb);
    bench_server_stop(&n->srv, 5000);
    free(n);
}

static void queue_pub(nats_peer *n)
{
    nb_write(&n->nb, n->pub_head, strlen(n->pub_head));
    nb_write(&n->nb, n->value, EVENT_BYTES);
    nb_write(&n->nb, "\r\n", 2);
}

pub_result nats_publish(nats_peer *n, const pub_plan *p)
{
    pub_result res = {.ok = true};
    char subject[32];
    snprintf(subject, sizeof(subject), "bench.r%u", ++n->runs);
    snprintf(n->pub_head, sizeof(n->pub_head), "PUB %s " ACK_SUBJECT " %d\r\n", subject,
             EVENT_BYTES);
    long issued = 0, answered = 0;
    uint64_t t0 = bench_now_ns(), stop_at = t0 + (uint64_t)(p->seconds * 1e9);
    for (; issued < (long)p->window && issued < p->max_events; issued++)
        queue_pub(n);
    bool stopping = false;
    while (answered < issued && res.ok) {
        if (nb_flush(&n->nb) < 0 || nb_fill(&n->nb) <= 0) {
            bench_fail(n->b, "nats: connection lost after %ld of %ld acks", answered, issued);
            res.ok = false;
            break;
        }
        for (;;) {
            nats_msg m;
            int rc = read_msg(n, &m);
            if (rc == 0) break;
            if (rc < 0) {
                res.ok = false;
                break;
            }
            if (rc == 2 || strcmp(m.subject, ACK_SUBJECT) != 0) continue;
            if (memmem(m.body, m.len, "\"error\"", 7)) {
                bench_fail(n->b, "nats: publish refused: %.*s", (int)m.len, m.body);
                res.ok = false;
                break;
            }
            answered++;
            if (!stopping && (issued >= p->max_events || bench_now_ns() >= stop_at))
                stopping = true;
            if (!stopping) {
                queue_pub(n);
                issued++;
            }
        }
    }
    res.seconds = (double)(bench_now_ns() - t0) / 1e9;
    res.events = answered;
    n->total += answered;
    if (res.ok) {
        json_t *info = api(n, "$JS.API.STREAM.INFO." STREAM, "");
        json_int_t msgs =
            json_integer_value(json_object_get(json_object_get(info, "state"), "messages"));
        if (msgs != n->total) {
            bench_fail(n->b, "nats: the stream holds %lld messages, %ld were acknowledged",
                       (long long)msgs, n->total);
            res.ok = false;
        }
        json_decref(info);
    }
    return res;
}
