/*
 * call.c - the ah_host call member (ABI 1.4): another instance's action
 * through the host (AH_MSG_CALL_OUT), with the caller's deadline kept
 * here, on the plugin's loop. The host checks the manifest's `calls`, the
 * chain and the sizes (host/services/call_service.c).
 */
#include "rt_priv.h"

#include "../ipc/frame.h"

#include <stdlib.h>

#define CALL_DEFAULT_TIMEOUT_MS 30000u

typedef struct out_call {
    ah_call_cb cb;
    void *ud;
    ah_timer *timer;
    int timed_out; /* the caller was told; the answer, when it comes, is dropped */
} out_call;

static void on_deadline(ah_ctx *c, ah_timer *t, void *ud)
{
    (void)t;
    out_call *oc = ud;
    oc->timer = NULL; /* a one-shot timer is freed after this callback */
    oc->timed_out = 1;
    oc->cb(c, AH_ETIMEDOUT, NULL, "timeout", "no answer before the call's timeout_ms", oc->ud);
}

int rt_call(ah_ctx *c, const char *instance, const char *action, const json_t *args,
            uint32_t timeout_ms, ah_call_cb cb, void *ud)
{
    if (!instance || !action || !cb || (args && !json_is_object(args))) return AH_EINVAL;
    out_call *oc = calloc(1, sizeof(*oc));
    if (!oc) return AH_ENOMEM;
    oc->cb = cb;
    oc->ud = ud;
    json_t *o = json_pack("{s:s,s:s,s:O}", "instance", instance, "action", action, "args",
                          args ? (json_t *)args : json_object());
    if (!o) {
        free(oc);
        return AH_EINVAL; /* not UTF-8 */
    }
    uint32_t t = timeout_ms ? timeout_ms : CALL_DEFAULT_TIMEOUT_MS;
    json_object_set_new(o, "timeout_ms", json_integer(t));
    oc->timer = rt_timer_start(c, t, 0, on_deadline, oc);
    if (!oc->timer) {
        json_decref(o);
        free(oc);
        return AH_ENOMEM;
    }
    int rc = rt_request(c, AH_MSG_CALL_OUT, rt_traced(c, o), REQ_CALL_OUT, NULL, oc);
    if (rc) {
        rt_timer_stop(c, oc->timer);
        free(oc);
    }
    return rc;
}

void rt_call_result(ah_ctx *c, void *ud, int status, const json_t *msg)
{
    out_call *oc = ud;
    if (oc->timed_out) {
        free(oc);
        return;
    }
    rt_timer_stop(c, oc->timer);
    const json_t *err = json_object_get(msg, "error");
    if (status || err)
        oc->cb(c, status ? status : AH_EIO, NULL,
               json_string_value(json_object_get(err, "code")) ?: "error",
               json_string_value(json_object_get(err, "message")) ?: "", oc->ud);
    else
        oc->cb(c, AH_OK, json_object_get(msg, "result") ?: json_null(), NULL, NULL, oc->ud);
    free(oc);
}
