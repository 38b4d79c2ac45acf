/*
 * The RAG plugin's ingestion bookkeeping, in the SDK's fake host with its
 * index in a private storage directory: what the linear-time rewrites of
 * store.c and kb.c (documents found by id through a hash table, character
 * offsets counted once per document, repeated chunks found through a set
 * of their hashes) must keep. Each passage's character offsets are those
 * of its text in the document, in a long document of many sections of
 * multi-byte text with overlapping chunks; a chunk repeating an earlier
 * one of its document is stored and embedded once, under the first one's
 * number; and hundreds of documents added, replaced and deleted are each
 * found by id (listed, searched with their title, refused as unchanged)
 * and the deleted ones nowhere.
 */
#include "../fakes/ngram_embed.h"
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

#define DIMS 32

static const char CFG[] = "{\"max_document_bytes\": 900000, \"max_tokens\": 40, "
                          "\"overlap_tokens\": 0, \"ann_min_vectors\": 50000}";
static const char CFG_EMBED[] =
    "{\"max_document_bytes\": 900000, \"max_tokens\": 40, \"overlap_tokens\": 0, "
    "\"embed_instance\": \"llm\", \"embed_batch\": 8, \"embed_timeout_ms\": 60000, "
    "\"ann_min_vectors\": 50000}";

static const json_t *ok(const json_t *answer)
{
    if (!json_object_get(answer, "result")) {
        char *d = json_dumps(answer, JSON_COMPACT);
        fail_msg("not answered: %s", d ? d : "(nothing)");
    }
    return json_object_get(answer, "result");
}

static const json_t *call(aht *t, const char *action, json_t *args)
{
    char *s = json_dumps(args, JSON_COMPACT);
    json_decref(args);
    const json_t *r = ok(aht_call(t, action, s));
    free(s);
    return r;
}

/* The test's host and storage, freed by the teardown even when it fails
 * (the plugin's state is global: a host left running would leak into the
 * next test). */
static aht *T;
static char STORE[256];

static aht *started(void)
{
    assert_int_equal(kit_tmpdir("rag-ingest", STORE, sizeof STORE), 0);
    T = aht_new(&agenthost_plugin, "kb");
    aht_storage_dir(T, STORE);
    return T;
}

static int stopped(void **s)
{
    (void)s;
    if (T) aht_free(T);
    T = NULL;
    if (STORE[0]) kit_rmtree(STORE);
    STORE[0] = 0;
    return 0;
}

static void add(aht *t, const char *id, const char *title, const char *text)
{
    call(t, "document.add",
         json_pack("{s:s,s:s,s:s,s:s,s:s}", "kb", "help", "id", id, "title", title, "content", text,
                   "format", "markdown"));
    aht_run(t);
}

static json_int_t base_field(aht *t, const char *field)
{
    const json_t *r = ok(aht_call(t, "kb.list", "{}"));
    return json_integer_value(
        json_object_get(json_array_get(json_object_get(r, "bases"), 0), field));
}

static const json_t *search(aht *t, const char *query, int top_k)
{
    return json_object_get(call(t, "search",
                                json_pack("{s:s,s:s,s:s,s:i}", "kb", "help", "query", query, "mode",
                                          "bm25", "top_k", top_k)),
                           "passages");
}

/* The byte position of character c in s (UTF-8), or (size_t)-1 past its end. */
static size_t byte_of(const char *s, size_t c)
{
    size_t b = 0, n = 0;
    for (; s[b]; b++) {
        if (((unsigned char)s[b] & 0xC0) == 0x80) continue;
        if (n++ == c) return b;
    }
    return n == c ? b : (size_t)-1;
}

/* 300 sections of Russian with a three-byte dash and a four-byte sign,
 * each of about 60 words: cut into chunks of 24 tokens overlapping by 6, so
 * the offsets go forward through the document and back at each overlap. */
