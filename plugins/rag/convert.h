/*
 * The RAG plugin's binary formats (issue 18, ADR 0048): a document sent as
 * base64 in `document.add` with `format` "pdf" or "docx" is decoded, checked
 * against the size limit and reduced to Markdown-shaped text for the
 * chunker (chunk.h): PDF through poppler-glib (pdf.h), DOCX through
 * libarchive and libxml2 (docx.h). Plain C, no host.
 */
#ifndef RAG_CONVERT_H
#define RAG_CONVERT_H

#include <stddef.h>

/* Why a document was refused: the code `document.add` answers with. */
typedef enum {
    RAG_CONV_OK = 0,
    RAG_CONV_BASE64,    /* "invalid": content is not base64 */
    RAG_CONV_TOO_LARGE, /* "too_large": over the limit, decoded or once unpacked */
    RAG_CONV_CORRUPT,   /* "corrupt": not a PDF / DOCX, or damaged past reading */
    RAG_CONV_ENCRYPTED, /* "encrypted": a password is needed */
    RAG_CONV_NO_TEXT,   /* "no_text": no words in it (a scan: run OCR first) */
    RAG_CONV_NOMEM
} rag_conv_err;

/* The error code string of e ("corrupt", ...). */
const char *rag_conv_code(rag_conv_err e);

/* 1 for the formats this module converts: "pdf", "docx". */
int rag_convert_handles(const char *format);

/* Decodes base64 b64[0..n) (white space ignored) into *out (malloc'd) of
 * *out_len bytes; refuses with RAG_CONV_TOO_LARGE past max bytes. */
rag_conv_err rag_base64_decode(const char *b64, size_t n, size_t max, unsigned char **out,
                               size_t *out_len);

/* The whole path: base64 content of a format rag_convert_handles accepts,
 * at most max bytes once decoded, to NUL-terminated text (*text, malloc'd,
 * *text_len bytes). On a refusal msg (msg_len bytes) says why, naming the
 * field. */
rag_conv_err rag_convert(const char *format, const char *b64, size_t n, size_t max, char **text,
                         size_t *text_len, char *msg, size_t msg_len);

#endif
