/*
 * actions.c - the CRM actions (and so the crm.* steps):
 *   contact.find_or_create  {name, phone, email, fields, responsible_user_id}
 *   contact.find            {phone | email}
 *   contact.update          {contact_id, name, phone, email, fields}
 *   lead.create             {name, price, contact_id, pipeline, status,
 *                            responsible_user_id, fields}
 *   lead.move               {lead_id, status, pipeline, price, responsible_user_id}
 *   note.add                {entity ("leads" | "contacts"), entity_id, text}
 *   task.create             {text, entity, entity_id, due_in_s | complete_till,
 *                            responsible_user_id, task_type_id}
 * Phones are compared in E.164; custom fields are named (config's
 * contact_fields / lead_fields map an argument's key to the field's name
 * in amoCRM), pipelines and statuses by id or by name; the account's
 * pipelines and fields are read once and kept.
 */
#include "amo.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_PAGES 5 /* of a contact search, 50 contacts each */

typedef struct job job;
typedef void (*job_fn)(job *j);

struct job {
    amo *a;
    ah_call *call;
    json_t *args;
    char action[32];
    char phone[24];
    const char *email;
    char *pending; /* the path of a list being read for the cache */
    int pages;     /* of a search */
    json_t *found; /* a search's matches so far */
    job_fn next;
};

/* ---- helpers ------------------------------------------------------------------------- */

static void done(job *j, json_t *result)
{
    j->a->host->reply(j->call, result);
    json_decref(j->args);
    free(j);
}

static void failed(job *j, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void failed(job *j, const char *code, const char *fmt, ...)
{
    char msg[500];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    j->a->host->reply_error(j->call, code, msg);
    json_decref(j->args);
    free(j);
}

static const json_t *arg(const job *j, const char *k)
{
    const json_t *v = json_object_get(j->args, k);
    return json_is_null(v) ? NULL : v;
}

static const char *sarg(const job *j, const char *k)
{
    return json_string_value(arg(j, k));
}

static json_int_t iarg(const job *j, const char *k)
{
    const json_t *v = arg(j, k);
    return json_is_string(v) ? strtoll(json_string_value(v), NULL, 10) : json_integer_value(v);
}

static void urlencode(const char *s, char *out, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t k = 0;
    for (; *s && k + 4 < n; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.') {
            out[k++] = (char)ch;
        } else {
            out[k++] = '%';
            out[k++] = hex[ch >> 4];
            out[k++] = hex[ch & 15];
        }
    }
    out[k] = 0;
}

/* The id of an add's answer item, or an error reply. */
static json_int_t new_id(job *j, const amo_res *r)
{
    if (r->error) {
        failed(j, r->error, "amoCRM: %s", r->message ? r->message : r->error);
        return 0;
    }
    json_int_t id = json_integer_value(json_object_get(r->body, "id"));
    if (!id) failed(j, "rejected", "amoCRM answered no id");
    return id;
}

/* ---- caches ----------------------------------------------------------------------------- */

static json_t **cache_of(amo *a, const char *path)
{
    return !strcmp(path, "/api/v4/leads/pipelines")       ? &a->pipelines
           : !strcmp(path, "/api/v4/leads/custom_fields") ? &a->lead_fields
                                                          : &a->contact_fields;
}

static void cached(amo *a, const amo_res *r, void *ud);

/* Make sure the list at path is cached, then run j->next. */
static void need(job *j, const char *path, job_fn next)
{
    j->next = next;
    if (*cache_of(j->a, path)) {
        next(j);
        return;
    }
    char *p = strdup(path);
    j->pending = p;
    if (!p || amo_request(j->a, "GET", path, NULL, NULL, cached, j)) {
        free(p);
        failed(j, "unavailable", "out of memory");
    }
}

static void cached(amo *a, const amo_res *r, void *ud)
{
    job *j = ud;
    char *path = j->pending;
    j->pending = NULL;
    const char *key = strstr(path, "pipelines") ? "pipelines" : "custom_fields";
    const json_t *items = amo_hal_items(r->body, key);
    json_t **slot = cache_of(a, path);
    free(path);
    if (r->error || !items) {
        failed(j, r->error ? r->error : "rejected", "reading the account's %s: %s", key,
               r->message ? r->message : "no list in the answer");
        return;
    }
    if (!*slot) *slot = json_deep_copy(items);
    j->next(j);
}

