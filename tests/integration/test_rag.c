/*
 * The RAG plugin in a real host (issue 18): bases created, listed and
 * deleted; Markdown and HTML documents ingested as jobs and searched in
 * Russian and English with heading paths and character offsets; filters by
 * tags and language; the same content twice ingested once, a replaced
 * document searched in its new version only; unsupported formats, binary
 * junk and oversized documents refused naming the field; and everything
 * still there, searchable, after the host restarts (the index rebuilt from
 * the KV).
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
#include <sys/stat.h>

static th_host H;

static const char GUIDE[] =
    "# Возврат\n\nДеньги за заказ возвращаются на карту в течение 14 дней после "
    "получения возврата на склад.\n\n## Как оформить\n\n- Откройте заказ в личном кабинете.\n"
    "- Нажмите «Вернуть товар».\n\n# Доставка\n\nКурьер привозит заказы с 9 до 21 часа.\n";

static const char PAGE[] =
    "<html><head><script>var x = 'refund';</script></head><body><h1>Shipping</h1>"
    "<p>Orders ship within two business days.</p><h2>International</h2>"
    "<p>We deliver to Kazakhstan and Armenia by courier.</p></body></html>";

static int call(const char *action, const char *args, json_t **out)
{
    if (out) *out = NULL;
    json_t *tmp = NULL;
    int st = th_call(&H, "kb", action, args, out ? out : &tmp);
    json_decref(tmp);
    return st;
}

/* Adds a document and waits (bounded) until the job has made it ready. */
static void add_ready(const char *args, const char *id)
{
    json_t *o;
    assert_int_equal(call("document.add", args, &o), 200);
    json_decref(o);
    for (int i = 0; i < 200; i++) {
        assert_int_equal(call("document.list", "{\"kb\":\"help\"}", &o), 200);
        json_t *docs = th_get(o, "result.documents");
        size_t k;
        json_t *d;
        int ready = 0;
        json_array_foreach(docs, k, d)
        {
            if (strcmp(json_string_value(json_object_get(d, "id")), id) == 0)
                ready = strcmp(json_string_value(json_object_get(d, "state")), "ready") == 0;
        }
        json_decref(o);
        if (ready) return;
        th_sleep_ms(50);
    }
    fail_msg("%s never became ready", id);
}

static json_t *search(const char *args)
{
    json_t *o;
    assert_int_equal(call("search", args, &o), 200);
    return o;
}

static int setup(void **s)
{
    (void)s;
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "{\"listen\":\"127.0.0.1:0\",\"instances\":[{\"id\":\"kb\",\"plugin\":\"rag\","
             "\"config\":{\"max_document_bytes\":8192,\"max_tokens\":40,\"overlap_tokens\":5}}]}");
    if (th_init(&H, "rag") || th_install_plugin(&H, "rag") || th_install_plugin(&H, "jq") ||
        th_config(&H, cfg) || th_start(&H, NULL, 15000) || !th_wait_state(&H, "kb", "ready", 15000))
        return -1;
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    return rc ? -1 : 0;
}

/* Loading runs right after start: retry while the plugin says so. */
static int call_loaded(const char *action, const char *args, json_t **out)
{
    for (int i = 0; i < 100; i++) {
        int st = call(action, args, out);
        const char *code = json_string_value(th_get(*out, "error.code"));
        if (!code || strcmp(code, "loading") != 0) return st;
        json_decref(*out);
        th_sleep_ms(50);
    }
    return -1;
}

