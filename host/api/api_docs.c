/*
 * api_docs.c - documents over REST, shared by every collection's family:
 * lists with filters, sorts, cursors and totals; reads with ETag and
 * If-None-Match; creates; JSON merge patches and deletes with If-Match;
 * each change audited in its own commit.
 */
#include "api_docs.h"

#include "bus/bus.h"
#include "core/util.h"
#include "model/ids.h"
#include "model/query.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- answers ------------------------------------------------------------------ */

void res_respond_error(http_req *req, int status, const doc_error *e)
{
    int code = e && e->code ? e->code : status;
    const char *msg = e && e->message[0] ? e->message : ah_strerror(code);
    const char *field = e && e->field[0] ? e->field : NULL;
    switch (code) {
    case AH_EINVAL:
        http_respond_error(req, 422, "invalid", msg, field);
        break;
    case AH_EEXIST:
        http_respond_error(req, 409, "conflict", msg, field);
        break;
    case AH_EBUSY:
        http_respond_error(req, 409, "in_use", msg, field);
        break;
    case AH_ECONFLICT:
        http_respond_error(req, 412, "precondition_failed", msg, NULL);
        break;
    case AH_ENOTFOUND:
        http_respond_error(req, 404, "not_found", msg, field);
        break;
    case AH_EDENIED: /* outside the caller's grants (api_scope.c) */
        http_respond_error(req, 403, "forbidden", msg, field);
        break;
    case AH_ETOOBIG:
        http_respond_error(req, 413, "payload_too_large", msg, field);
        break;
    case AH_ENOSPC:
        http_respond_error(req, 503, "store_full", "the store is full; the change was not made",
                           NULL);
        break;
    default:
        http_respond_error(req, 503, "store_error", msg, NULL);
    }
}

static void etag_of(uint64_t rev, char *buf, size_t len)
{
    snprintf(buf, len, "\"%llu\"", (unsigned long long)rev);
}

void res_respond_doc(http_req *req, int status, json_t *doc, uint64_t rev, const char *location)
{
    json_object_set_new(doc, "revision", json_integer((json_int_t)rev));
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!body) {
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        return;
    }
    char etag[64], et[80], loc[300];
    etag_of(rev, etag, sizeof(etag));
    snprintf(et, sizeof(et), "ETag: %s", etag);
    const char *hs[3] = {et, NULL, NULL};
    if (location) {
        snprintf(loc, sizeof(loc), "Location: %s", location);
        hs[1] = loc;
    }
    http_respond(req, status, "application/json", body, strlen(body), hs);
    free(body);
}

int res_if_match(http_req *req, uint64_t *rev)
{
    *rev = 0;
    const char *h = http_req_header(req, "If-Match");
    if (!h) return 0;
    if (!strcmp(h, "*")) return 0;
    const char *p = h;
    if (!strncmp(p, "W/", 2)) p += 2;
    char *end;
    unsigned long long v = *p == '"' ? strtoull(p + 1, &end, 10) : 0;
    if (*p != '"' || v == 0 || strcmp(end, "\"") != 0) {
        http_respond_error(req, 412, "precondition_failed",
                           "If-Match must be the ETag a read returned, such as \"3\"", NULL);
        return -1;
    }
    *rev = v;
    return 0;
}

/* ---- who and when ------------------------------------------------------------------ */

audit_actor res_actor(http_req *req)
{
    const principal *who = http_req_user(req);
    if (!who) return (audit_actor){.kind = "host"};
    return (audit_actor){.kind = who->kind, .id = who->id, .name = who->name, .role = who->role};
}

void res_stamp(json_t *doc, http_req *req, int64_t now_ms, bool create)
{
    char t[40];
    ah_rfc3339_ms(now_ms, t, sizeof(t));
    const principal *who = http_req_user(req);
    const char *by = who ? who->name : "host";
    if (create) {
        json_object_set_new(doc, "created_at", json_string(t));
        json_object_set_new(doc, "created_by", json_string(by));
    }
    json_object_set_new(doc, "updated_at", json_string(t));
    json_object_set_new(doc, "updated_by", json_string(by));
}

/* ---- input -------------------------------------------------------------------------- */

