/*
 * testing_priv.h - what the fake host's files share (internal to
 * libagenthost-testing): its state and the completion queue.
 */
#ifndef AHT_TESTING_PRIV_H
#define AHT_TESTING_PRIV_H

#include <agenthost/testing.h>

#include <stddef.h>
#include <stdint.h>

struct ah_ctx {
    aht *t;
};

struct ah_call {
    aht *t;
    json_t *answer; /* set once answered */
    json_t *partials;
};

struct ah_timer {
    uint64_t due, repeat;
    ah_timer_cb cb;
    void *ud;
    int stopped;
    struct ah_timer *next;
};

typedef struct fake_event {
    ah_event ev;
    json_t *msg;
} fake_event;

typedef struct job job;
typedef void (*job_fn)(aht *t, job *j);
struct job {
    job_fn run;
    void *cb, *ud;
    int status;
    json_t *data;
    uint64_t n;
    job *next;
};

struct aht {
    const ah_plugin *p;
    struct ah_ctx ctx;
    char *instance;
    void *userdata;
    json_t *secrets, *config, *kv, *kv_meta, *published, *logs, *metrics, *answers, *requests;
    json_t *calls;                   /* answers returned by aht_call, kept until aht_free */
    json_t *out_answers, *out_calls; /* host->call: canned answers, calls made */
    aht_call_fn call_fn;
    void *call_ud;
    char *deny;
    char *storage; /* aht_storage_dir, or NULL */
    job *head, *tail;
    struct ah_timer *timers;
    uint64_t now, next_offset;
    size_t acked, nacked;
    int nevents;
};

/* Queue a completion: fn(t, job) runs from aht_run (data stolen). AH_OK or AH_ENOMEM. */
int aht_later(aht *t, job_fn fn, void *cb, void *ud, int status, json_t *data, uint64_t n);

/* calls.c: the ah_host call member (ABI 1.4). */
int aht_fake_call(ah_ctx *c, const char *instance, const char *action, const json_t *args,
                  uint32_t timeout_ms, ah_call_cb cb, void *ud);

#endif
