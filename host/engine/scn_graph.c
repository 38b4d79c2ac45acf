/*
 * scn_graph.c - a scenario's steps as a graph: every target names a step,
 * start does, every step can be reached from start, and no loop runs
 * without waiting for input.
 *
 * An edge is any way one step leads to another (next, on_error,
 * on_invalid, on_timeout, default, an option's or a case's next). A loop
 * that never waits is a cycle among the steps that do not wait (a step
 * that waits ends the turn: what follows it runs on the next message), so
 * it is found as a strongly connected component (Tarjan's, without
 * recursion) of the graph without the waiting steps: two steps or more,
 * or one leading to itself.
 */
#include "engine/scn_priv.h"

#include <agenthost/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE ((size_t)-1)

typedef struct graph {
    size_t n;
    const char **ids;
    const json_t **steps;
    bool *waits;
    size_t *first, *count; /* each node's edges: to[first .. first + count) */
    size_t *to;
    size_t nedges, cap;
    json_t *index; /* id -> node */
} graph;

static size_t node_of(const graph *g, const char *id)
{
    const json_t *v = json_object_get(g->index, id);
    return v ? (size_t)json_integer_value(v) : NONE;
}

static int add_edge(graph *g, size_t to)
{
    if (g->nedges == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 64;
        size_t *p = realloc(g->to, cap * sizeof(*p));
        if (!p) return AH_ENOMEM;
        g->to = p;
        g->cap = cap;
    }
    g->to[g->nedges++] = to;
    return 0;
}

/* A target at path: an edge when it names a step, else an error. */
static void target(scn_check *c, graph *g, const json_t *v, const char *path)
{
    const char *id = json_string_value(v);
    if (!id) return; /* the schema's */
    size_t to = node_of(g, id);
    if (to == NONE) {
        char q[80];
        scn_quote(q, sizeof(q), id);
        scn_error(c, path, "no step %s", q);
        return;
    }
    if (add_edge(g, to)) c->rc = AH_ENOMEM;
}

static void list_targets(scn_check *c, graph *g, const json_t *step, const char *path,
                         const char *list)
{
    char sub[SCN_PATH_MAX], item[SCN_PATH_MAX], leaf[SCN_PATH_MAX];
    scn_path_key(sub, path, list);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(step, list), i, e)
    {
        scn_path_index(item, sub, i);
        scn_path_key(leaf, item, "next");
        target(c, g, json_object_get(e, "next"), leaf);
    }
}

static void step_edges(scn_check *c, graph *g, size_t v)
{
    static const char *const fields[] = {"next",       "on_error", "on_invalid",
                                         "on_timeout", "default",  NULL};
    char path[SCN_PATH_MAX], sub[SCN_PATH_MAX];
    scn_path_key(path, "steps", g->ids[v]);
    g->first[v] = g->nedges;
    for (size_t i = 0; fields[i]; i++) {
        scn_path_key(sub, path, fields[i]);
        target(c, g, json_object_get(g->steps[v], fields[i]), sub);
    }
    list_targets(c, g, g->steps[v], path, "options");
    list_targets(c, g, g->steps[v], path, "cases");
    g->count[v] = g->nedges - g->first[v];
}

static void check_reachable(scn_check *c, graph *g, size_t start)
{
    bool *seen = calloc(g->n, sizeof(*seen));
    size_t *queue = malloc(g->n * sizeof(*queue));
    if (!seen || !queue) {
        c->rc = AH_ENOMEM;
        goto out;
    }
    size_t head = 0, tail = 0;
    seen[start] = true;
    queue[tail++] = start;
    while (head < tail) {
        size_t v = queue[head++];
        for (size_t e = g->first[v]; e < g->first[v] + g->count[v]; e++) {
            if (seen[g->to[e]]) continue;
            seen[g->to[e]] = true;
            queue[tail++] = g->to[e];
        }
    }
    char path[SCN_PATH_MAX];
    for (size_t v = 0; v < g->n; v++) {
        if (seen[v]) continue;
        scn_path_key(path, "steps", g->ids[v]);
        scn_error(c, path, "unreachable: no step leads here from start (\"%s\")", g->ids[start]);
    }
out:
    free(seen);
    free(queue);
}

/* ---- loops that never wait ------------------------------------------------------------- */

typedef struct tarjan {
    size_t *index, *low, *stack, *call, *pos;
    bool *on;
    size_t counter, sp, cp;
} tarjan;

static void report_loop(scn_check *c, const graph *g, const tarjan *t, size_t from)
{
    /* Its members, in the content's order. */
    size_t first = NONE, n = 0;
    char names[300] = "";
    size_t used = 0;
    for (size_t v = 0; v < g->n; v++) {
        bool member = false;
        for (size_t i = from; i < t->sp; i++)
            if (t->stack[i] == v) member = true;
        if (!member) continue;
        if (first == NONE) first = v;
        int w = snprintf(names + used, sizeof(names) - used, "%s%s", n ? ", " : "", g->ids[v]);
        if (w > 0 && (size_t)w < sizeof(names) - used) used += (size_t)w;
        n++;
    }
    char path[SCN_PATH_MAX];
    scn_path_key(path, "steps", g->ids[first]);
    scn_error_loop(
        c, path,
        "a loop in which no step waits for input (%s): it would run until the turn's step "
        "limit; make one of them ask, choice, handoff or wait for input",
        names);
}