/* A JSON object body (application/json, or for a patch also
 * application/merge-patch+json), or NULL after answering. */
static json_t *object_body(http_req *req, bool patch)
{
    size_t len;
    const char *body = http_req_body(req, &len);
    const char *ct = http_req_header(req, "Content-Type");
    if (!api_is_json_type(ct) &&
        !(patch && api_is_media_type(ct, "application/merge-patch+json"))) {
        http_respond_error(req, 415, "unsupported_media_type",
                           patch ? "send the body as application/merge-patch+json or "
                                   "application/json"
                                 : "send the body as application/json",
                           NULL);
        return NULL;
    }
    json_error_t je;
    json_t *o = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &je) : NULL;
    if (!o) {
        char msg[300];
        snprintf(msg, sizeof(msg),
                 len ? "malformed JSON at line %d, column %d: %s" : "a JSON object is required",
                 je.line, je.column, je.text);
        http_respond_error(req, 400, len ? "malformed_json" : "empty_body", msg, NULL);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        http_respond_error(req, 422, "invalid", "the body must be a JSON object", NULL);
        return NULL;
    }
    return o;
}

static bool system_field(const char *k)
{
    static const char *const names[] = {"id",         "revision",   "schema_version", "created_at",
                                        "created_by", "updated_at", "updated_by"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcmp(k, names[i])) return true;
    return false;
}

/* Every field the client sent is one it may set. false after answering. */
static bool fields_ok(http_req *req, const resource *r, docs *d, const json_t *body)
{
    const json_t *known = json_object_get(docs_collection_schema(d, r->coll), "properties");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)body, k, v)
    {
        bool ro = system_field(k);
        for (size_t i = 0; !ro && r->read_only && r->read_only[i]; i++)
            ro = !strcmp(k, r->read_only[i]);
        if (ro || !json_object_get(known, k)) {
            char msg[200];
            if (ro)
                snprintf(msg, sizeof(msg), "%s is set by the host, not by a client", k);
            else
                snprintf(msg, sizeof(msg), "%s has no field %s", r->noun, k);
            http_respond_error(req, 422, "invalid", msg, k);
            return false;
        }
    }
    return true;
}

/* RFC 7386: patch applied to target in place. */
static void merge_patch(json_t *target, const json_t *patch)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)patch, k, v)
    {
        if (json_is_null(v)) {
            json_object_del(target, k);
        } else if (json_is_object(v)) {
            json_t *t = json_object_get(target, k);
            if (!json_is_object(t)) {
                t = json_object();
                json_object_set_new(target, k, t);
            }
            merge_patch(t, v);
        } else {
            json_object_set(target, k, v);
        }
    }
}

/* ---- list ---------------------------------------------------------------------------- */

static void hide_fields(const resource *r, json_t *doc)
{
    for (size_t i = 0; r->hidden && r->hidden[i]; i++)
        json_object_del(doc, r->hidden[i]);
}

typedef struct list_arg {
    doc_query q;
    doc_page page;
    const resource *res;
    void *ctx;
} list_arg;

static int run_list(doc_txn *t, void *ud)
{
    list_arg *a = ud;
    int rc = doc_list(t, &a->q, &a->page);
    size_t i;
    json_t *d;
    if (!rc && a->res->decorate) json_array_foreach(a->page.items, i, d)
        {
            if ((rc = a->res->decorate(t, a->ctx, d)) != 0) break;
        }
    if (!rc) json_array_foreach(a->page.items, i, d) hide_fields(a->res, d);
    return rc;
}

/* The names of a range's two parameters: "<prefix>_from" and "<prefix>_to",
 * or "from" and "to" for an empty prefix. */
static void range_params(const res_range *rg, char *from, char *to, size_t len)
{
    snprintf(from, len, "%s%sfrom", rg->prefix, rg->prefix[0] ? "_" : "");
    snprintf(to, len, "%s%sto", rg->prefix, rg->prefix[0] ? "_" : "");
}

