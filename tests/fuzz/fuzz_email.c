/*
 * fuzz_email - the e-mail plugin's readers of outside input: the bytes as
 * a raw message (GMime's parser, the walk over parts, charsets, HTML,
 * classification, threading), the first part fetched by number, the text
 * trimmed as a reply, and the reply subject and threading headers of a
 * composed answer to it.
 */
#include "../../plugins/email/mail.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        em_init();
        ready = 1;
    }
    const char *own[] = {"support@example.com", NULL};
    em_parse_opts o = {.own = own, .own_n = 1, .max_text = 64 << 10};
    char err[256];
    json_t *j = em_parse((const char *)data, size, &o, err, sizeof(err));
    json_decref(em_part((const char *)data, size, "1", 1 << 20, err, sizeof(err)));
    json_decref(em_part((const char *)data, size, "2.1", 1 << 20, err, sizeof(err)));
    if (j) {
        json_t *msg = json_pack("{s:s,s:s,s:s,s:O}", "from", "support@example.com", "to",
                                "customer@example.org", "text", "ok", "in_reply_to", j);
        json_decref(em_compose(msg, err, sizeof(err)));
        json_decref(msg);
        json_decref(j);
    }
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    const char *cut;
    free(em_trim_reply(s, &cut));
    free(em_reply_subject(s));
    free(em_subject_base(s));
    free(s);
    return 0;
}
