/*
 * query.h - list queries over a collection: filters, a sort, a page.
 *
 * A query is served by one index: the one whose leading fields are the
 * most equality filters, followed by the sort field (or the range's).
 * Filters the index does not cover are checked on each document, within a
 * budget of documents examined per page: a page may then come back short,
 * with a cursor that goes on where it stopped, and a page never costs
 * more than its budget, however large the collection. Without a usable
 * index the collection is walked in id (creation) order, within the same
 * budget. Cursors are opaque (base64url of a position in the index).
 */
#ifndef AH_MODEL_QUERY_H
#define AH_MODEL_QUERY_H

#include "docs.h"

#define QUERY_MAX_EQ 8
#define QUERY_MAX_LIMIT 500
#define QUERY_BUDGET_MIN 2000 /* documents examined per page, at least */
#define QUERY_COUNT_MAX 10000 /* index entries counted for a filtered total */

typedef struct doc_query {
    const char *coll;
    struct {
        const char *field; /* a top-level or dotted field; an array field matches an element */
        const json_t *value;
    } eq[QUERY_MAX_EQ];
    size_t neq;
    const char *range_field; /* from <= field < to; either bound may be NULL */
    const json_t *from, *to;
    const char *text_field; /* holds `text` (case-insensitive substring) */
    const char *text;
    const char *sort; /* a field; NULL: creation order */
    bool desc;
    size_t limit;       /* 1..QUERY_MAX_LIMIT; 0: 50 */
    const char *cursor; /* from a previous page, or NULL */
} doc_query;

typedef struct doc_page {
    json_t *items;     /* documents, each with "revision" (a new array) */
    char *next;        /* cursor of the next page, or NULL at the end (malloc'd) */
    long long total;   /* matching documents, or -1 when not cheap to know */
    const char *index; /* the index that served it ("id": the collection itself) */
    size_t examined;   /* documents read */
} doc_page;

/* Run q in t (a read). 0 with *page filled (free with doc_page_free);
 * AH_EINVAL (no such collection; a bad cursor, field or limit, or filters
 * too long to look up: t's error names it); AH_EIO (a document on the way
 * is damaged, or the store cannot be read). */
int doc_list(doc_txn *t, const doc_query *q, doc_page *page);
void doc_page_free(doc_page *page);

#endif
