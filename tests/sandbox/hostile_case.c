/*
 * hostile_case.c - see hostile_case.h.
 */
#include "hostile_case.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define SETTLE_MS 15000
#define ATTESTATION "agenthost-runner: confinement before loading the plugin: "

static th_host H;
static bool g_running;
static bool g_unconfined, g_ci;
static int g_noticed;
/* Senders of the SIGURG this process received (kill(-1) reaches every
 * process, including the other mode's test running beside this one: only
 * a sender from this case's host counts). */
#define MAX_SENDERS 32
static volatile sig_atomic_t g_nsenders;
static volatile pid_t g_senders[MAX_SENDERS];
static int g_listener = -1;
static char g_canary[64]; /* AHCANARY=<random>, in the host's environment */
static char g_canary_hex[160];
static char g_shadow_hex[80]; /* the first bytes of /etc/shadow, "" if unreadable */
static char g_key_hex[80];    /* the first bytes of the host's master key */
static json_t *g_reply;       /* the attack call's answer (freed by hc_stop) */

/* ---- modes and checks ---------------------------------------------------- */

bool hc_unconfined(void)
{
    return g_unconfined;
}

bool hc_ci(void)
{
    return g_ci;
}

static void on_sigurg(int sig, siginfo_t *si, void *uctx)
{
    (void)sig;
    (void)uctx;
    if (g_nsenders < MAX_SENDERS) g_senders[g_nsenders++] = si->si_pid;
}

/* Is pid the host of this case or one of its descendants? */
static bool from_this_host(pid_t pid)
{
    for (int depth = 0; depth < 8 && pid > 1; depth++) {
        if (pid == H.pid) return true;
        char path[64], buf[512];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "re");
        if (!f) return false;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        char *p = strrchr(buf, ')');
        int ppid = 0;
        if (!p || sscanf(p + 2, "%*c %d", &ppid) != 1) return false;
        pid = ppid;
    }
    return false;
}

static bool signalled_by_this_host(void)
{
    for (int i = 0; i < g_nsenders && i < MAX_SENDERS; i++)
        if (from_this_host(g_senders[i])) return true;
    return false;
}

static void hex(const unsigned char *p, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 3 <= cap; i++)
        k += (size_t)snprintf(out + k, cap - k, "%02x", p[i]);
    out[k] = 0;
}

static size_t read_prefix(const char *path, unsigned char *buf, size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t r = read(fd, buf, n);
    close(fd);
    return r > 0 ? (size_t)r : 0;
}

void hc_global_setup(void)
{
    const char *ns = getenv("AGENTHOST_TEST_NO_SANDBOX");
    const char *ci = getenv("CI");
    g_unconfined = ns && !strcmp(ns, "1");
    g_ci = ci && !strcmp(ci, "true");
    unsigned char rnd[8], buf[24];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) memset(rnd, 0x5a, sizeof(rnd));
    char r[20];
    hex(rnd, sizeof(rnd), r, sizeof(r));
    snprintf(g_canary, sizeof(g_canary), "AHCANARY=%s", r);
    hex((const unsigned char *)g_canary, strlen(g_canary), g_canary_hex, sizeof(g_canary_hex));
    size_t n = read_prefix("/etc/shadow", buf, sizeof(buf));
    hex(buf, n, g_shadow_hex, sizeof(g_shadow_hex));
    struct sigaction sa = {.sa_sigaction = on_sigurg, .sa_flags = SA_SIGINFO};
    sigaction(SIGURG, &sa, NULL);
    /* Soft 0 (no core files), hard unlimited: a runner that kept these
     * limits could turn core dumps on. */
    struct rlimit rl = {.rlim_cur = 0, .rlim_max = RLIM_INFINITY};
    setrlimit(RLIMIT_CORE, &rl);
}

/* A check of the attack's effect. Confined: it must hold. Unconfined: a
 * failing one is the attack noticed. */
static void check(bool ok, const char *what, ...)
{
    if (ok) return;
    char msg[512];
    va_list ap;
    va_start(ap, what);
    vsnprintf(msg, sizeof(msg), what, ap);
    va_end(ap);
    if (g_unconfined) {
        g_noticed++;
        fprintf(stderr, "    noticed without the sandbox: %s\n", msg);
        return;
    }
    fail_msg("%s", msg);
}

