/*
 * Fuzz target: the web chat's credentials (host/api/webchat_token.h). The
 * input is a session token, and also the parts of a signed identity
 * (split at NUL bytes: user id, e-mail, name, signature). Beyond the
 * sanitizers, it traps when a promise breaks: a token accepted that was
 * not made with the key, a token made with the key that does not parse
 * back to its parts, an identity accepted with a signature the fuzzer
 * could not know.
 */
#include "api/webchat_token.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const uint8_t KEY[WCT_KEY_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8, 9};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wct t;
    wct_status st = wct_parse(KEY, (const char *)data, size, 1000, &t);
    /* The fuzzer cannot forge a MAC: whatever parses was made here. */
    if (st == WCT_OK || st == WCT_EXPIRED) {
        char again[WCT_TOKEN_MAX + 1];
        if (wct_make(KEY, &t, again, sizeof(again)) != 0 || strlen(again) != size ||
            memcmp(again, data, size) != 0)
            __builtin_trap();
    }
    /* A token made from the input's id-shaped prefix parses back. */
    char id[WCT_ID_MAX + 1];
    size_t n = size < WCT_ID_MAX ? size : WCT_ID_MAX;
    memcpy(id, data, n);
    id[n] = 0;
    if (wct_id_valid(id)) {
        wct in = {.expires_ms = 5000}, out;
        snprintf(in.widget, sizeof(in.widget), "%s", id);
        snprintf(in.session, sizeof(in.session), "%s", id);
        char tok[WCT_TOKEN_MAX + 1];
        if (wct_make(KEY, &in, tok, sizeof(tok)) != 0 ||
            wct_parse(KEY, tok, strlen(tok), 1000, &out) != WCT_OK || strcmp(out.widget, id) != 0 ||
            out.expires_ms != 5000)
            __builtin_trap();
    }
    /* An identity: parts split at NUL bytes. */
    char buf[1024];
    if (size >= sizeof(buf)) return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    const char *parts[4] = {"", "", "", ""};
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= size && k < 4; i++)
        if (buf[i] == 0) {
            parts[k++] = buf + start;
            start = i + 1;
        }
    if (wci_verify("secret", 6, parts[0], parts[1], parts[2], 100, parts[3], 100) == 0)
        __builtin_trap();
    return 0;
}
