/*
 * bus.h - the durable publish/subscribe event bus.
 *
 * Everything in the platform travels as events on topics ("message.in",
 * "crm.lead.created"). What the bus promises, whatever the backend:
 *
 *  - Durable publish: a publisher's callback runs only once its event is on
 *    disk (for the LMDB backend: committed and fsynced; publishes of one
 *    loop tick share one commit). An event gets a 64-bit offset, increasing
 *    within its topic, and an id that never changes.
 *  - Idempotency: a publish with an idempotency key that repeats one made
 *    within the window returns the first event's offset and stores nothing.
 *  - At-least-once delivery to durable named consumers, which subscribe
 *    with patterns ("message.*" one level, "crm.>" the rest) and start at
 *    the earliest event, the latest, an offset or a time. An event is
 *    delivered again when its consumer nacks it, does not ack it within the
 *    ack timeout, or goes away (its process died); retries back off
 *    exponentially; after max_attempts it moves to "$dlq.<topic>" with its
 *    attempts and last error, and the rest of the topic flows on.
 *  - Per-key ordering: events of one key (a conversation) are delivered one
 *    at a time, in offset order; different keys go in parallel, up to the
 *    consumer's max_in_flight (backpressure).
 *  - Retention by count, bytes and age never drops an event a consumer has
 *    not acknowledged, unless the topic is configured to (drop_unacked).
 *  - After a host crash, events acknowledged above a consumer's committed
 *    position may be delivered again (at-least-once, never at-most-once).
 *  - An event damaged in the store (its checksum fails, ADR 0014) is never
 *    delivered or read back as data, and never taken for settled: it waits
 *    (retrying, read again every minute) and each read of it is logged.
 *
 * All functions run on the loop thread. Backends implement bus_backend
 * (bus_backend.h); users see only this header.
 */
#ifndef AH_BUS_H
#define AH_BUS_H

#include "core/loop.h"
#include "store/store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bus bus;
typedef struct bus_consumer bus_consumer;

typedef struct bus_opts {
    size_t max_event_bytes; /* key + headers + body */
    uint64_t idempotency_window_ms;
    uint32_t ack_timeout_ms; /* consumer defaults */
    uint32_t max_attempts;
    uint32_t backoff_ms;
    uint32_t max_backoff_ms;
    uint32_t max_in_flight;
    uint64_t retention_max_count; /* topic defaults; 0: unlimited */
    uint64_t retention_max_bytes;
    uint64_t retention_max_age_ms;
    uint32_t sweep_interval_ms; /* retention sweeps; 0: 1000 */
    /* Per-topic retention by pattern: {"chat.>": {"max_count": N, "max_bytes": N,
     * "max_age_s": N, "drop_unacked": bool}}; the first match wins. Borrowed. */
    const json_t *topic_overrides;
    /* The bus's wall clock (Unix ms): event times, retention by age, the
     * idempotency window. NULL: the system clock (tests step a clock). */
    int64_t (*now_ms)(void);
} bus_opts;

/* One event to publish. Strings and JSON are borrowed for the call. */
typedef struct bus_msg {
    const char *topic;
    const char *key;             /* ordering key, or NULL */
    const char *idempotency_key; /* or NULL */
    const json_t *headers;       /* object of strings, or NULL */
    const json_t *body;          /* any JSON value; NULL means null */
} bus_msg;

#define BUS_KEY_MAX 256
#define BUS_IDEMPOTENCY_KEY_MAX 256

/* status 0 or AH_E*; offsets[i] for msgs[i]; duplicate[i] when msgs[i]
 * repeated an idempotency key. Arrays valid for the callback only. */
typedef void (*bus_publish_cb)(void *ud, int status, const uint64_t *offsets, const bool *duplicate,
                               size_t n);

/* The outcome of an operation that ends later: 0 or AH_E*. */
typedef void (*bus_done_cb)(void *ud, int status);

/* A delivery to a consumer. Valid for the deliver callback only. */
typedef struct bus_delivery {
    uint64_t id; /* pass to bus_ack / bus_nack */
    const char *topic;
    uint64_t offset;
    const char *event_id;
    const char *key;
    int64_t time_ms;
    uint32_t attempt;      /* 1 on the first delivery */
    const json_t *headers; /* NULL for a consumer that takes text (below) */
    const json_t *body;
    /* The headers and body as stored: compact JSON text, checksummed,
     * written by the bus's encoder (headers_json NULL: none). */
    const char *headers_json, *body_json;
    size_t headers_json_len, body_json_len;
} bus_delivery;

