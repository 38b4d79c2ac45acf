/* The instance examples of docs/plugins/llm-openai.md are valid: their
 * config passes the manifest's config_schema, their egress grants pass the
 * manifest schema, and the resulting allowlist admits their base_url. */
#include "cmocka_pre.h"

#include "broker/policy.h"
#include "core/jsonschema.h"
#include "core/util.h"
#include "plugin/manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_documented_instances_validate_and_allow_their_base_url(void **s)
{
    (void)s;
    char err[600];
    manifest *m;
    assert_int_equal(
        manifest_load(TH_SOURCE_DIR "/manifests/llm-openai.json", false, &m, err, sizeof(err)), 0);
    size_t len;
    char *doc = ah_read_file(TH_SOURCE_DIR "/docs/plugins/llm-openai.md", 1 << 20, &len);
    assert_non_null(doc);
    int checked = 0;
    for (char *p = doc; (p = strstr(p, "```json\n")) != NULL;) {
        p += 8;
        char *end = strstr(p, "```");
        assert_non_null(end);
        *end = 0;
        json_error_t je;
        json_t *inst = json_loads(p, 0, &je);
        p = end + 3;
        if (!inst ||
            strcmp(json_string_value(json_object_get(inst, "plugin")) ?: "", "llm-openai")) {
            json_decref(inst);
            continue;
        }
        json_t *cfg = json_deep_copy(json_object_get(inst, "config"));
        jsonschema_apply_defaults(manifest_config_schema(m), cfg);
        if (jsonschema_validate(manifest_config_schema(m), cfg, err, sizeof(err)) < 0)
            fail_msg("%s: config: %s", json_string_value(json_object_get(inst, "id")), err);
        const json_t *egress_schema =
            json_object_get(json_object_get(manifest_schema(), "properties"), "egress");
        json_t *grant = json_object_get(inst, "egress");
        if (grant && jsonschema_validate(egress_schema, grant, err, sizeof(err)) < 0)
            fail_msg("egress: %s", err);
        egress_policy pol;
        assert_int_equal(
            policy_compile(&pol, manifest_egress(m), m->dir, cfg, grant, err, sizeof(err)), 0);
        char url[700];
        snprintf(url, sizeof(url), "%s/chat/completions",
                 json_string_value(json_object_get(cfg, "base_url")));
        egress_target t;
        assert_int_equal(policy_parse_url(url, &t, err, sizeof(err)), 0);
        assert_non_null(policy_match(&pol, &t));
        if (t.ip_literal) /* private addresses need the operator's grant */
            assert_null(
                policy_check_target_address(&pol, &t, (struct sockaddr *)&t.ip, t.port, NULL));
        policy_free(&pol);
        json_decref(cfg);
        json_decref(inst);
        checked++;
    }
    assert_true(checked >= 4); /* OpenAI, OpenRouter, Ollama, vLLM */
    free(doc);
    manifest_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_documented_instances_validate_and_allow_their_base_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
