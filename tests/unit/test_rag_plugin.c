/*
 * The RAG plugin's vectors and answers in the SDK's fake host: the embed
 * and chat calls it makes to the LLM instance (host->call) answered by
 * aht_on_call with the stand-in embeddings (hashed character trigrams) and
 * a canned answer; embeddings stored by content hash, searched in every
 * mode, and the answer action's prompt, citations and "don't know".
 */
#include "../fakes/ngram_embed.h"

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

#define DIMS 64

typedef struct {
    int embed_calls, chat_calls;
    long texts;
    json_t *last_chat;
    const char *chat_answer;
} llm;

static json_t *fake_llm(void *ud, const char *instance, const char *action, const json_t *args)
{
    llm *l = ud;
    if (strcmp(instance, "llm") != 0) return NULL;
    if (!strcmp(action, "chat")) {
        l->chat_calls++;
        json_decref(l->last_chat);
        l->last_chat = json_deep_copy(args);
        return json_pack("{s:{s:s}}", "result", "content", l->chat_answer);
    }
    if (strcmp(action, "embed") != 0) return NULL;
    l->embed_calls++;
    json_t *vs = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(args, "input"), i, t)
    {
        float v[DIMS];
        ngram_embed(json_string_value(t), json_string_length(t), v, DIMS);
        json_t *a = json_array();
        for (int k = 0; k < DIMS; k++)
            json_array_append_new(a, json_real(v[k]));
        json_array_append_new(vs, a);
        l->texts++;
    }
    return json_pack("{s:{s:o}}", "result", "embeddings", vs);
}

static const json_t *ok(const json_t *answer)
{
    if (!json_object_get(answer, "result")) {
        char *d = json_dumps(answer, JSON_COMPACT);
        fail_msg("not answered: %s", d ? d : "(nothing)");
    }
    return json_object_get(answer, "result");
}

static const char GUIDE[] =
    "# Возврат\n\nДеньги за заказ возвращаются на карту в течение 14 дней.\n\n"
    "# Доставка\n\nКурьер привозит заказы с 9 до 21 часа.\n\n"
    "# Оплата\n\nКартой, наличными курьеру или по счёту для компаний.\n";

static void embeddings_once_search_modes_and_answers(void **s)
{
    (void)s;
    llm l = {.chat_answer = "Деньги вернут на карту в течение 14 дней [1]."};
    aht *t = aht_new(&agenthost_plugin, "kb");
    aht_on_call(t, fake_llm, &l);
    /* The fake host applies no schema defaults: the config is given whole. */
    assert_int_equal(aht_init(t, "{\"max_document_bytes\": 100000, \"embed_timeout_ms\": 60000, "
                                 "\"max_tokens\": 20, \"overlap_tokens\": 2, \"embed_instance\": "
                                 "\"llm\", \"answer_instance\": \"llm\", \"embed_batch\": 2}"),
                     AH_OK);
    ok(aht_call(t, "kb.create", "{\"name\": \"help\"}"));
    json_t *a = json_pack("{s:s,s:s,s:s,s:s}", "kb", "help", "id", "g", "content", GUIDE, "format",
                          "markdown");
    char *args = json_dumps(a, 0);
    ok(aht_call(t, "document.add", args));
    aht_run(t);
    assert_int_equal(l.texts, 3);       /* three chunks */
    assert_int_equal(l.embed_calls, 2); /* in batches of two */
    size_t stored = 0;
    const char *key;
    json_t *v;
    json_object_foreach(aht_kv(t), key, v) stored += strncmp(key, "emb/", 4) == 0;
    assert_int_equal(stored, 3);
    /* The same content under another id: nothing embedded again. */
    json_object_set_new(a, "id", json_string("g2"));
    free(args);
    args = json_dumps(a, 0);
    ok(aht_call(t, "document.add", args));
    aht_run(t);
    assert_int_equal(l.texts, 3);
    free(args);
    json_decref(a);

    const char *modes[] = {"bm25", "vector", "hybrid"};
    for (int m = 0; m < 3; m++) {
        char q[300];
        snprintf(q, sizeof q,
                 "{\"kb\": \"help\", \"query\": \"когда курьер привозит заказ\", \"mode\": \"%s\"}",
                 modes[m]);
        const json_t *r = ok(aht_call(t, "search", q));
        assert_string_equal(json_string_value(json_object_get(r, "mode")), modes[m]);
        const json_t *p = json_array_get(json_object_get(r, "passages"), 0);
        assert_non_null(strstr(json_string_value(json_object_get(p, "text")), "Курьер"));
        assert_string_equal(
            json_string_value(json_array_get(json_object_get(p, "heading_path"), 0)), "Доставка");
    }
    const json_t *r = ok(aht_call(
        t, "answer", "{\"kb\": \"help\", \"question\": \"Когда вернут деньги?\", \"top_k\": 2}"));
    assert_true(json_is_true(json_object_get(r, "known")));
    assert_string_equal(json_string_value(json_object_get(r, "language")), "ru");
    const json_t *c = json_array_get(json_object_get(r, "citations"), 0);
    assert_int_equal(json_integer_value(json_object_get(c, "n")), 1);
    assert_true(json_is_true(json_object_get(r, "cited_by_model")));
    assert_non_null(strstr(json_string_value(json_object_get(l.last_chat, "prompt")), "[1] g"));

    l.chat_answer = "NOT_IN_PASSAGES";
    r = ok(aht_call(t, "answer", "{\"kb\": \"help\", \"question\": \"How much is shipping?\"}"));
    assert_false(json_is_true(json_object_get(r, "known")));
    assert_non_null(strstr(json_string_value(json_object_get(r, "answer")), "I don't know"));
    int chats = l.chat_calls;
    r = ok(aht_call(t, "answer",
                    "{\"kb\": \"help\", \"question\": \"Сколько?\", \"tags\": [\"none\"]}"));
    assert_false(json_is_true(json_object_get(r, "known")));
    assert_int_equal(l.chat_calls, chats); /* no passage: the model is not asked */
    json_decref(l.last_chat);
    aht_free(t);
}

