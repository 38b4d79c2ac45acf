/* Scenarios as BPMN 2.0 (host/bpmn/scenario_bpmn.h): every example exports
 * and imports back the same JSON, key order included, with its diagram and
 * the BPMN element each step kind maps to; a flow reconnected in a modeller
 * moves the target it stands for; our exports saved again by bpmn-js's
 * model (bpmn-moddle) import the same; BPMN drawn elsewhere maps what it can
 * and names every element it cannot, with its id; the 30 real diagrams of
 * tests/fixtures/bpmn each import or are refused with the reason we expect;
 * external entities, entity bombs, a DOCTYPE, broken XML and oversized
 * documents are refused cleanly. */
#include "cmocka_pre.h"

#include "bpmn/scenario_bpmn.h"
#include "engine/scenario.h"

#include <agenthost/plugin.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j) fail_msg("bad test JSON (%d:%d): %s", je.line, je.column, je.text);
    return j;
}

static char *read_file(const char *rel, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", TH_SOURCE_DIR, rel);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Equal, and every object's keys in the same order. */
static bool same(const json_t *a, const json_t *b)
{
    if (!json_equal(a, b) || json_typeof(a) != json_typeof(b)) return false;
    if (json_is_object(a)) {
        void *ia = json_object_iter((json_t *)a), *ib = json_object_iter((json_t *)b);
        for (; ia && ib; ia = json_object_iter_next((json_t *)a, ia),
                         ib = json_object_iter_next((json_t *)b, ib))
            if (strcmp(json_object_iter_key(ia), json_object_iter_key(ib)) ||
                !same(json_object_iter_value(ia), json_object_iter_value(ib)))
                return false;
        return !ia && !ib;
    }
    for (size_t i = 0; json_is_array(a) && i < json_array_size(a); i++)
        if (!same(json_array_get(a, i), json_array_get(b, i))) return false;
    return true;
}

/* Not inlined: GCC 12 at -O2 (make bench builds every test so) then takes
 * the returned text for the address of its local x (-Wdangling-pointer). */
__attribute__((noinline)) static char *export_ok(const json_t *v, size_t *len)
{
    char *x = NULL;
    assert_int_equal(scenario_bpmn_export(v, &x, len), 0);
    assert_int_equal(strlen(x), *len);
    return x;
}

static json_t *import_ok(const char *x, size_t len)
{
    json_t *v = NULL, *problems = json_array();
    char err[300];
    int rc = scenario_bpmn_import(x, len, &v, problems, err, sizeof(err));
    if (rc) {
        char *p = json_dumps(problems, JSON_INDENT(1));
        fail_msg("import failed (%d): %s\n%s", rc, err, p);
    }
    assert_int_equal(json_array_size(problems), 0);
    json_decref(problems);
    return v;
}

/* Import refused: rc, err containing part (when given); the problems. */
static json_t *import_refused(const char *x, size_t len, int code, const char *part)
{
    json_t *v = (json_t *)1, *problems = json_array();
    char err[300];
    int rc = scenario_bpmn_import(x, len, &v, problems, err, sizeof(err));
    if (rc != code || (part && !strstr(err, part)))
        fail_msg("import gave %d (%s), expected %d (%s)", rc, err, code, part ? part : "");
    assert_null(v);
    return problems;
}

static bool has_problem(const json_t *problems, const char *element, const char *part)
{
    size_t i;
    json_t *p;
    json_array_foreach(problems, i, p)
    {
        const char *e = json_string_value(json_object_get(p, "element"));
        const char *m = json_string_value(json_object_get(p, "message"));
        if (e && !strcmp(e, element) && m && strstr(m, part)) return true;
    }
    return false;
}

/* The x of an element's shape in the export (its dc:Bounds), or -1. */
static long shape_x(const char *x, const char *element)
{
    char key[120];
    snprintf(key, sizeof(key), "bpmnElement=\"%s\"", element);
    const char *p = strstr(x, key);
    for (; p; p = strstr(p + 1, key))
        if (!strncmp(p - 4, "di\" ", 4)) break; /* the shape's, not a flow's */
    p = p ? strstr(p, "<dc:Bounds x=\"") : NULL;
    return p ? strtol(p + 14, NULL, 10) : -1;
}

/* ---- our scenarios, there and back ----------------------------------------------------- */

static const char *const EXAMPLES[] = {"docs/examples/scenarios/onboarding-survey.json",
                                       "docs/examples/scenarios/faq-agent.json",
                                       "docs/examples/scenarios/lead-capture.json", NULL};

static void test_every_example_round_trips_exactly_and_exports_the_same_twice(void **s)
{
    (void)s;
    for (size_t i = 0; EXAMPLES[i]; i++) {
        size_t n;
        char *text = read_file(EXAMPLES[i], &n);
        json_t *v = parse(text);
        size_t l1, l2;
        char *x1 = export_ok(v, &l1);
        json_t *back = import_ok(x1, l1);
        if (!same(v, back)) {
            char *b = json_dumps(back, JSON_INDENT(1));
            fail_msg("%s changed on the way:\n%s\nvia\n%s", EXAMPLES[i], b, x1);
        }
        char *x2 = export_ok(back, &l2);
        assert_int_equal(l1, l2);
        assert_memory_equal(x1, x2, l1);
        free(x1);
        free(x2);
        free(text);
        json_decref(v);
        json_decref(back);
    }
}

static void test_each_step_kind_becomes_its_bpmn_element_with_a_diagram(void **s)
{
    (void)s;
    size_t n;
    char *text = read_file("docs/examples/scenarios/lead-capture.json", &n);
    json_t *v = parse(text);
    size_t l;
    char *x = export_ok(v, &l);
    static const char *const want[] = {
        "<bpmn:sendTask id=\"intro\" name=\"Leave your contacts",
        "<bpmn:userTask id=\"ask_name\" name=\"Your name?\"",
        "<bpmn:serviceTask id=\"send\" name=\"POST https://crm.example.com/api/v2/leads\" "
        "implementation=\"http.request\"",
        "<bpmn:exclusiveGateway id=\"check\" name=\"check\" default=\"Flow_",
        "<bpmn:conditionExpression xsi:type=\"bpmn:tFormalExpression\" language=\"jq\">"
        ".vars.status &gt;= 200 and .vars.status &lt; 300</bpmn:conditionExpression>",
        "<bpmn:intermediateThrowEvent id=\"notify\" name=\"leads.captured\"",
        "<bpmn:signalEventDefinition/>",
        "<bpmn:manualTask id=\"manager\"",
        "<bpmn:endEvent id=\"done\" name=\"lead_captured\"",
        "<bpmn:startEvent id=\"StartEvent_1\"/>",
        "sourceRef=\"StartEvent_1\" targetRef=\"intro\" ah:field=\"start\"",
        "sourceRef=\"send\" targetRef=\"manager\" ah:field=\"on_error\"",
        "<ah:step id=\"intro\">{\"kind\":\"say\"",
        "xmlns:ah=\"" SCENARIO_BPMN_NS "\"",
        "<bpmndi:BPMNPlane id=\"BPMNPlane_1\" bpmnElement=\"Process_1\">",
        "<bpmndi:BPMNShape id=\"check_di\" bpmnElement=\"check\" isMarkerVisible=\"true\">",
        "<dc:Bounds x=\"",
        "<di:waypoint x=\"",
        NULL};
    for (size_t i = 0; want[i]; i++)
        if (!strstr(x, want[i])) fail_msg("no %s in\n%s", want[i], x);
    /* One shape per step and the start event; one edge per flow. */
    size_t shapes = 0, edges = 0, flows = 0;
    for (const char *p = x; (p = strstr(p, "<bpmndi:BPMNShape ")); p++)
        shapes++;
    for (const char *p = x; (p = strstr(p, "<bpmndi:BPMNEdge ")); p++)
        edges++;
    for (const char *p = x; (p = strstr(p, "<bpmn:sequenceFlow ")); p++)
        flows++;
    assert_int_equal(shapes, json_object_size(json_object_get(v, "steps")) + 1);
    assert_int_equal(edges, flows);
    assert_int_equal(flows, 13); /* 12 targets that name a step, and the start */
    /* Columns by breadth-first depth from the start: intro, ask_name,
     * ask_phone; manager (on ask_phone's on_invalid) a column after it;
     * done after manager; check after send. */
    long start = shape_x(x, "StartEvent_1"), intro = shape_x(x, "intro"),
         name = shape_x(x, "ask_name"), phone = shape_x(x, "ask_phone"),
         company = shape_x(x, "ask_company"), manager = shape_x(x, "manager");
    assert_true(start >= 0 && start < intro && intro < name && name < phone && phone < company);
    assert_int_equal(manager - company, 0); /* both one column after ask_phone */
    assert_true(shape_x(x, "send") < shape_x(x, "check"));
    free(x);
    free(text);
    json_decref(v);
}

static void test_waits_become_timer_and_message_events_and_calls_call_activities(void **s)
{
    (void)s;
    json_t *v = parse(
        "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": "
        "[\"en\"], \"start\": \"pause\", \"steps\": {"
        "\"pause\": {\"kind\": \"wait\", \"for\": \"duration\", \"duration_ms\": 90500, \"next\": "
        "\"listen\"},"
        "\"listen\": {\"kind\": \"wait\", \"for\": \"input\", \"timeout_ms\": 1000, "
        "\"on_timeout\": "
        "\"sub\", \"next\": \"sub\"},"
        "\"sub\": {\"kind\": \"call_agent\", \"agent\": \"billing\", \"next\": \"calc\"},"
        "\"calc\": {\"kind\": \"set\", \"set\": {\"x\": \"1 + 1\"}, \"next\": \"jump\"},"
        "\"jump\": {\"kind\": \"goto\", \"next\": \"bye\"},"
        "\"bye\": {\"kind\": \"end\", \"text\": \"Bye \\uFFFF <&> ]]>\"}}}");
    size_t l;
    char *x = export_ok(v, &l);
    assert_non_null(strstr(x, "<bpmn:timeDuration xsi:type=\"bpmn:tFormalExpression\">PT90.500S"));
    assert_non_null(strstr(x, "<bpmn:messageEventDefinition/>"));
    assert_non_null(strstr(x, "<bpmn:callActivity id=\"sub\" name=\"billing\" "
                              "calledElement=\"billing\""));
    assert_non_null(strstr(x, "<bpmn:scriptTask id=\"calc\" name=\"calc\" scriptFormat=\"jq\""));
    assert_non_null(strstr(x, "<bpmn:intermediateThrowEvent id=\"jump\""));
    assert_non_null(strstr(x, "ah:field=\"on_timeout\""));
    json_t *back = import_ok(x, l);
    assert_true(same(v, back));
    free(x);
    json_decref(v);
    json_decref(back);
}

/* Content that would not validate exports too, and comes back the same:
 * a start and targets naming no step, an id that is no step id, a kind
 * no plugin declares, more options than flows are drawn for. */
static void test_content_that_does_not_validate_still_round_trips(void **s)
{
    (void)s;
    json_t *options = json_array();
    for (int i = 0; i < 300; i++)
        json_array_append_new(options, json_pack("{s:s,s:s,s:s}", "id", "o", "label", "L", "next",
                                                 i % 2 ? "Bad-Id" : "nowhere"));
    json_t *v =
        json_pack("{s:s,s:s,s:{s:{s:s,s:s},s:{s:s,s:o},s:{s:s,s:s}}}", "start", "missing", "format",
                  "x", "steps", "Bad-Id", "kind", "crm.fly", "next", "nowhere", "pick", "kind",
                  "choice", "options", options, "ok", "kind", "end", "on_error", "Bad-Id");
    size_t l;
    char *x = export_ok(v, &l);
    assert_non_null(strstr(x, "<bpmn:serviceTask id=\"Step_1\""));
    json_t *back = import_ok(x, l);
    assert_true(same(v, back));
    free(x);
    json_decref(back);
    json_decref(v);
}

/* What bpmn-js saves: our exports read and written again by bpmn-moddle
 * (tests/fixtures/bpmn/resaved/README.md) import as the examples, exactly. */
static void test_our_exports_saved_again_by_bpmn_js_import_the_same(void **s)
{
    (void)s;
    static const char *const names[] = {"lead-capture", "faq-agent", "onboarding-survey", NULL};
    for (size_t i = 0; names[i]; i++) {
        char rel[200];
        size_t n, l;
        snprintf(rel, sizeof(rel), "docs/examples/scenarios/%s.json", names[i]);
        char *text = read_file(rel, &n);
        json_t *want = parse(text);
        snprintf(rel, sizeof(rel), "tests/fixtures/bpmn/resaved/%s.bpmn", names[i]);
        char *x = read_file(rel, &l);
        json_t *v = import_ok(x, l);
        if (!same(v, want)) fail_msg("%s changed: %s", rel, json_dumps(v, JSON_INDENT(1)));
        json_decref(v);
        json_decref(want);
        free(x);
        free(text);
    }
}

/* Flows are the diagram's truth for targets: one moved in a modeller moves
 * the target it stands for. */
static void test_a_reconnected_flow_moves_its_target(void **s)
{
    (void)s;
    size_t n;
    char *text = read_file("docs/examples/scenarios/lead-capture.json", &n);
    json_t *v = parse(text);
    size_t l;
    char *x = export_ok(v, &l);
    const char *from = "sourceRef=\"check\" targetRef=\"manager\" ah:field=\"default\"";
    const char *to__ = "sourceRef=\"check\" targetRef=\"thanks\" ah:field=\"default\"";
    const char *p = strstr(x, from);
    assert_non_null(p);
    size_t at = (size_t)(p - x);
    char *y = malloc(l + strlen(to__) + 1);
    memcpy(y, x, at);
    strcpy(y + at, to__);
    strcat(y, x + at + strlen(from));
    json_t *back = import_ok(y, strlen(y));
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(back, "steps"), "check"), "default")),
                        "thanks");
    json_object_set_new(json_object_get(json_object_get(v, "steps"), "check"), "default",
                        json_string("thanks"));
    assert_true(same(v, back));
    free(y);
    free(x);
    free(text);
    json_decref(v);
    json_decref(back);
}

