/*
 * One journal event as one line of JSON: the format of `wflow dump`, shared
 * with wflow-bench (which measures the journal's size against it).
 *
 *   {"seq":7,"time":"2026-11-27T17:25:05.123456789Z","type":"step_started",
 *    "fields":{"workflow_id":"order/000123","step_id":"charge_card",
 *    "attempt":1},"payloads":{}}
 *
 * A type this version knows (events.h) is printed by name and its fields by
 * their schema names; fields beyond the schema, and all fields of an
 * unknown type (printed by number), are named "f<index>". UINT and INT
 * fields are JSON numbers, TEXT fields JSON strings; JSON fields go to
 * "payloads", embedded as JSON. An event whose body this version cannot
 * decode (ev->opaque) is {"seq":..,"time":..,"type":N,"opaque":true}.
 *
 * Every line is valid JSON whatever the bytes: text is escaped, invalid
 * UTF-8 becomes U+FFFD, a JSON field that is not valid JSON is printed as
 * a JSON string instead, and line breaks between the tokens of a valid one
 * become spaces so that each event stays on one line.
 */
#ifndef WF_REPLAY_DUMPFMT_H
#define WF_REPLAY_DUMPFMT_H

#include <stddef.h>
#include <stdint.h>

#include "journal/journal.h"

/**
 * Append ev as one line of JSON, '\n' included, to a growable buffer.
 * @param buf the buffer (may be NULL with *cap 0); realloc'd as needed,
 *        owned by the caller (free it).
 * @param cap its allocated size; updated.
 * @param len bytes in use before the call; advanced past the new line.
 * @param ev the event.
 * @return 0 or WF_ENOMEM (the buffer is then unchanged).
 */
int wf_dump_format(char **buf, size_t *cap, size_t *len, const wf_event *ev);

/** What `wflow dump` prints: every filter set must hold. */
typedef struct wf_dump_filter {
	const char *workflow;   /**< only this workflow's (or actor's) events */
	const char *step;       /**< only events of this step id, or of the
	                             ids of this name (add: add, add_1, ...) */
	const uint16_t *types;  /**< only events of these types (ntypes > 0) */
	int ntypes;
	int since_time;         /**< 1: from the first event at or after */
	int64_t since_ns;       /**< this time on (times go back a little) */
} wf_dump_filter;

/**
 * Is ev one of the events f asks for? *started: the first event at or
 * after f->since_ns was seen (from it on every event is in); 0 at first.
 */
int wf_dump_wanted(const wf_dump_filter *f, const wf_event *ev, int *started);

/**
 * The lines of the events f asks for (f->since_time 0), from the event
 * with sequence number `from` on, which r returns next, appended to *buf
 * (as wf_dump_format): a long journal read in parts at once (parts.h),
 * for a filter that keeps few events (one workflow's). Reports of damage
 * the parts' readers tolerate (a torn tail) go to on_damage (if not
 * NULL) where one pass would have made them among the events, on the
 * caller's thread.
 * @return 0 done (*used: the parts); 1 not split (nothing read from r: go
 *         on in one pass); 2 start again in one pass (the lines appended
 *         are to be dropped: *len is as before; also out of memory).
 */
int wf_dump_parts(wf_reader *r, const char *jdir, uint64_t from,
                  const wf_dump_filter *f, int nparts, uint64_t min_bytes,
                  wf_damage_fn on_damage, void *damage_ud, char **buf,
                  size_t *cap, size_t *len, int *used);

/**
 * Write s[0..n) as a JSON string (quotes included) to out, which must have
 * room for 6 * n + 2 bytes.
 * @return bytes written.
 */
size_t wf_dump_string(char *out, const char *s, size_t n);

#endif
