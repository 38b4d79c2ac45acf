/*
 * DOCX to Markdown-shaped text (docx.h).
 */
#include "docx.h"

#include "strbuf.h"
#include "text.h"

#include <archive.h>
#include <archive_entry.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_STYLES 2000

typedef struct {
    char id[64];
    int level; /* heading level 1-6, or 0 */
} style;

typedef struct {
    style *s;
    size_t n;
} styles;

static void put(rag_buf *o, const char *s, size_t n)
{
    (void)rag_buf_put(o, s, n); /* a refusal is kept in o and read at the end */
}

static int is(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* The w:val attribute (by local name: transitional and strict OOXML alike). */
static const char *val(const xmlNode *n)
{
    for (const xmlAttr *a = n ? n->properties : NULL; a; a = a->next)
        if (strcmp((const char *)a->name, "val") == 0 && a->children &&
            a->children->type == XML_TEXT_NODE)
            return (const char *)a->children->content;
    return NULL;
}

static const xmlNode *child(const xmlNode *n, const char *name)
{
    for (const xmlNode *c = n ? n->children : NULL; c; c = c->next)
        if (is(c, name)) return c;
    return NULL;
}

/* "heading 3" (any case), "Title", or an outline level 0-5: 1-6. */
static int level_of(const char *name, const xmlNode *ppr)
{
    if (name && strncasecmp(name, "heading", 7) == 0) {
        const char *d = name + 7;
        while (*d == ' ')
            d++;
        if (*d >= '1' && *d <= '6' && !d[1]) return *d - '0';
    }
    if (name && strcasecmp(name, "title") == 0) return 1;
    const char *ol = val(child(ppr, "outlineLvl") ?: ppr);
    if (child(ppr, "outlineLvl") && ol && ol[0] >= '0' && ol[0] <= '5' && !ol[1])
        return ol[0] - '0' + 1;
    return 0;
}

static void read_styles(xmlDoc *doc, styles *st)
{
    const xmlNode *root = xmlDocGetRootElement(doc);
    for (const xmlNode *s = root ? root->children : NULL; s && st->n < MAX_STYLES; s = s->next) {
        if (!is(s, "style")) continue;
        const char *id = NULL;
        for (const xmlAttr *a = s->properties; a; a = a->next)
            if (strcmp((const char *)a->name, "styleId") == 0 && a->children)
                id = (const char *)a->children->content;
        int lv = level_of(val(child(s, "name") ?: s), child(s, "pPr"));
        if (!id || !lv || strlen(id) >= sizeof st->s[0].id) continue;
        style *ns = realloc(st->s, (st->n + 1) * sizeof *ns);
        if (!ns) return;
        st->s = ns;
        snprintf(st->s[st->n].id, sizeof st->s[0].id, "%s", id);
        st->s[st->n++].level = lv;
    }
}

/* A paragraph's kind: a heading level (1-6), -1 for a list item, 0 otherwise. */
static int para_kind(const xmlNode *p, const styles *st)
{
    const xmlNode *ppr = child(p, "pPr");
    if (!ppr) return 0;
    const char *sid = val(child(ppr, "pStyle") ?: ppr);
    if (child(ppr, "pStyle") && sid) {
        for (size_t i = 0; i < st->n; i++)
            if (strcmp(st->s[i].id, sid) == 0) return st->s[i].level;
        int lv = level_of(sid, NULL); /* "Heading1" without styles.xml */
        if (!lv && strncasecmp(sid, "Heading", 7) == 0 && sid[7] >= '1' && sid[7] <= '6' && !sid[8])
            lv = sid[7] - '0';
        if (lv) return lv;
    }
    int lv = level_of(NULL, ppr);
    if (lv) return lv;
    return child(ppr, "numPr") ? -1 : 0;
}

/* One paragraph's text gathered, then written with its kind's prefix. */
typedef struct {
    rag_buf line;
    int kind;
} para;

static void flush(rag_buf *o, para *p)
{
    size_t b = 0, e = p->line.n;
    const char *s = p->line.b;
    while (b < e && (s[b] == ' ' || s[b] == '\n'))
        b++;
    while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\n'))
        e--;
    if (e > b) {
        if (p->kind > 0) {
            put(o, "######", (size_t)p->kind);
            put(o, " ", 1);
            for (size_t i = b; i < e; i++) /* a heading is one line */
                put(o, s[i] == '\n' ? " " : s + i, 1);
            put(o, "\n\n", 2);
        } else if (p->kind < 0) {
            put(o, "- ", 2);
            put(o, s + b, e - b);
            put(o, "\n", 1);
        } else {
            if (o->n && o->b[o->n - 1] == '\n' && (o->n < 2 || o->b[o->n - 2] != '\n'))
                put(o, "\n", 1); /* after a list */
            if (s[b] == '#' || s[b] == '-' || s[b] == '=' || s[b] == '`') put(o, "\\", 1);
            put(o, s + b, e - b);
            put(o, "\n\n", 2);
        }
    }
    if (p->line.oom) o->oom = 1;
    p->line.n = 0;
    if (p->line.b) p->line.b[0] = 0;
    p->kind = 0;
}

static void text_of(para *p, const char *s)
{
    for (; *s; s++) /* line breaks inside w:t are white space in Word */
        put(&p->line, (*s == '\n' || *s == '\r' || *s == '\t') ? " " : s, 1);
}

/* Entering a node: 1 to walk its children. */
static int enter(rag_buf *o, para *p, const xmlNode *n, const styles *st)
{
    if (n->type != XML_ELEMENT_NODE) return 0;
    if (is(n, "p")) {
        flush(o, p); /* a paragraph inside another (a text box) ends the outer's text */
        p->kind = para_kind(n, st);
    } else if (is(n, "t")) {
        for (const xmlNode *c = n->children; c; c = c->next)
            if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
                text_of(p, (const char *)c->content);
        return 0;
    } else if (is(n, "tab")) {
        put(&p->line, " ", 1);
    } else if (is(n, "br") || is(n, "cr")) {
        put(&p->line, "\n", 1);
    } else if (is(n, "delText") || is(n, "instrText") || is(n, "pPr") || is(n, "rPr")) {
        return 0;
    }
    return 1;
}

static void walk(rag_buf *o, xmlDoc *doc, const styles *st)
{
    para p = {.line = {.max = o->max}};
    xmlNode *n = doc->children;
    while (n) {
        int desc = enter(o, &p, n, st);
        if (desc && n->children) {
            n = n->children;
            continue;
        }
        if (is(n, "p")) flush(o, &p);
        while (!n->next) {
            n = n->parent;
            if (!n || n == (xmlNode *)doc) goto done;
            if (is(n, "p")) flush(o, &p);
        }
        n = n->next;
    }
done:
    flush(o, &p);
    free(p.line.b);
}

static xmlDoc *parse(const char *s, size_t n)
{
    if (n > RAG_DOCX_MAX_PART) return NULL;
    /* no network, no external entities or DTDs loaded, no entity substitution */
    return xmlReadMemory(s, (int)n, NULL, NULL,
                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

rag_conv_err rag_docx_xml_to_text(const char *document, size_t n, const char *styles_xml,
                                  size_t styles_n, size_t max_text, char **text, size_t *text_len)
{
    *text = NULL;
    *text_len = 0;
    styles st = {0};
    if (styles_xml) {
        xmlDoc *sd = parse(styles_xml, styles_n);
        if (sd) read_styles(sd, &st);
        xmlFreeDoc(sd);
    }
    xmlDoc *doc = parse(document, n);
    if (!doc || !xmlDocGetRootElement(doc)) {
        xmlFreeDoc(doc);
        free(st.s);
        return RAG_CONV_CORRUPT;
    }
    rag_buf o = {.max = max_text};
    walk(&o, doc, &st);
    xmlFreeDoc(doc);
    free(st.s);
    while (o.n && o.b[o.n - 1] == '\n')
        o.b[--o.n] = 0;
    rag_conv_err rc = o.over                                     ? RAG_CONV_TOO_LARGE
                      : o.oom                                    ? RAG_CONV_NOMEM
                      : (!o.b || rag_token_count(o.b, o.n) == 0) ? RAG_CONV_NO_TEXT
                                                                 : RAG_CONV_OK;
    if (rc != RAG_CONV_OK) {
        free(o.b);
        return rc;
    }
    *text = o.b;
    *text_len = o.n;
    return RAG_CONV_OK;
}

/* Reads the current entry whole, at most RAG_DOCX_MAX_PART bytes. */
static rag_conv_err read_part(struct archive *a, char **out, size_t *out_len)
{
    size_t cap = 65536, n = 0;
    char *b = malloc(cap);
    if (!b) return RAG_CONV_NOMEM;
    for (;;) {
        if (n == cap) {
            if (cap >= RAG_DOCX_MAX_PART) {
                free(b);
                return RAG_CONV_TOO_LARGE;
            }
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                return RAG_CONV_NOMEM;
            }
            b = nb;
            cap *= 2;
        }
        la_ssize_t r = archive_read_data(a, b + n, cap - n);
        if (r < 0) {
            free(b);
            return RAG_CONV_CORRUPT;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    *out = b;
    *out_len = n;
    return RAG_CONV_OK;
}

rag_conv_err rag_docx_to_text(const unsigned char *data, size_t n, size_t max_text, char **text,
                              size_t *text_len)
{
    *text = NULL;
    *text_len = 0;
    if (n < 4 || memcmp(data, "PK\3\4", 4) != 0) return RAG_CONV_CORRUPT;
    struct archive *a = archive_read_new();
    if (!a) return RAG_CONV_NOMEM;
    archive_read_support_format_zip(a);
    char *doc = NULL, *sty = NULL;
    size_t doc_n = 0, sty_n = 0;
    rag_conv_err rc = RAG_CONV_OK;
    int encrypted = 0;
    if (archive_read_open_memory(a, data, n) != ARCHIVE_OK) rc = RAG_CONV_CORRUPT;
    struct archive_entry *e;
    for (int k = 0; rc == RAG_CONV_OK && k < 10000; k++) {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF) break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            rc = doc ? RAG_CONV_OK : RAG_CONV_CORRUPT;
            break;
        }
        const char *name = archive_entry_pathname(e);
        char **into = NULL;
        size_t *into_n = NULL;
        if (name && strcmp(name, "word/document.xml") == 0 && !doc)
            into = &doc, into_n = &doc_n;
        else if (name && strcmp(name, "word/styles.xml") == 0 && !sty)
            into = &sty, into_n = &sty_n;
        if (name && strcmp(name, "EncryptedPackage") == 0) encrypted = 1;
        if (!into) continue;
        if (archive_entry_is_encrypted(e)) {
            rc = RAG_CONV_ENCRYPTED;
            break;
        }
        rc = read_part(a, into, into_n);
    }
    archive_read_free(a);
    if (rc == RAG_CONV_OK && !doc) rc = encrypted ? RAG_CONV_ENCRYPTED : RAG_CONV_CORRUPT;
    if (rc == RAG_CONV_OK)
        rc = rag_docx_xml_to_text(doc, doc_n, sty, sty_n, max_text, text, text_len);
    free(doc);
    free(sty);
    return rc;
}