static bool self_loop(const graph *g, size_t v)
{
    for (size_t e = g->first[v]; e < g->first[v] + g->count[v]; e++)
        if (g->to[e] == v) return true;
    return false;
}

static void visit(scn_check *c, const graph *g, tarjan *t, size_t root)
{
    t->call[t->cp] = root;
    t->pos[t->cp++] = g->first[root];
    t->index[root] = t->low[root] = t->counter++;
    t->stack[t->sp++] = root;
    t->on[root] = true;
    while (t->cp) {
        size_t v = t->call[t->cp - 1];
        size_t *e = &t->pos[t->cp - 1];
        if (*e < g->first[v] + g->count[v]) {
            size_t w = g->to[(*e)++];
            if (g->waits[w]) continue;
            if (t->index[w] == NONE) {
                t->index[w] = t->low[w] = t->counter++;
                t->stack[t->sp++] = w;
                t->on[w] = true;
                t->call[t->cp] = w;
                t->pos[t->cp++] = g->first[w];
            } else if (t->on[w] && t->index[w] < t->low[v]) {
                t->low[v] = t->index[w];
            }
            continue;
        }
        if (t->low[v] == t->index[v]) {
            size_t from = t->sp;
            do
                from--;
            while (t->stack[from] != v);
            if (t->sp - from > 1 || self_loop(g, v)) report_loop(c, g, t, from);
            for (size_t i = from; i < t->sp; i++)
                t->on[t->stack[i]] = false;
            t->sp = from;
        }
        t->cp--;
        if (t->cp) {
            size_t u = t->call[t->cp - 1];
            if (t->low[v] < t->low[u]) t->low[u] = t->low[v];
        }
    }
}

static void check_loops(scn_check *c, const graph *g)
{
    tarjan t = {0};
    t.index = malloc(g->n * sizeof(size_t));
    t.low = malloc(g->n * sizeof(size_t));
    t.stack = malloc(g->n * sizeof(size_t));
    t.call = malloc(g->n * sizeof(size_t));
    t.pos = malloc(g->n * sizeof(size_t));
    t.on = calloc(g->n, sizeof(bool));
    if (!t.index || !t.low || !t.stack || !t.call || !t.pos || !t.on) {
        c->rc = AH_ENOMEM;
        goto out;
    }
    for (size_t v = 0; v < g->n; v++)
        t.index[v] = NONE;
    for (size_t v = 0; v < g->n; v++)
        if (!g->waits[v] && t.index[v] == NONE) visit(c, g, &t, v);
out:
    free(t.index);
    free(t.low);
    free(t.stack);
    free(t.call);
    free(t.pos);
    free(t.on);
}

/* ---- the whole ------------------------------------------------------------------------- */

static void graph_free(graph *g)
{
    free(g->ids);
    free(g->steps);
    free(g->waits);
    free(g->first);
    free(g->count);
    free(g->to);
    json_decref(g->index);
}

void scn_check_graph(scn_check *c)
{
    const json_t *steps = json_object_get(c->content, "steps");
    graph g = {.n = json_object_size(steps)};
    if (g.n == 0 || g.n > SCENARIO_MAX_STEPS) return; /* said already */
    g.ids = calloc(g.n, sizeof(*g.ids));
    g.steps = calloc(g.n, sizeof(*g.steps));
    g.waits = calloc(g.n, sizeof(*g.waits));
    g.first = calloc(g.n, sizeof(*g.first));
    g.count = calloc(g.n, sizeof(*g.count));
    g.index = json_object();
    if (!g.ids || !g.steps || !g.waits || !g.first || !g.count || !g.index) {
        c->rc = AH_ENOMEM;
        goto out;
    }
    size_t v = 0;
    const char *id;
    json_t *step;
    json_object_foreach((json_t *)steps, id, step)
    {
        g.ids[v] = id;
        g.steps[v] = step;
        g.waits[v] = scn_step_waits(step);
        if (json_object_set_new(g.index, id, json_integer((json_int_t)v)) != 0) {
            c->rc = AH_ENOMEM;
            goto out;
        }
        v++;
    }
    for (v = 0; v < g.n && !c->rc; v++)
        step_edges(c, &g, v);
    const json_t *start = json_object_get(c->content, "start");
    size_t s = json_is_string(start) ? node_of(&g, json_string_value(start)) : NONE;
    if (json_is_string(start) && s == NONE) {
        char q[80];
        scn_quote(q, sizeof(q), json_string_value(start));
        scn_error(c, "start", "no step %s", q);
    }
    if (!c->rc && s != NONE) check_reachable(c, &g, s);
    if (!c->rc) check_loops(c, &g);
out:
    graph_free(&g);
}
