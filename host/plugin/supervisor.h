/*
 * supervisor.h - plugin instances: processes, IPC, calls, health, restarts.
 *
 * Each instance runs in its own sandbox-runner process. The supervisor
 * performs the handshake (HELLO, ABI check, INIT with config and the
 * secrets the manifest names), pings ready instances, kills an instance
 * whose ping or call goes unanswered past its stall limit or that breaks
 * the IPC protocol, restarts crashed instances with exponential backoff,
 * quarantines an instance that crashes max_crashes times within window_s,
 * and stops everyone gracefully (SHUTDOWN, a grace period, then SIGKILL).
 *
 * Requests a plugin makes (publish, kv, http, ack, metric) are routed to
 * handlers other modules register per message type. A handler answers a
 * request exactly once, now or later, with instance_answer or
 * instance_answer_error; answers for a process that has since died are
 * dropped. Instances live as long as the supervisor.
 */
#ifndef AH_SUPERVISOR_H
#define AH_SUPERVISOR_H

#include "core/loop.h"
#include "store/store.h"
#include "manifest.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct supervisor supervisor;
typedef struct instance instance;
typedef struct secrets secrets;

typedef enum instance_state {
    INST_STOPPED = 0, /* not running, will not start by itself */
    INST_STARTING,    /* process spawned, handshake under way */
    INST_READY,       /* initialised and serving */
    INST_STOPPING,    /* asked to stop, within its grace period */
    INST_BACKOFF,     /* crashed, waiting to restart */
    INST_QUARANTINED, /* crashed too often; waits for an operator */
    INST_FAILED,      /* cannot run (ABI, library); waits for an operator */
    INST_DISABLED,    /* turned off by an operator */
} instance_state;

const char *instance_state_name(instance_state s);

typedef struct supervisor_opts {
    const char *runner;         /* path of agenthost-runner */
    uint32_t ping_interval_ms;  /* 0: 5000 */
    uint32_t shutdown_grace_ms; /* 0: 5000 */
    bool no_sandbox;            /* test builds only: run plugins unconfined */
    /* One instance run without its sandbox, for a debugger (`serve
     * --debug-instance ID [--debug-wrapper CMD]`): only where the host's
     * config allows it (supervisor.allow_debug_unconfined), checked by
     * supervisor_check_debug. Every start of it is logged to security.log
     * and the host log, and it is never killed as stalled (a breakpoint may
     * hold it). debug_wrapper is a command line split at spaces (no shell)
     * that the runner is started under, e.g. "valgrind --leak-check=full"
     * or "gdb -q -batch -ex run -ex bt --args"; NULL: none. */
    bool allow_debug_unconfined;
    const char *debug_instance;
    const char *debug_wrapper;
    /* The host's data directory: instances whose manifest declares private
     * storage get DATA_DIR/plugin-data/<id>/ (storage.h); NULL: such
     * instances do not start. */
    const char *data_dir;
} supervisor_opts;

/* A request from a plugin, to be answered once. */
typedef struct inst_req {
    instance *inst;
    uint64_t gen; /* the process incarnation that asked */
    uint64_t id;
} inst_req;

/* body is borrowed for the call; keep a reference to hold on to it. */
typedef void (*instance_req_fn)(void *ud, inst_req req, json_t *body);

/* Lifecycle notifications (the bus service starts and stops deliveries). */
typedef struct sup_listener {
    void (*on_ready)(void *ud, instance *inst);
    void (*on_down)(void *ud, instance *inst); /* process gone; deliveries are void */
    /* supervisor_remove: the instance is going for good (its process may
     * still be stopping); drop what is kept for it. May be NULL. */
    void (*on_removed)(void *ud, instance *inst);
} sup_listener;

/* 0, or AH_ENOMEM. */
int supervisor_new(supervisor **out, ah_loop *loop, store *st, secrets *sec,
                   const supervisor_opts *o);
/* Instances must be stopped first (supervisor_stop_all). */
void supervisor_free(supervisor *s);

/* Add an instance of manifest m (borrowed; must outlive the supervisor).
 * config is validated against the manifest's config_schema (defaults
 * applied); overrides may hold "limits" and "restart" objects that replace
 * the manifest's values for this instance, and an "egress" array of extra
 * allowlist entries the operator grants it (same form as the manifest's). 0, or -1 with a one-line
 * reason in err. */
