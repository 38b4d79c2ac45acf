/*
 * PDF and DOCX documents reduced to text for the RAG plugin (ADR 0048),
 * from the fixtures in tests/fixtures/rag/docs (make_fixtures.py): the
 * text of both pages of a PDF, Russian through its ToUnicode map; DOCX
 * headings from styles (by name, localised ids, Title) landing in the
 * chunks' heading paths, list items, a table's cells, deleted text left
 * out; and each refusal with its code: a corrupt PDF, binary junk, a PDF
 * with no text, an encrypted PDF, a DOCX without its document, an empty
 * DOCX, an OLE file sent as DOCX, base64 that is not, and the size limit
 * (decoded, and a zip bomb's unpacked part).
 */
#include "../../plugins/rag/chunk.h"
#include "../../plugins/rag/convert.h"
#include "../../plugins/rag/docx.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIX TH_SOURCE_DIR "/tests/fixtures/rag/docs/"

static unsigned char *slurp(const char *name, size_t *n)
{
    char path[600];
    snprintf(path, sizeof path, FIX "%s", name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    unsigned char *b = malloc((size_t)len + 1);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

static char *b64(const unsigned char *b, size_t n)
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = malloc(n * 4 / 3 + 8), *w = o;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)b[i] << 16 | (i + 1 < n ? (unsigned)b[i + 1] << 8 : 0) |
                     (i + 2 < n ? b[i + 2] : 0);
        *w++ = al[v >> 18 & 63];
        *w++ = al[v >> 12 & 63];
        *w++ = i + 1 < n ? al[v >> 6 & 63] : '=';
        *w++ = i + 2 < n ? al[v & 63] : '=';
    }
    *w = 0;
    return o;
}

/* The fixture through the whole path (base64, limit, reader). */
static rag_conv_err convert(const char *format, const char *name, size_t max, char **text,
                            char *msg)
{
    size_t n, len;
    unsigned char *raw = slurp(name, &n);
    char *enc = b64(raw, n);
    msg[0] = 0;
    rag_conv_err e = rag_convert(format, enc, strlen(enc), max, text, &len, msg, 400);
    if (e == RAG_CONV_OK) assert_int_equal(strlen(*text), len);
    free(raw);
    free(enc);
    return e;
}

static void pdf_text_of_both_pages_russian_through_tounicode(void **state)
{
    (void)state;
    char *t = NULL, msg[400];
    assert_int_equal(convert("pdf", "manual.pdf", 1 << 20, &t, msg), RAG_CONV_OK);
    assert_non_null(strstr(t, "Refunds are paid to the card within 14 days"));
    assert_non_null(strstr(t, "Couriers deliver orders"));
    assert_non_null(strstr(t, "Деньги возвращаются на карту в течение 14 дней."));
    assert_non_null(strstr(t, "Курьер привозит заказы"));
    /* pages apart: a blank line between them */
    assert_true(strstr(t, "\n\nВозврат денег") > strstr(t, "9 pm."));
    free(t);
}

static void docx_headings_lists_tables_into_chunks_heading_paths(void **state)
{
    (void)state;
    char *t = NULL, msg[400];
    assert_int_equal(convert("docx", "guide.docx", 1 << 20, &t, msg), RAG_CONV_OK);
    assert_non_null(strstr(t, "# Help centre\n\n# Returns\n\nRefunds are paid"));
    assert_non_null(strstr(t, "## How to return\n\n- Open the order in your account.\n- Press"));
    assert_non_null(strstr(t, "Keep the receipt."));
    assert_null(strstr(t, "Deleted words"));
    assert_non_null(strstr(t, "# Доставка\n\nКурьер привозит"));
    assert_non_null(strstr(t, "Москва\n\n1 день"));
    rag_chunk_opts o = {200, 0};
    rag_chunk *c = NULL;
    size_t n = 0;
    assert_int_equal(rag_chunk_markdown(t, strlen(t), &o, &c, &n), 0);
    int saw_list = 0, saw_ru = 0;
    for (size_t i = 0; i < n; i++) {
        char *s = strndup(t + c[i].start, c[i].end - c[i].start);
        if (strstr(s, "Press Return item")) {
            saw_list = 1;
            /* Title is a level-1 heading too: Returns, its sibling, replaces it */
            assert_int_equal(c[i].depth, 2);
            assert_string_equal(c[i].path[0], "Returns");
            assert_string_equal(c[i].path[1], "How to return");
        }
        if (strstr(s, "Курьер")) {
            saw_ru = 1;
            assert_int_equal(c[i].depth, 1);
            assert_string_equal(c[i].path[0], "Доставка");
        }
        free(s);
    }
    assert_true(saw_list && saw_ru);
    rag_chunks_free(c, n);
    free(t);
}

