/*
 * harness_priv.h - internals shared by harness.c (composition, the script
 * driver, the summary) and harness_io.c (what the plugin asks of the host,
 * and the lines printed). Not a public header.
 */
#ifndef AH_HARNESS_PRIV_H
#define AH_HARNESS_PRIV_H

#include "sdk/ipc/idmap.h"
#include "broker/policy.h"
#include "bus/bus.h"
#include "core/log.h"
#include "store/secrets.h"
#include "services/kv_service.h"
#include "plugin/supervisor.h"
#include "harness.h"
#include "outcalls.h"
#include "replay.h"
#include "script.h"

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <uv.h>

enum { PENDING = 0, DONE, TIMED_OUT };

typedef struct hx hx;

/* The state of one script item. */
typedef struct slot {
    hx *h;
    size_t i;
    int state;
    bool started;
} slot;

/* An HTTP answer held back for its entry's delay_ms. */
typedef struct delayed {
    uv_timer_t t;
    hx *h;
    inst_req req;
    json_t *answer;
    json_t *chunks;
    struct delayed *next, *prev;
} delayed;

typedef struct counts {
    unsigned events, acked, nacked, unsettled;
    unsigned calls, replied, unanswered;
    unsigned publishes, denied;
    unsigned http, unmatched, refused;
    unsigned outcalls, outcalls_failed; /* calls to other instances; undeclared or unmatched */
    unsigned protocol;
} counts;

struct hx {
    const harness_opts *o;
    char tmp[PATH_MAX];
    char instance_id[72];
    manifest *m;
    script sc;
    replay *rp;
    outcalls *oc;
    ah_loop *loop;
    store *st;
    secrets *sec;
    bus *bus;
    supervisor *sup;
    kv_service *kv;
    instance *inst;
    egress_policy egress; /* the instance's allowlist, as the broker builds it */
    bool egress_ok;
    char egress_err[300];
    slot *slots;
    size_t cursor;
    long waiting; /* index of the item being waited on, -1 when none */
    size_t outstanding;
    uint64_t next_delivery;
    ah_idmap deliveries; /* delivery id -> slot */
    uv_timer_t timer;    /* a sleep, or how long an event may stay unsettled */
    uv_timer_t kick;     /* advance() outside of callbacks */
    bool timer_open, kick_open;
    bool ready, crashed, finishing, stopped, end_wait;
    delayed *delayed;
    counts n;
    pthread_mutex_t out_mu;
};

/* harness_io.c: output. Records are new objects; emit steals them. */
json_t *hx_record(hx *h, const char *type, int line); /* line 0: the item waited on */
void hx_emit(hx *h, json_t *o);
void hx_on_log_line(void *ud, const char *kind, log_level level, const char *line);

/* harness_io.c: the plugin's requests (publish, ack, nack, metric, http, call_out). */
void hx_attach_requests(hx *h);
void hx_detach_requests(hx *h); /* drops answers still held back */

/* harness.c: an item is over (settled, answered, slept). */
void hx_settle(slot *s, int state);

#endif
