/*
 * safe_html.c - an inbound mail's HTML body made safe to show (message.in's
 * `html`): parsed with libxml2's HTML parser (memory only, no network) and
 * written back with an allowlist. Kept: text formatting, paragraphs, lists,
 * quotes, headings, tables and links whose href is http, https or mailto;
 * no attribute but that href. Dropped with their content: script, style,
 * head, title, iframe, object, embed, svg, math, template, noscript, form
 * controls. Any other element is unwrapped (its content kept). Text and
 * the href are escaped; comments and processing instructions vanish.
 */
#include "mail.h"

#include <glib.h>
#include <libxml/HTMLparser.h>
#include <string.h>

static const char *const KEEP[] = {
    "a",     "b",     "i",     "u",     "s",  "em",  "strong", "small",      "sub", "sup",
    "code",  "pre",   "p",     "br",    "hr", "div", "span",   "blockquote", "ul",  "ol",
    "li",    "dl",    "dt",    "dd",    "h1", "h2",  "h3",     "h4",         "h5",  "h6",
    "table", "thead", "tbody", "tfoot", "tr", "td",  "th",     "caption",    NULL};
static const char *const DROP[] = {"script", "style",  "head",   "title",  "iframe",   "object",
                                   "embed",  "applet", "svg",    "math",   "template", "noscript",
                                   "form",   "input",  "button", "select", "textarea", "frameset",
                                   "frame",  "link",   "meta",   "base",   NULL};
static const char *const VOID_EL[] = {"br", "hr", NULL};

static bool in(const char *const *set, const char *name)
{
    for (size_t i = 0; set[i]; i++)
        if (!g_ascii_strcasecmp(set[i], name)) return true;
    return false;
}

static void walk(xmlNodePtr n, GString *o, int depth)
{
    for (; n; n = n->next) {
        if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
            gchar *e = g_markup_escape_text((const char *)n->content, -1);
            g_string_append(o, e);
            g_free(e);
            continue;
        }
        if (n->type != XML_ELEMENT_NODE || !n->name) continue;
        const char *name = (const char *)n->name;
        if (in(DROP, name)) continue;
        if (depth > 200) continue; /* a nesting bomb: its depths dropped */
        if (!in(KEEP, name)) {
            walk(n->children, o, depth + 1);
            continue;
        }
        gchar *lower = g_ascii_strdown(name, -1);
        g_string_append_printf(o, "<%s", lower);
        if (!strcmp(lower, "a")) {
            xmlChar *href = xmlGetProp(n, (const xmlChar *)"href");
            const char *h = (const char *)href;
            if (h &&
                (!g_ascii_strncasecmp(h, "http://", 7) || !g_ascii_strncasecmp(h, "https://", 8) ||
                 !g_ascii_strncasecmp(h, "mailto:", 7))) {
                gchar *e = g_markup_escape_text(h, -1);
                g_string_append_printf(o, " href=\"%s\" rel=\"noopener noreferrer nofollow\"", e);
                g_free(e);
            }
            xmlFree(href);
        }
        g_string_append_c(o, '>');
        if (!in(VOID_EL, lower)) {
            walk(n->children, o, depth + 1);
            g_string_append_printf(o, "</%s>", lower);
        }
        g_free(lower);
    }
}

char *em_safe_html(const char *html, size_t n)
{
    if (n > EM_RAW_MAX) return NULL;
    htmlDocPtr doc = htmlReadMemory(html, (int)n, NULL, "UTF-8",
                                    HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                                        HTML_PARSE_NONET);
    if (!doc) return NULL;
    GString *o = g_string_new(NULL);
    walk(xmlDocGetRootElement(doc), o, 0);
    xmlFreeDoc(doc);
    return g_string_free(o, FALSE);
}
