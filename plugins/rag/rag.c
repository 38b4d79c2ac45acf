/*
 * rag - knowledge bases (issue 18, docs/plugins/rag.md): bases of documents
 * (text, Markdown, HTML) chunked by structure, searched with BM25 over
 * Snowball stems in Russian and English, answering passages with their
 * document, heading path and character offsets. The KV holds the bases'
 * and documents' records and texts; the index (chunks, postings, vectors,
 * embeddings) lives on disk in the instance's private storage (ADR 0054).
 */
#include "rag.h"

#include "embed.h"
#include "convert.h"
#include "html.h"
#include "rerank.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rag_plugin R;

/* IVF training in slices (ADR 0058): one slice per loop turn, 1 ms apart,
 * until the switch; searches and ingestion run between slices. */
static void train_slice(ah_ctx *ctx, ah_timer *t, void *ud);

static void train_arm(void *ud)
{
    (void)ud;
    if (!R.train_timer) R.train_timer = R.host->timer_start(R.ctx, 1, 0, train_slice, NULL);
}

static void train_slice(ah_ctx *ctx, ah_timer *t, void *ud)
{
    (void)ctx;
    (void)t;
    (void)ud;
    R.train_timer = NULL;
    int rc = rag_disk_train_step(R.kbs.disk, R.ann_train_slice);
    if (rc > 0)
        train_arm(NULL);
    else if (rc < 0)
        R.host->log(R.ctx, AH_LOG_WARN, "rag: training the approximate index failed: %s",
                    rag_disk_error(R.kbs.disk));
}

static int rag_init(ah_ctx *ctx, const ah_host *host, const json_t *config)
{
    R.host = host;
    R.ctx = ctx;
    R.max_document_bytes =
        (size_t)json_integer_value(json_object_get(config, "max_document_bytes"));
    R.max_tokens = (size_t)json_integer_value(json_object_get(config, "max_tokens"));
    R.overlap_tokens = (size_t)json_integer_value(json_object_get(config, "overlap_tokens"));
    R.log_queries = json_is_true(json_object_get(config, "log_queries"));
    R.embed_instance = json_string_value(json_object_get(config, "embed_instance"));
    R.embed_model = json_string_value(json_object_get(config, "embed_model"));
    R.embed_batch = (size_t)json_integer_value(json_object_get(config, "embed_batch"));
    R.embed_dimensions = json_integer_value(json_object_get(config, "embed_dimensions"));
    R.embed_timeout_ms = (uint32_t)json_integer_value(json_object_get(config, "embed_timeout_ms"));
    R.answer_instance = json_string_value(json_object_get(config, "answer_instance"));
    R.rerank_instance = json_string_value(json_object_get(config, "rerank_instance"));
    R.rerank_model = json_string_value(json_object_get(config, "rerank_model"));
    R.rerank_timeout_ms =
        (uint32_t)json_integer_value(json_object_get(config, "rerank_timeout_ms"));
    const json_t *w = json_object_get(config, "hybrid_weights");
    R.w_bm25 = json_number_value(json_object_get(w, "bm25"));
    R.w_vector = json_number_value(json_object_get(w, "vector"));
    if (!json_object_get(w, "bm25")) R.w_bm25 = 1.0;
    if (!json_object_get(w, "vector")) R.w_vector = 1.0;
    R.fusion = rag_fusion_named(json_string_value(json_object_get(config, "hybrid_fusion")));
    if (!R.embed_batch) R.embed_batch = 32;
    if ((R.embed_instance || R.answer_instance || R.rerank_instance) && !AH_HOST_HAS(host, call)) {
        host->log(ctx, AH_LOG_ERROR,
                  "rag: embed_instance, answer_instance and rerank_instance "
                  "need a host of ABI 1.4 (call)");
        return AH_EUNSUPPORTED;
    }
    R.ann.min_vectors = (size_t)json_integer_value(json_object_get(config, "ann_min_vectors"));
    R.ann.nprobe = (size_t)json_integer_value(json_object_get(config, "ann_nprobe"));
    R.ann_train_slice = (size_t)json_integer_value(json_object_get(config, "ann_train_slice"));
    if (!R.ann_train_slice) R.ann_train_slice = (size_t)1 << 24;
    size_t map_mb = (size_t)json_integer_value(json_object_get(config, "index_max_mb"));
    const char *dir = AH_HOST_HAS(host, storage_dir) ? host->storage_dir(ctx) : NULL;
    if (!dir) {
        host->log(ctx, AH_LOG_ERROR,
                  "rag: no private storage: the index lives on disk and needs a host of ABI 1.5 "
                  "and the manifest's \"storage\": {\"private\": true} (ADR 0054)");
        return AH_EUNSUPPORTED;
    }
    char err[600];
    if (rag_disk_open(&R.kbs.disk, dir, map_mb ? map_mb : 1024, err, sizeof err) < 0) {
        host->log(ctx, AH_LOG_ERROR, "rag: %s", err);
        return AH_EIO;
    }
    rag_disk_on_train(R.kbs.disk, train_arm, NULL);
    R.kbs.a = rag_analyzer_new(1);
    if (!R.kbs.a) return AH_ENOMEM;
    rag_store_load();
    return AH_OK;
}