/* ---- BPMN drawn elsewhere ------------------------------------------------------------ */

#define DEFS_OPEN                                                                                  \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"                                                 \
    "<definitions xmlns=\"http://www.omg.org/spec/BPMN/20100524/MODEL\" id=\"d\" "                 \
    "targetNamespace=\"t\">"

static const char FOREIGN[] = DEFS_OPEN
    "<process id=\"P\"><startEvent id=\"Start\"/>"
    "<userTask id=\"Task_Greet\" name=\" Welcome aboard! \"/>"
    "<exclusiveGateway id=\"Gw-1\" name=\"Happy?\"/>"
    "<task id=\"Yes\" name=\"Great\"/><task id=\"No\"/>"
    "<intermediateCatchEvent id=\"T\"><timerEventDefinition><timeDuration>PT1H30M"
    "</timeDuration></timerEventDefinition></intermediateCatchEvent>"
    "<receiveTask id=\"R\"/>"
    "<exclusiveGateway id=\"G2\" default=\"f9\"/>"
    "<callActivity id=\"C\" calledElement=\"billing\"/>"
    "<endEvent id=\"E\" name=\"All done\"/>"
    "<sequenceFlow id=\"f1\" sourceRef=\"Start\" targetRef=\"Task_Greet\"/>"
    "<sequenceFlow id=\"f2\" sourceRef=\"Task_Greet\" targetRef=\"Gw-1\"/>"
    "<sequenceFlow id=\"f3\" name=\"Yes!\" sourceRef=\"Gw-1\" targetRef=\"Yes\"/>"
    "<sequenceFlow id=\"f4\" sourceRef=\"Gw-1\" targetRef=\"No\"/>"
    "<sequenceFlow id=\"f5\" sourceRef=\"Yes\" targetRef=\"T\"/>"
    "<sequenceFlow id=\"f6\" sourceRef=\"No\" targetRef=\"R\"/>"
    "<sequenceFlow id=\"f7\" sourceRef=\"T\" targetRef=\"G2\"/>"
    "<sequenceFlow id=\"f8\" sourceRef=\"G2\" targetRef=\"C\"><conditionExpression> .vars.x "
    "</conditionExpression></sequenceFlow>"
    "<sequenceFlow id=\"f9\" sourceRef=\"G2\" targetRef=\"E\"/>"
    "<sequenceFlow id=\"f10\" sourceRef=\"C\" targetRef=\"E\"/>"
    "<sequenceFlow id=\"f11\" sourceRef=\"R\" targetRef=\"E\"/>"
    "</process></definitions>";

