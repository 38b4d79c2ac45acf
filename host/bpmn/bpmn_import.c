/*
 * bpmn_import.c - a BPMN 2.0 document read into scenario content: parsed
 * without network, DTD or entities; the process's flow nodes and sequence
 * flows collected; steps taken from their ah:step (targets moved by the
 * flows that carry ah:field) or mapped (bpmn_foreign.c); all or nothing.
 */
#include "bpmn/scenario_bpmn.h"
#include "bpmn_priv.h"
#include "bpmn_read.h"
#include "engine/scenario.h"

#include <agenthost/plugin.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parsing ----------------------------------------------------------------------- */

/* A DOCTYPE stops the parser where it stands: BPMN needs none, and its
 * entity declarations are how external entities and entity bombs come. */
static void on_doctype(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
    xmlParserCtxtPtr c = ctx;
    *(int *)c->_private = c->input ? c->input->line : 1;
    xmlStopParser(c);
}

static void on_entity(void *ctx, const xmlChar *name, int type, const xmlChar *pub,
                      const xmlChar *sys, xmlChar *content)
{
    on_doctype(ctx, name, pub, sys);
}

/* libxml2 prints some errors (an encoding that fails: "I/O error :
 * encoder error") through its generic handler, to stderr, whatever the
 * parse options: they are the parse's errors, reported by it, not logs. */
static void quiet(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

static int parse(const char *text, size_t len, xmlDocPtr *doc, char *err, size_t errlen)
{
    xmlSetGenericErrorFunc(NULL, quiet);
    xmlParserCtxtPtr c = xmlNewParserCtxt();
    if (!c || !c->sax) {
        xmlFreeParserCtxt(c);
        return AH_ENOMEM;
    }
    int doctype_line = 0;
    c->sax->internalSubset = on_doctype;
    c->sax->externalSubset = on_doctype;
    c->sax->entityDecl = on_entity;
    c->_private = &doctype_line;
    /* No XML_PARSE_NOENT, DTDLOAD, DTDATTR, XINCLUDE or HUGE: entities are
     * never substituted, nothing is loaded, libxml2's own bounds hold. */
    *doc = xmlCtxtReadMemory(c, text, (int)len, "scenario.bpmn", NULL,
                             XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    int rc = 0;
    if (*doc && !c->nsWellFormed) { /* an undeclared prefix: libxml2 reads on, we do not */
        xmlFreeDoc(*doc);
        *doc = NULL;
    }
    if (doctype_line) {
        snprintf(err, errlen,
                 "line %d: a DOCTYPE: BPMN needs none, and DTDs and entities are not read",
                 doctype_line);
        rc = AH_EINVAL;
    } else if (!*doc) {
        const xmlError *e = xmlCtxtGetLastError(c);
        if (e && e->code == XML_ERR_NO_MEMORY) {
            rc = AH_ENOMEM;
        } else {
            char msg[200] = "not well-formed";
            if (e && e->message) snprintf(msg, sizeof(msg), "%s", e->message);
            size_t m = strlen(msg);
            while (m && (msg[m - 1] == '\n' || msg[m - 1] == ' '))
                msg[--m] = 0;
            snprintf(err, errlen, "not well-formed XML: line %d, column %d: %s", e ? e->line : 0,
                     e ? e->int2 : 0, msg);
            rc = AH_EINVAL;
        }
    }
    if (rc && *doc) {
        xmlFreeDoc(*doc);
        *doc = NULL;
    }
    xmlFreeParserCtxt(c);
    return rc;
}

/* ---- helpers --------------------------------------------------------------------------- */

static bool is_bpmn(xmlNodePtr x, const char *local)
{
    return x && x->type == XML_ELEMENT_NODE && x->ns && x->ns->href &&
           !strcmp((const char *)x->ns->href, NS_BPMN) &&
           (!local || !strcmp((const char *)x->name, local));
}

static bool is_ah(xmlNodePtr x, const char *local)
{
    return x && x->type == XML_ELEMENT_NODE && x->ns && x->ns->href &&
           !strcmp((const char *)x->ns->href, SCENARIO_BPMN_NS) &&
           !strcmp((const char *)x->name, local);
}

xmlNodePtr bpmn_child(xmlNodePtr x, const char *local)
{
    for (xmlNodePtr c = x ? x->children : NULL; c; c = c->next)
        if (is_bpmn(c, local)) return c;
    return NULL;
}

/* The ah:<local> inside x's extension elements. */
static xmlNodePtr extension(xmlNodePtr x, const char *local)
{
    xmlNodePtr ext = bpmn_child(x, "extensionElements");
    for (xmlNodePtr c = ext ? ext->children : NULL; c; c = c->next)
        if (is_ah(c, local)) return c;
    return NULL;
}

void bpmn_problem(bpmn_reader *r, xmlNodePtr x, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (x && x->_private) r->nodes[(uintptr_t)x->_private - 1].bad = true;
    size_t have = json_array_size(r->problems);
    if (have > SCENARIO_MAX_ERRORS) return;
    if (have == SCENARIO_MAX_ERRORS) {
        x = NULL;
        snprintf(msg, sizeof(msg), "more elements that cannot be mapped, not listed");
    }
    xmlChar *id = x ? xmlGetNoNsProp(x, BAD_CAST "id") : NULL;
    json_t *p = json_pack("{s:s?,s:s,s:s}", "element", id ? (const char *)id : NULL, "type",
                          x ? (const char *)x->name : "definitions", "message", msg);
    xmlFree(id);
    if (!p || json_array_append_new(r->problems, p)) r->oom = true;
}

void bpmn_step_id(bpmn_reader *r, const char *element_id, char *out, size_t len)
{
    char base[61];
    size_t o = 0;
    if (!element_id || !((*element_id | 32) >= 'a' && (*element_id | 32) <= 'z'))
        o = (size_t)snprintf(base, sizeof(base), "s_");
    for (const char *p = element_id ? element_id : ""; *p && o + 1 < sizeof(base); p++) {
        char ch = (*p >= 'A' && *p <= 'Z') ? (char)(*p + 32) : *p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))) ch = '_';
        if (ch == '_' && o && base[o - 1] == '_') continue;
        base[o++] = ch;
    }
    while (o > 1 && base[o - 1] == '_')
        o--;
    base[o] = 0;
    snprintf(out, len, "%s", base);
    for (unsigned k = 2; json_object_get(r->ids, out); k++)
        snprintf(out, len, "%s_%u", base, k);
    if (json_object_set_new(r->ids, out, json_true())) r->oom = true;
}

