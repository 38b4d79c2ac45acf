/*
 * docs/plugin-guide.md proven as written: its shell blocks marked
 * "```sh guide" run in order, as one script, in a fresh HOME, against the
 * SDK installed into $HOME/.local (what step 1's `make install` does),
 * from `agenthost plugin new` to a signed package installed into a running
 * host answering over HTTP, and a reload. The port 8080 of the guide is
 * replaced by a free one. The time the script takes is printed (the
 * figure in the guide's introduction).
 */
#include "../support/kit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char root[512];

static int setup(void **state)
{
    (void)state;
    return kit_tmpdir("guide", root, sizeof(root));
}

static int teardown(void **state)
{
    (void)state;
    kit_rmtree(root);
    return 0;
}

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof(a);
    int port = -1;
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &n) == 0)
        port = ntohs(a.sin_port);
    if (s >= 0) close(s);
    return port;
}

/* The marked blocks, in order, their list indentation removed, with 8080
 * replaced by port. */
static char *extract(const char *md, int port, int *nblocks)
{
    size_t cap = strlen(md) + 4096, n = 0;
    char *out = calloc(1, cap);
    *nblocks = 0;
    const char *p = md;
    while ((p = strstr(p, "```sh guide\n"))) {
        const char *line = p;
        while (line > md && line[-1] == ' ')
            line--;
        size_t indent = (size_t)(p - line);
        p += strlen("```sh guide\n");
        (*nblocks)++;
        while (*p) {
            const char *eol = strchr(p, '\n');
            size_t len = eol ? (size_t)(eol - p) : strlen(p);
            const char *text = p;
            for (size_t i = 0; i < indent && i < len && *text == ' '; i++)
                text++;
            size_t tl = len - (size_t)(text - p);
            p = eol ? eol + 1 : p + len;
            if (tl >= 3 && !strncmp(text, "```", 3)) break;
            for (size_t i = 0; i < tl && n + 8 < cap; i++) {
                if (!strncmp(text + i, "8080", 4)) {
                    n += (size_t)snprintf(out + n, cap - n, "%d", port);
                    i += 3;
                } else {
                    out[n++] = text[i];
                }
            }
            out[n++] = '\n';
        }
    }
    return out;
}

static void test_the_guide_runs_as_written_from_scaffold_to_a_reloaded_plugin(void **state)
{
    (void)state;
    char home[600], prefix[700], script[700];
    snprintf(home, sizeof(home), "%s/home", root);
    snprintf(prefix, sizeof(prefix), "%s/.local", home);
    kit_out r;
    assert_int_equal(kit_runl(&r, NULL, NULL, "mkdir", "-p", home, NULL), 0);
    kit_out_free(&r);
    /* Step 1, from the build tree. */
    if (kit_runl(&r, NULL, NULL, "cmake", "--install", TH_BUILD_DIR, "--prefix", prefix, NULL))
        fail_msg("cmake --install: %s%s", r.out, r.err);
    kit_out_free(&r);
    size_t len;
    char *md = NULL;
    {
        FILE *f = fopen(TH_SOURCE_DIR "/docs/plugin-guide.md", "r");
        assert_non_null(f);
        md = malloc(1 << 20);
        len = fread(md, 1, (1 << 20) - 1, f);
        md[len] = 0;
        fclose(f);
    }
    int nblocks, port = free_port();
    assert_true(port > 0);
    char *body = extract(md, port, &nblocks);
    free(md);
    assert_true(nblocks >= 6);
    snprintf(script, sizeof(script), "%s/guide.sh", root);
    size_t sl = strlen(body) + 1024;
    char *text = malloc(sl);
    snprintf(text, sl,
             "set -e\n"
             "export HOME=%s PATH=%s/bin:$PATH PKG_CONFIG_PATH=%s/lib/pkgconfig\n"
             "trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n"
             "cd \"$HOME\"\n%s",
             home, prefix, prefix, body);
    assert_int_equal(kit_write(script, text), 0);
    free(text);
    free(body);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    kit_runl(&r, home, NULL, "bash", script, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (r.status != 0)
        fail_msg("the guide's commands failed (exit %d)\n--- stdout\n%s\n--- stderr\n%s", r.status,
                 r.out, r.err);
    print_message("the guide's %d blocks ran in %.1f s\n", nblocks,
                  (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
    /* What each step promised: the harness check, the action's answer over
     * HTTP, the package installed from the signed file, the reload. */
    assert_non_null(strstr(r.out, "\"type\":\"summary\",\"ok\":true"));
    assert_non_null(strstr(r.out, "{\"total\":"));
    assert_non_null(strstr(r.out, "replacing a copy made by hand"));
    assert_non_null(strstr(r.out, "\"restarted\""));
    kit_out_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_guide_runs_as_written_from_scaffold_to_a_reloaded_plugin),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
