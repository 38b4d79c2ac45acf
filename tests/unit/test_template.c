/* The template engine (host/engine/template.h) and the language picker
 * (host/engine/lang.h): every filter, blocks, escaping, plurals, errors
 * with their places, bounds, UTF-8 safety, strict and lenient modes. */
#include "cmocka_pre.h"

#include "engine/lang.h"
#include "engine/template.h"

#include <agenthost/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------------- */

static json_t *ctx_of(const char *json)
{
    json_error_t je;
    json_t *j = json_loads(json ? json : "{}", JSON_DECODE_ANY, &je);
    if (!j) fail_msg("bad test context %s: %s", json, je.text);
    return j;
}

/* Render src against the JSON text ctx with opts; the result, for free(). */
static char *render_with(const char *src, const char *ctx, const tmpl_opts *o)
{
    tmpl *t;
    tmpl_error err;
    if (tmpl_compile(src, strlen(src), &t, &err) != 0)
        fail_msg("compile \"%s\": %d:%d: %s", src, err.pos.line, err.pos.column, err.message);
    json_t *c = ctx_of(ctx);
    char *out;
    size_t len;
    int rc = tmpl_render(t, c, o, &out, &len, &err);
    json_decref(c);
    tmpl_free(t);
    if (rc != 0) fail_msg("render \"%s\": %s", src, err.message);
    assert_int_equal(strlen(out), len);
    return out;
}

static void expect(const char *src, const char *ctx, const char *want)
{
    char *out = render_with(src, ctx, NULL);
    if (strcmp(out, want)) fail_msg("\"%s\" rendered \"%s\", expected \"%s\"", src, out, want);
    free(out);
}

static void expect_lang(const char *src, const char *ctx, const char *lang, const char *want)
{
    tmpl_opts o = {.lang = lang};
    char *out = render_with(src, ctx, &o);
    if (strcmp(out, want))
        fail_msg("\"%s\" (%s) rendered \"%s\", expected \"%s\"", src, lang ? lang : "no language",
                 out, want);
    free(out);
}

/* Compiling src fails with code at line:column, the message holding what. */
static void compile_fails(const char *src, size_t len, int code, int line, int column,
                          const char *what)
{
    tmpl *t = (tmpl *)1;
    tmpl_error err;
    int rc = tmpl_compile(src, len, &t, &err);
    if (rc != code) fail_msg("\"%s\": got %d (%s), expected %d", src, rc, err.message, code);
    assert_null(t);
    assert_int_equal(err.code, code);
    if (err.pos.line != line || err.pos.column != column || !strstr(err.message, what))
        fail_msg("\"%s\": got %d:%d \"%s\", expected %d:%d \"...%s...\"", src, err.pos.line,
                 err.pos.column, err.message, line, column, what);
    assert_int_equal(tmpl_check(src, len, &err), code);
}

static void compile_fails_s(const char *src, int code, int line, int column, const char *what)
{
    compile_fails(src, strlen(src), code, line, column, what);
}

/* Rendering src fails with code at line:column, the message holding what. */
static void render_fails(const char *src, const char *ctx, const tmpl_opts *o, int code, int line,
                         int column, const char *what)
{
    tmpl *t;
    tmpl_error err;
    assert_int_equal(tmpl_compile(src, strlen(src), &t, &err), 0);
    json_t *c = ctx_of(ctx);
    char *out = (char *)1;
    size_t len = 1;
    int rc = tmpl_render(t, c, o, &out, &len, &err);
    json_decref(c);
    tmpl_free(t);
    if (rc != code) fail_msg("\"%s\": got %d (%s), expected %d", src, rc, err.message, code);
    assert_null(out);
    assert_int_equal(len, 0);
    if (err.pos.line != line || err.pos.column != column || !strstr(err.message, what))
        fail_msg("\"%s\": got %d:%d \"%s\", expected %d:%d \"...%s...\"", src, err.pos.line,
                 err.pos.column, err.message, line, column, what);
}

/* ---- substitution and escaping ---------------------------------------------- */

static void test_paths_substitute_values_as_text(void **s)
{
    (void)s;
    const char *ctx = "{\"contact\": {\"name\": \"Анна\"}, \"variables\": {\"items\": [{\"title\": "
                      "\"Чай\"}, {\"title\": \"Кофе\"}]}, \"n\": 42, \"r\": 0.1, \"big\": 1e21, "
                      "\"t\": true, \"f\": false, \"z\": null, \"o\": {\"a\": [1, \"x\"]}}";
    expect("Hello, {{ contact.name }}!", ctx, "Hello, Анна!");
    expect("{{variables.items.1.title}}", ctx, "Кофе");
    expect("{{n}} {{r}} {{big}} {{t}} {{f}} [{{z}}]", ctx, "42 0.1 1e+21 true false []");
    expect("{{o}}", ctx, "{\"a\":[1,\"x\"]}");
    expect("no tags at all }} {", ctx, "no tags at all }} {");
    expect("", ctx, "");
}

