/*
 * A scenario's texts for translators (engine/scenario_i18n.h):
 *
 *   GET  /api/v1/scenarios/{id}/texts            every text in each language,
 *        as JSON or (?format=csv) a CSV for a spreadsheet; ?version=N (the
 *        latest by default); ?languages=ru,de (the scenario's own by
 *        default: name a new one to get its empty column)
 *   POST /api/v1/scenarios/{id}/translations     texts put back (the same
 *        JSON, or text/csv) into the latest version: the next version,
 *        checked like any save (a broken template or a language left
 *        incomplete is refused with its path); ?message=
 *   GET  /api/v1/scenarios/{id}/translations/report  per language: what
 *        is missing, untranslated (word for word the default language's)
 *        and stale (the default language's text changed in a later
 *        version than the translation), from the scenario's history.
 */
#include "core/util.h"
#include "engine/lang.h"
#include "engine/scenario_i18n.h"
#include "model/collections.h"
#include "model/ids.h"
#include "model/scenarios.h"
#include "api_priv.h"

#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Versions read for a report, newest last (older ones are left out). */
#define REPORT_MAX_VERSIONS 200

typedef struct texts_read {
    const char *scenario;
    json_int_t version; /* 0: the latest */
    bool history;       /* all versions too (a report) */
    json_t *content;
    json_t *contents; /* oldest first, when history */
    json_int_t number;
} texts_read;

static int read_texts(doc_txn *t, void *ud)
{
    texts_read *a = ud;
    json_t *s = NULL;
    int rc = doc_get(t, COLL_SCENARIOS, a->scenario, &s, NULL);
    if (rc == AH_ENOTFOUND) return doc_fail(t, rc, NULL, "no scenario %s", a->scenario);
    if (rc) return rc;
    json_int_t latest = json_integer_value(json_object_get(s, "latest_version"));
    json_decref(s);
    a->number = a->version ? a->version : latest;
    if (!a->number)
        return doc_fail(t, AH_ENOTFOUND, NULL, "scenario %s has no version yet", a->scenario);
    json_int_t from = a->history ? a->number - REPORT_MAX_VERSIONS + 1 : a->number;
    if (from < 1) from = 1;
    for (json_int_t n = from; n <= a->number && !rc; n++) {
        json_t *v = NULL;
        rc = scenario_version_get(t, a->scenario, n, &v, NULL);
        if (!rc && a->history) json_array_append(a->contents, json_object_get(v, "content"));
        if (!rc && n == a->number) a->content = json_incref(json_object_get(v, "content"));
        json_decref(v);
    }
    return rc;
}

/* The scenario's content (and history): false after answering. */
static bool read_scenario(docs *d, http_req *req, texts_read *a)
{
    if (!id_valid(a->scenario, "scn")) {
        api_respond_not_found(req, "scenario", a->scenario);
        return false;
    }
    const char *v = http_req_query(req, "version");
    if (v) {
        char *end;
        long long n = strtoll(v, &end, 10);
        if (!*v || *end || n < 1) {
            http_respond_error(req, 422, "invalid", "a version number (1, 2, ...)", "version");
            return false;
        }
        a->version = (json_int_t)n;
    }
    if (a->history && !(a->contents = json_array())) {
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        return false;
    }
    doc_error e;
    int rc = docs_read(d, read_texts, a, &e);
    if (rc) {
        json_decref(a->content);
        json_decref(a->contents);
        http_respond_error(req, rc == AH_ENOTFOUND ? 404 : 503,
                           rc == AH_ENOTFOUND ? "not_found" : "unavailable", e.message, NULL);
        return false;
    }
    return true;
}

/* ?languages=ru,de: a new array (NULL: none given); false after answering. */
static bool languages_of(http_req *req, json_t **out)
{
    *out = NULL;
    const char *q = http_req_query(req, "languages");
    if (!q) return true;
    json_t *a = json_array();
    char tag[16];
    for (const char *p = q; a;) {
        size_t n = strcspn(p, ",");
        snprintf(tag, sizeof(tag), "%.*s", (int)(n < sizeof(tag) ? n : sizeof(tag) - 1), p);
        if (n >= sizeof(tag) || !lang_tag_valid(tag) || json_array_size(a) >= I18N_MAX_LANGUAGES) {
            http_respond_error(req, 422, "invalid",
                               "language tags separated by commas (ru,en,pt-BR), at most 20",
                               "languages");
            json_decref(a);
            return false;
        }
        json_array_append_new(a, json_string(tag));
        if (!p[n]) break;
        p += n + 1;
    }
    *out = a;
    return a != NULL;
}

