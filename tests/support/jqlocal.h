/*
 * jqlocal.h - jq in the test's own process (libjq), for fakes of the
 * expression pool: the same language the workers run, no sandbox. Tests
 * only: the host never links libjq (ADR 0016).
 */
#ifndef AH_TEST_JQLOCAL_H
#define AH_TEST_JQLOCAL_H

#include <jansson.h>
#include <stddef.h>

/* Run program over input: 0 with *outputs a new array of every output, or
 * -1 with err (a compile error or a runtime error's message). */
int jqlocal_eval(const char *program, const json_t *input, json_t **outputs, char *err,
                 size_t errlen);

#endif
