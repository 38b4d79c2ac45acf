/*
 * Fuzz target: what the store reads from its file before trusting it: a
 * meta page (store_meta_parse), a bus event against its key
 * (bl_event_verify, then bl_event_decode when it passes), and a framed
 * record (store_rec_verify). Input layout: [u8 which][bytes]; for events
 * and frames the first 12 bytes are the key.
 */
#include "../../host/bus/lmdb/bl.h"
#include "../../host/store/store_file.h"
#include "../../host/store/store_rec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t which = data[0] % 3;
    data++;
    size--;
    /* A copy of exactly the input's size: reads past it are caught. */
    uint8_t *p = malloc(size ? size : 1);
    if (!p) return 0;
    memcpy(p, data, size);
    if (which == 0) {
        store_meta m;
        store_meta_parse(p, size, &m);
    } else if (size >= 12) {
        MDB_val k = {12, p}, v = {size - 12, p + 12}, payload;
        if (which == 1) {
            bl_event e;
            if (bl_event_verify(k.mv_data, k.mv_size, v.mv_data, v.mv_size) >= 0 &&
                bl_event_decode(v.mv_data, v.mv_size, &e) == 0 &&
                (size_t)(e.body + e.body_len - (const char *)v.mv_data) > v.mv_size)
                abort(); /* a decoded event must lie within its record */
        } else if (store_rec_verify(&k, &v, &payload) >= 0 &&
                   (const uint8_t *)payload.mv_data + payload.mv_size > p + size) {
            abort();
        }
    }
    free(p);
    return 0;
}
