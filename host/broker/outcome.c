/*
 * outcome.c - what the end of one attempt means. See outcome.h; the
 * policy is docs/adr/0008-egress-broker.md (http) and
 * docs/adr/0034-mail-through-the-broker.md (smtp, imap).
 */
#include "outcome.h"

#include <stdio.h>
#include <string.h>

static bool tls_error(CURLcode rc)
{
    switch (rc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_USE_SSL_FAILED:
        return true;
    default:
        return false;
    }
}

/* A mail server's answer that refuses what was asked (a login, a
 * mailbox, a command, a sender or recipient): the server is up. 1 if rc
 * is one, with o filled. */
static int mail_rejection(const attempt_end *e, const char *detail, outcome *o)
{
    switch (e->rc) {
    case CURLE_LOGIN_DENIED:          /* login, or IMAP SELECT of a missing mailbox */
    case CURLE_QUOTE_ERROR:           /* an IMAP command answered NO or BAD */
    case CURLE_REMOTE_ACCESS_DENIED:  /* IMAP: no access to the mailbox */
    case CURLE_REMOTE_FILE_NOT_FOUND: /* IMAP: no message with that UID */
        break;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_WEIRD_SERVER_REPLY:
        if (e->status >= 400) break; /* SMTP MAIL, RCPT or DATA refused with a reply code */
        return 0;
    default:
        return 0;
    }
    o->code = "rejected";
    if (e->status)
        snprintf(o->msg, sizeof(o->msg), "the mail server refused (%d): %s", e->status, detail);
    else
        snprintf(o->msg, sizeof(o->msg), "the mail server refused: %s", detail);
    /* 421: the server is closing the channel: a failure of the destination. */
    o->breaker = e->status == 421 ? -1 : 0;
    o->retry_idem = e->status == 421;
    return 1;
}

void outcome_classify(const attempt_end *e, outcome *o)
{
    memset(o, 0, sizeof(*o));
    const char *detail = e->errbuf && e->errbuf[0] ? e->errbuf : curl_easy_strerror(e->rc);
    if (e->rc == CURLE_OK) {
        int s = e->status;
        if (e->mail) {
            o->breaker = 1;
            return;
        }
        o->breaker = (s == 500 || s == 502 || s == 503 || s == 504) ? -1 : s == 429 ? 0 : 1;
        o->retry_any = s == 429 || s == 503;
        o->retry_idem = o->retry_any || s == 408 || s == 500 || s == 502 || s == 504;
        return;
    }
    if (e->abort && !strcmp(e->abort, "too_large")) {
        o->code = "too_large";
        snprintf(o->msg, sizeof(o->msg), "response over the broker's size cap (%zu bytes%s)",
                 e->size_cap, e->streaming ? " streamed" : "");
        return;
    }
    if (e->abort && !strcmp(e->abort, "idle")) {
        o->code = "timeout";
        snprintf(o->msg, sizeof(o->msg), "no data for %u ms (stream idle timeout)", e->idle_ms);
        o->retry_idem = true;
        o->breaker = -1;
        return;
    }
    if (e->rc == CURLE_COULDNT_CONNECT && e->refused) {
        o->code = "refused";
        return;
    }
    if (e->mail && mail_rejection(e, detail, o)) return;
    if (e->rc == CURLE_OPERATION_TIMEDOUT) {
        o->code = "timeout";
        snprintf(o->msg, sizeof(o->msg), "%s", detail);
        o->retry_idem = true;
        o->breaker = -1;
    } else if (e->rc == CURLE_COULDNT_CONNECT) {
        o->code = "connect";
        snprintf(o->msg, sizeof(o->msg), "%s", detail);
        o->retry_any = o->retry_idem = true;
        o->breaker = -1;
    } else if (e->rc == CURLE_COULDNT_RESOLVE_HOST || e->rc == CURLE_COULDNT_RESOLVE_PROXY) {
        o->code = "connect";
        snprintf(o->msg, sizeof(o->msg), "%s", detail);
        o->retry_idem = true;
        o->breaker = -1;
    } else if (tls_error(e->rc)) {
        o->code = "tls";
        snprintf(o->msg, sizeof(o->msg), "%s", detail);
        o->breaker = -1;
    } else if (e->rc == CURLE_UNSUPPORTED_PROTOCOL || e->rc == CURLE_URL_MALFORMAT) {
        o->code = "invalid";
        snprintf(o->msg, sizeof(o->msg), "%s", detail);
    } else {
        o->code = "network";
        if (e->status && !e->mail && (e->rc == CURLE_PARTIAL_FILE || e->rc == CURLE_RECV_ERROR))
            snprintf(o->msg, sizeof(o->msg), "connection closed mid-response (HTTP %d): %s",
                     e->status, detail);
        else
            snprintf(o->msg, sizeof(o->msg), "%s", detail);
        o->retry_idem = true;
        o->breaker = -1;
    }
}