static void test_bpmn_drawn_elsewhere_maps_tasks_gateways_events_and_calls(void **s)
{
    (void)s;
    json_t *v = import_ok(FOREIGN, strlen(FOREIGN));
    json_t *want = parse(
        "{\"format\": \"agenthost.scenario/1\", \"default_language\": \"en\", \"languages\": "
        "[\"en\"], \"start\": \"task_greet\", \"steps\": {"
        "\"task_greet\": {\"kind\": \"say\", \"text\": \"Welcome aboard!\", \"next\": \"gw_1\"},"
        "\"gw_1\": {\"kind\": \"choice\", \"text\": \"Happy?\", \"options\": ["
        "  {\"id\": \"f3\", \"label\": \"Yes!\", \"next\": \"yes\"},"
        "  {\"id\": \"f4\", \"label\": \"no\", \"next\": \"no\"}]},"
        "\"yes\": {\"kind\": \"say\", \"text\": \"Great\", \"next\": \"t\"},"
        "\"no\": {\"kind\": \"say\", \"text\": \"No\", \"next\": \"r\"},"
        "\"t\": {\"kind\": \"wait\", \"for\": \"duration\", \"duration_ms\": 5400000, \"next\": "
        "\"g2\"},"
        "\"r\": {\"kind\": \"wait\", \"for\": \"input\", \"next\": \"e\"},"
        "\"g2\": {\"kind\": \"switch\", \"cases\": [{\"if\": \".vars.x\", \"next\": \"c\"}], "
        "\"default\": \"e\"},"
        "\"c\": {\"kind\": \"call_agent\", \"agent\": \"billing\", \"next\": \"e\"},"
        "\"e\": {\"kind\": \"end\", \"outcome\": \"All_done\"}}}");
    if (!json_equal(v, want)) fail_msg("mapped as %s", json_dumps(v, JSON_INDENT(1)));
    /* What it maps is a valid scenario (jq programs aside: the API checks them). */
    json_t *errors = json_array();
    assert_int_equal(scenario_validate(v, NULL, errors, NULL), 0);
    if (json_array_size(errors)) fail_msg("invalid: %s", json_dumps(errors, 0));
    json_decref(errors);
    json_decref(want);
    json_decref(v);
}