static void each_bad_document_refused_with_its_code(void **state)
{
    (void)state;
    char *t = NULL, msg[400];
    assert_int_equal(convert("pdf", "corrupt.pdf", 1 << 20, &t, msg), RAG_CONV_CORRUPT);
    assert_string_equal(rag_conv_code(RAG_CONV_CORRUPT), "corrupt");
    assert_non_null(strstr(msg, "content: not a readable PDF"));
    assert_int_equal(convert("pdf", "scan.pdf", 1 << 20, &t, msg), RAG_CONV_NO_TEXT);
    assert_non_null(strstr(msg, "OCR"));
    assert_int_equal(convert("pdf", "encrypted.pdf", 1 << 20, &t, msg), RAG_CONV_ENCRYPTED);
    assert_non_null(strstr(msg, "password"));
    assert_int_equal(convert("docx", "nodoc.docx", 1 << 20, &t, msg), RAG_CONV_CORRUPT);
    assert_int_equal(convert("docx", "empty.docx", 1 << 20, &t, msg), RAG_CONV_NO_TEXT);
    /* a DOCX sent as PDF, a PDF as DOCX: each its own format's refusal */
    assert_int_equal(convert("pdf", "guide.docx", 1 << 20, &t, msg), RAG_CONV_CORRUPT);
    assert_int_equal(convert("docx", "manual.pdf", 1 << 20, &t, msg), RAG_CONV_CORRUPT);
    assert_null(t);
    /* binary junk */
    unsigned char junk[3000];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)(i * 2654435761u >> 13);
    char *enc = b64(junk, sizeof junk);
    size_t n;
    assert_int_equal(rag_convert("pdf", enc, strlen(enc), 1 << 20, &t, &n, msg, 400),
                     RAG_CONV_CORRUPT);
    assert_int_equal(rag_convert("docx", enc, strlen(enc), 1 << 20, &t, &n, msg, 400),
                     RAG_CONV_CORRUPT);
    /* an OLE compound file (Word's password-protected DOCX, or a .doc) */
    memcpy(junk, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8);
    free(enc);
    enc = b64(junk, sizeof junk);
    assert_int_equal(rag_convert("docx", enc, strlen(enc), 1 << 20, &t, &n, msg, 400),
                     RAG_CONV_ENCRYPTED);
    assert_non_null(strstr(msg, ".doc"));
    free(enc);
    /* not base64 */
    assert_int_equal(rag_convert("pdf", "JVBERi0x*!", 10, 1 << 20, &t, &n, msg, 400),
                     RAG_CONV_BASE64);
    assert_non_null(strstr(msg, "content:"));
}

static void size_limit_counts_decoded_bytes_and_unpacked_parts(void **state)
{
    (void)state;
    char *t = NULL, msg[400];
    /* manual.pdf is 2,836 bytes: refused at 2,000, taken at 3,000 */
    assert_int_equal(convert("pdf", "manual.pdf", 2000, &t, msg), RAG_CONV_TOO_LARGE);
    assert_non_null(strstr(msg, "max_document_bytes"));
    assert_int_equal(convert("pdf", "manual.pdf", 3000, &t, msg), RAG_CONV_OK);
    free(t);
    /* a zip bomb: word/document.xml of 40 MiB of spaces deflates to ~40 KiB */
    struct archive *a = archive_write_new();
    archive_write_set_format_zip(a);
    size_t cap = 1 << 20, used = 0;
    unsigned char *zip = malloc(cap);
    assert_int_equal(archive_write_open_memory(a, zip, cap, &used), ARCHIVE_OK);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, "word/document.xml");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    size_t big = (size_t)RAG_DOCX_MAX_PART + (8u << 20);
    archive_entry_set_size(e, (la_int64_t)big);
    assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
    char *spaces = malloc(1 << 20);
    memset(spaces, ' ', 1 << 20);
    for (size_t w = 0; w < big; w += 1 << 20)
        assert_true(archive_write_data(a, spaces, 1 << 20) > 0);
    archive_entry_free(e);
    archive_write_close(a);
    archive_write_free(a);
    size_t n;
    assert_true(used < 200000);
    assert_int_equal(rag_docx_to_text(zip, used, 1 << 20, &t, &n), RAG_CONV_TOO_LARGE);
    free(spaces);
    free(zip);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pdf_text_of_both_pages_russian_through_tounicode),
        cmocka_unit_test(docx_headings_lists_tables_into_chunks_heading_paths),
        cmocka_unit_test(each_bad_document_refused_with_its_code),
        cmocka_unit_test(size_limit_counts_decoded_bytes_and_unpacked_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
