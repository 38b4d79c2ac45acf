/*
 * model.h - the data model's benchmarks (the data-model issue), run by
 * bench_model:
 *   model_gen.c    realistic documents (agents, contacts, conversations)
 *                  generated from their number alone, with deterministic
 *                  ids, so that a child process can query what its parent
 *                  stored
 *   model_crud.c   document create, update and get per second through
 *                  docs_write/docs_read beside raw LMDB puts and gets of
 *                  the same bytes at the same batch size
 *   model_query.c  the list queries measured (filters, sorts, pages)
 *   model_scale.c  10k, 100k and 1M conversations and contacts: loading,
 *                  list pages at each size, bytes on disk, and the RSS of a
 *                  fresh process that opened the store (bench_model
 *                  --probe-rss, below)
 */
#ifndef AH_BENCH_MODEL_H
#define AH_BENCH_MODEL_H

#include "bench.h"

#include "core/loop.h"
#include "store/store.h"
#include "model/docs.h"
#include "model/query.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* ---- an in-process host: loop, store, documents ---------------------------- */

typedef struct mb_world {
    char dir[512];  /* temporary directory (removed by mb_close) */
    char data[600]; /* dir/var: the store */
    ah_loop *loop;
    store *st;
    keystore *keys; /* dir/keys: the personal-data keys */
    docs *d;
} mb_world;

/* The master key every benchmark store is opened with (32 bytes). */
extern const uint8_t mb_key[32];

/* The key store beside the store in data (its parent's keys/), opened. 0 or
 * -1 with err. */
int mb_keys_open(keystore **out, const char *data, char *err, size_t errlen);

/* Open a new store (map_size: its initial map) with the product's
 * collections, migrated as the host does at start. 0 or -1 (reported). */
int mb_open(mb_world *w, bench *b, const char *tag, size_t map_size);
void mb_close(mb_world *w);
/* Run the loop until cond(arg) holds; false after timeout_ms. */
bool mb_run_until(mb_world *w, bool (*cond)(void *), void *arg, int timeout_ms);

/* ---- generated documents ---------------------------------------------------- */

#define MB_AGENTS 200
#define MB_BUSY_AGENTS 20        /* half of the conversations go to these */
#define MB_T0_MS 1735689600000LL /* 2025-01-01T00:00:00Z */
#define MB_SPAN_MS (365LL * 86400 * 1000)

/* splitmix64: a deterministic stream of 64-bit numbers. */
static inline uint64_t mb_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A valid id "<prefix>_<26 digits>" of time ms whose other 80 bits are
 * made from seq: the same arguments always give the same id. */
void mb_id(const char *prefix, int64_t ms, uint64_t seq, char *out);
/* "2025-03-01T12:00:00.000Z" into out (>= 25 bytes). */
void mb_iso(int64_t ms, char *out);

/* The generator of a run: documents are numbered from 0, their times
 * spread over a year in number order up to `nmax` (the largest size). */
typedef struct mb_gen {
    long nmax;
} mb_gen;

void mb_agent_id(long i, char *out);
/* When contact (or conversation) i was first seen (started). */
int64_t mb_contact_ms(const mb_gen *g, long i);
int64_t mb_conv_ms(const mb_gen *g, long i);
void mb_contact_id(const mb_gen *g, long i, char *out);
void mb_conv_id(const mb_gen *g, long i, char *out);

/* Agent i (a new reference): name, languages, two channel instances. */
json_t *mb_agent(long i);
/* Contact i: identities on telegram (and e-mail) or webchat, profile,
 * consent, tags, first and last seen. */
json_t *mb_contact(const mb_gen *g, long i);
/* Conversation i of one of `ncontacts` contacts: agent (half to the busy
 * ones), channel, state, scenario, variables and six messages. */
json_t *mb_conversation(const mb_gen *g, long i, long ncontacts);

/* The tags and states documents are given (for the queries). */
extern const char *const mb_tags[];
extern const size_t mb_ntags;

/* ---- the parts ------------------------------------------------------------------ */

void bench_model_crud(bench *b);
void bench_model_scale(bench *b, const char *self);

/* ---- list queries (model_query.c) ------------------------------------------------ */

/* A kind of list query, sampled with random parameters. */
typedef struct mb_query_kind {
    const char *key;   /* "conv_by_agent": the figures' key */
    const char *title; /* what it lists */
    const char *ideal; /* the index that serves it best, or "(none)" */
    bool covered;      /* one index holds every filter, then the sort */
    /* Fill q with random parameters (and json values to free in vals). */
    void (*fill)(const mb_gen *g, long n, uint64_t *rng, doc_query *q, json_t *vals);
} mb_query_kind;

extern const mb_query_kind mb_queries[];
extern const size_t mb_nqueries;

/* One page of q in a read transaction, timed. 0 with *page (free it), or
 * the error (err names it). */
int mb_list(docs *d, const doc_query *q, doc_page *page, uint64_t *ns, doc_error *err);

/* The RSS probe: open the store in dir read-only as the host opens it,
 * run `queries` list queries over `n` documents of each collection, and
 * print one JSON line of RSS figures. Returns the exit status. */
int mb_probe_rss(const char *dir, long n, long nmax, long queries);

#endif
