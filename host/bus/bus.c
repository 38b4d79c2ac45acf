/* bus.c - the bus API, dispatched to the backend (see bus_backend.h). */
#include "bus_backend.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>

int bus_open(bus **out, ah_loop *loop, store *st, const bus_opts *o, char *err, size_t errlen)
{
    bus *b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return AH_ENOMEM;
    }
    b->be = &bus_lmdb_backend;
    int rc = b->be->open(b, loop, st, o, err, errlen);
    if (rc) {
        free(b);
        return rc;
    }
    *out = b;
    return 0;
}

void bus_close(bus *b)
{
    if (b) b->be->close(b);
}

void bus_free(bus *b)
{
    if (!b) return;
    b->be->free(b);
    free(b);
}

int bus_publish(bus *b, const bus_msg *msgs, size_t n, bool reserved, bus_publish_cb cb, void *ud,
                char *err, size_t errlen)
{
    return b->be->publish(b, msgs, n, reserved, cb, ud, err, errlen);
}

int bus_consumer_open(bus *b, const bus_consumer_opts *o, const bus_consumer_ops *ops, void *ud,
                      bus_consumer **out, char *err, size_t errlen)
{
    return b->be->consumer_open(b, o, ops, ud, out, err, errlen);
}

void bus_consumer_attach(bus_consumer *c)
{
    c->b->be->consumer_attach(c);
}

void bus_consumer_detach(bus_consumer *c, const char *reason)
{
    c->b->be->consumer_detach(c, reason);
}

int bus_consumer_seek(bus_consumer *c, const char *topic, bus_start where, uint64_t value,
                      char *err, size_t errlen)
{
    return c->b->be->consumer_seek(c, topic, where, value, err, errlen);
}

const char *bus_consumer_name(const bus_consumer *c)
{
    return c->b->be->consumer_name(c);
}

int bus_consumer_delete(bus *b, const char *name, bus_done_cb cb, void *ud, char *err,
                        size_t errlen)
{
    return b->be->consumer_delete(b, name, cb, ud, err, errlen);
}

int bus_commit(bus *b, const bus_commit_req *r, bus_publish_cb cb, void *ud, char *err,
               size_t errlen)
{
    return b->be->commit(b, r, cb, ud, err, errlen);
}

int bus_ack(bus *b, uint64_t delivery_id)
{
    return b->be->ack(b, delivery_id);
}

int bus_nack(bus *b, uint64_t delivery_id, const char *error, uint32_t retry_after_ms)
{
    return b->be->nack(b, delivery_id, error, retry_after_ms);
}

json_t *bus_topics(bus *b)
{
    return b->be->topics(b);
}

json_t *bus_topic(bus *b, const char *name)
{
    return b->be->topic(b, name);
}

json_t *bus_consumers(bus *b)
{
    return b->be->consumers(b);
}

int bus_read(bus *b, const char *topic, uint64_t from, size_t limit, const char *key,
             json_t **events, uint64_t *next, char *err, size_t errlen)
{
    return b->be->read(b, topic, from, limit, key, events, next, err, errlen);
}

int bus_offset_at(bus *b, const char *topic, int64_t time_ms, uint64_t *offset)
{
    return b->be->offset_at(b, topic, time_ms, offset);
}

int bus_dlq_requeue(bus *b, const char *topic, const char *event_id, bus_done_cb cb, void *ud,
                    char *err, size_t errlen)
{
    return b->be->dlq_requeue(b, topic, event_id, cb, ud, err, errlen);
}

int bus_dlq_drop(bus *b, const char *topic, const char *event_id, bus_done_cb cb, void *ud,
                 char *err, size_t errlen)
{
    return b->be->dlq_drop(b, topic, event_id, cb, ud, err, errlen);
}

const char *bus_backend_name(const bus *b)
{
    return b->be->name;
}