static void test_string_heads_escape_double_braces(void **s)
{
    (void)s;
    expect("{{ \"{{\" }}name}}", NULL, "{{name}}");
    expect("{{'{{'}}", NULL, "{{");
    expect("{{ 'it\\'s' }} {{ \"a\\\"b\\\\c\" }}", NULL, "it's a\"b\\c");
    expect("{{ \"x\" | upper }}", NULL, "X");
    expect("{{! a comment, {{ and all }}ok", NULL, "ok");
}

/* ---- filters ---------------------------------------------------------------- */

static void test_default_replaces_missing_null_and_empty_values(void **s)
{
    (void)s;
    const char *ctx = "{\"a\": null, \"b\": \"\", \"c\": \"Bob\", \"zero\": 0}";
    expect("{{ nobody | default(\"friend\") }}", ctx, "friend");
    expect("{{ a | default(\"friend\") }}", ctx, "friend");
    expect("{{ b | default('friend') }}", ctx, "friend");
    expect("{{ c | default(\"friend\") }}", ctx, "Bob");
    expect("{{ zero | default(5) }}", ctx, "0");
    expect("{{ nobody | default(2.5) }}|{{ nobody | default(true) }}", ctx, "2.5|true");
    /* filters before it pass a missing value along */
    expect("{{ nobody | upper | trim | default(\"x\") }}", ctx, "x");
}

static void test_case_filters_map_latin_and_cyrillic(void **s)
{
    (void)s;
    const char *ctx = "{\"a\": \"ёлка Straße élan\", \"b\": \"ПРИВЕТ, World ЁЖ\", \"c\": \"иван "
                      "петров\", \"g\": \"σοφία ς\", \"n\": 12}";
    expect("{{ a | upper }}", ctx, "ЁЛКА STRAßE ÉLAN");
    expect("{{ b | lower }}", ctx, "привет, world ёж");
    expect("{{ c | capitalize }}", ctx, "Иван петров");
    expect("{{ b | lower | capitalize }}", ctx, "Привет, world ёж");
    expect("{{ g | upper }}", ctx, "ΣΟΦΊΑ Σ");
    expect("{{ n | upper }}", ctx, "12");
    expect("{{ \"\" | capitalize }}", ctx, "");
}

static void test_trim_removes_outer_blanks_only(void **s)
{
    (void)s;
    expect("[{{ a | trim }}]", "{\"a\": \" \\t\\n два  слова \\r\\n\"}", "[два  слова]");
    expect("[{{ a | trim }}]", "{\"a\": \"   \"}", "[]");
}

static void test_truncate_counts_characters_and_never_cuts_one(void **s)
{
    (void)s;
    const char *ctx = "{\"a\": \"Привет, мир\", \"e\": \"😀😀😀\", \"n\": 123456}";
    expect("{{ a | truncate(7) }}", ctx, "Привет…");
    expect("{{ a | truncate(5, \"...\") }}", ctx, "Пр...");
    expect("{{ a | truncate(11) }}", ctx, "Привет, мир");
    expect("{{ a | truncate(0) }}", ctx, "");
    expect("{{ e | truncate(2, \"\") }}", ctx, "😀😀");
    expect("{{ n | truncate(4, \"\") }}", ctx, "1234");
    /* every length of a mixed string renders whole characters (jansson
     * refuses invalid UTF-8 in json_string) */
    const char *mixed = "{\"m\": \"aé😀ж b\"}";
    for (int n = 0; n <= 8; n++) {
        char src[64];
        snprintf(src, sizeof(src), "{{ m | truncate(%d, \"\") }}", n);
        char *out = render_with(src, mixed, NULL);
        json_t *j = json_string(out);
        if (!j) fail_msg("truncate(%d) cut a character: %s", n, out);
        json_decref(j);
        free(out);
    }
}

static void test_json_filter_writes_compact_json(void **s)
{
    (void)s;
    const char *ctx = "{\"c\": {\"name\": \"Анна\", \"tags\": [1, 2]}, \"s\": \"a\\\"b\"}";
    expect("{{ c | json }}", ctx, "{\"name\":\"Анна\",\"tags\":[1,2]}");
    expect("{{ s | json }}", ctx, "\"a\\\"b\"");
    expect("{{ c.tags | json | count }}", ctx, "5");
}

static void test_number_filter_fixes_decimals(void **s)
{
    (void)s;
    const char *ctx = "{\"pi\": 3.14159, \"two\": 2, \"s\": \"7.25\", \"neg\": -0.001, \"big\": "
                      "9007199254740993, \"word\": \"abc\"}";
    expect("{{ pi | number(2) }}", ctx, "3.14");
    expect("{{ two | number(2) }}", ctx, "2.00");
    expect("{{ s | number(1) }}", ctx, "7.2");
    expect("{{ neg | number(2) }}", ctx, "0.00");
    expect("{{ pi | number }}", ctx, "3");
    expect("{{ big | number }}", ctx, "9007199254740993");
    render_fails("x {{ word | number(2) }}", ctx, NULL, AH_EINVAL, 1, 13,
                 "number: expected a number, got \"abc\"");
    compile_fails_s("{{ pi | number(11) }}", AH_EINVAL, 1, 16, "decimals must be an integer");
}