typedef struct bus_consumer_ops {
    /* Hand a delivery to the consumer; 0 if taken (ack or nack follows),
     * -1 if the consumer cannot take it now (it is retried later). */
    int (*deliver)(void *ud, const bus_delivery *d);
    /* The consumer reads headers_json and body_json only: the bus does not
     * parse them (headers and body are NULL). */
    bool text;
} bus_consumer_ops;

typedef enum bus_start {
    BUS_START_LATEST = 0, /* only events published from now on */
    BUS_START_EARLIEST,   /* everything retained */
    BUS_START_OFFSET,     /* from start_value (inclusive) */
    BUS_START_TIME,       /* from the first event at or after start_value (Unix ms) */
} bus_start;

typedef struct bus_consumer_opts {
    const char *name;            /* durable identity: "instance:echo-1" */
    const char *const *patterns; /* topic patterns */
    size_t npatterns;
    bus_start start; /* where a new consumer starts on existing topics */
    uint64_t start_value;
    uint32_t max_in_flight; /* 0: the bus default */
    uint32_t ack_timeout_ms;
    uint32_t max_attempts;
} bus_consumer_opts;

/* Open the bus over st, loading its topics. 0; or, with err: AH_EIO (a
 * topic record is damaged, or the store cannot be read: store_read_begin's
 * code), AH_ENOMEM. */
int bus_open(bus **out, ah_loop *loop, store *st, const bus_opts *o, char *err, size_t errlen);
/* Stop deliveries and timers. Writes still queued are answered by
 * store_close; only then free the bus with bus_free. */
void bus_close(bus *b);
void bus_free(bus *b);

/* Publish n events atomically (one commit: all or none). 0: the callback
 * runs once durable or failed. Otherwise the callback never runs, and err
 * says why: AH_EINVAL (no event; a topic, key, idempotency key or headers
 * that are not valid), AH_ETOOBIG (an event over max_event_bytes),
 * AH_ECLOSED (the bus is closing), AH_ENOMEM, or store_write's code.
 * reserved: allow "$" topics (the host's own use). */
int bus_publish(bus *b, const bus_msg *msgs, size_t n, bool reserved, bus_publish_cb cb, void *ud,
                char *err, size_t errlen);

/* Open (creating if new) a durable consumer. Deliveries start when it is
 * attached. 0; or, with err: AH_EINVAL (a name empty or too long, one
 * already open, no pattern, or a pattern that is not valid), AH_EBUSY (a
 * deletion of the name is under way), AH_ENOMEM. */
int bus_consumer_open(bus *b, const bus_consumer_opts *o, const bus_consumer_ops *ops, void *ud,
                      bus_consumer **out, char *err, size_t errlen);
/* Attach: the target can take deliveries. Detach: it cannot; everything
 * in flight counts as a failed attempt with `reason` (retried or
 * dead-lettered), or with reason NULL (a graceful stop) is simply
 * delivered again later without counting an attempt. */
void bus_consumer_attach(bus_consumer *c);
void bus_consumer_detach(bus_consumer *c, const char *reason);
/* Move a consumer's position on a topic (replay or skip). 0, or
 * AH_ENOTFOUND (the consumer does not read the topic, with err; or, for
 * BUS_START_TIME, the time cannot be looked up). */
int bus_consumer_seek(bus_consumer *c, const char *topic, bus_start where, uint64_t value,
                      char *err, size_t errlen);
const char *bus_consumer_name(const bus_consumer *c);

/* Delete the consumer named, open or only stored: its record, its
 * positions and its failure records go in one commit, so it holds no
 * topic's events back from retention any more. An open consumer is closed
 * at the call: it takes no delivery from then on, the handle must not be
 * used again, and deliveries still out are stale (bus_ack, bus_nack and
 * bus_commit answer AH_ENOTFOUND). Its writes queued before the call
 * (positions, failure records, commits of its deliveries) commit before
 * the deletion and are deleted with it (writes are committed and answered
 * in the order queued, ADR 0004). Until cb has run, the name cannot be
 * opened again (bus_consumer_open answers AH_EBUSY).
 * 0: cb runs once, with 0 (durable) or the store's AH_E* (nothing
 * deleted on disk; the consumer stays closed: delete it again). Otherwise
 * cb never runs and err says why: AH_EINVAL (a name empty or too long),
 * AH_ENOTFOUND (no consumer of that name, open or stored), AH_EBUSY (a
 * deletion of it is under way), AH_ECLOSED (the bus is closing), AH_EIO
 * (the store cannot be read), AH_ENOMEM, or store_write's code. */
