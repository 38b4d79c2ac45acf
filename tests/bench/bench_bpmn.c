/*
 * bench_bpmn - scenarios as BPMN 2.0 (issue 13): the time to import the
 * largest diagram of tests/fixtures/bpmn (complex.bpmn, 169 KB, 9 pools:
 * read, mapped, refused with its problems), beside its floor, libxml2
 * parsing the same bytes into a tree (what the import cannot do without);
 * the largest diagram that imports (distribute-elements.bpmn), imported
 * and exported, beside the same floor;
 * and the time to export and import a scenario of SCENARIO_MAX_STEPS steps
 * (the largest a save takes) and the largest example, beside jansson
 * writing and reading the same content as JSON. Medians of rounds that
 * alternate the order of the systems. Every import's outcome is checked (a
 * wrong one is a failure); timing never is.
 *
 *   bench_bpmn --smoke | --full
 */
#include "bench.h"

#include "bpmn/scenario_bpmn.h"
#include "engine/scenario.h"

#include <agenthost/plugin.h>
#include <libxml/parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROUNDS 9

static char *slurp(const char *rel, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", BENCH_SOURCE_DIR, rel);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    if (b) b[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* SCENARIO_MAX_STEPS steps: asks, says, switches and an end, in a chain. */
static json_t *big_scenario(void)
{
    json_t *steps = json_object();
    for (int i = 0; i < SCENARIO_MAX_STEPS; i++) {
        char id[16], next[16];
        snprintf(id, sizeof(id), "s%d", i);
        snprintf(next, sizeof(next), "s%d", i + 1);
        json_t *s;
        if (i == SCENARIO_MAX_STEPS - 1)
            s = json_pack("{s:s,s:s}", "kind", "end", "outcome", "done");
        else if (i % 3 == 0)
            s = json_pack("{s:s,s:{s:s,s:s},s:s,s:s}", "kind", "ask", "text", "en",
                          "Question number one of many?", "ru", "Вопрос номер один из многих?",
                          "var", "answer", "next", next);
        else if (i % 3 == 1)
            s = json_pack("{s:s,s:[{s:s,s:s}],s:s}", "kind", "switch", "cases", "if",
                          ".vars.answer == \"yes\"", "next", next, "default", next);
        else
            s = json_pack("{s:s,s:{s:s,s:s},s:s}", "kind", "say", "text", "en",
                          "Thank you, {{ vars.answer }}!", "ru", "Спасибо, {{ vars.answer }}!",
                          "next", next);
        json_object_set_new(steps, id, s);
    }
    return json_pack("{s:s,s:s,s:[s,s],s:{s:{s:s}},s:s,s:o}", "format", SCENARIO_FORMAT,
                     "default_language", "en", "languages", "en", "ru", "variables", "answer",
                     "type", "string", "start", "s0", "steps", steps);
}

typedef struct job {
    bench *b;
    const char *xml; /* for imports */
    size_t len;
    const json_t *content; /* for exports */
    bool expect_ok;
} job;

typedef void (*op)(job *j);

static void op_import(job *j)
{
    json_t *v = NULL, *problems = json_array();
    char err[300];
    int rc = scenario_bpmn_import(j->xml, j->len, &v, problems, err, sizeof(err));
    if ((rc == 0) != j->expect_ok || (!j->expect_ok && !json_array_size(problems)))
        bench_fail(j->b, "import: %d %s", rc, err);
    json_decref(v);
    json_decref(problems);
}

static void op_xml_parse(job *j)
{
    xmlDocPtr d = xmlReadMemory(j->xml, (int)j->len, "x.bpmn", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!d) bench_fail(j->b, "libxml2 did not parse it");
    xmlFreeDoc(d);
}

static void op_export(job *j)
{
    char *x = NULL;
    size_t n;
    if (scenario_bpmn_export(j->content, &x, &n)) bench_fail(j->b, "export failed");
    free(x);
}

static void op_json_dump(job *j)
{
    char *s = json_dumps(j->content, JSON_COMPACT);
    if (!s) bench_fail(j->b, "json_dumps failed");
    free(s);
}

static void op_json_load(job *j)
{
    json_t *v = json_loads(j->xml, 0, NULL);
    if (!v) bench_fail(j->b, "json_loads failed");
    json_decref(v);
}

/* Milliseconds per call of each op, median over rounds (alternating order). */
static void measure(bench *b, job *jobs, op *ops, int nops, int rounds, long iters, double *ms)
{
    double v[4][MAX_ROUNDS];
    for (int r = 0; r < rounds && !b->failures; r++)
        for (int k = 0; k < nops; k++) {
            int which = r % 2 ? nops - 1 - k : k;
            uint64_t t0 = bench_now_ns();
            for (long i = 0; i < iters; i++)
                ops[which](&jobs[which]);
            v[which][r] = (double)(bench_now_ns() - t0) / 1e6 / (double)iters;
        }
    for (int k = 0; k < nops; k++)
        ms[k] = b->failures ? 0 : bench_median(v[k], rounds);
}

static void largest_diagram(bench *b, int rounds, long iters)
{
    size_t len;
    char *xml = slurp("tests/fixtures/bpmn/bpmn-js/complex.bpmn", &len);
    if (!xml) {
        bench_fail(b, "no tests/fixtures/bpmn/bpmn-js/complex.bpmn");
        return;
    }
    job jobs[2] = {{b, xml, len, NULL, false}, {b, xml, len, NULL, false}};
    op ops[2] = {op_import, op_xml_parse};
    double ms[2];
    measure(b, jobs, ops, 2, rounds, iters, ms);
    bench_section(b, "import", "BPMN import of the largest diagram (complex.bpmn, issue 13)");
    bench_row(b, "import", "scenario_bpmn_import complex.bpmn", ms[0], "ms",
              "%zu bytes: parsed, mapped, refused with its problems", len);
    bench_row(b, "import", "floor: libxml2 parse of the same bytes", ms[1], "ms", NULL);
    bench_row(b, "import", "import / parse floor", ms[0] / ms[1], "x", "median of %d rounds",
              rounds);
    free(xml);
}

/* The largest diagram that imports (distribute-elements.bpmn, drawn in
 * bpmn-js): imported, and what it imports as exported, beside the parse. */
static void largest_importable(bench *b, int rounds, long iters)
{
    size_t len;
    char *xml = slurp("tests/fixtures/bpmn/bpmn-js/distribute-elements.bpmn", &len);
    json_t *v = NULL, *problems = json_array();
    char err[300];
    if (!xml || scenario_bpmn_import(xml, len, &v, problems, err, sizeof(err))) {
        bench_fail(b, "distribute-elements.bpmn does not import: %s", xml ? err : "missing");
        free(xml);
        json_decref(problems);
        return;
    }
    job jobs[3] = {{b, xml, len, NULL, true}, {b, NULL, 0, v, true}, {b, xml, len, NULL, true}};
    op ops[3] = {op_import, op_export, op_xml_parse};
    double ms[3];
    measure(b, jobs, ops, 3, rounds, iters, ms);
    bench_section(b, "drawn",
                  "BPMN import and export of the largest diagram that imports "
                  "(distribute-elements.bpmn)");
    bench_row(b, "drawn", "scenario_bpmn_import", ms[0], "ms", "%zu bytes, %zu steps", len,
              json_object_size(json_object_get(v, "steps")));
    bench_row(b, "drawn", "scenario_bpmn_export of what it imports as", ms[1], "ms", NULL);
    bench_row(b, "drawn", "floor: libxml2 parse of the same bytes", ms[2], "ms", NULL);
    bench_row(b, "drawn", "import / parse floor", ms[0] / ms[2], "x", "median of %d rounds",
              rounds);
    json_decref(v);
    json_decref(problems);
    free(xml);
}

static void round_trip(bench *b, const char *label, const char *key, json_t *content, int rounds,
                       long iters)
{
    char *x = NULL, *j = json_dumps(content, JSON_COMPACT);
    size_t n = 0;
    if (!j || scenario_bpmn_export(content, &x, &n)) {
        bench_fail(b, "%s: export failed", label);
        free(j);
        return;
    }
    job jobs[4] = {{b, NULL, 0, content, true},
                   {b, x, n, NULL, true},
                   {b, NULL, 0, content, true},
                   {b, j, strlen(j), NULL, true}};
    op ops[4] = {op_export, op_import, op_json_dump, op_json_load};
    double ms[4];
    measure(b, jobs, ops, 4, rounds, iters, ms);
    bench_section(b, key, label);
    bench_row(b, key, "scenario_bpmn_export", ms[0], "ms", "%zu bytes of BPMN", n);
    bench_row(b, key, "scenario_bpmn_import of that export", ms[1], "ms", NULL);
    bench_row(b, key, "floor: json_dumps of the same content", ms[2], "ms", "%zu bytes of JSON",
              strlen(j));
    bench_row(b, key, "floor: json_loads of that JSON", ms[3], "ms", NULL);
    bench_row(b, key, "export / json_dumps", ms[0] / ms[2], "x", "median of %d rounds", rounds);
    bench_row(b, key, "import / json_loads", ms[1] / ms[3], "x", "median of %d rounds", rounds);
    free(x);
    free(j);
}

int main(int argc, char **argv)
{
    bench b;
    bench_init(&b, "bpmn", argc, argv);
    int rounds = (int)bench_pick(&b, 3, 9);
    long iters = bench_pick(&b, 3, 50);
    xmlInitParser();
    if (bench_want(&b, "import")) largest_diagram(&b, rounds, iters);
    if (bench_want(&b, "drawn")) largest_importable(&b, rounds, iters * 10);
    if (bench_want(&b, "steps")) {
        json_t *big = big_scenario();
        round_trip(&b, "BPMN export and import of a scenario of 1,000 steps", "steps", big, rounds,
                   iters);
        json_decref(big);
    }
    if (bench_want(&b, "example")) {
        size_t len;
        char *text = slurp("docs/examples/scenarios/onboarding-survey.json", &len);
        json_t *v = text ? json_loads(text, 0, NULL) : NULL;
        if (v)
            round_trip(&b, "BPMN export and import of the largest example (onboarding-survey)",
                       "example", v, rounds, iters * 10);
        else
            bench_fail(&b, "no onboarding-survey.json");
        json_decref(v);
        free(text);
    }
    return bench_finish(&b);
}
