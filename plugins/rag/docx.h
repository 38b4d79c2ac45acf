/*
 * The RAG plugin's DOCX reader (ADR 0048): a DOCX is a zip (libarchive,
 * from memory) whose word/document.xml holds the paragraphs and
 * word/styles.xml their styles. The XML (libxml2, no network, no entity
 * loading) is reduced to Markdown-shaped text for the chunker: a paragraph
 * whose style is a heading ("heading N" by name, "Title", or an outline
 * level) becomes an ATX heading of that level, a numbered or bulleted one
 * a "- " item, any other a paragraph; runs' w:t text is joined, w:tab is a
 * space, w:br a line break, deleted text (w:delText) is left out; table
 * cells are paragraphs. Unpacked parts are capped (a zip bomb is refused).
 */
#ifndef RAG_DOCX_H
#define RAG_DOCX_H

#include "convert.h"

#include <stddef.h>

/* The most a part (document.xml, styles.xml) may unpack to. */
#define RAG_DOCX_MAX_PART (32u << 20)

/* The text of the DOCX data[0..n) into *text (malloc'd, NUL-terminated). */
rag_conv_err rag_docx_to_text(const unsigned char *data, size_t n, size_t max_text, char **text,
                              size_t *text_len);

/* The XML part of the above, for the fuzzer: document.xml with styles.xml
 * (styles may be NULL). Malformed XML gives RAG_CONV_CORRUPT. */
rag_conv_err rag_docx_xml_to_text(const char *document, size_t n, const char *styles,
                                  size_t styles_n, size_t max_text, char **text, size_t *text_len);

#endif