int supervisor_add(supervisor *s, const char *id, const manifest *m, const json_t *config,
                   const json_t *overrides, bool enabled, char *err, size_t errlen);

/* Once every instance is added, before supervisor_start_all: 0 when no
 * debug instance is asked for, or when the config allows one and it
 * names an instance (both said in security.log and the host log); else
 * AH_EDENIED (not allowed: logged to security.log too) or AH_ENOTFOUND
 * (no such instance), with the reason in err. */
int supervisor_check_debug(supervisor *s, char *err, size_t errlen);

void supervisor_start_all(supervisor *s);
/* An instance added while the host runs (supervisor_add after
 * supervisor_start_all): start it now if it is enabled and the host is
 * not stopping. */
void supervisor_start_one(supervisor *s, instance *inst);
/* Take an instance away for good: from now on supervisor_find, _count and
 * _at no longer see it, the listeners' on_removed runs, and it is stopped
 * gracefully (SHUTDOWN, the grace period, then SIGKILL). done (may be
 * NULL) runs once its process is gone: at once when none runs. Its calls
 * in flight fail with "instance_stopped". Its memory is kept until the
 * supervisor is freed (a request of its may still be answered later, as
 * for any process that died). What is stored
 * for it (state, KV, secrets) is the caller's (instances_def.h). */
void supervisor_remove(supervisor *s, instance *inst, void (*done)(void *ud), void *ud);
/* supervisor_opts.data_dir (may be NULL). */
const char *supervisor_data_dir(const supervisor *s);
/* Stop every running instance gracefully; done runs once all are down. */
void supervisor_stop_all(supervisor *s, void (*done)(void *ud), void *ud);

/* True once supervisor_stop_all was called: no new work should be sent. */
bool supervisor_stopping(const supervisor *s);

instance *supervisor_find(supervisor *s, const char *id);
size_t supervisor_count(supervisor *s);
instance *supervisor_at(supervisor *s, size_t i);

void supervisor_set_handler(supervisor *s, uint16_t msg_type, instance_req_fn fn, void *ud);
/* Add a lifecycle listener (l is copied): each is told, in the order
 * added, of every instance that becomes ready or goes down. At most
 * SUP_MAX_LISTENERS; listeners live as long as the supervisor. 0, or
 * AH_EBUSY when that many are registered already. */
#define SUP_MAX_LISTENERS 4
int supervisor_add_listener(supervisor *s, const sup_listener *l, void *ud);

/* Answer a plugin's request: result (stolen) is an object merged into the
 * answer, or NULL. Dropped if that process is gone. */
void instance_answer(inst_req r, json_t *result);
void instance_answer_error(inst_req r, int code, const char *err_code, const char *message);
/* Send a non-final frame of `type` for request r (a streamed chunk: body
 * stolen), before its answer. 0; AH_ECLOSED (that process is gone: the
 * frame is dropped); AH_ETOOBIG (over the plugin's message limit); AH_EIO
 * (its channel failed: the process is going away); AH_ENOMEM. */
int instance_send_partial(inst_req r, uint16_t type, json_t *body);
/* Bytes queued for r's process and not yet read by it (0 if gone): lets a
 * streaming producer slow down for a slow reader. */
size_t instance_queued_bytes(inst_req r);
/* True while the process that made r is alive. */
bool instance_req_live(inst_req r);

/* Call an action. On 0 the callback runs exactly once, later: with result
 * (borrowed) on success, or with err_code and message. On -1 (not ready,
 * unknown action, arguments not matching the action's schema) err holds
 * the reason, prefixed by a stable code and a colon ("invalid_args: ..."),
 * and the callback never runs. timeout_ms 0 means the instance's stall_ms;
 * a call unanswered past its timeout kills the instance as stalled. */
typedef void (*instance_call_cb)(void *ud, const json_t *result, const char *err_code,
                                 const char *message);
int instance_call(instance *inst, const char *action, const json_t *args, uint32_t timeout_ms,
                  instance_call_cb cb, void *ud, char *err, size_t errlen);
/* The same, with partial results: on_partial (may be NULL) runs for each
 * partial result the plugin sends (reply_partial: streamed tokens) before
 * cb, with the partial borrowed. Returns as instance_call. */
