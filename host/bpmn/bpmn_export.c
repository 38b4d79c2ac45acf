/*
 * bpmn_export.c - a scenario written as a BPMN 2.0 process with its
 * diagram: one element per step, one sequence flow per target, each
 * step's JSON in its extension elements, and a layered layout (a column
 * per breadth-first depth from the start, the steps of a column in the
 * content's order).
 */
#include "bpmn/scenario_bpmn.h"
#include "bpmn_priv.h"

#include <agenthost/plugin.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COL_W 200 /* layout: column pitch */
#define ROW_H 130 /* row pitch */
#define LEFT 160  /* the first step column's centre */
#define TOP 120   /* the first row's centre */

typedef struct node {
    const char *step_id;
    const json_t *step;
    char el[80]; /* its element id */
    const char *type;
    int col, row;
    int w, h;
} node;

typedef struct writer {
    xmlDocPtr doc;
    xmlNsPtr bpmn, bpmndi, dc, di, xsi, ah;
    xmlNodePtr process, plane;
    node *nodes; /* [0] is the start event */
    size_t n;
    json_t *index; /* step id -> node index */
    unsigned flows;
    int bottom; /* the lowest shape's bottom edge */
    bool oom;
} writer;

/* s with what XML 1.0 cannot hold (control characters but tab and line
 * breaks, U+FFFE, U+FFFF) as U+FFFD: malloc'd, NULL when out of memory.
 * Names, conditions and the like only: the exact text is in ah:step. */
static char *xml_safe(const char *s)
{
    size_t n = strlen(s);
    char *o = malloc(n + 1), *w = o;
    for (const unsigned char *p = (const unsigned char *)s; o && *p; p++) {
        if ((*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r') ||
            (p[0] == 0xEF && p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF))) {
            size_t skip = *p < 0x20 ? 0 : 2;
            if (skip) { /* three bytes for three: U+FFFD */
                memcpy(w, "\xEF\xBF\xBD", 3);
                w += 3;
            } else {
                *w++ = ' ';
            }
            p += skip;
            continue;
        }
        *w++ = (char)*p;
    }
    if (o) *w = 0;
    return o;
}

static xmlNodePtr el(writer *w, xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *text)
{
    char *t = text ? xml_safe(text) : NULL;
    xmlNodePtr e = text ? (t ? xmlNewTextChild(parent, ns, BAD_CAST name, BAD_CAST t) : NULL)
                        : xmlNewChild(parent, ns, BAD_CAST name, NULL);
    free(t);
    if (!e) w->oom = true;
    return e;
}

static void attr_ns(writer *w, xmlNodePtr e, xmlNsPtr ns, const char *name, const char *value)
{
    char *v = e ? xml_safe(value) : NULL;
    if (e && (!v || !(ns ? xmlNewNsProp(e, ns, BAD_CAST name, BAD_CAST v)
                         : xmlNewProp(e, BAD_CAST name, BAD_CAST v))))
        w->oom = true;
    free(v);
}

static void attr(writer *w, xmlNodePtr e, const char *name, const char *value)
{
    attr_ns(w, e, NULL, name, value);
}

static void attr_int(writer *w, xmlNodePtr e, const char *name, long v)
{
    char b[24];
    snprintf(b, sizeof(b), "%ld", v);
    attr(w, e, name, b);
}

/* An element id: the step id itself (step ids are NCNames and never start
 * with a capital, as every id of ours does), else Step_N. */
static void element_id(node *nd, size_t i)
{
    const char *s = nd->step_id;
    bool ok = *s >= 'a' && *s <= 'z' && strlen(s) < sizeof(nd->el);
    for (const char *p = s; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
    if (ok)
        snprintf(nd->el, sizeof(nd->el), "%s", s);
    else
        snprintf(nd->el, sizeof(nd->el), "Step_%zu", i);
}

/* ---- names: what a modeller shows on the shape ----------------------------------- */

static const char *text_of(const json_t *text, const char *lang)
{
    if (json_is_string(text)) return json_string_value(text);
    const char *s = json_string_value(json_object_get(text, lang ? lang : ""));
    if (s) return s;
    void *it = json_object_iter((json_t *)text);
    return it ? json_string_value(json_object_iter_value(it)) : NULL;
}

/* At most 60 characters, whole ones (the text is UTF-8: jansson's); control
 * characters as blanks. */
static void set_name(writer *w, xmlNodePtr e, const char *s)
{
    if (!s || !*s) return;
    char b[300];
    size_t o = 0, chars = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t clen = *p < 0x80 ? 1 : *p < 0xE0 ? 2 : *p < 0xF0 ? 3 : 4;
        if (chars == 60) {
            memcpy(b + o, "\xE2\x80\xA6", 3); /* … */
            o += 3;
            break;
        }
        size_t k = 0;
        for (; k < clen && p[k]; k++)
            b[o++] = p[k] < 0x20 ? ' ' : (char)p[k];
        p += k;
        chars++;
    }
    b[o] = 0;
    attr(w, e, "name", b);
}

