/*
 * email - the e-mail channel's plugin, one instance per mailbox (issue 16,
 * ADR 0036; docs/channels/email.md). This part: the mail core as actions,
 * usable without any transport (a mail provider's inbound-parse webhook
 * hands over the raw message):
 *   parse    a raw RFC 5322 message in, its JSON out (mail.h, em_parse)
 *   part     one part's decoded content, by its IMAP part number
 *   compose  a MIME message from a message.out-like object
 *   send     a mail to any address (the step email.send; outbound.c)
 *   status   the IMAP poller's place
 *   attachment.fetch  an attachment's bytes from the mailbox (attach.c)
 * With config.imap_url the mailbox is polled (inbound.c) and message.out
 * for this instance is sent over config.smtp_url (outbound.c), both
 * through the host's egress broker (ADR 0034).
 *
 * GMime's global state is set up by the library constructor below, which
 * the runner runs while dlopening the plugin, before its second seccomp
 * filter: nothing of GMime's start-up then needs a system call that the
 * strict filter forbids.
 */
#include "em.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>

#define OWN_MAX EM_OWN_MAX

static email E;

__attribute__((constructor)) static void email_preinit(void)
{
    em_init();
}

static void add_own(email *e, const char *addr)
{
    if (addr && *addr && e->own_n < OWN_MAX) e->own[e->own_n++] = addr;
}

static uint32_t uint_of(const json_t *config, const char *key, uint32_t dflt)
{
    const json_t *v = json_object_get(config, key);
    return json_is_integer(v) && json_integer_value(v) >= 0 ? (uint32_t)json_integer_value(v)
                                                            : dflt;
}

static void url_of(const json_t *config, const char *key, char *out, size_t n)
{
    const char *u = json_string_value(json_object_get(config, key));
    snprintf(out, n, "%s", u ? u : "");
    size_t len = strlen(out);
    while (len && out[len - 1] == '/')
        out[--len] = 0;
}

/* The transport's settings; false (logged) when they cannot work. */
static bool transport_init(email *e, const json_t *config)
{
    const ah_host *host = e->host;
    url_of(config, "imap_url", e->imap_url, sizeof(e->imap_url));
    url_of(config, "smtp_url", e->smtp_url, sizeof(e->smtp_url));
    const char *mb = json_string_value(json_object_get(config, "mailbox"));
    snprintf(e->mailbox, sizeof(e->mailbox), "%s", mb ? mb : "INBOX");
    const json_t *h = json_object_get(config, "handled");
    const char *mv = json_string_value(json_object_get(h, "move_to"));
    snprintf(e->move_to, sizeof(e->move_to), "%s", mv ? mv : "");
    for (const char *c = e->move_to; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == '"' || *c == '\\') {
            host->log(e->ctx, AH_LOG_ERROR,
                      "handled.move_to: a folder name without quotes, backslashes or control "
                      "characters");
            return false;
        }
    e->poll_ms = uint_of(config, "poll_interval_s", 10) * 1000;
    if (e->poll_ms < 1000) e->poll_ms = 1000;
    e->max_per_poll = uint_of(config, "max_per_poll", 20);
    if (!e->max_per_poll) e->max_per_poll = 1;
    const char *fs = json_string_value(json_object_get(config, "first_start"));
    e->first_all = fs && !strcmp(fs, "all");
    const json_t *rl = json_object_get(config, "rate_limit");
    e->rate_max = uint_of(rl, "per_sender", 5);
    e->rate_window_s = uint_of(rl, "window_s", 3600);
    e->rate = json_object();
    e->smtp_auth = !json_is_false(json_object_get(config, "smtp_auth"));
    e->user = host->secret(e->ctx, "user");
    e->password = host->secret(e->ctx, "password");
    e->smtp_user = host->secret(e->ctx, "smtp_user");
    e->smtp_password = host->secret(e->ctx, "smtp_password");
    if ((e->imap_url[0] || e->smtp_url[0]) && !e->own_n) {
        host->log(e->ctx, AH_LOG_ERROR, "config.address is needed with imap_url or smtp_url");
        return false;
    }
    if (e->imap_url[0] && (!e->user || !e->password)) {
        host->log(e->ctx, AH_LOG_ERROR,
                  "imap_url needs the mailbox's login: `agenthost secret set %s user` and "
                  "`agenthost secret set %s password` (an app password where the provider asks "
                  "for one)",
                  e->instance, e->instance);
        return false;
    }
    if (!AH_HOST_HAS(host, kv_put_many)) {
        host->log(e->ctx, AH_LOG_ERROR, "this host is too old: the email plugin needs ABI 1.3");
        return false;
    }
    return true;
}

