/*
 * Fuzz target: what the document layer takes from outside. The input is
 * lines: a collection, a sort (a leading '-' for descending), a cursor, a
 * search text, "field=value" filters, a range "field from to", and last a
 * JSON document. The query runs against a small store filled once (the
 * planner, cursors, residual filters, ranges); the document is checked
 * against every collection's schema and spelled into every index's keys,
 * as a write would. Beyond the sanitizers it traps when a page breaks its
 * promises: more items than its limit, more documents examined than its
 * budget allows.
 */
#include "core/jsonschema.h"
#include "store/store.h"
#include "model/collections.h"
#include "model/docs.h"
#include "model/ids.h"
#include "model/index_key.h"
#include "model/query.h"

#include <agenthost/plugin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static store *g_st;
static keystore *g_keys;
static docs *g_docs;

static int fill(doc_txn *t, void *ud)
{
    (void)ud;
    static const char *const names[] = {"Alpha", "beta", "Гамма", "delta", "Echo", "ζ"};
    for (int i = 0; i < 60; i++) {
        char id[ID_MAX], name[64], at[40];
        id_new("agt", 1700000000000 + i * 1000, id, sizeof(id));
        snprintf(name, sizeof(name), "%s %d", names[i % 6], i);
        snprintf(at, sizeof(at), "2026-0%d-1%dT00:00:00.000Z", 1 + i % 9, i % 10);
        json_t *a =
            json_pack("{s:s,s:s,s:s,s:s,s:[s],s:[s],s:s,s:s}", "id", id, "name", name, "status",
                      i % 3 ? "active" : "paused", "default_language", "ru", "languages", "ru",
                      "tags", i % 2 ? "vip" : "new", "updated_at", at, "created_at", at);
        int rc = doc_put(t, COLL_AGENTS, a, 0, NULL);
        json_decref(a);
        if (rc) return rc;
    }
    return 0;
}

static void init(void)
{
    char dir[] = "/tmp/ah-fuzz-docs-XXXXXX", err[256];
    if (!mkdtemp(dir)) abort();
    store_opts o = {.dir = dir};
    char kdir[64];
    snprintf(kdir, sizeof(kdir), "%s/keys", dir);
    uint8_t key[32] = {1};
    if (store_open(&g_st, NULL, &o, err, sizeof(err)) ||
        keystore_open(&g_keys, kdir, err, sizeof(err)) ||
        docs_open(&g_docs, g_st, g_keys, key, err, sizeof(err)) ||
        docs_write_now(g_docs, fill, NULL, NULL))
        abort();
}

static int run_list(doc_txn *t, void *ud)
{
    doc_query *q = ud;
    doc_page page;
    int rc = doc_list(t, q, &page);
    if (rc) return rc;
    size_t limit = q->limit ? q->limit : 50;
    if (json_array_size(page.items) > limit) __builtin_trap();
    if (page.examined > (limit * 20 > QUERY_BUDGET_MIN ? limit * 20 : QUERY_BUDGET_MIN) + 1)
        __builtin_trap();
    doc_page_free(&page);
    return 0;
}

/* The next line of [*p, end) into buf (NUL-terminated, cut to fit). */
static const char *line(const char **p, const char *end, char *buf, size_t len)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = (size_t)((nl ? nl : end) - *p);
    snprintf(buf, len, "%.*s", (int)(n < len ? n : len - 1), *p);
    *p = nl ? nl + 1 : end;
    return buf;
}

static void spell(const json_t *doc)
{
    size_t n;
    const doc_collection *c = collections_all(&n);
    for (size_t i = 0; i < n; i++) {
        char err[256];
        jsonschema_validate(docs_collection_schema(g_docs, c[i].name), doc, err, sizeof(err));
        for (size_t k = 0; k < c[i].nindexes; k++) {
            json_t *tuples = ikey_tuples(g_docs, &c[i].indexes[k], doc);
            size_t j;
            json_t *tu;
            json_array_foreach(tuples, j, tu)
            {
                uint8_t key[IKEY_MAX];
                ikey_encode(key, sizeof(key), c[i].name, &c[i].indexes[k], tu, json_array_size(tu));
            }
            json_decref(tuples);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_docs) init();
    const char *p = (const char *)data, *end = p + size;
    char coll[64], sort[64], cursor[700], text[200], f[8][128], range[200];
    doc_query q = {.coll = line(&p, end, coll, sizeof(coll))};
    line(&p, end, sort, sizeof(sort));
    if (sort[0]) {
        q.desc = sort[0] == '-';
        q.sort = sort + q.desc;
    }
    if (line(&p, end, cursor, sizeof(cursor))[0]) q.cursor = cursor;
    if (line(&p, end, text, sizeof(text))[0]) {
        q.text = text;
        q.text_field = "name";
    }
    json_t *vals[8] = {0};
    for (int i = 0; i < 4; i++) {
        char *eq = strchr(line(&p, end, f[i], sizeof(f[i])), '=');
        if (!eq) continue;
        *eq = 0;
        vals[q.neq] = json_string(eq + 1);
        if (!vals[q.neq]) continue;
        q.eq[q.neq].field = f[i];
        q.eq[q.neq].value = vals[q.neq];
        q.neq++;
    }
    json_t *from = NULL, *to = NULL;
    char *sp = strchr(line(&p, end, range, sizeof(range)), ' ');
    if (sp) {
        *sp = 0;
        char *sp2 = strchr(sp + 1, ' ');
        if (sp2) *sp2 = 0;
        q.range_field = range;
        from = json_string(sp + 1);
        to = sp2 ? json_string(sp2 + 1) : NULL;
        q.from = from;
        q.to = to;
    }
    q.limit = size % 7 ? size % 60 : 0;
    doc_error e;
    docs_read(g_docs, run_list, &q, &e);
    for (size_t i = 0; i < q.neq; i++)
        json_decref(vals[i]);
    json_decref(from);
    json_decref(to);
    json_t *doc = json_loadb(p, (size_t)(end - p), JSON_DECODE_ANY, NULL);
    if (doc) spell(doc);
    json_decref(doc);
    return 0;
}