static void rag_shutdown(ah_ctx *ctx)
{
    (void)ctx;
    if (R.train_timer) R.host->timer_stop(R.ctx, R.train_timer);
    rag_kbs_free(&R.kbs);
    rag_analyzer_free(R.kbs.a);
    rag_disk_close(R.kbs.disk);
    memset(&R, 0, sizeof R);
}

static const char *str(const json_t *args, const char *name)
{
    return json_string_value(json_object_get(args, name));
}

static void put_done(ah_ctx *ctx, int status, void *ud)
{
    (void)ctx;
    ah_call *call = ud;
    if (status)
        R.host->reply_error(call, "store_failed", ah_strerror(status));
    else
        R.host->reply(call, json_pack("{s:b}", "ok", 1));
}

static rag_kb *need_kb(ah_call *call, const json_t *args)
{
    rag_kb *kb = rag_kbs_find(&R.kbs, str(args, "kb"));
    if (!kb) {
        char msg[200];
        snprintf(msg, sizeof msg, "kb: no knowledge base \"%.100s\"", str(args, "kb"));
        R.host->reply_error(call, "not_found", msg);
    }
    return kb;
}

static void kb_create(ah_call *call, const json_t *args)
{
    const char *name = str(args, "name");
    if (rag_kbs_find(&R.kbs, name)) {
        R.host->reply_error(call, "exists", "name: a knowledge base of that name exists");
        return;
    }
    json_int_t max = json_integer_value(json_object_get(args, "max_tokens"));
    json_int_t ov = json_integer_value(json_object_get(args, "overlap_tokens"));
    if (!max) max = (json_int_t)R.max_tokens;
    if (!json_object_get(args, "overlap_tokens")) ov = (json_int_t)R.overlap_tokens;
    if (ov >= max) {
        R.host->reply_error(call, "invalid", "overlap_tokens: must be less than max_tokens");
        return;
    }
    size_t top_n;
    char msg[200];
    if (rag_rerank_top_n(args, NULL, &top_n, msg, sizeof msg) < 0)
        return (void)R.host->reply_error(call, "invalid", msg);
    json_t *rec = json_pack("{s:s,s:I,s:I,s:O?}", "name", name, "max_tokens", max, "overlap_tokens",
                            ov, "description", json_object_get(args, "description"));
    if (top_n) json_object_set(rec, "rerank", json_object_get(args, "rerank"));
    char key[200];
    snprintf(key, sizeof key, "kb/%s", name);
    if (!rag_kbs_add(&R.kbs, name, rec))
        R.host->reply_error(call, "no_memory", "out of memory");
    else if (R.host->kv_put(R.ctx, key, rec, put_done, call) != AH_OK)
        R.host->reply_error(call, "store_failed", "the KV refused the base");
    json_decref(rec);
}