static void a_long_document_gives_each_passage_the_character_offsets_of_its_text(void **s)
{
    (void)s;
    aht *t = started();
    assert_int_equal(aht_init(t, CFG), AH_OK);
    call(t, "kb.create",
         json_pack("{s:s,s:i,s:i}", "name", "help", "max_tokens", 24, "overlap_tokens", 6));
    size_t cap = 2 * 1024 * 1024, n = 0;
    char *doc = malloc(cap);
    n += (size_t)snprintf(doc + n, cap - n, "# Справочник — всё о доставке\n\n");
    for (int i = 0; i < 300; i++) {
        n += (size_t)snprintf(doc + n, cap - n, "## Раздел %d — ёмкость 💡\n\n", i);
        for (int w = 0; w < 60; w++)
            n += (size_t)snprintf(doc + n, cap - n, "%sслово%d ёж%d—посылка", w ? " " : "",
                                  (i * 60 + w) % 977, w % 13);
        n += (size_t)snprintf(doc + n, cap - n, " курьер\n\n");
    }
    add(t, "long", "Справочник", doc);
    json_int_t chunks = base_field(t, "chunks");
    assert_true(chunks > 600); /* every section cut in overlapping pieces */
    const json_t *ps = search(t, "курьер посылка", (int)chunks);
    assert_int_equal((json_int_t)json_array_size(ps), chunks);
    size_t i, checked = 0;
    const json_t *p;
    json_array_foreach(ps, i, p)
    {
        size_t st = (size_t)json_integer_value(json_object_get(p, "start"));
        size_t en = (size_t)json_integer_value(json_object_get(p, "end"));
        const char *text = json_string_value(json_object_get(p, "text"));
        size_t bs = byte_of(doc, st), be = byte_of(doc, en);
        assert_true(bs != (size_t)-1 && be != (size_t)-1 && be > bs);
        assert_int_equal(be - bs, strlen(text));
        assert_memory_equal(doc + bs, text, be - bs);
        checked++;
    }
    assert_int_equal((json_int_t)checked, chunks);
    free(doc);
}

typedef struct {
    long texts;
} llm;

static json_t *fake_llm(void *ud, const char *instance, const char *action, const json_t *args)
{
    llm *l = ud;
    if (strcmp(instance, "llm") != 0 || strcmp(action, "embed") != 0) return NULL;
    const json_t *input = json_object_get(args, "input");
    l->texts += (long)json_array_size(input);
    return ngram_embed_answer(input, DIMS);
}

/* 210 sections, each one of 7 distinct ones (a heading and a paragraph):
 * 7 chunks stored and embedded, each under the number of its first
 * occurrence (0 to 6), while the document counts all 210. */
static void a_chunk_repeating_an_earlier_one_is_stored_and_embedded_once(void **s)
{
    (void)s;
    llm l = {0};
    aht *t = started();
    aht_on_call(t, fake_llm, &l);
    assert_int_equal(aht_init(t, CFG_EMBED), AH_OK);
    call(t, "kb.create",
         json_pack("{s:s,s:i,s:i}", "name", "help", "max_tokens", 40, "overlap_tokens", 0));
    size_t cap = 256 * 1024, n = 0;
    char *doc = malloc(cap);
    for (int i = 0; i < 210; i++)
        n += (size_t)snprintf(doc + n, cap - n,
                              "## Вопрос %d\n\nОтвет номер %d: посылка едет курьером %d дней.\n\n",
                              i % 7, i % 7, 3 + i % 7);
    add(t, "faq", "FAQ", doc);
    free(doc);
    assert_int_equal(base_field(t, "chunks"), 7);
    assert_int_equal(l.texts, 7);
    const json_t *d = json_array_get(
        json_object_get(call(t, "document.list", json_pack("{s:s}", "kb", "help")), "documents"),
        0);
    assert_string_equal(json_string_value(json_object_get(d, "state")), "ready");
    assert_int_equal(json_integer_value(json_object_get(d, "chunks")), 210);
    const json_t *ps = search(t, "посылка курьером", 50);
    assert_int_equal(json_array_size(ps), 7);
    int seen[7] = {0};
    size_t i;
    const json_t *p;
    json_array_foreach(ps, i, p)
    {
        json_int_t c = json_integer_value(json_object_get(p, "chunk"));
        assert_true(c >= 0 && c < 7);
        seen[c]++;
    }
    for (int k = 0; k < 7; k++)
        assert_int_equal(seen[k], 1);
}

