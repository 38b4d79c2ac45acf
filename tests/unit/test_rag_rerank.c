/*
 * The RAG plugin's re-ranking by the LLM (plugins/rag/rerank.c) in the
 * SDK's fake host: the chat call to the LLM instance answered by
 * aht_on_call, as the model says (scores given by the test), as the fake
 * re-ranker says (rerank_score.h), or badly (prose, an error, a timeout,
 * passages left out, ids invented); the order, reranked and its reason,
 * citations, the bound on what is sent, and the log line.
 */
#include "../fakes/rerank_score.h"
#include "../support/kit.h"

#include <agenthost/testing.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const ah_plugin agenthost_plugin;

typedef enum {
    BY_ID_REVERSED, /* score = id: the last passage first */
    BY_OVERLAP,     /* the fake re-ranker */
    PROSE,
    ERROR_TIMEOUT,
    ERROR_PROVIDER,
    LEAVES_ONE_OUT,
    INVENTS_IDS,
    SCORE_NOT_A_NUMBER,
} behaviour;

typedef struct {
    behaviour b;
    int chats;
    json_t *last; /* the last chat's args */
} llm;

/* The passage ids of a re-ranking prompt: <passage id="N">, in order. */
static size_t ids_in(const char *prompt, long *ids, size_t max)
{
    size_t n = 0;
    for (const char *s = prompt; n < max && (s = strstr(s, "<passage id=\"")); s++)
        ids[n++] = strtol(s + strlen("<passage id=\""), NULL, 10);
    return n;
}

static json_t *content(const char *text)
{
    return json_pack("{s:{s:s}}", "result", "content", text);
}

static json_t *fake_llm(void *ud, const char *instance, const char *action, const json_t *args)
{
    llm *l = ud;
    if (strcmp(instance, "llm") != 0 || strcmp(action, "chat") != 0) return NULL;
    l->chats++;
    json_decref(l->last);
    l->last = json_deep_copy(args);
    const char *prompt = json_string_value(json_object_get(args, "prompt"));
    if (!json_object_get(args, "json_schema")) /* the answer action's chat */
        return content("Курьер привозит заказы с 9 до 21 часа [1].");
    long ids[64];
    size_t n = ids_in(prompt, ids, 64);
    json_t *scores = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            scores, json_pack("{s:I,s:I}", "id", (json_int_t)ids[i], "score", (json_int_t)ids[i]));
    json_t *ans = NULL;
    switch (l->b) {
    case BY_OVERLAP: {
        char *c = rerank_score(prompt, RERANK_NORMAL);
        ans = content(c);
        free(c);
        break;
    }
    case PROSE:
        ans = content("Passage 2 is the most relevant, then passage 1.");
        break;
    case ERROR_TIMEOUT:
        ans = json_pack("{s:{s:s,s:s}}", "error", "code", "timeout", "message",
                        "no answer within 30000 ms");
        break;
    case ERROR_PROVIDER:
        ans = json_pack("{s:{s:s,s:s}}", "error", "code", "provider_error", "message",
                        "500 server_error");
        break;
    case LEAVES_ONE_OUT:
        json_array_remove(scores, 0);
        break;
    case INVENTS_IDS:
        json_array_append_new(scores, json_pack("{s:i,s:i}", "id", 99, "score", 100));
        json_array_append_new(scores, json_pack("{s:i,s:i}", "id", 0, "score", 100));
        json_array_append_new(scores, json_pack("{s:s,s:i}", "id", "p1", "score", 100));
        break;
    case SCORE_NOT_A_NUMBER:
        json_object_set_new(json_array_get(scores, 0), "score", json_string("high"));
        break;
    case BY_ID_REVERSED:
        break;
    }
    if (!ans) { /* the LLM plugin's JSON mode: content and json */
        json_t *o = json_pack("{s:o}", "scores", scores);
        char *c = json_dumps(o, JSON_COMPACT);
        ans = json_pack("{s:{s:s,s:o}}", "result", "content", c, "json", o);
        free(c);
    } else {
        json_decref(scores);
    }
    return ans;
}

