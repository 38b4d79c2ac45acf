/*
 * Deterministic stand-in embeddings (issue 18): hashed character trigrams
 * of folded tokens (plugins/rag/text.h), each word framed as ^word$, plus
 * the whole word, signed-hashed into `dims` buckets and L2-normalised.
 * Words sharing a stem share most trigrams, in any script, so the vector
 * path is real and testable without a model; quality figures from it say
 * nothing about a real embedding model. Served by fake_openai for models
 * named "ngram-*", and used in-process by the evaluation.
 */
#ifndef NGRAM_EMBED_H
#define NGRAM_EMBED_H

#include <jansson.h>
#include <stddef.h>

void ngram_embed(const char *text, size_t n, float *out, int dims);

/* What the llm plugin's `embed` action answers for texts (an array of
 * strings): {"result": {"embeddings": [[dims numbers], ...]}}, in order. */
json_t *ngram_embed_answer(const json_t *texts, int dims);

#endif