static bool known_param(const resource *r, const char *k)
{
    static const char *const common[] = {"limit", "cursor", "sort", "q"};
    for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
        if (!strcmp(k, common[i])) return true;
    for (size_t i = 0; r->filters && r->filters[i].param; i++)
        if (!strcmp(k, r->filters[i].param)) return true;
    for (size_t i = 0; r->ranges && r->ranges[i].prefix; i++) {
        char from[64], to[64];
        range_params(&r->ranges[i], from, to, sizeof(from));
        if (!strcmp(k, from) || !strcmp(k, to)) return true;
    }
    for (size_t i = 0; r->extra_params && r->extra_params[i]; i++)
        if (!strcmp(k, r->extra_params[i])) return true;
    return false;
}

/* Fill a->q from the query string; false after answering 422. keep holds
 * the JSON values the query points to. */
static bool parse_list(http_req *req, const resource *r, list_arg *a, json_t *keep)
{
    doc_query *q = &a->q;
    q->coll = r->coll;
    json_t *args = http_req_query_json(req);
    const char *k;
    json_t *v;
    json_object_foreach(args, k, v)
    {
        if (!known_param(r, k)) {
            char msg[160];
            snprintf(msg, sizeof(msg), "unknown query parameter %.64s", k);
            http_respond_error(req, 422, "invalid_query", msg, k);
            json_decref(args); /* k is one of its keys */
            return false;
        }
    }
    json_decref(args);
    const char *lim = http_req_query(req, "limit");
    if (lim) {
        char *end;
        long n = strtol(lim, &end, 10);
        if (*end || n < 1 || n > QUERY_MAX_LIMIT) {
            http_respond_error(req, 422, "invalid_query", "limit must be 1 to 500", "limit");
            return false;
        }
        q->limit = (size_t)n;
    }
    q->cursor = http_req_query(req, "cursor");
    const char *sort = http_req_query(req, "sort") ? http_req_query(req, "sort") : r->default_sort;
    if (sort) {
        q->desc = sort[0] == '-';
        q->sort = sort + q->desc;
        bool ok = false;
        for (size_t i = 0; r->sorts && r->sorts[i]; i++)
            ok |= !strcmp(r->sorts[i], q->sort);
        if (!ok) {
            http_respond_error(req, 422, "invalid_query", "cannot sort by that field", "sort");
            return false;
        }
    }
    if ((q->text = http_req_query(req, "q")) != NULL) q->text_field = r->text_field;
    for (size_t i = 0; r->filters && r->filters[i].param && q->neq < QUERY_MAX_EQ; i++) {
        const char *val = http_req_query(req, r->filters[i].param);
        if (!val) continue;
        json_t *jv = json_string(val);
        json_array_append_new(keep, jv);
        q->eq[q->neq].field = r->filters[i].field;
        q->eq[q->neq++].value = jv;
    }
    for (size_t i = 0; r->ranges && r->ranges[i].prefix; i++) {
        char names[2][64];
        range_params(&r->ranges[i], names[0], names[1], sizeof(names[0]));
        for (int e = 0; e < 2; e++) {
            const char *name = names[e];
            const char *val = http_req_query(req, name);
            int64_t ms;
            if (!val) continue;
            if (!ah_parse_time(val, &ms)) {
                http_respond_error(req, 422, "invalid_query",
                                   "a time is RFC 3339 (2026-11-23T12:00:00Z) or Unix ms", name);
                return false;
            }
            char t[40];
            ah_rfc3339_ms(ms, t, sizeof(t));
            json_t *jv = json_string(t);
            json_array_append_new(keep, jv);
            q->range_field = r->ranges[i].field;
            if (e == 0)
                q->from = jv;
            else
                q->to = jv;
        }
    }
    return true;
}

int res_list_page(const resource *r, docs *d, void *ctx, http_req *req, doc_page *page)
{
    list_arg a = {.res = r, .ctx = ctx};
    json_t *keep = json_array();
    if (!parse_list(req, r, &a, keep)) {
        json_decref(keep);
        return -1;
    }
    doc_error e;
    int status = docs_read(d, run_list, &a, &e);
    json_decref(keep);
    if (status) {
        res_respond_error(req, status, &e);
        return -1;
    }
    *page = a.page;
    return 0;
}

