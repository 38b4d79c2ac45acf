/*
 * bus_backend.h - what a bus backend implements (LMDB today; a NATS
 * JetStream backend for several hosts would be a second one). Users of the
 * bus see only bus.h; bus.c dispatches to the backend chosen at open.
 * Not a public header.
 */
#ifndef AH_BUS_BACKEND_H
#define AH_BUS_BACKEND_H

#include "bus.h"

/* Every backend's consumer starts with this. */
struct bus_consumer {
    bus *b;
};

/* Each entry returns what the bus.h function of its name promises. */
typedef struct bus_backend {
    const char *name;
    int (*open)(bus *b, ah_loop *loop, store *st, const bus_opts *o, char *err, size_t errlen);
    void (*close)(bus *b); /* stop timers and deliveries */
    void (*free)(bus *b);  /* after the store has answered every queued write */
    int (*publish)(bus *b, const bus_msg *msgs, size_t n, bool reserved, bus_publish_cb cb,
                   void *ud, char *err, size_t errlen);
    int (*consumer_open)(bus *b, const bus_consumer_opts *o, const bus_consumer_ops *ops, void *ud,
                         bus_consumer **out, char *err, size_t errlen);
    void (*consumer_attach)(bus_consumer *c);
    void (*consumer_detach)(bus_consumer *c, const char *reason);
    int (*consumer_seek)(bus_consumer *c, const char *topic, bus_start where, uint64_t value,
                         char *err, size_t errlen);
    const char *(*consumer_name)(const bus_consumer *c);
    int (*consumer_delete)(bus *b, const char *name, bus_done_cb cb, void *ud, char *err,
                           size_t errlen);
    int (*commit)(bus *b, const bus_commit_req *r, bus_publish_cb cb, void *ud, char *err,
                  size_t errlen);
    int (*ack)(bus *b, uint64_t delivery_id);
    int (*nack)(bus *b, uint64_t delivery_id, const char *error, uint32_t retry_after_ms);
    json_t *(*topics)(bus *b);
    json_t *(*topic)(bus *b, const char *name);
    json_t *(*consumers)(bus *b);
    int (*read)(bus *b, const char *topic, uint64_t from, size_t limit, const char *key,
                json_t **events, uint64_t *next, char *err, size_t errlen);
    int (*offset_at)(bus *b, const char *topic, int64_t time_ms, uint64_t *offset);
    int (*dlq_requeue)(bus *b, const char *topic, const char *event_id, bus_done_cb cb, void *ud,
                       char *err, size_t errlen);
    int (*dlq_drop)(bus *b, const char *topic, const char *event_id, bus_done_cb cb, void *ud,
                    char *err, size_t errlen);
} bus_backend;

struct bus {
    const bus_backend *be;
    void *impl;
};

extern const bus_backend bus_lmdb_backend;

#endif
