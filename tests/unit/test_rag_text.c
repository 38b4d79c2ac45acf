/*
 * The RAG plugin's text core (plugins/rag: text, analyze, chunk, html,
 * bm25), with no host: tokens fold Latin and Cyrillic case (ё to е, ß to
 * ss, stress marks dropped), split at hyphens, keep numbers whole, skip a
 * BOM and invalid UTF-8; Snowball stems Russian and English words by their
 * script; Markdown chunks keep heading paths, exact offsets, whole list
 * items and a token overlap; HTML reduces to headings, items and
 * paragraphs without scripts; BM25 ranks, filters and forgets removed
 * chunks.
 */
#include "cmocka_pre.h"

#include "../../plugins/rag/analyze.h"
#include "../../plugins/rag/bm25.h"
#include "../../plugins/rag/chunk.h"
#include "../../plugins/rag/html.h"
#include "../../plugins/rag/text.h"
#include "../../plugins/rag/vec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The tokens of s, joined by '|', each with its offsets checked to cover
 * a slice of s. */
typedef struct {
    char out[2048];
    const char *src;
} joined;

static int join_tok(void *ud, const rag_token *t)
{
    joined *j = ud;
    assert_true(t->start < t->end);
    if (j->out[0]) strcat(j->out, "|");
    strncat(j->out, t->text, sizeof j->out - strlen(j->out) - 1);
    return 0;
}

static const char *toks(joined *j, const char *s)
{
    j->out[0] = 0;
    j->src = s;
    rag_tokenize(s, strlen(s), join_tok, j);
    return j->out;
}

static void tokens_fold_latin_and_cyrillic_case_and_yo_to_ye(void **state)
{
    (void)state;
    joined j;
    assert_string_equal(toks(&j, "Ёлка ЁЖИК Щука ÀÉÎÕÜ Straße"), "елка|ежик|щука|àéîõü|strasse");
    assert_string_equal(toks(&j, "ΣΟΦΊΑ σοφίας Ђорђе ЇЖАК"), "σοφία|σοφίασ|ђорђе|їжак");
    assert_string_equal(toks(&j, "ŁÓDŹ Ĳssel"), "łódź|ĳssel");
}

static void tokens_split_at_hyphens_and_keep_numbers_whole(void **state)
{
    (void)state;
    joined j;
    assert_string_equal(toks(&j, "северо-запад e-mail — 3.14, 1,000 и 2024-го"),
                        "северо|запад|e|mail|3.14|1,000|и|2024|го");
    assert_string_equal(toks(&j, "don't Carolina’s end. 'quoted'"), "don't|carolina's|end|quoted");
    assert_string_equal(toks(&j, "COVID19 x86_64"), "covid19|x86|64");
}

static int first_tok(void *ud, const rag_token *t)
{
    *(rag_token *)ud = *t;
    return 1;
}

static void tokens_skip_bom_invisible_marks_and_invalid_utf8(void **state)
{
    (void)state;
    joined j;
    assert_string_equal(toks(&j, "\xEF\xBB\xBFЗащита Пэнтерс"), "защита|пэнтерс");
    /* stress mark U+0301, soft hyphen, и + breve → й, е + diaeresis → е */
    assert_string_equal(toks(&j, "ударе\xCC\x81ние об\xC2\xADщий и\xCC\x86од е\xCC\x88ж"),
                        "ударение|общий|йод|еж");
    assert_string_equal(toks(&j, "ab\xFF\xC0\xAF"
                                 "cd \xE2\x82"),
                        "ab|cd");
    /* offsets: the BOM is not part of the first token */
    const char *s = "\xEF\xBB\xBFЗащита x";
    rag_token first = {0};
    rag_tokenize(s, strlen(s), first_tok, &first);
    assert_int_equal(first.start, 3);
    assert_int_equal(first.end, 3 + strlen("Защита"));
    assert_int_equal(first.script, RAG_SCRIPT_CYRILLIC);
    assert_int_equal(rag_token_count(s, strlen(s)), 2);
}

/* The terms of s through an analyzer, joined by '|'. */
static int join_term(void *ud, const char *t, size_t n, const rag_token *tok)
{
    (void)tok;
    char *out = ud;
    if (out[0]) strcat(out, "|");
    strncat(out, t, n);
    return 0;
}

