/*
 * bpmn_foreign.c - elements drawn in another modeller (no ah:step) mapped
 * to steps where a conversation can do what they say, and named with why
 * where it cannot.
 */
#include "bpmn_read.h"

#include <libxml/parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const tasks[] = {"task",       "userTask",    "manualTask",       "sendTask",
                                    "scriptTask", "serviceTask", "businessRuleTask", NULL};

static bool one_of(const char *s, const char *const *set)
{
    for (size_t i = 0; set[i]; i++)
        if (!strcmp(s, set[i])) return true;
    return false;
}

/* The element's name, trimmed (xmlFree), or NULL when it has none. */
static char *name_of(xmlNodePtr x)
{
    char *n = (char *)xmlGetNoNsProp(x, BAD_CAST "name");
    if (!n) return NULL;
    size_t a = strspn(n, " \t\r\n"), len = strlen(n);
    while (len > a && strchr(" \t\r\n", n[len - 1]))
        len--;
    memmove(n, n + a, len - a);
    n[len - a] = 0;
    if (*n) return n;
    xmlFree(n);
    return NULL;
}

/* The one event definition of an event: its local name, or "" (none), or
 * NULL when there are several. */
static const char *definition_of(xmlNodePtr x, xmlNodePtr *def)
{
    const char *found = "";
    *def = NULL;
    for (xmlNodePtr c = x->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || !strstr((const char *)c->name, "EventDefinition"))
            continue;
        if (*def) return NULL;
        *def = c;
        found = (const char *)c->name;
    }
    return found;
}

/* An ISO 8601 duration (PnDTnHnMnS, weeks too; no years or months, whose
 * length varies) in milliseconds; -1 when it is not one. */
static long long iso_duration_ms(const char *s)
{
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
        s++;
    if (*s++ != 'P') return -1;
    bool time = false, any = false;
    long long ms = 0;
    while (*s && !strchr(" \t\r\n", *s)) {
        if (*s == 'T' && !time) {
            time = true;
            s++;
            continue;
        }
        char *end;
        double v = strtod(s, &end);
        if (end == s || v < 0 || v > 1e9 || *s == '+' || *s == '-') return -1;
        double unit = 0;
        switch (*end) {
        case 'W':
            unit = time ? 0 : 7 * 86400e3;
            break;
        case 'D':
            unit = time ? 0 : 86400e3;
            break;
        case 'H':
            unit = time ? 3600e3 : 0;
            break;
        case 'M':
            unit = time ? 60e3 : 0;
            break;
        case 'S':
            unit = time ? 1e3 : 0;
            break;
        default:
            break;
        }
        if (!unit) return -1;
        ms += (long long)(v * unit + 0.5);
        any = true;
        s = end + 1;
    }
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
        s++;
    return any && !*s ? ms : -1;
}

/* ---- by element -------------------------------------------------------------------------- */

typedef struct outs {
    size_t n;
    long first; /* the first outgoing flow */
} outs;

static outs outgoing(const bpmn_reader *r, size_t i)
{
    outs o = {0, -1};
    for (size_t k = 0; k < r->nf; k++)
        if (r->flows[k].src == (long)i && r->flows[k].dst >= 0) {
            if (o.first < 0) o.first = (long)k;
            o.n++;
        }
    return o;
}

static const char *target_step(const bpmn_reader *r, const iflow *f)
{
    return f->dst >= 0 ? r->nodes[f->dst].step : NULL;
}

/* "next" from the one outgoing flow (none: the step ends the way). */
static bool one_next(bpmn_reader *r, size_t i, json_t *step)
{
    outs o = outgoing(r, i);
    if (o.n > 1) {
        bpmn_problem(r, r->nodes[i].x,
                     "%zu outgoing flows from a %s: a conversation goes on to one step at a "
                     "time (branch with an exclusive gateway)",
                     o.n, r->nodes[i].type);
        return false;
    }
    const char *to = o.n ? target_step(r, &r->flows[o.first]) : NULL;
    if (to && to[0] && json_object_set_new(step, "next", json_string(to))) r->oom = true;
    return true;
}

