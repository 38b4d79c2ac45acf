/*
 * The RAG plugin's vectors and answers in the SDK's fake host: the embed
 * and chat calls it makes to the LLM instance (host->call) answered by
 * aht_on_call with the stand-in embeddings (hashed character trigrams) and
 * a canned answer; embeddings stored by content hash, searched in every
 * mode, and the answer action's prompt, citations and "don't know". The
 * index on disk (ADR 0054) in a private storage directory the test grants
 * (aht_storage_dir): it survives a restart without embedding again, a
 * crash in the middle of a document's transaction leaves it as it was, a
 * base holds no chunk in memory, and a previous version's KV is moved in
 * (ids of any length whole; a malformed stored embedding embedded again).
 */
#include "../../plugins/rag/disk.h"
#include "../../plugins/rag/rag.h"
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
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern const ah_plugin agenthost_plugin;

/* The plugin's content hash (rag_hash: FNV-1a 64 in hex). */
static void rag_test_hash(const char *s, char out[17])
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* A fake host whose plugin has private storage in dir (made when empty). */
static aht *with_storage(char *dir, size_t n)
{
    if (!dir[0]) assert_int_equal(kit_tmpdir("rag-disk", dir, n), 0);
    aht *t = aht_new(&agenthost_plugin, "kb");
    aht_storage_dir(t, dir);
    return t;
}

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
    const json_t *input = json_object_get(args, "input");
    l->texts += (long)json_array_size(input);
    return ngram_embed_answer(input, DIMS);
}

static const json_t *ok(const json_t *answer)
{
    if (!json_object_get(answer, "result")) {
        char *d = json_dumps(answer, JSON_COMPACT);
        fail_msg("not answered: %s", d ? d : "(nothing)");
    }
    return json_object_get(answer, "result");
}

/* A plugin with its storage in dir (made when empty) and the fake LLM. */
static aht *with_llm(char *dir, size_t n, llm *l)
{
    aht *t = with_storage(dir, n);
    aht_on_call(t, fake_llm, l);
    return t;
}

/* The first passage of a search's result. */
static const json_t *top_passage(const json_t *result)
{
    return json_array_get(json_object_get(result, "passages"), 0);
}

static const char GUIDE[] =
    "# Возврат\n\nДеньги за заказ возвращаются на карту в течение 14 дней.\n\n"
    "# Доставка\n\nКурьер привозит заказы с 9 до 21 часа.\n\n"
    "# Оплата\n\nКартой, наличными курьеру или по счёту для компаний.\n";