/* ---- collecting the process ------------------------------------------------------------ */

/* Children of a process that hold no behaviour. */
static bool ignorable(const char *local)
{
    static const char *const names[] = {"laneSet",
                                        "dataObject",
                                        "dataObjectReference",
                                        "dataStoreReference",
                                        "textAnnotation",
                                        "association",
                                        "documentation",
                                        "extensionElements",
                                        "ioSpecification",
                                        "property",
                                        "group",
                                        "auditing",
                                        "monitoring",
                                        "supportedInterfaceRef",
                                        "ioBinding",
                                        "resourceRole",
                                        "performer",
                                        "humanPerformer",
                                        "potentialOwner",
                                        "correlationSubscription",
                                        NULL};
    for (size_t i = 0; names[i]; i++)
        if (!strcmp(local, names[i])) return true;
    return false;
}

static long node_index(const json_t *index, const char *id)
{
    json_t *v = id ? json_object_get(index, id) : NULL;
    return v ? (long)json_integer_value(v) : -1;
}

static int grow(void **a, size_t *cap, size_t n, size_t size)
{
    if (n < *cap) return 0;
    size_t c = *cap ? *cap * 2 : 16;
    void *p = realloc(*a, c * size);
    if (!p) return AH_ENOMEM;
    *a = p;
    *cap = c;
    return 0;
}