static const char *name_of(const node *nd, const char *lang, char *buf, size_t len)
{
    const json_t *s = nd->step;
    const char *kind = json_string_value(json_object_get(s, "kind"));
    const char *t = text_of(json_object_get(s, "text"), lang);
    if (!kind) return nd->step_id;
    if (!strcmp(kind, "end")) {
        const char *o = json_string_value(json_object_get(s, "outcome"));
        return o ? o : t;
    }
    if (t) return t;
    if (!strcmp(kind, "call_agent") || !strcmp(kind, "trigger")) {
        const char *a = json_string_value(json_object_get(s, "agent"));
        const char *e = json_string_value(json_object_get(s, "event"));
        return a ? a : e;
    }
    if (!strcmp(kind, "http.request")) {
        snprintf(buf, len, "%s %s", json_string_value(json_object_get(s, "method")) ?: "GET",
                 json_string_value(json_object_get(s, "url")) ?: "");
        return buf;
    }
    if (!strcmp(kind, "wait")) {
        json_t *d = json_object_get(s, "duration_ms");
        if (json_is_integer(d))
            snprintf(buf, len, "wait %lld ms", (long long)json_integer_value(d));
        else
            snprintf(buf, len, "wait for %s", json_string_value(json_object_get(s, "for")) ?: "?");
        return buf;
    }
    if (!strcmp(kind, "switch") || !strcmp(kind, "goto") || !strcmp(kind, "set"))
        return nd->step_id;
    return kind;
}

/* ---- the process ------------------------------------------------------------------ */

static void ms_duration(json_int_t ms, char *b, size_t len)
{
    if (ms % 1000)
        snprintf(b, len, "PT%lld.%03lldS", (long long)(ms / 1000), (long long)(ms % 1000));
    else
        snprintf(b, len, "PT%lldS", (long long)(ms / 1000));
}

/* The event definition of a wait, a goto or a trigger. */
static void event_definition(writer *w, xmlNodePtr e, const json_t *step, const char *kind)
{
    if (!strcmp(kind, "trigger")) {
        el(w, e, w->bpmn, "signalEventDefinition", NULL);
        return;
    }
    if (strcmp(kind, "wait")) return;
    const char *f = json_string_value(json_object_get(step, "for"));
    if (f && !strcmp(f, "input")) {
        el(w, e, w->bpmn, "messageEventDefinition", NULL);
        return;
    }
    xmlNodePtr t = el(w, e, w->bpmn, "timerEventDefinition", NULL);
    const json_t *d = json_object_get(step, "duration_ms");
    const char *until = json_string_value(json_object_get(step, "until"));
    char b[48];
    xmlNodePtr x = NULL;
    if (json_is_integer(d)) {
        ms_duration(json_integer_value(d), b, sizeof(b));
        x = el(w, t, w->bpmn, "timeDuration", b);
    } else if (until) {
        x = el(w, t, w->bpmn, "timeDate", until);
        attr(w, x, "language", "jq");
    }
    attr_ns(w, x, w->xsi, "type", "bpmn:tFormalExpression");
}

static void extension(writer *w, xmlNodePtr e, const char *name, const char *id, const json_t *v)
{
    char *j = bpmn_json_text(v);
    if (!j) {
        w->oom = true;
        return;
    }
    xmlNodePtr ext = el(w, e, w->bpmn, "extensionElements", NULL);
    xmlNodePtr x = ext ? el(w, ext, w->ah, name, j) : NULL;
    if (id) attr(w, x, "id", id);
    free(j);
}

