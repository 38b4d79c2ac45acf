/*
 * /api/v1/triggers: what starts an agent (docs/schemas/trigger.json): a
 * command in a chat (on_command), a schedule (on_schedule: cron in a time
 * zone, or one time), or a call (on_internal: POST /triggers/{id}/fire,
 * in api_engine.c). A schedule's next run is computed when it is saved
 * and after each run (host/runtime/rt_triggers.c).
 */
#include "core/util.h"
#include "engine/schedule.h"
#include "model/collections.h"
#include "api_docs.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <string.h>

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* The agent exists; the schedule's next run (null when disabled or over). */
static int trigger_prepare(res_change *c)
{
    json_t *doc = c->doc;
    const char *agent = str_of(doc, "agent_id");
    json_t *a = NULL;
    int rc = agent ? doc_get(c->t, COLL_AGENTS, agent, &a, NULL) : AH_ENOTFOUND;
    json_decref(a);
    if (rc == AH_ENOTFOUND) return doc_fail(c->t, AH_EINVAL, "agent_id", "no agent %s", agent);
    if (rc) return rc;
    const char *kind = str_of(doc, "kind");
    if (!kind || strcmp(kind, "on_schedule") != 0) {
        json_object_del(doc, "next_run_at");
        return 0;
    }
    const json_t *s = json_object_get(doc, "schedule");
    int64_t next = 0;
    char err[300];
    if (s && schedule_next(s, doc_txn_now(c->t), &next, err, sizeof(err)) != 0) {
        const char *colon = strchr(err, ':');
        char field[64];
        snprintf(field, sizeof(field), "%.*s", colon ? (int)(colon - err) : 8, err);
        return doc_fail(c->t, AH_EINVAL, field, "%s", colon ? colon + 2 : err);
    }
    bool on = !json_is_false(json_object_get(doc, "enabled"));
    json_object_set_new(doc, "next_run_at",
                        on && next ? json_integer((json_int_t)next) : json_null());
    return 0;
}

static const res_filter trigger_filters[] = {
    {"agent_id", "agent_id"}, {"kind", "kind"}, {NULL, NULL}};
static const res_range trigger_ranges[] = {{"created", "created_at"}, {NULL, NULL}};
static const char *const trigger_sorts[] = {"created_at", "name", NULL};
static const char *const trigger_read_only[] = {"next_run_at", "last_run_at", "runs",
                                                "webhook_generation", NULL};

static const resource triggers_res = {
    .coll = COLL_TRIGGERS,
    .noun = "trigger",
    .plural = "triggers",
    .base = "/api/v1/triggers",
    .item = "/api/v1/triggers/{id}",
    .filters = trigger_filters,
    .ranges = trigger_ranges,
    .sorts = trigger_sorts,
    .text_field = "name",
    .read_only = trigger_read_only,
    .defaults = "{\"enabled\": true, \"runs\": 0}",
    .prepare = trigger_prepare,
};

int api_triggers_routes(api_table *t, const api_deps *deps)
{
    return res_register(t, &triggers_res, deps ? deps->docs : NULL, NULL, "agents:read",
                        "agents:write");
}
