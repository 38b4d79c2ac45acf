/*
 * /api/v1/scenarios and their versions: a scenario is a named line of
 * immutable versions; saving content makes the next version (number,
 * author, time, message, content hash), once the content is checked
 * (scenario_check.h: every problem at once, 422). Versions are never
 * changed. Content comes and goes as JSON, as YAML or as BPMN 2.0.
 */
#include "core/log.h"
#include "core/utf8.h"
#include "bpmn/scenario_bpmn.h"
#include "core/util.h"
#include "engine/scenario_yaml.h"
#include "model/collections.h"
#include "model/ids.h"
#include "model/scenarios.h"
#include "api_docs.h"
#include "scenario_check.h"

#include <agenthost/plugin.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERSIONS_PAGE_MAX 500

/* What this family uses. */
typedef struct scn_ctx {
    docs *d;
    const registry *reg; /* the installed plugins' step kinds */
    supervisor *sup;     /* the configured instances */
    expr_pool *expr;     /* compiles the content's jq programs */
} scn_ctx;

/* ---- scenarios ------------------------------------------------------------------ */

static int scenario_prepare(res_change *c)
{
    const char *agent = json_string_value(json_object_get(c->doc, "agent_id"));
    if (!c->old) json_object_set_new(c->doc, "latest_version", json_integer(0));
    if (!agent) return 0;
    json_t *a = NULL;
    int rc = doc_get(c->t, COLL_AGENTS, agent, &a, NULL);
    json_decref(a);
    return rc == AH_ENOTFOUND ? doc_fail(c->t, AH_EINVAL, "agent_id", "no agent %s", agent) : rc;
}

/* A scenario an agent runs is not deleted (409 naming the agents);
 * deleting one deletes its versions. */
static int scenario_before_delete(res_change *c)
{
    const char *id = json_string_value(json_object_get(c->old, "id"));
    json_t *users, *versions = NULL;
    int rc = doc_ids_by(c->t, COLL_AGENTS, "by_scenario", id, false, 4, &users);
    if (!rc && json_array_size(users)) {
        rc = doc_fail(c->t, AH_EBUSY, NULL, "agent %s%s runs scenario %s: give it another first",
                      json_string_value(json_array_get(users, 0)),
                      json_array_size(users) > 1 ? " (and others)" : "", id);
    }
    json_decref(users);
    if (!rc)
        rc = doc_ids_by(c->t, COLL_SCENARIO_VERSIONS, "by_number", id, false, SIZE_MAX, &versions);
    size_t i;
    json_t *v;
    json_array_foreach(versions, i, v)
    {
        if (rc) break;
        rc = doc_delete(c->t, COLL_SCENARIO_VERSIONS, json_string_value(v), STORE_REV_ANY);
    }
    json_decref(versions);
    return rc;
}

static const res_filter scenario_filters[] = {
    {"agent_id", "agent_id"}, {"tag", "tags"}, {NULL, NULL}};
static const res_range scenario_ranges[] = {
    {"created", "created_at"}, {"updated", "updated_at"}, {NULL, NULL}};
static const char *const scenario_sorts[] = {"name", "created_at", "updated_at", NULL};
static const char *const scenario_read_only[] = {"latest_version", NULL};

static const resource scenarios_res = {
    .coll = COLL_SCENARIOS,
    .noun = "scenario",
    .plural = "scenarios",
    .base = "/api/v1/scenarios",
    .item = "/api/v1/scenarios/{id}",
    .filters = scenario_filters,
    .ranges = scenario_ranges,
    .sorts = scenario_sorts,
    .default_sort = "name",
    .text_field = "name",
    .read_only = scenario_read_only,
    .defaults = "{\"tags\": []}",
    .prepare = scenario_prepare,
    .before_delete = scenario_before_delete,
};

/* ---- versions -------------------------------------------------------------------- */

