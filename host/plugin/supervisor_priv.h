/*
 * supervisor_priv.h - internals shared by supervisor.c (the set of
 * instances, their policy and operator actions) and instance.c (one
 * process incarnation: spawn, IPC, logs, violations). Not a public header.
 */
#ifndef AH_SUPERVISOR_PRIV_H
#define AH_SUPERVISOR_PRIV_H

#include "sdk/ipc/frame.h"
#include "sdk/ipc/idmap.h"
#include "proc.h"
#include "supervisor.h"

#include <uv.h>

#define MAX_HANDLERS AH_MSG_TYPE_MAX
#define OUTQ_MAX_BYTES (64u << 20)
#define LOG_LINE_MAX 8192
#define MAX_CRASH_RING 64

typedef struct out_frame {
    struct out_frame *next;
    size_t len;
    uint8_t data[];
} out_frame;

/* One process incarnation of an instance. Freed once its handles close. */
typedef struct run {
    instance *inst;
    uint64_t gen;
    proc_handle proc;
    uv_poll_t ipc_w, log_w, viol_w, pid_w;
    int open_handles;
    bool watching_write;
    bool dead;
    bool violation_reported; /* a seccomp report came through the pipe */
    bool hello_seen;         /* the runner's HELLO arrived */
    out_frame *outq, *outq_tail;
    size_t outq_bytes;
    ah_msg_asm in;
    uint8_t *frame; /* AH_FRAME_MAX receive buffer */
    char logbuf[LOG_LINE_MAX];
    size_t loglen;
    uint64_t init_id; /* the INIT request's id */
    uint64_t ping_id; /* outstanding ping, 0 if none */
    uint64_t ping_deadline_ms;
    uint64_t next_ping_ms;
    uint64_t handshake_deadline_ms;
    uint64_t next_id;
    uint32_t in_flight; /* plugin -> host requests not yet answered */
    char kill_reason[256];
} run;

typedef struct pending_call {
    uint64_t id;
    uint64_t deadline_ms;
    uint32_t timeout_ms;
    instance_call_cb cb;
    instance_partial_cb on_partial;
    void *ud;
    char action[72];
    char request_id[64];        /* of the API request that made it; "" if none */
    char chain[CALL_CHAIN_MAX]; /* instances it came through (another's call), "" if none */
} pending_call;

/* Calls answered lately, so that what a plugin logs or asks for just
 * after answering is still tied to the API request. */
#define RECENT_CALLS 32
typedef struct recent_call {
    uint64_t id;
    char request_id[64];
} recent_call;

struct instance {
    supervisor *sup;
    char id[72];
    const manifest *m;
    json_t *config;
    json_t *egress;         /* operator's extra egress entries, or NULL */
    manifest_limits limits; /* the manifest's, with the instance's overrides */
    manifest_restart restart;
    instance_state state;
    bool enabled;
    bool required;          /* /ready waits for it (config "required", default true) */
    bool stop_requested;    /* we asked it to stop */
    bool restart_requested; /* start again once stopped */
    bool permanent_failure; /* ABI or library problem: do not restart */
    bool charge_calls; /* a death with a call in flight is the call's (instance_charge_calls) */
    bool removed;      /* supervisor_remove: hidden; freed with the supervisor (sup_forget) */
    void (*removed_done)(void *ud);
    void *removed_ud;
    uint64_t gen;
    run *cur;
    ah_idmap calls; /* id -> pending_call */
    recent_call recent[RECENT_CALLS];
    unsigned nrecent;
    uint64_t crash_times[MAX_CRASH_RING];
    unsigned ncrashes;
    unsigned consecutive;
    uint64_t restarts;
    uint64_t ready_since_ms;
    int64_t started_at_ms;
    int last_exit_status;
    char last_error[512];
    json_t *confinement; /* as the runner reported it in HELLO */
    int pending_closes;
    int pid;
    unsigned long long rss_bytes; /* refreshed by the tick, see RSS_EVERY_MS */
    uint64_t storage_bytes;       /* private storage in use at the last check (sup_storage.c) */
    bool storage_full;            /* over max_mb: its processes' file size limit is 0 */
    uint64_t storage_next_ms;     /* when to measure it again */
    uv_timer_t restart_timer;
    uv_timer_t kill_timer;
};

