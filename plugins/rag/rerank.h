/*
 * Optional re-ranking of a search's passages by an LLM
 * (docs/plugins/rag.md#re-ranking): the fused top N candidates are sent,
 * in one chat call to the configured LLM instance (rerank_instance, else
 * answer_instance), with the query; the model scores each passage's
 * relevance in a strict JSON answer, and the candidates are reordered by
 * those scores (ties keep the fused order). Citations are untouched: only
 * the order changes, and each re-ranked passage gains rerank_score.
 *
 * A failure loses nothing: an answer that is not the JSON asked for, one
 * that leaves out a passage, a provider's error or timeout all leave the
 * fused order, with the reason said. Ids the model invents are ignored.
 */
#ifndef RAG_RERANK_H
#define RAG_RERANK_H

#include <jansson.h>
#include <stddef.h>

/* The most candidates one re-ranking sends (rerank.top_n's maximum), and
 * the bytes of each passage's text sent (longer texts are cut at a
 * character boundary). */
#define RAG_RERANK_MAX_N 50
#define RAG_RERANK_PASSAGE_BYTES 2000

/* The re-ranking a search asks for: args' "rerank" ({top_n}), else the
 * base record's "rerank" (kb.create), else none. Sets *top_n (0: none) and
 * returns 0, or -1 with msg naming the field (not an object, top_n not an
 * integer from 0 to RAG_RERANK_MAX_N). */
int rag_rerank_top_n(const json_t *args, const json_t *kb_rec, size_t *top_n, char *msg,
                     size_t msglen);

/* Re-ranks the first top_n of passages (taken) for query, then runs done
 * once with the passages (given back: reordered, or as they were) and the
 * outcome (given: {reranked, top_n, sent: the passages sent, took_us,
 * reason?, ignored_ids?}). */
typedef void (*rag_rerank_done)(json_t *passages, json_t *outcome, void *ud);
void rag_rerank(const char *query, json_t *passages, size_t top_n, rag_rerank_done done, void *ud);

#endif