typedef struct version_arg {
    scn_ctx *x;
    http_req *req;
    char scenario[ID_MAX];
    json_t *body;      /* the new version's content and message */
    json_int_t number; /* a version to read */
    bool list;
    bool yaml; /* answer a version's content as YAML */
    bool bpmn; /* or as BPMN 2.0 */
    json_t *result;
    uint64_t rev;
    int status; /* 200 or 201 */
} version_arg;

static int load_scenario(doc_txn *t, version_arg *v, json_t **s, uint64_t *rev)
{
    int rc = doc_get(t, COLL_SCENARIOS, v->scenario, s, rev);
    return rc == AH_ENOTFOUND ? doc_fail(t, rc, NULL, "no scenario %s", v->scenario) : rc;
}

static int run_save(doc_txn *t, void *ud)
{
    version_arg *v = ud;
    json_t *s = NULL, *doc = NULL;
    uint64_t srev;
    int rc = load_scenario(t, v, &s, &srev);
    if (rc) return rc;
    json_t *before = json_deep_copy(s);
    const principal *who = http_req_user(v->req);
    bool created = false;
    rc = scenario_version_next(t, s, json_object_get(v->body, "content"),
                               json_string_value(json_object_get(v->body, "message")),
                               who ? who->name : "host", &doc, &v->rev, &created);
    if (!rc && created) {
        res_stamp(s, v->req, doc_txn_now(t), false);
        rc = doc_put(t, COLL_SCENARIOS, s, srev, NULL);
        audit_actor a = res_actor(v->req);
        if (!rc)
            rc = audit_record(t, &a, http_req_id(v->req), "scenario.save_version", COLL_SCENARIOS,
                              v->scenario, before, s);
    }
    json_decref(before);
    json_decref(s);
    json_decref(v->result);
    v->result = rc ? NULL : doc;
    if (rc) json_decref(doc);
    v->status = created ? 201 : 200;
    return rc;
}

static int run_read(doc_txn *t, void *ud)
{
    version_arg *v = ud;
    json_t *s = NULL;
    int rc = load_scenario(t, v, &s, NULL);
    json_decref(s);
    if (rc) return rc;
    if (!v->list) return scenario_version_get(t, v->scenario, v->number, &v->result, &v->rev);
    /* Newest first, without their content (read one version for it). */
    json_t *ids;
    rc = doc_ids_by(t, COLL_SCENARIO_VERSIONS, "by_number", v->scenario, true, VERSIONS_PAGE_MAX,
                    &ids);
    if (rc) return rc;
    v->result = json_array();
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
    {
        json_t *doc = NULL;
        uint64_t rev;
        if ((rc = doc_get(t, COLL_SCENARIO_VERSIONS, json_string_value(id), &doc, &rev)) != 0)
            break;
        json_object_del(doc, "content");
        json_object_set_new(doc, "revision", json_integer((json_int_t)rev));
        json_array_append_new(v->result, doc);
    }
    json_decref(ids);
    return rc;
}

/* A version's content as YAML, with the version's ETag. */
static void respond_yaml(http_req *req, const json_t *doc, uint64_t rev)
{
    char *y = NULL;
    size_t n = 0;
    int rc = scenario_yaml_export(json_object_get(doc, "content"), &y, &n);
    if (rc) {
        http_respond_error(req, rc == AH_ENOMEM ? 503 : 500,
                           rc == AH_ENOMEM ? "no_memory" : "internal",
                           "the content cannot be written as YAML", NULL);
        return;
    }
    char et[80];
    snprintf(et, sizeof(et), "ETag: \"%llu\"", (unsigned long long)rev);
    const char *hs[] = {et, NULL};
    http_respond(req, 200, "application/yaml; charset=utf-8", y, n, hs);
    free(y);
}

