/*
 * The RAG evaluation: a BEIR set and its scores (rag_eval.h).
 */
#include "rag_eval.h"

#include "../../plugins/rag/bm25.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*line_fn)(void *ud, char *line);

static int each_line(const char *path, line_fn fn, void *ud)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "rag_eval: cannot open %s\n", path);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, f)) > 0) {
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        if (n) rc = fn(ud, line);
    }
    free(line);
    fclose(f);
    return rc;
}

static int push(char ***v, size_t n, char *s)
{
    char **nv = realloc(*v, (n + 1) * sizeof *nv);
    if (!nv || !s) {
        if (nv) *v = nv;
        free(s);
        return -1;
    }
    *v = nv;
    nv[n] = s;
    return 0;
}

typedef struct {
    rag_set *s;
    char **qid;
} loading;

static int json_line(const char *line, const char **id, const char **text, json_t **j)
{
    *j = json_loads(line, 0, NULL);
    *id = json_string_value(json_object_get(*j, "_id"));
    *text = json_string_value(json_object_get(*j, "text"));
    if (!*id || !*text) {
        fprintf(stderr, "rag_eval: a line without _id or text\n");
        json_decref(*j);
        return -1;
    }
    return 0;
}

static int corpus_line(void *ud, char *line)
{
    rag_set *s = ((loading *)ud)->s;
    const char *id, *text;
    json_t *j;
    if (json_line(line, &id, &text, &j) < 0) return -1;
    int rc = push(&s->doc_id, s->ndocs, strdup(id));
    if (rc == 0) rc = push(&s->doc_text, s->ndocs, strdup(text));
    if (rc == 0) s->ndocs++;
    json_decref(j);
    return rc;
}

static int query_line(void *ud, char *line)
{
    loading *l = ud;
    rag_set *s = l->s;
    const char *id, *text;
    json_t *j;
    if (json_line(line, &id, &text, &j) < 0) return -1;
    int rc = push(&l->qid, s->nqueries, strdup(id));
    if (rc == 0) rc = push(&s->query_text, s->nqueries, strdup(text));
    if (rc == 0) s->nqueries++;
    json_decref(j);
    return rc;
}

static int find(char **v, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], id) == 0) return (int)i;
    return -1;
}

static int qrels_line(void *ud, char *line)
{
    loading *l = ud;
    char *tab = strchr(line, '\t'), *tab2 = tab ? strchr(tab + 1, '\t') : NULL;
    if (!tab || !tab2) return -1;
    *tab = *tab2 = 0;
    if (strcmp(line, "query-id") == 0) return 0;
    int q = find(l->qid, l->s->nqueries, line), d = find(l->s->doc_id, l->s->ndocs, tab + 1);
    if (q < 0 || d < 0) {
        fprintf(stderr, "rag_eval: qrels name an unknown query or document: %s\n", line);
        return -1;
    }
    l->s->relevant[q] = d;
    return 0;
}

int rag_set_load(rag_set *s, const char *dir)
{
    memset(s, 0, sizeof *s);
    loading l = {s, NULL};
    char path[4096];
    int rc = -1;
    snprintf(path, sizeof path, "%s/corpus.jsonl", dir);
    if (each_line(path, corpus_line, &l) < 0) goto out;
    snprintf(path, sizeof path, "%s/queries.jsonl", dir);
    if (each_line(path, query_line, &l) < 0) goto out;
    s->relevant = malloc((s->nqueries + 1) * sizeof *s->relevant);
    if (!s->relevant) goto out;
    for (size_t i = 0; i < s->nqueries; i++)
        s->relevant[i] = -1;
    snprintf(path, sizeof path, "%s/qrels.tsv", dir);
    if (each_line(path, qrels_line, &l) < 0) goto out;
    rc = 0;
out:
    for (size_t i = 0; i < s->nqueries; i++)
        free(l.qid[i]);
    free(l.qid);
    if (rc < 0) rag_set_free(s);
    return rc;
}

void rag_set_free(rag_set *s)
{
    for (size_t i = 0; i < s->ndocs; i++) {
        free(s->doc_id[i]);
        free(s->doc_text[i]);
    }
    for (size_t i = 0; i < s->nqueries; i++)
        free(s->query_text[i]);
    free(s->doc_id);
    free(s->doc_text);
    free(s->query_text);
    free(s->relevant);
    memset(s, 0, sizeof *s);
}

void rag_score(const rag_set *s, rag_rank_fn rank, void *ud, rag_scores *out)
{
    memset(out, 0, sizeof *out);
    for (size_t q = 0; q < s->nqueries; q++) {
        if (s->relevant[q] < 0) continue;
        uint32_t docs[10];
        int n = rank(ud, s->query_text[q], docs, 10);
        out->queries++;
        for (int i = 0; i < n; i++) {
            if ((int)docs[i] != s->relevant[q]) continue;
            out->ndcg10 += 1.0 / log2(i + 2.0);
            out->r1 += i < 1;
            out->r5 += i < 5;
            break;
        }
    }
    if (!out->queries) return;
    out->ndcg10 /= (double)out->queries;
    out->r1 /= (double)out->queries;
    out->r5 /= (double)out->queries;
}

static int rank_bm25(void *ud, const char *query, uint32_t *docs, size_t k)
{
    rag_hit hits[10];
    int n = rag_index_search(ud, query, strlen(query), NULL, NULL, hits, k < 10 ? k : 10);
    for (int i = 0; i < n; i++)
        docs[i] = hits[i].doc;
    return n < 0 ? 0 : n;
}

int rag_eval_bm25(const rag_set *s, int stem, rag_scores *out)
{
    rag_analyzer *a = rag_analyzer_new(stem);
    rag_index *ix = a ? rag_index_new(a) : NULL;
    int rc = ix ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < s->ndocs; i++)
        if (rag_index_add(ix, s->doc_text[i], strlen(s->doc_text[i])) != (int64_t)i) rc = -1;
    if (rc == 0) rag_score(s, rank_bm25, ix, out);
    rag_index_free(ix);
    rag_analyzer_free(a);
    return rc;
}