/* custom_fields_values for args.fields, or NULL and an error reply. */
static json_t *mapped_fields(job *j, const char *entity, json_t *out)
{
    const json_t *fields = arg(j, "fields");
    const json_t *map =
        json_object_get(j->a->config, !strcmp(entity, "leads") ? "lead_fields" : "contact_fields");
    const json_t *defs = !strcmp(entity, "leads") ? j->a->lead_fields : j->a->contact_fields;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)fields, k, v)
    {
        const char *name = json_string_value(json_object_get(map, k));
        if (!name) name = k;
        const json_t *def = NULL, *d;
        size_t i;
        json_array_foreach(defs, i,
                           d) if (json_string_value(json_object_get(d, "name")) &&
                                  !strcasecmp(json_string_value(json_object_get(d, "name")), name))
            def = d;
        if (!def) {
            failed(j, "invalid_argument", "fields.%s: the account has no %s field named \"%s\"", k,
                   entity, name);
            json_decref(out);
            return NULL;
        }
        json_array_append_new(out, json_pack("{s:O,s:[{s:O}]}", "field_id",
                                             json_object_get(def, "id"), "values", "value", v));
    }
    return out;
}

void amo_add_multitext(json_t *cfv, const char *code, const char *value)
{
    if (value)
        json_array_append_new(cfv, json_pack("{s:s,s:[{s:s,s:s}]}", "field_code", code, "values",
                                             "value", value, "enum_code", "WORK"));
}

/* ---- contacts ------------------------------------------------------------------------------ */

/* Does a contact carry this phone (E.164) or e-mail? */
static bool same_person(amo *a, const json_t *c, const char *phone, const char *email)
{
    size_t i, k;
    const json_t *f, *v;
    json_array_foreach(json_object_get(c, "custom_fields_values"), i, f)
    {
        const char *code = json_string_value(json_object_get(f, "field_code"));
        json_array_foreach(json_object_get(f, "values"), k, v)
        {
            const char *s = json_string_value(json_object_get(v, "value"));
            char e[24];
            if (!s || !code) continue;
            if (phone && !strcmp(code, "PHONE") && !amo_phone_e164(s, a->country, e, sizeof(e)) &&
                !strcmp(e, phone))
                return true;
            if (email && !strcmp(code, "EMAIL") && !strcasecmp(s, email)) return true;
        }
    }
    return false;
}

static void contact_created(amo *a, const amo_res *r, void *ud)
{
    job *j = ud;
    json_int_t id = new_id(j, r);
    if (!id) return;
    /* What it was created with is what it holds: a sync of the same values
     * (the turn that linked it also set the profile) writes nothing. */
    json_t *v = amo_sync_values(a, sarg(j, "name"), j->phone, j->email);
    amo_sync_remember(a, id, v);
    json_decref(v);
    done(j, json_pack("{s:I,s:b}", "contact_id", id, "created", 1));
}

static void create_contact(job *j)
{
    json_t *cfv = json_array();
    amo_add_multitext(cfv, "PHONE", j->phone[0] ? j->phone : NULL);
    amo_add_multitext(cfv, "EMAIL", j->email);
    if (!(cfv = mapped_fields(j, "contacts", cfv))) return;
    const char *name = sarg(j, "name");
    json_t *c = json_pack("{s:s,s:o}", "name", name ? name : (j->phone[0] ? j->phone : j->email),
                          "custom_fields_values", cfv);
    if (iarg(j, "responsible_user_id"))
        json_object_set_new(c, "responsible_user_id", json_integer(iarg(j, "responsible_user_id")));
    if (amo_request(j->a, "POST", "/api/v4/contacts", c, "contacts", contact_created, j))
        failed(j, "unavailable", "out of memory");
    json_decref(c);
}

static void searched(amo *a, const amo_res *r, void *ud);

/* The next page of a search, when amoCRM says there is one and the
 * search may go on: true when asked. */