/* A version's content as BPMN 2.0 with its diagram, with the version's ETag. */
static void respond_bpmn(http_req *req, const json_t *doc, uint64_t rev)
{
    char *x = NULL;
    size_t n = 0;
    int rc = scenario_bpmn_export(json_object_get(doc, "content"), &x, &n);
    if (rc) {
        http_respond_error(req, rc == AH_ENOMEM ? 503 : 500,
                           rc == AH_ENOMEM ? "no_memory" : "internal",
                           "the content cannot be written as BPMN", NULL);
        return;
    }
    char et[80];
    snprintf(et, sizeof(et), "ETag: \"%llu\"", (unsigned long long)rev);
    const char *hs[] = {et, NULL};
    http_respond(req, 200, "application/xml; charset=utf-8", x, n, hs);
    free(x);
}

static void version_done(int status, const doc_error *e, void *ud)
{
    version_arg *v = ud;
    if (status)
        res_respond_error(v->req, status, e);
    else if (v->yaml)
        respond_yaml(v->req, v->result, v->rev);
    else if (v->bpmn)
        respond_bpmn(v->req, v->result, v->rev);
    else if (v->list)
        http_respond_json(v->req, 200, json_pack("{s:O}", "versions", v->result));
    else
        res_respond_doc(v->req, v->status ? v->status : 200, json_incref(v->result), v->rev, NULL);
    json_decref(v->result);
    json_decref(v->body);
    free(v);
}

static version_arg *version_arg_new(void *ctx, http_req *req, const route_params *p)
{
    version_arg *v = calloc(1, sizeof(*v));
    if (!v) {
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        return NULL;
    }
    v->x = ctx;
    v->req = req;
    snprintf(v->scenario, sizeof(v->scenario), "%s", route_param(p, "id"));
    return v;
}

static void h_versions(void *ctx, http_req *req, const route_params *p)
{
    version_arg *v = version_arg_new(ctx, req, p);
    if (!v) return;
    v->list = true;
    doc_error e;
    int rc = docs_read(v->x->d, run_read, v, &e);
    version_done(rc, &e, v);
}

static bool parse_number(http_req *req, const route_params *p, json_int_t *n)
{
    char *end;
    const char *s = route_param(p, "number");
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || *end || v < 1) {
        http_respond_error(req, 404, "not_found", "a version is a number from 1", "number");
        return false;
    }
    *n = (json_int_t)v;
    return true;
}

static void h_version(void *ctx, http_req *req, const route_params *p)
{
    json_int_t n;
    if (!parse_number(req, p, &n)) return;
    const char *format = http_req_query(req, "format");
    if (format && strcmp(format, "json") && strcmp(format, "yaml") && strcmp(format, "bpmn")) {
        http_respond_error(req, 422, "invalid_query", "format is json, yaml or bpmn", "format");
        return;
    }
    version_arg *v = version_arg_new(ctx, req, p);
    if (!v) return;
    v->number = n;
    v->yaml = format && !strcmp(format, "yaml");
    v->bpmn = format && !strcmp(format, "bpmn");
    doc_error e;
    int rc = docs_read(v->x->d, run_read, v, &e);
    version_done(rc, &e, v);
}

/* The check is done: save, or answer every problem. */
static void on_checked(void *ud, scn_outcome outcome, const json_t *errors)
{
    version_arg *v = ud;
    if (outcome != SCN_VALID) {
        scenario_respond_problems(v->req, outcome, errors);
        json_decref(v->body);
        free(v);
        return;
    }
    int rc = docs_write(v->x->d, run_save, v, version_done);
    if (rc) {
        doc_error e = {.code = rc};
        snprintf(e.message, sizeof(e.message), "%s", ah_strerror(rc));
        version_done(rc, &e, v);
    }
}

/* The content alone with ?message=, as the version's body. */
static json_t *body_of(http_req *req, json_t *content)
{
    const char *message = http_req_query(req, "message");
    json_t *body = json_pack("{s:o}", "content", content);
    if (body && message) {
        json_t *m = utf8_json_string(message);
        if (m) json_object_set_new(body, "message", m);
    }
    if (!body) http_respond_error(req, 503, "no_memory", "out of memory", NULL);
    return body;
}

