/*
 * transport.c - the mailbox's requests through the host's egress broker
 * (ADR 0034): the SDK's http call with a mail URL, the method an IMAP
 * command, "GET" (fetch by URL) or "SEND" (SMTP), and the login as
 * "Authorization: Basic", built here from the instance's secrets and
 * wiped once the request is handed over.
 */
#include "em.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXTRA_MAX 110

int64_t em_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct req {
    email *e;
    em_http_cb cb;
    void *ud;
} req;

static void answered(ah_ctx *ctx, const ah_http_response *r, void *ud)
{
    (void)ctx;
    req *q = ud;
    q->cb(q->e, r, q->ud);
    free(q);
}

int em_request(email *e, const char *method, const char *url, const char *body, size_t len,
               const char *const *extra, bool smtp, uint32_t flags, em_http_cb cb, void *ud)
{
    const char *headers[EXTRA_MAX + 2];
    size_t n = 0;
    for (; extra && extra[n] && n < EXTRA_MAX; n++)
        headers[n] = extra[n];
    const char *u = smtp ? (e->smtp_user ? e->smtp_user : e->user) : e->user;
    const char *p = smtp ? (e->smtp_password ? e->smtp_password : e->password) : e->password;
    char *auth = NULL;
    if ((!smtp || e->smtp_auth) && u && p) {
        char *up = g_strdup_printf("%s:%s", u, p);
        gchar *b64 = g_base64_encode((const guchar *)up, strlen(up));
        auth = g_strdup_printf("Authorization: Basic %s", b64);
        memset(up, 0, strlen(up));
        memset(b64, 0, strlen(b64));
        g_free(up);
        g_free(b64);
        headers[n++] = auth;
    }
    headers[n] = NULL;
    req *q = malloc(sizeof(*q));
    int rc = AH_ENOMEM;
    if (q) {
        *q = (req){.e = e, .cb = cb, .ud = ud};
        ah_http_request r = {.size = sizeof(r),
                             .method = method,
                             .url = url,
                             .headers = headers,
                             .body = body,
                             .body_len = len,
                             .timeout_ms = 60000,
                             .flags = flags};
        rc = e->host->http(e->ctx, &r, answered, q);
        if (rc) free(q);
    }
    if (auth) {
        memset(auth, 0, strlen(auth));
        g_free(auth);
    }
    return rc;
}

void em_mailbox_url(const email *e, char *out, size_t n)
{
    /* RFC 5092: the mailbox name percent-encoded beyond the safe characters. */
    char enc[400];
    size_t k = 0;
    for (const unsigned char *c = (const unsigned char *)e->mailbox; *c && k + 4 < sizeof(enc);
         c++) {
        if (g_ascii_isalnum(*c) || strchr("-._~!$'()*+,=:@&", *c))
            enc[k++] = (char)*c;
        else
            k += (size_t)snprintf(enc + k, sizeof(enc) - k, "%%%02X", *c);
    }
    enc[k] = 0;
    snprintf(out, n, "%s/%s", e->imap_url, enc);
}

void em_chat_of(const char *thread_key, char *out, size_t n)
{
    gchar *h = g_compute_checksum_for_string(G_CHECKSUM_SHA256, thread_key ? thread_key : "", -1);
    snprintf(out, n, "t_%.24s", h);
    g_free(h);
}

bool em_is_chat(const char *s)
{
    if (!s || strncmp(s, "t_", 2) != 0 || strlen(s) != 26) return false;
    for (const char *c = s + 2; *c; c++)
        if (!g_ascii_isxdigit(*c) || g_ascii_isupper(*c)) return false;
    return true;
}

bool em_is_address_chat(const char *s)
{
    if (!s || !*s || strlen(s) >= 64 || !strchr(s, '@') || strchr(s, '@') != strrchr(s, '@'))
        return false;
    for (const char *c = s; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == '<' || *c == '>' || *c == 0x7f) return false;
    return true;
}