static xmlNodePtr step_element(writer *w, node *nd, const char *lang)
{
    const char *kind = json_string_value(json_object_get(nd->step, "kind"));
    xmlNodePtr e = el(w, w->process, w->bpmn, nd->type, NULL);
    char buf[300];
    attr(w, e, "id", nd->el);
    set_name(w, e, name_of(nd, lang, buf, sizeof(buf)));
    extension(w, e, "step", nd->step_id, nd->step);
    if (!kind || !e) return e;
    if (!strcmp(nd->type, "exclusiveGateway")) return e;
    if (!strcmp(kind, "call_agent")) {
        const char *a = json_string_value(json_object_get(nd->step, "agent"));
        if (a) attr(w, e, "calledElement", a);
    } else if (!strcmp(kind, "set")) {
        attr(w, e, "scriptFormat", "jq");
    } else if (!strcmp(nd->type, "serviceTask")) {
        attr(w, e, "implementation", kind);
    }
    event_definition(w, e, nd->step, kind);
    return e;
}

static xmlNodePtr flow(writer *w, const node *from, const node *to, const char *field, char *id,
                       size_t idlen)
{
    snprintf(id, idlen, "Flow_%u", ++w->flows);
    xmlNodePtr f = el(w, w->process, w->bpmn, "sequenceFlow", NULL);
    attr(w, f, "id", id);
    attr(w, f, "sourceRef", from->el);
    attr(w, f, "targetRef", to->el);
    attr_ns(w, f, w->ah, "field", field);
    return f;
}

/* ---- the diagram ------------------------------------------------------------------- */

static int cx(const node *n)
{
    return LEFT + n->col * COL_W;
}

static int cy(const node *n)
{
    return TOP + n->row * ROW_H;
}

static void shape(writer *w, const node *n)
{
    xmlNodePtr s = el(w, w->plane, w->bpmndi, "BPMNShape", NULL);
    char id[100];
    snprintf(id, sizeof(id), "%s_di", n->el);
    attr(w, s, "id", id);
    attr(w, s, "bpmnElement", n->el);
    if (!strcmp(n->type, "exclusiveGateway")) attr(w, s, "isMarkerVisible", "true");
    xmlNodePtr b = s ? el(w, s, w->dc, "Bounds", NULL) : NULL;
    attr_int(w, b, "x", cx(n) - n->w / 2);
    attr_int(w, b, "y", cy(n) - n->h / 2);
    attr_int(w, b, "width", n->w);
    attr_int(w, b, "height", n->h);
}

static void waypoint(writer *w, xmlNodePtr e, int x, int y)
{
    xmlNodePtr p = e ? el(w, e, w->di, "waypoint", NULL) : NULL;
    attr_int(w, p, "x", x);
    attr_int(w, p, "y", y);
}

/* Forward: out of the right side, an elbow between the columns, into the
 * left side. Back or within a column: under every shape. */
static void edge(writer *w, const char *flow_id, const node *a, const node *b)
{
    xmlNodePtr e = el(w, w->plane, w->bpmndi, "BPMNEdge", NULL);
    char id[100];
    snprintf(id, sizeof(id), "%s_di", flow_id);
    attr(w, e, "id", id);
    attr(w, e, "bpmnElement", flow_id);
    if (b->col > a->col) {
        int x0 = cx(a) + a->w / 2, x1 = cx(b) - b->w / 2, mid = x1 - 25;
        waypoint(w, e, x0, cy(a));
        if (cy(a) != cy(b)) {
            waypoint(w, e, mid, cy(a));
            waypoint(w, e, mid, cy(b));
        }
        waypoint(w, e, x1, cy(b));
        return;
    }
    int below = w->bottom + 30 + (int)(w->flows % 8) * 8;
    waypoint(w, e, cx(a), cy(a) + a->h / 2);
    waypoint(w, e, cx(a), below);
    waypoint(w, e, cx(b), below);
    waypoint(w, e, cx(b), cy(b) + b->h / 2);
}

/* Columns by breadth-first depth from the start event; steps no path
 * reaches go in one more column after the last. */
