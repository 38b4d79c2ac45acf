#include "exports.h"

#include <dlfcn.h>
#include <ffi.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct export_fn {
    char name[72];
    void (*fn)(void);
    ah_signature sig;
    ffi_cif cif;
    ffi_type *atypes[AH_EXPORT_MAX_ARGS];
} export_fn;

static export_fn *g_exports;
static size_t g_nexports;
static char g_error[256];

static ffi_type *ffi_of(ah_ctype t)
{
    switch (t) {
    case AH_T_VOID:
        return &ffi_type_void;
    case AH_T_INT64:
        return &ffi_type_sint64;
    case AH_T_INT32:
        return &ffi_type_sint32;
    case AH_T_DOUBLE:
        return &ffi_type_double;
    case AH_T_BOOL:
        return &ffi_type_uint8;
    case AH_T_STRING:
    case AH_T_JSON:
        return &ffi_type_pointer;
    }
    return &ffi_type_void;
}

const char *ah_exports_error(void)
{
    return g_error;
}

int ah_exports_prepare(void *dl, const json_t *exports)
{
    size_t n = json_array_size(exports);
    free(g_exports); /* a second preparation replaces the first */
    g_exports = NULL;
    g_nexports = 0;
    if (n == 0) return 0;
    g_exports = calloc(n, sizeof(*g_exports));
    if (!g_exports) {
        snprintf(g_error, sizeof(g_error), "out of memory");
        return -1;
    }
    size_t i;
    const json_t *e;
    json_array_foreach(exports, i, e)
    {
        export_fn *x = &g_exports[i];
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *sym = json_string_value(json_object_get(e, "symbol"));
        const char *sig = json_string_value(json_object_get(e, "signature"));
        char err[160];
        if (!name || !sym || !sig) {
            snprintf(g_error, sizeof(g_error), "export %zu incomplete", i);
            return -1;
        }
        snprintf(x->name, sizeof(x->name), "%s", name);
        if (ah_signature_parse(sig, &x->sig, err, sizeof(err)) < 0) {
            snprintf(g_error, sizeof(g_error), "action %s: signature: %s", name, err);
            return -1;
        }
        void *f = dl ? dlsym(dl, sym) : NULL;
        if (!f) {
            snprintf(g_error, sizeof(g_error), "action %s: the library exports no symbol %s", name,
                     sym);
            return -1;
        }
        memcpy(&x->fn, &f, sizeof(f));
        for (int a = 0; a < x->sig.nargs; a++)
            x->atypes[a] = ffi_of(x->sig.types[a]);
        if (ffi_prep_cif(&x->cif, FFI_DEFAULT_ABI, (unsigned)x->sig.nargs, ffi_of(x->sig.ret),
                         x->atypes) != FFI_OK) {
            snprintf(g_error, sizeof(g_error), "action %s: libffi rejected the signature", name);
            return -1;
        }
        g_nexports = i + 1;
    }
    return 0;
}

typedef union slot {
    int64_t i64;
    int32_t i32;
    double d;
    uint8_t b;
    const void *p;
    ffi_arg raw;
} slot;

static void describe(const json_t *v, char *buf, size_t len)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(buf, len, "%.40s", s ? s : "?");
    free(s);
}

static int convert(const export_fn *x, int a, const json_t *v, slot *out, char *err, size_t errlen)
{
    ah_ctype t = x->sig.types[a];
    const char *name = x->sig.names[a];
    char got[48];
    describe(v, got, sizeof(got));
    switch (t) {
    case AH_T_INT64:
    case AH_T_INT32:
        if (!json_is_integer(v)) {
            snprintf(err, errlen, "argument %s: expected integer, got %s", name, got);
            return -1;
        }
        if (t == AH_T_INT32) {
            json_int_t i = json_integer_value(v);
            if (i < INT32_MIN || i > INT32_MAX) {
                snprintf(err, errlen, "argument %s: %s is out of the 32-bit range", name, got);
                return -1;
            }
            out->i32 = (int32_t)i;
        } else {
            out->i64 = json_integer_value(v);
        }
        return 0;
    case AH_T_DOUBLE:
        if (!json_is_number(v)) {
            snprintf(err, errlen, "argument %s: expected number, got %s", name, got);
            return -1;
        }
        out->d = json_number_value(v);
        return 0;
    case AH_T_BOOL:
        if (!json_is_boolean(v)) {
            snprintf(err, errlen, "argument %s: expected boolean, got %s", name, got);
            return -1;
        }
        out->b = json_is_true(v);
        return 0;
    case AH_T_STRING:
        if (!json_is_string(v)) {
            snprintf(err, errlen, "argument %s: expected string, got %s", name, got);
            return -1;
        }
        out->p = json_string_value(v);
        return 0;
    case AH_T_JSON:
        out->p = v;
        return 0;
    case AH_T_VOID:
        break;
    }
    snprintf(err, errlen, "argument %s: unsupported type", name);
    return -1;
}

int ah_exports_call(const char *action, const json_t *args, json_t **result, char *err,
                    size_t errlen)
{
    export_fn *x = NULL;
    for (size_t i = 0; i < g_nexports && !x; i++)
        if (!strcmp(g_exports[i].name, action)) x = &g_exports[i];
    if (!x) return 0;
    if (args && !json_is_object(args)) {
        snprintf(err, errlen, "arguments must be an object");
        return -1;
    }
    slot vals[AH_EXPORT_MAX_ARGS];
    void *ptrs[AH_EXPORT_MAX_ARGS];
    for (int a = 0; a < x->sig.nargs; a++) {
        const json_t *v = json_object_get(args, x->sig.names[a]);
        if (!v) {
            snprintf(err, errlen, "argument %s: missing", x->sig.names[a]);
            return -1;
        }
        if (convert(x, a, v, &vals[a], err, errlen) < 0) return -1;
        ptrs[a] = &vals[a];
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)args, k, v)
    {
        bool known = false;
        for (int a = 0; a < x->sig.nargs && !known; a++)
            known = !strcmp(k, x->sig.names[a]);
        if (!known) {
            snprintf(err, errlen, "argument %s: unknown", k);
            return -1;
        }
    }
    slot rv;
    memset(&rv, 0, sizeof(rv));
    ffi_call(&x->cif, x->fn, &rv, ptrs);
    switch (x->sig.ret) {
    case AH_T_VOID:
        *result = json_null();
        break;
    case AH_T_INT64:
        *result = json_integer(rv.i64);
        break;
    case AH_T_INT32:
        *result = json_integer((int32_t)rv.raw);
        break;
    case AH_T_DOUBLE:
        *result = json_real(rv.d);
        break;
    case AH_T_BOOL:
        *result = json_boolean((uint8_t)rv.raw);
        break;
    case AH_T_STRING:
        *result = rv.p ? json_string(rv.p) : json_null();
        break;
    case AH_T_JSON:
        *result = rv.p ? (json_t *)rv.p : json_null();
        break;
    }
    return 1;
}