static void bases_documents_and_cited_passages_in_russian_and_english(void **s)
{
    (void)s;
    json_t *o;
    assert_int_equal(call_loaded("kb.create", "{\"name\":\"help\"}", &o), 200);
    json_decref(o);
    call("kb.create", "{\"name\":\"help\"}", &o);
    assert_string_equal(json_string_value(th_get(o, "error.code")), "exists");
    json_decref(o);

    json_t *a = json_pack("{s:s,s:s,s:s,s:s,s:s,s:[s]}", "kb", "help", "id", "returns", "content",
                          GUIDE, "format", "markdown", "language", "ru", "tags", "policy");
    char *args = json_dumps(a, 0);
    add_ready(args, "returns");
    json_t *again;
    assert_int_equal(call("document.add", args, &again), 200);
    assert_true(json_is_true(th_get(again, "result.unchanged")));
    json_decref(again);
    free(args);
    json_decref(a);
    a = json_pack("{s:s,s:s,s:s,s:s,s:s}", "kb", "help", "id", "shipping", "content", PAGE,
                  "format", "html", "language", "en");
    args = json_dumps(a, 0);
    add_ready(args, "shipping");
    free(args);
    json_decref(a);

    /* Russian morphology: "вернуть деньги" finds "Деньги ... возвращаются" */
    o = search("{\"kb\":\"help\",\"query\":\"когда вернут деньги за заказ\",\"top_k\":3}");
    assert_string_equal(json_string_value(th_get(o, "result.passages.0.document")), "returns");
    assert_string_equal(json_string_value(th_get(o, "result.passages.0.heading_path.0")),
                        "Возврат");
    /* character offsets: the text is the document's own, from start to end */
    json_int_t st = json_integer_value(th_get(o, "result.passages.0.start"));
    assert_int_equal(st, 0);
    const char *text = json_string_value(th_get(o, "result.passages.0.text"));
    assert_non_null(strstr(text, "возвращаются на карту"));
    json_decref(o);

    o = search("{\"kb\":\"help\",\"query\":\"оформить возврат в кабинете\"}");
    assert_string_equal(json_string_value(th_get(o, "result.passages.0.heading_path.1")),
                        "Как оформить");
    json_decref(o);

    /* HTML: reduced, headings kept, the script's words not indexed */
    o = search("{\"kb\":\"help\",\"query\":\"delivery to Armenia\"}");
    assert_string_equal(json_string_value(th_get(o, "result.passages.0.document")), "shipping");
    assert_string_equal(json_string_value(th_get(o, "result.passages.0.heading_path.1")),
                        "International");
    json_decref(o);
    o = search("{\"kb\":\"help\",\"query\":\"refund\"}");
    assert_int_equal(json_array_size(th_get(o, "result.passages")), 0);
    json_decref(o);
    /* a language the base does not have: nothing, and said so */
    o = search("{\"kb\":\"help\",\"query\":\"Rückerstattung des Geldes\"}");
    assert_int_equal(json_array_size(th_get(o, "result.passages")), 0);
    assert_non_null(strstr(json_string_value(th_get(o, "result.note")), "no passage matches"));
    json_decref(o);

    /* filters: language and tags */
    o = search("{\"kb\":\"help\",\"query\":\"заказ orders\",\"language\":\"en\"}");
    assert_string_equal(json_string_value(th_get(o, "result.passages.0.document")), "shipping");
    assert_int_equal(json_array_size(th_get(o, "result.passages")), 1);
    json_decref(o);
    o = search("{\"kb\":\"help\",\"query\":\"заказ orders\",\"tags\":[\"policy\"]}");
    assert_true(json_array_size(th_get(o, "result.passages")) >= 1);
    assert_string_equal(json_string_value(th_get(o, "result.passages.0.document")), "returns");
    json_decref(o);
}

/* A scenario: greet, wait for a question, rag.search it (a plugin step the
 * manifest declares), say the best passage's document and heading. */
