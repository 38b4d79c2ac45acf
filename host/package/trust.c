#include "trust.h"

#include "core/util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int key_path(const char *dir, const char *id, char *out, size_t len)
{
    return ah_fmt(out, len, "%s/%s.pub", dir, id);
}

int trust_add(const char *dir, const char *pubfile, pkg_pubkey *added, bool *already, char *err,
              size_t errlen)
{
    *already = false;
    if (key_load_public(pubfile, added, err, errlen) < 0) return -1;
    char path[4096];
    if (key_path(dir, added->id, path, sizeof(path)) < 0) {
        snprintf(err, errlen, "%s: path too long", dir);
        return -1;
    }
    if (access(path, F_OK) == 0) {
        pkg_pubkey have;
        char e2[600];
        if (key_load_public(path, &have, e2, sizeof(e2)) == 0 &&
            !memcmp(have.pk, added->pk, sizeof(have.pk))) {
            *already = true;
            return 0;
        }
    }
    if (ah_mkdir_p(dir, 0755) < 0) {
        snprintf(err, errlen, "%s: cannot create the trusted keys directory: %s", dir,
                 strerror(errno));
        return -1;
    }
    char *text = key_public_text(added);
    size_t len = text ? strlen(text) : 0;
    char *line = text ? realloc(text, len + 2) : NULL;
    if (!line) {
        free(text);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(line + len, "\n", 2);
    int rc = ah_write_file_atomic(path, line, len + 1, 0644);
    free(line);
    if (rc < 0) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int trust_remove(const char *dir, const char *key_id, pkg_pubkey *removed, char *err, size_t errlen)
{
    if (!key_id_valid(key_id)) {
        snprintf(err, errlen,
                 "\"%s\" is not a key id (16 lower-case hex digits; see `agenthost "
                 "trust list`)",
                 key_id);
        return -1;
    }
    char path[4096];
    if (key_path(dir, key_id, path, sizeof(path)) < 0) {
        snprintf(err, errlen, "%s: path too long", dir);
        return -1;
    }
    char e2[600];
    if (key_load_public(path, removed, e2, sizeof(e2)) < 0) {
        memset(removed, 0, sizeof(*removed));
        snprintf(removed->id, sizeof(removed->id), "%s", key_id);
    }
    if (unlink(path) < 0) {
        snprintf(err, errlen, "key %s is not trusted (%s)", key_id,
                 errno == ENOENT ? "no such key" : strerror(errno));
        return -1;
    }
    return 0;
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(((const pkg_pubkey *)a)->id, ((const pkg_pubkey *)b)->id);
}

int trust_load(const char *dir, pkg_pubkey **keys, size_t *n, json_t *problems, char *err,
               size_t errlen)
{
    *keys = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return 0;
        snprintf(err, errlen, "%s: cannot read the trusted keys: %s", dir, strerror(errno));
        return -1;
    }
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 5 || strcmp(e->d_name + len - 4, ".pub") != 0) continue;
        char path[4096], why[700];
        if (ah_fmt(path, sizeof(path), "%s/%s", dir, e->d_name) < 0) continue;
        pkg_pubkey k;
        if (key_load_public(path, &k, why, sizeof(why)) < 0) {
            if (problems) json_array_append_new(problems, json_string(why));
            continue;
        }
        if (len != KEY_ID_HEX + 4 || strncmp(e->d_name, k.id, KEY_ID_HEX) != 0) {
            snprintf(why, sizeof(why), "%s: holds key %s but is not named %s.pub; ignored", path,
                     k.id, k.id);
            if (problems) json_array_append_new(problems, json_string(why));
            continue;
        }
        if (*n == TRUST_MAX_KEYS) break;
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            pkg_pubkey *nv = realloc(*keys, cap * sizeof(*nv));
            if (!nv) break;
            *keys = nv;
        }
        (*keys)[(*n)++] = k;
    }
    closedir(d);
    if (*n) qsort(*keys, *n, sizeof(**keys), cmp_keys);
    return 0;
}