/* ---- the host ------------------------------------------------------------ */

static int listen_local(int *port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 8) < 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) < 0) {
        if (s >= 0) close(s);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return s;
}

static void start(const char *attack, const char *when, const char *limits, const char *runner)
{
    assert_int_equal(th_init(&H, "sandbox"), 0);
    /* Searchable by the plugin's unprivileged user, so that breach/ below
     * is within its reach were the filters not there. */
    chmod(H.dir, 0755);
    g_running = true;
    g_nsenders = 0;
    assert_int_equal(th_install_plugin(&H, "echo"), 0);
    assert_int_equal(th_install_dir(&H, TH_BUILD_DIR "/tests/plugins/hostile", "hostile"), 0);
    char path[700];
    snprintf(path, sizeof(path), "%s/breach/mnt", H.dir);
    assert_int_equal(th_write(&H, "breach/.keep", ""), 0);
    assert_int_equal(mkdir(path, 0777), 0);
    snprintf(path, sizeof(path), "%s/breach", H.dir);
    chmod(path, 0777);
    int port = 0;
    g_listener = listen_local(&port);
    assert_true(g_listener >= 0);
    char conf[1200];
    snprintf(conf, sizeof(conf), "attack=%s\nwhen=%s\nport=%d\nroot=%s\n", attack, when, port,
             H.dir);
    assert_int_equal(th_write(&H, "plugins/hostile/attack.conf", conf), 0);
    char runner_json[900] = "";
    if (runner) {
        char link[700];
        snprintf(link, sizeof(link), "%s/%s", H.dir, runner);
        assert_int_equal(symlink(DENY_RUNNER, link), 0);
        snprintf(runner_json, sizeof(runner_json), "\"runner\": \"%s\",", link);
    }
    char cfg[2200];
    snprintf(cfg, sizeof(cfg),
             "{%s \"supervisor\": {\"ping_interval_ms\": 200, \"shutdown_grace_ms\": 1000},"
             " \"instances\": ["
             "  {\"id\": \"hostile\", \"plugin\": \"hostile\", \"limits\": %s},"
             "  {\"id\": \"neighbour\", \"plugin\": \"echo\"}]}",
             runner_json, limits ? limits : "{}");
    assert_int_equal(th_config(&H, cfg), 0);
    const char *const env[] = {g_canary, NULL};
    if (th_start(&H, env, 30000) != 0) {
        /* Unconfined, a constructor may kill the host as it starts. */
        if (!g_unconfined || H.pid > 0) {
            char *err = th_read(&H, "stderr.txt");
            fail_msg("the host did not start (%s, status %d): %s",
                     H.pid > 0 ? "no port" : "it exited", H.exit_status, err ? err : "");
        }
        g_noticed++;
        fprintf(stderr, "    noticed without the sandbox: the host died while starting\n");
    }
    unsigned char key[24];
    char kp[700];
    snprintf(kp, sizeof(kp), "%s/var/master.key", H.dir);
    size_t n = read_prefix(kp, key, sizeof(key));
    hex(key, n, g_key_hex, sizeof(g_key_hex));
}

th_host *hc_start_with_runner(const char *runner, const char *attack, bool in_ctor)
{
    start(attack, in_ctor ? "ctor" : "call", NULL, runner);
    return &H;
}

th_host *hc_start_idle(void)
{
    start("none", "none", NULL, NULL);
    assert_true(th_wait_state(&H, "hostile", "ready", 10000));
    assert_true(th_wait_state(&H, "neighbour", "ready", 10000));
    return &H;
}

static bool mounted_in_breach(void)
{
    char *mi = NULL;
    size_t cap = 0;
    FILE *f = fopen("/proc/self/mountinfo", "re");
    bool hit = false;
    char needle[700];
    snprintf(needle, sizeof(needle), " %s/breach/mnt ", H.dir);
    while (f && getline(&mi, &cap, f) > 0)
        hit = hit || strstr(mi, needle);
    free(mi);
    if (f) fclose(f);
    return hit;
}