static const char SCENARIO[] =
    "{\"format\":\"agenthost.scenario/1\",\"default_language\":\"ru\",\"languages\":[\"ru\","
    "\"en\"],\"variables\":{\"question\":{\"type\":\"string\"},\"source\":{\"type\":\"string\"},"
    "\"heading\":{\"type\":\"string\"}},\"start\":\"greet\",\"steps\":{"
    "\"greet\":{\"kind\":\"say\",\"text\":\"Ask\",\"next\":\"listen\"},"
    "\"listen\":{\"kind\":\"wait\",\"for\":\"input\",\"var\":\"question\",\"next\":\"find\"},"
    "\"find\":{\"kind\":\"rag.search\",\"instance\":\"kb\",\"args\":{\"kb\":\"help\","
    "\"query\":\"{{ vars.question }}\",\"top_k\":2},\"result\":{\"source\":"
    "\".result.passages[0].document // \\\"none\\\"\",\"heading\":"
    "\".result.passages[0].heading_path[-1] // \\\"\\\"\"},\"next\":\"tell\"},"
    "\"tell\":{\"kind\":\"say\",\"text\":\"{{ vars.source }}: {{ vars.heading }}\","
    "\"next\":\"listen\"}}}";

static json_t *say_to(const char *agent, const char *text)
{
    char path[200];
    snprintf(path, sizeof path, "/api/v1/agents/%s/messages", agent);
    json_t *b = json_pack("{s:s,s:s}", "user", "anna", "text", text), *o = NULL;
    char *body = json_dumps(b, 0);
    assert_int_equal(th_http(&H, "POST", path, body, NULL, &o), 200);
    free(body);
    json_decref(b);
    return o;
}

static void a_scenario_searches_with_the_rag_search_step_and_each_query_is_logged(void **s)
{
    (void)s;
    char agent[64];
    assert_int_equal(th_make_agent(&H, "Help", SCENARIO, NULL, agent, sizeof agent), 0);
    json_decref(say_to(agent, "привет"));
    json_t *o = say_to(agent, "как оформить возврат в личном кабинете");
    assert_string_equal(json_string_value(th_get(o, "messages.0.text")), "returns: Как оформить");
    json_decref(o);
    /* logs/rag_integration.log: base, query hash, time, hits; no text */
    assert_true(th_wait_file(&H, "logs/rag_integration.log", "\"query_hash\"", 5000));
    assert_true(th_file_contains(&H, "logs/rag_integration.log", "\"kb\":\"help\""));
    assert_true(th_file_contains(&H, "logs/rag_integration.log", "\"took_us\""));
    assert_false(th_file_contains(&H, "logs/rag_integration.log", "кабинете"));
}

static void bad_documents_are_refused_naming_the_field(void **s)
{
    (void)s;
    json_t *o;
    call("document.add", "{\"kb\":\"help\",\"id\":\"a\",\"content\":\"PK\",\"format\":\"epub\"}",
         &o);
    assert_string_equal(json_string_value(th_get(o, "error.code")), "unsupported_format");
    assert_non_null(strstr(json_string_value(th_get(o, "error.message")), "format"));
    json_decref(o);
    /* a PDF is sent as base64: raw PDF text is not (ADR 0048) */
    call("document.add",
         "{\"kb\":\"help\",\"id\":\"a\",\"content\":\"%PDF-1.7\",\"format\":\"pdf\"}", &o);
    assert_string_equal(json_string_value(th_get(o, "error.code")), "invalid");
    assert_non_null(strstr(json_string_value(th_get(o, "error.message")), "content: "));
    json_decref(o);
    /* a ZIP header as text (JSON carries no NUL: the API refuses it as malformed) */
    call("document.add",
         "{\"kb\":\"help\",\"id\":\"b\",\"content\":\"PK\\u0003\\u0004\\u0014\\u0006\\b"
         "\\u0002 word[Content_Types].xml\\ufffd\\ufffd\"}",
         &o);
    assert_string_equal(json_string_value(th_get(o, "error.code")), "binary");
    json_decref(o);
    char *big = malloc(20000), *args = NULL;
    memset(big, 'a', 19999);
    for (int i = 5; i < 19999; i += 6)
        big[i] = ' ';
    big[19999] = 0;
    (void)!asprintf(&args, "{\"kb\":\"help\",\"id\":\"c\",\"content\":\"%s\"}", big);
    call("document.add", args, &o);
    assert_string_equal(json_string_value(th_get(o, "error.code")), "too_large");
    assert_non_null(strstr(json_string_value(th_get(o, "error.message")), "content: 19999 bytes"));
    json_decref(o);
    free(args);
    free(big);
    call("search", "{\"kb\":\"nope\",\"query\":\"x\"}", &o);
    assert_string_equal(json_string_value(th_get(o, "error.code")), "not_found");
    json_decref(o);
}

