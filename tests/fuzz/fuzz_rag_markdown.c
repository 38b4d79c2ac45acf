/*
 * Fuzz target: any bytes through the RAG Markdown chunker (plugins/rag/
 * chunk.c) with sizes from the first byte: chunks lie within the input, in
 * order, never over the size, with heading paths no deeper than six.
 * Input layout: [u8 max tokens seed][u8 overlap seed][the text].
 */
#include "../../plugins/rag/chunk.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    rag_chunk_opts o = {1 + data[0] % 64, 0};
    o.overlap_tokens = data[1] % o.max_tokens;
    const char *s = (const char *)data + 2;
    size_t n = size - 2, count = 0;
    rag_chunk *c = NULL;
    if (rag_chunk_markdown(s, n, &o, &c, &count) < 0) return 0;
    for (size_t i = 0; i < count; i++) {
        if (c[i].start >= c[i].end || c[i].end > n) __builtin_trap();
        if (c[i].tokens == 0 || c[i].tokens > o.max_tokens) __builtin_trap();
        if (c[i].depth > RAG_HEADING_DEPTH) __builtin_trap();
        if (i && c[i].start < c[i - 1].start) __builtin_trap();
    }
    rag_chunks_free(c, count);
    return 0;
}