/* A YAML body is the content alone; the message comes as ?message=. */
static json_t *yaml_body(http_req *req)
{
    size_t len;
    const char *text = http_req_body(req, &len);
    json_t *content = NULL;
    char err[300];
    int rc = scenario_yaml_import(text, len, &content, err, sizeof(err));
    if (rc) {
        char msg[400];
        snprintf(msg, sizeof(msg), "malformed YAML at %s", err);
        if (rc == AH_ENOMEM)
            http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        else if (rc == AH_ETOOBIG)
            http_respond_error(req, 413, "payload_too_large", msg, NULL);
        else
            http_respond_error(req, 400, "malformed_yaml", msg, NULL);
        return NULL;
    }
    return body_of(req, content);
}

/* Elements a BPMN import cannot map: 422 unmappable_bpmn, each in
 * error.errors as {path (the element's id), element, type, message}. */
static void respond_unmappable(http_req *req, const json_t *problems, const char *msg)
{
    json_t *errors = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(problems, i, p)
    {
        const char *el = json_string_value(json_object_get(p, "element"));
        json_array_append_new(errors, json_pack("{s:s,s:s?,s:O,s:O}", "path", el ? el : "",
                                                "element", el, "type", json_object_get(p, "type"),
                                                "message", json_object_get(p, "message")));
    }
    json_t *body = json_pack("{s:{s:s,s:s,s:o}}", "error", "code", "unmappable_bpmn", "message",
                             msg, "errors", errors);
    if (body)
        http_respond_json(req, 422, body);
    else
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
}

/* A BPMN body is the content alone, all of it mapped, or nothing. */
static json_t *bpmn_body(http_req *req)
{
    size_t len;
    const char *text = http_req_body(req, &len);
    json_t *content = NULL, *problems = json_array();
    char err[300];
    int rc = problems ? scenario_bpmn_import(text, len, &content, problems, err, sizeof(err))
                      : AH_ENOMEM;
    if (rc && rc != AH_ENOMEM) { /* hostile XML (a DOCTYPE) included: logged with why */
        log_ctx lc = {.request_id = http_req_id(req)};
        json_t *f = json_pack("{s:s,s:I}", "reason", err, "elements",
                              (json_int_t)json_array_size(problems));
        log_write("api", LOG_WARN, "bpmn", &lc, f, "BPMN import refused: %s", err);
        json_decref(f);
    }
    if (rc == AH_ENOMEM)
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
    else if (rc == AH_ETOOBIG)
        http_respond_error(req, 413, "payload_too_large", err, NULL);
    else if (rc && json_array_size(problems))
        respond_unmappable(req, problems, err);
    else if (rc)
        http_respond_error(req, 400, "malformed_bpmn", err, NULL);
    json_decref(problems);
    return rc ? NULL : body_of(req, content);
}

static bool is_bpmn_type(const char *ct)
{
    return api_is_media_type(ct, "application/xml") ||
           api_is_media_type(ct, "application/bpmn+xml") || api_is_media_type(ct, "text/xml");
}

/* The body as {content, message}: JSON, or the content as YAML or BPMN.
 * NULL after answering. */
static json_t *version_body(http_req *req)
{
    const char *ct = http_req_header(req, "Content-Type");
    size_t len;
    http_req_body(req, &len);
    if (ct && is_bpmn_type(ct)) {
        if (len == 0) {
            http_respond_error(req, 400, "empty_body", "a BPMN body is required", NULL);
            return NULL;
        }
        return bpmn_body(req);
    }
    if (ct && api_is_media_type(ct, "application/yaml")) {
        if (len == 0) {
            http_respond_error(req, 400, "empty_body", "a YAML body is required", NULL);
            return NULL;
        }
        return yaml_body(req);
    }
    if (len && ct && !api_is_json_type(ct)) {
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "send the body as application/json, application/yaml or application/xml "
                 "(BPMN), not \"%.60s\"",
                 ct);
        http_respond_error(req, 415, "unsupported_media_type", msg, NULL);
        return NULL;
    }
    if (http_req_query(req, "message")) {
        http_respond_error(req, 422, "invalid_query",
                           "?message= goes with a YAML or BPMN body; a JSON body carries its "
                           "message",
                           "message");
        return NULL;
    }
    json_t *body;
    return api_body_json(req, &body, NULL) < 0 ? NULL : body;
}

