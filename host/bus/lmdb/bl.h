/*
 * bl.h - internals of the LMDB bus backend. Not a public header.
 *
 * On disk (databases of the host's store):
 *   bus.topics      name -> topic record (id, first/next sequence, count, bytes)
 *   bus.events      topic id (be32) + sequence (be64) -> event record
 *   bus.keys        topic id (be32) + key + NUL + sequence (be64) -> "" (key replay)
 *   bus.idempotency topic id (be32) + idempotency key -> sequence (be64) + time (be64)
 *   bus.consumers   name -> consumer record (JSON);
 *                   name + NUL + topic id (be32) -> position (be64): all <= it are settled
 *   bus.pending     name + NUL + topic id (be32) + sequence (be64) -> failure record
 *   meta            "bus.next_topic_id" -> be32
 *
 * In memory (loop thread): a mirror of each topic's committed state, and
 * per consumer and topic a window of the events between its position and
 * its read head (held for a busy key, in flight, waiting to retry, done).
 * Publish, settle, dead-letter and retention work are store writes; their
 * done callbacks update the mirror, so the mirror never runs ahead of disk.
 */
#ifndef AH_BL_H
#define AH_BL_H

#include "sdk/ipc/idmap.h"
#include "store/store_lmdb.h"
#include "core/randpool.h"
#include "core/strmap.h"
#include "bus/bus_backend.h"

#define BL_EVENT_VERSION 1
#define BL_EVENT_HDR 40 /* version, flags, key_len, headers_len, body_len, time, id[16], crc */
#define BL_EVENT_HAS_KEY 1
#define BL_EVENT_SEALED 2 /* bytes 36..39 hold the record's CRC-32C (ADR 0014) */
#define BL_TOPIC_REC_LEN 56
#define BL_WINDOW_MIN 1024
#define BL_TICK_MS 50
#define BL_RATE_SLOTS 60
#define BL_DAMAGED_RETRY_MS 60000 /* a damaged event is read again this often */

/* ---- records (bl_codec.c) ---------------------------------------------- */

typedef struct topic_rec {
    uint32_t id;
    uint64_t first_seq; /* lowest retained; == next_seq when empty */
    uint64_t next_seq;  /* the next to assign; sequences start at 1 */
    uint64_t count;
    uint64_t bytes;
    int64_t created_ms;
    int64_t last_ms; /* time of the newest event */
} topic_rec;

void bl_topic_rec_encode(const topic_rec *r, uint8_t out[BL_TOPIC_REC_LEN]);
/* 0, or -1 when malformed (too short, another version, impossible sequences). */
int bl_topic_rec_decode(const void *p, size_t n, topic_rec *r);

/* An event as stored. */
typedef struct bl_event {
    int64_t time_ms;
    uint8_t id[16];
    const char *key; /* NUL-terminated copy when decoded with bl_event_decode */
    size_t key_len;
    const char *headers; /* JSON text, not terminated */
    size_t headers_len;
    const char *body;
    size_t body_len;
} bl_event;

/* Write a record's header, key and headers at p (room for the whole
 * record, the body placed after them by the caller); returns where the
 * body goes: BL_EVENT_HDR + the key's length + headers_len. */
size_t bl_event_head(uint8_t *p, int64_t time_ms, const uint8_t id[16], const char *key,
                     const char *headers, size_t headers_len, size_t body_len);
/* Encode an event record (malloc'd). */
uint8_t *bl_event_encode(int64_t time_ms, const uint8_t id[16], const char *key,
                         const char *headers, size_t headers_len, const char *body, size_t body_len,
                         size_t *out_len);
/* Decode in place (pointers into p); -1 if malformed. No checksum is
 * verified: for copies of records bl_event_read verified. */
int bl_event_decode(const void *p, size_t n, bl_event *e);
/* Seal an encoded record for the key it is stored under (bl_event_key):
 * set BL_EVENT_SEALED and the CRC-32C of the key, then the record with
 * bytes 36..39 taken as zero. Sealing again for another key is allowed. */
