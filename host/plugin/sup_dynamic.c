/*
 * sup_dynamic.c - instances added and removed while the host runs (the
 * API's POST and DELETE /api/v1/instances). See supervisor.h.
 */
#include "supervisor_priv.h"

void supervisor_start_one(supervisor *s, instance *inst)
{
    if (s->stopping_all || inst->removed) return;
    if (inst->enabled && inst->state == INST_STOPPED) sup_start_instance(inst);
}

void supervisor_remove(supervisor *s, instance *inst, void (*done)(void *ud), void *ud)
{
    inst->removed = true;
    inst->enabled = false;
    inst->restart_requested = false;
    inst->removed_done = done;
    inst->removed_ud = ud;
    uv_timer_stop(&inst->restart_timer);
    for (size_t i = 0; i < s->nlisteners; i++)
        if (s->listeners[i].on_removed) s->listeners[i].on_removed(s->listener_uds[i], inst);
    if (!inst->cur) {
        sup_forget(inst);
        return;
    }
    if (inst->state != INST_STOPPING) sup_stop_instance(inst);
}

const char *supervisor_data_dir(const supervisor *s)
{
    return s->opts.data_dir;
}