static int collect(bpmn_reader *r, xmlNodePtr process)
{
    for (xmlNodePtr c = process->children; c; c = c->next) {
        if (!is_bpmn(c, NULL) || ignorable((const char *)c->name)) continue;
        if (!strcmp((const char *)c->name, "sequenceFlow")) {
            if (grow((void **)&r->flows, &r->fcap, r->nf, sizeof(*r->flows))) return AH_ENOMEM;
            iflow *f = &r->flows[r->nf++];
            memset(f, 0, sizeof(*f));
            f->x = c;
            f->id = (char *)xmlGetNoNsProp(c, BAD_CAST "id");
            f->name = (char *)xmlGetNoNsProp(c, BAD_CAST "name");
            f->field = (char *)xmlGetNsProp(c, BAD_CAST "field", BAD_CAST SCENARIO_BPMN_NS);
            xmlNodePtr ce = bpmn_child(c, "conditionExpression");
            f->cond = ce ? (char *)xmlNodeGetContent(ce) : NULL;
            continue;
        }
        if (grow((void **)&r->nodes, &r->cap, r->n, sizeof(*r->nodes))) return AH_ENOMEM;
        inode *nd = &r->nodes[r->n++];
        memset(nd, 0, sizeof(*nd));
        nd->x = c;
        c->_private = (void *)(uintptr_t)r->n; /* its index + 1, for bpmn_problem */
        nd->type = (const char *)c->name;
        xmlChar *id = xmlGetNoNsProp(c, BAD_CAST "id");
        nd->id = (char *)(id ? id : xmlStrdup(BAD_CAST ""));
        if (!nd->id) return AH_ENOMEM;
    }
    json_t *index = json_object(); /* element id -> node */
    for (size_t i = 0; index && i < r->n; i++)
        if (r->nodes[i].id[0] && !json_object_get(index, r->nodes[i].id) &&
            json_object_set_new(index, r->nodes[i].id, json_integer((json_int_t)i)))
            r->oom = true;
    if (!index) return AH_ENOMEM;
    for (size_t i = 0; i < r->nf; i++) {
        iflow *f = &r->flows[i];
        xmlChar *s = xmlGetNoNsProp(f->x, BAD_CAST "sourceRef");
        xmlChar *d = xmlGetNoNsProp(f->x, BAD_CAST "targetRef");
        f->src = node_index(index, (const char *)s);
        f->dst = node_index(index, (const char *)d);
        xmlFree(s);
        xmlFree(d);
        if (f->src >= 0) r->nodes[f->src].nout++;
        if (f->cond) { /* an empty condition is none */
            char *t = f->cond;
            size_t a = strspn(t, " \t\r\n"), n = strlen(t);
            while (n > a && strchr(" \t\r\n", t[n - 1]))
                n--;
            memmove(t, t + a, n - a);
            t[n - a] = 0;
            if (!*t) {
                xmlFree(f->cond);
                f->cond = NULL;
            }
        }
    }
    json_decref(index);
    return 0;
}

/* ---- our own steps ------------------------------------------------------------------ */

static json_t *json_of(bpmn_reader *r, xmlNodePtr holder, xmlNodePtr of, const char *what)
{
    xmlChar *text = xmlNodeGetContent(holder);
    json_error_t je;
    json_t *v = text ? json_loads((const char *)text, JSON_REJECT_DUPLICATES, &je) : NULL;
    xmlFree(text);
    if (!json_is_object(v)) {
        bpmn_problem(r, of, "its agenthost %s is not a JSON object%s%s", what, v ? "" : ": ",
                     v ? "" : je.text);
        json_decref(v);
        return NULL;
    }
    return v;
}

/* Steps that carried their JSON; the flows that carry ah:field move their
 * targets. */
static void read_ours(bpmn_reader *r)
{
    for (size_t i = 0; i < r->n; i++) {
        inode *nd = &r->nodes[i];
        xmlNodePtr s = extension(nd->x, "step");
        if (!s) continue;
        nd->ours = true;
        xmlChar *id = xmlGetNoNsProp(s, BAD_CAST "id");
        if (!id || !*id || strlen((const char *)id) >= sizeof(nd->step) ||
            json_object_get(r->ids, (const char *)id)) {
            bpmn_problem(r, nd->x, "its agenthost step has %s id",
                         id && *id ? "a taken or too long" : "no");
        } else {
            snprintf(nd->step, sizeof(nd->step), "%s", (const char *)id);
            if (json_object_set_new(r->ids, nd->step, json_true())) r->oom = true;
            nd->json = json_of(r, s, nd->x, "step");
        }
        xmlFree(id);
    }
}