int bus_consumer_delete(bus *b, const char *name, bus_done_cb cb, void *ud, char *err,
                        size_t errlen);

/* What handling one delivery leaves behind, committed as one transaction
 * (one commit, one flush): the delivery settled (after a crash it is never
 * delivered again), the events it emits published, and the caller's own
 * writes (apply: a store write's function, e.g. a conversation's new state).
 * Either all of it is durable or none. */
typedef struct bus_commit_req {
    uint64_t settle;     /* the delivery to settle, or 0 */
    const bus_msg *msgs; /* events to publish (as bus_publish), n may be 0 */
    size_t n;
    store_apply_fn apply; /* more writes in the same transaction, or NULL */
    void *apply_arg;
} bus_commit_req;

/* Commit r. From the call on, the delivery is the commit's: it is neither
 * timed out nor delivered again while the commit runs. cb runs once with
 * the outcome: on 0 the delivery is settled and the events published; on
 * failure nothing was written and the delivery is retried after a backoff,
 * as after a nack. Validation failures (a bad topic, too large, an unknown
 * or stale delivery: AH_ENOTFOUND) return an AH_E* code with err at once
 * and cb never runs (the delivery is then left as it was). */
int bus_commit(bus *b, const bus_commit_req *r, bus_publish_cb cb, void *ud, char *err,
               size_t errlen);

/* Settle a delivery: 0. Unknown or stale ids (already settled,
 * redelivered) return AH_ENOTFOUND and change nothing. */
int bus_ack(bus *b, uint64_t delivery_id);
int bus_nack(bus *b, uint64_t delivery_id, const char *error, uint32_t retry_after_ms);

/* Operations (the HTTP API exposes them). Each returns a new reference. */
json_t *bus_topics(bus *b);                  /* array of topic stats */
json_t *bus_topic(bus *b, const char *name); /* stats, or NULL if unknown */
/* Array of the consumers with lag per topic: the open ones ("open": true)
 * and those only stored, from a run before ("open": false, their patterns
 * and positions), which hold events back from retention until opened
 * again or deleted. */
json_t *bus_consumers(bus *b);
/* Events of a topic from offset `from` (inclusive), at most limit; with
 * key, only that key's events; *next is the offset to continue from.
 * 0; AH_ENOTFOUND (no such topic); AH_EIO when the store cannot be read or
 * an event on the way is damaged in it (err names its offset; nothing is
 * returned rather than a list with a hole). */
int bus_read(bus *b, const char *topic, uint64_t from, size_t limit, const char *key,
             json_t **events, uint64_t *next, char *err, size_t errlen);
/* Offset of the first event at or after a time (Unix ms). 0; AH_ENOTFOUND;
 * AH_EIO (the store cannot be read, or an event searched is damaged). */
int bus_offset_at(bus *b, const char *topic, int64_t time_ms, uint64_t *offset);
/* Dead letters of a topic: requeue (publish the original again, then drop
 * the dead letter, in one commit) or drop. 0: the callback will run, with
 * 0 or AH_E*. Otherwise it will not, and err says why: AH_EINVAL (an event
 * id that is not 32 hex digits), AH_ENOTFOUND (no such dead letter), AH_EIO
 * (it, or another of the topic's, is damaged; or the store cannot be
 * read), AH_ENOMEM, store_write's code, or (requeue) bus_publish's. */
int bus_dlq_requeue(bus *b, const char *topic, const char *event_id, bus_done_cb cb, void *ud,
                    char *err, size_t errlen);
int bus_dlq_drop(bus *b, const char *topic, const char *event_id, bus_done_cb cb, void *ud,
                 char *err, size_t errlen);

const char *bus_backend_name(const bus *b);

/* The checks `agenthost check` applies to the bus's records in the store
 * (store_check.h): events by their checksum, topics by their format. */
struct store_check_opts;
void bus_store_checks(struct store_check_opts *o);

#endif
