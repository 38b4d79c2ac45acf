#include "cmocka_pre.h"

#include "core/log.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static char *slurp(const char *rel)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static int setup(void **s)
{
    (void)s;
    snprintf(dir, sizeof(dir), "/tmp/ah-log-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    log_opts o = {
        .dir = dir, .to_stderr = false, .min_level = LOG_DEBUG, .rotate_bytes = 4096, .keep = 2};
    return log_init(&o);
}

static int teardown(void **s)
{
    (void)s;
    log_shutdown();
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

static void test_records_are_json_lines_with_context(void **s)
{
    (void)s;
    log_ctx c = {.plugin = "echo", .instance = "echo-1", .request_id = "r1"};
    json_t *f = json_pack("{s:i}", "attempt", 3);
    log_write("host", LOG_INFO, "bus", &c, f, "delivered %d", 7);
    json_decref(f);
    char *text = slurp("host.log");
    assert_non_null(text);
    json_t *o = json_loads(text, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(o, "component")), "bus");
    assert_string_equal(json_string_value(json_object_get(o, "msg")), "delivered 7");
    assert_string_equal(json_string_value(json_object_get(o, "instance")), "echo-1");
    assert_string_equal(json_string_value(json_object_get(o, "request_id")), "r1");
    assert_int_equal(json_integer_value(json_object_get(o, "attempt")), 3);
    const char *t = json_string_value(json_object_get(o, "time"));
    /* 2026-11-23T12:34:56.789Z */
    assert_int_equal(strlen(t), 24);
    assert_int_equal(t[10], 'T');
    assert_int_equal(t[19], '.');
    assert_int_equal(t[23], 'Z');
    json_decref(o);
}

static void test_errors_are_copied_and_kinds_have_files(void **s)
{
    (void)s;
    log_write("security", LOG_ERROR, "sandbox", NULL, NULL, "violation");
    assert_non_null(strstr(slurp("security.log"), "violation"));
    assert_non_null(strstr(slurp("errors.log"), "violation"));
    log_write("plugins/echo-1", LOG_INFO, "plugin", NULL, NULL, "hello");
    assert_non_null(strstr(slurp("plugins/echo-1.log"), "hello"));
    struct stat st;
    char path[512];
    snprintf(path, sizeof(path), "%s/security.log", dir);
    stat(path, &st);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_secrets_and_credential_fields_are_redacted(void **s)
{
    (void)s;
    log_redact_add("sk-live-abcdef123456");
    json_t *f = json_pack("{s:s,s:s}", "Authorization", "Bearer xyz-not-registered", "note", "ok");
    log_write("host", LOG_WARN, "broker", NULL, f, "calling with key sk-live-abcdef123456 now");
    json_decref(f);
    char *text = slurp("host.log");
    assert_null(strstr(text, "sk-live-abcdef123456"));
    assert_null(strstr(text, "xyz-not-registered"));
    assert_non_null(strstr(text, "with key [REDACTED] now"));
    log_redact_clear();
}

static void test_files_rotate_and_keep_a_bounded_count(void **s)
{
    (void)s;
    char line[200];
    memset(line, 'x', sizeof(line) - 1);
    line[sizeof(line) - 1] = 0;
    for (int i = 0; i < 200; i++)
        log_write("rot", LOG_INFO, "t", NULL, NULL, "%d %s", i, line);
    char path[512];
    snprintf(path, sizeof(path), "%s/rot.log.1", dir);
    assert_int_equal(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/rot.log.2", dir);
    assert_int_equal(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/rot.log.3", dir);
    assert_int_equal(access(path, F_OK), -1);
    struct stat st;
    snprintf(path, sizeof(path), "%s/rot.log", dir);
    stat(path, &st);
    assert_true(st.st_size <= 4096);
    assert_non_null(strstr(slurp("rot.log"), "199 "));
}

static void test_levels_below_the_minimum_are_dropped(void **s)
{
    (void)s;
    log_opts o = {.dir = dir, .to_stderr = false, .min_level = LOG_WARN};
    log_init(&o);
    log_write("lv", LOG_INFO, "t", NULL, NULL, "quiet");
    log_write("lv", LOG_WARN, "t", NULL, NULL, "loud");
    char *t = slurp("lv.log");
    assert_null(strstr(t, "quiet"));
    assert_non_null(strstr(t, "loud"));
}

/* Containers read stderr: with to_stderr every record goes there too, as
 * the same JSON line when stderr is not a terminal, secrets redacted;
 * without it, nothing. */
static void test_stderr_gets_each_record_as_json_for_containers(void **s)
{
    (void)s;
    char path[300];
    snprintf(path, sizeof(path), "%s/stderr.capture", dir);
    int saved = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    log_opts o = {.dir = dir, .to_stderr = true, .min_level = LOG_INFO};
    log_init(&o);
    log_redact_add("sk-live-stderr-99");
    log_write("host", LOG_INFO, "api", NULL, NULL, "to the container with sk-live-stderr-99");
    o.to_stderr = false;
    log_init(&o);
    log_write("host", LOG_INFO, "api", NULL, NULL, "files only");
    log_redact_clear();
    dup2(saved, 2);
    close(saved);
    char *text = slurp("stderr.capture");
    assert_non_null(text);
    json_t *line = json_loads(text, 0, NULL);
    assert_non_null(line);
    assert_string_equal(json_string_value(json_object_get(line, "msg")),
                        "to the container with [REDACTED]");
    json_decref(line);
    assert_null(strstr(text, "files only"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records_are_json_lines_with_context),
        cmocka_unit_test(test_errors_are_copied_and_kinds_have_files),
        cmocka_unit_test(test_secrets_and_credential_fields_are_redacted),
        cmocka_unit_test(test_files_rotate_and_keep_a_bounded_count),
        cmocka_unit_test(test_levels_below_the_minimum_are_dropped),
        cmocka_unit_test(test_stderr_gets_each_record_as_json_for_containers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
