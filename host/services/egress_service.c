/*
 * egress_service.c - plugins' HTTP requests through the broker. See
 * egress_service.h.
 */
#include "egress_service.h"

#include "sdk/ipc/frame.h"
#include "core/log.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>

/* An instance as the broker's client, with its compiled allowlist. */
typedef struct inst_egress {
    const instance *inst;
    char id[72];
    char plugin[72];
    egress_policy pol;
    char refusal[300]; /* why the allowlist is unusable, when it is */
    egress_client client;
} inst_egress;

struct egress_service {
    broker *b;
    inst_egress **v;
    size_t n;
};

static inst_egress *inst_of(egress_service *es, const instance *inst)
{
    for (size_t i = 0; i < es->n; i++)
        if (es->v[i]->inst == inst) return es->v[i];
    inst_egress *ie = calloc(1, sizeof(*ie));
    inst_egress **nv = ie ? realloc(es->v, (es->n + 1) * sizeof(*nv)) : NULL;
    if (!nv) {
        free(ie);
        return NULL;
    }
    es->v = nv;
    es->v[es->n++] = ie;
    ie->inst = inst;
    snprintf(ie->id, sizeof(ie->id), "%s", instance_id(inst));
    snprintf(ie->plugin, sizeof(ie->plugin), "%s", instance_manifest(inst)->name);
    ie->client = (egress_client){.id = ie->id, .name = ie->plugin, .refusal = ie->refusal};
    char err[260];
    const manifest *m = instance_manifest(inst);
    if (policy_compile(&ie->pol, manifest_egress(m), m->dir, instance_config(inst),
                       instance_egress(inst), err, sizeof(err)) < 0) {
        snprintf(ie->refusal, sizeof(ie->refusal), "allowlist unusable: %s", err);
        log_ctx c = {.plugin = ie->plugin, .instance = ie->id};
        log_write("host", LOG_ERROR, "broker", &c, NULL, "instance %s: egress %s", ie->id,
                  ie->refusal);
    } else {
        ie->client.pol = &ie->pol;
    }
    return ie;
}

/* ---- the broker's sink: the plugin request it answers (a heap inst_req) ---- */

static void sink_answer(void *ud, json_t *answer)
{
    inst_req *req = ud;
    instance_answer(*req, answer);
    free(req);
}

static void sink_partial(void *ud, json_t *chunk)
{
    instance_send_partial(*(inst_req *)ud, AH_MSG_HTTP_CHUNK, chunk);
}

static bool sink_live(void *ud)
{
    return instance_req_live(*(inst_req *)ud);
}

static void sink_dropped(void *ud)
{
    free(ud);
}

static const egress_sink to_plugin = {
    .answer = sink_answer, .partial = sink_partial, .live = sink_live, .dropped = sink_dropped};

static void on_http(void *ud, inst_req req, json_t *body)
{
    egress_service *es = ud;
    inst_egress *ie = inst_of(es, req.inst);
    inst_req *held = ie ? malloc(sizeof(*held)) : NULL;
    if (!held) {
        instance_answer_error(req, AH_ENOMEM, "busy", "out of memory");
        return;
    }
    *held = req;
    const char *rid = instance_request_id_of(
        req.inst, (uint64_t)json_integer_value(json_object_get(body, "call")));
    broker_request(es->b, &ie->client, body, rid, &to_plugin, held);
}

int egress_service_attach(egress_service **out, supervisor *sup, broker *b)
{
    egress_service *es = calloc(1, sizeof(*es));
    if (!es) return AH_ENOMEM;
    es->b = b;
    supervisor_set_handler(sup, AH_MSG_HTTP, on_http, es);
    *out = es;
    return 0;
}

void egress_service_detach(egress_service *es)
{
    if (!es) return;
    for (size_t i = 0; i < es->n; i++) {
        policy_free(&es->v[i]->pol);
        free(es->v[i]);
    }
    free(es->v);
    free(es);
}
