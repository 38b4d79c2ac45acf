/*
 * fake_amocrm_api.c - the fake amoCRM's v4 entities, in the HAL shapes of
 * amoCRM's documentation: lists are {"_page", "_links": {"self", "next"?},
 * "_embedded": {"<entity>": [...]}} (204 and no body when empty; `page` and
 * `limit` <= 250; `query` matches a phone by its digits, an e-mail or a
 * name; `with=contacts` embeds a lead's contacts); adds take an array (at
 * most 250) and answer the new ids with each item's request_id; edits take
 * one object (PATCH .../{id}) or an array with ids. Validation failures are
 * 400 with "validation-errors" naming the item and the path.
 *
 *   GET   /api/v4/account
 *   GET   /api/v4/leads/pipelines          two pipelines with their statuses
 *   GET   /api/v4/{contacts,leads}/custom_fields
 *   GET   /api/v4/{contacts,leads}[/{id}]  POST, PATCH
 *   GET   /api/v4/{contacts,leads}[/{id}]/notes   POST
 *   GET   /api/v4/tasks                    POST
 */
#include "fake_amocrm.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ACCOUNT_ID 31337
#define MAX_ADD 250

static const char *PIPELINES =
    "[{\"id\":5001,\"name\":\"Sales\",\"sort\":1,\"is_main\":true,\"_embedded\":{\"statuses\":["
    "{\"id\":6001,\"name\":\"Incoming\",\"sort\":10},{\"id\":6002,\"name\":\"First contact\","
    "\"sort\":20},{\"id\":6003,\"name\":\"Negotiation\",\"sort\":30},{\"id\":142,\"name\":"
    "\"Closed - won\",\"sort\":10000},{\"id\":143,\"name\":\"Closed - lost\",\"sort\":11000}]}},"
    "{\"id\":5002,\"name\":\"Partners\",\"sort\":2,\"is_main\":false,\"_embedded\":{\"statuses\":["
    "{\"id\":6101,\"name\":\"New\",\"sort\":10},{\"id\":6102,\"name\":\"Qualified\",\"sort\":20},"
    "{\"id\":142,\"name\":\"Closed - won\",\"sort\":10000},{\"id\":143,\"name\":\"Closed - "
    "lost\",\"sort\":11000}]}}]";

static const char *CONTACT_FIELDS =
    "[{\"id\":301,\"name\":\"Phone\",\"code\":\"PHONE\",\"type\":\"multitext\"},"
    "{\"id\":302,\"name\":\"Email\",\"code\":\"EMAIL\",\"type\":\"multitext\"},"
    "{\"id\":303,\"name\":\"Source\",\"code\":null,\"type\":\"text\"},"
    "{\"id\":304,\"name\":\"Company name\",\"code\":null,\"type\":\"text\"}]";

static const char *LEAD_FIELDS = "[{\"id\":401,\"name\":\"Channel\",\"code\":null,\"type\":"
                                 "\"text\"},{\"id\":402,\"name\":\"Language\",\"code\":null,"
                                 "\"type\":\"text\"}]";

static json_t *constant(const char *text)
{
    return json_loads(text, 0, NULL);
}

static char BASE[80];

static void link_self(json_t *o, const char *path)
{
    json_object_set_new(o, "_links", json_pack("{s:{s:s+}}", "self", "href", BASE, path));
}

static json_t *validation(size_t item, const char *path, const char *detail)
{
    char rid[24];
    snprintf(rid, sizeof(rid), "%zu", item);
    return json_pack("{s:s,s:s,s:i,s:s,s:[{s:s,s:[{s:s,s:s,s:s}]}]}", "title", "Bad Request",
                     "type", "https://httpstatus.es/400", "status", 400, "detail",
                     "Request validation failed", "validation-errors", "request_id", rid, "errors",
                     "code", "NotSupportedChoice", "path", path, "detail", detail);
}

/* ---- finding ---------------------------------------------------------------------------- */

static json_t *store_of(const char *entity)
{
    return !strcmp(entity, "contacts") ? F.contacts
           : !strcmp(entity, "leads")  ? F.leads
           : !strcmp(entity, "tasks")  ? F.tasks
                                       : F.notes;
}

static json_t *by_id(json_t *arr, json_int_t id)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) if (json_integer_value(json_object_get(e, "id")) == id) return e;
    return NULL;
}

static void digits(const char *s, char *out, size_t n)
{
    size_t k = 0;
    for (; s && *s && k + 1 < n; s++)
        if (isdigit((unsigned char)*s)) out[k++] = *s;
    out[k] = 0;
}

static bool icontains(const char *hay, const char *needle)
{
    if (!hay) return false;
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n)) return true;
    return !n;
}

