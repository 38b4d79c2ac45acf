/*
 * storage_backup.h - instances' private storage in backups
 * (docs/adr/0055-private-storage-quota.md, "Backups"). `agenthost backup`
 * copies DATA_DIR/plugin-data/<id>/ of every instance next to the store's
 * copy, pausing each running instance's processes (SIGSTOP, then SIGCONT)
 * while its directory is copied: what is copied is what a crash of the
 * plugin at that instant would leave. `agenthost restore` puts them back.
 *
 * The running host tells a backup which process an instance is through
 * DATA_DIR/plugin-pids/<id> ("PID STARTTIME", the runner's pid and
 * its start time in clock ticks, so that a reused pid is never stopped),
 * written when the process starts and removed when it is gone.
 */
#ifndef AH_PLUGIN_STORAGE_BACKUP_H
#define AH_PLUGIN_STORAGE_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Write or remove the pid file of instance id. 0, or -1 with errno. */
int plugin_storage_note_pid(const char *data_dir, const char *id, pid_t pid);
void plugin_storage_forget_pid(const char *data_dir, const char *id);

typedef struct plugin_storage_copied {
    size_t instances; /* directories copied */
    size_t paused;    /* of them, those of a running instance, paused while copied */
    uint64_t bytes;   /* regular files' bytes copied */
    size_t skipped;   /* entries neither regular files nor directories, left out */
} plugin_storage_copied;

/* Copy every instance's directory of DATA_DIR/plugin-data into to (made
 * 0700 through to.partial, replacing an older one). Without
 * DATA_DIR/plugin-data nothing is copied and an older `to` is removed.
 * 0, or -1 with err naming the instance and path (to is not left). */
int plugin_storage_backup(const char *data_dir, const char *to, plugin_storage_copied *out,
                          char *err, size_t errlen);

/* Whether DATA_DIR/plugin-data holds any instance's directory. */
bool plugin_storage_present(const char *data_dir);

/* Put the copy `from` back as DATA_DIR/plugin-data (the host stopped). An
 * existing plugin-data is renamed to plugin-data.before-restore-TIME
 * (its name into aside, "" if there was none). Owners and modes are kept
 * as copied when run as root. 0, or -1 with err. */
int plugin_storage_restore(const char *from, const char *data_dir, char *aside, size_t asidelen,
                           plugin_storage_copied *out, char *err, size_t errlen);

#endif
