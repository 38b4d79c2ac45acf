/*
 * The RAG plugin's text core, part 1: UTF-8 tokenisation with case folding
 * (plugins/rag, docs/plugins/rag.md). Plain C, no host: the plugin, the unit
 * tests, the evaluation and the fuzzers link it alike.
 *
 * A token is a run of letters and digits. Folding is Unicode-correct for the
 * scripts a help centre in Russian and English meets: ASCII, Latin-1 and
 * Latin Extended-A, Greek, Cyrillic (with its supplement); `ё` folds to `е`
 * and `ß` to `ss`. Hyphens, dashes and the other punctuation separate tokens
 * ("северо-запад" gives "северо", "запад"); an apostrophe between letters
 * stays in the token ("don't"); a digit run keeps its inner '.' or ','
 * between digits ("3.14", "1,000"). Invisible marks inside a word are
 * dropped without splitting it: the soft hyphen, zero-width joiners, the
 * combining acute and grave accents of Russian stress marks; a combining
 * breve after и gives й, a diaeresis after е gives е. A UTF-8 BOM, anywhere,
 * separates. Invalid UTF-8 separates (never read past the input).
 */
#ifndef RAG_TEXT_H
#define RAG_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* The longest folded token kept, in bytes; a longer word is cut there. */
#define RAG_TOKEN_MAX 128

/* Scripts, by a token's first letter: how the stemmer is chosen. */
typedef enum {
    RAG_SCRIPT_OTHER = 0,
    RAG_SCRIPT_LATIN,
    RAG_SCRIPT_CYRILLIC,
    RAG_SCRIPT_DIGIT
} rag_script;

typedef struct {
    const char *text; /* folded, NUL-terminated; valid during the callback */
    size_t len;       /* bytes of text */
    size_t start;     /* byte offset of the token's first byte in the input */
    size_t end;       /* byte offset just past its last byte */
    rag_script script;
} rag_token;

/* Called for each token in order; a nonzero return stops and is returned. */
typedef int (*rag_token_fn)(void *ud, const rag_token *tok);

/* Tokenises s[0..n). Returns 0 when all tokens were seen, or the callback's
 * nonzero return. */
int rag_tokenize(const char *s, size_t n, rag_token_fn fn, void *ud);

/* Counts the tokens of s[0..n). */
size_t rag_token_count(const char *s, size_t n);

/* Decodes one code point at s[*i] (n bytes in all), advancing *i; an
 * invalid or truncated sequence gives -1 and advances one byte. */
int32_t rag_utf8_next(const char *s, size_t n, size_t *i);

/* The simple case folding of one code point (ё→е included; ß is folded by
 * the tokenizer, to two letters). */
int32_t rag_fold(int32_t c);

#endif