static const json_t *ok(const json_t *answer)
{
    if (!json_object_get(answer, "result")) {
        char *d = json_dumps(answer, JSON_COMPACT);
        fail_msg("not answered: %s", d ? d : "(nothing)");
    }
    return json_object_get(answer, "result");
}

/* Four sections, each mentioning the courier, to different degrees. */
static const char GUIDE[] =
    "# Доставка\n\nКурьер привозит заказы с 9 до 21 часа, курьер звонит заранее.\n\n"
    "# Возврат\n\nКурьер забирает возврат; деньги за заказ вернут на карту.\n\n"
    "# Оплата\n\nОплата курьеру картой или наличными при получении заказа.\n\n"
    "# Подарки\n\nПодарочную упаковку курьер привозит отдельно.\n";

/* The plugin's private storage (its index, ADR 0054): one base at a time,
 * made by base() and removed by done(). */
static char storage[256];

static void done(aht *t)
{
    aht_free(t);
    kit_rmtree(storage);
    storage[0] = 0;
}

static aht *base(llm *l, const char *kb_args)
{
    assert_int_equal(kit_tmpdir("rag-rerank", storage, sizeof storage), 0);
    aht *t = aht_new(&agenthost_plugin, "kb");
    aht_storage_dir(t, storage);
    aht_on_call(t, fake_llm, l);
    assert_int_equal(aht_init(t, "{\"max_document_bytes\": 100000, \"max_tokens\": 2000, "
                                 "\"overlap_tokens\": 2, \"rerank_instance\": \"llm\", "
                                 "\"answer_instance\": \"llm\", "
                                 "\"rerank_timeout_ms\": 5000}"),
                     AH_OK);
    ok(aht_call(t, "kb.create", kb_args ? kb_args : "{\"name\": \"help\"}"));
    json_t *a = json_pack("{s:s,s:s,s:s,s:s}", "kb", "help", "id", "guide", "content", GUIDE,
                          "format", "markdown");
    char *args = json_dumps(a, 0);
    ok(aht_call(t, "document.add", args));
    aht_run(t);
    free(args);
    json_decref(a);
    return t;
}

#define QUERY "\"kb\": \"help\", \"query\": \"курьер привозит заказ\", \"mode\": \"bm25\""

/* The passages' chunk numbers, in order, into out (a string like "2,0,1"). */
static void order_of(const json_t *r, char *out, size_t len)
{
    size_t i, at = 0;
    const json_t *p;
    out[0] = 0;
    json_array_foreach(json_object_get(r, "passages"), i, p) at +=
        (size_t)snprintf(out + at, len - at, "%s%lld", i ? "," : "",
                         (long long)json_integer_value(json_object_get(p, "chunk")));
}

