/*
 * sup_calls.c - calls to plugin instances (actions, streamed and chained
 * ones, deliveries) and the routing of their requests and answers
 * (supervisor.h).
 */
#include "core/jsonschema.h"
#include "core/log.h"
#include "core/util.h"
#include "supervisor_priv.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- requests from plugins ------------------------------------------------ */

static bool one_way(uint16_t type)
{
    return type == AH_MSG_ACK || type == AH_MSG_NACK || type == AH_MSG_METRIC;
}

void sup_dispatch_request(instance *inst, run *r, uint16_t type, uint64_t id, json_t *body)
{
    supervisor *s = inst->sup;
    inst_req req = {.inst = inst, .gen = r->gen, .id = id};
    handler *h = &s->handlers[type];
    if (one_way(type)) {
        if (h->fn) h->fn(h->ud, req, body);
        return;
    }
    if (r->in_flight >= inst->limits.in_flight) {
        run_send(r, AH_MSG_RESULT, id,
                 json_pack("{s:{s:i,s:s,s:s}}", "error", "errno", AH_EBUSY, "code", "busy",
                           "message", "too many requests in flight (limits.in_flight)"));
        return;
    }
    if (!h->fn) {
        run_send(r, AH_MSG_RESULT, id,
                 json_pack("{s:{s:i,s:s,s:s}}", "error", "errno", AH_EUNSUPPORTED, "code",
                           "unsupported", "message", "this host does not offer that service"));
        return;
    }
    r->in_flight++;
    h->fn(h->ud, req, body);
}

static run *live_run(inst_req r)
{
    instance *inst = r.inst;
    if (!inst || !inst->cur || inst->cur->gen != r.gen || inst->cur->dead) return NULL;
    return inst->cur;
}

void instance_answer(inst_req r, json_t *result)
{
    run *cur = live_run(r);
    if (!cur) {
        json_decref(result);
        return;
    }
    if (cur->in_flight) cur->in_flight--;
    run_send(cur, AH_MSG_RESULT, r.id, result ? result : json_object());
}

void instance_answer_error(inst_req r, int code, const char *err_code, const char *message)
{
    run *cur = live_run(r);
    if (!cur) return;
    if (cur->in_flight) cur->in_flight--;
    run_send(cur, AH_MSG_RESULT, r.id,
             json_pack("{s:{s:i,s:s,s:s}}", "error", "errno", code, "code",
                       err_code ? err_code : "error", "message", message ? message : ""));
}

int instance_send_partial(inst_req r, uint16_t type, json_t *body)
{
    run *cur = live_run(r);
    if (!cur) {
        json_decref(body);
        return AH_ECLOSED;
    }
    return run_send(cur, type, r.id, body);
}

size_t instance_queued_bytes(inst_req r)
{
    run *cur = live_run(r);
    return cur ? cur->outq_bytes : 0;
}

bool instance_req_live(inst_req r)
{
    return live_run(r) != NULL;
}

/* ---- calls ------------------------------------------------------------------ */

int instance_call(instance *inst, const char *action, const json_t *args, uint32_t timeout_ms,
                  instance_call_cb cb, void *ud, char *err, size_t errlen)
{
    return instance_call_streamed(inst, action, args, timeout_ms, NULL, NULL, cb, ud, err, errlen);
}

static int call_start(instance *inst, const char *action, const json_t *args, uint32_t timeout_ms,
                      const char *request_id, const char *chain, instance_partial_cb on_partial,
                      instance_call_cb cb, void *ud, char *err, size_t errlen);

int instance_call_streamed(instance *inst, const char *action, const json_t *args,
                           uint32_t timeout_ms, const char *request_id,
                           instance_partial_cb on_partial, instance_call_cb cb, void *ud, char *err,
                           size_t errlen)
{
    return call_start(inst, action, args, timeout_ms, request_id, NULL, on_partial, cb, ud, err,
                      errlen);
}

int instance_call_chained(instance *inst, const char *action, const json_t *args,
                          uint32_t timeout_ms, const char *request_id, const char *chain,
                          instance_call_cb cb, void *ud, char *err, size_t errlen)
{
    return call_start(inst, action, args, timeout_ms, request_id, chain, NULL, cb, ud, err, errlen);
}

const char *instance_call_chain_of(instance *inst, uint64_t call_id)
{
    const pending_call *pc = call_id ? ah_idmap_get(&inst->calls, call_id) : NULL;
    return pc ? pc->chain : NULL;
}

