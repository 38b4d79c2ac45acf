/*
 * /api/v1/audit: who changed what, and when, as entries written in the
 * commit of each change. Read only (no route changes or deletes an entry);
 * filtered by actor, target, action and time; exported as JSON Lines or
 * CSV a page at a time.
 */
#include "model/collections.h"
#include "api_docs.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What this family uses. */
typedef struct audit_ctx {
    docs *d;
} audit_ctx;

static const res_filter audit_filters[] = {
    {"actor", "actor.id"},   {"actor_name", "actor.name"},
    {"target", "target.id"}, {"collection", "target.collection"},
    {"action", "action"},    {NULL, NULL}};
static const res_range audit_ranges[] = {{"", "at"}, {NULL, NULL}};
static const char *const audit_sorts[] = {"at", NULL};
static const char *const audit_params[] = {"format", NULL};

static const resource audit_res = {
    .coll = COLL_AUDIT,
    .noun = "audit_entry",
    .label = "audit entry",
    .plural = "audit entries",
    .base = "/api/v1/audit",
    .item = "/api/v1/audit/{id}",
    .filters = audit_filters,
    .ranges = audit_ranges,
    .sorts = audit_sorts,
    .default_sort = "-at",
    .extra_params = audit_params,
};

/* ---- export formats ---------------------------------------------------------------- */

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) return;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

/* One CSV field: quoted when it holds a comma, quote or line break, and
 * a leading = + - @ defused (a spreadsheet would run it as a formula). */
static void put_csv(buf *b, const char *s, bool last)
{
    s = s ? s : "";
    bool quote = strpbrk(s, ",\"\r\n") != NULL || strchr("=+-@", s[0] ? s[0] : 'x');
    if (quote) put(b, "\"", 1);
    if (strchr("=+-@", s[0] ? s[0] : 'x')) put(b, "'", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"') put(b, "\"", 1);
        put(b, p, 1);
    }
    if (quote) put(b, "\"", 1);
    put(b, last ? "\r\n" : ",", last ? 2 : 1);
}

static const char *str_at(const json_t *e, const char *a, const char *b)
{
    const json_t *v = json_object_get(e, a);
    return json_string_value(b ? json_object_get(v, b) : v);
}

static void csv_of(buf *b, const json_t *items)
{
    static const char head[] =
        "id,at,actor_kind,actor_id,actor_name,action,collection,target,request_id,diff\r\n";
    put(b, head, sizeof(head) - 1);
    size_t i;
    json_t *e;
    json_array_foreach(items, i, e)
    {
        char *diff = json_dumps(json_object_get(e, "diff"), JSON_COMPACT | JSON_SORT_KEYS);
        put_csv(b, str_at(e, "id", NULL), false);
        put_csv(b, str_at(e, "at", NULL), false);
        put_csv(b, str_at(e, "actor", "kind"), false);
        put_csv(b, str_at(e, "actor", "id"), false);
        put_csv(b, str_at(e, "actor", "name"), false);
        put_csv(b, str_at(e, "action", NULL), false);
        put_csv(b, str_at(e, "target", "collection"), false);
        put_csv(b, str_at(e, "target", "id"), false);
        put_csv(b, str_at(e, "request_id", NULL), false);
        put_csv(b, diff ? diff : "{}", true);
        free(diff);
    }
}

static void jsonl_of(buf *b, const json_t *items)
{
    size_t i;
    json_t *e;
    json_array_foreach(items, i, e)
    {
        char *line = json_dumps(e, JSON_COMPACT);
        if (line) put(b, line, strlen(line));
        put(b, "\n", 1);
        free(line);
    }
}

static void h_audit(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    audit_ctx *x = ctx;
    const char *fmt = http_req_query(req, "format");
    if (fmt && strcmp(fmt, "json") && strcmp(fmt, "jsonl") && strcmp(fmt, "csv")) {
        http_respond_error(req, 422, "invalid_query", "format is json, jsonl or csv", "format");
        return;
    }
    doc_page page;
    if (res_list_page(&audit_res, x->d, x, req, &page) < 0) return;
    if (!fmt || !strcmp(fmt, "json")) {
        json_t *out = json_pack("{s:O,s:o,s:o}", "items", page.items, "next",
                                page.next ? json_string(page.next) : json_null(), "total",
                                page.total >= 0 ? json_integer(page.total) : json_null());
        doc_page_free(&page);
        http_respond_json(req, 200, out);
        return;
    }
    /* Exports: the entries as lines; the next page's cursor in a header. */
    buf b = {0};
    bool csv = !strcmp(fmt, "csv");
    if (csv)
        csv_of(&b, page.items);
    else
        jsonl_of(&b, page.items);
    char next[600] = "";
    if (page.next) snprintf(next, sizeof(next), "X-Next-Cursor: %s", page.next);
    char disp[96];
    snprintf(disp, sizeof(disp), "Content-Disposition: attachment; filename=\"audit.%s\"",
             csv ? "csv" : "jsonl");
    const char *hs[] = {disp, page.next ? next : NULL, NULL};
    http_respond(req, 200, csv ? "text/csv; charset=utf-8" : "application/x-ndjson", b.p ? b.p : "",
                 b.n, hs);
    free(b.p);
    doc_page_free(&page);
}

typedef struct get_arg {
    const char *id;
    json_t *doc;
    uint64_t rev;
} get_arg;

static int run_get(doc_txn *t, void *ud)
{
    get_arg *a = ud;
    int rc = doc_get(t, COLL_AUDIT, a->id, &a->doc, &a->rev);
    return rc == AH_ENOTFOUND ? doc_fail(t, rc, NULL, "no audit entry %s", a->id) : rc;
}

static void h_entry(void *ctx, http_req *req, const route_params *p)
{
    audit_ctx *x = ctx;
    get_arg a = {.id = route_param(p, "id")};
    doc_error e;
    int rc = docs_read(x->d, run_get, &a, &e);
    if (rc) {
        json_decref(a.doc);
        res_respond_error(req, rc, &e);
        return;
    }
    res_respond_doc(req, 200, a.doc, a.rev, NULL);
}

static const route routes[] = {
    {"GET", "/api/v1/audit", h_audit, "audit:read",
     "Audit entries: filters, time range, pages; JSON, JSON Lines or CSV"},
    {"GET", "/api/v1/audit/{id}", h_entry, "audit:read", "One audit entry"},
};

int api_audit_routes(api_table *t, const api_deps *deps)
{
    audit_ctx *x = NULL;
    if (deps) {
        if (!(x = calloc(1, sizeof(*x)))) return AH_ENOMEM;
        x->d = deps->docs;
        int rc = api_table_own(t, x, free);
        if (rc) return rc;
    }
    return api_table_add(t, routes, sizeof(routes) / sizeof(routes[0]), x);
}