void bl_event_seal(uint8_t *rec, size_t n, const uint8_t key[12]);
/* A stored record against its key: 1 sealed and intact; 0 intact as far as
 * can be told, written before checksums (no seal, bytes 36..39 zero); -1
 * damaged (malformed, or the checksum or key does not match). */
int bl_event_verify(const void *key, size_t klen, const void *rec, size_t n);
/* Verify, then decode, the record stored under k: 0, or -1 when damaged,
 * which is logged (at most once a minute for one record) naming the
 * database, the topic and the offset: it is never served as an event. */
int bl_event_read(const MDB_val *k, const MDB_val *v, const char *topic, bl_event *e);
/* As a JSON object for the API and deliveries (new reference). */
json_t *bl_event_json(const bl_event *e, const char *topic, uint64_t seq);
void bl_id_hex(const uint8_t id[16], char out[33]);
/* 0, or -1 when hex is not 32 hex digits. */
int bl_id_parse(const char *hex, uint8_t id[16]);

/* Keys: events, key index, pending, consumer positions. */
void bl_event_key(uint8_t out[12], uint32_t topic_id, uint64_t seq);
size_t bl_pos_key(uint8_t *out, size_t cap, const char *consumer, uint32_t topic_id);

/* ---- topic records inside a write transaction (bl_txn.c) ------------------
 * Every apply of the bus that reads or changes a topic record does it
 * through bl_txn_topic: the record is read from the store once per
 * transaction, changed in place by each write of the batch (publishes,
 * retention, dead-letter drops), and written back once, after the batch's
 * last apply (store_txn_attach), only if it changed. Hazards, kept so:
 * - nobody reads or writes bus.topics in a write transaction around it:
 *   such a read would see the record as it was before the batch, and such
 *   a write would be overwritten by the cached record at the end;
 * - changes made by a write that then refuses itself stay in the cache,
 *   but the store aborts that transaction and runs the batch again without
 *   the write, in a new transaction with an empty cache (store.h);
 * - the pointer is valid until the next bl_txn_topic call of the same
 *   transaction (a full cache writes back and starts again).
 * 0 with *out; AH_ENOTFOUND (no record and !create); MDB_CORRUPTED (an
 * undecodable record); AH_ENOMEM; or LMDB's code. A topic created here gets
 * the next topic id at once. */
int bl_txn_topic(store_txn *stx, const char *name, bool create, int64_t now_ms, topic_rec **out);
/* Whether id is the highest topic id given out (read once per
 * transaction): its new events are then the last keys of bus.events, and
 * can be appended (MDB_APPEND; LMDB itself refuses an append that is not
 * past the last key, so a wrong answer costs time, never correctness). */
bool bl_txn_topic_is_newest(store_txn *stx, uint32_t id);

/* ---- topics and publishing (bl_topics.c, bl_publish.c) ------------------- */

typedef struct bl bl;
typedef struct bl_ctopic bl_ctopic;
typedef struct bl_consumer bl_consumer;

typedef struct bl_topic {
    char *name;
    uint32_t id;       /* 0 until its creation commits */
    topic_rec rec;     /* mirror of the committed record */
    size_t mirror_txn; /* the store snapshot rec was last read from */
    int64_t last_time; /* for monotonic event times */
    bl_ctopic **subs;  /* consumers' views of this topic */
    size_t nsubs, capsubs;
    uint64_t rate[BL_RATE_SLOTS]; /* events per second, ring */
    int64_t rate_sec;
    uint64_t published_total;
    bool name_checked; /* a publish found the name valid (topic_valid) */
} bl_topic;

struct bl {
    bus *bus;
    ah_loop *loop;
    store *st;
    bus_opts o;
    strmap topics;       /* name -> bl_topic */
    ah_idmap topic_ids;  /* id -> bl_topic */
    strmap consumers;    /* name -> bl_consumer */
    strmap deleting;     /* name -> closed bl_consumer whose deletion is in flight */
    ah_idmap deliveries; /* delivery id -> bl_delivery */
    uint64_t next_delivery;
    uv_timer_t *timer;
    uint64_t last_sweep_ms;
    bool sweeping;
    size_t sweep_cursor; /* where the next retention sweep starts in topics */
    bool closing;
    bl_ctopic **dirty; /* positions to persist at the end of the tick */
    size_t ndirty, capdirty;
    uint8_t idem_cursor[512]; /* where the idempotency sweep resumes */
    size_t idem_cursor_len;
    ah_randpool ids; /* event ids: one getrandom per 256 (it was one per event) */
};

