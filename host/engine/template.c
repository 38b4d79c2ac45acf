/* template.c - compiling templates: the tags, their paths and filters, the
 * blocks, and every error with its place. Rendering is tmpl_render.c. */
#include "engine/tmpl_priv.h"

#include <agenthost/plugin.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tmpl_pos tmpl_pos_at(const char *src, size_t len, size_t off)
{
    tmpl_pos p = {.offset = off, .line = 1, .column = 1};
    if (off > len) off = len;
    for (size_t i = 0; i < off; i++) {
        if (src[i] == '\n') {
            p.line++;
            p.column = 1;
        } else if (((unsigned char)src[i] & 0xC0) != 0x80)
            p.column++;
    }
    return p;
}

int tmpl_fail(tmpl_error *err, int code, const char *src, size_t len, size_t off, const char *fmt,
              ...)
{
    if (!err) return code;
    err->code = code;
    err->pos = src ? tmpl_pos_at(src, len, off) : (tmpl_pos){0};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return code;
}

void tmpl_error_format(const tmpl_error *err, const char *where, char *buf, size_t len)
{
    if (err->pos.line > 0)
        snprintf(buf, len, "%s:%d:%d: %s", where, err->pos.line, err->pos.column, err->message);
    else
        snprintf(buf, len, "%s: %s", where, err->message);
}

/* ---- the compiler's state --------------------------------------------------- */

typedef struct block {
    uint32_t node;
    bool each, in_else;
} block;

typedef struct cc {
    tmpl *t;
    const char *s;
    size_t n, pos;
    size_t cap_nodes, cap_segs, cap_filts, cap_args;
    block open[TMPL_MAX_DEPTH];
    int depth;
    tmpl_error *err;
} cc;

#define FAIL(c, code, off, ...) tmpl_fail((c)->err, code, (c)->s, (c)->n, off, __VA_ARGS__)

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t cap2 = *cap ? *cap * 2 : 16;
    while (cap2 < need)
        cap2 *= 2;
    void *q = realloc(*p, cap2 * elem);
    if (!q) return AH_ENOMEM;
    *p = q;
    *cap = cap2;
    return 0;
}

static node *new_node(cc *c, node_kind kind, size_t off)
{
    tmpl *t = c->t;
    if (grow((void **)&t->nodes, &c->cap_nodes, t->nnodes + 1, sizeof(node)) < 0) return NULL;
    node *nd = &t->nodes[t->nnodes++];
    memset(nd, 0, sizeof(*nd));
    nd->kind = kind;
    nd->off = (uint32_t)off;
    return nd;
}

static int add_arg(cc *c, json_t *j, uint32_t *index)
{
    tmpl *t = c->t;
    if (!j || grow((void **)&t->args, &c->cap_args, t->nargs + 1, sizeof(json_t *)) < 0) {
        json_decref(j);
        return AH_ENOMEM;
    }
    *index = (uint32_t)t->nargs;
    t->args[t->nargs++] = j;
    return 0;
}