static bool next_page(job *j, const amo_res *r)
{
    const char *next = amo_hal_next(r->body);
    const char *at = next ? strstr(next, "/api/v4/contacts") : NULL;
    if (!at || ++j->pages >= MAX_PAGES) return false;
    return amo_request(j->a, "GET", at, NULL, NULL, searched, j) == 0;
}

static void searched(amo *a, const amo_res *r, void *ud)
{
    job *j = ud;
    if (r->error) {
        json_decref(j->found);
        failed(j, r->error, "amoCRM: %s", r->message ? r->message : r->error);
        return;
    }
    if (!j->found) j->found = json_array();
    size_t i;
    const json_t *c;
    json_array_foreach(amo_hal_items(r->body, "contacts"), i, c)
    {
        if (same_person(a, c, j->phone[0] ? j->phone : NULL, j->email))
            json_array_append_new(j->found, json_pack("{s:O,s:O}", "id", json_object_get(c, "id"),
                                                      "name", json_object_get(c, "name")));
    }
    bool find = !strcmp(j->action, "contact.find");
    if ((find || !json_array_size(j->found)) && next_page(j, r)) return;
    json_t *found = j->found;
    j->found = NULL;
    if (find) {
        done(j, json_pack("{s:o}", "contacts", found));
        return;
    }
    const json_t *first = json_array_get(found, 0);
    if (first) {
        done(j, json_pack("{s:O,s:b}", "contact_id", json_object_get(first, "id"), "created", 0));
        json_decref(found);
        return;
    }
    json_decref(found);
    if (arg(j, "fields"))
        need(j, "/api/v4/contacts/custom_fields", create_contact);
    else
        create_contact(j);
}

/* Read and check phone and e-mail; false after an error reply. */
static bool who(job *j, bool required)
{
    const char *phone = sarg(j, "phone");
    j->email = sarg(j, "email");
    if (j->email && !*j->email) j->email = NULL;
    if (phone && *phone && amo_phone_e164(phone, j->a->country, j->phone, sizeof(j->phone))) {
        failed(j, "invalid_argument", "phone: not a phone number");
        return false;
    }
    if (required && !j->phone[0] && !j->email) {
        failed(j, "invalid_argument", "phone or email: one is required");
        return false;
    }
    return true;
}

static void find_contact(job *j)
{
    if (!who(j, true)) return;
    /* amoCRM's query matches stored text: the last ten digits match
     * however the number was typed; the answers are checked in E.164. */
    char q[200], path[400];
    size_t n = strlen(j->phone);
    urlencode(j->phone[0] ? j->phone + (n > 10 ? n - 10 : 1) : j->email, q, sizeof(q));
    snprintf(path, sizeof(path), "/api/v4/contacts?query=%s&limit=50", q);
    if (amo_request(j->a, "GET", path, NULL, NULL, searched, j))
        failed(j, "unavailable", "out of memory");
}

static void contact_updated(amo *a, const amo_res *r, void *ud)
{
    (void)a;
    job *j = ud;
    if (r->error)
        failed(j, r->error, "amoCRM: %s", r->message ? r->message : r->error);
    else
        done(j, json_pack("{s:I}", "contact_id", iarg(j, "contact_id")));
}

static void update_contact(job *j)
{
    json_t *cfv = json_array();
    amo_add_multitext(cfv, "PHONE", j->phone[0] ? j->phone : NULL);
    amo_add_multitext(cfv, "EMAIL", j->email);
    if (!(cfv = mapped_fields(j, "contacts", cfv))) return;
    json_t *c = json_object();
    if (sarg(j, "name")) json_object_set_new(c, "name", json_string(sarg(j, "name")));
    if (json_array_size(cfv)) json_object_set(c, "custom_fields_values", cfv);
    json_decref(cfv);
    char path[80];
    snprintf(path, sizeof(path), "/api/v4/contacts/%lld", (long long)iarg(j, "contact_id"));
    if (amo_request(j->a, "PATCH", path, c, NULL, contact_updated, j))
        failed(j, "unavailable", "out of memory");
    json_decref(c);
}

/* ---- leads ------------------------------------------------------------------------------- */

static bool named(const json_t *o, const json_t *want)
{
    if (json_is_integer(want))
        return json_integer_value(json_object_get(o, "id")) == json_integer_value(want);
    const char *n = json_string_value(json_object_get(o, "name"));
    return n && json_is_string(want) && !strcasecmp(n, json_string_value(want));
}