void hc_stop(void)
{
    if (!g_running) return;
    g_running = false;
    /* Confined, nothing a plugin does may upset the host's own exit. */
    bool unclean = H.pid > 0 && th_stop_clean(&H, 5000) != 0 && !g_unconfined;
    if (mounted_in_breach()) {
        char p[700];
        snprintf(p, sizeof(p), "%s/breach/mnt", H.dir);
        umount2(p, MNT_DETACH);
    }
    if (g_listener >= 0) close(g_listener);
    g_listener = -1;
    json_decref(g_reply);
    g_reply = NULL;
    th_cleanup(&H);
    if (unclean) fail_msg("the host did not stop clean (exit status above)");
}

static bool host_alive(void)
{
    if (H.pid <= 0) return false;
    int status;
    if (waitpid(H.pid, &status, WNOHANG) == H.pid) {
        H.pid = -1;
        return false;
    }
    return th_http(&H, "GET", "/health", NULL, "", NULL) == 200;
}

/* ---- what the logs and the API say ----------------------------------------- */

bool hc_violation_logged(th_host *h, const char *instance, const char *syscall)
{
    char *t = th_read(h, "logs/security.log");
    bool hit = false;
    for (char *line = t ? strtok(t, "\n") : NULL; line && !hit; line = strtok(NULL, "\n")) {
        json_t *o = json_loads(line, 0, NULL);
        hit =
            o &&
            !strcmp(json_string_value(json_object_get(o, "event")) ?: "", "seccomp_violation") &&
            !strcmp(json_string_value(json_object_get(o, "instance")) ?: "", instance) &&
            (!syscall || !strcmp(json_string_value(json_object_get(o, "syscall")) ?: "", syscall));
        json_decref(o);
    }
    free(t);
    return hit;
}

/* Every violation of `instance` names `syscall`. */
static bool only_violations_of(const char *instance, const char *syscall)
{
    char *t = th_read(&H, "logs/security.log");
    bool ok = true;
    for (char *line = t ? strtok(t, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        json_t *o = json_loads(line, 0, NULL);
        if (o &&
            !strcmp(json_string_value(json_object_get(o, "event")) ?: "", "seccomp_violation") &&
            !strcmp(json_string_value(json_object_get(o, "instance")) ?: "", instance) &&
            strcmp(json_string_value(json_object_get(o, "syscall")) ?: "", syscall) != 0)
            ok = false;
        json_decref(o);
    }
    free(t);
    return ok;
}

static bool event_logged(const char *instance, const char *event)
{
    char *t = th_read(&H, "logs/security.log");
    bool hit = false;
    for (char *line = t ? strtok(t, "\n") : NULL; line && !hit; line = strtok(NULL, "\n")) {
        json_t *o = json_loads(line, 0, NULL);
        hit = o && !strcmp(json_string_value(json_object_get(o, "event")) ?: "", event) &&
              !strcmp(json_string_value(json_object_get(o, "instance")) ?: "", instance);
        json_decref(o);
    }
    free(t);
    return hit;
}

static bool attestation_ok(json_t *c, const char **why)
{
    json_t *ns = json_object_get(c, "namespaces");
    if (!json_is_true(json_object_get(c, "sandbox")))
        *why = "the runner was not confined";
    else if (json_integer_value(json_object_get(c, "seccomp_filters")) != 1)
        *why = "the first seccomp filter was not on before the plugin was loaded";
    else if (!json_is_true(json_object_get(c, "no_new_privs")))
        *why = "no_new_privs was not set";
    else if (geteuid() == 0 && !json_is_true(json_object_get(c, "uid_drop")))
        *why = "the runner kept the host's root identity";
    else if (g_ci && json_array_size(json_object_get(c, "fallbacks")) != 0)
        *why = "CI=true and a best-effort layer fell back";
    else if (g_ci && !(json_is_true(json_object_get(ns, "user")) &&
                       json_is_true(json_object_get(ns, "pid")) &&
                       json_is_true(json_object_get(ns, "net")) &&
                       json_is_true(json_object_get(ns, "ipc")) &&
                       json_is_true(json_object_get(ns, "mount")) &&
                       json_integer_value(json_object_get(c, "landlock")) > 0))
        *why = "CI=true and a namespace or Landlock is missing";
    else
        return true;
    return false;
}

bool hc_attested(th_host *h, const char *instance, const char **why)
{
    char rel[128];
    snprintf(rel, sizeof(rel), "logs/plugins/%s.log", instance);
    char *t = th_read(h, rel);
    int records = 0;
    bool ok = true;
    *why = "no confinement record in the plugin's log";
    for (char *line = t ? strtok(t, "\n") : NULL; line && ok; line = strtok(NULL, "\n")) {
        json_t *o = json_loads(line, 0, NULL);
        const char *msg = json_string_value(json_object_get(o, "msg"));
        if (msg && !strncmp(msg, ATTESTATION, strlen(ATTESTATION))) {
            json_t *c = json_loads(msg + strlen(ATTESTATION), 0, NULL);
            records++;
            if (!c) {
                *why = "a confinement record is not JSON";
                ok = false;
            } else {
                ok = attestation_ok(c, why);
            }
            json_decref(c);
        }
        json_decref(o);
    }
    free(t);
    return ok && records > 0;
}

static char *instance_field(const char *id, const char *field)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/instances/%s", id);
    json_t *o = NULL;
    char *v = NULL;
    if (th_http(&H, "GET", path, NULL, NULL, &o) == 200) {
        const char *s = json_string_value(json_object_get(o, field));
        v = strdup(s ? s : "");
    }
    json_decref(o);
    return v ? v : strdup("");
}