static int email_init(ah_ctx *ctx, const ah_host *host, const json_t *config)
{
    E = (email){.host = host, .ctx = ctx, .config = config};
    host->set_userdata(ctx, &E);
    snprintf(E.instance, sizeof(E.instance), "%s", host->instance_id(ctx));
    add_own(&E, json_string_value(json_object_get(config, "address")));
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(config, "aliases"), i, a) add_own(&E, json_string_value(a));
    json_int_t mt = json_integer_value(json_object_get(config, "max_text_bytes"));
    E.max_text = mt > 0 ? (size_t)mt : EM_TEXT_MAX;
    em_init();
    if (!transport_init(&E, config)) return AH_EINVAL;
    host->log(ctx, AH_LOG_INFO, "email ready (instance %s, %zu own address%s, %s)",
              host->instance_id(ctx), E.own_n, E.own_n == 1 ? "" : "es",
              E.imap_url[0] ? "polling the mailbox" : "no mailbox polled");
    if (E.imap_url[0]) em_inbound_start(&E);
    return AH_OK;
}

/* The raw message of a call: "raw" (text, borrowed from args) or
 * "raw_base64" (any bytes, decoded into *owned: g_free it). False when
 * neither is there, the call answered with the error. */
static bool raw_of(email *e, ah_call *call, const json_t *args, const char **raw, size_t *len,
                   guchar **owned)
{
    const json_t *text = json_object_get(args, "raw"), *b64 = json_object_get(args, "raw_base64");
    *owned = NULL;
    if (json_is_string(text)) {
        *raw = json_string_value(text);
        *len = json_string_length(text);
        return true;
    }
    if (!json_is_string(b64)) {
        e->host->reply_error(call, "invalid",
                             "give the message as raw (text) or raw_base64 (any bytes)");
        return false;
    }
    gsize n = 0;
    *owned = g_base64_decode(json_string_value(b64), &n);
    *raw = (const char *)*owned;
    *len = n;
    return true;
}

static void answer(email *e, ah_call *call, json_t *out, const char *code, const char *err)
{
    if (out)
        e->host->reply(call, out);
    else
        e->host->reply_error(call, code, err);
}

static void do_parse(email *e, ah_call *call, const json_t *args)
{
    const char *raw;
    size_t len;
    guchar *owned;
    if (!raw_of(e, call, args, &raw, &len, &owned)) return;
    const char *own[OWN_MAX * 2 + 1];
    size_t n = 0;
    for (size_t i = 0; i < e->own_n; i++)
        own[n++] = e->own[i];
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(args, "own_addresses"), i, a)
    {
        if (n < OWN_MAX * 2 && json_is_string(a)) own[n++] = json_string_value(a);
    }
    own[n] = NULL;
    json_int_t mt = json_integer_value(json_object_get(args, "max_text_bytes"));
    em_parse_opts o = {.own = own, .own_n = n, .max_text = mt > 0 ? (size_t)mt : e->max_text};
    char err[256];
    json_t *out = em_parse(raw, len, &o, err, sizeof(err));
    g_free(owned);
    answer(e, call, out, "not_a_message", err);
}

static void do_part(email *e, ah_call *call, const json_t *args)
{
    const char *raw;
    size_t len;
    guchar *owned;
    if (!raw_of(e, call, args, &raw, &len, &owned)) return;
    json_int_t max = json_integer_value(json_object_get(args, "max_bytes"));
    char err[256];
    json_t *out = em_part(raw, len, json_string_value(json_object_get(args, "part")),
                          max > 0 ? (size_t)max : 10u << 20, err, sizeof(err));
    g_free(owned);
    answer(e, call, out, "not_found", err);
}

static void do_compose(email *e, ah_call *call, const json_t *args)
{
    char err[256];
    answer(e, call, em_compose(args, err, sizeof(err)), "invalid", err);
}

static void email_call(ah_ctx *ctx, ah_call *call, const char *action, const json_t *args)
{
    email *e = ctx ? E.host->userdata(ctx) : &E;
    if (!strcmp(action, "parse"))
        do_parse(e, call, args);
    else if (!strcmp(action, "part"))
        do_part(e, call, args);
    else if (!strcmp(action, "compose"))
        do_compose(e, call, args);
    else if (!strcmp(action, "send"))
        em_send_action(e, call, args);
    else if (!strcmp(action, "attachment.fetch"))
        em_attachment_action(e, call, args);
    else if (!strcmp(action, "status"))
        e->host->reply(call, em_inbound_status(e));
    else
        e->host->reply_error(call, "unknown_action", action);
}

static void email_on_event(ah_ctx *ctx, const ah_event *ev)
{
    (void)ctx;
    if (!strcmp(ev->topic, "message.out"))
        em_on_out(&E, ev);
    else
        E.host->ack(E.ctx, ev);
}

static void email_shutdown(ah_ctx *ctx)
{
    (void)ctx;
    E.stopping = true;
    json_decref(E.rate);
    E.rate = NULL;
}

AH_PLUGIN(.name = "email", .version = "0.2.0", .init = email_init, .call = email_call,
          .on_event = email_on_event, .shutdown = email_shutdown);