static void test_every_element_that_cannot_be_mapped_is_named_with_its_id(void **s)
{
    (void)s;
    static const char x[] = DEFS_OPEN
        "<process id=\"P\"><startEvent id=\"S\"/><parallelGateway id=\"Fork\"/>"
        "<task id=\"A\"/><task id=\"B\"/><subProcess id=\"Sub\"/>"
        "<boundaryEvent id=\"Bnd\" attachedToRef=\"A\"><timerEventDefinition/></boundaryEvent>"
        "<intermediateCatchEvent id=\"Sig\"><signalEventDefinition/></intermediateCatchEvent>"
        "<task id=\"Two\"/><endEvent id=\"E\"/>"
        "<sequenceFlow id=\"f1\" sourceRef=\"S\" targetRef=\"Fork\"/>"
        "<sequenceFlow id=\"f2\" sourceRef=\"Fork\" targetRef=\"A\"/>"
        "<sequenceFlow id=\"f3\" sourceRef=\"Fork\" targetRef=\"B\"/>"
        "<sequenceFlow id=\"f4\" sourceRef=\"Two\" targetRef=\"A\"/>"
        "<sequenceFlow id=\"f5\" sourceRef=\"Two\" targetRef=\"B\"/>"
        "<sequenceFlow id=\"f6\" sourceRef=\"A\" targetRef=\"Nowhere\"/>"
        "</process><process id=\"P2\"><task id=\"Other\"/></process></definitions>";
    json_t *p = import_refused(x, strlen(x), AH_EINVAL, "cannot be mapped");
    assert_true(has_problem(p, "Fork", "one step at a time"));
    assert_true(has_problem(p, "Sub", "sub-process"));
    assert_true(has_problem(p, "Bnd", "boundary event"));
    assert_true(has_problem(p, "Sig", "signalEventDefinition"));
    assert_true(has_problem(p, "Two", "2 outgoing flows"));
    assert_true(has_problem(p, "f6", "targetRef names no element"));
    assert_true(has_problem(p, "P2", "a second process"));
    assert_int_equal(json_array_size(p), 7);
    assert_string_equal(json_string_value(json_object_get(json_array_get(p, 0), "type")),
                        "process");
    json_decref(p);
}

