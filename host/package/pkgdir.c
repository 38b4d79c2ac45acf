#include "pkgdir.h"

#include "core/fsutil.h"
#include "core/util.h"
#include "plugin/manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int pkgdir_open(pkgdir *d, const char *plugins_dir, bool create, char *err, size_t errlen)
{
    memset(d, 0, sizeof(*d));
    d->fd = -1;
    if (create && ah_mkdir_p(plugins_dir, 0755) < 0) {
        snprintf(err, errlen, "%s: cannot create the plugins directory: %s", plugins_dir,
                 strerror(errno));
        return -1;
    }
    if (!realpath(plugins_dir, d->path)) {
        snprintf(err, errlen, "%s: %s", plugins_dir, strerror(errno));
        return -1;
    }
    d->fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d->fd < 0) {
        snprintf(err, errlen, "%s: %s", d->path, strerror(errno));
        return -1;
    }
    if (flock(d->fd, LOCK_EX) < 0) {
        snprintf(err, errlen, "%s: cannot lock: %s", d->path, strerror(errno));
        pkgdir_close(d);
        return -1;
    }
    /* Beside it when the parent is on the same filesystem (the usual
     * case), else inside it as a hidden entry, which the host ignores. */
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", d->path);
    const char *parent = dirname(tmp);
    struct stat a, b;
    if (stat(parent, &a) == 0 && fstat(d->fd, &b) == 0 && a.st_dev == b.st_dev &&
        access(parent, W_OK) == 0 && strcmp(parent, d->path) != 0)
        snprintf(d->scratch, sizeof(d->scratch), "%s", parent);
    else
        snprintf(d->scratch, sizeof(d->scratch), "%s", d->path);
    return 0;
}

void pkgdir_close(pkgdir *d)
{
    if (d->fd >= 0) close(d->fd); /* releases the lock */
    d->fd = -1;
}

int pkgdir_scratch(pkgdir *d, const char *what, char *out, size_t len, char *err, size_t errlen)
{
    char prefix[128];
    snprintf(prefix, sizeof(prefix), ".agenthost-%s-", what);
    if (fs_make_temp_dir(d->scratch, prefix, 0755, out, len) < 0) {
        snprintf(err, errlen, "%s: cannot create a scratch directory: %s", d->scratch,
                 strerror(errno));
        return -1;
    }
    return 0;
}

int pkgdir_plugin_name(pkgdir *d, const char *entry, char *name, size_t len, char *why,
                       size_t whylen)
{
    char path[PATH_MAX + 300];
    snprintf(path, sizeof(path), "%s/%s/manifest.json", d->path, entry);
    manifest *m;
    if (manifest_load(path, false, &m, why, whylen) < 0) return 0;
    snprintf(name, len, "%s", m->name);
    manifest_free(m);
    return 1;
}
