/*
 * protocol.h - the jq worker's contract with the host's expression pool
 * (host/expr/, ADR 0016). The actions and their arguments are declared in
 * manifests/jq.json; this header holds what a manifest cannot say.
 */
#ifndef AH_JQ_PROTOCOL_H
#define AH_JQ_PROTOCOL_H

/* The worker's exit status when an expression exhausted its memory
 * (limits.memory_mb, RLIMIT_AS): libjq cannot recover from a failed
 * allocation, so the worker leaves at once and the host restarts it. */
#define JQ_WORKER_EXIT_NO_MEMORY 75

/* Error codes of the eval and compile actions (reply_error): "compile"
 * (jq's message), "runtime" (error, halt_error, a type error), "output"
 * (past max_outputs, max_output_bytes or JQ_MAX_OUTPUT_DEPTH), "invalid"
 * (arguments the schema lets through but the worker cannot use). */
#define JQ_MAX_OUTPUT_DEPTH 512

/* Variables ($name) an evaluation may bind: at most this many, each an
 * identifier of at most JQ_VAR_NAME_MAX bytes that is not a jq keyword and
 * does not start with "__" (the worker's own names do). */
#define JQ_MAX_VARS 64
#define JQ_VAR_NAME_MAX 64

#include <stdbool.h>
#include <string.h>

static inline bool jq_var_name_ok(const char *s)
{
    static const char *const keywords[] = {
        "__loc__", "and",    "as",      "catch", "def",    "elif", "else",   "end",  "foreach",
        "if",      "import", "include", "label", "module", "or",   "reduce", "then", "try"};
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > JQ_VAR_NAME_MAX || (s[0] == '_' && s[1] == '_')) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
        if (!strcmp(s, keywords[i])) return false;
    return true;
}

#endif
