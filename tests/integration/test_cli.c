/*
 * test_cli.c - the agenthost command as an operator types it: version,
 * --help on every command, manifest check, secrets, one-line failures,
 * and serve with its flags overriding the config, stopped by Ctrl-C.
 */
#include "../support/th.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Run `agenthost ARGS` through the shell (stdin from `input`, or none),
 * stdout and stderr together into out; returns the exit status. */
static int run(const char *input, char *out, size_t outlen, const char *fmt, ...)
{
    char args[2048], cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof(cmd), "%s%s%s %s/agenthost %s 2>&1", input ? "printf '%s' '" : "",
             input ? input : "", input ? "' |" : "", TH_BUILD_DIR, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_version_names_the_plugin_abi(void **s)
{
    (void)s;
    char out[512];
    assert_int_equal(run(NULL, out, sizeof(out), "version"), 0);
    assert_non_null(strstr(out, "agenthost "));
    assert_non_null(strstr(out, "(plugin ABI 1.6)"));
    assert_int_equal(run(NULL, out, sizeof(out), "--version"), 0);
}

static void test_every_command_answers_help(void **s)
{
    (void)s;
    static const char *cmds[] = {"serve", "version", "manifest check", "secret", "instance",
                                 "token", "routes",  "config",         "backup", "restore",
                                 "check", "keys",    "plugin",         "trust",  "keygen"};
    char out[8192];
    assert_int_equal(run(NULL, out, sizeof(out), "--help"), 0);
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (strcmp(cmds[i], "version") != 0) {
            if (run(NULL, out, sizeof(out), "%s --help", cmds[i]) != 0)
                fail_msg("%s --help failed: %s", cmds[i], out);
            if (!strstr(out, "usage: agenthost")) fail_msg("%s --help: %s", cmds[i], out);
        }
        /* and the top-level list names it */
        char first[32];
        snprintf(first, sizeof(first), "%.*s", (int)strcspn(cmds[i], " "), cmds[i]);
        assert_int_equal(run(NULL, out, sizeof(out), "--help"), 0);
        assert_non_null(strstr(out, first));
    }
}

static void test_failures_exit_non_zero_with_one_line(void **s)
{
    (void)s;
    char out[4096];
    assert_int_not_equal(run(NULL, out, sizeof(out), "serve --bogus"), 0);
    assert_int_equal(lines(out), 1);
    assert_non_null(strstr(out, "unknown option --bogus"));
    assert_int_not_equal(run(NULL, out, sizeof(out), "no-such-command"), 0);
    assert_int_equal(lines(out), 1);
    assert_int_not_equal(run(NULL, out, sizeof(out), "secret list a b c"), 0);
    assert_int_equal(lines(out), 1);
    assert_int_not_equal(run(NULL, out, sizeof(out), "serve --config /nonexistent/c.json"), 0);
    assert_int_equal(lines(out), 1);
    assert_non_null(strstr(out, "/nonexistent/c.json"));
}

static void test_manifest_check_names_file_and_field_per_bad_manifest(void **s)
{
    (void)s;
    char out[4096];
    assert_int_equal(
        run(NULL, out, sizeof(out), "manifest check %s/plugins/echo/manifest.json", TH_BUILD_DIR),
        0);
    const char *bad = TH_SOURCE_DIR "/tests/fixtures/plugins/bad-memory/manifest.json";
    assert_int_not_equal(run(NULL, out, sizeof(out),
                             "manifest check %s/plugins/echo/manifest.json %s", TH_BUILD_DIR, bad),
                         0);
    assert_int_equal(lines(out), 2); /* one per file: "ok", then the reason */
    assert_non_null(strstr(out, "echo/manifest.json: ok (echo "));
    assert_non_null(strstr(out, "bad-memory/manifest.json: limits.memory_mb: expected integer, "
                                "got \"lots\""));
}

/* manifest check refuses an ABI this host would refuse at start, and reads
 * the built library: its typed exports must be defined. */
