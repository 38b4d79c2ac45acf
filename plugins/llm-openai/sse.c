/*
 * sse.c - Server-Sent Events parsing. See sse.h.
 */
#include "sse.h"

#include <stdlib.h>
#include <string.h>

void sse_init(sse_parser *p, size_t max_bytes)
{
    memset(p, 0, sizeof(*p));
    p->max = max_bytes ? max_bytes : (1u << 20);
}

void sse_free(sse_parser *p)
{
    free(p->line);
    free(p->data);
    p->line = p->data = NULL;
    p->llen = p->lcap = p->dlen = p->dcap = 0;
}

static int grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    char *nb = realloc(*buf, c);
    if (!nb) return -1;
    *buf = nb;
    *cap = c;
    return 0;
}

static int dispatch(sse_parser *p, sse_event_fn fn, void *ud)
{
    int rc = 0;
    if (p->has_data) {
        if (p->dlen && p->data[p->dlen - 1] == '\n') p->dlen--;
        p->data[p->dlen] = 0;
        rc = fn(ud, p->event[0] ? p->event : "message", p->data, p->dlen);
    }
    p->dlen = 0;
    p->has_data = false;
    p->event[0] = 0;
    return rc;
}

/* Process one complete line (without its end). */
static int line(sse_parser *p, sse_event_fn fn, void *ud)
{
    const char *l = p->line;
    size_t n = p->llen;
    if (n == 0) return dispatch(p, fn, ud);
    if (l[0] == ':') {
        p->comments++;
        return 0;
    }
    const char *colon = memchr(l, ':', n);
    size_t fl = colon ? (size_t)(colon - l) : n;
    const char *v = colon ? colon + 1 : l + n;
    size_t vl = colon ? n - fl - 1 : 0;
    if (vl && *v == ' ') {
        v++;
        vl--;
    }
    if (fl == 4 && !memcmp(l, "data", 4)) {
        if (p->dlen + vl + 2 > p->max || grow(&p->data, &p->dcap, p->dlen + vl + 2) < 0) return -1;
        memcpy(p->data + p->dlen, v, vl);
        p->dlen += vl;
        p->data[p->dlen++] = '\n';
        p->has_data = true;
    } else if (fl == 5 && !memcmp(l, "event", 5)) {
        size_t k = vl < sizeof(p->event) - 1 ? vl : sizeof(p->event) - 1;
        memcpy(p->event, v, k);
        p->event[k] = 0;
    }
    /* "id", "retry" and unknown fields are ignored. */
    return 0;
}

int sse_feed(sse_parser *p, const char *buf, size_t n, sse_event_fn fn, void *ud)
{
    if (p->failed) return -1;
    static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
    for (size_t i = 0; i < n; i++) {
        char c = buf[i];
        if (p->bom < 3) {
            /* A leading BOM, possibly split across pieces, is skipped. */
            if ((unsigned char)c == bom[p->bom]) {
                if (++p->bom == 3) p->bom = 4;
                continue;
            }
            unsigned matched = p->bom;
            p->bom = 4;
            if (matched) {
                /* Not a BOM after all: those bytes are content. */
                if (p->llen + matched + 2 > p->max ||
                    grow(&p->line, &p->lcap, p->llen + matched + 2) < 0) {
                    p->failed = true;
                    return -1;
                }
                memcpy(p->line + p->llen, bom, matched);
                p->llen += matched;
            }
        }
        if (c == '\n' && p->cr) {
            p->cr = false; /* the LF of a CRLF split or not */
            continue;
        }
        p->cr = c == '\r';
        if (c == '\n' || c == '\r') {
            int rc = line(p, fn, ud);
            p->llen = 0;
            if (rc) {
                if (rc < 0) p->failed = true;
                return rc;
            }
            continue;
        }
        if (p->llen + 2 > p->max || grow(&p->line, &p->lcap, p->llen + 2) < 0) {
            p->failed = true;
            return -1;
        }
        p->line[p->llen++] = c;
    }
    return 0;
}

bool sse_pending(const sse_parser *p)
{
    return p->llen > 0 || p->has_data;
}
