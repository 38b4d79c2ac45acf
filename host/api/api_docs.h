/*
 * api_docs.h - documents over REST: the list, read, create, update (JSON
 * merge patch) and delete every collection shares, with ETag/If-Match,
 * errors naming the field, and an audit entry in the commit of each
 * change. A family declares a resource and adds its own rules through
 * hooks. Not a public header.
 */
#ifndef AH_API_DOCS_H
#define AH_API_DOCS_H

#include "model/audit.h"
#include "model/docs.h"
#include "model/query.h"
#include "api_priv.h"

typedef struct resource resource;

/* A query parameter that filters a list. */
typedef struct res_filter {
    const char *param; /* ?status=... */
    const char *field; /* the document's field (an array field: has the element) */
} res_filter;

/* A time range over a field: ?<prefix>_from=...&<prefix>_to=... (RFC 3339;
 * an empty prefix: ?from=...&to=...). */
typedef struct res_range {
    const char *prefix; /* "updated" */
    const char *field;  /* "updated_at" */
} res_range;

/* One change, as a hook sees it. */
typedef struct res_change {
    const resource *res;
    doc_txn *t;
    http_req *req;
    void *ctx;         /* the family's */
    const json_t *old; /* the document before (NULL when creating) */
    json_t *doc;       /* the document as it will be written (hooks may change it) */
    bool force;        /* ?force=true */
} res_change;

struct resource {
    const char *coll;        /* the collection */
    const char *noun;        /* "agent": errors and audit actions ("agent.update") */
    const char *label;       /* "agent group": route summaries (NULL: the noun) */
    const char *plural;      /* "agents": route summaries */
    const char *base;        /* "/api/v1/agents" */
    const char *item;        /* "/api/v1/agents/{id}" */
    const char *delete_perm; /* NULL: as writes */
    const res_filter *filters;
    const res_range *ranges;
    const char *const *sorts; /* allowed ?sort= fields (prefix '-' for descending) */
    const char *default_sort; /* NULL: newest first */
    const char *text_field;   /* ?q= searches it */
    /* Other query parameters a family's own list handler reads (NULL-
     * terminated, may be NULL). */
    const char *const *extra_params;
    /* Fields a client may not set (besides id, revision, schema_version,
     * created_*, updated_*). NULL-terminated, may be NULL. */
    const char *const *read_only;
    /* Defaults for a new document (a JSON object text), may be NULL. */
    const char *defaults;
    /* Rules and derived fields before a create or update is written:
     * 0 or doc_fail's code. May be NULL. */
    int (*prepare)(res_change *c);
    /* Before a delete: 0 to delete, 1 when the hook did what deleting means
     * itself (archived it: c->doc is the document now, with its revision;
     * erased it: c->doc NULL), or doc_fail's code. May be NULL. */
    int (*before_delete)(res_change *c);
    /* Fields stored but never shown in an answer (a sealed secret).
     * NULL-terminated, may be NULL. */
    const char *const *hidden;
    /* The platform events a create or update reports, published in the
     * same commit as it (ADR 0021): {topic, key, idempotency_key, body}
     * objects appended to out, from the document before (NULL: created)
     * and as it will be (with the merge patch applied), and its revision
     * after. Needs the bus (res_register_with_bus). May be NULL. */
    void (*events)(const json_t *before, const json_t *after, uint64_t rev, json_t *out);
    /* Add what a read shows besides the document (members, ...). May be
     * NULL. */
    int (*decorate)(doc_txn *t, void *ctx, json_t *doc);
    /* Personal data: every read of a document ("NOUN.read") and of a list
     * page ("NOUN.list", with how many it showed) is audited. */
    bool audit_reads;
};

/* The resource with the family context its handlers receive. */
typedef struct res_ctx {
    const resource *res;
    docs *d;
    void *ctx;
    struct bus *bus; /* for resources with events, else NULL */
} res_ctx;

/* Handlers (ctx: a res_ctx). */
void res_h_list(void *ctx, http_req *req, const route_params *p);
void res_h_get(void *ctx, http_req *req, const route_params *p);
void res_h_create(void *ctx, http_req *req, const route_params *p);
void res_h_patch(void *ctx, http_req *req, const route_params *p);
void res_h_delete(void *ctx, http_req *req, const route_params *p);

/* Register r's five routes: GET and POST base, GET, PATCH and DELETE
 * item, the reads needing the permission `read` ("agents:read"), the
 * writes `write` (DELETE: r->delete_perm when set). d and ctx (the
 * family's, for the hooks) are NULL when the routes are only listed. 0,
 * or AH_ENOMEM. */
int res_register(api_table *t, const resource *r, docs *d, void *ctx, const char *read,
                 const char *write);
/* The same for a resource whose changes publish events (r->events). */
int res_register_with_bus(api_table *t, const resource *r, docs *d, struct bus *b, void *ctx,
                          const char *read, const char *write);

/* ---- shared with the families' own routes ------------------------------------ */

/* A page of r's list as the query string asks (filters, sort, cursor,
 * limit): 0 with *page (free with doc_page_free), or -1 after answering
 * (a bad parameter, a failed read). */
int res_list_page(const resource *r, docs *d, void *ctx, http_req *req, doc_page *page);

/* The actor of req for audit entries. */
audit_actor res_actor(http_req *req);
/* Answer a failed write or read from its error. */
void res_respond_error(http_req *req, int status, const doc_error *e);
/* Answer a document (stolen) with its ETag; status 200 or 201. */
void res_respond_doc(http_req *req, int status, json_t *doc, uint64_t rev, const char *location);
/* The revision If-Match asks for: 0 with *rev (0 without one, or for "*");
 * -1 after answering 412 for a malformed one. */
int res_if_match(http_req *req, uint64_t *rev);
/* The time stamps of a change (created_* on create, updated_* always). */
void res_stamp(json_t *doc, http_req *req, int64_t now_ms, bool create);

#endif