static void terms_are_stemmed_by_script(void **state)
{
    (void)state;
    rag_analyzer *a = rag_analyzer_new(1);
    assert_non_null(a);
    char out[512] = "";
    const char *s = "Книги книгами running runs 2024 Пробоул";
    rag_analyze(a, s, strlen(s), join_term, out);
    assert_string_equal(out, "книг|книг|run|run|2024|пробоул");
    out[0] = 0;
    const char *q = "защиты защитой ЗАЩИТА";
    rag_analyze(a, q, strlen(q), join_term, out);
    assert_string_equal(out, "защит|защит|защит");
    rag_analyzer_free(a);

    rag_analyzer *plain = rag_analyzer_new(0);
    out[0] = 0;
    rag_analyze(plain, s, strlen(s), join_term, out);
    assert_string_equal(out, "книги|книгами|running|runs|2024|пробоул");
    rag_analyzer_free(plain);
}

static rag_chunk *chunk(const char *s, size_t max, size_t overlap, size_t *n)
{
    rag_chunk_opts o = {max, overlap};
    rag_chunk *c = NULL;
    assert_int_equal(rag_chunk_markdown(s, strlen(s), &o, &c, n), 0);
    return c;
}

static void chunks_keep_heading_paths_and_exact_offsets(void **state)
{
    (void)state;
    const char *md =
        "\xEF\xBB\xBF# Guide\n\nIntro text here.\n\n## Install\n\nRun the installer.\n\n"
        "### Linux\nUse apt.\n\n## Usage #\n\nStart it.\n";
    size_t n;
    rag_chunk *c = chunk(md, 100, 10, &n);
    assert_int_equal(n, 4);
    assert_int_equal(c[0].depth, 1);
    assert_string_equal(c[0].path[0], "Guide");
    assert_int_equal(c[0].start, 3); /* after the BOM: the heading line */
    assert_memory_equal(md + c[0].start, "# Guide\n\nIntro text here.", c[0].end - c[0].start);
    assert_int_equal(c[2].depth, 3);
    assert_string_equal(c[2].path[1], "Install");
    assert_string_equal(c[2].path[2], "Linux");
    assert_memory_equal(md + c[2].start, "### Linux\nUse apt.", c[2].end - c[2].start);
    assert_int_equal(c[3].depth, 2);
    assert_string_equal(c[3].path[1], "Usage");
    assert_int_equal(c[3].tokens, 3);
    rag_chunks_free(c, n);

    const char *setext = "Title\n=====\n\nBody one.\n\nSub\n---\nBody two.\n";
    c = chunk(setext, 100, 0, &n);
    assert_int_equal(n, 2);
    assert_string_equal(c[0].path[0], "Title");
    assert_string_equal(c[1].path[1], "Sub");
    rag_chunks_free(c, n);
}

