#include "query.h"

#include "sdk/ipc/b64.h"
#include "docs_priv.h"
#include "ids.h"
#include "index_key.h"

#include <agenthost/plugin.h>

#include <stdlib.h>
#include <string.h>

#define KEY_MAX 511

/* ---- planning ---------------------------------------------------------------- */

/* Whether an index field and a query's name the same path, "[]" aside
 * ("tags[]" is "tags", "channels[].instance" is "channels.instance"). */
static bool same_field(const char *ixf, const char *qf)
{
    if (!qf) return false;
    while (*ixf || *qf) {
        if (ixf[0] == '[' && ixf[1] == ']') ixf += 2;
        if (qf[0] == '[' && qf[1] == ']') qf += 2;
        if (*ixf != *qf) return false;
        if (!*ixf) break;
        ixf++;
        qf++;
    }
    return true;
}

static int eq_index_of(const doc_query *q, const char *ixf)
{
    for (size_t i = 0; i < q->neq; i++)
        if (same_field(ixf, q->eq[i].field)) return (int)i;
    return -1;
}

typedef struct plan {
    const doc_index_def *ix; /* NULL: the collection in id order */
    size_t neq;              /* leading fields fixed by equality filters */
    bool eq_used[QUERY_MAX_EQ];
    bool ordered; /* the index gives the sort order */
    bool ranged;  /* the range bounds the scan */
} plan;

static int score(const doc_query *q, const doc_index_def *ix, plan *p)
{
    memset(p, 0, sizeof(*p));
    p->ix = ix;
    size_t f = 0;
    for (; ix->fields[f]; f++) {
        int e = eq_index_of(q, ix->fields[f]);
        if (e < 0 || p->eq_used[e]) break;
        p->eq_used[e] = true;
        p->neq++;
    }
    const char *next = ix->fields[f];
    if (next && q->sort && same_field(next, q->sort)) p->ordered = true;
    if (next && q->range_field && same_field(next, q->range_field))
        p->ranged = !q->sort || p->ordered;
    if (!q->sort && !next && p->neq) p->ordered = true; /* all fixed: id order within */
    /* The sort order is worth the most: without it, a page is not a page. */
    return (p->ordered ? 100 : 0) + (int)p->neq * 10 + (p->ranged ? 5 : 0);
}

static void choose(const doc_collection *c, const doc_query *q, plan *best)
{
    memset(best, 0, sizeof(*best));
    int top = q->sort ? -1 : 0; /* creation order is the default */
    for (size_t i = 0; i < c->nindexes; i++) {
        plan p;
        int s = score(q, &c->indexes[i], &p);
        bool usable = q->sort ? p.ordered : (p.neq > 0 || p.ranged);
        if (usable && s > top && !(c->indexes[i].flags & DOC_INDEX_SPARSE && !p.neq)) {
            top = s;
            *best = p;
        }
    }
}

/* ---- residual filters --------------------------------------------------------- */

/* The values at path: one, or through arrays ("channels.instance" of a
 * list of channels) several, appended to out. */
static void values_of(const json_t *v, const char *path, json_t *out)
{
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e) values_of(e, path, out);
        return;
    }
    if (!*path) {
        if (v) json_array_append(out, (json_t *)v);
        return;
    }
    size_t n = strcspn(path, ".[");
    if (n == 0) return; /* "[x", "..": a path no document holds */
    char name[64];
    snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) ? n : sizeof(name) - 1), path);
    const char *rest = path + n;
    if (rest[0] == '[' && rest[1] == ']') rest += 2;
    if (*rest == '.') rest++;
    values_of(json_object_get(v, name), rest, out);
}

/* The value at path, or a new array of the values found through arrays.
 * A new reference (NULL: none). */
