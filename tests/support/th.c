#include "th.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

void th_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

long long th_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int mkdirs(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(tmp, 0755);
            *p = '/';
        }
    return mkdir(tmp, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

int th_init(th_host *h, const char *name)
{
    memset(h, 0, sizeof(*h));
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(h->dir, sizeof(h->dir), "%s/ah-%s-XXXXXX", base, name);
    if (!mkdtemp(h->dir)) return -1;
    /* Left 0700, as mkdtemp makes it: a runner started as root must reach
     * plugins below a directory its unprivileged user cannot search. */
    snprintf(h->data, sizeof(h->data), "%s/var", h->dir);
    snprintf(h->logs, sizeof(h->logs), "%s/logs", h->dir);
    snprintf(h->plugins, sizeof(h->plugins), "%s/plugins", h->dir);
    snprintf(h->config, sizeof(h->config), "%s/config.json", h->dir);
    snprintf(h->stderr_path, sizeof(h->stderr_path), "%s/stderr.txt", h->dir);
    h->pid = -1;
    return mkdirs(h->plugins);
}

int th_install_plugin(th_host *h, const char *name)
{
    char src[1024], dst[1024];
    snprintf(src, sizeof(src), "%s/plugins/%s", TH_BUILD_DIR, name);
    snprintf(dst, sizeof(dst), "%s/%s", h->plugins, name);
    return symlink(src, dst);
}

int th_install_dir(th_host *h, const char *src, const char *as)
{
    char cmd[2600];
    snprintf(cmd, sizeof(cmd), "cp -r '%s' '%s/%s'", src, h->plugins, as);
    return system(cmd) == 0 ? 0 : -1;
}

int th_write(th_host *h, const char *rel, const char *content)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", h->dir, rel);
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = 0;
        mkdirs(dir);
    }
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(content, f);
    return fclose(f);
}

int th_config(th_host *h, const char *json_text)
{
    json_error_t je;
    json_t *o = json_loads(json_text, 0, &je);
    if (!o) {
        fprintf(stderr, "th_config: %s\n", je.text);
        return -1;
    }
    json_object_set_new(o, "data_dir", json_string(h->data));
    json_object_set_new(o, "logs_dir", json_string(h->logs));
    json_object_set_new(o, "plugins_dir", json_string(h->plugins));
    if (!json_object_get(o, "listen")) json_object_set_new(o, "listen", json_string("127.0.0.1:0"));
    int rc = json_dump_file(o, h->config, JSON_INDENT(2));
    json_decref(o);
    return rc;
}

static int spawn_wait(const char *const *argv, const char *stdin_text, char *out, size_t outlen,
                      const char *const *envp)
{
    int in[2], outp[2];
    if (pipe(in) < 0 || pipe(outp) < 0) return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    posix_spawn_file_actions_addclose(&fa, outp[0]);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv,
                         envp ? (char *const *)envp : environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(outp[1]);
    if (rc != 0) {
        close(in[1]);
        close(outp[0]);
        return -1;
    }
    if (stdin_text) {
        ssize_t w = write(in[1], stdin_text, strlen(stdin_text));
        (void)w;
    }
    close(in[1]);
    size_t n = 0;
    char buf[4096];
    ssize_t r;
    while ((r = read(outp[0], buf, sizeof(buf))) > 0) {
        if (out && n + (size_t)r < outlen) {
            memcpy(out + n, buf, (size_t)r);
            n += (size_t)r;
        }
    }
    if (out && outlen) out[n] = 0;
    close(outp[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int th_cli(th_host *h, const char *stdin_text, char *out, size_t outlen, ...)
{
    const char *argv[64];
    char bin[1024];
    snprintf(bin, sizeof(bin), "%s/agenthost", TH_BUILD_DIR);
    int n = 0;
    argv[n++] = bin;
    va_list ap;
    va_start(ap, outlen);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 60)
        argv[n++] = a;
    va_end(ap);
    argv[n++] = "--data";
    argv[n++] = h->data;
    /* Commands that log (audit lines) read the host's config for its logs
     * directory: the one the host under test writes. */
    static const char *const with_config[] = {"token", "secret", "keys"};
    struct stat cst;
    for (size_t i = 0; n > 1 && i < sizeof(with_config) / sizeof(with_config[0]); i++)
        if (!strcmp(argv[1], with_config[i]) && stat(h->config, &cst) == 0) {
            argv[n++] = "--config";
            argv[n++] = h->config;
        }
    argv[n] = NULL;
    return spawn_wait(argv, stdin_text, out, outlen, NULL);
}

int th_set_secret(th_host *h, const char *instance, const char *key, const char *value)
{
    char *in = NULL;
    if (asprintf(&in, "%s\n", value) < 0) return -1;
    int rc = th_cli(h, in, NULL, 0, "secret", "set", instance, key, NULL);
    free(in);
    return rc;
}

int th_make_user(th_host *h, const char *email, const char *role, const char *password, char *id,
                 size_t n)
{
    char *in = NULL;
    if (asprintf(&in, "%s\n", password) < 0) return -1;
    int rc =
        th_cli(h, in, id, id ? n : 0, "user", "create", "--email", email, "--role", role, NULL);
    free(in);
    if (id && n) id[strcspn(id, "\n")] = 0;
    return rc;
}

int th_make_token(th_host *h)
{
    char out[256];
    int rc = th_cli(h, NULL, out, sizeof(out), "token", "create", "--name", "test", NULL);
    if (rc != 0) return -1;
    out[strcspn(out, "\n")] = 0;
    snprintf(h->token, sizeof(h->token), "%s", out);
    return 0;
}

static int find_port(th_host *h)
{
    char *text = th_read(h, "logs/host.log");
    if (!text) return 0;
    int port = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strstr(line, "listening on")) continue;
        json_t *o = json_loads(line, 0, NULL);
        if (o) port = (int)json_integer_value(json_object_get(o, "port"));
        json_decref(o);
    }
    free(text);
    return port;
}