static void test_date_filter_formats_in_the_render_time_zone(void **s)
{
    (void)s;
    const char *ctx = "{\"zero\": 0, \"t\": \"2026-03-05T21:30:07Z\", \"ms\": 1772746207123, "
                      "\"off\": \"2026-03-05T10:00:00.5+03:00\", \"day\": \"2026-03-05\", "
                      "\"digits\": \"1772746207123\", \"bad\": \"yesterday\", \"far\": "
                      "999999999999999999, \"feb\": \"2026-02-30T00:00:00Z\"}";
    expect("{{ zero | date(\"%d.%m.%Y %H:%M:%S\") }}", ctx, "01.01.1970 00:00:00");
    expect("{{ t | date(\"%F %T\") }}", ctx, "2026-03-05 21:30:07");
    tmpl_opts msk = {.tz = "+03:00", .lang = "ru"};
    char *out = render_with("{{ t | date(\"%d.%m.%Y %H:%M %z %Z\") }}", ctx, &msk);
    assert_string_equal(out, "06.03.2026 00:30 +0300 +03:00");
    free(out);
    out = render_with("{{ t | date(\"%-d %B %Y, %A (%a, %b)\") }}", ctx, &msk);
    assert_string_equal(out, "6 марта 2026, пятница (пт, мар)");
    free(out);
    expect("{{ t | date(\"%A, %B %-d, %I:%M %p\") }}", ctx, "Thursday, March 5, 09:30 PM");
    expect("{{ t | date(\"%a %b %e|%y|%j|%u|%w|%R|%%\") }}", ctx, "Thu Mar  5|26|064|4|4|21:30|%");
    expect("{{ t | date(\"%H:%M\", \"-05:00\") }}", ctx, "16:30");
    expect("{{ ms | date(\"%T %s\") }}", ctx, "21:30:07 1772746207");
    expect("{{ digits | date(\"%T\") }}", ctx, "21:30:07");
    expect("{{ off | date(\"%T\") }}", ctx, "07:00:00");
    /* a calendar day is that day wherever the reader is */
    tmpl_opts ny = {.tz = "-05:00"};
    out = render_with("{{ day | date(\"%d.%m.%Y %H:%M\") }}", ctx, &ny);
    assert_string_equal(out, "05.03.2026 00:00");
    free(out);
    render_fails("{{ bad | date(\"%F\") }}", ctx, NULL, AH_EINVAL, 1, 10, "date: expected a time");
    render_fails("{{ far | date(\"%F\") }}", ctx, NULL, AH_EINVAL, 1, 10, "years 0 to 9999");
    render_fails("{{ feb | date(\"%F\") }}", ctx, NULL, AH_EINVAL, 1, 10, "\"2026-02-30");
    compile_fails_s("{{ t | date(\"%d.%Q\") }}", AH_EINVAL, 1, 13, "unknown format \"%Q\"");
    compile_fails_s("{{ t | date(\"%-p\") }}", AH_EINVAL, 1, 13, "unknown format");
    compile_fails_s("{{ t | date(\"%F\", \"Europe/Moscow\") }}", AH_EINVAL, 1, 19, "time zone");
    tmpl_opts bad = {.tz = "Mars/Olympus"};
    render_fails("{{ t }}", ctx, &bad, AH_EINVAL, 0, 0, "time zone \"Mars/Olympus\"");
}

static void test_array_filters_join_count_first_last(void **s)
{
    (void)s;
    const char *ctx = "{\"a\": [\"чай\", 2, true, null], \"e\": [], \"o\": {\"x\": 1, \"y\": 2}, "
                      "\"w\": \"ёжик\", \"n\": 5}";
    expect("{{ a | join }}|{{ a | join(\" / \") }}", ctx, "чай, 2, true, |чай / 2 / true / ");
    expect("{{ a | count }} {{ e | length }} {{ o | count }} {{ w | count }}", ctx, "4 0 2 4");
    expect("{{ a | first }} {{ a | last | default(\"-\") }} [{{ e | first }}]", ctx, "чай - []");
    expect("{{ w | first }}{{ w | last }}", ctx, "ёк");
    render_fails("{{ n | join }}", ctx, NULL, AH_EINVAL, 1, 8, "join: expected an array, got 5");
    render_fails("{{ n | count }}", ctx, NULL, AH_EINVAL, 1, 8, "count: expected an array");
    render_fails("{{ n | first }}", ctx, NULL, AH_EINVAL, 1, 8, "first: expected an array");
}

static void test_escapes_for_html_and_telegram_markdown(void **s)
{
    (void)s;
    expect("{{ a | escape_html }}", "{\"a\": \"<a href=\\\"x\\\">Tom & Jerry's</a>\"}",
           "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;");
    expect("{{ a | escape_markdown }}",
           "{\"a\": \"Hi! 1+1=2. _x_ *y* (a) [b] ~c~ `d` >e #f |g| {h} -i \\\\ ж\"}",
           "Hi\\! 1\\+1\\=2\\. \\_x\\_ \\*y\\* \\(a\\) \\[b\\] \\~c\\~ \\`d\\` \\>e \\#f \\|g\\| "
           "\\{h\\} \\-i \\\\ ж");
}