static json_t *field_of(const json_t *doc, const char *path)
{
    json_t *all = json_array();
    values_of(doc, path, all);
    if (json_array_size(all) == 0) {
        json_decref(all);
        return NULL;
    }
    /* A plain path naming a scalar or an object: the value itself. */
    const json_t *direct = doc;
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *save, *tok = strtok_r(buf, ".", &save); tok && direct;
         tok = strtok_r(NULL, ".", &save))
        direct = json_is_object(direct) ? json_object_get(direct, tok) : NULL;
    if (direct && !strchr(path, '[')) {
        json_decref(all);
        return json_incref((json_t *)direct);
    }
    return all;
}

static bool eq_match(const json_t *v, const json_t *want)
{
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e) if (json_equal(e, want)) return true;
        return false;
    }
    if (!v) return json_is_null(want);
    return json_equal(v, want);
}

/* -1, 0, 1 as a vs b sort: compared through their index spelling. */
static int cmp_values(const json_t *a, const json_t *b)
{
    static const doc_index_def ix = {.name = "c", .fields = {"v", NULL}};
    uint8_t ka[KEY_MAX], kb[KEY_MAX];
    json_t *ta = json_pack("[O]", a ? a : json_null()), *tb = json_pack("[O]", b);
    size_t na = ikey_encode(ka, sizeof(ka), "c", &ix, ta, 1);
    size_t nb = ikey_encode(kb, sizeof(kb), "c", &ix, tb, 1);
    json_decref(ta);
    json_decref(tb);
    int c = memcmp(ka, kb, na < nb ? na : nb);
    return c ? c : (na > nb) - (na < nb);
}

static bool text_match(const json_t *v, const char *text)
{
    if (!json_is_string(v)) return false;
    size_t hn, nn;
    char *h = ikey_fold(json_string_value(v), json_string_length(v), &hn);
    char *n = ikey_fold(text, strlen(text), &nn);
    bool ok = h && n && memmem(h, hn, n, nn) != NULL;
    free(h);
    free(n);
    return ok;
}

static bool matches(const doc_query *q, const plan *p, const json_t *doc)
{
    bool ok = true;
    for (size_t i = 0; ok && i < q->neq; i++) {
        if (p->eq_used[i]) continue;
        json_t *v = field_of(doc, q->eq[i].field);
        ok = eq_match(v, q->eq[i].value);
        json_decref(v);
    }
    if (ok && q->range_field && !p->ranged) {
        json_t *v = field_of(doc, q->range_field);
        ok = !(q->from && cmp_values(v, q->from) < 0) && !(q->to && cmp_values(v, q->to) >= 0);
        json_decref(v);
    }
    if (ok && q->text) {
        json_t *v = field_of(doc, q->text_field);
        ok = text_match(v, q->text);
        json_decref(v);
    }
    return ok;
}

/* ---- scanning ------------------------------------------------------------------ */

typedef struct run {
    doc_txn *t;
    const doc_collection *c;
    const doc_query *q;
    const plan *p;
    size_t limit, budget;
    uint8_t stop[KEY_MAX]; /* the range's far bound, or len 0 */
    size_t stop_len;
    bool reverse;
    doc_page *page;
    uint8_t last[KEY_MAX]; /* the position to go on from */
    size_t last_len;
    bool more;
    int err;
} run;

static int key_cmp(store_val k, const uint8_t *b, size_t bn)
{
    int c = memcmp(k.data, b, k.len < bn ? k.len : bn);
    return c ? c : (k.len > bn) - (k.len < bn);
}

static void remember(run *r, store_val k)
{
    memcpy(r->last, k.data, k.len);
    r->last_len = k.len;
}

