/*
 * bench_template - the template engine (issue 12): renders per second of a
 * typical message, a greeting with two substitutions and a default filter,
 * beside two floors measured in the same run:
 *
 *   snprintf      the same bytes formatted from C strings already at hand
 *                 (the least work that writes that message)
 *   hand-written  what C code written for this one message would do: look
 *                 both values up in the same JSON context, apply the
 *                 default, snprintf, and hand back a malloc'd copy (as
 *                 tmpl_render does)
 *
 * and, for scale, renders of a longer order summary ({{#each}} over five
 * items with number, plural and escape filters) and compiles per second
 * (what validation on save costs). Rounds alternate the order of the
 * systems; ratios are medians of per-round ratios (docs/benchmarks.md).
 * Every render's output is compared with the expected text: a mismatch is a
 * failure, timing never is.
 *
 *   bench_template --smoke | --full
 */
#include "bench.h"

#include "engine/template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char GREETING[] =
    "Hello, {{ contact.name | default(\"friend\") }}! Your order {{ order.id }} is ready.";
static const char GREETING_OUT[] = "Hello, Анна! Your order A-1042 is ready.";

static const char SUMMARY[] =
    "*Заказ {{ order.id | escape_markdown }}*\n"
    "{{#each order.items}}\n"
    "{{ @number }}\\. {{ this.title | truncate(24) | escape_markdown }} × {{ this.qty }} "
    "— {{ this.price | number(2) | escape_markdown }} ₽\n"
    "{{/each}}\n"
    "Итого: {{ order.items | count }} {{ order.items | count | plural(\"товар\", \"товара\", "
    "\"товаров\") }}, {{ order.total | number(2) | escape_markdown }} ₽";

static const char CONTEXT[] =
    "{\"contact\": {\"id\": \"c-77\", \"name\": \"Анна\", \"lang\": \"ru\", \"phone\": null,"
    "  \"tags\": [\"new\", \"vip\"], \"created\": \"2026-11-20T10:00:00Z\"},"
    " \"conversation\": {\"id\": \"conv-9\", \"channel\": \"telegram\", \"step\": \"confirm\"},"
    " \"order\": {\"id\": \"A-1042\", \"total\": 1287.5, \"items\": ["
    "  {\"title\": \"Чай зелёный, 100 г\", \"qty\": 2, \"price\": 149.5},"
    "  {\"title\": \"Кофе в зёрнах, 1 кг (Эфиопия)\", \"qty\": 1, \"price\": 890},"
    "  {\"title\": \"Кружка\", \"qty\": 1, \"price\": 98.5},"
    "  {\"title\": \"Печенье\", \"qty\": 0, \"price\": 0},"
    "  {\"title\": \"Пакет\", \"qty\": 1, \"price\": 0}]},"
    " \"variables\": {\"x\": 1, \"y\": \"two\"}}";

typedef struct world {
    bench *b;
    tmpl *greeting, *summary;
    json_t *ctx;
    char *summary_out; /* the expected summary, rendered once */
    const char *name, *id;
    long iterations;
    double seconds;
} world;

typedef double (*runner)(world *w, long *done);

/* Run body until w->iterations or w->seconds; the rate per second. */
#define TIMED(w, done, body)                                                                       \
    do {                                                                                           \
        uint64_t t0 = bench_now_ns(), limit = (uint64_t)((w)->seconds * 1e9);                      \
        long i_ = 0;                                                                               \
        for (; i_ < (w)->iterations; i_++) {                                                       \
            body;                                                                                  \
            if ((i_ & 1023) == 1023 && bench_now_ns() - t0 > limit) {                              \
                i_++;                                                                              \
                break;                                                                             \
            }                                                                                      \
        }                                                                                          \
        *(done) = i_;                                                                              \
        return (double)i_ / ((double)(bench_now_ns() - t0) / 1e9);                                 \
    } while (0)

static double run_render(world *w, long *done)
{
    TIMED(w, done, {
        char *out;
        size_t len;
        tmpl_error err;
        if (tmpl_render(w->greeting, w->ctx, NULL, &out, &len, &err) != 0 ||
            strcmp(out, GREETING_OUT)) {
            bench_fail(w->b, "greeting rendered wrong: %s", err.message);
            free(out);
            break;
        }
        free(out);
    });
}

static double run_snprintf(world *w, long *done)
{
    char buf[256];
    TIMED(w, done, {
        int n = snprintf(buf, sizeof(buf), "Hello, %s! Your order %s is ready.", w->name, w->id);
        __asm__ volatile("" : : "r"(buf) : "memory"); /* the bytes are used */
        if (n != (int)sizeof(GREETING_OUT) - 1) {
            bench_fail(w->b, "snprintf wrote %d bytes", n);
            break;
        }
    });
}

