/*
 * The RAG plugin's vectors in a real host (issue 18): chunks embedded
 * through the llm-openai instance's embed action (host->call, ADR 0047)
 * against the fake OpenAI's stand-in embeddings, in batches, each text
 * once; a provider failing in the middle of an ingestion (and a restart
 * meanwhile) resumed without embedding anything twice; search in bm25,
 * vector and hybrid modes with filters and citations unchanged; and the
 * answer action: citations from the passages, in the conversation's
 * language, and "I don't know" when no passage holds the answer, as an
 * action and as a scenario's rag.answer step; and re-ranking by the LLM
 * (the fake's overlap scores), with a garbage answer and a provider
 * timeout keeping the fused order.
 */
#include "../fakes/fake_proc.h"
#include "../support/th.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_BIN TH_BUILD_DIR "/tests/fakes/fake_openai"

static th_host H;
static fake_proc F;

static const char GUIDE[] =
    "# Возврат\n\nДеньги за заказ возвращаются на карту в течение 14 дней после "
    "получения возврата на склад.\n\n## Как оформить\n\n- Откройте заказ в личном кабинете.\n"
    "- Нажмите «Вернуть товар».\n\n# Доставка\n\nКурьер привозит заказы с 9 до 21 часа.\n\n"
    "# Оплата\n\nКартой, наличными курьеру или по счёту для компаний.\n";

static const char PAGE[] = "# Shipping\n\nOrders ship within two business days.\n\n"
                           "## International\n\nWe deliver to Kazakhstan and Armenia by courier.\n";

typedef struct {
    char *p;
    size_t n;
} buf;

static size_t collect(char *d, size_t s, size_t n, void *ud)
{
    buf *b = ud;
    char *np = realloc(b->p, b->n + s * n + 1);
    memcpy(np + b->n, d, s * n);
    b->p = np;
    b->n += s * n;
    b->p[b->n] = 0;
    return s * n;
}

static json_t *fake_api(const char *method, const char *path)
{
    char url[600];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", F.port, path);
    CURL *c = curl_easy_init();
    buf b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_perform(c);
    curl_easy_cleanup(c);
    json_t *o = b.p ? json_loads(b.p, 0, NULL) : NULL;
    free(b.p);
    return o;
}

/* Texts the fake embedded (the sizes of the embedding requests it answered). */
static long embedded_texts(void)
{
    json_t *s = fake_api("GET", "/_fake/stats");
    long n = 0;
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(s, "embedding_batches"), i, b) n +=
        (long)json_integer_value(b);
    json_decref(s);
    return n;
}

static int call(const char *action, const char *args, json_t **out)
{
    if (out) *out = NULL;
    json_t *tmp = NULL;
    int st = th_call(&H, "kb", action, args, out ? out : &tmp);
    if (st != 200 && getenv("RAG_DEBUG")) {
        char *d = json_dumps(out ? *out : tmp, JSON_COMPACT);
        fprintf(stderr, "%s %s -> %d %s\n", action, args, st, d ? d : "");
        free(d);
    }
    json_decref(tmp);
    return st;
}

static int call_loaded(const char *action, const char *args, json_t **out)
{
    for (int i = 0; i < 200; i++) {
        int st = call(action, args, out);
        const char *code = json_string_value(th_get(*out, "error.code"));
        if (!code || strcmp(code, "loading") != 0) return st;
        json_decref(*out);
        th_sleep_ms(50);
    }
    return -1;
}

/* The document's record in document.list, or NULL (the caller owns it). */
static json_t *doc_rec(const char *id)
{
    json_t *o;
    assert_int_equal(call_loaded("document.list", "{\"kb\":\"help\"}", &o), 200);
    size_t k;
    json_t *d, *found = NULL;
    json_array_foreach(th_get(o, "result.documents"), k, d)
    {
        if (!strcmp(json_string_value(json_object_get(d, "id")), id)) found = json_incref(d);
    }
    json_decref(o);
    return found;
}

