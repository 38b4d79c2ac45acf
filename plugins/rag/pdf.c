/*
 * PDF to text with poppler-glib (pdf.h).
 */
#include "pdf.h"

#include "strbuf.h"
#include "text.h"

#include <poppler.h>
#include <stdlib.h>
#include <string.h>

/* The smallest PDF poppler opens: one empty page. */
static const char TINY[] = "%PDF-1.4\n"
                           "1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
                           "2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
                           "3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 10 10]>>endobj\n"
                           "trailer<</Root 1 0 R>>\n%%EOF\n";

/* Poppler-glib makes its global parameters (the data directory scanned,
 * encodings read) when a document opens and drops them when the last one
 * closes: this one is held for the life of the process, so later
 * documents never read a file. */
static PopplerDocument *held;

void rag_pdf_preload(void)
{
    if (held) return;
    GBytes *bytes = g_bytes_new_static(TINY, sizeof TINY - 1);
    held = poppler_document_new_from_bytes(bytes, NULL, NULL);
    g_bytes_unref(bytes);
    PopplerPage *p = held ? poppler_document_get_page(held, 0) : NULL;
    if (p) {
        g_free(poppler_page_get_text(p));
        g_object_unref(p);
    }
}

/* A page's text: lines kept, white space at their ends trimmed, runs of
 * empty lines one blank line, a '#' opening a line escaped from Markdown
 * (a PDF has no headings the chunker could trust). */
static int put_page(rag_buf *o, const char *s)
{
    if (o->n && rag_buf_put(o, "\n\n", 2) < 0) return -1;
    size_t at = o->n;
    int blank = 0;
    while (*s) {
        const char *e = strchr(s, '\n');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        size_t b = 0, l = len;
        while (b < l && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r' || s[b] == '\f'))
            b++;
        while (l > b &&
               (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\r' || s[l - 1] == '\f'))
            l--;
        if (l == b) {
            blank = 1;
        } else {
            if (o->n > at && rag_buf_put(o, blank ? "\n\n" : "\n", blank ? 2 : 1) < 0) return -1;
            blank = 0;
            if (s[b] == '#' && rag_buf_put(o, "\\", 1) < 0) return -1;
            if (rag_buf_put(o, s + b, l - b) < 0) return -1;
        }
        s += len + (e != NULL);
    }
    return 0;
}

rag_conv_err rag_pdf_to_text(const unsigned char *data, size_t n, size_t max_text, char **text,
                             size_t *text_len)
{
    *text = NULL;
    *text_len = 0;
    if (n < 5 || memcmp(data, "%PDF-", 5) != 0) return RAG_CONV_CORRUPT;
    GBytes *bytes = g_bytes_new_static(data, n);
    GError *err = NULL;
    PopplerDocument *doc = poppler_document_new_from_bytes(bytes, NULL, &err);
    rag_conv_err rc = RAG_CONV_OK;
    if (!doc) {
        rc = err && err->domain == POPPLER_ERROR && err->code == POPPLER_ERROR_ENCRYPTED
                 ? RAG_CONV_ENCRYPTED
                 : RAG_CONV_CORRUPT;
        g_clear_error(&err);
        g_bytes_unref(bytes);
        return rc;
    }
    int pages = poppler_document_get_n_pages(doc);
    rag_buf o = {.max = max_text};
    if (pages <= 0) rc = RAG_CONV_CORRUPT;
    if (pages > RAG_PDF_MAX_PAGES) rc = RAG_CONV_TOO_LARGE;
    for (int i = 0; rc == RAG_CONV_OK && i < pages; i++) {
        PopplerPage *p = poppler_document_get_page(doc, i);
        char *t = p ? poppler_page_get_text(p) : NULL;
        if (t && put_page(&o, t) < 0)
            rc = o.over ? RAG_CONV_TOO_LARGE : RAG_CONV_NOMEM; /* else o.oom */
        g_free(t);
        if (p) g_object_unref(p);
    }
    g_object_unref(doc);
    g_bytes_unref(bytes);
    if (rc == RAG_CONV_OK && (!o.b || rag_token_count(o.b, o.n) == 0)) rc = RAG_CONV_NO_TEXT;
    if (rc != RAG_CONV_OK) {
        free(o.b);
        return rc;
    }
    *text = o.b;
    *text_len = o.n;
    return RAG_CONV_OK;
}