static void test_manifest_check_refuses_a_newer_abi_and_a_missing_export(void **s)
{
    (void)s;
    char out[4096], dir[] = "/tmp/ah-mcheck-XXXXXX", cmd[512];
    assert_non_null(mkdtemp(dir));
    assert_int_not_equal(run(NULL, out, sizeof(out),
                             "manifest check %s/tests/plugins/newminor/"
                             "manifest.json",
                             TH_BUILD_DIR),
                         0);
    assert_non_null(strstr(out, "a newer minor"));
    snprintf(cmd, sizeof(cmd),
             "cp %s/plugins/echo/* %s/ && sed -i 's/\"echo_add\"/\"echo_plus\"/' "
             "%s/manifest.json",
             TH_BUILD_DIR, dir, dir);
    assert_int_equal(system(cmd), 0);
    assert_int_not_equal(run(NULL, out, sizeof(out), "manifest check %s/manifest.json", dir), 0);
    assert_non_null(strstr(out, "exports no function echo_plus"));
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_secrets_are_set_from_stdin_listed_by_name_and_deleted(void **s)
{
    (void)s;
    th_host T;
    assert_int_equal(th_init(&T, "cli"), 0);
    char out[4096];
    assert_int_equal(
        run("s3cr3t-cli-771", out, sizeof(out), "secret set bot token --data %s", T.data), 0);
    assert_int_equal(run(NULL, out, sizeof(out), "secret list --data %s", T.data), 0);
    assert_non_null(strstr(out, "bot token"));
    assert_null(strstr(out, "s3cr3t-cli-771"));
    assert_int_equal(run(NULL, out, sizeof(out), "secret delete bot token --data %s", T.data), 0);
    assert_int_equal(run(NULL, out, sizeof(out), "secret list bot --data %s", T.data), 0);
    assert_null(strstr(out, "token"));
    assert_int_not_equal(run(NULL, out, sizeof(out), "secret delete bot token --data %s", T.data),
                         0);
    assert_int_equal(lines(out), 1);
    assert_false(th_logs_contain(&T, "s3cr3t-cli-771"));
    th_cleanup(&T);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

/* Flags win over the config file: --listen, --plugins, --data, --logs;
 * without instances in the config, one per installed plugin. SIGINT (the
 * terminal's Ctrl-C) stops every instance and exits 0. */
static void test_serve_flags_override_the_config_and_ctrl_c_stops_cleanly(void **s)
{
    (void)s;
    th_host T;
    assert_int_equal(th_init(&T, "serve"), 0);
    assert_int_equal(th_install_plugin(&T, "echo"), 0);
    assert_int_equal(th_make_token(&T), 0);
    int port = free_port();
    char cfg[1400], listen[64], data[700], logs[700], plugins[700];
    /* The config points elsewhere; the flags must win. */
    snprintf(cfg, sizeof(cfg),
             "{\"data_dir\": \"%s/elsewhere/var\", \"logs_dir\": \"%s/elsewhere/logs\","
             " \"plugins_dir\": \"%s/elsewhere/plugins\","
             " \"listen\": \"127.0.0.1:1\"}",
             T.dir, T.dir, T.dir);
    assert_int_equal(th_config(&T, cfg), 0);
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    snprintf(data, sizeof(data), "%s", T.data);
    snprintf(logs, sizeof(logs), "%s", T.logs);
    snprintf(plugins, sizeof(plugins), "%s", T.plugins);
    /* Left open by someone: the host closes them to its own user. */
    chmod(T.data, 0755);
    mkdir(T.logs, 0755);
    char bin[1024];
    snprintf(bin, sizeof(bin), "%s/agenthost", TH_BUILD_DIR);
    char *const argv[] = {bin,  "serve",  "--config", T.config,    "--listen", listen, "--data",
                          data, "--logs", logs,       "--plugins", plugins,    NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, T.stderr_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, bin, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    T.pid = pid;
    T.port = port;
    assert_true(th_wait_state(&T, "echo", "ready", 15000));
    json_t *o = NULL;
    assert_int_equal(th_http(&T, "GET", "/health", NULL, NULL, &o), 200);
    json_decref(o);
    char elsewhere[800];
    snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere", T.dir);
    assert_int_not_equal(access(elsewhere, F_OK), 0);
    struct stat st;
    assert_int_equal(stat(T.data, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(stat(T.logs, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    kill(pid, SIGINT);
    int status = -1;
    long long end = th_now_ms() + 15000;
    while (th_now_ms() < end && waitpid(pid, &status, WNOHANG) == 0)
        th_sleep_ms(20);
    T.pid = -1;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(th_file_contains(&T, "logs/host.log", "stopped"));
    th_cleanup(&T);
}

/* `config` lists the options the host declares (text, Markdown, JSON) and
 * the file's whole schema; a file with a misspelt key is refused by
 * `config check` and by `serve` alike, naming the key and the nearest one. */
static void test_config_lists_the_declared_options_and_refuses_a_misspelt_key(void **s)
{
    (void)s;
    static char out[1 << 17];
    assert_int_equal(run(NULL, out, sizeof(out), "config options --json"), 0);
    json_t *a = json_loads(out, 0, NULL);
    assert_true(json_is_array(a));
    size_t i;
    json_t *o;
    bool found = false;
    json_array_foreach(a, i, o)
    {
        if (strcmp(json_string_value(json_object_get(o, "key")), "bus.max_attempts") != 0) continue;
        found = true;
        assert_int_equal(json_integer_value(json_object_get(o, "default")), 5);
        assert_int_equal(json_integer_value(json_object_get(o, "maximum")), 1000);
    }
    assert_true(found);
    json_decref(a);
    assert_int_equal(run(NULL, out, sizeof(out), "config options --markdown"), 0);
    assert_non_null(strstr(out, "| `bus.max_attempts` | integer | 5 | 1–1000 |"));
    assert_int_equal(run(NULL, out, sizeof(out), "config options"), 0);
    assert_non_null(strstr(out, "http.max_body_kb"));
    assert_int_equal(run(NULL, out, sizeof(out), "config schema"), 0);
    json_t *schema = json_loads(out, 0, NULL);
    assert_non_null(schema);
    assert_non_null(th_get(schema, "properties.bus.properties.max_attempts"));
    assert_non_null(th_get(schema, "properties.bus.properties.topics.additionalProperties"));
    assert_non_null(th_get(schema, "properties.instances.items"));
    json_decref(schema);

    th_host T;
    assert_int_equal(th_init(&T, "config"), 0);
    assert_int_equal(th_config(&T, "{\"bus\": {\"max_attempts\": 3}}"), 0);
    assert_int_equal(run(NULL, out, sizeof(out), "config check %s", T.config), 0);
    assert_non_null(strstr(out, ": ok"));
    assert_int_equal(th_config(&T, "{\"bus\": {\"max_atempts\": 3}}"), 0);
    char want[1200];
    snprintf(want, sizeof(want), "%s: bus.max_atempts: unknown option; did you mean max_attempts?",
             T.config);
    assert_int_equal(run(NULL, out, sizeof(out), "config check %s", T.config), 1);
    assert_int_equal(lines(out), 1);
    assert_non_null(strstr(out, want));
    assert_int_not_equal(
        run(NULL, out, sizeof(out), "serve --config %s --data %s", T.config, T.data), 0);
    assert_int_equal(lines(out), 1);
    assert_non_null(strstr(out, want));
    th_cleanup(&T);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_names_the_plugin_abi),
        cmocka_unit_test(test_every_command_answers_help),
        cmocka_unit_test(test_failures_exit_non_zero_with_one_line),
        cmocka_unit_test(test_manifest_check_names_file_and_field_per_bad_manifest),
        cmocka_unit_test(test_manifest_check_refuses_a_newer_abi_and_a_missing_export),
        cmocka_unit_test(test_secrets_are_set_from_stdin_listed_by_name_and_deleted),
        cmocka_unit_test(test_serve_flags_override_the_config_and_ctrl_c_stops_cleanly),
        cmocka_unit_test(test_config_lists_the_declared_options_and_refuses_a_misspelt_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
