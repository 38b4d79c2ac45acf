#include "kit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sodium.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char **merged_env(const char *const *extra)
{
    size_t n = 0, k = 0;
    while (environ[n])
        n++;
    while (extra && extra[k])
        k++;
    char **env = calloc(n + k + 1, sizeof(*env));
    size_t m = 0;
    for (size_t i = 0; i < k; i++)
        env[m++] = (char *)extra[i];
    for (size_t i = 0; i < n; i++) {
        size_t eq = strcspn(environ[i], "=");
        bool shadowed = false;
        for (size_t j = 0; j < k && !shadowed; j++)
            shadowed = !strncmp(extra[j], environ[i], eq + 1);
        if (!shadowed) env[m++] = environ[i];
    }
    return env;
}

static void append(char **buf, size_t *len, const char *p, size_t n)
{
    char *nb = realloc(*buf, *len + n + 1);
    if (!nb) return;
    memcpy(nb + *len, p, n);
    *len += n;
    nb[*len] = 0;
    *buf = nb;
}

int kit_run(kit_out *r, const char *cwd, const char *const *env, const char *const *argv)
{
    memset(r, 0, sizeof(*r));
    r->status = -1;
    int o[2], e[2];
    if (pipe2(o, O_CLOEXEC) < 0 || pipe2(e, O_CLOEXEC) < 0) return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, o[1], 1);
    posix_spawn_file_actions_adddup2(&fa, e[1], 2);
    if (cwd) posix_spawn_file_actions_addchdir_np(&fa, cwd);
    char **envp = merged_env(env);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    free(envp);
    close(o[1]);
    close(e[1]);
    size_t olen = 0, elen = 0;
    r->out = calloc(1, 1);
    r->err = calloc(1, 1);
    if (rc != 0) {
        close(o[0]);
        close(e[0]);
        return -1;
    }
    struct pollfd p[2] = {{.fd = o[0], .events = POLLIN}, {.fd = e[0], .events = POLLIN}};
    int open_fds = 2;
    char buf[8192];
    while (open_fds) {
        if (poll(p, 2, -1) < 0 && errno != EINTR) break;
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !p[i].revents) continue;
            ssize_t n = read(p[i].fd, buf, sizeof(buf));
            if (n <= 0) {
                close(p[i].fd);
                p[i].fd = -1;
                open_fds--;
                continue;
            }
            if (i == 0)
                append(&r->out, &olen, buf, (size_t)n);
            else
                append(&r->err, &elen, buf, (size_t)n);
        }
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (getenv("KIT_VERBOSE"))
        fprintf(stderr, "kit: %s ... -> %d\n--- stdout\n%s--- stderr\n%s", argv[0], r->status,
                r->out, r->err);
    return r->status;
}

int kit_runl(kit_out *r, const char *cwd, const char *const *env, const char *arg0, ...)
{
    const char *argv[64];
    int n = 0;
    argv[n++] = arg0;
    va_list ap;
    va_start(ap, arg0);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 63)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return kit_run(r, cwd, env, argv);
}

void kit_out_free(kit_out *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

int kit_tmpdir(const char *name, char *buf, size_t len)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(buf, len, "%s/ah-%s-XXXXXX", base, name);
    if (!mkdtemp(buf)) return -1;
    return chmod(buf, 0755);
}

void kit_rmtree(const char *path)
{
    if (getenv("KIT_KEEP") || !path || !*path) return;
    kit_out r;
    kit_runl(&r, NULL, NULL, "rm", "-rf", path, NULL);
    kit_out_free(&r);
}

int kit_write(const char *path, const char *text)
{
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = 0;
        kit_out r;
        kit_runl(&r, NULL, NULL, "mkdir", "-p", dir, NULL);
        kit_out_free(&r);
    }
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

int kit_copy_tree(const char *from, const char *to)
{
    kit_out r;
    int rc = kit_runl(&r, NULL, NULL, "cp", "-r", from, to, NULL);
    kit_out_free(&r);
    return rc == 0 ? 0 : -1;
}

json_t *kit_lines(const char *text)
{
    json_t *a = json_array();
    const char *p = text;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        json_t *o = json_loadb(p, n, 0, NULL);
        if (json_is_object(o))
            json_array_append_new(a, o);
        else
            json_decref(o);
        p = nl ? nl + 1 : NULL;
    }
    return a;
}