static json_t *gateway_switch(bpmn_reader *r, size_t i, const char *deflt)
{
    json_t *cases = json_array(), *step = json_pack("{s:s,s:o}", "kind", "switch", "cases", cases);
    for (size_t k = 0; step && k < r->nf; k++) {
        iflow *f = &r->flows[k];
        if (f->src != (long)i || f->dst < 0) continue;
        if (deflt && f->id && !strcmp(f->id, deflt)) {
            json_object_set_new(step, "default", json_string(target_step(r, f)));
            continue;
        }
        json_array_append_new(cases,
                              json_pack("{s:s,s:s}", "if", f->cond, "next", target_step(r, f)));
    }
    if (!step) r->oom = true;
    return step;
}

/* A gateway whose flows have no conditions: the person chooses, each flow
 * an option labelled with its name (or its target's). */
static json_t *gateway_choice(bpmn_reader *r, size_t i)
{
    char *q = name_of(r->nodes[i].x);
    json_t *options = json_array();
    json_t *step = json_pack("{s:s,s:s,s:o}", "kind", "choice", "text", q ? q : r->nodes[i].id,
                             "options", options);
    xmlFree(q);
    for (size_t k = 0; step && k < r->nf; k++) {
        iflow *f = &r->flows[k];
        if (f->src != (long)i || f->dst < 0) continue;
        char oid[68];
        bpmn_step_id(r, f->id && *f->id ? f->id : "option", oid, sizeof(oid));
        char *label = f->name ? NULL : name_of(r->nodes[f->dst].x);
        const char *l = f->name && *f->name ? f->name : label ? label : target_step(r, f);
        json_array_append_new(
            options, json_pack("{s:s,s:s,s:s}", "id", oid, "label", l, "next", target_step(r, f)));
        xmlFree(label);
    }
    if (!step) r->oom = true;
    return step;
}

static json_t *exclusive_gateway(bpmn_reader *r, size_t i)
{
    outs o = outgoing(r, i);
    if (o.n == 0) {
        bpmn_problem(r, r->nodes[i].x, "a gateway with no outgoing flow");
        return NULL;
    }
    if (o.n == 1)
        return json_pack("{s:s,s:s}", "kind", "goto", "next", target_step(r, &r->flows[o.first]));
    char *deflt = (char *)xmlGetNoNsProp(r->nodes[i].x, BAD_CAST "default");
    size_t with = 0, without = 0;
    for (size_t k = 0; k < r->nf; k++) {
        iflow *f = &r->flows[k];
        if (f->src != (long)i || f->dst < 0 || (deflt && f->id && !strcmp(f->id, deflt))) continue;
        f->cond ? with++ : without++;
    }
    json_t *step = NULL;
    if (with && !without)
        step = gateway_switch(r, i, deflt);
    else if (!with)
        step = gateway_choice(r, i);
    else
        bpmn_problem(r, r->nodes[i].x,
                     "%zu of its outgoing flows have conditions and %zu not: give each a "
                     "condition (a switch; a default flow may have none) or none (a choice)",
                     with, without);
    xmlFree(deflt);
    return step;
}

static json_t *catch_event(bpmn_reader *r, size_t i)
{
    xmlNodePtr def;
    const char *d = definition_of(r->nodes[i].x, &def);
    if (d && !strcmp(d, "messageEventDefinition"))
        return json_pack("{s:s,s:s}", "kind", "wait", "for", "input");
    if (d && !strcmp(d, "timerEventDefinition")) {
        xmlNodePtr td = bpmn_child(def, "timeDuration");
        char *text = td ? (char *)xmlNodeGetContent(td) : NULL;
        long long ms = text ? iso_duration_ms(text) : -1;
        if (ms < 0)
            bpmn_problem(r, r->nodes[i].x,
                         "a timer %s%s%s: only a duration (timeDuration, ISO 8601 such as PT10M, "
                         "without years or months) becomes a wait",
                         text ? "of \"" : "without a duration", text ? text : "", text ? "\"" : "");
        xmlFree(text);
        return ms < 0 ? NULL
                      : json_pack("{s:s,s:s,s:I}", "kind", "wait", "for", "duration", "duration_ms",
                                  (json_int_t)ms);
    }
    bpmn_problem(r, r->nodes[i].x,
                 "a catch event with %s: only a timer (a wait for a time) or a message (a wait "
                 "for the person's next message) can be waited for",
                 !d   ? "several event definitions"
                 : *d ? d
                      : "no event definition");
    return NULL;
}