static void layout(writer *w, const char *start)
{
    size_t *queue = malloc(w->n * sizeof(*queue)), head = 0, tail = 0;
    int *rows = calloc(w->n + 2, sizeof(*rows));
    if (!queue || !rows) {
        w->oom = true;
        free(queue);
        free(rows);
        return;
    }
    for (size_t i = 0; i < w->n; i++)
        w->nodes[i].col = -1;
    w->nodes[0].col = 0;
    queue[tail++] = 0;
    json_t *first = start ? json_object_get(w->index, start) : NULL;
    int maxcol = 0;
    while (head < tail) {
        node *nd = &w->nodes[queue[head++]];
        bpmn_target t[BPMN_MAX_TARGETS];
        size_t nt = 0;
        if (nd == &w->nodes[0]) {
            if (first) t[nt++].to = start;
        } else {
            nt = bpmn_step_targets(nd->step, t, BPMN_MAX_TARGETS);
        }
        for (size_t k = 0; k < nt; k++) {
            json_t *ix = json_object_get(w->index, t[k].to);
            if (!ix || w->nodes[json_integer_value(ix)].col >= 0) continue;
            node *to = &w->nodes[json_integer_value(ix)];
            to->col = nd->col + 1;
            if (to->col > maxcol) maxcol = to->col;
            queue[tail++] = (size_t)json_integer_value(ix);
        }
    }
    for (size_t i = 0; i < w->n; i++) {
        node *nd = &w->nodes[i];
        if (nd->col < 0) nd->col = maxcol + 1;
        nd->row = rows[nd->col]++;
        if (cy(nd) + nd->h / 2 > w->bottom) w->bottom = cy(nd) + nd->h / 2;
    }
    free(queue);
    free(rows);
}

/* ---- the document ------------------------------------------------------------------ */

static void size_of(node *n)
{
    bool event = strstr(n->type, "Event") != NULL;
    bool gateway = strstr(n->type, "Gateway") != NULL;
    n->w = event ? 36 : gateway ? 50 : 100;
    n->h = event ? 36 : gateway ? 50 : 80;
}

static int collect(writer *w, const json_t *steps)
{
    w->n = json_object_size(steps) + 1;
    w->nodes = calloc(w->n, sizeof(*w->nodes));
    w->index = json_object();
    if (!w->nodes || !w->index) return AH_ENOMEM;
    node *s = &w->nodes[0];
    snprintf(s->el, sizeof(s->el), "StartEvent_1");
    s->type = "startEvent";
    size_of(s);
    size_t i = 1;
    const char *id;
    json_t *step;
    json_object_foreach((json_t *)steps, id, step)
    {
        node *nd = &w->nodes[i];
        nd->step_id = id;
        nd->step = step;
        nd->type = bpmn_element_of(json_string_value(json_object_get(step, "kind")));
        element_id(nd, i);
        size_of(nd);
        if (json_object_set_new(w->index, id, json_integer((json_int_t)i))) return AH_ENOMEM;
        i++;
    }
    return 0;
}

static void process_body(writer *w, const json_t *content)
{
    json_t *top = json_copy((json_t *)content);
    if (!top || json_object_set_new(top, "steps", json_null())) w->oom = true;
    extension(w, w->process, "scenario", NULL, top);
    json_decref(top);
    const char *lang = json_string_value(json_object_get(content, "default_language"));
    const char *start = json_string_value(json_object_get(content, "start"));
    xmlNodePtr se = el(w, w->process, w->bpmn, "startEvent", NULL);
    attr(w, se, "id", w->nodes[0].el);
    xmlNodePtr *els = calloc(w->n, sizeof(*els));
    if (!els) {
        w->oom = true;
        return;
    }
    for (size_t i = 1; i < w->n; i++)
        els[i] = step_element(w, &w->nodes[i], lang);
    layout(w, start);
    for (size_t i = 0; i < w->n; i++)
        shape(w, &w->nodes[i]);
    char id[40];
    json_t *first = start ? json_object_get(w->index, start) : NULL;
    if (first) {
        node *to = &w->nodes[json_integer_value(first)];
        flow(w, &w->nodes[0], to, "start", id, sizeof(id));
        edge(w, id, &w->nodes[0], to);
    }
    for (size_t i = 1; i < w->n; i++) {
        bpmn_target t[BPMN_MAX_TARGETS];
        size_t nt = bpmn_step_targets(w->nodes[i].step, t, BPMN_MAX_TARGETS);
        for (size_t k = 0; k < nt; k++) {
            json_t *ix = json_object_get(w->index, t[k].to);
            if (!ix) continue;
            node *to = &w->nodes[json_integer_value(ix)];
            xmlNodePtr f = flow(w, &w->nodes[i], to, t[k].field, id, sizeof(id));
            edge(w, id, &w->nodes[i], to);
            const json_t *item = NULL;
            if (!strncmp(t[k].field, "cases[", 6))
                item = json_array_get(json_object_get(w->nodes[i].step, "cases"),
                                      strtoul(t[k].field + 6, NULL, 10));
            else if (!strncmp(t[k].field, "options[", 8))
                item = json_array_get(json_object_get(w->nodes[i].step, "options"),
                                      strtoul(t[k].field + 8, NULL, 10));
            if (item && json_is_string(json_object_get(item, "if"))) {
                const char *cond = json_string_value(json_object_get(item, "if"));
                set_name(w, f, cond);
                xmlNodePtr c = f ? el(w, f, w->bpmn, "conditionExpression", cond) : NULL;
                attr_ns(w, c, w->xsi, "type", "bpmn:tFormalExpression");
                attr(w, c, "language", "jq");
            } else if (item) {
                set_name(w, f, text_of(json_object_get(item, "label"), lang));
            } else if (strcmp(t[k].field, "next")) {
                set_name(w, f, t[k].field);
            }
            if (!strcmp(t[k].field, "default") && !strcmp(w->nodes[i].type, "exclusiveGateway"))
                attr(w, els[i], "default", id);
        }
    }
    free(els);
}