/* Waits (bounded) until the document's state is `state` or its record
 * holds an error (error = 1). */
static void wait_doc(const char *id, const char *state, int error)
{
    for (int i = 0; i < 600; i++) {
        json_t *d = doc_rec(id);
        const char *st = json_string_value(json_object_get(d, "state"));
        int done = error ? json_object_get(d, "error") != NULL
                         : st && !strcmp(st, state) && !json_object_get(d, "error");
        json_decref(d);
        if (done) return;
        th_sleep_ms(50);
    }
    fail_msg("%s never reached %s%s", id, state, error ? " with an error" : "");
}

static void add(const char *id, const char *content, const char *lang, const char *tag)
{
    json_t *a = json_pack("{s:s,s:s,s:s,s:s,s:s,s:[s]}", "kb", "help", "id", id, "content", content,
                          "format", "markdown", "language", lang, "tags", tag);
    char *s = json_dumps(a, JSON_COMPACT);
    json_t *o;
    assert_int_equal(call("document.add", s, &o), 200);
    json_decref(o);
    free(s);
    json_decref(a);
}

static int start_host(void)
{
    return th_start(&H, NULL, 15000) || !th_wait_state(&H, "kb", "ready", 15000) ||
                   !th_wait_state(&H, "llm", "ready", 15000) ||
                   !th_wait_state(&H, "kb-garbage", "ready", 15000) ||
                   !th_wait_state(&H, "kb-slow", "ready", 15000) ||
                   !th_wait_state(&H, "kb-missing", "ready", 15000) ||
                   !th_wait_state(&H, "kb-invent", "ready", 15000)
               ? -1
               : 0;
}

static int setup(void **s)
{
    (void)s;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (fake_start(&F, FAKE_BIN, 5000)) return -1;
    char cfg[2048];
    snprintf(cfg, sizeof cfg,
             "{\"listen\":\"127.0.0.1:0\","
             "\"broker\":{\"retry_base_ms\":10,\"retry_max_ms\":50,\"max_retries\":1,"
             "\"breaker_failures\":1000},"
             "\"instances\":[{\"id\":\"kb\",\"plugin\":\"rag\",\"config\":{\"max_tokens\":20,"
             "\"overlap_tokens\":2,\"embed_instance\":\"llm\",\"embed_batch\":2,"
             "\"embed_dimensions\":256,\"answer_instance\":\"llm\"}},"
             "{\"id\":\"kb-garbage\",\"plugin\":\"rag\",\"config\":{\"rerank_instance\":\"llm\","
             "\"rerank_model\":\"rerank-garbage\"}},"
             "{\"id\":\"kb-slow\",\"plugin\":\"rag\",\"config\":{\"rerank_instance\":\"llm\","
             "\"rerank_model\":\"slow:5000\",\"rerank_timeout_ms\":1000}},"
             "{\"id\":\"kb-missing\",\"plugin\":\"rag\",\"config\":{\"rerank_instance\":\"llm\","
             "\"rerank_model\":\"rerank-missing\"}},"
             "{\"id\":\"kb-invent\",\"plugin\":\"rag\",\"config\":{\"rerank_instance\":\"llm\","
             "\"rerank_model\":\"rerank-invent\"}},"
             "{\"id\":\"llm\",\"plugin\":\"llm-openai\",\"config\":{\"base_url\":"
             "\"http://127.0.0.1:%d/v1\",\"embedding_model\":\"ngram-stand-in\"},"
             "\"egress\":[{\"scheme\":\"http\",\"host\":\"127.0.0.1\",\"port\":%d,"
             "\"private\":true}]}]}",
             F.port, F.port);
    if (th_init(&H, "rag-embed") || th_install_plugin(&H, "rag") ||
        th_install_plugin(&H, "llm-openai") || th_install_plugin(&H, "jq") || th_config(&H, cfg) ||
        start_host())
        return -1;
    json_t *o;
    if (call_loaded("kb.create", "{\"name\":\"help\"}", &o) != 200) return -1;
    json_decref(o);
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    int rc = th_stop_clean(&H, 10000);
    th_cleanup(&H);
    fake_stop(&F);
    curl_global_cleanup();
    return rc ? -1 : 0;
}

