/*
 * Fuzz target: any bytes through the RAG DOCX reader (plugins/rag/docx.c,
 * ADR 0048) and the chunker after it. Input opening with "PK" is a zip
 * (libarchive: parts capped, then the XML); any other is split at its
 * first NUL into styles.xml and document.xml for the XML reducer itself.
 * The text must be NUL-terminated at its length and chunk cleanly.
 */
#include "../../plugins/rag/chunk.h"
#include "../../plugins/rag/docx.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *out = NULL;
    size_t n = 0;
    rag_conv_err e;
    if (size >= 2 && data[0] == 'P' && data[1] == 'K') {
        e = rag_docx_to_text(data, size, 1 << 20, &out, &n);
    } else {
        const uint8_t *nul = memchr(data, 0, size);
        const char *doc = nul ? (const char *)nul + 1 : (const char *)data;
        size_t doc_n = nul ? size - (size_t)(nul + 1 - data) : size;
        e = rag_docx_xml_to_text(doc, doc_n, nul ? (const char *)data : NULL,
                                 nul ? (size_t)(nul - data) : 0, 1 << 20, &out, &n);
    }
    if (e != RAG_CONV_OK) {
        if (out) __builtin_trap(); /* a refusal hands nothing back */
        return 0;
    }
    if (out[n] != 0 || strlen(out) != n) __builtin_trap();
    rag_chunk_opts o = {32, 4};
    rag_chunk *c = NULL;
    size_t count = 0;
    if (rag_chunk_markdown(out, n, &o, &c, &count) == 0) rag_chunks_free(c, count);
    free(out);
    return 0;
}
