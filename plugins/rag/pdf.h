/*
 * The RAG plugin's PDF reader: the text of each page through poppler-glib
 * (Debian's libpoppler-glib-dev, ADR 0048), pages separated by blank lines,
 * from memory only. Poppler reads its data directory (encodings, CMaps)
 * the first time a document is opened: rag_pdf_preload opens a tiny one
 * from the plugin's constructor, before the sandbox's lockdown, and the
 * reader refuses what would need a file afterwards (fonts are never
 * loaded: text extraction reads ToUnicode maps and encodings only).
 */
#ifndef RAG_PDF_H
#define RAG_PDF_H

#include "convert.h"

#include <stddef.h>

/* Pages beyond this are not read (refused as too large). */
#define RAG_PDF_MAX_PAGES 2000

void rag_pdf_preload(void);

/* The text of the PDF data[0..n) into *text (malloc'd, NUL-terminated). A
 * password-protected document gives RAG_CONV_ENCRYPTED, one poppler cannot
 * open RAG_CONV_CORRUPT, one without a word RAG_CONV_NO_TEXT. */
rag_conv_err rag_pdf_to_text(const unsigned char *data, size_t n, size_t max_text, char **text,
                             size_t *text_len);

#endif
