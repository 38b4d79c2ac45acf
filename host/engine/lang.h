/*
 * lang.h - texts in several languages: picking the one for a conversation,
 * and the plural forms of a number.
 *
 * A language is a tag as conversations carry it: "ru", "en", "en-US",
 * "pt_BR"; tags compare without regard to case, and a tag's base language
 * is what comes before its first '-' or '_'.
 */
#ifndef AH_LANG_H
#define AH_LANG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Whether tag is a scenario's language tag: two or three lower-case
 * letters, then perhaps '-' and two upper-case ones ("ru", "pt-BR"), as
 * the scenario format's "language" pattern says. */
bool lang_tag_valid(const char *tag);

/* Whether tag's base language is base ("ru-RU" is "ru"). NULL is "en". */
bool lang_base_is(const char *tag, const char *base);

/* Pick the text of a scenario's text value: either a string (the same in
 * every language) or an object of language -> string ({"ru": "...",
 * "en": "..."}). Tried in order: want exactly, want's base language ("en"
 * for "en-US"), a tag of the same base language ("en-GB" for "en-US"), then
 * the same for fallback (the scenario's default language). *out (borrowed
 * from text) and *len are the text; *fell_back is true when a wanted
 * language (want neither NULL nor "") had no text and fallback's was
 * taken: the engine logs that missing translation.
 * Errors, with err (may be NULL) saying which:
 *   AH_EINVAL     text is neither a string nor an object, or the text
 *                 picked is not a string
 *   AH_ENOTFOUND  neither language has a text */
int lang_pick(const json_t *text, const char *want, const char *fallback, const char **out,
              size_t *len, bool *fell_back, char *err, size_t errlen);

/* The language of a person's first message, among a scenario's languages
 * (an array of tags), by its script: the letters counted, Cyrillic
 * (U+0400-U+04FF) against Latin (A-Z, and U+00C0-U+024F); at least three
 * letters of one script and twice as many as of the other decide it.
 * Cyrillic picks the scenario's one Cyrillic-script language (ru, uk, be,
 * bg, sr, mk, kk, ky, tg, mn), or among several uk when the text has
 * Ukrainian's own letters (і ї є ґ), else ru; Latin picks the scenario's
 * one language of neither set. NULL (borrowed otherwise) when the text
 * does not decide: too short, mixed, digits only, or several candidates. */
const char *lang_detect(const char *text, const json_t *languages);

/* Which plural form a number takes, as an index into a list of forms
 * written in the order one, few, many (Russian, Ukrainian, Belarusian:
 * 1 товар, 2 товара, 5 товаров, 21 товар, 11 товаров; fractions take
 * "few": 1.5 товара) or one, other (every other language: 1 item,
 * 0 items, 2 items, 1.5 items). Negative numbers count as their absolute
 * value. */
int lang_plural_index(const char *lang, double n);

#endif