static void a_failing_provider_and_a_restart_embed_nothing_twice(void **s)
{
    (void)s;
    /* One embedding request answered (a batch of 2 chunks), then 500s. */
    json_decref(fake_api("POST", "/_fake/embeddings?fail_after=1"));
    long before = embedded_texts();
    add("returns", GUIDE, "ru", "policy");
    wait_doc("returns", "ingesting", 1);
    json_t *d = doc_rec("returns");
    json_int_t chunks = json_integer_value(json_object_get(d, "chunks"));
    assert_true(chunks > 2); /* more than one batch */
    assert_non_null(strstr(json_string_value(json_object_get(d, "error")), "embedding"));
    json_decref(d);
    assert_int_equal(embedded_texts() - before, 2);

    /* A restart while the provider is still down, then the provider back. */
    assert_int_equal(th_stop(&H, 10000), 0);
    assert_int_equal(start_host(), 0);
    wait_doc("returns", "ingesting", 1);
    json_decref(fake_api("POST", "/_fake/embeddings?fail_after=-1"));
    wait_doc("returns", "ready", 0);
    /* Every chunk embedded once: the first batch was kept across the failure and the restart. */
    assert_int_equal(embedded_texts() - before, chunks);

    /* The same texts in another document are not embedded again. */
    add("returns-copy", GUIDE, "ru", "copy");
    wait_doc("returns-copy", "ready", 0);
    assert_int_equal(embedded_texts() - before, chunks);
}

static void search_modes_keep_filters_and_citations(void **s)
{
    (void)s;
    add("shipping", PAGE, "en", "shipping");
    wait_doc("shipping", "ready", 0);
    const char *modes[] = {"bm25", "vector", "hybrid"};
    for (int m = 0; m < 3; m++) {
        char args[400];
        snprintf(args, sizeof args,
                 "{\"kb\":\"help\",\"query\":\"когда вернут деньги на карту\",\"top_k\":3,"
                 "\"mode\":\"%s\",\"tags\":[\"policy\"]}",
                 modes[m]);
        json_t *o;
        assert_int_equal(call("search", args, &o), 200);
        assert_string_equal(json_string_value(th_get(o, "result.mode")), modes[m]);
        json_t *p = th_get(o, "result.passages.0");
        assert_non_null(p);
        assert_string_equal(json_string_value(json_object_get(p, "document")), "returns");
        assert_string_equal(json_string_value(th_get(p, "heading_path.0")), "Возврат");
        assert_non_null(strstr(json_string_value(json_object_get(p, "text")), "14 дней"));
        assert_true(json_integer_value(json_object_get(p, "end")) >
                    json_integer_value(json_object_get(p, "start")));
        /* The tag filter holds in every mode: the copy and the English page stay out. */
        size_t k;
        json_t *q;
        json_array_foreach(th_get(o, "result.passages"), k, q)
            assert_string_equal(json_string_value(json_object_get(q, "document")), "returns");
        json_decref(o);
    }
    /* The default with embeddings is hybrid; language filters as before. */
    json_t *o;
    assert_int_equal(call("search",
                          "{\"kb\":\"help\",\"query\":\"deliver to Armenia\",\"language\":\"en\"}",
                          &o),
                     200);
    assert_string_equal(json_string_value(th_get(o, "result.mode")), "hybrid");
    assert_string_equal(json_string_value(th_get(o, "result.passages.0.document")), "shipping");
    assert_string_equal(json_string_value(th_get(o, "result.passages.0.heading_path.1")),
                        "International");
    json_decref(o);
    /* Weights: all on the lexical side gives BM25's order. */
    assert_int_equal(call("search",
                          "{\"kb\":\"help\",\"query\":\"курьер\",\"mode\":\"hybrid\","
                          "\"weights\":{\"bm25\":1,\"vector\":0}}",
                          &o),
                     200);
    assert_non_null(strstr(json_string_value(th_get(o, "result.passages.0.text")), "Курьер"));
    json_decref(o);
    assert_true(th_wait_file(&H, "logs/rag_integration.log", "\"mode\":\"vector\"", 5000));
}

