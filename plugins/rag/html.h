/*
 * The RAG plugin's text core, part 4: HTML reduced to Markdown-shaped text
 * for the chunker (chunk.h), with libxml2's HTML parser (ADR 0025 brought
 * it in; ADR 0029). Headings h1-h6 become ATX headings, list items "- "
 * lines, block elements blank-line separated paragraphs, <br> a line break;
 * script, style, noscript, template, head, svg and iframe are dropped; runs
 * of white space collapse to one space outside <pre>. The parser never
 * reaches the network or the file system (HTML_PARSE_NONET, memory only).
 */
#ifndef RAG_HTML_H
#define RAG_HTML_H

#include <stddef.h>

/* Reduces s[0..n) to text: *out (malloc'd, NUL-terminated, free it) of
 * *out_len bytes. Returns 0, or -1 when out of memory or the input is over
 * RAG_HTML_MAX bytes (libxml2 takes an int length). */
#define RAG_HTML_MAX (64u << 20)
int rag_html_to_text(const char *s, size_t n, char **out, size_t *out_len);

#endif