/* Pipeline and status ids from ids or names; false after an error reply. */
static bool resolve(job *j, json_int_t *pid, json_int_t *sid)
{
    const json_t *pw = arg(j, "pipeline"), *sw = arg(j, "status");
    if (!pw) pw = json_object_get(j->a->config, "pipeline");
    if (!sw && !strcmp(j->action, "lead.create")) sw = json_object_get(j->a->config, "status");
    const json_t *pipe = NULL, *p, *st = NULL, *s;
    size_t i, k;
    json_array_foreach(j->a->pipelines, i, p)
    {
        if (pw ? named(p, pw) : json_is_true(json_object_get(p, "is_main"))) pipe = p;
    }
    if (!pipe) {
        failed(j, "invalid_argument", "pipeline: the account has no such pipeline");
        return false;
    }
    json_array_foreach(json_object_get(json_object_get(pipe, "_embedded"), "statuses"), k, s)
    {
        if (sw && named(s, sw)) st = s;
    }
    if (sw && !st) {
        failed(j, "invalid_argument", "status: no such status in the pipeline \"%s\"",
               json_string_value(json_object_get(pipe, "name")));
        return false;
    }
    *pid = json_integer_value(json_object_get(pipe, "id"));
    *sid = st ? json_integer_value(json_object_get(st, "id")) : 0;
    return true;
}

static void lead_saved(amo *a, const amo_res *r, void *ud)
{
    (void)a;
    job *j = ud;
    json_int_t id = !strcmp(j->action, "lead.create") ? new_id(j, r) : iarg(j, "lead_id");
    if (!id) return;
    if (r->error) {
        failed(j, r->error, "amoCRM: %s", r->message ? r->message : r->error);
        return;
    }
    json_t *o = json_pack("{s:I}", "lead_id", id);
    json_object_set(o, "pipeline_id", json_object_get(j->args, "_pipeline_id"));
    json_object_set(o, "status_id", json_object_get(j->args, "_status_id"));
    const char *base = json_string_value(json_object_get(j->a->config, "base_url"));
    if (base) { /* the lead in amoCRM's web interface */
        char url[400];
        snprintf(url, sizeof(url), "%s/leads/detail/%lld", base, (long long)id);
        json_object_set_new(o, "url", json_string(url));
    }
    done(j, o);
}

static void save_lead(job *j)
{
    json_int_t pid, sid;
    if (!resolve(j, &pid, &sid)) return;
    json_t *cfv = mapped_fields(j, "leads", json_array());
    if (!cfv) return;
    bool create = !strcmp(j->action, "lead.create");
    json_t *l = json_pack("{s:I}", "pipeline_id", (json_int_t)pid);
    if (sid) json_object_set_new(l, "status_id", json_integer(sid));
    json_object_set_new(j->args, "_pipeline_id", json_integer(pid));
    json_object_set_new(j->args, "_status_id", sid ? json_integer(sid) : json_null());
    if (sarg(j, "name") || create)
        json_object_set_new(l, "name", json_string(sarg(j, "name") ? sarg(j, "name") : "Lead"));
    if (arg(j, "price")) json_object_set_new(l, "price", json_integer(iarg(j, "price")));
    if (iarg(j, "responsible_user_id"))
        json_object_set_new(l, "responsible_user_id", json_integer(iarg(j, "responsible_user_id")));
    if (json_array_size(cfv)) json_object_set(l, "custom_fields_values", cfv);
    json_decref(cfv);
    if (create && iarg(j, "contact_id"))
        json_object_set_new(l, "_embedded",
                            json_pack("{s:[{s:I}]}", "contacts", "id", iarg(j, "contact_id")));
    char path[80];
    snprintf(path, sizeof(path), "/api/v4/leads/%lld", (long long)iarg(j, "lead_id"));
    int rc = create ? amo_request(j->a, "POST", "/api/v4/leads", l, "leads", lead_saved, j)
                    : amo_request(j->a, "PATCH", path, l, NULL, lead_saved, j);
    if (rc) failed(j, "unavailable", "out of memory");
    json_decref(l);
}