static void kb_list(ah_call *call)
{
    json_t *out = json_array();
    for (size_t i = 0; i < R.kbs.n; i++) {
        rag_kb *kb = R.kbs.kbs[i];
        size_t docs = kb->nlive;
        rag_disk_stats st;
        if (rag_disk_stats_get(R.kbs.disk, kb->name, &st) < 0) memset(&st, 0, sizeof st);
        json_t *b = json_deep_copy(kb->rec);
        json_object_set_new(b, "documents", json_integer((json_int_t)docs));
        json_object_set_new(b, "chunks", json_integer((json_int_t)st.chunks));
        json_object_set_new(b, "vectors", json_integer((json_int_t)st.vecs));
        /* chunks the plugin holds in memory: none between calls (ADR 0054) */
        json_object_set_new(b, "resident_chunks", json_integer((json_int_t)rag_disk_resident()));
        json_object_set_new(b, "resident_chunks_peak",
                            json_integer((json_int_t)rag_disk_resident_peak()));
        json_array_append_new(out, b);
    }
    R.host->reply(call, json_pack("{s:o}", "bases", out));
}

static void purge_of(const char *kind, const char *kb, const char *doc)
{
    char prefix[600];
    snprintf(prefix, sizeof prefix, doc ? "%s/%s/%s/" : "%s/%s/", kind, kb, doc);
    rag_store_purge(prefix);
}

static void kb_delete(ah_call *call, const json_t *args)
{
    rag_kb *kb = need_kb(call, args);
    if (!kb) return;
    char key[200], *name = strdup(kb->name);
    snprintf(key, sizeof key, "kb/%s", name);
    if (rag_kbs_remove(&R.kbs, name) < 0)
        R.host->log(R.ctx, AH_LOG_ERROR, "rag: dropping %s from the index: %s", name,
                    rag_disk_error(R.kbs.disk));
    /* the base's record first: what remains is an orphan the next load deletes */
    if (R.host->kv_delete(R.ctx, key, put_done, call) != AH_OK)
        R.host->reply_error(call, "store_failed", "the KV refused the deletion");
    purge_of("doc", name, NULL);
    purge_of("src", name, NULL);
    free(name);
}

/* Text that is not text: NUL, the replacement character, or many controls. */
static int binary(const char *s, size_t n)
{
    size_t controls = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0) return 1;
        if (c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f') controls++;
        if (c == 0xEF && i + 2 < n && (unsigned char)s[i + 1] == 0xBF &&
            (unsigned char)s[i + 2] == 0xBD)
            return 1;
    }
    return controls * 100 > n;
}

static int refuse_content(ah_call *call, const char *format, const char *content, size_t len)
{
    char msg[300];
    if (strcmp(format, "text") != 0 && strcmp(format, "markdown") != 0 &&
        strcmp(format, "html") != 0 && !rag_convert_handles(format)) {
        snprintf(msg, sizeof msg,
                 "format: \"%.40s\" is not supported; send text, markdown, html, or pdf or docx "
                 "as base64",
                 format);
        return R.host->reply_error(call, "unsupported_format", msg), 1;
    }
    if (rag_convert_handles(format)) return 0; /* checked as it is decoded (convert.h) */
    if (len > R.max_document_bytes) {
        snprintf(msg, sizeof msg,
                 "content: %zu bytes is over the limit of %zu (max_document_bytes)", len,
                 R.max_document_bytes);
        return R.host->reply_error(call, "too_large", msg), 1;
    }
    if (binary(content, len)) {
        R.host->reply_error(call, "binary",
                            "content: not text (NUL bytes, control characters or "
                            "invalid UTF-8)");
        return 1;
    }
    return 0;
}

/* ---- documents ----------------------------------------------------------- */

typedef struct {
    ah_call *call;
    char *kb, *id, *text;
    size_t len;
    json_t *rec;
} adding;

static void adding_free(adding *a)
{
    free(a->kb);
    free(a->id);
    free(a->text);
    json_decref(a->rec);
    free(a);
}

static void add_recorded(ah_ctx *ctx, int status, void *ud)
{
    (void)ctx;
    adding *a = ud;
    rag_kb *kb = rag_kbs_find(&R.kbs, a->kb);
    rag_doc *d = kb ? rag_kb_doc(kb, a->id) : NULL;
    if (status) {
        R.host->reply_error(a->call, "store_failed", ah_strerror(status));
    } else if (!d) {
        R.host->reply_error(a->call, "conflict", "id: deleted while it was being added");
    } else {
        R.host->reply(a->call,
                      json_pack("{s:s,s:s,s:s}", "document", a->id, "state", "ingesting", "hash",
                                json_string_value(json_object_get(a->rec, "hash"))));
        rag_store_ingest(kb, d, a->text, a->len);
        a->text = NULL;
    }
    adding_free(a);
}

