/*
 * storage.h - an instance's private storage on the host's side
 * (docs/adr/0051-plugin-private-storage.md): DATA_DIR/plugin-data/<id>/,
 * made 0700 before each start (owned by the unprivileged identity the
 * runner drops to when the host is root), bound read-write at /data in
 * the plugin's minimal root by the runner, deleted with the instance.
 */
#ifndef AH_PLUGIN_STORAGE_H
#define AH_PLUGIN_STORAGE_H

#include <stddef.h>
#include <stdint.h>

/* DATA_DIR/plugin-data/<id> into out. 0, or -1 if it does not fit. */
int plugin_storage_path(const char *data_dir, const char *id, char *out, size_t outlen);

/* Make the directory (and plugin-data/, 0700) if missing, refusing
 * anything but a real directory there (a symbolic link is refused).
 * 0, or -1 with err naming the path. */
int plugin_storage_prepare(const char *data_dir, const char *id, char *out, size_t outlen,
                           char *err, size_t errlen);

/* Delete the directory and all beneath it (nothing if absent); symbolic
 * links inside are removed, never followed. 0, or -1 with errno. */
int plugin_storage_remove(const char *data_dir, const char *id);

/* The disk space the directory takes (every file's and directory's
 * allocated blocks beneath it, the directory's own included; links not
 * followed, no other file system entered) into *bytes. 0, or -1 with
 * errno. */
int plugin_storage_usage(const char *dir, uint64_t *bytes);

#endif