static bool last_error_has(const char *text)
{
    char *e = instance_field("hostile", "last_error");
    bool hit = strstr(e, text) != NULL;
    free(e);
    return hit;
}

/* ---- running a case ------------------------------------------------------------ */

static bool done_line(const char *attack)
{
    char needle[128];
    snprintf(needle, sizeof(needle), "HOSTILE %s done:", attack);
    return th_file_contains(&H, "logs/plugins/hostile.log", needle);
}

/* The constructor's attack has played out: the host is gone, the instance
 * has stopped for good, or the attack returned and the plugin is ready. */
static void settle_ctor(const hc_case *c)
{
    long long deadline = th_now_ms() + SETTLE_MS;
    while (th_now_ms() < deadline) {
        if (!host_alive()) return;
        char *st = instance_field("hostile", "state");
        bool over = !strcmp(st, "quarantined") || !strcmp(st, "failed") || !strcmp(st, "stopped");
        bool ready = !strcmp(st, "ready");
        free(st);
        if (over || (ready && done_line(c->attack))) return;
        th_sleep_ms(50);
    }
}

static int call_attack(const hc_case *c, json_t **reply)
{
    int timeout = c->expect == HC_STALLED ? 1000 : c->expect == HC_SIGNALLED ? 15000 : 5000;
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/instances/hostile/actions/attack?timeout_ms=%d", timeout);
    return th_http(&H, "POST", path, "{}", NULL, reply);
}

static const char *error_message(json_t *reply)
{
    return json_string_value(th_get(reply, "error.message")) ?: "";
}

