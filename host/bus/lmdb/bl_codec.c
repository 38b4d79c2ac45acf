/* bl_codec.c - the LMDB bus backend's on-disk records and keys. */
#include "core/crc32c.h"
#include "core/log.h"
#include "core/util.h"
#include "bl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bl_topic_rec_encode(const topic_rec *r, uint8_t out[BL_TOPIC_REC_LEN])
{
    store_be32(out, 1); /* record version */
    store_be32(out + 4, r->id);
    store_be64(out + 8, r->first_seq);
    store_be64(out + 16, r->next_seq);
    store_be64(out + 24, r->count);
    store_be64(out + 32, r->bytes);
    store_be64(out + 40, (uint64_t)r->created_ms);
    store_be64(out + 48, (uint64_t)r->last_ms);
}

int bl_topic_rec_decode(const void *p, size_t n, topic_rec *r)
{
    const uint8_t *b = p;
    if (n < BL_TOPIC_REC_LEN || store_rd32(b) != 1) return -1;
    r->id = store_rd32(b + 4);
    r->first_seq = store_rd64(b + 8);
    r->next_seq = store_rd64(b + 16);
    r->count = store_rd64(b + 24);
    r->bytes = store_rd64(b + 32);
    r->created_ms = (int64_t)store_rd64(b + 40);
    r->last_ms = (int64_t)store_rd64(b + 48);
    return r->first_seq <= r->next_seq && r->next_seq >= 1 ? 0 : -1;
}

size_t bl_event_head(uint8_t *p, int64_t time_ms, const uint8_t id[16], const char *key,
                     const char *headers, size_t headers_len, size_t body_len)
{
    size_t klen = key ? strlen(key) : 0;
    p[0] = BL_EVENT_VERSION;
    p[1] = key ? BL_EVENT_HAS_KEY : 0;
    p[2] = (uint8_t)(klen >> 8);
    p[3] = (uint8_t)klen;
    store_be32(p + 4, (uint32_t)headers_len);
    store_be32(p + 8, (uint32_t)body_len);
    store_be64(p + 12, (uint64_t)time_ms);
    memcpy(p + 20, id, 16);
    memset(p + 36, 0, 4);
    memcpy(p + BL_EVENT_HDR, key ? key : "", klen);
    memcpy(p + BL_EVENT_HDR + klen, headers, headers_len);
    return BL_EVENT_HDR + klen + headers_len;
}

uint8_t *bl_event_encode(int64_t time_ms, const uint8_t id[16], const char *key,
                         const char *headers, size_t headers_len, const char *body, size_t body_len,
                         size_t *out_len)
{
    size_t n = BL_EVENT_HDR + (key ? strlen(key) : 0) + headers_len + body_len;
    uint8_t *p = malloc(n);
    if (!p) return NULL;
    memcpy(p + bl_event_head(p, time_ms, id, key, headers, headers_len, body_len), body, body_len);
    *out_len = n;
    return p;
}

int bl_event_decode(const void *data, size_t n, bl_event *e)
{
    const uint8_t *p = data;
    if (n < BL_EVENT_HDR || p[0] != BL_EVENT_VERSION) return -1;
    size_t klen = (size_t)p[2] << 8 | p[3];
    size_t hlen = store_rd32(p + 4), blen = store_rd32(p + 8);
    if (BL_EVENT_HDR + klen + hlen + blen != n) return -1;
    e->time_ms = (int64_t)store_rd64(p + 12);
    memcpy(e->id, p + 20, 16);
    e->key = (p[1] & BL_EVENT_HAS_KEY) ? (const char *)p + BL_EVENT_HDR : NULL;
    e->key_len = klen;
    e->headers = (const char *)p + BL_EVENT_HDR + klen;
    e->headers_len = hlen;
    e->body = e->headers + hlen;
    e->body_len = blen;
    return 0;
}

/* ---- checksums (ADR 0014) ---------------------------------------------------- */

