/* The egress allowlist and address rules (host/broker/policy.c, proxy.c). */
#include "cmocka_pre.h"

#include "broker/policy.h"
#include "broker/proxy.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

static struct sockaddr_storage ip(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, text, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
        ss.ss_family = AF_INET;
    else if (inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
        ss.ss_family = AF_INET6;
    else
        fail_msg("bad address %s", text);
    return ss;
}

static addr_class cls(const char *text)
{
    struct sockaddr_storage ss = ip(text);
    return policy_classify((struct sockaddr *)&ss);
}

static egress_policy compile(const char *manifest, const char *config, const char *operator)
{
    json_t *m = json_loads(manifest, 0, NULL), *c = config ? json_loads(config, 0, NULL) : NULL;
    json_t *o = operator? json_loads(operator, 0, NULL) : NULL;
    egress_policy p;
    char err[300];
    if (policy_compile(&p, m, "/plugins/x", c, o, err, sizeof(err)) < 0)
        fail_msg("compile: %s", err);
    json_decref(m);
    json_decref(c);
    json_decref(o);
    return p;
}

static bool allows(const egress_policy *p, const char *url)
{
    egress_target t;
    char err[200];
    assert_int_equal(policy_parse_url(url, &t, err, sizeof(err)), 0);
    return policy_match(p, &t) != NULL;
}

static void test_addresses_are_classified_by_range(void **s)
{
    (void)s;
    assert_int_equal(cls("8.8.8.8"), ADDR_PUBLIC);
    assert_int_equal(cls("127.0.0.1"), ADDR_LOOPBACK);
    assert_int_equal(cls("127.255.0.9"), ADDR_LOOPBACK);
    assert_int_equal(cls("10.1.2.3"), ADDR_PRIVATE);
    assert_int_equal(cls("172.16.0.1"), ADDR_PRIVATE);
    assert_int_equal(cls("172.31.255.255"), ADDR_PRIVATE);
    assert_int_equal(cls("172.32.0.1"), ADDR_PUBLIC);
    assert_int_equal(cls("192.168.1.1"), ADDR_PRIVATE);
    assert_int_equal(cls("100.64.0.1"), ADDR_PRIVATE);
    assert_int_equal(cls("169.254.169.254"), ADDR_LINK_LOCAL);
    assert_int_equal(cls("0.0.0.0"), ADDR_FORBIDDEN);
    assert_int_equal(cls("224.0.0.1"), ADDR_FORBIDDEN);
    assert_int_equal(cls("255.255.255.255"), ADDR_FORBIDDEN);
    assert_int_equal(cls("::1"), ADDR_LOOPBACK);
    assert_int_equal(cls("::"), ADDR_FORBIDDEN);
    assert_int_equal(cls("fe80::1"), ADDR_LINK_LOCAL);
    assert_int_equal(cls("fd00::1"), ADDR_PRIVATE);
    assert_int_equal(cls("ff02::1"), ADDR_FORBIDDEN);
    assert_int_equal(cls("2606:4700::1111"), ADDR_PUBLIC);
    /* IPv4 hidden in IPv6 is judged as IPv4. */
    assert_int_equal(cls("::ffff:127.0.0.1"), ADDR_LOOPBACK);
    assert_int_equal(cls("::ffff:169.254.169.254"), ADDR_LINK_LOCAL);
    assert_int_equal(cls("::ffff:8.8.8.8"), ADDR_PUBLIC);
}

static void test_urls_parse_to_scheme_host_and_port(void **s)
{
    (void)s;
    egress_target t;
    char err[200];
    assert_int_equal(policy_parse_url("https://API.OpenAI.com./v1/chat?x=1", &t, err, sizeof(err)),
                     0);
    assert_string_equal(t.scheme, "https");
    assert_string_equal(t.host, "api.openai.com");
    assert_int_equal(t.port, 443);
    assert_false(t.ip_literal);
    assert_int_equal(policy_parse_url("http://[::1]:8080/x", &t, err, sizeof(err)), 0);
    assert_string_equal(t.host, "::1");
    assert_int_equal(t.port, 8080);
    assert_true(t.ip_literal);
    assert_int_equal(policy_parse_url("ftp://example.com/", &t, err, sizeof(err)), -1);
    assert_int_equal(policy_parse_url("not a url", &t, err, sizeof(err)), -1);
    assert_int_equal(policy_parse_url("https://пример.рф/", &t, err, sizeof(err)), -1);
}

static void test_allowlist_matches_scheme_host_pattern_and_port(void **s)
{
    (void)s;
    egress_policy p = compile("[{\"scheme\":\"https\",\"host\":\"api.openai.com\"},"
                              "{\"host\":\"*.example.com\",\"port\":8443},"
                              "{\"scheme\":\"http\",\"host\":\"10.0.0.5\",\"port\":80}]",
                              NULL, NULL);
    assert_true(allows(&p, "https://api.openai.com/v1/chat/completions"));
    assert_true(allows(&p, "https://API.OPENAI.COM:443/"));
    assert_false(allows(&p, "http://api.openai.com/"));       /* scheme */
    assert_false(allows(&p, "https://api.openai.com:8443/")); /* port */
    assert_false(allows(&p, "https://evil-api.openai.com/"));
    assert_false(allows(&p, "https://api.openai.com.evil.net/"));
    assert_true(allows(&p, "https://a.example.com:8443/"));
    assert_true(allows(&p, "https://a.b.example.com:8443/"));
    assert_false(allows(&p, "https://example.com:8443/")); /* the apex is not below itself */
    assert_false(allows(&p, "https://badexample.com:8443/"));
    assert_true(allows(&p, "http://10.0.0.5/"));
    assert_false(allows(&p, "http://10.0.0.6/"));
    policy_free(&p);
}

static void test_config_references_and_operator_entries_join_the_allowlist(void **s)
{
    (void)s;
    egress_policy p = compile("[{\"host\":\"${config.base_url}\"},{\"host\":\"${config.unset}\"}]",
                              "{\"base_url\":\"http://localhost:11434/v1\"}",
                              "[{\"scheme\":\"https\",\"host\":\"extra.example\"}]");
    assert_int_equal(p.n, 2); /* the unset reference is skipped */
    assert_true(allows(&p, "http://localhost:11434/v1/chat/completions"));
    assert_false(allows(&p, "http://localhost:11435/v1/chat/completions"));
    assert_false(allows(&p, "https://localhost:11434/"));
    assert_true(allows(&p, "https://extra.example/"));
    assert_true(p.v[1].from_operator);
    policy_free(&p);
    egress_policy q;
    char err[300];
    json_t *bad = json_loads("[{\"host\":\"*.*.com\"}]", 0, NULL);
    assert_int_equal(policy_compile(&q, bad, NULL, NULL, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "wildcard"));
    json_decref(bad);
}

static const char *check(const char *manifest, const char *url, const char *addr, int port,
                         const policy_self *self)
{
    egress_policy p = compile(manifest, NULL, NULL);
    egress_target t;
    char err[200];
    assert_int_equal(policy_parse_url(url, &t, err, sizeof(err)), 0);
    struct sockaddr_storage ss = ip(addr);
    const char *why = policy_check_target_address(&p, &t, (struct sockaddr *)&ss, port, self);
    policy_free(&p);
    return why;
}

static void test_private_loopback_and_link_local_need_explicit_permission(void **s)
{
    (void)s;
    const char *pub = "[{\"host\":\"api.example.com\"}]";
    assert_null(check(pub, "https://api.example.com/", "93.184.216.34", 443, NULL));
    /* DNS rebinding: the allowed name resolves to an internal address. */
    assert_non_null(check(pub, "https://api.example.com/", "127.0.0.1", 443, NULL));
    assert_non_null(check(pub, "https://api.example.com/", "10.0.0.7", 443, NULL));
    assert_non_null(check(pub, "https://api.example.com/", "169.254.169.254", 443, NULL));
    assert_non_null(check(pub, "https://api.example.com/", "::ffff:127.0.0.1", 443, NULL));
    const char *priv = "[{\"host\":\"api.example.com\",\"private\":true}]";
    assert_null(check(priv, "https://api.example.com/", "10.0.0.7", 443, NULL));
    assert_null(check(priv, "https://api.example.com/", "127.0.0.1", 443, NULL));
    /* Link-local needs the very address named. */
    assert_non_null(check(priv, "https://api.example.com/", "169.254.169.254", 443, NULL));
    assert_null(check("[{\"scheme\":\"http\",\"host\":\"169.254.169.254\",\"private\":true}]",
                      "http://169.254.169.254/latest", "169.254.169.254", 80, NULL));
    /* Never: unspecified, multicast. */
    assert_non_null(
        check("[{\"host\":\"*\",\"private\":true}]", "https://x.example/", "0.0.0.0", 443, NULL));
    /* Any matching entry may allow it (manifest public + operator private). */
    egress_policy p = compile(pub, NULL, "[{\"host\":\"api.example.com\",\"private\":true}]");
    egress_target t;
    char err[200];
    policy_parse_url("https://api.example.com/", &t, err, sizeof(err));
    struct sockaddr_storage ss = ip("10.1.1.1");
    assert_null(policy_check_target_address(&p, &t, (struct sockaddr *)&ss, 443, NULL));
    policy_free(&p);
}

static void test_the_hosts_own_listen_address_is_refused_unless_named(void **s)
{
    (void)s;
    policy_self self;
    assert_int_equal(policy_self_init(&self, "127.0.0.1:8080"), 0);
    const char *any = "[{\"scheme\":\"http\",\"host\":\"*\",\"port\":8080,\"private\":true}]";
    assert_non_null(check(any, "http://anything.local:8080/", "127.0.0.1", 8080, &self));
    assert_non_null(check(any, "http://anything.local:8080/", "127.0.0.2", 8080, &self));
    assert_null(
        check("[{\"scheme\":\"http\",\"host\":\"127.0.0.1\",\"port\":8080,\"private\":true}]",
              "http://127.0.0.1:8080/", "127.0.0.1", 8080, &self));
    policy_self_free(&self);
    /* Listening on every address: every local address on that port is the host. */
    assert_int_equal(policy_self_init(&self, "0.0.0.0:9000"), 0);
    assert_true(self.wildcard);
    assert_non_null(check("[{\"scheme\":\"http\",\"host\":\"*\",\"port\":9000,\"private\":true}]",
                          "http://me:9000/", "127.0.0.1", 9000, &self));
    policy_self_free(&self);
}

static void test_no_proxy_exempts_hosts_domains_and_ranges(void **s)
{
    (void)s;
    proxy_conf pc = {.https = "http://proxy:3128",
                     .http = NULL,
                     .all = NULL,
                     .no = "localhost,.internal.example,10.0.0.0/8"};
    egress_target t;
    char err[200];
    policy_parse_url("https://api.openai.com/", &t, err, sizeof(err));
    assert_string_equal(proxy_for(&pc, &t), "http://proxy:3128");
    policy_parse_url("https://svc.internal.example/", &t, err, sizeof(err));
    assert_null(proxy_for(&pc, &t));
    policy_parse_url("https://10.2.3.4/", &t, err, sizeof(err));
    assert_null(proxy_for(&pc, &t));
    policy_parse_url("http://api.openai.com/", &t, err, sizeof(err));
    assert_null(proxy_for(&pc, &t)); /* no http_proxy, no all_proxy */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addresses_are_classified_by_range),
        cmocka_unit_test(test_urls_parse_to_scheme_host_and_port),
        cmocka_unit_test(test_allowlist_matches_scheme_host_pattern_and_port),
        cmocka_unit_test(test_config_references_and_operator_entries_join_the_allowlist),
        cmocka_unit_test(test_private_loopback_and_link_local_need_explicit_permission),
        cmocka_unit_test(test_the_hosts_own_listen_address_is_refused_unless_named),
        cmocka_unit_test(test_no_proxy_exempts_hosts_domains_and_ranges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
