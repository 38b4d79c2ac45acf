/*
 * mail.h - the e-mail plugin's core (ADR 0036): RFC 5322 messages parsed
 * with GMime 3 into JSON, threading keys, loop and noise detection, and
 * composition of replies. Plain C with GMime, libxml2 (HTML reduced to text,
 * plugins/rag/html.h) and jansson: no host, so the plugin, its unit tests,
 * the fuzzer and the bench link the same code.
 *
 * Memory: a message is parsed from the caller's buffer with the parser's
 * persist-stream mode, so part bodies stay where they are (substreams of
 * the input) and an attachment is measured by decoding it into a counting
 * stream, never copied whole. Texts kept are capped (EM_TEXT_MAX).
 *
 * Charsets: conversion goes through iconv (GMime's cached converters).
 * Inside the sandbox iconv can use only the modules the runner loaded
 * before lockdown (sandbox/runner.c, preload_charsets); a charset without
 * one is reported in `problems` and decoded with the fallback charsets.
 */
#ifndef EMAIL_MAIL_H
#define EMAIL_MAIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define EM_RAW_MAX (64u << 20)   /* a message larger than this is refused */
#define EM_TEXT_MAX (256u << 10) /* bytes of text kept from a message's body */
#define EM_PARTS_MAX 200         /* parts listed; the rest are counted */

/* GMime's global state, once per process (idempotent). */
void em_init(void);

typedef struct em_parse_opts {
    const char *const *own; /* the agent's own addresses (NULL-terminated), or NULL */
    size_t own_n;
    size_t max_text; /* 0: EM_TEXT_MAX */
} em_parse_opts;

/* Parses raw[0..len) into a new JSON object (docs/channels/email.md,
 * "Parsing"): ids, addresses, subject, date, the text and the new text,
 * attachments as metadata, the threading keys, the classification and
 * the problems met. Returns NULL with err set only when the input is not a
 * message at all (empty, over EM_RAW_MAX, no header); broken MIME gives a
 * result whose `problems` say what was wrong. */
json_t *em_parse(const char *raw, size_t len, const em_parse_opts *o, char *err, size_t errlen);

/* The decoded content of the part at `path` ("1", "2.1": IMAP section
 * numbers, as em_parse lists them): a new object {part, content_type,
 * filename, size, content_base64}, or NULL with err (no such part, a
 * multipart, over max bytes). */
json_t *em_part(const char *raw, size_t len, const char *path, size_t max, char *err,
                size_t errlen);

/* The content of a part, decoded from its transfer encoding (an embedded
 * message: its bytes), NUL-terminated, *len bytes without the NUL. obj is a
 * GMimeObject. g_free it. */
char *em_content(void *obj, size_t *len);

/* ---- safe_html.c: an inbound HTML body safe to show ---- */

/* html[0..n) (UTF-8) rewritten with an allowlist of elements (formatting,
 * paragraphs, lists, quotes, headings, tables, links to http/https/mailto);
 * scripts, styles, frames, forms and the head dropped with their content,
 * other elements unwrapped, no attribute but a link's href. A g_malloc'd
 * string (g_free it), or NULL when it cannot be parsed. */
char *em_safe_html(const char *html, size_t n);

/* ---- charset.c: what iconv can convert without loading a module ---- */

/* Opens (and keeps) a converter for each common charset: call before the
 * sandbox's lockdown (em_init does, from the plugin's constructor). */
void em_charsets_probe(void);
/* Can text in this charset (any spelling GMime knows) be converted? */
bool em_charset_usable(const char *charset);
/* The usable charsets' iconv names (static), at most max of them. */
size_t em_charsets_usable(const char **names, size_t max);
/* A copy of raw in which every charset named by an encoded word or an
 * RFC 2231 parameter that is not usable is overwritten with x's (GMime
 * then decodes those words with the fallback charsets), the names
 * appended to `bad`; NULL when every named charset is usable. g_free it. */
char *em_guard_charsets(const char *raw, size_t len, json_t *bad);

/* ---- text.c: bodies to UTF-8 text ---- */

/* bytes in `charset` (NULL: unknown) to UTF-8, malformed sequences as
 * U+FFFD; *problem names a charset that had no converter (static), else
 * NULL. Returns a g_malloc'd string (g_free it). */
char *em_to_utf8(const char *bytes, size_t n, const char *charset, const char **problem);

/* ---- trim.c: the new text of a reply ---- */

/* The text the sender wrote in this message: quoted replies (">" lines and
 * the attribution before them, Outlook's and Thunderbird's original-message
 * headers, "... пишет:" and "... wrote:") and the signature ("-- ", mobile
 * footers) cut. A new malloc'd string; *cut says what was cut
 * ("quote", "signature", both joined with "+", or "" ). */
char *em_trim_reply(const char *text, const char **cut);

/* ---- classify.c: loops and noise ---- */

/* Adds "classification": {kind, reason, answer} (kind: "normal",
 * "auto_reply", "bounce", "self", "list") and, for a bounce, "bounce"
 * {action, status, recipient, diagnostic, original_message_id} to `out`.
 * msg is the GMimeMessage (void * keeps GMime out of this header). */
void em_classify(void *msg, const em_parse_opts *o, json_t *out);
/* Is addr one of o's own addresses (or a plus address of one)? */
bool em_own_address(const char *addr, const em_parse_opts *o);

/* ---- thread.c: threading keys and replies ---- */

/* The subject without any leading "Re:", "Fwd:", "AW:", "Ответ:" (and
 * "[list]" tags), trimmed. New malloc'd string. */
char *em_subject_base(const char *subject);
/* "Re: " + the base subject: one "Re:", never stacked. New malloc'd string. */
char *em_reply_subject(const char *subject);
/* The token of a plus address ("support+TOKEN@example.com" for one of
 * own's addresses "support@example.com") among addrs (an array of
 * {address}), or NULL. New malloc'd string. */
char *em_plus_token(const json_t *addrs, const em_parse_opts *o);
/* Adds "thread": {key, root, parent, token, by} to `out`, from its
 * message_id, in_reply_to, references and the plus token. */
void em_thread(json_t *out, const em_parse_opts *o);

/* ---- compose.c ---- */

/* A well-formed MIME message from a message.out-like object (see
 * docs/channels/email.md, "Composing"): {raw, message_id, subject,
 * in_reply_to, references, rcpt}, or NULL with err. rcpt: the envelope's
 * recipients (every address of to, cc and bcc, bare, at most 100); bcc is
 * left out of raw's headers. */
json_t *em_compose(const json_t *msg, char *err, size_t errlen);

#endif
