/*
 * fuzz_amocrm - the crm-amocrm plugin's readers of outside input: the
 * bytes as an amoCRM webhook form, and as a JSON body read the HAL way
 * (lists, next links, error texts); phone numbers as typed.
 */
#include "../../plugins/crm-amocrm/amo.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_decref(amo_form_parse((const char *)data, size));
    json_t *b = json_loadb((const char *)data, size, 0, NULL);
    const json_t *items = amo_hal_items(b, "contacts");
    (void)json_array_size(items);
    (void)amo_hal_next(b);
    char why[300], phone[24];
    amo_problem_text(b, why, sizeof(why));
    json_decref(b);
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    (void)amo_phone_e164(s, "7", phone, sizeof(phone));
    free(s);
    return 0;
}
