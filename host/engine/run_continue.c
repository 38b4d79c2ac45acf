/*
 * run_continue.c - the continue_in step (docs/scenario-format.md): offer
 * the contact to go on in another channel with a single-use, expiring,
 * unguessable link code (docs/channels.md, Cross-channel):
 *   telegram: a button opening https://t.me/BOT?start=CODE; Telegram
 *             sends "/start CODE" from the person's account;
 *   email:    the code mailed to the address given (a message.out on the
 *             mail instance, the code in its subject); a reply carrying
 *             it proves the address.
 * The code is not kept: only its hash goes to the turn's link_codes, for
 * the runtime to store in the contact (contact.link_codes) with the
 * commit, and to find when the code comes back (host/runtime/rt_link.c).
 */
#include "engine/run_priv.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TTL_S 900

static const char *str_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

void run_link_code_hash(const char *code, char hex[33])
{
    uint8_t h[16];
    crypto_generichash(h, sizeof(h), (const uint8_t *)code, strlen(code), NULL, 0);
    sodium_bin2hex(hex, 33, h, sizeof(h));
}

static bool code_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* Crockford base32 as ids write it: 0-9 and A-Z without I, L, O, U. */
static bool ulid_char(char c)
{
    return (c >= '0' && c <= '9') ||
           (c >= 'A' && c <= 'Z' && c != 'I' && c != 'L' && c != 'O' && c != 'U');
}

static bool is_code(const char *w, size_t n)
{
    if (n != RUN_LINK_CODE_LEN || w[0] != 'L') return false;
    for (size_t i = 1; i < 27; i++)
        if (!ulid_char(w[i])) return false;
    return true;
}

bool run_link_code_find(const char *text, char out[RUN_LINK_CODE_LEN + 1])
{
    if (!text) return false;
    const char *p = text;
    while (*p) {
        while (*p && !code_char(*p))
            p++;
        const char *w = p;
        while (*p && code_char(*p))
            p++;
        if (is_code(w, (size_t)(p - w))) {
            memcpy(out, w, RUN_LINK_CODE_LEN);
            out[RUN_LINK_CODE_LEN] = '\0';
            return true;
        }
    }
    return false;
}

/* A new code for the contact (its id "con_" + 26; a simulation's contact,
 * which is no document, gets zeros: its code links nothing). */
static bool new_code(const char *contact_id, char out[RUN_LINK_CODE_LEN + 1])
{
    if (!contact_id) return false;
    bool real = strlen(contact_id) == 30 && !strncmp(contact_id, "con_", 4);
    for (size_t i = 4; real && i < 30; i++)
        real = ulid_char(contact_id[i]);
    if (!real) contact_id = "con_00000000000000000000000000";
    uint8_t rnd[16];
    randombytes_buf(rnd, sizeof(rnd));
    char b64[sodium_base64_ENCODED_LEN(16, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    sodium_bin2base64(b64, sizeof(b64), rnd, sizeof(rnd), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(out, RUN_LINK_CODE_LEN + 1, "L%s%s", contact_id + 4, b64);
    return strlen(out) == RUN_LINK_CODE_LEN;
}

/* An address as the mail step takes it: one @, no spaces or controls. */
static bool address_ok(const char *a)
{
    const char *at = strchr(a, '@');
    if (!at || at == a || !at[1] || strchr(at + 1, '@') || strlen(a) > 254) return false;
    for (const char *p = a; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == '<' || *p == '>' || *p == ',') return false;
    return true;
}

st_rc run_continue_in(run_turn *t, const json_t *step)
{
    const char *channel = str_of(step, "channel"), *inst = str_of(step, "instance");
    const char *contact_id = str_of(t->contact, "id");
    if (!channel || !inst)
        return run_fail(t, "invalid", "continue_in: channel and instance are required");
    char code[RUN_LINK_CODE_LEN + 1];
    if (!new_code(contact_id, code))
        return run_fail(t, "invalid", "continue_in: the conversation has no contact to link");
    st_rc rc;
    char *to = NULL;
    bool mail = !strcmp(channel, "email");
    if (mail) {
        to = run_render(t, json_object_get(step, "to"), "to", &rc);
        if (!to) return rc;
        if (!address_ok(to)) {
            free(to);
            return run_fail(t, "invalid", "continue_in: to is not an e-mail address");
        }
    } else if (!str_of(step, "bot")) {
        return run_fail(t, "invalid", "continue_in: bot (the bot's username) is required");
    }
    char *text = run_render(t, json_object_get(step, "text"), "text", &rc);
    if (!text) {
        free(to);
        return rc;
    }
    json_t *buttons = NULL;
    if (mail) {
        /* The code goes to the address (not kept in the history). */
        char body[400], subject[120];
        snprintf(subject, sizeof(subject), "Your code [%s]", code);
        snprintf(body, sizeof(body),
                 "Reply to this e-mail to continue our conversation here. Your code: %s", code);
        json_array_append_new(t->messages,
                              json_pack("{s:s,s:{s:s,s:s,s:s},s:{s:s},s:s?}", "text", body,
                                        "channel", "kind", "email", "instance", inst, "chat_id", to,
                                        "email", "subject", subject, "step", t->st->cur));
    } else {
        char *label = json_object_get(step, "button")
                          ? run_render(t, json_object_get(step, "button"), "button", &rc)
                          : strdup("Open Telegram");
        if (!label) {
            free(text);
            return rc;
        }
        char url[200];
        snprintf(url, sizeof(url), "https://t.me/%s?start=%s", str_of(step, "bot"), code);
        buttons = json_pack("[{s:s,s:s}]", "label", label, "url", url);
        free(label);
    }
    json_int_t ttl = json_integer_value(json_object_get(step, "ttl_s"));
    if (ttl <= 0) ttl = DEFAULT_TTL_S;
    char hex[33];
    run_link_code_hash(code, hex);
    sodium_memzero(code, sizeof(code));
    if (!t->link_codes) t->link_codes = json_array();
    json_array_append_new(t->link_codes, json_pack("{s:s,s:s,s:s,s:I}", "hash", hex, "channel",
                                                   channel, "instance", inst, "expires_ms",
                                                   (json_int_t)(t->now_ms + ttl * 1000)));
    free(to);
    run_say(t, text, buttons, NULL);
    return run_go(t, str_of(step, "next"));
}
