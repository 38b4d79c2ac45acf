/*
 * sup_storage.c - the total size of an instance's private storage
 * (docs/adr/0055-private-storage-quota.md). The supervisor measures the
 * directory's allocated blocks when the process has said hello and every
 * STORAGE_EVERY_MS after (less often when the walk is long); past max_mb it sets the soft
 * RLIMIT_FSIZE of the instance's processes to 0, so that every write that would add to a regular
 * file fails with EFBIG while reads, deletions and truncations go on, and it sets the limit back to
 * max_mb once the usage is down to max_mb or below (back to the hard limit: max_mb, the runner's).
 * Nothing is killed, unless the plugin raises its own limit back while over (its hard limit stays
 * max_mb, which it may).
 */
#include "core/log.h"
#include "core/util.h"
#include "storage.h"
#include "supervisor_priv.h"

#include <inttypes.h>
#include <stdio.h>

static void say(const instance *inst, log_level level, const char *fmt, uint64_t used)
{
    log_ctx c = {.plugin = inst->m->name, .instance = inst->id};
    log_write("host", level, "supervisor", &c, NULL, fmt, inst->id, used, inst->m->storage_max_mb);
}

/* fresh: a new process, which starts with its limit at max_mb. */
static void check_one(instance *inst, bool fresh)
{
    char dir[4096];
    uint64_t used;
    const char *data = inst->sup->opts.data_dir;
    uint64_t t0 = ah_mono_ms();
    inst->storage_next_ms = t0 + STORAGE_EVERY_MS;
    if (!inst->cur || inst->pid <= 0 || plugin_storage_path(data, inst->id, dir, sizeof(dir)) < 0 ||
        plugin_storage_usage(dir, &used) < 0)
        return;
    /* The walk runs on the loop: a directory of many files is walked less
     * often, so that it takes at most 1/STORAGE_WALK_SHARE of the time. */
    uint64_t took = ah_mono_ms() - t0, every = took * STORAGE_WALK_SHARE;
    inst->storage_next_ms = t0 + (every > STORAGE_EVERY_MS ? every : STORAGE_EVERY_MS);
    inst->storage_bytes = used;
    uint64_t max = (uint64_t)inst->m->storage_max_mb << 20;
    bool over = used > max;
    if (over && (fresh || !inst->storage_full)) {
        if (proc_fsize_tree(inst->pid, 0) < 0) {
            run_kill(inst->cur, "its private storage is over max_mb and its file size limit "
                                "cannot be lowered");
            return;
        }
        if (!inst->storage_full)
            say(inst, LOG_WARN,
                "instance %s: private storage over its quota (%" PRIu64
                " bytes used, max_mb %u): writes fail with EFBIG until files are deleted",
                used);
        inst->storage_full = true;
    } else if (over) {
        uint64_t soft;
        if (proc_fsize_tree_max(inst->pid, &soft) == 0 && soft > 0)
            run_kill(inst->cur, "raised its own file size limit while its private storage "
                                "is over max_mb");
    } else if (inst->storage_full) {
        if (!fresh) proc_fsize_tree(inst->pid, UINT64_MAX); /* back to the hard limit */
        inst->storage_full = false;
        say(inst, LOG_INFO,
            "instance %s: private storage under its quota again (%" PRIu64
            " bytes used, max_mb %u): writes work again",
            used);
    }
}

void sup_storage_started(instance *inst)
{
    if (inst->m->storage_max_mb) check_one(inst, true);
}

void sup_storage_check(supervisor *s, uint64_t now)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i]->m->storage_max_mb && s->v[i]->state == INST_READY &&
            now >= s->v[i]->storage_next_ms)
            check_one(s->v[i], false);
}