static uint32_t event_crc(const uint8_t *key, size_t klen, const uint8_t *rec, size_t n)
{
    static const uint8_t zero[4];
    uint32_t c = crc32c(0, key, klen);
    c = crc32c(c, rec, 36);
    c = crc32c(c, zero, 4);
    return crc32c(c, rec + BL_EVENT_HDR, n - BL_EVENT_HDR);
}

void bl_event_seal(uint8_t *rec, size_t n, const uint8_t key[12])
{
    rec[1] |= BL_EVENT_SEALED;
    store_be32(rec + 36, event_crc(key, 12, rec, n));
}

int bl_event_verify(const void *key, size_t klen, const void *rec, size_t n)
{
    const uint8_t *p = rec;
    bl_event e;
    if (klen != 12 || bl_event_decode(rec, n, &e) < 0) return -1;
    if (!(p[1] & BL_EVENT_SEALED)) return store_rd32(p + 36) == 0 ? 0 : -1;
    return store_rd32(p + 36) == event_crc(key, klen, p, n) ? 1 : -1;
}

int bl_event_read(const MDB_val *k, const MDB_val *v, const char *topic, bl_event *e)
{
    static _Thread_local uint8_t last_key[12];
    static _Thread_local uint64_t last_ms;
    if (bl_event_verify(k->mv_data, k->mv_size, v->mv_data, v->mv_size) >= 0)
        return bl_event_decode(v->mv_data, v->mv_size, e);
    uint64_t now = ah_mono_ms();
    if (k->mv_size == 12 && memcmp(last_key, k->mv_data, 12) == 0 && now - last_ms < 60000)
        return -1;
    if (k->mv_size == 12) memcpy(last_key, k->mv_data, 12);
    last_ms = now;
    log_error("store",
              "damaged record in database bus.events: topic %s, offset %llu fails its "
              "checksum or format check; it is not served. Run `agenthost check` and restore "
              "a backup (docs/operations.md, \"Damaged store\")",
              topic ? topic : "?",
              k->mv_size == 12 ? (unsigned long long)store_rd64((const uint8_t *)k->mv_data + 4)
                               : 0ull);
    return -1;
}

void bl_id_hex(const uint8_t id[16], char out[33])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[id[i] >> 4];
        out[2 * i + 1] = hex[id[i] & 15];
    }
    out[32] = 0;
}

int bl_id_parse(const char *s, uint8_t id[16])
{
    if (strlen(s) != 32) return -1;
    for (int i = 0; i < 16; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdef", s[2 * i]) ||
            !strchr("0123456789abcdef", s[2 * i + 1]))
            return -1;
        id[i] = (uint8_t)v;
    }
    return 0;
}

json_t *bl_event_json(const bl_event *e, const char *topic, uint64_t seq)
{
    char idh[33], t[40];
    bl_id_hex(e->id, idh);
    ah_rfc3339_ms(e->time_ms, t, sizeof(t));
    json_t *headers = e->headers_len ? json_loadb(e->headers, e->headers_len, 0, NULL) : NULL;
    json_t *body = json_loadb(e->body, e->body_len, JSON_DECODE_ANY, NULL);
    json_t *o = json_pack("{s:s,s:I,s:s,s:s,s:I}", "topic", topic, "offset", (json_int_t)seq, "id",
                          idh, "time", t, "time_ms", (json_int_t)e->time_ms);
    json_object_set_new(o, "key", e->key ? json_stringn(e->key, e->key_len) : json_null());
    json_object_set_new(o, "headers", headers ? headers : json_object());
    json_object_set_new(o, "body", body ? body : json_null());
    return o;
}

void bl_event_key(uint8_t out[12], uint32_t topic_id, uint64_t seq)
{
    store_be32(out, topic_id);
    store_be64(out + 4, seq);
}

size_t bl_pos_key(uint8_t *out, size_t cap, const char *consumer, uint32_t topic_id)
{
    size_t n = strlen(consumer);
    if (n + 5 > cap) return 0;
    memcpy(out, consumer, n);
    out[n] = 0;
    store_be32(out + n + 1, topic_id);
    return n + 5;
}