int th_spawn_serve(th_host *h, const char *const *env)
{
    if (!h->token[0] && th_make_token(h) < 0) return -1;
    char bin[1024];
    snprintf(bin, sizeof(bin), "%s/agenthost", TH_BUILD_DIR);
    /* TH_HOST_WRAP: words put before the host's command (a profiler:
     * "valgrind --tool=callgrind ..."), split at spaces, at most 8. */
    char wrap[1024];
    snprintf(wrap, sizeof(wrap), "%s", getenv("TH_HOST_WRAP") ? getenv("TH_HOST_WRAP") : "");
    const char *argv[24] = {0};
    int a = 0;
    for (char *save, *w = strtok_r(wrap, " ", &save); w && a < 8; w = strtok_r(NULL, " ", &save))
        argv[a++] = w;
    const char *exe = a ? argv[0] : bin;
    argv[a++] = bin, argv[a++] = "serve", argv[a++] = "--config", argv[a++] = h->config;
    for (int i = 0; h->serve_args && h->serve_args[i] && i < 11; i++)
        argv[a++] = h->serve_args[i];
    /* The host's log file is how the port is found: start from empty. */
    char hostlog[1024];
    snprintf(hostlog, sizeof(hostlog), "%s/host.log", h->logs);
    unlink(hostlog);
    const char *envp[64];
    int n = 0;
    /* Extra settings first: getenv() finds the first of duplicates. */
    for (const char *const *e = env; e && *e && n < 12; e++)
        envp[n++] = *e;
    for (char **e = environ; *e && n < 63; e++)
        envp[n++] = *e;
    envp[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, h->stderr_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawnp(&h->pid, exe, &fa, NULL, (char *const *)argv, (char *const *)envp);
    posix_spawn_file_actions_destroy(&fa);
    return rc == 0 ? h->pid : -1;
}

int th_wait_exit(th_host *h, int timeout_ms)
{
    long long deadline = th_now_ms() + timeout_ms;
    while (h->pid > 0 && th_now_ms() < deadline) {
        int status;
        if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
            h->pid = -1;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        th_sleep_ms(10);
    }
    return -1;
}

int th_start(th_host *h, const char *const *env, int timeout_ms)
{
    h->port = 0;
    if (th_spawn_serve(h, env) < 0) return -1;
    long long deadline = th_now_ms() + timeout_ms;
    while (th_now_ms() < deadline) {
        int status;
        if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
            h->pid = -1;
            h->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            return -1;
        }
        h->port = find_port(h);
        if (h->port > 0) return 0;
        th_sleep_ms(20);
    }
    return -1;
}

int th_stop(th_host *h, int timeout_ms)
{
    if (h->pid <= 0) return -1;
    kill(h->pid, SIGTERM);
    long long deadline = th_now_ms() + timeout_ms;
    while (th_now_ms() < deadline) {
        int status;
        if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
            h->pid = -1;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        th_sleep_ms(20);
    }
    th_kill(h);
    return -1;
}

