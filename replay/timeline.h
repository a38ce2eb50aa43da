/*
 * Timelines: what happened to each workflow, in journal order, as the
 * offline tools show it (wflow history, trace, report). The fold keeps the
 * current state; a timeline keeps every change: the workflow's creation,
 * each attempt (run, resume, actor call) and status change with its cause,
 * every try of every step with its start, end, outcome and error, and the
 * crashes detected at open (a workflow RUNNING in an engine session when a
 * new session starts became RESUMABLE then; its running step tries were
 * interrupted).
 *
 * Built by one pass over the journal (wf_reader), read-only; for a few
 * workflows of a long journal, by parts read at once (replay/parts.h).
 */
#ifndef WF_REPLAY_TIMELINE_H
#define WF_REPLAY_TIMELINE_H

#include <stddef.h>
#include <stdint.h>

/** A change of the workflow as a whole. */
typedef struct wf_tl_change {
	uint64_t seq;
	int64_t time_ns;
	const char *what;   /**< "created", "attempt", "status", or
	                         "retired": the first event of a workflow
	                         created before the journal's start (static) */
	const char *status; /**< the new status, for "status" (static) */
	char *cause;        /**< run, resume, call, create, cancel, step
	                         failed, crash detected at open, ... */
	int attempt;        /**< for "attempt": its number */
	char *session;      /**< for "attempt": the engine session */
} wf_tl_change;

/** One try of one step. */
typedef struct wf_tl_try {
	char *step_id;
	char *name;          /**< the step's name (its id without _N) */
	int run;             /**< the workflow attempt it belongs to */
	int n;               /**< try number within that attempt */
	uint64_t seq_start, seq_end; /**< seq_end 0: not ended */
	int64_t start_ns, end_ns;    /**< end_ns 0: not ended */
	const char *outcome; /**< SUCCEEDED, FAILED, CONTINUED (returned a
	                          sub-DAG), INTERRUPTED (crash), CANCELED (the
	                          workflow was), or NULL while running
	                          (static) */
	char *error;         /**< failure text, or NULL */
} wf_tl_try;

typedef struct wf_tl_wf {
	char *id;
	char *user_metadata;  /**< JSON text */
	char *actor_class;    /**< a virtual actor's class, or NULL */
	char *status;         /**< current status as journaled (static) */
	char *session;        /**< session of the last attempt */
	wf_tl_change *changes;
	size_t nchanges, cchanges;
	wf_tl_try *tries;
	size_t ntries, ctries;
	int deleted;          /**< deleted (later events may reuse the id:
	                           a new wf_tl_wf then) */
	int retired;          /**< created before the journal's first event:
	                           what came before is not in it (retention) */
} wf_tl_wf;

typedef struct wf_timeline {
	wf_tl_wf **wfs;   /**< in order of creation */
	size_t n, cap;
	uint64_t events;  /**< events read */
	int64_t first_ns, last_ns;
	uint64_t start;   /**< the journal's first event if it is after 1
	                       (its oldest segments were deleted: wflow.h,
	                       wf_config.retention_s), else 0 */
	void *index;      /**< id -> live wf_tl_wf (internal) */
} wf_timeline;

/**
 * Build the timelines of the journal in jdir (a journal directory), for
 * the workflows in ids (nids of them; NULL/0 for all).
 * @param out receives the timeline (free with wf_timeline_free).
 * @return 0, or a WF_E* code (err: what, with file and offset).
 */
int wf_timeline_load(const char *jdir, const char *const *ids, size_t nids,
                     wf_timeline **out, char *err, size_t errlen);

/**
 * wf_timeline_load reading the journal in up to nparts parts at once (at
 * most 8; 1: one pass; replay/parts.h) when ids are given and at least
 * min_bytes are to be read; *used receives how many parts were read at
 * once. wf_timeline_load: one part per core, from 32 MiB. The timelines
 * are the same (the count and the last time of the events included).
 */
int wf_timeline_load_parts(const char *jdir, const char *const *ids,
                           size_t nids, int nparts, uint64_t min_bytes,
                           int *used, wf_timeline **out, char *err,
                           size_t errlen);

void wf_timeline_free(wf_timeline *t);

#endif