static void ours_targets(bpmn_reader *r)
{
    for (size_t i = 0; i < r->nf; i++) {
        iflow *f = &r->flows[i];
        if (f->src < 0 || f->dst < 0) continue;
        inode *a = &r->nodes[f->src], *b = &r->nodes[f->dst];
        if (!a->ours || !a->json || a->bad || b->bad || !b->step[0]) continue;
        if (f->field && bpmn_set_target(a->json, f->field, b->step)) continue;
        if (!f->field && !json_object_get(a->json, "next") && a->nout == 1) {
            if (json_object_set_new(a->json, "next", json_string(b->step))) r->oom = true;
            continue;
        }
        bpmn_problem(r, f->x,
                     "a flow out of step %s that stands for none of its targets (next, an "
                     "option's or a case's next, default, on_invalid, on_timeout, on_error)",
                     a->step);
    }
}

/* ---- the start --------------------------------------------------------------------------- */

static const char *start_of(bpmn_reader *r, xmlNodePtr process)
{
    const char *start = NULL;
    for (size_t i = 0; i < r->n; i++) {
        inode *nd = &r->nodes[i];
        if (strcmp(nd->type, "startEvent") || nd->ours) continue;
        for (xmlNodePtr d = nd->x->children; d; d = d->next)
            if (is_bpmn(d, NULL) && strstr((const char *)d->name, "EventDefinition") &&
                strcmp((const char *)d->name, "messageEventDefinition"))
                bpmn_problem(r, nd->x,
                             "a start event with a %s: a conversation starts with a message "
                             "(schedules and events start agents through triggers)",
                             (const char *)d->name);
        if (nd->bad) continue;
        if (start) {
            bpmn_problem(r, nd->x, "a second start event: a scenario starts in one place");
            continue;
        }
        long to = -1;
        for (size_t k = 0; k < r->nf; k++)
            if (r->flows[k].src == (long)i) to = to == -1 ? r->flows[k].dst : -2;
        /* Ours: a start event with no flow (the content's start names no
         * step) leaves ah:scenario's start as it is. */
        if (to == -1 && extension(process, "scenario")) continue;
        if (to < 0 || !r->nodes[to].step[0]) {
            bpmn_problem(r, nd->x,
                         to == -2 ? "a start event with several outgoing flows: a "
                                    "conversation runs one step at a time"
                                  : "a start event that leads to no step");
            continue;
        }
        start = r->nodes[to].step;
    }
    return start;
}

/* ---- the document ----------------------------------------------------------------------- */

static bool has_nodes(xmlNodePtr process)
{
    for (xmlNodePtr c = process->children; c; c = c->next)
        if (is_bpmn(c, NULL) && strcmp((const char *)c->name, "sequenceFlow") &&
            !ignorable((const char *)c->name))
            return true;
    return false;
}

/* The process to read: the one holding ah:scenario, else the first with
 * flow nodes; any other with flow nodes is a problem. */
static xmlNodePtr pick_process(bpmn_reader *r, xmlNodePtr defs)
{
    xmlNodePtr pick = NULL;
    for (xmlNodePtr c = defs->children; c && !pick; c = c->next)
        if (is_bpmn(c, "process") && extension(c, "scenario")) pick = c;
    for (xmlNodePtr c = defs->children; c && !pick; c = c->next)
        if (is_bpmn(c, "process") && has_nodes(c)) pick = c;
    for (xmlNodePtr c = defs->children; c; c = c->next)
        if (is_bpmn(c, "process") && c != pick && has_nodes(c))
            bpmn_problem(r, c,
                         "a second process with steps (another pool): a scenario is one "
                         "process; draw the other as its own scenario and use call_agent");
    if (!pick)
        for (xmlNodePtr c = defs->children; c && !pick; c = c->next)
            if (is_bpmn(c, "process")) pick = c;
    return pick;
}

static json_t *assemble(bpmn_reader *r, xmlNodePtr process, const char *start)
{
    xmlNodePtr sx = extension(process, "scenario");
    json_t *top = sx ? json_of(r, sx, process, "scenario") : NULL;
    if (!sx)
        top = json_pack("{s:s,s:s,s:[s]}", "format", SCENARIO_FORMAT, "default_language", "en",
                        "languages", "en");
    json_t *steps = json_object();
    if (!top || !steps) {
        if (!sx) r->oom = true;
        json_decref(top);
        json_decref(steps);
        return NULL;
    }
    for (size_t i = 0; i < r->n; i++)
        if (r->nodes[i].json && json_object_set(steps, r->nodes[i].step, r->nodes[i].json))
            r->oom = true;
    if (start && json_object_set_new(top, "start", json_string(start))) r->oom = true;
    if (!json_is_string(json_object_get(top, "start")))
        bpmn_problem(r, process, "no start event leading to a step");
    if (!json_object_size(steps)) bpmn_problem(r, process, "no step to import");
    if (json_object_set_new(top, "steps", steps)) r->oom = true;
    return top;
}

