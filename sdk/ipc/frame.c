#include "frame.h"

#include <stdlib.h>
#include <string.h>

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void wr64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

int ah_frame_parse(const void *buf, size_t n, ah_frame_hdr *out, const char **why)
{
    const uint8_t *p = buf;
    if (n < AH_FRAME_HDR) {
        *why = "frame shorter than its header";
        return -1;
    }
    if (n > AH_FRAME_MAX) {
        *why = "frame larger than 64 KiB";
        return -1;
    }
    out->len = rd32(p);
    out->type = rd16(p + 4);
    out->flags = rd16(p + 6);
    out->id = rd64(p + 8);
    if (out->len != n) {
        *why = "frame length field disagrees with the datagram";
        return -1;
    }
    if (out->type == 0 || out->type >= AH_MSG_TYPE_MAX) {
        *why = "unknown frame type";
        return -1;
    }
    if (out->flags & ~AH_FRAME_FLAGS_KNOWN) {
        *why = "unknown frame flags";
        return -1;
    }
    if ((out->flags & AH_FRAME_MORE) && n != AH_FRAME_MAX) {
        *why = "non-final fragment is not full-sized";
        return -1;
    }
    return 0;
}

size_t ah_frame_next(uint8_t *out, uint16_t type, uint64_t id, const void *body, size_t len,
                     size_t *off)
{
    size_t left = len - *off;
    size_t chunk = left > AH_FRAME_PAYLOAD_MAX ? AH_FRAME_PAYLOAD_MAX : left;
    uint16_t flags = left > AH_FRAME_PAYLOAD_MAX ? AH_FRAME_MORE : 0;
    size_t flen = AH_FRAME_HDR + chunk;
    wr32(out, (uint32_t)flen);
    out[4] = (uint8_t)type;
    out[5] = (uint8_t)(type >> 8);
    out[6] = (uint8_t)flags;
    out[7] = (uint8_t)(flags >> 8);
    wr64(out + 8, id);
    if (chunk) memcpy(out + AH_FRAME_HDR, (const uint8_t *)body + *off, chunk);
    *off += chunk;
    return flen;
}

void ah_asm_init(ah_msg_asm *a, size_t max)
{
    memset(a, 0, sizeof(*a));
    a->max = max ? max : AH_MSG_MAX_DEFAULT;
}

void ah_asm_free(ah_msg_asm *a)
{
    free(a->buf);
    a->buf = NULL;
    a->len = a->cap = 0;
    a->active = false;
}

static int asm_append(ah_msg_asm *a, const uint8_t *p, size_t n, const char **why)
{
    if (a->len + n > a->max) {
        *why = "message larger than the allowed maximum";
        return -1;
    }
    if (a->len + n > a->cap) {
        size_t cap = a->cap ? a->cap : AH_FRAME_MAX;
        while (cap < a->len + n)
            cap *= 2;
        if (cap > a->max) cap = a->max;
        uint8_t *nb = realloc(a->buf, cap);
        if (!nb) {
            *why = "out of memory assembling a message";
            return -1;
        }
        a->buf = nb;
        a->cap = cap;
    }
    memcpy(a->buf + a->len, p, n);
    a->len += n;
    return 0;
}

int ah_asm_feed(ah_msg_asm *a, const ah_frame_hdr *hdr, const uint8_t *frame, ah_msg *out,
                const char **why)
{
    const uint8_t *payload = frame + AH_FRAME_HDR;
    size_t plen = hdr->len - AH_FRAME_HDR;
    bool more = hdr->flags & AH_FRAME_MORE;

    if (a->active && (hdr->type != a->type || hdr->id != a->id)) {
        *why = "frame out of order inside a fragmented message";
        return -1;
    }
    if (!a->active && !more) {
        /* The common case: a whole message in one frame, no copy. */
        out->type = hdr->type;
        out->id = hdr->id;
        out->body = payload;
        out->len = plen;
        return plen > a->max ? (*why = "message larger than the allowed maximum", -1) : 1;
    }
    if (!a->active) {
        a->active = true;
        a->type = hdr->type;
        a->id = hdr->id;
        a->len = 0;
    }
    if (asm_append(a, payload, plen, why) < 0) return -1;
    if (more) return 0;
    a->active = false;
    out->type = a->type;
    out->id = a->id;
    out->body = a->buf;
    out->len = a->len;
    return 1;
}

const char *ah_msg_type_name(uint16_t type)
{
    static const char *const names[AH_MSG_TYPE_MAX] = {
        [AH_MSG_HELLO] = "hello",       [AH_MSG_INIT] = "init",
        [AH_MSG_RESULT] = "result",     [AH_MSG_PING] = "ping",
        [AH_MSG_SHUTDOWN] = "shutdown", [AH_MSG_CALL] = "call",
        [AH_MSG_EVENT] = "event",       [AH_MSG_ACK] = "ack",
        [AH_MSG_NACK] = "nack",         [AH_MSG_PUBLISH] = "publish",
        [AH_MSG_KV_GET] = "kv_get",     [AH_MSG_KV_PUT] = "kv_put",
        [AH_MSG_KV_DEL] = "kv_del",     [AH_MSG_KV_SCAN] = "kv_scan",
        [AH_MSG_LOG] = "log",           [AH_MSG_METRIC] = "metric",
        [AH_MSG_HTTP] = "http",         [AH_MSG_HTTP_CHUNK] = "http_chunk",
        [AH_MSG_PARTIAL] = "partial",   [AH_MSG_KV_INCR] = "kv_incr",
        [AH_MSG_KV_MANY] = "kv_many",   [AH_MSG_CALL_OUT] = "call_out",
        [AH_MSG_COMMIT] = "commit",
    };
    return type < AH_MSG_TYPE_MAX && names[type] ? names[type] : "unknown";
}
