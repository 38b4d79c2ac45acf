#include "cmocka_pre.h"

#include "app/options.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void test_defaults_without_a_file(void **s)
{
    (void)s;
    config c;
    host_settings hs;
    char err[512];
    assert_int_equal(config_load(&c, NULL, err, sizeof(err)), 0);
    assert_int_equal(host_config_finalize(&c, &hs, NULL, err, sizeof(err)), 0);
    assert_string_equal(c.listen, "127.0.0.1:8080");
    assert_non_null(strstr(c.data_dir, "/var"));
    assert_non_null(strstr(c.logs_dir, "/logs"));
    assert_non_null(strstr(c.master_key, "/var/master.key"));
    assert_int_equal(hs.http.max_body, 8192 << 10);
    assert_int_equal(hs.supervisor.ping_interval_ms, 5000);
    assert_int_equal(hs.log.min_level, LOG_INFO);
    config_free(&c);
}

static void test_bad_file_names_the_field(void **s)
{
    (void)s;
    char path[] = "/tmp/ah-config-XXXXXX";
    int fd = mkstemp(path);
    const char *text = "{\"http\": {\"max_body_kb\": \"big\"}}";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    config c;
    host_settings hs;
    char err[512];
    assert_int_equal(config_load(&c, path, err, sizeof(err)), 0);
    assert_int_equal(host_config_finalize(&c, &hs, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "http.max_body_kb: expected integer, got \"big\""));
    config_free(&c);
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, "{oops", 5), 5);
    close(fd);
    assert_int_equal(config_load(&c, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "invalid JSON"));
    unlink(path);
}

static void test_flags_override_the_file(void **s)
{
    (void)s;
    config c;
    host_settings hs;
    char err[512];
    config_load(&c, NULL, err, sizeof(err));
    config_set(&c, "listen", "127.0.0.1:9999");
    config_set(&c, "data_dir", "/srv/agenthost");
    assert_int_equal(host_config_finalize(&c, &hs, NULL, err, sizeof(err)), 0);
    assert_string_equal(c.listen, "127.0.0.1:9999");
    assert_string_equal(c.data_dir, "/srv/agenthost");
    assert_string_equal(c.master_key, "/srv/agenthost/master.key");
    config_free(&c);
}

static void test_example_config_is_valid(void **s)
{
    (void)s;
    config c;
    host_settings hs;
    char err[512];
    assert_int_equal(config_load(&c, TH_SOURCE_DIR "/etc/agenthost.example.json", err, sizeof(err)),
                     0);
    if (host_config_finalize(&c, &hs, "etc/agenthost.example.json", err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_string_equal(c.data_dir, "/var/lib/agenthost");
    assert_int_equal(hs.bus.max_attempts, 5);
    config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_without_a_file),
        cmocka_unit_test(test_bad_file_names_the_field),
        cmocka_unit_test(test_flags_override_the_file),
        cmocka_unit_test(test_example_config_is_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