static void h_texts(void *ctx, http_req *req, const route_params *p)
{
    api_scenario_env *x = ctx;
    const char *format = http_req_query(req, "format");
    if (format && strcmp(format, "json") && strcmp(format, "csv")) {
        http_respond_error(req, 422, "invalid", "json or csv", "format");
        return;
    }
    json_t *langs;
    if (!languages_of(req, &langs)) return;
    texts_read a = {.scenario = route_param(p, "id")};
    if (!read_scenario(x->d, req, &a)) {
        json_decref(langs);
        return;
    }
    json_t *table = i18n_table(a.content, langs);
    json_decref(langs);
    json_decref(a.content);
    if (!table) {
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        return;
    }
    json_object_set_new(table, "version", json_integer(a.number));
    if (!format || !strcmp(format, "json")) {
        http_respond_json(req, 200, table);
        return;
    }
    char *csv = i18n_csv(table);
    json_decref(table);
    if (!csv) {
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
        return;
    }
    char disp[160];
    snprintf(disp, sizeof(disp), "Content-Disposition: attachment; filename=\"%s-v%lld.csv\"",
             a.scenario, (long long)a.number);
    const char *h[] = {disp, NULL};
    http_respond(req, 200, "text/csv; charset=utf-8", csv, strlen(csv), h);
    free(csv);
}

static void h_import(void *ctx, http_req *req, const route_params *p)
{
    api_scenario_env *x = ctx;
    json_t *table = NULL;
    const char *ct = http_req_header(req, "Content-Type");
    if (api_is_media_type(ct, "text/csv")) {
        size_t len;
        const char *body = http_req_body(req, &len);
        char err[200];
        int rc = i18n_from_csv(body, len, &table, err, sizeof(err));
        if (rc) {
            http_respond_error(req, rc == AH_ETOOBIG ? 413 : 422,
                               rc == AH_ETOOBIG ? "payload_too_large" : "invalid_csv", err, NULL);
            return;
        }
    } else if (api_body_json(req, &table, NULL) < 0) {
        return;
    }
    texts_read a = {.scenario = route_param(p, "id")};
    if (!json_is_object(table)) {
        http_respond_error(req, 422, "invalid",
                           "send {\"languages\": [...], \"texts\": [{\"path\", ...}]} or text/csv",
                           NULL);
    } else if (read_scenario(x->d, req, &a)) {
        char field[80] = "", err[300] = "";
        int rc = i18n_apply(a.content, table, field, sizeof(field), err, sizeof(err));
        if (rc) {
            json_decref(a.content);
            http_respond_error(req, rc == AH_EINVAL ? 422 : 503,
                               rc == AH_EINVAL ? "invalid" : "no_memory", err,
                               field[0] ? field : NULL);
        } else {
            const char *msg = http_req_query(req, "message");
            api_version_save(x, req, a.scenario, a.content, msg ? msg : "Translations imported",
                             "scenario.translate");
        }
    }
    json_decref(table);
}

static void h_report(void *ctx, http_req *req, const route_params *p)
{
    api_scenario_env *x = ctx;
    json_t *langs;
    if (!languages_of(req, &langs)) return;
    texts_read a = {.scenario = route_param(p, "id"), .history = true};
    if (!read_scenario(x->d, req, &a)) {
        json_decref(langs);
        return;
    }
    json_t *r = i18n_report(a.content, a.contents, langs);
    if (r) json_object_set_new(r, "version", json_integer(a.number));
    json_decref(langs);
    json_decref(a.content);
    json_decref(a.contents);
    if (r)
        http_respond_json(req, 200, r);
    else
        http_respond_error(req, 503, "no_memory", "out of memory", NULL);
}

static const route routes[] = {
    {"GET", "/api/v1/scenarios/{id}/texts", h_texts, "scenarios:read",
     "A scenario's texts in each language, for translators (JSON or ?format=csv)"},
    {"POST", "/api/v1/scenarios/{id}/translations", h_import, "scenarios:write",
     "Put translations (JSON or text/csv) into the next version, checked like a save"},
    {"GET", "/api/v1/scenarios/{id}/translations/report", h_report, "scenarios:read",
     "How complete each language is: missing, untranslated and stale texts"},
};

int api_texts_routes(api_table *t, const api_deps *deps)
{
    return api_scenario_env_routes(t, deps, routes, sizeof(routes) / sizeof(routes[0]));
}