static int visit(void *ud, store_val k, store_val v)
{
    run *r = ud;
    if (r->stop_len) {
        int c = key_cmp(k, r->stop, r->stop_len);
        if (r->reverse ? c < 0 : c >= 0) return 1; /* past the range */
    }
    if (r->page->examined >= r->budget) {
        r->more = true; /* out of budget: go on from the last one examined */
        return 1;
    }
    char id[ID_MAX];
    if (r->p->ix) {
        if (v.len >= sizeof(id)) return 0;
        memcpy(id, v.data, v.len);
        id[v.len] = 0;
    } else {
        size_t cl = strlen(r->c->name) + 1;
        if (k.len - cl >= sizeof(id)) return 0;
        memcpy(id, (const char *)k.data + cl, k.len - cl);
        id[k.len - cl] = 0;
    }
    json_t *doc = NULL;
    uint64_t rev = 0;
    int rc = docs_load(r->t, r->c, id, &doc, &rev);
    r->page->examined++;
    if (rc == AH_ENOTFOUND) { /* an index entry without its document: skipped */
        remember(r, k);
        return 0;
    }
    if (rc) {
        r->err = rc;
        return rc;
    }
    bool ok = matches(r->q, r->p, doc);
    if (ok && json_array_size(r->page->items) == r->limit) {
        json_decref(doc);
        r->more = true; /* one more exists: the page ends at the one before */
        return 1;
    }
    remember(r, k);
    if (ok) {
        json_object_set_new(doc, "revision", json_integer((json_int_t)rev));
        json_array_append_new(r->page->items, doc);
    } else {
        json_decref(doc);
    }
    return 0;
}

/* The start and end keys of the scan in r, and its prefix. */
static int bounds(run *r, uint8_t *prefix, size_t *plen, uint8_t *after, size_t *alen)
{
    const doc_query *q = r->q;
    const plan *p = r->p;
    *alen = 0;
    if (!p->ix) {
        *plen = strlen(r->c->name) + 1;
        memcpy(prefix, r->c->name, *plen);
        return 0;
    }
    json_t *tu = json_array();
    for (size_t f = 0; f < p->neq; f++)
        json_array_append(tu, (json_t *)q->eq[eq_index_of(q, p->ix->fields[f])].value);
    *plen = ikey_encode(prefix, KEY_MAX, r->c->name, p->ix, tu, p->neq);
    int rc = *plen ? 0 : AH_EINVAL;
    if (!rc && p->ranged) {
        const json_t *start = r->reverse ? q->to : q->from, *end = r->reverse ? q->from : q->to;
        if (start) {
            json_array_append(tu, (json_t *)start);
            *alen = ikey_encode(after, KEY_MAX, r->c->name, p->ix, tu, p->neq + 1);
            json_array_remove(tu, p->neq);
        }
        if (end) {
            json_array_append(tu, (json_t *)end);
            r->stop_len = ikey_encode(r->stop, KEY_MAX, r->c->name, p->ix, tu, p->neq + 1);
        }
    }
    json_decref(tu);
    return rc;
}

static int decode_cursor(run *r, const uint8_t *prefix, size_t plen, uint8_t *after, size_t *alen)
{
    size_t n = 0;
    uint8_t *raw = NULL;
    char *std = strdup(r->q->cursor);
    if (std) { /* base64url back to the standard alphabet, padded */
        for (char *c = std; *c; c++)
            *c = *c == '-' ? '+' : *c == '_' ? '/' : *c;
        size_t len = strlen(std);
        char *pad = malloc(len + 4);
        if (pad) {
            memcpy(pad, std, len);
            while (len % 4)
                pad[len++] = '=';
            pad[len] = 0;
            raw = ah_b64_decode(pad, &n);
            free(pad);
        }
        free(std);
    }
    bool ok = raw && n > plen && n <= KEY_MAX && !memcmp(raw, prefix, plen);
    if (ok) {
        memcpy(after, raw, n);
        *alen = n;
    }
    free(raw);
    return ok ? 0 : doc_fail(r->t, AH_EINVAL, "cursor", "not a cursor of this query");
}

static char *encode_cursor(const uint8_t *k, size_t n)
{
    char *s = ah_b64_encode(k, n);
    if (!s) return NULL;
    size_t o = 0;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == '=') continue;
        s[o++] = s[i] == '+' ? '-' : s[i] == '/' ? '_' : s[i];
    }
    s[o] = 0;
    return s;
}

/* ---- totals -------------------------------------------------------------------- */

typedef struct counter {
    size_t n;
} counter;

static int count_one(void *ud, store_val k, store_val v)
{
    (void)k;
    (void)v;
    return ++((counter *)ud)->n >= QUERY_COUNT_MAX ? 1 : 0;
}