static void reranking_reorders_the_candidates_as_the_model_scores_them(void **s)
{
    (void)s;
    llm l = {.b = BY_ID_REVERSED};
    aht *t = base(&l, NULL);
    char fused[64], reranked[64];
    const json_t *r = ok(aht_call(t, "search", "{" QUERY ", \"top_k\": 4}"));
    order_of(r, fused, sizeof fused);
    json_t *before = json_deep_copy(json_object_get(r, "passages"));
    assert_int_equal(json_array_size(before), 4);
    assert_null(json_object_get(r, "reranked")); /* not asked: not said */
    assert_int_equal(l.chats, 0);

    r = ok(aht_call(t, "search", "{" QUERY ", \"top_k\": 4, \"rerank\": {\"top_n\": 4}}"));
    assert_true(json_is_true(json_object_get(r, "reranked")));
    assert_null(json_object_get(r, "rerank_reason"));
    order_of(r, reranked, sizeof reranked);
    assert_string_not_equal(fused, reranked);
    /* The model scored passage N with N: the fused order reversed, each with its citation. */
    for (size_t i = 0; i < 4; i++) {
        json_t *p = json_array_get(json_object_get(r, "passages"), i);
        json_t *was = json_deep_copy(json_array_get(before, 3 - i));
        assert_true(json_equal(json_object_get(p, "start"), json_object_get(was, "start")));
        assert_true(json_equal(json_object_get(p, "document"), json_object_get(was, "document")));
        assert_true(
            json_equal(json_object_get(p, "heading_path"), json_object_get(was, "heading_path")));
        assert_true(json_equal(json_object_get(p, "text"), json_object_get(was, "text")));
        assert_int_equal(json_integer_value(json_object_get(p, "rerank_score")), 0);
        assert_true(json_number_value(json_object_get(p, "rerank_score")) == (double)(4 - i));
        json_decref(was);
    }
    /* One call: the strict JSON schema, the query, every passage numbered. */
    assert_int_equal(l.chats, 1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(l.last, "json_schema"), "name")),
        "passage_relevance");
    const char *prompt = json_string_value(json_object_get(l.last, "prompt"));
    assert_non_null(strstr(prompt, "<query>\nкурьер привозит заказ\n</query>"));
    long ids[8];
    assert_int_equal(ids_in(prompt, ids, 8), 4);
    assert_non_null(strstr(json_string_value(json_object_get(l.last, "system_prompt")), "JSON"));

    /* The fake re-ranker (query-word overlap) puts the section holding all three words first. */
    l.b = BY_OVERLAP;
    r = ok(aht_call(t, "search", "{" QUERY ", \"top_k\": 2, \"rerank\": {\"top_n\": 4}}"));
    assert_true(json_is_true(json_object_get(r, "reranked")));
    assert_int_equal(json_array_size(json_object_get(r, "passages")), 2); /* top_k after */
    const json_t *first = json_array_get(json_object_get(r, "passages"), 0);
    assert_non_null(strstr(json_string_value(json_object_get(first, "text")), "привозит заказы"));
    assert_true(json_number_value(json_object_get(first, "rerank_score")) >=
                json_number_value(json_object_get(json_array_get(json_object_get(r, "passages"), 1),
                                                  "rerank_score")));
    json_decref(before);
    json_decref(l.last);
    done(t);
}

/* The search asked to re-rank, the model misbehaving as b: the fused order,
 * reranked false, a reason holding why. */
static void falls_back(behaviour b, const char *why)
{
    llm l = {.b = BY_ID_REVERSED};
    aht *t = base(&l, NULL);
    char fused[64], got[64];
    order_of(ok(aht_call(t, "search", "{" QUERY ", \"top_k\": 4}")), fused, sizeof fused);
    l.b = b;
    const json_t *r =
        ok(aht_call(t, "search", "{" QUERY ", \"top_k\": 4, \"rerank\": {\"top_n\": 4}}"));
    order_of(r, got, sizeof got);
    assert_string_equal(fused, got);
    assert_int_equal(json_array_size(json_object_get(r, "passages")), 4); /* nothing lost */
    assert_true(json_is_false(json_object_get(r, "reranked")));
    const char *reason = json_string_value(json_object_get(r, "rerank_reason"));
    assert_non_null(reason);
    if (!strstr(reason, why)) fail_msg("reason \"%s\" lacks \"%s\"", reason, why);
    assert_null(json_object_get(json_array_get(json_object_get(r, "passages"), 0), "rerank_score"));
    /* The log line says so, without the query's text or the passages'. */
    const json_t *logs = aht_logs(t), *last = json_array_get(logs, json_array_size(logs) - 1);
    assert_string_equal(json_string_value(json_object_get(last, "channel")), "rag_integration");
    const json_t *rr = json_object_get(json_object_get(last, "fields"), "rerank");
    assert_true(json_is_false(json_object_get(rr, "reranked")));
    assert_int_equal(json_integer_value(json_object_get(rr, "sent")), 4);
    char *line = json_dumps(last, 0);
    assert_null(strstr(line, "курьер"));
    free(line);
    json_decref(l.last);
    done(t);
}

