#include "cmocka_pre.h"

#include "core/log.h"
#include "core/redact.h"
#include "core/util.h"

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
    redact_add("sk-live-abcdef123456", 20);
    json_t *f = json_pack("{s:s,s:s}", "Authorization", "Bearer xyz-not-registered", "note", "ok");
    log_write("host", LOG_WARN, "broker", NULL, f, "calling with key sk-live-abcdef123456 now");
    json_decref(f);
    char *text = slurp("host.log");
    assert_null(strstr(text, "sk-live-abcdef123456"));
    assert_null(strstr(text, "xyz-not-registered"));
    assert_non_null(strstr(text, "with key [REDACTED] now"));
    redact_clear();
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
    redact_add("sk-live-stderr-99", 17);
    log_write("host", LOG_INFO, "api", NULL, NULL, "to the container with sk-live-stderr-99");
    o.to_stderr = false;
    log_init(&o);
    log_write("host", LOG_INFO, "api", NULL, NULL, "files only");
    redact_clear();
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

/* Whether the bytes of secret, or any spelling of them JSON could produce,
 * are anywhere in the file: raw, as an escaped string, or in any decoded
 * string value or key of any record. */
static bool leaks(const char *file, const char *secret, size_t len)
{
    char *text = slurp(file);
    if (memmem(text, strlen(text), secret, len)) return true;
    json_t *js = json_stringn(secret, len);
    char *esc = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
    json_decref(js);
    bool found = esc && strlen(esc) > 2 && memmem(text, strlen(text), esc + 1, strlen(esc) - 2);
    free(esc);
    size_t pos = 0, n;
    int line = 0;
    const char *l;
    while (!found && (l = ah_next_line(text, strlen(text), &pos, &line, &n)) != NULL) {
        json_t *o = json_loadb(l, n, JSON_ALLOW_NUL, NULL);
        assert_non_null(o); /* every record stays valid JSON */
        const char *k;
        json_t *v;
        json_object_foreach(o, k, v)
        {
            if (memmem(k, strlen(k), secret, len)) found = true;
            if (json_is_string(v) &&
                memmem(json_string_value(v), json_string_length(v), secret, len))
                found = true;
            if (json_is_object(v)) {
                const char *k2;
                json_t *v2;
                json_object_foreach(v, k2, v2)
                {
                    if (memmem(k2, strlen(k2), secret, len)) found = true;
                    if (json_is_string(v2) &&
                        memmem(json_string_value(v2), json_string_length(v2), secret, len))
                        found = true;
                }
            }
        }
        json_decref(o);
    }
    return found;
}

/* Every class of byte a secret may hold: each secret is logged in the
 * message, in a field's value, nested, as a key and across two fields,
 * and none of its spellings reaches the file. Redaction on the encoded
 * line alone misses all but the plain one. */
static void test_secrets_of_every_byte_class_never_reach_the_file(void **s)
{
    (void)s;
    static const struct {
        const char *what, *value;
    } cases[] = {
        {"quote", "Qu\"oteSecret_999"},
        {"backslash", "back\\slash-secret"},
        {"tab", "tab\tsecret-value"},
        {"newline", "line-one\nline-two-secret"},
        {"carriage return", "cr-part\r\nlf-part-secret"},
        {"control byte", "ctl\x01\x1f-secret-x"},
        {"delete", "del\x7f-secret-value"},
        {"slash and angle", "</script>-secret/x"},
        {"cyrillic", "пароль-секрет-42"},
        {"emoji", "key-\xf0\x9f\x94\x91-secret"},
        {"invalid utf-8", "bad\xff\xfe-secret-value"},
        {"cut utf-8", "cut-\xd0"},
        {"json syntax", "\",\"x\":\"y"},
        {"short", "k9"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *sec = cases[i].value;
        size_t len = strlen(sec);
        char file[64];
        snprintf(file, sizeof(file), "leak-%zu", i);
        assert_true(redact_add(sec, len));
        json_t *f = json_object();
        json_object_set_new(f, "value", json_stringn(sec, len));
        json_object_set_new(f, "nested", json_pack("{s:[s%]}", "list", sec, len));
        json_t *key = json_stringn(sec, len);
        if (key) {
            json_object_set_new(f, json_string_value(key), json_string("as a key"));
            json_decref(key);
        }
        log_write(file, LOG_INFO, "t", NULL, f, "message with %s inside, and %s again", sec, sec);
        json_decref(f);
        char path[64];
        snprintf(path, sizeof(path), "%s.log", file);
        if (leaks(path, sec, len)) fail_msg("the %s secret reached the log", cases[i].what);
        /* A plugin's stderr arrives a line at a time. */
        const char *nl = strpbrk(sec, "\r\n");
        if (nl) {
            log_write(file, LOG_INFO, "t", NULL, NULL, "%.*s", (int)(nl - sec), sec);
            assert_false(leaks(path, sec, (size_t)(nl - sec)));
        }
        redact_clear();
    }
}

/* The message is masked before it is cut at its limit: a secret across
 * the 4 KiB boundary leaves no prefix behind. */
static void test_a_secret_across_the_message_limit_leaves_no_prefix(void **s)
{
    (void)s;
    assert_true(redact_add("boundary-secret-abcdef", 22));
    char pad[4090];
    memset(pad, 'p', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = 0;
    log_write("cut", LOG_INFO, "t", NULL, NULL, "%sboundary-secret-abcdef", pad);
    redact_clear();
    assert_null(strstr(slurp("cut.log"), "bound"));
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
        cmocka_unit_test(test_secrets_of_every_byte_class_never_reach_the_file),
        cmocka_unit_test(test_a_secret_across_the_message_limit_leaves_no_prefix),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