json_t *kit_plugin_run(kit_out *r, const char *dir, const char *manifest, const json_t *events,
                       const char *config_json)
{
    char path[1200], config[1200];
    snprintf(path, sizeof(path), "%s/events.jsonl", dir);
    snprintf(config, sizeof(config), "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return json_array();
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e)
    {
        char *line = json_dumps(e, JSON_COMPACT);
        fprintf(f, "%s\n", line);
        free(line);
    }
    fclose(f);
    if (kit_write(config, config_json)) return json_array();
    kit_runl(r, NULL, NULL, KIT_AGENTHOST, "plugin", "run", manifest, "--events", path, "--config",
             config, NULL);
    return kit_lines(r->out);
}

json_t *kit_reply(json_t *lines, int n)
{
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l)
    {
        const char *t = json_string_value(json_object_get(l, "type"));
        if (t && !strcmp(t, "reply") && json_integer_value(json_object_get(l, "line")) == n)
            return l;
    }
    return NULL;
}

char *kit_b64(const void *bytes, size_t n)
{
    size_t len = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
    char *out = malloc(len);
    if (out) sodium_bin2base64(out, len, bytes, n, sodium_base64_VARIANT_ORIGINAL);
    return out;
}

char *kit_b64_file(const char *dir, const char *name)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    unsigned char *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
    char *out = b && fread(b, 1, (size_t)n, f) == (size_t)n ? kit_b64(b, (size_t)n) : NULL;
    fclose(f);
    free(b);
    return out;
}

json_t *kit_find(json_t *lines, const char *type, const char *key, const char *value)
{
    size_t i;
    json_t *o;
    json_array_foreach(lines, i, o)
    {
        const char *t = json_string_value(json_object_get(o, "type"));
        if (!t || strcmp(t, type) != 0) continue;
        if (!key) return o;
        const char *v = json_string_value(json_object_get(o, key));
        if (v && !strcmp(v, value)) return o;
    }
    return NULL;
}

size_t kit_count(json_t *lines, const char *type)
{
    size_t i, n = 0;
    json_t *o;
    json_array_foreach(lines, i, o)
    {
        const char *t = json_string_value(json_object_get(o, "type"));
        n += t && !strcmp(t, type);
    }
    return n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk(const char *root, const char *rel, char ***v, size_t *n, size_t *cap)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[4096], full[4096], line[8192], extra[200] = "";
        snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        snprintf(full, sizeof(full), "%s/%s", root, sub);
        struct stat st;
        if (lstat(full, &st) < 0) continue;
        if (S_ISREG(st.st_mode)) {
            unsigned char h[crypto_hash_sha256_BYTES];
            crypto_hash_sha256_state s;
            crypto_hash_sha256_init(&s);
            int fd = open(full, O_RDONLY | O_CLOEXEC);
            char buf[65536];
            ssize_t k;
            while (fd >= 0 && (k = read(fd, buf, sizeof(buf))) > 0)
                crypto_hash_sha256_update(&s, (unsigned char *)buf, (size_t)k);
            if (fd >= 0) close(fd);
            crypto_hash_sha256_final(&s, h);
            sodium_bin2hex(extra, sizeof(extra), h, sizeof(h));
        } else if (S_ISLNK(st.st_mode)) {
            ssize_t k = readlink(full, extra, sizeof(extra) - 1);
            extra[k > 0 ? k : 0] = 0;
        }
        snprintf(line, sizeof(line), "%s %o %lld %s", sub, (unsigned)st.st_mode,
                 (long long)(S_ISDIR(st.st_mode) ? 0 : st.st_size), extra);
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 64;
            *v = realloc(*v, *cap * sizeof(**v));
        }
        (*v)[(*n)++] = strdup(line);
        if (S_ISDIR(st.st_mode)) walk(root, sub, v, n, cap);
    }
    closedir(d);
}

char *kit_tree_fingerprint(const char *dir)
{
    char **v = NULL;
    size_t n = 0, cap = 0, len = 0;
    walk(dir, "", &v, &n, &cap);
    qsort(v, n, sizeof(*v), cmp_str);
    char *out = calloc(1, 1);
    for (size_t i = 0; i < n; i++) {
        append(&out, &len, v[i], strlen(v[i]));
        append(&out, &len, "\n", 1);
        free(v[i]);
    }
    free(v);
    return out;
}
