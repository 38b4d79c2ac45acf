/*
 * expr.h - jq expressions for the host (conditions and mappings over a
 * conversation's context), evaluated by a pool of sandboxed worker
 * processes (ADR 0016).
 *
 * libjq cannot be interrupted (`until(false; .)` never returns), so no
 * expression runs in the host: each runs in a jq worker, an ordinary
 * plugin instance of the first-party `jq` plugin (ids jq-1 .. jq-N),
 * confined like every plugin (seccomp, namespaces, RLIMIT_AS =
 * expressions.memory_mb). A call that passes its deadline has its worker
 * killed; one that exhausts the memory ends its worker; either way the
 * supervisor restarts the worker at once, without counting it toward
 * quarantine (instance_charge_calls): hostile expressions cost their
 * deadline and a restart, never the pool.
 *
 * What the pool promises:
 *  - The host's loop never waits on an expression: every call is a
 *    message; its callback runs later, from the loop, exactly once.
 *  - One call at a time per worker, so a hostile expression takes down no
 *    one else's. A program prefers the same worker (its compiled form is
 *    cached there); when that one is busy or restarting, any idle ready
 *    worker takes it; when none is, the call waits in a bounded FIFO
 *    queue (expressions.queue) for at most expressions.queue_timeout_ms.
 *  - A call's deadline (expressions.timeout_ms, 200 ms, unless the caller
 *    gives one, at most EXPR_MAX_TIMEOUT_MS) is CPU time its worker spends
 *    from when it takes the call, compiling included on a worker that has
 *    not cached the program (about 25 ms with jq 1.6): a worker left
 *    waiting for a core on a loaded machine is not cut, a runaway one is
 *    (checked when the deadline could have been spent, at clock-tick
 *    granularity). A worker that does not answer within ten times the
 *    deadline of wall time (at least 2 s more, at most
 *    EXPR_MAX_TIMEOUT_MS) is cut by the supervisor, which checks every
 *    100 ms. Where the worker's CPU cannot be read, the deadline is wall
 *    time.
 *  - Outputs are bounded: at most max_outputs values and
 *    expressions.max_output_kb of compact JSON between them.
 *
 * Outcome codes (expr_result.error; NULL on success):
 *   "compile"     the program does not compile: jq's message, lines
 *                 numbered as in the program
 *   "runtime"     jq raised an error (error/1, a type error, halt_error)
 *   "timeout"     it ran past its deadline; its worker was restarted
 *   "memory"      it exhausted its worker's memory; the worker was restarted
 *   "output"      more outputs or bytes than allowed, or nested deeper than
 *                 512 levels
 *   "crashed"     its worker died otherwise while running it (a libjq
 *                 fault, a C stack overflow); the worker was restarted
 *   "busy"        no worker was free within expressions.queue_timeout_ms
 *   "unavailable" no worker can serve: the host is shutting down (no call
 *                 is sent once supervisor_stop_all ran), or the workers are
 *                 quarantined, failed or disabled
 *   "too_large"   the input and variables do not fit in one message (16 MiB)
 *   "invalid"     arguments the worker refused
 */
#ifndef AH_EXPR_H
#define AH_EXPR_H

#include "core/config.h"
#include "core/loop.h"
#include "plugin/manifest.h"
#include "plugin/supervisor.h"

#include <jansson.h>
#include <stdint.h>

#define EXPR_PLUGIN "jq"
#define EXPR_MAX_TIMEOUT_MS 10000u
#define EXPR_MAX_PROGRAM_BYTES 65536u

typedef struct expr_pool expr_pool;

typedef struct expr_opts {
    uint32_t workers;            /* 0: no pool (every call is refused) */
    uint32_t timeout_ms;         /* a call's default deadline */
    uint32_t compile_timeout_ms; /* expr_check's deadline */
    uint32_t memory_mb;          /* each worker's RLIMIT_AS */
    uint32_t queue;              /* calls that may wait for a worker */
    uint32_t queue_timeout_ms;   /* how long one may wait */
    uint32_t max_outputs;        /* default per call */
    uint32_t max_output_kb;      /* compact JSON of a call's outputs */
    uint32_t cache_entries;      /* compiled programs each worker keeps */
} expr_opts;

/* Add o->workers instances jq-1 .. jq-N of the jq plugin (m, borrowed; it
 * must outlive the pool) to the supervisor, not required by /ready one by
 * one (expr_pool_status is), with their calls charged to the calls; they
 * start with supervisor_start_all. m NULL (the plugin is not installed) or
 * no workers: a pool that refuses every call (logged once). An id already
 * taken by a configured instance is logged and that worker skipped.
 * 0, AH_ENOMEM, or AH_EBUSY (the supervisor has all its listeners). */
int expr_pool_attach(expr_pool **out, ah_loop *loop, supervisor *sup, const manifest *m,
                     const expr_opts *o);
/* After supervisor_free (its failing calls come back through the pool):
 * answers the calls still queued with "unavailable", then frees. NULL is
 * fine. */
void expr_pool_detach(expr_pool *p);

typedef struct expr_result {
    const char *error;     /* NULL on success, else an outcome code above */
    const char *message;   /* why, for an error; NULL on success */
    const json_t *outputs; /* on success: the array of outputs (borrowed) */
} expr_result;

/* Runs exactly once, later, from the loop. r and what it points to are
 * valid for the callback only. */
typedef void (*expr_cb)(void *ud, const expr_result *r);

typedef struct expr_eval_opts {
    uint32_t timeout_ms;  /* 0: expressions.timeout_ms; at most EXPR_MAX_TIMEOUT_MS */
    uint32_t max_outputs; /* 0: expressions.max_outputs */
} expr_eval_opts;

/* Evaluate program on input (any JSON, borrowed) with vars (an object of
 * $name -> value, borrowed, or NULL). On 0, cb runs exactly once, later.
 * Otherwise cb never runs and err holds the reason:
 *   AH_EINVAL  program empty, longer than EXPR_MAX_PROGRAM_BYTES or holding
 *              NUL; vars not an object, more than 64, or a name that is not
 *              an identifier, is a jq keyword or starts with "__"
 *   AH_ECLOSED no worker can serve (none configured, the plugin is not
 *              installed, every worker is stopped, quarantined, failed or
 *              disabled, or the host is shutting down: supervisor_stop_all)
 *   AH_EBUSY   every worker is busy and the queue is full
 *   AH_ETOOBIG the input and variables do not fit in one message (16 MiB)
 *   AH_ENOMEM  out of memory
 * input and vars are referenced, not copied, until the call is sent to a
 * worker: do not change them before cb runs. */
int expr_eval(expr_pool *p, const char *program, const json_t *input, const json_t *vars,
              const expr_eval_opts *o, expr_cb cb, void *ud, char *err, size_t errlen);

/* Compile program with the variables named in var_names (an array of
 * strings, borrowed, or NULL) without running it: validation on save. The
 * result has outputs [] when it compiles, error "compile" with jq's
 * message when it does not. Returns as expr_eval. */
int expr_check(expr_pool *p, const char *program, const json_t *var_names, expr_cb cb, void *ud,
               char *err, size_t errlen);

/* A new object for /ready: {ok, workers, ready, busy, queued}. ok is true
 * when at least one worker is ready, or when the pool has no workers. */
json_t *expr_pool_status(const expr_pool *p);

#endif