bl *bl_of(bus *b);
int64_t bl_now_ms(const bl *b); /* the wall clock of bus_opts.now_ms */
bl_topic *bl_topic_get(bl *b, const char *name, bool create);
/* Load the topic records into the mirror: bus_open's results. */
int bl_load_topics(bl *b, char *err, size_t errlen);
void bl_topic_free(bl_topic *t);
void bl_topic_count_rate(bl_topic *t, uint64_t n);
uint64_t bl_topic_head(const bl_topic *t); /* last committed sequence, 0 if none */
json_t *bl_topic_stats(bl *b, bl_topic *t);

/* Publish with extra work in the same commit (dead letters, requeues):
 * bus_publish's results; with extra, n may be 0. */
typedef struct bl_pub_item bl_pub_item;
typedef struct bl_extra {
    int (*apply)(store_txn *txn, void *arg);
    void (*done)(int status, void *arg);
    void *arg;
} bl_extra;
int bl_publish_ex(bl *b, const bus_msg *msgs, size_t n, bool reserved, const uint8_t (*ids)[16],
                  const bl_extra *extra, bus_publish_cb cb, void *ud, char *err, size_t errlen);

/* ---- consumers (bl_consumer.c, bl_delivery.c) ---------------------------- */

enum slot_state { S_EMPTY = 0, S_HELD, S_READY, S_INFLIGHT, S_RETRY, S_DEAD, S_DONE };

typedef struct slot {
    uint8_t state;
    bool settled; /* a record on disk says it is settled (dead-lettered) */
    bool suspect; /* in flight when its consumer crashed beside others */
    uint32_t attempts;
    uint64_t delivery_id;
    uint64_t due_ms; /* ack deadline or retry time (monotonic) */
    char *key;
    char *error;
} slot;

/* A FIFO of sequences (a growable ring). */
typedef struct seqq {
    uint64_t *v;
    size_t n, cap, head;
} seqq;

/* 0, or AH_ENOMEM (nothing pushed). */
int seqq_push(seqq *q, uint64_t seq, bool front);
uint64_t seqq_pop(seqq *q); /* q->n must be > 0 */
void seqq_free(seqq *q);

typedef struct keystate {
    bool busy; /* an event of this key is ready, in flight, retrying or dying */
    seqq held; /* sequences waiting behind it, in order */
} keystate;

struct bl_ctopic {
    bl_consumer *c;
    bl_topic *t;
    uint64_t floor;         /* every sequence <= floor is settled */
    uint64_t durable_floor; /* as last committed */
    uint64_t read_pos;      /* next sequence to read */
    slot *ring;             /* slot of floor+1+i at ring[(head+i) % cap] */
    size_t cap, head;
    strmap keys; /* key -> keystate */
    seqq ready;  /* sequences ready to deliver */
    uint32_t inflight, retrying, suspects;
    bool dirty;
    bool has_pending; /* failure records exist on disk */
    /* A bus_commit in flight writes this position itself (ADR 0057): a
     * tick's position write at or below it is skipped, so a later queued
     * write never takes the position back behind the commit's. */
    bool commit_pos_set;
    uint64_t commit_pos;
    uint32_t seeks; /* bl_consumer_seek calls: a commit queued before one is stale */
};

struct bl_consumer {
    struct bus_consumer base;
    bl *b;
    char *name;
    char **patterns;
    size_t npatterns;
    bus_start start; /* where a topic without a position starts */
    uint64_t start_value;
    /* When this consumer was last opened before (its record's updated_ms),
     * 0 when it is new: a topic made since then starts from its first
     * event whatever start says (its position may not have been written
     * before a crash). */
    int64_t opened_before_ms;
    uint32_t max_in_flight, ack_timeout_ms, max_attempts;
    bus_consumer_ops ops;
    void *ud;
    bool attached;
    bool deleted; /* closed by bus_consumer_delete: no delivery, no write */
    uint32_t inflight;
    uint32_t suspects; /* while any, one suspect at a time is delivered */
    bl_ctopic **topics;
    size_t ntopics, captopics;
    size_t rr;
    uint64_t delivered, acked, nacked, dead;
};

