/*
 * HTML to Markdown-shaped text (html.h).
 */
#include "html.h"

#include <libxml/HTMLparser.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *b;
    size_t n, cap;
    int oom;
    int space; /* white space is pending */
    int pre;   /* inside <pre> */
    int head;  /* inside a heading */
} out;

static void put(out *o, const char *s, size_t n)
{
    if (o->oom || n == 0) return;
    if (o->n + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->n + n + 1)
            cap *= 2;
        char *nb = realloc(o->b, cap);
        if (!nb) {
            o->oom = 1;
            return;
        }
        o->b = nb;
        o->cap = cap;
    }
    memcpy(o->b + o->n, s, n);
    o->n += n;
    o->b[o->n] = 0;
}

/* Ends the current line and leaves `lines` newlines before what follows. */
static void brk(out *o, int lines)
{
    while (o->n && o->b[o->n - 1] == ' ')
        o->n--;
    o->space = 0;
    if (!o->n) return;
    int have = 0;
    while (have < (int)o->n && o->b[o->n - 1 - have] == '\n')
        have++;
    for (; have < lines; have++)
        put(o, "\n", 1);
}

static void text(out *o, const char *s)
{
    if (o->pre && !o->head) {
        put(o, s, strlen(s));
        return;
    }
    for (; *s; s++) {
        if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f') {
            o->space = 1;
            continue;
        }
        if (o->space && o->n && o->b[o->n - 1] != '\n' && o->b[o->n - 1] != ' ') put(o, " ", 1);
        o->space = 0;
        put(o, s, 1);
    }
}

static int is(const xmlNode *n, const char *name)
{
    return strcmp((const char *)n->name, name) == 0;
}

static int dropped(const xmlNode *n)
{
    static const char *const drop[] = {"script", "style",  "noscript", "template", "head",
                                       "svg",    "iframe", "object",   "embed",    NULL};
    for (int i = 0; drop[i]; i++)
        if (is(n, drop[i])) return 1;
    return 0;
}

static int block(const xmlNode *n)
{
    static const char *const blocks[] = {
        "p",          "div",     "section", "article", "table",  "tr",     "blockquote",
        "ul",         "ol",      "dl",      "dt",      "dd",     "header", "footer",
        "main",       "nav",     "aside",   "form",    "figure", "hr",     "pre",
        "figcaption", "address", "details", "summary", "body",   NULL};
    for (int i = 0; blocks[i]; i++)
        if (is(n, blocks[i])) return 1;
    return 0;
}

static int heading_level(const xmlNode *n)
{
    const char *s = (const char *)n->name;
    return (s[0] == 'h' && s[1] >= '1' && s[1] <= '6' && !s[2]) ? s[1] - '0' : 0;
}

/* Entering a node: 1 to walk its children. */
static int enter(out *o, const xmlNode *n)
{
    if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
        if (n->content) text(o, (const char *)n->content);
        return 0;
    }
    if (n->type != XML_ELEMENT_NODE) return 0;
    if (dropped(n)) return 0;
    int lv = heading_level(n);
    if (lv) {
        brk(o, 2);
        put(o, "######", (size_t)lv);
        put(o, " ", 1);
        o->head++;
    } else if (is(n, "li")) {
        brk(o, 1);
        put(o, "- ", 2);
    } else if (is(n, "br")) {
        brk(o, 1);
    } else if (block(n)) {
        brk(o, 2);
        if (is(n, "pre")) o->pre++;
    } else if (is(n, "td") || is(n, "th")) {
        o->space = 1;
    }
    return 1;
}

static void leave(out *o, const xmlNode *n)
{
    if (n->type != XML_ELEMENT_NODE) return;
    if (heading_level(n)) {
        o->head--;
        brk(o, 2);
    } else if (is(n, "li")) {
        brk(o, 1);
    } else if (block(n)) {
        if (is(n, "pre")) o->pre--;
        brk(o, 2);
    }
}

static void walk(out *o, xmlDoc *doc)
{
    xmlNode *n = doc->children;
    while (n) {
        int desc = enter(o, n);
        if (desc && n->children) {
            n = n->children;
            continue;
        }
        if (desc) leave(o, n);
        while (!n->next) {
            n = n->parent;
            if (!n || n == (xmlNode *)doc) return;
            leave(o, n);
        }
        n = n->next;
    }
}

int rag_html_to_text(const char *s, size_t n, char **res, size_t *res_len)
{
    *res = NULL;
    *res_len = 0;
    if (n > RAG_HTML_MAX) return -1;
    out o = {0};
    htmlDocPtr doc = htmlReadMemory(s, (int)n, NULL, "UTF-8",
                                    HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                                        HTML_PARSE_NONET);
    if (doc) {
        walk(&o, doc);
        xmlFreeDoc(doc);
    }
    brk(&o, 0);
    while (o.n && o.b[o.n - 1] == '\n')
        o.n--;
    if (!o.oom && !o.b) put(&o, "", 1), o.n = 0;
    if (o.oom) {
        free(o.b);
        return -1;
    }
    o.b[o.n] = 0;
    *res = o.b;
    *res_len = o.n;
    return 0;
}