void res_h_list(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    res_ctx *rc = ctx;
    doc_page page;
    if (res_list_page(rc->res, rc->d, rc->ctx, req, &page) < 0) return;
    /* Grants on some agents only: their items, and no total. */
    if (api_scope_filter(rc->d, req, rc->res->coll, page.items)) page.total = -1;
    json_t *out = json_pack("{s:o,s:o,s:o}", "items", page.items, "next",
                            page.next ? json_string(page.next) : json_null(), "total",
                            page.total >= 0 ? json_integer(page.total) : json_null());
    page.items = NULL;
    doc_page_free(&page);
    if (rc->res->audit_reads) {
        char action[64];
        snprintf(action, sizeof(action), "%s.list", rc->res->noun);
        api_audit_read(rc->d, req, action, rc->res->coll, NULL,
                       json_pack("{s:I}", "count",
                                 (json_int_t)json_array_size(json_object_get(out, "items"))));
    }
    http_respond_json(req, 200, out);
}

/* ---- read ------------------------------------------------------------------------------ */

typedef struct get_arg {
    const resource *res;
    void *ctx;
    const char *id;
    json_t *doc;
    uint64_t rev;
} get_arg;

static int run_get(doc_txn *t, void *ud)
{
    get_arg *a = ud;
    int rc = doc_get(t, a->res->coll, a->id, &a->doc, &a->rev);
    if (rc == AH_ENOTFOUND) return doc_fail(t, rc, NULL, "no %s %s", a->res->noun, a->id);
    if (!rc && a->res->decorate) rc = a->res->decorate(t, a->ctx, a->doc);
    if (!rc) hide_fields(a->res, a->doc);
    return rc;
}

void res_h_get(void *ctx, http_req *req, const route_params *p)
{
    res_ctx *rc = ctx;
    get_arg a = {.res = rc->res, .ctx = rc->ctx, .id = route_param(p, "id")};
    doc_error e;
    int status = docs_read(rc->d, run_get, &a, &e);
    if (status) {
        json_decref(a.doc);
        res_respond_error(req, status, &e);
        return;
    }
    char etag[64];
    etag_of(a.rev, etag, sizeof(etag));
    const char *inm = http_req_header(req, "If-None-Match");
    if (inm && (!strcmp(inm, etag) || !strcmp(inm, "*"))) {
        json_decref(a.doc);
        char et[80];
        snprintf(et, sizeof(et), "ETag: %s", etag);
        const char *hs[] = {et, NULL};
        http_respond(req, 304, NULL, NULL, 0, hs);
        return;
    }
    if (rc->res->audit_reads) {
        char action[64];
        snprintf(action, sizeof(action), "%s.read", rc->res->noun);
        api_audit_read(rc->d, req, action, rc->res->coll, a.id, NULL);
    }
    res_respond_doc(req, 200, a.doc, a.rev, NULL);
}

/* ---- writes ------------------------------------------------------------------------------ */

typedef struct write_arg {
    const resource *res;
    void *ctx;
    http_req *req;
    char id[ID_MAX];
    json_t *body;    /* the create's fields or the patch */
    uint64_t expect; /* If-Match, or 0 */
    bool force;
    int kind;       /* 0 create, 1 patch, 2 delete */
    json_t *result; /* the document written, or what a hook left (delete) */
    uint64_t rev;
    bool deleted;
    /* with events (resource.events): the write runs in a bus_commit */
    res_ctx *rc;
    doc_txn_fn fn;
    doc_op *op;
    uint64_t asked; /* If-Match as the client sent it */
    json_t *before; /* the document the events were made from */
    uint64_t before_rev;
    int tries;
} write_arg;

static void change_of(write_arg *a, doc_txn *t, const json_t *old, json_t *doc, res_change *c)
{
    *c = (res_change){.res = a->res,
                      .t = t,
                      .req = a->req,
                      .ctx = a->ctx,
                      .old = old,
                      .doc = doc,
                      .force = a->force};
}

static int audit_change(write_arg *a, doc_txn *t, const char *verb, const json_t *before,
                        const json_t *after)
{
    char action[64];
    snprintf(action, sizeof(action), "%s.%s", a->res->noun, verb);
    audit_actor who = res_actor(a->req);
    return audit_record(t, &who, http_req_id(a->req), action, a->res->coll, a->id, before, after);
}

