/*
 * call_service.c - one plugin calling another instance's action. See
 * call_service.h and ADR 0047.
 */
#include "call_service.h"

#include "core/log.h"
#include "sdk/ipc/frame.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct call_service {
    supervisor *sup;
};

typedef struct out_call {
    inst_req req;
} out_call;

static void refuse(inst_req req, int code, const char *err_code, const char *fmt, const char *a,
                   const char *b)
{
    char msg[512];
    snprintf(msg, sizeof(msg), fmt, a, b);
    log_write("host", LOG_WARN, "call", NULL, NULL, "instance %s: call refused: %s",
              instance_id(req.inst), msg);
    instance_answer_error(req, code, err_code, msg);
}

/* The json's compact size, or SIZE_MAX when it cannot be measured. */
static size_t json_size(const json_t *v)
{
    size_t n = json_dumpb(v, NULL, 0, JSON_COMPACT);
    return n ? n : (size_t)-1;
}

static void on_answer(void *ud, const json_t *result, const char *err_code, const char *message)
{
    out_call *oc = ud;
    if (err_code) {
        /* The target died (a crash, its stall limit) or stopped: closed;
         * its action answered with an error: that error, as EIO. */
        int code = !strcmp(err_code, "instance_crashed") || !strcmp(err_code, "instance_stopped")
                       ? AH_ECLOSED
                       : AH_EIO;
        instance_answer_error(oc->req, code, err_code, message);
    } else if (json_size(result) > CALL_RESULT_MAX) {
        instance_answer_error(oc->req, AH_ETOOBIG, "too_large",
                              "the action's answer is over 8 MiB");
    } else {
        instance_answer(oc->req, json_pack("{s:O}", "result", (json_t *)result));
    }
    free(oc);
}

/* err is "code: message" from instance_call_*. */
static int errno_of(const char *err, char *code, size_t codelen)
{
    const char *colon = strchr(err, ':');
    size_t n = colon ? (size_t)(colon - err) : strlen(err);
    snprintf(code, codelen, "%.*s", (int)n, err);
    if (!strcmp(code, "not_ready")) return AH_ECLOSED;
    if (!strcmp(code, "unknown_action")) {
        snprintf(code, codelen, "not_found");
        return AH_ENOTFOUND;
    }
    if (!strcmp(code, "invalid_args")) return AH_EINVAL;
    if (!strcmp(code, "too_large")) return AH_ETOOBIG;
    if (!strcmp(code, "no_memory")) return AH_ENOMEM;
    return AH_EIO;
}

static void on_call_out(void *ud, inst_req req, json_t *body)
{
    call_service *p = ud;
    instance *caller = req.inst;
    const char *target_id = json_string_value(json_object_get(body, "instance"));
    const char *action = json_string_value(json_object_get(body, "action"));
    const json_t *args = json_object_get(body, "args");
    if (!target_id || !action || (args && !json_is_object(args))) {
        instance_answer_error(req, AH_EINVAL, "invalid",
                              "a call needs instance, action and args (an object)");
        return;
    }
    if (supervisor_stopping(p->sup)) {
        instance_answer_error(req, AH_ECLOSED, "not_ready", "the host is stopping");
        return;
    }
    instance *target = supervisor_find(p->sup, target_id);
    if (!target) {
        refuse(req, AH_ENOTFOUND, "not_found", "no instance \"%s\"%s", target_id, "");
        return;
    }
    const char *plugin = instance_manifest(target)->name;
    if (!manifest_may_call(instance_manifest(caller), plugin, action)) {
        refuse(req, AH_EDENIED, "denied",
               "the manifest's calls do not declare action \"%s\" of plugin \"%s\"", action,
               plugin);
        return;
    }
    /* The chain: the instances the caller's own call came through, then
     * the caller. A call made outside any call (a timer, an event) starts
     * a chain of its own. */
    uint64_t via = (uint64_t)json_integer_value(json_object_get(body, "call"));
    const char *before = instance_call_chain_of(caller, via);
    char chain[CALL_CHAIN_MAX];
    int n = snprintf(chain, sizeof(chain), "%s%s%s", before && before[0] ? before : "",
                     before && before[0] ? " " : "", instance_id(caller));
    if (n < 0 || (size_t)n >= sizeof(chain)) {
        refuse(req, AH_EDENIED, "depth", "the call chain is too long (%s)%s", "", "");
        return;
    }
    size_t depth = 1;
    for (const char *s = chain; *s; s++)
        depth += *s == ' ';
    char padded[CALL_CHAIN_MAX + 2], needle[80];
    snprintf(padded, sizeof(padded), " %s ", chain);
    snprintf(needle, sizeof(needle), " %s ", target_id);
    if (strstr(padded, needle)) {
        refuse(req, AH_EDENIED, "cycle", "instance \"%s\" is already in the call chain (%s)",
               target_id, chain);
        return;
    }
    if (depth >= CALL_DEPTH_MAX) {
        refuse(req, AH_EDENIED, "depth", "the call chain (%s) is at the limit of 4 instances%s",
               chain, "");
        return;
    }
    if (args && json_size(args) > CALL_ARGS_MAX) { /* none: "{}" */
        refuse(req, AH_ETOOBIG, "too_large", "the arguments are over 1 MiB%s%s", "", "");
        return;
    }
    out_call *oc = malloc(sizeof(*oc));
    if (!oc) {
        instance_answer_error(req, AH_ENOMEM, "no_memory", "out of memory");
        return;
    }
    oc->req = req;
    char err[600], code[64];
    if (instance_call_chained(target, action, args, 0, instance_request_id_of(caller, via), chain,
                              on_answer, oc, err, sizeof(err)) != 0) {
        free(oc);
        int rc = errno_of(err, code, sizeof(code));
        const char *colon = strchr(err, ':');
        instance_answer_error(req, rc, code, colon ? colon + 2 : err);
    }
}

int call_service_attach(call_service **out, supervisor *sup)
{
    call_service *p = calloc(1, sizeof(*p));
    if (!p) return AH_ENOMEM;
    p->sup = sup;
    supervisor_set_handler(sup, AH_MSG_CALL_OUT, on_call_out, p);
    *out = p;
    return 0;
}

void call_service_detach(call_service *p)
{
    free(p);
}