static void test_plural_follows_russian_and_english_rules(void **s)
{
    (void)s;
    static const struct {
        const char *n, *want;
    } ru[] = {{"1", "товар"},      {"2", "товара"},  {"5", "товаров"},  {"21", "товар"},
              {"11", "товаров"},   {"0", "товаров"}, {"22", "товара"},  {"12", "товаров"},
              {"111", "товаров"},  {"101", "товар"}, {"1.5", "товара"}, {"-3", "товара"},
              {"\"24\"", "товара"}};
    for (size_t i = 0; i < sizeof(ru) / sizeof(ru[0]); i++) {
        char ctx[64];
        snprintf(ctx, sizeof(ctx), "{\"n\": %s}", ru[i].n);
        expect_lang("{{ n | plural(\"товар\", \"товара\", \"товаров\") }}", ctx, "ru", ru[i].want);
    }
    expect_lang("{{n}} {{ n | plural(\"item\", \"items\") }}", "{\"n\": 1}", "en", "1 item");
    expect_lang("{{n}} {{ n | plural(\"item\", \"items\") }}", "{\"n\": 2}", "en", "2 items");
    expect_lang("{{ n | plural(\"item\", \"items\") }}", "{\"n\": 0}", "en-GB", "items");
    expect_lang("{{ n | plural(\"item\", \"items\") }}", "{\"n\": 21}", NULL, "items");
    expect_lang("{{ n | plural(\"товар\", \"товара\", \"товаров\") }}", "{\"n\": 5}", "ru-RU",
                "товаров");
    /* fewer forms than the language has: the last one */
    expect_lang("{{ n | plural(\"товар\", \"товара\") }}", "{\"n\": 5}", "ru", "товара");
    render_fails("{{ n | plural(\"a\") }}", "{\"n\": \"x\"}", NULL, AH_EINVAL, 1, 8,
                 "plural: expected a number");
}

static void test_yesno_picks_by_truth(void **s)
{
    (void)s;
    const char *ctx = "{\"t\": true, \"f\": false, \"z\": null, \"n\": 3, \"e\": \"\"}";
    expect("{{ t | yesno(\"да\", \"нет\") }} {{ f | yesno(\"да\", \"нет\") }} {{ n | yesno(\"y\", "
           "\"n\") }} {{ e | yesno(\"y\", \"n\") }}",
           ctx, "да нет y n");
    expect("{{ z | yesno(\"y\", \"n\", \"?\") }} {{ gone | yesno(\"y\", \"n\", \"?\") }} {{ gone | "
           "yesno(\"y\", \"n\") }}",
           ctx, "? ? n");
}

/* ---- blocks ----------------------------------------------------------------- */

static void test_if_else_follows_truth(void **s)
{
    (void)s;
    const char *ctx = "{\"yes\": 1, \"no\": 0, \"s\": \"x\", \"e\": \"\", \"a\": [1], \"ea\": [], "
                      "\"o\": {}, \"n\": null}";
    expect("{{#if yes}}Y{{else}}N{{/if}}{{#if no}}Y{{else}}N{{/if}}{{#if s}}Y{{/if}}"
           "{{#if e}}Y{{else}}N{{/if}}{{#if a}}Y{{/if}}{{#if ea}}Y{{else}}N{{/if}}"
           "{{#if o}}Y{{else}}N{{/if}}{{#if n}}Y{{else}}N{{/if}}{{#if gone}}Y{{else}}N{{/if}}",
           ctx, "YNYNYNNNN");
    expect("{{#if a | count}}{{#if s}}both{{/if}}{{/if}}", ctx, "both");
}

static void test_each_iterates_with_this_and_counters(void **s)
{
    (void)s;
    const char *ctx = "{\"items\": [{\"title\": \"Чай\", \"tags\": [\"a\", \"b\"]}, {\"title\": "
                      "\"Кофе\", \"tags\": []}], \"none\": [], \"n\": [1, 2, 3]}";
    expect("{{#each items}}{{@number}}. {{this.title}} ({{@index}}){{#if @last}}.{{else}}, "
           "{{/if}}{{/each}}",
           ctx, "1. Чай (0), 2. Кофе (1).");
    expect("{{#each items}}{{this.title}}:{{#each this.tags}}{{this}}{{else}}-{{/each}};{{/each}}",
           ctx, "Чай:ab;Кофе:-;");
    expect("{{#each none}}x{{else}}empty{{/each}} {{#each gone}}x{{else}}gone{{/each}}", ctx,
           "empty gone");
    expect("{{#each n}}{{#if @first}}[{{/if}}{{this}}{{/each}}]", ctx, "[123]");
    render_fails("{{#each items.0.title}}x{{/each}}", ctx, NULL, AH_EINVAL, 1, 9,
                 "{{#each items.0.title}}: expected an array, got \"Чай\"");
}

