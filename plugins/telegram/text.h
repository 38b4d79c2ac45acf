/*
 * text.h - texts for the Bot API: escaping for its two parse modes, the
 * platform's markdown rendered as Telegram HTML, and long texts split at
 * Telegram's 4,096-character limit. Pure functions (malloc'd results).
 */
#ifndef TG_TEXT_H
#define TG_TEXT_H

#include <jansson.h>
#include <stddef.h>

/* Telegram's limit of one message's text, in characters as it counts them
 * (UTF-16 code units), and of a caption. */
#define TG_TEXT_MAX 4096
#define TG_CAPTION_MAX 1024

/* s escaped for parse_mode "MarkdownV2": each of _*[]()~`>#+-=|{}.! and
 * the backslash preceded by a backslash. */
char *tg_escape_markdown_v2(const char *s);
/* s escaped for parse_mode "HTML": & < > and " as entities. */
char *tg_escape_html(const char *s);

/* The platform's markdown (**bold**, *italic* or _italic_, ~~strike~~,
 * `code`, ```pre```, [text](url)) as Telegram HTML; everything else
 * escaped. A marker without its closing one is taken as text. */
char *tg_markdown_to_html(const char *md);

/* Length in UTF-16 code units, the way Telegram counts. */
size_t tg_utf16_len(const char *s);

/* s split into parts of at most `limit` UTF-16 units each: at the last
 * paragraph break that fits, else the last line break, else the last end
 * of a sentence, else the last space, else at a character boundary.
 * Whitespace at the cut is dropped. A new array of strings (one part when
 * it fits). */
json_t *tg_split(const char *s, size_t limit);

#endif
