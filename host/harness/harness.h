/*
 * harness.h - `agenthost plugin run`: one instance of a plugin, run
 * through the real supervisor and sandbox runner against a temporary store,
 * fed the events and calls of a script (script.h), its HTTP requests
 * answered from recorded responses (replay.h).
 *
 * Everything the plugin does is printed as JSON Lines on `out`, in the
 * order it happens, without timestamps (so a run can be compared with a
 * recorded one):
 *
 *   {"type":"ready","plugin":"hello","version":"1.0.0","instance":"hello"}
 *   {"type":"log","line":3,"level":"info","stream":"sdk","msg":"..."}
 *   {"type":"publish","line":3,"topic":"t","key":"k","body":{...},"offset":1}
 *   {"type":"http","line":4,"method":"GET","url":"...","status":200,"entry":2}
 *   {"type":"partial","line":4,"action":"chat","partial":{...}}
 *   {"type":"reply","line":4,"action":"greet","result":{...}}      (or "error")
 *   {"type":"ack","line":3,"id":"line-3"}  /  {"type":"nack",...,"error":"..."}
 *   {"type":"metric","name":"n","kind":"counter","value":1}
 *   {"type":"timeout","line":5,"msg":"..."}   {"type":"crash","reason":"..."}
 *   {"type":"summary","ok":true,"events":1,"acked":1,...}
 *
 * The KV store and secrets are the host's own modules, on the temporary
 * store; publishes go to a real bus there (offsets, size limits and
 * idempotency keys behave as in the host); HTTP requests must pass the
 * egress allowlist as the broker builds it. Items run in file order, each
 * waiting until it is settled (event), answered (call) or over (sleep),
 * unless marked async.
 */
#ifndef AH_HARNESS_H
#define AH_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct harness_opts {
    const char *manifest;  /* the plugin's manifest.json */
    const char *events;    /* the script */
    const char *config;    /* JSON object file: the instance's config, or NULL */
    const char *secrets;   /* JSON object file: {"name": "value"}, or NULL */
    const char *http;      /* recorded responses, or NULL: every request is unmatched */
    const char *calls;     /* answers to its calls to other instances, or NULL: none matches */
    const char *instance;  /* instance id; NULL: the plugin's name */
    const char *runner;    /* path of agenthost-runner */
    uint32_t timeout_ms;   /* how long an event may stay unsettled; 0: limits.stall_ms */
    const char *store_dir; /* a directory kept from run to run; NULL: a temporary store */
    const char *kv_seed;   /* JSON object file: keys written into the KV before the start */
    const char *kv_dump;   /* file the instance's KV is written to at the end (an object) */
    bool no_sandbox;       /* test builds only */
    FILE *out;             /* where the JSON lines go */
} harness_opts;

/* Run. Returns the exit status: 0 when the plugin started, every event was
 * settled, every call answered, every HTTP request was allowed and matched
 * a recorded response, every call to another instance was declared and
 * matched an answer (--calls), no publish was denied and nothing crashed; 1 otherwise (the summary
 * says why); 2 when an input file is unusable (err says which and why; nothing ran). */
int harness_run(const harness_opts *o, char *err, size_t errlen);

#endif
