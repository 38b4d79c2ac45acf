/*
 * Fuzz target: what a provider streams back, through the llm-openai
 * plugin's SSE parser and chunk assembler, cut into pieces as the network
 * would. Input layout: [u8 piece size seed][the stream bytes].
 */
#include "../../plugins/llm-openai/chat.h"
#include "../../plugins/llm-openai/request.h"
#include "../../plugins/llm-openai/sse.h"

#include <stdint.h>
#include <string.h>

static void on_delta(void *ud, const json_t *partial)
{
    (void)ud;
    (void)partial;
}

static int on_event(void *ud, const char *event, const char *data, size_t len)
{
    (void)event;
    chat_acc *a = ud;
    if (data[len] != 0) __builtin_trap(); /* data is NUL-terminated at len */
    int rc = chat_acc_event(a, data, len, on_delta, NULL);
    return rc < 0 ? rc : 0; /* keep going after a provider error: more may follow */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t piece = (size_t)(data[0] % 64) + 1;
    data++;
    size--;
    sse_parser p;
    sse_init(&p, 1u << 16);
    chat_acc a;
    chat_acc_init(&a);
    for (size_t off = 0; off < size; off += piece) {
        size_t n = size - off < piece ? size - off : piece;
        if (sse_feed(&p, (const char *)data + off, n, on_event, &a) < 0) break;
    }
    json_t *r = chat_acc_result(&a);
    json_decref(r);
    char msg[300];
    llm_error_message((const char *)data, size, a.error, msg, sizeof(msg));
    json_t *err = NULL;
    char why[200];
    json_t *whole = chat_parse((const char *)data, size, &err, why, sizeof(why));
    json_decref(whole);
    json_decref(err);
    chat_acc_free(&a);
    sse_free(&p);
    return 0;
}