typedef struct handler {
    instance_req_fn fn;
    void *ud;
} handler;

struct supervisor {
    ah_loop *loop;
    store *st;
    secrets *sec;
    supervisor_opts opts;
    instance **v;
    size_t n, cap;
    /* Removed instances whose process is gone: requests of theirs may
     * still be answered (an egress call in flight holds the instance), so
     * they are freed with the supervisor. */
    instance **gone;
    size_t ngone;
    handler handlers[MAX_HANDLERS];
    sup_listener listeners[SUP_MAX_LISTENERS];
    void *listener_uds[SUP_MAX_LISTENERS];
    size_t nlisteners;
    uv_timer_t tick;
    void (*stop_done)(void *);
    void *stop_ud;
    bool stopping_all;
    int pending_closes; /* handles closing in supervisor_free */
    uint64_t rss_at_ms; /* last memory measurement */
    int own_filters;    /* seccomp filters the host itself runs under (-1: unknown) */
};

/* instance.c */
/* Spawn the instance's process. 0; or, with err: AH_ENOMEM, AH_EIO (it
 * cannot be spawned). */
int run_start(instance *inst, char *err, size_t errlen);
void run_kill(run *r, const char *reason);
/* Queue a frame (steals body). 0; AH_ECLOSED (the process is gone);
 * AH_ETOOBIG (over the frame limit); AH_EIO (its channel failed: the
 * process is going away); AH_ENOMEM. */
int run_send(run *r, uint16_t type, uint64_t id, json_t *body);
/* The same for a message already encoded: len bytes of JSON text (borrowed). */
int run_send_text(run *r, uint16_t type, uint64_t id, const char *text, size_t len);
void run_check_deadlines(run *r, uint64_t now_ms);

/* debug_run.c: the instance run unconfined for a debugger */
#define DEBUG_WRAPPER_MAX 16
typedef struct debug_cmd {
    char words[1024];   /* the wrapper's command line, cut into words */
    char program[4096]; /* its program, found in PATH */
    const char *argv[DEBUG_WRAPPER_MAX];
    int argc; /* 0: no wrapper */
} debug_cmd;
/* Whether inst is the debug instance the config allows. */
bool debug_target(const instance *inst);
/* Cut line (NULL: none) into d. 0; AH_EINVAL (too long, too many words)
 * or AH_ENOTFOUND (no such program), with err. */
int debug_wrapper_parse(const char *line, debug_cmd *d, char *err, size_t errlen);
/* Say in security.log and the host log that inst started unconfined. */
void debug_log_start(const instance *inst, int pid);

/* sup_storage.c: the private storage's total size (ADR 0055) */
#define STORAGE_EVERY_MS 1000
#define STORAGE_WALK_SHARE 50 /* a walk of 20 ms waits 1 s, one of 100 ms 5 s */
/* Measure a new process's storage and lower its file size limit if over. */
void sup_storage_started(instance *inst);
/* Every STORAGE_EVERY_MS, from the tick: every ready instance with storage. */
void sup_storage_check(supervisor *s, uint64_t now);

/* supervisor.c, called by instance.c */
void sup_on_hello_ok(instance *inst);
void sup_on_ready(instance *inst);
void sup_on_exit(instance *inst, int status, const char *reason);
void sup_dispatch_request(instance *inst, run *r, uint16_t type, uint64_t id, json_t *body);
void sup_on_call_result(instance *inst, uint64_t id, json_t *body);
/* Keep an answered (or abandoned) call's request id for late logs. */
void sup_remember_call(instance *inst, const pending_call *pc);
void sup_on_call_partial(instance *inst, uint64_t id, json_t *body);
void sup_persist_state(instance *inst);
void sup_start_instance(instance *inst);
void sup_stop_instance(instance *inst);
/* A removed instance whose process is gone: out of the set (kept aside
 * until the supervisor is freed), its calls failed; its removed_done runs. */
void sup_forget(instance *inst);

#endif
