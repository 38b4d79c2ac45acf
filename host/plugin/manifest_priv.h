/* manifest_priv.h - internals shared by manifest.c and manifest_exports.c. */
#ifndef AH_MANIFEST_PRIV_H
#define AH_MANIFEST_PRIV_H

#include "manifest.h"

#include <jansson.h>
#include <stddef.h>

/* An action's "export" (if any): its signature parsed; "args" derived from
 * it when absent, else checked against it (every parameter a required
 * property of the matching JSON type). 0, or -1 with the offending field
 * ("<prefix>.export.signature" or "<prefix>.args") and a reason. */
int manifest_check_export(json_t *action, char *field, size_t flen, const char *prefix, char *msg,
                          size_t msglen);

#endif
