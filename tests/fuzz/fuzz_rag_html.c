/*
 * Fuzz target: any bytes through the RAG HTML reducer (plugins/rag/html.c,
 * libxml2's HTML parser) and the chunker after it: the text is
 * NUL-terminated at its length.
 */
#include "../../plugins/rag/chunk.h"
#include "../../plugins/rag/html.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *out = NULL;
    size_t n = 0;
    if (rag_html_to_text((const char *)data, size, &out, &n) < 0) return 0;
    if (out[n] != 0) __builtin_trap();
    rag_chunk_opts o = {32, 4};
    rag_chunk *c = NULL;
    size_t count = 0;
    if (rag_chunk_markdown(out, n, &o, &c, &count) == 0) rag_chunks_free(c, count);
    free(out);
    return 0;
}