static json_t *end_event(bpmn_reader *r, size_t i)
{
    json_t *step = json_pack("{s:s}", "kind", "end");
    char *name = name_of(r->nodes[i].x);
    char out[65];
    size_t o = 0;
    bool alnum = false;
    for (const char *p = name ? name : ""; *p && o + 1 < sizeof(out); p++) {
        bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9');
        alnum |= ok;
        char ch = ok || *p == '.' || *p == '-' ? *p : '_';
        if (ch == '_' && o && out[o - 1] == '_') continue;
        out[o++] = ch;
    }
    while (o && out[o - 1] == '_')
        o--;
    out[o] = 0;
    if (step && alnum) json_object_set_new(step, "outcome", json_string(out));
    xmlFree(name);
    return step;
}

static const char *why_not(const char *type)
{
    if (!strcmp(type, "parallelGateway") || !strcmp(type, "inclusiveGateway") ||
        !strcmp(type, "complexGateway"))
        return "a conversation runs one step at a time: branches cannot run together";
    if (!strcmp(type, "eventBasedGateway"))
        return "a race between events: use a wait for input with timeout_ms and on_timeout";
    if (!strcmp(type, "subProcess") || !strcmp(type, "adHocSubProcess") ||
        !strcmp(type, "transaction"))
        return "a sub-process: draw its steps in the process, or make it a scenario of its "
               "own called with a call activity (call_agent)";
    if (!strcmp(type, "boundaryEvent"))
        return "a boundary event: use the step's on_error, or an ask's timeout_ms and on_timeout";
    if (!strcmp(type, "intermediateThrowEvent"))
        return "a throw event with a definition (signal, message, link, escalation, ...)";
    return "no step kind does what this element does";
}

void bpmn_map_foreign(bpmn_reader *r, size_t i)
{
    inode *nd = &r->nodes[i];
    if (nd->bad) return;
    const char *t = nd->type;
    json_t *step = NULL;
    bool with_next = true;
    xmlNodePtr def;
    if (one_of(t, tasks)) {
        char *name = name_of(nd->x);
        step = json_pack("{s:s,s:s}", "kind", "say", "text", name ? name : nd->id);
        xmlFree(name);
    } else if (!strcmp(t, "receiveTask")) {
        step = json_pack("{s:s,s:s}", "kind", "wait", "for", "input");
    } else if (!strcmp(t, "callActivity")) {
        char *called = (char *)xmlGetNoNsProp(nd->x, BAD_CAST "calledElement");
        if (called && *called)
            step = json_pack("{s:s,s:s}", "kind", "call_agent", "agent", called);
        else
            bpmn_problem(r, nd->x,
                         "a call activity without calledElement: name the agent it "
                         "calls");
        xmlFree(called);
    } else if (!strcmp(t, "exclusiveGateway")) {
        step = exclusive_gateway(r, i);
        with_next = false;
    } else if (!strcmp(t, "intermediateCatchEvent")) {
        step = catch_event(r, i);
    } else if (!strcmp(t, "intermediateThrowEvent") &&
               (definition_of(nd->x, &def) ?: "x")[0] == 0) {
        step = json_pack("{s:s}", "kind", "goto");
    } else if (!strcmp(t, "endEvent")) {
        step = end_event(r, i);
        with_next = false;
        if (outgoing(r, i).n) bpmn_problem(r, nd->x, "an end event with outgoing flows");
    } else {
        bpmn_problem(r, nd->x, "%s", why_not(t));
    }
    if (step && with_next && !one_next(r, i, step)) {
        json_decref(step);
        step = NULL;
    }
    if (step && !strcmp(json_string_value(json_object_get(step, "kind")), "goto") &&
        !json_object_get(step, "next")) {
        bpmn_problem(r, nd->x, "a none event that leads nowhere");
        json_decref(step);
        step = NULL;
    }
    if (nd->bad) {
        json_decref(step);
        step = NULL;
    }
    nd->json = step;
}
