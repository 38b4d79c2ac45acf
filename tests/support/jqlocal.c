/*
 * jqlocal.c - jq in the test's process. See jqlocal.h.
 */
#include "jqlocal.h"

#include "../../plugins/jq/jqw.h"

#include <stdio.h>
#include <stdlib.h>

_Noreturn void jqw_no_memory(void)
{
    abort();
}

int jqlocal_eval(const char *program, const json_t *input, json_t **outputs, char *err,
                 size_t errlen)
{
    *outputs = NULL;
    jq_state *jq = jq_init();
    if (!jq) {
        snprintf(err, errlen, "jq_init failed");
        return -1;
    }
    jq_set_debug_cb(jq, NULL, NULL);
    if (!jq_compile(jq, program)) {
        snprintf(err, errlen, "jq: compile error in %s", program);
        jq_teardown(&jq);
        return -1;
    }
    json_t *out = json_array();
    jq_start(jq, jqw_from_json(input), 0);
    int rc = 0;
    for (;;) {
        jv r = jq_next(jq);
        if (!jv_is_valid(r)) {
            if (jv_invalid_has_msg(jv_copy(r))) {
                jqw_error_text(r, err, errlen);
                rc = -1;
            } else {
                jv_free(r);
            }
            break;
        }
        jqw_budget b = {.bytes_left = 1 << 20};
        json_t *j = jqw_to_json(r, &b);
        if (!j) {
            snprintf(err, errlen, "%s", b.why);
            rc = -1;
            break;
        }
        json_array_append_new(out, j);
    }
    jq_teardown(&jq);
    if (rc) {
        json_decref(out);
        return -1;
    }
    *outputs = out;
    return 0;
}
