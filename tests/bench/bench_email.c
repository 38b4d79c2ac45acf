/*
 * bench_email - the e-mail plugin's parser (plugins/email/mail.h) on a
 * realistic mix: the fixtures of tests/fixtures/email (charsets, Outlook,
 * Gmail, Thunderbird, HTML only, a DSN, auto-replies, broken MIME) and a
 * mail carrying a 5 MB attachment, which is listed as metadata (its size
 * counted by decoding into a stream that keeps nothing), never held.
 *
 * Beside it, the floor: GMime alone constructing the same messages (what
 * em_parse adds is the walk, the text, trimming, classification and the
 * JSON). Memory: the process's peak RSS (VmHWM, reset after the mail is
 * made) while parsing the 5 MB mail, above its RSS before, beside the size
 * of the mail itself.
 */
#include "../../plugins/email/mail.h"
#include "bench.h"

#include <dirent.h>
#include <glib.h>
#include <malloc.h>
#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MAILS 32

typedef struct mail {
    char *raw;
    size_t len;
} mail;

static const char *const own[] = {"support@example.com", NULL};
static const em_parse_opts opts = {.own = own, .own_n = 1};

static size_t load_fixtures(mail *m)
{
    const char *dir = BENCH_SOURCE_DIR "/tests/fixtures/email";
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && n < MAX_MAILS - 1) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".eml")) continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        gsize len;
        if (g_file_get_contents(path, &m[n].raw, &len, NULL)) m[n++].len = len;
    }
    if (d) closedir(d);
    return n;
}

/* A customer's mail with a 5 MB PDF: text and HTML, then the attachment. */
static mail big_mail(size_t bytes)
{
    unsigned char *pdf = malloc(bytes);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < bytes; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        pdf[i] = (unsigned char)x;
    }
    memcpy(pdf, "%PDF-1.7\n", 9);
    gchar *b64 = g_base64_encode(pdf, bytes);
    free(pdf);
    GString *s =
        g_string_new("Message-ID: <big-1@example.org>\r\nFrom: Ivan <ivan@example.ru>\r\n"
                     "To: support@example.com\r\nSubject: =?utf-8?B?0KHRh9GR0YI=?=\r\n"
                     "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
                     "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                     "Добрый день, счёт во вложении.\r\n\r\n"
                     "--b\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\n"
                     "Content-Disposition: attachment; filename=\"invoice.pdf\"\r\n"
                     "Content-Transfer-Encoding: base64\r\n\r\n");
    size_t n = strlen(b64);
    for (size_t i = 0; i < n; i += 76) {
        g_string_append_len(s, b64 + i, (gssize)(n - i < 76 ? n - i : 76));
        g_string_append(s, "\r\n");
    }
    g_string_append(s, "--b--\r\n");
    g_free(b64);
    mail m = {.len = s->len};
    m.raw = g_string_free(s, FALSE);
    return m;
}

/* A line of /proc/self/status in kB ("VmRSS:", "VmHWM:"), or -1. */
static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t k = strlen(key);
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, key, k)) v = atol(line + k);
    if (f) fclose(f);
    return v;
}

/* Resets the peak (VmHWM) to the current RSS (Linux >= 4.0). */
static void reset_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

/* GMime alone: the message constructed, nothing read from it. */
static int gmime_only(const mail *m)
{
    GMimeStream *s = g_mime_stream_mem_new_with_buffer(m->raw, m->len);
    GMimeParser *p = g_mime_parser_new_with_stream(s);
    g_mime_parser_set_persist_stream(p, TRUE);
    GMimeMessage *msg = g_mime_parser_construct_message(p, NULL);
    int ok = msg != NULL;
    if (msg) g_object_unref(msg);
    g_object_unref(p);
    g_object_unref(s);
    return ok;
}

static int ours(bench *b, const mail *m)
{
    char err[256];
    json_t *j = em_parse(m->raw, m->len, &opts, err, sizeof(err));
    if (!j) {
        bench_fail(b, "em_parse: %s", err);
        return 0;
    }
    json_decref(j);
    return 1;
}

/* Mails per second over `rounds` passes of mails[0..n). */
static double rate(bench *b, const mail *mails, size_t n, long rounds, bool floor)
{
    uint64_t t0 = bench_now_ns();
    long done = 0;
    for (long r = 0; r < rounds; r++)
        for (size_t i = 0; i < n; i++)
            done += floor ? gmime_only(&mails[i]) : ours(b, &mails[i]);
    double s = (double)(bench_now_ns() - t0) / 1e9;
    return s > 0 ? (double)done / s : 0;
}

int main(int argc, char **argv)
{
    bench b;
    bench_init(&b, "email", argc, argv);
    em_init();
    mail mails[MAX_MAILS];
    size_t n = load_fixtures(mails);
    if (n < 10) bench_fail(&b, "only %zu fixtures found", n);
    long rounds = bench_pick(&b, 20, 2000);

    bench_section(&b, "mix", "The fixtures (charsets, clients, DSN, auto-replies, broken MIME)");
    double ours_rate = rate(&b, mails, n, rounds, false);
    double floor_rate = rate(&b, mails, n, rounds, true);
    bench_row(&b, "mix", "em_parse", ours_rate, "mails/s", "%zu mails x %ld rounds", n, rounds);
    bench_row(&b, "mix", "gmime_only", floor_rate, "mails/s", "floor: GMime constructing them");
    bench_row(&b, "mix", "ratio", floor_rate > 0 ? ours_rate / floor_rate : 0, "x",
              "em_parse / floor");

    /* The 5 MB attachment: parsed and listed as metadata. */
    mail big = big_mail(5u << 20);
    malloc_trim(0); /* what making the mail freed goes back, so a parse cannot reuse it unseen */
    reset_peak();   /* and making it had its own peak */
    long before_kb = status_kb("VmRSS:");
    long big_rounds = bench_pick(&b, 3, 50);
    bench_section(&b, "attachment", "A mail with a 5 MB attachment held as metadata");
    char err[256];
    json_t *j = em_parse(big.raw, big.len, &opts, err, sizeof(err));
    json_t *a = json_array_get(json_object_get(j, "attachments"), 0);
    if (json_integer_value(json_object_get(a, "size")) != 5 << 20)
        bench_fail(&b, "the attachment's size reads %lld",
                   (long long)json_integer_value(json_object_get(a, "size")));
    json_decref(j);
    double big_rate = rate(&b, &big, 1, big_rounds, false);
    long after_kb = status_kb("VmHWM:"); /* before the floor, which copies the mail */
    double big_floor = rate(&b, &big, 1, big_rounds, true);
    bench_row(&b, "attachment", "em_parse", big_rate, "mails/s", "%.1f MB raw",
              (double)big.len / 1e6);
    bench_row(&b, "attachment", "gmime_only", big_floor, "mails/s", "floor");
    bench_row(&b, "attachment", "peak_rss_growth", (double)(after_kb - before_kb), "kB",
              "peak RSS added by parsing, beside the %.1f MB mail", (double)big.len / 1e6);
    bench_row(&b, "attachment", "peak_rss", (double)after_kb / 1024.0, "MB",
              "the whole process, the mail included");

    /* The realistic mix: every fixture, then the big mail, once per round. */
    mails[n] = big;
    bench_section(&b, "realistic", "The fixtures and the 5 MB mail together");
    double mix = rate(&b, mails, n + 1, big_rounds, false);
    bench_row(&b, "realistic", "em_parse", mix, "mails/s", "%zu mails a round, one of 5 MB", n + 1);
    for (size_t i = 0; i <= n; i++)
        g_free(mails[i].raw);
    return bench_finish(&b);
}
