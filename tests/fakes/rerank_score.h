/*
 * The fake re-ranker (issue 18): scores the passages of a re-ranking
 * prompt (plugins/rag/rerank.c's format: <query> and <passage id="N">) by
 * how many of the query's words each holds, words compared folded
 * (plugins/rag/text.h) on their first five letters, a crude stem. It is
 * deterministic and only a stand-in for a model's judgement: quality
 * figures from it say nothing about a real re-ranker. Served by
 * fake_openai for chat requests with the passage_relevance JSON schema,
 * and used in-process by the unit tests and the evaluation.
 */
#ifndef RERANK_SCORE_H
#define RERANK_SCORE_H

enum {
    RERANK_NORMAL = 0,
    RERANK_MISSING = 1, /* the last passage's score left out */
    RERANK_INVENT = 2,  /* ids the prompt does not hold added */
};

/* The answer's content, {"scores": [{"id", "score"}]} as JSON text (to
 * free), or NULL when prompt holds no <query>. */
char *rerank_score(const char *prompt, int variant);

#endif
