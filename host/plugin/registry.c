#include "registry.h"

#include "core/log.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct registry {
    char dir[1024];
    manifest **v;
    size_t n, cap;
    json_t *errors;
};

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int registry_scan(registry **out, const char *dir, char *err, size_t errlen)
{
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "%s: cannot read the plugins directory: %s", dir, strerror(errno));
        return -1;
    }
    registry *r = calloc(1, sizeof(*r));
    if (!r) {
        closedir(d);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(r->dir, sizeof(r->dir), "%s", dir);
    r->errors = json_array();
    /* Sorted, so the order (and which of two duplicates wins) is stable. */
    char **names = NULL;
    size_t nn = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (nn == cap) {
            cap = cap ? cap * 2 : 32;
            char **nv = realloc(names, cap * sizeof(*nv));
            if (!nv) break;
            names = nv;
        }
        names[nn++] = strdup(e->d_name);
    }
    closedir(d);
    if (nn) qsort(names, nn, sizeof(*names), cmp_names);
    for (size_t i = 0; i < nn; i++) {
        char path[2200], merr[1024];
        snprintf(path, sizeof(path), "%s/%s/manifest.json", dir, names[i]);
        free(names[i]);
        FILE *probe = fopen(path, "re");
        if (!probe) continue; /* not a plugin folder */
        fclose(probe);
        manifest *m;
        if (manifest_load(path, true, &m, merr, sizeof(merr)) < 0) {
            log_error("registry", "%s", merr);
            json_array_append_new(r->errors, json_string(merr));
            continue;
        }
        if (registry_find(r, m->name)) {
            snprintf(merr, sizeof(merr), "%s: name: plugin \"%s\" is already installed from %s",
                     path, m->name, registry_find(r, m->name)->path);
            log_error("registry", "%s", merr);
            json_array_append_new(r->errors, json_string(merr));
            manifest_free(m);
            continue;
        }
        if (r->n == r->cap) {
            size_t ncap = r->cap ? r->cap * 2 : 16;
            manifest **nv = realloc(r->v, ncap * sizeof(*nv));
            if (!nv) {
                manifest_free(m);
                continue;
            }
            r->v = nv;
            r->cap = ncap;
        }
        r->v[r->n++] = m;
    }
    free(names);
    *out = r;
    return 0;
}

void registry_free(registry *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n; i++)
        manifest_free(r->v[i]);
    free(r->v);
    json_decref(r->errors);
    free(r);
}

size_t registry_count(const registry *r)
{
    return r->n;
}

const manifest *registry_at(const registry *r, size_t i)
{
    return i < r->n ? r->v[i] : NULL;
}

const manifest *registry_find(const registry *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->v[i]->name, name)) return r->v[i];
    return NULL;
}

const json_t *registry_errors(const registry *r)
{
    return r->errors;
}

const char *registry_dir(const registry *r)
{
    return r->dir;
}