int th_stop_clean(th_host *h, int timeout_ms)
{
    int rc = th_stop(h, timeout_ms);
    if (rc != 0) {
        char *err = th_read(h, "stderr.txt");
        size_t n = err ? strlen(err) : 0;
        fprintf(stderr, "th: the host exited with status %d; the end of its stderr:\n%s\n", rc,
                err ? err + (n > 4000 ? n - 4000 : 0) : "(none)");
        free(err);
    }
    return rc;
}

int th_start_echo_with_dead_letters(th_host *h, const char *name, const char *hook_secret)
{
    /* The contract suites call every route once without a token: more
     * failed authentications than the default throttle allows a minute,
     * and than block the address (http.block_after). */
    static const char *config_json =
        "{\"bus\": {\"max_attempts\": 1, \"backoff_ms\": 10},"
        " \"webhooks\": {\"allow\": [{\"scheme\": \"https\", \"host\": \"hooks.example.com\"}]},"
        " \"http\": {\"auth_fail_limit\": 10000, \"block_after\": 0},"
        " \"webchat\": {\"script\": \"/nonexistent/widget.js\"},"
        " \"instances\": [{\"id\": \"echo\", \"plugin\": \"echo\", \"config\": "
        "{\"diagnostics\": true}, \"restart\": {\"backoff_ms\": 20, \"max_crashes\": 50},"
        " \"consumer\": {\"start\": \"earliest\"}}]}";
    /* jq: the expression workers that check and run scenarios' expressions. */
    if (th_init(h, name) || th_install_plugin(h, "echo") || th_install_plugin(h, "jq") ||
        th_config(h, config_json) ||
        th_cli(h, hook_secret, NULL, 0, "secret", "set", "echo", "webhook_secret", NULL) ||
        th_start(h, NULL, 15000) || !th_wait_state(h, "echo", "ready", 10000))
        return -1;
    json_t *o = NULL;
    if (th_http(h, "POST", "/api/v1/topics/echo.in/events",
                "[{\"body\":{\"crash\":true}},{\"body\":{\"crash\":true}}]", NULL, &o) != 201)
        return -1;
    json_decref(o);
    return th_wait_depth(h, "$dlq.echo.in", 2, 20000) && th_wait_state(h, "echo", "ready", 10000)
               ? 0
               : -1;
}

void th_kill(th_host *h)
{
    if (h->pid > 0) {
        kill(h->pid, SIGKILL);
        waitpid(h->pid, NULL, 0);
        h->pid = -1;
    }
}

void th_cleanup(th_host *h)
{
    th_kill(h);
    if (getenv("TH_KEEP") || !h->dir[0]) return;
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", h->dir);
    if (system(cmd) != 0) fprintf(stderr, "th_cleanup: cannot remove %s\n", h->dir);
}

typedef struct rbuf {
    char *p;
    size_t n;
} rbuf;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    rbuf *b = ud;
    size_t k = size * nmemb;
    char *np = realloc(b->p, b->n + k + 1);
    if (!np) return 0;
    b->p = np;
    memcpy(b->p + b->n, ptr, k);
    b->n += k;
    b->p[b->n] = 0;
    return k;
}

int th_http_raw(th_host *h, const char *method, const char *path, const char *content_type,
                const char *body, size_t body_len, const char *const *headers, char **resp_headers,
                char **resp_body)
{
    CURL *c = curl_easy_init();
    if (!c) return 0;
    char url[2300];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", h->port, path);
    rbuf hb = {0}, bb = {0};
    struct curl_slist *hl = NULL;
    char ct[256];
    if (content_type) {
        snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
        hl = curl_slist_append(hl, ct);
    }
    for (const char *const *p = headers; p && *p; p++)
        hl = curl_slist_append(hl, *p);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    if (!strcmp(method, "HEAD")) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &bb);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hb);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (resp_headers)
        *resp_headers = hb.p;
    else
        free(hb.p);
    if (resp_body)
        *resp_body = bb.p;
    else
        free(bb.p);
    return (int)status;
}

double th_metric(th_host *h, const char *name)
{
    char *body = NULL;
    double v = -1;
    if (th_http_raw(h, "GET", "/metrics", NULL, NULL, 0, NULL, NULL, &body) == 200 && body) {
        size_t n = strlen(name);
        for (const char *p = body; (p = strstr(p, name)) != NULL; p += n)
            if ((p == body || p[-1] == '\n') && p[n] == ' ') {
                v = atof(p + n + 1);
                break;
            }
    }
    free(body);
    return v;
}

