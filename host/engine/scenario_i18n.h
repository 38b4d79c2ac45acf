/*
 * scenario_i18n.h - a scenario's texts for translators: the table of every
 * text in each language (JSON, or CSV for a spreadsheet), translations put
 * back into a scenario, and how complete each language is.
 *
 * A table: {"default_language", "languages": [...], "texts": [{"path",
 * "<language>": text or null, "shared": true?}]}, one row per text in the
 * order the scenario check meets them (scenario_texts). A text that is a
 * plain string (the same in every language) is "shared": its row has the
 * string under the default language only.
 *
 * CSV (RFC 4180): a header "path,<language>,...", then a row per text;
 * fields quoted when they hold a comma, a quote or a line break; CRLF line
 * ends; read back with LF too, and a UTF-8 BOM at the start skipped. An
 * empty cell on import means "not given" (nothing changes).
 */
#ifndef AH_ENGINE_SCENARIO_I18N_H
#define AH_ENGINE_SCENARIO_I18N_H

#include <jansson.h>
#include <stddef.h>

#define I18N_CSV_MAX_BYTES (4u << 20)
#define I18N_MAX_ROWS 20000
#define I18N_MAX_LANGUAGES 20

/* The table of content's texts in languages (an array of tags, borrowed)
 * or, NULL, in the scenario's own languages. A new reference, or NULL
 * when out of memory. */
json_t *i18n_table(const json_t *content, const json_t *languages);

/* The table as CSV: malloc'd, NUL-terminated, or NULL (out of memory). */
char *i18n_csv(const json_t *table);

/* Read a CSV table: 0 with *table {"languages", "texts"}; AH_EINVAL with
 * err (the line and what is wrong); AH_ETOOBIG past I18N_CSV_MAX_BYTES or
 * I18N_MAX_ROWS; AH_ENOMEM. */
int i18n_from_csv(const char *csv, size_t len, json_t **table, char *err, size_t errlen);

/* Put a table's texts (borrowed) into content (changed in place): each
 * row's languages are set on the text at its path (a shared text becomes
 * an object holding the old string under the default language), and the
 * table's languages the scenario lacks are added to its "languages".
 * Only the rows' texts change; the result is checked as any save is.
 * 0; AH_EINVAL with field (the row: "texts[3].path", or "languages") and
 * err; AH_ENOMEM. */
int i18n_apply(json_t *content, const json_t *table, char *field, size_t fieldlen, char *err,
               size_t errlen);

/* How complete each language of languages (borrowed; NULL: the scenario's
 * own) is in content: {"default_language", "total", "languages": {"ru":
 * {"translated", "missing": [paths], "untranslated": [paths], "stale":
 * [paths], "complete"}}}. history: the scenario's versions' contents,
 * oldest first, the last being content (borrowed; NULL: no staleness). A
 * text is missing in a language with no text for it; untranslated when it
 * is the default language's text word for word; stale when the default
 * language's text changed in a later version than this language's did.
 * Shared texts count as translated. A new reference, or NULL. */
json_t *i18n_report(const json_t *content, const json_t *history, const json_t *languages);

#endif
