/*
 * manifest_exports.c - the typed exports of a manifest's actions: each
 * signature parsed, and the action's argument schema derived from it
 * (when the author wrote none) or held to it (when they did), so that a
 * call is checked against the C function's real parameters in the host,
 * an LLM tool built from the action describes them truly, and a manifest
 * that disagrees with its own signature fails `manifest check`, `plugin
 * pack` and `plugin install` instead of the first call.
 */
#include "manifest_priv.h"

#include "sdk/runtime/signature.h"

#include <stdio.h>
#include <string.h>

static json_t *derived_args(const ah_signature *sig)
{
    json_t *props = json_object(), *req = json_array();
    for (int a = 0; a < sig->nargs; a++) {
        const char *t = ah_ctype_json_type(sig->types[a]);
        json_object_set_new(props, sig->names[a],
                            t ? json_pack("{s:s}", "type", t) : json_object());
        json_array_append_new(req, json_string(sig->names[a]));
    }
    return json_pack("{s:s,s:o,s:o,s:b}", "type", "object", "properties", props, "required", req,
                     "additionalProperties", false);
}

static bool required_has(const json_t *req, const char *name)
{
    size_t i;
    const json_t *v;
    json_array_foreach(req, i, v)
    {
        if (json_is_string(v) && !strcmp(json_string_value(v), name)) return true;
    }
    return false;
}

int manifest_check_export(json_t *action, char *field, size_t flen, const char *prefix, char *msg,
                          size_t msglen)
{
    const json_t *ex = json_object_get(action, "export");
    if (!ex) return 0;
    ah_signature sig;
    char why[160];
    if (ah_signature_parse(json_string_value(json_object_get(ex, "signature")), &sig, why,
                           sizeof(why)) < 0) {
        snprintf(field, flen, "%s.export.signature", prefix);
        snprintf(msg, msglen, "%s", why);
        return -1;
    }
    const json_t *args = json_object_get(action, "args");
    if (!args) {
        json_object_set_new(action, "args", derived_args(&sig));
        return 0;
    }
    snprintf(field, flen, "%s.args", prefix);
    const json_t *props = json_object_get(args, "properties");
    const json_t *req = json_object_get(args, "required");
    for (int a = 0; a < sig.nargs; a++) {
        const char *name = sig.names[a];
        const json_t *p = json_object_get(props, name);
        if (!p) {
            snprintf(msg, msglen, "argument %s of the signature is not among its properties", name);
            return -1;
        }
        if (!required_has(req, name)) {
            snprintf(msg, msglen, "argument %s of the signature must be required", name);
            return -1;
        }
        const char *want = ah_ctype_json_type(sig.types[a]);
        const char *have = json_string_value(json_object_get(p, "type"));
        if (want && have && strcmp(want, have) != 0 &&
            !(sig.types[a] == AH_T_DOUBLE && !strcmp(have, "integer"))) {
            snprintf(msg, msglen, "argument %s is %s in the signature but \"%s\" here", name,
                     ah_ctype_name(sig.types[a]), have);
            return -1;
        }
    }
    return 0;
}
