/* bl_check.c - the bus's records as `agenthost check` verifies them: events
 * by their checksum (or as written before checksums), topics by format. */
#include "store/store_check.h"
#include "core/topic.h"
#include "bl.h"

#include <stdio.h>

static int check_event(store_val k, store_val v, char *why, size_t whylen)
{
    int rc = bl_event_verify(k.data, k.len, v.data, v.len);
    if (rc >= 0) return rc;
    bl_event e;
    if (k.len != 12) {
        snprintf(why, whylen, "not an event's key");
        return -1;
    }
    const uint8_t *kp = k.data;
    snprintf(why, whylen, "topic %u offset %llu: %s", store_rd32(kp),
             (unsigned long long)store_rd64(kp + 4),
             bl_event_decode(v.data, v.len, &e) < 0 ? "not a well-formed event"
                                                    : "fails its checksum");
    return -1;
}

static int check_topic(store_val k, store_val v, char *why, size_t whylen)
{
    topic_rec r;
    if (k.len == 0 || k.len > TOPIC_MAX || bl_topic_rec_decode(v.data, v.len, &r) < 0) {
        snprintf(why, whylen, "not a well-formed topic record");
        return -1;
    }
    return 0;
}

void bus_store_checks(store_check_opts *o)
{
    o->checks[STORE_DB_EVENTS] = check_event;
    o->checksummed[STORE_DB_EVENTS] = true;
    o->checks[STORE_DB_TOPICS] = check_topic;
}
