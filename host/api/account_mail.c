/*
 * Invitation and password reset mails through an e-mail instance's send
 * action (account_mail.h). The texts are given in English and Russian; the
 * plugin picks the user's language (its tag, then its base language, then
 * English). Each mail has an idempotency key made of its kind, the user
 * and the token's expiry, so that the instance records it and a new token
 * is a new mail; the key holds nothing of the token.
 */
#include "account_mail.h"

#include "core/log.h"
#include "core/util.h"
#include "plugin/supervisor.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define URL_MAX 400

struct account_mail {
    supervisor *sup;
    char instance[128];
    char url[URL_MAX]; /* public_url without its trailing slashes */
};

int account_mail_check(const char *inst_id, const char *public_url, char *err, size_t errlen)
{
    if (inst_id && !*inst_id) {
        snprintf(err, errlen, "auth.mail_instance: an instance id, or unset");
        return -1;
    }
    if (inst_id && strlen(inst_id) >= 128) {
        snprintf(err, errlen, "auth.mail_instance: at most 127 bytes");
        return -1;
    }
    if (public_url && (strncmp(public_url, "https://", 8) && strncmp(public_url, "http://", 7))) {
        snprintf(err, errlen,
                 "http.public_url: an http:// or https:// URL (https://admin.example)");
        return -1;
    }
    if (public_url && (strlen(public_url) >= URL_MAX - 100 || strpbrk(public_url, " \t\r\n#?"))) {
        snprintf(err, errlen,
                 "http.public_url: at most %d bytes, without spaces, query or fragment",
                 URL_MAX - 101);
        return -1;
    }
    if (inst_id && !public_url) {
        snprintf(err, errlen,
                 "http.public_url: required with auth.mail_instance (the links' base, "
                 "https://admin.example)");
        return -1;
    }
    return 0;
}

account_mail *account_mail_new(supervisor *sup, const char *inst_id, const char *public_url,
                               bool *failed)
{
    *failed = false;
    if (!inst_id || !public_url) return NULL;
    account_mail *m = calloc(1, sizeof(*m));
    if (!m) {
        *failed = true;
        return NULL;
    }
    m->sup = sup;
    snprintf(m->instance, sizeof(m->instance), "%s", inst_id);
    snprintf(m->url, sizeof(m->url), "%s", public_url);
    for (size_t n = strlen(m->url); n > 0 && m->url[n - 1] == '/'; n--)
        m->url[n - 1] = 0;
    return m;
}

void account_mail_free(account_mail *m)
{
    free(m);
}

/* ---- the texts ------------------------------------------------------------------------ */

static json_t *texts(const account_mail_msg *g, const char *link, const char *until, bool subject)
{
    const char *name = g->name && *g->name ? g->name : NULL;
    char hello_en[300], hello_ru[300];
    snprintf(hello_en, sizeof(hello_en), "Hello%s%s,", name ? " " : "", name ? name : "");
    snprintf(hello_ru, sizeof(hello_ru), "Здравствуйте%s%s!", name ? ", " : "", name ? name : "");
    if (subject)
        return g->invite ? json_pack("{s:s,s:s}", "en", "Your invitation to agenthost", "ru",
                                     "Приглашение в agenthost")
                         : json_pack("{s:s,s:s}", "en", "Reset your agenthost password", "ru",
                                     "Сброс пароля agenthost");
    if (g->invite)
        return json_pack(
            "{s:o,s:o}", "en",
            json_sprintf("%s\n\nYou are invited to the agenthost admin (role: %s). Choose your "
                         "password here:\n\n%s\n\nThe link works once, until %s. If you did "
                         "not expect this mail, ignore it.\n",
                         hello_en, g->role ? g->role : "-", link, until),
            "ru",
            json_sprintf("%s\n\nВас пригласили в админку agenthost (роль: %s). Задайте пароль "
                         "по ссылке:\n\n%s\n\nСсылка действует один раз, до %s. Если вы не "
                         "ждали этого письма, просто не обращайте на него внимания.\n",
                         hello_ru, g->role ? g->role : "-", link, until));
    return json_pack(
        "{s:o,s:o}", "en",
        json_sprintf("%s\n\nA password reset was asked for your agenthost admin account. "
                     "Choose a new password here:\n\n%s\n\nThe link works once, until %s; "
                     "using it signs you out everywhere. If you did not ask for it, ignore "
                     "this mail: your password stays as it is.\n",
                     hello_en, link, until),
        "ru",
        json_sprintf("%s\n\nДля вашей учётной записи в админке agenthost запрошен сброс "
                     "пароля. Задайте новый пароль по ссылке:\n\n%s\n\nСсылка действует один "
                     "раз, до %s; после этого все ваши сеансы завершатся. Если вы не "
                     "запрашивали сброс, не обращайте внимания на письмо: пароль останется "
                     "прежним.\n",
                     hello_ru, link, until));
}

/* ---- sending -------------------------------------------------------------------------- */

typedef struct sending {
    account_mail_cb cb;
    void *ud;
    char user_id[40];
    bool invite;
} sending;

static void finish(sending *s, bool sent, const char *reason)
{
    if (sent)
        log_info("auth", "%s mail sent to user %s", s->invite ? "invitation" : "password reset",
                 s->user_id);
    else
        log_warn("auth", "%s mail to user %s not sent: %s",
                 s->invite ? "invitation" : "password reset", s->user_id, reason);
    s->cb(s->ud, sent, reason);
    free(s);
}

static void answered(void *ud, const json_t *result, const char *err_code, const char *message)
{
    sending *s = ud;
    if (!err_code && result) {
        finish(s, true, NULL);
        return;
    }
    char why[400];
    snprintf(why, sizeof(why), "%s: %s", err_code ? err_code : "error",
             message ? message : "the instance gave no answer");
    finish(s, false, why);
}

void account_mail_send(account_mail *m, const account_mail_msg *g, account_mail_cb cb, void *ud)
{
    sending *s = calloc(1, sizeof(*s));
    if (!s) {
        cb(ud, false, "no_memory: out of memory");
        return;
    }
    *s = (sending){.cb = cb, .ud = ud, .invite = g->invite};
    snprintf(s->user_id, sizeof(s->user_id), "%s", g->user_id);
    instance *in = supervisor_find(m->sup, m->instance);
    if (!in) {
        char why[200];
        snprintf(why, sizeof(why), "no_instance: no instance \"%s\" (auth.mail_instance)",
                 m->instance);
        finish(s, false, why);
        return;
    }
    char until[40], key[160];
    ah_rfc3339_ms(g->expires_ms, until, sizeof(until));
    char *link = NULL;
    if (asprintf(&link, "%s/admin/set-password#token=%s", m->url, g->token) < 0) link = NULL;
    snprintf(key, sizeof(key), "account-%s-%s-%lld", g->invite ? "invite" : "reset", g->user_id,
             (long long)g->expires_ms);
    json_t *args =
        link ? json_pack("{s:s,s:o,s:o,s:s,s:s,s:s,s:b}", "to", g->to, "subject",
                         texts(g, link, until, true), "text", texts(g, link, until, false),
                         "language", g->language && *g->language ? g->language : "en",
                         "default_language", "en", "idempotency_key", key, "signature", 0)
             : NULL;
    if (link) {
        memset(link, 0, strlen(link));
        free(link);
    }
    if (!args) {
        finish(s, false, "no_memory: out of memory");
        return;
    }
    char err[600];
    int rc = instance_call(in, "send", args, 0, answered, s, err, sizeof(err));
    json_decref(args);
    if (rc) finish(s, false, err);
}