typedef void (*instance_partial_cb)(void *ud, const json_t *partial);
/* request_id (may be NULL): the API request's id, carried into every log
 * line the call causes (the plugin's own, integration.log, llm.log). */
int instance_call_streamed(instance *inst, const char *action, const json_t *args,
                           uint32_t timeout_ms, const char *request_id,
                           instance_partial_cb on_partial, instance_call_cb cb, void *ud, char *err,
                           size_t errlen);
/* A call made by another instance (host->call, ABI 1.4): as
 * instance_call_streamed, with chain, the instances the call came through
 * ("a b", outermost first, at most CALL_CHAIN_MAX - 1 bytes), kept with
 * the call so that a call it makes in turn can be checked for a cycle. */
#define CALL_CHAIN_MAX 320
int instance_call_chained(instance *inst, const char *action, const json_t *args,
                          uint32_t timeout_ms, const char *request_id, const char *chain,
                          instance_call_cb cb, void *ud, char *err, size_t errlen);
/* The chain of call_id while it is in flight ("" when it came from the
 * host itself), or NULL when no such call is in flight. */
const char *instance_call_chain_of(instance *inst, uint64_t call_id);
/* The request id of call_id (in flight or answered lately), or NULL. */
const char *instance_request_id_of(instance *inst, uint64_t call_id);

/* Send an event for delivery (the bus). msg is borrowed. 0, or -1 if the
 * instance is not ready. The plugin answers with AH_MSG_ACK/NACK carrying
 * delivery_id, routed to the registered handlers. */
int instance_deliver(instance *inst, uint64_t delivery_id, const json_t *msg);
/* The same with the message already encoded (len bytes of JSON text, borrowed). */
int instance_deliver_text(instance *inst, uint64_t delivery_id, const char *msg, size_t len);

const char *instance_id(const instance *inst);
const manifest *instance_manifest(const instance *inst);
/* The instance's validated config (defaults applied), borrowed. */
const json_t *instance_config(const instance *inst);
/* Egress entries the operator added for this instance in the host config
 * ("egress" beside "limits"), borrowed; NULL when none. */
const json_t *instance_egress(const instance *inst);
/* The manifest's limits with the instance's overrides. */
const manifest_limits *instance_limits(const instance *inst);
instance_state instance_get_state(const instance *inst);
/* Whether /ready waits for it (the instance's "required" in the config). */
bool instance_required(const instance *inst);
/* Charge the instance's deaths to its calls, as the bus charges a crash to
 * the event being handled (ADR 0005): when its process dies while a call
 * is in flight (that call's deadline, a ping unanswered meanwhile, a crash,
 * an exit), the instance restarts at once and the death does not count
 * toward restart.max_crashes; a death with no call in flight counts as
 * usual, so a plugin that cannot start is still quarantined. For host code
 * that hands an instance untrusted work it cannot bound otherwise (the
 * expression pool's jq workers, ADR 0016); never set from a manifest. */
void instance_charge_calls(instance *inst);
/* How the last process ended: its wait status (waitpid form), or -1 when
 * it could not start or none has ended. Read it in the callback of a call
 * that failed with "instance_crashed" to tell an exit code from a signal. */
int instance_last_exit_status(const instance *inst);
uint64_t instance_gen(const instance *inst);
/* CPU time (ms, user and system, clock-tick granularity) the instance's
 * current process tree has spent, or -1 when none runs or it cannot be
 * read. A host component timing untrusted work by what it burns rather
 * than by the wall clock (the expression pool) reads it around a call. */
int64_t instance_cpu_ms(const instance *inst);
/* SIGKILL the instance's current process now, why recorded as the cause
 * (calls in flight fail with "instance_crashed"; it restarts as after any
 * death). No-op when none runs. */
void instance_kill(instance *inst, const char *why);
/* A new object: id, plugin, state, pid, restarts, last_error, rss_bytes,
 * confinement, started_at, ... */
json_t *instance_status(const instance *inst);

/* Operator actions. Restart: 0, or -1 with err (the instance is disabled).
 * Enable and disable: 0 (err is not written). */
int instance_restart(instance *inst, char *err, size_t errlen);
int instance_enable(instance *inst, char *err, size_t errlen);
int instance_disable(instance *inst, char *err, size_t errlen);

#endif