int scenario_bpmn_export(const json_t *content, char **out, size_t *len)
{
    const json_t *steps = json_object_get(content, "steps");
    if (!json_is_object(content) || !json_is_object(steps) || !out || !len) return AH_EINVAL;
    xmlInitParser();
    writer w = {0};
    int rc = collect(&w, steps);
    xmlNodePtr defs = NULL;
    if (!rc && (w.doc = xmlNewDoc(BAD_CAST "1.0")) &&
        (defs = xmlNewNode(NULL, BAD_CAST "definitions"))) {
        xmlDocSetRootElement(w.doc, defs);
        w.bpmn = xmlNewNs(defs, BAD_CAST NS_BPMN, BAD_CAST "bpmn");
        w.bpmndi = xmlNewNs(defs, BAD_CAST NS_BPMNDI, BAD_CAST "bpmndi");
        w.dc = xmlNewNs(defs, BAD_CAST NS_DC, BAD_CAST "dc");
        w.di = xmlNewNs(defs, BAD_CAST NS_DI, BAD_CAST "di");
        w.xsi = xmlNewNs(defs, BAD_CAST NS_XSI, BAD_CAST "xsi");
        w.ah = xmlNewNs(defs, BAD_CAST SCENARIO_BPMN_NS, BAD_CAST "ah");
        if (!w.bpmn || !w.bpmndi || !w.dc || !w.di || !w.xsi || !w.ah) w.oom = true;
        xmlSetNs(defs, w.bpmn);
        attr(&w, defs, "id", "Definitions_1");
        attr(&w, defs, "targetNamespace", "urn:agenthost:scenario");
        attr(&w, defs, "exporter", "agenthost");
        attr(&w, defs, "exporterVersion", AH_VERSION);
        w.process = el(&w, defs, w.bpmn, "process", NULL);
        attr(&w, w.process, "id", "Process_1");
        attr(&w, w.process, "isExecutable", "false");
        xmlNodePtr dia = el(&w, defs, w.bpmndi, "BPMNDiagram", NULL);
        attr(&w, dia, "id", "BPMNDiagram_1");
        w.plane = dia ? el(&w, dia, w.bpmndi, "BPMNPlane", NULL) : NULL;
        attr(&w, w.plane, "id", "BPMNPlane_1");
        attr(&w, w.plane, "bpmnElement", "Process_1");
        if (w.process && w.plane) process_body(&w, content);
    } else if (!rc) {
        rc = AH_ENOMEM;
    }
    xmlChar *mem = NULL;
    int size = 0;
    if (!rc && !w.oom) xmlDocDumpFormatMemoryEnc(w.doc, &mem, &size, "UTF-8", 1);
    if (!rc && (w.oom || !mem || !(*out = malloc((size_t)size + 1)))) rc = AH_ENOMEM;
    if (!rc) {
        memcpy(*out, mem, (size_t)size);
        (*out)[size] = 0;
        *len = (size_t)size;
    }
    xmlFree(mem);
    if (w.doc) xmlFreeDoc(w.doc);
    json_decref(w.index);
    free(w.nodes);
    return rc;
}
