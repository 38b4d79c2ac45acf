/* tmpl_render.c - rendering a compiled template against a JSON context. */
#include "engine/tmpl_priv.h"

#include <agenthost/plugin.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct frame {
    const json_t *arr;
    size_t i, n;
} frame;

typedef struct rs {
    const tmpl *t;
    const json_t *ctx;
    const tmpl_opts *o;
    fctx f;
    sbuf out;
    frame loops[TMPL_MAX_DEPTH];
    int nloops;
    long iterations;
    uint8_t *told; /* per node: a missing variable was told (lenient mode) */
    tmpl_error *err;
} rs;

__attribute__((format(printf, 4, 5))) static int rfail(rs *r, int code, size_t off, const char *fmt,
                                                       ...)
{
    if (!r->err) return code;
    char msg[sizeof(r->err->message)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return tmpl_fail(r->err, code, r->t->src, r->t->len, off, "%s", msg);
}

static const json_t *lookup(const tmpl *t, const json_t *cur, const seg *sg, size_t n)
{
    for (size_t i = 0; i < n && cur; i++) {
        if (json_is_object(cur))
            cur = json_object_getn(cur, t->src + sg[i].off, sg[i].len);
        else if (json_is_array(cur) && sg[i].idx >= 0)
            cur = json_array_get(cur, (size_t)sg[i].idx);
        else
            cur = NULL;
    }
    return cur;
}

static int resolve(rs *r, const expr *e, val *v)
{
    const tmpl *t = r->t;
    const frame *fr = r->nloops ? &r->loops[r->nloops - 1] : NULL;
    switch (e->base) {
    case E_LITERAL:
        val_borrow(v, t->args[e->literal]);
        return 0;
    case E_META: {
        json_t *j = e->meta == M_INDEX    ? json_integer((json_int_t)fr->i)
                    : e->meta == M_NUMBER ? json_integer((json_int_t)fr->i + 1)
                    : e->meta == M_FIRST  ? json_boolean(fr->i == 0)
                                          : json_boolean(fr->i + 1 == fr->n);
        return val_take(v, j);
    }
    case E_THIS:
        val_borrow(v, lookup(t, json_array_get(fr->arr, fr->i), t->segs + e->first_seg, e->nsegs));
        return 0;
    default:
        val_borrow(v, lookup(t, r->ctx, t->segs + e->first_seg, e->nsegs));
        return 0;
    }
}

/* The value of e after its filters; v->j NULL when the variable is missing
 * (and no filter gave it a value). */
static int eval(rs *r, const expr *e, val *v)
{
    int rc = resolve(r, e, v);
    if (rc < 0) return rfail(r, rc, e->path_off, "out of memory");
    for (uint32_t i = 0; i < e->nfilts; i++) {
        const filt *f = &r->t->filts[e->first_filt + i];
        if (!v->j && !f->def->takes_missing) continue;
        json_t *const *args = f->nargs ? r->t->args + f->first_arg : NULL; /* may be NULL */
        r->f.what[0] = '\0';
        if ((rc = f->def->apply(&r->f, v, args, f->nargs)) < 0) {
            val_drop(v);
            return rfail(r, rc, f->off, "%s", r->f.what);
        }
    }
    return 0;
}

static int missing(rs *r, size_t index, const expr *e)
{
    const char *path = r->t->src + e->path_off;
    if (r->o->strict)
        return rfail(r, AH_ENOTFOUND, e->path_off, "%.*s: not found", (int)e->path_len, path);
    if (!r->o->on_missing) return 0;
    if (!r->told && !(r->told = calloc(r->t->nnodes, 1)))
        return rfail(r, AH_ENOMEM, e->path_off, "out of memory");
    if (r->told[index]) return 0;
    r->told[index] = 1;
    char buf[256];
    snprintf(buf, sizeof(buf), "%.*s", (int)e->path_len, path);
    tmpl_pos pos = tmpl_pos_at(r->t->src, r->t->len, e->path_off);
    r->o->on_missing(r->o->ud, buf, &pos);
    return 0;
}

static int emit(rs *r, size_t off, const char *s, size_t n)
{
    int rc = sbuf_add(&r->out, s, n);
    if (rc == AH_ETOOBIG)
        return rfail(r, rc, off, "the output passed its limit of %zu bytes", r->out.max);
    return rc < 0 ? rfail(r, rc, off, "out of memory") : 0;
}

static int render_range(rs *r, size_t a, size_t b);

static int render_each(rs *r, const node *nd, const json_t *arr)
{
    frame *fr = &r->loops[r->nloops++];
    *fr = (frame){.arr = arr, .n = json_array_size(arr)};
    int rc = 0;
    for (; fr->i < fr->n && !rc; fr->i++) {
        if (++r->iterations > TMPL_MAX_ITERATIONS) {
            rc = rfail(r, AH_ETOOBIG, nd->off, "more than %d loop iterations", TMPL_MAX_ITERATIONS);
            break;
        }
        rc = render_range(r, (size_t)(nd - r->t->nodes) + 1, nd->mid);
    }
    r->nloops--;
    return rc;
}

static int render_block(rs *r, const node *nd)
{
    val v = {0};
    int rc = eval(r, &nd->e, &v);
    if (rc < 0) return rc;
    size_t at = (size_t)(nd - r->t->nodes);
    bool body;
    if (nd->kind == N_IF)
        body = val_truthy(v.j);
    else if (v.j && !json_is_null(v.j) && !json_is_array(v.j)) {
        char d[64];
        describe(v.j, d, sizeof(d));
        rc = rfail(r, AH_EINVAL, nd->e.path_off, "{{#each %.*s}}: expected an array, got %s",
                   (int)nd->e.path_len, r->t->src + nd->e.path_off, d);
        body = false;
    } else
        body = json_array_size(v.j) > 0;
    if (rc == 0 && body)
        rc = nd->kind == N_EACH ? render_each(r, nd, v.j) : render_range(r, at + 1, nd->mid);
    else if (rc == 0 && nd->mid != nd->end)
        rc = render_range(r, nd->mid + 1, nd->end);
    val_drop(&v);
    return rc;
}

static int render_expr(rs *r, size_t at, const node *nd)
{
    val v = {0};
    int rc = eval(r, &nd->e, &v);
    if (rc < 0) return rc;
    if (!v.j) return missing(r, at, &nd->e);
    text t;
    if ((rc = text_of(v.j, &t)) < 0)
        rc = rfail(r, rc, nd->off, "out of memory");
    else {
        rc = emit(r, nd->off, t.s, t.n);
        text_done(&t);
    }
    val_drop(&v);
    return rc;
}

static int render_range(rs *r, size_t a, size_t b)
{
    for (size_t i = a; i < b; i++) {
        const node *nd = &r->t->nodes[i];
        int rc = 0;
        switch (nd->kind) {
        case N_TEXT:
            rc = emit(r, nd->off, r->t->src + nd->off, nd->len);
            break;
        case N_EXPR:
            rc = render_expr(r, i, nd);
            break;
        case N_IF:
        case N_EACH:
            rc = render_block(r, nd);
            i = nd->end;
            break;
        default:
            break;
        }
        if (rc < 0) return rc;
    }
    return 0;
}

int tmpl_render(const tmpl *t, const json_t *ctx, const tmpl_opts *opts, char **out, size_t *len,
                tmpl_error *err)
{
    static const tmpl_opts defaults = {0};
    *out = NULL;
    *len = 0;
    if (err) memset(err, 0, sizeof(*err));
    const tmpl_opts *o = opts ? opts : &defaults;
    size_t max = o->max_output && o->max_output < TMPL_MAX_OUTPUT ? o->max_output : TMPL_MAX_OUTPUT;
    rs r = {.t = t, .ctx = ctx, .o = o, .err = err, .out = {.max = max}};
    r.f.lang = o->lang ? o->lang : "en";
    r.f.max_value = max;
    if (!tz_parse(o->tz, &r.f.tz_minutes))
        return tmpl_fail(err, AH_EINVAL, NULL, 0, 0,
                         "time zone \"%s\": give \"UTC\" or an offset such as \"+03:00\"", o->tz);
    int rc = render_range(&r, 0, t->nnodes);
    free(r.told);
    if (rc == 0 && !r.out.p && (r.out.p = calloc(1, 1)) == NULL)
        rc = tmpl_fail(err, AH_ENOMEM, NULL, 0, 0, "out of memory");
    if (rc < 0) {
        sbuf_free(&r.out);
        return rc;
    }
    *out = r.out.p;
    *len = r.out.n;
    return 0;
}
