/*
 * frame.h - the framed protocol between the host and a plugin's runner.
 *
 * Internal to agenthost (not installed). Both sides speak it over an
 * AF_UNIX SOCK_SEQPACKET socketpair, one frame per datagram:
 *
 *   u32 len    length of the frame including this 16-byte header
 *   u16 type   AH_MSG_*
 *   u16 flags  AH_FRAME_MORE when further fragments of the message follow
 *   u64 id     request id; replies (AH_MSG_RESULT) carry the request's id
 *
 * All integers little-endian. A frame is at most AH_FRAME_MAX bytes. A
 * message larger than one frame travels as consecutive fragments of the same
 * type and id; every fragment but the last is full-sized, and no other frame
 * may come between them. Bodies are JSON text.
 */
#ifndef AH_IPC_FRAME_H
#define AH_IPC_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AH_FRAME_HDR 16u
#define AH_FRAME_MAX 65536u
#define AH_FRAME_PAYLOAD_MAX (AH_FRAME_MAX - AH_FRAME_HDR)
#define AH_FRAME_MORE 0x1u
#define AH_FRAME_FLAGS_KNOWN AH_FRAME_MORE

/* Default cap on an assembled message (a 5 MB document must fit). */
#define AH_MSG_MAX_DEFAULT (16u << 20)

typedef enum ah_msg_type {
    AH_MSG_HELLO = 1,       /* runner -> host: descriptor facts, once */
    AH_MSG_INIT = 2,        /* host -> runner: config, secrets; answered by RESULT */
    AH_MSG_RESULT = 3,      /* either way: the answer to a request with the same id */
    AH_MSG_PING = 4,        /* host -> runner: health probe; RESULT */
    AH_MSG_SHUTDOWN = 5,    /* host -> runner: stop gracefully */
    AH_MSG_CALL = 6,        /* host -> runner: an action call; RESULT */
    AH_MSG_EVENT = 7,       /* host -> runner: a delivery; settled by ACK/NACK */
    AH_MSG_ACK = 8,         /* runner -> host: id = the delivery's id */
    AH_MSG_NACK = 9,        /* runner -> host: id = the delivery's id */
    AH_MSG_PUBLISH = 10,    /* runner -> host; RESULT {offset} once durable */
    AH_MSG_KV_GET = 11,     /* runner -> host; RESULT */
    AH_MSG_KV_PUT = 12,     /* runner -> host; RESULT once durable */
    AH_MSG_KV_DEL = 13,     /* runner -> host; RESULT once durable */
    AH_MSG_KV_SCAN = 14,    /* runner -> host; RESULT */
    AH_MSG_LOG = 15,        /* runner -> host: one log record, no answer */
    AH_MSG_METRIC = 16,     /* runner -> host: one sample, no answer */
    AH_MSG_HTTP = 17,       /* runner -> host: egress request; RESULT at the end */
    AH_MSG_HTTP_CHUNK = 18, /* host -> runner: a streamed chunk of request `id` */
    AH_MSG_PARTIAL = 19,    /* runner -> host: a partial result of call `id` */
    AH_MSG_KV_INCR = 20,    /* runner -> host (ABI 1.3); RESULT {value, rev} once durable */
    AH_MSG_KV_MANY = 21,    /* runner -> host (ABI 1.3): {get: keys} or {put: items}; RESULT */
    AH_MSG_CALL_OUT = 22,   /* runner -> host (ABI 1.4): another instance's action; RESULT */
    AH_MSG_COMMIT = 23,     /* runner -> host (ABI 1.6): {delivery, events}; RESULT once durable */
    AH_MSG_TYPE_MAX = 24,
} ah_msg_type;

typedef struct ah_frame_hdr {
    uint32_t len;
    uint16_t type;
    uint16_t flags;
    uint64_t id;
} ah_frame_hdr;

/* Validate one received frame of n bytes. Returns 0 and fills *out, or -1
 * with *why set to a static reason. Never reads past n. */
int ah_frame_parse(const void *buf, size_t n, ah_frame_hdr *out, const char **why);

/* Encode the next frame of a message into out (AH_FRAME_MAX bytes). *off is
 * the offset into body already sent (start at 0). Returns the frame length;
 * the message is complete when *off == len afterwards. */
size_t ah_frame_next(uint8_t *out, uint16_t type, uint64_t id, const void *body, size_t len,
                     size_t *off);

/* Reassembly of fragmented messages. */
typedef struct ah_msg_asm {
    size_t max;  /* cap on an assembled message */
    bool active; /* a fragmented message is in progress */
    uint16_t type;
    uint64_t id;
    uint8_t *buf;
    size_t len, cap;
} ah_msg_asm;

typedef struct ah_msg {
    uint16_t type;
    uint64_t id;
    const uint8_t *body; /* valid until the next feed or ah_asm_free */
    size_t len;
} ah_msg;

void ah_asm_init(ah_msg_asm *a, size_t max);
void ah_asm_free(ah_msg_asm *a);
/* Feed one parsed frame (hdr from ah_frame_parse, frame = the whole frame).
 * Returns 1 with *out filled when a message is complete, 0 when more
 * fragments are needed, -1 with *why on a protocol violation. */
int ah_asm_feed(ah_msg_asm *a, const ah_frame_hdr *hdr, const uint8_t *frame, ah_msg *out,
                const char **why);

const char *ah_msg_type_name(uint16_t type);

#endif