/* ---- the 30 real diagrams ------------------------------------------------------------ */

typedef struct diagram {
    const char *file;
    const char *outcome; /* "ok", or a part of the refusal: err, or a problem's message */
    const char *element; /* the element that problem names */
} diagram;

#include "test_scenario_bpmn_diagrams.h"

static void test_each_real_diagram_imports_or_is_refused_with_its_reason(void **s)
{
    (void)s;
    for (size_t i = 0; i < sizeof(DIAGRAMS) / sizeof(DIAGRAMS[0]); i++) {
        const diagram *d = &DIAGRAMS[i];
        char rel[300];
        snprintf(rel, sizeof(rel), "tests/fixtures/bpmn/%s", d->file);
        size_t n;
        char *x = read_file(rel, &n);
        json_t *v = NULL, *problems = json_array();
        char err[300];
        int rc = scenario_bpmn_import(x, n, &v, problems, err, sizeof(err));
        if (getenv("BPMN_LIST")) {
            char *p = json_dumps(problems, JSON_COMPACT);
            json_t *errors = json_array();
            if (v) scenario_validate(v, NULL, errors, NULL);
            char *e = json_dumps(errors, JSON_COMPACT);
            printf("%s: rc %d %s\n  problems %s\n  validation %s\n", d->file, rc, err, p, e);
            free(p);
            free(e);
            json_decref(errors);
        } else if (!strcmp(d->outcome, "ok")) {
            if (rc) fail_msg("%s: refused: %s %s", d->file, err, json_dumps(problems, 0));
            /* It exports, and the export imports back the same. */
            size_t l;
            char *xx = export_ok(v, &l);
            json_t *back = import_ok(xx, l);
            assert_true(same(v, back));
            json_decref(back);
            free(xx);
        } else {
            if (!rc) fail_msg("%s: imported, expected refused: %s", d->file, d->outcome);
            assert_null(v);
            bool found = strstr(err, d->outcome) && !d->element;
            for (size_t k = 0; !found && k < json_array_size(problems); k++) {
                json_t *p = json_array_get(problems, k);
                const char *m = json_string_value(json_object_get(p, "message"));
                const char *e = json_string_value(json_object_get(p, "element"));
                found = m && strstr(m, d->outcome) && d->element && e && !strcmp(e, d->element);
            }
            if (!found)
                fail_msg("%s: refused (%s) without \"%s\" on %s: %s", d->file, err, d->outcome,
                         d->element ? d->element : "the document", json_dumps(problems, 0));
            /* Every problem names an element (with its id, but for "more") and why. */
            for (size_t k = 0; k < json_array_size(problems); k++) {
                json_t *p = json_array_get(problems, k);
                assert_non_null(json_string_value(json_object_get(p, "type")));
                assert_true(json_string_length(json_object_get(p, "message")) > 10);
                assert_non_null(json_string_value(json_object_get(p, "element")));
            }
        }
        json_decref(v);
        json_decref(problems);
        free(x);
    }
}