static double run_by_hand(world *w, long *done)
{
    char buf[256];
    TIMED(w, done, {
        const json_t *c = json_object_get(w->ctx, "contact");
        const json_t *o = json_object_get(w->ctx, "order");
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *id = json_string_value(json_object_get(o, "id"));
        if (!name || !*name) name = "friend";
        int n =
            snprintf(buf, sizeof(buf), "Hello, %s! Your order %s is ready.", name, id ? id : "");
        char *out = n > 0 ? strdup(buf) : NULL;
        if (!out || strcmp(out, GREETING_OUT)) {
            bench_fail(w->b, "the hand-written greeting is wrong");
            free(out);
            break;
        }
        free(out);
    });
}

static double run_summary(world *w, long *done)
{
    tmpl_opts o = {.lang = "ru"};
    TIMED(w, done, {
        char *out;
        size_t len;
        tmpl_error err;
        if (tmpl_render(w->summary, w->ctx, &o, &out, &len, &err) != 0 ||
            strcmp(out, w->summary_out)) {
            bench_fail(w->b, "summary rendered differently: %s", err.message);
            free(out);
            break;
        }
        free(out);
    });
}

static double run_compile(world *w, long *done)
{
    TIMED(w, done, {
        tmpl *t;
        tmpl_error err;
        if (tmpl_compile(SUMMARY, sizeof(SUMMARY) - 1, &t, &err) != 0) {
            bench_fail(w->b, "summary does not compile: %s", err.message);
            break;
        }
        tmpl_free(t);
    });
}

static int setup(world *w, bench *b)
{
    tmpl_error err;
    w->b = b;
    w->ctx = json_loads(CONTEXT, 0, NULL);
    if (!w->ctx || tmpl_compile(GREETING, sizeof(GREETING) - 1, &w->greeting, &err) != 0 ||
        tmpl_compile(SUMMARY, sizeof(SUMMARY) - 1, &w->summary, &err) != 0) {
        bench_fail(b, "setup: %s", w->ctx ? err.message : "bad context");
        return -1;
    }
    w->name = json_string_value(json_object_get(json_object_get(w->ctx, "contact"), "name"));
    w->id = json_string_value(json_object_get(json_object_get(w->ctx, "order"), "id"));
    tmpl_opts o = {.lang = "ru"};
    size_t len;
    if (tmpl_render(w->summary, w->ctx, &o, &w->summary_out, &len, &err) != 0 ||
        !strstr(w->summary_out, "Итого: 5 товаров, 1287\\.50 ₽")) {
        bench_fail(b, "the summary is not what it should be: %s",
                   w->summary_out ? w->summary_out : err.message);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    bench b;
    bench_init(&b, "template", argc, argv);
    world w = {0};
    if (setup(&w, &b) == 0) {
        int rounds = (int)bench_pick(&b, 3, 9);
        w.iterations = bench_pick(&b, 20000, 5000000);
        w.seconds = b.full ? 0.5 : 0.05;
        enum { N = 5, MAX_ROUNDS = 9 };
        runner runs[N] = {run_render, run_snprintf, run_by_hand, run_summary, run_compile};
        double rate[N][MAX_ROUNDS], vs_floor[MAX_ROUNDS], vs_hand[MAX_ROUNDS];
        long total[N] = {0};
        for (int r = 0; r < rounds && !b.failures; r++) {
            for (int k = 0; k < N; k++) {
                int which = r % 2 ? N - 1 - k : k;
                long done = 0;
                rate[which][r] = runs[which](&w, &done);
                total[which] += done;
            }
            vs_floor[r] = rate[0][r] / rate[1][r];
            vs_hand[r] = rate[0][r] / rate[2][r];
        }
        if (!b.failures) {
            bench_section(&b, "render",
                          "Templates: a greeting with two substitutions and a "
                          "default filter (issue 12)");
            double greet = bench_median(rate[0], rounds);
            bench_row(&b, "render", "tmpl_render greeting", greet, "renders/s",
                      "%.0f ns each; %ld renders", 1e9 / greet, total[0]);
            bench_row(&b, "render", "floor: snprintf of the same bytes",
                      bench_median(rate[1], rounds), "/s", NULL);
            bench_row(&b, "render", "hand-written: JSON lookups + snprintf + strdup",
                      bench_median(rate[2], rounds), "/s", NULL);
            bench_row(&b, "render", "tmpl_render / snprintf floor", bench_median(vs_floor, rounds),
                      "x", "median of %d rounds", rounds);
            bench_row(&b, "render", "tmpl_render / hand-written", bench_median(vs_hand, rounds),
                      "x", "median of %d rounds", rounds);
            double sum = bench_median(rate[3], rounds);
            bench_row(&b, "render", "tmpl_render order summary (each over 5)", sum, "renders/s",
                      "%.1f us each, %zu bytes out", 1e6 / sum, strlen(w.summary_out));
            double comp = bench_median(rate[4], rounds);
            bench_row(&b, "render", "tmpl_compile order summary", comp, "compiles/s",
                      "%.1f us each, %zu bytes of source", 1e6 / comp, sizeof(SUMMARY) - 1);
        }
    }
    free(w.summary_out);
    tmpl_free(w.greeting);
    tmpl_free(w.summary);
    json_decref(w.ctx);
    return bench_finish(&b);
}