static void answers_cite_the_passages_and_say_when_they_do_not_know(void **s)
{
    (void)s;
    json_t *o;
    assert_int_equal(call("answer",
                          "{\"kb\":\"help\",\"question\":\"Когда вернут деньги?\","
                          "\"reply_language\":\"ru\",\"tags\":[\"policy\"]}",
                          &o),
                     200);
    assert_true(json_is_true(th_get(o, "result.known")));
    assert_true(json_string_length(th_get(o, "result.answer")) > 0);
    json_t *c = th_get(o, "result.citations.0");
    assert_non_null(c);
    assert_string_equal(json_string_value(json_object_get(c, "document")), "returns");
    assert_non_null(json_object_get(c, "heading_path"));
    assert_non_null(json_object_get(c, "start"));
    json_decref(o);
    /* What the model was asked: the passages numbered, the language, the way out. */
    json_t *last = fake_api("GET", "/_fake/last?model=gpt-4o-mini");
    char *body = json_dumps(th_get(last, "body"), JSON_COMPACT);
    assert_non_null(body);
    assert_non_null(strstr(body, "[1] returns"));
    assert_non_null(strstr(body, "14 дней"));
    assert_non_null(strstr(body, "\\\"ru\\\""));
    assert_non_null(strstr(body, "NOT_IN_PASSAGES"));
    free(body);
    json_decref(last);

    /* No passage: the answer says it does not know, in the question's language. */
    assert_int_equal(call("answer",
                          "{\"kb\":\"help\",\"question\":\"Сколько стоит подписка?\","
                          "\"mode\":\"bm25\",\"tags\":[\"nothing-has-this-tag\"]}",
                          &o),
                     200);
    assert_false(json_is_true(th_get(o, "result.known")));
    assert_non_null(strstr(json_string_value(th_get(o, "result.answer")), "Не знаю"));
    assert_int_equal(json_array_size(th_get(o, "result.citations")), 0);
    json_decref(o);
    assert_int_equal(call("answer",
                          "{\"kb\":\"help\",\"question\":\"What is the price?\","
                          "\"mode\":\"bm25\",\"language\":\"de\"}",
                          &o),
                     200);
    assert_false(json_is_true(th_get(o, "result.known")));
    assert_non_null(strstr(json_string_value(th_get(o, "result.answer")), "I don't know"));
    json_decref(o);
}

/* A scenario: greet, wait for a question, rag.answer it (its passages
 * re-ranked by the LLM) in the conversation's language, say the answer and
 * its first source. */
static const char SCENARIO[] =
    "{\"format\":\"agenthost.scenario/1\",\"default_language\":\"ru\",\"languages\":[\"ru\","
    "\"en\"],\"variables\":{\"question\":{\"type\":\"string\"},\"reply\":{\"type\":\"string\"},"
    "\"source\":{\"type\":\"string\"}},\"start\":\"greet\",\"steps\":{"
    "\"greet\":{\"kind\":\"say\",\"text\":\"Ask\",\"next\":\"listen\"},"
    "\"listen\":{\"kind\":\"wait\",\"for\":\"input\",\"var\":\"question\",\"next\":\"answer\"},"
    "\"answer\":{\"kind\":\"rag.answer\",\"instance\":\"kb\",\"args\":{\"kb\":\"help\","
    "\"question\":\"{{ vars.question }}\",\"reply_language\":\"{{ conversation.language }}\","
    "\"mode\":\"bm25\",\"top_k\":2,\"rerank\":{\"top_n\":4}},\"result\":{\"reply\":\".result."
    "answer\",\"source\":"
    "\".result.citations[0].document // \\\"none\\\"\"},\"next\":\"tell\"},"
    "\"tell\":{\"kind\":\"say\",\"text\":\"{{ vars.reply }} ({{ vars.source }})\","
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