/* ---- hostile and broken XML ------------------------------------------------------------- */

static void test_external_entities_and_entity_bombs_are_refused_unread(void **s)
{
    (void)s;
    static const char xxe[] =
        "<?xml version=\"1.0\"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n"
        "<definitions xmlns=\"http://www.omg.org/spec/BPMN/20100524/MODEL\"><process id=\"P\">"
        "<task id=\"T\" name=\"&x;\"/></process></definitions>";
    json_decref(import_refused(xxe, strlen(xxe), AH_EINVAL, "line 2: a DOCTYPE"));
    static const char net[] =
        "<?xml version=\"1.0\"?>\n<!DOCTYPE d SYSTEM \"http://127.0.0.1:9/evil.dtd\">\n"
        "<definitions xmlns=\"http://www.omg.org/spec/BPMN/20100524/MODEL\"/>";
    json_decref(import_refused(net, strlen(net), AH_EINVAL, "a DOCTYPE"));
    /* A billion laughs: ten levels of ten, 10^9 "lol"s if expanded. */
    char bomb[4096] = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n";
    for (int i = 1; i <= 9; i++) {
        char line[200];
        snprintf(line, sizeof(line), "<!ENTITY lol%d \"", i);
        for (int k = 0; k < 10; k++)
            snprintf(line + strlen(line), sizeof(line) - strlen(line), "&lol%.0d;", i - 1);
        strcat(line, "\">\n");
        strcat(bomb, line);
    }
    strcat(bomb, "]>\n<definitions xmlns=\"http://www.omg.org/spec/BPMN/20100524/MODEL\">"
                 "<process id=\"P\"><task id=\"T\" name=\"&lol9;\"/></process></definitions>");
    json_decref(import_refused(bomb, strlen(bomb), AH_EINVAL, "a DOCTYPE"));
}

