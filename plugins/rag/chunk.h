/*
 * The RAG plugin's text core, part 3: chunking that respects structure.
 *
 * The input is Markdown (plain text is Markdown without headings; HTML is
 * reduced to it first, html.h). Blocks are ATX and setext headings, fenced
 * code, paragraphs and list items. A heading closes the chunk before it and
 * pushes its title on the heading path; blocks of one section are packed
 * into chunks of at most max_tokens tokens (text.h's tokens), never cutting
 * a block that fits; a block larger than that is cut between tokens. Within
 * a section a chunk repeats the last overlap_tokens tokens of the one before.
 * A chunk is a byte range of the input (start, end), so a citation's offsets
 * point into the document's own text; its heading path is the titles of the
 * headings it sits under, outermost first.
 */
#ifndef RAG_CHUNK_H
#define RAG_CHUNK_H

#include <stddef.h>

#define RAG_HEADING_DEPTH 6

typedef struct {
    size_t start, end;             /* bytes of the input: [start, end) */
    size_t tokens;                 /* tokens in it */
    size_t depth;                  /* titles in path */
    char *path[RAG_HEADING_DEPTH]; /* heading titles, outermost first; owned */
} rag_chunk;

typedef struct {
    size_t max_tokens;     /* >= 1 */
    size_t overlap_tokens; /* < max_tokens */
} rag_chunk_opts;

/* Chunks s[0..n). On success *out (free with rag_chunks_free) holds *count
 * chunks in order, and 0 is returned; -1 on bad options or out of memory. */
int rag_chunk_markdown(const char *s, size_t n, const rag_chunk_opts *o, rag_chunk **out,
                       size_t *count);
void rag_chunks_free(rag_chunk *c, size_t n);

#endif