/* amoCRM's `query`: a phone by its digits, else any text field. */
static bool matches(const json_t *e, const char *q)
{
    char qd[64], vd[64];
    digits(q, qd, sizeof(qd));
    bool phone_like = strlen(qd) >= 5;
    if (!phone_like && icontains(json_string_value(json_object_get(e, "name")), q)) return true;
    size_t i, j;
    json_t *f, *v;
    json_array_foreach(json_object_get(e, "custom_fields_values"), i, f)
    {
        json_array_foreach(json_object_get(f, "values"), j, v)
        {
            const char *s = json_string_value(json_object_get(v, "value"));
            if (!s) continue;
            digits(s, vd, sizeof(vd));
            if (phone_like ? strstr(vd, qd) != NULL : icontains(s, q)) return true;
        }
    }
    return false;
}

static json_t *rendered(const json_t *e, const char *entity, bool with_contacts)
{
    json_t *o = json_deep_copy(e);
    if (!strcmp(entity, "leads") && !with_contacts)
        json_object_del(json_object_get(o, "_embedded"), "contacts");
    char path[96];
    snprintf(path, sizeof(path), "/api/v4/%s/%lld", entity,
             (long long)json_integer_value(json_object_get(e, "id")));
    link_self(o, path);
    return o;
}

static void list(fh_conn *c, const fh_req *req, const char *entity, json_t *items, const char *key)
{
    char *q = query_param(req->query, "query"), *pg = query_param(req->query, "page");
    char *lim = query_param(req->query, "limit"), *with = query_param(req->query, "with");
    long page = pg ? atol(pg) : 1, limit = lim ? atol(lim) : 50;
    if (page < 1) page = 1;
    if (limit < 1 || limit > 250) limit = limit > 250 ? 250 : 50;
    bool wc = with && strstr(with, "contacts");
    json_t *hits = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(items, i, e) if (!q || !*q || matches(e, q))
        json_array_append_new(hits, rendered(e, entity, wc));
    long total = (long)json_array_size(hits), from = (page - 1) * limit;
    if (from >= total) {
        fh_respond(c, 204, NULL, NULL, NULL, 0);
    } else {
        json_t *pageitems = json_array();
        for (long k = from; k < total && k < from + limit; k++)
            json_array_append(pageitems, json_array_get(hits, (size_t)k));
        char self[300], next[300];
        snprintf(self, sizeof(self), "%s%s?page=%ld&limit=%ld", BASE, req->path, page, limit);
        snprintf(next, sizeof(next), "%s%s?page=%ld&limit=%ld%s%s", BASE, req->path, page + 1,
                 limit, q ? "&query=" : "", q ? q : "");
        json_t *links = json_pack("{s:{s:s}}", "self", "href", self);
        if (from + limit < total)
            json_object_set_new(links, "next", json_pack("{s:s}", "href", next));
        respond(c, 200, "application/hal+json",
                json_pack("{s:i,s:o,s:{s:o}}", "_page", (int)page, "_links", links, "_embedded",
                          key, pageitems));
    }
    json_decref(hits);
    free(q), free(pg), free(lim), free(with);
}

/* ---- checks ---------------------------------------------------------------------------- */

static const json_t *status_in(json_int_t pipeline, json_int_t status)
{
    static json_t *pipes;
    if (!pipes) pipes = constant(PIPELINES);
    const json_t *p = by_id(pipes, pipeline);
    if (!p) return NULL;
    if (!status) return p;
    return by_id(json_object_get(json_object_get(p, "_embedded"), "statuses"), status);
}

static const char *fields_problem(const json_t *e, const char *entity)
{
    json_t *defs = constant(!strcmp(entity, "leads") ? LEAD_FIELDS : CONTACT_FIELDS);
    const char *why = NULL;
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(e, "custom_fields_values"), i, f)
    {
        json_int_t id = json_integer_value(json_object_get(f, "field_id"));
        const char *code = json_string_value(json_object_get(f, "field_code"));
        bool found = false;
        size_t j;
        json_t *d;
        json_array_foreach(defs, j, d)
        {
            const char *dc = json_string_value(json_object_get(d, "code"));
            if ((id && json_integer_value(json_object_get(d, "id")) == id) ||
                (code && dc && !strcmp(code, dc)))
                found = true;
        }
        if (!found) why = "custom_fields_values: no such field";
        if (!json_is_array(json_object_get(f, "values"))) why = "custom_fields_values: no values";
    }
    json_decref(defs);
    return why;
}