static void lead_with_fields(job *j)
{
    if (arg(j, "fields"))
        need(j, "/api/v4/leads/custom_fields", save_lead);
    else
        save_lead(j);
}

/* ---- notes and tasks ---------------------------------------------------------------------- */

static void note_added(amo *a, const amo_res *r, void *ud)
{
    (void)a;
    job *j = ud;
    json_int_t id = new_id(j, r);
    if (id) done(j, json_pack("{s:I}", !strcmp(j->action, "note.add") ? "note_id" : "task_id", id));
}

static const char *entity_of(job *j)
{
    const char *e = sarg(j, "entity");
    if (!e) return "leads";
    return !strcmp(e, "contacts") || !strcmp(e, "contact") ? "contacts" : "leads";
}

static void add_note(job *j)
{
    const char *text = sarg(j, "text");
    if (!text || !*text || !iarg(j, "entity_id")) {
        failed(j, "invalid_argument", "%s: required", text && *text ? "entity_id" : "text");
        return;
    }
    char path[64];
    snprintf(path, sizeof(path), "/api/v4/%s/notes", entity_of(j));
    json_t *n = json_pack("{s:I,s:s,s:{s:s}}", "entity_id", iarg(j, "entity_id"), "note_type",
                          "common", "params", "text", text);
    if (amo_request(j->a, "POST", path, n, "notes", note_added, j))
        failed(j, "unavailable", "out of memory");
    json_decref(n);
}

static void create_task(job *j)
{
    const char *text = sarg(j, "text");
    if (!text || !*text) {
        failed(j, "invalid_argument", "text: required");
        return;
    }
    json_int_t till = iarg(j, "complete_till");
    if (!till) till = amo_now_ms() / 1000 + (arg(j, "due_in_s") ? iarg(j, "due_in_s") : 86400);
    json_t *t = json_pack("{s:s,s:I,s:I}", "text", text, "complete_till", till, "task_type_id",
                          iarg(j, "task_type_id") ? iarg(j, "task_type_id") : 1);
    if (iarg(j, "entity_id")) {
        json_object_set_new(t, "entity_id", json_integer(iarg(j, "entity_id")));
        json_object_set_new(t, "entity_type", json_string(entity_of(j)));
    }
    if (iarg(j, "responsible_user_id"))
        json_object_set_new(t, "responsible_user_id", json_integer(iarg(j, "responsible_user_id")));
    if (amo_request(j->a, "POST", "/api/v4/tasks", t, "tasks", note_added, j))
        failed(j, "unavailable", "out of memory");
    json_decref(t);
}

/* ---- dispatch --------------------------------------------------------------------------- */

bool amo_action(amo *a, ah_call *call, const char *action, const json_t *args)
{
    static const struct {
        const char *name;
        job_fn fn;
    } table[] = {{"contact.find_or_create", find_contact},
                 {"contact.find", find_contact},
                 {"contact.update", NULL},
                 {"lead.create", NULL},
                 {"lead.move", NULL},
                 {"note.add", add_note},
                 {"task.create", create_task}};
    size_t i = 0, n = sizeof(table) / sizeof(table[0]);
    while (i < n && strcmp(table[i].name, action))
        i++;
    if (i == n) return false;
    job *j = calloc(1, sizeof(*j));
    if (!j) {
        a->host->reply_error(call, "unavailable", "out of memory");
        return true;
    }
    *j = (job){
        .a = a, .call = call, .args = json_is_object(args) ? json_deep_copy(args) : json_object()};
    snprintf(j->action, sizeof(j->action), "%s", action);
    if (table[i].fn) {
        table[i].fn(j);
    } else if (!strcmp(action, "contact.update")) {
        if (!iarg(j, "contact_id")) {
            failed(j, "invalid_argument", "contact_id: required");
        } else if (who(j, false)) {
            if (arg(j, "fields"))
                need(j, "/api/v4/contacts/custom_fields", update_contact);
            else
                update_contact(j);
        }
    } else if (!strcmp(action, "lead.move") && !iarg(j, "lead_id")) {
        failed(j, "invalid_argument", "lead_id: required");
    } else {
        need(j, "/api/v4/leads/pipelines", lead_with_fields);
    }
    return true;
}
