/* signature.c - the C signatures of typed exports (signature.h). */
#include "signature.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    ah_ctype type;
} type_names[] = {{"void", AH_T_VOID},     {"int64", AH_T_INT64}, {"int32", AH_T_INT32},
                  {"double", AH_T_DOUBLE}, {"bool", AH_T_BOOL},   {"string", AH_T_STRING},
                  {"json", AH_T_JSON}};

const char *ah_ctype_name(ah_ctype t)
{
    for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
        if (type_names[i].type == t) return type_names[i].name;
    return "?";
}

static const char *skip_ws(const char *p)
{
    while (*p && isspace((unsigned char)*p))
        p++;
    return p;
}

/* Read an identifier into buf; returns the position after it or NULL. */
static const char *ident(const char *p, char *buf, size_t len)
{
    p = skip_ws(p);
    size_t n = 0;
    if (!(isalpha((unsigned char)*p) || *p == '_')) return NULL;
    while (isalnum((unsigned char)*p) || *p == '_') {
        if (n + 1 >= len) return NULL;
        buf[n++] = *p++;
    }
    buf[n] = 0;
    return p;
}

static int type_of(const char *s, ah_ctype *t)
{
    for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
        if (!strcmp(s, type_names[i].name)) {
            *t = type_names[i].type;
            return 0;
        }
    return -1;
}

int ah_signature_parse(const char *text, ah_signature *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    char word[64];
    const char *p = ident(text, word, sizeof(word));
    if (!p || type_of(word, &out->ret) < 0) {
        snprintf(err, errlen,
                 "signature must start with a return type (void, int64, int32, "
                 "double, bool, string, json)");
        return -1;
    }
    p = skip_ws(p);
    if (*p++ != '(') {
        snprintf(err, errlen, "expected '(' after the return type");
        return -1;
    }
    p = skip_ws(p);
    if (*p == ')') {
        p++;
    } else {
        for (;;) {
            if (out->nargs == AH_EXPORT_MAX_ARGS) {
                snprintf(err, errlen, "more than %d arguments", AH_EXPORT_MAX_ARGS);
                return -1;
            }
            ah_ctype t;
            const char *at = skip_ws(p);
            p = ident(p, word, sizeof(word));
            if (!p || type_of(word, &t) < 0 || t == AH_T_VOID) {
                /* Name the token as written (up to its end) and the valid types. */
                size_t n = strcspn(at, " \t\n,()");
                snprintf(err, errlen,
                         "argument %d: unknown type \"%.*s\" (an argument's type is one of int64, "
                         "int32, double, bool, string, json)",
                         out->nargs + 1, (int)(n > 32 ? 32 : n), at);
                return -1;
            }
            p = ident(p, out->names[out->nargs], sizeof(out->names[0]));
            if (!p) {
                snprintf(err, errlen, "argument %d: a name must follow its type", out->nargs + 1);
                return -1;
            }
            for (int k = 0; k < out->nargs; k++)
                if (!strcmp(out->names[k], out->names[out->nargs])) {
                    snprintf(err, errlen, "argument %s named twice", out->names[k]);
                    return -1;
                }
            out->types[out->nargs++] = t;
            p = skip_ws(p);
            if (*p == ',') {
                p++;
                continue;
            }
            if (*p == ')') {
                p++;
                break;
            }
            snprintf(err, errlen, "expected ',' or ')' after argument %s",
                     out->names[out->nargs - 1]);
            return -1;
        }
    }
    if (*skip_ws(p)) {
        snprintf(err, errlen, "unexpected text after ')'");
        return -1;
    }
    return 0;
}

const char *ah_ctype_json_type(ah_ctype t)
{
    switch (t) {
    case AH_T_INT64:
    case AH_T_INT32:
        return "integer";
    case AH_T_DOUBLE:
        return "number";
    case AH_T_BOOL:
        return "boolean";
    case AH_T_STRING:
        return "string";
    case AH_T_JSON:
    case AH_T_VOID:
        break;
    }
    return NULL;
}