/* What this kind of attack must end in. */
static void check_outcome(const hc_case *c, int status, json_t *reply)
{
    bool call = !c->in_ctor;
    switch (c->expect) {
    case HC_TRAP:
        check(hc_violation_logged(&H, "hostile", c->what), "security.log does not name %s",
              c->what);
        check(only_violations_of("hostile", c->what), "security.log names a syscall other than %s",
              c->what);
        if (call) {
            char want[96];
            snprintf(want, sizeof(want), "seccomp violation: %s", c->what);
            check(status == 503 && strstr(error_message(reply), want),
                  "the call did not fail with \"%s\" (status %d)", want, status);
        }
        break;
    case HC_REFUSED:
        check(!hc_violation_logged(&H, "hostile", NULL), "a refusal was logged as a violation");
        if (call)
            check(status == 200 && json_is_false(th_get(reply, "result.breach")) &&
                      strstr(json_string_value(th_get(reply, "result.detail")) ?: "", c->what),
                  "the call did not answer a refusal (\"%s\", status %d)", c->what, status);
        else
            check(done_line(c->attack) && !strcmp(th_state(&H, "hostile"), "ready") &&
                      th_file_contains(&H, "logs/plugins/hostile.log", c->what),
                  "the constructor did not report a refusal (\"%s\")", c->what);
        break;
    case HC_SIGNALLED:
        check(last_error_has(c->what), "the instance did not end with \"%s\"", c->what);
        if (call) check(status == 503, "the call did not fail (status %d)", status);
        break;
    case HC_STALLED:
        check(last_error_has(c->what), "the host's deadline did not end it (\"%s\")", c->what);
        break;
    case HC_PROTOCOL:
        check(event_logged("hostile", "protocol_violation"),
              "security.log has no protocol violation");
        check(last_error_has(c->what), "the instance did not end with \"%s\"", c->what);
        break;
    case HC_EXITED:
        check(last_error_has(c->what), "the exit was not reported (\"%s\")", c->what);
        if (call) check(status == 503, "the call did not fail (status %d)", status);
        break;
    }
}

/* Nothing the attack could have touched was touched. */
static void check_no_side_effect(void)
{
    static const char *const files[] = {"breach/written", "breach/exec", "breach/forked"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char *t = th_read(&H, files[i]);
        check(!t, "the plugin created %s", files[i]);
        free(t);
    }
    int conn = accept4(g_listener, NULL, NULL, SOCK_CLOEXEC);
    check(conn < 0 && (errno == EAGAIN || errno == EWOULDBLOCK),
          "the listener accepted a connection");
    if (conn >= 0) close(conn);
    check(!signalled_by_this_host(), "the test process received the plugin's kill(-1, SIGURG)");
    check(!mounted_in_breach(), "the plugin mounted a file system");
    check(!th_logs_contain(&H, "BREACH"), "the plugin reports a BREACH in its log");
    check(!th_logs_contain(&H, g_canary_hex), "the host's environment leaked into a log");
    check(!g_shadow_hex[0] || !th_logs_contain(&H, g_shadow_hex), "/etc/shadow leaked into a log");
    check(!g_key_hex[0] || !th_logs_contain(&H, g_key_hex), "the master key leaked into a log");
}

static void check_bystanders(void)
{
    check(host_alive(), "the host is dead");
    if (H.pid <= 0) return;
    th_wait_state(&H, "neighbour", "ready", 10000); /* it may have started after the attack */
    json_t *o = NULL;
    int status = th_call(&H, "neighbour", "echo", "{\"after\":\"attack\"}", &o);
    check(status == 200 && !strcmp(json_string_value(th_get(o, "result.after")) ?: "", "attack"),
          "the neighbour did not answer a call (status %d)", status);
    json_decref(o);
    check(!hc_violation_logged(&H, "neighbour", NULL), "the neighbour was hit");
}

void hc_run(const hc_case *c)
{
    g_noticed = 0;
    start(c->attack, c->in_ctor ? "ctor" : "call", c->limits, NULL);
    int status = 0;
    if (c->in_ctor) {
        settle_ctor(c);
    } else {
        assert_true(th_wait_state(&H, "hostile", "ready", 10000));
        status = call_attack(c, &g_reply);
    }
    check_outcome(c, status, g_reply);
    check_no_side_effect();
    check_bystanders();

    /* Was it confined while it attacked? Unconfined, this alone notices
     * only the cases the host defends by itself. */
    const char *why = NULL;
    bool attested = H.pid <= 0 || hc_attested(&H, "hostile", &why);
    if (g_unconfined && c->host_defence && !attested) {
        g_noticed++;
        fprintf(stderr, "    noticed without the sandbox: %s\n", why);
    } else if (!g_unconfined && !attested) {
        fail_msg("hostile: %s", why);
    }
    if (!g_unconfined && H.pid > 0 && !hc_attested(&H, "neighbour", &why))
        fail_msg("neighbour: %s", why);
    if (g_unconfined && g_noticed == 0)
        fail_msg("with the sandbox off, no check noticed the %s attack (%s)", c->attack,
                 c->in_ctor ? "constructor" : "call");
}
