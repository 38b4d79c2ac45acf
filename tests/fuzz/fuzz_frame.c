/*
 * Fuzz target: the IPC frame parser and reassembler, fed a stream of
 * datagrams as a hostile plugin would send them. Input layout: repeated
 * [u16 little-endian datagram length][bytes].
 */
#include "../../sdk/ipc/frame.h"

#include <jansson.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t frame[AH_FRAME_MAX];
    ah_msg_asm a;
    ah_asm_init(&a, 1u << 20);
    size_t off = 0;
    while (off + 2 <= size) {
        size_t n = (size_t)data[off] | (size_t)data[off + 1] << 8;
        off += 2;
        if (n > size - off) n = size - off;
        /* A datagram longer than 64 KiB is cut by the kernel (MSG_TRUNC). */
        if (n > AH_FRAME_MAX) break;
        memcpy(frame, data + off, n);
        off += n;
        ah_frame_hdr h;
        const char *why = NULL;
        if (ah_frame_parse(frame, n, &h, &why) < 0) break;
        ah_msg m;
        int rc = ah_asm_feed(&a, &h, frame, &m, &why);
        if (rc < 0) break;
        if (rc == 1) {
            json_error_t je;
            json_t *j = json_loadb((const char *)m.body, m.len, JSON_REJECT_DUPLICATES, &je);
            json_decref(j);
        }
    }
    ah_asm_free(&a);
    return 0;
}
