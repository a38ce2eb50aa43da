/*
 * Reading one workflow's events out of a long journal on every core.
 *
 * `wflow meta ID` (also --at), `wflow history ID`, `wflow trace ID` and
 * `wflow dump --workflow ID` want a few dozen events out of
 * millions, and nearly all their time goes to reading (checking,
 * decompressing, decoding) events they then skip. A segment starts a new
 * zstd stream, so the journal splits at segment starts into parts of
 * about equal bytes. A thread per later part reads it with a reader of
 * its own and keeps a copy of each event the caller wants (want()), while
 * the caller's thread hands it every event of the first part, then the
 * kept ones, part by part (fn()). The caller therefore sees what one pass
 * would have shown it, minus events of later parts it said it does not
 * want, in the same order.
 *
 * Each part's reader reads on into the next part's first event, so the
 * seams are checked as one pass checks them (sequence, checksum chain).
 * Anything unexpected (an error anywhere, fn failing, a part that does
 * not start or end where its segment says) and the caller is told to
 * start again in one pass, which finds and reports the problem exactly
 * as it always has: splitting is only ever a way to get the same answer
 * sooner. A read may also end at a sequence number (until) or at the
 * first event a predicate picks (stop): as one pass would, it then reads
 * nothing after it.
 */
#ifndef WF_REPLAY_PARTS_H
#define WF_REPLAY_PARTS_H

#include <stdint.h>

#include "journal/journal.h"

typedef struct wf_parts_opts {
	int nparts;         /**< at most this many parts at once (max 8) */
	uint64_t min_bytes; /**< split only if this much is to be read */
	/** On a part's thread, for each event of a later part: 1 keeps it
	 *  for fn. May only read what nothing changes meanwhile. */
	int (*want)(const void *ctx, const wf_event *ev);
	const void *want_ctx;
	/** On the caller's thread, in journal order: every event of the
	 *  first part, then the kept ones. @return 0, or < 0 to give up
	 *  (wf_parts_scan then returns 2). */
	int (*fn)(void *ctx, const wf_event *ev);
	void *fn_ctx;
	/** If not NULL: damage the later parts' readers tolerate (a torn
	 *  tail), reported on the caller's thread where one pass would have
	 *  reported it among fn's events. (The first part's is r's own.) */
	wf_damage_fn on_damage;
	void *damage_ud;
	/** 0, or the last sequence number to read: the parts are planned
	 *  over the segments up to it, and no event after it is read or
	 *  given to fn (one pass stops there; the journal may end before). */
	uint64_t until;
	/** If not NULL: the first event for which it returns 1 ends the
	 *  read; neither it nor any after it is given to fn (as one pass
	 *  stops there), and nothing after it matters (damage included).
	 *  Called on every part's thread, for every event. */
	int (*stop)(const void *ctx, const wf_event *ev);
	const void *stop_ctx;
} wf_parts_opts;

typedef struct wf_parts_result {
	int used;          /**< parts read at once (set when 0 is returned) */
	uint64_t later;    /**< events read in the later parts, kept or not */
	uint64_t kept;     /**< of which kept (and given to fn) */
	uint64_t last_seq; /**< the last event read, and its time */
	int64_t last_ns;
} wf_parts_result;

/**
 * Read the rest of the journal in jdir in parts: r (its caller's reader,
 * which reads synchronously) returns the event with sequence number
 * `from` next.
 * @return 0 done (*res set); 1 not split (too little to read, or one
 *         part: nothing was read from r, go on in one pass); 2 something
 *         unexpected (fn saw some events: start again in one pass).
 */
int wf_parts_scan(wf_reader *r, const char *jdir, uint64_t from,
                  const wf_parts_opts *o, wf_parts_result *res);

/** Cores this process may run on (1 if unknown). */
int wf_parts_cores(void);

#endif