static void a_garbage_answer_an_error_or_a_timeout_keep_the_fused_order(void **s)
{
    (void)s;
    falls_back(PROSE, "not the JSON asked for");
    falls_back(ERROR_TIMEOUT, "timeout");
    falls_back(ERROR_PROVIDER, "provider_error: 500 server_error");
    falls_back(LEAVES_ONE_OUT, "left out 1 of 4 passages (ids 1)");
    falls_back(SCORE_NOT_A_NUMBER, "scores[0].score is not a number");
}

static void ids_the_model_invents_are_ignored(void **s)
{
    (void)s;
    llm l = {.b = INVENTS_IDS};
    aht *t = base(&l, NULL);
    const json_t *r =
        ok(aht_call(t, "search", "{" QUERY ", \"top_k\": 4, \"rerank\": {\"top_n\": 4}}"));
    assert_true(json_is_true(json_object_get(r, "reranked")));
    /* Ids 99, 0 and "p1" scored 100 changed nothing: passage 4 (scored 4) is first. */
    const json_t *ps = json_object_get(r, "passages");
    assert_int_equal(json_array_size(ps), 4);
    assert_true(json_number_value(json_object_get(json_array_get(ps, 0), "rerank_score")) == 4.0);
    const json_t *logs = aht_logs(t), *last = json_array_get(logs, json_array_size(logs) - 1);
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(last, "fields"), "rerank"), "ignored_ids")),
        3);
    json_decref(l.last);
    done(t);
}

static void top_n_bounds_the_passages_sent_and_out_of_range_is_refused_naming_the_field(void **s)
{
    (void)s;
    llm l = {.b = BY_ID_REVERSED};
    aht *t = base(&l, NULL);
    long ids[64];
    /* top_n 2 of top_k 4: two passages sent, reordered; the other two after them as fused. */
    char fused[64], got[64];
    order_of(ok(aht_call(t, "search", "{" QUERY ", \"top_k\": 4}")), fused, sizeof fused);
    const json_t *r =
        ok(aht_call(t, "search", "{" QUERY ", \"top_k\": 4, \"rerank\": {\"top_n\": 2}}"));
    assert_int_equal(ids_in(json_string_value(json_object_get(l.last, "prompt")), ids, 64), 2);
    order_of(r, got, sizeof got);
    assert_int_equal(got[0], fused[2]); /* passages 1 and 2 swapped */
    assert_int_equal(got[2], fused[0]);
    assert_string_equal(got + 4, fused + 4);
    /* top_n 8 with top_k 1: the eight best candidates are fetched, four exist, one answered. */
    r = ok(aht_call(t, "search", "{" QUERY ", \"top_k\": 1, \"rerank\": {\"top_n\": 50}}"));
    assert_int_equal(ids_in(json_string_value(json_object_get(l.last, "prompt")), ids, 64), 4);
    assert_int_equal(json_array_size(json_object_get(r, "passages")), 1);
    /* Out of range, or not an object: refused, naming the field, no call made. */
    int chats = l.chats;
    const char *bad[] = {"{\"top_n\": 51}",
                         "{\"top_n\": 1000000000000}",
                         "{\"top_n\": -1}",
                         "{\"top_n\": \"all\"}",
                         "{}",
                         "7"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char args[300];
        snprintf(args, sizeof args, "{" QUERY ", \"rerank\": %s}", bad[i]);
        const json_t *e = json_object_get(aht_call(t, "search", args), "error");
        assert_string_equal(json_string_value(json_object_get(e, "code")), "invalid");
        const char *m = json_string_value(json_object_get(e, "message"));
        assert_true(!strncmp(m, "rerank.top_n: ", 14) || !strncmp(m, "rerank: ", 8));
    }
    assert_int_equal(l.chats, chats);
    /* top_n 0: no re-ranking. */
    r = ok(aht_call(t, "search", "{" QUERY ", \"rerank\": {\"top_n\": 0}}"));
    assert_null(json_object_get(r, "reranked"));
    assert_int_equal(l.chats, chats);
    json_decref(l.last);
    done(t);

    /* A huge passage is cut: what is sent stays bounded by top_n passages of 2000 bytes. */
    l = (llm){.b = BY_ID_REVERSED};
    t = base(&l, NULL);
    const char word[] = "курьер заказ ";
    size_t wl = strlen(word), reps = 3000;
    char *big = malloc(wl * reps + 1);
    for (size_t i = 0; i < reps; i++)
        memcpy(big + i * wl, word, wl);
    big[wl * reps] = 0;
    json_t *a = json_pack("{s:s,s:s,s:s}", "kb", "help", "id", "big", "content", big);
    char *args = json_dumps(a, 0);
    ok(aht_call(t, "document.add", args));
    aht_run(t);
    r = ok(aht_call(t, "search", "{" QUERY ", \"top_k\": 10, \"rerank\": {\"top_n\": 10}}"));
    assert_true(json_is_true(json_object_get(r, "reranked")));
    const char *prompt = json_string_value(json_object_get(l.last, "prompt"));
    size_t sent = ids_in(prompt, ids, 64);
    assert_true(sent > 4);
    assert_true(strlen(prompt) < sent * (2000 + 40) + 200);
    free(args);
    json_decref(a);
    free(big);
    json_decref(l.last);
    done(t);
}