static void test_block_tags_alone_on_a_line_leave_no_blank_line(void **s)
{
    (void)s;
    const char *src = "Заказ:\n"
                      "{{#each items}}\n"
                      "  - {{this}}\n"
                      "  {{/each}}\n"
                      "{{! comment line }}\n"
                      "{{#if total}}\r\n"
                      "Итого: {{total}}\n"
                      "{{/if}}";
    expect(src, "{\"items\": [\"чай\", \"кофе\"], \"total\": 5}",
           "Заказ:\n  - чай\n  - кофе\nИтого: 5\n");
    /* not alone: the text around it stays */
    expect("a {{#if t}}b{{/if}} c\n", "{\"t\": 1}", "a b c\n");
    expect("x {{#if t}}\ny\n{{/if}} z", "{\"t\": 1}", "x \ny\n z");
}

/* ---- errors ----------------------------------------------------------------- */

static void test_compile_errors_name_their_place(void **s)
{
    (void)s;
    compile_fails_s("Hi {{name", AH_EINVAL, 1, 4, "unclosed tag");
    compile_fails_s("{{ name | uper }}", AH_EINVAL, 1, 11, "unknown filter \"uper\"");
    compile_fails_s("Привет {{ x | nope }}", AH_EINVAL, 1, 15, "unknown filter \"nope\"");
    compile_fails_s("line\n  {{#if a}}x", AH_EINVAL, 2, 3, "{{#if}} is never closed");
    compile_fails_s("{{/if}}", AH_EINVAL, 1, 1, "{{/if}} without an open {{#if}}");
    compile_fails_s("{{#if a}}\n{{/each}}", AH_EINVAL, 2, 1,
                    "{{/each}} closes the {{#if}} at line 1, column 1");
    compile_fails_s("{{else}}", AH_EINVAL, 1, 1, "outside {{#if}} or {{#each}}");
    compile_fails_s("{{#if a}}{{else}}{{else}}{{/if}}", AH_EINVAL, 1, 18, "a second {{else}}");
    compile_fails_s("{{ this }}", AH_EINVAL, 1, 4, "\"this\" outside {{#each}}");
    compile_fails_s("{{#each a}}{{else}}{{ @index }}{{/each}}", AH_EINVAL, 1, 23,
                    "@index outside {{#each}}");
    compile_fails_s("{{#each a}}{{ @idx }}{{/each}}", AH_EINVAL, 1, 15, "unknown variable @idx");
    compile_fails_s("{{ a..b }}", AH_EINVAL, 1, 6, "empty path segment");
    compile_fails_s("{{ a. }}", AH_EINVAL, 1, 6, "empty path segment");
    compile_fails_s("{{ a | truncate }}", AH_EINVAL, 1, 8, "needs at least 1 argument");
    compile_fails_s("{{ a | truncate(\"x\") }}", AH_EINVAL, 1, 17, "integer from 0 to");
    compile_fails_s("{{ a | upper(1) }}", AH_EINVAL, 1, 14, "takes at most 0 arguments");
    compile_fails_s("{{ a | plural(1) }}", AH_EINVAL, 1, 15, "argument 1 must be a string");
    compile_fails_s("{{ a | default(x) }}", AH_EINVAL, 1, 16, "expected an argument");
    compile_fails_s("{{ a | default(\"x\" \"y\") }}", AH_EINVAL, 1, 20, "expected , or )");
    compile_fails_s("{{ a | default(\"x\"", AH_EINVAL, 1, 8, "unclosed arguments");
    compile_fails_s("{{ a | default(\"x\", ) }}", AH_EINVAL, 1, 21, "expected an argument after ,");
    compile_fails_s("{{ a | }}", AH_EINVAL, 1, 8, "expected a filter name");
    compile_fails_s("{{ \"abc }}", AH_EINVAL, 1, 4, "unterminated string");
    compile_fails_s("{{ \"a\\qb\" }}", AH_EINVAL, 1, 6, "unknown escape");
    compile_fails_s("{{ a b }}", AH_EINVAL, 1, 6, "unexpected 'b': expected }} or a | filter");
    compile_fails_s("{{ }}", AH_EINVAL, 1, 4, "expected a variable path or a string, got '}'");
    compile_fails_s("{{#foo a}}{{/foo}}", AH_EINVAL, 1, 1, "unknown block {{#foo}}");
    compile_fails_s("{{#if a}}{{/when}}", AH_EINVAL, 1, 10, "unknown closing tag {{/when}}");
    compile_fails_s("{{! never closed", AH_EINVAL, 1, 1, "unclosed comment");
    compile_fails_s("{{ n | default(99999999999999999999) }}", AH_EINVAL, 1, 16, "out of range");
    compile_fails("ab\xff", 3, AH_EINVAL, 1, 3, "invalid UTF-8");
    compile_fails("ab\xd0", 3, AH_EINVAL, 1, 3, "invalid UTF-8");
    compile_fails("a\0b", 3, AH_EINVAL, 1, 2, "NUL byte");
    tmpl_error err;
    assert_int_equal(tmpl_check("line\n{{ x | nope }}", 18, &err), AH_EINVAL);
    assert_int_equal(err.pos.offset, 12);
    char buf[200];
    tmpl_error_format(&err, "steps.greet.text.ru", buf, sizeof(buf));
    assert_string_equal(buf, "steps.greet.text.ru:2:8: unknown filter \"nope\"");
}

/* ---- bounds ----------------------------------------------------------------- */