/* The answer shows the document as stored: with its schema_version. */
static void set_version(doc_txn *t, write_arg *a)
{
    const doc_collection *c = docs_collection(doc_txn_docs(t), a->res->coll);
    json_object_set_new(a->result, "schema_version", json_integer(c->version));
}

static int run_create(doc_txn *t, void *ud)
{
    write_arg *a = ud;
    json_decref(a->result);
    a->result = a->res->defaults ? json_loads(a->res->defaults, 0, NULL) : json_object();
    if (!a->result) return doc_fail(t, AH_ENOMEM, NULL, "out of memory");
    json_object_update(a->result, a->body);
    json_object_set_new(a->result, "id", json_string(a->id));
    res_stamp(a->result, a->req, doc_txn_now(t), true);
    res_change c;
    change_of(a, t, NULL, a->result, &c);
    int rc = a->res->prepare ? a->res->prepare(&c) : 0;
    if (!rc) rc = api_scope_doc(t, a->req, a->res->coll, a->result);
    if (!rc) rc = doc_put(t, a->res->coll, a->result, 0, &a->rev);
    if (!rc) rc = audit_change(a, t, "create", NULL, a->result);
    if (!rc) set_version(t, a);
    return rc;
}

static int run_patch(doc_txn *t, void *ud)
{
    write_arg *a = ud;
    json_t *old = NULL;
    uint64_t have = 0;
    int rc = doc_get(t, a->res->coll, a->id, &old, &have);
    if (rc == AH_ENOTFOUND) return doc_fail(t, rc, NULL, "no %s %s", a->res->noun, a->id);
    if (rc) return rc;
    json_decref(a->result);
    a->result = json_deep_copy(old);
    merge_patch(a->result, a->body);
    res_stamp(a->result, a->req, doc_txn_now(t), false);
    res_change c;
    change_of(a, t, old, a->result, &c);
    rc = a->res->prepare ? a->res->prepare(&c) : 0;
    if (!rc) rc = api_scope_doc(t, a->req, a->res->coll, a->result);
    if (!rc) rc = doc_put(t, a->res->coll, a->result, a->expect ? a->expect : have, &a->rev);
    if (!rc) rc = audit_change(a, t, "update", old, a->result);
    if (!rc) set_version(t, a);
    json_decref(old);
    return rc;
}

static int run_delete(doc_txn *t, void *ud)
{
    write_arg *a = ud;
    json_t *old = NULL;
    uint64_t have = 0;
    a->deleted = false;
    int rc = doc_get(t, a->res->coll, a->id, &old, &have);
    if (rc == AH_ENOTFOUND) return doc_fail(t, rc, NULL, "no %s %s", a->res->noun, a->id);
    if (!rc && a->expect && a->expect != have)
        rc = doc_fail(t, AH_ECONFLICT, NULL, "%s %s is at revision %llu, not %llu", a->res->noun,
                      a->id, (unsigned long long)have, (unsigned long long)a->expect);
    json_decref(a->result);
    a->result = NULL;
    if (!rc && a->res->before_delete) {
        res_change c;
        change_of(a, t, old, NULL, &c);
        rc = a->res->before_delete(&c);
        if (rc == 1) { /* the hook archived it (c.doc) or erased it (NULL) itself */
            a->result = c.doc;
            a->deleted = c.doc == NULL;
            json_decref(old);
            return 0;
        }
    }
    if (!rc) rc = doc_delete(t, a->res->coll, a->id, have);
    if (!rc) rc = audit_change(a, t, "delete", old, NULL);
    a->deleted = rc == 0;
    json_decref(old);
    return rc;
}

