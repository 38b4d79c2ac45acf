/*
 * jq - the expression worker (ADR 0016). It evaluates jq programs with
 * libjq for the host's expression pool (host/expr/): `eval` runs a program
 * on an input with $variables and returns its outputs, bounded in count
 * and size; `compile` checks a program. Compiled programs are cached (an
 * LRU keyed by their text and variable names).
 *
 * libjq cannot be interrupted and cannot recover from a failed
 * allocation: the host bounds a runaway program by killing this process
 * at the call's deadline, the sandbox's RLIMIT_AS bounds its memory, and
 * out of memory it exits with JQ_WORKER_EXIT_NO_MEMORY so the host can
 * say why. Either way the host starts a fresh worker.
 */
#include "jqw.h"
#include "protocol.h"

#include <agenthost/plugin.h>

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MESSAGE_MAX 4096
#define DEFAULT_MAX_OUTPUTS 100             /* as manifests/jq.json says */
#define DEFAULT_MAX_OUTPUT_BYTES (1u << 20) /* as manifests/jq.json says */

typedef struct worker {
    const ah_host *host;
    jqw_cache *cache;
} worker;

static worker W;

_Noreturn void jqw_no_memory(void)
{
    static const char msg[] = "jq worker: out of memory (limits.memory_mb); exiting\n";
    ssize_t n = write(2, msg, sizeof(msg) - 1);
    (void)n;
    _exit(JQ_WORKER_EXIT_NO_MEMORY);
}

static int jq_init_worker(ah_ctx *ctx, const ah_host *host, const json_t *config)
{
    W.host = host;
    /* libjq imports $HOME/.jq at every compile when HOME is set (a file
     * the sandbox would refuse): the host passes none; keep it so. */
    unsetenv("HOME");
    /* Large values (jq's arrays and strings) in their own mappings, given
     * back when freed, so a worker's memory falls after a big evaluation. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    json_int_t entries = json_integer_value(json_object_get(config, "cache_entries"));
    W.cache = jqw_cache_new(entries > 0 ? (size_t)entries : 256);
    if (!W.cache) return AH_ENOMEM;
    host->log(ctx, AH_LOG_INFO, "jq worker ready (cache of %lld programs)", (long long)entries);
    return AH_OK;
}

/* The program's text; NULL (the call answered) when unusable. */
static const char *program_of(ah_call *call, const json_t *args)
{
    const json_t *p = json_object_get(args, "program");
    const char *text = json_string_value(p);
    if (!text || strlen(text) != json_string_length(p)) {
        W.host->reply_error(call, "invalid", "program must be a string without NUL characters");
        return NULL;
    }
    return text;
}

/* The names of vars (an object) as a new array; NULL (the call answered)
 * when one is not a usable name. */
static json_t *names_of_vars(ah_call *call, const json_t *vars)
{
    json_t *names = json_array();
    if (!names) jqw_no_memory();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)vars, k, v)
    {
        if (!jq_var_name_ok(k) || json_array_size(names) == JQ_MAX_VARS) {
            char m[200];
            snprintf(m, sizeof(m), "variable \"%.64s\": %s", k,
                     jq_var_name_ok(k) ? "too many variables"
                                       : "not an identifier, a keyword or reserved (__)");
            W.host->reply_error(call, "invalid", m);
            json_decref(names);
            return NULL;
        }
        json_array_append_new(names, json_string(k));
    }
    return names;
}

/* The message a halted program leaves (halt_error), or NULL after halt. */
static bool halted_with_error(jq_state *jq, char *buf, size_t len)
{
    jv code = jq_get_exit_code(jq), msg = jq_get_error_message(jq);
    bool err = jv_is_valid(code) || jv_is_valid(msg);
    if (jv_get_kind(msg) == JV_KIND_STRING) {
        snprintf(buf, len, "halt_error: %s", jv_string_value(msg));
    } else if (jv_is_valid(msg)) {
        jv text = jv_dump_string(jv_copy(msg), 0);
        snprintf(buf, len, "halt_error: %s", jv_string_value(text));
        jv_free(text);
    } else if (jv_get_kind(code) == JV_KIND_NUMBER) {
        snprintf(buf, len, "halted with exit code %d", (int)jv_number_value(code));
    }
    jv_free(code);
    jv_free(msg);
    return err;
}

/* Run p on [input, vars]; the outputs as a new array, or NULL with an
 * error code and message. *halted: the program halted (halt, halt_error). */