static void test_bounds_on_source_nesting_filters_loops_and_output(void **s)
{
    (void)s;
    /* source */
    char *big = malloc(TMPL_MAX_SOURCE + 2);
    memset(big, 'a', TMPL_MAX_SOURCE + 1);
    big[TMPL_MAX_SOURCE + 1] = '\0';
    assert_int_equal(tmpl_check(big, TMPL_MAX_SOURCE, NULL), 0);
    compile_fails(big, TMPL_MAX_SOURCE + 1, AH_ETOOBIG, 1, TMPL_MAX_SOURCE + 1, "over the limit");
    free(big);

    /* nesting: 16 blocks compile, the 17th does not */
    char src[2048] = "";
    for (int i = 0; i < TMPL_MAX_DEPTH; i++)
        strcat(src, "{{#if a}}");
    strcat(src, "x");
    for (int i = 0; i < TMPL_MAX_DEPTH; i++)
        strcat(src, "{{/if}}");
    expect(src, "{\"a\": 1}", "x");
    char deeper[2048] = "{{#each a}}";
    strcat(deeper, src);
    strcat(deeper, "{{/each}}");
    compile_fails_s(deeper, AH_ETOOBIG, 1, 1 + 11 + 9 * 15, "nested deeper than 16");

    /* filters: 32 in a tag, not 33 */
    strcpy(src, "{{ a");
    for (int i = 0; i < TMPL_MAX_FILTERS; i++)
        strcat(src, "|trim");
    strcat(src, " }}");
    expect(src, "{\"a\": \" x \"}", "x");
    strcpy(src + strlen(src) - 3, "|trim }}");
    compile_fails_s(src, AH_ETOOBIG, 1, 6 + 5 * TMPL_MAX_FILTERS, "more than 32 filters");

    /* loop iterations, all loops together, the outer ones too: 99 + 99 x 99
     * is fine, 100 + 100 x 100 is not */
    json_t *ctx = json_object(), *a = json_array();
    for (int i = 0; i < 99; i++)
        json_array_append_new(a, json_integer(i));
    json_object_set_new(ctx, "a", a);
    char *text = json_dumps(ctx, 0);
    tmpl *t;
    tmpl_error err;
    const char *loops = "{{#each a}}{{#each a}}{{/each}}{{/each}}";
    assert_int_equal(tmpl_compile(loops, strlen(loops), &t, &err), 0);
    char *out;
    size_t len;
    assert_int_equal(tmpl_render(t, ctx, NULL, &out, &len, &err), 0);
    free(out);
    json_array_append_new(a, json_integer(99));
    assert_int_equal(tmpl_render(t, ctx, NULL, &out, &len, &err), AH_ETOOBIG);
    assert_non_null(strstr(err.message, "more than 10000 loop iterations"));
    assert_int_equal(err.pos.column, 12);
    tmpl_free(t);
    free(text);
    json_decref(ctx);

    /* output: exactly the limit renders, a byte more is an error, not a cut */
    tmpl_opts ten = {.max_output = 10};
    out = render_with("{{a}}", "{\"a\": \"0123456789\"}", &ten);
    assert_string_equal(out, "0123456789");
    free(out);
    render_fails("abc{{a}}", "{\"a\": \"01234567\"}", &ten, AH_ETOOBIG, 1, 4,
                 "the output passed its limit of 10 bytes");
    /* and a value that filters grow without end stops at the limit too: 4
     * backslashes doubled 14 times are 65536 bytes, the 15th time fails */
    strcpy(src, "{{ a");
    for (int i = 0; i < TMPL_MAX_FILTERS; i++)
        strcat(src, " | escape_markdown");
    strcat(src, " }}");
    render_fails(src, "{\"a\": \"\\\\\\\\\\\\\\\\\"}", NULL, AH_ETOOBIG, 1, 5 + 18 * 14 + 3,
                 "escape_markdown: the value grew past 65536 bytes");
}

/* ---- strict and lenient ----------------------------------------------------- */

static void test_strict_mode_fails_on_a_missing_variable(void **s)
{
    (void)s;
    tmpl_opts strict = {.strict = true};
    render_fails("Hi {{ contact.name }}!", "{\"contact\": {}}", &strict, AH_ENOTFOUND, 1, 7,
                 "contact.name: not found");
    render_fails("{{#each a}}{{ this.x | upper }}{{/each}}", "{\"a\": [{}]}", &strict, AH_ENOTFOUND,
                 1, 15, "this.x: not found");
    /* a default, an {{#if}} and an {{#each}} over nothing are not errors */
    char *out = render_with("{{ contact.name | default(\"friend\") }}{{#if gone}}x{{/if}}"
                            "{{#each gone}}x{{/each}}",
                            "{}", &strict);
    assert_string_equal(out, "friend");
    free(out);
}

typedef struct told {
    int n;
    char paths[4][64];
    tmpl_pos pos[4];
} told;

static void on_missing(void *ud, const char *path, const tmpl_pos *pos)
{
    told *t = ud;
    if (t->n < 4) {
        snprintf(t->paths[t->n], sizeof(t->paths[0]), "%s", path);
        t->pos[t->n] = *pos;
    }
    t->n++;
}