static int call_start(instance *inst, const char *action, const json_t *args, uint32_t timeout_ms,
                      const char *request_id, const char *chain, instance_partial_cb on_partial,
                      instance_call_cb cb, void *ud, char *err, size_t errlen)
{
    if (inst->state != INST_READY || !inst->cur) {
        snprintf(err, errlen, "not_ready: instance %s is %s", inst->id,
                 instance_state_name(inst->state));
        return -1;
    }
    const json_t *decl = manifest_action(inst->m, action);
    if (!decl) {
        snprintf(err, errlen, "unknown_action: plugin %s has no action \"%s\"", inst->m->name,
                 action);
        return -1;
    }
    const json_t *schema = json_object_get(decl, "args");
    char verr[512];
    if (args && !json_is_object(args)) {
        snprintf(err, errlen, "invalid_args: arguments must be a JSON object");
        return -1;
    }
    if (schema &&
        jsonschema_validate(schema, args ? args : json_object(), verr, sizeof(verr)) < 0) {
        snprintf(err, errlen, "invalid_args: %s", verr);
        return -1;
    }
    pending_call *pc = calloc(1, sizeof(*pc));
    if (!pc) {
        snprintf(err, errlen, "no_memory: out of memory");
        return -1;
    }
    run *r = inst->cur;
    pc->id = ++r->next_id;
    pc->timeout_ms = timeout_ms ? timeout_ms : inst->limits.stall_ms;
    pc->deadline_ms = ah_mono_ms() + pc->timeout_ms;
    pc->cb = cb;
    pc->on_partial = on_partial;
    pc->ud = ud;
    snprintf(pc->action, sizeof(pc->action), "%s", action);
    snprintf(pc->request_id, sizeof(pc->request_id), "%s", request_id ? request_id : "");
    snprintf(pc->chain, sizeof(pc->chain), "%s", chain ? chain : "");
    if (ah_idmap_put(&inst->calls, pc->id, pc) < 0) {
        free(pc);
        snprintf(err, errlen, "no_memory: out of memory");
        return -1;
    }
    json_t *msg = json_pack("{s:s,s:O,s:I}", "action", action, "args", args ? args : json_object(),
                            "timeout_ms", (json_int_t)pc->timeout_ms);
    int rc = run_send(r, AH_MSG_CALL, pc->id, msg);
    if (rc != 0) {
        ah_idmap_take(&inst->calls, pc->id);
        free(pc);
        snprintf(err, errlen, "%s: %s", rc == AH_ETOOBIG ? "too_large" : "unavailable",
                 ah_strerror(rc));
        return -1;
    }
    return 0;
}

void sup_remember_call(instance *inst, const pending_call *pc)
{
    if (!pc->request_id[0]) return;
    recent_call *rc = &inst->recent[inst->nrecent++ % RECENT_CALLS];
    rc->id = pc->id;
    snprintf(rc->request_id, sizeof(rc->request_id), "%s", pc->request_id);
}

const char *instance_request_id_of(instance *inst, uint64_t call_id)
{
    if (!call_id) return NULL;
    const pending_call *pc = ah_idmap_get(&inst->calls, call_id);
    if (pc) return pc->request_id[0] ? pc->request_id : NULL;
    for (unsigned i = 0; i < RECENT_CALLS; i++)
        if (inst->recent[i].id == call_id) return inst->recent[i].request_id;
    return NULL;
}

void sup_on_call_result(instance *inst, uint64_t id, json_t *body)
{
    pending_call *pc = ah_idmap_take(&inst->calls, id);
    if (!pc) return;
    sup_remember_call(inst, pc);
    const json_t *e = json_object_get(body, "error");
    if (e)
        pc->cb(pc->ud, NULL, json_string_value(json_object_get(e, "code")) ?: "error",
               json_string_value(json_object_get(e, "message")) ?: "");
    else
        pc->cb(pc->ud, json_object_get(body, "result") ?: json_null(), NULL, NULL);
    free(pc);
}

void sup_on_call_partial(instance *inst, uint64_t id, json_t *body)
{
    /* A partial after the final answer (or for a call that timed out) has
     * no one to go to: dropped. */
    pending_call *pc = ah_idmap_get(&inst->calls, id);
    if (pc && pc->on_partial)
        pc->on_partial(pc->ud, json_object_get(body, "partial") ?: json_null());
}

int instance_deliver(instance *inst, uint64_t delivery_id, const json_t *msg)
{
    if (inst->state != INST_READY || !inst->cur) return -1;
    return run_send(inst->cur, AH_MSG_EVENT, delivery_id, json_incref((json_t *)msg)) == 0 ? 0 : -1;
}

int instance_deliver_text(instance *inst, uint64_t delivery_id, const char *msg, size_t len)
{
    if (inst->state != INST_READY || !inst->cur) return -1;
    return run_send_text(inst->cur, AH_MSG_EVENT, delivery_id, msg, len) == 0 ? 0 : -1;
}