static void test_broken_foreign_and_oversized_documents_are_refused_cleanly(void **s)
{
    (void)s;
    size_t n;
    char *x = read_file("tests/fixtures/bpmn/bpmn-js/draw__events.bpmn", &n);
    json_decref(import_refused(x, n, AH_EINVAL, "not well-formed XML: line 131"));
    free(x);
    json_decref(import_refused("", 0, AH_EINVAL, "not well-formed"));
    json_decref(import_refused("<a><b></a>", 10, AH_EINVAL, "not well-formed XML: line 1"));
    static const char html[] = "<html xmlns=\"http://www.w3.org/1999/xhtml\"/>";
    json_decref(import_refused(html, strlen(html), AH_EINVAL,
                               "not BPMN 2.0: the root element "
                               "is <html>"));
    static const char empty[] = DEFS_OPEN "</definitions>";
    json_decref(import_refused(empty, strlen(empty), AH_EINVAL, "no process"));
    static const char nosteps[] = DEFS_OPEN "<process id=\"P\"/></definitions>";
    json_t *p = import_refused(nosteps, strlen(nosteps), AH_EINVAL, "cannot be mapped");
    assert_true(has_problem(p, "P", "no step to import"));
    json_decref(p);
    size_t big = SCENARIO_BPMN_MAX_BYTES + 1;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    json_decref(import_refused(huge, big, AH_ETOOBIG, "more than"));
    free(huge);
    /* Our own extension, tampered with: named, never half-imported. */
    static const char bad_ext[] =
        "<definitions xmlns=\"http://www.omg.org/spec/BPMN/20100524/MODEL\" "
        "xmlns:ah=\"" SCENARIO_BPMN_NS
        "\"><process id=\"P\"><startEvent id=\"S\"/><task id=\"a\"><extensionElements>"
        "<ah:step id=\"a\">{\"kind\": </ah:step></extensionElements></task>"
        "<sequenceFlow id=\"f\" sourceRef=\"S\" targetRef=\"a\"/></process></definitions>";
    p = import_refused(bad_ext, strlen(bad_ext), AH_EINVAL, "cannot be mapped");
    assert_true(has_problem(p, "a", "not a JSON object"));
    json_decref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_example_round_trips_exactly_and_exports_the_same_twice),
        cmocka_unit_test(test_each_step_kind_becomes_its_bpmn_element_with_a_diagram),
        cmocka_unit_test(test_waits_become_timer_and_message_events_and_calls_call_activities),
        cmocka_unit_test(test_content_that_does_not_validate_still_round_trips),
        cmocka_unit_test(test_our_exports_saved_again_by_bpmn_js_import_the_same),
        cmocka_unit_test(test_a_reconnected_flow_moves_its_target),
        cmocka_unit_test(test_bpmn_drawn_elsewhere_maps_tasks_gateways_events_and_calls),
        cmocka_unit_test(test_every_element_that_cannot_be_mapped_is_named_with_its_id),
        cmocka_unit_test(test_each_real_diagram_imports_or_is_refused_with_its_reason),
        cmocka_unit_test(test_external_entities_and_entity_bombs_are_refused_unread),
        cmocka_unit_test(test_broken_foreign_and_oversized_documents_are_refused_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