static void chunks_pack_whole_blocks_and_overlap_in_tokens(void **state)
{
    (void)state;
    /* Three items of 4 tokens each, max 9: two items fit, the third starts
     * a chunk that repeats the last 2 tokens of the one before. */
    const char *md = "- one two three four\n- five six seven eight\n- nine ten eleven twelve\n";
    size_t n;
    rag_chunk *c = chunk(md, 9, 2, &n);
    assert_int_equal(n, 2);
    assert_int_equal(c[0].tokens, 8);
    assert_memory_equal(md + c[0].start, "- one two three four\n- five six seven eight",
                        c[0].end - c[0].start);
    assert_int_equal(c[1].tokens, 6);
    assert_memory_equal(md + c[1].start, "seven eight\n- nine ten eleven twelve",
                        c[1].end - c[1].start);
    rag_chunks_free(c, n);

    /* One paragraph of 10 tokens, max 4, overlap 1: cut between tokens. */
    const char *p = "a b c d e f g h i j";
    c = chunk(p, 4, 1, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(p + c[0].start, "a b c d", c[0].end - c[0].start);
    assert_memory_equal(p + c[1].start, "d e f g", c[1].end - c[1].start);
    assert_memory_equal(p + c[2].start, "g h i j", c[2].end - c[2].start);
    rag_chunks_free(c, n);

    /* A heading inside a code fence is code, not a heading. */
    const char *code = "# A\n\n```\n# not a heading\n```\n";
    c = chunk(code, 50, 0, &n);
    assert_int_equal(n, 1);
    assert_int_equal(c[0].depth, 1);
    rag_chunks_free(c, n);

    /* A heading then a block over the size: no chunk of the heading alone. */
    const char *hb = "# H\n\na b c d e\n";
    c = chunk(hb, 2, 0, &n);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        assert_true(c[i].tokens > 0 && c[i].tokens <= 2);
    assert_memory_equal(hb + c[0].start, "# H\n\na", c[0].end - c[0].start);
    rag_chunks_free(c, n);

    rag_chunk_opts bad = {4, 4};
    assert_int_equal(rag_chunk_markdown("x", 1, &bad, &c, &n), -1);
}

static void html_reduces_to_headings_items_and_paragraphs(void **state)
{
    (void)state;
    const char *h = "<html><head><title>T</title><style>p{}</style></head><body>"
                    "<h1>Refunds   policy</h1><p>Money\n back in <b>14</b> days.</p>"
                    "<script>alert(1)</script><ul><li>One</li><li>Two</li></ul>"
                    "<h2>Contact</h2><div>Mail us<br>today</div><pre>a  b</pre></body></html>";
    char *out;
    size_t n;
    assert_int_equal(rag_html_to_text(h, strlen(h), &out, &n), 0);
    assert_string_equal(out, "# Refunds policy\n\nMoney back in 14 days.\n\n- One\n- Two\n\n"
                             "## Contact\n\nMail us\ntoday\n\na  b");
    assert_int_equal(n, strlen(out));
    free(out);
    assert_int_equal(rag_html_to_text("", 0, &out, &n), 0);
    assert_string_equal(out, "");
    free(out);
    const char *junk = "<<<>>><p><p><p></div></li>&amp;&bogus;";
    assert_int_equal(rag_html_to_text(junk, strlen(junk), &out, &n), 0);
    free(out);
}

static int keep_even(void *ud, uint32_t doc)
{
    (void)ud;
    return doc % 2 == 0;
}

static void bm25_ranks_filters_and_forgets_removed_chunks(void **state)
{
    (void)state;
    rag_analyzer *a = rag_analyzer_new(1);
    rag_index *ix = rag_index_new(a);
    const char *docs[] = {"Возврат денег в течение 14 дней.", "Доставка по России курьером.",
                          "Возвраты товаров и возврат денег.", "Refunds are paid in 14 days."};
    for (int i = 0; i < 4; i++)
        assert_int_equal(rag_index_add(ix, docs[i], strlen(docs[i])), i);
    rag_hit h[4];
    const char *q = "вернуть деньги возврат";
    int n = rag_index_search(ix, q, strlen(q), NULL, NULL, h, 4);
    assert_int_equal(n, 2);
    assert_int_equal(h[0].doc, 2); /* two forms of возврат */
    assert_int_equal(h[1].doc, 0);
    assert_true(h[0].score > h[1].score);
    n = rag_index_search(ix, "refund", 6, NULL, NULL, h, 4);
    assert_int_equal(n, 1);
    assert_int_equal(h[0].doc, 3);
    n = rag_index_search(ix, "14 возврат", strlen("14 возврат"), keep_even, NULL, h, 4);
    assert_int_equal(n, 2);
    assert_int_equal(h[0].doc, 0);
    assert_int_equal(h[1].doc, 2);
    rag_index_remove(ix, 0);
    n = rag_index_search(ix, q, strlen(q), NULL, NULL, h, 4);
    assert_int_equal(n, 1);
    assert_int_equal(h[0].doc, 2);
    assert_int_equal(rag_index_search(ix, "絶対", 6, NULL, NULL, h, 4), 0);
    assert_int_equal(rag_index_search(ix, q, strlen(q), NULL, NULL, h, 1), 1);
    rag_index_free(ix);
    rag_analyzer_free(a);
}

static void vectors_find_the_nearest_and_fusion_weighs_the_lists(void **state)
{
    (void)state;
    rag_vecs v = {.dim = 3};
    const float a[3] = {1, 0, 0}, b[3] = {0, 2, 0}, c[3] = {1, 1, 0}, z[3] = {0, 0, 0};
    assert_int_equal(rag_vecs_add(&v, a), 0);
    assert_int_equal(rag_vecs_add(&v, b), 1);
    assert_int_equal(rag_vecs_add(&v, c), 2);
    assert_int_equal(rag_vecs_add(&v, z), 3);
    const float q[3] = {0.1f, 0.9f, 0};
    rag_hit h[4];
    assert_int_equal(rag_vecs_search(&v, q, NULL, NULL, h, 2), 2);
    assert_int_equal(h[0].doc, 1); /* b, normalised */
    assert_int_equal(h[1].doc, 2);
    assert_int_equal(rag_vecs_search(&v, q, keep_even, NULL, h, 4), 2);
    assert_int_equal(h[0].doc, 2);
    rag_vecs_free(&v);

    /* lexical says 5, 6, 7; vectors say 7, 6: equal weights put 7 and 6 first */
    const rag_hit lex[] = {{5, 9}, {6, 8}, {7, 1}}, vec[] = {{7, 0.9}, {6, 0.8}};
    const rag_hit *lists[] = {lex, vec};
    size_t lens[] = {3, 2};
    double even[] = {1, 1}, lexical[] = {1, 0};
    rag_hit out[3];
    assert_int_equal(rag_fuse(lists, lens, even, 2, RAG_FUSE_RRF, out, 3), 3);
    assert_int_equal(out[0].doc, 7); /* 1/63 + 1/61 */
    assert_int_equal(out[1].doc, 6); /* 1/62 + 1/62, a hair less */
    assert_int_equal(out[2].doc, 5);
    assert_int_equal(rag_fuse(lists, lens, lexical, 2, RAG_FUSE_RRF, out, 3), 3);
    assert_int_equal(out[0].doc, 5);
    assert_int_equal(out[1].doc, 6);
}

/* Convex fusion weighs how far apart the scores are, not only the ranks:
 * BM25 9, 8.9, 1 (5 and 6 nearly tied) and cosines 0.9, 0.1 for 6 and 5.
 * Normalised: BM25 5 -> 1, 6 -> 0.9875, 7 -> 0; vectors 6 -> 1, 5 -> 0.
 * At 1 : 1, 6 (0.99375) passes 5 (0.5); 7 (only BM25's last) scores 0. */
static void convex_fusion_averages_min_max_normalised_scores(void **s)
{
    (void)s;
    const rag_hit lex[] = {{5, 9}, {6, 8.9}, {7, 1}}, vec[] = {{6, 0.9}, {5, 0.1}};
    const rag_hit *lists[] = {lex, vec};
    size_t lens[] = {3, 2};
    double even[] = {1, 1}, lexical[] = {1, 0}, none[] = {0, 0};
    rag_hit out[4];
    assert_int_equal(rag_fuse(lists, lens, even, 2, RAG_FUSE_CONVEX, out, 4), 3);
    assert_int_equal(out[0].doc, 6);
    assert_float_equal(out[0].score, (0.9875 + 1) / 2, 1e-9);
    assert_int_equal(out[1].doc, 5);
    assert_float_equal(out[1].score, 0.5, 1e-9);
    assert_int_equal(out[2].doc, 7);
    assert_float_equal(out[2].score, 0, 1e-9);
    /* BM25 alone: its order, its normalised scores */
    assert_int_equal(rag_fuse(lists, lens, lexical, 2, RAG_FUSE_CONVEX, out, 4), 3);
    assert_int_equal(out[0].doc, 5);
    assert_float_equal(out[0].score, 1, 1e-9);
    assert_int_equal(out[1].doc, 6);
    /* a list of equal scores counts 1 for each; no weight at all: no NaN */
    const rag_hit flat[] = {{3, 2}, {4, 2}};
    const rag_hit *one[] = {flat};
    size_t n1[] = {2};
    assert_int_equal(rag_fuse(one, n1, even, 1, RAG_FUSE_CONVEX, out, 4), 2);
    assert_float_equal(out[0].score, 1, 1e-9);
    assert_float_equal(out[1].score, 1, 1e-9);
    assert_int_equal(rag_fuse(lists, lens, none, 2, RAG_FUSE_CONVEX, out, 4), 3);
    assert_true(out[0].score == 0);
    /* nothing to fuse */
    size_t zero[] = {0, 0};
    assert_int_equal(rag_fuse(lists, zero, even, 2, RAG_FUSE_CONVEX, out, 4), 0);
    assert_int_equal(rag_fusion_named("rrf"), RAG_FUSE_RRF);
    assert_int_equal(rag_fusion_named("convex"), RAG_FUSE_CONVEX);
    assert_int_equal(rag_fusion_named(NULL), RAG_FUSE_CONVEX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tokens_fold_latin_and_cyrillic_case_and_yo_to_ye),
        cmocka_unit_test(tokens_split_at_hyphens_and_keep_numbers_whole),
        cmocka_unit_test(tokens_skip_bom_invisible_marks_and_invalid_utf8),
        cmocka_unit_test(terms_are_stemmed_by_script),
        cmocka_unit_test(chunks_keep_heading_paths_and_exact_offsets),
        cmocka_unit_test(chunks_pack_whole_blocks_and_overlap_in_tokens),
        cmocka_unit_test(html_reduces_to_headings_items_and_paragraphs),
        cmocka_unit_test(bm25_ranks_filters_and_forgets_removed_chunks),
        cmocka_unit_test(vectors_find_the_nearest_and_fusion_weighs_the_lists),
        cmocka_unit_test(convex_fusion_averages_min_max_normalised_scores),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