static void h_save_version(void *ctx, http_req *req, const route_params *p)
{
    json_t *body = version_body(req);
    if (!body) return;
    if (!json_is_object(body)) {
        json_decref(body);
        http_respond_error(req, 422, "invalid", "a version is {\"content\", \"message\"}", NULL);
        return;
    }
    const char *k;
    json_t *val;
    json_object_foreach(body, k, val)
    {
        if (strcmp(k, "content") && strcmp(k, "message")) {
            json_decref(body);
            http_respond_error(req, 422, "invalid", "a version has content and a message", k);
            return;
        }
    }
    if (!json_is_object(json_object_get(body, "content"))) {
        json_decref(body);
        http_respond_error(req, 422, "invalid", "content must be the scenario, an object",
                           "content");
        return;
    }
    json_t *msg = json_object_get(body, "message");
    if (msg && (!json_is_string(msg) || json_string_length(msg) > 1000)) {
        json_decref(body);
        http_respond_error(req, 422, "invalid", "message is a string of at most 1000 bytes",
                           "message");
        return;
    }
    version_arg *v = version_arg_new(ctx, req, p);
    if (!v) {
        json_decref(body);
        return;
    }
    v->body = body;
    scn_ctx *x = v->x;
    if (scenario_check(json_object_get(body, "content"), x->reg, x->sup, x->expr, on_checked, v)) {
        json_decref(v->body);
        free(v);
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
    }
}

/* Versions are immutable: a change is a new version. */
static void h_version_immutable(void *ctx, http_req *req, const route_params *p)
{
    (void)ctx;
    (void)p;
    http_respond_error(req, 409, "immutable",
                       "a scenario version never changes: save the content as a new version "
                       "(POST /api/v1/scenarios/ID/versions)",
                       NULL);
}

static const route extra[] = {
    {"GET", "/api/v1/scenarios/{id}/versions", h_versions, "scenarios:read",
     "A scenario's versions, newest first (without their content)"},
    {"POST", "/api/v1/scenarios/{id}/versions", h_save_version, "scenarios:write",
     "Check content (every problem at once: 422) and save it as the scenario's next version; "
     "JSON, YAML or BPMN 2.0 (application/xml)"},
    {"GET", "/api/v1/scenarios/{id}/versions/{number}", h_version, "scenarios:read",
     "One version with its content (?format=yaml: the content as YAML; ?format=bpmn: as "
     "BPMN 2.0 with its diagram)"},
    {"PATCH", "/api/v1/scenarios/{id}/versions/{number}", h_version_immutable, "scenarios:write",
     "Refused: versions are immutable (409)"},
    {"DELETE", "/api/v1/scenarios/{id}/versions/{number}", h_version_immutable, "scenarios:write",
     "Refused: versions are immutable (409)"},
};

int api_scenarios_routes(api_table *t, const api_deps *deps)
{
    scn_ctx *x = NULL;
    if (deps) {
        if (!(x = calloc(1, sizeof(*x)))) return AH_ENOMEM;
        x->d = deps->docs;
        x->reg = deps->reg;
        x->sup = deps->sup;
        x->expr = deps->expr;
        int rc = api_table_own(t, x, free);
        if (rc) return rc;
    }
    int rc = res_register(t, &scenarios_res, deps ? deps->docs : NULL, x, "scenarios:read",
                          "scenarios:write");
    if (!rc) rc = api_table_add(t, extra, sizeof(extra) / sizeof(extra[0]), x);
    return rc;
}
