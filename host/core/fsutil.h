/*
 * fsutil.h - file tree helpers for the tools that install and remove
 * directories (plugin packages, the harness's temporary store).
 */
#ifndef AH_FSUTIL_H
#define AH_FSUTIL_H

#include <stddef.h>

/* Remove a file or a directory tree, never following symbolic links (a
 * link is removed, not what it points to). 0, or -1 with errno (the
 * first failure; removal goes on past it). A missing path is 0. */
int fs_remove_tree(const char *path);

/* Remove what is inside the directory open as dirfd, entry `name`, the
 * same way (for trees reached through a directory descriptor). */
int fs_remove_tree_at(int dirfd, const char *name);

/* fsync a directory (after creating, renaming or removing entries). 0, or
 * -1 with errno. */
int fs_fsync_dir(const char *path);

/* Copy the file from into a new file to (mode; replaced if there), synced
 * before returning. 0, or -1 with errno (to is then removed). */
int fs_copy_file(const char *from, const char *to, unsigned mode);

/* A new temporary directory "<base>/<prefix>XXXXXX" with mode (0700
 * from mkdtemp, then chmod). base NULL: $TMPDIR or /tmp. 0, or -1 with
 * errno (ENAMETOOLONG when it does not fit out). */
int fs_make_temp_dir(const char *base, const char *prefix, unsigned mode, char *out, size_t len);

#endif