static void test_lenient_mode_renders_empty_and_tells_each_tag_once(void **s)
{
    (void)s;
    told t = {0};
    tmpl_opts o = {.on_missing = on_missing, .ud = &t};
    char *out =
        render_with("Hi {{ name }}!\n{{#each a}}[{{ this.x }}]{{/each}}", "{\"a\": [1, 2, 3]}", &o);
    assert_string_equal(out, "Hi !\n[][][]");
    free(out);
    assert_int_equal(t.n, 2);
    assert_string_equal(t.paths[0], "name");
    assert_int_equal(t.pos[0].line, 1);
    assert_int_equal(t.pos[0].column, 7);
    assert_string_equal(t.paths[1], "this.x");
    assert_int_equal(t.pos[1].line, 2);
    assert_int_equal(t.pos[1].column, 16);
    /* no callback: still renders */
    out = render_with("[{{ gone }}]", "{}", NULL);
    assert_string_equal(out, "[]");
    free(out);
}

/* ---- paths ------------------------------------------------------------------ */

typedef struct listed {
    char all[512];
} listed;

static int list_path(void *ud, const char *path, const tmpl_pos *pos)
{
    listed *l = ud;
    char one[128];
    snprintf(one, sizeof(one), "%s%s@%d:%d", l->all[0] ? " " : "", path, pos->line, pos->column);
    strncat(l->all, one, sizeof(l->all) - strlen(l->all) - 1);
    return 0;
}

static int stop_at_second(void *ud, const char *path, const tmpl_pos *pos)
{
    return ++*(int *)ud == 2 ? 7 : 0;
}

static void test_paths_lists_every_variable_with_loops_spelled_out(void **s)
{
    (void)s;
    const char *src = "{{ contact.name | default(\"x\") }} {{ \"lit\" }}\n"
                      "{{#each vars.items}}{{ this.title }}{{ @index }}"
                      "{{#each this.tags}}{{ this }}{{/each}}{{else}}{{ vars.empty }}{{/each}}"
                      "{{#if contact.vip}}{{ vars.x }}{{/if}}";
    tmpl *t;
    tmpl_error err;
    assert_int_equal(tmpl_compile(src, strlen(src), &t, &err), 0);
    listed l = {{0}};
    assert_int_equal(tmpl_paths(t, list_path, &l), 0);
    assert_string_equal(l.all, "contact.name@1:4 vars.items@2:9 vars.items.*.title@2:24 "
                               "vars.items.*.tags@2:57 vars.items.*.tags.*@2:71 "
                               "vars.empty@2:98 contact.vip@2:126 vars.x@2:142");
    int calls = 0;
    assert_int_equal(tmpl_paths(t, stop_at_second, &calls), 7);
    assert_int_equal(calls, 2);
    tmpl_free(t);
}

/* ---- languages -------------------------------------------------------------- */

static void test_lang_pick_prefers_wanted_then_default_and_says_so(void **s)
{
    (void)s;
    json_t *text = ctx_of("{\"ru\": \"Привет\", \"en-US\": \"Hi\", \"de\": 5}");
    json_t *plain = json_string("Same");
    const char *out;
    size_t len;
    bool fell;
    char err[128];
    assert_int_equal(lang_pick(plain, "fr", "ru", &out, &len, &fell, err, sizeof(err)), 0);
    assert_string_equal(out, "Same");
    assert_false(fell);
    assert_int_equal(lang_pick(text, "RU", "en", &out, &len, &fell, err, sizeof(err)), 0);
    assert_string_equal(out, "Привет");
    assert_int_equal(len, strlen("Привет"));
    assert_false(fell);
    assert_int_equal(lang_pick(text, "ru-RU", "en", &out, &len, &fell, err, sizeof(err)), 0);
    assert_string_equal(out, "Привет");
    assert_false(fell);
    assert_int_equal(lang_pick(text, "en-GB", "ru", &out, &len, &fell, err, sizeof(err)), 0);
    assert_string_equal(out, "Hi");
    assert_false(fell);
    assert_int_equal(lang_pick(text, "fr", "ru", &out, &len, &fell, err, sizeof(err)), 0);
    assert_string_equal(out, "Привет");
    assert_true(fell);
    assert_int_equal(lang_pick(text, NULL, "ru", &out, &len, &fell, err, sizeof(err)), 0);
    assert_false(fell);
    assert_int_equal(lang_pick(text, "fr", "it", &out, &len, &fell, err, sizeof(err)),
                     AH_ENOTFOUND);
    assert_string_equal(err, "no text in \"fr\" nor in the default language \"it\"");
    assert_null(out);
    assert_int_equal(lang_pick(text, "de", "ru", &out, &len, &fell, err, sizeof(err)), AH_EINVAL);
    assert_string_equal(err, "the text for \"de\" is not a string");
    json_t *num = json_integer(1);
    assert_int_equal(lang_pick(num, "ru", "ru", &out, &len, &fell, err, sizeof(err)), AH_EINVAL);
    json_decref(num);
    json_decref(plain);
    json_decref(text);
}

/* ---- the documentation ------------------------------------------------------ */

/* Every example of the filter table in docs/scenario-format.md ("`{{ … }}`
 * → `…`" in a table row; "\|" is a "|") renders as it says. */