static bool is_ws(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static void skip_ws(cc *c)
{
    while (c->pos < c->n && is_ws(c->s[c->pos]))
        c->pos++;
}

static bool is_ident(char ch)
{
    unsigned char u = (unsigned char)ch;
    return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '_' ||
           u == '-' || u >= 0x80;
}

static size_t ident_len(const cc *c, size_t at)
{
    size_t i = at;
    while (i < c->n && is_ident(c->s[i]))
        i++;
    return i - at;
}

static bool word_is(const cc *c, size_t at, size_t len, const char *w)
{
    return len == strlen(w) && !memcmp(c->s + at, w, len);
}

/* "'x'" for an ASCII character, "U+0416" beyond, "the end" at the end. */
static const char *what_is(const cc *c, size_t at, char *buf, size_t len)
{
    if (at >= c->n) return "the end of the template";
    size_t i = at;
    uint32_t cp = utf8_next(c->s, c->n, &i);
    if (cp >= 0x21 && cp < 0x7F)
        snprintf(buf, len, "'%c'", (char)cp);
    else
        snprintf(buf, len, "U+%04X", (unsigned)cp);
    return buf;
}

/* ---- literals --------------------------------------------------------------- */

static int parse_string(cc *c, json_t **out)
{
    size_t start = c->pos;
    char q = c->s[c->pos++];
    sbuf b = {.max = TMPL_MAX_SOURCE};
    int rc = 0;
    for (;;) {
        if (c->pos >= c->n) {
            rc = FAIL(c, AH_EINVAL, start, "unterminated string: expected %c", q);
            goto out;
        }
        char ch = c->s[c->pos];
        if (ch == q) break;
        if (ch == '\\') {
            char e = c->pos + 1 < c->n ? c->s[c->pos + 1] : '\0';
            const char *rep = e == 'n'    ? "\n"
                              : e == 't'  ? "\t"
                              : e == 'r'  ? "\r"
                              : e == '\\' ? "\\"
                              : e == '"'  ? "\""
                              : e == '\'' ? "'"
                                          : NULL;
            if (!rep) {
                rc = FAIL(c, AH_EINVAL, c->pos,
                          "unknown escape in string: use \\\\, \\\", \\', \\n, \\t or \\r");
                goto out;
            }
            if ((rc = sbuf_add(&b, rep, 1)) < 0) goto out;
            c->pos += 2;
            continue;
        }
        if ((rc = sbuf_addc(&b, ch)) < 0) goto out;
        c->pos++;
    }
    c->pos++;
    *out = json_stringn(b.p ? b.p : "", b.n);
    if (!*out) rc = AH_ENOMEM;
out:
    if (rc == AH_ENOMEM) FAIL(c, rc, start, "out of memory");
    sbuf_free(&b);
    return rc;
}

static int parse_number(cc *c, json_t **out)
{
    size_t start = c->pos, i = c->pos;
    bool real = false;
    if (i < c->n && c->s[i] == '-') i++;
    size_t digits = i;
    while (i < c->n && c->s[i] >= '0' && c->s[i] <= '9')
        i++;
    if (i == digits) return FAIL(c, AH_EINVAL, start, "expected a number");
    if (i < c->n && c->s[i] == '.') {
        real = true;
        for (i++; i < c->n && c->s[i] >= '0' && c->s[i] <= '9'; i++)
            ;
    }
    if (i < c->n && (c->s[i] == 'e' || c->s[i] == 'E')) {
        real = true;
        i++;
        if (i < c->n && (c->s[i] == '+' || c->s[i] == '-')) i++;
        for (; i < c->n && c->s[i] >= '0' && c->s[i] <= '9'; i++)
            ;
    }
    char buf[64];
    if (i - start >= sizeof(buf)) return FAIL(c, AH_EINVAL, start, "number too long");
    memcpy(buf, c->s + start, i - start);
    buf[i - start] = '\0';
    char *end;
    errno = 0;
    if (real) {
        double d = strtod(buf, &end);
        if (*end || errno || !isfinite(d)) return FAIL(c, AH_EINVAL, start, "bad number %s", buf);
        *out = json_real(d);
    } else {
        long long v = strtoll(buf, &end, 10);
        if (*end || errno) return FAIL(c, AH_EINVAL, start, "number out of range: %s", buf);
        *out = json_integer(v);
    }
    c->pos = i;
    return *out ? 0 : FAIL(c, AH_ENOMEM, start, "out of memory");
}

/* A filter argument: a string, a number, true, false or null. */
static int parse_literal(cc *c, json_t **out)
{
    char ch = c->pos < c->n ? c->s[c->pos] : '\0';
    if (ch == '"' || ch == '\'') return parse_string(c, out);
    if (ch == '-' || (ch >= '0' && ch <= '9')) return parse_number(c, out);
    size_t len = ident_len(c, c->pos);
    json_t *j = word_is(c, c->pos, len, "true")    ? json_true()
                : word_is(c, c->pos, len, "false") ? json_false()
                : word_is(c, c->pos, len, "null")  ? json_null()
                                                   : NULL;
    char buf[16];
    if (!j)
        return FAIL(c, AH_EINVAL, c->pos,
                    "expected an argument (a string, a number, true, false or null), got %s",
                    what_is(c, c->pos, buf, sizeof(buf)));
    c->pos += len;
    *out = j;
    return 0;
}

/* ---- expressions ------------------------------------------------------------ */

static int parse_filter(cc *c, expr *e)
{
    tmpl *t = c->t;
    size_t at = c->pos, len = ident_len(c, at);
    char buf[16];
    if (!len)
        return FAIL(c, AH_EINVAL, at, "expected a filter name after |, got %s",
                    what_is(c, at, buf, sizeof(buf)));
    const filter_def *def = filter_find(c->s + at, len);
    if (!def) return FAIL(c, AH_EINVAL, at, "unknown filter \"%.*s\"", (int)len, c->s + at);
    if (e->nfilts >= TMPL_MAX_FILTERS)
        return FAIL(c, AH_ETOOBIG, at, "more than %d filters in one tag", TMPL_MAX_FILTERS);
    if (grow((void **)&t->filts, &c->cap_filts, t->nfilts + 1, sizeof(filt)) < 0)
        return FAIL(c, AH_ENOMEM, at, "out of memory");
    filt *f = &t->filts[t->nfilts++];
    *f = (filt){.def = def, .off = (uint32_t)at, .first_arg = (uint32_t)t->nargs};
    e->nfilts++;
    c->pos += len;
    skip_ws(c);
    size_t arg_off[8];
    if (c->pos < c->n && c->s[c->pos] == '(') {
        c->pos++;
        skip_ws(c);
        while (c->pos < c->n && c->s[c->pos] != ')') {
            if (f->nargs >= def->max_args)
                return FAIL(c, AH_EINVAL, c->pos, "filter \"%s\" takes at most %d argument%s",
                            def->name, def->max_args, def->max_args == 1 ? "" : "s");
            json_t *j;
            uint32_t idx;
            arg_off[f->nargs] = c->pos;
            int rc = parse_literal(c, &j);
            if (rc < 0) return rc;
            if (add_arg(c, j, &idx) < 0) return FAIL(c, AH_ENOMEM, at, "out of memory");
            f->nargs++;
            skip_ws(c);
            if (c->pos < c->n && c->s[c->pos] == ',') {
                c->pos++;
                skip_ws(c);
                if (c->pos < c->n && c->s[c->pos] == ')')
                    return FAIL(c, AH_EINVAL, c->pos, "expected an argument after ,");
            } else if (c->pos < c->n && c->s[c->pos] != ')')
                return FAIL(c, AH_EINVAL, c->pos, "expected , or ) in the arguments of \"%s\"",
                            def->name);
        }
        if (c->pos >= c->n)
            return FAIL(c, AH_EINVAL, at, "unclosed arguments of \"%s\": expected )", def->name);
        c->pos++;
    }
    if (f->nargs < def->min_args)
        return FAIL(c, AH_EINVAL, at, "filter \"%s\" needs %s%d argument%s", def->name,
                    def->min_args < def->max_args ? "at least " : "", def->min_args,
                    def->min_args == 1 ? "" : "s");
    char why[160] = "";
    size_t bad = 0;
    json_t *const *args = f->nargs ? t->args + f->first_arg : NULL; /* t->args may be NULL */
    if (def->check) {
        if (def->check(args, f->nargs, &bad, why, sizeof(why)) < 0)
            return FAIL(c, AH_EINVAL, arg_off[bad], "filter \"%s\": %s", def->name, why);
    } else {
        for (size_t i = 0; i < f->nargs; i++)
            if (!json_is_string(args[i]))
                return FAIL(c, AH_EINVAL, arg_off[i],
                            "filter \"%s\": argument %zu must be a string", def->name, i + 1);
    }
    return 0;
}

static int loops_open(const cc *c)
{
    int n = 0;
    for (int i = 0; i < c->depth; i++)
        n += c->open[i].each && !c->open[i].in_else;
    return n;
}

static int parse_segments(cc *c, expr *e)
{
    tmpl *t = c->t;
    while (c->pos < c->n && c->s[c->pos] == '.') {
        c->pos++;
        size_t at = c->pos, len = ident_len(c, at);
        if (!len) return FAIL(c, AH_EINVAL, at, "empty path segment: expected a name after .");
        if (grow((void **)&t->segs, &c->cap_segs, t->nsegs + 1, sizeof(seg)) < 0)
            return FAIL(c, AH_ENOMEM, at, "out of memory");
        seg *sg = &t->segs[t->nsegs++];
        *sg = (seg){.off = (uint32_t)at, .len = (uint32_t)len, .idx = -1};
        if (len <= 9 && strspn(c->s + at, "0123456789") >= len) {
            sg->idx = 0;
            for (size_t i = 0; i < len; i++)
                sg->idx = sg->idx * 10 + (c->s[at + i] - '0');
        }
        e->nsegs++;
        c->pos += len;
    }
    return 0;
}

static int parse_head(cc *c, expr *e)
{
    size_t at = c->pos;
    char ch = at < c->n ? c->s[at] : '\0', buf[16];
    e->first_seg = (uint32_t)c->t->nsegs;
    if (ch == '"' || ch == '\'') {
        json_t *j;
        int rc = parse_string(c, &j);
        if (rc < 0) return rc;
        e->base = E_LITERAL;
        return add_arg(c, j, &e->literal) < 0 ? FAIL(c, AH_ENOMEM, at, "out of memory") : 0;
    }
    if (ch == '@') {
        size_t len = ident_len(c, at + 1);
        static const char *const metas[] = {"index", "number", "first", "last"};
        e->base = E_META;
        size_t m = 0;
        while (m < 4 && !word_is(c, at + 1, len, metas[m]))
            m++;
        if (m == 4)
            return FAIL(c, AH_EINVAL, at,
                        "unknown variable @%.*s: expected @index, @number, @first or @last",
                        (int)len, c->s + at + 1);
        if (!loops_open(c)) return FAIL(c, AH_EINVAL, at, "@%s outside {{#each}}", metas[m]);
        e->meta = (meta_var)m;
        c->pos += 1 + len;
        e->path_off = (uint32_t)at;
        e->path_len = (uint32_t)(1 + len);
        return 0;
    }
    size_t len = ident_len(c, at);
    if (!len)
        return FAIL(c, AH_EINVAL, at, "expected a variable path or a string, got %s",
                    what_is(c, at, buf, sizeof(buf)));
    e->path_off = (uint32_t)at;
    if (word_is(c, at, len, "this")) {
        if (!loops_open(c)) return FAIL(c, AH_EINVAL, at, "\"this\" outside {{#each}}");
        e->base = E_THIS;
        c->pos += len;
    } else {
        e->base = E_PATH;
        tmpl *t = c->t;
        if (grow((void **)&t->segs, &c->cap_segs, t->nsegs + 1, sizeof(seg)) < 0)
            return FAIL(c, AH_ENOMEM, at, "out of memory");
        t->segs[t->nsegs++] = (seg){.off = (uint32_t)at, .len = (uint32_t)len, .idx = -1};
        e->nsegs = 1;
        c->pos += len;
    }
    int rc = parse_segments(c, e);
    e->path_len = (uint32_t)(c->pos - at);
    return rc;
}

static int parse_expr(cc *c, expr *e)
{
    memset(e, 0, sizeof(*e));
    skip_ws(c);
    int rc = parse_head(c, e);
    if (rc < 0) return rc;
    if (e->base == E_META && c->pos < c->n && c->s[c->pos] == '.')
        return FAIL(c, AH_EINVAL, c->pos, "@%.*s has no fields", (int)e->path_len - 1,
                    c->s + e->path_off + 1);
    e->first_filt = (uint32_t)c->t->nfilts;
    skip_ws(c);
    while (c->pos < c->n && c->s[c->pos] == '|') {
        c->pos++;
        skip_ws(c);
        if ((rc = parse_filter(c, e)) < 0) return rc;
        skip_ws(c);
    }
    return 0;
}

/* At "}}" (after blanks), past it; else an error naming what was there. */
static int close_tag(cc *c, size_t tag, const char *expected)
{
    skip_ws(c);
    if (c->pos + 1 < c->n && c->s[c->pos] == '}' && c->s[c->pos + 1] == '}') {
        c->pos += 2;
        return 0;
    }
    if (c->pos >= c->n) return FAIL(c, AH_EINVAL, tag, "unclosed tag: expected }}");
    char buf[16];
    return FAIL(c, AH_EINVAL, c->pos, "unexpected %s: expected %s",
                what_is(c, c->pos, buf, sizeof(buf)), expected);
}

/* ---- blocks ----------------------------------------------------------------- */

/* A block tag or comment alone on its line (blanks around it) takes its
 * line with it, so that blocks can be written one tag a line. */
static void standalone(cc *c, size_t tag)
{
    size_t b = tag, a = c->pos;
    while (b > 0 && (c->s[b - 1] == ' ' || c->s[b - 1] == '\t'))
        b--;
    if (b > 0 && c->s[b - 1] != '\n') return;
    while (a < c->n && (c->s[a] == ' ' || c->s[a] == '\t'))
        a++;
    if (a + 1 < c->n && c->s[a] == '\r' && c->s[a + 1] == '\n') a++;
    if (a < c->n && c->s[a] != '\n') return;
    tmpl *t = c->t;
    if (b < tag) {
        node *last = t->nnodes ? &t->nodes[t->nnodes - 1] : NULL;
        if (!last || last->kind != N_TEXT || last->off + last->len != tag || last->len < tag - b)
            return;
        last->len -= (uint32_t)(tag - b);
        if (!last->len) t->nnodes--;
    }
    c->pos = a < c->n ? a + 1 : a;
}

static const char *block_name(const cc *c, const block *b)
{
    (void)c;
    return b->each ? "each" : "if";
}

static int open_block(cc *c, size_t tag, bool each)
{
    if (c->depth >= TMPL_MAX_DEPTH)
        return FAIL(c, AH_ETOOBIG, tag, "blocks nested deeper than %d", TMPL_MAX_DEPTH);
    expr e;
    int rc = parse_expr(c, &e);
    if (rc < 0 || (rc = close_tag(c, tag, "}} or a | filter")) < 0) return rc;
    standalone(c, tag);
    node *nd = new_node(c, each ? N_EACH : N_IF, tag);
    if (!nd) return FAIL(c, AH_ENOMEM, tag, "out of memory");
    nd->e = e;
    c->open[c->depth++] = (block){.node = (uint32_t)(c->t->nnodes - 1), .each = each};
    return 0;
}

static int else_tag(cc *c, size_t tag)
{
    if (!c->depth) return FAIL(c, AH_EINVAL, tag, "{{else}} outside {{#if}} or {{#each}}");
    block *b = &c->open[c->depth - 1];
    if (b->in_else) {
        tmpl_pos p = tmpl_pos_at(c->s, c->n, c->t->nodes[b->node].off);
        return FAIL(c, AH_EINVAL, tag, "a second {{else}} in the {{#%s}} at line %d, column %d",
                    block_name(c, b), p.line, p.column);
    }
    int rc = close_tag(c, tag, "}}");
    if (rc < 0) return rc;
    standalone(c, tag);
    if (!new_node(c, N_ELSE, tag)) return FAIL(c, AH_ENOMEM, tag, "out of memory");
    c->t->nodes[b->node].mid = (uint32_t)(c->t->nnodes - 1);
    b->in_else = true;
    return 0;
}

static int close_block(cc *c, size_t tag)
{
    size_t at = c->pos, len = ident_len(c, at);
    bool each = word_is(c, at, len, "each");
    if (!each && !word_is(c, at, len, "if"))
        return FAIL(c, AH_EINVAL, tag,
                    "unknown closing tag {{/%.*s}}: expected {{/if}} or {{/each}}", (int)len,
                    c->s + at);
    const char *name = each ? "each" : "if";
    if (!c->depth) return FAIL(c, AH_EINVAL, tag, "{{/%s}} without an open {{#%s}}", name, name);
    block *b = &c->open[c->depth - 1];
    if (b->each != each) {
        tmpl_pos p = tmpl_pos_at(c->s, c->n, c->t->nodes[b->node].off);
        return FAIL(c, AH_EINVAL, tag, "{{/%s}} closes the {{#%s}} at line %d, column %d", name,
                    block_name(c, b), p.line, p.column);
    }
    c->pos += len;
    int rc = close_tag(c, tag, "}}");
    if (rc < 0) return rc;
    standalone(c, tag);
    if (!new_node(c, N_END, tag)) return FAIL(c, AH_ENOMEM, tag, "out of memory");
    node *open = &c->t->nodes[b->node];
    open->end = (uint32_t)(c->t->nnodes - 1);
    if (!b->in_else) open->mid = open->end;
    c->depth--;
    return 0;
}

static int parse_tag(cc *c, size_t tag)
{
    c->pos = tag + 2;
    skip_ws(c);
    char ch = c->pos < c->n ? c->s[c->pos] : '\0';
    if (ch == '!') {
        const char *end = memmem(c->s + c->pos, c->n - c->pos, "}}", 2);
        if (!end) return FAIL(c, AH_EINVAL, tag, "unclosed comment: expected }}");
        c->pos = (size_t)(end - c->s) + 2;
        standalone(c, tag);
        return 0;
    }
    if (ch == '#') {
        size_t at = ++c->pos, len = ident_len(c, at);
        bool each = word_is(c, at, len, "each");
        if (!each && !word_is(c, at, len, "if"))
            return FAIL(c, AH_EINVAL, tag, "unknown block {{#%.*s}}: expected {{#if}} or {{#each}}",
                        (int)len, c->s + at);
        c->pos += len;
        return open_block(c, tag, each);
    }
    if (ch == '/') {
        c->pos++;
        return close_block(c, tag);
    }
    if (word_is(c, c->pos, ident_len(c, c->pos), "else")) {
        c->pos += 4;
        return else_tag(c, tag);
    }
    expr e;
    int rc = parse_expr(c, &e);
    if (rc < 0 || (rc = close_tag(c, tag, "}} or a | filter")) < 0) return rc;
    node *nd = new_node(c, N_EXPR, tag);
    if (!nd) return FAIL(c, AH_ENOMEM, tag, "out of memory");
    nd->e = e;
    return 0;
}

static int parse_all(cc *c)
{
    while (c->pos < c->n) {
        const char *open = memmem(c->s + c->pos, c->n - c->pos, "{{", 2);
        size_t tag = open ? (size_t)(open - c->s) : c->n;
        if (tag > c->pos) {
            node *nd = new_node(c, N_TEXT, c->pos);
            if (!nd) return FAIL(c, AH_ENOMEM, c->pos, "out of memory");
            nd->len = (uint32_t)(tag - c->pos);
        }
        if (!open) break;
        int rc = parse_tag(c, tag);
        if (rc < 0) return rc;
    }
    if (c->depth) {
        block *b = &c->open[c->depth - 1];
        const char *name = block_name(c, b);
        return FAIL(c, AH_EINVAL, c->t->nodes[b->node].off,
                    "{{#%s}} is never closed: expected {{/%s}}", name, name);
    }
    return 0;
}

int tmpl_compile(const char *src, size_t len, tmpl **out, tmpl_error *err)
{
    *out = NULL;
    if (err) memset(err, 0, sizeof(*err));
    if (!src && len) return tmpl_fail(err, AH_EINVAL, NULL, 0, 0, "no template");
    if (len > TMPL_MAX_SOURCE)
        return tmpl_fail(err, AH_ETOOBIG, src, len, TMPL_MAX_SOURCE,
                         "template is %zu bytes, over the limit of %d", len, TMPL_MAX_SOURCE);
    size_t bad = utf8_check(src, len);
    if (bad < len) return tmpl_fail(err, AH_EINVAL, src, len, bad, "invalid UTF-8");
    const char *nul = len ? memchr(src, '\0', len) : NULL;
    if (nul) return tmpl_fail(err, AH_EINVAL, src, len, (size_t)(nul - src), "NUL byte");
    tmpl *t = calloc(1, sizeof(*t));
    if (!t || !(t->src = malloc(len + 1))) {
        free(t);
        return tmpl_fail(err, AH_ENOMEM, NULL, 0, 0, "out of memory");
    }
    if (len) memcpy(t->src, src, len);
    t->src[len] = '\0';
    t->len = len;
    cc c = {.t = t, .s = t->src, .n = len, .err = err};
    int rc = parse_all(&c);
    if (rc < 0) {
        tmpl_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int tmpl_check(const char *src, size_t len, tmpl_error *err)
{
    tmpl *t;
    int rc = tmpl_compile(src, len, &t, err);
    tmpl_free(t);
    return rc;
}

void tmpl_free(tmpl *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->nargs; i++)
        json_decref(t->args[i]);
    free(t->args);
    free(t->filts);
    free(t->segs);
    free(t->nodes);
    free(t->src);
    free(t);
}

/* ---- the paths a template reads --------------------------------------------- */

typedef struct walker {
    const tmpl *t;
    tmpl_path_fn fn;
    void *ud;
} walker;

/* The path of e as told: "this" replaced by the loop's own path + ".*".
 * A new string, or NULL when e reads no variable (or out of memory: *rc). */
static char *told_path(const walker *w, const expr *e, const char *loop, int *rc)
{
    const char *p = w->t->src + e->path_off;
    sbuf b = {.max = SIZE_MAX / 2};
    *rc = 0;
    if (e->base == E_PATH)
        *rc = sbuf_add(&b, p, e->path_len);
    else if (e->base == E_THIS && loop) {
        if (!(*rc = sbuf_add(&b, loop, strlen(loop)))) *rc = sbuf_add(&b, p + 4, e->path_len - 4);
    }
    if (*rc < 0) sbuf_free(&b);
    return b.p;
}

static int walk(const walker *w, size_t a, size_t b, const char *loop)
{
    for (size_t i = a; i < b; i++) {
        const node *nd = &w->t->nodes[i];
        if (nd->kind != N_EXPR && nd->kind != N_IF && nd->kind != N_EACH) continue;
        int rc;
        char *path = told_path(w, &nd->e, loop, &rc);
        if (rc < 0) return rc;
        if (path) {
            tmpl_pos pos = tmpl_pos_at(w->t->src, w->t->len, nd->e.path_off);
            rc = w->fn(w->ud, path, &pos);
        }
        if (!rc && nd->kind == N_EACH) {
            sbuf inner = {.max = SIZE_MAX / 2};
            if ((rc = sbuf_add(&inner, path ? path : "", path ? strlen(path) : 0)) == 0 &&
                (rc = sbuf_add(&inner, ".*", 2)) == 0)
                rc = walk(w, i + 1, nd->mid, inner.p);
            sbuf_free(&inner);
        } else if (!rc && nd->kind == N_IF)
            rc = walk(w, i + 1, nd->mid, loop);
        if (!rc && nd->kind != N_EXPR && nd->mid != nd->end)
            rc = walk(w, nd->mid + 1, nd->end, loop);
        free(path);
        if (rc) return rc;
        if (nd->kind != N_EXPR) i = nd->end;
    }
    return 0;
}

int tmpl_paths(const tmpl *t, tmpl_path_fn fn, void *ud)
{
    walker w = {.t = t, .fn = fn, .ud = ud};
    return walk(&w, 0, t->nnodes, NULL);
}
