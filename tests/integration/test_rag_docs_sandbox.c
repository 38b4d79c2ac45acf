/*
 * PDF and DOCX documents in the real runner (ADR 0048): `agenthost plugin
 * run` starts the rag plugin confined (both seccomp filters, the minimal
 * root), and poppler and libarchive/libxml2 read the fixtures there with no
 * file opened after lockdown (poppler's data directory is read by the
 * plugin's constructor): a PDF with Russian text and a DOCX with heading
 * styles are ingested and searched with their heading paths; a corrupt
 * PDF, an encrypted one, a scan without text, binary junk and an oversized
 * document are refused with their codes, and the plugin never crashes;
 * the minimal root is planned for poppler's many libraries.
 */
#include "../support/kit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIX TH_SOURCE_DIR "/tests/fixtures/rag/docs"
#define MANIFEST TH_BUILD_DIR "/plugins/rag/manifest.json"

static char tmp[512];

/* A fixture document as base64. */
static char *b64_of_file(const char *name)
{
    char *b = kit_b64_file(FIX, name);
    assert_non_null(b);
    return b;
}

static int setup(void **state)
{
    (void)state;
    return kit_tmpdir("ragdocs", tmp, sizeof(tmp));
}

static int teardown(void **state)
{
    (void)state;
    kit_rmtree(tmp);
    return 0;
}

static void add_call(json_t *lines, const char *action, json_t *args)
{
    json_array_append_new(lines,
                          json_pack("{s:{s:s,s:o}}", "call", "action", action, "args", args));
}

static void add_doc(json_t *lines, const char *id, const char *format, const char *file)
{
    char *b = b64_of_file(file);
    add_call(
        lines, "document.add",
        json_pack("{s:s,s:s,s:s,s:s}", "kb", "help", "id", id, "format", format, "content", b));
    free(b);
}

/* The calls, one a line, to the rag plugin run confined. */
static json_t *run(const json_t *calls, kit_out *r)
{
    return kit_plugin_run(
        r, tmp, MANIFEST, calls,
        "{\"max_document_bytes\": 4096, \"max_tokens\": 60, \"overlap_tokens\": 0}");
}

/* The reply to the call on line n (1-based): its result, or its error. */
static json_t *reply(json_t *lines, int n, int want_error)
{
    json_t *l = kit_reply(lines, n), *err = json_object_get(l, "error");
    if (!l) fail_msg("no reply to line %d", n);
    if (!want_error && err) fail_msg("line %d: %s", n, json_dumps(err, 0));
    if (want_error && !err) fail_msg("line %d: no error", n);
    return want_error ? err : json_object_get(l, "result");
}

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static const char *code_of(json_t *err)
{
    return str(err, "code");
}

/* The passage of document doc in a search result, or NULL. */
static json_t *passage(json_t *res, const char *doc)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(res, "passages"), i, p)
    {
        if (!strcmp(str(p, "document"), doc)) return p;
    }
    return NULL;
}

static void test_pdf_and_docx_ingested_and_searched_confined(void **state)
{
    (void)state;
    json_t *calls = json_array();
    json_array_append_new(calls, json_pack("{s:i}", "sleep_ms", 300)); /* 1: the KV loads */
    add_call(calls, "kb.create", json_pack("{s:s}", "name", "help"));  /* 2 */
    add_doc(calls, "manual", "pdf", "manual.pdf");                     /* 3 */
    add_doc(calls, "guide", "docx", "guide.docx");                     /* 4 */
    add_doc(calls, "broken", "pdf", "corrupt.pdf");                    /* 5 */
    add_doc(calls, "locked", "pdf", "encrypted.pdf");                  /* 6 */
    add_doc(calls, "scan", "pdf", "scan.pdf");                         /* 7 */
    unsigned char junk[2048];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)(i * 2654435761u >> 11);
    char *j = kit_b64(junk, sizeof junk);
    add_call(
        calls, "document.add", /* 8 */
        json_pack("{s:s,s:s,s:s,s:s}", "kb", "help", "id", "junk", "format", "docx", "content", j));
    free(j);
    unsigned char big[6000];
    memcpy(big, "%PDF-1.4\n", 9);
    memset(big + 9, ' ', sizeof big - 9);
    j = kit_b64(big, sizeof big);
    add_call(
        calls, "document.add", /* 9 */
        json_pack("{s:s,s:s,s:s,s:s}", "kb", "help", "id", "big", "format", "pdf", "content", j));
    free(j);
    json_array_append_new(calls, json_pack("{s:i}", "sleep_ms", 1500)); /* 10: ingestion */
    add_call(
        calls, "search",
        json_pack("{s:s,s:s}", "kb", "help", "query", "когда вернут деньги на карту")); /* 11 */
    add_call(calls, "search",
             json_pack("{s:s,s:s}", "kb", "help", "query", "return item")); /* 12 */
    add_call(calls, "document.list", json_pack("{s:s}", "kb", "help"));     /* 13 */
    kit_out r;
    json_t *lines = run(calls, &r);
    if (r.status != 0) fprintf(stderr, "%s\n%s\n", r.out, r.err);
    assert_int_equal(r.status, 0);
    /* Confined, no violation, no crash. */
    assert_non_null(strstr(r.out, "\\\"sandbox\\\":true"));
    assert_null(strstr(r.out, "seccomp_violation"));
    assert_null(kit_find(lines, "crash", NULL, NULL));
    /* The minimal root was planned for poppler's 60-odd libraries (it once
     * gave up: every symbolic link of every library counted as one path's). */
    assert_null(strstr(r.out, "mount namespace: walking"));

    assert_string_equal(str(reply(lines, 3, 0), "state"), "ingesting");
    assert_string_equal(str(reply(lines, 4, 0), "state"), "ingesting");
    assert_string_equal(code_of(reply(lines, 5, 1)), "corrupt");
    assert_string_equal(code_of(reply(lines, 6, 1)), "encrypted");
    assert_string_equal(code_of(reply(lines, 7, 1)), "no_text");
    assert_string_equal(code_of(reply(lines, 8, 1)), "corrupt");
    json_t *big_err = reply(lines, 9, 1);
    assert_string_equal(code_of(big_err), "too_large");
    assert_non_null(strstr(str(big_err, "message"), "max_document_bytes"));

    json_t *ru = passage(reply(lines, 11, 0), "manual");
    assert_non_null(ru);
    assert_non_null(strstr(str(ru, "text"), "Деньги возвращаются на карту"));
    json_t *en = passage(reply(lines, 12, 0), "guide");
    assert_non_null(en);
    json_t *path = json_object_get(en, "heading_path");
    assert_string_equal(json_string_value(json_array_get(path, 0)), "Returns");
    assert_string_equal(json_string_value(json_array_get(path, 1)), "How to return");
    /* Only the two good documents exist. */
    assert_int_equal(json_array_size(json_object_get(reply(lines, 13, 0), "documents")), 2);
    json_decref(lines);
    json_decref(calls);
    kit_out_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pdf_and_docx_ingested_and_searched_confined, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