static void a_scenario_answers_with_the_rag_answer_step(void **s)
{
    (void)s;
    char agent[64];
    assert_int_equal(th_make_agent(&H, "Help", SCENARIO, NULL, agent, sizeof agent), 0);
    json_decref(say_to(agent, "привет"));
    json_t *o = say_to(agent, "Когда вернут деньги на карту?");
    const char *text = json_string_value(th_get(o, "messages.0.text"));
    assert_non_null(text);
    assert_non_null(strstr(text, "(returns"));
    json_decref(o);
    /* The step's search was re-ranked (the first re-ranking of this run). */
    assert_true(th_wait_file(&H, "logs/rag_integration.log", "\"reranked\":true", 5000));
    o = say_to(agent, "Сколько стоит подписка?");
    text = json_string_value(th_get(o, "messages.0.text"));
    assert_non_null(text);
    assert_non_null(strstr(text, "Не знаю"));
    assert_non_null(strstr(text, "(none)"));
    json_decref(o);
}

/* On instance `inst`, a base "help" holding GUIDE (BM25 only), searched with
 * rerank: the answer (the caller owns it). */
static json_t *reranked_search(const char *inst)
{
    json_t *o = NULL;
    for (int i = 0; i < 200; i++) { /* the instance loads its (empty) KV first */
        json_decref(o);
        th_call(&H, inst, "kb.create", "{\"name\":\"help\"}", &o);
        const char *code = json_string_value(th_get(o, "error.code"));
        if (!code || strcmp(code, "loading") != 0) break;
        th_sleep_ms(50);
    }
    json_decref(o);
    json_t *a = json_pack("{s:s,s:s,s:s,s:s}", "kb", "help", "id", "guide", "content", GUIDE,
                          "format", "markdown");
    char *args = json_dumps(a, JSON_COMPACT);
    assert_int_equal(th_call(&H, inst, "document.add", args, &o), 200);
    json_decref(o);
    free(args);
    json_decref(a);
    for (int i = 0; i < 200; i++) { /* ingestion is a job: bounded wait for the chunks */
        assert_int_equal(th_call(&H, inst, "search",
                                 "{\"kb\":\"help\",\"query\":\"курьер заказы карту деньги\","
                                 "\"top_k\":4,\"rerank\":{\"top_n\":4}}",
                                 &o),
                         200);
        if (json_array_size(th_get(o, "result.passages")) >= 3) return o;
        json_decref(o);
        th_sleep_ms(50);
    }
    fail_msg("%s: the guide was not searchable", inst);
    return NULL;
}

