/*
 * The answer action (the rag.answer step): a search, then the LLM instance
 * (answer_instance) answers from the passages found, citing them as [n],
 * in the conversation's language; with no passage, or when the model says
 * the passages do not hold the answer, it answers that it does not know.
 */
#include "rag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOT_FOUND_MARK "NOT_IN_PASSAGES"
#define ANSWER_TIMEOUT_MS 120000u

/* The reply language: the argument, else the question's script. */
static const char *reply_language(const json_t *args)
{
    const char *l = json_string_value(json_object_get(args, "reply_language"));
    if (l && *l) return l;
    const char *q = json_string_value(json_object_get(args, "question"));
    for (const unsigned char *s = (const unsigned char *)(q ? q : ""); *s; s++)
        if (*s == 0xD0 || *s == 0xD1) return "ru"; /* Cyrillic's lead bytes */
    return "en";
}

static const char *dont_know(const char *lang)
{
    return !strncmp(lang, "ru", 2)
               ? "Не знаю: в базе знаний нет ответа на этот вопрос."
               : "I don't know: the knowledge base does not hold the answer to this question.";
}

static json_t *citation(const json_t *p, json_int_t n)
{
    return json_pack("{s:I,s:O,s:O?,s:O,s:O,s:O,s:O}", "n", n, "document",
                     json_object_get(p, "document"), "title", json_object_get(p, "title"),
                     "heading_path", json_object_get(p, "heading_path"), "chunk",
                     json_object_get(p, "chunk"), "start", json_object_get(p, "start"), "end",
                     json_object_get(p, "end"));
}

typedef struct {
    ah_call *call;
    json_t *passages, *search; /* search: the search's reranked and rerank_reason */
    char *lang, *mode;
} asking;

/* The search's re-ranking outcome (docs/plugins/rag.md#re-ranking) in a reply. */
static json_t *with_rerank(json_t *reply, const json_t *search)
{
    const char *keys[] = {"reranked", "rerank_reason"};
    for (size_t i = 0; i < 2; i++)
        if (json_object_get(search, keys[i]))
            json_object_set(reply, keys[i], json_object_get(search, keys[i]));
    return reply;
}

static void reply_unknown(ah_call *call, const char *lang, json_t *passages, const char *mode,
                          const char *why, const json_t *search)
{
    R.host->reply(call, with_rerank(json_pack("{s:b,s:s,s:[],s:O,s:s,s:s}", "known", 0, "answer",
                                              dont_know(lang), "citations", "passages", passages,
                                              "mode", mode, "note", why),
                                    search));
}

static void answered(ah_ctx *ctx, int status, const json_t *result, const char *code,
                     const char *message, void *ud)
{
    (void)ctx;
    asking *a = ud;
    const char *content = json_string_value(json_object_get(result, "content"));
    if (status || !content) {
        char msg[600];
        snprintf(msg, sizeof msg, "answering through %s failed: %s: %s", R.answer_instance,
                 code ? code : "no content", message ? message : "");
        R.host->reply_error(a->call, "answer_failed", msg);
    } else if (strstr(content, NOT_FOUND_MARK)) {
        reply_unknown(a->call, a->lang, a->passages, a->mode,
                      "the model found no answer in the passages", a->search);
    } else {
        /* The passages cited as [n]; when the model cites none, every passage it was given. */
        json_t *cites = json_array();
        size_t n = json_array_size(a->passages);
        for (size_t i = 0; i < n; i++) {
            char mark[16];
            snprintf(mark, sizeof mark, "[%zu]", i + 1);
            if (strstr(content, mark))
                json_array_append_new(cites,
                                      citation(json_array_get(a->passages, i), (json_int_t)i + 1));
        }
        int cited = json_array_size(cites) > 0;
        for (size_t i = 0; !cited && i < n; i++)
            json_array_append_new(cites,
                                  citation(json_array_get(a->passages, i), (json_int_t)i + 1));
        R.host->reply(
            a->call,
            with_rerank(json_pack("{s:b,s:s,s:o,s:b,s:O,s:s,s:s}", "known", 1, "answer", content,
                                  "citations", cites, "cited_by_model", cited, "passages",
                                  a->passages, "mode", a->mode, "language", a->lang),
                        a->search));
    }
    json_decref(a->passages);
    json_decref(a->search);
    free(a->lang);
    free(a->mode);
    free(a);
}

static char *prompt_of(const json_t *passages, const char *question)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    fprintf(f, "Passages:\n");
    size_t i;
    const json_t *p;
    json_array_foreach(passages, i, p)
    {
        fprintf(f, "\n[%zu] %s", i + 1, json_string_value(json_object_get(p, "document")) ?: "");
        const char *title = json_string_value(json_object_get(p, "title"));
        if (title) fprintf(f, " \"%s\"", title);
        size_t k;
        const json_t *h;
        json_array_foreach(json_object_get(p, "heading_path"), k, h)
            fprintf(f, " > %s", json_string_value(h) ?: "");
        fprintf(f, "\n%s\n", json_string_value(json_object_get(p, "text")) ?: "");
    }
    fprintf(f, "\nQuestion: %s\n", question);
    fclose(f);
    return buf;
}

static void searched(ah_call *call, const json_t *args, json_t *out, const char *code,
                     const char *message, void *ud)
{
    (void)ud;
    if (code) return (void)R.host->reply_error(call, code, message);
    const char *lang = reply_language(args);
    const char *mode = json_string_value(json_object_get(out, "mode"));
    json_t *ps = json_object_get(out, "passages");
    if (!json_array_size(ps)) {
        reply_unknown(call, lang, ps, mode ? mode : "", "no passage matches the question", out);
        json_decref(out);
        return;
    }
    char system[1200];
    snprintf(system, sizeof system,
             "You answer questions from a company's knowledge base. Use only the numbered "
             "passages given; cite each passage you use as [n] right after what it supports. "
             "Answer in the language whose code is \"%s\". If the passages do not contain the "
             "answer, reply with exactly " NOT_FOUND_MARK " and nothing else.",
             lang);
    char *prompt = prompt_of(ps, json_string_value(json_object_get(args, "question")) ?: "");
    asking *a = calloc(1, sizeof *a);
    json_t *chat = prompt ? json_pack("{s:s,s:s,s:f}", "system_prompt", system, "prompt", prompt,
                                      "temperature", 0.0)
                          : NULL;
    int rc = AH_ENOMEM;
    if (a && chat) {
        *a = (asking){call, json_incref(ps), json_incref(out), strdup(lang),
                      strdup(mode ? mode : "")};
        rc = R.host->call(R.ctx, R.answer_instance, "chat", chat, ANSWER_TIMEOUT_MS, answered, a);
        if (rc) {
            json_decref(a->passages);
            json_decref(a->search);
            free(a->lang);
            free(a->mode);
        }
    }
    if (rc) {
        free(a);
        R.host->reply_error(call, "answer_failed", ah_strerror(rc));
    }
    json_decref(chat);
    free(prompt);
    json_decref(out);
}

void rag_answer(ah_call *call, const json_t *args)
{
    if (!R.answer_instance)
        return (void)R.host->reply_error(
            call, "invalid",
            "answer_instance: set the LLM instance that answers in the configuration");
    rag_search_start(call, args, json_string_value(json_object_get(args, "question")), searched,
                     NULL);
}
