#include "mailclient.h"

#include "../support/th.h"

#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t mc_sink(char *d, size_t sz, size_t nm, void *ud)
{
    mc_buf *b = ud;
    char *np = realloc(b->p, b->n + sz * nm + 1);
    if (!np) return 0;
    b->p = np;
    memcpy(b->p + b->n, d, sz * nm);
    b->n += sz * nm;
    b->p[b->n] = 0;
    return sz * nm;
}

size_t mc_source(char *d, size_t sz, size_t nm, void *ud)
{
    mc_buf *b = ud;
    size_t n = b->n - b->off < sz * nm ? b->n - b->off : sz * nm;
    memcpy(d, b->p + b->off, n);
    b->off += n;
    return n;
}

size_t mc_discard(char *d, size_t sz, size_t nm, void *ud)
{
    (void)d;
    (void)ud;
    return sz * nm;
}

void mc_submit(const mailserver *m, const char *rcpt, const char *msg)
{
    mc_buf b = {.p = (char *)msg, .n = strlen(msg)};
    CURL *c = curl_easy_init();
    char url[100], to[300];
    snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", m->smtp_port);
    snprintf(to, sizeof(to), "<%s>", rcpt);
    struct curl_slist *r = curl_slist_append(NULL, to);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, "<" MC_CUSTOMER ">");
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, r);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, mc_source);
    curl_easy_setopt(c, CURLOPT_READDATA, &b);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(r);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) fail_msg("SMTP to %s: %s", rcpt, curl_easy_strerror(rc));
}

void mc_mail(const mailserver *m, const char *from, const char *to, const char *mid,
             const char *subject, const char *extra_headers, const char *text)
{
    char *msg = NULL;
    assert_true(asprintf(&msg,
                         "From: %s\r\nTo: Support <%s>\r\nSubject: %s\r\n"
                         "Message-ID: <%s>\r\nDate: Mon, 07 Dec 2026 03:00:00 +0000\r\n%s"
                         "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                         "%s\r\n",
                         from, to, subject, mid, extra_headers, text) > 0);
    mc_submit(m, to, msg);
    free(msg);
}

char *mc_imap(const mailserver *m, const char *who, const char *path, const char *command)
{
    CURL *c = curl_easy_init();
    char url[400];
    snprintf(url, sizeof(url), "imap://127.0.0.1:%d/%s", m->imap_port, path);
    mc_buf b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_USERNAME, who);
    curl_easy_setopt(c, CURLOPT_PASSWORD, m->password);
    if (command) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, command);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, mc_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        free(b.p);
        return NULL;
    }
    return b.p ? b.p : strdup("");
}

long mc_search(const mailserver *m, const char *who, const char *folder, const char *criteria,
               long *v, size_t max)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "UID SEARCH %s", criteria);
    char *body = mc_imap(m, who, folder, cmd);
    if (!body) return -1;
    long n = 0;
    const char *s = strstr(body, "* SEARCH");
    for (char *c = s ? (char *)s + 8 : NULL, *end; c; c = end) {
        long x = strtol(c, &end, 10);
        if (end == c) break;
        if ((size_t)n < max) v[n] = x;
        n++;
    }
    free(body);
    return n;
}

long mc_newest_uid(const mailserver *m, const char *who)
{
    char *b = mc_imap(m, who, "INBOX", "UID SEARCH ALL");
    assert_non_null(b);
    long v = 0;
    const char *s = strstr(b, "* SEARCH");
    for (char *c = s ? (char *)s + 8 : NULL, *end; c; c = end) {
        long x = strtol(c, &end, 10);
        if (end == c) break;
        v = x;
    }
    free(b);
    return v;
}

char *mc_fetch(const mailserver *m, const char *who, long uid)
{
    char path[100];
    snprintf(path, sizeof(path), "INBOX;UID=%ld", uid);
    char *raw = mc_imap(m, who, path, NULL);
    if (!raw) fail_msg("fetching UID %ld of %s failed", uid, who);
    return raw;
}

size_t mc_wait_search(const mailserver *m, const char *who, const char *criteria, size_t n, long *v,
                      size_t max, int timeout_ms)
{
    long long deadline = th_now_ms() + timeout_ms;
    for (;;) {
        long found = mc_search(m, who, "INBOX", criteria, v, max);
        if (found >= 0 && (size_t)found >= n) return (size_t)found;
        if (th_now_ms() > deadline)
            fail_msg("%s: fewer than %zu mails match %s after %d ms", who, n, criteria, timeout_ms);
        th_sleep_ms(50);
    }
}

const char *mc_header(const char *raw, const char *name)
{
    static char v[1000];
    char key[100];
    snprintf(key, sizeof(key), "\r\n%s: ", name);
    const char *s = strcasestr(raw, key);
    v[0] = 0;
    if (!s) return v;
    s += strlen(key);
    size_t n = 0;
    while (s[0] && n < sizeof(v) - 1 &&
           !(s[0] == '\r' && s[1] == '\n' && s[2] != ' ' && s[2] != '\t')) {
        if (s[0] == '\r' && s[1] == '\n') { /* unfolded: one space */
            s += 2;
            while (*s == ' ' || *s == '\t')
                s++;
            v[n++] = ' ';
            continue;
        }
        v[n++] = *s++;
    }
    v[n] = 0;
    return v;
}

void mc_message_id(const char *raw, char *out, size_t n)
{
    const char *mid = mc_header(raw, "Message-ID");
    if (mid[0] != '<') fail_msg("no Message-ID in the mail");
    snprintf(out, n, "%.*s", (int)strlen(mid) - 2, mid + 1);
}

int mc_store_login(th_host *h, const char *instance, const mailserver *m)
{
    return th_set_secret(h, instance, "user", m->user) ||
                   th_set_secret(h, instance, "password", m->password)
               ? -1
               : 0;
}

long mc_handled_uid(th_host *h, const char *instance)
{
    json_t *o = NULL;
    int st = th_call(h, instance, "status", "{}", &o);
    long v = st == 200 ? (long)json_integer_value(th_get(o, "result.last_uid")) : -1;
    json_decref(o);
    return v;
}

bool mc_wait_handled(th_host *h, const char *instance, long uid, int timeout_ms)
{
    long long deadline = th_now_ms() + timeout_ms;
    while (mc_handled_uid(h, instance) < uid) {
        if (th_now_ms() > deadline) return false;
        th_sleep_ms(50);
    }
    return true;
}