static void write_done(int status, const doc_error *e, void *ud)
{
    write_arg *a = ud;
    if (a->result) hide_fields(a->res, a->result);
    if (status) {
        res_respond_error(a->req, status, e);
    } else if (a->kind == 0) {
        char loc[200];
        snprintf(loc, sizeof(loc), "%s/%s", a->res->base, a->id);
        res_respond_doc(a->req, 201, json_incref(a->result), a->rev, loc);
    } else if (a->kind == 2 && a->deleted) {
        http_respond(a->req, 204, NULL, NULL, 0, NULL);
    } else if (a->kind == 2) {
        /* A hook archived it: the document as it is now. */
        uint64_t rev = (uint64_t)json_integer_value(json_object_get(a->result, "revision"));
        res_respond_doc(a->req, 200, json_incref(a->result), rev, NULL);
    } else {
        res_respond_doc(a->req, 200, json_incref(a->result), a->rev, NULL);
    }
    json_decref(a->body);
    json_decref(a->result);
    json_decref(a->before);
    free(a);
}

/* ---- writes that publish events -------------------------------------------------------- */

static int run_before(doc_txn *t, void *ud)
{
    write_arg *a = ud;
    return doc_get(t, a->res->coll, a->id, &a->before, &a->before_rev);
}

static int write_with_events(write_arg *a);

static void committed_with_events(void *ud, int status, const uint64_t *offsets, const bool *dup,
                                  size_t n)
{
    (void)offsets, (void)dup, (void)n;
    write_arg *a = ud;
    doc_error e = {0};
    docs_op_finish(a->op, status, &e);
    a->op = NULL;
    /* Written meanwhile: the events told of another revision; again. */
    if (status == AH_ECONFLICT && !a->asked && a->tries < 3 && write_with_events(a) == 0) return;
    write_done(status, &e, a);
}

/* The document before (patch), the events of the change, then one
 * bus_commit: the events and the write (at the revision they were made
 * from) commit together. 0 when write_done will run, else a code. */
static int write_with_events(write_arg *a)
{
    a->tries++;
    json_decref(a->before);
    a->before = NULL;
    a->before_rev = 0;
    doc_error e = {0};
    int rc = a->kind == 1 ? docs_read(a->rc->d, run_before, a, &e) : 0;
    if (rc) return rc;
    json_t *after = a->before ? json_deep_copy(a->before) : json_object();
    if (!a->before && a->res->defaults)
        json_object_update_new(after, json_loads(a->res->defaults, 0, NULL));
    merge_patch(after, a->body);
    json_object_set_new(after, "id", json_string(a->id));
    json_t *ev = json_array();
    a->res->events(a->before, after, a->before_rev + 1, ev);
    json_decref(after);
    if (a->kind == 1) a->expect = a->asked ? a->asked : a->before_rev;
    size_t n = json_array_size(ev);
    bus_msg *msgs = calloc(n ? n : 1, sizeof(*msgs));
    a->op = msgs ? docs_op_new(a->rc->d, a->fn, a) : NULL;
    for (size_t i = 0; a->op && i < n; i++) {
        json_t *x = json_array_get(ev, i);
        msgs[i] =
            (bus_msg){.topic = json_string_value(json_object_get(x, "topic")),
                      .key = json_string_value(json_object_get(x, "key")),
                      .idempotency_key = json_string_value(json_object_get(x, "idempotency_key")),
                      .body = json_object_get(x, "body")};
    }
    char err[300] = "out of memory";
    bus_commit_req r = {.msgs = msgs, .n = n, .apply = docs_op_apply, .apply_arg = a->op};
    rc = a->op ? bus_commit(a->rc->bus, &r, committed_with_events, a, err, sizeof(err)) : AH_ENOMEM;
    free(msgs);
    json_decref(ev);
    if (rc && a->op) docs_op_finish(a->op, rc, NULL);
    if (rc) a->op = NULL;
    return rc;
}

static void start_write(res_ctx *rc, http_req *req, write_arg *a, doc_txn_fn fn)
{
    a->res = rc->res;
    a->ctx = rc->ctx;
    a->req = req;
    const char *force = http_req_query(req, "force");
    a->force = force && (!strcmp(force, "true") || !strcmp(force, "1"));
    a->rc = rc;
    a->fn = fn;
    a->asked = a->expect;
    bool events = rc->bus && rc->res->events && a->kind != 2;
    int status = events ? write_with_events(a) : docs_write(rc->d, fn, a, write_done);
    if (status) {
        doc_error e = {.code = status};
        snprintf(e.message, sizeof(e.message), "%s", ah_strerror(status));
        res_respond_error(req, status, &e);
        json_decref(a->body);
        json_decref(a->before);
        free(a);
    }
}