static void embeddings_once_search_modes_and_answers(void **s)
{
    (void)s;
    llm l = {.chat_answer = "Деньги вернут на карту в течение 14 дней [1]."};
    char dir[256] = "";
    aht *t = with_llm(dir, sizeof dir, &l);
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
    /* On disk, not in the KV: neither chunks nor embeddings there. */
    const char *key;
    json_t *v;
    json_object_foreach(aht_kv(t), key, v)
    {
        assert_true(strncmp(key, "emb/", 4) != 0);
        assert_true(strncmp(key, "chunk/", 6) != 0);
    }
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
        const json_t *p = top_passage(r);
        assert_non_null(strstr(json_string_value(json_object_get(p, "text")), "Курьер"));
        assert_string_equal(
            json_string_value(json_array_get(json_object_get(p, "heading_path"), 0)), "Доставка");
    }
    /* Hybrid fuses as asked: convex (the default) scores the best passage
     * 1 when it leads both lists; rrf at most 1/61 + 1/61. */
    const char *fusions[] = {"", ", \"fusion\": \"convex\"", ", \"fusion\": \"rrf\""};
    const double top[] = {1.0, 1.0, 2.0 / 61};
    for (int f = 0; f < 3; f++) {
        char q[300];
        snprintf(q, sizeof q,
                 "{\"kb\": \"help\", \"query\": \"когда курьер привозит заказ\", "
                 "\"mode\": \"hybrid\"%s}",
                 fusions[f]);
        const json_t *p = top_passage(ok(aht_call(t, "search", q)));
        assert_non_null(strstr(json_string_value(json_object_get(p, "text")), "Курьер"));
        assert_float_equal(json_real_value(json_object_get(p, "score")), top[f], 1e-9);
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
    kit_rmtree(dir);
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
static aht *base_of_sixty(llm *l, const char *ann, char *dir, size_t dn)
{
    aht *t = with_storage(dir, dn);
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

/* Advances the fake host's clock 1 ms at a time (a slice of IVF training
 * each) until the training's switch; how many slices that took. */
static int slices_until_trained(aht *t)
{
    int n = 0;
    for (; n < 100000 && rag_disk_training(R.kbs.disk, NULL); n++)
        aht_advance(t, 1);
    assert_false(rag_disk_training(R.kbs.disk, NULL));
    return n;
}

static void the_approximate_index_finds_what_the_exact_search_finds_with_every_list_probed(void **s)
{
    (void)s;
    const char *const queries[] = {"refund of order 1007", "courier delivery", "invoice item 5"};
    char *found[2][3];
    /* One instance at a time: the plugin's state is the process's. */
    for (int pass = 0; pass < 2; pass++) {
        llm l = {.chat_answer = ""};
        char dir[256] = "";
        aht *t = base_of_sixty(&l,
                               pass ? ", \"ann_min_vectors\": 1, \"ann_nprobe\": 4096"
                                    : ", \"ann_min_vectors\": 50000",
                               dir, sizeof dir);
        if (pass) { /* the first search starts the training; its slices run */
            const char *how = NULL;
            free(vector_ids(t, queries[0], &how));
            slices_until_trained(t);
        }
        for (size_t i = 0; i < 3; i++) {
            const char *how = NULL;
            found[pass][i] = vector_ids(t, queries[i], &how);
            assert_string_equal(how, pass ? "approximate" : "exact");
            assert_true(strlen(found[pass][i]) > 0);
        }
        json_decref(l.last_chat);
        aht_free(t);
        kit_rmtree(dir);
    }
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(found[1][i], found[0][i]);
        free(found[0][i]);
        free(found[1][i]);
    }
}

static const char CFG[] =
    "{\"max_document_bytes\": 100000, \"embed_timeout_ms\": 60000, \"max_tokens\": 20, "
    "\"overlap_tokens\": 2, \"embed_instance\": \"llm\", \"embed_batch\": 4, "
    "\"ann_min_vectors\": 50000, \"index_max_mb\": 64}";

static void add_doc(aht *t, const char *kb, const char *id, const char *text)
{
    json_t *a =
        json_pack("{s:s,s:s,s:s,s:s}", "kb", kb, "id", id, "content", text, "format", "markdown");
    char *args = json_dumps(a, 0);
    ok(aht_call(t, "document.add", args));
    free(args);
    json_decref(a);
}

/* The first vector search above ann_min_vectors starts training the IVF
 * and is answered exact, as are searches between the slices; a document
 * added meanwhile is in the IVF after the switch. */
static void the_ivf_trains_in_slices_between_searches_and_lists_a_document_added_meanwhile(void **s)
{
    (void)s;
    llm l = {.chat_answer = ""};
    char dir[256] = "";
    aht *t = base_of_sixty(
        &l, ", \"ann_min_vectors\": 1, \"ann_nprobe\": 4096, \"ann_train_slice\": 65536", dir,
        sizeof dir);
    const char *how = NULL;
    char *first = vector_ids(t, "refund of order 1007", &how);
    assert_string_equal(how, "exact");
    assert_true(rag_disk_training(R.kbs.disk, "big"));
    aht_advance(t, 1);
    aht_advance(t, 1);
    assert_true(rag_disk_training(R.kbs.disk, "big")); /* still under way: */
    char *during = vector_ids(t, "refund of order 1007", &how);
    assert_string_equal(how, "exact"); /* answered, exactly, before it ends */
    assert_string_equal(during, first);
    add_doc(t, "big", "late", "Zebra crossing manual for the night shift.");
    aht_run(t);
    assert_true(rag_disk_training(R.kbs.disk, "big"));
    assert_true(slices_until_trained(t) > 2);
    char *after = vector_ids(t, "refund of order 1007", &how);
    assert_string_equal(how, "approximate"); /* the switch happened */
    assert_string_equal(after, first);       /* every list probed: what exact found */
    char *late = vector_ids(t, "Zebra crossing manual for the night shift.", &how);
    assert_string_equal(how, "approximate");
    assert_true(!strncmp(late, "late/0 ", 7));
    free(first);
    free(during);
    free(after);
    free(late);
    json_decref(l.last_chat);
    aht_free(t);
    kit_rmtree(dir);
}

/* A restart in the middle of a training: nothing of it was on disk, so the
 * base answers exact after the start, and its next vector search trains it
 * again to the end. */
static void a_restart_during_training_answers_exact_and_trains_again(void **s)
{
    (void)s;
    llm l = {.chat_answer = ""};
    char dir[256] = "";
    const char *ann = ", \"ann_min_vectors\": 1, \"ann_nprobe\": 4096, \"ann_train_slice\": 65536";
    aht *t = base_of_sixty(&l, ann, dir, sizeof dir);
    const char *how = NULL;
    char *first = vector_ids(t, "courier delivery", &how);
    assert_string_equal(how, "exact");
    aht_advance(t, 1);
    aht_advance(t, 1);
    assert_true(rag_disk_training(R.kbs.disk, "big"));
    json_t *kv = json_deep_copy(aht_kv(t));
    aht_free(t); /* stopped mid-training */

    llm l2 = {.chat_answer = ""};
    t = with_llm(dir, sizeof dir, &l2);
    json_object_update(aht_kv(t), kv);
    json_decref(kv);
    char cfg[400];
    snprintf(cfg, sizeof cfg,
             "{\"max_document_bytes\": 100000, \"embed_timeout_ms\": 60000, \"max_tokens\": 40, "
             "\"overlap_tokens\": 2, \"embed_instance\": \"llm\", \"embed_batch\": 16%s}",
             ann);
    assert_int_equal(aht_init(t, cfg), AH_OK);
    aht_run(t);
    assert_false(rag_disk_training(R.kbs.disk, NULL));
    char *again = vector_ids(t, "courier delivery", &how);
    assert_string_equal(how, "exact"); /* no IVF on disk: the training had not switched */
    assert_string_equal(again, first);
    assert_true(rag_disk_training(R.kbs.disk, "big")); /* started again */
    assert_true(slices_until_trained(t) > 2);
    char *after = vector_ids(t, "courier delivery", &how);
    assert_string_equal(how, "approximate");
    assert_string_equal(after, first);
    free(first);
    free(again);
    free(after);
    json_decref(l.last_chat);
    json_decref(l2.last_chat);
    aht_free(t);
    kit_rmtree(dir);
}

static json_int_t base_field(aht *t, const char *field)
{
    const json_t *r = ok(aht_call(t, "kb.list", "{}"));
    return json_integer_value(
        json_object_get(json_array_get(json_object_get(r, "bases"), 0), field));
}

static size_t hits(aht *t, const char *query, const char *mode)
{
    char q[400];
    snprintf(q, sizeof q, "{\"kb\": \"help\", \"query\": \"%s\", \"mode\": \"%s\", \"top_k\": 5}",
             query, mode);
    return json_array_size(json_object_get(ok(aht_call(t, "search", q)), "passages"));
}

/* A second instance on the same storage and the same KV: the index is
 * read from disk, nothing is embedded again (the embed calls counted), and
 * every mode finds what the first found. */
static void the_index_survives_a_restart_from_disk_without_embedding_again(void **s)
{
    (void)s;
    llm l = {.chat_answer = ""};
    char dir[256] = "";
    aht *t = with_llm(dir, sizeof dir, &l);
    assert_int_equal(aht_init(t, CFG), AH_OK);
    ok(aht_call(t, "kb.create", "{\"name\": \"help\"}"));
    add_doc(t, "help", "g", GUIDE);
    aht_run(t);
    assert_int_equal(l.texts, 3);
    json_t *kv = json_deep_copy(aht_kv(t));
    aht_free(t);

    llm l2 = {.chat_answer = ""};
    t = with_llm(dir, sizeof dir, &l2);
    json_object_update(aht_kv(t), kv);
    json_decref(kv);
    assert_int_equal(aht_init(t, CFG), AH_OK);
    aht_run(t);
    assert_int_equal(base_field(t, "chunks"), 3);
    assert_int_equal(base_field(t, "vectors"), 3);
    assert_true(hits(t, "курьер привозит заказы", "bm25") > 0);
    assert_int_equal(l2.embed_calls, 0); /* nothing embedded at the start */
    assert_true(hits(t, "курьер привозит заказы", "vector") > 0);
    assert_int_equal(l2.texts, 1); /* the query alone */
    /* The same text added again under another id: nothing embedded. */
    add_doc(t, "help", "g2", GUIDE);
    aht_run(t);
    assert_int_equal(l2.texts, 1);
    assert_int_equal(base_field(t, "chunks"), 6);
    aht_free(t);
    kit_rmtree(dir);
}

/* ---- a crash in the middle of a document's transaction ---- */

static aht *crashing;
static char crash_kv[300];

/* The process dies (SIGKILL: no handler, no flush) halfway through the
 * chunks of the second document, its KV saved as the host's would be. */
static void die_in_the_middle(const char *point)
{
    static int seen;
    if (strcmp(point, "index.middle") != 0 || ++seen < 2) return;
    FILE *f = fopen(crash_kv, "w");
    if (f) {
        json_dumpf(aht_kv(crashing), f, 0);
        fclose(f);
    }
    kill(getpid(), SIGKILL);
}

static const char SECOND[] = "# Гарантия\n\nГарантия на технику действует двенадцать месяцев.\n\n"
                             "# Ремонт\n\nРемонт по гарантии бесплатный в сервисном центре.\n";

static void a_crash_in_the_middle_of_a_document_leaves_the_index_as_it_was(void **s)
{
    (void)s;
    char dir[256] = "";
    assert_int_equal(kit_tmpdir("rag-crash", dir, sizeof dir), 0);
    snprintf(crash_kv, sizeof crash_kv, "%s/kv.json", dir);
    char store[300];
    snprintf(store, sizeof store, "%s/data", dir);
    assert_int_equal(mkdir(store, 0700), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        llm l = {.chat_answer = ""};
        crashing = with_storage(store, sizeof store);
        aht_on_call(crashing, fake_llm, &l);
        rag_disk_fault = die_in_the_middle;
        if (aht_init(crashing, CFG) != AH_OK) _exit(3);
        aht_call(crashing, "kb.create", "{\"name\": \"help\"}");
        add_doc(crashing, "help", "g", GUIDE);
        aht_run(crashing);
        add_doc(crashing, "help", "w", SECOND);
        aht_run(crashing);
        _exit(4); /* not reached when the fault point works */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail_msg("the child was to die at the fault point: status %d", status);

    /* The index as the crash left it: the first document whole, nothing of
     * the second (its transaction never committed). */
    rag_disk *d;
    char err[300];
    rag_disk_stats st;
    assert_int_equal(rag_disk_open(&d, store, 64, err, sizeof err), 0);
    assert_int_equal(rag_disk_stats_get(d, "help", &st), 0);
    assert_int_equal(st.chunks, 3);
    char h[17];
    assert_int_equal(rag_disk_doc_hash(d, "help", "g", h), 1);
    assert_int_equal(rag_disk_doc_hash(d, "help", "w", h), 0);
    rag_analyzer *an = rag_analyzer_new(1);
    rag_hit hit[5];
    assert_int_equal(rag_disk_bm25(d, an, "help", "гарантия", 16, NULL, NULL, hit, 5), 0);
    assert_int_equal(rag_disk_bm25(d, an, "help", "курьер", 12, NULL, NULL, hit, 5), 2);
    rag_analyzer_free(an);
    rag_disk_close(d);

    /* The restart resumes the second document's job: indexed, and not
     * embedded again (its chunks' embeddings were stored before). */
    llm l = {.chat_answer = ""};
    aht *t = with_storage(store, sizeof store);
    aht_on_call(t, fake_llm, &l);
    json_t *kv = json_load_file(crash_kv, 0, NULL);
    assert_non_null(kv);
    json_object_update(aht_kv(t), kv);
    json_decref(kv);
    assert_int_equal(aht_init(t, CFG), AH_OK);
    aht_run(t);
    assert_int_equal(l.texts, 0);
    assert_int_equal(base_field(t, "chunks"), 5);
    const json_t *r = ok(aht_call(
        t, "search", "{\"kb\": \"help\", \"query\": \"гарантия технику\", \"mode\": \"bm25\"}"));
    assert_string_equal(json_string_value(json_object_get(top_passage(r), "document")), "w");
    aht_free(t);
    kit_rmtree(dir);
}

/* Many chunks on disk, none held in memory: the plugin's count of chunks
 * decoded into its heap is 0 between calls and at most the passages of a
 * search during one, while the base holds thousands. */
static void a_base_of_thousands_of_chunks_holds_none_in_memory(void **s)
{
    (void)s;
    llm l = {.chat_answer = ""};
    char dir[256] = "";
    aht *t = with_llm(dir, sizeof dir, &l);
    assert_int_equal(aht_init(t, CFG), AH_OK);
    ok(aht_call(t, "kb.create", "{\"name\": \"help\", \"max_tokens\": 16, \"overlap_tokens\": 0}"));
    char *text = malloc(64 * 1024);
    for (int d = 0; d < 20; d++) {
        size_t n = 0;
        for (int p = 0; p < 150; p++)
            n += (size_t)snprintf(text + n, 64 * 1024 - n,
                                  "Paragraph %d of guide %d: parcel %d ships by courier %d.\n\n", p,
                                  d, d * 1000 + p, p % 7);
        char id[16];
        snprintf(id, sizeof id, "d%02d", d);
        add_doc(t, "help", id, text);
        aht_run(t);
    }
    free(text);
    assert_int_equal(base_field(t, "chunks"), 3000);
    assert_int_equal(base_field(t, "resident_chunks"), 0);
    assert_true(hits(t, "parcel 7042 courier", "hybrid") == 5);
    assert_int_equal(base_field(t, "resident_chunks"), 0);
    json_int_t peak = base_field(t, "resident_chunks_peak");
    assert_true(peak >= 1 && peak <= 5); /* the passages of one search, not the base */
    aht_free(t);
    kit_rmtree(dir);
}

/* The previous version kept chunks and embeddings in the KV: moved to the
 * disk on the first start (nothing embedded), then deleted from the KV. */
static void a_previous_versions_kv_is_moved_into_the_index_on_disk(void **s)
{
    (void)s;
    llm l = {.chat_answer = ""};
    char dir[256] = "";
    aht *t = with_llm(dir, sizeof dir, &l);
    json_t *kv = aht_kv(t);
    static const char *const texts[] = {"Курьер привозит заказы с 9 до 21 часа.",
                                        "Деньги возвращаются на карту за 14 дней."};
    json_object_set_new(
        kv, "kb/help",
        json_pack("{s:s,s:i,s:i}", "name", "help", "max_tokens", 20, "overlap_tokens", 2));
    json_object_set_new(kv, "doc/help/g",
                        json_pack("{s:s,s:s,s:[],s:s,s:i,s:s,s:i}", "id", "g", "format", "text",
                                  "tags", "hash", "0123456789abcdef", "gen", 2, "state", "ready",
                                  "chunks", 2));
    for (int i = 0; i < 2; i++) {
        char key[64], hash[17];
        rag_test_hash(texts[i], hash);
        snprintf(key, sizeof key, "chunk/help/g/2/%06d", i);
        json_object_set_new(kv, key,
                            json_pack("{s:s,s:i,s:i,s:i,s:[s],s:s}", "text", texts[i], "start",
                                      i * 40, "end", i * 40 + 39, "tokens", 8, "path", "Помощь",
                                      "hash", hash));
        float v[DIMS];
        ngram_embed(texts[i], strlen(texts[i]), v, DIMS);
        json_t *arr = json_array();
        for (int k = 0; k < DIMS; k++)
            json_array_append_new(arr, json_real(v[k]));
        snprintf(key, sizeof key, "emb/%s", hash);
        json_object_set_new(kv, key, json_pack("{s:s,s:o}", "model", "", "v", arr));
    }
    /* a chunk of the replaced generation 1: not moved */
    json_object_set_new(kv, "chunk/help/g/1/000000",
                        json_pack("{s:s,s:i,s:i}", "text", "старый текст", "start", 0, "end", 12));
    assert_int_equal(aht_init(t, CFG), AH_OK);
    aht_run(t);
    assert_int_equal(base_field(t, "chunks"), 2);
    assert_int_equal(base_field(t, "vectors"), 2);
    assert_int_equal(hits(t, "курьер", "bm25"), 1);
    assert_int_equal(hits(t, "старый", "bm25"), 0);
    const json_t *r = ok(aht_call(t, "search",
                                  "{\"kb\": \"help\", \"query\": \"деньги на карту\", \"mode\": "
                                  "\"vector\", \"top_k\": 1}"));
    const json_t *p = top_passage(r);
    assert_non_null(strstr(json_string_value(json_object_get(p, "text")), "Деньги"));
    assert_string_equal(json_string_value(json_array_get(json_object_get(p, "heading_path"), 0)),
                        "Помощь");
    assert_int_equal(l.texts, 1); /* the query; the chunks' embeddings were moved */
    const char *key;
    json_t *v;
    json_object_foreach(aht_kv(t), key, v)
    {
        assert_true(strncmp(key, "emb/", 4) != 0);
        assert_true(strncmp(key, "chunk/", 6) != 0);
    }
    aht_free(t);
    kit_rmtree(dir);
}

/* A previous version's KV of one document of id (two chunks, their
 * embeddings, its text in src/); with a malformed embedding for the
 * second chunk when bad. */
static void old_kv(json_t *kv, const char *id, int bad)
{
    static const char *const texts[] = {"Курьер привозит заказы с 9 до 21 часа.",
                                        "Деньги возвращаются на карту за 14 дней."};
    char key[700];
    json_object_set_new(
        kv, "kb/help",
        json_pack("{s:s,s:i,s:i}", "name", "help", "max_tokens", 20, "overlap_tokens", 2));
    snprintf(key, sizeof key, "doc/help/%s", id);
    json_object_set_new(kv, key,
                        json_pack("{s:s,s:s,s:[],s:s,s:i,s:s,s:i}", "id", id, "format", "text",
                                  "tags", "hash", "0123456789abcdef", "gen", 2, "state", "ready",
                                  "chunks", 2));
    snprintf(key, sizeof key, "src/help/%s", id);
    json_object_set_new(kv, key, json_pack("{s:s++}", "text", texts[0], "\n\n", texts[1]));
    for (int i = 0; i < 2; i++) {
        char hash[17];
        rag_test_hash(texts[i], hash);
        snprintf(key, sizeof key, "chunk/help/%s/2/%06d", id, i);
        json_object_set_new(kv, key,
                            json_pack("{s:s,s:i,s:i,s:i,s:[s],s:s}", "text", texts[i], "start",
                                      i * 40, "end", i * 40 + 39, "tokens", 8, "path", "Помощь",
                                      "hash", hash));
        float v[DIMS];
        ngram_embed(texts[i], strlen(texts[i]), v, DIMS);
        json_t *arr = json_array();
        for (int k = 0; k < DIMS; k++)
            json_array_append_new(arr,
                                  bad && i == 1 && k == 3 ? json_string("0.5") : json_real(v[k]));
        snprintf(key, sizeof key, "emb/%s", hash);
        json_object_set_new(kv, key, json_pack("{s:s,s:o}", "model", "", "v", arr));
    }
}

static const char *doc_state(aht *t)
{
    const json_t *r = ok(aht_call(t, "document.list", "{\"kb\": \"help\"}"));
    return json_string_value(
        json_object_get(json_array_get(json_object_get(r, "documents"), 0), "state"));
}

/* A document id of 450 bytes (a previous version's): its chunks moved
 * whole, under that id, nothing embedded again. */
static void a_long_document_id_is_moved_into_the_index_whole(void **s)
{
    (void)s;
    llm l = {.chat_answer = ""};
    char dir[256] = "", id[451];
    memset(id, 'x', 450);
    id[450] = 0;
    aht *t = with_llm(dir, sizeof dir, &l);
    old_kv(aht_kv(t), id, 0);
    assert_int_equal(aht_init(t, CFG), AH_OK);
    aht_run(t);
    assert_string_equal(doc_state(t), "ready");
    assert_int_equal(base_field(t, "chunks"), 2);
    assert_int_equal(base_field(t, "vectors"), 2);
    assert_int_equal(l.texts, 0); /* moved, not ingested again */
    const json_t *r = ok(aht_call(t, "search",
                                  "{\"kb\": \"help\", \"query\": \"курьер\", \"mode\": "
                                  "\"bm25\", \"top_k\": 1}"));
    const json_t *p = top_passage(r);
    assert_string_equal(json_string_value(json_object_get(p, "document")), id);
    aht_free(t);
    kit_rmtree(dir);
}

/* A stored embedding with a string among its numbers is not moved as
 * zeros: dropped, and its document ingested again from its text, which
 * embeds it anew; every chunk then has a vector, and a vector search for
 * that text finds it first. */
static void a_malformed_stored_embedding_is_embedded_again_not_moved_as_zeros(void **s)
{
    (void)s;
    llm l = {.chat_answer = ""};
    char dir[256] = "";
    aht *t = with_llm(dir, sizeof dir, &l);
    old_kv(aht_kv(t), "g", 1);
    assert_int_equal(aht_init(t, CFG), AH_OK);
    aht_run(t);
    assert_string_equal(doc_state(t), "ready");
    assert_true(l.texts >= 1); /* embedded again */
    assert_int_equal(base_field(t, "vectors"), base_field(t, "chunks"));
    const json_t *r = ok(aht_call(t, "search",
                                  "{\"kb\": \"help\", \"query\": \"деньги на карту\", "
                                  "\"mode\": \"vector\", \"top_k\": 1}"));
    const json_t *p = top_passage(r);
    assert_non_null(strstr(json_string_value(json_object_get(p, "text")), "Деньги"));
    aht_free(t);
    kit_rmtree(dir);
}

/* Without private storage (a host before ABI 1.5, a manifest without
 * "storage") the plugin refuses to start and says why. */
static void without_private_storage_the_plugin_refuses_to_start_and_says_why(void **s)
{
    (void)s;
    aht *t = aht_new(&agenthost_plugin, "kb");
    assert_int_equal(aht_init(t, CFG), AH_EUNSUPPORTED);
    int said = 0;
    size_t i;
    const json_t *line;
    json_array_foreach(aht_logs(t), i, line) said |=
        strstr(json_string_value(json_object_get(line, "msg")), "no private storage") != NULL;
    assert_true(said);
    aht_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(embeddings_once_search_modes_and_answers),
        cmocka_unit_test(
            the_approximate_index_finds_what_the_exact_search_finds_with_every_list_probed),
        cmocka_unit_test(
            the_ivf_trains_in_slices_between_searches_and_lists_a_document_added_meanwhile),
        cmocka_unit_test(a_restart_during_training_answers_exact_and_trains_again),
        cmocka_unit_test(the_index_survives_a_restart_from_disk_without_embedding_again),
        cmocka_unit_test(a_long_document_id_is_moved_into_the_index_whole),
        cmocka_unit_test(a_malformed_stored_embedding_is_embedded_again_not_moved_as_zeros),
        cmocka_unit_test(a_crash_in_the_middle_of_a_document_leaves_the_index_as_it_was),
        cmocka_unit_test(a_base_of_thousands_of_chunks_holds_none_in_memory),
        cmocka_unit_test(a_previous_versions_kv_is_moved_into_the_index_on_disk),
        cmocka_unit_test(without_private_storage_the_plugin_refuses_to_start_and_says_why),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