typedef struct bl_delivery {
    bl_ctopic *ct;
    uint64_t seq;
} bl_delivery;

bool bl_pattern_matches(const char *pattern, const char *topic);
/* 0, or AH_ENOMEM (the consumer does not read t). */
int bl_consumer_add_topic(bl_consumer *c, bl_topic *t, bool new_topic);
void bl_consumers_on_new_topic(bl *b, bl_topic *t);
void bl_consumer_free(bl_consumer *c);
void bl_pump(bl_consumer *c);
void bl_pump_topic(bl *b, bl_topic *t);
void bl_check_timers(bl *b, uint64_t now);
void bl_flush_positions(void *ud); /* a tick hook */
slot *bl_slot(bl_ctopic *ct, uint64_t seq);
uint64_t bl_min_floor(const bl_topic *t);
json_t *bl_consumer_json(bl_consumer *c);
/* The consumers stored but not open, appended to arr (bl_delete.c). */
void bl_stored_consumers(bl *b, json_t *arr);
#define BL_CONSUMER_NAME_MAX 128

/* ---- retention and dead letters (bl_retention.c, bl_dlq.c) ---------------- */

void bl_retention_sweep(bl *b);
/* Move an event to "$dlq.<topic>"; bl_dead_letter_done settles it. 0 (an
 * event already gone is settled at once); AH_EIO when the store cannot be
 * read or the event is damaged (it stays; the move is tried again later);
 * AH_ENOMEM; or bl_publish_ex's code. */
int bl_dead_letter(bl_ctopic *ct, uint64_t seq, const char *error);
void bl_dead_letter_done(bl_ctopic *ct, uint64_t seq, int status);
void bl_record_failure(bl_ctopic *ct, uint64_t seq, uint32_t attempts, const char *error);
size_t bl_settled_record(bl_ctopic *ct, uint64_t seq, uint8_t *key, size_t keycap, uint8_t *val);

/* Backend entry points implemented across the files: each returns what
 * the bus.h function of its name promises. */
int bl_publish(bus *b, const bus_msg *msgs, size_t n, bool reserved, bus_publish_cb cb, void *ud,
               char *err, size_t errlen);
int bl_consumer_open(bus *b, const bus_consumer_opts *o, const bus_consumer_ops *ops, void *ud,
                     bus_consumer **out, char *err, size_t errlen);
void bl_consumer_attach(bus_consumer *c);
void bl_consumer_detach(bus_consumer *c, const char *reason);
int bl_consumer_seek(bus_consumer *c, const char *topic, bus_start where, uint64_t value, char *err,
                     size_t errlen);
const char *bl_consumer_name(const bus_consumer *c);
int bl_consumer_delete(bus *b, const char *name, bus_done_cb cb, void *ud, char *err,
                       size_t errlen);
int bl_commit(bus *b, const bus_commit_req *r, bus_publish_cb cb, void *ud, char *err,
              size_t errlen);
int bl_ack(bus *b, uint64_t delivery_id);
int bl_nack(bus *b, uint64_t delivery_id, const char *error, uint32_t retry_after_ms);
json_t *bl_topics(bus *b);
json_t *bl_topic_info(bus *b, const char *name);
json_t *bl_consumers(bus *b);
int bl_read(bus *b, const char *topic, uint64_t from, size_t limit, const char *key,
            json_t **events, uint64_t *next, char *err, size_t errlen);
int bl_offset_at(bus *b, const char *topic, int64_t time_ms, uint64_t *offset);
int bl_dlq_requeue(bus *b, const char *topic, const char *event_id, bus_done_cb cb, void *ud,
                   char *err, size_t errlen);
int bl_dlq_drop(bus *b, const char *topic, const char *event_id, bus_done_cb cb, void *ud,
                char *err, size_t errlen);

#endif