/* Why an entity cannot be saved (its path for the error), or NULL. */
static const char *check(json_t *e, const char *entity, const json_t *old, const char **path)
{
    *path = "custom_fields_values";
    const char *why = fields_problem(e, entity);
    if (why) return why;
    if (!strcmp(entity, "leads")) {
        json_int_t pipe = json_integer_value(json_object_get(e, "pipeline_id"));
        if (!pipe) pipe = old ? json_integer_value(json_object_get(old, "pipeline_id")) : 5001;
        json_int_t st = json_integer_value(json_object_get(e, "status_id"));
        *path = "status_id";
        if (!status_in(pipe, 0)) return (*path = "pipeline_id"), "no such pipeline";
        if (st && !status_in(pipe, st)) return "the status is not in the lead's pipeline";
        json_t *p = json_object_get(e, "price");
        *path = "price";
        if (p && (!json_is_integer(p) || json_integer_value(p) < 0)) return "must be an int >= 0";
        size_t i;
        json_t *ct;
        *path = "_embedded.contacts";
        json_array_foreach(json_object_get(json_object_get(e, "_embedded"), "contacts"), i, ct)
        {
            if (!by_id(F.contacts, json_integer_value(json_object_get(ct, "id"))))
                return "no such contact";
        }
    }
    if (!strcmp(entity, "tasks")) {
        *path = "text";
        if (!json_string_value(json_object_get(e, "text"))) return "required";
        *path = "complete_till";
        if (!json_is_integer(json_object_get(e, "complete_till"))) return "required";
    }
    if (!strcmp(entity, "notes")) {
        *path = "entity_id";
        if (!json_integer_value(json_object_get(e, "entity_id"))) return "required";
        *path = "params.text";
        if (!json_string_value(json_object_get(json_object_get(e, "params"), "text")))
            return "required";
    }
    return NULL;
}

/* ---- writing ---------------------------------------------------------------------------- */

static void add(fh_conn *c, const fh_req *req, const char *entity, const char *note_parent,
                json_int_t parent_id)
{
    json_t *arr = json_loadb(req->body, req->body_len, 0, NULL);
    if (!json_is_array(arr) || !json_array_size(arr) || json_array_size(arr) > MAX_ADD) {
        json_decref(arr);
        problem(c, 400, "Bad Request", "an array of 1 to 250 entities is expected");
        return;
    }
    count_max("max_batch", (long)json_array_size(arr));
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        if (!json_is_object(e)) {
            respond(c, 400, "application/problem+json", validation(i, "", "not an object"));
            json_decref(arr);
            return;
        }
        if (parent_id) json_object_set_new(e, "entity_id", json_integer(parent_id));
        const char *path, *why = check(e, entity, NULL, &path);
        if (why) {
            respond(c, 400, "application/problem+json", validation(i, path, why));
            json_decref(arr);
            return;
        }
    }
    json_t *out = json_array();
    json_int_t now = (json_int_t)time(NULL);
    json_array_foreach(arr, i, e)
    {
        json_int_t id = F.next_id++;
        json_object_set_new(e, "id", json_integer(id));
        json_object_set_new(e, "account_id", json_integer(ACCOUNT_ID));
        json_object_set_new(e, "created_at", json_integer(now));
        json_object_set_new(e, "updated_at", json_integer(now));
        if (note_parent) json_object_set_new(e, "entity_type", json_string(note_parent));
        if (!strcmp(entity, "leads") && !json_object_get(e, "pipeline_id"))
            json_object_set_new(e, "pipeline_id", json_integer(5001));
        if (!strcmp(entity, "leads") && !json_object_get(e, "status_id"))
            json_object_set_new(e, "status_id", json_integer(6001));
        json_array_append(store_of(entity), e);
        char rid[24], path[96];
        snprintf(rid, sizeof(rid), "%zu", i);
        const char *given = json_string_value(json_object_get(e, "request_id"));
        json_t *r = json_pack("{s:I,s:s}", "id", id, "request_id", given ? given : rid);
        snprintf(path, sizeof(path), "/api/v4/%s/%lld", entity, (long long)id);
        link_self(r, path);
        json_array_append_new(out, r);
    }
    count(entity);
    json_decref(arr);
    char self[96];
    snprintf(self, sizeof(self), "/api/v4/%s", entity);
    json_t *body = json_pack("{s:{s:o}}", "_embedded", entity, out);
    link_self(body, self);
    respond(c, 200, "application/hal+json", body);
}