void res_h_create(void *ctx, http_req *req, const route_params *p)
{
    (void)p;
    res_ctx *rc = ctx;
    json_t *body = object_body(req, false);
    if (!body) return;
    if (!fields_ok(req, rc->res, rc->d, body)) {
        json_decref(body);
        return;
    }
    write_arg *a = calloc(1, sizeof(*a));
    if (!a) {
        json_decref(body);
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        return;
    }
    a->body = body;
    a->kind = 0;
    const doc_collection *c = docs_collection(rc->d, rc->res->coll);
    id_new(c->id_prefix, ah_now_ms(), a->id, sizeof(a->id));
    start_write(rc, req, a, run_create);
}

static write_arg *id_write(http_req *req, const route_params *p, int kind, json_t *body)
{
    uint64_t expect;
    if (res_if_match(req, &expect) < 0) {
        json_decref(body);
        return NULL;
    }
    write_arg *a = calloc(1, sizeof(*a));
    if (!a) {
        json_decref(body);
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        return NULL;
    }
    snprintf(a->id, sizeof(a->id), "%s", route_param(p, "id"));
    a->body = body;
    a->kind = kind;
    a->expect = expect;
    return a;
}

void res_h_patch(void *ctx, http_req *req, const route_params *p)
{
    res_ctx *rc = ctx;
    json_t *body = object_body(req, true);
    if (!body) return;
    if (!fields_ok(req, rc->res, rc->d, body)) {
        json_decref(body);
        return;
    }
    write_arg *a = id_write(req, p, 1, body);
    if (a) start_write(rc, req, a, run_patch);
}

void res_h_delete(void *ctx, http_req *req, const route_params *p)
{
    res_ctx *rc = ctx;
    write_arg *a = id_write(req, p, 2, NULL);
    if (a) start_write(rc, req, a, run_delete);
}

/* ---- routes ------------------------------------------------------------------------------ */

/* The routes and their summaries, kept as long as the API. */
typedef struct res_routes_mem {
    route routes[5];
    char summary[5][96];
} res_routes_mem;

int res_register(api_table *t, const resource *r, docs *d, void *ctx, const char *read,
                 const char *write)
{
    return res_register_with_bus(t, r, d, NULL, ctx, read, write);
}

int res_register_with_bus(api_table *t, const resource *r, docs *d, struct bus *b, void *ctx,
                          const char *read, const char *write)
{
    res_ctx *c = NULL;
    if (d) {
        c = calloc(1, sizeof(*c));
        if (!c) return AH_ENOMEM;
        *c = (res_ctx){r, d, ctx, b};
        int rc = api_table_own(t, c, free);
        if (rc) return rc;
    }
    res_routes_mem *m = calloc(1, sizeof(*m));
    if (!m) return AH_ENOMEM;
    int rc = api_table_own(t, m, free);
    if (rc) return rc;
    snprintf(m->summary[0], 96, "List %s (filters, sort, cursor pages)", r->plural);
    snprintf(m->summary[1], 96, "Create %s %s", strchr("aeiou", r->noun[0]) ? "an" : "a", r->noun);
    snprintf(m->summary[2], 96, "One %s (ETag; If-None-Match)", r->noun);
    snprintf(m->summary[3], 96, "Update %s %s (JSON merge patch; If-Match)",
             strchr("aeiou", r->noun[0]) ? "an" : "a", r->noun);
    snprintf(m->summary[4], 96, "Delete %s %s (If-Match)", strchr("aeiou", r->noun[0]) ? "an" : "a",
             r->noun);
    route rs[5] = {
        {"GET", r->base, res_h_list, read, m->summary[0]},
        {"POST", r->base, res_h_create, write, m->summary[1]},
        {"GET", r->item, res_h_get, read, m->summary[2]},
        {"PATCH", r->item, res_h_patch, write, m->summary[3]},
        {"DELETE", r->item, res_h_delete, r->delete_perm ? r->delete_perm : write, m->summary[4]},
    };
    memcpy(m->routes, rs, sizeof(rs));
    return api_table_add(t, m->routes, 5, c);
}