#define DOCS 400

static void doc_text(char *out, size_t n, int i, int version)
{
    snprintf(out, n, "# Документ %d\n\nМетка%d версия%d: уникальный текст номер %d.\n", i, i,
             version, i * 7 + version);
}

/* 400 documents; every third deleted, every fifth (of the rest) replaced:
 * the base counts and lists the live ones, a search for each document's
 * own word finds it with its current title and text, the deleted ones are
 * found nowhere, and adding a live document's current text again is
 * answered "unchanged". */
static void documents_are_found_by_id_after_hundreds_of_adds_replaces_and_deletes(void **s)
{
    (void)s;
    char text[300], id[32], title[64];
    aht *t = started();
    assert_int_equal(aht_init(t, CFG), AH_OK);
    call(t, "kb.create", json_pack("{s:s}", "name", "help"));
    for (int i = 0; i < DOCS; i++) {
        doc_text(text, sizeof text, i, 1);
        snprintf(id, sizeof id, "doc-%d", i);
        snprintf(title, sizeof title, "v1 %d", i);
        add(t, id, title, text);
    }
    int live = 0;
    for (int i = 0; i < DOCS; i++) {
        snprintf(id, sizeof id, "doc-%d", i);
        if (i % 3 == 0) {
            call(t, "document.delete", json_pack("{s:s,s:s}", "kb", "help", "id", id));
            aht_run(t);
            continue;
        }
        live++;
        if (i % 5 != 0) continue;
        doc_text(text, sizeof text, i, 2);
        snprintf(title, sizeof title, "v2 %d", i);
        add(t, id, title, text);
    }
    assert_int_equal(base_field(t, "documents"), live);
    assert_int_equal(base_field(t, "chunks"), live);
    assert_int_equal(json_array_size(json_object_get(
                         call(t, "document.list", json_pack("{s:s}", "kb", "help")), "documents")),
                     (size_t)live);
    for (int i = 0; i < DOCS; i++) {
        char q[32], want[64];
        int version = i % 5 == 0 ? 2 : 1;
        snprintf(q, sizeof q, "метка%d", i);
        const json_t *ps = search(t, q, 5);
        if (i % 3 == 0) {
            assert_int_equal(json_array_size(ps), 0);
            continue;
        }
        assert_int_equal(json_array_size(ps), 1);
        const json_t *p = json_array_get(ps, 0);
        snprintf(id, sizeof id, "doc-%d", i);
        snprintf(want, sizeof want, "v%d %d", version, i);
        assert_string_equal(json_string_value(json_object_get(p, "document")), id);
        assert_string_equal(json_string_value(json_object_get(p, "title")), want);
        snprintf(want, sizeof want, "версия%d", version);
        assert_non_null(strstr(json_string_value(json_object_get(p, "text")), want));
        doc_text(text, sizeof text, i, version);
        const json_t *r = call(t, "document.add",
                               json_pack("{s:s,s:s,s:s,s:s}", "kb", "help", "id", id, "content",
                                         text, "format", "markdown"));
        assert_true(json_is_true(json_object_get(r, "unchanged")));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(
            a_long_document_gives_each_passage_the_character_offsets_of_its_text, stopped),
        cmocka_unit_test_teardown(a_chunk_repeating_an_earlier_one_is_stored_and_embedded_once,
                                  stopped),
        cmocka_unit_test_teardown(
            documents_are_found_by_id_after_hundreds_of_adds_replaces_and_deletes, stopped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