static void replaced_and_deleted_documents_survive_a_restart_as_they_were_left(void **s)
{
    (void)s;
    json_t *o;
    add_ready("{\"kb\":\"help\",\"id\":\"shipping\",\"format\":\"markdown\",\"language\":\"en\","
              "\"content\":\"# Shipping\\n\\nParcels travel by train to Georgia.\"}",
              "shipping");
    o = search("{\"kb\":\"help\",\"query\":\"Armenia\"}");
    assert_int_equal(json_array_size(th_get(o, "result.passages")), 0);
    json_decref(o);

    /* The index is on disk in the instance's private storage (ADR 0054),
     * opened by the plugin under both seccomp filters, at /data in its
     * minimal root when confined. */
    json_t *st = NULL;
    assert_int_equal(th_http(&H, "GET", "/api/v1/instances/kb", NULL, NULL, &st), 200);
    assert_int_equal(json_integer_value(th_get(st, "confinement.seccomp_filters")), 2);
    const char *open_sandbox = getenv("AGENTHOST_TEST_NO_SANDBOX");
    if (!open_sandbox || strcmp(open_sandbox, "1") != 0) {
        assert_true(json_is_true(th_get(st, "confinement.sandbox")));
        assert_string_equal(json_string_value(th_get(st, "confinement.storage.path")), "/data");
    }
    json_decref(st);
    char mdb[800];
    snprintf(mdb, sizeof mdb, "%s/plugin-data/kb/data.mdb", H.data);
    struct stat sb;
    assert_int_equal(stat(mdb, &sb), 0);
    assert_true(sb.st_size > 0);

    assert_int_equal(th_stop_clean(&H, 10000), 0);
    assert_int_equal(th_start(&H, NULL, 15000), 0);
    assert_true(th_wait_state(&H, "kb", "ready", 15000));
    assert_int_equal(call_loaded("kb.list", "{}", &o), 200);
    assert_string_equal(json_string_value(th_get(o, "result.bases.0.name")), "help");
    assert_int_equal(json_integer_value(th_get(o, "result.bases.0.documents")), 2);
    json_decref(o);
    o = search("{\"kb\":\"help\",\"query\":\"train Georgia\"}");
    assert_string_equal(json_string_value(th_get(o, "result.passages.0.document")), "shipping");
    json_decref(o);
    o = search("{\"kb\":\"help\",\"query\":\"возврат денег\"}");
    assert_string_equal(json_string_value(th_get(o, "result.passages.0.heading_path.0")),
                        "Возврат");
    json_decref(o);

    assert_int_equal(call("document.delete", "{\"kb\":\"help\",\"id\":\"returns\"}", NULL), 200);
    o = search("{\"kb\":\"help\",\"query\":\"возврат денег\"}");
    assert_int_equal(json_array_size(th_get(o, "result.passages")), 0);
    json_decref(o);
    assert_int_equal(call("kb.delete", "{\"kb\":\"help\"}", NULL), 200);
    assert_int_equal(call("kb.list", "{}", &o), 200);
    assert_int_equal(json_array_size(th_get(o, "result.bases")), 0);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bases_documents_and_cited_passages_in_russian_and_english),
        cmocka_unit_test(a_scenario_searches_with_the_rag_search_step_and_each_query_is_logged),
        cmocka_unit_test(bad_documents_are_refused_naming_the_field),
        cmocka_unit_test(replaced_and_deleted_documents_survive_a_restart_as_they_were_left),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
