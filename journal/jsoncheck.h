/*
 * Is a byte string one JSON value (RFC 8259), surrounded by whitespace
 * only? A validator that allocates nothing, for `wflow verify`, which
 * checks every JSON field of every event: parsing each into a tree was
 * most of its time. Nesting deeper than 1000 is refused, as cJSON refuses
 * it. Strings are not checked for valid UTF-8 (cJSON, which writes and
 * reads them, does not either); control characters in them are refused.
 */
#ifndef WF_JOURNAL_JSONCHECK_H
#define WF_JOURNAL_JSONCHECK_H

#include <stddef.h>

/** @return 1 if p[0..n) is one JSON value, else 0. */
int wf_json_valid(const char *p, size_t n);

#endif