static int read_doc(bpmn_reader *r, xmlDocPtr doc, json_t **out, char *err, size_t errlen)
{
    xmlNodePtr defs = xmlDocGetRootElement(doc);
    if (!is_bpmn(defs, "definitions")) {
        snprintf(err, errlen, "not BPMN 2.0: the root element is <%s>%s%s, not <definitions> in %s",
                 defs ? (const char *)defs->name : "", defs && defs->ns ? " in " : "",
                 defs && defs->ns ? (const char *)defs->ns->href : "", NS_BPMN);
        return AH_EINVAL;
    }
    xmlNodePtr process = pick_process(r, defs);
    if (!process) {
        snprintf(err, errlen, "no process: the document holds no bpmn:process to import");
        return AH_EINVAL;
    }
    if (collect(r, process)) return AH_ENOMEM;
    read_ours(r);
    for (size_t i = 0; i < r->n; i++)
        if (!r->nodes[i].ours && strcmp(r->nodes[i].type, "startEvent"))
            bpmn_step_id(r, r->nodes[i].id, r->nodes[i].step, sizeof(r->nodes[i].step));
    for (size_t i = 0; i < r->nf; i++)
        if (r->flows[i].src < 0 || r->flows[i].dst < 0)
            bpmn_problem(r, r->flows[i].x, "its %s names no element of the process",
                         r->flows[i].src < 0 ? "sourceRef" : "targetRef");
    for (size_t i = 0; i < r->n; i++)
        if (!r->nodes[i].ours && strcmp(r->nodes[i].type, "startEvent")) bpmn_map_foreign(r, i);
    ours_targets(r);
    const char *start = start_of(r, process);
    json_t *top = assemble(r, process, start);
    if (r->oom) {
        json_decref(top);
        return AH_ENOMEM;
    }
    if (json_array_size(r->problems)) {
        json_decref(top);
        snprintf(err, errlen, "%zu element%s cannot be mapped to steps",
                 json_array_size(r->problems), json_array_size(r->problems) == 1 ? "" : "s");
        return AH_EINVAL;
    }
    *out = top;
    return 0;
}

int scenario_bpmn_import(const char *text, size_t len, json_t **out, json_t *problems, char *err,
                         size_t errlen)
{
    if (out) *out = NULL;
    if (errlen) err[0] = 0;
    if (!out || !json_is_array(problems) || (!text && len)) {
        snprintf(err, errlen, "invalid arguments");
        return AH_EINVAL;
    }
    if (len > SCENARIO_BPMN_MAX_BYTES) {
        snprintf(err, errlen, "%zu bytes, more than the %u a BPMN document may have", len,
                 SCENARIO_BPMN_MAX_BYTES);
        return AH_ETOOBIG;
    }
    xmlInitParser();
    xmlDocPtr doc = NULL;
    int rc = parse(text ? text : "", len, &doc, err, errlen);
    if (rc) return rc;
    bpmn_reader r = {.problems = problems, .ids = json_object()};
    rc = r.ids ? read_doc(&r, doc, out, err, errlen) : AH_ENOMEM;
    for (size_t i = 0; i < r.n; i++) {
        xmlFree(r.nodes[i].id);
        json_decref(r.nodes[i].json);
    }
    for (size_t i = 0; i < r.nf; i++) {
        xmlFree(r.flows[i].id);
        xmlFree(r.flows[i].name);
        xmlFree(r.flows[i].field);
        xmlFree(r.flows[i].cond);
    }
    free(r.nodes);
    free(r.flows);
    json_decref(r.ids);
    xmlFreeDoc(doc);
    if (rc == AH_ENOMEM) snprintf(err, errlen, "out of memory");
    return rc;
}
