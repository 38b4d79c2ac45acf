/*
 * email - the e-mail channel's plugin, one instance per mailbox (issue 16,
 * ADR 0036; docs/channels/email.md). This part: the mail core as actions,
 * usable without any transport (a mail provider's inbound-parse webhook
 * hands over the raw message):
 *   parse    a raw RFC 5322 message in, its JSON out (mail.h, em_parse)
 *   part     one part's decoded content, by its IMAP part number
 *   compose  a MIME message from a message.out-like object
 * IMAP polling and SMTP sending come with the broker's mail requests.
 *
 * GMime's global state is set up by the library constructor below, which
 * the runner runs while dlopening the plugin, before its second seccomp
 * filter: nothing of GMime's start-up then needs a system call that the
 * strict filter forbids.
 */
#include "mail.h"

#include <agenthost/plugin.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>

#define OWN_MAX 16

typedef struct email {
    const ah_host *host;
    ah_ctx *ctx;
    const char *own[OWN_MAX + 1];
    size_t own_n;
    size_t max_text;
} email;

static email E;

__attribute__((constructor)) static void email_preinit(void)
{
    em_init();
}

static void add_own(email *e, const char *addr)
{
    if (addr && *addr && e->own_n < OWN_MAX) e->own[e->own_n++] = addr;
}

static int email_init(ah_ctx *ctx, const ah_host *host, const json_t *config)
{
    E = (email){.host = host, .ctx = ctx};
    host->set_userdata(ctx, &E);
    add_own(&E, json_string_value(json_object_get(config, "address")));
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(config, "aliases"), i, a) add_own(&E, json_string_value(a));
    json_int_t mt = json_integer_value(json_object_get(config, "max_text_bytes"));
    E.max_text = mt > 0 ? (size_t)mt : EM_TEXT_MAX;
    em_init();
    host->log(ctx, AH_LOG_INFO, "email ready (instance %s, %zu own address%s)",
              host->instance_id(ctx), E.own_n, E.own_n == 1 ? "" : "es");
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
    else
        e->host->reply_error(call, "unknown_action", action);
}

AH_PLUGIN(.name = "email", .version = "0.1.0", .init = email_init, .call = email_call);