static void a_base_default_reranks_its_searches_and_answers_unless_a_search_says_0(void **s)
{
    (void)s;
    llm l = {.b = BY_ID_REVERSED};
    aht *t = base(&l, "{\"name\": \"help\", \"rerank\": {\"top_n\": 3}}");
    const json_t *e = json_object_get(
        aht_call(t, "kb.create", "{\"name\": \"bad\", \"rerank\": {\"top_n\": 99}}"), "error");
    assert_non_null(e);
    assert_int_equal(
        strncmp(json_string_value(json_object_get(e, "message")), "rerank.top_n: ", 14), 0);
    const json_t *r = ok(aht_call(t, "search", "{" QUERY "}"));
    assert_true(json_is_true(json_object_get(r, "reranked")));
    assert_int_equal(l.chats, 1);
    r = ok(aht_call(t, "search", "{" QUERY ", \"rerank\": {\"top_n\": 0}}"));
    assert_null(json_object_get(r, "reranked"));
    assert_int_equal(l.chats, 1);
    /* answer: the search re-ranked (one chat), then the model answers (another); it says so. */
    r = ok(aht_call(
        t, "answer",
        "{\"kb\": \"help\", \"question\": \"курьер привозит заказ\", \"mode\": \"bm25\"}"));
    assert_int_equal(l.chats, 3);
    assert_true(json_is_true(json_object_get(r, "reranked")));
    assert_true(json_is_true(json_object_get(r, "known")));
    /* ...and when the re-ranking fails, the answer still comes, from the fused order. */
    l.b = ERROR_TIMEOUT;
    r = ok(aht_call(
        t, "answer",
        "{\"kb\": \"help\", \"question\": \"курьер привозит заказ\", \"mode\": \"bm25\"}"));
    assert_true(json_is_true(json_object_get(r, "known")));
    assert_true(json_is_false(json_object_get(r, "reranked")));
    assert_non_null(strstr(json_string_value(json_object_get(r, "rerank_reason")), "timeout"));
    json_decref(l.last);
    done(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reranking_reorders_the_candidates_as_the_model_scores_them),
        cmocka_unit_test(a_garbage_answer_an_error_or_a_timeout_keep_the_fused_order),
        cmocka_unit_test(ids_the_model_invents_are_ignored),
        cmocka_unit_test(
            top_n_bounds_the_passages_sent_and_out_of_range_is_refused_naming_the_field),
        cmocka_unit_test(a_base_default_reranks_its_searches_and_answers_unless_a_search_says_0),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