static json_t *run(jq_state *jq, const json_t *input, const json_t *vars, size_t max_outputs,
                   size_t max_bytes, const char **code, char *msg, size_t msglen, bool *halted)
{
    jv in = jv_array_append(jv_array_append(jv_array(), input ? jqw_from_json(input) : jv_null()),
                            vars ? jqw_from_json(vars) : jv_object());
    jq_start(jq, in, 0);
    json_t *outputs = json_array();
    if (!outputs) jqw_no_memory();
    jqw_budget b = {.bytes_left = max_bytes - 2}; /* the array's brackets */
    b.why[0] = 0;
    for (;;) {
        jv r = jq_next(jq);
        if (!jv_is_valid(r)) {
            if (jq_halted(jq)) {
                *halted = true;
                jv_free(r);
                if (!halted_with_error(jq, msg, msglen)) break;
                *code = "runtime";
            } else if (jv_invalid_has_msg(jv_copy(r))) {
                jqw_error_text(r, msg, msglen);
                *code = "runtime";
            } else {
                jv_free(r); /* no more outputs */
                break;
            }
            json_decref(outputs);
            return NULL;
        }
        size_t n = json_array_size(outputs);
        json_t *o = NULL;
        if (n == max_outputs) {
            jv_free(r);
            snprintf(msg, msglen, "more than %zu outputs (max_outputs)", max_outputs);
        } else if (n && !b.bytes_left) { /* no room for the comma */
            jv_free(r);
            snprintf(msg, msglen, "the outputs exceed max_output_bytes (%zu bytes)", max_bytes);
        } else {
            b.bytes_left -= n ? 1 : 0;
            o = jqw_to_json(r, &b);
            if (!o) snprintf(msg, msglen, "%s (%zu bytes)", b.why, max_bytes);
        }
        if (!o) {
            *code = "output";
            json_decref(outputs);
            return NULL;
        }
        if (json_array_append_new(outputs, o) < 0) jqw_no_memory();
    }
    return outputs;
}

static void eval(ah_call *call, const json_t *args)
{
    const char *text = program_of(call, args);
    if (!text) return;
    const json_t *vars = json_object_get(args, "vars");
    json_t *names = vars ? names_of_vars(call, vars) : NULL;
    if (vars && !names) return;
    jqw_program *p = jqw_cache_get(W.cache, text, names);
    json_decref(names);
    if (jqw_program_error(p)) {
        W.host->reply_error(call, "compile", jqw_program_error(p));
        return;
    }
    json_int_t max_outputs = json_integer_value(json_object_get(args, "max_outputs"));
    json_int_t max_bytes = json_integer_value(json_object_get(args, "max_output_bytes"));
    const char *code = NULL;
    char *msg = malloc(MESSAGE_MAX);
    if (!msg) jqw_no_memory();
    msg[0] = 0;
    bool halted = false;
    json_t *outputs = run(jqw_program_state(p), json_object_get(args, "input"), vars,
                          max_outputs > 0 ? (size_t)max_outputs : DEFAULT_MAX_OUTPUTS,
                          max_bytes > 2 ? (size_t)max_bytes : DEFAULT_MAX_OUTPUT_BYTES, &code, msg,
                          MESSAGE_MAX, &halted);
    if (halted) jqw_cache_drop(W.cache, p); /* see jqw_cache_drop */
    if (outputs)
        W.host->reply(call, json_pack("{s:o}", "outputs", outputs));
    else
        W.host->reply_error(call, code, msg);
    free(msg);
}

static void check(ah_call *call, const json_t *args)
{
    const char *text = program_of(call, args);
    if (!text) return;
    const json_t *names = json_object_get(args, "vars");
    size_t i;
    const json_t *n;
    json_array_foreach(names, i, n)
    {
        if (!jq_var_name_ok(json_string_value(n)) || i == JQ_MAX_VARS) {
            W.host->reply_error(call, "invalid",
                                "vars: each must be an identifier, not a keyword or reserved (__), "
                                "at most 64 of them");
            return;
        }
    }
    jqw_program *p = jqw_cache_get(W.cache, text, names);
    if (jqw_program_error(p))
        W.host->reply_error(call, "compile", jqw_program_error(p));
    else
        W.host->reply(call, json_pack("{s:b}", "ok", 1));
}

static void jq_call(ah_ctx *ctx, ah_call *call, const char *action, const json_t *args)
{
    (void)ctx;
    if (!strcmp(action, "eval"))
        eval(call, args);
    else if (!strcmp(action, "compile"))
        check(call, args);
    else
        W.host->reply_error(call, "unknown_action", action);
}

static void jq_shutdown(ah_ctx *ctx)
{
    (void)ctx;
    jqw_cache_free(W.cache);
    W.cache = NULL;
}

AH_PLUGIN(.name = "jq", .version = "1.0.0", .init = jq_init_worker, .call = jq_call,
          .shutdown = jq_shutdown);