int th_http(th_host *h, const char *method, const char *path, const char *body, const char *token,
            json_t **out)
{
    char auth[256];
    const char *t = token ? token : h->token;
    const char *headers[2] = {NULL, NULL};
    if (t && *t) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", t);
        headers[0] = auth;
    }
    char *rb = NULL;
    int status = th_http_raw(h, method, path, body ? "application/json" : NULL, body,
                             body ? strlen(body) : 0, headers, NULL, &rb);
    if (out) *out = rb ? json_loads(rb, JSON_DECODE_ANY, NULL) : NULL;
    free(rb);
    return status;
}

int th_call(th_host *h, const char *id, const char *action, const char *args, json_t **out)
{
    char path[512];
    snprintf(path, sizeof(path), "/api/v1/instances/%s/actions/%s", id, action);
    return th_http(h, "POST", path, args ? args : "{}", NULL, out);
}

int th_call_traced(th_host *h, const char *id, const char *action, const char *args,
                   const char *request_id)
{
    char path[512], auth[300], rid[200];
    snprintf(path, sizeof(path), "/api/v1/instances/%s/actions/%s", id, action);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", h->token);
    snprintf(rid, sizeof(rid), "X-Request-Id: %s", request_id);
    const char *hdrs[] = {auth, rid, NULL};
    return th_http_raw(h, "POST", path, "application/json", args, strlen(args), hdrs, NULL, NULL);
}

const char *th_state(th_host *h, const char *id)
{
    static char state[32];
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/instances/%s", id);
    json_t *o = NULL;
    state[0] = 0;
    if (th_http(h, "GET", path, NULL, NULL, &o) == 200)
        snprintf(state, sizeof(state), "%s", json_string_value(json_object_get(o, "state")) ?: "");
    json_decref(o);
    return state;
}

bool th_wait_state(th_host *h, const char *id, const char *state, int timeout_ms)
{
    long long deadline = th_now_ms() + timeout_ms;
    do {
        if (!strcmp(th_state(h, id), state)) return true;
        th_sleep_ms(25);
    } while (th_now_ms() < deadline);
    fprintf(stderr, "th_wait_state: %s is \"%s\", wanted \"%s\"\n", id, th_state(h, id), state);
    return false;
}

int th_start_fault(th_host *h, const char *point, int timeout_ms)
{
    char e1[300], e2[1100];
    snprintf(e1, sizeof(e1), "AGENTHOST_FAULT=%s", point);
    snprintf(e2, sizeof(e2), "AGENTHOST_FAULT_MARK=%s/fault.mark", h->dir);
    const char *env[] = {e1, e2, NULL};
    char mark[1050];
    snprintf(mark, sizeof(mark), "%s/fault.mark", h->dir);
    unlink(mark);
    return th_start(h, env, timeout_ms);
}

bool th_died_at(th_host *h, const char *point, int timeout_ms)
{
    if (th_wait_exit(h, timeout_ms) == -1) return false;
    char *m = th_read(h, "fault.mark");
    bool at = m && strstr(m, point);
    free(m);
    return at;
}

char *th_read(th_host *h, const char *rel)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", h->dir, rel);
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    size_t cap = 65536, n = 0;
    char *p = malloc(cap + 1);
    size_t r;
    while (p && (r = fread(p + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            char *np = realloc(p, cap + 1);
            if (!np) {
                free(p);
                p = NULL;
                break;
            }
            p = np;
        }
    }
    fclose(f);
    if (p) p[n] = 0;
    return p;
}

bool th_file_contains(th_host *h, const char *rel, const char *needle)
{
    char *t = th_read(h, rel);
    bool hit = t && strstr(t, needle);
    free(t);
    return hit;
}

bool th_file_line_contains(th_host *h, const char *rel, const char *a, const char *b)
{
    char *t = th_read(h, rel);
    bool found = false;
    for (char *line = t; line && *line && !found;) {
        char *end = strchr(line, '\n');
        if (end) *end = 0;
        found = strstr(line, a) && strstr(line, b);
        line = end ? end + 1 : NULL;
    }
    free(t);
    return found;
}

bool th_wait_file(th_host *h, const char *rel, const char *needle, int timeout_ms)
{
    long long deadline = th_now_ms() + timeout_ms;
    do {
        if (th_file_contains(h, rel, needle)) return true;
        th_sleep_ms(25);
    } while (th_now_ms() < deadline);
    fprintf(stderr, "th_wait_file: %s never contained \"%s\"\n", rel, needle);
    return false;
}

