/*
 * The documentation's examples run: every ```sh block of docs/api.md and
 * README.md is executed, in order, against a real host (bash -e; curl -f
 * fails on any HTTP error), and every route of the router appears in them.
 */
#include "../support/th.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

static th_host H;
#define HOOK_SECRET "docs-hook-secret"

/* The example agent a first start makes (app/example.h), which the
 * README's first look talks to; this host's token was made before it
 * started, so it is made here the same way, over the API. */
static int make_example_agent(void)
{
    FILE *f = fopen(TH_SOURCE_DIR "/docs/examples/scenarios/onboarding-survey.json", "rb");
    if (!f) return -1;
    json_t *content = json_loadf(f, 0, NULL);
    fclose(f);
    json_t *o = NULL;
    int rc = -1;
    if (content && th_http(&H, "POST", "/api/v1/scenarios", "{\"name\": \"Onboarding survey\"}",
                           NULL, &o) == 201) {
        char path[200];
        const char *scn = json_string_value(json_object_get(o, "id"));
        snprintf(path, sizeof(path), "/api/v1/scenarios/%s/versions", scn);
        json_t *v = json_pack("{s:O}", "content", content);
        char *vb = json_dumps(v, 0);
        json_t *a = json_pack("{s:s,s:s,s:[s,s],s:{s:s}}", "name", "Onboarding", "default_language",
                              "en", "languages", "en", "ru", "scenario", "scenario_id", scn);
        char *ab = json_dumps(a, 0);
        json_t *r1 = NULL, *r2 = NULL;
        if (th_http(&H, "POST", path, vb, NULL, &r1) == 201 &&
            th_http(&H, "POST", "/api/v1/agents", ab, NULL, &r2) == 201)
            rc = 0;
        json_decref(r1);
        json_decref(r2);
        free(vb);
        free(ab);
        json_decref(v);
        json_decref(a);
    }
    json_decref(o);
    json_decref(content);
    return rc;
}

/* The dead-letter examples need two dead letters. */
static int setup(void **s)
{
    (void)s;
    return th_start_echo_with_dead_letters(&H, "docs", HOOK_SECRET) || make_example_agent();
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    return rc ? -1 : 0;
}

/* The ```sh blocks of a markdown file, concatenated with NUL separators. */
static size_t blocks_of(const char *file, char **out)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", TH_SOURCE_DIR, file);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t cap = 1 << 16, n = 0, count = 0;
    char *buf = calloc(1, cap), line[4096];
    bool in = false;
    while (fgets(line, sizeof(line), f)) {
        if (!in && !strncmp(line, "```sh", 5)) {
            in = true;
            continue;
        }
        if (in && !strncmp(line, "```", 3)) {
            in = false;
            buf[n++] = 0;
            count++;
            continue;
        }
        if (in) {
            size_t l = strlen(line);
            if (n + l + 2 > cap) buf = realloc(buf, cap *= 2);
            memcpy(buf + n, line, l);
            n += l;
        }
    }
    fclose(f);
    buf[n] = 0;
    *out = buf;
    return count;
}

static int run_block(const char *block)
{
    char ah[64], tok[200], tmp[1100];
    snprintf(ah, sizeof(ah), "AH=http://127.0.0.1:%d", H.port);
    snprintf(tok, sizeof(tok), "TOKEN=%s", H.token);
    /* The examples keep what one hands the next in $TMPDIR: this run's own,
     * so two runs at once never read each other's files. */
    snprintf(tmp, sizeof(tmp), "TMPDIR=%s", H.dir);
    pid_t pid = fork();
    if (pid == 0) {
        putenv(ah);
        putenv(tok);
        putenv(tmp);
        putenv("HOOK_SECRET=" HOOK_SECRET);
        int devnull = open("/dev/null", 1);
        dup2(devnull, 1);
        execl("/bin/bash", "bash", "-euo", "pipefail", "-c", block, (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void run_file(const char *file, size_t min_blocks)
{
    char *buf;
    size_t n = blocks_of(file, &buf);
    assert_true(n >= min_blocks);
    const char *b = buf;
    for (size_t i = 0; i < n; i++) {
        int rc = run_block(b);
        if (rc != 0) fail_msg("%s: example %zu failed (exit %d):\n%s", file, i + 1, rc, b);
        if (strstr(b, "/restart") || strstr(b, "/enable"))
            th_wait_state(&H, "echo", "ready", 10000);
        b += strlen(b) + 1;
    }
    free(buf);
}

static void test_every_api_example_runs(void **s)
{
    (void)s;
    run_file("docs/api.md", 15);
}

static void test_every_readme_example_runs(void **s)
{
    (void)s;
    /* api.md's requeue example put a poisoned event back: echo may be restarting. */
    assert_true(th_wait_state(&H, "echo", "ready", 15000));
    run_file("README.md", 1);
}

static void test_every_route_has_an_example(void **s)
{
    (void)s;
    char *buf;
    size_t n = blocks_of("docs/api.md", &buf);
    /* Join the blocks into one text. */
    size_t total = 0;
    const char *b = buf;
    for (size_t i = 0; i < n; i++) {
        total += strlen(b) + 1;
        b += strlen(b) + 1;
    }
    for (size_t i = 0; i + 1 < total; i++)
        if (!buf[i]) buf[i] = '\n';
    char cmd[1100];
    snprintf(cmd, sizeof(cmd), "%s/agenthost routes --json", TH_BUILD_DIR);
    FILE *p = popen(cmd, "r");
    json_t *routes = json_loadf(p, 0, NULL);
    pclose(p);
    size_t i;
    json_t *r;
    json_array_foreach(routes, i, r)
    {
        char prefix[256];
        snprintf(prefix, sizeof(prefix), "%s", json_string_value(json_object_get(r, "path")));
        char *brace = strchr(prefix, '{');
        if (brace) *brace = 0;
        if (!strstr(buf, prefix))
            fail_msg("no example in docs/api.md uses %s %s",
                     json_string_value(json_object_get(r, "method")),
                     json_string_value(json_object_get(r, "path")));
    }
    json_decref(routes);
    free(buf);
}

/* Every metric the Grafana dashboard queries is one the host exports. */
static void test_grafana_dashboard_uses_only_exported_metrics(void **s)
{
    (void)s;
    char *metrics = NULL;
    assert_int_equal(th_http_raw(&H, "GET", "/metrics", NULL, NULL, 0, NULL, NULL, &metrics), 200);
    char path[1024];
    snprintf(path, sizeof(path), "%s/packaging/grafana/agenthost.json", TH_SOURCE_DIR);
    json_t *dash = json_load_file(path, 0, NULL);
    assert_non_null(dash);
    char *text = json_dumps(dash, 0);
    int checked = 0;
    for (const char *p = text; (p = strstr(p, "agenthost_")) != NULL;) {
        char name[128];
        size_t n = 0;
        while ((p[n] >= 'a' && p[n] <= 'z') || p[n] == '_')
            n++;
        snprintf(name, sizeof(name), "%.*s", (int)n, p);
        if (strncmp(name, "agenthost-", 10) != 0 && !strstr(metrics, name))
            fail_msg("the dashboard queries %s, which /metrics does not export", name);
        checked++;
        p += n;
    }
    assert_true(checked >= 15);
    assert_non_null(strstr(metrics, "process_resident_memory_bytes"));
    free(text);
    json_decref(dash);
    free(metrics);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_route_has_an_example),
        cmocka_unit_test(test_every_api_example_runs),
        cmocka_unit_test(test_every_readme_example_runs),
        cmocka_unit_test(test_grafana_dashboard_uses_only_exported_metrics),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
