/*
 * Base64 PDF and DOCX documents to text (convert.h).
 */
#include "convert.h"

#include "docx.h"
#include "pdf.h"

#include <agenthost/base64.h>
#include <agenthost/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The reduced text is kept in one KV value while it is ingested (1 MiB). */
#define MAX_TEXT (900u << 10)

const char *rag_conv_code(rag_conv_err e)
{
    switch (e) {
    case RAG_CONV_OK:
        return "ok";
    case RAG_CONV_BASE64:
        return "invalid";
    case RAG_CONV_TOO_LARGE:
        return "too_large";
    case RAG_CONV_CORRUPT:
        return "corrupt";
    case RAG_CONV_ENCRYPTED:
        return "encrypted";
    case RAG_CONV_NO_TEXT:
        return "no_text";
    case RAG_CONV_NOMEM:
        return "no_memory";
    }
    return "invalid";
}

int rag_convert_handles(const char *format)
{
    return format && (strcmp(format, "pdf") == 0 || strcmp(format, "docx") == 0);
}

rag_conv_err rag_base64_decode(const char *s, size_t n, size_t max, unsigned char **out,
                               size_t *out_len)
{
    switch (ah_base64_decode(s, n, max, out, out_len)) {
    case AH_OK:
        return RAG_CONV_OK;
    case AH_ETOOBIG:
        return RAG_CONV_TOO_LARGE;
    case AH_ENOMEM:
        return RAG_CONV_NOMEM;
    default:
        return RAG_CONV_BASE64;
    }
}

static void explain(rag_conv_err e, const char *format, size_t bytes, size_t max, char *msg,
                    size_t len)
{
    switch (e) {
    case RAG_CONV_BASE64:
        snprintf(msg, len, "content: a %s document is sent as base64, and this is not base64",
                 format);
        break;
    case RAG_CONV_TOO_LARGE:
        if (bytes > max)
            snprintf(msg, len,
                     "content: %zu bytes once decoded is over the limit of %zu "
                     "(max_document_bytes)",
                     bytes, max);
        else
            snprintf(msg, len,
                     "content: the %s unpacks to more than the plugin reads (%u pages, "
                     "%u KiB of text, %u MiB per part)",
                     format, RAG_PDF_MAX_PAGES, MAX_TEXT >> 10, RAG_DOCX_MAX_PART >> 20);
        break;
    case RAG_CONV_CORRUPT:
        snprintf(msg, len, "content: not a readable %s (damaged, truncated, or another format)",
                 strcmp(format, "pdf") == 0 ? "PDF" : "DOCX (a zip with word/document.xml)");
        break;
    case RAG_CONV_ENCRYPTED:
        snprintf(msg, len,
                 "content: the %s is protected by a password; remove the password "
                 "and send it again%s",
                 strcmp(format, "pdf") == 0 ? "PDF" : "DOCX",
                 strcmp(format, "pdf") == 0 ? "" : " (or it is a legacy .doc: save it as .docx)");
        break;
    case RAG_CONV_NO_TEXT:
        snprintf(msg, len,
                 "content: the %s holds no text (a scan or images only: run OCR "
                 "first)",
                 strcmp(format, "pdf") == 0 ? "PDF" : "DOCX");
        break;
    default:
        snprintf(msg, len, "out of memory");
        break;
    }
}

rag_conv_err rag_convert(const char *format, const char *s, size_t n, size_t max, char **text,
                         size_t *text_len, char *msg, size_t msg_len)
{
    *text = NULL;
    *text_len = 0;
    unsigned char *data = NULL;
    size_t len = 0;
    rag_conv_err rc = rag_base64_decode(s, n, max, &data, &len);
    if (rc == RAG_CONV_TOO_LARGE) len = n / 4 * 3;
    if (rc == RAG_CONV_OK) {
        static const unsigned char CFB[] = {0xD0, 0xCF, 0x11, 0xE0};
        if (strcmp(format, "docx") == 0 && len >= 4 && memcmp(data, CFB, 4) == 0)
            rc = RAG_CONV_ENCRYPTED; /* Word wraps a password-protected DOCX in OLE */
        else if (strcmp(format, "pdf") == 0)
            rc = rag_pdf_to_text(data, len, MAX_TEXT, text, text_len);
        else
            rc = rag_docx_to_text(data, len, MAX_TEXT, text, text_len);
    }
    free(data);
    if (rc != RAG_CONV_OK) explain(rc, format, len, max, msg, msg_len);
    return rc;
}

/* Run by the runner's dlopen, before lockdown: poppler reads its data
 * directory and libxml2 sets itself up while files may still be opened. */
__attribute__((constructor)) static void rag_convert_preload(void)
{
    static const char DOC[] = "<w:document xmlns:w=\"urn:x\"><w:body><w:p><w:r><w:t>a</w:t>"
                              "</w:r></w:p></w:body></w:document>";
    char *t = NULL;
    size_t n = 0;
    rag_pdf_preload();
    (void)rag_docx_xml_to_text(DOC, sizeof DOC - 1, NULL, 0, 1024, &t, &n);
    free(t);
}
