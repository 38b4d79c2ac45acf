/*
 * topic.h - topic names and subscription patterns.
 *
 * A topic is dot-separated tokens of [A-Za-z0-9_-] ("message.in"); names
 * starting with '$' are reserved for the host ("$dlq.message.in"). A
 * pattern may use '*' for exactly one token and '>' as the last token for
 * one or more remaining tokens ("message.*", "crm.>").
 */
#ifndef AH_TOPIC_H
#define AH_TOPIC_H

#include <stdbool.h>

#define TOPIC_MAX 200

/* A concrete topic name (no wildcards). allow_reserved admits '$' names. */
bool topic_valid(const char *topic, bool allow_reserved);
/* A subscription pattern (wildcards allowed). */
bool topic_pattern_valid(const char *pattern);
/* Does topic match pattern? */
bool topic_matches(const char *pattern, const char *topic);

#endif