static void test_filter_examples_in_the_docs_render_as_written(void **s)
{
    (void)s;
    FILE *f = fopen(TH_SOURCE_DIR "/docs/scenario-format.md", "r");
    assert_non_null(f);
    const char *ctx =
        "{\"contact\": {\"name\": \"Анна\"}, \"pi\": 3.14159, \"created\": "
        "\"2026-03-05T10:00:00Z\", \"tags\": [\"new\", \"vip\"], \"items\": [1, 2, 3]}";
    char line[2048];
    int checked = 0;
    while (fgets(line, sizeof(line), f)) {
        char *src = strstr(line, "`{{"), *arrow = src ? strstr(src, "}}` → `") : NULL;
        if (line[0] != '|' || !arrow) continue;
        char *want = arrow + strlen("}}` → `"), *end = strchr(want, '`');
        assert_non_null(end);
        arrow[2] = '\0';
        *end = '\0';
        char tsrc[512], twant[512];
        size_t n = 0;
        for (char *p = src + 1; *p && n + 1 < sizeof(tsrc); p++) /* "\|" is "|" */
            if (!(p[0] == '\\' && p[1] == '|')) tsrc[n++] = *p;
        tsrc[n] = '\0';
        n = 0;
        for (char *p = want; *p && n + 1 < sizeof(twant); p++)
            if (!(p[0] == '\\' && p[1] == '|')) twant[n++] = *p;
        twant[n] = '\0';
        expect(tsrc, ctx, twant);
        checked++;
    }
    fclose(f);
    assert_true(checked >= 12);
}

/* The first message's language by its letters, among the scenario's. */
static void test_lang_detect_picks_by_script_among_the_scenarios_languages(void **s)
{
    (void)s;
    json_t *en_ru = json_pack("[s,s]", "en", "ru"), *three = json_pack("[s,s,s]", "ru", "uk", "en"),
           *latin2 = json_pack("[s,s]", "en", "de"), *ru_only = json_pack("[s]", "ru");
    assert_string_equal(lang_detect("Здравствуйте, как оформить заказ?", en_ru), "ru");
    assert_string_equal(lang_detect("How do I reset my password?", en_ru), "en");
    assert_string_equal(lang_detect("Hi, Привет всем", en_ru), "ru"); /* 2 Latin, 10 Cyrillic */
    assert_string_equal(lang_detect("Привіт! Як справи? Їжак", three), "uk");
    assert_string_equal(lang_detect("Привет, как дела?", three), "ru");
    assert_string_equal(lang_detect("Çok güzel, merci", en_ru), "en"); /* Latin-1 letters count */
    /* Undecided: too short, digits, half and half, two Latin-script languages, none in the script.
     */
    assert_null(lang_detect("ok", en_ru));
    assert_null(lang_detect("+7 912 345-67-89", en_ru));
    assert_null(lang_detect("abc где", en_ru));
    assert_null(lang_detect("Good morning", latin2));
    assert_null(lang_detect("Good morning", ru_only));
    assert_null(lang_detect(NULL, en_ru));
    assert_null(lang_detect("\xff\xfe\xd0", en_ru)); /* broken UTF-8 is no letter */
    json_decref(en_ru);
    json_decref(three);
    json_decref(latin2);
    json_decref(ru_only);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths_substitute_values_as_text),
        cmocka_unit_test(test_string_heads_escape_double_braces),
        cmocka_unit_test(test_default_replaces_missing_null_and_empty_values),
        cmocka_unit_test(test_case_filters_map_latin_and_cyrillic),
        cmocka_unit_test(test_trim_removes_outer_blanks_only),
        cmocka_unit_test(test_truncate_counts_characters_and_never_cuts_one),
        cmocka_unit_test(test_json_filter_writes_compact_json),
        cmocka_unit_test(test_number_filter_fixes_decimals),
        cmocka_unit_test(test_date_filter_formats_in_the_render_time_zone),
        cmocka_unit_test(test_array_filters_join_count_first_last),
        cmocka_unit_test(test_escapes_for_html_and_telegram_markdown),
        cmocka_unit_test(test_plural_follows_russian_and_english_rules),
        cmocka_unit_test(test_yesno_picks_by_truth),
        cmocka_unit_test(test_if_else_follows_truth),
        cmocka_unit_test(test_each_iterates_with_this_and_counters),
        cmocka_unit_test(test_block_tags_alone_on_a_line_leave_no_blank_line),
        cmocka_unit_test(test_compile_errors_name_their_place),
        cmocka_unit_test(test_bounds_on_source_nesting_filters_loops_and_output),
        cmocka_unit_test(test_strict_mode_fails_on_a_missing_variable),
        cmocka_unit_test(test_lenient_mode_renders_empty_and_tells_each_tag_once),
        cmocka_unit_test(test_paths_lists_every_variable_with_loops_spelled_out),
        cmocka_unit_test(test_lang_pick_prefers_wanted_then_default_and_says_so),
        cmocka_unit_test(test_lang_detect_picks_by_script_among_the_scenarios_languages),
        cmocka_unit_test(test_filter_examples_in_the_docs_render_as_written),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