static void add_saved(ah_ctx *ctx, int status, void *ud)
{
    (void)ctx;
    adding *a = ud;
    char key[600];
    snprintf(key, sizeof key, "doc/%s/%s", a->kb, a->id);
    if (status == AH_ETOOBIG) {
        R.host->reply_error(a->call, "too_large",
                            "content: over the KV's 1 MiB value once encoded");
    } else if (status) {
        R.host->reply_error(a->call, "store_failed", ah_strerror(status));
    } else if (R.host->kv_put(R.ctx, key, a->rec, add_recorded, a) == AH_OK) {
        return;
    } else {
        R.host->reply_error(a->call, "store_failed", "the KV refused the document");
    }
    rag_kb *kb = rag_kbs_find(&R.kbs, a->kb);
    rag_doc *d = kb ? rag_kb_doc(kb, a->id) : NULL;
    if (d) rag_kb_doc_drop(&R.kbs, kb, d);
    adding_free(a);
}

static char *reduce(const char *format, const char *content, size_t len, size_t *out_len)
{
    char *text = NULL;
    if (strcmp(format, "html") == 0) {
        if (rag_html_to_text(content, len, &text, out_len) < 0) return NULL;
        return text;
    }
    *out_len = len;
    return strndup(content, len);
}

static json_t *doc_record(const json_t *args, const char *format, size_t len, const char *hash,
                          json_int_t gen)
{
    json_t *tags = json_object_get(args, "tags");
    return json_pack("{s:s,s:O?,s:s,s:O?,s:o,s:I,s:s,s:I,s:s,s:i}", "id", str(args, "id"), "title",
                     json_object_get(args, "title"), "format", format, "language",
                     json_object_get(args, "language"), "tags",
                     tags ? json_incref(tags) : json_array(), "bytes", (json_int_t)len, "hash",
                     hash, "gen", gen, "state", "ingesting", "chunks", 0);
}

static void doc_add(ah_call *call, const json_t *args)
{
    rag_kb *kb = need_kb(call, args);
    if (!kb) return;
    const char *format = str(args, "format") ? str(args, "format") : "text";
    const json_t *jc = json_object_get(args, "content");
    const char *content = json_string_value(jc);
    size_t len = json_string_length(jc);
    if (refuse_content(call, format, content, len)) return;
    char *converted = NULL, why[400];
    size_t converted_len = 0;
    if (rag_convert_handles(format)) {
        rag_conv_err e = rag_convert(format, content, len, R.max_document_bytes, &converted,
                                     &converted_len, why, sizeof why);
        if (e) return (void)R.host->reply_error(call, rag_conv_code(e), why);
    }
    char hash[17], *both = NULL;
    if (asprintf(&both, "%s\n%s", format, content) < 0) {
        free(converted);
        return (void)R.host->reply_error(call, "no_memory", "");
    }
    rag_hash(both, strlen(both), hash);
    free(both);
    rag_doc *old = rag_kb_doc(kb, str(args, "id"));
    const char *old_hash = old ? json_string_value(json_object_get(old->rec, "hash")) : NULL;
    if (old_hash && strcmp(old_hash, hash) == 0) {
        free(converted);
        R.host->reply(call, json_pack("{s:s,s:O,s:b}", "document", old->id, "state",
                                      json_object_get(old->rec, "state"), "unchanged", 1));
        return;
    }
    adding *a = calloc(1, sizeof *a);
    a->call = call;
    a->kb = strdup(kb->name);
    a->id = strdup(str(args, "id"));
    a->text = converted ? converted : reduce(format, content, len, &a->len);
    if (converted) a->len = converted_len;
    json_int_t gen = old ? json_integer_value(json_object_get(old->rec, "gen")) + 1 : 1;
    a->rec = doc_record(args, format, len, hash, gen);
    if (old) rag_kb_doc_drop(&R.kbs, kb, old);
    json_t *src = a->text ? json_pack("{s:s%}", "text", a->text, a->len) : NULL;
    char key[600];
    snprintf(key, sizeof key, "src/%s/%s", a->kb, a->id);
    if (!src || !rag_kb_doc_add(kb, a->id, a->rec)) {
        R.host->reply_error(call, "no_memory", "out of memory");
        adding_free(a);
    } else if (R.host->kv_put(R.ctx, key, src, add_saved, a) != AH_OK) {
        R.host->reply_error(call, "store_failed", "the KV refused the document's text");
        rag_kb_doc_drop(&R.kbs, kb, rag_kb_doc(kb, a->id));
        adding_free(a);
    }
    json_decref(src);
}

