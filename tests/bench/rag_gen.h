/*
 * rag_gen.h - generated text for the knowledge-base benchmarks (issue 18):
 * Russian and English words of a help centre's vocabulary, Zipf-like
 * (log-uniform ranks over 2,000 terms, the rarer ones numbered), from a
 * seeded xorshift generator, so every run makes the same text.
 */
#ifndef RAG_GEN_H
#define RAG_GEN_H

#include <stddef.h>
#include <stdint.h>

/* Restart the sequence (the same seed, the same words). */
void rag_gen_seed(uint64_t seed);
/* One word into out (NUL-terminated); its length. */
int rag_gen_word(char *out, size_t cap);
/* words words, a full stop every fifteen; malloc'd. */
char *rag_gen_text(size_t words);

#endif