static void edit(fh_conn *c, const fh_req *req, const char *entity, json_int_t id)
{
    json_t *b = json_loadb(req->body, req->body_len, 0, NULL);
    json_t *arr = json_is_array(b) ? json_incref(b) : json_pack("[O]", b);
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        json_int_t eid = id ? id : json_integer_value(json_object_get(e, "id"));
        json_t *old = by_id(store_of(entity), eid);
        const char *path = "id", *why = old ? check(e, entity, old, &path) : "not found";
        if (!json_is_object(e) || why) {
            respond(c, old ? 400 : 404, "application/problem+json",
                    validation(i, path, why ? why : "not an object"));
            json_decref(b), json_decref(arr), json_decref(out);
            return;
        }
    }
    json_array_foreach(arr, i, e)
    {
        json_int_t eid = id ? id : json_integer_value(json_object_get(e, "id"));
        json_t *old = by_id(store_of(entity), eid);
        json_object_del(e, "id");
        json_object_update(old, e);
        json_object_set_new(old, "updated_at", json_integer((json_int_t)time(NULL)));
        json_array_append_new(
            out, json_pack("{s:I,s:I}", "id", eid, "updated_at", (json_int_t)time(NULL)));
    }
    count(!strcmp(entity, "leads") ? "lead_edits" : "contact_edits");
    if (id)
        respond(c, 200, "application/hal+json", json_incref(json_array_get(out, 0)));
    else
        respond(c, 200, "application/hal+json", json_pack("{s:{s:O}}", "_embedded", entity, out));
    json_decref(b), json_decref(arr), json_decref(out);
}

/* ---- routing ---------------------------------------------------------------------------- */

static json_t *notes_of(const char *parent, json_int_t id)
{
    json_t *out = json_array();
    size_t i;
    json_t *n;
    json_array_foreach(F.notes, i, n)
    {
        if (!strcmp(json_string_value(json_object_get(n, "entity_type")), parent) &&
            (!id || json_integer_value(json_object_get(n, "entity_id")) == id))
            json_array_append(out, n);
    }
    return out;
}

static void entity_route(fh_conn *c, const fh_req *req, const char *entity, const char *rest)
{
    bool get = !strcmp(req->method, "GET"), post = !strcmp(req->method, "POST");
    bool patch = !strcmp(req->method, "PATCH");
    json_int_t id = 0;
    if (*rest == '/' && isdigit((unsigned char)rest[1])) {
        char *end;
        id = strtoll(rest + 1, &end, 10);
        rest = end;
    }
    if (!strcmp(rest, "/notes") || !strcmp(rest, "/notes/")) {
        if (post) {
            add(c, req, "notes", entity, id);
        } else if (get) {
            json_t *n = notes_of(entity, id);
            list(c, req, "notes", n, "notes");
            json_decref(n);
        } else {
            problem(c, 405, "Method Not Allowed", "GET or POST");
        }
        return;
    }
    if (*rest) {
        problem(c, 404, "Not Found", "no such path");
    } else if (get && id) {
        json_t *e = by_id(store_of(entity), id);
        if (e) {
            char *with = query_param(req->query, "with");
            respond(c, 200, "application/hal+json",
                    rendered(e, entity, with && strstr(with, "contacts")));
            free(with);
        } else {
            fh_respond(c, 204, NULL, NULL, NULL, 0);
        }
    } else if (get) {
        list(c, req, entity, store_of(entity), entity);
    } else if (post && !id) {
        add(c, req, entity, NULL, 0);
    } else if (patch) {
        edit(c, req, entity, id);
    } else {
        problem(c, 405, "Method Not Allowed", "not for this path");
    }
}

void api_v4(fh_conn *c, const fh_req *req)
{
    const char *host = json_string_value(json_object_get(req->headers, "host"));
    snprintf(BASE, sizeof(BASE), "http://%s", host ? host : "127.0.0.1");
    const char *p = req->path + strlen("/api/v4/");
    bool get = !strcmp(req->method, "GET");
    if (get && !strcmp(p, "account")) {
        respond(c, 200, "application/hal+json",
                json_pack("{s:i,s:s,s:s,s:i}", "id", ACCOUNT_ID, "name", "Test account",
                          "subdomain", "testaccount", "current_user_id", 7001));
    } else if (get && !strcmp(p, "leads/pipelines")) {
        respond(c, 200, "application/hal+json",
                json_pack("{s:i,s:{s:o}}", "_total_items", 2, "_embedded", "pipelines",
                          constant(PIPELINES)));
    } else if (get && (!strcmp(p, "contacts/custom_fields") || !strcmp(p, "leads/custom_fields"))) {
        respond(c, 200, "application/hal+json",
                json_pack("{s:i,s:{s:o}}", "_page", 1, "_embedded", "custom_fields",
                          constant(*p == 'c' ? CONTACT_FIELDS : LEAD_FIELDS)));
    } else if (!strncmp(p, "contacts", 8)) {
        entity_route(c, req, "contacts", p + 8);
    } else if (!strncmp(p, "leads", 5)) {
        entity_route(c, req, "leads", p + 5);
    } else if (!strcmp(p, "tasks") && get) {
        list(c, req, "tasks", F.tasks, "tasks");
    } else if (!strcmp(p, "tasks") && !strcmp(req->method, "POST")) {
        add(c, req, "tasks", NULL, 0);
    } else {
        problem(c, 404, "Not Found", "no such path");
    }
}