/* Passage ids (document/chunk) of a vector search, best first. */
static char *vector_ids(aht *t, const char *query, const char **how)
{
    char q[300];
    snprintf(q, sizeof q,
             "{\"kb\": \"big\", \"query\": \"%s\", \"mode\": \"vector\", \"top_k\": 5}", query);
    const json_t *r = ok(aht_call(t, "search", q));
    *how = json_string_value(json_object_get(r, "vector_search"));
    char *ids = calloc(1, 512);
    size_t i;
    const json_t *p;
    json_array_foreach(json_object_get(r, "passages"), i, p)
    {
        char one[64];
        snprintf(one, sizeof one, "%s/%lld ", json_string_value(json_object_get(p, "document")),
                 (long long)json_integer_value(json_object_get(p, "chunk")));
        strncat(ids, one, 511 - strlen(ids));
    }
    return ids;
}

/* One base searched exactly and through the approximate index (every list
 * probed, so it must find the same): the index's hits map back to the
 * same passages, and the answer says which way it searched. */
static aht *base_of_sixty(llm *l, const char *ann)
{
    aht *t = aht_new(&agenthost_plugin, "kb");
    aht_on_call(t, fake_llm, l);
    char cfg[400];
    snprintf(cfg, sizeof cfg,
             "{\"max_document_bytes\": 100000, \"embed_timeout_ms\": 60000, \"max_tokens\": 40, "
             "\"overlap_tokens\": 2, \"embed_instance\": \"llm\", \"embed_batch\": 16%s}",
             ann);
    assert_int_equal(aht_init(t, cfg), AH_OK);
    ok(aht_call(t, "kb.create", "{\"name\": \"big\"}"));
    static const char *const topics[] = {"delivery", "refund",  "warranty",
                                         "payment",  "courier", "invoice"};
    for (int i = 0; i < 60; i++) {
        char text[200], args[400];
        snprintf(text, sizeof text, "Note %d about the %s of order %d, item %d.", i, topics[i % 6],
                 1000 + i * 7, i * 13 % 17);
        snprintf(args, sizeof args,
                 "{\"kb\": \"big\", \"id\": \"n%02d\", \"format\": \"text\", \"content\": \"%s\"}",
                 i, text);
        ok(aht_call(t, "document.add", args));
    }
    aht_run(t);
    return t;
}

static void the_approximate_index_finds_what_the_exact_search_finds_with_every_list_probed(void **s)
{
    (void)s;
    const char *const queries[] = {"refund of order 1007", "courier delivery", "invoice item 5"};
    char *found[2][3];
    /* One instance at a time: the plugin's state is the process's. */
    for (int pass = 0; pass < 2; pass++) {
        llm l = {.chat_answer = ""};
        aht *t = base_of_sixty(&l, pass ? ", \"ann_min_vectors\": 1, \"ann_nprobe\": 4096"
                                        : ", \"ann_min_vectors\": 50000");
        for (size_t i = 0; i < 3; i++) {
            const char *how = NULL;
            found[pass][i] = vector_ids(t, queries[i], &how);
            assert_string_equal(how, pass ? "approximate" : "exact");
            assert_true(strlen(found[pass][i]) > 0);
        }
        json_decref(l.last_chat);
        aht_free(t);
    }
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(found[1][i], found[0][i]);
        free(found[0][i]);
        free(found[1][i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(embeddings_once_search_modes_and_answers),
        cmocka_unit_test(
            the_approximate_index_finds_what_the_exact_search_finds_with_every_list_probed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