static void doc_delete(ah_call *call, const json_t *args)
{
    rag_kb *kb = need_kb(call, args);
    if (!kb) return;
    rag_doc *d = rag_kb_doc(kb, str(args, "id"));
    if (!d) return (void)R.host->reply_error(call, "not_found", "id: no such document");
    char key[600];
    snprintf(key, sizeof key, "doc/%s/%s", kb->name, d->id);
    if (rag_kb_doc_drop(&R.kbs, kb, d) < 0) /* its chunks stay, unseen, until it is added again */
        R.host->log(R.ctx, AH_LOG_ERROR, "rag: dropping %s/%s from the index: %s", kb->name, d->id,
                    rag_disk_error(R.kbs.disk));
    if (R.host->kv_delete(R.ctx, key, put_done, call) != AH_OK)
        R.host->reply_error(call, "store_failed", "the KV refused the deletion");
    snprintf(key, sizeof key, "src/%s/%s", kb->name, d->id);
    R.host->kv_delete(R.ctx, key, NULL, NULL);
}

static void doc_list(ah_call *call, const json_t *args)
{
    rag_kb *kb = need_kb(call, args);
    if (!kb) return;
    json_t *out = json_array();
    for (size_t i = 0; i < kb->ndocs; i++) {
        if (!kb->docs[i].live) continue;
        json_t *d = json_deep_copy(kb->docs[i].rec);
        json_object_del(d, "gen");
        if (strcmp(json_string_value(json_object_get(d, "state")) ?: "", "ingesting") == 0)
            json_object_set_new(d, "done", json_integer((json_int_t)kb->docs[i].done));
        json_array_append_new(out, d);
    }
    R.host->reply(call, json_pack("{s:o}", "documents", out));
}

static void search_replied(ah_call *call, const json_t *args, json_t *out, const char *code,
                           const char *message, void *ud)
{
    (void)args;
    (void)ud;
    if (code)
        R.host->reply_error(call, code, message);
    else
        R.host->reply(call, out);
}

static void search(ah_call *call, const json_t *args)
{
    rag_search_start(call, args, str(args, "query"), search_replied, NULL);
}

static void rag_call(ah_ctx *ctx, ah_call *call, const char *action, const json_t *args)
{
    (void)ctx;
    if (R.loaded != 1) {
        R.host->reply_error(call, R.loaded < 0 ? "store_failed" : "loading",
                            R.loaded < 0 ? "the knowledge bases could not be loaded (see the log)"
                                         : "the knowledge bases are loading; retry shortly");
        return;
    }
    if (strcmp(action, "kb.create") == 0)
        kb_create(call, args);
    else if (strcmp(action, "kb.list") == 0)
        kb_list(call);
    else if (strcmp(action, "kb.delete") == 0)
        kb_delete(call, args);
    else if (strcmp(action, "document.add") == 0)
        doc_add(call, args);
    else if (strcmp(action, "document.delete") == 0)
        doc_delete(call, args);
    else if (strcmp(action, "document.list") == 0)
        doc_list(call, args);
    else if (strcmp(action, "search") == 0)
        search(call, args);
    else if (strcmp(action, "answer") == 0)
        rag_answer(call, args);
    else
        R.host->reply_error(call, "unknown_action", action);
}

AH_PLUGIN(.name = "rag", .version = "1.0.0", .init = rag_init, .call = rag_call,
          .shutdown = rag_shutdown);
