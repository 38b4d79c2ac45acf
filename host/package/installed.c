/* installed.c - removing and listing installed plugins (install.h). */
#include "core/fsutil.h"
#include "plugin/manifest.h"
#include "install.h"
#include "pkgdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool plugin_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' ||
              *p == '-'))
            return false;
    return true;
}

/* The folder holding plugin `name`: the one named after it, else one
 * whose manifest declares it. 1 with folder, 0 when none, -1 with err. */
static int find_folder(pkgdir *d, const char *name, char *folder, size_t len, char *err,
                       size_t errlen)
{
    char found[72], why[600];
    struct stat st;
    if (fstatat(d->fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (pkgdir_plugin_name(d, name, found, sizeof(found), why, sizeof(why)) &&
            strcmp(found, name) != 0) {
            snprintf(err, errlen, "%s/%s holds plugin \"%s\", not \"%s\"; nothing removed", d->path,
                     name, found, name);
            return -1;
        }
        snprintf(folder, len, "%s", name);
        return 1;
    }
    int fd = dup(d->fd);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dir) {
        if (fd >= 0) close(fd);
        snprintf(err, errlen, "%s: %s", d->path, strerror(errno));
        return -1;
    }
    rewinddir(dir);
    int rc = 0;
    struct dirent *e;
    while (!rc && (e = readdir(dir)) != NULL) {
        if (e->d_name[0] != '.' &&
            pkgdir_plugin_name(d, e->d_name, found, sizeof(found), why, sizeof(why)) &&
            !strcmp(found, name)) {
            snprintf(folder, len, "%s", e->d_name);
            rc = 1;
        }
    }
    closedir(dir);
    return rc;
}

int pkg_remove(const char *plugins_dir, const char *name, char *version, size_t vlen, char *err,
               size_t errlen)
{
    if (vlen) version[0] = 0;
    if (!plugin_name_ok(name)) {
        snprintf(err, errlen, "\"%s\" is not a plugin name (a-z, 0-9, '_', '.', '-')", name);
        return -1;
    }
    pkgdir d;
    if (pkgdir_open(&d, plugins_dir, false, err, errlen) < 0) return -1;
    char folder[NAME_MAX + 1], scratch[PATH_MAX] = "";
    int rc = find_folder(&d, name, folder, sizeof(folder), err, errlen);
    if (rc == 0) snprintf(err, errlen, "plugin %s is not installed in %s", name, d.path);
    if (rc <= 0) {
        pkgdir_close(&d);
        return -1;
    }
    char path[PATH_MAX + 300], why[600];
    snprintf(path, sizeof(path), "%s/%s/manifest.json", d.path, folder);
    manifest *m;
    if (manifest_load(path, false, &m, why, sizeof(why)) == 0) {
        snprintf(version, vlen, "%s", m->version);
        manifest_free(m);
    }
    rc = -1;
    if (pkgdir_scratch(&d, "remove", scratch, sizeof(scratch), err, errlen) == 0) {
        char dst[PATH_MAX + 300];
        snprintf(dst, sizeof(dst), "%s/%s", scratch, folder);
        if (renameat(d.fd, folder, AT_FDCWD, dst) < 0) {
            snprintf(err, errlen, "cannot remove %s/%s: %s", d.path, folder, strerror(errno));
        } else {
            fsync(d.fd);
            rc = 0;
        }
        fs_remove_tree(scratch);
    }
    pkgdir_close(&d);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_provenance(json_t *o, const char *dir, const char *folder)
{
    char path[PATH_MAX * 2];
    snprintf(path, sizeof(path), "%s/%s/" PKG_PROVENANCE, dir, folder);
    json_t *p = json_load_file(path, 0, NULL);
    const char *id = json_string_value(json_object_get(p, "key_id"));
    if (id) {
        json_object_set_new(o, "key_id", json_string(id));
        json_object_set(o, "signed_by", json_object_get(p, "signed_by"));
        json_object_set(o, "installed_at", json_object_get(p, "installed_at"));
    }
    json_decref(p);
}

json_t *pkg_list(const char *plugins_dir, char *err, size_t errlen)
{
    DIR *dir = opendir(plugins_dir);
    if (!dir) {
        snprintf(err, errlen, "%s: cannot read the plugins directory: %s", plugins_dir,
                 strerror(errno));
        return NULL;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nv = realloc(names, cap * sizeof(*nv));
            if (!nv) break;
            names = nv;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(dir);
    if (n) qsort(names, n, sizeof(*names), cmp_names);
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX * 2], why[1200];
        snprintf(path, sizeof(path), "%s/%s/manifest.json", plugins_dir, names[i]);
        manifest *m;
        if (access(path, F_OK) != 0) {
            free(names[i]);
            continue; /* not a plugin folder */
        }
        if (manifest_load(path, true, &m, why, sizeof(why)) < 0) {
            json_array_append_new(out, json_pack("{s:s,s:s}", "folder", names[i], "error", why));
        } else {
            char abi[32];
            snprintf(abi, sizeof(abi), "%d.%d", m->abi_major, m->abi_minor);
            json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "name", m->name, "version", m->version,
                                  "abi", abi, "folder", names[i]);
            add_provenance(o, plugins_dir, names[i]);
            json_array_append_new(out, o);
            manifest_free(m);
        }
        free(names[i]);
    }
    free(names);
    return out;
}