static void reranking_through_the_llm_instance_or_the_fused_order_when_it_fails(void **s)
{
    (void)s;
    /* The fake scores by query-word overlap: the passages come back by that score. */
    json_t *o;
    assert_int_equal(call("search",
                          "{\"kb\":\"help\",\"query\":\"курьер привозит заказы\",\"mode\":\"bm25\","
                          "\"top_k\":3,\"tags\":[\"policy\"],\"rerank\":{\"top_n\":5}}",
                          &o),
                     200);
    assert_true(json_is_true(th_get(o, "result.reranked")));
    json_t *ps = th_get(o, "result.passages");
    assert_int_equal(json_array_size(ps), 3);
    for (size_t i = 0; i + 1 < json_array_size(ps); i++)
        assert_true(json_number_value(th_get(json_array_get(ps, i), "rerank_score")) >=
                    json_number_value(th_get(json_array_get(ps, i + 1), "rerank_score")));
    assert_non_null(strstr(json_string_value(th_get(o, "result.passages.0.text")), "Курьер"));
    assert_non_null(th_get(o, "result.passages.0.heading_path"));
    json_decref(o);
    /* What the model was asked: the strict schema, the passages numbered. */
    json_t *last = fake_api("GET", "/_fake/last?model=gpt-4o-mini");
    char *body = json_dumps(th_get(last, "body"), JSON_COMPACT);
    assert_non_null(strstr(body, "passage_relevance"));
    assert_non_null(strstr(body, "<passage id=\\\"2\\\">"));
    free(body);
    json_decref(last);
    assert_true(th_wait_file(&H, "logs/rag_integration.log", "\"reranked\":true", 5000));

    /* A garbage answer, a provider slower than rerank_timeout_ms, an answer leaving a
     * passage out: the fused order. */
    const char *bad[] = {"kb-garbage", "kb-slow", "kb-missing"},
               *code[] = {"re-ranking through llm failed: bad_response",
                          "re-ranking through llm failed: timeout", "the model's answer left out"};
    for (int i = 0; i < 3; i++) {
        o = reranked_search(bad[i]);
        assert_true(json_is_false(th_get(o, "result.reranked")));
        const char *why = json_string_value(th_get(o, "result.rerank_reason"));
        assert_non_null(why);
        if (getenv("RAG_DEBUG")) fprintf(stderr, "%s: %s\n", bad[i], why);
        assert_non_null(strstr(why, code[i]));
        assert_null(th_get(o, "result.passages.0.rerank_score"));
        json_decref(o);
    }
    assert_true(th_wait_file(&H, "logs/rag_integration.log", "\"reranked\":false", 5000));
    /* Ids the model invents (the fake adds 0 and one past the last) are ignored. */
    o = reranked_search("kb-invent");
    assert_true(json_is_true(th_get(o, "result.reranked")));
    assert_non_null(th_get(o, "result.passages.0.rerank_score"));
    json_decref(o);
    assert_true(th_wait_file(&H, "logs/rag_integration.log", "\"ignored_ids\":2", 5000));
}

/* The fake's HTTP server reads a body that arrives after its headers (a long
 * re-ranking prompt does): headers in one write, the body in a later one. */
static void the_fake_reads_a_body_that_arrives_after_its_headers(void **s)
{
    (void)s;
    const char body[] = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\","
                        "\"content\":\"hello\"}]}";
    char head[300];
    int hl = snprintf(head, sizeof head,
                      "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n",
                      strlen(body));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)F.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval bound = {.tv_sec = 10}; /* a server that never answers fails, not hangs */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof bound);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(write(fd, head, (size_t)hl), hl);
    th_sleep_ms(100); /* the server reads the headers alone first */
    assert_int_equal(write(fd, body, strlen(body)), (ssize_t)strlen(body));
    char got[4096];
    size_t n = 0;
    for (ssize_t r; n + 1 < sizeof got && (r = read(fd, got + n, sizeof got - 1 - n)) > 0;)
        n += (size_t)r;
    got[n] = 0;
    close(fd);
    if (strncmp(got, "HTTP/1.1 200", 12) != 0) fail_msg("answered: %.200s", got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_failing_provider_and_a_restart_embed_nothing_twice),
        cmocka_unit_test(search_modes_keep_filters_and_citations),
        cmocka_unit_test(answers_cite_the_passages_and_say_when_they_do_not_know),
        cmocka_unit_test(a_scenario_answers_with_the_rag_answer_step),
        cmocka_unit_test(reranking_through_the_llm_instance_or_the_fused_order_when_it_fails),
        cmocka_unit_test(the_fake_reads_a_body_that_arrives_after_its_headers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
