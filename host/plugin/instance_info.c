/*
 * instance_info.c - what an instance is and how it is doing: its identity,
 * manifest, config and limits, its state, and the status object the API
 * and `agenthost instance list` show. Read-only views into the instance
 * (supervisor_priv.h), apart from instance_charge_calls.
 */
#include "core/util.h"
#include "proc.h"
#include "supervisor_priv.h"

#include <stdio.h>

const char *instance_id(const instance *inst)
{
    return inst->id;
}

const manifest *instance_manifest(const instance *inst)
{
    return inst->m;
}

const json_t *instance_config(const instance *inst)
{
    return inst->config;
}

const json_t *instance_egress(const instance *inst)
{
    return inst->egress;
}

const manifest_limits *instance_limits(const instance *inst)
{
    return &inst->limits;
}

bool instance_required(const instance *inst)
{
    return inst->required;
}

void instance_charge_calls(instance *inst)
{
    inst->charge_calls = true;
}

int instance_last_exit_status(const instance *inst)
{
    return inst->last_exit_status;
}

instance_state instance_get_state(const instance *inst)
{
    return inst->state;
}

uint64_t instance_gen(const instance *inst)
{
    return inst->cur ? inst->cur->gen : 0;
}

int64_t instance_cpu_ms(const instance *inst)
{
    return inst->pid > 0 ? proc_cpu_ms_tree(inst->pid) : -1;
}

void instance_kill(instance *inst, const char *why)
{
    if (inst->cur) run_kill(inst->cur, why);
}

json_t *instance_status(const instance *inst)
{
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:b,s:I,s:I}", "id", inst->id, "plugin", inst->m->name, "state",
                  instance_state_name(inst->state), "enabled", inst->enabled, "restarts",
                  (json_int_t)inst->restarts, "crashes", (json_int_t)inst->ncrashes);
    json_object_set_new(o, "version", json_string(inst->m->version));
    json_object_set_new(o, "pid", inst->pid > 0 ? json_integer(inst->pid) : json_null());
    json_object_set_new(o, "last_error",
                        inst->last_error[0] ? json_string(inst->last_error) : json_null());
    json_object_set_new(o, "rss_bytes",
                        json_integer(inst->pid > 0 ? (json_int_t)inst->rss_bytes : 0));
    json_object_set_new(o, "confinement",
                        inst->confinement ? json_deep_copy(inst->confinement) : json_null());
    if (inst->started_at_ms) {
        char t[40];
        ah_rfc3339_ms(inst->started_at_ms, t, sizeof(t));
        json_object_set_new(o, "started_at", json_string(t));
    }
    json_object_set_new(o, "calls_in_flight", json_integer((json_int_t)inst->calls.n));
    /* Its private storage's total against max_mb (ADR 0055), as last measured. */
    json_object_set_new(o, "storage",
                        inst->m->storage_max_mb
                            ? json_pack("{s:I,s:I,s:b}", "max_mb",
                                        (json_int_t)inst->m->storage_max_mb, "used_bytes",
                                        (json_int_t)inst->storage_bytes, "over_quota",
                                        inst->storage_full)
                            : json_null());
    return o;
}