static long long total_of(run *r, const uint8_t *prefix, size_t plen)
{
    const doc_query *q = r->q;
    bool filtered = q->neq || q->range_field || q->text;
    if (!filtered) {
        uint64_t n = 0;
        return doc_count(r->t, r->c->name, &n) == 0 ? (long long)n : -1;
    }
    /* Equality filters the index covers whole: count its entries, capped. */
    if (!r->p->ix || r->p->neq != q->neq || q->range_field || q->text) return -1;
    counter c = {0};
    store_scan(doc_txn_store(r->t), STORE_DB_DOC_INDEX, prefix, plen, NULL, 0, 0, count_one, &c);
    return c.n < QUERY_COUNT_MAX ? (long long)c.n : -1;
}

/* ---- the query ------------------------------------------------------------------ */

static int check_query(doc_txn *t, const doc_collection *c, const doc_query *q)
{
    if (q->limit > QUERY_MAX_LIMIT)
        return doc_fail(t, AH_EINVAL, "limit", "at most %d a page", QUERY_MAX_LIMIT);
    if (q->neq > QUERY_MAX_EQ) return doc_fail(t, AH_EINVAL, NULL, "too many filters");
    const json_t *props = json_object_get(docs_schema(doc_txn_docs(t), c), "properties");
    const char *fields[QUERY_MAX_EQ + 3];
    size_t n = 0;
    for (size_t i = 0; i < q->neq; i++)
        fields[n++] = q->eq[i].field;
    fields[n++] = q->sort;
    fields[n++] = q->range_field;
    fields[n++] = q->text_field;
    for (size_t i = 0; i < n; i++) {
        if (!fields[i]) continue;
        char top[64];
        snprintf(top, sizeof(top), "%.*s", (int)strcspn(fields[i], ".["), fields[i]);
        if (!json_object_get(props, top))
            return doc_fail(t, AH_EINVAL, fields[i], "%s has no field %s", c->name, top);
    }
    return 0;
}

int doc_list(doc_txn *t, const doc_query *q, doc_page *page)
{
    memset(page, 0, sizeof(*page));
    page->total = -1;
    const doc_collection *c = docs_coll(t, q->coll);
    if (!c) return AH_EINVAL;
    int rc = check_query(t, c, q);
    if (rc) return rc;
    plan p;
    choose(c, q, &p);
    run r = {.t = t, .c = c, .q = q, .p = &p, .page = page};
    r.limit = q->limit ? q->limit : 50;
    r.budget = r.limit * 20 > QUERY_BUDGET_MIN ? r.limit * 20 : QUERY_BUDGET_MIN;
    /* Creation order (ids) and "desc" both read newest first by default. */
    r.reverse = q->sort ? q->desc : true;
    if (!q->sort && p.ix && !p.ordered) r.reverse = q->desc;
    uint8_t prefix[KEY_MAX], after[KEY_MAX];
    size_t plen = 0, alen = 0;
    if ((rc = bounds(&r, prefix, &plen, after, &alen)) != 0)
        return doc_fail(t, rc, NULL, "the filters are too long to look up");
    if (q->cursor && (rc = decode_cursor(&r, prefix, plen, after, &alen)) != 0) return rc;
    page->items = json_array();
    page->index = p.ix ? p.ix->name : "id";
    rc = store_scan(doc_txn_store(t), p.ix ? STORE_DB_DOC_INDEX : STORE_DB_DOCS, prefix, plen,
                    alen ? after : NULL, alen, r.reverse ? STORE_SCAN_REVERSE : 0, visit, &r);
    if (r.err || rc) {
        doc_page_free(page);
        return r.err ? r.err : rc;
    }
    if (r.more && r.last_len) page->next = encode_cursor(r.last, r.last_len);
    if (!q->cursor) page->total = total_of(&r, prefix, plen);
    return 0;
}

void doc_page_free(doc_page *page)
{
    json_decref(page->items);
    free(page->next);
    memset(page, 0, sizeof(*page));
    page->total = -1;
}