static bool dir_contains(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    if (!d) return false;
    bool hit = false;
    struct dirent *e;
    while (!hit && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[2048];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) < 0) continue;
        if (S_ISDIR(st.st_mode)) {
            hit = dir_contains(path, needle);
            continue;
        }
        FILE *f = fopen(path, "r");
        if (!f) continue;
        char *buf = malloc((size_t)st.st_size + 1);
        size_t n = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
        fclose(f);
        if (buf) {
            buf[n] = 0;
            hit = memmem(buf, n, needle, strlen(needle)) != NULL;
            free(buf);
        }
    }
    closedir(d);
    return hit;
}

bool th_logs_contain(th_host *h, const char *needle)
{
    return dir_contains(h->logs, needle);
}

json_t *th_get(json_t *o, const char *path)
{
    char tmp[256];
    snprintf(tmp, sizeof(tmp), "%s", path);
    json_t *cur = o;
    for (char *tok = strtok(tmp, "."); tok && cur; tok = strtok(NULL, ".")) {
        if (json_is_array(cur))
            cur = json_array_get(cur, (size_t)strtoul(tok, NULL, 10));
        else
            cur = json_object_get(cur, tok);
    }
    return cur;
}

long long th_topic_depth(th_host *h, const char *topic)
{
    char path[300];
    snprintf(path, sizeof(path), "/api/v1/topics/%s", topic);
    json_t *o = NULL;
    long long d = th_http(h, "GET", path, NULL, NULL, &o) == 200
                      ? (long long)json_integer_value(json_object_get(o, "depth"))
                      : -1;
    json_decref(o);
    return d;
}

bool th_wait_depth(th_host *h, const char *topic, long long n, int timeout_ms)
{
    long long deadline = th_now_ms() + timeout_ms;
    do {
        if (th_topic_depth(h, topic) >= n) return true;
        th_sleep_ms(25);
    } while (th_now_ms() < deadline);
    return false;
}

char *th_read_source(const char *rel)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/%s", TH_SOURCE_DIR, rel);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = n >= 0 ? calloc(1, (size_t)n + 1) : NULL;
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) b[0] = 0;
    fclose(f);
    return b;
}

int th_save_version(th_host *h, const char *scenario_id, const char *content)
{
    char path[200], *body = NULL;
    snprintf(path, sizeof(path), "/api/v1/scenarios/%s/versions", scenario_id);
    if (asprintf(&body, "{\"content\": %s}", content) < 0) return -1;
    json_t *o = NULL;
    int st = th_http(h, "POST", path, body, NULL, &o);
    free(body);
    json_decref(o);
    return st;
}

int th_make_agent(th_host *h, const char *name, const char *content, const char *extra, char *agent,
                  size_t n)
{
    json_t *o = NULL;
    json_t *sb = json_pack("{s:s}", "name", name);
    char *body = json_dumps(sb, 0), *ver = NULL, *ab = NULL;
    json_decref(sb);
    int st = th_http(h, "POST", "/api/v1/scenarios", body, NULL, &o);
    free(body);
    if (st != 201) {
        fprintf(stderr, "th_make_agent %s: the scenario: %d\n", name, st);
        json_decref(o);
        return -1;
    }
    char scn[64], path[200];
    snprintf(scn, sizeof(scn), "%s", json_string_value(json_object_get(o, "id")));
    json_decref(o);
    snprintf(path, sizeof(path), "/api/v1/scenarios/%s/versions", scn);
    if (asprintf(&ver, "{\"message\": \"first\", \"content\": %s}", content) < 0) return -1;
    st = th_http(h, "POST", path, ver, NULL, &o);
    free(ver);
    if (st != 201) {
        char *d = json_dumps(o, 0);
        fprintf(stderr, "th_make_agent %s: the version: %d %s\n", name, st, d ? d : "");
        free(d);
        json_decref(o);
        return -1;
    }
    json_decref(o);
    if (asprintf(&ab,
                 "{\"name\": \"%s\", \"status\": \"active\", \"default_language\": \"en\", "
                 "\"languages\": [\"en\", \"ru\"], \"scenario\": {\"scenario_id\": \"%s\"}%s%s}",
                 name, scn, extra ? ", " : "", extra ? extra : "") < 0)
        return -1;
    st = th_http(h, "POST", "/api/v1/agents", ab, NULL, &o);
    free(ab);
    if (st != 201) {
        fprintf(stderr, "th_make_agent %s: the agent: %d\n", name, st);
        json_decref(o);
        return -1;
    }
    snprintf(agent, n, "%s", json_string_value(json_object_get(o, "id")));
    json_decref(o);
    return 0;
}

int th_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}
